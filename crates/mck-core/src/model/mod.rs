//! The typed resource model: one struct per AWS resource kind, gathered in the closed
//! [`ResourceSpec`] enum.
//!
//! A kind is declared once: one line in [`for_each_kind!`](crate::for_each_kind), one struct in the file of its AWS
//! service (`ec2`, `rds`, `elasticache`, `efs`, `route53`) and one [`Kind`] impl whose properties
//! (references, data, tags, outputs, timeout, replace policy, fields) have no defaults, so the
//! compiler asks for every one of them. Field names are [`FieldDef`] constants on the struct,
//! used by the model and by the driver that reads the kind back. References to other resources
//! are typed [`Ref`]s naming a logical id; lowering turns them into graph edges.

mod appscaling;
mod autoscaling;
mod backup;
mod cloudwatch;
mod ec2;
mod ecs;
mod efs;
mod elasticache;
mod elbv2;
mod iam;
mod logs;
mod mq;
mod opensearch;
mod rds;
mod route53;
mod secretsmanager;
mod sns;

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use serde::Serialize;

pub use appscaling::*;
pub use autoscaling::*;
pub use backup::*;
pub use cloudwatch::*;
pub use ec2::*;
pub use ecs::*;
pub use efs::*;
pub use elasticache::*;
pub use elbv2::*;
pub use iam::*;
pub use logs::*;
pub use mq::*;
pub use opensearch::*;
pub use rds::*;
pub use route53::*;
pub use secretsmanager::*;
pub use sns::*;

/// The stable, user-visible identity of a resource inside a stack, e.g. `subnet.private.b`.
///
/// Stack name + logical id is the identity of a live resource (tags `mck:stack` and `mck:id`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct LogicalId(String);

impl LogicalId {
    /// A logical id.
    pub fn new(id: impl Into<String>) -> LogicalId {
        LogicalId(id.into())
    }

