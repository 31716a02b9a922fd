//! The stack file schema, version 1. Every struct denies unknown keys.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A whole stack after overlays are merged.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StackConfig {
    pub version: i64,
    /// Optional; when present it must match the file name.
    #[serde(default)]
    pub stack: Option<String>,
    #[serde(default = "default_region")]
    pub region: String,
    /// User tags added to every taggable resource.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub network: NetworkConfig,
    #[serde(default)]
    pub bastion: Option<BastionConfig>,
    #[serde(default)]
    pub timeouts: Timeouts,
}

fn default_region() -> String {
    "us-east-1".to_string()
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    #[serde(default = "default_vpc_cidr")]
    pub cidr: String,
    pub zones: Vec<String>,
    #[serde(default)]
    pub nat: NatMode,
    /// Explicit subnet CIDRs per tier, one per zone; derived from a /16 VPC when absent.
    #[serde(default)]
    pub subnets: Option<SubnetTiers>,
}

fn default_vpc_cidr() -> String {
    "10.0.0.0/16".to_string()
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct SubnetTiers {
    #[serde(default)]
    pub public: Option<Vec<String>>,
    #[serde(default)]
    pub private: Option<Vec<String>>,
    #[serde(default)]
    pub data: Option<Vec<String>>,
}

impl SubnetTiers {
    pub fn get(&self, tier: &str) -> Option<&Vec<String>> {
        match tier {
            "public" => self.public.as_ref(),
            "private" => self.private.as_ref(),
            "data" => self.data.as_ref(),
            _ => None,
        }
    }
}

/// How private subnets reach the internet.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum NatMode {
    /// One NAT gateway per zone (high availability).
    #[default]
    PerZone,
    /// One NAT gateway in the first zone, shared by all (cheaper, for dev).
    Single,
    /// No NAT gateway: private subnets have no internet route.
    None,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BastionConfig {
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default = "default_bastion_type")]
    pub instance_type: String,
    /// CIDR blocks allowed to SSH to the bastion.
    #[serde(default)]
    pub ssh_cidrs: Vec<String>,
    /// Required to list 0.0.0.0/0 in `ssh_cidrs`.
    #[serde(default)]
    pub allow_ssh_from_anywhere: bool,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default)]
    pub ami: AmiConfig,
    #[serde(default = "default_root_gb")]
    pub root_volume_gb: i64,
}

fn default_true() -> bool {
    true
}

fn default_bastion_type() -> String {
    "t3.micro".to_string()
}

fn default_root_gb() -> i64 {
    8
}

/// Either a fixed image id or a lookup by name pattern and owner (newest match wins).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AmiConfig {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default = "default_ami_name")]
    pub name: String,
    #[serde(default = "default_ami_owner")]
    pub owner: String,
}

impl Default for AmiConfig {
    fn default() -> Self {
        AmiConfig {
            id: None,
            name: default_ami_name(),
            owner: default_ami_owner(),
        }
    }
}

fn default_ami_name() -> String {
    "ubuntu/images/hvm-ssd*/ubuntu-jammy-22.04-amd64-server-*".to_string()
}

fn default_ami_owner() -> String {
    // Canonical.
    "099720109477".to_string()
}

/// Per-kind readiness timeouts (`90s`, `10m`, `1h`); defaults are sized to real AWS.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub nat_gateway: Option<String>,
    #[serde(default)]
    pub instance: Option<String>,
}

impl Timeouts {
    pub fn entries(&self) -> [(&'static str, &Option<String>); 3] {
        [
            ("default", &self.default),
            ("nat_gateway", &self.nat_gateway),
            ("instance", &self.instance),
        ]
    }
}
