//! Diff of desired against live state, and plan rendering (text familiar to Terraform users,
//! and JSON).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;

use crate::graph::DesiredGraph;
use crate::model::{
    CacheClusterSpec, Compare, DELETION_PROTECTION, DbClusterSpec, EcsClusterSpec, EcsServiceSpec,
    ElasticIpSpec, Field, FileSystemSpec, HostedZoneSpec, LoadBalancerSpec, LogicalId,
    MqBrokerSpec, Mutability, ReplicationGroupSpec, ResourceKind, ResourceSpec, SearchDomainSpec,
    TaskDefinitionSpec, Value, version_at_least,
};
use crate::provider::{Observed, resolve_cloud_refs};

/// What a step does to one resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Nothing to do.
    NoOp,
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Delete, then create (an immutable field changed).
    Replace,
    /// Delete it.
    Delete,
}

/// One changed field. `new == None` means the value is known only after apply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    /// The field name.
    pub field: &'static str,
    /// The live value.
    pub old: Option<Value>,
    /// The new value; `None` when known only after apply.
    pub new: Option<Value>,
    /// The change replaces the resource.
    pub forces_replacement: bool,
    /// Secret: its values are never shown.
    pub sensitive: bool,
}

/// One resource's step in a plan.
#[derive(Clone, Debug)]
pub struct Step {
    /// The resource.
    pub id: LogicalId,
    /// Its kind.
    pub kind: ResourceKind,
    /// What the step does.
    pub action: Action,
    /// For create: every field; for update/replace: the changed ones.
    pub changes: Vec<FieldChange>,
    /// Why a delete or replace happens, in words.
    pub reason: Option<String>,
    /// The stack's spec (none for deletes).
    pub desired: Option<ResourceSpec>,
    /// The live resource (none for creates).
    pub live: Option<Observed>,
}

/// The result of diffing a stack's desired graph against its live resources.
#[derive(Clone, Debug)]
pub struct Plan {
    desired: Arc<DesiredGraph>,
    /// Invariant: creates/updates in dependency order, then deletes.
    steps: Vec<Step>,
    /// The live state the plan was made from, by logical id (duplicates excluded).
    observed: HashMap<LogicalId, Observed>,
    /// Logical ids claimed by more than one live resource.
    duplicates: Vec<Duplicate>,
}

/// A logical id that more than one live resource claims (two runs racing without a lock, a
/// copy made by hand): which copy the plan keeps and which are extra.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Duplicate {
    /// The logical id claimed.
    pub id: LogicalId,
    /// Its kind.
    pub kind: ResourceKind,
    /// The copy kept: the one the stack's other resources use most (then the lowest cloud id).
    pub kept: String,
    /// The other copies.
    pub extra: Vec<String>,
}

impl Duplicate {
    /// "vpc (aws_vpc) is claimed by vpc-1, vpc-2 (kept: vpc-1)".
    pub fn describe(&self) -> String {
        let all: Vec<&str> = std::iter::once(self.kept.as_str())
            .chain(self.extra.iter().map(String::as_str))
            .collect();
        format!(
            "{} ({}) is claimed by {} resources: {} (the stack uses {})",
            self.id,
            self.kind,
            all.len(),
            all.join(", "),
            self.kept
        )
    }
}

/// Counts by action.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    /// Resources to create.
    pub add: usize,
    /// Resources to update in place.
    pub change: usize,
    /// Resources to replace.
    pub replace: usize,
    /// Resources to delete.
    pub destroy: usize,
    /// Resources left as they are.
    pub unchanged: usize,
}

