//! [`FakeCloud`]: an in-memory [`Provider`](crate::provider::Provider) for engine tests and benchmarks.
//!
//! It is stricter than the AWS emulator where ordering matters: a delete of a resource that a
//! live resource still references is refused with a dependency violation, as AWS does. Per-kind
//! readiness latencies, call latency and scripted failures make timing and error paths testable
//! under tokio's paused clock, and [`Fault`]s (module `faults`) inject what real AWS does after a create or update
//! (propagation delays, follow-up calls refused, updates failing later, new tasks not visible).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::exec::Op;
use crate::lock::LockHolder;
use crate::model::{LogicalId, ResourceKind, ResourceSpec, Value};
use crate::provider::{Context, ErrorClass, Observed, ProviderError, Unmanaged, WriteEvent};

mod faults;
mod lock;
mod logins;
mod provider;
mod reader;

pub use faults::Fault;
use faults::{Faults, Injected};

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
    /// Creates that make the resource, then answer a 5xx (the answer was lost).
    lost_answers: Vec<LogicalId>,
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
    /// The apps' database login, its users and the tasks' logins.
    logins: logins::FakeLogins,
    /// Networks of the account that are not the fake's stacks' ([`FakeCloud::add_network`]).
    foreign_networks: Vec<crate::provider::Network>,
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
    /// those after the change was made (a lost response, as real AWS does). A create repeated
    /// after a lost answer does what the kind's driver makes of it on AWS ([`RepeatedCreate`](crate::model::RepeatedCreate)).
    /// Deterministic from `seed`.
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

    /// The next create of `id` makes the resource, then answers a server error, as a create
    /// whose answer was lost does: the engine repeats it, with what [`RepeatedCreate`](crate::model::RepeatedCreate) says.
    pub fn lose_answer(&self, id: &str) {
        self.lock().lost_answers.push(LogicalId::new(id));
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

    /// A network of the account that no stack of the fake made (someone's hand-made VPC):
    /// [`Reader::list_networks`](crate::provider::Reader::list_networks) lists it.
    pub fn add_network(&self, id: &str, cidr: &str) {
        self.lock().foreign_networks.push(crate::provider::Network {
            id: id.into(),
            cidr: cidr.into(),
            tags: BTreeMap::new(),
        });
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

impl FakeResource {
    fn is_gone(&self, now: Instant) -> bool {
        self.gone_at.is_some_and(|t| now >= t)
    }

    fn observe(&self, cloud_id: &str) -> Observed {
        let mut o = Observed::new(self.id.clone(), self.kind, cloud_id);
        if self.gone_at.is_some() {
            o = o.deleting();
        } else if Instant::now() < self.ready_at {
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
