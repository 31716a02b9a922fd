//! The executor: runs a [`Plan`] against a [`Provider`] concurrently in dependency order.
//!
//! A dispatcher owns all run state (what is ready, running, done); workers run one step each
//! (call, retry, wait for readiness) and report back. Deletes run in reverse dependency order
//! through one barrier per kind. A failed step skips its dependents; independent branches go on.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::graph::DesiredGraph;
use crate::model::{LogicalId, ReplacePolicy, ResourceKind, ResourceSpec, Tags};
use crate::plan::{Action, Plan};
use crate::provider::{
    Context, ErrorClass, Observed, Provider, ProviderError, Readiness, VISIBILITY_GRACE,
};

/// What a worker does to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Delete it.
    Delete,
    /// Wait for an unchanged resource that is not usable yet (left mid-transition).
    Wait,
}

impl Op {
    /// The name used in messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Wait => "wait for",
        }
    }
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Outcome {
    /// It succeeded.
    Done,
    /// It failed; the error says why.
    Failed(StepError),
    /// A step it needs failed or was not run.
    Skipped(String),
    /// Cancelled before it started, while it waited between retries, or while it waited for
    /// readiness.
    Cancelled,
}

/// Why a step failed, for the summary and for embedders: what went wrong, the cloud's error
/// code when it sent one, and the message.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// Why it failed.
    pub reason: FailureReason,
    /// The cloud's error code, when it sent one.
    pub code: Option<String>,
    /// What went wrong, in words.
    pub message: String,
}

/// The kind of a step failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// A provider call failed (and was not retried, or ran out of time retrying).
    Provider(ErrorClass),
    /// The resource did not become ready (or gone) within its timeout.
    TimedOut,
    /// The resource reached a terminal failure state.
    ResourceFailed,
    /// The resource disappeared while mck waited for it to become ready.
    Disappeared,
    /// A bug in mck.
    Internal,
}

impl StepError {
    fn new(reason: FailureReason, message: impl Into<String>) -> StepError {
        StepError {
            reason,
            code: None,
            message: message.into(),
        }
    }
}

impl From<ProviderError> for StepError {
    fn from(err: ProviderError) -> StepError {
        StepError {
            reason: FailureReason::Provider(err.class),
            code: err.code,
            message: err.message,
        }
    }
}

/// Progress of a run, in the order the dispatcher saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum ExecEvent {
    /// A step started.
    Started {
        /// The resource.
        id: LogicalId,
        /// Its kind.
        kind: ResourceKind,
        /// What is done to it.
        op: Op,
    },
    /// Waiting for the resource to become ready (or gone); `status` is the cloud's word.
    Waiting {
        /// The resource.
        id: LogicalId,
        /// The cloud's status word.
        status: String,
        /// Milliseconds since the start.
        elapsed_ms: u64,
    },
    /// A call failed with a retryable error and will be retried.
    Retrying {
        /// The resource.
        id: LogicalId,
        /// Which attempt failed.
        attempt: u32,
        /// The error.
        error: String,
    },
    /// A step ended.
    Finished {
        /// The resource.
        id: LogicalId,
        /// Its kind.
        kind: ResourceKind,
        /// What is done to it.
        op: Op,
        /// How it ended.
        outcome: Outcome,
        /// Milliseconds since the start.
        elapsed_ms: u64,
        /// What the resource reported on success for people to read (output
        /// [`crate::provider::NOTE`]: a migration's last log lines).
        note: Option<String>,
    },
}

/// The adaptive readiness poller: first check after `first`, then every `elapsed / divisor`,
/// never more often than `first` nor less often than `max_interval`.
#[derive(Clone, Copy, Debug)]
pub struct PollConfig {
    /// The first check (and the shortest interval).
    pub first: Duration,
    /// Poll every `elapsed / divisor`.
    pub divisor: u32,
    /// The longest interval between checks.
    pub max_interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            first: Duration::from_millis(200),
            divisor: 10,
            max_interval: Duration::from_secs(10),
        }
    }
}

impl PollConfig {
    /// The wait before the next check, given the time since the operation finished.
    pub fn next_interval(&self, elapsed: Duration) -> Duration {
        (elapsed / self.divisor).clamp(self.first, self.max_interval)
    }
}

