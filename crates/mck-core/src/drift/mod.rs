//! Drift: does the live stack still match its file? A typed, versioned report ([`DriftReport`])
//! made from the same diff as `plan` (so nothing AWS fills in counts as drift), plus what sits
//! untagged inside the stack's resources, with one renderer per format ([`Format`]).
//!
//! Drift needs only a [`Reader`], the read side of a provider: it cannot change anything.
//!
//! ```no_run
//! # async fn run(reader: &dyn mck_core::provider::Reader) -> Result<(), Box<dyn std::error::Error>> {
//! use mck_core::drift::{self, Format};
//! let stack = mck_core::stack::load(std::path::Path::new("stacks"), "prod")?;
//! let report = drift::DriftReport::new(vec![drift::check(reader, &stack, &drift::today_utc()).await]);
//! print!("{}", report.render(Format::Markdown));
//! std::process::exit(i32::from(report.exit_code()));
//! # }
//! ```

mod junit;
mod markdown;
mod sarif;
mod text;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::model::{LogicalId, Mutability, ResourceKind};
use crate::plan::{Action, Plan};
use crate::provider::{Observed, ProviderError, Reader, Unmanaged, Who, resolve_cloud_refs};
use crate::stack::{Diagnostic, Stack, Suppression};
pub use crate::time::{parse_date, today_utc};

/// The version of the JSON report (`version` in it); bumped on any incompatible change.
/// The schema is `docs/drift.schema.json`, described in docs/drift.md.
pub const REPORT_VERSION: u32 = 1;

/// What kind of difference a finding is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum DriftClass {
    /// A field differs from the stack (`up` updates or replaces the resource).
    Changed,
    /// The resource was deleted out of band (`up` creates it again).
    Missing,
    /// A resource of the stack (by its tags, or by being inside one) that the stack no longer
    /// describes (`up` deletes it).
    Extra,
    /// Untagged, inside what the stack owns (`up` never touches it).
    Unmanaged,
    /// Something mck could not compare; listed so the report never claims more than it checked.
    /// Not drift.
    Unchecked,
}

impl DriftClass {
    /// Every class, in report order.
    pub const ALL: [DriftClass; 5] = [
        DriftClass::Changed,
        DriftClass::Missing,
        DriftClass::Extra,
        DriftClass::Unmanaged,
        DriftClass::Unchecked,
    ];

    /// The class as the JSON report spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DriftClass::Changed => "changed",
            DriftClass::Missing => "missing",
            DriftClass::Extra => "extra",
            DriftClass::Unmanaged => "unmanaged",
            DriftClass::Unchecked => "unchecked",
        }
    }

    /// Whether a finding of this class is drift (exit 2) unless suppressed.
    pub fn is_drift(self) -> bool {
        self != DriftClass::Unchecked
    }
}

/// One field of a finding. Values are shown as `plan` shows them; a sensitive field's values
/// are never included.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FieldDrift {
    /// The field name, as in the plan (`backup_retention_period`).
    pub field: String,
    /// What the stack wants; `None` when sensitive, unknown, or not applicable.
    pub desired: Option<String>,
    /// What AWS has; `None` when sensitive or not applicable.
    pub live: Option<String>,
    /// The values are secret and left out.
    pub sensitive: bool,
}

/// A place in a stack file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    /// The file as it was loaded (`stacks/prod.yaml`, or `stacks/base.yaml` for a shared key).
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based.
    pub column: usize,
}

/// The stack's `drift.ignore` entry that matched a finding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SuppressionNote {
    /// Why the difference is accepted.
    pub reason: String,
    /// The last day it applies (`YYYY-MM-DD`).
    pub expires: String,
    /// It has expired: the finding counts as drift again.
    pub expired: bool,
    /// Where the suppression is written.
    pub location: Option<Location>,
}