impl Plan {
    /// The order in which this plan's Aurora instance class changes run, when it has any on a
    /// cluster with more than one instance: the readers one at a time, then a failover to the
    /// first of them, then the old writer (docs/resources.md, "Resizing the database"). Each
    /// instance's driver waits for its turn, so the order holds however the steps are run.
    pub fn resize_order(&self) -> Option<String> {
        let mut resized: Vec<&str> = self
            .steps()
            .iter()
            .filter(|s| {
                s.kind == ResourceKind::DbInstance
                    && s.action == Action::Update
                    && s.changes
                        .iter()
                        .any(|c| c.field == crate::model::DbInstanceSpec::INSTANCE_CLASS.name)
            })
            .filter_map(|s| s.live.as_ref().map(|l| l.cloud_id.as_str()))
            .collect();
        if resized.is_empty() {
            return None;
        }
        resized.sort_unstable();
        let writer = self
            .observed()
            .values()
            .find(|o| o.kind == ResourceKind::DbCluster)
            .and_then(|o| o.outputs.get(crate::model::DbClusterSpec::OUT_WRITER))
            .map(String::as_str);
        let readers: Vec<&str> = resized
            .iter()
            .copied()
            .filter(|r| Some(*r) != writer)
            .collect();
        let writer = writer.filter(|w| resized.contains(w));
        Some(match (readers.first(), writer) {
            (Some(first), Some(writer)) => format!(
                "the database is resized without downtime: the readers one at a time ({}), then a failover to {first}, then {writer} (the writer until then)",
                readers.join(", ")
            ),
            (Some(_), None) => format!(
                "the database's readers are resized one at a time ({}); the writer keeps serving",
                readers.join(", ")
            ),
            (None, Some(writer)) => format!(
                "{writer}, the cluster's only instance, is resized in place: the database is unavailable while it restarts (add a reader to resize without downtime)"
            ),
            (None, None) => return None,
        })
    }
}

impl Plan {
    /// The desired graph the plan was made for.
    pub fn desired(&self) -> &Arc<DesiredGraph> {
        &self.desired
    }

    /// The steps: creates and updates in dependency order, then deletes.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The live state the plan was made from.
    pub fn observed(&self) -> &HashMap<LogicalId, Observed> {
        &self.observed
    }

    /// The stack name.
    pub fn stack(&self) -> &str {
        self.desired.stack()
    }

    /// Counts by action.
    pub fn summary(&self) -> PlanSummary {
        let mut s = PlanSummary::default();
        for step in &self.steps {
            match step.action {
                Action::NoOp => s.unchanged += 1,
                Action::Create => s.add += 1,
                Action::Update => s.change += 1,
                Action::Replace => s.replace += 1,
                Action::Delete => s.destroy += 1,
            }
        }
        s
    }

    /// Whether any step does something.
    /// What this plan would lose: each delete or replace of a resource that holds data, with
    /// what it holds as far as the API says (sizes, node and instance counts). Shown before
    /// any confirmation.
    pub fn data_loss(&self) -> Vec<String> {
        self.steps
            .iter()
            .filter(|s| matches!(s.action, Action::Delete | Action::Replace) && s.kind.holds_data())
            .map(|s| {
                let live = s.live.as_ref();
                let cloud_id = live.map_or("", |l| l.cloud_id.as_str());
                let held = live
                    .and_then(|l| l.outputs.get(crate::provider::OUT_DATA))
                    .map_or("its data", String::as_str);
                let verb = if s.action == Action::Delete {
                    "delete"
                } else {
                    "replace"
                };
                format!("{verb} {} ({}, {cloud_id}): {held}", s.id, s.kind)
            })
            .collect()
    }

    /// Logical ids claimed by more than one live resource. `up` must not build on them: the
    /// CLI refuses unless `--dedupe`, and drift reports them as an error.
    pub fn duplicates(&self) -> &[Duplicate] {
        &self.duplicates
    }

    /// Whether any step does something.
    pub fn has_changes(&self) -> bool {
        self.steps.iter().any(|s| s.action != Action::NoOp)
    }

    /// Why this plan must not run as it is: deletes or replaces of deletion-protected resources
    /// (always refused) and of resources holding data (refused unless `allow_data_loss`).
    /// Empty when the plan is safe to apply.
    pub fn refusals(&self, allow_data_loss: bool) -> Vec<String> {
        let mut out = Vec::new();
        for step in &self.steps {
            let verb = match step.action {
                Action::Delete => "delete",
                Action::Replace => "replace",
                _ => continue,
            };
            // Already being deleted: nothing more is lost by waiting for it.
            if step.live.as_ref().is_some_and(Observed::is_deleting) {
                continue;
            }
            let protected = step.live.as_ref().is_some_and(|live| {
                live.fields.get(DELETION_PROTECTION.name) == Some(&Value::Bool(true))
            });
            if protected {
                out.push(format!(
                    "refusing to {verb} {} ({}): deletion protection is on; set `deletion_protection: false` in the stack and run `mck up` first",
                    step.id, step.kind
                ));
            } else if step.kind.holds_data() && !allow_data_loss {
                let why = step.reason.as_deref().unwrap_or("planned");
                out.push(format!(
                    "refusing to {verb} {} ({}), which holds data ({why}); pass --allow-data-loss if that is intended",
                    step.id, step.kind
                ));
            }
        }
        out
    }
}

