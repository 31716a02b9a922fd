//! The boundary between the engine and a cloud: the [`Provider`] trait, what it reports
//! ([`Observed`], [`Readiness`]) and its classified errors.

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use async_trait::async_trait;
use serde::Serialize;

use crate::model::{FieldDef, LogicalId, ResourceKind, ResourceSpec, Tags, Value};

pub use crate::model::NOTE;

/// A live resource of the stack as read from the cloud.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Observed {
    /// The logical id.
    pub id: LogicalId,
    /// Its kind.
    pub kind: ResourceKind,
    /// The provider's id (`vpc-0abc…`, an ARN, or a composite for untaggable kinds).
    pub cloud_id: String,
    /// Field values under the names [`ResourceSpec::fields`] uses. References are
    /// [`Value::CloudId`] until [`resolve_cloud_refs`] maps them to logical ids.
    pub fields: BTreeMap<String, Value>,
    /// Values for `mck outputs` (public IP, endpoint…), never secrets.
    pub outputs: BTreeMap<String, String>,
    /// The cloud's status word while the resource is not usable yet (`pending`, `creating`):
    /// left so by a run that was killed while waiting for it. `up` waits for it before
    /// anything that needs it, even when nothing about it changes.
    pub pending: Option<String>,
}

/// The pending status of a resource being deleted ([`Observed::deleting`]).
pub const DELETING: &str = "deleting";

impl Observed {
    /// A live resource with no fields yet.
    pub fn new(id: LogicalId, kind: ResourceKind, cloud_id: impl Into<String>) -> Observed {
        Observed {
            id,
            kind,
            cloud_id: cloud_id.into(),
            fields: BTreeMap::new(),
            outputs: BTreeMap::new(),
            pending: None,
        }
    }

    /// Marks the resource as not usable yet, with the cloud's status word.
    pub fn pending(mut self, status: impl Into<String>) -> Observed {
        self.pending = Some(status.into());
        self
    }

    /// Marks the resource as going away: a delete (a `down` killed while waiting, say) is under
    /// way. `up` plans it again (a replace that waits until it is gone, then creates it) and
    /// `down` only waits for it.
    pub fn deleting(self) -> Observed {
        self.pending(DELETING)
    }

    /// Whether a delete of the resource is under way ([`Self::deleting`]).
    pub fn is_deleting(&self) -> bool {
        self.pending.as_deref() == Some(DELETING)
    }

    /// Sets a field read from the cloud, under the name the kind's model declares.
    pub fn with(mut self, field: FieldDef, value: impl Into<Value>) -> Observed {
        self.fields.insert(field.name.to_string(), value.into());
        self
    }

    /// Adds an output (never a secret).
    pub fn output(mut self, name: &str, value: impl Into<String>) -> Observed {
        self.outputs.insert(name.to_string(), value.into());
        self
    }

    /// The observation, refused when the provider gave it no cloud id (an answer that lacked
    /// the resource's id): with an empty id every later call would name no resource, and a
    /// delete or a reference to it would go nowhere. The engine checks every observation a
    /// provider returns (reads, creates, updates) through this.
    pub fn with_cloud_id(self) -> Result<Observed, ProviderError> {
        if self.cloud_id.trim().is_empty() {
            return Err(ProviderError::new(
                ErrorClass::Invalid,
                format!(
                    "failed to read {} ({}): the provider's answer did not give its cloud id; \
                     nothing was changed for it; re-run, and report it if it persists",
                    self.id, self.kind
                ),
            ));
        }
        Ok(self)
    }
}

/// The output naming what data a resource holds (`"12.5 MB stored"`), shown before anything
/// that would lose it; bookkeeping (`_`), not printed by `mck outputs`.
pub const OUT_DATA: &str = "_data";

/// Maps [`Value::CloudId`]s that name resources of the stack to [`Value::Ref`]s, so observed
/// fields compare directly with desired ones.
pub fn resolve_cloud_refs(observed: &mut [Observed]) {
    // Keyed with the kind (for CloudRef) and without it (for CloudId, unique EC2-style ids).
    let by_cloud_id: HashMap<(Option<ResourceKind>, String), (ResourceKind, LogicalId)> = observed
        .iter()
        .flat_map(|o| {
            [
                ((Some(o.kind), o.cloud_id.clone()), (o.kind, o.id.clone())),
                ((None, o.cloud_id.clone()), (o.kind, o.id.clone())),
            ]
        })
        .collect();
    for o in observed.iter_mut() {
        for value in o.fields.values_mut() {
            resolve_value(value, &by_cloud_id);
        }
    }
}

