//! What sits in the stack's VPC without the stack's tags (drift's `unmanaged` class), and the
//! stacks of a region (drift `--all`).

use std::collections::BTreeSet;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::Tag;
use mck_core::model::{LogicalId, ResourceKind, TAG_STACK};
use mck_core::provider::{Observed, ProviderError, Unmanaged};

use super::filter;
use crate::error::sdk;

/// The tag EC2 Auto Scaling puts on the instances it launches.
const ASG_TAG: &str = "aws:autoscaling:groupName";

fn tag<'a>(tags: &'a [Tag], key: &str) -> Option<&'a str> {
    tags.iter()
        .find(|t| t.key() == Some(key))
        .and_then(Tag::value)
}

/// Not this stack's: no `mck:stack` tag naming it.
fn foreign(tags: &[Tag], stack: &str) -> bool {
    tag(tags, TAG_STACK) != Some(stack)
}

fn unmanaged(kind: ResourceKind, cloud_id: &str, name: Option<&str>, vpc: &LogicalId) -> Unmanaged {
    Unmanaged {
        kind,
        cloud_id: cloud_id.to_string(),
        name: name.map(str::to_string),
        inside: vpc.clone(),
    }
}

/// Security groups, instances, subnets and route tables in the stack's VPC that do not carry
/// its tags. Left out: what AWS makes with every VPC (the `default` security group, the main
/// route table) and the instances the stack's own Auto Scaling groups launched (they carry the
/// group's tag, not mck's).
pub(crate) async fn read_unmanaged(
    ec2: &Client,
    stack: &str,
    owned: &[Observed],
) -> Result<Vec<Unmanaged>, ProviderError> {
    let Some(vpc) = owned.iter().find(|o| o.kind == ResourceKind::Vpc) else {
        return Ok(Vec::new());
    };
    let groups_of_stack: BTreeSet<&str> = owned
        .iter()
        .filter(|o| o.kind == ResourceKind::AutoScalingGroup)
        .map(|o| o.cloud_id.as_str())
        .collect();
    let in_vpc = || filter("vpc-id", vpc.cloud_id.as_str());
    let (groups, instances, subnets, tables) = tokio::try_join!(
        async {
            ec2.describe_security_groups()
                .filters(in_vpc())
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| sdk("list security groups of the VPC", e))
        },
        async {
            ec2.describe_instances()
                .filters(in_vpc())
                .filters(
                    aws_sdk_ec2::types::Filter::builder()
                        .name("instance-state-name")
                        .values("pending")
                        .values("running")
                        .values("stopping")
                        .values("stopped")
                        .build(),
                )
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| sdk("list instances of the VPC", e))
        },
        async {
            ec2.describe_subnets()
                .filters(in_vpc())
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| sdk("list subnets of the VPC", e))
        },
        async {
            ec2.describe_route_tables()
                .filters(in_vpc())
                .into_paginator()
                .items()
                .send()
                .collect::<Result<Vec<_>, _>>()
                .await
                .map_err(|e| sdk("list route tables of the VPC", e))
        },
    )?;
    let vpc_id = &vpc.id;
    let mut out = Vec::new();
    for g in groups
        .iter()
        .filter(|g| g.group_name() != Some("default") && foreign(g.tags(), stack))
    {
        out.push(unmanaged(
            ResourceKind::SecurityGroup,
            g.group_id().unwrap_or_default(),
            g.group_name(),
            vpc_id,
        ));
    }
    for r in &instances {
        for i in r.instances().iter().filter(|i| {
            foreign(i.tags(), stack)
                && !tag(i.tags(), ASG_TAG).is_some_and(|g| groups_of_stack.contains(g))
        }) {
            out.push(unmanaged(
                ResourceKind::Instance,
                i.instance_id().unwrap_or_default(),
                tag(i.tags(), "Name"),
                vpc_id,
            ));
        }
    }
    for s in subnets.iter().filter(|s| foreign(s.tags(), stack)) {
        out.push(unmanaged(
            ResourceKind::Subnet,
            s.subnet_id().unwrap_or_default(),
            tag(s.tags(), "Name").or(s.cidr_block()),
            vpc_id,
        ));
    }
    for t in tables.iter().filter(|t| {
        foreign(t.tags(), stack) && !t.associations().iter().any(|a| a.main().unwrap_or(false))
    }) {
        out.push(unmanaged(
            ResourceKind::RouteTable,
            t.route_table_id().unwrap_or_default(),
            tag(t.tags(), "Name"),
            vpc_id,
        ));
    }
    Ok(out)
}

/// The stacks with EC2 resources in the region: the values of the `mck:stack` tag.
pub(crate) async fn list_stacks(ec2: &Client) -> Result<Vec<String>, ProviderError> {
    let tags = ec2
        .describe_tags()
        .filters(filter("key", TAG_STACK))
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk("list the stacks' tags", e))?;
    let stacks: BTreeSet<String> = tags
        .iter()
        .filter_map(|t| t.value().map(str::to_string))
        .collect();
    Ok(stacks.into_iter().collect())
}

/// Every VPC of the region, mck's or not: its id, primary CIDR and tags.
pub(crate) async fn list_networks(
    ec2: &Client,
) -> Result<Vec<mck_core::provider::Network>, ProviderError> {
    let vpcs = ec2
        .describe_vpcs()
        .into_paginator()
        .items()
        .send()
        .collect::<Result<Vec<_>, _>>()
        .await
        .map_err(|e| sdk("list the VPCs", e))?;
    Ok(vpcs
        .iter()
        .map(|v| mck_core::provider::Network {
            id: v.vpc_id().unwrap_or_default().to_string(),
            cidr: v.cidr_block().unwrap_or_default().to_string(),
            tags: v
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?.to_string(), t.value()?.to_string())))
                .collect(),
        })
        .collect())
}

