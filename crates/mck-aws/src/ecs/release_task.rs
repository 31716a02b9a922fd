//! A release's one-off tasks: the database migration, and with `release.maintenance` the task
//! that removes the maintenance flag. One ECS task on the migrating app's new task definition,
//! its container's command overridden, in the private subnets. `up` waits for it to stop, reads
//! the container's exit code and the last lines of its log, and records the build on the
//! cluster (tag [`ReleaseJob::record_tag`]) only after exit code 0. A task DescribeTasks does
//! not see yet (`MISSING`) counts as starting for [`mck_core::provider::VISIBILITY_GRACE`]. The
//! maintenance cleanup never starts while a migration task still runs.
//!
//! Not a resource ECS keeps (stopped tasks vanish within hours), so the records on the cluster
//! are what the reader reports: a job is "live" with the image it last ran for.

use std::fmt::Write as _;

use aws_sdk_ecs::error::ProvideErrorMetadata;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, Cluster, ContainerOverride,
    DesiredStatus, LaunchType, NetworkConfiguration, Tag, Task, TaskOverride,
};
use mck_core::model::{
    DbLoginSpec, InstallSpec, LogicalId, MaintenanceSpec, ReleaseJob, ReleaseTaskSpec,
    ResourceKind, ServiceCapacity, Value,
};
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// Log lines shown under the step and in a failure.
const LOG_LINES: i32 = 20;

// Bookkeeping outputs of a running migration (the create's answer, which the poller keeps).
const OUT_CLUSTER: &str = "_cluster";
const OUT_CLUSTER_ARN: &str = "_cluster_arn";
const OUT_CONTAINER: &str = "_container";
const OUT_IMAGE: &str = "_image";
const OUT_LOG_GROUP: &str = "_log_group";
const OUT_RECORD_TAG: &str = "_record_tag";
const OUT_WHAT: &str = "_what";
/// When the task was started (or found running), in seconds since the Unix epoch.
const OUT_STARTED: &str = "_started";
/// The services stopped while the task runs, one `name task-definition-ARN count` per line.
const OUT_PAUSED: &str = "_paused";

/// Scales each of `paused` (name, task definition, count) to 0 and waits until its tasks
/// have stopped. A service not made yet (the stack's first `up`) has nothing to stop. Asked
/// again after a killed run, it changes nothing.
async fn pause(
    aws: &AwsProvider,
    cluster: &str,
    paused: &[(String, String, i64)],
) -> Result<(), ProviderError> {
    let ecs = &aws.clients.ecs;
    for (name, _, _) in paused {
        let what = format!("stop service {name} for the release");
        if !set_service(aws, cluster, name, 0, None, &what).await? {
            continue;
        }
        aws.wait_until(&format!("service {name} to stop its tasks"), || async {
            Ok(super::service::describe(ecs, cluster, vec![name.clone()])
                .await?
                .first()
                .is_none_or(|s| s.running_count() == 0 && s.pending_count() == 0))
        })
        .await?;
    }
    Ok(())
}

/// Runs the services the task stopped again: on their new task definition when the task
/// succeeded, on the one they ran when it failed.
async fn resume(aws: &AwsProvider, live: &Observed, succeeded: bool) -> Result<(), ProviderError> {
    let cluster = live.outputs.get(OUT_CLUSTER).map_or("", String::as_str);
    let paused = live.outputs.get(OUT_PAUSED).map_or("", String::as_str);
    for line in paused.lines() {
        let mut parts = line.split(' ');
        let (Some(name), Some(task_definition), Some(count)) = (
            parts.next(),
            parts.next(),
            parts.next().and_then(|c| c.parse::<i32>().ok()),
        ) else {
            continue;
        };
        let what = format!("start service {name} again after the release task");
        let task_definition = succeeded.then_some(task_definition);
        set_service(aws, cluster, name, count, task_definition, &what).await?;
    }
    Ok(())
}

/// UpdateService of a service a release task stops or starts again: its count, and its task
/// definition when given. `false` when the service is not there (the stack's first `up` makes
/// cron after the migration): nothing to stop or start.
async fn set_service(
    aws: &AwsProvider,
    cluster: &str,
    name: &str,
    count: i32,
    task_definition: Option<&str>,
    what: &str,
) -> Result<bool, ProviderError> {
    let call = aws
        .clients
        .ecs
        .update_service()
        .cluster(cluster)
        .service(name)
        .desired_count(count)
        .set_task_definition(task_definition.map(str::to_string));
    match call.send().await {
        Ok(_) => Ok(true),
        Err(e)
            if matches!(
                e.code(),
                Some("ServiceNotFoundException" | "ServiceNotActiveException")
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk(what, e)),
    }
}

fn kind_of(job: ReleaseJob) -> ResourceKind {
    match job {
        ReleaseJob::Migrate => ResourceKind::ReleaseTask,
        ReleaseJob::MaintenanceOff => ResourceKind::Maintenance,
        ReleaseJob::CacheClean => ResourceKind::Maintenance,
        ReleaseJob::DbLogin => ResourceKind::DbLogin,
        ReleaseJob::Install => ResourceKind::Install,
    }
}

