//! Internet gateway and its attachment to the VPC (one resource: attaching is part of it).

use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{InternetGateway, ResourceType};
use mck_core::model::{InternetGatewaySpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{filter, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead, finish_earlier};
use crate::error::sdk;

fn attached_vpc(igw: &InternetGateway) -> Option<&str> {
    igw.attachments()
        .iter()
        .find(|a| {
            matches!(
                a.state().map(|s| s.as_str()),
                Some("attached" | "available" | "attaching")
            )
        })
        .and_then(|a| a.vpc_id())
}

fn observe(id: LogicalId, igw: &InternetGateway) -> Observed {
    let vpc = attached_vpc(igw);
    Observed::new(
        id,
        ResourceKind::InternetGateway,
        igw.internet_gateway_id().unwrap_or_default(),
    )
    .with(
        InternetGatewaySpec::VPC_ID,
        vpc.map_or(Value::Null, |v| Value::CloudId(v.to_string())),
    )
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let pages = ec2
        .describe_internet_gateways()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    let gateways = owned_items(
        pages,
        "list internet gateways",
        stack,
        |p| p.internet_gateways().to_vec(),
        |g| g.tags(),
    )
    .await?;
    Ok(gateways
        .iter()
        .map(|(id, g)| observe(id.clone(), g))
        .collect())
}

async fn attach(ec2: &Client, igw_id: &str, vpc_id: &str) -> Result<(), ProviderError> {
    ec2.attach_internet_gateway()
        .internet_gateway_id(igw_id)
        .vpc_id(vpc_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("attach internet gateway {igw_id} to {vpc_id}"), e))?;
    Ok(())
}

async fn detach(ec2: &Client, igw_id: &str, vpc_id: &str) -> Result<(), ProviderError> {
    match ec2
        .detach_internet_gateway()
        .internet_gateway_id(igw_id)
        .vpc_id(vpc_id)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // Already detached is what we wanted.
        Err(e) if e.code() == Some("Gateway.NotAttached") => Ok(()),
        Err(e) => Err(sdk(
            &format!("detach internet gateway {igw_id} from {vpc_id}"),
            e,
        )),
    }
}

/// Re-reads the gateway's attachment: plans carry logical references, this needs the VPC id.
async fn current_vpc(ec2: &Client, igw_id: &str) -> Result<Option<String>, ProviderError> {
    let out = ec2
        .describe_internet_gateways()
        .filters(filter("internet-gateway-id", igw_id))
        .send()
        .await
        .map_err(|e| sdk(&format!("describe internet gateway {igw_id}"), e))?;
    Ok(out
        .internet_gateways()
        .first()
        .and_then(attached_vpc)
        .map(str::to_string))
}

impl Driver for InternetGatewaySpec {
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
            .create_internet_gateway()
            .tag_specifications(tag_spec(ResourceType::InternetGateway, ctx, id))
            .send()
            .await
            .map_err(|e| sdk(&format!("create internet gateway {id}"), e))?;
        let igw_id = out
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .unwrap_or_default()
            .to_string();
        // A crash here leaves a detached gateway; the next plan sees `vpc_id` null and attaches it.
        // CreateInternetGateway takes no client token: the attach is retried on its own.
        let vpc_id = ctx.cloud_id(spec.vpc.id())?;
        aws.follow_up(|| attach(ec2, &igw_id, vpc_id))
            .await
            .map_err(|e| e.after_create(&igw_id))?;
        Ok(Observed::new(
            id.clone(),
            ResourceKind::InternetGateway,
            igw_id,
        ))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let want = ctx.cloud_id(spec.vpc.id())?;
        if let Some(vpc) = current_vpc(ec2, &live.cloud_id).await? {
            if vpc == want {
                return Ok(live.clone());
            }
            detach(ec2, &live.cloud_id, &vpc).await?;
        }
        aws.retried(|| attach(ec2, &live.cloud_id, want)).await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        if let Some(vpc) = current_vpc(ec2, &live.cloud_id).await? {
            detach(ec2, &live.cloud_id, &vpc).await?;
        }
        ec2.delete_internet_gateway()
            .internet_gateway_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| {
                sdk(
                    &format!("delete internet gateway {} ({})", live.id, live.cloud_id),
                    e,
                )
            })?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let out = ec2
            .describe_internet_gateways()
            .filters(filter("internet-gateway-id", &live.cloud_id))
            .send()
            .await
            .map_err(|e| sdk(&format!("describe internet gateway {}", live.cloud_id), e))?;
        Ok(match out.internet_gateways().first() {
            None => Readiness::Gone,
            Some(g) if attached_vpc(g).is_some() => Readiness::Ready(observe(live.id.clone(), g)),
            Some(_) => Readiness::Pending("detached".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{AttachmentStatus, InternetGatewayAttachment};
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_the_attached_vpc_and_ignores_a_detached_one() {
        let igw = InternetGateway::builder()
            .internet_gateway_id("igw-1")
            .attachments(
                InternetGatewayAttachment::builder()
                    .vpc_id("vpc-old")
                    .state(AttachmentStatus::Detached)
                    .build(),
            )
            .attachments(
                InternetGatewayAttachment::builder()
                    .vpc_id("vpc-1")
                    .state(AttachmentStatus::from("available"))
                    .build(),
            )
            .build();
        let spec = InternetGatewaySpec {
            vpc: Ref::new("vpc"),
        };
        assert_reads(&observe("igw".into(), &igw), spec, &[("vpc", "vpc-1")]);
    }

    #[tokio::test]
    async fn the_attach_right_after_create_waits_for_the_new_gateway() {
        use std::collections::HashMap;

        use crate::testing::{Replay, context, ec2_xml, error_xml};

        let aws = Replay::new([
            (
                "DescribeInternetGateways",
                200,
                ec2_xml("DescribeInternetGateways", "<internetGatewaySet/>"),
            ),
            (
                "CreateInternetGateway",
                200,
                ec2_xml(
                    "CreateInternetGateway",
                    "<internetGateway><internetGatewayId>igw-1</internetGatewayId></internetGateway>",
                ),
            ),
            (
                "AttachInternetGateway",
                400,
                error_xml(
                    "InvalidInternetGatewayID.NotFound",
                    "The internetGateway ID 'igw-1' does not exist",
                ),
            ),
            (
                "AttachInternetGateway",
                500,
                error_xml("InternalError", "An internal error has occurred"),
            ),
            (
                "AttachInternetGateway",
                200,
                ec2_xml("AttachInternetGateway", "<return>true</return>"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([(
            LogicalId::from("vpc"),
            Observed::new("vpc".into(), ResourceKind::Vpc, "vpc-1"),
        )]);
        let spec = InternetGatewaySpec {
            vpc: Ref::new("vpc"),
        };
        let observed =
            InternetGatewaySpec::create(&provider, &context(&resolved), &"igw".into(), &spec)
                .await
                .unwrap();
        assert_eq!(observed.cloud_id, "igw-1");
        aws.assert_done();
        assert_eq!(aws.count("CreateInternetGateway"), 1);
    }
}
