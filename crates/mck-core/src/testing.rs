//! [`FakeCloud`]: an in-memory [`Provider`] for engine tests and benchmarks.
//!
//! It is stricter than the AWS emulator where ordering matters: a delete of a resource that a
//! live resource still references is refused with a dependency violation, as AWS does. Per-kind
//! readiness latencies, call latency and scripted failures make timing and error paths testable
//! under tokio's paused clock, and [`Fault`]s inject what real AWS does after a create or update
//! (propagation delays, follow-up calls refused, updates failing later, new tasks not visible).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use crate::exec::Op;
use crate::lock::{LockError, LockHolder, StackLock, now_unix};
use crate::model::{
    EcsServiceSpec, LogicalId, ReleaseRecordSpec, ReleaseTaskSpec, ResourceKind, ResourceSpec,
    TAG_ID, TAG_STACK, TaskDefinitionSpec, Value,
};
use crate::provider::{
    Context, ErrorClass, Observed, Provider, ProviderError, Reader, Readiness, Unmanaged, Who,
    WriteEvent,
};

#[derive(Debug, Clone)]
struct FakeResource {
    stack: String,
    id: LogicalId,
    kind: ResourceKind,
    fields: BTreeMap<String, Value>,
    /// Tags given at create; tests read them to check that creates carry identity.
    tags: BTreeMap<String, String>,
    ready_at: Instant,
    /// Before this, describe calls do not see the resource (eventual consistency).
    visible_at: Instant,
    /// Set when a delete started; the resource is gone once this passes.
    gone_at: Option<Instant>,
    /// Set by a scripted rollback: the next poll reports this failure.
    failed: Option<String>,
    /// When it was created.
    created_at: Instant,
    /// Before this, polls do not see it ([`Fault::InvisibleAfterStart`]).
    hidden_until: Option<Instant>,
}

/// A behaviour of real AWS right after a create or update, injected with
/// [`FakeCloud::with_fault`]; [`FakeCloud::triggered`] counts how often it bit.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Creates of `kind` fail with a transient error saying `message` for `window` after a
    /// resource of kind `after` was created in the stack: IAM's propagation delay
    /// (CreateAutoScalingGroup answers "Invalid IAM Instance Profile name" for several seconds
    /// after the instance profile was created).
    CreateRefusedAfter {
        /// The kind whose creates are refused.
        kind: ResourceKind,
        /// The kind whose create starts the window.
        after: ResourceKind,
        /// How long the refusals last.
        window: Duration,
        /// The cloud's words.
        message: &'static str,
    },
    /// A create of `kind` makes the resource, but its follow-up call, which sets `field`, is
    /// refused with a transient error saying `message` for `window` after the create: the
    /// create fails having made the resource (left with `field` null, which an update sets),
    /// and updates of `field` within the window are refused the same way.
    /// PutClusterCapacityProviders answers "not in an ACTIVE state" right after
    /// CreateCapacityProvider.
    FollowUpRefused {
        /// The kind.
        kind: ResourceKind,
        /// The field its follow-up call sets.
        field: &'static str,
        /// How long after the create the follow-up is refused.
        window: Duration,
        /// The cloud's words.
        message: &'static str,
    },
    /// The first `times` updates of `kind` are accepted, then end failed on a poll with
    /// `reason`, their changes undone: a capacity provider update that ends `UPDATE_FAILED`.
    UpdateFailsLater {
        /// The kind.
        kind: ResourceKind,
        /// How many updates fail.
        times: u32,
        /// What the poll reports.
        reason: &'static str,
    },
    /// Polls do not see a resource of `kind` for `window` after each create or update:
    /// DescribeTasks answers `MISSING` right after RunTask started a release's task.
    InvisibleAfterStart {
        /// The kind.
        kind: ResourceKind,
        /// How long it stays invisible.
        window: Duration,
    },
}

/// An injected [`Fault`] and how often it bit.
#[derive(Debug)]
struct Injected {
    fault: Fault,
    hits: u32,
}

/// One mutating call as the fake saw it, for ordering assertions.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRecord {
    /// The call.
    pub op: Op,
    /// The resource.
    pub id: LogicalId,
    /// Its kind.
    pub kind: ResourceKind,
    /// When (tokio's clock).
    pub at: Instant,
}

/// Random faults on every call ([`FakeCloud::with_faults`]).
#[derive(Debug, Clone, Copy)]
struct Faults {
    throttle_permille: u64,
    server_error_permille: u64,
    rng: u64,
}

