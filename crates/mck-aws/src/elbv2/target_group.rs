//! One target group per app: HTTP to the tasks' IPs, health check from the stack.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::{
    Matcher, ProtocolEnum, TargetGroup, TargetGroupAttribute, TargetTypeEnum,
};
use mck_core::model::{LogicalId, ResourceKind, TargetGroupSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{TagsByArn, adopt_existing, named_for, owned_items, tags};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

const DEREGISTRATION_DELAY: &str = "deregistration_delay.timeout_seconds";

pub(super) fn observe(id: LogicalId, group: &TargetGroup, delay: Option<i64>) -> Observed {
    let arn = group.target_group_arn().unwrap_or_default();
    Observed::new(id, ResourceKind::TargetGroup, arn)
        .with(
            TargetGroupSpec::NAME,
            group.target_group_name().unwrap_or_default(),
        )
        .with(
            TargetGroupSpec::VPC_ID,
            Value::CloudId(group.vpc_id().unwrap_or_default().to_string()),
        )
        .with(TargetGroupSpec::PORT, group.port().map(i64::from))
        .with(
            TargetGroupSpec::PROTOCOL,
            group.protocol().map(|p| p.as_str().to_string()),
        )
        .with(
            TargetGroupSpec::TARGET_TYPE,
            group.target_type().map(|t| t.as_str().to_string()),
        )
        .with(
            TargetGroupSpec::HEALTH_CHECK_PATH,
            group.health_check_path().map(str::to_string),
        )
        .with(TargetGroupSpec::DEREGISTRATION_DELAY, delay)
        .output(TargetGroupSpec::OUT_ARN, arn)
        .output(
            TargetGroupSpec::OUT_ARN_SUFFIX,
            TargetGroupSpec::arn_suffix(arn),
        )
}

async fn delay_of(elb: &Client, arn: &str) -> Result<Option<i64>, ProviderError> {
    let out = elb
        .describe_target_group_attributes()
        .target_group_arn(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read the attributes of {arn}"), e))?;
    Ok(out
        .attributes()
        .iter()
        .find(|a| a.key() == Some(DEREGISTRATION_DELAY))
        .and_then(|a| a.value()?.parse().ok()))
}

/// The target groups named `<stack>-…` (their tags, read with the load balancers', decide).
pub(super) async fn list(elb: &Client, stack: &str) -> Result<Vec<TargetGroup>, ProviderError> {
    let mut groups = Vec::new();
    let mut pages = elb.describe_target_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list target groups", e))?;
        groups.extend(
            page.target_groups()
                .iter()
                .filter(|g| named_for(stack, g.target_group_name()))
                .cloned(),
        );
    }
    Ok(groups)
}

/// The stack's groups among `groups`, by their tags, with their attributes.
pub(super) async fn read(
    elb: &Client,
    stack: &str,
    groups: &[TargetGroup],
    tags: &TagsByArn,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    for (id, group, arn) in owned_items(stack, groups, TargetGroup::target_group_arn, tags) {
        out.push(observe(id, group, delay_of(elb, &arn).await?));
    }
    Ok(out)
}

async fn by_name(elb: &Client, name: &str) -> Result<Option<TargetGroup>, ProviderError> {
    match elb.describe_target_groups().names(name).send().await {
        Ok(out) => Ok(out.target_groups().first().cloned()),
        Err(e) if e.code() == Some("TargetGroupNotFound") => Ok(None),
        Err(e) => Err(sdk(&format!("find target group {name}"), e)),
    }
}

async fn set_delay(elb: &Client, arn: &str, seconds: i64) -> Result<(), ProviderError> {
    elb.modify_target_group_attributes()
        .target_group_arn(arn)
        .attributes(
            TargetGroupAttribute::builder()
                .key(DEREGISTRATION_DELAY)
                .value(seconds.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk(&format!("set the deregistration delay of {arn}"), e))?;
    Ok(())
}

impl Driver for TargetGroupSpec {
    const READ_BY: ServiceRead = ServiceRead::Elbv2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let elb = &aws.clients.elbv2;
        // Names are the identity; the emulator would make a second group of the same name.
        let group = match by_name(elb, &spec.name).await? {
            Some(existing) => {
                let arn = existing.target_group_arn().unwrap_or_default();
                let observed = observe(id.clone(), &existing, None);
                adopt_existing(elb, "target group", id, ctx.stack, arn, observed).await?;
                existing
            }
            None => {
                let out = elb
                    .create_target_group()
                    .name(&spec.name)
                    .protocol(ProtocolEnum::Http)
                    .port(crate::int32(spec.port, "port")?)
                    .vpc_id(ctx.cloud_id(spec.vpc.id())?)
                    .target_type(TargetTypeEnum::Ip)
                    .health_check_path(&spec.health_check_path)
                    .health_check_interval_seconds(10)
                    .healthy_threshold_count(3)
                    .unhealthy_threshold_count(3)
                    .matcher(Matcher::builder().http_code("200-299").build())
                    .set_tags(Some(tags(ctx, id)))
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("create target group {id} ({})", spec.name), e))?;
                out.target_groups()
                    .first()
                    .cloned()
                    .ok_or_else(|| ProviderError::invalid("create target group returned nothing"))?
            }
        };
        let arn = group.target_group_arn().unwrap_or_default().to_string();
        aws.follow_up(|| set_delay(elb, &arn, spec.deregistration_delay_seconds))
            .await
            .map_err(|e| e.after_create(&arn))?;
        Ok(observe(
            id.clone(),
            &group,
            Some(spec.deregistration_delay_seconds),
        ))
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let elb = &aws.clients.elbv2;
        if TargetGroupSpec::HEALTH_CHECK_PATH.is_in(fields) {
            aws.retried(|| async {
                elb.modify_target_group()
                    .target_group_arn(&live.cloud_id)
                    .health_check_path(&spec.health_check_path)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("set the health check of {}", live.id), e))
            })
            .await?;
        }
        if TargetGroupSpec::DEREGISTRATION_DELAY.is_in(fields) {
            aws.retried(|| set_delay(elb, &live.cloud_id, spec.deregistration_delay_seconds))
                .await?;
        }
        Ok(live.clone())
    }

    /// Refused while a listener or rule still forwards to it (ResourceInUse): a dependency
    /// the executor retries.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .elbv2
            .delete_target_group()
            .target_group_arn(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete target group {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let elb = &aws.clients.elbv2;
        match elb
            .describe_target_groups()
            .target_group_arns(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => Ok(match out.target_groups().first() {
                Some(g) => Readiness::Ready(observe(
                    live.id.clone(),
                    g,
                    delay_of(elb, &live.cloud_id).await?,
                )),
                None => Readiness::Gone,
            }),
            Err(e) if e.code() == Some("TargetGroupNotFound") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(&format!("describe target group {}", live.id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_every_field() {
        let group = TargetGroup::builder()
            .target_group_arn("arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t-frontend/1")
            .target_group_name("t-frontend")
            .vpc_id("vpc-1")
            .port(80)
            .protocol(ProtocolEnum::Http)
            .target_type(TargetTypeEnum::Ip)
            .health_check_path("/health_check.php")
            .build();
        let spec = TargetGroupSpec {
            name: "t-frontend".into(),
            vpc: Ref::new("vpc"),
            port: 80,
            health_check_path: "/health_check.php".into(),
            deregistration_delay_seconds: 30,
        };
        assert_reads(
            &observe("alb.tg.frontend".into(), &group, Some(30)),
            spec,
            &[("vpc", "vpc-1")],
        );
    }

    /// AWS refuses to delete a target group a listener, a rule or a service still uses
    /// (ResourceInUse): a dependency the executor retries until its user is gone, and a
    /// target group already gone counts as deleted.
    #[tokio::test]
    async fn a_target_group_still_in_use_is_a_dependency_to_wait_out() {
        use crate::testing::{Replay, query_error_xml, query_xml};
        use mck_core::provider::ErrorClass;
        let arn = "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/t-frontend/1";
        let aws = Replay::new([
            (
                "DeleteTargetGroup",
                400,
                query_error_xml(
                    "ResourceInUse",
                    &format!("Target group '{arn}' is currently in use by a listener or a rule"),
                ),
            ),
            ("DeleteTargetGroup", 200, query_xml("DeleteTargetGroup", "")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let live = Observed::new("alb.tg.frontend".into(), ResourceKind::TargetGroup, arn);
        let err = TargetGroupSpec::delete(&provider, &live).await.unwrap_err();
        assert_eq!(
            err.class,
            ErrorClass::DependencyViolation,
            "{}",
            err.message
        );
        assert!(mck_core::exec::RetryPolicy::should_retry(
            err.class,
            mck_core::exec::Op::Delete
        ));
        TargetGroupSpec::delete(&provider, &live).await.unwrap();
        aws.assert_done();
    }
}