/// Exponential backoff with full jitter for retryable errors.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Whether an error of `class` is worth retrying for operation `op`.
    pub fn should_retry(class: ErrorClass, op: Op) -> bool {
        match class {
            ErrorClass::Transient | ErrorClass::Throttled => true,
            // Hidden dependencies (ENIs, attachments being torn down) clear up with time, and
            // so does a resource busy with an earlier change (RDS and ElastiCache refuse a
            // modification while one is running).
            ErrorClass::DependencyViolation => matches!(op, Op::Delete | Op::Update),
            ErrorClass::NotFound | ErrorClass::Invalid | ErrorClass::Denied => false,
        }
    }

    /// Backoff before retry `attempt` (1-based), jittered between half and all of the bound.
    pub fn backoff(&self, attempt: u32, salt: &str) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jitter = RandomState::new().hash_one((attempt, salt)) % 1000;
        exp / 2 + exp / 2 * u32::try_from(jitter).unwrap_or(0) / 1000
    }
}

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// At most this many steps run at once.
    pub concurrency: usize,
    /// The readiness poller.
    pub poll: PollConfig,
    /// Retry backoff of failed calls.
    pub retry: RetryPolicy,
    /// Caps every per-kind readiness timeout for this run (fail fast in CI, emulators).
    pub max_wait: Option<Duration>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            concurrency: 32,
            poll: PollConfig::default(),
            retry: RetryPolicy::default(),
            max_wait: None,
        }
    }
}

/// Stops a run from starting new steps. Cloning shares the token.
#[derive(Clone, Debug)]
pub struct CancelToken {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for CancelToken {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        CancelToken {
            tx: Arc::new(tx),
            rx,
        }
    }
}

impl CancelToken {
    /// Asks the run to stop starting steps and waiting.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the run was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    async fn cancelled(&mut self) {
        let _ = self.rx.wait_for(|c| *c).await;
    }
}

/// One finished step in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    /// The resource.
    pub id: LogicalId,
    /// Its kind.
    pub kind: ResourceKind,
    /// What is done to it.
    pub op: Op,
    /// How it ended.
    pub outcome: Outcome,
}

/// The result of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// One result per step.
    pub results: Vec<StepResult>,
    /// Milliseconds since the start.
    pub elapsed_ms: u64,
}