#[derive(Debug, Default)]
struct State {
    faults: Option<Faults>,
    /// Faults injected so far, for tests.
    n_faults: u64,
    /// Behaviours of real AWS turned on ([`FakeCloud::with_fault`]).
    injected: Vec<Injected>,
    resources: BTreeMap<String, FakeResource>,
    /// Cloud ids by (stack, logical id), so a create finds an earlier one of the same resource
    /// without scanning every resource (benchmarks create 10,000).
    claims: HashMap<(String, LogicalId), Vec<String>>,
    next_serial: u64,
    calls: Vec<CallRecord>,
    /// Scripted failures: the next `n` calls of `op` on `id` fail with `class`.
    failures: HashMap<(LogicalId, Op), (ErrorClass, u32)>,
    /// Resources that never become ready.
    stuck: Vec<LogicalId>,
    /// What polls of a stuck resource report (default "pending").
    stuck_status: HashMap<LogicalId, String>,
    /// Resources whose next create or update fails once it is applied, like an ECS rollout
    /// the circuit breaker rolls back: an update's new values are undone.
    rollbacks: HashMap<LogicalId, String>,
    /// Kinds whose resources reads do not see until they are ready (ElastiCache answers tag
    /// reads only for available groups).
    unreadable_while_creating: Vec<ResourceKind>,
    /// Creates that make the resource, then fail (a follow-up call failed).
    fail_after_create: Vec<LogicalId>,
    in_flight: usize,
    max_in_flight: usize,
    polls: HashMap<LogicalId, u32>,
    /// Untagged resources inside stacks' resources, by stack.
    unmanaged: Vec<(String, Unmanaged)>,
    /// Scripted audit log: the last write per cloud id.
    writes: HashMap<String, WriteEvent>,
    /// Stack locks, by stack, and how often each was renewed.
    locks: HashMap<String, LockHolder>,
    lock_renewals: HashMap<String, u32>,
}

/// An in-memory cloud.
#[derive(Debug, Default)]
pub struct FakeCloud {
    state: Mutex<State>,
    latency: HashMap<ResourceKind, Duration>,
    delete_latency: HashMap<ResourceKind, Duration>,
    visibility_delay: HashMap<ResourceKind, Duration>,
    call_latency: Duration,
    requests: AtomicU64,
}

impl FakeCloud {
    /// An empty cloud: no latency, no faults.
    pub fn new() -> FakeCloud {
        FakeCloud::default()
    }

    /// Resources of `kind` become ready this long after their create or update call.
    pub fn with_latency(mut self, kind: ResourceKind, latency: Duration) -> FakeCloud {
        self.latency.insert(kind, latency);
        self
    }

    /// Resources of `kind` disappear this long after their delete call.
    pub fn with_delete_latency(mut self, kind: ResourceKind, latency: Duration) -> FakeCloud {
        self.delete_latency.insert(kind, latency);
        self
    }

    /// New resources of `kind` stay invisible to reads and polls this long after their create
    /// call (AWS describe APIs are eventually consistent).
    pub fn with_visibility_delay(mut self, kind: ResourceKind, delay: Duration) -> FakeCloud {
        self.visibility_delay.insert(kind, delay);
        self
    }

    /// Every call (reads and polls too) fails at random: `throttle_percent` of them with a
    /// throttling error before it has any effect, `server_error_percent` with a 5xx, half of
    /// those after the change was made (a lost response, as real AWS does). Creates are
    /// idempotent, as the AWS provider's client tokens and names make them: a create repeated
    /// with the same parameters returns the resource the first one made. Deterministic from
    /// `seed`.
    pub fn with_faults(
        self,
        throttle_percent: u64,
        server_error_percent: u64,
        seed: u64,
    ) -> FakeCloud {
        self.lock().faults = Some(Faults {
            throttle_permille: throttle_percent * 10,
            server_error_permille: server_error_percent * 10,
            rng: seed.max(1),
        });
        self
    }

    /// Reads leave out resources of `kind` that are not ready yet, as mck's ElastiCache reader
    /// must (AWS refuses their tags until they are available).
    pub fn unreadable_while_creating(self, kind: ResourceKind) -> FakeCloud {
        self.lock().unreadable_while_creating.push(kind);
        self
    }

    /// How many faults [`FakeCloud::with_faults`] injected.
    pub fn faults_injected(&self) -> u64 {
        self.lock().n_faults
    }

    /// Turns on a behaviour of real AWS ([`Fault`]).
    pub fn with_fault(self, fault: Fault) -> FakeCloud {
        self.lock().injected.push(Injected { fault, hits: 0 });
        self
    }

    /// How often `fault` ([`FakeCloud::with_fault`]) bit.
    pub fn triggered(&self, fault: &Fault) -> u32 {
        self.lock()
            .injected
            .iter()
            .filter(|i| &i.fault == fault)
            .map(|i| i.hits)
            .sum()
    }

    /// Draws the fault, if any, for the next call: before or after its effect.
    fn draw_fault(&self) -> Option<(ErrorClass, bool)> {
        let mut state = self.lock();
        let faults = state.faults.as_mut()?;
        // xorshift64: deterministic, no dependency.
        faults.rng ^= faults.rng << 13;
        faults.rng ^= faults.rng >> 7;
        faults.rng ^= faults.rng << 17;
        let roll = faults.rng % 1000;
        let after = (faults.rng >> 32) % 2 == 0;
        let fault = if roll < faults.throttle_permille {
            Some((ErrorClass::Throttled, false))
        } else if roll < faults.throttle_permille + faults.server_error_permille {
            Some((ErrorClass::Transient, after))
        } else {
            None
        };
        if fault.is_some() {
            state.n_faults += 1;
        }
        fault
    }