/// The records of the builds the release's jobs last ran for, from the stack's cluster tags.
/// The maintenance-off and cache-clean records count only for the build migrated last: a
/// migration that ran since (and set the flag again) makes them due again.
pub(super) fn observe_record(cluster: &Cluster) -> Vec<Observed> {
    let tag = |key: &str| {
        cluster
            .tags()
            .iter()
            .find(|t| t.key() == Some(key))
            .and_then(|t| t.value())
    };
    let name = cluster.cluster_name().unwrap_or_default();
    let migrated = tag(ReleaseJob::Migrate.record_tag());
    let mut out = Vec::new();
    for job in [
        ReleaseJob::DbLogin,
        ReleaseJob::Install,
        ReleaseJob::Migrate,
        ReleaseJob::MaintenanceOff,
        ReleaseJob::CacheClean,
    ] {
        let Some(image) = tag(job.record_tag()) else {
            continue;
        };
        let on_its_own = matches!(
            job,
            ReleaseJob::Migrate | ReleaseJob::DbLogin | ReleaseJob::Install
        );
        let value = if on_its_own || Some(image) == migrated {
            Value::Str(image.to_string())
        } else {
            Value::Null
        };
        out.push(
            Observed::new(
                LogicalId::new(job.id()),
                kind_of(job),
                format!("{name}/{}", job.record_tag()),
            )
            .with(ReleaseTaskSpec::IMAGE, value)
            .output(OUT_CLUSTER, name)
            .output(OUT_CLUSTER_ARN, cluster.cluster_arn().unwrap_or_default())
            .output(OUT_RECORD_TAG, job.record_tag()),
        );
    }
    out
}

fn task_id(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

/// The tasks of `job` still running in the cluster (found by `startedBy`).
async fn running_tasks(
    aws: &AwsProvider,
    job: ReleaseJob,
    cluster: &str,
) -> Result<Vec<Task>, ProviderError> {
    let what = job.what();
    let mut arns = Vec::new();
    let mut pages = aws
        .clients
        .ecs
        .list_tasks()
        .cluster(cluster)
        .started_by(job.started_by())
        .desired_status(DesiredStatus::Running)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list {what} tasks"), e))?;
        arns.extend(page.task_arns().iter().cloned());
    }
    // DescribeTasks takes at most 100 tasks per call.
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let described = aws
            .clients
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk(&format!("describe {what} tasks"), e))?;
        tasks.extend(described.tasks().iter().cloned());
    }
    // A task that has stopped no longer runs, whatever its desired status says.
    Ok(tasks
        .into_iter()
        .filter(|t| t.last_status() != Some("STOPPED"))
        .collect())
}

/// The tasks of this job and build still running (a killed run's): found by `startedBy` and
/// the task definition, so a re-run waits for it instead of starting a second one.
async fn running(
    aws: &AwsProvider,
    job: ReleaseJob,
    cluster: &str,
    task_definition: &str,
) -> Result<Option<Task>, ProviderError> {
    let tasks = running_tasks(aws, job, cluster).await?;
    if let Some(other) = tasks
        .iter()
        .find(|t| t.task_definition_arn() != Some(task_definition))
    {
        return Err(ProviderError::invalid(format!(
            "the {} of another build is still running (task {}, {}): wait for it to stop, or stop it, then run again",
            job.what(),
            task_id(other.task_arn().unwrap_or_default()),
            other.task_definition_arn().unwrap_or_default()
        )));
    }
    Ok(tasks.into_iter().next())
}

/// Refuses to remove the maintenance flag while a migration task still runs (one a timeout
/// left running, or one a poll lost sight of): a retried error, so the cleanup waits for it
/// within its timeout and then fails, leaving the flag.
async fn no_migration_running(aws: &AwsProvider, cluster: &str) -> Result<(), ProviderError> {
    match running_tasks(aws, ReleaseJob::Migrate, cluster)
        .await?
        .first()
    {
        None => Ok(()),
        Some(task) => Err(ProviderError::new(
            ErrorClass::Transient,
            format!(
                "the migration task {} is still {}: the maintenance flag stays until it has stopped; run up again once it has",
                task_id(task.task_arn().unwrap_or_default()),
                task.last_status().unwrap_or("PENDING").to_lowercase()
            ),
        )),
    }
}

