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
    o.output(
        mck_core::provider::OUT_DATA,
        format!(
            "{} cache node(s) of {}",
            group.member_clusters().len(),
            group.cache_node_type().unwrap_or("unknown type")
        ),
    )
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
            // A group whose tags cannot be read yet is left out: if it is this stack's, `up`
            // finds it through "already exists" and waits for it (see `create`).
            let tags =
                tags_if_readable(ec, group.status(), group.arn().unwrap_or_default()).await?;
            if let Some(id) = tags.and_then(|tags| owned(&tags, stack)) {
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
    const READ_BY: ServiceRead = ServiceRead::ElastiCache;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec = &aws.clients.elasticache;
        let groups = ctx.cloud_ids(&spec.security_groups)?;
        let result = ec
            .create_replication_group()
            .replication_group_id(&spec.id)
            .replication_group_description(&spec.description)
            .engine("redis")
            .engine_version(&spec.engine_version)
            .cache_node_type(&spec.node_type)
            .num_cache_clusters(crate::int32(spec.num_cache_clusters, "num_cache_clusters")?)
            .automatic_failover_enabled(spec.automatic_failover)
            .multi_az_enabled(spec.multi_az)
            .at_rest_encryption_enabled(spec.at_rest_encryption)
            .transit_encryption_enabled(spec.transit_encryption)
            .cache_subnet_group_name(ctx.cloud_id(spec.subnet_group.id())?)
            .set_security_group_ids(Some(groups))
            .port(crate::int32(spec.port, "port")?)
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
                let tags = match &existing {
                    Some(group) => {
                        tags_if_readable(ec, group.status(), group.arn().unwrap_or_default())
                            .await?
                    }
                    None => None,
                };
                let owner = tags.as_ref().and_then(|tags| owned(tags, ctx.stack));
                match existing {
                    Some(group)
                        if owner.as_ref() == Some(id) && group.status() != Some("deleting") =>
                    {
                        Ok(observe_replication_group(id.clone(), &group))
                    }
                    // Still creating or modifying (a run killed during its create): adopt it
                    // and wait; readiness checks its tags once AWS shows them.
                    Some(group)
                        if tags.is_none()
                            && matches!(group.status(), Some("creating" | "modifying")) =>
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
        let ec = &aws.clients.elasticache;
        let group_id = live.cloud_id.as_str();
        // Only the changed settings are sent: a re-sent unchanged one can be refused (AWS
        // rejects a request that modifies nothing, and some settings only in some states).
        let mut modify = ec
            .modify_replication_group()
            .replication_group_id(group_id)
            .apply_immediately(true);
        let mut modifies = false;
        if ReplicationGroupSpec::DESCRIPTION.is_in(fields) {
            modify = modify.replication_group_description(&spec.description);
            modifies = true;
        }
        if ReplicationGroupSpec::NODE_TYPE.is_in(fields) {
            modify = modify.cache_node_type(&spec.node_type);
            modifies = true;
        }
        if ReplicationGroupSpec::AUTOMATIC_FAILOVER.is_in(fields) {
            modify = modify.automatic_failover_enabled(spec.automatic_failover);
            modifies = true;
        }
        if ReplicationGroupSpec::MULTI_AZ.is_in(fields) {
            modify = modify.multi_az_enabled(spec.multi_az);
            modifies = true;
        }
        if modifies {
            match modify.send().await {
                Ok(_) => {}
                // AWS's answer when the group already has these settings (a retried update):
                // there is no dedicated code, Terraform matches the same message.
                Err(e)
                    if e.code() == Some("InvalidParameterCombination")
                        && e.message()
                            .is_some_and(|m| m.contains("No modifications were requested")) => {}
                Err(e) => return Err(sdk(&format!("modify replication group {}", live.id), e)),
            }
        }
        if ReplicationGroupSpec::NUM_CACHE_CLUSTERS.is_in(fields) {
            // One change at a time: a replica change right after a modification is refused
            // with InvalidReplicationGroupState until the group is available again.
            if modifies {
                aws.wait_until(
                    &format!("replication group {group_id} to be available"),
                    || async {
                        Ok(describe_replication_group(ec, group_id)
                            .await?
                            .is_some_and(|g| g.status() == Some("available")))
                    },
                )
                .await?;
            }
            let want = crate::int32(spec.num_cache_clusters - 1, "replicas")?;
            let have = match live
                .fields
                .get(ReplicationGroupSpec::NUM_CACHE_CLUSTERS.name)
            {
                Some(Value::Int(n)) => crate::int32(*n - 1, "replicas")?,
                _ => 0,
            };
            if want > have {
                ec.increase_replica_count()
                    .replication_group_id(group_id)
                    .new_replica_count(want)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("add replicas to {}", live.id), e))?;
            } else {
                ec.decrease_replica_count()
                    .replication_group_id(group_id)
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
        let ec = &aws.clients.elasticache;
        ec.delete_replication_group()
            .replication_group_id(&live.cloud_id)
            .retain_primary_cluster(false)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete replication group {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec = &aws.clients.elasticache;
        Ok(
            match describe_replication_group(ec, &live.cloud_id).await? {
                None => Readiness::Gone,
                Some(group) => match group.status().unwrap_or_default() {
                    // Ownership is checked here too: a group adopted while its tags were not
                    // readable must turn out to be this stack's.
                    "available" => {
                        match tags_if_readable(ec, group.status(), group.arn().unwrap_or_default())
                            .await?
                        {
                            None => Readiness::Pending("available, tags not readable yet".into()),
                            Some(tags) if owned(&tags, ctx.stack).as_ref() == Some(&live.id) => {
                                Readiness::Ready(observe_replication_group(live.id.clone(), &group))
                            }
                            Some(_) => Readiness::Failed(format!(
                                "replication group {} is not tagged as {} of stack {}: it is not this stack's",
                                live.cloud_id, live.id, ctx.stack
                            )),
                        }
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

    use std::collections::HashMap;

    use crate::testing::{Replay, context, query_error_xml, query_xml};

    fn group_xml(id: &str, status: &str) -> String {
        format!(
            "<ReplicationGroup><ReplicationGroupId>{id}</ReplicationGroupId><Status>{status}</Status><ARN>arn:aws:elasticache:us-east-1:1:replicationgroup:{id}</ARN></ReplicationGroup>"
        )
    }

    fn groups_xml(groups: &[String]) -> String {
        query_xml(
            "DescribeReplicationGroups",
            &format!("<ReplicationGroups>{}</ReplicationGroups>", groups.concat()),
        )
    }

    fn tags_xml(stack: &str, id: &str) -> String {
        query_xml(
            "ListTagsForResource",
            &format!(
                "<TagList><Tag><Key>mck:stack</Key><Value>{stack}</Value></Tag><Tag><Key>mck:id</Key><Value>{id}</Value></Tag></TagList>"
            ),
        )
    }

    #[tokio::test]
    async fn groups_whose_tags_aws_will_not_return_yet_do_not_break_the_read() {
        let aws = Replay::new([
            (
                "DescribeReplicationGroups",
                200,
                groups_xml(&[
                    group_xml("dev-cache", "available"),
                    // Another stack's group, still creating: AWS refuses its tags.
                    group_xml("dev-2-cache", "creating"),
                    group_xml("dev-session", "modifying"),
                ]),
            ),
            ("ListTagsForResource", 200, tags_xml("dev", "redis.cache")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let read = read_replication_groups(&provider.clients.elasticache, "dev")
            .await
            .unwrap();
        let ids: Vec<&str> = read.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["redis.cache"]);
        aws.assert_done();
    }

    #[tokio::test]
    async fn a_tag_read_refused_because_the_group_just_changed_state_is_not_an_error() {
        let aws = Replay::new([
            (
                "DescribeReplicationGroups",
                200,
                groups_xml(&[group_xml("dev-cache", "available")]),
            ),
            (
                "ListTagsForResource",
                400,
                query_error_xml(
                    "InvalidReplicationGroupState",
                    "Replication group dev-cache is not in available state",
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let read = read_replication_groups(&provider.clients.elasticache, "dev")
            .await
            .unwrap();
        assert!(read.is_empty());
        aws.assert_done();
    }

    fn spec() -> ReplicationGroupSpec {
        ReplicationGroupSpec {
            id: "dev-cache".into(),
            description: "mck dev: Redis cache".into(),
            engine_version: "7.1".into(),
            node_type: "cache.t4g.small".into(),
            num_cache_clusters: 1,
            automatic_failover: false,
            multi_az: false,
            at_rest_encryption: true,
            transit_encryption: true,
            subnet_group: Ref::new("cache.subnets"),
            security_groups: vec![Ref::new("sg.redis")],
            port: 6379,
        }
    }

    #[tokio::test]
    async fn a_group_still_creating_after_a_killed_run_is_adopted_and_its_owner_checked_when_ready()
    {
        let aws = Replay::new([
            (
                "CreateReplicationGroup",
                400,
                query_error_xml(
                    "ReplicationGroupAlreadyExists",
                    "Replication group dev-cache already exists",
                ),
            ),
            (
                "DescribeReplicationGroups",
                200,
                groups_xml(&[group_xml("dev-cache", "creating")]),
            ),
            (
                "DescribeReplicationGroups",
                200,
                groups_xml(&[group_xml("dev-cache", "available")]),
            ),
            ("ListTagsForResource", 200, tags_xml("dev", "redis.cache")),
            (
                "DescribeReplicationGroups",
                200,
                groups_xml(&[group_xml("dev-cache", "available")]),
            ),
            ("ListTagsForResource", 200, tags_xml("dev-2", "redis.cache")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([
            (
                LogicalId::from("cache.subnets"),
                Observed::new(
                    "cache.subnets".into(),
                    ResourceKind::CacheSubnetGroup,
                    "dev-cache",
                ),
            ),
            (
                LogicalId::from("sg.redis"),
                Observed::new("sg.redis".into(), ResourceKind::SecurityGroup, "sg-redis"),
            ),
        ]);
        let mut ctx = context(&resolved);
        ctx.stack = "dev";
        let id = LogicalId::from("redis.cache");
        let live = ReplicationGroupSpec::create(&provider, &ctx, &id, &spec())
            .await
            .unwrap();
        assert_eq!(live.cloud_id, "dev-cache");
        let ready = ReplicationGroupSpec::poll(&provider, &ctx, &live)
            .await
            .unwrap();
        assert!(matches!(ready, Readiness::Ready(_)), "{ready:?}");
        // Had the group been another stack's, readiness says so instead of adopting it.
        let foreign = ReplicationGroupSpec::poll(&provider, &ctx, &live)
            .await
            .unwrap();
        assert!(matches!(foreign, Readiness::Failed(_)), "{foreign:?}");
        aws.assert_done();
    }

    fn live_group() -> Observed {
        Observed::new(
            "redis.cache".into(),
            ResourceKind::ReplicationGroup,
            "dev-cache",
        )
        .with(ReplicationGroupSpec::NUM_CACHE_CLUSTERS, 1)
    }

    #[tokio::test]
    async fn an_update_sends_only_what_changed_and_waits_before_the_replica_change() {
        let aws = Replay::new([
            (
                "ModifyReplicationGroup",
                200,
                query_xml(
                    "ModifyReplicationGroup",
                    &group_xml("dev-cache", "modifying"),
                ),
            ),
            (
                "DescribeReplicationGroups",
                200,
                groups_xml(&[group_xml("dev-cache", "modifying")]),
            ),
            (
                "DescribeReplicationGroups",
                200,
                groups_xml(&[group_xml("dev-cache", "available")]),
            ),
            (
                "IncreaseReplicaCount",
                200,
                query_xml("IncreaseReplicaCount", &group_xml("dev-cache", "modifying")),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let mut desired = spec();
        desired.node_type = "cache.r7g.large".into();
        desired.num_cache_clusters = 2;
        let fields = [
            ReplicationGroupSpec::NODE_TYPE.name,
            ReplicationGroupSpec::NUM_CACHE_CLUSTERS.name,
        ];
        ReplicationGroupSpec::update(
            &provider,
            &context(&resolved),
            &desired,
            &live_group(),
            &fields,
        )
        .await
        .unwrap();
        aws.assert_done();
        let (_, modify) = &aws.requests()[0];
        assert!(modify.contains("CacheNodeType=cache.r7g.large"), "{modify}");
        for unchanged in [
            "ReplicationGroupDescription",
            "AutomaticFailoverEnabled",
            "MultiAZEnabled",
        ] {
            assert!(!modify.contains(unchanged), "{unchanged} re-sent: {modify}");
        }
        let (_, increase) = &aws.requests()[3];
        assert!(increase.contains("NewReplicaCount=1"), "{increase}");
    }

    #[tokio::test]
    async fn a_modification_aws_finds_already_applied_is_done() {
        let aws = Replay::new([(
            "ModifyReplicationGroup",
            400,
            query_error_xml(
                "InvalidParameterCombination",
                "No modifications were requested.",
            ),
        )]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let fields = [ReplicationGroupSpec::DESCRIPTION.name];
        ReplicationGroupSpec::update(
            &provider,
            &context(&resolved),
            &spec(),
            &live_group(),
            &fields,
        )
        .await
        .unwrap();
        aws.assert_done();
    }
}
