//! An ECS service as a scalable target. RegisterScalableTarget creates or updates the target
//! of a resource id; right after the service is created AWS may still answer "ECS service
//! doesn't exist" (ECS's reads are eventually consistent; Terraform's provider retries it, as
//! it does "Unable to assume IAM role"), so those answers are retried within the step.

use aws_sdk_applicationautoscaling::Client;
use aws_sdk_applicationautoscaling::types::{
    ScalableDimension, ScalableTarget, ServiceNamespace, SuspendedState,
};
use mck_core::model::{LogicalId, ResourceKind, ScalableTargetSpec};
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The target's logical id if it is one of the stack's services: `scaling.<app>`.
fn owned(resource_id: &str, stack: &str) -> Option<LogicalId> {
    let app = resource_id.strip_prefix(&ScalableTargetSpec::prefix(&super::cluster(stack)))?;
    (!app.is_empty() && !app.contains('/')).then(|| ScalableTargetSpec::logical_id(app))
}

pub(super) fn observe(id: LogicalId, target: &ScalableTarget) -> Observed {
    let resource_id = target.resource_id();
    Observed::new(id, ResourceKind::ScalableTarget, resource_id)
        .with(ScalableTargetSpec::RESOURCE_ID, resource_id)
        .with(ScalableTargetSpec::MIN, i64::from(target.min_capacity()))
        .with(ScalableTargetSpec::MAX, i64::from(target.max_capacity()))
        .with(
            ScalableTargetSpec::SCALE_IN_SUSPENDED,
            target
                .suspended_state()
                .and_then(SuspendedState::dynamic_scaling_in_suspended)
                .unwrap_or(false),
        )
}

async fn describe(
    scaling: &Client,
    resource_ids: Option<Vec<String>>,
) -> Result<Vec<ScalableTarget>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = scaling
        .describe_scalable_targets()
        .service_namespace(ServiceNamespace::Ecs)
        .set_resource_ids(resource_ids)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("describe scalable targets", e))?;
        out.extend(page.scalable_targets().iter().cloned());
    }
    Ok(out)
}

pub(super) async fn read(scaling: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    Ok(describe(scaling, None)
        .await?
        .iter()
        .filter_map(|t| Some(observe(owned(t.resource_id(), stack)?, t)))
        .collect())
}

/// "Not yet" answers right after the service was created, worth retrying.
fn not_yet(err: ProviderError) -> ProviderError {
    let propagating = err.code.as_deref() == Some("ValidationException")
        && (err.message.contains("ECS service doesn't exist")
            || err.message.contains("Unable to assume IAM role"));
    if propagating {
        ProviderError {
            class: ErrorClass::Transient,
            ..err
        }
    } else {
        err
    }
}

/// The target is owned by its resource id (the stack's cluster), so it is registered without
/// tags (none of mck's reads would look at them).
async fn register(
    aws: &AwsProvider,
    id: &LogicalId,
    spec: &ScalableTargetSpec,
) -> Result<(), ProviderError> {
    aws.clients
        .appscaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(&spec.resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .min_capacity(crate::int32(spec.min, "min")?)
        .max_capacity(crate::int32(spec.max, "max")?)
        .suspended_state(suspended(false))
        .send()
        .await
        .map_err(|e| {
            not_yet(sdk(
                &format!("register scalable target {id} ({})", spec.resource_id),
                e,
            ))
        })?;
    Ok(())
}

fn suspended(scale_in: bool) -> SuspendedState {
    SuspendedState::builder()
        .dynamic_scaling_in_suspended(scale_in)
        .dynamic_scaling_out_suspended(false)
        .scheduled_scaling_suspended(false)
        .build()
}

/// Sets the scale-in suspension of the service's target, if it has one; returns whether it
/// has. Only the suspended state is sent: the target keeps its range.
async fn set_scale_in(
    aws: &AwsProvider,
    resource_id: &str,
    suspend: bool,
) -> Result<bool, ProviderError> {
    let scaling = &aws.clients.appscaling;
    if describe(scaling, Some(vec![resource_id.to_string()]))
        .await?
        .is_empty()
    {
        return Ok(false);
    }
    scaling
        .register_scalable_target()
        .service_namespace(ServiceNamespace::Ecs)
        .resource_id(resource_id)
        .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
        .suspended_state(suspended(suspend))
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!(
                    "{} the scale-in of {resource_id}",
                    if suspend { "suspend" } else { "resume" }
                ),
                e,
            )
        })?;
    Ok(true)
}

/// Suspends the scale-in of the service `resource_id` for a rollout (ECS must not remove
/// tasks while it replaces them; AWS's guidance for deployments with Application Auto Scaling).
pub(crate) async fn suspend_scale_in(
    aws: &AwsProvider,
    resource_id: &str,
) -> Result<bool, ProviderError> {
    set_scale_in(aws, resource_id, true).await
}

