//! Task definitions: one family per app, `<stack>-<app>`. Revisioned: a change registers a new
//! revision (create-first replacement) and the old one is deregistered once nothing uses it.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    Compatibility, ContainerDefinition, EfsAuthorizationConfig, EfsAuthorizationConfigIam,
    EfsTransitEncryption, EfsVolumeConfiguration, KeyValuePair, LogConfiguration, LogDriver,
    MountPoint, NetworkMode, PortMapping, Secret, Tag, TaskDefinition, TaskDefinitionFamilyStatus,
    TaskDefinitionField, TaskDefinitionStatus, TransportProtocol, Volume,
};
use mck_core::model::{LogicalId, ResourceKind, TaskDefinitionSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

fn owned(tags: &[Tag], stack: &str) -> Option<LogicalId> {
    crate::owner(
        tags.iter().filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

fn row(container: &str, key: String, value: Value) -> Value {
    Value::List(vec![Value::Str(container.into()), Value::Str(key), value])
}

/// A registered revision as the model's fields: only what mck sets, in the model's order, so
/// what AWS adds (defaults, `essential`, empty lists) is no change.
pub(super) fn observe(id: LogicalId, td: &TaskDefinition) -> Observed {
    let mut rows = Vec::new();
    let mut log_group = None;
    for c in td.container_definitions() {
        let name = c.name().unwrap_or_default();
        rows.push(row(
            name,
            "image".into(),
            Value::Str(c.image().unwrap_or_default().into()),
        ));
        if let Some(port) = c.port_mappings().first().and_then(|p| p.container_port()) {
            rows.push(row(name, "port".into(), Value::Int(i64::from(port))));
        }
        rows.push(row(
            name,
            "memory_reservation".into(),
            Value::Int(i64::from(c.memory_reservation().unwrap_or(0))),
        ));
        for kv in c.environment() {
            rows.push(row(
                name,
                format!("environment.{}", kv.name().unwrap_or_default()),
                Value::Str(kv.value().unwrap_or_default().into()),
            ));
        }
        for secret in c.secrets() {
            rows.push(row(
                name,
                format!("secret.{}", secret.name()),
                Value::Str(secret.value_from().into()),
            ));
        }
        for mount in c.mount_points() {
            rows.push(row(
                name,
                format!("mount.{}", mount.source_volume().unwrap_or_default()),
                Value::Str(mount.container_path().unwrap_or_default().into()),
            ));
        }
        if !c.command().is_empty() {
            rows.push(row(
                name,
                "command".into(),
                TaskDefinitionSpec::command_value(c.command()),
            ));
        }
        if log_group.is_none() {
            log_group = c
                .log_configuration()
                .and_then(|l| l.options())
                .and_then(|o| o.get("awslogs-group"))
                .cloned();
        }
    }
    rows.sort();
    let mut volumes: Vec<Value> = td
        .volumes()
        .iter()
        .filter_map(|v| {
            let efs = v.efs_volume_configuration()?;
            Some(Value::List(vec![
                Value::Str(v.name().unwrap_or_default().into()),
                Value::CloudId(efs.file_system_id().into()),
                Value::CloudId(
                    efs.authorization_config()
                        .and_then(|a| a.access_point_id())
                        .unwrap_or_default()
                        .into(),
                ),
            ]))
        })
        .collect();
    volumes.sort();
    let arn = td.task_definition_arn().unwrap_or_default();
    let number = |text: Option<&str>| text.and_then(|t| t.parse::<i64>().ok());
    Observed::new(id, ResourceKind::TaskDefinition, arn)
        .with(TaskDefinitionSpec::FAMILY, td.family().unwrap_or_default())
        .with(TaskDefinitionSpec::CPU, number(td.cpu()))
        .with(TaskDefinitionSpec::MEMORY, number(td.memory()))
        .with(
            TaskDefinitionSpec::REQUIRES_COMPATIBILITIES,
            td.requires_compatibilities()
                .first()
                .map(|c| c.as_str().to_string()),
        )
        .with(
            TaskDefinitionSpec::EXECUTION_ROLE_ARN,
            td.execution_role_arn().map(str::to_string),
        )
        .with(
            TaskDefinitionSpec::TASK_ROLE_ARN,
            td.task_role_arn().map(str::to_string),
        )
        .with(
            TaskDefinitionSpec::LOG_GROUP,
            log_group.map_or(Value::Null, |g| Value::CloudRef(ResourceKind::LogGroup, g)),
        )
        .with(TaskDefinitionSpec::CONTAINERS, Value::List(rows))
        .with(TaskDefinitionSpec::VOLUMES, Value::List(volumes))
        .output(TaskDefinitionSpec::OUT_ARN, arn)
        .output(TaskDefinitionSpec::OUT_REVISION, td.revision().to_string())
}

/// The latest active revision of every family `<stack>-…` the stack owns: one list call, then
/// one describe per family.
pub(super) async fn read(ecs: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut families = Vec::new();
    let mut pages = ecs
        .list_task_definition_families()
        .family_prefix(format!("{stack}-"))
        .status(TaskDefinitionFamilyStatus::Active)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list task definition families", e))?;
        families.extend(page.families().iter().cloned());
    }
    let mut out = Vec::new();
    for family in families {
        if let Some((td, tags)) = describe(ecs, &family).await?
            && let Some(id) = owned(&tags, stack)
        {
            out.push(observe(id, &td));
        }
    }
    Ok(out)
}

async fn describe(
    ecs: &Client,
    name: &str,
) -> Result<Option<(TaskDefinition, Vec<Tag>)>, ProviderError> {
    match ecs
        .describe_task_definition()
        .task_definition(name)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .task_definition()
            .filter(|td| td.status() == Some(&TaskDefinitionStatus::Active))
            .map(|td| (td.clone(), out.tags().to_vec()))),
        Err(e) => {
            let err = sdk(&format!("describe task definition {name}"), e);
            // A family with no active revision left answers "ClientException: Unable to
            // describe task definition".
            if err.class == mck_core::provider::ErrorClass::Invalid
                && err.code.as_deref() == Some("ClientException")
            {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The active revisions of `family`: `(revision number, ARN)`.
pub(crate) async fn revisions(
    ecs: &Client,
    family: &str,
) -> Result<Vec<(i64, String)>, ProviderError> {
    let mut active = Vec::new();
    let mut pages = ecs
        .list_task_definitions()
        .family_prefix(family)
        .status(TaskDefinitionStatus::Active)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list task definitions", e))?;
        for arn in page.task_definition_arns() {
            // `familyPrefix` matches prefixes: keep the family's own revisions only.
            let Some((name, number)) = arn.rsplit('/').next().and_then(|s| s.rsplit_once(':'))
            else {
                continue;
            };
            if name == family
                && let Ok(number) = number.parse::<i64>()
            {
                active.push((number, arn.clone()));
            }
        }
    }
    Ok(active)
}

/// Revisions `mck releases` lists, newest first (one describe each, the newest 20 at most).
pub(crate) async fn registered(
    ecs: &Client,
    family: &str,
) -> Result<Vec<mck_core::provider::Revision>, ProviderError> {
    let mut active = revisions(ecs, family).await?;
    active.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut out = Vec::new();
    for (number, arn) in active.into_iter().take(20) {
        if let Some((td, _)) = describe(ecs, &arn).await? {
            let observed = observe(LogicalId::new(family), &td);
            out.push(mck_core::provider::Revision::from_fields(
                &arn,
                number,
                &observed.fields,
            ));
        }
    }
    Ok(out)
}

/// After a rollout: deregisters the family's revisions beyond the newest
/// `spec.keep_revisions`, never one a service of the cluster runs or is deploying (a rolled
/// back service may run an old one). `Ok(false)`: `old` is kept (nothing to wait for).
pub(crate) async fn prune(
    aws: &AwsProvider,
    spec: &TaskDefinitionSpec,
    old: &Observed,
) -> Result<bool, ProviderError> {
    let ecs = &aws.clients.ecs;
    let active = revisions(ecs, &spec.family).await?;
    let mut in_use = std::collections::BTreeSet::new();
    // Every page: ListServices answers 10 services per page by default, and a revision in use
    // by a service on a later page must not be deregistered.
    let mut service_arns = Vec::new();
    let mut pages = ecs
        .list_services()
        .cluster(&spec.cluster_name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list services", e))?;
        service_arns.extend(page.service_arns().iter().cloned());
    }
    for chunk in service_arns.chunks(10) {
        let described = ecs
            .describe_services()
            .cluster(&spec.cluster_name)
            .set_services(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk("describe services", e))?;
        for service in described
            .services()
            .iter()
            .filter(|s| s.status() != Some("INACTIVE"))
        {
            in_use.extend(service.task_definition().map(str::to_string));
            in_use.extend(
                service
                    .deployments()
                    .iter()
                    .filter_map(|d| d.task_definition().map(str::to_string)),
            );
        }
    }
    let prune = TaskDefinitionSpec::revisions_to_prune(&active, &in_use, spec.keep_revisions);
    for arn in &prune {
        match ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
        {
            Ok(_) => {
                tracing::info!(revision = %arn, "deregistered an old task definition revision")
            }
            Err(e) => {
                let err = sdk(&format!("deregister task definition {arn}"), e);
                if err.class != mck_core::provider::ErrorClass::NotFound {
                    return Err(err);
                }
            }
        }
    }
    Ok(prune.contains(&old.cloud_id))
}

fn invalid(e: impl std::fmt::Display) -> ProviderError {
    ProviderError::invalid(format!("task definition: {e}"))
}

impl Driver for TaskDefinitionSpec {
    const READ_BY: ServiceRead = ServiceRead::Ecs;

    /// RegisterTaskDefinition is not idempotent, but a repeat only adds an identical revision
    /// of the same family: the read takes the latest, and nothing is left behind twice.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let log_group = ctx.cloud_id(spec.log_group.id())?;
        let mut containers = Vec::new();
        for c in &spec.containers {
            let mut def = ContainerDefinition::builder()
                .name(&c.name)
                .image(&c.image)
                .essential(true)
                .memory_reservation(crate::int32(c.memory_reservation, "memory_reservation")?)
                .log_configuration(
                    LogConfiguration::builder()
                        .log_driver(LogDriver::Awslogs)
                        .options("awslogs-group", log_group)
                        .options("awslogs-region", aws.clients.region.as_str())
                        .options("awslogs-stream-prefix", &c.name)
                        .build()
                        .map_err(invalid)?,
                );
            if let Some(port) = c.port {
                def = def.port_mappings(
                    PortMapping::builder()
                        .container_port(crate::int32(port, "port")?)
                        .protocol(TransportProtocol::Tcp)
                        .build(),
                );
            }
            for (k, v) in &c.environment {
                // Plain values, or a host name another resource reports (known after apply).
                let (Value::Str(value) | Value::CloudId(value)) = ctx.resolve(v)? else {
                    return Err(invalid(format!("variable {k} has no value")));
                };
                def = def.environment(KeyValuePair::builder().name(k).value(value).build());
            }
            for (name, value) in &c.secrets {
                let (Value::Str(arn) | Value::CloudId(arn)) = ctx.resolve(value)? else {
                    return Err(invalid(format!("secret {name} has no ARN")));
                };
                def = def.secrets(
                    Secret::builder()
                        .name(name)
                        .value_from(arn)
                        .build()
                        .map_err(invalid)?,
                );
            }
            if !c.command.is_empty() {
                def = def.set_command(Some(c.command.clone()));
            }
            for (volume, path) in &c.mounts {
                def = def.mount_points(
                    MountPoint::builder()
                        .source_volume(volume)
                        .container_path(path)
                        .read_only(false)
                        .build(),
                );
            }
            containers.push(def.build());
        }
        let mut volumes = Vec::new();
        for v in &spec.volumes {
            volumes.push(
                Volume::builder()
                    .name(&v.name)
                    .efs_volume_configuration(
                        EfsVolumeConfiguration::builder()
                            .file_system_id(ctx.cloud_id(v.file_system.id())?)
                            .transit_encryption(EfsTransitEncryption::Enabled)
                            .authorization_config(
                                EfsAuthorizationConfig::builder()
                                    .access_point_id(ctx.cloud_id(v.access_point.id())?)
                                    .iam(EfsAuthorizationConfigIam::Enabled)
                                    .build(),
                            )
                            .build()
                            .map_err(invalid)?,
                    )
                    .build(),
            );
        }
        let role_arn = |r: &mck_core::model::Ref<mck_core::model::kind::Role>| {
            ctx.output(r.id(), mck_core::model::RoleSpec::OUT_ARN)
        };
        let tags = super::tags(ctx, id);
        let out = aws
            .clients
            .ecs
            .register_task_definition()
            .family(&spec.family)
            .cpu(spec.cpu.to_string())
            .memory(spec.memory.to_string())
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::from(spec.compatibility.as_str()))
            .execution_role_arn(role_arn(&spec.execution_role)?)
            .task_role_arn(role_arn(&spec.task_role)?)
            .set_container_definitions(Some(containers))
            .set_volumes(Some(volumes))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| {
                sdk(
                    &format!("register task definition {id} ({})", spec.family),
                    e,
                )
            })?;
        let td = out
            .task_definition()
            .ok_or_else(|| ProviderError::invalid("register task definition returned nothing"))?;
        Ok(observe(id.clone(), td))
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(live.kind))
    }

    /// Deregisters every active revision of the family, the kept older ones included (their
    /// services are deleted first), so nothing of the app is left registered.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        if describe(&aws.clients.ecs, &live.cloud_id).await?.is_none() {
            return Err(crate::missing("task definition", &live.cloud_id));
        }
        let family = live
            .fields
            .get(TaskDefinitionSpec::FAMILY.name)
            .and_then(|v| match v {
                Value::Str(s) => Some(s.clone()),
                _ => None,
            })
            .unwrap_or_default();
        let mut arns = vec![live.cloud_id.clone()];
        if !family.is_empty() {
            let mut older = revisions(&aws.clients.ecs, &family).await?;
            older.sort();
            arns.extend(
                older
                    .into_iter()
                    .map(|(_, arn)| arn)
                    .filter(|arn| *arn != live.cloud_id),
            );
        }
        for arn in arns {
            if let Err(e) = aws
                .clients
                .ecs
                .deregister_task_definition()
                .task_definition(&arn)
                .send()
                .await
            {
                let err = sdk(&format!("deregister task definition {arn}"), e);
                if err.class != mck_core::provider::ErrorClass::NotFound || arn == live.cloud_id {
                    return Err(err);
                }
            }
        }
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match describe(&aws.clients.ecs, &live.cloud_id).await? {
            Some((td, _)) => Readiness::Ready(observe(live.id.clone(), &td)),
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use aws_sdk_ecs::types::{ContainerDefinition, EfsVolumeConfiguration};
    use mck_core::model::{ContainerSpec, Ref, VolumeSpec};

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn what_aws_adds_is_no_change_and_the_containers_read_back_as_set() {
        let secret = "arn:aws:secretsmanager:us-east-1:1:secret:rds-1";
        let container = ContainerDefinition::builder()
            .name("nginx")
            .image("example/nginx:2.4.7")
            // Added by AWS: defaults and empty settings, none of them a change.
            .essential(true)
            .cpu(0)
            .memory_reservation(128)
            .command("sh")
            .command("-c")
            .command("bin/magento cron:run")
            .port_mappings(
                PortMapping::builder()
                    .container_port(80)
                    .host_port(80)
                    .protocol(TransportProtocol::Tcp)
                    .build(),
            )
            .environment(
                KeyValuePair::builder()
                    .name("DB_HOST")
                    .value("db.t.internal")
                    .build(),
            )
            .environment(
                KeyValuePair::builder()
                    .name("SEARCH_HOST")
                    .value("vpc-t-search-x1.us-east-1.es.amazonaws.com")
                    .build(),
            )
            .secrets(
                Secret::builder()
                    .name("DB_SECRET")
                    .value_from(secret)
                    .build()
                    .unwrap(),
            )
            .mount_points(
                MountPoint::builder()
                    .source_volume("media")
                    .container_path("/var/www/html/pub/media")
                    .build(),
            )
            .log_configuration(
                LogConfiguration::builder()
                    .log_driver(LogDriver::Awslogs)
                    .options("awslogs-group", "/mck/t/frontend")
                    .build()
                    .unwrap(),
            )
            .build();
        let td = TaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:1:task-definition/t-frontend:3")
            .family("t-frontend")
            .revision(3)
            .cpu("512")
            .memory("1024")
            .requires_compatibilities(Compatibility::Fargate)
            .execution_role_arn("arn:aws:iam::1:role/mck/t/t-task-execution")
            .task_role_arn("arn:aws:iam::1:role/mck/t/t-task")
            .container_definitions(container)
            .volumes(
                Volume::builder()
                    .name("media")
                    .efs_volume_configuration(
                        EfsVolumeConfiguration::builder()
                            .file_system_id("fs-1")
                            .authorization_config(
                                EfsAuthorizationConfig::builder()
                                    .access_point_id("fsap-1")
                                    .build(),
                            )
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build();
        let observed = observe("ecs.taskdef.frontend".into(), &td);
        assert_eq!(observed.outputs["revision"], "3");
        let spec = TaskDefinitionSpec {
            family: "t-frontend".into(),
            cpu: 512,
            memory: 1024,
            compatibility: "FARGATE".into(),
            execution_role: Ref::new("iam.task-execution"),
            task_role: Ref::new("iam.task"),
            log_group: Ref::new("logs.frontend"),
            containers: vec![ContainerSpec {
                name: "nginx".into(),
                image: "example/nginx:2.4.7".into(),
                port: Some(80),
                memory_reservation: 128,
                environment: BTreeMap::from([
                    ("DB_HOST".to_string(), Value::from("db.t.internal")),
                    // Known after apply: the domain's host name, which its certificate names.
                    (
                        "SEARCH_HOST".to_string(),
                        Ref::<mck_core::model::kind::SearchDomain>::new("search")
                            .output(mck_core::model::SearchDomainSpec::OUT_ENDPOINT),
                    ),
                ]),
                secrets: vec![("DB_SECRET".into(), Value::Str(secret.into()))],
                mounts: vec![("media".into(), "/var/www/html/pub/media".into())],
                command: vec!["sh".into(), "-c".into(), "bin/magento cron:run".into()],
            }],
            volumes: vec![VolumeSpec {
                name: "media".into(),
                file_system: Ref::new("efs"),
                access_point: Ref::new("efs.ap.media"),
            }],
            keep_revisions: 5,
            cluster_name: "t-app".into(),
        };
        // Role ARNs are outputs of the roles: they read back as their values.
        let ids = [
            ("logs.frontend", "/mck/t/frontend"),
            ("efs", "fs-1"),
            ("efs.ap.media", "fsap-1"),
            (
                "iam.task-execution.arn",
                "arn:aws:iam::1:role/mck/t/t-task-execution",
            ),
            ("iam.task.arn", "arn:aws:iam::1:role/mck/t/t-task"),
            (
                "search.endpoint",
                "vpc-t-search-x1.us-east-1.es.amazonaws.com",
            ),
        ];
        assert_reads(&observed, spec, &ids);
    }

    /// After a rollout: revisions beyond the newest 2 go, except the one a rolled-back service
    /// still runs; another family sharing the prefix is not touched.
    #[tokio::test]
    async fn pruning_deregisters_old_revisions_but_never_one_in_use() {
        use serde_json::json;
        let arn = |f: &str, n: i64| format!("arn:aws:ecs:us-east-1:1:task-definition/{f}:{n}");
        let listed = json!({"taskDefinitionArns": [
            arn("dev-admin", 1), arn("dev-admin", 2), arn("dev-admin", 3),
            arn("dev-admin", 4), arn("dev-admin-worker", 9),
        ]});
        let services = json!({"services": [
            {"serviceName": "admin", "status": "ACTIVE", "taskDefinition": arn("dev-admin", 2),
             "deployments": [{"status": "PRIMARY", "taskDefinition": arn("dev-admin", 2)}]},
            {"serviceName": "old", "status": "INACTIVE", "taskDefinition": arn("dev-admin", 1)},
        ], "failures": []});
        let aws = crate::testing::Replay::new([
            ("ListTaskDefinitions", 200, listed.to_string()),
            (
                "ListServices",
                200,
                json!({"serviceArns": ["s1", "s2"]}).to_string(),
            ),
            ("DescribeServices", 200, services.to_string()),
            ("DeregisterTaskDefinition", 200, json!({}).to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let mut spec = spec_for_prune();
        spec.keep_revisions = 2;
        let old = Observed::new(
            "ecs.taskdef.admin".into(),
            ResourceKind::TaskDefinition,
            arn("dev-admin", 3),
        );
        // Revision 3 is among the newest two: kept, nothing to wait for.
        assert!(!prune(&provider, &spec, &old).await.unwrap());
        let deregistered: Vec<String> = aws
            .requests()
            .into_iter()
            .filter(|(name, _)| name == "DeregisterTaskDefinition")
            .map(|(_, body)| body)
            .collect();
        assert_eq!(deregistered.len(), 1, "{deregistered:?}");
        assert!(
            deregistered[0].contains(&arn("dev-admin", 1)),
            "{deregistered:?}"
        );
        aws.assert_done();
    }

    /// ListServices answers 10 services a page: a rolled-back service on the second page
    /// still runs revision 1, which pruning must keep (`mck rollback` needs it).
    #[tokio::test]
    async fn pruning_reads_every_page_of_services() {
        use serde_json::json;
        let arn = |f: &str, n: i64| format!("arn:aws:ecs:us-east-1:1:task-definition/{f}:{n}");
        let listed = json!({"taskDefinitionArns": [
            arn("dev-admin", 1), arn("dev-admin", 2), arn("dev-admin", 3), arn("dev-admin", 4),
        ]});
        let first: Vec<String> = (0..10).map(|n| format!("s{n}")).collect();
        let idle = json!({"services": [], "failures": []});
        let rolled_back = json!({"services": [
            {"serviceName": "admin", "status": "ACTIVE", "taskDefinition": arn("dev-admin", 1),
             "deployments": [{"status": "PRIMARY", "taskDefinition": arn("dev-admin", 1)}]},
        ], "failures": []});
        let aws = crate::testing::Replay::new([
            ("ListTaskDefinitions", 200, listed.to_string()),
            (
                "ListServices",
                200,
                json!({"serviceArns": first, "nextToken": "page-2"}).to_string(),
            ),
            (
                "ListServices",
                200,
                json!({"serviceArns": ["s10"]}).to_string(),
            ),
            ("DescribeServices", 200, idle.to_string()),
            ("DescribeServices", 200, rolled_back.to_string()),
            ("DeregisterTaskDefinition", 200, json!({}).to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let mut spec = spec_for_prune();
        spec.keep_revisions = 2;
        let old = Observed::new(
            "ecs.taskdef.admin".into(),
            ResourceKind::TaskDefinition,
            arn("dev-admin", 3),
        );
        prune(&provider, &spec, &old).await.unwrap();
        aws.assert_done();
        let requests = aws.requests();
        assert!(
            requests[2].1.contains("\"nextToken\":\"page-2\""),
            "{requests:?}"
        );
        let deregistered: Vec<&String> = requests
            .iter()
            .filter(|(name, _)| name == "DeregisterTaskDefinition")
            .map(|(_, body)| body)
            .collect();
        assert_eq!(deregistered.len(), 1, "{deregistered:?}");
        assert!(
            deregistered[0].contains(&arn("dev-admin", 2)),
            "{deregistered:?}"
        );
    }

    fn spec_for_prune() -> TaskDefinitionSpec {
        TaskDefinitionSpec {
            family: "dev-admin".into(),
            cpu: 512,
            memory: 1024,
            compatibility: "FARGATE".into(),
            execution_role: Ref::new("iam.task-execution"),
            task_role: Ref::new("iam.task"),
            log_group: Ref::new("logs.admin"),
            containers: Vec::new(),
            volumes: Vec::new(),
            keep_revisions: 5,
            cluster_name: "dev-app".into(),
        }
    }
}