    /// The id as text.
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

/// The one list of kinds: `Variant(SpecType) => "plan_name"`, in a dependency-respecting order
/// (a kind never references a later one; a test checks it).
///
/// Calls `$callback!` with the list, so code elsewhere (the AWS provider's dispatch) is generated
/// from it and cannot miss a kind: a kind without a driver does not compile.
#[macro_export]
macro_rules! for_each_kind {
    ($callback:ident) => {
        $callback! {
            Vpc(VpcSpec) => "aws_vpc",
            InternetGateway(InternetGatewaySpec) => "aws_internet_gateway",
            Subnet(SubnetSpec) => "aws_subnet",
            RouteTable(RouteTableSpec) => "aws_route_table",
            RouteTableAssociation(RouteTableAssociationSpec) => "aws_route_table_association",
            SecurityGroup(SecurityGroupSpec) => "aws_security_group",
            SecurityGroupRule(SecurityGroupRuleSpec) => "aws_security_group_rule",
            Instance(InstanceSpec) => "aws_instance",
            ElasticIp(ElasticIpSpec) => "aws_eip",
            NatGateway(NatGatewaySpec) => "aws_nat_gateway",
            Route(RouteSpec) => "aws_route",
            DbSubnetGroup(DbSubnetGroupSpec) => "aws_db_subnet_group",
            DbClusterParameterGroup(DbClusterParameterGroupSpec) => "aws_rds_cluster_parameter_group",
            DbCluster(DbClusterSpec) => "aws_rds_cluster",
            DbInstance(DbInstanceSpec) => "aws_rds_cluster_instance",
            CacheSubnetGroup(CacheSubnetGroupSpec) => "aws_elasticache_subnet_group",
            ReplicationGroup(ReplicationGroupSpec) => "aws_elasticache_replication_group",
            CacheCluster(CacheClusterSpec) => "aws_elasticache_cluster",
            FileSystem(FileSystemSpec) => "aws_efs_file_system",
            MountTarget(MountTargetSpec) => "aws_efs_mount_target",
            AccessPoint(AccessPointSpec) => "aws_efs_access_point",
            Secret(SecretSpec) => "aws_secretsmanager_secret",
            SearchDomain(SearchDomainSpec) => "aws_opensearch_domain",
            MqBroker(MqBrokerSpec) => "aws_mq_broker",
            HostedZone(HostedZoneSpec) => "aws_route53_zone",
            RecordSet(RecordSetSpec) => "aws_route53_record",
            LogGroup(LogGroupSpec) => "aws_cloudwatch_log_group",
            Role(RoleSpec) => "aws_iam_role",
            EcsCluster(EcsClusterSpec) => "aws_ecs_cluster",
            InstanceProfile(InstanceProfileSpec) => "aws_iam_instance_profile",
            LaunchTemplate(LaunchTemplateSpec) => "aws_launch_template",
            AutoScalingGroup(AutoScalingGroupSpec) => "aws_autoscaling_group",
            CapacityProvider(CapacityProviderSpec) => "aws_ecs_capacity_provider",
            TargetGroup(TargetGroupSpec) => "aws_lb_target_group",
            LoadBalancer(LoadBalancerSpec) => "aws_lb",
            Listener(ListenerSpec) => "aws_lb_listener",
            ListenerRule(ListenerRuleSpec) => "aws_lb_listener_rule",
            Topic(TopicSpec) => "aws_sns_topic",
            Subscription(SubscriptionSpec) => "aws_sns_topic_subscription",
            Alarm(AlarmSpec) => "aws_cloudwatch_metric_alarm",
            Dashboard(DashboardSpec) => "aws_cloudwatch_dashboard",
            BackupVault(BackupVaultSpec) => "aws_backup_vault",
            BackupPlan(BackupPlanSpec) => "aws_backup_plan",
            BackupSelection(BackupSelectionSpec) => "aws_backup_selection",
            TaskDefinition(TaskDefinitionSpec) => "aws_ecs_task_definition",
            DbLogin(DbLoginSpec) => "mck_db_login",
            Install(InstallSpec) => "mck_install",
            ReleaseTask(ReleaseTaskSpec) => "mck_release_task",
            EcsService(EcsServiceSpec) => "aws_ecs_service",
            ScalableTarget(ScalableTargetSpec) => "aws_appautoscaling_target",
            ScalingPolicy(ScalingPolicySpec) => "aws_appautoscaling_policy",
            Maintenance(MaintenanceSpec) => "mck_release_maintenance",
            ReleaseRecord(ReleaseRecordSpec) => "mck_release_record",
        }
    };
}

macro_rules! define_kinds {
    ($($kind:ident($spec:ident) => $name:literal),* $(,)?) => {
        /// Every kind of resource mck manages.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ResourceKind {
            $(
                #[doc = concat!("`", $name, "`.")]
                $kind
            ),*
        }

        impl ResourceKind {
            /// All kinds, in a dependency-respecting order (a kind never depends on a later one).
            pub const ALL: &'static [ResourceKind] = &[$(ResourceKind::$kind),*];

            /// The name used in plans, graphs and JSON, e.g. `aws_subnet`.
            pub fn name(self) -> &'static str {
                match self { $(ResourceKind::$kind => $name),* }
            }

            /// The kind [`ResourceKind::name`] names.
            pub fn from_name(name: &str) -> Option<ResourceKind> {
                match name { $($name => Some(ResourceKind::$kind),)* _ => None }
            }

            /// The kinds a resource of this kind may reference ([`Kind::REFERENCES`]).
            pub fn referenced_kinds(self) -> &'static [ResourceKind] {
                match self { $(ResourceKind::$kind => <$spec as Kind>::REFERENCES),* }
            }

            /// Whether deleting or replacing a resource of this kind destroys stored data.
            pub fn holds_data(self) -> bool {
                match self { $(ResourceKind::$kind => <$spec as Kind>::HOLDS_DATA),* }
            }

            /// Whether AWS lets us tag this kind; the others are owned through their parent.
            pub fn is_taggable(self) -> bool {
                match self { $(ResourceKind::$kind => <$spec as Kind>::TAGGABLE),* }
            }