/// Resumes it once the rollout ended, whether it succeeded or not.
pub(crate) async fn resume_scale_in(
    aws: &AwsProvider,
    resource_id: &str,
) -> Result<bool, ProviderError> {
    set_scale_in(aws, resource_id, false).await
}

impl Driver for ScalableTargetSpec {
    const READ_BY: ServiceRead = ServiceRead::AppScaling;

    async fn create(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        register(aws, id, spec).await?;
        Ok(
            Observed::new(id.clone(), ResourceKind::ScalableTarget, &spec.resource_id)
                .with(Self::RESOURCE_ID, spec.resource_id.as_str())
                .with(Self::MIN, spec.min)
                .with(Self::MAX, spec.max)
                .with(Self::SCALE_IN_SUSPENDED, false),
        )
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        aws.retried(|| register(aws, &live.id, spec)).await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        match aws
            .clients
            .appscaling
            .deregister_scalable_target()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id(&live.cloud_id)
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Deleting a service deregisters its target: nothing left to do.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_object_not_found_exception()) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk(
                &format!("deregister scalable target {}", live.cloud_id),
                e,
            )),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let found = describe(&aws.clients.appscaling, Some(vec![live.cloud_id.clone()])).await?;
        Ok(match found.first() {
            Some(target) => Readiness::Ready(observe(live.id.clone(), target)),
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Replay, assert_reads, context, json_error};

    fn target(suspended_in: bool) -> ScalableTarget {
        ScalableTarget::builder()
            .service_namespace(ServiceNamespace::Ecs)
            .resource_id("service/prod-app/frontend")
            .scalable_dimension(ScalableDimension::EcsServiceDesiredCount)
            .min_capacity(4)
            .max_capacity(12)
            .role_arn("arn:aws:iam::1:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService")
            .creation_time(aws_sdk_applicationautoscaling::primitives::DateTime::from_secs(0))
            .suspended_state(suspended(suspended_in))
            .build()
            .unwrap()
    }

    fn spec() -> ScalableTargetSpec {
        ScalableTargetSpec {
            resource_id: "service/prod-app/frontend".into(),
            min: 4,
            max: 12,
            service: (
                ResourceKind::EcsService,
                LogicalId::new("ecs.service.frontend"),
            ),
        }
    }

    /// Read back as registered; a suspended scale-in (a rollout in progress, or a run killed
    /// during one) is a difference the next `up` repairs.
    #[test]
    fn reads_the_range_and_a_suspended_scale_in() {
        let id = owned("service/prod-app/frontend", "prod").unwrap();
        assert_eq!(id.as_str(), "scaling.frontend");
        assert_eq!(owned("service/prod-2-app/frontend", "prod"), None);
        assert_reads(&observe(id.clone(), &target(false)), spec(), &[]);
        let rolling = observe(id, &target(true));
        assert_eq!(
            rolling.fields[ScalableTargetSpec::SCALE_IN_SUSPENDED.name],
            mck_core::model::Value::Bool(true)
        );
    }

    /// Right after CreateService, AWS may not see the service yet: "ECS service doesn't
    /// exist" is retried, and the registration goes through; a real mistake is not retried.
    #[tokio::test]
    async fn a_registration_right_after_the_service_was_created_is_retried() {
        let not_yet = json_error(
            "ValidationException",
            "ECS service doesn't exist: service/prod-app/frontend",
        );
        let aws = Replay::new([
            ("RegisterScalableTarget", 400, not_yet.clone()),
            ("RegisterScalableTarget", 400, not_yet),
            ("RegisterScalableTarget", 200, "{}".to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = Default::default();
        let id = LogicalId::new("scaling.frontend");
        let err = ScalableTargetSpec::create(&provider, &context(&deps), &id, &spec())
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient, "{err:?}");
        // The engine retries a transient create; the third attempt is answered.
        let err = ScalableTargetSpec::create(&provider, &context(&deps), &id, &spec())
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Transient);
        let made = ScalableTargetSpec::create(&provider, &context(&deps), &id, &spec())
            .await
            .unwrap();
        assert_eq!(made.cloud_id, "service/prod-app/frontend");
        aws.assert_done();

        let wrong = Replay::new([(
            "RegisterScalableTarget",
            400,
            json_error(
                "ValidationException",
                "Maximum capacity cannot be less than minimum capacity",
            ),
        )]);
        let provider = AwsProvider::offline(wrong.clone());
        let err = ScalableTargetSpec::create(&provider, &context(&deps), &id, &spec())
            .await
            .unwrap_err();
        assert_eq!(err.class, ErrorClass::Invalid);
        wrong.assert_done();
    }
}