/// One difference between a stack and AWS.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// What kind of difference.
    pub class: DriftClass,
    /// The logical id (`db.cluster`); for an unmanaged resource, its name or cloud id.
    pub resource: String,
    /// The kind, as plans name it (`aws_rds_cluster`).
    pub kind: &'static str,
    /// The AWS id, when the resource exists.
    pub cloud_id: Option<String>,
    /// The fields that differ (`changed`), or that could not be compared (`unchecked`).
    pub fields: Vec<FieldDrift>,
    /// What it is and what `up` would do about it, in words.
    pub message: String,
    /// The stack file line that declares the resource or field.
    pub location: Option<Location>,
    /// The `drift.ignore` entry that matches, if any.
    pub suppression: Option<SuppressionNote>,
    /// Who last changed it (`--who`), when asked.
    pub who: Option<Who>,
}

impl Finding {
    /// Drift that counts: a drift class and not suppressed (an expired suppression counts).
    pub fn is_active(&self) -> bool {
        self.class.is_drift() && !self.is_suppressed()
    }

    /// Suppressed by a `drift.ignore` entry that has not expired.
    pub fn is_suppressed(&self) -> bool {
        self.suppression.as_ref().is_some_and(|s| !s.expired)
    }
}

/// A resource the report compared.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Checked {
    /// Logical id.
    pub resource: String,
    /// The kind, as plans name it.
    pub kind: &'static str,
}

/// The drift of one stack.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct StackDrift {
    /// The stack name.
    pub stack: String,
    /// The region read.
    pub region: String,
    /// The stack files, top file first.
    pub files: Vec<String>,
    /// Every resource the stack describes, each compared with AWS.
    pub checked: Vec<Checked>,
    /// The differences, drift classes first, then by resource.
    pub findings: Vec<Finding>,
    /// Why the stack could not be checked (an unreadable resource, no stack file): the report
    /// then says nothing about it being in sync.
    pub error: Option<String>,
}

/// Counts of a report, by class; suppressed findings are counted apart, never dropped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Active `changed` findings.
    pub changed: usize,
    /// Active `missing` findings.
    pub missing: usize,
    /// Active `extra` findings.
    pub extra: usize,
    /// Active `unmanaged` findings.
    pub unmanaged: usize,
    /// `unchecked` findings (not drift).
    pub unchecked: usize,
    /// Findings a `drift.ignore` entry suppresses.
    pub suppressed: usize,
    /// Resources compared.
    pub checked: usize,
}

impl Counts {
    /// The number of active drift findings.
    pub fn drift(&self) -> usize {
        self.changed + self.missing + self.extra + self.unmanaged
    }
}

impl StackDrift {
    /// A stack that could not be checked.
    pub fn failed(stack: &str, region: &str, error: impl Into<String>) -> StackDrift {
        StackDrift {
            stack: stack.to_string(),
            region: region.to_string(),
            files: Vec::new(),
            checked: Vec::new(),
            findings: Vec::new(),
            error: Some(error.into()),
        }
    }

    /// Counts by class.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            checked: self.checked.len(),
            ..Counts::default()
        };
        for f in &self.findings {
            if f.class == DriftClass::Unchecked {
                c.unchecked += 1;
            } else if f.is_suppressed() {
                c.suppressed += 1;
            } else {
                match f.class {
                    DriftClass::Changed => c.changed += 1,
                    DriftClass::Missing => c.missing += 1,
                    DriftClass::Extra => c.extra += 1,
                    DriftClass::Unmanaged | DriftClass::Unchecked => c.unmanaged += 1,
                }
            }
        }
        c
    }

    /// Asks the reader's audit log who last changed each drifted resource (`--who`).
    pub async fn annotate_who(&mut self, reader: &dyn Reader) {
        for finding in &mut self.findings {
            if !finding.class.is_drift() {
                continue;
            }
            finding.who = Some(
                match (&finding.cloud_id, ResourceKind::from_name(finding.kind)) {
                    (Some(cloud_id), Some(kind)) => reader.last_write(kind, cloud_id).await,
                    (None, _) => Who::Unknown {
                        reason: "it has no cloud id to look up".into(),
                    },
                    (Some(_), None) => Who::Unknown {
                        reason: format!("{} is not a kind mck knows", finding.kind),
                    },
                },
            );
        }
    }

    /// The stack's status.
    pub fn status(&self) -> Status {
        if self.error.is_some() {
            Status::Error
        } else if self.findings.iter().any(Finding::is_active) {
            Status::Drift
        } else {
            Status::InSync
        }
    }
}