/// Starts the migration (or finds the one a killed run started) and returns it as pending; the
/// poller waits for it to stop.
async fn start(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &ReleaseTaskSpec,
) -> Result<Observed, ProviderError> {
    let cluster = ctx.cloud_id(spec.cluster.id())?;
    let cluster_arn = ctx.output(spec.cluster.id(), mck_core::model::EcsClusterSpec::OUT_ARN)?;
    let task_definition = ctx.output(
        spec.task_definition.id(),
        mck_core::model::TaskDefinitionSpec::OUT_ARN,
    )?;
    let job = spec.job;
    if job == ReleaseJob::MaintenanceOff {
        no_migration_running(aws, cluster).await?;
    }
    let paused = spec
        .pauses
        .iter()
        .map(|p| {
            Ok((
                p.name.clone(),
                ctx.output(
                    p.task_definition.id(),
                    mck_core::model::TaskDefinitionSpec::OUT_ARN,
                )?
                .to_string(),
                p.count,
            ))
        })
        .collect::<Result<Vec<_>, ProviderError>>()?;
    pause(aws, cluster, &paused).await?;
    let task = match running(aws, job, cluster, task_definition).await? {
        Some(task) => task,
        None => {
            let tags: Vec<Tag> = ctx
                .tags_for(id)
                .into_iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            let out = aws
                .clients
                .ecs
                .run_task()
                .cluster(cluster)
                .task_definition(task_definition)
                .count(1)
                .started_by(job.started_by())
                .set_launch_type(match &spec.capacity {
                    ServiceCapacity::Fargate => Some(LaunchType::Fargate),
                    ServiceCapacity::Provider(_) => None,
                })
                .set_capacity_provider_strategy(match &spec.capacity {
                    ServiceCapacity::Fargate => None,
                    ServiceCapacity::Provider(cp) => Some(vec![
                        CapacityProviderStrategyItem::builder()
                            .capacity_provider(ctx.cloud_id(cp.id())?)
                            .weight(1)
                            .build()
                            .map_err(|e| ProviderError::invalid(e.to_string()))?,
                    ]),
                })
                .network_configuration(
                    NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            AwsVpcConfiguration::builder()
                                .set_subnets(Some(ctx.cloud_ids(&spec.subnets)?))
                                .set_security_groups(Some(ctx.cloud_ids(&spec.security_groups)?))
                                .assign_public_ip(AssignPublicIp::Disabled)
                                .build()
                                .map_err(|e| ProviderError::invalid(e.to_string()))?,
                        )
                        .build(),
                )
                .overrides(
                    TaskOverride::builder()
                        .container_overrides(
                            ContainerOverride::builder()
                                .name(&spec.container)
                                .set_command(Some(spec.command.clone()))
                                .build(),
                        )
                        .build(),
                )
                .set_tags(Some(tags))
                .send()
                .await
                .map_err(|e| sdk(&format!("run the {} task", job.what()), e))?;
            if let Some(failure) = out.failures().first() {
                // Placement failures (no capacity yet, an AZ short of Fargate) pass.
                return Err(ProviderError::new(
                    ErrorClass::Transient,
                    format!(
                        "the {} task could not start: {} {}",
                        job.what(),
                        failure.reason().unwrap_or("no reason given"),
                        failure.detail().unwrap_or_default()
                    ),
                ));
            }
            out.tasks().first().cloned().ok_or_else(|| {
                ProviderError::invalid(format!(
                    "RunTask started no {} task and gave no reason",
                    job.what()
                ))
            })?
        }
    };
    let arn = task.task_arn().unwrap_or_default();
    Ok(Observed::new(id.clone(), kind_of(job), arn)
        .with(ReleaseTaskSpec::IMAGE, spec.image.as_str())
        .output(ReleaseTaskSpec::OUT_TASK, arn)
        .output(OUT_CLUSTER, cluster)
        .output(OUT_CLUSTER_ARN, cluster_arn)
        .output(OUT_CONTAINER, spec.container.as_str())
        .output(OUT_IMAGE, spec.image.as_str())
        .output(OUT_LOG_GROUP, ctx.cloud_id(spec.log_group.id())?)
        .output(OUT_RECORD_TAG, job.record_tag())
        .output(OUT_WHAT, job.what())
        .output(OUT_STARTED, mck_core::lock::now_unix().to_string())
        .output(
            OUT_PAUSED,
            paused
                .iter()
                .map(|(name, td, count)| format!("{name} {td} {count}"))
                .collect::<Vec<_>>()
                .join("\n"),
        )
        .pending(task.last_status().unwrap_or("PROVISIONING").to_lowercase()))
}

/// The last lines the container wrote (awslogs stream `<prefix>/<container>/<task id>`, the
/// prefix being the container's name), indented; a failure to read them is said, not raised.
async fn log_tail(aws: &AwsProvider, group: &str, container: &str, task_arn: &str) -> String {
    let stream = format!("{container}/{container}/{}", task_id(task_arn));
    match aws
        .clients
        .logs
        .get_log_events()
        .log_group_name(group)
        .log_stream_name(&stream)
        .limit(LOG_LINES)
        .start_from_head(false)
        .send()
        .await
    {
        Ok(out) if out.events().is_empty() => format!("(no log lines in {group} {stream})"),
        Ok(out) => {
            let mut text = format!("last log lines ({group} {stream}):");
            for event in out.events() {
                for line in event.message().unwrap_or_default().lines() {
                    let _ = write!(text, "\n  {line}");
                }
            }
            text
        }
        Err(e) => {
            let err = sdk(&format!("read log stream {stream}"), e);
            if err.class == ErrorClass::NotFound {
                format!("(no log stream {group} {stream}: the container wrote nothing)")
            } else {
                format!("(log unreadable: {})", err.message)
            }
        }
    }
}

/// What a failed job left alone.
fn untouched(what: &str) -> &'static str {
    if what == ReleaseJob::Migrate.what() {
        "; no service was touched"
    } else {
        ""
    }
}

/// One look at a running job; records the build after exit code 0.
async fn poll_task(aws: &AwsProvider, live: &Observed) -> Result<Readiness, ProviderError> {
    let out = |name: &str| live.outputs.get(name).map_or("", String::as_str);
    let (cluster, container, arn) = (out(OUT_CLUSTER), out(OUT_CONTAINER), &live.cloud_id);
    let what = out(OUT_WHAT);
    let described = aws
        .clients
        .ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("describe the {what} task"), e))?;
    let Some(task) = described.tasks().first() else {
        // ECS is eventually consistent: right after RunTask, DescribeTasks may answer MISSING
        // (or nothing) for the new task.
        let reason = described
            .failures()
            .first()
            .and_then(|f| f.reason())
            .unwrap_or("no task and no failure");
        let elapsed = out(OUT_STARTED)
            .parse::<u64>()
            .ok()
            .map(|started| mck_core::lock::now_unix().saturating_sub(started));
        if elapsed.is_some_and(|e| e < mck_core::provider::VISIBILITY_GRACE.as_secs()) {
            return Ok(Readiness::Pending(format!("not visible yet ({reason})")));
        }
        return Ok(Readiness::Failed(format!(
            "the {what} task {} is still not visible{} (DescribeTasks: {reason}); it may still be running: see its log in {} and the cluster's tasks before running up again",
            task_id(arn),
            elapsed
                .map(|e| format!(" {e}s after it started"))
                .unwrap_or_default(),
            out(OUT_LOG_GROUP)
        )));
    };
    let status = task.last_status().unwrap_or("PENDING");
    if status != "STOPPED" {
        return Ok(Readiness::Pending(status.to_lowercase()));
    }
    let exit = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container))
        .and_then(|c| c.exit_code());
    let tail = log_tail(aws, out(OUT_LOG_GROUP), container, arn).await;
    match exit {
        Some(0) => {
            aws.clients
                .ecs
                .tag_resource()
                .resource_arn(out(OUT_CLUSTER_ARN))
                .tags(
                    Tag::builder()
                        .key(out(OUT_RECORD_TAG))
                        .value(out(OUT_IMAGE))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk(&format!("record the {what}'s build on the cluster"), e))?;
            resume(aws, live, true).await?;
            let mut done = live.clone().output(
                ReleaseTaskSpec::OUT_NOTE,
                format!("task {} exited with code 0; {tail}", task_id(arn)),
            );
            done.pending = None;
            Ok(Readiness::Ready(done))
        }
        Some(code) => {
            resume(aws, live, false).await?;
            Ok(Readiness::Failed(format!(
                "the {what} task {} exited with code {code}{}; {tail}",
                task_id(arn),
                untouched(what)
            )))
        }
        None => {
            resume(aws, live, false).await?;
            let reason = task
                .containers()
                .iter()
                .find(|c| c.name() == Some(container))
                .and_then(|c| c.reason())
                .map(|r| format!(" ({container}: {r})"))
                .unwrap_or_default();
            Ok(Readiness::Failed(format!(
                "the {what} task {} stopped without an exit code for container {container}: {}{reason}{}; {tail}",
                task_id(arn),
                task.stopped_reason().unwrap_or("no reason given"),
                untouched(what)
            )))
        }
    }
}