    /// Every mutating call takes this long.
    pub fn with_call_latency(mut self, latency: Duration) -> FakeCloud {
        self.call_latency = latency;
        self
    }

    /// The next `times` calls of `op` on `id` fail with an error of `class`.
    pub fn fail(&self, id: &str, op: Op, class: ErrorClass, times: u32) {
        self.lock()
            .failures
            .insert((LogicalId::new(id), op), (class, times));
    }

    /// The create of `id` makes the resource, then fails as if a follow-up call (attach,
    /// modify an attribute) had failed for good.
    pub fn fail_after_create(&self, id: &str) {
        self.lock().fail_after_create.push(LogicalId::new(id));
    }

    /// `id` is created but never becomes ready.
    pub fn never_ready(&self, id: &str) {
        self.lock().stuck.push(LogicalId::new(id));
    }

    /// `id` is created or updated but never becomes ready; polls report `status`.
    pub fn never_ready_because(&self, id: &str, status: &str) {
        let mut state = self.lock();
        state.stuck.push(LogicalId::new(id));
        state
            .stuck_status
            .insert(LogicalId::new(id), status.to_string());
    }

    /// The next create or update of `id` is applied, then fails with `reason` when it should
    /// have become ready; an update's changes are undone (an ECS deployment rolled back by
    /// the circuit breaker).
    pub fn roll_back(&self, id: &str, reason: &str) {
        self.lock()
            .rollbacks
            .insert(LogicalId::new(id), reason.to_string());
    }

    /// Mutating calls in the order they were made.
    pub fn calls(&self) -> Vec<CallRecord> {
        self.lock().calls.clone()
    }

    /// The largest number of mutating calls that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.lock().max_in_flight
    }

    /// Readiness polls made for `id`.
    pub fn polls(&self, id: &str) -> u32 {
        self.lock()
            .polls
            .get(&LogicalId::new(id))
            .copied()
            .unwrap_or(0)
    }

    /// Live (not deleted) resources per kind for `stack`.
    pub fn count(&self, stack: &str, kind: ResourceKind) -> usize {
        let now = Instant::now();
        self.lock()
            .resources
            .values()
            .filter(|r| r.stack == stack && r.kind == kind && !r.is_gone(now))
            .count()
    }

    /// Live resources of a stack.
    pub fn len(&self, stack: &str) -> usize {
        let now = Instant::now();
        self.lock()
            .resources
            .values()
            .filter(|r| r.stack == stack && !r.is_gone(now))
            .count()
    }

    /// Changes a field behind the engine's back (drift).
    pub fn tamper(&self, stack: &str, id: &str, field: &str, value: Value) {
        let mut state = self.lock();
        let res = state
            .resources
            .values_mut()
            .find(|r| r.stack == stack && r.id.as_str() == id)
            .expect("tampered resource exists");
        res.fields.insert(field.to_string(), value);
    }

    /// The tags every live resource of the stack was created with.
    pub fn tags(&self, stack: &str) -> Vec<BTreeMap<String, String>> {
        self.lock()
            .resources
            .values()
            .filter(|r| r.stack == stack)
            .map(|r| r.tags.clone())
            .collect()
    }

    /// Adds something untagged inside the stack's resources (a hand-made security group).
    pub fn add_unmanaged(&self, stack: &str, unmanaged: Unmanaged) {
        self.lock().unmanaged.push((stack.to_string(), unmanaged));
    }

    /// Records a write in the fake audit log, as CloudTrail would.
    pub fn record_write(&self, cloud_id: &str, event: WriteEvent) {
        self.lock().writes.insert(cloud_id.to_string(), event);
    }

    /// The cloud id of a live resource of the stack.
    pub fn cloud_id(&self, stack: &str, id: &str) -> Option<String> {
        self.lock()
            .resources
            .iter()
            .find(|(_, r)| r.stack == stack && r.id.as_str() == id && r.gone_at.is_none())
            .map(|(cid, _)| cid.clone())
    }

    /// How many times the lock of `stack` was renewed.
    pub fn lock_renewals(&self, stack: &str) -> u32 {
        self.lock().lock_renewals.get(stack).copied().unwrap_or(0)
    }

    /// Removes a resource behind the engine's back.
    pub fn remove(&self, stack: &str, id: &str) {
        self.lock()
            .resources
            .retain(|_, r| !(r.stack == stack && r.id.as_str() == id));
    }

    /// Adds a resource that claims an id of the stack (e.g. a duplicate left by another tool).
    pub fn insert_raw(
        &self,
        stack: &str,
        id: &str,
        kind: ResourceKind,
        fields: BTreeMap<String, Value>,
    ) -> String {
        let mut state = self.lock();
        state.next_serial += 1;
        let cloud_id = format!("{}-{:06}", prefix(kind), state.next_serial);
        let now = Instant::now();
        state.resources.insert(
            cloud_id.clone(),
            FakeResource {
                stack: stack.to_string(),
                id: LogicalId::new(id),
                kind,
                fields,
                tags: BTreeMap::new(),
                ready_at: now,
                visible_at: now,
                gone_at: None,
                failed: None,
                created_at: now,
                hidden_until: None,
            },
        );
        state
            .claims
            .entry((stack.to_string(), LogicalId::new(id)))
            .or_default()
            .push(cloud_id.clone());
        cloud_id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Records the call, applies scripted failures and faults drawn before the call's effect,
    /// and simulates call latency. Returns the fault to report after the effect, if any.
    async fn enter(
        &self,
        op: Op,
        id: &LogicalId,
        kind: ResourceKind,
    ) -> Result<Option<ProviderError>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut lost_response = None;
        if let Some((class, after)) = self.draw_fault() {
            let err = ProviderError::new(
                class,
                format!("failed to {} {id}: injected {class:?}", op.as_str()),
            );
            if after {
                lost_response = Some(err);
            } else {
                return Err(err);
            }
        }
        {
            let mut state = self.lock();
            state.calls.push(CallRecord {
                op,
                id: id.clone(),
                kind,
                at: Instant::now(),
            });
            if let Some((class, left)) = state.failures.get_mut(&(id.clone(), op))
                && *left > 0
            {
                *left -= 1;
                return Err(ProviderError::new(
                    *class,
                    format!("failed to {} {id}: scripted {class:?}", op.as_str()),
                ));
            }
            state.in_flight += 1;
            state.max_in_flight = state.max_in_flight.max(state.in_flight);
        }
        if !self.call_latency.is_zero() {
            tokio::time::sleep(self.call_latency).await;
        }
        self.lock().in_flight -= 1;
        Ok(lost_response)
    }
}