/// Compares desired with observed. `observed` may contain [`Value::CloudId`] references; they
/// are resolved here.
pub fn diff(desired: Arc<DesiredGraph>, mut observed: Vec<Observed>) -> Plan {
    // One live resource per logical id; extra claimants are duplicates. Chosen on the raw cloud
    // ids, before references become logical ids (see `extra_copies`).
    let extra = extra_copies(&observed);
    resolve_cloud_refs(&mut observed);
    observed.sort_by(|a, b| (&a.id, &a.cloud_id).cmp(&(&b.id, &b.cloud_id)));
    let mut by_id: HashMap<LogicalId, Observed> = HashMap::with_capacity(observed.len());
    let mut duplicates = Vec::new();
    for o in observed {
        if extra.contains(&(o.kind, o.cloud_id.clone())) {
            duplicates.push(o);
        } else {
            by_id.insert(o.id.clone(), o);
        }
    }
    let claims: Vec<Duplicate> = {
        let mut claims: Vec<Duplicate> = Vec::new();
        for d in &duplicates {
            match claims.iter_mut().find(|c| c.id == d.id) {
                Some(claim) => claim.extra.push(d.cloud_id.clone()),
                None => claims.push(Duplicate {
                    id: d.id.clone(),
                    kind: d.kind,
                    kept: by_id
                        .get(&d.id)
                        .map(|o| o.cloud_id.clone())
                        .unwrap_or_default(),
                    extra: vec![d.cloud_id.clone()],
                }),
            }
        }
        claims
    };

    let mut steps = Vec::with_capacity(desired.len() + duplicates.len());
    let mut actions: HashMap<&LogicalId, Action> = HashMap::with_capacity(desired.len());
    for resource in desired.iter() {
        let fields = resource.spec.fields();
        let step = match by_id.get(&resource.id) {
            None => Step {
                id: resource.id.clone(),
                kind: resource.kind(),
                action: Action::Create,
                changes: fields
                    .iter()
                    .map(|f| FieldChange {
                        field: f.name,
                        old: None,
                        new: known(&f.value, &actions, &by_id),
                        forces_replacement: false,
                        sensitive: f.sensitive,
                    })
                    .collect(),
                reason: None,
                desired: Some(resource.spec.clone()),
                live: None,
            },
            Some(live) => {
                let changes: Vec<FieldChange> = fields
                    .iter()
                    .filter_map(|f| compare(f, live, &actions, &by_id))
                    .collect();
                let replace_reason = changes
                    .iter()
                    .filter(|c| c.forces_replacement)
                    .map(|c| c.field)
                    .collect::<Vec<_>>();
                let action = if !replace_reason.is_empty() || live.is_deleting() {
                    Action::Replace
                } else if !changes.is_empty() {
                    Action::Update
                } else {
                    Action::NoOp
                };
                Step {
                    id: resource.id.clone(),
                    kind: resource.kind(),
                    action,
                    changes,
                    reason: if live.is_deleting() {
                        Some("being deleted (by an earlier run): made again once it is gone".into())
                    } else {
                        (!replace_reason.is_empty()).then(|| {
                            format!("{} cannot be changed in place", replace_reason.join(", "))
                        })
                    },
                    desired: Some(resource.spec.clone()),
                    live: Some(live.clone()),
                }
            }
        };
        actions.insert(&resource.id, step.action);
        steps.push(step);
    }

    // Deletes: resources of the stack the graph does not contain, and duplicates.
    let mut deletes: Vec<Step> = by_id
        .values()
        .filter(|o| desired.get(&o.id).is_none())
        .map(|o| delete_step(o, "not in the stack's desired state".to_string()))
        .collect();
    deletes.extend(duplicates.iter().map(|o| {
        delete_step(
            o,
            format!("duplicate: another {} also claims mck:id {}", o.kind, o.id),
        )
    }));
    // Dependents before what they depend on.
    deletes.sort_by(|a, b| {
        let rank = |k: ResourceKind| ResourceKind::ALL.iter().position(|&x| x == k);
        rank(b.kind)
            .cmp(&rank(a.kind))
            .then_with(|| a.id.cmp(&b.id))
    });
    steps.extend(deletes);
    Plan {
        desired,
        steps,
        observed: by_id,
        duplicates: claims,
    }
}