/// Forgets the build a job ran for (its record on the cluster); a running task is left alone.
async fn forget(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
    let out = |name: &str| live.outputs.get(name).cloned();
    let (Some(arn), Some(tag)) = (out(OUT_CLUSTER_ARN), out(OUT_RECORD_TAG)) else {
        return Err(crate::missing("release record", &live.cloud_id));
    };
    aws.clients
        .ecs
        .untag_resource()
        .resource_arn(arn)
        .tag_keys(tag)
        .send()
        .await
        .map_err(|e| sdk("forget the build a release task ran for", e))?;
    Ok(())
}

async fn poll(aws: &AwsProvider, live: &Observed) -> Result<Readiness, ProviderError> {
    if live.outputs.contains_key(ReleaseTaskSpec::OUT_TASK) {
        return poll_task(aws, live).await;
    }
    // The record: gone once the cluster no longer carries it.
    let cluster = live.outputs.get(OUT_CLUSTER).cloned().unwrap_or_default();
    let described = aws
        .clients
        .ecs
        .describe_clusters()
        .clusters(&cluster)
        .include(aws_sdk_ecs::types::ClusterField::Tags)
        .send()
        .await
        .map_err(|e| sdk("describe cluster", e))?;
    Ok(
        match described
            .clusters()
            .iter()
            .filter(|c| c.status() != Some("INACTIVE"))
            .flat_map(observe_record)
            .find(|record| record.id == live.id)
        {
            Some(record) => Readiness::Ready(record),
            None => Readiness::Gone,
        },
    )
}

impl Driver for ReleaseTaskSpec {
    const READ_BY: ServiceRead = ServiceRead::Ecs;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        start(aws, ctx, id, spec).await
    }

    /// A new build: the job runs again.
    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        start(aws, ctx, &live.id, spec).await
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        forget(aws, live).await
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        poll(aws, live).await
    }
}

/// A release task of a kind of its own (ordered apart from the migration): the driver is the
/// release task's, on the task the spec wraps.
macro_rules! release_task_of_its_own_kind {
    ($($spec:ty: $why:literal;)*) => {$(
        #[doc = $why]
        impl Driver for $spec {
            const READ_BY: ServiceRead = ServiceRead::Ecs;

            async fn create(
                aws: &AwsProvider,
                ctx: &Context<'_>,
                id: &LogicalId,
                spec: &Self,
            ) -> Result<Observed, ProviderError> {
                <ReleaseTaskSpec as Driver>::create(aws, ctx, id, &spec.task).await
            }

            async fn update(
                aws: &AwsProvider,
                ctx: &Context<'_>,
                spec: &Self,
                live: &Observed,
                fields: &[&str],
            ) -> Result<Observed, ProviderError> {
                <ReleaseTaskSpec as Driver>::update(aws, ctx, &spec.task, live, fields).await
            }

            async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
                <ReleaseTaskSpec as Driver>::delete(aws, live).await
            }

            async fn poll(
                aws: &AwsProvider,
                ctx: &Context<'_>,
                live: &Observed,
            ) -> Result<Readiness, ProviderError> {
                <ReleaseTaskSpec as Driver>::poll(aws, ctx, live).await
            }
        }
    )*};
}

