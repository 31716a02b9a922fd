//! The ECS service of each app, in the cluster `<stack>-app`: its reader and its driver
//! (create, update, delete). Its readiness (`poll`) is the health-gated rollout, whose parts
//! (where the deployment stands, the target group's health, the stopped tasks) are in
//! [`super::rollout`].

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, DeploymentAlarms,
    DeploymentCircuitBreaker, DeploymentConfiguration, DeploymentRolloutState, LaunchType,
    LoadBalancer, NetworkConfiguration, Service, ServiceField,
};
use mck_core::model::{
    EcsServiceSpec, LogicalId, ResourceKind, ScalableTargetSpec, ServiceCapacity, Value,
};
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError, Readiness};

use super::rollout::{Rollout, alarms_fired, stopped_tasks, target_health};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

fn owned(service: &Service, stack: &str) -> Option<LogicalId> {
    crate::owner(
        service
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

/// An output of the update that started a rollout of a scaled service: the scalable target
/// whose scale-in it suspended, which the poll resumes when the rollout ends.
const SCALE_IN_SUSPENDED: &str = "_scale_in_suspended";

/// The alarms that roll the service's deployments back (none when they are off).
pub(super) fn deployment_alarms(service: &Service) -> Vec<String> {
    service
        .deployment_configuration()
        .and_then(|d| d.alarms())
        .filter(|a| a.enable())
        .map(|a| a.alarm_names().to_vec())
        .unwrap_or_default()
}

/// The cluster's name from its ARN (`…:cluster/dev-app`).
fn cluster_name(service: &Service) -> &str {
    service
        .cluster_arn()
        .and_then(|arn| arn.rsplit('/').next())
        .unwrap_or_default()
}

pub(super) fn observe(id: LogicalId, service: &Service) -> Observed {
    let name = service.service_name().unwrap_or_default();
    let arn = service.service_arn().unwrap_or_default();
    let network = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration());
    let ids = |items: &[String]| {
        let mut v: Vec<Value> = items.iter().map(|s| Value::CloudId(s.clone())).collect();
        v.sort();
        Value::List(v)
    };
    let load_balancer = service.load_balancers().first().map_or(Value::Null, |lb| {
        let mut v = vec![
            Value::CloudId(lb.target_group_arn().unwrap_or_default().into()),
            Value::Str(lb.container_name().unwrap_or_default().into()),
            Value::Int(i64::from(lb.container_port().unwrap_or(0))),
        ];
        v.sort();
        Value::List(v)
    });
    let deployment = service.deployment_configuration().map_or(Value::Null, |d| {
        let breaker = d.deployment_circuit_breaker();
        if breaker.is_some_and(DeploymentCircuitBreaker::enable) {
            Value::Str(EcsServiceSpec::deployment(
                d.minimum_healthy_percent().unwrap_or(100),
                d.maximum_percent().unwrap_or(200),
                breaker.is_some_and(DeploymentCircuitBreaker::rollback),
            ))
        } else {
            Value::Str(format!(
                "{}%-{}%, no circuit breaker",
                d.minimum_healthy_percent().unwrap_or(100),
                d.maximum_percent().unwrap_or(200)
            ))
        }
    });
    let mut alarms: Vec<Value> = deployment_alarms(service)
        .into_iter()
        .map(Value::CloudId)
        .collect();
    alarms.sort();
    let o = Observed::new(id, ResourceKind::EcsService, arn)
        .with(EcsServiceSpec::NAME, name)
        .with(
            EcsServiceSpec::CLUSTER,
            Value::CloudRef(ResourceKind::EcsCluster, cluster_name(service).into()),
        )
        .with(
            EcsServiceSpec::TASK_DEFINITION,
            Value::CloudId(service.task_definition().unwrap_or_default().into()),
        )
        .with(
            EcsServiceSpec::DESIRED_COUNT,
            i64::from(service.desired_count()),
        )
        .with(
            EcsServiceSpec::CAPACITY,
            match service.capacity_provider_strategy().first() {
                Some(item) => Value::CloudRef(
                    ResourceKind::CapacityProvider,
                    item.capacity_provider().to_string(),
                ),
                None => service
                    .launch_type()
                    .map_or(Value::Null, |l| Value::from(l.as_str())),
            },
        )
        .with(
            EcsServiceSpec::SUBNETS,
            ids(network
                .map(AwsVpcConfiguration::subnets)
                .unwrap_or_default()),
        )
        .with(
            EcsServiceSpec::SECURITY_GROUPS,
            ids(network
                .map(AwsVpcConfiguration::security_groups)
                .unwrap_or_default()),
        )
        .with(EcsServiceSpec::LOAD_BALANCER, load_balancer)
        .with(EcsServiceSpec::DEPLOYMENT, deployment)
        .with(EcsServiceSpec::DEPLOYMENT_ALARMS, Value::List(alarms))
        .with(
            EcsServiceSpec::ENABLE_EXECUTE_COMMAND,
            service.enable_execute_command(),
        )
        .with(
            EcsServiceSpec::HEALTH_CHECK_GRACE_PERIOD,
            i64::from(service.health_check_grace_period_seconds().unwrap_or(0)),
        )
        .output(EcsServiceSpec::OUT_NAME, name)
        .output(EcsServiceSpec::OUT_ARN, arn);
    // A run killed during a rollout leaves it in progress: the next run waits for it.
    let rolling = service.deployments().iter().any(|d| {
        d.status() == Some("PRIMARY")
            && d.rollout_state() == Some(&DeploymentRolloutState::InProgress)
    });
    if rolling {
        o.pending("deployment in progress")
    } else {
        o
    }
}

/// The services named `names` in `cluster`, with their tags. INACTIVE services (deleted, shown
/// for an hour) and missing ones are left out; a missing cluster has no services.
pub(super) async fn describe(
    ecs: &Client,
    cluster: &str,
    names: Vec<String>,
) -> Result<Vec<Service>, ProviderError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let out = match ecs
        .describe_services()
        .cluster(cluster)
        .set_services(Some(names))
        .include(ServiceField::Tags)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_cluster_not_found_exception()) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(sdk(&format!("describe services of {cluster}"), e)),
    };
    Ok(out
        .services()
        .iter()
        .filter(|s| s.status() != Some("INACTIVE"))
        .cloned()
        .collect())
}

