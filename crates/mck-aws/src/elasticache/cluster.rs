use super::*;

pub(super) fn observe_cluster(id: LogicalId, cluster: &CacheCluster) -> Observed {
    let cluster_id = cluster.cache_cluster_id().unwrap_or_default();
    let mut o = Observed::new(id, ResourceKind::CacheCluster, cluster_id)
        .with(CacheClusterSpec::CLUSTER_ID, cluster_id)
        .with(
            CacheClusterSpec::ENGINE,
            cluster.engine().unwrap_or_default(),
        )
        .with(
            CacheClusterSpec::ENGINE_VERSION,
            cluster.engine_version().unwrap_or_default(),
        )
        .with(
            CacheClusterSpec::NODE_TYPE,
            cluster.cache_node_type().unwrap_or_default(),
        )
        .with(
            CacheClusterSpec::NUM_CACHE_NODES,
            i64::from(cluster.num_cache_nodes().unwrap_or(0)),
        )
        .with(
            CacheClusterSpec::SUBNET_GROUP_NAME,
            Value::CloudRef(
                ResourceKind::CacheSubnetGroup,
                cluster
                    .cache_subnet_group_name()
                    .unwrap_or_default()
                    .to_string(),
            ),
        )
        .with(
            CacheClusterSpec::SECURITY_GROUP_IDS,
            ids(cluster
                .security_groups()
                .iter()
                .filter_map(|g| g.security_group_id().map(str::to_string))),
        );
    if let Some(endpoint) = cluster.configuration_endpoint() {
        if let Some(address) = endpoint.address() {
            o = o.output(CacheClusterSpec::OUT_ENDPOINT, address);
        }
        if let Some(port) = endpoint.port() {
            o = o
                .with(CacheClusterSpec::PORT, i64::from(port))
                .output(CacheClusterSpec::OUT_PORT, port.to_string());
        }
    }
    o
}

pub(super) async fn read_clusters(
    ec: &Client,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = ec.describe_cache_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list cache clusters", e))?;
        for cluster in page.cache_clusters() {
            // Members of replication groups are read through their group.
            let name = cluster.cache_cluster_id().unwrap_or_default();
            if cluster.replication_group_id().is_some()
                || cluster.engine() != Some("memcached")
                || !name.starts_with(&format!("{stack}-"))
                || cluster.cache_cluster_status() == Some("deleting")
            {
                continue;
            }
            let tags = tags_if_readable(
                ec,
                cluster.cache_cluster_status(),
                cluster.arn().unwrap_or_default(),
            )
            .await?;
            if let Some(id) = tags.and_then(|tags| owned(&tags, stack)) {
                out.push(observe_cluster(id, cluster));
            }
        }
    }
    Ok(out)
}

