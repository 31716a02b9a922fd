//! The typed resource model: one struct per AWS resource kind, gathered in the closed
//! [`ResourceSpec`] enum.
//!
//! Every spec lists its fields through [`ResourceSpec::fields`], saying which are immutable (a
//! change forces a replace) and which are sensitive (never rendered). References to other
//! resources are typed [`Ref`]s naming a logical id; lowering turns them into graph edges.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::Serialize;

/// The stable, user-visible identity of a resource inside a stack, e.g. `subnet.private.b`.
///
/// Stack name + logical id is the identity of a live resource (tags `mck:stack` and `mck:id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LogicalId(String);

impl LogicalId {
    pub fn new(id: impl Into<String>) -> LogicalId {
        LogicalId(id.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LogicalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for LogicalId {
    fn from(s: &str) -> LogicalId {
        LogicalId(s.to_string())
    }
}

macro_rules! kinds {
    ($($kind:ident => $name:literal),* $(,)?) => {
        /// Every kind of resource mck manages.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ResourceKind { $($kind),* }

        impl ResourceKind {
            /// All kinds, in a dependency-respecting order (a kind never depends on a later one).
            pub const ALL: &'static [ResourceKind] = &[$(ResourceKind::$kind),*];

            /// The name used in plans, graphs and JSON, e.g. `aws_subnet`.
            pub fn name(self) -> &'static str {
                match self { $(ResourceKind::$kind => $name),* }
            }
        }

        /// Zero-sized markers that give [`Ref`] its target kind.
        pub mod kind {
            $(
                #[derive(Clone, Copy, Debug, PartialEq, Eq)]
                pub struct $kind;
                impl super::KindMarker for $kind {
                    const KIND: super::ResourceKind = super::ResourceKind::$kind;
                }
            )*
        }
    };
}

kinds! {
    Vpc => "aws_vpc",
    InternetGateway => "aws_internet_gateway",
    Subnet => "aws_subnet",
    RouteTable => "aws_route_table",
    RouteTableAssociation => "aws_route_table_association",
    SecurityGroup => "aws_security_group",
    SecurityGroupRule => "aws_security_group_rule",
    Instance => "aws_instance",
    ElasticIp => "aws_eip",
    NatGateway => "aws_nat_gateway",
    Route => "aws_route",
    DbSubnetGroup => "aws_db_subnet_group",
    DbClusterParameterGroup => "aws_rds_cluster_parameter_group",
    DbCluster => "aws_rds_cluster",
    DbInstance => "aws_rds_cluster_instance",
    CacheSubnetGroup => "aws_elasticache_subnet_group",
    ReplicationGroup => "aws_elasticache_replication_group",
    CacheCluster => "aws_elasticache_cluster",
    FileSystem => "aws_efs_file_system",
    MountTarget => "aws_efs_mount_target",
    AccessPoint => "aws_efs_access_point",
    HostedZone => "aws_route53_zone",
    RecordSet => "aws_route53_record",
}

/// Serialized as its plan name (`aws_subnet`).
impl Serialize for ResourceKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl ResourceKind {
    /// The kinds a resource of this kind may reference. Deletes of resources that nothing in the
    /// desired graph describes (orphans, `down`) are ordered by this relation.
    pub fn referenced_kinds(self) -> &'static [ResourceKind] {
        use ResourceKind::*;
        match self {
            Vpc => &[],
            InternetGateway => &[Vpc],
            Subnet => &[Vpc],
            RouteTable => &[Vpc],
            RouteTableAssociation => &[RouteTable, Subnet],
            SecurityGroup => &[Vpc],
            SecurityGroupRule => &[SecurityGroup],
            Instance => &[Subnet, SecurityGroup],
            ElasticIp => &[Instance, InternetGateway],
            NatGateway => &[Subnet, ElasticIp],
            Route => &[RouteTable, InternetGateway, NatGateway],
            DbSubnetGroup => &[Subnet],
            DbClusterParameterGroup => &[],
            DbCluster => &[DbSubnetGroup, DbClusterParameterGroup, SecurityGroup],
            DbInstance => &[DbCluster],
            CacheSubnetGroup => &[Subnet],
            ReplicationGroup => &[CacheSubnetGroup, SecurityGroup],
            CacheCluster => &[CacheSubnetGroup, SecurityGroup],
            FileSystem => &[],
            MountTarget => &[FileSystem, Subnet, SecurityGroup],
            AccessPoint => &[FileSystem],
            HostedZone => &[Vpc],
            RecordSet => &[
                HostedZone,
                DbCluster,
                DbInstance,
                ReplicationGroup,
                CacheCluster,
                FileSystem,
                MountTarget,
            ],
        }
    }

    /// Kinds whose replacement or deletion destroys stored data; guarded by `--allow-data-loss`.
    pub fn holds_data(self) -> bool {
        matches!(
            self,
            ResourceKind::DbCluster
                | ResourceKind::ReplicationGroup
                | ResourceKind::CacheCluster
                | ResourceKind::FileSystem
        )
    }

    /// The outputs a live resource of this kind reports (endpoints, ids), which record sets
    /// and `mck outputs` use.
    pub fn output_names(self) -> &'static [&'static str] {
        match self {
            ResourceKind::DbCluster => &["endpoint", "reader_endpoint", "secret_arn", "port"],
            ResourceKind::DbInstance => &["endpoint"],
            ResourceKind::ReplicationGroup => &["primary_endpoint", "reader_endpoint", "port"],
            ResourceKind::CacheCluster => &["endpoint", "port"],
            ResourceKind::FileSystem => &["dns_name"],
            ResourceKind::HostedZone => &["zone_id", "name"],
            ResourceKind::RecordSet => &["fqdn"],
            ResourceKind::ElasticIp => &["public_ip"],
            _ => &[],
        }
    }