/// The copies to drop where several live resources claim one logical id, as (kind, cloud id).
///
/// Resources that reference each other form groups (a run that built a VPC built its subnets,
/// tables, routes, NAT gateways and their addresses, all referencing one another); two runs
/// racing leave two such groups. The largest group (then the one holding the lowest cloud id)
/// is kept whole, so the copies kept never reference copies dropped. Within a group, or
/// between copies of no group, the copy the rest of the stack references most is kept, then
/// the lowest cloud id (describe APIs give no creation time for most EC2 kinds).
fn extra_copies(observed: &[Observed]) -> std::collections::HashSet<(ResourceKind, String)> {
    fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
        match value {
            Value::CloudId(id) | Value::CloudRef(_, id) => out.push(id.as_str()),
            Value::List(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    fn referenced(o: &Observed) -> Vec<&str> {
        let mut out = Vec::new();
        o.fields.values().for_each(|v| refs(v, &mut out));
        out
    }
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut extra: std::collections::HashSet<(ResourceKind, String)> = Default::default();
    let mut groups: HashMap<(ResourceKind, &LogicalId), Vec<usize>> = HashMap::new();
    for (i, o) in observed.iter().enumerate() {
        groups.entry((o.kind, &o.id)).or_default().push(i);
    }
    if groups.values().all(|copies| copies.len() == 1) {
        return extra;
    }
    // Groups of resources connected by references (union-find over cloud ids).
    let mut by_cloud_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, o) in observed.iter().enumerate() {
        by_cloud_id.entry(o.cloud_id.as_str()).or_default().push(i);
    }
    let mut parent: Vec<usize> = (0..observed.len()).collect();
    let mut uses: HashMap<&str, usize> = HashMap::new();
    for (i, o) in observed.iter().enumerate() {
        for r in referenced(o) {
            *uses.entry(r).or_default() += 1;
            for &j in by_cloud_id.get(r).map(Vec::as_slice).unwrap_or(&[]) {
                let (a, b) = (find(&mut parent, i), find(&mut parent, j));
                parent[a] = b;
            }
        }
    }
    let mut size: HashMap<usize, usize> = HashMap::new();
    let mut lowest: HashMap<usize, &str> = HashMap::new();
    for (i, o) in observed.iter().enumerate() {
        let root = find(&mut parent, i);
        *size.entry(root).or_default() += 1;
        let low = lowest.entry(root).or_insert(o.cloud_id.as_str());
        if o.cloud_id.as_str() < *low {
            *low = o.cloud_id.as_str();
        }
    }
    // Parents before children (kinds in dependency order), so a child's copy can follow the
    // copy of its parent that is kept: when two runs shared one VPC, all copies are in one
    // group, and a route kept in the route table deleted as extra would go with it.
    let mut duplicated: Vec<&Vec<usize>> = groups.values().filter(|c| c.len() > 1).collect();
    duplicated.sort_by_key(|copies| {
        let o = &observed[copies[0]];
        (
            ResourceKind::ALL.iter().position(|k| *k == o.kind),
            o.id.clone(),
        )
    });
    let mut extra_ids: std::collections::HashSet<&str> = Default::default();
    for copies in duplicated {
        // Best first: the copy that references no extra copy, then the largest group, then
        // the group with the lowest id, then the most used copy, then the lowest id.
        let mut ranked: Vec<usize> = copies.clone();
        type Key = (
            usize,
            std::cmp::Reverse<usize>,
            String,
            std::cmp::Reverse<usize>,
        );
        let keys: HashMap<usize, Key> = copies
            .iter()
            .map(|&i| {
                let root = find(&mut parent, i);
                let o = &observed[i];
                let used = uses.get(o.cloud_id.as_str()).copied().unwrap_or(0);
                let on_extra = referenced(o)
                    .iter()
                    .filter(|r| extra_ids.contains(*r))
                    .count();
                (
                    i,
                    (
                        on_extra,
                        std::cmp::Reverse(size[&root]),
                        lowest[&root].to_string(),
                        std::cmp::Reverse(used),
                    ),
                )
            })
            .collect();
        ranked.sort_by(|a, b| {
            (&keys[a], &observed[*a].cloud_id).cmp(&(&keys[b], &observed[*b].cloud_id))
        });
        for &i in &ranked[1..] {
            extra.insert((observed[i].kind, observed[i].cloud_id.clone()));
            extra_ids.insert(observed[i].cloud_id.as_str());
        }
    }
    // What references an extra copy goes with it, even when it has no copy of its own (a route
    // only one run made, in the table deleted as extra: AWS deletes it with its table). It is
    // planned again on what is kept; left as live it would read as done and `up --dedupe`
    // would end short of it (found by the e2e race test).
    loop {
        let dependents: Vec<usize> = observed
            .iter()
            .enumerate()
            .filter(|(_, o)| !extra_ids.contains(o.cloud_id.as_str()))
            .filter(|(_, o)| referenced(o).iter().any(|r| extra_ids.contains(*r)))
            .map(|(i, _)| i)
            .collect();
        if dependents.is_empty() {
            break;
        }
        for i in dependents {
            extra.insert((observed[i].kind, observed[i].cloud_id.clone()));
            extra_ids.insert(observed[i].cloud_id.as_str());
        }
    }
    extra
}

fn delete_step(o: &Observed, reason: String) -> Step {
    Step {
        id: o.id.clone(),
        kind: o.kind,
        action: Action::Delete,
        changes: Vec::new(),
        reason: Some(reason),
        desired: None,
        live: Some(o.clone()),
    }
}

/// The desired value, or `None` when it references a resource that will get a new id, or an
/// output that exists only after apply.
fn known(
    value: &Value,
    actions: &HashMap<&LogicalId, Action>,
    live: &HashMap<LogicalId, Observed>,
) -> Option<Value> {
    match value {
        Value::Ref(_, id) => match actions.get(id) {
            Some(Action::Create | Action::Replace) => None,
            _ => Some(value.clone()),
        },
        Value::Output(_, id, name) => match actions.get(id) {
            Some(Action::Create | Action::Replace) => None,
            _ => live
                .get(id)
                .and_then(|o| o.outputs.get(*name))
                .map(|v| Value::Str(v.clone())),
        },
        Value::List(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                // A row inside a list keeps its order (`[container, setting, value]`).
                out.push(match item {
                    Value::List(row) => Value::List(
                        row.iter()
                            .map(|v| known(v, actions, live))
                            .collect::<Option<Vec<_>>>()?,
                    ),
                    other => known(other, actions, live)?,
                });
            }
            out.sort();
            Some(Value::List(out))
        }
        _ => Some(value.clone()),
    }
}

