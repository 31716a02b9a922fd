//! The run's own graph: one node per step (and a barrier per kind of delete), and the
//! bookkeeping the dispatcher does on it: unblocking successors, skipping dependents.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use tokio::sync::mpsc;

use crate::model::{LogicalId, ReplacePolicy, ResourceKind, ResourceSpec};
use crate::plan::{Action, Plan};

use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NodeKind {
    /// Create or update the step's resource.
    Apply(usize),
    /// Delete the step's live resource.
    Delete(usize),
    /// Completes when every delete of this kind has.
    Barrier(ResourceKind),
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum NodeState {
    Waiting,
    Running,
    Finished(Outcome),
}

pub(super) struct ExecGraph {
    pub(super) nodes: Vec<NodeKind>,
    /// Delete nodes that retire the old copy of a create-first replacement.
    pub(super) retiring: std::collections::HashSet<usize>,
    /// Apply nodes that run after their predecessors finish, failed or not.
    pub(super) always: std::collections::HashSet<usize>,
    pub(super) preds_left: Vec<usize>,
    pub(super) succs: Vec<Vec<usize>>,
}

impl ExecGraph {
    /// `policy` says, per kind, whether a replacement deletes first or creates first.
    pub(super) fn new(plan: &Plan, policy: &dyn Fn(ResourceKind) -> ReplacePolicy) -> ExecGraph {
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
                    // One being deleted already is waited for first (its name may be taken
                    // until it is gone).
                    let deleting = step.live.as_ref().is_some_and(Observed::is_deleting);
                    if policy(step.kind) == ReplacePolicy::CreateFirst
                        && !needs_delete_first
                        && !deleting
                    {
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
        // A resource made again while a copy of it goes (an extra copy of a duplicate, made
        // again on the copies that are kept) waits for that copy to be gone: the old copy may
        // hold what the new one takes (a NAT gateway the Elastic IP it is to use, which AWS
        // refuses while associated).
        for (&step_idx, &del) in &delete_node {
            let step = &plan.steps()[step_idx];
            if step.action == Action::Delete
                && let Some(&apply) = apply_node.get(&step.id)
                && plan
                    .steps()
                    .iter()
                    .any(|s| s.id == step.id && s.action == Action::Create)
            {
                edges.push((del, apply));
            }
        }
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

/// How long a delete of `kind` may take, retries included: its own timeout, or that of a
/// kind that may use it, if longer. After a killed `down`, the DB subnet group, security
/// groups and subnets are refused while an Aurora cluster or a cache (whose deletes take up to
/// an hour) still holds them: their retries get as long as that teardown may take.
pub(super) fn delete_timeout(desired: &crate::graph::DesiredGraph, kind: ResourceKind) -> Duration {
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
pub(super) fn op_of(node: NodeKind, action: Action) -> Op {
    match (node, action) {
        (NodeKind::Delete(_), _) => Op::Delete,
        (_, Action::Update) => Op::Update,
        (_, Action::NoOp) => Op::Wait,
        _ => Op::Create,
    }
}

/// A finished node no longer holds its successors back; those left without a predecessor
/// become ready.
pub(super) fn unblock_successors(
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
pub(super) struct Progress<'a> {
    pub(super) state: &'a mut [NodeState],
    pub(super) preds_left: &'a mut [usize],
    pub(super) ready: &'a mut VecDeque<usize>,
}

/// Skips `start`, the successors of a failed node, and everything downstream of them, except
/// steps that run after failures ([`crate::model::Kind::runs_after_failure`]): for those the
/// failed or skipped predecessor counts as finished, and they start once all their
/// predecessors have, with what is known of each (the dispatcher skips one that reads
/// something that does not exist).
pub(super) fn skip_dependents(
    start: Vec<usize>,
    failed_id: &LogicalId,
    graph: &ExecGraph,
    progress: &mut Progress<'_>,
    plan: &Plan,
    events: &mpsc::UnboundedSender<ExecEvent>,
    results: &mut Vec<StepResult>,
) {
    let mut stack = start;
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
            results.push(super::finish(
                &step.id,
                step.kind,
                op,
                Outcome::Skipped(reason),
                None,
                Duration::ZERO,
                events,
            ));
        }
        stack.extend(graph.succs[node_idx].iter().copied());
    }
}