            /// The outputs a live resource of this kind reports ([`Kind::OUTPUTS`]).
            pub fn output_names(self) -> &'static [&'static str] {
                match self { $(ResourceKind::$kind => <$spec as Kind>::OUTPUTS),* }
            }

            /// How long to wait for readiness unless the stack says otherwise.
            pub fn default_timeout(self) -> Duration {
                match self { $(ResourceKind::$kind => <$spec as Kind>::TIMEOUT),* }
            }

            /// Whether a replacement deletes the old resource first or creates the new one first.
            pub fn replace_policy(self) -> ReplacePolicy {
                match self { $(ResourceKind::$kind => <$spec as Kind>::REPLACE),* }
            }

            /// What a create repeated after a lost answer does ([`Kind::REPEATED_CREATE`]).
            pub fn repeated_create(self) -> RepeatedCreate {
                match self { $(ResourceKind::$kind => <$spec as Kind>::REPEATED_CREATE),* }
            }
        }

        /// The desired state of one resource; a closed set of kinds.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum ResourceSpec {
            $(
                #[doc = concat!("`", $name, "`.")]
                $kind($spec)
            ),*
        }

        impl ResourceSpec {
            /// Its kind.
            pub fn kind(&self) -> ResourceKind {
                match self { $(ResourceSpec::$kind(_) => ResourceKind::$kind),* }
            }

            /// The fields, in display order. Providers report the same names when reading.
            pub fn fields(&self) -> Vec<Field> {
                match self { $(ResourceSpec::$kind(s) => s.fields()),* }
            }

            fn ordering(&self) -> Vec<(ResourceKind, LogicalId)> {
                match self { $(ResourceSpec::$kind(s) => s.ordering()),* }
            }

            /// See [`Kind::runs_after_failure`].
            pub fn runs_after_failure(&self) -> bool {
                match self { $(ResourceSpec::$kind(s) => s.runs_after_failure()),* }
            }

            /// See [`Kind::dereferences`].
            pub fn dereferences(&self) -> Vec<LogicalId> {
                match self { $(ResourceSpec::$kind(s) => s.dereferences()),* }
            }

            /// Whether this resource uses `id` only through its outputs (an endpoint, an ARN
            /// it passes on), not as something it is attached to, must come after, or reads
            /// otherwise: such a use is served as well by `id`'s live state when an in-place
            /// update of `id` fails.
            pub fn uses_only_outputs_of(&self, id: &LogicalId) -> bool {
                if self.ordering().iter().any(|(_, after)| after == id) {
                    return false;
                }
                let (mut outputs, mut refs) = (false, false);
                let mut in_fields = Vec::new();
                for field in self.fields() {
                    uses_of(&field.value, id, &mut outputs, &mut refs);
                    referenced_ids(&field.value, &mut in_fields);
                }
                // A kind whose driver reads more than its fields say (Kind::dereferences) may
                // read `id` otherwise: never passed.
                outputs
                    && !refs
                    && self.dereferences().iter().all(|read| in_fields.contains(read))
            }
        }

        $(
            impl KindOf for $spec {
                const KIND: ResourceKind = ResourceKind::$kind;
            }

            impl From<$spec> for ResourceSpec {
                fn from(spec: $spec) -> ResourceSpec {
                    ResourceSpec::$kind(spec)
                }
            }
        )*

        /// Short names for [`Ref`] targets: `Ref<kind::Vpc>` is `Ref<VpcSpec>`.
        pub mod kind {
            $(
                #[doc = concat!("The kind of [`", stringify!($spec), "`](super::", stringify!($spec), "), for typed references.")]
                pub type $kind = super::$spec;
            )*
        }
    };
}

for_each_kind!(define_kinds);

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

/// Links a spec type to its [`ResourceKind`]; generated from [`for_each_kind!`].
pub trait KindOf {
    /// The kind this spec is.
    const KIND: ResourceKind;
}

/// What replacing a resource does first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReplacePolicy {
    /// Delete the old resource, then create the new one (named resources, and anything whose
    /// identity AWS allows only once).
    DeleteFirst,
    /// Create the new resource, point its dependents at it, then delete the old one (revisioned
    /// kinds whose new cloud id must reach their users in the same run).
    CreateFirst,
}

/// What a create repeated after a lost answer (a 5xx or a timeout after the cloud acted, then
/// the SDK's or the engine's retry) does on the cloud, through the kind's driver. Test fakes
/// behave accordingly ([`crate::testing::FakeCloud`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatedCreate {
    /// The first resource comes back: the call takes a client token, or the name is unique and
    /// the driver adopts what answers "already exists" when its tags say it is ours.
    ReturnsFirst,
    /// The call has neither (CreateVpc, AllocateAddress, RunTask): the driver first looks for
    /// one made for the same logical id (by its tags), which it finds once the cloud's
    /// eventually consistent reads show it; before that, a second one is made, which the next
    /// plan reports as a duplicate.
    FoundOnceVisible,
    /// Each create makes another, harmlessly (a task definition revision: the newest counts,
    /// older ones are pruned).
    MakesAnother,
}

