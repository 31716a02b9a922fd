//! VPC with DNS support and hostnames.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{AttributeBooleanValue, ResourceType, Vpc, VpcAttributeName};
use mck_core::model::{LogicalId, ResourceKind, VpcSpec};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{filter, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead, finish_earlier};
use crate::error::sdk;
use crate::missing;

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let pages = ec2
        .describe_vpcs()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    let vpcs = owned_items(
        pages,
        "list VPCs",
        stack,
        |p| p.vpcs().to_vec(),
        |v| v.tags(),
    )
    .await?;
    let mut out = Vec::with_capacity(vpcs.len());
    for (id, vpc) in vpcs {
        out.push(observe(ec2, id, &vpc).await?);
    }
    Ok(out)
}

/// DNS attributes are not part of DescribeVpcs: two more calls per VPC (one VPC per stack).
async fn observe(ec2: &Client, id: LogicalId, vpc: &Vpc) -> Result<Observed, ProviderError> {
    let vpc_id = vpc.vpc_id().unwrap_or_default();
    let attr = |name: VpcAttributeName| async move {
        let out = ec2
            .describe_vpc_attribute()
            .vpc_id(vpc_id)
            .attribute(name)
            .send()
            .await
            .map_err(|e| sdk(&format!("read DNS attributes of VPC {vpc_id}"), e))?;
        let value = match out.enable_dns_support() {
            Some(v) => v.value(),
            None => out
                .enable_dns_hostnames()
                .and_then(AttributeBooleanValue::value),
        };
        Ok::<_, ProviderError>(value.unwrap_or(false))
    };
    let (support, hostnames) = tokio::try_join!(
        attr(VpcAttributeName::EnableDnsSupport),
        attr(VpcAttributeName::EnableDnsHostnames)
    )?;
    Ok(observe_with(id, vpc, support, hostnames))
}

/// A VPC and its DNS attributes (read separately) as the model's fields.
fn observe_with(id: LogicalId, vpc: &Vpc, dns_support: bool, dns_hostnames: bool) -> Observed {
    Observed::new(id, ResourceKind::Vpc, vpc.vpc_id().unwrap_or_default())
        .with(VpcSpec::CIDR_BLOCK, vpc.cidr_block().unwrap_or_default())
        .with(VpcSpec::ENABLE_DNS_SUPPORT, dns_support)
        .with(VpcSpec::ENABLE_DNS_HOSTNAMES, dns_hostnames)
        .output(
            VpcSpec::OUT_CIDR_BLOCK,
            vpc.cidr_block().unwrap_or_default(),
        )
}

/// Sets the DNS attributes named in `fields`, one attribute per call, support before
/// hostnames (hostnames need support). Each call is retried on its own.
async fn set_dns(
    aws: &AwsProvider,
    vpc_id: &str,
    spec: &VpcSpec,
    fields: &[&str],
    just_created: bool,
) -> Result<(), ProviderError> {
    let ec2 = &aws.clients.ec2;
    if VpcSpec::ENABLE_DNS_SUPPORT.is_in(fields) {
        let value = AttributeBooleanValue::builder()
            .value(spec.enable_dns_support)
            .build();
        aws.call(just_created, || async {
            ec2.modify_vpc_attribute()
                .vpc_id(vpc_id)
                .enable_dns_support(value.clone())
                .send()
                .await
                .map_err(|e| sdk(&format!("set DNS support on VPC {vpc_id}"), e))
        })
        .await?;
    }
    if VpcSpec::ENABLE_DNS_HOSTNAMES.is_in(fields) {
        let value = AttributeBooleanValue::builder()
            .value(spec.enable_dns_hostnames)
            .build();
        aws.call(just_created, || async {
            ec2.modify_vpc_attribute()
                .vpc_id(vpc_id)
                .enable_dns_hostnames(value.clone())
                .send()
                .await
                .map_err(|e| sdk(&format!("set DNS hostnames on VPC {vpc_id}"), e))
        })
        .await?;
    }
    Ok(())
}