impl Summary {
    /// How many steps ended as `pred` says.
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pred(&r.outcome)).count()
    }

    /// Every step succeeded.
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Done)
    }

    /// Failed first, then skipped and cancelled, then done.
    pub fn sorted(&self) -> Vec<&StepResult> {
        let rank = |o: &Outcome| match o {
            Outcome::Failed(_) => 0,
            Outcome::Skipped(_) => 1,
            Outcome::Cancelled => 2,
            Outcome::Done => 3,
        };
        let mut out: Vec<&StepResult> = self.results.iter().collect();
        out.sort_by_key(|r| rank(&r.outcome));
        out
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NodeKind {
    /// Create or update the step's resource.
    Apply(usize),
    /// Delete the step's live resource.
    Delete(usize),
    /// Completes when every delete of this kind has.
    Barrier(ResourceKind),
}

#[derive(Clone, Debug, PartialEq)]
enum NodeState {
    Waiting,
    Running,
    Finished(Outcome),
}

struct ExecGraph {
    nodes: Vec<NodeKind>,
    /// Delete nodes that retire the old copy of a create-first replacement.
    retiring: std::collections::HashSet<usize>,
    /// Apply nodes that run after their predecessors finish, failed or not.
    always: std::collections::HashSet<usize>,
    preds_left: Vec<usize>,
    succs: Vec<Vec<usize>>,
}

impl ExecGraph {
    /// `policy` says, per kind, whether a replacement deletes first or creates first.
    fn new(plan: &Plan, policy: &dyn Fn(ResourceKind) -> ReplacePolicy) -> ExecGraph {
        let mut nodes = Vec::new();
        let mut apply_node: HashMap<&LogicalId, usize> = HashMap::new();
        let mut delete_node: HashMap<usize, usize> = HashMap::new();
        // Create-first replacements: the old resource's delete node, by logical id.
        let mut create_first: HashMap<&LogicalId, usize> = HashMap::new();
        let mut delete_first: std::collections::HashSet<&LogicalId> =
            std::collections::HashSet::new();
        for (step_idx, step) in plan.steps().iter().enumerate() {
            if matches!(step.action, Action::Delete | Action::Replace) {
                // A resource that needs something replaced delete-first is replaced
                // delete-first too: its old copy must go before what it uses can (steps come
                // in dependency order, so `delete_first` already holds its dependencies).
                if step.action == Action::Replace {
                    let needs_delete_first = plan
                        .desired()
                        .dependencies(&step.id)
                        .iter()
                        .any(|dep| delete_first.contains(dep));
                    if policy(step.kind) == ReplacePolicy::CreateFirst && !needs_delete_first {
                        create_first.insert(&step.id, nodes.len());
                    } else {
                        delete_first.insert(&step.id);
                    }
                }
                delete_node.insert(step_idx, nodes.len());
                nodes.push(NodeKind::Delete(step_idx));
            }
            let waits = step.action == Action::NoOp
                && step
                    .live
                    .as_ref()
                    .is_some_and(|live| live.pending.is_some());
            if waits
                || matches!(
                    step.action,
                    Action::Create | Action::Update | Action::Replace
                )
            {
                apply_node.insert(&step.id, nodes.len());
                nodes.push(NodeKind::Apply(step_idx));
            }
        }
        let mut barrier: HashMap<ResourceKind, usize> = HashMap::new();
        if !delete_node.is_empty() {
            for &kind in ResourceKind::ALL {
                barrier.insert(kind, nodes.len());
                nodes.push(NodeKind::Barrier(kind));
            }
        }
        let mut edges: Vec<(usize, usize)> = Vec::new();
        for (node_idx, node) in nodes.iter().enumerate() {
            match *node {
                NodeKind::Apply(step_idx) => {
                    let step = &plan.steps()[step_idx];
                    for dep in plan.desired().dependencies(&step.id) {
                        if let Some(&dep_node) = apply_node.get(dep) {
                            edges.push((dep_node, node_idx));
                        }
                        // The old copy of a create-first replacement goes once every resource
                        // that uses it points at the new one.
                        if let Some(&old) = create_first.get(dep) {
                            edges.push((node_idx, old));
                        }
                    }
                    match (delete_node.get(&step_idx), create_first.get(&step.id)) {
                        (Some(&del), None) => edges.push((del, node_idx)),
                        (Some(&del), Some(_)) => edges.push((node_idx, del)),
                        (None, _) => {}
                    }
                }
                NodeKind::Delete(step_idx) => {
                    let kind = plan.steps()[step_idx].kind;
                    // Every kind that may reference this one must be gone first.
                    for &other in ResourceKind::ALL {
                        if other.referenced_kinds().contains(&kind) {
                            edges.push((barrier[&other], node_idx));
                        }
                    }
                    edges.push((node_idx, barrier[&kind]));
                }
                NodeKind::Barrier(kind) => {
                    // A barrier also waits for the barriers of kinds that reference its kind,
                    // so an empty kind does not let deletes overtake a non-empty one.
                    for &other in ResourceKind::ALL {
                        if other.referenced_kinds().contains(&kind) {
                            edges.push((barrier[&other], node_idx));
                        }
                    }
                }
            }
        }
        let mut preds_left = vec![0; nodes.len()];
        let mut succs = vec![Vec::new(); nodes.len()];
        for (from, to) in edges {
            preds_left[to] += 1;
            succs[from].push(to);
        }
        let retiring = create_first.values().copied().collect();
        let always = nodes
            .iter()
            .enumerate()
            .filter(|(_, node)| {
                matches!(node, NodeKind::Apply(step_idx)
                    if plan.steps()[*step_idx]
                        .desired
                        .as_ref()
                        .is_some_and(ResourceSpec::runs_after_failure))
            })
            .map(|(idx, _)| idx)
            .collect();
        ExecGraph {
            nodes,
            retiring,
            always,
            preds_left,
            succs,
        }
    }
}

/// Runs one update of `id` outside a plan (a rollback moving a service to an older revision):
/// the same calls, readiness wait, retries, timeout and events as a plan's update step.
/// `deps` are the live resources the update resolves references against.
#[expect(clippy::too_many_arguments, reason = "a step's parts, passed once")]
pub(crate) async fn run_update(
    provider: Arc<dyn Provider>,
    config: &ExecConfig,
    desired: &DesiredGraph,
    spec: ResourceSpec,
    live: Observed,
    changed: Vec<&'static str>,
    deps: HashMap<LogicalId, Observed>,
    events: mpsc::UnboundedSender<ExecEvent>,
    cancel: CancelToken,
) -> StepResult {
    let (id, kind) = (live.id.clone(), live.kind);
    let timeout = desired.timeout(kind);
    let work = Work {
        provider,
        stack: Arc::from(desired.stack()),
        tags: Arc::new(desired.tags().clone()),
        id: id.clone(),
        op: Op::Update,
        spec: Some(spec),
        live: Some(live),
        changed,
        retire: false,
        deps,
        timeout: config.max_wait.map_or(timeout, |cap| cap.min(timeout)),
        poll: config.poll,
        retry: config.retry,
        events: events.clone(),
        cancel,
    };
    let _ = events.send(ExecEvent::Started {
        id: id.clone(),
        kind,
        op: Op::Update,
    });
    let t0 = Instant::now();
    let outcome = match work.run().await {
        Ok(_) => Outcome::Done,
        Err(Interrupt::Cancelled) => Outcome::Cancelled,
        Err(Interrupt::Failed(err)) => Outcome::Failed(err),
        Err(Interrupt::Kept) => Outcome::Done,
        Err(Interrupt::Gone) => Outcome::Failed(StepError {
            reason: FailureReason::Disappeared,
            code: None,
            message: format!("{id} disappeared"),
        }),
    };
    let _ = events.send(ExecEvent::Finished {
        id: id.clone(),
        kind,
        op: Op::Update,
        outcome: outcome.clone(),
        elapsed_ms: u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX),
        note: None,
    });
    StepResult {
        id,
        kind,
        op: Op::Update,
        outcome,
    }
}

