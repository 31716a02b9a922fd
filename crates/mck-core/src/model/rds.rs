//! RDS kinds of the data tier: Aurora MySQL with its subnet group and parameter group.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{
    Field, FieldDef, Kind, LogicalId, Ref, RepeatedCreate, ReplacePolicy, ResourceKind, Value,
    kind, minutes, refs,
};

/// The RDS subnet group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbSubnetGroupSpec {
    /// `<stack>-db`.
    pub name: String,
    /// The description AWS shows.
    pub description: String,
    /// The subnets it spans.
    pub subnets: Vec<Ref<kind::Subnet>>,
}

impl DbSubnetGroupSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `description`: changed in place.
    pub const DESCRIPTION: FieldDef = FieldDef::mutable("description");
    /// Field `subnet_ids`: changed in place.
    pub const SUBNET_IDS: FieldDef = FieldDef::mutable("subnet_ids");
}

impl Kind for DbSubnetGroupSpec {
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

/// Only lowered when the stack sets parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbClusterParameterGroupSpec {
    /// The AWS name.
    pub name: String,
    /// e.g. `aurora-mysql8.0`.
    pub family: String,
    /// The description AWS shows.
    pub description: String,
    /// Parameter values by name.
    pub parameters: BTreeMap<String, String>,
}

impl DbClusterParameterGroupSpec {
    /// Field `name`: a change replaces the resource.
    pub const NAME: FieldDef = FieldDef::immutable("name");
    /// Field `family`: a change replaces the resource.
    pub const FAMILY: FieldDef = FieldDef::immutable("family");
    /// Field `description`: a change replaces the resource.
    pub const DESCRIPTION: FieldDef = FieldDef::immutable("description");
    /// `name=value` strings, sorted: the parameters the user set (AWS lists hundreds more).
    pub const PARAMETERS: FieldDef = FieldDef::mutable("parameters");

    /// The value of [`Self::PARAMETERS`] for these parameters.
    pub fn parameters_value(parameters: &BTreeMap<String, String>) -> Value {
        Value::List(
            parameters
                .iter()
                .map(|(k, v)| Value::Str(format!("{k}={v}")))
                .collect(),
        )
    }
}

impl Kind for DbClusterParameterGroupSpec {
    const REFERENCES: &'static [ResourceKind] = &[];
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[];
    const TIMEOUT: Duration = minutes(5);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::NAME.of(self.name.as_str()),
            Self::FAMILY.of(self.family.as_str()),
            Self::DESCRIPTION.of(self.description.as_str()),
            Self::PARAMETERS.of(Self::parameters_value(&self.parameters)),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// The Aurora MySQL cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbClusterSpec {
    /// `<stack>-db`.
    pub identifier: String,
    /// The database engine.
    pub engine: String,
    /// The engine version; the default when absent.
    pub engine_version: Option<String>,
    /// The database created with the cluster.
    pub database_name: String,
    /// The master user (its password is managed by RDS in Secrets Manager).
    pub master_username: String,
    /// The subnet group.
    pub subnet_group: Ref<kind::DbSubnetGroup>,
    /// The cluster parameter group, if any.
    pub parameter_group: Option<Ref<kind::DbClusterParameterGroup>>,
    /// Its security groups.
    pub security_groups: Vec<Ref<kind::SecurityGroup>>,
    /// Encrypted at rest.
    pub storage_encrypted: bool,
    /// Days of automated backups.
    pub backup_retention_days: i64,
    /// AWS refuses to delete it while on.
    pub deletion_protection: bool,
    /// Take a final snapshot when the cluster is deleted (kept in a tag, read at delete time).
    pub final_snapshot: bool,
    /// Days between RDS's rotations of the master user's managed secret (its rotation
    /// schedule in Secrets Manager).
    pub master_rotation_days: i64,
    /// Made as a copy-on-write clone of this cluster (a preview's: its source stack's
    /// `<stack>-db`) at its latest restorable time, instead of empty. Create-only.
    pub clone_of: Option<String>,
}

