//! A target-tracking policy. PutScalingPolicy creates or replaces the policy of the name on
//! the resource id, so a create and an update are the same call.

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types::{
    MetricType, PolicyType, PredefinedMetricSpecification, ScalableDimension, ScalingPolicy,
    ServiceNamespace, TargetTrackingScalingPolicyConfiguration,
};
use mck_core::model::{
    LoadBalancerSpec, LogicalId, ResourceKind, ScalingMetric, ScalingPolicySpec, TargetGroupSpec,
    Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The policy's logical id if it is one of the stack's: `scaling.<app>.policy` for the
/// policy `<app>-target-tracking` on `service/<stack>-app/<app>`.
fn owned(policy: &ScalingPolicy, stack: &str) -> Option<LogicalId> {
    let app = policy
        .resource_id()
        .strip_prefix(&mck_core::model::ScalableTargetSpec::prefix(
            &super::cluster(stack),
        ))?;
    (!app.is_empty()
        && !app.contains('/')
        && policy.policy_name() == format!("{app}-target-tracking"))
    .then(|| ScalingPolicySpec::logical_id(app))
}

pub(super) fn observe(id: LogicalId, policy: &ScalingPolicy) -> Observed {
    let config = policy.target_tracking_scaling_policy_configuration();
    let predefined = config.and_then(|c| c.predefined_metric_specification());
    let metric = match predefined {
        Some(p) => {
            ScalingPolicySpec::metric_row(p.predefined_metric_type().as_str(), p.resource_label())
        }
        None => Value::Null,
    };
    let cooldowns = Value::List(vec![
        config
            .and_then(|c| c.scale_in_cooldown())
            .map_or(Value::Null, |v| Value::Int(i64::from(v))),
        config
            .and_then(|c| c.scale_out_cooldown())
            .map_or(Value::Null, |v| Value::Int(i64::from(v))),
    ]);
    let target = config.map(|c| c.target_value());
    let key = format!("{}#{}", policy.resource_id(), policy.policy_name());
    Observed::new(id, ResourceKind::ScalingPolicy, key)
        .with(ScalingPolicySpec::NAME, policy.policy_name())
        .with(ScalingPolicySpec::RESOURCE_ID, policy.resource_id())
        .with(ScalingPolicySpec::METRIC, metric)
        .with(ScalingPolicySpec::TARGET_VALUE, crate::whole(target))
        .with(ScalingPolicySpec::COOLDOWNS, cooldowns)
}

async fn describe(
    scaling: &Client,
    resource_id: Option<&str>,
    names: Option<Vec<String>>,
) -> Result<Vec<ScalingPolicy>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = scaling
        .describe_scaling_policies()
        .service_namespace(ServiceNamespace::Ecs)
        .set_resource_id(resource_id.map(str::to_string))
        .set_policy_names(names)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("describe scaling policies", e))?;
        out.extend(page.scaling_policies().iter().cloned());
    }
    Ok(out)
}

pub(super) async fn read(scaling: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    Ok(describe(scaling, None, None)
        .await?
        .iter()
        .filter_map(|p| Some(observe(owned(p, stack)?, p)))
        .collect())
}

async fn put(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    spec: &ScalingPolicySpec,
) -> Result<(), ProviderError> {
    let predefined = match &spec.metric {
        ScalingMetric::RequestsPerTarget {
            load_balancer,
            target_group,
        } => PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::AlbRequestCountPerTarget)
            .resource_label(ScalingPolicySpec::resource_label(
                ctx.output(load_balancer.id(), LoadBalancerSpec::OUT_ARN_SUFFIX)?,
                ctx.output(target_group.id(), TargetGroupSpec::OUT_ARN_SUFFIX)?,
            )),
        ScalingMetric::Cpu => PredefinedMetricSpecification::builder()
            .predefined_metric_type(MetricType::EcsServiceAverageCpuUtilization),
    }
    .build()
    .map_err(|e| ProviderError::invalid(e.to_string()))?;
    aws.clients
        .appscaling
        .put_scaling_policy()
        .policy_name(&spec.name)
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&spec.resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .policy_type(PolicyType::TargetTrackingScaling)
        .target_tracking_scaling_policy_configuration(
            TargetTrackingScalingPolicyConfiguration::builder()
                .target_value(spec.target_value as f64)
                .predefined_metric_specification(predefined)
                .scale_in_cooldown(crate::int32(spec.scale_in_cooldown, "scale_in_cooldown")?)
                .scale_out_cooldown(crate::int32(spec.scale_out_cooldown, "scale_out_cooldown")?)
                .build()
                .map_err(|e| ProviderError::invalid(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!("put scaling policy {} on {}", spec.name, spec.resource_id),
                e,
            )
        })?;
    Ok(())
}