impl State {
    /// Counts a hit of the first injected fault `pred` accepts.
    fn hit(&mut self, pred: impl Fn(&Fault) -> bool) {
        if let Some(injected) = self.injected.iter_mut().find(|i| pred(&i.fault)) {
            injected.hits += 1;
        }
    }

    /// [`Fault::CreateRefusedAfter`]: refuses a create of `kind` in `stack` while a resource of
    /// the kind it waits for is newer than the window.
    fn refuse_create(
        &mut self,
        stack: &str,
        id: &LogicalId,
        kind: ResourceKind,
    ) -> Result<(), ProviderError> {
        let now = Instant::now();
        let refusal = self.injected.iter_mut().find_map(|i| match i.fault {
            Fault::CreateRefusedAfter {
                kind: refused,
                after,
                window,
                message,
            } if refused == kind
                && self.resources.values().any(|r| {
                    r.stack == stack && r.kind == after && now < r.created_at + window
                }) =>
            {
                i.hits += 1;
                Some(message)
            }
            _ => None,
        });
        match refusal {
            Some(message) => Err(ProviderError::new(
                ErrorClass::Transient,
                format!("failed to create {id}: {message}"),
            )),
            None => Ok(()),
        }
    }

    /// [`Fault::FollowUpRefused`]: the field and message of a follow-up call of `kind` refused
    /// now, for a resource created at `created_at` (a create in progress: now).
    fn follow_up_refused(
        &mut self,
        kind: ResourceKind,
        created_at: Option<Instant>,
    ) -> Option<(&'static str, &'static str)> {
        let now = Instant::now();
        let created_at = created_at.unwrap_or(now);
        self.injected.iter_mut().find_map(|i| match i.fault {
            Fault::FollowUpRefused {
                kind: refused,
                field,
                window,
                message,
            } if refused == kind && now < created_at + window => {
                i.hits += 1;
                Some((field, message))
            }
            _ => None,
        })
    }

    /// [`Fault::UpdateFailsLater`]: the failure an update of `kind` ends in, while any are left.
    fn update_fails_later(&mut self, kind: ResourceKind) -> Option<String> {
        self.injected.iter_mut().find_map(|i| match i.fault {
            Fault::UpdateFailsLater {
                kind: failing,
                times,
                reason,
            } if failing == kind && i.hits < times => {
                i.hits += 1;
                Some(reason.to_string())
            }
            _ => None,
        })
    }

    /// [`Fault::InvisibleAfterStart`]: until when polls miss a resource of `kind` just created
    /// or updated.
    fn hidden_after_start(&self, kind: ResourceKind) -> Option<Instant> {
        self.injected.iter().find_map(|i| match i.fault {
            Fault::InvisibleAfterStart {
                kind: hidden,
                window,
            } if hidden == kind => Some(Instant::now() + window),
            _ => None,
        })
    }
}

impl FakeResource {
    fn is_gone(&self, now: Instant) -> bool {
        self.gone_at.is_some_and(|t| now >= t)
    }