impl DbClusterSpec {
    /// Field `cluster_identifier`: a change replaces the resource.
    pub const CLUSTER_IDENTIFIER: FieldDef = FieldDef::immutable("cluster_identifier");
    /// Field `engine`: a change replaces the resource.
    pub const ENGINE: FieldDef = FieldDef::immutable("engine");
    /// Field `database_name`: a change replaces the resource.
    pub const DATABASE_NAME: FieldDef = FieldDef::immutable("database_name");
    /// Field `master_username`: a change replaces the resource.
    pub const MASTER_USERNAME: FieldDef = FieldDef::immutable("master_username");
    /// Always true: RDS keeps the password in Secrets Manager and mck never sees it.
    pub const MANAGE_MASTER_USER_PASSWORD: FieldDef =
        FieldDef::mutable("manage_master_user_password");
    /// Field `db_subnet_group_name`: a change replaces the resource.
    pub const DB_SUBNET_GROUP_NAME: FieldDef = FieldDef::immutable("db_subnet_group_name");
    /// Field `vpc_security_group_ids`: changed in place.
    pub const VPC_SECURITY_GROUP_IDS: FieldDef = FieldDef::mutable("vpc_security_group_ids");
    /// Field `storage_encrypted`: a change replaces the resource.
    pub const STORAGE_ENCRYPTED: FieldDef = FieldDef::immutable("storage_encrypted");
    /// Field `backup_retention_period`: changed in place.
    pub const BACKUP_RETENTION_PERIOD: FieldDef = FieldDef::mutable("backup_retention_period");
    /// Read by the plan's refusals: a protected cluster is never deleted or replaced.
    pub const DELETION_PROTECTION: FieldDef = super::DELETION_PROTECTION;
    /// Field `final_snapshot`: changed in place.
    pub const FINAL_SNAPSHOT: FieldDef = FieldDef::mutable("final_snapshot");
    /// Field `master_secret_rotation_days`: the managed secret's schedule, changed in place
    /// (`RotateSecret` with rotation rules only, not rotating now).
    pub const MASTER_SECRET_ROTATION_DAYS: FieldDef =
        FieldDef::mutable("master_secret_rotation_days");
    /// Field `db_cluster_parameter_group_name`: changed in place.
    pub const DB_CLUSTER_PARAMETER_GROUP_NAME: FieldDef =
        FieldDef::mutable("db_cluster_parameter_group_name");
    /// AWS upgrades minor versions itself; sending the older one back is refused.
    pub const ENGINE_VERSION: FieldDef = FieldDef::mutable("engine_version").at_least_version();
    /// Output `endpoint`.
    pub const OUT_ENDPOINT: &str = "endpoint";
    /// Output `reader_endpoint`.
    pub const OUT_READER_ENDPOINT: &str = "reader_endpoint";
    /// Output `secret_arn`.
    pub const OUT_SECRET_ARN: &str = "secret_arn";
    /// Output `port`.
    pub const OUT_PORT: &str = "port";
    /// Output `arn` (what AWS Backup selects).
    pub const OUT_ARN: &str = "arn";
    /// Field `clone_of`: the cluster it was cloned from, set at creation only.
    pub const CLONE_OF: FieldDef = FieldDef::create_only("clone_of");
    /// Tag of a clone: the cluster it was cloned from (`RestoreDBClusterToPointInTime`).
    pub const TAG_CLONE_OF: &str = "mck:clone-of";
    /// Tag of a clone whose master user is still the source's (with the source's secret):
    /// removed once it has a managed secret of its own, so a run killed in between leaves a
    /// clone whose plan says so (`manage_master_user_password: false -> true`).
    pub const TAG_SOURCE_LOGIN: &str = "mck:source-login";
    /// Output `_writer`: the identifier of the instance that is the writer now (for the
    /// resize order a plan shows; not for references).
    pub const OUT_WRITER: &str = "_writer";
}

