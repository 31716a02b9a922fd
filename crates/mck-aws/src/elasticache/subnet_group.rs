use super::*;

pub(super) fn observe_subnet_group(id: LogicalId, group: &CacheSubnetGroup) -> Observed {
    let name = group.cache_subnet_group_name().unwrap_or_default();
    Observed::new(id, ResourceKind::CacheSubnetGroup, name)
        .with(CacheSubnetGroupSpec::NAME, name)
        .with(
            CacheSubnetGroupSpec::DESCRIPTION,
            group.cache_subnet_group_description().unwrap_or_default(),
        )
        .with(
            CacheSubnetGroupSpec::SUBNET_IDS,
            ids(group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))),
        )
}

pub(super) async fn read_subnet_groups(
    ec: &Client,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = ec.describe_cache_subnet_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list cache subnet groups", e))?;
        for group in page.cache_subnet_groups() {
            if !group
                .cache_subnet_group_name()
                .unwrap_or_default()
                .starts_with(&format!("{stack}-"))
            {
                continue;
            }
            let tags = tags_of(ec, group.arn().unwrap_or_default()).await?;
            if let Some(id) = owned(&tags, stack) {
                out.push(observe_subnet_group(id, group));
            }
        }
    }
    Ok(out)
}

impl Driver for CacheSubnetGroupSpec {
    const READ_BY: ServiceRead = ServiceRead::ElastiCache;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec = &aws.clients.elasticache;
        let out = match ec
            .create_cache_subnet_group()
            .cache_subnet_group_name(&spec.name)
            .cache_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(ctx.cloud_ids(&spec.subnets)?))
            .set_tags(Some(tags(ctx, id)))
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code() == Some("CacheSubnetGroupAlreadyExists") => {
                let found = ec
                    .describe_cache_subnet_groups()
                    .cache_subnet_group_name(&spec.name)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("find cache subnet group {}", spec.name), e))?;
                let existing = match found.cache_subnet_groups().first() {
                    Some(group) => {
                        let tags = tags_of(ec, group.arn().unwrap_or_default()).await?;
                        Some((
                            owned(&tags, ctx.stack),
                            observe_subnet_group(id.clone(), group),
                        ))
                    }
                    None => None,
                };
                return crate::adopt("cache subnet group", id, existing);
            }
            Err(e) => {
                return Err(sdk(
                    &format!("create cache subnet group {id} ({})", spec.name),
                    e,
                ));
            }
        };
        let group = out
            .cache_subnet_group()
            .ok_or_else(|| ProviderError::invalid("create cache subnet group returned nothing"))?;
        Ok(observe_subnet_group(id.clone(), group))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec = &aws.clients.elasticache;
        ec.modify_cache_subnet_group()
            .cache_subnet_group_name(&live.cloud_id)
            .cache_subnet_group_description(&spec.description)
            .set_subnet_ids(Some(ctx.cloud_ids(&spec.subnets)?))
            .send()
            .await
            .map_err(|e| sdk(&format!("modify cache subnet group {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec = &aws.clients.elasticache;
        ec.delete_cache_subnet_group()
            .cache_subnet_group_name(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete cache subnet group {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec = &aws.clients.elasticache;
        match ec
            .describe_cache_subnet_groups()
            .cache_subnet_group_name(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => Ok(match out.cache_subnet_groups().first() {
                Some(group) => Readiness::Ready(observe_subnet_group(live.id.clone(), group)),
                None => Readiness::Gone,
            }),
            Err(e) if e.code() == Some("CacheSubnetGroupNotFoundFault") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(
                &format!("describe cache subnet group {}", live.cloud_id),
                e,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticache::types::Subnet;
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_name_description_and_subnets() {
        let group = CacheSubnetGroup::builder()
            .cache_subnet_group_name("t-cache")
            .cache_subnet_group_description("mck t: ElastiCache")
            .subnets(Subnet::builder().subnet_identifier("subnet-1").build())
            .build();
        let spec = CacheSubnetGroupSpec {
            name: "t-cache".into(),
            description: "mck t: ElastiCache".into(),
            subnets: vec![Ref::new("subnet.data.a")],
        };
        let observed = observe_subnet_group("cache.subnets".into(), &group);
        assert_reads(&observed, spec, &[("subnet.data.a", "subnet-1")]);
    }
}