    fn observe(&self, cloud_id: &str) -> Observed {
        let mut o = Observed::new(self.id.clone(), self.kind, cloud_id);
        if Instant::now() < self.ready_at {
            o.pending = Some("pending".to_string());
        }
        o.fields = self.fields.clone();
        for name in self.kind.output_names() {
            o.outputs
                .insert((*name).to_string(), format!("{cloud_id}.{name}.fake"));
        }
        o
    }
}

/// Reads what a driver reads of the resources `spec` needs ([`ResourceSpec::dereferences`]),
/// failing as a driver does when the engine does not know one of them.
fn dereference(ctx: &Context<'_>, spec: &ResourceSpec) -> Result<(), ProviderError> {
    for id in spec.dereferences() {
        ctx.cloud_id(&id)?;
    }
    Ok(())
}

fn prefix(kind: ResourceKind) -> &'static str {
    kind.name().trim_start_matches("aws_")
}

/// Every cloud id a field value names.
fn cloud_ids(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::CloudId(c) | Value::CloudRef(_, c) => out.push(c.clone()),
        Value::List(items) => items.iter().for_each(|v| cloud_ids(v, out)),
        _ => {}
    }
}

fn references(value: &Value, cloud_id: &str) -> bool {
    match value {
        Value::CloudId(c) | Value::CloudRef(_, c) => c == cloud_id,
        Value::List(items) => items.iter().any(|v| references(v, cloud_id)),
        _ => false,
    }
}

#[async_trait]
impl Reader for FakeCloud {
    async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some((class, _)) = self.draw_fault() {
            return Err(ProviderError::new(
                class,
                format!("failed to read stack {stack}: injected {class:?}"),
            ));
        }
        let now = Instant::now();
        let state = self.lock();
        let visible: Vec<(&String, &FakeResource)> = state
            .resources
            .iter()
            .filter(|(_, r)| {
                r.stack == stack
                    && !r.is_gone(now)
                    && r.gone_at.is_none()
                    && now >= r.visible_at
                    && !(now < r.ready_at && state.unreadable_while_creating.contains(&r.kind))
            })
            .collect();
        // Revisioned kinds read like ECS task definitions: the newest revision of each
        // (cloud ids grow with each create).
        let superseded = |cid: &String, r: &FakeResource| {
            r.kind.replace_policy() == crate::model::ReplacePolicy::CreateFirst
                && visible
                    .iter()
                    .any(|(other, o)| o.id == r.id && o.kind == r.kind && *other > cid)
        };
        let mut observed: Vec<Observed> = visible
            .iter()
            .filter(|(cid, r)| !superseded(cid, r))
            .map(|(cid, r)| r.observe(cid))
            .collect();
        // Like the AWS reader: removing the maintenance flag counts only for the build
        // migrated last (a migration since has set the flag again).
        let migrated = observed
            .iter()
            .find(|o| o.kind == ResourceKind::ReleaseTask)
            .and_then(|o| o.fields.get(ReleaseTaskSpec::IMAGE.name).cloned());
        for o in observed
            .iter_mut()
            .filter(|o| o.kind == ResourceKind::Maintenance)
        {
            if o.fields.get(ReleaseTaskSpec::IMAGE.name) != migrated.as_ref() {
                o.fields
                    .insert(ReleaseTaskSpec::IMAGE.name.to_string(), Value::Null);
            }
        }
        Ok(observed)
    }

    async fn read_unmanaged(
        &self,
        stack: &str,
        _owned: &[Observed],
    ) -> Result<Vec<Unmanaged>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        Ok(self
            .lock()
            .unmanaged
            .iter()
            .filter(|(s, _)| s == stack)
            .map(|(_, u)| u.clone())
            .collect())
    }

    async fn list_stacks(&self) -> Result<Vec<String>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let mut stacks: Vec<String> = self
            .lock()
            .resources
            .values()
            .filter(|r| r.gone_at.is_none())
            .map(|r| r.stack.clone())
            .collect();
        stacks.sort();
        stacks.dedup();
        Ok(stacks)
    }

    async fn last_write(&self, _kind: ResourceKind, cloud_id: &str) -> Who {
        match self.lock().writes.get(cloud_id) {
            Some(event) => Who::Found(event.clone()),
            None => Who::NoEvent,
        }
    }

    fn request_count(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    async fn live_release(
        &self,
        stack: &str,
    ) -> Result<Option<crate::model::LiveRelease>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let state = self.lock();
        Ok(state
            .resources
            .values()
            .find(|r| r.stack == stack && r.kind == ResourceKind::ReleaseRecord && !r.is_gone(now))
            .map(|r| {
                let text = |name: &str| match r.fields.get(name) {
                    Some(Value::Str(s)) => Some(s.as_str()),
                    _ => None,
                };
                crate::model::LiveRelease::from_record(
                    text(ReleaseRecordSpec::TAG.name),
                    text(ReleaseRecordSpec::REVISION.name),
                    text(ReleaseRecordSpec::FILE.name),
                )
            }))
    }

    async fn revisions(
        &self,
        family: &str,
    ) -> Result<Vec<crate::provider::Revision>, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        let state = self.lock();
        let mut out: Vec<crate::provider::Revision> = state
            .resources
            .iter()
            .filter(|(_, r)| {
                r.kind == ResourceKind::TaskDefinition
                    && r.gone_at.is_none_or(|at| now < at)
                    && r.fields.get(TaskDefinitionSpec::FAMILY.name)
                        == Some(&Value::Str(family.to_string()))
            })
            .map(|(cid, r)| crate::provider::Revision::from_fields(cid, serial(cid), &r.fields))
            .collect();
        out.sort_by_key(|r| std::cmp::Reverse(r.number));
        Ok(out)
    }
}

