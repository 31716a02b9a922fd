//! Releases: what each app's service runs and which revisions are still registered
//! (`mck releases`), and `mck rollback`, which moves the services to the revision before the
//! one they run.
//!
//! A rollback is an explicit exception to the stack file: the stack still describes the newest
//! revision, so `plan` and `drift` show the services' `task_definition` as changed until the
//! next `up` (a new release, or the same one again) moves them forward. The database is not
//! rolled back: the migration's record still names the newest build.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::exec::{self, CancelToken, ExecConfig, ExecEvent, Summary};
use crate::graph::DesiredGraph;
use crate::model::{EcsServiceSpec, LogicalId, ResourceKind, ResourceSpec, Value};
use crate::provider::{Observed, Provider, ProviderError, Reader, Revision};

/// What one app runs.
#[derive(Clone, Debug, Serialize)]
pub struct AppRelease {
    /// The app (its service's name).
    pub app: String,
    /// The service's logical id.
    pub service: LogicalId,
    /// The task definition family.
    pub family: String,
    /// The revision the service runs (`None`: no service yet, or it runs a revision that is no
    /// longer registered).
    pub live: Option<Revision>,
    /// The ARN the service runs, as ECS reports it.
    pub live_arn: Option<String>,
    /// The newest registered revision: what the stack describes after the last `up`.
    pub newest: Option<Revision>,
    /// Every other registered revision, newest first.
    pub previous: Vec<Revision>,
    /// The service runs an older revision than the newest registered one (a rollback).
    pub rolled_back: bool,
}

impl AppRelease {
    /// The service runs an older revision than the newest registered one (a rollback).
    pub fn rolled_back(&self) -> bool {
        self.rolled_back
    }
}

/// What every app of a stack runs.
#[derive(Clone, Debug, Serialize)]
pub struct Releases {
    /// The stack.
    pub stack: String,
    /// One entry per app with a service, by app name.
    pub apps: Vec<AppRelease>,
}

/// Reads what every app's service runs and the revisions of its family.
pub async fn releases(
    reader: &dyn Reader,
    desired: &DesiredGraph,
) -> Result<Releases, ProviderError> {
    let observed = crate::read::read_with_retries(reader, desired.stack()).await?;
    let mut apps = Vec::new();
    for (service_id, service) in services(desired) {
        let family = match desired.get(service.task_definition.id()).map(|r| &r.spec) {
            Some(ResourceSpec::TaskDefinition(td)) => td.family.clone(),
            _ => continue,
        };
        let live_arn = observed
            .iter()
            .find(|o| o.id == service_id && o.kind == ResourceKind::EcsService)
            .and_then(
                |o| match o.fields.get(EcsServiceSpec::TASK_DEFINITION.name) {
                    Some(Value::CloudId(arn) | Value::Str(arn)) => Some(arn.clone()),
                    _ => None,
                },
            );
        let mut revisions = reader.revisions(&family).await?;
        revisions.sort_by_key(|r| std::cmp::Reverse(r.number));
        let live = live_arn
            .as_ref()
            .and_then(|arn| revisions.iter().find(|r| &r.arn == arn).cloned());
        let newest = revisions.first().cloned();
        let previous = revisions
            .iter()
            .filter(|r| Some(&r.arn) != live_arn.as_ref())
            .cloned()
            .collect();
        let rolled_back = matches!((&live, &newest), (Some(l), Some(n)) if l.number < n.number);
        apps.push(AppRelease {
            rolled_back,
            app: service.name.clone(),
            service: service_id,
            family,
            live,
            live_arn,
            newest,
            previous,
        });
    }
    Ok(Releases {
        stack: desired.stack().to_string(),
        apps,
    })
}

fn services(desired: &DesiredGraph) -> Vec<(LogicalId, &EcsServiceSpec)> {
    desired
        .iter()
        .filter_map(|r| match &r.spec {
            ResourceSpec::EcsService(s) => Some((r.id.clone(), s)),
            _ => None,
        })
        .collect()
}

fn describe(family: &str, r: &Revision) -> String {
    let images: Vec<String> = r.images.iter().map(|(c, i)| format!("{c}={i}")).collect();
    let mut out = format!("{family}:{}  {}", r.number, images.join(" "));
    if let Some(rev) = &r.revision {
        let _ = write!(out, "  REVISION={rev}");
    }
    out
}