/// The static properties of a resource kind. None has a default: a new kind states each one.
pub trait Kind: KindOf + Clone + fmt::Debug + PartialEq + Send + Sync + 'static {
    /// The kinds a resource of this kind may reference. Deletes of resources that nothing in
    /// the desired graph describes (orphans, `down`) are ordered by this relation; a test checks
    /// it covers every reference lowering produces.
    const REFERENCES: &'static [ResourceKind];
    /// Deleting or replacing it destroys stored data: guarded by `--allow-data-loss`.
    const HOLDS_DATA: bool;
    /// Created with `mck:stack`/`mck:id` tags; untaggable kinds belong to a parent of the stack.
    const TAGGABLE: bool;
    /// The outputs its driver reports (endpoints, ids), which record sets and `mck outputs`
    /// use. [`Ref::output`] names are checked against it when the graph is built.
    const OUTPUTS: &'static [&'static str];
    /// Default readiness timeout, sized to real AWS.
    const TIMEOUT: Duration;
    /// How a replacement proceeds: delete first, or create first.
    const REPLACE: ReplacePolicy;
    /// What a create repeated after a lost answer does.
    const REPEATED_CREATE: RepeatedCreate;

    /// Every field with its value, in display order. The names are the kind's [`FieldDef`]
    /// constants, which its driver also uses when reading.
    fn fields(&self) -> Vec<Field>;

    /// Resources this one must wait for beyond those its fields reference (ordering only).
    fn ordering(&self) -> Vec<(ResourceKind, LogicalId)>;

    /// Runs once its dependencies have finished even when one of them failed or was skipped
    /// (a cleanup, like removing the maintenance flag after a failed release). Almost no kind
    /// does.
    fn runs_after_failure(&self) -> bool {
        false
    }

    /// The resources whose live state (cloud id, outputs) a create or update of this one reads
    /// through [`crate::provider::Context`]: the references among its fields, and, for a kind
    /// whose driver passes more to the cloud than its fields say (a one-off task's cluster,
    /// subnets, capacity provider), those too. A step that runs after failures starts only when
    /// each of them is known.
    fn dereferences(&self) -> Vec<LogicalId> {
        let mut out = Vec::new();
        for field in self.fields() {
            referenced_ids(&field.value, &mut out);
        }
        out.sort();
        out.dedup();
        out
    }
}

/// The logical ids a value references (directly or through an output).
fn referenced_ids(value: &Value, out: &mut Vec<LogicalId>) {
    match value {
        Value::Ref(_, id) | Value::Output(_, id, _) => out.push(id.clone()),
        Value::List(items) => items.iter().for_each(|v| referenced_ids(v, out)),
        _ => {}
    }
}

const fn minutes(m: u64) -> Duration {
    Duration::from_secs(m * 60)
}

/// A typed reference to another resource of the stack, by logical id.
pub struct Ref<K> {
    id: LogicalId,
    _kind: PhantomData<K>,
}

impl<K: KindOf> Ref<K> {
    /// A reference to the resource with logical id `id`.
    pub fn new(id: impl Into<String>) -> Ref<K> {
        Ref {
            id: LogicalId::new(id),
            _kind: PhantomData,
        }
    }

    /// The referenced logical id.
    pub fn id(&self) -> &LogicalId {
        &self.id
    }

    /// Its kind.
    pub fn kind(&self) -> ResourceKind {
        K::KIND
    }

    /// The reference as a field value.
    pub fn value(&self) -> Value {
        Value::Ref(K::KIND, self.id.clone())
    }

    /// An output of the referenced resource (e.g. a cluster's `endpoint`), known once it exists.
    /// The name is checked against the kind's [`Kind::OUTPUTS`] when the graph is built.
    pub fn output(&self, name: &'static str) -> Value {
        Value::Output(K::KIND, self.id.clone(), name)
    }

    fn dependency(&self) -> (ResourceKind, LogicalId) {
        (K::KIND, self.id.clone())
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

impl<K: KindOf> fmt::Debug for Ref<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ref<{}>({})", K::KIND.name(), self.id)
    }
}