/// The stack's services: those of its cluster, ten per DescribeServices call. A service still
/// DRAINING from its deletion is left out: it is going away, and a create of the same name
/// waits for it.
pub(super) async fn read(ecs: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let cluster = format!("{stack}-app");
    let mut arns = Vec::new();
    let mut pages = ecs
        .list_services()
        .cluster(&cluster)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => arns.extend(page.service_arns().iter().cloned()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_cluster_not_found_exception()) =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(sdk(&format!("list services of {cluster}"), e)),
        }
    }
    let mut out = Vec::new();
    for chunk in arns.chunks(10) {
        for service in describe(ecs, &cluster, chunk.to_vec()).await? {
            if service.status() == Some("DRAINING") {
                continue;
            }
            if let Some(id) = owned(&service, stack) {
                out.push(observe(id, &service));
            }
        }
    }
    Ok(out)
}

/// Starts a new deployment of service `name` on the task definition it runs
/// (`forceNewDeployment`: new tasks, which read their secrets again) and waits until that
/// deployment, found by the id UpdateService answers, has completed, is the service's only one
/// (the old tasks are gone) and, behind a load balancer, has the desired count of healthy
/// targets. A deployment the circuit breaker failed, or one that is no longer there (rolled
/// back, replaced), is an error naming the stopped tasks' reasons.
pub(crate) async fn redeploy(
    aws: &AwsProvider,
    cluster: &str,
    name: &str,
) -> Result<(), ProviderError> {
    let ecs = &aws.clients.ecs;
    let updated = ecs
        .update_service()
        .cluster(cluster)
        .service(name)
        .force_new_deployment(true)
        .send()
        .await
        .map_err(|e| sdk(&format!("start a new deployment of service {name}"), e))?;
    let deployment = updated
        .service()
        .and_then(|s| {
            s.deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"))
        })
        .and_then(|d| d.id())
        .map(str::to_string)
        .ok_or_else(|| {
            ProviderError::invalid(format!(
                "UpdateService answered no primary deployment for service {name}"
            ))
        })?;
    aws.wait_until(&format!("the new deployment of service {name}"), || async {
        let services = describe(ecs, cluster, vec![name.to_string()]).await?;
        let Some(service) = services.first() else {
            return Err(ProviderError::invalid(format!(
                "service {name} is gone"
            )));
        };
        let ours = service
            .deployments()
            .iter()
            .find(|d| d.id() == Some(deployment.as_str()));
        let Some(ours) = ours else {
            let tasks = stopped_tasks(aws, cluster, service, service.task_definition().unwrap_or_default()).await;
            return Err(ProviderError::invalid(format!(
                "the new deployment {deployment} of service {name} is gone: rolled back or replaced{tasks}"
            )));
        };
        if ours.rollout_state() == Some(&DeploymentRolloutState::Failed) {
            let alarms = alarms_fired(aws, service).await;
            let tasks = stopped_tasks(aws, cluster, service, ours.task_definition().unwrap_or_default()).await;
            return Err(ProviderError::invalid(format!(
                "the new deployment of service {name} failed: {}{alarms}{tasks}",
                ours.rollout_state_reason().unwrap_or_default()
            )));
        }
        let completed = matches!(
            ours.rollout_state(),
            Some(DeploymentRolloutState::Completed) | None
        ) && ours.running_count() >= ours.desired_count()
            && service.deployments().len() == 1;
        if !completed {
            return Ok(false);
        }
        let (healthy, _) = target_health(aws, service).await?;
        Ok(healthy >= service.desired_count())
    })
    .await
}