/// The outcome of a report or of one stack in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Status {
    /// Everything compared matches (suppressed findings aside).
    InSync,
    /// At least one active finding.
    Drift,
    /// Something could not be checked.
    Error,
}

impl Status {
    /// The status as reports spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InSync => "in_sync",
            Status::Drift => "drift",
            Status::Error => "error",
        }
    }
}

/// A drift report over one or more stacks: what `mck drift` prints, in any [`Format`].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct DriftReport {
    /// [`REPORT_VERSION`].
    pub version: u32,
    /// The worst status of the stacks.
    pub status: Status,
    /// Totals over the stacks.
    pub counts: Counts,
    /// One entry per stack, by name.
    pub stacks: Vec<StackDrift>,
}

impl DriftReport {
    /// Gathers stack reports (sorted by name) into one.
    pub fn new(mut stacks: Vec<StackDrift>) -> DriftReport {
        stacks.sort_by(|a, b| a.stack.cmp(&b.stack));
        let mut counts = Counts::default();
        for s in &stacks {
            let c = s.counts();
            counts.changed += c.changed;
            counts.missing += c.missing;
            counts.extra += c.extra;
            counts.unmanaged += c.unmanaged;
            counts.unchecked += c.unchecked;
            counts.suppressed += c.suppressed;
            counts.checked += c.checked;
        }
        let status = stacks
            .iter()
            .map(StackDrift::status)
            .max()
            .unwrap_or(Status::InSync);
        DriftReport {
            version: REPORT_VERSION,
            status,
            counts,
            stacks,
        }
    }

    /// 0 in sync, 2 drift, 1 error (an error wins over drift: the report is incomplete).
    pub fn exit_code(&self) -> u8 {
        match self.status {
            Status::InSync => 0,
            Status::Drift => 2,
            Status::Error => 1,
        }
    }

    /// The report in one format.
    pub fn render(&self, format: Format) -> String {
        match format {
            Format::Text => text::render(self),
            Format::Json => {
                let mut json = serde_json::to_string_pretty(self)
                    .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
                json.push('\n');
                json
            }
            Format::Markdown => markdown::render(self),
            Format::Junit => junit::render(self),
            Format::Sarif => sarif::render(self),
        }
    }

    /// Asks the reader's audit log who last changed each drifted resource (`--who`).
    pub async fn annotate_who(&mut self, reader: &dyn Reader) {
        for stack in &mut self.stacks {
            stack.annotate_who(reader).await;
        }
    }
}

/// The report formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Format {
    /// For a terminal.
    Text,
    /// Versioned, documented (docs/drift.md).
    Json,
    /// For a pull-request comment, an issue body or a CI job summary.
    Markdown,
    /// One test case per resource, so CI shows drift as failed tests.
    Junit,
    /// SARIF 2.1.0, each finding located at its stack file line (GitHub code scanning).
    Sarif,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 5] = [
        Format::Text,
        Format::Json,
        Format::Markdown,
        Format::Junit,
        Format::Sarif,
    ];

    /// The format's name on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Junit => "junit",
            Format::Sarif => "sarif",
        }
    }
}

/// Reads a stack through `reader` and compares it with its file. Never fails: a read error
/// becomes the stack's `error` (exit 1), never "in sync".
pub async fn check(reader: &dyn Reader, stack: &Stack, today: &str) -> StackDrift {
    let desired = match crate::Engine::desired(stack) {
        Ok(desired) => desired,
        Err(err) => {
            return StackDrift::failed(&stack.name, &stack.config.region, err.to_string());
        }
    };
    let observed = match crate::read::read_with_retries(reader, &stack.name).await {
        Ok(observed) => observed,
        Err(err) => return read_failed(stack, &err),
    };
    let unmanaged = match reader.read_unmanaged(&stack.name, &observed).await {
        Ok(unmanaged) => unmanaged,
        Err(err) => return read_failed(stack, &err),
    };
    compare(stack, desired, observed, unmanaged, today)
}

fn read_failed(stack: &Stack, err: &ProviderError) -> StackDrift {
    StackDrift::failed(
        &stack.name,
        &stack.config.region,
        format!("failed to read stack {}: {err}", stack.name),
    )
}

