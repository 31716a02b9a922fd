//! Subnets (public, private, data per zone).

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Subnet};
use mck_core::model::{LogicalId, ResourceKind, SubnetSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{filter, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead, finish_earlier};
use crate::error::sdk;

fn observe(id: LogicalId, subnet: &Subnet) -> Observed {
    Observed::new(
        id,
        ResourceKind::Subnet,
        subnet.subnet_id().unwrap_or_default(),
    )
    .with(
        SubnetSpec::VPC_ID,
        Value::CloudId(subnet.vpc_id().unwrap_or_default().to_string()),
    )
    .with(
        SubnetSpec::CIDR_BLOCK,
        subnet.cidr_block().unwrap_or_default(),
    )
    .with(
        SubnetSpec::AVAILABILITY_ZONE,
        subnet.availability_zone().unwrap_or_default(),
    )
    .with(
        SubnetSpec::MAP_PUBLIC_IP_ON_LAUNCH,
        subnet.map_public_ip_on_launch().unwrap_or(false),
    )
    .output(
        SubnetSpec::OUT_AVAILABILITY_ZONE,
        subnet.availability_zone().unwrap_or_default(),
    )
    .output(
        SubnetSpec::OUT_CIDR_BLOCK,
        subnet.cidr_block().unwrap_or_default(),
    )
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let pages = ec2
        .describe_subnets()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    let subnets = owned_items(
        pages,
        "list subnets",
        stack,
        |p| p.subnets().to_vec(),
        |s| s.tags(),
    )
    .await?;
    Ok(subnets
        .iter()
        .map(|(id, s)| observe(id.clone(), s))
        .collect())
}

async fn set_public_ip(ec2: &Client, subnet_id: &str, on: bool) -> Result<(), ProviderError> {
    ec2.modify_subnet_attribute()
        .subnet_id(subnet_id)
        .map_public_ip_on_launch(AttributeBooleanValue::builder().value(on).build())
        .send()
        .await
        .map_err(|e| sdk(&format!("set map-public-ip on subnet {subnet_id}"), e))?;
    Ok(())
}

impl Driver for SubnetSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let found = read(ec2, ctx.stack).await?;
        if let Some(earlier) = finish_earlier(aws, ctx, id, spec, found).await? {
            return Ok(earlier);
        }
        let out = ec2
            .create_subnet()
            .vpc_id(ctx.cloud_id(spec.vpc.id())?)
            .cidr_block(&spec.cidr)
            .availability_zone(&spec.zone)
            .tag_specifications(tag_spec(ResourceType::Subnet, ctx, id))
            .send()
            .await
            .map_err(|e| sdk(&format!("create subnet {id} ({})", spec.cidr), e))?;
        let subnet = out
            .subnet()
            .ok_or_else(|| ProviderError::invalid("create subnet returned no subnet"))?;
        let live = observe(id.clone(), subnet);
        if spec.map_public_ip_on_launch {
            // The subnet exists (its client token is spent): only this call is retried.
            aws.follow_up(|| set_public_ip(ec2, &live.cloud_id, true))
                .await
                .map_err(|e| e.after_create(&live.cloud_id))?;
        }
        Ok(live)
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        aws.retried(|| set_public_ip(ec2, &live.cloud_id, spec.map_public_ip_on_launch))
            .await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        ec2.delete_subnet()
            .subnet_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete subnet {} ({})", live.id, live.cloud_id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let out = ec2
            .describe_subnets()
            .filters(filter("subnet-id", &live.cloud_id))
            .send()
            .await
            .map_err(|e| sdk(&format!("describe subnet {}", live.cloud_id), e))?;
        Ok(match out.subnets().first() {
            None => Readiness::Gone,
            Some(s) if s.state().map(|st| st.as_str()) == Some("available") => {
                Readiness::Ready(observe(live.id.clone(), s))
            }
            Some(s) => Readiness::Pending(
                s.state()
                    .map(|st| st.as_str().to_string())
                    .unwrap_or_default(),
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;
    use mck_core::model::Ref;

    #[test]
    fn reads_every_field() {
        let subnet = Subnet::builder()
            .subnet_id("subnet-1")
            .vpc_id("vpc-1")
            .cidr_block("10.0.1.0/24")
            .availability_zone("us-east-1a")
            .map_public_ip_on_launch(true)
            .build();
        let spec = SubnetSpec {
            vpc: Ref::new("vpc"),
            cidr: "10.0.1.0/24".into(),
            zone: "us-east-1a".into(),
            map_public_ip_on_launch: true,
        };
        assert_reads(
            &observe("subnet.public.a".into(), &subnet),
            spec,
            &[("vpc", "vpc-1")],
        );
    }

    #[tokio::test]
    async fn a_failed_public_ip_setting_after_create_says_the_subnet_exists() {
        use std::collections::HashMap;

        use crate::testing::{Replay, context, ec2_xml, error_xml};

        let mut script = vec![
            (
                "DescribeSubnets",
                200,
                ec2_xml("DescribeSubnets", "<subnetSet/>"),
            ),
            (
                "CreateSubnet",
                200,
                ec2_xml(
                    "CreateSubnet",
                    "<subnet><subnetId>subnet-1</subnetId><vpcId>vpc-1</vpcId><cidrBlock>10.0.1.0/24</cidrBlock><availabilityZone>us-east-1a</availabilityZone></subnet>",
                ),
            ),
        ];
        for _ in 0..6 {
            script.push((
                "ModifySubnetAttribute",
                400,
                error_xml(
                    "InvalidSubnetID.NotFound",
                    "The subnet ID 'subnet-1' does not exist",
                ),
            ));
        }
        let aws = Replay::new(script);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([(
            LogicalId::from("vpc"),
            Observed::new("vpc".into(), ResourceKind::Vpc, "vpc-1"),
        )]);
        let spec = SubnetSpec {
            vpc: Ref::new("vpc"),
            cidr: "10.0.1.0/24".into(),
            zone: "us-east-1a".into(),
            map_public_ip_on_launch: true,
        };
        let err = SubnetSpec::create(
            &provider,
            &context(&resolved),
            &"subnet.public.a".into(),
            &spec,
        )
        .await
        .unwrap_err();
        assert_eq!(err.created.as_deref(), Some("subnet-1"));
        aws.assert_done();
    }
}