/// Errors real AWS gives for a while after what the service uses was created (IAM roles and
/// load balancer attachments propagate), or while a deleted service of the same name drains:
/// worth retrying until the step's timeout. Terraform's provider retries the same messages.
fn retry_later(err: ProviderError) -> ProviderError {
    const PROPAGATING: &[&str] = &[
        // A DRAINING predecessor of the same name.
        "Creation of service was not idempotent",
        // IAM: a new role ECS cannot assume yet.
        "verify that the ECS service role being passed has the proper permissions",
        "Unable to assume the service linked role",
        "Unable to assume role",
        // ELBv2: the target group's listener is not visible to ECS yet.
        "does not have an associated load balancer",
    ];
    let propagating = err.code.as_deref() == Some("InvalidParameterException")
        && PROPAGATING.iter().any(|m| err.message.contains(m));
    if propagating || err.code.as_deref() == Some("ClusterNotFoundException") {
        ProviderError {
            class: ErrorClass::Transient,
            ..err
        }
    } else {
        err
    }
}

fn network(
    ctx: &Context<'_>,
    spec: &EcsServiceSpec,
) -> Result<NetworkConfiguration, ProviderError> {
    Ok(NetworkConfiguration::builder()
        .awsvpc_configuration(
            AwsVpcConfiguration::builder()
                .set_subnets(Some(ctx.cloud_ids(&spec.subnets)?))
                .set_security_groups(Some(ctx.cloud_ids(&spec.security_groups)?))
                .assign_public_ip(AssignPublicIp::Disabled)
                .build()
                .map_err(|e| ProviderError::invalid(e.to_string()))?,
        )
        .build())
}

/// The deployment settings: percents, the circuit breaker, and the deployment alarms when the
/// service has some. `removed`: the alarms the service has now, for an update that leaves it
/// none: sent off (`enable: false`), since AWS takes "one or more" names (API reference,
/// DeploymentAlarms).
fn deployment(
    ctx: &Context<'_>,
    spec: &EcsServiceSpec,
    removed: &[String],
) -> Result<DeploymentConfiguration, ProviderError> {
    let (min_healthy, max) = spec.deployment_percents();
    let mut alarms = ctx.cloud_ids(&spec.alarms)?;
    let on = !alarms.is_empty();
    if !on {
        alarms = removed.to_vec();
    }
    let config = DeploymentConfiguration::builder()
        .minimum_healthy_percent(min_healthy)
        .maximum_percent(max)
        .deployment_circuit_breaker(
            DeploymentCircuitBreaker::builder()
                .enable(true)
                .rollback(true)
                .build(),
        );
    Ok(if !alarms.is_empty() {
        config.alarms(
            DeploymentAlarms::builder()
                .set_alarm_names(Some(alarms))
                .enable(on)
                .rollback(on)
                .build()
                .map_err(|e| ProviderError::invalid(e.to_string()))?,
        )
    } else {
        config
    }
    .build())
}

/// An idempotency token for CreateService: the same create retried (after a lost response)
/// returns the same service; a create with other settings gets another token.
fn client_token(ctx: &Context<'_>, id: &LogicalId, task_definition: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (ctx.stack, id.as_str(), task_definition).hash(&mut h);
    format!("mck-{:016x}", h.finish())
}

impl Driver for EcsServiceSpec {
    const READ_BY: ServiceRead = ServiceRead::Ecs;