/// The serial number in a fake cloud id (`ecs_task_definition-000083` -> 83): revisions grow
/// with it.
fn serial(cloud_id: &str) -> i64 {
    cloud_id
        .rsplit('-')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

#[async_trait]
impl Provider for FakeCloud {
    async fn create(
        &self,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &ResourceSpec,
    ) -> Result<Observed, ProviderError> {
        let lost_response = self.enter(Op::Create, id, spec.kind()).await?;
        dereference(ctx, spec)?;
        let mut fields = BTreeMap::new();
        for field in spec.fields() {
            fields.insert(field.name.to_string(), ctx.resolve(&field.value)?);
        }
        let mut state = self.lock();
        state.refuse_create(ctx.stack, id, spec.kind())?;
        // Like EFS refusing a mount target on a file system still creating: what a new
        // resource uses must be usable.
        let now = Instant::now();
        let mut used_ids = Vec::new();
        for value in fields.values() {
            cloud_ids(value, &mut used_ids);
        }
        if let Some((cid, used)) = used_ids.iter().find_map(|cid| {
            state
                .resources
                .get(cid)
                .filter(|r| now < r.ready_at && r.gone_at.is_none())
                .map(|r| (cid, r))
        }) {
            return Err(ProviderError::new(
                ErrorClass::DependencyViolation,
                format!("failed to create {id}: {} {cid} is not ready", used.id),
            ));
        }
        // Idempotent like a client token: the same create again returns the first resource.
        let now = Instant::now();
        let claimed = state
            .claims
            .get(&(ctx.stack.to_string(), id.clone()))
            .cloned()
            .unwrap_or_default();
        if let Some((cid, existing)) = claimed.iter().find_map(|cid| {
            state
                .resources
                .get(cid)
                .filter(|r| {
                    r.stack == ctx.stack
                        && &r.id == id
                        && r.kind == spec.kind()
                        && r.gone_at.is_none()
                        && r.fields == fields
                })
                .map(|r| (cid, r))
        }) {
            let observed = existing.observe(cid);
            return match lost_response {
                Some(err) if now >= existing.visible_at => Err(err),
                _ => Ok(observed),
            };
        }
        state.next_serial += 1;
        let cloud_id = format!("{}-{:06}", prefix(spec.kind()), state.next_serial);
        let latency = self.latency.get(&spec.kind()).copied().unwrap_or_default();
        let ready_at = if state.stuck.contains(id) {
            Instant::now() + Duration::from_secs(1 << 40)
        } else {
            Instant::now() + latency
        };
        let tags = ctx.tags_for(id).into_iter().collect::<BTreeMap<_, _>>();
        debug_assert_eq!(tags.get(TAG_STACK).map(String::as_str), Some(ctx.stack));
        debug_assert_eq!(tags.get(TAG_ID).map(String::as_str), Some(id.as_str()));
        let follow_up = state.follow_up_refused(spec.kind(), None);
        if let Some((field, _)) = &follow_up {
            fields.insert((*field).to_string(), Value::Null);
        }
        let res = FakeResource {
            stack: ctx.stack.to_string(),
            id: id.clone(),
            kind: spec.kind(),
            fields,
            tags,
            ready_at,
            failed: state.rollbacks.remove(id),
            visible_at: Instant::now()
                + self
                    .visibility_delay
                    .get(&spec.kind())
                    .copied()
                    .unwrap_or_default(),
            gone_at: None,
            created_at: now,
            hidden_until: state.hidden_after_start(spec.kind()),
        };
        let observed = res.observe(&cloud_id);
        state.resources.insert(cloud_id.clone(), res);
        state
            .claims
            .entry((ctx.stack.to_string(), id.clone()))
            .or_default()
            .push(cloud_id.clone());
        if let Some((_, message)) = follow_up {
            return Err(ProviderError::new(
                ErrorClass::Transient,
                format!("failed to finish creating {id}: {message}"),
            )
            .after_create(cloud_id));
        }
        if let Some(idx) = state.fail_after_create.iter().position(|f| f == id) {
            state.fail_after_create.remove(idx);
            return Err(ProviderError::new(
                ErrorClass::Throttled,
                format!("failed to finish creating {id}: scripted throttling"),
            )
            .after_create(cloud_id));
        }
        match lost_response {
            Some(err) => Err(err),
            None => Ok(observed),
        }
    }

    async fn update(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        live: &Observed,
        changed: &[&str],
    ) -> Result<Observed, ProviderError> {
        let lost_response = self.enter(Op::Update, &live.id, live.kind).await?;
        dereference(ctx, spec)?;
        let mut new_values = Vec::new();
        for field in spec
            .fields()
            .into_iter()
            .filter(|f| changed.contains(&f.name))
        {
            new_values.push((field.name, ctx.resolve(&field.value)?));
        }
        let latency = self.latency.get(&live.kind).copied().unwrap_or_default();
        let mut state = self.lock();
        let res = state.resources.get_mut(&live.cloud_id).ok_or_else(|| {
            ProviderError::new(ErrorClass::NotFound, format!("{} not found", live.cloud_id))
        })?;
        // Like RDS and ElastiCache: no change while the last one is still being applied.
        if Instant::now() < res.ready_at {
            return Err(ProviderError::new(
                ErrorClass::DependencyViolation,
                format!("failed to update {}: it is busy (modifying)", live.cloud_id),
            ));
        }
        let created_at = res.created_at;
        if let Some((field, message)) = state.follow_up_refused(live.kind, Some(created_at))
            && changed.contains(&field)
        {
            return Err(ProviderError::new(
                ErrorClass::Transient,
                format!("failed to update {}: {message}", live.id),
            ));
        }
        let hidden_until = state.hidden_after_start(live.kind);
        let rollback = state
            .rollbacks
            .remove(&live.id)
            .or_else(|| state.update_fails_later(live.kind));
        state
            .resources
            .get_mut(&live.cloud_id)
            .expect("checked above")
            .hidden_until = hidden_until;
        match rollback {
            // Rolled back: the old values stay.
            Some(reason) => {
                state
                    .resources
                    .get_mut(&live.cloud_id)
                    .expect("checked above")
                    .failed = Some(reason)
            }
            None => {
                let res = state
                    .resources
                    .get_mut(&live.cloud_id)
                    .expect("checked above");
                for (name, value) in new_values {
                    res.fields.insert(name.to_string(), value);
                }
            }
        }
        let stuck = state.stuck.contains(&live.id);
        let res = state
            .resources
            .get_mut(&live.cloud_id)
            .expect("checked above");
        res.ready_at = if stuck {
            Instant::now() + Duration::from_secs(1 << 40)
        } else {
            Instant::now() + latency
        };
        match lost_response {
            Some(err) => Err(err),
            None => Ok(res.observe(&live.cloud_id)),
        }
    }

    /// Task definitions keep their newest revisions, like [`crate::provider::Provider::retire`]
    /// on AWS: the older ones beyond `keep_revisions` go, never one a service runs.
    async fn retire(
        &self,
        ctx: &Context<'_>,
        spec: &ResourceSpec,
        old: &Observed,
    ) -> Result<bool, ProviderError> {
        let ResourceSpec::TaskDefinition(td) = spec else {
            return self.delete(ctx, old).await.map(|()| true);
        };
        self.enter(Op::Delete, &old.id, old.kind).await?;
        let now = Instant::now();
        let mut state = self.lock();
        let live = |r: &FakeResource| r.gone_at.is_none_or(|at| now < at);
        let active: Vec<(i64, String)> = state
            .resources
            .iter()
            .filter(|(_, r)| r.stack == ctx.stack && r.id == old.id && live(r))
            .map(|(cid, _)| (serial(cid), cid.clone()))
            .collect();
        let in_use: std::collections::BTreeSet<String> = state
            .resources
            .values()
            .filter(|r| r.kind == ResourceKind::EcsService && live(r))
            .filter_map(
                |r| match r.fields.get(EcsServiceSpec::TASK_DEFINITION.name) {
                    Some(Value::CloudId(arn)) => Some(arn.clone()),
                    _ => None,
                },
            )
            .collect();
        let prune = TaskDefinitionSpec::revisions_to_prune(&active, &in_use, td.keep_revisions);
        for cid in &prune {
            if let Some(r) = state.resources.get_mut(cid) {
                r.gone_at = Some(now);
            }
        }
        Ok(prune.contains(&old.cloud_id))
    }

    async fn delete(&self, _ctx: &Context<'_>, live: &Observed) -> Result<(), ProviderError> {
        let lost_response = self.enter(Op::Delete, &live.id, live.kind).await?;
        let now = Instant::now();
        let mut state = self.lock();
        // AWS lets a NAT gateway or an instance go while routes or addresses still name them
        // (the route turns blackhole, the address is disassociated); everything else is refused.
        let blocking = !matches!(live.kind, ResourceKind::NatGateway | ResourceKind::Instance);
        if blocking
            && let Some((user_cid, user)) = state.resources.iter().find(|(cid, r)| {
                *cid != &live.cloud_id
                    && !r.is_gone(now)
                    && r.fields.values().any(|v| references(v, &live.cloud_id))
            })
        {
            return Err(ProviderError::new(
                ErrorClass::DependencyViolation,
                format!(
                    "failed to delete {} {}: still used by {} {user_cid}",
                    live.kind, live.cloud_id, user.id
                ),
            ));
        }
        let latency = self
            .delete_latency
            .get(&live.kind)
            .copied()
            .unwrap_or_default();
        // Deleting a revisioned resource (a task definition) deregisters its kept older
        // revisions too.
        if live.kind.replace_policy() == crate::model::ReplacePolicy::CreateFirst
            && state.resources.contains_key(&live.cloud_id)
        {
            let stack = state.resources[&live.cloud_id].stack.clone();
            for (cid, r) in state.resources.iter_mut() {
                if *cid != live.cloud_id
                    && r.stack == stack
                    && r.id == live.id
                    && r.gone_at.is_none()
                {
                    r.gone_at = Some(now + latency);
                }
            }
        }
        match state.resources.get_mut(&live.cloud_id) {
            Some(res) if res.gone_at.is_none() => res.gone_at = Some(now + latency),
            Some(_) => {}
            None => {
                return Err(ProviderError::new(
                    ErrorClass::NotFound,
                    format!("{} not found", live.cloud_id),
                ));
            }
        }
        match lost_response {
            Some(err) => Err(err),
            None => Ok(()),
        }
    }

    async fn poll(&self, _ctx: &Context<'_>, live: &Observed) -> Result<Readiness, ProviderError> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some((class, _)) = self.draw_fault() {
            return Err(ProviderError::new(
                class,
                format!("failed to describe {}: injected {class:?}", live.cloud_id),
            ));
        }
        let now = Instant::now();
        let mut state = self.lock();
        *state.polls.entry(live.id.clone()).or_default() += 1;
        let status = state
            .stuck_status
            .get(&live.id)
            .cloned()
            .unwrap_or_else(|| "pending".into());
        if state
            .resources
            .get(&live.cloud_id)
            .and_then(|r| r.hidden_until)
            .is_some_and(|until| now < until)
        {
            state.hit(
                |f| matches!(f, Fault::InvisibleAfterStart { kind, .. } if *kind == live.kind),
            );
            return Ok(Readiness::Gone);
        }
        Ok(match state.resources.get_mut(&live.cloud_id) {
            None => Readiness::Gone,
            Some(r) if r.is_gone(now) || now < r.visible_at => Readiness::Gone,
            Some(r) if r.gone_at.is_some() => Readiness::Pending("deleting".into()),
            Some(r) if now >= r.ready_at => match r.failed.take() {
                Some(reason) => Readiness::Failed(reason),
                None => Readiness::Ready(r.observe(&live.cloud_id)),
            },
            Some(_) => Readiness::Pending(status),
        })
    }
}

