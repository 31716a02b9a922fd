//! The executor: runs a [`Plan`] against a [`Provider`] concurrently in dependency order.
//!
//! A dispatcher owns all run state (what is ready, running, done); workers run one step each
//! (call, retry, wait for readiness) and report back. Deletes run in reverse dependency order
//! through one barrier per kind. A failed step skips its dependents; independent branches go on.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument as _;

use crate::graph::DesiredGraph;
use crate::model::{LogicalId, ReplacePolicy, ResourceKind, ResourceSpec, Tags};
use crate::plan::{Plan, Step};
use crate::provider::{Observed, Provider};

mod graph;
#[cfg(test)]
mod tests;
mod types;
mod worker;

use graph::{
    ExecGraph, NodeKind, NodeState, Progress, delete_timeout, op_of, skip_dependents,
    unblock_successors,
};
pub use types::*;
use worker::{Interrupt, Work};

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
    let settled = settle(work.run().await);
    finish(
        &id,
        kind,
        Op::Update,
        settled.outcome,
        settled.note,
        t0.elapsed(),
        &events,
    )
}

/// What a worker's result means for its step, read one way for a plan's steps and for
/// [`run_update`].
struct Settled {
    outcome: Outcome,
    /// The text shown under the finished step ([`crate::provider::NOTE`]).
    note: Option<String>,
    /// The resource's fresh state after a create, update or wait; none after a delete.
    observed: Option<Observed>,
}

fn settle(result: Result<Option<Observed>, Interrupt>) -> Settled {
    let (outcome, note, observed) = match result {
        Ok(Some(observed)) => (
            Outcome::Done,
            // An empty note is no note.
            observed
                .outputs
                .get(crate::provider::NOTE)
                .filter(|note| !note.is_empty())
                .cloned(),
            Some(observed),
        ),
        Ok(None) => (Outcome::Done, None, None),
        // Only a delete finds its resource gone, and that is its goal. (An update whose
        // resource vanished fails in the readiness wait, as `Disappeared`.)
        Err(Interrupt::Gone) => (Outcome::Done, None, None),
        Err(Interrupt::Kept) => (
            Outcome::Done,
            Some("kept registered for rollback (release.keep_revisions)".to_string()),
            None,
        ),
        Err(Interrupt::Cancelled) => (Outcome::Cancelled, None, None),
        Err(Interrupt::Failed(err)) => (Outcome::Failed(err), None, None),
    };
    Settled {
        outcome,
        note,
        observed,
    }
}

/// Reports a finished step and returns its result.
fn finish(
    id: &LogicalId,
    kind: ResourceKind,
    op: Op,
    outcome: Outcome,
    note: Option<String>,
    elapsed: Duration,
    events: &mpsc::UnboundedSender<ExecEvent>,
) -> StepResult {
    let _ = events.send(ExecEvent::Finished {
        id: id.clone(),
        kind,
        op,
        outcome: outcome.clone(),
        elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        note,
    });
    StepResult {
        id: id.clone(),
        kind,
        op,
        outcome,
    }
}

/// A step of the run that has ended, however it ended.
struct Ended {
    node_idx: usize,
    op: Op,
    outcome: Outcome,
    note: Option<String>,
    elapsed: Duration,
}

/// The one bookkeeping path of an ended step: reports it, records its result and moves the run
/// on: its successors become ready when it is done, its dependents are skipped when it failed
/// or was skipped (after a cancel nothing new starts anyway).
fn conclude(
    ended: Ended,
    step: &Step,
    graph: &ExecGraph,
    progress: &mut Progress<'_>,
    plan: &Plan,
    events: &mpsc::UnboundedSender<ExecEvent>,
    results: &mut Vec<StepResult>,
) {
    let Ended {
        node_idx,
        op,
        outcome,
        note,
        elapsed,
    } = ended;
    results.push(finish(
        &step.id,
        step.kind,
        op,
        outcome.clone(),
        note,
        elapsed,
        events,
    ));
    let done = outcome == Outcome::Done;
    let cancelled = outcome == Outcome::Cancelled;
    // An in-place update that failed leaves the resource as it was, with the outputs it had:
    // what only passes those on (a task definition giving the apps a Redis endpoint) goes on
    // with them, so a change refused to one resource does not hold back a release that only
    // reads it.
    let still_there = op == Op::Update
        && matches!(&outcome, Outcome::Failed(err) if matches!(
            err.reason,
            FailureReason::Provider(_) | FailureReason::TimedOut | FailureReason::ResourceFailed
        ));
    progress.state[node_idx] = NodeState::Finished(outcome);
    if done {
        unblock_successors(
            node_idx,
            graph,
            progress.preds_left,
            progress.state,
            progress.ready,
        );
    } else if !cancelled {
        // The direct dependents that only pass the failed resource's outputs on count it as
        // finished; the others are skipped, and what depends on them.
        let mut skipped = Vec::new();
        for &succ in &graph.succs[node_idx] {
            let passes = still_there
                && progress.state[succ] == NodeState::Waiting
                && !graph.always.contains(&succ)
                && matches!(graph.nodes[succ], NodeKind::Apply(step_idx)
                    if plan.steps()[step_idx]
                        .desired
                        .as_ref()
                        .is_some_and(|spec| spec.uses_only_outputs_of(&step.id)));
            if passes {
                progress.preds_left[succ] -= 1;
                if progress.preds_left[succ] == 0 {
                    progress.ready.push_back(succ);
                }
            } else {
                skipped.push(succ);
            }
        }
        skip_dependents(skipped, &step.id, graph, progress, plan, events, results);
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
                    unblock_successors(node_idx, &graph, &mut preds_left, &mut state, &mut ready);
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
                        let ended = Ended {
                            node_idx,
                            op,
                            outcome,
                            note: None,
                            elapsed: Duration::ZERO,
                        };
                        let mut progress = Progress {
                            state: &mut state,
                            preds_left: &mut preds_left,
                            ready: &mut ready,
                        };
                        conclude(
                            ended,
                            step,
                            &graph,
                            &mut progress,
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
        let settled = settle(result);
        match settled.observed {
            Some(observed) => {
                resolved.insert(step.id.clone(), observed);
            }
            None if op == Op::Delete && settled.outcome == Outcome::Done => {
                // After a create-first replacement the id already names the new resource.
                let deleted = step.live.as_ref().map(|o| o.cloud_id.as_str());
                if resolved.get(&step.id).map(|o| o.cloud_id.as_str()) == deleted {
                    resolved.remove(&step.id);
                }
            }
            None => {}
        }
        let ended = Ended {
            node_idx,
            op,
            outcome: settled.outcome,
            note: settled.note,
            elapsed,
        };
        let mut progress = Progress {
            state: &mut state,
            preds_left: &mut preds_left,
            ready: &mut ready,
        };
        conclude(
            ended,
            step,
            &graph,
            &mut progress,
            plan,
            &events,
            &mut results,
        );
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
