//! End-to-end tests: the `mck` binary against moto server, checked with boto3.
//! Run through `cargo xtask test`, which starts a fresh emulator on loopback.

mod app;
mod cli;
mod data;
mod drift;
mod iam;
mod kill;
mod lock;
mod many;
mod network;
mod release;
mod secrets;

use serde_json::Value;

/// `items` of an inventory section.
pub fn section<'a>(inventory: &'a Value, name: &str) -> &'a Vec<Value> {
    inventory[name]
        .as_array()
        .unwrap_or_else(|| panic!("inventory has no {name}"))
}

/// The item with `mck_id == id`.
pub fn by_id<'a>(inventory: &'a Value, name: &str, id: &str) -> &'a Value {
    section(inventory, name)
        .iter()
        .find(|item| item["mck_id"] == id)
        .unwrap_or_else(|| panic!("no {name} with mck:id {id} in {inventory:#}"))
}

/// Counts of each kind as boto3 sees them, including untaggable ones (routes, associations,
/// rules) inside the stack's resources.
pub fn counts(inventory: &Value) -> Vec<(&'static str, usize)> {
    let tables = section(inventory, "route_tables");
    let groups = section(inventory, "security_groups");
    vec![
        ("vpc", section(inventory, "vpcs").len()),
        ("subnet", section(inventory, "subnets").len()),
        ("internet_gateway", section(inventory, "igws").len()),
        ("eip", section(inventory, "eips").len()),
        ("nat_gateway", section(inventory, "nats").len()),
        ("route_table", tables.len()),
        (
            "route",
            tables
                .iter()
                .map(|t| t["routes"].as_array().map_or(0, Vec::len))
                .sum(),
        ),
        (
            "route_table_association",
            tables
                .iter()
                .map(|t| t["subnets"].as_array().map_or(0, Vec::len))
                .sum(),
        ),
        ("security_group", groups.len()),
        (
            "security_group_rule",
            groups
                .iter()
                .map(|g| {
                    g["ingress"].as_array().map_or(0, Vec::len)
                        + g["egress"].as_array().map_or(0, Vec::len)
                })
                .sum(),
        ),
        ("instance", section(inventory, "instances").len()),
    ]
}

/// The network tier of the dev stack alone: single NAT, bastion.
pub const NETWORK_ONLY: &str = "version: 1
tags: { project: magecloudkit, environment: dev }
network:
  zones: [us-east-1a, us-east-1b, us-east-1c]
  nat: single
bastion:
  ssh_cidrs: [203.0.113.0/24]
";

/// What [`NETWORK_ONLY`] must contain.
pub const DEV_COUNTS: &[(&str, usize)] = &[
    ("vpc", 1),
    ("subnet", 9),
    ("internet_gateway", 1),
    ("eip", 2),
    ("nat_gateway", 1),
    ("route_table", 4),
    ("route", 4),
    ("route_table_association", 9),
    ("security_group", 6),
    ("security_group_rule", 15),
    ("instance", 1),
];