    /// Read first: ECS does not refuse a second CreateService of an ACTIVE name (it may
    /// return or replace it), so an existing service is adopted when it is ours and refused
    /// when it is not; a DRAINING predecessor is waited out.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let cluster = ctx.cloud_id(spec.cluster.id())?.to_string();
        let task_definition = ctx.cloud_id(spec.task_definition.id())?.to_string();
        let existing = aws
            .retried(|| describe(&aws.clients.ecs, &cluster, vec![spec.name.clone()]))
            .await?;
        if let Some(service) = existing.first() {
            if service.status() == Some("DRAINING") {
                return Err(ProviderError::new(
                    ErrorClass::Transient,
                    format!(
                        "service {} in {cluster} is still draining from its deletion; waiting to create it again",
                        spec.name
                    ),
                ));
            }
            let found = Some((owned(service, ctx.stack), observe(id.clone(), service)));
            return crate::adopt("ECS service", id, found);
        }
        let tags = super::tags(ctx, id);
        // A worker has no load balancer, and so no health check grace period (AWS accepts
        // one only with a load balancer or a container health check).
        let (load_balancers, grace) = match &spec.load_balancer {
            Some(lb) => (
                Some(vec![
                    LoadBalancer::builder()
                        .target_group_arn(ctx.cloud_id(lb.target_group.id())?)
                        .container_name(&lb.container_name)
                        .container_port(crate::int32(lb.container_port, "container_port")?)
                        .build(),
                ]),
                Some(crate::int32(
                    lb.health_check_grace_seconds,
                    "health_check_grace_seconds",
                )?),
            ),
            None => (None, None),
        };
        let out = aws
            .clients
            .ecs
            .create_service()
            .cluster(&cluster)
            .service_name(&spec.name)
            .task_definition(&task_definition)
            .desired_count(crate::int32(spec.desired_count, "desired_count")?)
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
            .network_configuration(network(ctx, spec)?)
            .set_load_balancers(load_balancers)
            .deployment_configuration(deployment(ctx, spec, &[])?)
            .set_health_check_grace_period_seconds(grace)
            .enable_ecs_managed_tags(true)
            .enable_execute_command(spec.exec)
            .client_token(client_token(ctx, id, &task_definition))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| retry_later(sdk(&format!("create service {id} ({})", spec.name), e)))?;
        let service = out
            .service()
            .ok_or_else(|| ProviderError::invalid("create service returned nothing"))?;
        Ok(observe(id.clone(), service).with(
            EcsServiceSpec::TASK_DEFINITION,
            Value::CloudId(task_definition),
        ))
    }

    /// One UpdateService with the changed settings; a new task definition starts a rolling
    /// deployment, which [`Self::poll`] follows to the end.
    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let cluster = ctx.cloud_id(spec.cluster.id())?.to_string();
        let task_definition = ctx.cloud_id(spec.task_definition.id())?.to_string();
        // A rollout of a scaled service: no scale-in while ECS replaces the tasks (the
        // poll resumes it when the rollout ends, whichever way).
        let scaling = ScalableTargetSpec::resource_id(&cluster, &spec.name);
        let suspended = spec.scaled
            && Self::TASK_DEFINITION.is_in(fields)
            && aws
                .retried(|| crate::appscaling::suspend_scale_in(aws, &scaling))
                .await?;
        let mut call = aws
            .clients
            .ecs
            .update_service()
            .cluster(&cluster)
            .service(&spec.name);
        if Self::TASK_DEFINITION.is_in(fields) {
            call = call.task_definition(&task_definition);
        }
        if Self::DESIRED_COUNT.is_in(fields) {
            call = call.desired_count(crate::int32(spec.desired_count, "desired_count")?);
        }
        if Self::SUBNETS.is_in(fields) || Self::SECURITY_GROUPS.is_in(fields) {
            call = call.network_configuration(network(ctx, spec)?);
        }
        if Self::ENABLE_EXECUTE_COMMAND.is_in(fields) {
            call = call.enable_execute_command(spec.exec);
        }
        if Self::DEPLOYMENT.is_in(fields) || Self::DEPLOYMENT_ALARMS.is_in(fields) {
            // Alarms removed: the ones the service has now are turned off.
            let removed = if spec.alarms.is_empty() && Self::DEPLOYMENT_ALARMS.is_in(fields) {
                let services = aws
                    .retried(|| describe(&aws.clients.ecs, &cluster, vec![spec.name.clone()]))
                    .await?;
                services.first().map(deployment_alarms).unwrap_or_default()
            } else {
                Vec::new()
            };
            call = call.deployment_configuration(deployment(ctx, spec, &removed)?);
        }
        if Self::HEALTH_CHECK_GRACE_PERIOD.is_in(fields)
            && let Some(lb) = &spec.load_balancer
        {
            call = call.health_check_grace_period_seconds(crate::int32(
                lb.health_check_grace_seconds,
                "health_check_grace_seconds",
            )?);
        }
        let out = match call.send().await {
            Ok(out) => out,
            Err(e) => {
                if suspended {
                    // Nothing rolls: scale-in goes on (a failure here leaves it to the next
                    // `up`, which sees the target suspended).
                    let _ = crate::appscaling::resume_scale_in(aws, &scaling).await;
                }
                return Err(retry_later(sdk(&format!("update service {}", live.id), e)));
            }
        };
        let service = out
            .service()
            .ok_or_else(|| ProviderError::invalid("update service returned nothing"))?;
        let observed = observe(live.id.clone(), service).with(
            EcsServiceSpec::TASK_DEFINITION,
            Value::CloudId(task_definition),
        );
        Ok(if suspended {
            observed.output(SCALE_IN_SUSPENDED, scaling)
        } else {
            observed
        })
    }

    /// Scales to 0 (the ALB drains the tasks), then deletes; [`Self::poll`] waits for INACTIVE,
    /// so the target group and the cluster are deleted only after it.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let (cluster, name) = cluster_and_name(live)?;
        let gone = |e: ProviderError| {
            if e.code.as_deref() == Some("ServiceNotActiveException") {
                ProviderError {
                    class: ErrorClass::NotFound,
                    ..e
                }
            } else {
                e
            }
        };
        aws.retried(|| async {
            aws.clients
                .ecs
                .update_service()
                .cluster(&cluster)
                .service(&name)
                .desired_count(0)
                .send()
                .await
                .map_err(|e| gone(sdk(&format!("scale service {} to 0", live.id), e)))
        })
        .await?;
        aws.clients
            .ecs
            .delete_service()
            .cluster(&cluster)
            .service(&name)
            .send()
            .await
            .map_err(|e| gone(sdk(&format!("delete service {}", live.id), e)))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let (cluster, name) = cluster_and_name(live)?;
        let services = describe(&aws.clients.ecs, &cluster, vec![name]).await?;
        let Some(service) = services.first() else {
            return Ok(Readiness::Gone);
        };
        if service.status() == Some("DRAINING") {
            return Ok(Readiness::Pending("draining".into()));
        }
        let wanted = match live.fields.get(EcsServiceSpec::TASK_DEFINITION.name) {
            Some(Value::CloudId(arn)) => arn.clone(),
            _ => service.task_definition().unwrap_or_default().to_string(),
        };
        let rollout = Rollout::of(service, &wanted);
        // When the rollout ends, either way, scale-in goes on.
        let resume = || async {
            match live.outputs.get(SCALE_IN_SUSPENDED) {
                Some(scaling) => crate::appscaling::resume_scale_in(aws, scaling)
                    .await
                    .map(|_| ()),
                None => Ok(()),
            }
        };
        match rollout {
            Rollout::Failed(why) => {
                resume().await?;
                let alarms = alarms_fired(aws, service).await;
                let tasks = stopped_tasks(aws, &cluster, service, &wanted).await;
                Ok(Readiness::Failed(format!("{why}{alarms}{tasks}")))
            }
            Rollout::InProgress(status) => {
                let failed = service
                    .deployments()
                    .iter()
                    .any(|d| d.task_definition() == Some(&wanted) && d.failed_tasks() > 0);
                let tasks = if failed {
                    stopped_tasks(aws, &cluster, service, &wanted).await
                } else {
                    String::new()
                };
                Ok(Readiness::Pending(format!("{status}{tasks}")))
            }
            Rollout::Completed => {
                let desired = service.desired_count();
                let (healthy, why) = target_health(aws, service).await?;
                if healthy >= desired {
                    resume().await?;
                    Ok(Readiness::Ready(observe(live.id.clone(), service).with(
                        EcsServiceSpec::TASK_DEFINITION,
                        Value::CloudId(wanted),
                    )))
                } else {
                    Ok(Readiness::Pending(format!(
                        "running {}/{desired}, healthy {healthy}/{desired}{why}",
                        service.running_count()
                    )))
                }
            }
        }
    }
}