fn compare(
    field: &Field,
    live: &Observed,
    actions: &HashMap<&LogicalId, Action>,
    all_live: &HashMap<LogicalId, Observed>,
) -> Option<FieldChange> {
    if field.mutability == Mutability::CreateOnly {
        return None;
    }
    let old = live.fields.get(field.name).cloned().unwrap_or(Value::Null);
    let new = known(&field.value, actions, all_live);
    if new.as_ref() == Some(&old) {
        return None;
    }
    if let (Compare::AtLeastVersion, Value::Str(have), Some(Value::Str(want))) =
        (field.compare, &old, &new)
        && version_at_least(have, want)
    {
        return None;
    }
    Some(FieldChange {
        field: field.name,
        old: Some(old),
        new,
        forces_replacement: field.mutability == Mutability::Immutable,
        sensitive: field.sensitive,
    })
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn render_value(value: &Value, observed: &HashMap<LogicalId, Observed>) -> String {
    match value {
        Value::Ref(_, id) => match observed.get(id) {
            Some(o) => format!("\"{}\"", o.cloud_id),
            None => format!("{id}.id"),
        },
        Value::List(items) => {
            let parts: Vec<String> = items.iter().map(|v| render_value(v, observed)).collect();
            format!("[{}]", parts.join(", "))
        }
        other => other.to_string(),
    }
}

impl Plan {
    /// A value as the text plan shows it: references as the live cloud id when known.
    pub fn display_value(&self, value: &Value) -> String {
        render_value(value, &self.observed)
    }

    /// Text rendering in the style of `terraform plan`.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let changed: Vec<&Step> = self
            .steps
            .iter()
            .filter(|s| s.action != Action::NoOp)
            .collect();
        // Unchanged resources that are not usable yet (a run was killed while waiting).
        let mut pending = String::new();
        for step in self.steps.iter().filter(|s| s.action == Action::NoOp) {
            if let Some(status) = step.live.as_ref().and_then(|l| l.pending.as_deref()) {
                let _ = writeln!(
                    pending,
                    "  # {} is {status}: up waits for it before what needs it",
                    step.id
                );
            }
        }
        if changed.is_empty() {
            out.push_str(&pending);
            let _ = writeln!(
                out,
                "No changes. Stack {} matches its {} live resources.",
                self.stack(),
                self.summary().unchanged
            );
            return out;
        }
        let _ = writeln!(
            out,
            "mck will perform the following actions on stack {}:\n",
            self.stack()
        );
        if !pending.is_empty() {
            let _ = writeln!(out, "{pending}");
        }
        for step in changed {
            let (verb, sigil) = match step.action {
                Action::Create => ("will be created", "  +"),
                Action::Update => ("will be updated in-place", "  ~"),
                Action::Replace => ("must be replaced", "-/+"),
                Action::Delete => ("will be destroyed", "  -"),
                Action::NoOp => unreachable!("filtered above"),
            };
            let _ = writeln!(out, "  # {} {verb}", step.id);
            if let Some(reason) = &step.reason {
                let _ = writeln!(out, "  # ({reason})");
            }
            let _ = writeln!(out, "{sigil} resource \"{}\" \"{}\" {{", step.kind, step.id);
            let width = step
                .changes
                .iter()
                .map(|c| c.field.len())
                .max()
                .unwrap_or(0)
                .max(2);
            match step.action {
                Action::Create => {
                    for c in &step.changes {
                        let _ =
                            writeln!(out, "      + {:width$} = {}", c.field, self.render_new(c));
                    }
                    let _ = writeln!(out, "      + {:width$} = (known after apply)", "id");
                }
                Action::Update | Action::Replace => {
                    if let Some(live) = &step.live {
                        let _ = writeln!(out, "        {:width$} = \"{}\"", "id", live.cloud_id);
                    }
                    for c in &step.changes {
                        let old = match (&c.old, c.sensitive) {
                            (_, true) => "(sensitive value)".to_string(),
                            (Some(v), false) => render_value(v, &self.observed),
                            (None, false) => "null".to_string(),
                        };
                        let tail = if c.forces_replacement && step.action == Action::Replace {
                            " # forces replacement"
                        } else {
                            ""
                        };
                        // A list of rows (a task definition's container settings): only the
                        // rows that differ.
                        if let (Some(Value::List(was)), Some(Value::List(now)), false) =
                            (&c.old, &c.new, c.sensitive)
                            && was.iter().chain(now).all(|v| matches!(v, Value::List(_)))
                        {
                            let _ = writeln!(out, "      ~ {:width$} = [{tail}", c.field);
                            for row in was.iter().filter(|r| !now.contains(r)) {
                                let _ = writeln!(
                                    out,
                                    "          - {}",
                                    render_value(row, &self.observed)
                                );
                            }
                            for row in now.iter().filter(|r| !was.contains(r)) {
                                let _ = writeln!(
                                    out,
                                    "          + {}",
                                    render_value(row, &self.observed)
                                );
                            }
                            let _ = writeln!(out, "        ]");
                            continue;
                        }
                        let _ = writeln!(
                            out,
                            "      ~ {:width$} = {old} -> {}{tail}",
                            c.field,
                            self.render_new(c)
                        );
                    }
                }
                Action::Delete => {
                    if let Some(live) = &step.live {
                        let _ = writeln!(out, "      - {:width$} = \"{}\"", "id", live.cloud_id);
                    }
                }
                Action::NoOp => {}
            }
            out.push_str("    }\n\n");
        }
        let s = self.summary();
        let _ = writeln!(
            out,
            "Plan: {} to add, {} to change, {} to replace, {} to destroy.",
            s.add, s.change, s.replace, s.destroy
        );
        out
    }

    fn render_new(&self, change: &FieldChange) -> String {
        match (&change.new, change.sensitive) {
            (_, true) => "(sensitive value)".to_string(),
            (None, false) => "(known after apply)".to_string(),
            (Some(v), false) => render_value(v, &self.observed),
        }
    }

    /// Machine-readable plan.
    pub fn to_json(&self) -> serde_json::Value {
        let steps: Vec<serde_json::Value> = self
            .steps
            .iter()
            .filter(|s| s.action != Action::NoOp)
            .map(|s| {
                let changes: Vec<serde_json::Value> = s
                    .changes
                    .iter()
                    .map(|c| {
                        serde_json::json!({
                            "field": c.field,
                            "old": if c.sensitive { None } else { c.old.as_ref().map(|v| json_value(v, &self.observed)) },
                            "new": if c.sensitive { None } else { c.new.as_ref().map(|v| json_value(v, &self.observed)) },
                            "known_after_apply": c.new.is_none(),
                            "forces_replacement": c.forces_replacement,
                            "sensitive": c.sensitive,
                        })
                    })
                    .collect();
                serde_json::json!({
                    "id": s.id,
                    "kind": s.kind.name(),
                    "action": s.action,
                    "cloud_id": s.live.as_ref().map(|l| l.cloud_id.as_str()),
                    "reason": s.reason,
                    "changes": changes,
                })
            })
            .collect();
        serde_json::json!({
            "stack": self.stack(),
            "summary": self.summary(),
            "changes": self.has_changes(),
            "steps": steps,
        })
    }
}