impl Driver for VpcSpec {
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
            .create_vpc()
            .cidr_block(&spec.cidr)
            .tag_specifications(tag_spec(ResourceType::Vpc, ctx, id))
            .send()
            .await
            .map_err(|e| sdk(&format!("create VPC {id}"), e))?;
        let vpc = out
            .vpc()
            .ok_or_else(|| ProviderError::invalid("create VPC returned no VPC"))?;
        let vpc_id = vpc.vpc_id().unwrap_or_default().to_string();
        // CreateVpc takes no client token: from here on the create must not fail as a whole.
        let all = [
            VpcSpec::ENABLE_DNS_SUPPORT.name,
            VpcSpec::ENABLE_DNS_HOSTNAMES.name,
        ];
        set_dns(aws, &vpc_id, spec, &all, true)
            .await
            .map_err(|e| e.after_create(&vpc_id))?;
        Ok(Observed::new(id.clone(), ResourceKind::Vpc, vpc_id)
            .with(VpcSpec::CIDR_BLOCK, spec.cidr.as_str()))
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        set_dns(aws, &live.cloud_id, spec, fields, false).await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        ec2.delete_vpc()
            .vpc_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete VPC {} ({})", live.id, live.cloud_id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let out = ec2
            .describe_vpcs()
            .filters(filter("vpc-id", &live.cloud_id))
            .send()
            .await
            .map_err(|e| sdk(&format!("describe VPC {}", live.cloud_id), e))?;
        let Some(vpc) = out.vpcs().first() else {
            return Ok(Readiness::Gone);
        };
        Ok(match vpc.state().map(|s| s.as_str()) {
            Some("available") => Readiness::Ready(observe(ec2, live.id.clone(), vpc).await?),
            Some(state) => Readiness::Pending(state.to_string()),
            None => return Err(missing("state of VPC", &live.cloud_id)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_cidr_and_dns_attributes() {
        let vpc = Vpc::builder()
            .vpc_id("vpc-1")
            .cidr_block("10.0.0.0/16")
            .build();
        let observed = observe_with("vpc".into(), &vpc, true, false);
        let spec = VpcSpec {
            cidr: "10.0.0.0/16".into(),
            enable_dns_support: true,
            enable_dns_hostnames: false,
        };
        assert_reads(&observed, spec, &[]);
        assert_eq!(observed.cloud_id, "vpc-1");
    }

    use std::collections::HashMap;

    use crate::testing::{Replay, context, ec2_xml, error_xml};

    fn spec() -> VpcSpec {
        VpcSpec {
            cidr: "10.0.0.0/16".into(),
            enable_dns_support: true,
            enable_dns_hostnames: true,
        }
    }

    fn created() -> String {
        ec2_xml(
            "CreateVpc",
            "<vpc><vpcId>vpc-1</vpcId><cidrBlock>10.0.0.0/16</cidrBlock><state>pending</state></vpc>",
        )
    }

    /// DescribeVpcs before the create: no VPC made for this id yet.
    fn none_yet() -> String {
        ec2_xml("DescribeVpcs", "<vpcSet/>")
    }

    fn modified() -> String {
        ec2_xml("ModifyVpcAttribute", "<return>true</return>")
    }

    #[tokio::test]
    async fn attribute_calls_right_after_create_wait_for_the_new_vpc_to_be_visible() {
        let aws = Replay::new([
            ("DescribeVpcs", 200, none_yet()),
            ("CreateVpc", 200, created()),
            // Eventual consistency: the new id is not known yet to the attribute API.
            (
                "ModifyVpcAttribute",
                400,
                error_xml("InvalidVpcID.NotFound", "The vpc ID 'vpc-1' does not exist"),
            ),
            ("ModifyVpcAttribute", 200, modified()),
            (
                "ModifyVpcAttribute",
                503,
                error_xml("RequestLimitExceeded", "Request limit exceeded."),
            ),
            ("ModifyVpcAttribute", 200, modified()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let observed = VpcSpec::create(&provider, &context(&resolved), &"vpc".into(), &spec())
            .await
            .unwrap();
        assert_eq!(observed.cloud_id, "vpc-1");
        aws.assert_done();
        assert_eq!(aws.count("CreateVpc"), 1);
    }

    /// A create of `vpc` while DescribeVpcs shows `found_id` with `found_cidr` tagged as `vpc` of
    /// the stack (its DNS attributes read with it); `then`: the calls that follow.
    async fn create_finding(
        found_id: &str,
        found_cidr: &str,
        then: Vec<(&'static str, u16, String)>,
    ) -> (Replay, Observed) {
        let dns = |attr: &str| {
            ec2_xml(
                "DescribeVpcAttribute",
                &format!("<vpcId>{found_id}</vpcId><{attr}><value>false</value></{attr}>"),
            )
        };
        let mut script = vec![
            (
                "DescribeVpcs",
                200,
                ec2_xml(
                    "DescribeVpcs",
                    &format!(
                        "<vpcSet><item><vpcId>{found_id}</vpcId><cidrBlock>{found_cidr}</cidrBlock>\
                         <tagSet><item><key>mck:stack</key><value>t</value></item>\
                         <item><key>mck:id</key><value>vpc</value></item></tagSet></item></vpcSet>"
                    ),
                ),
            ),
            ("DescribeVpcAttribute", 200, dns("enableDnsSupport")),
            ("DescribeVpcAttribute", 200, dns("enableDnsHostnames")),
        ];
        script.extend(then);
        let aws = Replay::new(script).any_order();
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let observed = VpcSpec::create(&provider, &context(&resolved), &"vpc".into(), &spec())
            .await
            .unwrap();
        aws.assert_done();
        (aws, observed)
    }

    /// CreateVpc takes no client token: a create repeated after a lost answer finds the VPC the
    /// first one made (by its tags) and finishes it (its DNS attributes), instead of making a
    /// second.
    #[tokio::test]
    async fn a_repeated_create_finishes_the_vpc_an_earlier_one_made() {
        let then = vec![
            ("ModifyVpcAttribute", 200, modified()),
            ("ModifyVpcAttribute", 200, modified()),
        ];
        let (aws, observed) = create_finding("vpc-1", "10.0.0.0/16", then).await;
        assert_eq!(observed.cloud_id, "vpc-1");
        assert_eq!(aws.count("CreateVpc"), 0);
    }

    /// A VPC claiming the id with another CIDR is not one this create made (a copy another run
    /// made): a new VPC is created, and the next plan reports the two as duplicates.
    #[tokio::test]
    async fn a_vpc_claiming_the_id_with_other_fixed_fields_is_not_taken_over() {
        let then = vec![
            ("CreateVpc", 200, created()),
            ("ModifyVpcAttribute", 200, modified()),
            ("ModifyVpcAttribute", 200, modified()),
        ];
        let (_, observed) = create_finding("vpc-9", "10.9.0.0/16", then).await;
        assert_eq!(observed.cloud_id, "vpc-1");
    }

    #[tokio::test]
    async fn a_create_whose_attribute_call_keeps_failing_says_the_vpc_exists() {
        let mut script = vec![
            ("DescribeVpcs", 200, none_yet()),
            ("CreateVpc", 200, created()),
        ];
        for _ in 0..6 {
            script.push((
                "ModifyVpcAttribute",
                503,
                error_xml("RequestLimitExceeded", "Request limit exceeded."),
            ));
        }
        let aws = Replay::new(script);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let err = VpcSpec::create(&provider, &context(&resolved), &"vpc".into(), &spec())
            .await
            .unwrap_err();
        // The engine will not run CreateVpc again (it has no client token): one VPC only.
        assert_eq!(err.created.as_deref(), Some("vpc-1"));
        aws.assert_done();
    }
}