fn resolve_value(
    value: &mut Value,
    by_cloud_id: &HashMap<(Option<ResourceKind>, String), (ResourceKind, LogicalId)>,
) {
    match value {
        Value::CloudId(cid) => {
            if let Some((kind, id)) = by_cloud_id.get(&(None, cid.clone())) {
                *value = Value::Ref(*kind, id.clone());
            }
        }
        Value::CloudRef(kind, cid) => {
            *value = match by_cloud_id.get(&(Some(*kind), cid.clone())) {
                Some((kind, id)) => Value::Ref(*kind, id.clone()),
                None => Value::CloudId(cid.clone()),
            };
        }
        Value::List(items) => {
            for item in items.iter_mut() {
                match item {
                    // A row inside a list keeps its order (`[container, setting, value]`).
                    Value::List(row) => row.iter_mut().for_each(|v| resolve_value(v, by_cloud_id)),
                    other => resolve_value(other, by_cloud_id),
                }
            }
            items.sort();
        }
        _ => {}
    }
}

/// How long a resource may stay invisible to describe calls after the call that made it
/// succeeded: it counts as pending ("not visible yet") meanwhile. EC2 documents eventual
/// consistency of its describe APIs; ECS answers `MISSING` for a task right after `RunTask`.
pub const VISIBILITY_GRACE: std::time::Duration = std::time::Duration::from_secs(120);

/// Where a resource stands after a create, update or delete.
#[derive(Clone, Debug, PartialEq)]
pub enum Readiness {
    /// Usable; carries the fresh state.
    Ready(Observed),
    /// Still converging; the string is the cloud's status word (`pending`, `creating`…).
    Pending(String),
    /// No longer exists (what a delete waits for).
    Gone,
    /// Reached a terminal failure state.
    Failed(String),
}

/// The class of a provider error, decided once at the driver boundary.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Network trouble, 5xx, timeouts: retry.
    Transient,
    /// Rate limited: retry with backoff.
    Throttled,
    /// It does not exist.
    NotFound,
    /// Something still uses the resource, or it is in a state that forbids the call.
    DependencyViolation,
    /// The request is wrong; retrying will not help.
    Invalid,
    /// Credentials or permissions.
    Denied,
}

/// A failed provider call.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    /// What kind of error.
    pub class: ErrorClass,
    /// The cloud's error code (`DependencyViolation`, `DBClusterNotFoundFault`), when it sent one.
    pub code: Option<String>,
    /// "failed to {what} {id}: {cause}", cause chain included.
    pub message: String,
    /// Set when a create failed after the resource came to exist (a follow-up call failed):
    /// its cloud id. The engine does not repeat such a create, which would make a second
    /// resource; the next run finds this one by its tags and finishes it with an update.
    pub created: Option<String>,
}

impl ProviderError {
    /// An error of `class`.
    pub fn new(class: ErrorClass, message: impl Into<String>) -> ProviderError {
        ProviderError {
            class,
            code: None,
            message: message.into(),
            created: None,
        }
    }

    /// The same error, saying that the create it failed in left `cloud_id` behind.
    pub fn after_create(mut self, cloud_id: impl Into<String>) -> ProviderError {
        self.created = Some(cloud_id.into());
        self
    }

    /// The same error, with the cloud's error code.
    pub fn with_code(mut self, code: impl Into<String>) -> ProviderError {
        self.code = Some(code.into());
        self
    }

    /// An error retrying cannot fix.
    pub fn invalid(message: impl Into<String>) -> ProviderError {
        ProviderError::new(ErrorClass::Invalid, message)
    }
}

/// Everything a provider call needs besides the resource itself.
#[derive(Debug)]
pub struct Context<'a> {
    /// The stack name.
    pub stack: &'a str,
    /// The stack's user tags.
    pub tags: &'a Tags,
    /// Live state of every resource of the stack known so far (dependencies included).
    pub resolved: &'a HashMap<LogicalId, Observed>,
}