/// A field value as compared by the diff and shown in plans.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(untagged)]
pub enum Value {
    /// No value.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A list (compared sorted).
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
            // Quoted as Rust writes a string literal: a `"` or a line break in the value is
            // escaped, so the rendered value reads back unambiguously.
            Value::Str(s) => write!(f, "{s:?}"),
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
            Value::CloudId(id) | Value::CloudRef(_, id) => write!(f, "{id:?}"),
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

/// How a field may change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mutability {
    /// Updated in place.
    Mutable,
    /// A change replaces the resource.
    Immutable,
    /// Set at create and never compared (AWS does not report it where mck reads, or reports
    /// it in a form that cannot be compared); shown in plans of a create.
    CreateOnly,
}

/// How a live value is compared with the desired one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Compare {
    /// Values must be equal.
    Exact,
    /// A version that AWS may raise on its own (automatic minor upgrades, forced retirements)
    /// or report more precisely than asked (`1.6` → `1.6.22`): a live version at or above the
    /// desired one is no change ([`version_at_least`]).
    AtLeastVersion,
}

/// Whether version `live` is `desired` or newer: dot-separated segments compared in order,
/// numerically where both are numbers; a `desired` that is a prefix of `live` counts as equal.
pub fn version_at_least(live: &str, desired: &str) -> bool {
    let mut live_parts = live.split('.');
    for want in desired.split('.') {
        let Some(have) = live_parts.next() else {
            return false;
        };
        let order = match (have.parse::<u64>(), want.parse::<u64>()) {
            (Ok(h), Ok(w)) => h.cmp(&w),
            _ => have.cmp(want),
        };
        match order {
            std::cmp::Ordering::Greater => return true,
            std::cmp::Ordering::Less => return false,
            std::cmp::Ordering::Equal => {}
        }
    }
    true
}

/// A field of a kind: its name and how it may change. Declared once per kind as a constant on
/// the kind's struct (`VpcSpec::CIDR_BLOCK`), used by the model and by the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FieldDef {
    /// The name.
    pub name: &'static str,
    /// Whether a change is applied in place.
    pub mutability: Mutability,
    /// Never rendered in plans, logs or outputs.
    pub sensitive: bool,
    /// How values compare.
    pub compare: Compare,
}

impl FieldDef {
    /// A field AWS changes in place.
    pub const fn mutable(name: &'static str) -> FieldDef {
        FieldDef {
            name,
            mutability: Mutability::Mutable,
            sensitive: false,
            compare: Compare::Exact,
        }
    }

    /// A field whose change replaces the resource.
    pub const fn immutable(name: &'static str) -> FieldDef {
        FieldDef {
            name,
            mutability: Mutability::Immutable,
            sensitive: false,
            compare: Compare::Exact,
        }
    }

    /// A field set at creation and never compared (the API does not return it comparably).
    pub const fn create_only(name: &'static str) -> FieldDef {
        FieldDef {
            name,
            mutability: Mutability::CreateOnly,
            sensitive: false,
            compare: Compare::Exact,
        }
    }

    /// The same field, never rendered.
    pub const fn sensitive(self) -> FieldDef {
        FieldDef {
            sensitive: true,
            ..self
        }
    }

    /// The same field, compared as a version that may only go up ([`Compare::AtLeastVersion`]).
    pub const fn at_least_version(self) -> FieldDef {
        FieldDef {
            compare: Compare::AtLeastVersion,
            ..self
        }
    }

    /// This field with a value.
    pub fn of(self, value: impl Into<Value>) -> Field {
        Field {
            name: self.name,
            value: value.into(),
            mutability: self.mutability,
            sensitive: self.sensitive,
            compare: self.compare,
        }
    }

    /// Whether an update was asked to change this field.
    pub fn is_in(self, changed: &[&str]) -> bool {
        changed.contains(&self.name)
    }
}

/// One field of a desired resource.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The name.
    pub name: &'static str,
    /// The value.
    pub value: Value,
    /// Whether a change is applied in place.
    pub mutability: Mutability,
    /// Never rendered in plans, logs or outputs.
    pub sensitive: bool,
    /// How values compare.
    pub compare: Compare,
}

/// Tags applied to every taggable resource besides `mck:stack` and `mck:id`.
pub type Tags = BTreeMap<String, String>;

