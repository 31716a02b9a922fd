//! ElastiCache kinds of the data tier: the cache subnet group, Redis replication groups and the
//! memcached option.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, kind,
    minutes, refs,
};

/// The ElastiCache subnet group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSubnetGroupSpec {
    /// The AWS name.
    pub name: String,
    /// The description AWS shows.
    pub description: String,
    /// The subnets it spans.
    pub subnets: Vec<Ref<kind::Subnet>>,
}

impl CacheSubnetGroupSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `description`: changed in place.
    pub const DESCRIPTION: FieldDef = FieldDef::mutable("description");
    /// Field `subnet_ids`: changed in place.
    pub const SUBNET_IDS: FieldDef = FieldDef::mutable("subnet_ids");
}

impl Kind for CacheSubnetGroupSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Subnet];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::DESCRIPTION.of(self.description.as_str()),
            Self::SUBNET_IDS.of(refs(&self.subnets)),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A Redis replication group: primary plus replicas in other zones.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicationGroupSpec {
    /// `<stack>-<name>` (at most 40 characters).
    pub id: String,
    /// The description AWS shows.
    pub description: String,
    /// The engine version; the default when absent.
    pub engine_version: String,
    /// The cache node type.
    pub node_type: String,
    /// Primary + replicas.
    pub num_cache_clusters: i64,
    /// A replica takes over when the primary fails.
    pub automatic_failover: bool,
    /// Primary and replicas in different zones.
    pub multi_az: bool,
    /// Encrypted at rest.
    pub at_rest_encryption: bool,
    /// TLS between clients and nodes.
    pub transit_encryption: bool,
    /// The subnet group.
    pub subnet_group: Ref<kind::CacheSubnetGroup>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// The port.
    pub port: i64,
}

impl ReplicationGroupSpec {
    /// Field `replication_group_id`: a change replaces the resource.
    pub const REPLICATION_GROUP_ID: FieldDef = FieldDef::immutable("replication_group_id");
    /// Field `description`: changed in place.
    pub const DESCRIPTION: FieldDef = FieldDef::mutable("description");
    /// Field `engine`: a change replaces the resource.
    pub const ENGINE: FieldDef = FieldDef::immutable("engine");
    /// Field `node_type`: changed in place.
    pub const NODE_TYPE: FieldDef = FieldDef::mutable("node_type");
    /// Field `num_cache_clusters`: changed in place.
    pub const NUM_CACHE_CLUSTERS: FieldDef = FieldDef::mutable("num_cache_clusters");
    /// Field `automatic_failover`: changed in place.
    pub const AUTOMATIC_FAILOVER: FieldDef = FieldDef::mutable("automatic_failover");
    /// Field `multi_az`: changed in place.
    pub const MULTI_AZ: FieldDef = FieldDef::mutable("multi_az");
    /// Field `at_rest_encryption_enabled`: a change replaces the resource.
    pub const AT_REST_ENCRYPTION_ENABLED: FieldDef =
        FieldDef::immutable("at_rest_encryption_enabled");
    /// Field `transit_encryption_enabled`: a change replaces the resource.
    pub const TRANSIT_ENCRYPTION_ENABLED: FieldDef =
        FieldDef::immutable("transit_encryption_enabled");
    // Set at creation: AWS reports these on the member clusters, which the read does not fetch.
    /// Field `engine_version`: set at creation only, never compared.
    pub const ENGINE_VERSION: FieldDef = FieldDef::create_only("engine_version");
    /// Field `port`: set at creation only, never compared.
    pub const PORT: FieldDef = FieldDef::create_only("port");
    /// Field `subnet_group_name`: set at creation only, never compared.
    pub const SUBNET_GROUP_NAME: FieldDef = FieldDef::create_only("subnet_group_name");
    /// Field `security_group_ids`: set at creation only, never compared.
    pub const SECURITY_GROUP_IDS: FieldDef = FieldDef::create_only("security_group_ids");
    /// Output `primary_endpoint`.
    pub const OUT_PRIMARY_ENDPOINT: &str = "primary_endpoint";
    /// Output `reader_endpoint`.
    pub const OUT_READER_ENDPOINT: &str = "reader_endpoint";
    /// Output `port`.
    pub const OUT_PORT: &str = "port";
}