/// An in-memory lock store: each operation is atomic (one mutex), as the conditional writes of
/// a real store are.
#[async_trait]
impl StackLock for FakeCloud {
    async fn acquire(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
        let mut state = self.lock();
        match state.locks.get(stack) {
            Some(current) if !current.is_expired(now_unix()) => Err(LockError::Held {
                stack: stack.to_string(),
                holder: Box::new(current.clone()),
            }),
            _ => {
                state.locks.insert(stack.to_string(), holder.clone());
                Ok(())
            }
        }
    }

    async fn take_over(
        &self,
        stack: &str,
        stale_id: &str,
        holder: &LockHolder,
    ) -> Result<(), LockError> {
        let mut state = self.lock();
        match state.locks.get(stack) {
            Some(current) if current.id != stale_id && !current.is_expired(now_unix()) => {
                Err(LockError::Held {
                    stack: stack.to_string(),
                    holder: Box::new(current.clone()),
                })
            }
            _ => {
                state.locks.insert(stack.to_string(), holder.clone());
                Ok(())
            }
        }
    }

    async fn renew(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
        let mut state = self.lock();
        match state.locks.get_mut(stack) {
            Some(current) if current.id == holder.id => {
                current.expires = holder.expires;
                *state.lock_renewals.entry(stack.to_string()).or_default() += 1;
                Ok(())
            }
            other => Err(LockError::Lost {
                stack: stack.to_string(),
                reason: match other {
                    Some(h) => format!("now held by {h}"),
                    None => "it was removed".into(),
                },
            }),
        }
    }

    async fn unlock(&self, stack: &str, id: &str) -> Result<(), LockError> {
        let mut state = self.lock();
        if state.locks.get(stack).is_some_and(|h| h.id == id) {
            state.locks.remove(stack);
        }
        Ok(())
    }

    async fn holder(&self, stack: &str) -> Result<Option<LockHolder>, LockError> {
        Ok(self.lock().locks.get(stack).cloned())
    }

    async fn force_unlock(&self, stack: &str) -> Result<(), LockError> {
        self.lock().locks.remove(stack);
        Ok(())
    }
}