impl Driver for CacheClusterSpec {
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
            .create_cache_cluster()
            .cache_cluster_id(&spec.id)
            .engine("memcached")
            .set_engine_version(spec.engine_version.clone())
            .cache_node_type(&spec.node_type)
            .num_cache_nodes(crate::int32(spec.num_nodes, "num_nodes")?)
            .cache_subnet_group_name(ctx.cloud_id(spec.subnet_group.id())?)
            .set_security_group_ids(Some(groups))
            .port(crate::int32(spec.port, "port")?)
            .set_tags(Some(tags(ctx, id)))
            .send()
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.code() == Some("CacheClusterAlreadyExists") => {
                let found = ec
                    .describe_cache_clusters()
                    .cache_cluster_id(&spec.id)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("find cache cluster {}", spec.id), e))?;
                let Some(cluster) = found.cache_clusters().first() else {
                    return crate::adopt("cache cluster", id, None);
                };
                let status = cluster.cache_cluster_status();
                let tags = tags_if_readable(ec, status, cluster.arn().unwrap_or_default()).await?;
                let observed = observe_cluster(id.clone(), cluster);
                return match tags {
                    Some(tags) => crate::adopt(
                        "cache cluster",
                        id,
                        Some((owned(&tags, ctx.stack), observed)),
                    ),
                    // Still creating after a killed run: adopt it and wait (readiness is
                    // checked as for any create).
                    None if matches!(status, Some("creating" | "modifying")) => Ok(observed),
                    None => crate::adopt("cache cluster", id, Some((None, observed))),
                };
            }
            Err(e) => return Err(sdk(&format!("create cache cluster {id} ({})", spec.id), e)),
        };
        let cluster = out
            .cache_cluster()
            .ok_or_else(|| ProviderError::invalid("create cache cluster returned nothing"))?;
        Ok(observe_cluster(id.clone(), cluster))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec = &aws.clients.elasticache;
        // Only the changed settings are sent.
        let mut modify = ec
            .modify_cache_cluster()
            .cache_cluster_id(&live.cloud_id)
            .apply_immediately(true);
        if CacheClusterSpec::NODE_TYPE.is_in(fields) {
            modify = modify.cache_node_type(&spec.node_type);
        }
        if CacheClusterSpec::ENGINE_VERSION.is_in(fields) {
            modify = modify.set_engine_version(spec.engine_version.clone());
        }
        if CacheClusterSpec::SECURITY_GROUP_IDS.is_in(fields) {
            modify = modify.set_security_group_ids(Some(ctx.cloud_ids(&spec.security_groups)?));
        }
        if CacheClusterSpec::NUM_CACHE_NODES.is_in(fields) {
            let want = crate::int32(spec.num_nodes, "num_nodes")?;
            modify = modify.num_cache_nodes(want);
            // Fewer nodes: AWS wants the ids of the nodes to remove (`0001`…), the newest here.
            let have = match live.fields.get(CacheClusterSpec::NUM_CACHE_NODES.name) {
                Some(Value::Int(n)) => crate::int32(*n, "num_nodes")?,
                _ => 0,
            };
            if want < have {
                modify = modify.set_cache_node_ids_to_remove(Some(
                    (want + 1..=have).map(|n| format!("{n:04}")).collect(),
                ));
            }
        }
        modify
            .send()
            .await
            .map_err(|e| sdk(&format!("modify cache cluster {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec = &aws.clients.elasticache;
        ec.delete_cache_cluster()
            .cache_cluster_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete cache cluster {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec = &aws.clients.elasticache;
        match ec
            .describe_cache_clusters()
            .cache_cluster_id(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => Ok(match out.cache_clusters().first() {
                None => Readiness::Gone,
                Some(c) => match c.cache_cluster_status().unwrap_or_default() {
                    "available" => Readiness::Ready(observe_cluster(live.id.clone(), c)),
                    "create-failed" | "incompatible-network" => Readiness::Failed(format!(
                        "cache cluster is {}",
                        c.cache_cluster_status().unwrap_or_default()
                    )),
                    status => Readiness::Pending(status.to_string()),
                },
            }),
            Err(e) if e.code() == Some("CacheClusterNotFound") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(&format!("describe cache cluster {}", live.cloud_id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_elasticache::types::{Endpoint, SecurityGroupMembership};
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_every_field() {
        let cluster = CacheCluster::builder()
            .cache_cluster_id("t-cache")
            .engine("memcached")
            .engine_version("1.6.22")
            .cache_node_type("cache.t4g.small")
            .num_cache_nodes(2)
            .cache_subnet_group_name("t-cache")
            .security_groups(
                SecurityGroupMembership::builder()
                    .security_group_id("sg-redis")
                    .build(),
            )
            .configuration_endpoint(
                Endpoint::builder()
                    .address("cfg.t-cache")
                    .port(11211)
                    .build(),
            )
            .build();
        let spec = CacheClusterSpec {
            id: "t-cache".into(),
            engine_version: Some("1.6.22".into()),
            node_type: "cache.t4g.small".into(),
            num_nodes: 2,
            subnet_group: Ref::new("cache.subnets"),
            security_groups: vec![Ref::new("sg.redis")],
            port: 11211,
        };
        let ids = [("cache.subnets", "t-cache"), ("sg.redis", "sg-redis")];
        let observed = observe_cluster("memcached.cache".into(), &cluster);
        assert_reads(&observed, spec, &ids);
        assert_eq!(observed.outputs["endpoint"], "cfg.t-cache");
    }

    #[tokio::test]
    async fn fewer_nodes_name_the_nodes_to_remove_and_nothing_else_is_sent() {
        use std::collections::HashMap;

        use crate::testing::{Replay, context, query_xml};

        let aws = Replay::new([(
            "ModifyCacheCluster",
            200,
            query_xml(
                "ModifyCacheCluster",
                "<CacheCluster><CacheClusterId>t-cache</CacheClusterId><CacheClusterStatus>modifying</CacheClusterStatus></CacheCluster>",
            ),
        )]);
        let provider = AwsProvider::offline(aws.clone());
        let live = Observed::new(
            "memcached.cache".into(),
            ResourceKind::CacheCluster,
            "t-cache",
        )
        .with(CacheClusterSpec::NUM_CACHE_NODES, 3);
        let spec = CacheClusterSpec {
            id: "t-cache".into(),
            engine_version: None,
            node_type: "cache.t4g.small".into(),
            num_nodes: 1,
            subnet_group: Ref::new("cache.subnets"),
            security_groups: vec![Ref::new("sg.redis")],
            port: 11211,
        };
        let resolved = HashMap::new();
        let fields = [CacheClusterSpec::NUM_CACHE_NODES.name];
        CacheClusterSpec::update(&provider, &context(&resolved), &spec, &live, &fields)
            .await
            .unwrap();
        aws.assert_done();
        let (_, body) = &aws.requests()[0];
        assert!(body.contains("NumCacheNodes=1"), "{body}");
        assert!(
            body.contains("CacheNodeIdsToRemove.CacheNodeId.1=0002")
                && body.contains("CacheNodeIdsToRemove.CacheNodeId.2=0003"),
            "{body}"
        );
        assert!(
            !body.contains("CacheNodeType") && !body.contains("SecurityGroupIds"),
            "{body}"
        );
    }
}