/// Compares live state with the stack (pure): the drift of one stack as of `today`
/// (`YYYY-MM-DD`, for the suppressions' expiry).
pub fn compare(
    stack: &Stack,
    desired: Arc<crate::graph::DesiredGraph>,
    mut observed: Vec<Observed>,
    unmanaged: Vec<Unmanaged>,
    today: &str,
) -> StackDrift {
    resolve_cloud_refs(&mut observed);
    let plan = crate::plan::diff(desired.clone(), observed);
    // Where lowering found the resource; a resource the stack no longer declares (extra) is
    // located where the stack declares the resources of its kind.
    let locate = |id: &LogicalId, field: Option<&str>| {
        let declared = desired.declared_at(id).or_else(|| {
            let kind = plan.observed().get(id)?.kind;
            desired
                .iter()
                .find(|r| r.kind() == kind)
                .and_then(|r| desired.declared_at(&r.id))
        });
        let path: Vec<&str> = declared
            .map(|d| d.path(field).iter().map(String::as_str).collect())
            .unwrap_or_default();
        location(stack.locate(&path))
    };
    let mut findings = Vec::new();
    for step in plan.steps() {
        let cloud_id = step.live.as_ref().map(|l| l.cloud_id.clone());
        match step.action {
            Action::NoOp => {}
            Action::Create => findings.push(Finding {
                class: DriftClass::Missing,
                resource: step.id.to_string(),
                kind: step.kind.name(),
                cloud_id: None,
                fields: Vec::new(),
                message: "deleted out of band; `mck up` creates it again".to_string(),
                location: locate(&step.id, None),
                suppression: None,
                who: None,
            }),
            Action::Update | Action::Replace => {
                let fields = field_drifts(&plan, step);
                let first = step.changes.first().map(|c| c.field);
                let message = if step.action == Action::Replace {
                    format!(
                        "changed out of band; `mck up` replaces it ({})",
                        step.reason
                            .as_deref()
                            .unwrap_or("an immutable field changed")
                    )
                } else {
                    "changed out of band; `mck up` updates it in place".to_string()
                };
                findings.push(Finding {
                    class: DriftClass::Changed,
                    resource: step.id.to_string(),
                    kind: step.kind.name(),
                    cloud_id,
                    fields,
                    message,
                    location: locate(&step.id, first),
                    suppression: None,
                    who: None,
                });
            }
            Action::Delete => findings.push(Finding {
                class: DriftClass::Extra,
                resource: step.id.to_string(),
                kind: step.kind.name(),
                cloud_id,
                fields: Vec::new(),
                message: format!(
                    "{}; `mck up` deletes it",
                    step.reason.as_deref().unwrap_or("not in the stack")
                ),
                location: locate(&step.id, None),
                suppression: None,
                who: None,
            }),
        }
    }
    for u in unmanaged {
        let inside = plan
            .observed()
            .get(&u.inside)
            .map_or_else(String::new, |o| format!(" ({})", o.cloud_id));
        findings.push(Finding {
            class: DriftClass::Unmanaged,
            resource: u.name.clone().unwrap_or_else(|| u.cloud_id.clone()),
            kind: u.kind.name(),
            cloud_id: Some(u.cloud_id.clone()),
            fields: Vec::new(),
            message: format!(
                "not made by mck, inside the stack's {}{inside}; `mck up` leaves it alone",
                u.inside
            ),
            location: locate(&u.inside, None),
            suppression: None,
            who: None,
        });
    }
    findings.extend(unchecked(&plan, &locate));
    // A login whose rotation is overdue: `up` does not rotate; `mck rotate` does.
    for due in crate::rotation::overdue(&desired, plan.observed().values(), today) {
        findings.push(Finding {
            class: DriftClass::Changed,
            resource: due.id.to_string(),
            kind: crate::model::ResourceKind::Secret.name(),
            cloud_id: plan.observed().get(&due.id).map(|o| o.cloud_id.clone()),
            fields: vec![FieldDrift {
                field: "rotation".into(),
                desired: Some(format!("every {} days", due.every_days)),
                live: Some(format!("last {} ({} days ago)", due.last, due.age_days)),
                sensitive: false,
            }],
            message: format!(
                "rotation overdue; `mck up` does not rotate: run `mck rotate --stack {} db`",
                stack.name
            ),
            location: locate(&due.id, Some("rotation_days")),
            suppression: None,
            who: None,
        });
    }
    let mut findings = suppress(findings, stack, today);
    findings.sort_by(|a, b| {
        (a.class, &a.resource, a.is_suppressed()).cmp(&(b.class, &b.resource, b.is_suppressed()))
    });
    // Two resources claiming one logical id: the stack is not in a state to compare.
    let error = (!plan.duplicates().is_empty()).then(|| {
        format!(
            "duplicates: {}; `mck up --dedupe` removes the extra copies",
            plan.duplicates()
                .iter()
                .map(crate::plan::Duplicate::describe)
                .collect::<Vec<_>>()
                .join("; ")
        )
    });
    StackDrift {
        stack: stack.name.clone(),
        region: stack.config.region.clone(),
        files: stack
            .files
            .iter()
            .map(|f| f.display().to_string())
            .collect(),
        checked: desired
            .iter()
            .map(|r| Checked {
                resource: r.id.to_string(),
                kind: r.kind().name(),
            })
            .collect(),
        findings,
        error,
    }
}