/// The tag naming the stack a resource belongs to.
pub const TAG_STACK: &str = "mck:stack";

/// An output a driver may set to a short text for people, shown under the finished step (a
/// migration's last log lines, as its container wrote them). Never read back from the cloud.
pub const NOTE: &str = "note";
/// The tag holding a resource's logical id.
pub const TAG_ID: &str = "mck:id";

/// The field every kind that can be protected reports its protection in: while the live
/// resource says `true`, the plan refuses to delete or replace it ([`crate::plan::Plan::refusals`]).
/// An Aurora cluster keeps it in AWS (which refuses the delete too); a search domain and a
/// broker, which AWS cannot protect, keep it in the tag [`TAG_DELETION_PROTECTION`].
pub const DELETION_PROTECTION: FieldDef = FieldDef::mutable("deletion_protection");

/// The tag that keeps [`DELETION_PROTECTION`] on resources AWS has no protection for (`true`).
pub const TAG_DELETION_PROTECTION: &str = "mck:deletion-protection";

impl ResourceSpec {
    /// Every resource this one needs: field references plus ordering-only dependencies.
    pub fn dependencies(&self) -> Vec<(ResourceKind, LogicalId)> {
        let mut deps = self.ordering();
        for field in self.fields() {
            collect_refs(&field.value, &mut deps);
        }
        deps.sort();
        deps.dedup();
        deps
    }

    /// Every output of another resource this one uses, as (kind, id, output name).
    pub fn outputs_used(&self) -> Vec<(ResourceKind, LogicalId, &'static str)> {
        fn walk(value: &Value, out: &mut Vec<(ResourceKind, LogicalId, &'static str)>) {
            match value {
                Value::Output(kind, id, name) => out.push((*kind, id.clone(), name)),
                Value::List(items) => items.iter().for_each(|item| walk(item, out)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        for field in self.fields() {
            walk(&field.value, &mut out);
        }
        out
    }
}

/// A list of references as a sorted list value (AWS returns sets in any order).
fn refs<K: KindOf>(items: &[Ref<K>]) -> Value {
    let mut values: Vec<Value> = items.iter().map(Ref::value).collect();
    values.sort();
    Value::List(values)
}

/// Whether `value` uses `id` through an output, and whether it references `id` itself.
fn uses_of(value: &Value, id: &LogicalId, outputs: &mut bool, refs: &mut bool) {
    match value {
        Value::Output(_, of, _) if of == id => *outputs = true,
        Value::Ref(_, of) if of == id => *refs = true,
        Value::List(items) => items.iter().for_each(|v| uses_of(v, id, outputs, refs)),
        _ => {}
    }
}

fn collect_refs(value: &Value, out: &mut Vec<(ResourceKind, LogicalId)>) {
    match value {
        Value::Ref(kind, id) | Value::Output(kind, id, _) => out.push((*kind, id.clone())),
        Value::List(items) => items.iter().for_each(|item| collect_refs(item, out)),
        _ => {}
    }
}

/// A desired resource: identity and spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The logical id.
    pub id: LogicalId,
    /// What it is.
    pub spec: ResourceSpec,
}

impl Resource {
    /// Its kind.
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
    fn versions_compare_by_segment_and_a_prefix_is_equal() {
        assert!(version_at_least(
            "8.0.mysql_aurora.3.05.2",
            "8.0.mysql_aurora.3.05.2"
        ));
        assert!(version_at_least(
            "8.0.mysql_aurora.3.06.0",
            "8.0.mysql_aurora.3.05.2"
        ));
        assert!(version_at_least(
            "8.0.mysql_aurora.3.10.0",
            "8.0.mysql_aurora.3.9.1"
        ));
        assert!(!version_at_least(
            "8.0.mysql_aurora.3.04.1",
            "8.0.mysql_aurora.3.05.2"
        ));
        assert!(version_at_least("1.6.22", "1.6"));
        assert!(!version_at_least("1.5.16", "1.6"));
        assert!(!version_at_least("1.6", "1.6.22"));
        assert!(version_at_least("7.1", "7.0"));
    }

    #[test]
    fn kind_names_are_unique() {
        let mut names: Vec<&str> = ResourceKind::ALL.iter().map(|k| k.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ResourceKind::ALL.len());
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
