use super::*;

pub(super) fn observe_replication_group(id: LogicalId, group: &ReplicationGroup) -> Observed {
    let group_id = group.replication_group_id().unwrap_or_default();
    let primary = group
        .node_groups()
        .first()
        .and_then(|n| n.primary_endpoint());
    let reader = group
        .node_groups()
        .first()
        .and_then(|n| n.reader_endpoint());
    let mut o = Observed::new(id, ResourceKind::ReplicationGroup, group_id)
        .with(ReplicationGroupSpec::REPLICATION_GROUP_ID, group_id)
        .with(
            ReplicationGroupSpec::DESCRIPTION,
            group.description().unwrap_or_default(),
        )
        .with(ReplicationGroupSpec::ENGINE, "redis")
        .with(
            ReplicationGroupSpec::NODE_TYPE,
            group.cache_node_type().unwrap_or_default(),
        )
        .with(
            ReplicationGroupSpec::NUM_CACHE_CLUSTERS,
            i64::try_from(group.member_clusters().len()).unwrap_or(0),
        )
        .with(
            ReplicationGroupSpec::AUTOMATIC_FAILOVER,
            matches!(
                group.automatic_failover(),
                Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
            ),
        )
        .with(
            ReplicationGroupSpec::MULTI_AZ,
            matches!(group.multi_az(), Some(MultiAzStatus::Enabled)),
        )
        .with(
            ReplicationGroupSpec::AT_REST_ENCRYPTION_ENABLED,
            group.at_rest_encryption_enabled().unwrap_or(false),
        )
        .with(
            ReplicationGroupSpec::TRANSIT_ENCRYPTION_ENABLED,
            group.transit_encryption_enabled().unwrap_or(false),
        );
    if let Some(address) = primary.and_then(|e| e.address()) {
        o = o.output(ReplicationGroupSpec::OUT_PRIMARY_ENDPOINT, address);
    }
    if let Some(port) = primary.and_then(|e| e.port()) {
        o = o
            .with(ReplicationGroupSpec::PORT, i64::from(port))
            .output(ReplicationGroupSpec::OUT_PORT, port.to_string());
    }
    if let Some(address) = reader.and_then(|e| e.address()) {
        o = o.output(ReplicationGroupSpec::OUT_READER_ENDPOINT, address);
    }
    o
}

pub(super) async fn read_replication_groups(
    ec: &Client,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = ec.describe_replication_groups().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list replication groups", e))?;
        for group in page.replication_groups() {
            let name = group.replication_group_id().unwrap_or_default();
            if !name.starts_with(&format!("{stack}-")) || group.status() == Some("deleting") {
                continue;
            }
            let tags = tags_of(ec, group.arn().unwrap_or_default()).await?;
            if let Some(id) = owned(&tags, stack) {
                out.push(observe_replication_group(id, group));
            }
        }
    }
    Ok(out)
}

pub(super) async fn describe_replication_group(
    ec: &Client,
    group_id: &str,
) -> Result<Option<ReplicationGroup>, ProviderError> {
    match ec
        .describe_replication_groups()
        .replication_group_id(group_id)
        .send()
        .await
    {
        Ok(out) => Ok(out.replication_groups().first().cloned()),
        Err(e) if e.code() == Some("ReplicationGroupNotFoundFault") => Ok(None),
        Err(e) => Err(sdk(&format!("describe replication group {group_id}"), e)),
    }
}