impl Kind for ReplicationGroupSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::CacheSubnetGroup, ResourceKind::SecurityGroup];
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[
        Self::OUT_PRIMARY_ENDPOINT,
        Self::OUT_READER_ENDPOINT,
        Self::OUT_PORT,
    ];
    // ~10 min typical, up to an hour with encryption and replicas.
    const TIMEOUT: Duration = minutes(75);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::REPLICATION_GROUP_ID.of(self.id.as_str()),
            Self::DESCRIPTION.of(self.description.as_str()),
            Self::ENGINE.of("redis"),
            Self::NODE_TYPE.of(self.node_type.as_str()),
            Self::NUM_CACHE_CLUSTERS.of(self.num_cache_clusters),
            Self::AUTOMATIC_FAILOVER.of(self.automatic_failover),
            Self::MULTI_AZ.of(self.multi_az),
            Self::AT_REST_ENCRYPTION_ENABLED.of(self.at_rest_encryption),
            Self::TRANSIT_ENCRYPTION_ENABLED.of(self.transit_encryption),
            Self::ENGINE_VERSION.of(self.engine_version.as_str()),
            Self::PORT.of(self.port),
            Self::SUBNET_GROUP_NAME.of(self.subnet_group.value()),
            Self::SECURITY_GROUP_IDS.of(refs(&self.security_groups)),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A memcached cluster (the `engine: memcached` option for the Magento cache).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheClusterSpec {
    /// The replication group or cluster id.
    pub id: String,
    /// The engine version; the default when absent.
    pub engine_version: Option<String>,
    /// The cache node type.
    pub node_type: String,
    /// Nodes in the cluster.
    pub num_nodes: i64,
    /// The subnet group.
    pub subnet_group: Ref<kind::CacheSubnetGroup>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// The port.
    pub port: i64,
}

impl CacheClusterSpec {
    /// Field `cluster_id`: a change replaces the resource.
    pub const CLUSTER_ID: FieldDef = FieldDef::immutable("cluster_id");
    /// Field `engine`: a change replaces the resource.
    pub const ENGINE: FieldDef = FieldDef::immutable("engine");
    /// Field `node_type`: changed in place.
    pub const NODE_TYPE: FieldDef = FieldDef::mutable("node_type");
    /// Field `num_cache_nodes`: changed in place.
    pub const NUM_CACHE_NODES: FieldDef = FieldDef::mutable("num_cache_nodes");
    /// Field `subnet_group_name`: a change replaces the resource.
    pub const SUBNET_GROUP_NAME: FieldDef = FieldDef::immutable("subnet_group_name");
    /// Field `security_group_ids`: changed in place.
    pub const SECURITY_GROUP_IDS: FieldDef = FieldDef::mutable("security_group_ids");
    /// `1.6` in the stack is `1.6.22` live.
    pub const ENGINE_VERSION: FieldDef = FieldDef::mutable("engine_version").at_least_version();
    /// Field `port`: set at creation only, never compared.
    pub const PORT: FieldDef = FieldDef::create_only("port");
    /// Output `endpoint`.
    pub const OUT_ENDPOINT: &str = "endpoint";
    /// Output `port`.
    pub const OUT_PORT: &str = "port";
}

impl Kind for CacheClusterSpec {
    const REFERENCES: &'static [ResourceKind] =
        &[ResourceKind::CacheSubnetGroup, ResourceKind::SecurityGroup];
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ENDPOINT, Self::OUT_PORT];
    const TIMEOUT: Duration = minutes(75);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![
            Self::CLUSTER_ID.of(self.id.as_str()),
            Self::ENGINE.of("memcached"),
            Self::NODE_TYPE.of(self.node_type.as_str()),
            Self::NUM_CACHE_NODES.of(self.num_nodes),
            Self::SUBNET_GROUP_NAME.of(self.subnet_group.value()),
            Self::SECURITY_GROUP_IDS.of(refs(&self.security_groups)),
            Self::PORT.of(self.port),
        ];
        if let Some(version) = &self.engine_version {
            fields.push(Self::ENGINE_VERSION.of(version.as_str()));
        }
        fields
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
