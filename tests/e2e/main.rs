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
mod preview;
mod release;
mod secrets;

use mck_core::model::ResourceKind;
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

/// Counts of each network kind as boto3 sees them, including untaggable ones (routes,
/// associations, rules) inside the stack's resources, by plan name in [`ResourceKind::ALL`]
/// order, as [`mck_tests::desired_counts`] gives them.
pub fn counts(inventory: &Value) -> Vec<(&'static str, usize)> {
    let tables = section(inventory, "route_tables");
    let groups = section(inventory, "security_groups");
    let mut counts = vec![
        (ResourceKind::Vpc.name(), section(inventory, "vpcs").len()),
        (
            ResourceKind::Subnet.name(),
            section(inventory, "subnets").len(),
        ),
        (
            ResourceKind::InternetGateway.name(),
            section(inventory, "igws").len(),
        ),
        (
            ResourceKind::ElasticIp.name(),
            section(inventory, "eips").len(),
        ),
        (
            ResourceKind::NatGateway.name(),
            section(inventory, "nats").len(),
        ),
        (ResourceKind::RouteTable.name(), tables.len()),
        (
            ResourceKind::Route.name(),
            tables
                .iter()
                .map(|t| t["routes"].as_array().map_or(0, Vec::len))
                .sum(),
        ),
        (
            ResourceKind::RouteTableAssociation.name(),
            tables
                .iter()
                .map(|t| t["subnets"].as_array().map_or(0, Vec::len))
                .sum(),
        ),
        (ResourceKind::SecurityGroup.name(), groups.len()),
        (
            ResourceKind::SecurityGroupRule.name(),
            groups
                .iter()
                .map(|g| {
                    g["ingress"].as_array().map_or(0, Vec::len)
                        + g["egress"].as_array().map_or(0, Vec::len)
                })
                .sum(),
        ),
        (
            ResourceKind::Instance.name(),
            section(inventory, "instances").len(),
        ),
    ];
    counts.sort_by_key(|(name, _)| {
        ResourceKind::ALL
            .iter()
            .position(|kind| kind.name() == *name)
    });
    counts
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

/// What [`NETWORK_ONLY`] must contain: what lowering makes of it.
pub fn network_only_counts() -> Vec<(&'static str, usize)> {
    mck_tests::desired_counts(NETWORK_ONLY)
}