impl Context<'_> {
    /// The cloud id of a resource this one references; the executor guarantees that
    /// dependencies are applied first, so a miss is an engine bug reported as such.
    pub fn cloud_id(&self, id: &LogicalId) -> Result<&str, ProviderError> {
        self.resolved
            .get(id)
            .map(|o| o.cloud_id.as_str())
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "internal error: `{id}` is not known yet (please report this)"
                ))
            })
    }

    /// The cloud ids of several referenced resources, in order.
    pub fn cloud_ids<K>(&self, refs: &[crate::model::Ref<K>]) -> Result<Vec<String>, ProviderError>
    where
        K: crate::model::KindOf,
    {
        refs.iter()
            .map(|r| self.cloud_id(r.id()).map(str::to_string))
            .collect()
    }

    /// An output (endpoint, DNS name…) of a resource this one references.
    pub fn output(&self, id: &LogicalId, name: &str) -> Result<&str, ProviderError> {
        self.resolved
            .get(id)
            .and_then(|o| o.outputs.get(name))
            .map(String::as_str)
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "`{id}` has no `{name}` yet; it may still be starting"
                ))
            })
    }

    /// Resolves a desired value to what the cloud API takes: references become cloud ids,
    /// outputs their values.
    pub fn resolve(&self, value: &Value) -> Result<Value, ProviderError> {
        Ok(match value {
            Value::Ref(_, id) => Value::CloudId(self.cloud_id(id)?.to_string()),
            Value::Output(_, id, name) => Value::Str(self.output(id, name)?.to_string()),
            Value::List(items) => Value::List(
                items
                    .iter()
                    .map(|v| self.resolve(v))
                    .collect::<Result<_, _>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Tags for a new resource: user tags, then `mck:stack` and `mck:id` (which win).
    pub fn tags_for(&self, id: &LogicalId) -> Vec<(String, String)> {
        let mut tags: Vec<(String, String)> = self
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        tags.push((crate::model::TAG_STACK.to_string(), self.stack.to_string()));
        tags.push((crate::model::TAG_ID.to_string(), id.to_string()));
        tags.push(("Name".to_string(), format!("{}-{}", self.stack, id)));
        tags
    }
}

/// Something inside what a stack owns that carries no mck tags: a security group made by hand
/// in the stack's VPC, a record added by hand to its private zone. `up` never touches these;
/// drift reports them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unmanaged {
    /// The kind it would be in mck's model.
    pub kind: ResourceKind,
    /// The provider's id (`sg-0abc…`, or `zone|name|type` for a record).
    pub cloud_id: String,
    /// Its name, when it has one (`Name` tag, group name, record name).
    pub name: Option<String>,
    /// The stack resource it sits in, by logical id (`vpc`, `dns.zone`).
    pub inside: LogicalId,
}

/// The last write to a resource as the cloud's audit log recorded it (CloudTrail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WriteEvent {
    /// The user or role that made the call (an ARN or user name).
    pub actor: String,
    /// When, as the audit log gives it (RFC 3339).
    pub time: String,
    /// The API call (`AuthorizeSecurityGroupIngress`).
    pub call: String,
}

/// Who last changed a resource, as far as the audit log could tell.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Who {
    /// The newest write event found.
    Found(WriteEvent),
    /// The audit log was readable but holds no write event for the resource (CloudTrail keeps
    /// 90 days of management events).
    NoEvent,
    /// The audit log could not be read; the reason, in words.
    Unknown {
        /// The reason, in words (the error, or that the provider has no audit log).
        reason: String,
    },
}

/// A network (VPC) of the account and region ([`Reader::list_networks`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Network {
    /// Its id (`vpc-…`).
    pub id: String,
    /// Its primary CIDR block.
    pub cidr: String,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

impl Network {
    /// The stack it belongs to (its `mck:stack` tag), if any.
    pub fn stack(&self) -> Option<&str> {
        self.tags.get(crate::model::TAG_STACK).map(String::as_str)
    }
}

/// The read side of a cloud: everything `plan`, `drift` and `outputs` need and nothing that
/// changes anything. `drift` runs on a `Reader` alone, so it is read-only by construction.
#[async_trait]
pub trait Reader: Send + Sync + fmt::Debug {
    /// Reads every live resource of `stack` (all kinds, batched per kind, concurrently).
    /// Fields referencing other resources are [`Value::CloudId`]s; the engine resolves them.
    async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError>;

    /// What sits inside the stack's resources (`owned`, as [`Reader::read_all`] returned them)
    /// without carrying the stack's tags: security groups, instances, subnets and route tables
    /// in its VPC, records in its private zone. The default finds nothing.
    async fn read_unmanaged(
        &self,
        _stack: &str,
        _owned: &[Observed],
    ) -> Result<Vec<Unmanaged>, ProviderError> {
        Ok(Vec::new())
    }

    /// The names of the stacks that have resources in the region, found by their tags.
    async fn list_stacks(&self) -> Result<Vec<String>, ProviderError> {
        Ok(Vec::new())
    }

