//! Security groups and their rules. Rules are read from the groups' own describe output (no
//! extra call) and identified by content: `<group>/<direction>/<protocol>/<ports>/<peer>`.

use super::security_group_rule::{Peer, rules_of};
use super::{filter, owned_id, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{ResourceType, SecurityGroup};
use mck_core::model::{LogicalId, ResourceKind, SecurityGroupRuleSpec, SecurityGroupSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};
use std::collections::HashMap;

fn observe_group(id: LogicalId, group: &SecurityGroup) -> Observed {
    Observed::new(
        id,
        ResourceKind::SecurityGroup,
        group.group_id().unwrap_or_default(),
    )
    .with(
        SecurityGroupSpec::VPC_ID,
        Value::CloudId(group.vpc_id().unwrap_or_default().to_string()),
    )
    .with(
        SecurityGroupSpec::NAME,
        group.group_name().unwrap_or_default(),
    )
    .with(
        SecurityGroupSpec::DESCRIPTION,
        group.description().unwrap_or_default(),
    )
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let pages = ec2
        .describe_security_groups()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    let groups = owned_items(
        pages,
        "list security groups",
        stack,
        |p| p.security_groups().to_vec(),
        |g| g.tags(),
    )
    .await?;
    Ok(observe_groups(&groups))
}

/// The stack's groups and their rules; a rule naming another group of the stack is named after
/// that group's logical id.
fn observe_groups(groups: &[(LogicalId, SecurityGroup)]) -> Vec<Observed> {
    let logical: HashMap<&str, &LogicalId> = groups
        .iter()
        .map(|(id, g)| (g.group_id().unwrap_or_default(), id))
        .collect();
    let mut out = Vec::new();
    for (id, group) in groups {
        out.push(observe_group(id.clone(), group));
        for rule in rules_of(group) {
            let peer = match &rule.peer {
                Peer::Cidr(c) => c.clone(),
                Peer::Group(g) => logical
                    .get(g.as_str())
                    .map_or_else(|| g.clone(), |l| l.to_string()),
            };
            let rule_id = SecurityGroupRuleSpec::logical_id(
                id,
                rule.direction,
                &rule.protocol,
                rule.from_port,
                rule.to_port,
                &peer,
            );
            out.push(rule.observe(rule_id));
        }
    }
    out
}

pub(super) async fn describe(
    ec2: &Client,
    group_id: &str,
) -> Result<Option<SecurityGroup>, ProviderError> {
    let out = ec2
        .describe_security_groups()
        .filters(filter("group-id", group_id))
        .send()
        .await
        .map_err(|e| sdk(&format!("describe security group {group_id}"), e))?;
    Ok(out.security_groups().first().cloned())
}

impl Driver for SecurityGroupSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let vpc = ctx.cloud_id(spec.vpc.id())?;
        let out = match ec2
            .create_security_group()
            .group_name(&spec.group_name)
            .description(&spec.description)
            .vpc_id(vpc)
            .tag_specifications(tag_spec(ResourceType::SecurityGroup, ctx, id))
            .send()
            .await
        {
            Ok(out) => out,
            // The name is taken in this VPC: ours from a create whose answer was lost?
            Err(e) if e.code() == Some("InvalidGroup.Duplicate") => {
                let existing = ec2
                    .describe_security_groups()
                    .filters(filter("vpc-id", vpc))
                    .filters(filter("group-name", &spec.group_name))
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("find security group {}", spec.group_name), e))?;
                let existing = existing
                    .security_groups()
                    .first()
                    .map(|g| (owned_id(g.tags(), ctx.stack), observe_group(id.clone(), g)));
                return crate::adopt("security group", id, existing);
            }
            Err(e) => {
                return Err(sdk(
                    &format!("create security group {id} ({})", spec.group_name),
                    e,
                ));
            }
        };
        Ok(Observed::new(
            id.clone(),
            ResourceKind::SecurityGroup,
            out.group_id().unwrap_or_default(),
        )
        .with(SecurityGroupSpec::VPC_ID, Value::CloudId(vpc.to_string()))
        .with(SecurityGroupSpec::NAME, spec.group_name.as_str())
        .with(SecurityGroupSpec::DESCRIPTION, spec.description.as_str()))
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

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        ec2.delete_security_group()
            .group_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| {
                sdk(
                    &format!("delete security group {} ({})", live.id, live.cloud_id),
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
        Ok(match describe(ec2, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(g) => Readiness::Ready(observe_group(live.id.clone(), &g)),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{IpPermission, IpRange, UserIdGroupPair};
    use mck_core::model::{Direction, Ref, RulePeer};

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_groups_and_their_rules_named_by_content() {
        let alb = SecurityGroup::builder()
            .group_id("sg-alb")
            .group_name("t-alb")
            .description("mck t: load balancer")
            .vpc_id("vpc-1")
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(443)
                    .to_port(443)
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .build();
        let app = SecurityGroup::builder()
            .group_id("sg-app")
            .group_name("t-app")
            .description("mck t: app")
            .vpc_id("vpc-1")
            .ip_permissions(
                IpPermission::builder()
                    .ip_protocol("tcp")
                    .from_port(80)
                    .to_port(80)
                    .user_id_group_pairs(UserIdGroupPair::builder().group_id("sg-alb").build())
                    .build(),
            )
            .ip_permissions_egress(
                IpPermission::builder()
                    .ip_protocol("-1")
                    .ip_ranges(IpRange::builder().cidr_ip("0.0.0.0/0").build())
                    .build(),
            )
            .build();
        let observed = observe_groups(&[("sg.alb".into(), alb), ("sg.app".into(), app)]);
        let by_id = |id: &str| {
            observed
                .iter()
                .find(|o| o.id.as_str() == id)
                .unwrap_or_else(|| panic!("{id} not read; read: {observed:?}"))
        };
        let ids = [("vpc", "vpc-1"), ("sg.alb", "sg-alb"), ("sg.app", "sg-app")];
        assert_reads(
            by_id("sg.app"),
            SecurityGroupSpec {
                vpc: Ref::new("vpc"),
                group_name: "t-app".into(),
                description: "mck t: app".into(),
            },
            &ids,
        );
        let rule = |group: &str, direction, protocol: &str, port, peer| SecurityGroupRuleSpec {
            group: Ref::new(group),
            direction,
            protocol: protocol.into(),
            from_port: port,
            to_port: port,
            peer,
            description: String::new(),
        };
        for spec in [
            rule(
                "sg.alb",
                Direction::Ingress,
                "tcp",
                443,
                RulePeer::Cidr("0.0.0.0/0".into()),
            ),
            rule(
                "sg.app",
                Direction::Ingress,
                "tcp",
                80,
                RulePeer::Group(Ref::new("sg.alb")),
            ),
            rule(
                "sg.app",
                Direction::Egress,
                "-1",
                0,
                RulePeer::Cidr("0.0.0.0/0".into()),
            ),
        ] {
            // The rule's logical id derives from its content, as lowering names it.
            assert_reads(by_id(spec.own_logical_id().as_str()), spec, &ids);
        }
        assert_eq!(observed.len(), 5);
    }

    fn described(stack: &str) -> String {
        crate::testing::ec2_xml(
            "DescribeSecurityGroups",
            &format!(
                "<securityGroupInfo><item><groupId>sg-1</groupId><groupName>t-app</groupName><groupDescription>mck t: app</groupDescription><vpcId>vpc-1</vpcId><tagSet><item><key>mck:stack</key><value>{stack}</value></item><item><key>mck:id</key><value>sg.app</value></item></tagSet></item></securityGroupInfo>"
            ),
        )
    }

    async fn create_app_group(aws: &crate::testing::Replay) -> Result<Observed, ProviderError> {
        let provider = AwsProvider::offline(aws.clone());
        let resolved = std::collections::HashMap::from([(
            LogicalId::from("vpc"),
            Observed::new("vpc".into(), ResourceKind::Vpc, "vpc-1"),
        )]);
        let spec = SecurityGroupSpec {
            vpc: Ref::new("vpc"),
            group_name: "t-app".into(),
            description: "mck t: app".into(),
        };
        SecurityGroupSpec::create(
            &provider,
            &crate::testing::context(&resolved),
            &"sg.app".into(),
            &spec,
        )
        .await
    }

    #[tokio::test]
    async fn a_group_name_taken_by_this_stack_is_adopted_and_by_another_refused() {
        use crate::testing::{Replay, error_xml};

        let duplicate = || {
            (
                "CreateSecurityGroup",
                400,
                error_xml(
                    "InvalidGroup.Duplicate",
                    "The security group 't-app' already exists for VPC 'vpc-1'",
                ),
            )
        };
        let aws = Replay::new([duplicate(), ("DescribeSecurityGroups", 200, described("t"))]);
        let adopted = create_app_group(&aws).await.unwrap();
        assert_eq!(adopted.cloud_id, "sg-1");
        aws.assert_done();

        let aws = Replay::new([
            duplicate(),
            ("DescribeSecurityGroups", 200, described("other")),
        ]);
        let err = create_app_group(&aws).await.unwrap_err();
        assert!(
            err.message
                .contains("sg-1 already exists and is not sg.app"),
            "{}",
            err.message
        );
        aws.assert_done();
    }
}
