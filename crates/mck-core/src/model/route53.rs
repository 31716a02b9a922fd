//! Route53 kinds for service discovery: the stack's private zone and its records.

use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, Value,
    kind, minutes,
};

/// The private Route53 zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostedZoneSpec {
    /// `dev.magecloudkit.internal` (no trailing dot).
    pub name: String,
    /// The VPC.
    pub vpc: Ref<kind::Vpc>,
    /// The region of the VPC.
    pub vpc_region: String,
    /// The zone comment.
    pub comment: String,
}

impl HostedZoneSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `vpc_id`: a change replaces the resource.
    pub const VPC_ID: FieldDef = FieldDef::immutable("vpc_id");
    /// Field `comment`: changed in place.
    pub const COMMENT: FieldDef = FieldDef::mutable("comment");
    /// Output `zone_id`.
    pub const OUT_ZONE_ID: &str = "zone_id";
    /// Output `name`.
    pub const OUT_NAME: &str = "name";
}

impl Kind for HostedZoneSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::Vpc];
    const HOLDS_DATA: bool = false;
    // Tagged right after creation (CreateHostedZone takes no tags); see the driver.
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ZONE_ID, Self::OUT_NAME];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::VPC_ID.of(self.vpc.value()),
            Self::COMMENT.of(self.comment.as_str()),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// A record in the stack's private zone. Not taggable: owned by being in the stack's zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordSetSpec {
    /// The availability zone.
    pub zone: Ref<kind::HostedZone>,
    /// Fully qualified, no trailing dot: `db.dev.magecloudkit.internal`.
    pub name: String,
    /// `CNAME`, `A`, …
    pub record_type: String,
    /// Seconds resolvers cache it.
    pub ttl: i64,
    /// Usually an output of another resource (an endpoint).
    pub value: Value,
    /// Resources that must be ready before the name is published (e.g. the DB instances).
    pub after: Vec<(ResourceKind, LogicalId)>,
}

impl RecordSetSpec {
    /// Field `zone_id`: a change replaces the resource.
    pub const ZONE_ID: FieldDef = FieldDef::immutable("zone_id");
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `type`: a change replaces the resource.
    pub const TYPE: FieldDef = FieldDef::immutable("type");
    /// Field `ttl`: changed in place.
    pub const TTL: FieldDef = FieldDef::mutable("ttl");
    /// Field `records`: changed in place.
    pub const RECORDS: FieldDef = FieldDef::mutable("records");
    /// Output `fqdn`.
    pub const OUT_FQDN: &str = "fqdn";

    /// `dns.db`: records are named after their first label.
    pub fn logical_id(label: &str) -> LogicalId {
        LogicalId::new(format!("dns.{label}"))
    }
}

impl Kind for RecordSetSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::HostedZone,
        ResourceKind::DbCluster,
        ResourceKind::DbInstance,
        ResourceKind::ReplicationGroup,
        ResourceKind::CacheCluster,
        ResourceKind::FileSystem,
        ResourceKind::MountTarget,
        ResourceKind::SearchDomain,
        ResourceKind::MqBroker,
    ];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = false;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_FQDN];
    const TIMEOUT: Duration = minutes(10);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::ZONE_ID.of(self.zone.value()),
            Self::NAME.of(self.name.as_str()),
            Self::TYPE.of(self.record_type.as_str()),
            Self::TTL.of(self.ttl),
            Self::RECORDS.of(Value::List(vec![self.value.clone()])),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        self.after.clone()
    }
}