/// Sets `tags` on the VPC `id` (CreateTags overwrites a key's value).
pub(crate) async fn tag_network(
    ec2: &Client,
    id: &str,
    tags: &[(String, String)],
) -> Result<(), ProviderError> {
    ec2.create_tags()
        .resources(id)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| aws_sdk_ec2::types::Tag::builder().key(k).value(v).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| sdk(&format!("tag the VPC {id}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AwsProvider;
    use crate::testing::Replay;

    #[tokio::test]
    async fn hand_made_things_in_the_vpc_are_found_and_aws_defaults_and_scaling_instances_are_not()
    {
        let groups = "<DescribeSecurityGroupsResponse><securityGroupInfo>\
            <item><groupId>sg-default</groupId><groupName>default</groupName><vpcId>vpc-1</vpcId></item>\
            <item><groupId>sg-app</groupId><groupName>t-app</groupName><vpcId>vpc-1</vpcId><tagSet><item><key>mck:stack</key><value>t</value></item></tagSet></item>\
            <item><groupId>sg-hand</groupId><groupName>debug</groupName><vpcId>vpc-1</vpcId></item>\
            </securityGroupInfo></DescribeSecurityGroupsResponse>";
        let instances = "<DescribeInstancesResponse><reservationSet><item><instancesSet>\
            <item><instanceId>i-asg</instanceId><tagSet><item><key>aws:autoscaling:groupName</key><value>t-servers</value></item></tagSet></item>\
            <item><instanceId>i-hand</instanceId><tagSet><item><key>Name</key><value>jump</value></item></tagSet></item>\
            </instancesSet></item></reservationSet></DescribeInstancesResponse>";
        let subnets = "<DescribeSubnetsResponse><subnetSet>\
            <item><subnetId>subnet-1</subnetId><cidrBlock>10.0.1.0/24</cidrBlock><tagSet><item><key>mck:stack</key><value>t</value></item></tagSet></item>\
            <item><subnetId>subnet-hand</subnetId><cidrBlock>10.0.77.0/24</cidrBlock></item>\
            </subnetSet></DescribeSubnetsResponse>";
        let tables = "<DescribeRouteTablesResponse><routeTableSet>\
            <item><routeTableId>rtb-main</routeTableId><associationSet><item><main>true</main></item></associationSet></item>\
            <item><routeTableId>rtb-hand</routeTableId></item>\
            </routeTableSet></DescribeRouteTablesResponse>";
        // The four reads run concurrently: any order of answers.
        let aws = Replay::new([
            ("DescribeSecurityGroups", 200, groups.to_string()),
            ("DescribeInstances", 200, instances.to_string()),
            ("DescribeSubnets", 200, subnets.to_string()),
            ("DescribeRouteTables", 200, tables.to_string()),
        ])
        .any_order();
        let provider = AwsProvider::offline(aws.clone());
        let owned = vec![
            Observed::new("vpc".into(), ResourceKind::Vpc, "vpc-1"),
            Observed::new(
                "ecs.servers".into(),
                ResourceKind::AutoScalingGroup,
                "t-servers",
            ),
        ];
        let found = read_unmanaged(&provider.clients.ec2, "t", &owned)
            .await
            .unwrap();
        let ids: Vec<(&str, Option<&str>)> = found
            .iter()
            .map(|u| (u.cloud_id.as_str(), u.name.as_deref()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("sg-hand", Some("debug")),
                ("i-hand", Some("jump")),
                ("subnet-hand", Some("10.0.77.0/24")),
                ("rtb-hand", None),
            ]
        );
        assert!(found.iter().all(|u| u.inside.as_str() == "vpc"));
        aws.assert_done();
    }

    /// A preview's later expiry goes on its VPC in one CreateTags (which overwrites the key's
    /// value), as the API reference takes it: the VPC as `ResourceId.1`, the tag as `Tag.1`;
    /// an error names the VPC.
    #[tokio::test]
    async fn a_network_is_tagged_with_one_create_tags_naming_it() {
        let ok = "<CreateTagsResponse><return>true</return></CreateTagsResponse>".to_string();
        let refused = "<Response><Errors><Error><Code>InvalidVpcID.NotFound</Code><Message>The vpc ID 'vpc-9' does not exist</Message></Error></Errors><RequestID>r</RequestID></Response>".to_string();
        let aws = Replay::new([("CreateTags", 200, ok), ("CreateTags", 400, refused)]);
        let provider = AwsProvider::offline(aws.clone());
        let tag = [(
            "mck:expires".to_string(),
            "2026-12-10T00:00:00Z".to_string(),
        )];
        tag_network(&provider.clients.ec2, "vpc-1", &tag)
            .await
            .unwrap();
        let sent = &aws.requests()[0].1;
        for param in [
            "ResourceId.1=vpc-1",
            "Tag.1.Key=mck%3Aexpires",
            "Tag.1.Value=2026-12-10T00%3A00%3A00Z",
        ] {
            assert!(sent.contains(param), "{param} missing from {sent}");
        }
        let err = tag_network(&provider.clients.ec2, "vpc-9", &tag)
            .await
            .unwrap_err();
        assert!(err.message.contains("vpc-9"), "{err}");
        aws.assert_done();
    }
}