fn cluster_and_name(live: &Observed) -> Result<(String, String), ProviderError> {
    // `arn:aws:ecs:<region>:<account>:service/<cluster>/<name>`.
    let mut parts = live.cloud_id.rsplit('/');
    match (parts.next(), parts.next()) {
        (Some(name), Some(cluster)) if !cluster.contains(':') => {
            Ok((cluster.to_string(), name.to_string()))
        }
        _ => match (
            live.fields.get(EcsServiceSpec::CLUSTER.name),
            live.fields.get(EcsServiceSpec::NAME.name),
        ) {
            (
                Some(Value::CloudRef(_, cluster) | Value::CloudId(cluster)),
                Some(Value::Str(name)),
            ) => Ok((cluster.clone(), name.clone())),
            _ => Err(ProviderError::invalid(format!(
                "internal error: no cluster in service id {}",
                live.cloud_id
            ))),
        },
    }
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::HashMap;

    use aws_sdk_ecs::types::{Deployment, DeploymentConfiguration as Dc};
    use mck_core::model::{Ref, ServiceLoadBalancer};
    use serde_json::json;

    use aws_sdk_ecs::types::Tag;

    use super::*;
    use crate::testing::{Replay, assert_reads, context, json_error};

    pub(in crate::ecs) const TD1: &str = "arn:aws:ecs:us-east-1:1:task-definition/dev-frontend:1";
    pub(in crate::ecs) const TD2: &str = "arn:aws:ecs:us-east-1:1:task-definition/dev-frontend:2";
    const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/dev-frontend/abc";
    const ARN: &str = "arn:aws:ecs:us-east-1:1:service/dev-app/frontend";

    pub(in crate::ecs) fn spec() -> EcsServiceSpec {
        EcsServiceSpec {
            name: "frontend".into(),
            cluster: Ref::new("ecs.cluster"),
            task_definition: Ref::new("ecs.taskdef.frontend"),
            desired_count: 2,
            capacity: ServiceCapacity::Fargate,
            subnets: vec![Ref::new("subnet.private.a"), Ref::new("subnet.private.b")],
            security_groups: vec![Ref::new("sg.app")],
            load_balancer: Some(ServiceLoadBalancer {
                target_group: Ref::new("alb.tg.frontend"),
                container_name: "nginx".into(),
                container_port: 80,
                health_check_grace_seconds: 60,
            }),
            one_at_a_time: false,
            scaled: false,
            exec: true,
            alarms: Vec::new(),
            after: Vec::new(),
        }
    }

    /// [`spec`] with its rollouts gated on its 5xx alarm.
    fn gated() -> EcsServiceSpec {
        EcsServiceSpec {
            alarms: vec![Ref::new("alarm.app.frontend.5xx")],
            ..spec()
        }
    }

    #[test]
    fn reads_every_field_and_a_rolling_deployment_is_pending() {
        let deployment = |state| {
            Deployment::builder()
                .status("PRIMARY")
                .task_definition(TD1)
                .rollout_state(state)
                .build()
        };
        let service = |state| {
            Service::builder()
                .service_name("frontend")
                .service_arn(ARN)
                .cluster_arn("arn:aws:ecs:us-east-1:1:cluster/dev-app")
                .status("ACTIVE")
                .task_definition(TD1)
                .desired_count(2)
                .running_count(2)
                .launch_type(LaunchType::Fargate)
                .network_configuration(
                    NetworkConfiguration::builder()
                        .awsvpc_configuration(
                            AwsVpcConfiguration::builder()
                                .subnets("subnet-b")
                                .subnets("subnet-a")
                                .security_groups("sg-app")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .load_balancers(
                    LoadBalancer::builder()
                        .target_group_arn(TG)
                        .container_name("nginx")
                        .container_port(80)
                        .build(),
                )
                .deployment_configuration(deployment_config())
                .enable_execute_command(true)
                .health_check_grace_period_seconds(60)
                .deployments(deployment(state))
                .tags(Tag::builder().key("mck:stack").value("dev").build())
                .tags(
                    Tag::builder()
                        .key("mck:id")
                        .value("ecs.service.frontend")
                        .build(),
                )
                .build()
        };
        let done = service(DeploymentRolloutState::Completed);
        let id = owned(&done, "dev").unwrap();
        let observed = observe(id.clone(), &done);
        assert_reads(
            &observed,
            gated(),
            &[
                ("ecs.cluster", "dev-app"),
                ("ecs.taskdef.frontend", TD1),
                ("subnet.private.a", "subnet-a"),
                ("subnet.private.b", "subnet-b"),
                ("sg.app", "sg-app"),
                ("alb.tg.frontend", TG),
                ("alarm.app.frontend.5xx", ALARM),
            ],
        );
        assert_eq!(observed.pending, None);
        let rolling = observe(id, &service(DeploymentRolloutState::InProgress));
        assert_eq!(rolling.pending.as_deref(), Some("deployment in progress"));
    }

    /// A service without deployment alarms sends none (workers, cron, a stack without
    /// `alarms:`); an update that removes them turns the ones the service has off, by name
    /// (AWS takes one or more names).
    #[test]
    fn deployment_alarms_are_sent_only_when_there_are_some_or_they_go() {
        let resolved = HashMap::new();
        let plain = deployment(&context(&resolved), &spec(), &[]).unwrap();
        assert!(plain.alarms().is_none());
        let removed = deployment(
            &context(&resolved),
            &spec(),
            &["mck/t/app.frontend.5xx".into()],
        )
        .unwrap();
        let off = removed.alarms().unwrap();
        assert!(!off.enable() && !off.rollback());
        assert_eq!(off.alarm_names(), ["mck/t/app.frontend.5xx"]);
    }

    const ALARM: &str = "mck/dev/app.frontend.5xx";

    /// As mck sends it: the 5xx alarm rolls deployments back.
    fn deployment_config() -> Dc {
        let resolved = HashMap::from([(
            LogicalId::new("alarm.app.frontend.5xx"),
            Observed::new(
                LogicalId::new("alarm.app.frontend.5xx"),
                ResourceKind::Alarm,
                ALARM,
            ),
        )]);
        let config = deployment(&context(&resolved), &gated(), &[]).unwrap();
        let alarms = config.alarms().unwrap();
        assert!(alarms.enable() && alarms.rollback());
        assert_eq!(alarms.alarm_names(), [ALARM]);
        config
    }

    pub(in crate::ecs) fn service_json(
        status: &str,
        task_definition: &str,
        deployments: serde_json::Value,
    ) -> String {
        json!({
            "services": [{
                "serviceName": "frontend",
                "serviceArn": ARN,
                "clusterArn": "arn:aws:ecs:us-east-1:1:cluster/dev-app",
                "status": status,
                "taskDefinition": task_definition,
                "desiredCount": 2,
                "runningCount": 2,
                "loadBalancers": [{"targetGroupArn": TG, "containerName": "nginx", "containerPort": 80}],
                "deployments": deployments,
                "tags": [{"key": "mck:stack", "value": "t"}, {"key": "mck:id", "value": "ecs.service.frontend"}],
            }],
            "failures": [],
        })
        .to_string()
    }

    fn no_services() -> String {
        json!({"services": [], "failures": [{"arn": ARN, "reason": "MISSING"}]}).to_string()
    }

    pub(in crate::ecs) fn resolved() -> HashMap<LogicalId, Observed> {
        [
            ("ecs.cluster", ResourceKind::EcsCluster, "dev-app"),
            ("ecs.taskdef.frontend", ResourceKind::TaskDefinition, TD2),
            ("subnet.private.a", ResourceKind::Subnet, "subnet-a"),
            ("subnet.private.b", ResourceKind::Subnet, "subnet-b"),
            ("sg.app", ResourceKind::SecurityGroup, "sg-app"),
            ("alb.tg.frontend", ResourceKind::TargetGroup, TG),
        ]
        .into_iter()
        .map(|(id, kind, cloud)| (LogicalId::new(id), Observed::new(id.into(), kind, cloud)))
        .collect()
    }

    /// On AWS a service deleted a moment ago stays DRAINING until its tasks stop, and a
    /// CreateService of its name fails with "Creation of service was not idempotent"; both
    /// are retried (the executor retries transient errors until the step's timeout), and the
    /// create goes through once the predecessor is INACTIVE.
    #[tokio::test]
    async fn a_service_recreated_while_its_predecessor_drains_waits_for_it() {
        let aws = Replay::new([
            (
                "DescribeServices",
                200,
                service_json("DRAINING", TD1, json!([])),
            ),
            ("DescribeServices", 200, no_services()),
            (
                "CreateService",
                400,
                json_error(
                    "InvalidParameterException",
                    "Creation of service was not idempotent.",
                ),
            ),
            ("DescribeServices", 200, no_services()),
            (
                "CreateService",
                200,
                json!({"service": serde_json::from_str::<serde_json::Value>(&service_json("ACTIVE", TD2, json!([])))
                    .unwrap()["services"][0]})
                .to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let ctx = context(&deps);
        let id = LogicalId::new("ecs.service.frontend");
        let draining = EcsServiceSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap_err();
        assert_eq!(
            draining.class,
            ErrorClass::Transient,
            "{}",
            draining.message
        );
        assert!(
            draining.message.contains("still draining"),
            "{}",
            draining.message
        );
        let not_idempotent = EcsServiceSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap_err();
        assert_eq!(not_idempotent.class, ErrorClass::Transient);
        assert_eq!(
            not_idempotent.code.as_deref(),
            Some("InvalidParameterException")
        );
        let created = EcsServiceSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap();
        assert_eq!(created.cloud_id, ARN);
        assert_eq!(
            created.fields.get(EcsServiceSpec::TASK_DEFINITION.name),
            Some(&Value::CloudId(TD2.into()))
        );
        aws.assert_done();
        // The create carried the network, the target group and the deployment settings.
        let (_, body) = aws.requests().pop().unwrap();
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["loadBalancers"][0]["targetGroupArn"], TG);
        assert_eq!(
            body["deploymentConfiguration"]["minimumHealthyPercent"],
            100
        );
        assert_eq!(body["deploymentConfiguration"]["maximumPercent"], 200);
        assert_eq!(
            body["deploymentConfiguration"]["deploymentCircuitBreaker"],
            json!({"enable": true, "rollback": true})
        );
        assert_eq!(
            body["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"],
            "DISABLED"
        );
        assert!(body["clientToken"].as_str().is_some_and(|t| t.len() <= 36));
    }

    /// A task execution role created seconds ago is not yet assumable by ECS everywhere; AWS
    /// refuses the CreateService for a while. Retried, and the next attempt creates the one
    /// service; any other invalid parameter is not retried.
    #[tokio::test]
    async fn a_role_ecs_cannot_assume_yet_is_retried_but_a_real_mistake_is_not() {
        let propagating_error = json_error(
            "InvalidParameterException",
            "Unable to assume role and validate the specified targetGroupArn. Please verify that the ECS service role being passed has the proper permissions.",
        );
        let aws = Replay::new([
            ("DescribeServices", 200, no_services()),
            ("CreateService", 400, propagating_error),
            // The engine's next attempt: the role is assumable now.
            ("DescribeServices", 200, no_services()),
            (
                "CreateService",
                200,
                json!({"service": serde_json::from_str::<serde_json::Value>(&service_json("ACTIVE", TD2, json!([]))).unwrap()["services"][0]}).to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let ctx = context(&deps);
        let id = LogicalId::new("ecs.service.frontend");
        let propagating = EcsServiceSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap_err();
        assert_eq!(
            propagating.class,
            ErrorClass::Transient,
            "{}",
            propagating.message
        );
        assert!(
            mck_core::exec::RetryPolicy::should_retry(
                propagating.class,
                mck_core::exec::Op::Create
            ),
            "the engine retries it"
        );
        let created = EcsServiceSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap();
        assert_eq!(created.cloud_id, ARN);
        assert_eq!(aws.count("CreateService"), 2);
        aws.assert_done();

        let mistaken = Replay::new([
            ("DescribeServices", 200, no_services()),
            (
                "CreateService",
                400,
                json_error(
                    "InvalidParameterException",
                    "The container nginx does not exist in the task definition.",
                ),
            ),
        ]);
        let mistake =
            EcsServiceSpec::create(&AwsProvider::offline(mistaken.clone()), &ctx, &id, &spec())
                .await
                .unwrap_err();
        assert_eq!(mistake.class, ErrorClass::Invalid, "{}", mistake.message);
        assert!(!mck_core::exec::RetryPolicy::should_retry(
            mistake.class,
            mck_core::exec::Op::Create
        ));
        mistaken.assert_done();
    }

    /// A worker (cron, queue consumers) has no load balancer: CreateService carries none, and no
    /// health check grace period (AWS takes one only with a load balancer or a container health
    /// check); cron runs one task at a time, so its deployment stops the old task first.
    #[tokio::test]
    async fn a_worker_is_created_without_a_load_balancer_and_cron_one_task_at_a_time() {
        let created = json!({"service": serde_json::from_str::<serde_json::Value>(
            &service_json("ACTIVE", TD1, json!([]))
        ).unwrap()["services"][0]})
        .to_string();
        let aws = Replay::new([
            ("DescribeServices", 200, no_services()),
            ("CreateService", 200, created),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let ctx = context(&deps);
        let cron = EcsServiceSpec {
            name: "cron".into(),
            load_balancer: None,
            one_at_a_time: true,
            desired_count: 1,
            ..spec()
        };
        EcsServiceSpec::create(&provider, &ctx, &LogicalId::new("ecs.service.cron"), &cron)
            .await
            .unwrap();
        aws.assert_done();
        let body: serde_json::Value = serde_json::from_str(&aws.requests()[1].1).unwrap();
        assert_eq!(body["serviceName"], "cron");
        assert!(body.get("loadBalancers").is_none(), "{body}");
        assert!(
            body.get("healthCheckGracePeriodSeconds").is_none(),
            "{body}"
        );
        assert_eq!(body["deploymentConfiguration"]["minimumHealthyPercent"], 0);
        assert_eq!(body["deploymentConfiguration"]["maximumPercent"], 100);
        assert_eq!(
            body["deploymentConfiguration"]["deploymentCircuitBreaker"],
            json!({"enable": true, "rollback": true})
        );
        // The model says the same: no load balancer, no grace period, 0%-100%.
        use mck_core::model::Kind;
        let fields = cron.fields();
        let field = |name: &str| {
            fields
                .iter()
                .find(|f| f.name == name)
                .unwrap()
                .value
                .clone()
        };
        assert_eq!(field(EcsServiceSpec::LOAD_BALANCER.name), Value::Null);
        assert_eq!(
            field(EcsServiceSpec::HEALTH_CHECK_GRACE_PERIOD.name),
            Value::Int(0)
        );
        assert_eq!(
            field(EcsServiceSpec::DEPLOYMENT.name),
            Value::from("0%-100%, circuit breaker with rollback")
        );
    }

    #[tokio::test]
    async fn an_existing_service_of_another_stack_is_refused_not_adopted() {
        let other = service_json("ACTIVE", TD1, json!([]))
            .replace("\"value\":\"t\"", "\"value\":\"other\"");
        let aws = Replay::new([("DescribeServices", 200, other)]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let err = EcsServiceSpec::create(
            &provider,
            &context(&deps),
            &"ecs.service.frontend".into(),
            &spec(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::Invalid);
        assert!(
            err.message
                .contains("is not ecs.service.frontend of this stack"),
            "{}",
            err.message
        );
        aws.assert_done();
    }

    pub(in crate::ecs) fn live(td: &str) -> Observed {
        Observed::new("ecs.service.frontend".into(), ResourceKind::EcsService, ARN)
            .with(EcsServiceSpec::TASK_DEFINITION, Value::CloudId(td.into()))
    }

    /// Deleting scales to 0 first (the ALB drains the tasks), then deletes, and waits through
    /// DRAINING until the service is INACTIVE; a service already inactive counts as gone.
    #[tokio::test]
    async fn delete_scales_to_zero_first_and_waits_until_inactive() {
        let aws = Replay::new([
            ("UpdateService", 200, json!({"service": {}}).to_string()),
            ("DeleteService", 200, json!({"service": {}}).to_string()),
            (
                "DescribeServices",
                200,
                service_json("DRAINING", TD1, json!([])),
            ),
            (
                "DescribeServices",
                200,
                service_json("INACTIVE", TD1, json!([])),
            ),
            (
                "UpdateService",
                400,
                json_error("ServiceNotActiveException", "Service was not ACTIVE."),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = resolved();
        let ctx = context(&deps);
        EcsServiceSpec::delete(&provider, &live(TD1)).await.unwrap();
        let (_, scale) = &aws.requests()[0];
        assert!(scale.contains("\"desiredCount\":0"), "{scale}");
        assert_eq!(
            EcsServiceSpec::poll(&provider, &ctx, &live(TD1))
                .await
                .unwrap(),
            Readiness::Pending("draining".into())
        );
        assert_eq!(
            EcsServiceSpec::poll(&provider, &ctx, &live(TD1))
                .await
                .unwrap(),
            Readiness::Gone
        );
        let err = EcsServiceSpec::delete(&provider, &live(TD1))
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::NotFound);
        aws.assert_done();
    }
}