    /// Whether `self` depends, directly or transitively, on `other`.
    pub fn depends_on(self, other: ResourceKind) -> bool {
        self.referenced_kinds()
            .iter()
            .any(|&k| k == other || k.depends_on(other))
    }

    /// Kinds that AWS lets us tag; the others are owned through their parent.
    pub fn is_taggable(self) -> bool {
        !matches!(
            self,
            ResourceKind::Route
                | ResourceKind::RouteTableAssociation
                | ResourceKind::SecurityGroupRule
        )
    }
}

/// Marker trait linking a zero-sized kind type to its [`ResourceKind`].
pub trait KindMarker {
    const KIND: ResourceKind;
}

/// A typed reference to another resource of the stack, by logical id.
pub struct Ref<K> {
    id: LogicalId,
    _kind: PhantomData<K>,
}

impl<K: KindMarker> Ref<K> {
    pub fn new(id: impl Into<String>) -> Ref<K> {
        Ref {
            id: LogicalId::new(id),
            _kind: PhantomData,
        }
    }

    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    pub fn kind(&self) -> ResourceKind {
        K::KIND
    }

    fn value(&self) -> Value {
        Value::Ref(K::KIND, self.id.clone())
    }

    /// An output of the referenced resource (e.g. a cluster's `endpoint`), known once it exists.
    pub fn output(&self, name: &'static str) -> Value {
        Value::Output(K::KIND, self.id.clone(), name)
    }
}