fn location(loc: &crate::stack::Loc) -> Option<Location> {
    Some(Location {
        file: loc.file.to_string(),
        line: loc.line.max(1),
        column: loc.col.max(1),
    })
}

fn field_drifts(plan: &Plan, step: &crate::plan::Step) -> Vec<FieldDrift> {
    step.changes
        .iter()
        .map(|c| FieldDrift {
            field: c.field.to_string(),
            desired: (!c.sensitive)
                .then(|| c.new.as_ref().map(|v| plan.display_value(v)))
                .flatten(),
            live: (!c.sensitive)
                .then(|| c.old.as_ref().map(|v| plan.display_value(v)))
                .flatten(),
            sensitive: c.sensitive,
        })
        .collect()
}

/// Fields mck sets at creation and never compares (the API does not return them in a form
/// that compares, such as an image lookup pattern), per resource that has them.
fn unchecked(
    plan: &Plan,
    locate: &dyn Fn(&LogicalId, Option<&str>) -> Option<Location>,
) -> Vec<Finding> {
    let mut out = Vec::new();
    for step in plan.steps() {
        let (Some(spec), Some(live)) = (&step.desired, &step.live) else {
            continue;
        };
        let fields: Vec<FieldDrift> = spec
            .fields()
            .iter()
            .filter(|f| f.mutability == Mutability::CreateOnly)
            .map(|f| FieldDrift {
                field: f.name.to_string(),
                desired: (!f.sensitive).then(|| plan.display_value(&f.value)),
                live: None,
                sensitive: f.sensitive,
            })
            .collect();
        if fields.is_empty() {
            continue;
        }
        out.push(Finding {
            class: DriftClass::Unchecked,
            resource: step.id.to_string(),
            kind: step.kind.name(),
            cloud_id: Some(live.cloud_id.clone()),
            message: format!(
                "{} set at creation only and not compared afterwards",
                fields
                    .iter()
                    .map(|f| format!("`{}`", f.field))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            fields,
            location: locate(&step.id, None),
            suppression: None,
            who: None,
        });
    }
    out
}

/// Applies the stack's `drift.ignore` entries. A field entry on a finding with several fields
/// splits that field off into its own, suppressed finding: the rest still counts.
fn suppress(findings: Vec<Finding>, stack: &Stack, today: &str) -> Vec<Finding> {
    let entries: Vec<(usize, &Suppression)> =
        stack.config.drift.ignore.iter().enumerate().collect();
    let note = |idx: usize, s: &Suppression| SuppressionNote {
        reason: s.reason.clone(),
        expires: s.expires.clone(),
        expired: s.expires.as_str() < today,
        location: location(stack.locate(&["drift", "ignore", &idx.to_string()])),
    };
    let matches_resource = |s: &Suppression, f: &Finding| {
        s.resource == f.resource || f.cloud_id.as_deref() == Some(s.resource.as_str())
    };
    let mut out = Vec::with_capacity(findings.len());
    for mut finding in findings {
        if finding.class == DriftClass::Unchecked {
            out.push(finding);
            continue;
        }
        let relevant: Vec<&(usize, &Suppression)> = entries
            .iter()
            .filter(|(_, s)| matches_resource(s, &finding))
            .collect();
        if let Some((idx, whole)) = relevant.iter().find(|(_, s)| s.field.is_none()) {
            finding.suppression = Some(note(*idx, whole));
            out.push(finding);
            continue;
        }
        let mut by_field: BTreeMap<usize, Vec<FieldDrift>> = BTreeMap::new();
        finding.fields.retain(|fd| {
            match relevant
                .iter()
                .find(|(_, s)| s.field.as_deref() == Some(fd.field.as_str()))
            {
                Some((idx, _)) => {
                    by_field.entry(*idx).or_default().push(fd.clone());
                    false
                }
                None => true,
            }
        });
        for (idx, fields) in by_field {
            let mut split = finding.clone();
            split.fields = fields;
            split.suppression = Some(note(idx, entries[idx].1));
            out.push(split);
        }
        let all_split = finding.fields.is_empty() && finding.class == DriftClass::Changed;
        if !all_split {
            out.push(finding);
        }
    }
    out
}

/// Checks the stack's `drift.ignore` entries against its resources: each must name a resource
/// of the stack (or look like a cloud id, for unmanaged ones), a field of it when it names one,
/// and a real date.
pub fn check_suppressions(stack: &Stack, desired: &crate::graph::DesiredGraph) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for (idx, s) in stack.config.drift.ignore.iter().enumerate() {
        let idx = idx.to_string();
        let at = |key: &str| {
            Some(
                stack
                    .source
                    .locate(&["drift", "ignore", &idx, key])
                    .loc
                    .clone(),
            )
        };
        if parse_date(&s.expires).is_none() {
            out.push(Diagnostic {
                loc: at("expires"),
                message: format!("`{}` is not a date", s.expires),
                help: Some("write the last day the suppression applies as YYYY-MM-DD".into()),
            });
        }
        if s.reason.trim().is_empty() {
            out.push(Diagnostic {
                loc: at("reason"),
                message: "a suppression needs a reason".into(),
                help: Some("say why the difference is accepted; every report shows it".into()),
            });
        }
        let resource = desired.get(&LogicalId::new(s.resource.as_str()));
        let looks_like_cloud_id = s.resource.contains('-') && !s.resource.contains('.');
        match (resource, &s.field) {
            (None, _) if looks_like_cloud_id => {}
            (None, _) => out.push(Diagnostic {
                loc: at("resource"),
                message: format!("the stack has no resource `{}`", s.resource),
                help: Some(
                    "name a logical id as `mck plan` shows it (e.g. db.cluster), or the cloud id of an unmanaged resource".into(),
                ),
            }),
            (Some(r), Some(field)) if !r.spec.fields().iter().any(|f| f.name == field) => {
                let names: Vec<&str> = r.spec.fields().iter().map(|f| f.name).collect();
                out.push(Diagnostic {
                    loc: at("field"),
                    message: format!("{} ({}) has no field `{field}`", s.resource, r.kind()),
                    help: Some(format!("its fields: {}", names.join(", "))),
                });
            }
            _ => {}
        }
    }
    out
}

/// Escapes text for XML content and attributes.
fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot hold at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A one-line summary of a finding's fields: `backup_retention_period: 7 → 1`.
fn fields_line(finding: &Finding) -> String {
    finding
        .fields
        .iter()
        .map(|f| {
            if f.sensitive {
                format!("{}: (sensitive value)", f.field)
            } else if finding.class == DriftClass::Unchecked {
                f.field.clone()
            } else {
                format!(
                    "{}: {} → {}",
                    f.field,
                    f.live.as_deref().unwrap_or("(none)"),
                    f.desired.as_deref().unwrap_or("(known after apply)")
                )
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Who, in words.
fn who_line(who: &Who) -> String {
    match who {
        Who::Found(e) => format!("last changed by {} at {} ({})", e.actor, e.time, e.call),
        Who::NoEvent => "no write event found in CloudTrail (it keeps 90 days)".into(),
        Who::Unknown { reason } => format!("could not tell who changed it: {reason}"),
    }
}

#[cfg(test)]
mod tests;