impl Releases {
    /// For people: per app, the live revision and the ones a rollback could go back to.
    pub fn render_text(&self) -> String {
        let mut out = format!("stack {}\n", self.stack);
        for app in &self.apps {
            let _ = write!(out, "\n{} ({})\n", app.app, app.service);
            match (&app.live, &app.live_arn) {
                (Some(live), _) => {
                    let _ = writeln!(out, "  live      {}", describe(&app.family, live));
                }
                (None, Some(arn)) => {
                    let _ = writeln!(out, "  live      {arn} (no longer registered)");
                }
                (None, None) => out.push_str("  live      (no service yet)\n"),
            }
            if app.rolled_back()
                && let Some(newest) = &app.newest
            {
                let _ = writeln!(
                    out,
                    "  ROLLED BACK from {}:{} (the newest registered); the next `up` moves it to what the stack describes",
                    app.family, newest.number
                );
            }
            for r in &app.previous {
                let _ = writeln!(out, "  previous  {}", describe(&app.family, r));
            }
        }
        out
    }
}

/// One service moved back by a rollback.
#[derive(Clone, Debug, Serialize)]
pub struct RollbackStep {
    /// The app.
    pub app: String,
    /// Its service.
    pub service: LogicalId,
    /// The revision it runs.
    pub from: Revision,
    /// The revision before it, which it will run.
    pub to: Revision,
}

/// Why a rollback cannot be planned.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RollbackError(pub String);

/// For each app: from the revision its service runs to the newest registered one before it.
pub fn plan_rollback(releases: &Releases) -> Result<Vec<RollbackStep>, RollbackError> {
    let mut steps = Vec::new();
    for app in &releases.apps {
        let Some(from) = &app.live else {
            return Err(RollbackError(format!(
                "{}: the service runs no registered revision ({}); nothing to roll back from",
                app.app,
                app.live_arn.as_deref().unwrap_or("no service yet")
            )));
        };
        let Some(to) = app
            .previous
            .iter()
            .filter(|r| r.number < from.number)
            .max_by_key(|r| r.number)
        else {
            return Err(RollbackError(format!(
                "{}: no revision older than {}:{} is registered (release.keep_revisions keeps the newest ones)",
                app.app, app.family, from.number
            )));
        };
        steps.push(RollbackStep {
            app: app.app.clone(),
            service: app.service.clone(),
            from: from.clone(),
            to: to.clone(),
        });
    }
    Ok(steps)
}

/// Moves each service to its step's revision, concurrently, through the provider's update of
/// the service (the same rollout, health gate and circuit breaker as a release), and waits
/// until each is healthy.
pub async fn rollback(
    provider: Arc<dyn Provider>,
    config: &ExecConfig,
    desired: Arc<DesiredGraph>,
    steps: &[RollbackStep],
    events: mpsc::UnboundedSender<ExecEvent>,
    cancel: CancelToken,
) -> Result<Summary, ProviderError> {
    let started = tokio::time::Instant::now();
    let observed = crate::read::read_with_retries(provider.as_ref(), desired.stack()).await?;
    let by_id: HashMap<&LogicalId, &Observed> = observed.iter().map(|o| (&o.id, o)).collect();
    let mut runs = tokio::task::JoinSet::new();
    for step in steps {
        let Some(resource) = desired.get(&step.service) else {
            continue;
        };
        let ResourceSpec::EcsService(spec) = &resource.spec else {
            continue;
        };
        let Some(live) = by_id.get(&step.service) else {
            return Err(ProviderError::new(
                crate::provider::ErrorClass::NotFound,
                format!("service {} is gone", step.service),
            ));
        };
        let mut deps: HashMap<LogicalId, Observed> = desired
            .dependencies(&step.service)
            .into_iter()
            .filter_map(|id| by_id.get(id).map(|o| (id.clone(), (*o).clone())))
            .collect();
        // The service's task definition resolves to the older revision.
        let td = spec.task_definition.id().clone();
        deps.insert(
            td.clone(),
            Observed::new(td, ResourceKind::TaskDefinition, &step.to.arn)
                .output(crate::model::TaskDefinitionSpec::OUT_ARN, &step.to.arn)
                .output(
                    crate::model::TaskDefinitionSpec::OUT_REVISION,
                    step.to.number.to_string(),
                ),
        );
        let (provider, config, desired) = (provider.clone(), config.clone(), desired.clone());
        let (spec, live) = (resource.spec.clone(), (*live).clone());
        let (events, cancel) = (events.clone(), cancel.clone());
        runs.spawn(async move {
            exec::run_update(
                provider,
                &config,
                &desired,
                spec,
                live,
                vec![EcsServiceSpec::TASK_DEFINITION.name],
                deps,
                events,
                cancel,
            )
            .await
        });
    }
    let mut results = Vec::new();
    while let Some(joined) = runs.join_next().await {
        results.push(joined.expect("a rollback worker panicked"));
    }
    Ok(Summary {
        results,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    })
}