impl<K> Clone for Ref<K> {
    fn clone(&self) -> Self {
        Ref {
            id: self.id.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Ref<K> {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl<K> Eq for Ref<K> {}

impl<K: KindMarker> fmt::Debug for Ref<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref<{}>({})", K::KIND.name(), self.id)
    }
}

/// A field value as compared by the diff and shown in plans.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<Value>),
    /// A reference to another resource of the stack.
    Ref(ResourceKind, LogicalId),
    /// An output of another resource of the stack (an endpoint, a DNS name), by name.
    Output(ResourceKind, LogicalId, &'static str),
    /// A cloud id as read from the provider, before it is mapped back to a logical id (see
    /// [`crate::provider::resolve_cloud_refs`]). Stays a plain id when it is not one of ours.
    CloudId(String),
    /// A cloud id of a known kind: for named resources whose names may coincide across kinds
    /// (an RDS cluster and its subnet group may both be `dev-db`).
    CloudRef(ResourceKind, String),
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => write!(f, "\"{s}\""),
            Value::List(items) => {
                f.write_str("[")?;
                for (idx, item) in items.iter().enumerate() {
                    if idx > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
            Value::Ref(_, id) => write!(f, "{id}"),
            Value::Output(_, id, name) => write!(f, "{id}.{name}"),
            Value::CloudId(id) | Value::CloudRef(_, id) => write!(f, "\"{id}\""),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// Whether a changed field can be updated in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mutability {
    Mutable,
    /// A change replaces the resource.
    Immutable,
}

/// One field of a desired resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    pub name: &'static str,
    pub value: Value,
    pub mutability: Mutability,
    /// Never rendered in plans, logs or outputs.
    pub sensitive: bool,
}

fn mutable(name: &'static str, value: impl Into<Value>) -> Field {
    Field {
        name,
        value: value.into(),
        mutability: Mutability::Mutable,
        sensitive: false,
    }
}

fn immutable(name: &'static str, value: impl Into<Value>) -> Field {
    Field {
        name,
        value: value.into(),
        mutability: Mutability::Immutable,
        sensitive: false,
    }
}

/// Tags applied to every taggable resource besides `mck:stack` and `mck:id`.
pub type Tags = BTreeMap<String, String>;

pub const TAG_STACK: &str = "mck:stack";
pub const TAG_ID: &str = "mck:id";

// ---------------------------------------------------------------------------------------------
// Network

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VpcSpec {
    pub cidr: String,
    pub enable_dns_support: bool,
    pub enable_dns_hostnames: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubnetSpec {
    pub vpc: Ref<kind::Vpc>,
    pub cidr: String,
    pub zone: String,
    pub map_public_ip_on_launch: bool,
}

/// An internet gateway attached to the VPC (the attachment is part of the resource).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InternetGatewaySpec {
    pub vpc: Ref<kind::Vpc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ElasticIpSpec {
    /// The instance the address is associated with; `None` for NAT gateway addresses.
    pub instance: Option<Ref<kind::Instance>>,
    /// Only for ordering: an address in a VPC needs the internet gateway attached first.
    pub internet_gateway: Ref<kind::InternetGateway>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatGatewaySpec {
    pub subnet: Ref<kind::Subnet>,
    pub eip: Ref<kind::ElasticIp>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTableSpec {
    pub vpc: Ref<kind::Vpc>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteTarget {
    InternetGateway(Ref<kind::InternetGateway>),
    NatGateway(Ref<kind::NatGateway>),
}

/// A route in a route table. Not taggable: owned by being in a table of the stack; its logical
/// id is derived from table and destination ([`RouteSpec::logical_id`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteSpec {
    pub route_table: Ref<kind::RouteTable>,
    pub destination: String,
    pub target: RouteTarget,
}

impl RouteSpec {
    pub fn logical_id(route_table: &LogicalId, destination: &str) -> LogicalId {
        LogicalId::new(format!("{route_table}:{destination}"))
    }
}

/// The association of a subnet with a route table. A subnet has exactly one, so the identity is
/// the subnet and the table is a mutable field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteTableAssociationSpec {
    pub route_table: Ref<kind::RouteTable>,
    pub subnet: Ref<kind::Subnet>,
}

impl RouteTableAssociationSpec {
    pub fn logical_id(subnet: &LogicalId) -> LogicalId {
        LogicalId::new(format!("rta.{subnet}"))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupSpec {
    pub vpc: Ref<kind::Vpc>,
    /// The AWS group name, `<stack>-<name>`.
    pub group_name: String,
    pub description: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RulePeer {
    Cidr(String),
    Group(Ref<kind::SecurityGroup>),
}

/// One security group rule. Rules are identified by their content, so every field is immutable
/// and the logical id is derived from them ([`SecurityGroupRuleSpec::logical_id`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecurityGroupRuleSpec {
    pub group: Ref<kind::SecurityGroup>,
    pub direction: Direction,
    /// `tcp`, `udp`, `icmp` or `-1` (all).
    pub protocol: String,
    pub from_port: i32,
    pub to_port: i32,
    pub peer: RulePeer,
    pub description: String,
}

impl SecurityGroupRuleSpec {
    /// `sg.app/ingress/tcp/80-80/sg.alb`; the peer is a logical id or a CIDR or a foreign group id.
    pub fn logical_id(
        group: &LogicalId,
        direction: Direction,
        protocol: &str,
        from_port: i32,
        to_port: i32,
        peer: &str,
    ) -> LogicalId {
        let ports = if protocol == "-1" {
            "all".to_string()
        } else {
            format!("{from_port}-{to_port}")
        };
        let protocol = if protocol == "-1" { "all" } else { protocol };
        LogicalId::new(format!(
            "{group}/{}/{protocol}/{ports}/{peer}",
            direction.as_str()
        ))
    }

    pub fn own_logical_id(&self) -> LogicalId {
        let peer = match &self.peer {
            RulePeer::Cidr(cidr) => cidr.clone(),
            RulePeer::Group(group) => group.id().to_string(),
        };
        SecurityGroupRuleSpec::logical_id(
            self.group.id(),
            self.direction,
            &self.protocol,
            self.from_port,
            self.to_port,
            &peer,
        )
    }
}

/// How an instance's image is chosen. A lookup is resolved at creation only: a newer image
/// published later does not replace a running instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmiSelector {
    Id(String),
    Lookup { name_pattern: String, owner: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    pub subnet: Ref<kind::Subnet>,
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    pub instance_type: String,
    pub ami: AmiSelector,
    pub key_name: Option<String>,
    pub root_volume_gb: i64,
    pub root_volume_encrypted: bool,
    pub imdsv2_required: bool,
}

// ---------------------------------------------------------------------------------------------
// Data tier

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSubnetGroupSpec {
    /// `<stack>-db`.
    pub name: String,
    pub description: String,
    pub subnets: Vec<Ref<kind::Subnet>>,
}

/// Only lowered when the stack sets parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbClusterParameterGroupSpec {
    pub name: String,
    /// e.g. `aurora-mysql8.0`.
    pub family: String,
    pub description: String,
    pub parameters: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbClusterSpec {
    /// `<stack>-db`.
    pub identifier: String,
    pub engine: String,
    pub engine_version: Option<String>,
    pub database_name: String,
    pub master_username: String,
    pub subnet_group: Ref<kind::DbSubnetGroup>,
    pub parameter_group: Option<Ref<kind::DbClusterParameterGroup>>,
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    pub storage_encrypted: bool,
    pub backup_retention_days: i64,
    pub deletion_protection: bool,
    /// Take a final snapshot when the cluster is deleted (kept in a tag, read at delete time).
    pub final_snapshot: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbInstanceSpec {
    /// `<stack>-db-<n>`.
    pub identifier: String,
    pub cluster: Ref<kind::DbCluster>,
    pub instance_class: String,
    pub engine: String,
    pub availability_zone: String,
    pub promotion_tier: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSubnetGroupSpec {
    pub name: String,
    pub description: String,
    pub subnets: Vec<Ref<kind::Subnet>>,
}

/// A Redis replication group: primary plus replicas in other zones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationGroupSpec {
    /// `<stack>-<name>` (at most 40 characters).
    pub id: String,
    pub description: String,
    pub engine_version: String,
    pub node_type: String,
    /// Primary + replicas.
    pub num_cache_clusters: i64,
    pub automatic_failover: bool,
    pub multi_az: bool,
    pub at_rest_encryption: bool,
    pub transit_encryption: bool,
    pub subnet_group: Ref<kind::CacheSubnetGroup>,
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    pub port: i64,
}

/// A memcached cluster (the `engine: memcached` option for the Magento cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheClusterSpec {
    pub id: String,
    pub engine_version: Option<String>,
    pub node_type: String,
    pub num_nodes: i64,
    pub subnet_group: Ref<kind::CacheSubnetGroup>,
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    pub port: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileSystemSpec {
    /// `<stack>-efs`: the idempotency token of the create call.
    pub creation_token: String,
    pub encrypted: bool,
    pub performance_mode: String,
    pub backup: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountTargetSpec {
    pub file_system: Ref<kind::FileSystem>,
    pub subnet: Ref<kind::Subnet>,
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessPointSpec {
    pub file_system: Ref<kind::FileSystem>,
    /// `/media`, created with the owner below if missing.
    pub path: String,
    pub uid: i64,
    pub gid: i64,
    pub permissions: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostedZoneSpec {
    /// `dev.magecloudkit.internal` (no trailing dot).
    pub name: String,
    pub vpc: Ref<kind::Vpc>,
    pub vpc_region: String,
    pub comment: String,
}

/// A record in the stack's private zone. Not taggable: owned by being in the stack's zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSetSpec {
    pub zone: Ref<kind::HostedZone>,
    /// Fully qualified, no trailing dot: `db.dev.magecloudkit.internal`.
    pub name: String,
    pub record_type: String,
    pub ttl: i64,
    /// Usually an output of another resource (an endpoint).
    pub value: Value,
    /// Resources that must be ready before the name is published (e.g. the DB instances).
    pub after: Vec<(ResourceKind, LogicalId)>,
}

impl RecordSetSpec {
    /// `dns.db`: records are named after their first label.
    pub fn logical_id(label: &str) -> LogicalId {
        LogicalId::new(format!("dns.{label}"))
    }
}

/// The desired state of one resource; a closed set of kinds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ResourceSpec {
    Vpc(VpcSpec),
    InternetGateway(InternetGatewaySpec),
    Subnet(SubnetSpec),
    RouteTable(RouteTableSpec),
    RouteTableAssociation(RouteTableAssociationSpec),
    SecurityGroup(SecurityGroupSpec),
    SecurityGroupRule(SecurityGroupRuleSpec),
    Instance(InstanceSpec),
    ElasticIp(ElasticIpSpec),
    NatGateway(NatGatewaySpec),
    Route(RouteSpec),
    DbSubnetGroup(DbSubnetGroupSpec),
    DbClusterParameterGroup(DbClusterParameterGroupSpec),
    DbCluster(DbClusterSpec),
    DbInstance(DbInstanceSpec),
    CacheSubnetGroup(CacheSubnetGroupSpec),
    ReplicationGroup(ReplicationGroupSpec),
    CacheCluster(CacheClusterSpec),
    FileSystem(FileSystemSpec),
    MountTarget(MountTargetSpec),
    AccessPoint(AccessPointSpec),
    HostedZone(HostedZoneSpec),
    RecordSet(RecordSetSpec),
}

impl ResourceSpec {
    pub fn kind(&self) -> ResourceKind {
        match self {
            ResourceSpec::Vpc(_) => ResourceKind::Vpc,
            ResourceSpec::InternetGateway(_) => ResourceKind::InternetGateway,
            ResourceSpec::Subnet(_) => ResourceKind::Subnet,
            ResourceSpec::RouteTable(_) => ResourceKind::RouteTable,
            ResourceSpec::RouteTableAssociation(_) => ResourceKind::RouteTableAssociation,
            ResourceSpec::SecurityGroup(_) => ResourceKind::SecurityGroup,
            ResourceSpec::SecurityGroupRule(_) => ResourceKind::SecurityGroupRule,
            ResourceSpec::Instance(_) => ResourceKind::Instance,
            ResourceSpec::ElasticIp(_) => ResourceKind::ElasticIp,
            ResourceSpec::NatGateway(_) => ResourceKind::NatGateway,
            ResourceSpec::Route(_) => ResourceKind::Route,
            ResourceSpec::DbSubnetGroup(_) => ResourceKind::DbSubnetGroup,
            ResourceSpec::DbClusterParameterGroup(_) => ResourceKind::DbClusterParameterGroup,
            ResourceSpec::DbCluster(_) => ResourceKind::DbCluster,
            ResourceSpec::DbInstance(_) => ResourceKind::DbInstance,
            ResourceSpec::CacheSubnetGroup(_) => ResourceKind::CacheSubnetGroup,
            ResourceSpec::ReplicationGroup(_) => ResourceKind::ReplicationGroup,
            ResourceSpec::CacheCluster(_) => ResourceKind::CacheCluster,
            ResourceSpec::FileSystem(_) => ResourceKind::FileSystem,
            ResourceSpec::MountTarget(_) => ResourceKind::MountTarget,
            ResourceSpec::AccessPoint(_) => ResourceKind::AccessPoint,
            ResourceSpec::HostedZone(_) => ResourceKind::HostedZone,
            ResourceSpec::RecordSet(_) => ResourceKind::RecordSet,
        }
    }

    /// The compared fields, in display order. Providers report the same names when reading.
    pub fn fields(&self) -> Vec<Field> {
        match self {
            ResourceSpec::Vpc(s) => vec![
                immutable("cidr_block", s.cidr.as_str()),
                mutable("enable_dns_support", s.enable_dns_support),
                mutable("enable_dns_hostnames", s.enable_dns_hostnames),
            ],
            ResourceSpec::InternetGateway(s) => vec![mutable("vpc_id", s.vpc.value())],
            ResourceSpec::Subnet(s) => vec![
                immutable("vpc_id", s.vpc.value()),
                immutable("cidr_block", s.cidr.as_str()),
                immutable("availability_zone", s.zone.as_str()),
                mutable("map_public_ip_on_launch", s.map_public_ip_on_launch),
            ],
            ResourceSpec::RouteTable(s) => vec![immutable("vpc_id", s.vpc.value())],
            ResourceSpec::RouteTableAssociation(s) => vec![
                immutable("subnet_id", s.subnet.value()),
                mutable("route_table_id", s.route_table.value()),
            ],
            ResourceSpec::SecurityGroup(s) => vec![
                immutable("vpc_id", s.vpc.value()),
                immutable("name", s.group_name.as_str()),
                immutable("description", s.description.as_str()),
            ],
            ResourceSpec::SecurityGroupRule(s) => vec![
                immutable("security_group_id", s.group.value()),
                immutable("type", s.direction.as_str()),
                immutable("protocol", s.protocol.as_str()),
                immutable("from_port", i64::from(s.from_port)),
                immutable("to_port", i64::from(s.to_port)),
                match &s.peer {
                    RulePeer::Cidr(cidr) => immutable("cidr_block", cidr.as_str()),
                    RulePeer::Group(group) => immutable("source_security_group_id", group.value()),
                },
            ],
            ResourceSpec::Instance(s) => {
                let mut fields = vec![
                    immutable("subnet_id", s.subnet.value()),
                    immutable("instance_type", s.instance_type.as_str()),
                    mutable(
                        "vpc_security_group_ids",
                        Value::List(s.security_groups.iter().map(Ref::value).collect()),
                    ),
                    immutable("key_name", s.key_name.as_deref()),
                    immutable("root_volume_size", s.root_volume_gb),
                    immutable("root_volume_encrypted", s.root_volume_encrypted),
                    mutable(
                        "metadata_http_tokens",
                        if s.imdsv2_required {
                            "required"
                        } else {
                            "optional"
                        },
                    ),
                ];
                if let AmiSelector::Id(ami) = &s.ami {
                    fields.push(immutable("ami", ami.as_str()));
                }
                fields
            }
            ResourceSpec::ElasticIp(s) => {
                vec![mutable(
                    "instance_id",
                    s.instance.as_ref().map(Ref::value).unwrap_or(Value::Null),
                )]
            }
            ResourceSpec::NatGateway(s) => vec![
                immutable("subnet_id", s.subnet.value()),
                immutable("allocation_id", s.eip.value()),
            ],
            ResourceSpec::Route(s) => vec![
                immutable("route_table_id", s.route_table.value()),
                immutable("destination_cidr_block", s.destination.as_str()),
                match &s.target {
                    RouteTarget::InternetGateway(igw) => mutable("gateway_id", igw.value()),
                    RouteTarget::NatGateway(nat) => mutable("nat_gateway_id", nat.value()),
                },
            ],
            ResourceSpec::DbSubnetGroup(s) => vec![
                immutable("name", s.name.as_str()),
                mutable("description", s.description.as_str()),
                mutable("subnet_ids", refs(&s.subnets)),
            ],
            ResourceSpec::DbClusterParameterGroup(s) => vec![
                immutable("name", s.name.as_str()),
                immutable("family", s.family.as_str()),
                immutable("description", s.description.as_str()),
                mutable(
                    "parameters",
                    Value::List(
                        s.parameters
                            .iter()
                            .map(|(k, v)| Value::Str(format!("{k}={v}")))
                            .collect(),
                    ),
                ),
            ],
            ResourceSpec::DbCluster(s) => {
                let mut fields = vec![
                    immutable("cluster_identifier", s.identifier.as_str()),
                    immutable("engine", s.engine.as_str()),
                    immutable("database_name", s.database_name.as_str()),
                    immutable("master_username", s.master_username.as_str()),
                    mutable("manage_master_user_password", true),
                    immutable("db_subnet_group_name", s.subnet_group.value()),
                    mutable("vpc_security_group_ids", refs(&s.security_groups)),
                    immutable("storage_encrypted", s.storage_encrypted),
                    mutable("backup_retention_period", s.backup_retention_days),
                    mutable("deletion_protection", s.deletion_protection),
                    mutable("final_snapshot", s.final_snapshot),
                    mutable(
                        "db_cluster_parameter_group_name",
                        s.parameter_group.as_ref().map_or(Value::Null, Ref::value),
                    ),
                ];
                if let Some(version) = &s.engine_version {
                    fields.push(mutable("engine_version", version.as_str()));
                }
                fields
            }
            ResourceSpec::DbInstance(s) => vec![
                immutable("identifier", s.identifier.as_str()),
                immutable("cluster_identifier", s.cluster.value()),
                mutable("instance_class", s.instance_class.as_str()),
                immutable("engine", s.engine.as_str()),
                immutable("availability_zone", s.availability_zone.as_str()),
                mutable("promotion_tier", s.promotion_tier),
            ],
            ResourceSpec::CacheSubnetGroup(s) => vec![
                immutable("name", s.name.as_str()),
                mutable("description", s.description.as_str()),
                mutable("subnet_ids", refs(&s.subnets)),
            ],
            // Subnet group, security groups, engine version and port are set at creation: AWS
            // reports them on member clusters, which the read does not fetch.
            ResourceSpec::ReplicationGroup(s) => vec![
                immutable("replication_group_id", s.id.as_str()),
                mutable("description", s.description.as_str()),
                immutable("engine", "redis"),
                mutable("node_type", s.node_type.as_str()),
                mutable("num_cache_clusters", s.num_cache_clusters),
                mutable("automatic_failover", s.automatic_failover),
                mutable("multi_az", s.multi_az),
                immutable("at_rest_encryption_enabled", s.at_rest_encryption),
                immutable("transit_encryption_enabled", s.transit_encryption),
            ],
            ResourceSpec::CacheCluster(s) => {
                let mut fields = vec![
                    immutable("cluster_id", s.id.as_str()),
                    immutable("engine", "memcached"),
                    mutable("node_type", s.node_type.as_str()),
                    mutable("num_cache_nodes", s.num_nodes),
                    immutable("subnet_group_name", s.subnet_group.value()),
                    mutable("security_group_ids", refs(&s.security_groups)),
                ];
                if let Some(version) = &s.engine_version {
                    fields.push(mutable("engine_version", version.as_str()));
                }
                fields
            }
            ResourceSpec::FileSystem(s) => vec![
                immutable("creation_token", s.creation_token.as_str()),
                immutable("encrypted", s.encrypted),
                immutable("performance_mode", s.performance_mode.as_str()),
                mutable("backup", s.backup),
            ],
            ResourceSpec::MountTarget(s) => vec![
                immutable("file_system_id", s.file_system.value()),
                immutable("subnet_id", s.subnet.value()),
                mutable("security_groups", refs(&s.security_groups)),
            ],
            ResourceSpec::AccessPoint(s) => vec![
                immutable("file_system_id", s.file_system.value()),
                immutable("path", s.path.as_str()),
                immutable("posix_uid", s.uid),
                immutable("posix_gid", s.gid),
                immutable("permissions", s.permissions.as_str()),
            ],
            ResourceSpec::HostedZone(s) => vec![
                immutable("name", s.name.as_str()),
                immutable("vpc_id", s.vpc.value()),
                mutable("comment", s.comment.as_str()),
            ],
            ResourceSpec::RecordSet(s) => vec![
                immutable("zone_id", s.zone.value()),
                immutable("name", s.name.as_str()),
                immutable("type", s.record_type.as_str()),
                mutable("ttl", s.ttl),
                mutable("records", Value::List(vec![s.value.clone()])),
            ],
        }
    }

    /// Every resource this one needs: field references plus ordering-only dependencies.
    pub fn dependencies(&self) -> Vec<(ResourceKind, LogicalId)> {
        let mut deps = Vec::new();
        for field in self.fields() {
            collect_refs(&field.value, &mut deps);
        }
        match self {
            ResourceSpec::ElasticIp(s) => {
                deps.push((s.internet_gateway.kind(), s.internet_gateway.id().clone()))
            }
            ResourceSpec::RecordSet(s) => deps.extend(s.after.iter().cloned()),
            ResourceSpec::ReplicationGroup(s) => {
                deps.push((s.subnet_group.kind(), s.subnet_group.id().clone()));
                deps.extend(s.security_groups.iter().map(|g| (g.kind(), g.id().clone())));
            }
            _ => {}
        }
        deps.sort();
        deps.dedup();
        deps
    }
}

fn refs<K: KindMarker>(items: &[Ref<K>]) -> Value {
    let mut values: Vec<Value> = items.iter().map(Ref::value).collect();
    values.sort();
    Value::List(values)
}

fn collect_refs(value: &Value, out: &mut Vec<(ResourceKind, LogicalId)>) {
    match value {
        Value::Ref(kind, id) | Value::Output(kind, id, _) => out.push((*kind, id.clone())),
        Value::List(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

/// A desired resource: identity, spec and user tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    pub id: LogicalId,
    pub spec: ResourceSpec,
}

impl Resource {
    pub fn kind(&self) -> ResourceKind {
        self.spec.kind()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_order_respects_references() {
        for (idx, kind) in ResourceKind::ALL.iter().enumerate() {
            for referenced in kind.referenced_kinds() {
                let ref_idx = ResourceKind::ALL
                    .iter()
                    .position(|k| k == referenced)
                    .unwrap();
                assert!(
                    ref_idx < idx,
                    "{kind} references the later kind {referenced}"
                );
            }
        }
    }

    #[test]
    fn rule_ids_are_derived_from_content() {
        let id = SecurityGroupRuleSpec::logical_id(
            &"sg.app".into(),
            Direction::Ingress,
            "tcp",
            80,
            80,
            "sg.alb",
        );
        assert_eq!(id.as_str(), "sg.app/ingress/tcp/80-80/sg.alb");
        let all = SecurityGroupRuleSpec::logical_id(
            &"sg.app".into(),
            Direction::Egress,
            "-1",
            0,
            0,
            "0.0.0.0/0",
        );
        assert_eq!(all.as_str(), "sg.app/egress/all/all/0.0.0.0/0");
    }
}