    /// Every network (VPC) of the account and region, mck's or not, with its address space and
    /// tags: a preview's address space is chosen so it overlaps none, and a stack's VPC tags
    /// say what it is ([`crate::stack::PreviewOf::from_tags`]). The default has none.
    async fn list_networks(&self) -> Result<Vec<Network>, ProviderError> {
        Ok(Vec::new())
    }

    /// How many tagged resources each stack has in the region (`mck ls`), found by one tag
    /// search. The default counts none.
    async fn count_resources(&self) -> Result<BTreeMap<String, usize>, ProviderError> {
        Ok(BTreeMap::new())
    }

    /// The last write event on a resource of `kind`, from the cloud's audit log. The default
    /// cannot tell.
    async fn last_write(&self, _kind: ResourceKind, _cloud_id: &str) -> Who {
        Who::Unknown {
            reason: "this provider has no audit log".into(),
        }
    }

    /// How many API requests this reader has sent so far (for `--stats`).
    fn request_count(&self) -> u64 {
        0
    }

    /// The release recorded beside the stack after its last successful `up`
    /// ([`crate::model::ReleaseRecordSpec`]), read before the stack is lowered. The default
    /// records none.
    async fn live_release(
        &self,
        _stack: &str,
    ) -> Result<Option<crate::model::LiveRelease>, ProviderError> {
        Ok(None)
    }

    /// The registered revisions of a task definition family, newest first (`mck releases`,
    /// `mck rollback`). The default lists none.
    async fn revisions(&self, _family: &str) -> Result<Vec<Revision>, ProviderError> {
        Ok(Vec::new())
    }
}

/// One registered revision of an app's task definition.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Revision {
    /// Its ARN (the cloud id services name).
    pub arn: String,
    /// Its number in the family.
    pub number: i64,
    /// Image of each container.
    pub images: BTreeMap<String, String>,
    /// The source revision its containers get as `REVISION`, if any.
    pub revision: Option<String>,
}

impl Revision {
    /// A revision as the task definition's fields hold it (container rows `[container,
    /// setting, value]`).
    pub fn from_fields(arn: &str, number: i64, fields: &BTreeMap<String, Value>) -> Revision {
        let mut images = BTreeMap::new();
        let mut revision = None;
        if let Some(Value::List(rows)) =
            fields.get(crate::model::TaskDefinitionSpec::CONTAINERS.name)
        {
            for row in rows {
                if let Value::List(cells) = row
                    && let [
                        Value::Str(container),
                        Value::Str(setting),
                        Value::Str(value),
                    ] = cells.as_slice()
                {
                    match setting.as_str() {
                        "image" => {
                            images.insert(container.clone(), value.clone());
                        }
                        "environment.REVISION" => revision = Some(value.clone()),
                        _ => {}
                    }
                }
            }
        }
        Revision {
            arn: arn.to_string(),
            number,
            images,
            revision,
        }
    }
}

/// A cloud the engine can read and change. Implementations are stateless about stacks: all
/// identity comes from tags and deterministic names.
#[async_trait]
pub trait Provider: Reader {
    /// Creates a resource with its tags in the create call; must be safe to retry after a crash
    /// (idempotency tokens, deterministic names).
    async fn create(
        &self,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &ResourceSpec,
    ) -> Result<Observed, ProviderError>;

    /// Changes the listed mutable fields in place.
    async fn update(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError>;

    /// Starts deleting a resource; NotFound counts as done.
    async fn delete(&self, ctx: &Context<'_>, live: &Observed) -> Result<(), ProviderError>;

    /// One readiness check (no waiting: the engine's poller decides when to ask again).
    async fn poll(&self, ctx: &Context<'_>, live: &Observed) -> Result<Readiness, ProviderError>;

    /// Retires the old copy of a create-first replacement once everything that used it points
    /// at the new one (`spec` is the new copy's). Deletes it unless the kind keeps history:
    /// task definitions keep their newest revisions for rollback and prune the older ones.
    /// `Ok(true)`: a delete started (the engine waits until it is gone); `Ok(false)`: kept.
    async fn retire(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        old: &Observed,
    ) -> Result<bool, ProviderError> {
        let _ = spec;
        self.delete(ctx, old).await.map(|()| true)
    }

    /// Sets `tags` on the network (VPC) `id`, as listed by [`Reader::list_networks`]: a
    /// preview's record, such as its extended expiry. The default cannot.
    async fn tag_network(&self, id: &str, tags: &[(String, String)]) -> Result<(), ProviderError> {
        let _ = tags;
        Err(ProviderError::invalid(format!(
            "this provider cannot tag the network {id}"
        )))
    }
}
