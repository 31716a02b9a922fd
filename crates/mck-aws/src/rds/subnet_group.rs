use super::*;

pub(super) fn observe_subnet_group(id: LogicalId, group: &DbSubnetGroup) -> Observed {
    let name = group.db_subnet_group_name().unwrap_or_default();
    Observed::new(id, ResourceKind::DbSubnetGroup, name)
        .with(DbSubnetGroupSpec::NAME, name)
        .with(
            DbSubnetGroupSpec::DESCRIPTION,
            group.db_subnet_group_description().unwrap_or_default(),
        )
        .with(
            DbSubnetGroupSpec::SUBNET_IDS,
            cloud_ids(
                group
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string)),
            ),
        )
}

pub(super) async fn read_subnet_groups(
    rds: &Client,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_subnet_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list DB subnet groups", e))?;
        for group in page.db_subnet_groups() {
            let name = group.db_subnet_group_name().unwrap_or_default();
            if !name.starts_with(&format!("{stack}-")) {
                continue;
            }
            let tags = tags_of(rds, group.db_subnet_group_arn().unwrap_or_default()).await?;
            if let Some(id) = owned(&tags, stack) {
                out.push(observe_subnet_group(id, group));
            }
        }
    }
    Ok(out)
}

impl Driver for DbSubnetGroupSpec {
    const READ_BY: ServiceRead = ServiceRead::Rds;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        let subnets = ctx.cloud_ids(&spec.subnets)?;
        let out = match rds
            .create_db_subnet_group()
            .db_subnet_group_name(&spec.name)
            .db_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(subnets))
            .set_tags(Some(tags(ctx, id)))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("DBSubnetGroupAlreadyExists") => {
                let found = rds
                    .describe_db_subnet_groups()
                    .db_subnet_group_name(&spec.name)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("find DB subnet group {}", spec.name), e))?;
                let existing = match found.db_subnet_groups().first() {
                    Some(group) => {
                        let tags =
                            tags_of(rds, group.db_subnet_group_arn().unwrap_or_default()).await?;
                        Some((
                            owned(&tags, ctx.stack),
                            observe_subnet_group(id.clone(), group),
                        ))
                    }
                    None => None,
                };
                return crate::adopt("DB subnet group", id, existing);
            }
            Err(e) => {
                return Err(sdk(
                    &format!("create DB subnet group {id} ({})", spec.name),
                    e,
                ));
            }
        };
        let group = out
            .db_subnet_group()
            .ok_or_else(|| ProviderError::invalid("create DB subnet group returned nothing"))?;
        Ok(observe_subnet_group(id.clone(), group))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        let subnets = ctx.cloud_ids(&spec.subnets)?;
        rds.modify_db_subnet_group()
            .db_subnet_group_name(&live.cloud_id)
            .db_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(subnets))
            .send()
            .await
            .map_err(|e| sdk(&format!("modify DB subnet group {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let rds = &aws.clients.rds;
        rds.delete_db_subnet_group()
            .db_subnet_group_name(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete DB subnet group {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let rds = &aws.clients.rds;
        match rds
            .describe_db_subnet_groups()
            .db_subnet_group_name(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => Ok(match out.db_subnet_groups().first() {
                Some(group) => Readiness::Ready(observe_subnet_group(live.id.clone(), group)),
                None => Readiness::Gone,
            }),
            Err(e) if e.code() == Some("DBSubnetGroupNotFoundFault") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(
                &format!("describe DB subnet group {}", live.cloud_id),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::types::Subnet;
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_name_description_and_subnets() {
        let group = DbSubnetGroup::builder()
            .db_subnet_group_name("t-db")
            .db_subnet_group_description("mck t: Aurora")
            .subnets(Subnet::builder().subnet_identifier("subnet-2").build())
            .subnets(Subnet::builder().subnet_identifier("subnet-1").build())
            .build();
        let spec = DbSubnetGroupSpec {
            name: "t-db".into(),
            description: "mck t: Aurora".into(),
            subnets: vec![Ref::new("subnet.data.a"), Ref::new("subnet.data.b")],
        };
        let ids = [("subnet.data.a", "subnet-1"), ("subnet.data.b", "subnet-2")];
        assert_reads(
            &observe_subnet_group("db.subnets".into(), &group),
            spec,
            &ids,
        );
    }

    #[tokio::test]
    async fn a_subnet_group_left_by_a_lost_create_answer_is_adopted() {
        use std::collections::HashMap;

        use crate::testing::{Replay, context, query_error_xml, query_xml};

        let aws = Replay::new([
            (
                "CreateDBSubnetGroup",
                400,
                query_error_xml(
                    "DBSubnetGroupAlreadyExists",
                    "The DB subnet group 't-db' already exists.",
                ),
            ),
            (
                "DescribeDBSubnetGroups",
                200,
                query_xml(
                    "DescribeDBSubnetGroups",
                    "<DBSubnetGroups><DBSubnetGroup><DBSubnetGroupName>t-db</DBSubnetGroupName><DBSubnetGroupArn>arn:aws:rds:us-east-1:1:subgrp:t-db</DBSubnetGroupArn></DBSubnetGroup></DBSubnetGroups>",
                ),
            ),
            (
                "ListTagsForResource",
                200,
                query_xml(
                    "ListTagsForResource",
                    "<TagList><Tag><Key>mck:stack</Key><Value>t</Value></Tag><Tag><Key>mck:id</Key><Value>db.subnets</Value></Tag></TagList>",
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([(
            LogicalId::from("subnet.data.a"),
            Observed::new("subnet.data.a".into(), ResourceKind::Subnet, "subnet-1"),
        )]);
        let spec = DbSubnetGroupSpec {
            name: "t-db".into(),
            description: "mck t: Aurora".into(),
            subnets: vec![Ref::new("subnet.data.a")],
        };
        let adopted =
            DbSubnetGroupSpec::create(&provider, &context(&resolved), &"db.subnets".into(), &spec)
                .await
                .unwrap();
        assert_eq!(adopted.cloud_id, "t-db");
        aws.assert_done();
    }
}