fn json_value(value: &Value, observed: &HashMap<LogicalId, Observed>) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Str(s) | Value::CloudId(s) | Value::CloudRef(_, s) => s.as_str().into(),
        Value::List(items) => items.iter().map(|v| json_value(v, observed)).collect(),
        Value::Ref(_, id) => match observed.get(id) {
            Some(o) => o.cloud_id.as_str().into(),
            None => serde_json::json!({ "ref": id }),
        },
        Value::Output(_, id, name) => serde_json::json!({ "output": format!("{id}.{name}") }),
    }
}

/// Every output of every live resource, as `<logical id>.<output>` (and `<id>.id` for the
/// cloud id of taggable resources): what `mck outputs --all` prints.
pub fn all_outputs(observed: &[Observed]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for o in observed {
        if o.kind.is_taggable() {
            out.insert(format!("{}.id", o.id), o.cloud_id.clone());
        }
        // Names starting with `_` are provider bookkeeping (e.g. a pending change id).
        for (name, value) in o.outputs.iter().filter(|(name, _)| !name.starts_with('_')) {
            out.insert(format!("{}.{name}", o.id), value.clone());
        }
    }
    out
}

/// What an operator wants first, under short names: where to connect (database, caches, search,
/// broker, file system, bastion, load balancer), the secret holding the DB password, the cluster. What
/// `mck outputs` prints; [`all_outputs`] has the rest. Per-entry names (`redis_session_…`,
/// `admin_…`) are the stack entries lowering recorded for each resource
/// ([`Declared::entry`](crate::graph::Declared::entry)); live resources the stack no longer
/// declares have none here.
pub fn outputs(desired: &DesiredGraph, observed: &[Observed]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |key: String, value: Option<&String>| {
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            out.insert(key, value.clone());
        }
    };
    for o in observed {
        let output = |name: &str| o.outputs.get(name);
        let id = o.id.as_str();
        let declared = desired.declared_at(&o.id);
        let entry = declared.and_then(|d| d.entry());
        // The name of an ECS service's outputs: the app's (`admin`), `cron`, `worker_<name>`.
        let task = declared.and_then(|d| match d.path(None) {
            [section, name, ..] if section == "apps" => Some(name.clone()),
            [section, name, ..] if section == "workers" => Some(format!("worker_{name}")),
            [section, ..] if section == "cron" => Some("cron".to_string()),
            _ => None,
        });
        match (o.kind, entry) {
            (ResourceKind::Vpc, _) => put("vpc_id".into(), Some(&o.cloud_id)),
            (ResourceKind::ElasticIp, _) if id == "eip.bastion" => {
                put(
                    "bastion_public_ip".into(),
                    output(ElasticIpSpec::OUT_PUBLIC_IP),
                );
            }
            (ResourceKind::DbCluster, _) => {
                put("db_endpoint".into(), output(DbClusterSpec::OUT_ENDPOINT));
                put(
                    "db_reader_endpoint".into(),
                    output(DbClusterSpec::OUT_READER_ENDPOINT),
                );
                put(
                    "db_secret_arn".into(),
                    output(DbClusterSpec::OUT_SECRET_ARN),
                );
            }
            (ResourceKind::ReplicationGroup, Some(name)) => {
                put(
                    format!("redis_{name}_endpoint"),
                    output(ReplicationGroupSpec::OUT_PRIMARY_ENDPOINT),
                );
            }
            (ResourceKind::CacheCluster, Some(name)) => {
                put(
                    format!("memcached_{name}_endpoint"),
                    output(CacheClusterSpec::OUT_ENDPOINT),
                );
            }
            (ResourceKind::FileSystem, _) => {
                put("efs_id".into(), Some(&o.cloud_id));
                put("efs_dns_name".into(), output(FileSystemSpec::OUT_DNS_NAME));
            }
            (ResourceKind::HostedZone, _) => {
                put("dns_zone".into(), output(HostedZoneSpec::OUT_NAME));
            }
            (ResourceKind::EcsCluster, _) => {
                put("ecs_cluster".into(), output(EcsClusterSpec::OUT_NAME))
            }
            (ResourceKind::EcsService, _) if let Some(app) = &task => {
                put(format!("{app}_service"), output(EcsServiceSpec::OUT_NAME));
            }
            (ResourceKind::TaskDefinition, _) if let Some(app) = &task => {
                // `family:revision`, the last part of the ARN.
                let revision = o.cloud_id.rsplit('/').next().map(str::to_string);
                put(format!("{app}_task_definition"), revision.as_ref());
                // The release the containers were given (`REVISION`), from any container.
                let release = match o.fields.get(TaskDefinitionSpec::CONTAINERS.name) {
                    Some(Value::List(rows)) => rows.iter().find_map(|row| match row {
                        Value::List(cells) => match cells.as_slice() {
                            [_, Value::Str(key), Value::Str(value)]
                                if key == "environment.REVISION" =>
                            {
                                Some(value.clone())
                            }
                            _ => None,
                        },
                        _ => None,
                    }),
                    _ => None,
                };
                put(format!("{app}_revision"), release.as_ref());
            }
            (ResourceKind::SearchDomain, _) => {
                put(
                    "search_endpoint".into(),
                    output(SearchDomainSpec::OUT_ENDPOINT),
                );
            }
            (ResourceKind::MqBroker, _) => {
                put("queue_endpoint".into(), output(MqBrokerSpec::OUT_ENDPOINT));
            }
            (ResourceKind::LoadBalancer, _) => {
                put(
                    "alb_dns_name".into(),
                    output(LoadBalancerSpec::OUT_DNS_NAME),
                );
            }
            (ResourceKind::Secret, _) if id == crate::lower::ADMIN_SECRET_ID => {
                put(
                    "admin_password_secret".into(),
                    o.outputs.get(crate::model::SecretSpec::OUT_ARN),
                );
            }
            _ => {}
        }
    }
    // Where the shop is: the base URL the install gave Magento (the stack's `app.base_url`,
    // else the load balancer's name), and its admin panel.
    let install = desired.get(&LogicalId::new(crate::lower::INSTALL_TASKDEF_ID));
    if let Some(ResourceSpec::TaskDefinition(td)) = install.map(|r| &r.spec)
        && let Some(container) = td.containers.first()
    {
        let env = |key: &str| match container.environment.get(key) {
            Some(Value::Str(v)) => Some(v.clone()),
            _ => None,
        };
        let storefront = env("MAGENTO_BASE_URL")
            .or_else(|| out.get("alb_dns_name").map(|dns| format!("http://{dns}/")));
        if let Some(storefront) = storefront {
            let storefront = format!("{}/", storefront.trim_end_matches('/'));
            if let Some(path) = env("MCK_BACKEND_FRONTNAME") {
                out.insert("admin_url".into(), format!("{storefront}{path}"));
            }
            out.insert("storefront_url".into(), storefront);
        }
    }
    out
}

mod summary;
pub use summary::SMALL_PLAN;

#[cfg(test)]
mod tests;