impl Driver for ReplicationGroupSpec {
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec = &aws.elasticache;
        let groups = ctx.cloud_ids(&spec.security_groups)?;
        let result = ec
            .create_replication_group()
            .replication_group_id(&spec.id)
            .replication_group_description(&spec.description)
            .engine("redis")
            .engine_version(&spec.engine_version)
            .cache_node_type(&spec.node_type)
            .num_cache_clusters(i32::try_from(spec.num_cache_clusters).unwrap_or(1))
            .automatic_failover_enabled(spec.automatic_failover)
            .multi_az_enabled(spec.multi_az)
            .at_rest_encryption_enabled(spec.at_rest_encryption)
            .transit_encryption_enabled(spec.transit_encryption)
            .cache_subnet_group_name(ctx.cloud_id(spec.subnet_group.id())?)
            .set_security_group_ids(Some(groups))
            .port(i32::try_from(spec.port).unwrap_or(6379))
            .set_tags(Some(tags(ctx, id)))
            .send()
            .await;
        match result {
            Ok(out) => {
                let group = out.replication_group().ok_or_else(|| {
                    ProviderError::invalid("create replication group returned nothing")
                })?;
                Ok(observe_replication_group(id.clone(), group))
            }
            Err(e)
                if e.code() == Some("ReplicationGroupAlreadyExistsFault")
                    || e.code() == Some("ReplicationGroupAlreadyExists") =>
            {
                let existing = describe_replication_group(ec, &spec.id).await?;
                let owner = match &existing {
                    Some(group) => owned(
                        &tags_of(ec, group.arn().unwrap_or_default()).await?,
                        ctx.stack,
                    ),
                    None => None,
                };
                match existing {
                    Some(group)
                        if owner.as_ref() == Some(id) && group.status() != Some("deleting") =>
                    {
                        Ok(observe_replication_group(id.clone(), &group))
                    }
                    Some(group) => Err(ProviderError::invalid(format!(
                        "replication group {} exists ({}) and cannot be used for {id}; AWS reuses an id only after the old group is fully deleted",
                        spec.id,
                        group.status().unwrap_or("unknown status")
                    ))),
                    None => Err(ProviderError::invalid(format!(
                        "replication group {} already exists",
                        spec.id
                    ))),
                }
            }
            Err(e) => Err(sdk(
                &format!("create replication group {id} ({})", spec.id),
                e,
            )),
        }
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec = &aws.elasticache;
        let modifies = ["description", "node_type", "automatic_failover", "multi_az"];
        if fields.iter().any(|f| modifies.contains(f)) {
            ec.modify_replication_group()
                .replication_group_id(&live.cloud_id)
                .replication_group_description(&spec.description)
                .cache_node_type(&spec.node_type)
                .automatic_failover_enabled(spec.automatic_failover)
                .multi_az_enabled(spec.multi_az)
                .apply_immediately(true)
                .send()
                .await
                .map_err(|e| sdk(&format!("modify replication group {}", live.id), e))?;
        }
        if ReplicationGroupSpec::NUM_CACHE_CLUSTERS.is_in(fields) {
            let want = i32::try_from(spec.num_cache_clusters - 1).unwrap_or(0);
            let have = match live
                .fields
                .get(ReplicationGroupSpec::NUM_CACHE_CLUSTERS.name)
            {
                Some(Value::Int(n)) => i32::try_from(*n - 1).unwrap_or(0),
                _ => 0,
            };
            if want > have {
                ec.increase_replica_count()
                    .replication_group_id(&live.cloud_id)
                    .new_replica_count(want)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("add replicas to {}", live.id), e))?;
            } else {
                ec.decrease_replica_count()
                    .replication_group_id(&live.cloud_id)
                    .new_replica_count(want)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("remove replicas from {}", live.id), e))?;
            }
        }
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec = &aws.elasticache;
        ec.delete_replication_group()
            .replication_group_id(&live.cloud_id)
            .retain_primary_cluster(false)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete replication group {}", live.id), e))?;
        Ok(())
    }

    async fn poll(aws: &AwsProvider, live: &Observed) -> Result<Readiness, ProviderError> {
        let ec = &aws.elasticache;
        Ok(
            match describe_replication_group(ec, &live.cloud_id).await? {
                None => Readiness::Gone,
                Some(group) => match group.status().unwrap_or_default() {
                    "available" => {
                        Readiness::Ready(observe_replication_group(live.id.clone(), &group))
                    }
                    "create-failed" => {
                        Readiness::Failed("replication group creation failed".into())
                    }
                    status => Readiness::Pending(status.to_string()),
                },
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticache::types::{Endpoint, NodeGroup};
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_every_compared_field_and_the_endpoints() {
        let group = ReplicationGroup::builder()
            .replication_group_id("t-session")
            .description("mck t: Redis session")
            .cache_node_type("cache.t4g.small")
            .member_clusters("t-session-001")
            .member_clusters("t-session-002")
            .automatic_failover(AutomaticFailoverStatus::Enabled)
            .multi_az(MultiAzStatus::Enabled)
            .at_rest_encryption_enabled(true)
            .transit_encryption_enabled(true)
            .node_groups(
                NodeGroup::builder()
                    .primary_endpoint(
                        Endpoint::builder()
                            .address("primary.t-session")
                            .port(6379)
                            .build(),
                    )
                    .reader_endpoint(Endpoint::builder().address("replica.t-session").build())
                    .build(),
            )
            .build();
        let spec = ReplicationGroupSpec {
            id: "t-session".into(),
            description: "mck t: Redis session".into(),
            engine_version: "7.1".into(),
            node_type: "cache.t4g.small".into(),
            num_cache_clusters: 2,
            automatic_failover: true,
            multi_az: true,
            at_rest_encryption: true,
            transit_encryption: true,
            subnet_group: Ref::new("cache.subnets"),
            security_groups: vec![Ref::new("sg.redis")],
            port: 6379,
        };
        let observed = observe_replication_group("redis.session".into(), &group);
        assert_reads(&observed, spec, &[]);
        assert_eq!(observed.outputs["primary_endpoint"], "primary.t-session");
        assert_eq!(observed.outputs["reader_endpoint"], "replica.t-session");
    }
}