release_task_of_its_own_kind! {
    DbLoginSpec: "The database login job, before the install and the migration.";
    InstallSpec: "Magento's install, once per stack, before the migration.";
    MaintenanceSpec: "The maintenance cleanup and the cache clean, after the services (the cleanup also after failures).";
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use mck_core::model::{EcsClusterSpec, Ref, TaskDefinitionSpec};
    use serde_json::json;

    use super::*;
    use crate::testing::{Replay, context, json_error};

    const TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/dev-admin:7";
    const OLD_TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/dev-admin:6";
    const TASK: &str = "arn:aws:ecs:us-east-1:1:task/dev-app/0a1b2c";
    const CLUSTER_ARN: &str = "arn:aws:ecs:us-east-1:1:cluster/dev-app";
    const IMAGE: &str = "public.ecr.aws/magecloudkit/magento:2.4.8";

    fn spec() -> ReleaseTaskSpec {
        ReleaseTaskSpec {
            job: ReleaseJob::Migrate,
            cluster: Ref::new("ecs.cluster"),
            task_definition: Ref::new("ecs.taskdef.admin"),
            log_group: Ref::new("logs.admin"),
            container: "php-fpm".into(),
            image: IMAGE.into(),
            command: vec![
                "sh".into(),
                "-c".into(),
                ReleaseTaskSpec::script("check", "up", false),
            ],
            capacity: ServiceCapacity::Fargate,
            subnets: vec![Ref::new("subnet.private.a")],
            security_groups: vec![Ref::new("sg.app")],
            after: Vec::new(),
            pauses: Vec::new(),
        }
    }

    const CRON_TD: &str = "arn:aws:ecs:us-east-1:1:task-definition/dev-cron:3";

    fn pausing_cron() -> ReleaseTaskSpec {
        ReleaseTaskSpec {
            pauses: vec![mck_core::model::PausedService {
                name: "cron".into(),
                task_definition: Ref::new("ecs.taskdef.cron"),
                count: 1,
            }],
            ..spec()
        }
    }

    /// What a migration that stops cron resolves: [`resolved`] and cron's task definition.
    fn resolved_with_cron() -> HashMap<LogicalId, Observed> {
        let mut deps = resolved();
        deps.insert(
            "ecs.taskdef.cron".into(),
            Observed::new(
                "ecs.taskdef.cron".into(),
                ResourceKind::TaskDefinition,
                CRON_TD,
            )
            .output(TaskDefinitionSpec::OUT_ARN, CRON_TD),
        );
        deps
    }

    /// DescribeServices of the cron service with `running` tasks.
    fn cron_service(running: i32) -> String {
        json!({"services": [{
            "serviceName": "cron", "status": "ACTIVE", "desiredCount": running,
            "runningCount": running, "pendingCount": 0,
            "taskDefinition": "arn:aws:ecs:us-east-1:1:task-definition/dev-cron:2"
        }], "failures": []})
        .to_string()
    }

    /// Cron stops before the migration starts (scaled to 0, waited for until its task has
    /// stopped), and runs again once the migration ended: on its new revision when it
    /// succeeded, on the one it ran when it failed. The first `up` has no cron to stop.
    #[tokio::test]
    async fn cron_stops_before_the_migration_and_runs_again_on_the_revision_its_outcome_says() {
        for (exit, resumed_on) in [(0, Some(CRON_TD)), (1, None)] {
            let mut answers = vec![
                ("UpdateService", 200, json!({"service": {}}).to_string()),
                ("DescribeServices", 200, cron_service(1)),
                ("DescribeServices", 200, cron_service(0)),
                ("ListTasks", 200, json!({"taskArns": []}).to_string()),
                (
                    "RunTask",
                    200,
                    tasks(&[task("PROVISIONING", TD, json!([]))]),
                ),
                (
                    "DescribeTasks",
                    200,
                    tasks(&[task(
                        "STOPPED",
                        TD,
                        json!([{"name": "php-fpm", "exitCode": exit}]),
                    )]),
                ),
                ("GetLogEvents", 200, logs(&["done"])),
            ];
            if exit == 0 {
                answers.push(("TagResource", 200, "{}".into()));
            }
            answers.push(("UpdateService", 200, json!({"service": {}}).to_string()));
            let aws = Replay::new(answers);
            let provider = AwsProvider::offline(aws.clone());
            let deps = resolved_with_cron();
            let ctx = context(&deps);
            let live = ReleaseTaskSpec::create(
                &provider,
                &ctx,
                &ReleaseTaskSpec::MIGRATE_ID.into(),
                &pausing_cron(),
            )
            .await
            .unwrap();
            let stop: serde_json::Value = serde_json::from_str(&aws.requests()[0].1).unwrap();
            assert_eq!(
                stop,
                json!({"cluster": "dev-app", "service": "cron", "desiredCount": 0})
            );
            // The task started only once cron's had stopped.
            assert_eq!(aws.requests()[4].0, "RunTask");
            let outcome = ReleaseTaskSpec::poll(&provider, &ctx, &live).await.unwrap();
            assert_eq!(
                matches!(outcome, Readiness::Ready(_)),
                exit == 0,
                "{outcome:?}"
            );
            aws.assert_done();
            let requests = aws.requests();
            let again: serde_json::Value =
                serde_json::from_str(&requests[requests.len() - 1].1).unwrap();
            assert_eq!(again["service"], "cron");
            assert_eq!(again["desiredCount"], 1);
            assert_eq!(
                again.get("taskDefinition").and_then(|t| t.as_str()),
                resumed_on,
                "exit {exit}: {again}"
            );
        }
        // The stack's first up: no cron yet (AWS: ServiceNotFoundException), nothing to stop
        // and nothing to wait for.
        let aws = Replay::new([
            (
                "UpdateService",
                400,
                json_error("ServiceNotFoundException", "Service not found."),
            ),
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            (
                "RunTask",
                200,
                tasks(&[task("PROVISIONING", TD, json!([]))]),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved_with_cron();
        ReleaseTaskSpec::create(
            &provider,
            &context(&deps),
            &ReleaseTaskSpec::MIGRATE_ID.into(),
            &pausing_cron(),
        )
        .await
        .unwrap();
        aws.assert_done();
        assert_eq!(aws.count("DescribeServices"), 0);
    }

    fn resolved() -> HashMap<LogicalId, Observed> {
        let mut out: HashMap<LogicalId, Observed> = [
            ("subnet.private.a", ResourceKind::Subnet, "subnet-a"),
            ("sg.app", ResourceKind::SecurityGroup, "sg-app"),
            ("logs.admin", ResourceKind::LogGroup, "/mck/dev/admin"),
        ]
        .into_iter()
        .map(|(id, kind, cloud)| (LogicalId::new(id), Observed::new(id.into(), kind, cloud)))
        .collect();
        out.insert(
            "ecs.cluster".into(),
            Observed::new("ecs.cluster".into(), ResourceKind::EcsCluster, "dev-app")
                .output(EcsClusterSpec::OUT_ARN, CLUSTER_ARN),
        );
        out.insert(
            "ecs.taskdef.admin".into(),
            Observed::new("ecs.taskdef.admin".into(), ResourceKind::TaskDefinition, TD)
                .output(TaskDefinitionSpec::OUT_ARN, TD),
        );
        out
    }

    fn task(status: &str, td: &str, containers: serde_json::Value) -> serde_json::Value {
        json!({
            "taskArn": TASK, "lastStatus": status, "taskDefinitionArn": td,
            "stoppedReason": "Essential container in task exited",
            "containers": containers,
        })
    }

    fn tasks(list: &[serde_json::Value]) -> String {
        json!({"tasks": list, "failures": []}).to_string()
    }

    fn logs(lines: &[&str]) -> String {
        let events: Vec<_> = lines
            .iter()
            .map(|m| json!({"timestamp": 1, "message": m, "ingestionTime": 1}))
            .collect();
        json!({"events": events}).to_string()
    }

    async fn started(aws: &Replay) -> Observed {
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        ReleaseTaskSpec::create(
            &provider,
            &context(&deps),
            &ReleaseTaskSpec::MIGRATE_ID.into(),
            &spec(),
        )
        .await
        .unwrap()
    }

    async fn poll(aws: &Replay, live: &Observed) -> Readiness {
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        ReleaseTaskSpec::poll(&provider, &context(&deps), live)
            .await
            .unwrap()
    }

    /// The task runs on the new revision with the command override, in the private subnets
    /// without a public IP; exit code 0 records the build on the cluster and shows the log.
    #[tokio::test]
    async fn exit_code_0_records_the_build_and_shows_the_last_log_lines() {
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            (
                "RunTask",
                200,
                tasks(&[task("PROVISIONING", TD, json!([]))]),
            ),
            (
                "DescribeTasks",
                200,
                tasks(&[task("RUNNING", TD, json!([]))]),
            ),
            (
                "DescribeTasks",
                200,
                tasks(&[task(
                    "STOPPED",
                    TD,
                    json!([{"name": "php-fpm", "exitCode": 0}, {"name": "nginx"}]),
                )]),
            ),
            (
                "GetLogEvents",
                200,
                logs(&[
                    "mck: the database needs an upgrade",
                    "Schema creation/updates:",
                ]),
            ),
            ("TagResource", 200, "{}".into()),
        ]);
        let live = started(&aws).await;
        assert_eq!(live.cloud_id, TASK);
        assert_eq!(live.pending.as_deref(), Some("provisioning"));
        let run = &aws.requests()[1].1;
        let body: serde_json::Value = serde_json::from_str(run).unwrap();
        assert_eq!(body["taskDefinition"], TD);
        assert_eq!(body["startedBy"], ReleaseJob::Migrate.started_by());
        assert_eq!(body["launchType"], "FARGATE");
        assert_eq!(
            body["networkConfiguration"]["awsvpcConfiguration"],
            json!({"subnets": ["subnet-a"], "securityGroups": ["sg-app"], "assignPublicIp": "DISABLED"})
        );
        assert_eq!(
            body["overrides"]["containerOverrides"][0]["name"],
            "php-fpm"
        );
        assert_eq!(
            body["overrides"]["containerOverrides"][0]["command"][2],
            ReleaseTaskSpec::script("check", "up", false)
        );
        assert!(matches!(poll(&aws, &live).await, Readiness::Pending(s) if s == "running"));
        let Readiness::Ready(done) = poll(&aws, &live).await else {
            panic!("exit 0 is success")
        };
        let note = &done.outputs[ReleaseTaskSpec::OUT_NOTE];
        assert!(note.contains("exited with code 0"), "{note}");
        assert!(note.contains("\n  Schema creation/updates:"), "{note}");
        let logs = &aws.requests()[4].1;
        assert!(
            logs.contains("\"logStreamName\":\"php-fpm/php-fpm/0a1b2c\""),
            "{logs}"
        );
        let tag = &aws.requests()[5].1;
        assert!(tag.contains(CLUSTER_ARN) && tag.contains(IMAGE), "{tag}");
        aws.assert_done();
    }

    /// A failing migration is a failed step with its exit code and log, and records nothing,
    /// so the next run tries it again.
    #[tokio::test]
    async fn a_non_zero_exit_fails_with_the_log_and_records_nothing() {
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            ("RunTask", 200, tasks(&[task("PENDING", TD, json!([]))])),
            (
                "DescribeTasks",
                200,
                tasks(&[task(
                    "STOPPED",
                    TD,
                    json!([{"name": "php-fpm", "exitCode": 1}]),
                )]),
            ),
            (
                "GetLogEvents",
                200,
                logs(&["SQLSTATE[HY000] [2002] Connection refused"]),
            ),
        ]);
        let live = started(&aws).await;
        let Readiness::Failed(why) = poll(&aws, &live).await else {
            panic!("exit 1 is a failure")
        };
        assert!(why.contains("exited with code 1"), "{why}");
        assert!(why.contains("no service was touched"), "{why}");
        assert!(why.contains("Connection refused"), "{why}");
        assert_eq!(aws.count("TagResource"), 0);
        aws.assert_done();
    }

    /// A container that never ran (image pull failed) has no exit code: that is a failure
    /// with ECS's reasons, never a success.
    #[tokio::test]
    async fn a_task_stopped_without_an_exit_code_fails_with_the_reason() {
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            ("RunTask", 200, tasks(&[task("PENDING", TD, json!([]))])),
            (
                "DescribeTasks",
                200,
                tasks(&[json!({
                    "taskArn": TASK, "lastStatus": "STOPPED", "taskDefinitionArn": TD,
                    "stoppedReason": "CannotPullContainerError: pull image manifest has been retried 5 time(s)",
                    "containers": [{"name": "php-fpm", "reason": "CannotPullContainerError"}],
                })]),
            ),
            (
                "GetLogEvents",
                400,
                crate::testing::json_error(
                    "ResourceNotFoundException",
                    "The specified log stream does not exist.",
                ),
            ),
        ]);
        let live = started(&aws).await;
        let Readiness::Failed(why) = poll(&aws, &live).await else {
            panic!("no exit code is a failure")
        };
        assert!(
            why.contains("CannotPullContainerError: pull image"),
            "{why}"
        );
        assert!(why.contains("without an exit code"), "{why}");
        assert!(
            why.contains("no log stream /mck/dev/admin php-fpm/php-fpm/0a1b2c"),
            "{why}"
        );
        aws.assert_done();
    }

    /// A run killed while its migration ran finds that task again instead of starting a second
    /// migration against the same database; another build's migration still running is refused.
    #[tokio::test]
    async fn a_migration_left_running_is_waited_for_and_never_run_twice() {
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": [TASK]}).to_string()),
            (
                "DescribeTasks",
                200,
                tasks(&[task("RUNNING", TD, json!([]))]),
            ),
            ("ListTasks", 200, json!({"taskArns": [TASK]}).to_string()),
            (
                "DescribeTasks",
                200,
                tasks(&[task("RUNNING", OLD_TD, json!([]))]),
            ),
        ]);
        let live = started(&aws).await;
        assert_eq!(live.cloud_id, TASK);
        assert_eq!(aws.count("RunTask"), 0);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let err = ReleaseTaskSpec::create(
            &provider,
            &context(&deps),
            &ReleaseTaskSpec::MIGRATE_ID.into(),
            &spec(),
        )
        .await
        .unwrap_err();
        assert!(
            err.message.contains("another build is still running"),
            "{}",
            err.message
        );
        assert_eq!(aws.count("RunTask"), 0);
        aws.assert_done();
    }

    /// No capacity to place the task (an EC2 cluster scaling out) passes: retried, and the
    /// engine's next attempt, once the capacity is there, starts the one task.
    #[tokio::test]
    async fn a_placement_failure_is_retried() {
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            (
                "RunTask",
                200,
                json!({"tasks": [], "failures": [{"reason": "RESOURCE:MEMORY"}]}).to_string(),
            ),
            // The engine's next attempt: the new instance has joined the cluster.
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            (
                "RunTask",
                200,
                tasks(&[task("PROVISIONING", TD, json!([]))]),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let err = ReleaseTaskSpec::create(
            &provider,
            &context(&deps),
            &ReleaseTaskSpec::MIGRATE_ID.into(),
            &spec(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient);
        assert!(err.message.contains("RESOURCE:MEMORY"), "{}", err.message);
        assert!(
            mck_core::exec::RetryPolicy::should_retry(err.class, mck_core::exec::Op::Create),
            "the engine retries it"
        );
        let live = started(&aws).await;
        assert_eq!(live.cloud_id, TASK);
        assert_eq!(aws.count("RunTask"), 2);
        aws.assert_done();
    }

    fn missing() -> String {
        json!({"tasks": [], "failures": [{"arn": TASK, "reason": "MISSING"}]}).to_string()
    }

    /// ECS is eventually consistent: DescribeTasks right after RunTask may answer `MISSING`,
    /// or nothing at all. The task is starting, not gone.
    #[tokio::test]
    async fn a_task_missing_right_after_run_task_counts_as_not_visible_yet() {
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            (
                "RunTask",
                200,
                tasks(&[task("PROVISIONING", TD, json!([]))]),
            ),
            ("DescribeTasks", 200, missing()),
            ("DescribeTasks", 200, tasks(&[])),
            (
                "DescribeTasks",
                200,
                tasks(&[task("RUNNING", TD, json!([]))]),
            ),
        ]);
        let live = started(&aws).await;
        for _ in 0..2 {
            let readiness = poll(&aws, &live).await;
            assert!(
                matches!(&readiness, Readiness::Pending(s) if s.starts_with("not visible yet")),
                "{readiness:?}"
            );
        }
        assert!(matches!(poll(&aws, &live).await, Readiness::Pending(s) if s == "running"));
        aws.assert_done();
    }

    /// Still `MISSING` two minutes after RunTask: a failure that says the task may still run
    /// (so nobody takes it for a migration that did nothing).
    #[tokio::test]
    async fn a_task_still_missing_after_the_grace_fails_saying_it_may_still_run() {
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            ("RunTask", 200, tasks(&[task("PENDING", TD, json!([]))])),
            ("DescribeTasks", 200, missing()),
        ]);
        let mut live = started(&aws).await;
        let grace = mck_core::provider::VISIBILITY_GRACE.as_secs();
        live.outputs.insert(
            OUT_STARTED.into(),
            (mck_core::lock::now_unix() - grace - 1).to_string(),
        );
        let Readiness::Failed(why) = poll(&aws, &live).await else {
            panic!("still missing after the grace is a failure")
        };
        assert!(why.contains("still not visible"), "{why}");
        assert!(why.contains("MISSING"), "{why}");
        assert!(why.contains("may still be running"), "{why}");
        assert!(why.contains("/mck/dev/admin"), "{why}");
        aws.assert_done();
    }

    /// The maintenance flag is never removed while a migration task runs (one left running by
    /// a timeout, or one a poll lost sight of): the cleanup waits (a retried error) and starts
    /// only once no migration task of the cluster is running.
    #[tokio::test]
    async fn maintenance_off_waits_while_a_migration_task_still_runs() {
        const OFF: &str = "arn:aws:ecs:us-east-1:1:task/dev-app/ff00";
        let aws = Replay::new([
            ("ListTasks", 200, json!({"taskArns": [TASK]}).to_string()),
            (
                "DescribeTasks",
                200,
                tasks(&[task("RUNNING", TD, json!([]))]),
            ),
            // Stopped since: it no longer holds the flag.
            ("ListTasks", 200, json!({"taskArns": [TASK]}).to_string()),
            (
                "DescribeTasks",
                200,
                tasks(&[task("STOPPED", TD, json!([{"name": "php-fpm", "exitCode": 0}]))]),
            ),
            ("ListTasks", 200, json!({"taskArns": []}).to_string()),
            (
                "RunTask",
                200,
                json!({"tasks": [{"taskArn": OFF, "lastStatus": "PROVISIONING", "taskDefinitionArn": TD}], "failures": []}).to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let off = MaintenanceSpec {
            task: ReleaseTaskSpec {
                job: ReleaseJob::MaintenanceOff,
                command: vec![
                    "sh".into(),
                    "-c".into(),
                    ReleaseTaskSpec::maintenance_off_script(None, ""),
                ],
                ..spec()
            },
        };
        let id = LogicalId::new(MaintenanceSpec::ID);
        let err = MaintenanceSpec::create(&provider, &context(&deps), &id, &off)
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient, "retried: it waits");
        assert!(
            err.message
                .contains("the migration task 0a1b2c is still running"),
            "{}",
            err.message
        );
        assert!(err.message.contains("maintenance flag"), "{}", err.message);
        assert_eq!(aws.count("RunTask"), 0);
        let live = MaintenanceSpec::create(&provider, &context(&deps), &id, &off)
            .await
            .unwrap();
        assert_eq!(live.cloud_id, OFF);
        let requests = aws.requests();
        assert!(
            requests[0].1.contains("\"startedBy\":\"mck-migrate\""),
            "{}",
            requests[0].1
        );
        assert!(
            requests[4].1.contains("\"startedBy\":\"mck-maintenance\""),
            "{}",
            requests[4].1
        );
        aws.assert_done();
    }

    #[test]
    fn the_records_on_the_cluster_are_the_builds_the_jobs_ran_for() {
        let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
        let cluster = Cluster::builder()
            .cluster_name("dev-app")
            .cluster_arn(CLUSTER_ARN)
            .tags(tag(ReleaseJob::Migrate.record_tag(), IMAGE))
            .tags(tag(
                ReleaseJob::MaintenanceOff.record_tag(),
                "public.ecr.aws/magecloudkit/magento:2.4.7",
            ))
            .tags(tag(ReleaseJob::CacheClean.record_tag(), IMAGE))
            .build();
        let records = observe_record(&cluster);
        assert_eq!(records[0].id.as_str(), ReleaseTaskSpec::MIGRATE_ID);
        assert_eq!(
            records[0].fields[ReleaseTaskSpec::IMAGE.name],
            Value::Str(IMAGE.into())
        );
        // The flag was removed for an older build than the one migrated last: due again.
        assert_eq!(records[1].id.as_str(), MaintenanceSpec::ID);
        assert_eq!(records[1].kind, ResourceKind::Maintenance);
        assert_eq!(records[1].fields[ReleaseTaskSpec::IMAGE.name], Value::Null);
        // The caches were cleaned for the build migrated last: done.
        assert_eq!(records[2].id.as_str(), "release.cache-clean");
        assert_eq!(records[2].kind, ResourceKind::Maintenance);
        assert_eq!(
            records[2].fields[ReleaseTaskSpec::IMAGE.name],
            Value::Str(IMAGE.into())
        );
        assert!(observe_record(&Cluster::builder().cluster_name("dev-app").build()).is_empty());
    }

    /// The database login job and the install are read back as their own kinds, each on its
    /// own record: the login's build (whatever was migrated since), the install's constant.
    #[test]
    fn the_login_and_install_records_are_read_as_their_kinds() {
        let tag = |key: &str, value: &str| Tag::builder().key(key).value(value).build();
        let older = "public.ecr.aws/magecloudkit/magento:2.4.7";
        let cluster = Cluster::builder()
            .cluster_name("dev-app")
            .cluster_arn(CLUSTER_ARN)
            .tags(tag(ReleaseJob::DbLogin.record_tag(), older))
            .tags(tag(
                ReleaseJob::Install.record_tag(),
                InstallSpec::INSTALLED,
            ))
            .tags(tag(ReleaseJob::Migrate.record_tag(), IMAGE))
            .build();
        let records = observe_record(&cluster);
        let record = |job: ReleaseJob| {
            records
                .iter()
                .find(|o| o.id.as_str() == job.id())
                .unwrap_or_else(|| panic!("no record of {job:?}: {records:?}"))
        };
        let login = record(ReleaseJob::DbLogin);
        assert_eq!(login.kind, ResourceKind::DbLogin);
        assert_eq!(
            login.fields[ReleaseTaskSpec::IMAGE.name],
            Value::Str(older.into())
        );
        let install = record(ReleaseJob::Install);
        assert_eq!(install.kind, ResourceKind::Install);
        assert_eq!(
            install.fields[ReleaseTaskSpec::IMAGE.name],
            Value::Str(InstallSpec::INSTALLED.into())
        );
        assert_eq!(install.cloud_id, "dev-app/mck:installed");
    }
}
