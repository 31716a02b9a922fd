//! The internet-facing ALB `<stack>-alb`.

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::error::ProvideErrorMetadata;
use aws_sdk_elasticloadbalancingv2::types::{
    LoadBalancer, LoadBalancerAttribute, LoadBalancerSchemeEnum, LoadBalancerStateEnum,
    LoadBalancerTypeEnum,
};
use mck_core::model::{LoadBalancerSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{TagsByArn, adopt_existing, named_for, owned_items, tags};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

const IDLE_TIMEOUT: &str = "idle_timeout.timeout_seconds";

fn cloud_ids(ids: impl IntoIterator<Item = String>) -> Value {
    let mut values: Vec<Value> = ids.into_iter().map(Value::CloudId).collect();
    values.sort();
    Value::List(values)
}

pub(super) fn observe(id: LogicalId, lb: &LoadBalancer, idle: Option<i64>) -> Observed {
    let arn = lb.load_balancer_arn().unwrap_or_default();
    let o = Observed::new(id, ResourceKind::LoadBalancer, arn)
        .with(
            LoadBalancerSpec::NAME,
            lb.load_balancer_name().unwrap_or_default(),
        )
        .with(
            LoadBalancerSpec::SCHEME,
            lb.scheme().map(|s| s.as_str().to_string()),
        )
        .with(
            LoadBalancerSpec::SUBNETS,
            cloud_ids(
                lb.availability_zones()
                    .iter()
                    .filter_map(|z| z.subnet_id().map(str::to_string)),
            ),
        )
        .with(
            LoadBalancerSpec::SECURITY_GROUPS,
            cloud_ids(lb.security_groups().iter().cloned()),
        )
        .with(LoadBalancerSpec::IDLE_TIMEOUT, idle)
        .output(
            LoadBalancerSpec::OUT_DNS_NAME,
            lb.dns_name().unwrap_or_default(),
        )
        .output(LoadBalancerSpec::OUT_ARN, arn)
        .output(
            LoadBalancerSpec::OUT_ARN_SUFFIX,
            LoadBalancerSpec::arn_suffix(arn),
        );
    match lb.state().and_then(|s| s.code()) {
        Some(LoadBalancerStateEnum::Provisioning) => o.pending("provisioning"),
        _ => o,
    }
}

async fn idle_of(elb: &Client, arn: &str) -> Result<Option<i64>, ProviderError> {
    let out = elb
        .describe_load_balancer_attributes()
        .load_balancer_arn(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read the attributes of {arn}"), e))?;
    Ok(out
        .attributes()
        .iter()
        .find(|a| a.key() == Some(IDLE_TIMEOUT))
        .and_then(|a| a.value()?.parse().ok()))
}

/// The load balancers named `<stack>-…` (their tags, read with the target groups', decide).
pub(super) async fn list(elb: &Client, stack: &str) -> Result<Vec<LoadBalancer>, ProviderError> {
    let mut balancers = Vec::new();
    let mut pages = elb.describe_load_balancers().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list load balancers", e))?;
        balancers.extend(
            page.load_balancers()
                .iter()
                .filter(|lb| named_for(stack, lb.load_balancer_name()))
                .cloned(),
        );
    }
    Ok(balancers)
}

/// The stack's load balancers among `balancers`, by their tags, with their idle timeout.
pub(super) async fn read(
    elb: &Client,
    stack: &str,
    balancers: &[LoadBalancer],
    tags: &TagsByArn,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    for (id, lb, arn) in owned_items(stack, balancers, LoadBalancer::load_balancer_arn, tags) {
        out.push(observe(id, lb, idle_of(elb, &arn).await?));
    }
    Ok(out)
}

async fn by_name(elb: &Client, name: &str) -> Result<Option<LoadBalancer>, ProviderError> {
    match elb.describe_load_balancers().names(name).send().await {
        Ok(out) => Ok(out.load_balancers().first().cloned()),
        Err(e) if e.code() == Some("LoadBalancerNotFound") => Ok(None),
        Err(e) => Err(sdk(&format!("find load balancer {name}"), e)),
    }
}

async fn set_idle(elb: &Client, arn: &str, seconds: i64) -> Result<(), ProviderError> {
    elb.modify_load_balancer_attributes()
        .load_balancer_arn(arn)
        .attributes(
            LoadBalancerAttribute::builder()
                .key(IDLE_TIMEOUT)
                .value(seconds.to_string())
                .build(),
        )
        .send()
        .await
        .map_err(|e| sdk(&format!("set the idle timeout of {arn}"), e))?;
    Ok(())
}

impl Driver for LoadBalancerSpec {
    const READ_BY: ServiceRead = ServiceRead::Elbv2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let elb = &aws.clients.elbv2;
        // The name is the identity; taken by another stack, it is refused, never shared.
        let lb = match by_name(elb, &spec.name).await? {
            Some(existing) => {
                let arn = existing.load_balancer_arn().unwrap_or_default();
                let observed = observe(id.clone(), &existing, None);
                adopt_existing(elb, "load balancer", id, ctx.stack, arn, observed).await?;
                existing
            }
            None => {
                let out = elb
                    .create_load_balancer()
                    .name(&spec.name)
                    .scheme(LoadBalancerSchemeEnum::InternetFacing)
                    .r#type(LoadBalancerTypeEnum::Application)
                    .set_subnets(Some(ctx.cloud_ids(&spec.subnets)?))
                    .set_security_groups(Some(ctx.cloud_ids(&spec.security_groups)?))
                    .set_tags(Some(tags(ctx, id)))
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("create load balancer {id} ({})", spec.name), e))?;
                out.load_balancers().first().cloned().ok_or_else(|| {
                    ProviderError::invalid("create load balancer returned nothing")
                })?
            }
        };
        let arn = lb.load_balancer_arn().unwrap_or_default().to_string();
        aws.follow_up(|| set_idle(elb, &arn, spec.idle_timeout_seconds))
            .await
            .map_err(|e| e.after_create(&arn))?;
        Ok(observe(id.clone(), &lb, Some(spec.idle_timeout_seconds)))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let elb = &aws.clients.elbv2;
        if LoadBalancerSpec::SUBNETS.is_in(fields) {
            let subnets = ctx.cloud_ids(&spec.subnets)?;
            elb.set_subnets()
                .load_balancer_arn(&live.cloud_id)
                .set_subnets(Some(subnets))
                .send()
                .await
                .map_err(|e| sdk(&format!("set the subnets of {}", live.id), e))?;
        }
        if LoadBalancerSpec::SECURITY_GROUPS.is_in(fields) {
            let groups = ctx.cloud_ids(&spec.security_groups)?;
            elb.set_security_groups()
                .load_balancer_arn(&live.cloud_id)
                .set_security_groups(Some(groups))
                .send()
                .await
                .map_err(|e| sdk(&format!("set the security groups of {}", live.id), e))?;
        }
        if LoadBalancerSpec::IDLE_TIMEOUT.is_in(fields) {
            aws.retried(|| set_idle(elb, &live.cloud_id, spec.idle_timeout_seconds))
                .await?;
        }
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .elbv2
            .delete_load_balancer()
            .load_balancer_arn(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete load balancer {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let elb = &aws.clients.elbv2;
        match elb
            .describe_load_balancers()
            .load_balancer_arns(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => Ok(match out.load_balancers().first() {
                None => Readiness::Gone,
                Some(lb) => match lb.state().and_then(|s| s.code()) {
                    Some(LoadBalancerStateEnum::Active) | None => Readiness::Ready(observe(
                        live.id.clone(),
                        lb,
                        idle_of(elb, &live.cloud_id).await?,
                    )),
                    Some(LoadBalancerStateEnum::Failed) => {
                        Readiness::Failed("the load balancer failed to provision".into())
                    }
                    Some(state) => Readiness::Pending(state.as_str().to_string()),
                },
            }),
            Err(e) if e.code() == Some("LoadBalancerNotFound") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(&format!("describe load balancer {}", live.id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticloadbalancingv2::types::{AvailabilityZone, LoadBalancerState};
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_every_field_and_a_provisioning_alb_is_pending() {
        let lb = LoadBalancer::builder()
            .load_balancer_arn("arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/t-alb/1")
            .load_balancer_name("t-alb")
            .dns_name("t-alb-1.us-east-1.elb.amazonaws.com")
            .scheme(LoadBalancerSchemeEnum::InternetFacing)
            .availability_zones(AvailabilityZone::builder().subnet_id("subnet-2").build())
            .availability_zones(AvailabilityZone::builder().subnet_id("subnet-1").build())
            .security_groups("sg-alb")
            .state(
                LoadBalancerState::builder()
                    .code(LoadBalancerStateEnum::Provisioning)
                    .build(),
            )
            .build();
        let spec = LoadBalancerSpec {
            name: "t-alb".into(),
            subnets: vec![Ref::new("subnet.public.a"), Ref::new("subnet.public.b")],
            security_groups: vec![Ref::new("sg.alb")],
            idle_timeout_seconds: 60,
        };
        let ids = [
            ("subnet.public.a", "subnet-1"),
            ("subnet.public.b", "subnet-2"),
            ("sg.alb", "sg-alb"),
        ];
        let observed = observe("alb".into(), &lb, Some(60));
        assert_reads(&observed, spec, &ids);
        assert_eq!(observed.pending.as_deref(), Some("provisioning"));
        assert_eq!(
            observed.outputs["dns_name"],
            "t-alb-1.us-east-1.elb.amazonaws.com"
        );
    }

    /// ELBv2 refuses a second ALB of the same name only with other settings (and the emulator
    /// not at all): the name is read first, and an ALB of that name tagged for another stack
    /// is refused by name, with no CreateLoadBalancer call.
    #[tokio::test]
    async fn an_alb_name_taken_by_another_stack_is_refused_before_any_create() {
        use crate::testing::{Replay, context, query_xml};
        let arn = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/t-alb/1";
        let aws = Replay::new([
            (
                "DescribeLoadBalancers",
                200,
                query_xml(
                    "DescribeLoadBalancers",
                    &format!(
                        "<LoadBalancers><member><LoadBalancerArn>{arn}</LoadBalancerArn><LoadBalancerName>t-alb</LoadBalancerName><Scheme>internet-facing</Scheme><State><Code>active</Code></State></member></LoadBalancers>"
                    ),
                ),
            ),
            (
                "DescribeTags",
                200,
                query_xml(
                    "DescribeTags",
                    &format!(
                        "<TagDescriptions><member><ResourceArn>{arn}</ResourceArn><Tags><member><Key>mck:stack</Key><Value>other</Value></member><member><Key>mck:id</Key><Value>alb</Value></member></Tags></member></TagDescriptions>"
                    ),
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = [
            ("subnet.public.a", ResourceKind::Subnet, "subnet-1"),
            ("sg.alb", ResourceKind::SecurityGroup, "sg-alb"),
        ]
        .into_iter()
        .map(|(id, kind, cloud)| (LogicalId::new(id), Observed::new(id.into(), kind, cloud)))
        .collect();
        let spec = LoadBalancerSpec {
            name: "t-alb".into(),
            subnets: vec![Ref::new("subnet.public.a")],
            security_groups: vec![Ref::new("sg.alb")],
            idle_timeout_seconds: 60,
        };
        let err = LoadBalancerSpec::create(&provider, &context(&deps), &"alb".into(), &spec)
            .await
            .unwrap_err();
        assert_eq!(err.class, mck_core::provider::ErrorClass::Invalid);
        assert!(err.message.contains(arn), "{}", err.message);
        assert!(
            err.message.contains("not alb of this stack"),
            "{}",
            err.message
        );
        aws.assert_done();
        assert_eq!(aws.count("CreateLoadBalancer"), 0);
    }
}