impl Kind for DbClusterSpec {
    const REFERENCES: &'static [ResourceKind] = &[
        ResourceKind::DbSubnetGroup,
        ResourceKind::DbClusterParameterGroup,
        ResourceKind::SecurityGroup,
    ];
    const HOLDS_DATA: bool = true;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[
        Self::OUT_ENDPOINT,
        Self::OUT_READER_ENDPOINT,
        Self::OUT_SECRET_ARN,
        Self::OUT_PORT,
        Self::OUT_ARN,
    ];
    // Aurora: a cluster ~4 min, slower under load or with snapshots.
    const TIMEOUT: Duration = minutes(60);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        let mut fields = vec![
            Self::CLUSTER_IDENTIFIER.of(self.identifier.as_str()),
            Self::ENGINE.of(self.engine.as_str()),
            Self::DATABASE_NAME.of(self.database_name.as_str()),
            Self::MASTER_USERNAME.of(self.master_username.as_str()),
            Self::MANAGE_MASTER_USER_PASSWORD.of(true),
            Self::DB_SUBNET_GROUP_NAME.of(self.subnet_group.value()),
            Self::VPC_SECURITY_GROUP_IDS.of(refs(&self.security_groups)),
            Self::STORAGE_ENCRYPTED.of(self.storage_encrypted),
            Self::BACKUP_RETENTION_PERIOD.of(self.backup_retention_days),
            Self::DELETION_PROTECTION.of(self.deletion_protection),
            Self::FINAL_SNAPSHOT.of(self.final_snapshot),
            Self::MASTER_SECRET_ROTATION_DAYS.of(self.master_rotation_days),
            Self::DB_CLUSTER_PARAMETER_GROUP_NAME.of(self
                .parameter_group
                .as_ref()
                .map_or(Value::Null, Ref::value)),
        ];
        if let Some(version) = &self.engine_version {
            fields.push(Self::ENGINE_VERSION.of(version.as_str()));
        }
        if let Some(source) = &self.clone_of {
            fields.push(Self::CLONE_OF.of(source.as_str()));
        }
        fields
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}

/// An Aurora instance of the cluster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbInstanceSpec {
    /// `<stack>-db-<n>`.
    pub identifier: String,
    /// The cluster it belongs to.
    pub cluster: Ref<kind::DbCluster>,
    /// The DB instance class.
    pub instance_class: String,
    /// The database engine.
    pub engine: String,
    /// The availability zone.
    pub availability_zone: String,
    /// Failover order (lower first).
    pub promotion_tier: i64,
}

impl DbInstanceSpec {
    /// Field `identifier`: a change replaces the resource.
    pub const IDENTIFIER: FieldDef = FieldDef::immutable("identifier");
    /// Field `cluster_identifier`: a change replaces the resource.
    pub const CLUSTER_IDENTIFIER: FieldDef = FieldDef::immutable("cluster_identifier");
    /// Field `instance_class`: changed in place.
    pub const INSTANCE_CLASS: FieldDef = FieldDef::mutable("instance_class");
    /// Field `engine`: a change replaces the resource.
    pub const ENGINE: FieldDef = FieldDef::immutable("engine");
    /// Field `availability_zone`: a change replaces the resource.
    pub const AVAILABILITY_ZONE: FieldDef = FieldDef::immutable("availability_zone");
    /// Field `promotion_tier`: changed in place.
    pub const PROMOTION_TIER: FieldDef = FieldDef::mutable("promotion_tier");
    /// Output `endpoint`.
    pub const OUT_ENDPOINT: &str = "endpoint";
}

impl Kind for DbInstanceSpec {
    const REFERENCES: &'static [ResourceKind] = &[ResourceKind::DbCluster];
    // The data lives in the cluster's volume: an instance can be replaced without loss.
    const HOLDS_DATA: bool = false;
    const TAGGABLE: bool = true;
    const OUTPUTS: &'static [&'static str] = &[Self::OUT_ENDPOINT];
    // Aurora: an instance ~10 min, slower under load.
    const TIMEOUT: Duration = minutes(60);
    const REPLACE: ReplacePolicy = ReplacePolicy::DeleteFirst;
    const REPEATED_CREATE: RepeatedCreate = RepeatedCreate::ReturnsFirst;

    fn fields(&self) -> Vec<Field> {
        vec![
            Self::IDENTIFIER.of(self.identifier.as_str()),
            Self::CLUSTER_IDENTIFIER.of(self.cluster.value()),
            Self::INSTANCE_CLASS.of(self.instance_class.as_str()),
            Self::ENGINE.of(self.engine.as_str()),
            Self::AVAILABILITY_ZONE.of(self.availability_zone.as_str()),
            Self::PROMOTION_TIER.of(self.promotion_tier),
        ]
    }

    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
        Vec::new()
    }
}