/// `(resource id, policy name)` from the cloud id `<resource id>#<name>`.
fn key(live: &Observed) -> (&str, &str) {
    live.cloud_id
        .split_once('#')
        .unwrap_or((&live.cloud_id, ""))
}

impl Driver for ScalingPolicySpec {
    const READ_BY: ServiceRead = ServiceRead::AppScaling;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        put(aws, ctx, spec).await?;
        let found = aws
            .follow_up(|| async {
                describe(
                    &aws.clients.appscaling,
                    Some(&spec.resource_id),
                    Some(vec![spec.name.clone()]),
                )
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| crate::missing("scaling policy", &spec.name))
            })
            .await?;
        Ok(observe(id.clone(), &found))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        aws.retried(|| put(aws, ctx, spec)).await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let (resource_id, name) = key(live);
        match aws
            .clients
            .appscaling
            .delete_scaling_policy()
            .policy_name(name)
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(resource_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Deregistering the target (or deleting the service) removed it already.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_object_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk(&format!("delete scaling policy {}", live.cloud_id), e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let (resource_id, name) = key(live);
        let found = describe(
            &aws.clients.appscaling,
            Some(resource_id),
            Some(vec![name.to_string()]),
        )
        .await?;
        Ok(match found.first() {
            Some(policy) => Readiness::Ready(observe(live.id.clone(), policy)),
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;
    use mck_core::model::Ref;

    /// A request-count policy reads back as its spec: the label splits into the ALB's and
    /// the target group's ARN suffixes, which compare with their outputs.
    #[test]
    fn a_request_count_policy_reads_back_with_its_label_split() {
        let policy = ScalingPolicy::builder()
            .policy_arn("arn:aws:autoscaling:us-east-1:1:scalingPolicy:x:resource/ecs/service/prod-app/frontend:policyName/frontend-target-tracking")
            .policy_name("frontend-target-tracking")
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id("service/prod-app/frontend")
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .policy_type(PolicyType::TargetTrackingScaling)
            .target_tracking_scaling_policy_configuration(
                TargetTrackingScalingPolicyConfiguration::builder()
                    .target_value(1000.0)
                    .predefined_metric_specification(
                        PredefinedMetricSpecification::builder()
                            .predefined_metric_type(MetricType::AlbRequestCountPerTarget)
                            .resource_label("app/prod-alb/5d/targetgroup/prod-frontend/9a")
                            .build()
                            .unwrap(),
                    )
                    .scale_in_cooldown(300)
                    .scale_out_cooldown(60)
                    .build()
                    .unwrap(),
            )
            .creation_time(aws_sdk_applicationautoscaling::primitives::DateTime::from_secs(0))
            .build()
            .unwrap();
        let id = owned(&policy, "prod").unwrap();
        assert_eq!(id.as_str(), "scaling.frontend.policy");
        assert_eq!(owned(&policy, "prod-2"), None);
        assert_reads(
            &observe(id, &policy),
            ScalingPolicySpec {
                name: "frontend-target-tracking".into(),
                resource_id: "service/prod-app/frontend".into(),
                metric: ScalingMetric::RequestsPerTarget {
                    load_balancer: Ref::new("alb"),
                    target_group: Ref::new("alb.tg.frontend"),
                },
                target_value: 1000,
                scale_in_cooldown: 300,
                scale_out_cooldown: 60,
                target: Ref::new("scaling.frontend"),
            },
            &[
                ("alb.arn_suffix", "app/prod-alb/5d"),
                ("alb.tg.frontend.arn_suffix", "targetgroup/prod-frontend/9a"),
            ],
        );
    }
}