/// Runs `plan` against `provider`, reporting progress on `events`. Returns when every step has
/// finished, been skipped or, after `cancel`, been left unstarted.
pub async fn apply(
    plan: &Plan,
    provider: Arc<dyn Provider>,
    config: &ExecConfig,
    events: mpsc::UnboundedSender<ExecEvent>,
    cancel: CancelToken,
) -> Summary {
    apply_with_policy(
        plan,
        provider,
        config,
        events,
        cancel,
        &ResourceKind::replace_policy,
    )
    .await
}

/// [`apply`] with the replace policy given per kind (tests exercise create-first replacement
/// on kinds that delete first).
pub(crate) async fn apply_with_policy(
    plan: &Plan,
    provider: Arc<dyn Provider>,
    config: &ExecConfig,
    events: mpsc::UnboundedSender<ExecEvent>,
    mut cancel: CancelToken,
    policy: &dyn Fn(ResourceKind) -> ReplacePolicy,
) -> Summary {
    let started = Instant::now();
    let graph = ExecGraph::new(plan, policy);
    let n_nodes = graph.nodes.len();
    let mut state = vec![NodeState::Waiting; n_nodes];
    let mut preds_left = graph.preds_left.clone();
    let mut ready: VecDeque<usize> = (0..n_nodes).filter(|&n| preds_left[n] == 0).collect();
    let mut resolved: HashMap<LogicalId, Observed> = plan.observed().clone();
    let tags: Arc<Tags> = Arc::new(plan.desired().tags().clone());
    let stack: Arc<str> = Arc::from(plan.stack());
    let mut running: JoinSet<(usize, Result<Option<Observed>, Interrupt>, Duration)> =
        JoinSet::new();
    let mut results = Vec::new();
    let concurrency = config.concurrency.max(1);

    loop {
        while !cancel.is_cancelled() && running.len() < concurrency {
            let Some(node_idx) = ready.pop_front() else {
                break;
            };
            match graph.nodes[node_idx] {
                NodeKind::Barrier(_) => {
                    // Barriers complete at once; their successors become ready.
                    state[node_idx] = NodeState::Finished(Outcome::Done);
                    release(node_idx, &graph, &mut preds_left, &mut state, &mut ready);
                }
                NodeKind::Apply(step_idx) | NodeKind::Delete(step_idx) => {
                    let step = &plan.steps()[step_idx];
                    let op = op_of(graph.nodes[node_idx], step.action);
                    // A step that runs after failures uses what is known of a dependency that
                    // failed (its live state read at plan time) and never reads one that does
                    // not exist.
                    if graph.always.contains(&node_idx)
                        && let Some(unknown) = step.desired.as_ref().and_then(|spec| {
                            spec.dereferences()
                                .into_iter()
                                .find(|id| !resolved.contains_key(id))
                        })
                    {
                        let outcome = Outcome::Skipped(format!(
                            "it needs {unknown}, which did not succeed and does not exist"
                        ));
                        let _ = events.send(ExecEvent::Finished {
                            id: step.id.clone(),
                            kind: step.kind,
                            op,
                            outcome: outcome.clone(),
                            elapsed_ms: 0,
                            note: None,
                        });
                        results.push(StepResult {
                            id: step.id.clone(),
                            kind: step.kind,
                            op,
                            outcome: outcome.clone(),
                        });
                        state[node_idx] = NodeState::Finished(outcome);
                        skip_dependents(
                            node_idx,
                            &step.id,
                            &graph,
                            &mut Progress {
                                state: &mut state,
                                preds_left: &mut preds_left,
                                ready: &mut ready,
                            },
                            plan,
                            &events,
                            &mut results,
                        );
                        continue;
                    }
                    state[node_idx] = NodeState::Running;
                    let _ = events.send(ExecEvent::Started {
                        id: step.id.clone(),
                        kind: step.kind,
                        op,
                    });
                    let mut deps: HashMap<LogicalId, Observed> = HashMap::new();
                    for dep in plan.desired().dependencies(&step.id) {
                        if let Some(o) = resolved.get(dep) {
                            deps.insert(dep.clone(), o.clone());
                        }
                    }
                    let work = Work {
                        provider: provider.clone(),
                        stack: stack.clone(),
                        tags: tags.clone(),
                        id: step.id.clone(),
                        op,
                        spec: step.desired.clone(),
                        live: step.live.clone(),
                        changed: step.changes.iter().map(|c| c.field).collect(),
                        retire: graph.retiring.contains(&node_idx),
                        deps,
                        timeout: {
                            let timeout = if op == Op::Delete {
                                delete_timeout(plan.desired(), step.kind)
                            } else {
                                plan.desired().timeout(step.kind)
                            };
                            config.max_wait.map_or(timeout, |cap| cap.min(timeout))
                        },
                        poll: config.poll,
                        retry: config.retry,
                        events: events.clone(),
                        cancel: cancel.clone(),
                    };
                    let span = tracing::info_span!(
                        "step",
                        stack = %stack,
                        id = %step.id,
                        kind = %step.kind,
                        op = op.as_str()
                    );
                    running.spawn(
                        async move {
                            let t0 = Instant::now();
                            let result = work.run().await;
                            (node_idx, result, t0.elapsed())
                        }
                        .instrument(span),
                    );
                }
            }
        }
        if running.is_empty() && (ready.is_empty() || cancel.is_cancelled()) {
            break;
        }
        let joined = tokio::select! {
            joined = running.join_next() => joined,
            () = cancel.cancelled(), if !cancel.is_cancelled() => continue,
        };
        let Some(joined) = joined else { continue };
        let (node_idx, result, elapsed) = match joined {
            Ok(v) => v,
            Err(err) => panic!("executor worker panicked: {err}"),
        };
        let (NodeKind::Apply(step_idx) | NodeKind::Delete(step_idx)) = graph.nodes[node_idx] else {
            unreachable!("only steps run as workers")
        };
        let step = &plan.steps()[step_idx];
        let op = op_of(graph.nodes[node_idx], step.action);
        let mut note = None;
        let outcome = match result {
            Ok(Some(observed)) => {
                note = observed.outputs.get(crate::provider::NOTE).cloned();
                resolved.insert(step.id.clone(), observed);
                Outcome::Done
            }
            Ok(None) => {
                // After a create-first replacement the id already names the new resource.
                let deleted = step.live.as_ref().map(|o| o.cloud_id.as_str());
                if op == Op::Delete
                    && resolved.get(&step.id).map(|o| o.cloud_id.as_str()) == deleted
                {
                    resolved.remove(&step.id);
                }
                Outcome::Done
            }
            Err(Interrupt::Kept) => {
                note = Some("kept registered for rollback (release.keep_revisions)".to_string());
                Outcome::Done
            }
            Err(Interrupt::Cancelled) => Outcome::Cancelled,
            Err(Interrupt::Failed(err)) => Outcome::Failed(err),
            Err(Interrupt::Gone) => unreachable!("a worker turns Gone into Ok(None)"),
        };
        let _ = events.send(ExecEvent::Finished {
            id: step.id.clone(),
            kind: step.kind,
            op,
            outcome: outcome.clone(),
            elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            note,
        });
        results.push(StepResult {
            id: step.id.clone(),
            kind: step.kind,
            op,
            outcome: outcome.clone(),
        });
        let ok = outcome == Outcome::Done;
        let cancelled = outcome == Outcome::Cancelled;
        state[node_idx] = NodeState::Finished(outcome);
        if ok {
            release(node_idx, &graph, &mut preds_left, &mut state, &mut ready);
        } else if !cancelled {
            skip_dependents(
                node_idx,
                &step.id,
                &graph,
                &mut Progress {
                    state: &mut state,
                    preds_left: &mut preds_left,
                    ready: &mut ready,
                },
                plan,
                &events,
                &mut results,
            );
        }
    }

    // Whatever never started was cancelled (or blocked behind a cancelled step). Without a
    // cancel, a step can only be left waiting by a cycle in the run's own graph: a bug, said
    // as such rather than passed off as a cancel.
    let cancelled =
        cancel.is_cancelled() || results.iter().any(|r| r.outcome == Outcome::Cancelled);
    for (node_idx, node) in graph.nodes.iter().enumerate() {
        if matches!(state[node_idx], NodeState::Waiting)
            && let NodeKind::Apply(step_idx) | NodeKind::Delete(step_idx) = *node
        {
            let step = &plan.steps()[step_idx];
            let op = op_of(*node, step.action);
            let outcome = if cancelled {
                Outcome::Cancelled
            } else {
                Outcome::Failed(StepError::new(
                    FailureReason::Internal,
                    "internal error: this step waited on a cycle of steps and never ran (please report this)",
                ))
            };
            results.push(StepResult {
                id: step.id.clone(),
                kind: step.kind,
                op,
                outcome,
            });
        }
    }
    Summary {
        results,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// How long a delete of `kind` may take, retries included: its own timeout, or that of a
/// kind that may use it, if longer. After a killed `down`, the DB subnet group, security
/// groups and subnets are refused while an Aurora cluster or a cache (whose deletes take up to
/// an hour) still holds them: their retries get as long as that teardown may take.
fn delete_timeout(desired: &crate::graph::DesiredGraph, kind: ResourceKind) -> Duration {
    let mut users = vec![kind];
    let mut timeout = desired.timeout(kind);
    while let Some(used) = users.pop() {
        for &user in ResourceKind::ALL {
            if user.referenced_kinds().contains(&used) {
                timeout = timeout.max(desired.timeout(user));
                users.push(user);
            }
        }
    }
    timeout
}

/// What a worker for `node` does: a delete node deletes; an apply node updates or creates.
fn op_of(node: NodeKind, action: Action) -> Op {
    match (node, action) {
        (NodeKind::Delete(_), _) => Op::Delete,
        (_, Action::Update) => Op::Update,
        (_, Action::NoOp) => Op::Wait,
        _ => Op::Create,
    }
}

fn release(
    node_idx: usize,
    graph: &ExecGraph,
    preds_left: &mut [usize],
    state: &mut [NodeState],
    ready: &mut VecDeque<usize>,
) {
    for &succ in &graph.succs[node_idx] {
        preds_left[succ] -= 1;
        if preds_left[succ] == 0 && state[succ] == NodeState::Waiting {
            ready.push_back(succ);
        }
    }
}

/// The dispatcher's bookkeeping that skipping touches.
struct Progress<'a> {
    state: &'a mut [NodeState],
    preds_left: &'a mut [usize],
    ready: &'a mut VecDeque<usize>,
}

/// Skips everything downstream of a failed node, except steps that run after failures
/// ([`crate::model::Kind::runs_after_failure`]): for those the failed or skipped predecessor
/// counts as finished, and they start once all their predecessors have, with what is known of
/// each (the dispatcher skips one that reads something that does not exist).
fn skip_dependents(
    failed: usize,
    failed_id: &LogicalId,
    graph: &ExecGraph,
    progress: &mut Progress<'_>,
    plan: &Plan,
    events: &mpsc::UnboundedSender<ExecEvent>,
    results: &mut Vec<StepResult>,
) {
    let mut stack = graph.succs[failed].clone();
    while let Some(node_idx) = stack.pop() {
        if progress.state[node_idx] != NodeState::Waiting {
            continue;
        }
        if graph.always.contains(&node_idx) {
            progress.preds_left[node_idx] -= 1;
            if progress.preds_left[node_idx] == 0 {
                progress.ready.push_back(node_idx);
            }
            continue;
        }
        let reason = format!("{failed_id} did not succeed");
        progress.state[node_idx] = NodeState::Finished(Outcome::Skipped(reason.clone()));
        if let NodeKind::Apply(step_idx) | NodeKind::Delete(step_idx) = graph.nodes[node_idx] {
            let step = &plan.steps()[step_idx];
            let op = op_of(graph.nodes[node_idx], step.action);
            let outcome = Outcome::Skipped(reason);
            let _ = events.send(ExecEvent::Finished {
                id: step.id.clone(),
                kind: step.kind,
                op,
                outcome: outcome.clone(),
                elapsed_ms: 0,
                note: None,
            });
            results.push(StepResult {
                id: step.id.clone(),
                kind: step.kind,
                op,
                outcome,
            });
        }
        stack.extend(graph.succs[node_idx].iter().copied());
    }
}

/// Why a worker stopped short of its goal.
#[derive(Debug)]
enum Interrupt {
    /// A delete found the resource already gone: that is success.
    Gone,
    /// A retire kept the old copy (a task definition revision kept for rollback): success.
    Kept,
    Cancelled,
    Failed(StepError),
}

/// One step's work, owned by its worker task.
struct Work {
    provider: Arc<dyn Provider>,
    stack: Arc<str>,
    tags: Arc<Tags>,
    id: LogicalId,
    op: Op,
    spec: Option<ResourceSpec>,
    live: Option<Observed>,
    changed: Vec<&'static str>,
    /// A delete that retires the old copy of a create-first replacement.
    retire: bool,
    deps: HashMap<LogicalId, Observed>,
    timeout: Duration,
    poll: PollConfig,
    retry: RetryPolicy,
    events: mpsc::UnboundedSender<ExecEvent>,
    cancel: CancelToken,
}

impl Work {
    /// Ok(Some) after create/update (fresh state), Ok(None) after delete.
    async fn run(self) -> Result<Option<Observed>, Interrupt> {
        let deadline = Instant::now() + self.timeout;
        let ctx = Context {
            stack: &self.stack,
            tags: &self.tags,
            resolved: &self.deps,
        };
        let target = match self.op {
            Op::Create => {
                let spec = self.spec.as_ref().expect("create has a spec");
                self.with_retry(deadline, || self.provider.create(&ctx, &self.id, spec))
                    .await?
            }
            Op::Update => {
                let spec = self.spec.as_ref().expect("update has a spec");
                let live = self.live.as_ref().expect("update has live state");
                self.with_retry(deadline, || {
                    self.provider.update(&ctx, spec, live, &self.changed)
                })
                .await?
            }
            Op::Wait => self.live.clone().expect("a wait has live state"),
            Op::Delete => {
                let live = self.live.as_ref().expect("delete has live state");
                let retiring = self.spec.as_ref().filter(|_| self.retire);
                match self
                    .with_retry(deadline, || async {
                        match retiring {
                            Some(spec) => self.provider.retire(&ctx, spec, live).await,
                            None => self.provider.delete(&ctx, live).await.map(|()| true),
                        }
                    })
                    .await
                {
                    Ok(true) => {}
                    // Kept as history: nothing to wait for.
                    Ok(false) => return Err(Interrupt::Kept),
                    Err(Interrupt::Gone) => return Ok(None),
                    Err(other) => return Err(other),
                }
                live.clone()
            }
        };
        self.wait(&ctx, &target, deadline).await
    }

    async fn with_retry<T, F, Fut>(&self, deadline: Instant, mut call: F) -> Result<T, Interrupt>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 0u32;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(err) if self.op == Op::Delete && err.class == ErrorClass::NotFound => {
                    // Already gone: the goal of a delete.
                    return Err(Interrupt::Gone);
                }
                Err(err) => {
                    attempt += 1;
                    let wait = self.retry.backoff(attempt, self.id.as_str());
                    // A create that left its resource behind is not repeated: that would
                    // make a second one.
                    if let Some(created) = &err.created {
                        let mut err = StepError::from(err.clone());
                        err.message.push_str(&format!(
                            " ({created} was created; the next run finds it and finishes it)"
                        ));
                        return Err(Interrupt::Failed(err));
                    }
                    if !RetryPolicy::should_retry(err.class, self.op)
                        || Instant::now() + wait > deadline
                    {
                        let mut err = StepError::from(err);
                        if err.reason == FailureReason::Provider(ErrorClass::DependencyViolation) {
                            err.message.push_str(" (something still uses it)");
                        }
                        return Err(Interrupt::Failed(err));
                    }
                    tracing::debug!(attempt, error = %err.message, "retrying");
                    let _ = self.events.send(ExecEvent::Retrying {
                        id: self.id.clone(),
                        attempt,
                        error: err.message,
                    });
                    // A delete blocked by a dependency may retry for an hour: Ctrl-C must not
                    // wait for it.
                    let mut cancel = self.cancel.clone();
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = cancel.cancelled() => return Err(Interrupt::Cancelled),
                    }
                }
            }
        }
    }

    async fn wait(
        &self,
        ctx: &Context<'_>,
        target: &Observed,
        deadline: Instant,
    ) -> Result<Option<Observed>, Interrupt> {
        let started = Instant::now();
        let mut last_status;
        loop {
            let readiness = match self.provider.poll(ctx, target).await {
                Ok(r) => r,
                Err(err) if err.class == ErrorClass::NotFound => Readiness::Gone,
                Err(err) if RetryPolicy::should_retry(err.class, Op::Create) => {
                    Readiness::Pending(err.message)
                }
                Err(err) => return Err(Interrupt::Failed(err.into())),
            };
            match (readiness, self.op) {
                (Readiness::Ready(observed), Op::Create | Op::Update | Op::Wait) => {
                    return Ok(Some(observed));
                }
                (Readiness::Gone, Op::Delete) => return Ok(None),
                // AWS APIs are eventually consistent: a describe right after a create may not
                // see the new resource yet.
                (Readiness::Gone, _) if started.elapsed() < VISIBILITY_GRACE => {
                    last_status = "not visible yet".to_string();
                }
                (Readiness::Gone, _) => {
                    return Err(Interrupt::Failed(StepError::new(
                        FailureReason::Disappeared,
                        format!(
                            "{} disappeared while waiting for it to become ready",
                            target.cloud_id
                        ),
                    )));
                }
                (Readiness::Failed(why), _) => {
                    return Err(Interrupt::Failed(StepError::new(
                        FailureReason::ResourceFailed,
                        format!("{} failed: {why}", target.cloud_id),
                    )));
                }
                (Readiness::Pending(status), _) => last_status = status,
                (Readiness::Ready(_), Op::Delete) => last_status = "still exists".to_string(),
            }
            let elapsed = started.elapsed();
            let interval = self.poll.next_interval(elapsed);
            if Instant::now() + interval > deadline {
                return Err(Interrupt::Failed(StepError::new(
                    FailureReason::TimedOut,
                    format!(
                        "timed out after {}s waiting for {} to be {} (last status: {last_status})",
                        elapsed.as_secs(),
                        target.cloud_id,
                        if self.op == Op::Delete {
                            "deleted"
                        } else {
                            "ready"
                        },
                    ),
                )));
            }
            let _ = self.events.send(ExecEvent::Waiting {
                id: self.id.clone(),
                status: last_status.clone(),
                elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            });
            let mut cancel = self.cancel.clone();
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = cancel.cancelled() => return Err(Interrupt::Cancelled),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_interval_grows_with_elapsed_time_and_is_capped() {
        let poll = PollConfig::default();
        assert_eq!(
            poll.next_interval(Duration::ZERO),
            Duration::from_millis(200)
        );
        assert_eq!(
            poll.next_interval(Duration::from_secs(10)),
            Duration::from_secs(1)
        );
        assert_eq!(
            poll.next_interval(Duration::from_secs(3600)),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn backoff_is_bounded() {
        let retry = RetryPolicy::default();
        for attempt in 1..30 {
            let wait = retry.backoff(attempt, "x");
            assert!(wait <= retry.cap, "attempt {attempt}: {wait:?}");
            assert!(wait >= retry.base.min(retry.cap) / 2);
        }
    }
}
