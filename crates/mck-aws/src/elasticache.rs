//! ElastiCache: cache subnet group, Redis replication groups, memcached clusters.
//!
//! Named `<stack>-<name>`; ownership is confirmed from tags. A replication group's subnet group
//! and security groups live on its member clusters, which this read does not fetch: they are set
//! at creation and not compared (see docs/resources.md).

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, CacheSubnetGroup, MultiAzStatus, ReplicationGroup, Tag,
};
use mck_core::model::{
    CacheClusterSpec, CacheSubnetGroupSpec, LogicalId, ReplicationGroupSpec, ResourceKind, Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::error::sdk;

fn tags(ctx: &Context<'_>, id: &LogicalId) -> Vec<Tag> {
    ctx.tags_for(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn owned(tags: &[Tag], stack: &str) -> Option<LogicalId> {
    crate::owner(
        tags.iter().filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

async fn tags_of(ec: &Client, arn: &str) -> Result<Vec<Tag>, ProviderError> {
    let out = ec
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read tags of {arn}"), e))?;
    Ok(out.tag_list().to_vec())
}

fn ids(values: impl IntoIterator<Item = String>) -> Value {
    let mut v: Vec<Value> = values.into_iter().map(Value::CloudId).collect();
    v.sort();
    Value::List(v)
}

pub(crate) async fn read(ec: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let (groups, replication, clusters) = tokio::try_join!(
        read_subnet_groups(ec, stack),
        read_replication_groups(ec, stack),
        read_clusters(ec, stack)
    )?;
    Ok(groups
        .into_iter()
        .chain(replication)
        .chain(clusters)
        .collect())
}

// --- subnet group ---------------------------------------------------------------------------

fn observe_subnet_group(id: LogicalId, group: &CacheSubnetGroup) -> Observed {
    let name = group.cache_subnet_group_name().unwrap_or_default();
    Observed::new(id, ResourceKind::CacheSubnetGroup, name)
        .with("name", name)
        .with(
            "description",
            group.cache_subnet_group_description().unwrap_or_default(),
        )
        .with(
            "subnet_ids",
            ids(group
                .subnets()
                .iter()
                .filter_map(|s| s.subnet_identifier().map(str::to_string))),
        )
}

async fn read_subnet_groups(ec: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
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

pub(crate) async fn create_subnet_group(
    ec: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &CacheSubnetGroupSpec,
) -> Result<Observed, ProviderError> {
    let out = ec
        .create_cache_subnet_group()
        .cache_subnet_group_name(&spec.name)
        .cache_subnet_group_description(&spec.description)
        .set_subnet_ids(Some(ctx.cloud_ids(&spec.subnets)?))
        .set_tags(Some(tags(ctx, id)))
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!("create cache subnet group {id} ({})", spec.name),
                e,
            )
        })?;
    let group = out
        .cache_subnet_group()
        .ok_or_else(|| ProviderError::invalid("create cache subnet group returned nothing"))?;
    Ok(observe_subnet_group(id.clone(), group))
}

pub(crate) async fn update_subnet_group(
    ec: &Client,
    ctx: &Context<'_>,
    spec: &CacheSubnetGroupSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    ec.modify_cache_subnet_group()
        .cache_subnet_group_name(&live.cloud_id)
        .cache_subnet_group_description(&spec.description)
        .set_subnet_ids(Some(ctx.cloud_ids(&spec.subnets)?))
        .send()
        .await
        .map_err(|e| sdk(&format!("modify cache subnet group {}", live.id), e))?;
    Ok(live.clone())
}

pub(crate) async fn delete_subnet_group(ec: &Client, live: &Observed) -> Result<(), ProviderError> {
    ec.delete_cache_subnet_group()
        .cache_subnet_group_name(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete cache subnet group {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_subnet_group(
    ec: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
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

// --- replication groups ---------------------------------------------------------------------

fn observe_replication_group(id: LogicalId, group: &ReplicationGroup) -> Observed {
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
        .with("replication_group_id", group_id)
        .with("description", group.description().unwrap_or_default())
        .with("engine", "redis")
        .with("node_type", group.cache_node_type().unwrap_or_default())
        .with(
            "num_cache_clusters",
            i64::try_from(group.member_clusters().len()).unwrap_or(0),
        )
        .with(
            "automatic_failover",
            matches!(
                group.automatic_failover(),
                Some(AutomaticFailoverStatus::Enabled | AutomaticFailoverStatus::Enabling)
            ),
        )
        .with(
            "multi_az",
            matches!(group.multi_az(), Some(MultiAzStatus::Enabled)),
        )
        .with(
            "at_rest_encryption_enabled",
            group.at_rest_encryption_enabled().unwrap_or(false),
        )
        .with(
            "transit_encryption_enabled",
            group.transit_encryption_enabled().unwrap_or(false),
        );
    if let Some(address) = primary.and_then(|e| e.address()) {
        o = o.output("primary_endpoint", address);
    }
    if let Some(port) = primary.and_then(|e| e.port()) {
        o = o
            .with("port", i64::from(port))
            .output("port", port.to_string());
    }
    if let Some(address) = reader.and_then(|e| e.address()) {
        o = o.output("reader_endpoint", address);
    }
    o
}

async fn read_replication_groups(ec: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
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

async fn describe_replication_group(
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

pub(crate) async fn create_replication_group(
    ec: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &ReplicationGroupSpec,
) -> Result<Observed, ProviderError> {
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
                Some(group) if owner.as_ref() == Some(id) && group.status() != Some("deleting") => {
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

pub(crate) async fn update_replication_group(
    ec: &Client,
    spec: &ReplicationGroupSpec,
    live: &Observed,
    fields: &[&str],
) -> Result<Observed, ProviderError> {
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
    if fields.contains(&"num_cache_clusters") {
        let want = i32::try_from(spec.num_cache_clusters - 1).unwrap_or(0);
        let have = match live.fields.get("num_cache_clusters") {
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

pub(crate) async fn delete_replication_group(
    ec: &Client,
    live: &Observed,
) -> Result<(), ProviderError> {
    ec.delete_replication_group()
        .replication_group_id(&live.cloud_id)
        .retain_primary_cluster(false)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete replication group {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_replication_group(
    ec: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
    Ok(
        match describe_replication_group(ec, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(group) => match group.status().unwrap_or_default() {
                "available" => Readiness::Ready(observe_replication_group(live.id.clone(), &group)),
                "create-failed" => Readiness::Failed("replication group creation failed".into()),
                status => Readiness::Pending(status.to_string()),
            },
        },
    )
}

// --- memcached clusters ---------------------------------------------------------------------

fn observe_cluster(id: LogicalId, cluster: &CacheCluster) -> Observed {
    let cluster_id = cluster.cache_cluster_id().unwrap_or_default();
    let mut o = Observed::new(id, ResourceKind::CacheCluster, cluster_id)
        .with("cluster_id", cluster_id)
        .with("engine", cluster.engine().unwrap_or_default())
        .with(
            "engine_version",
            cluster.engine_version().unwrap_or_default(),
        )
        .with("node_type", cluster.cache_node_type().unwrap_or_default())
        .with(
            "num_cache_nodes",
            i64::from(cluster.num_cache_nodes().unwrap_or(0)),
        )
        .with(
            "subnet_group_name",
            Value::CloudRef(
                ResourceKind::CacheSubnetGroup,
                cluster
                    .cache_subnet_group_name()
                    .unwrap_or_default()
                    .to_string(),
            ),
        )
        .with(
            "security_group_ids",
            ids(cluster
                .security_groups()
                .iter()
                .filter_map(|g| g.security_group_id().map(str::to_string))),
        );
    if let Some(endpoint) = cluster.configuration_endpoint() {
        if let Some(address) = endpoint.address() {
            o = o.output("endpoint", address);
        }
        if let Some(port) = endpoint.port() {
            o = o
                .with("port", i64::from(port))
                .output("port", port.to_string());
        }
    }
    o
}

async fn read_clusters(ec: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
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
            let tags = tags_of(ec, cluster.arn().unwrap_or_default()).await?;
            if let Some(id) = owned(&tags, stack) {
                out.push(observe_cluster(id, cluster));
            }
        }
    }
    Ok(out)
}

pub(crate) async fn create_cluster(
    ec: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &CacheClusterSpec,
) -> Result<Observed, ProviderError> {
    let groups = ctx.cloud_ids(&spec.security_groups)?;
    let out = ec
        .create_cache_cluster()
        .cache_cluster_id(&spec.id)
        .engine("memcached")
        .set_engine_version(spec.engine_version.clone())
        .cache_node_type(&spec.node_type)
        .num_cache_nodes(i32::try_from(spec.num_nodes).unwrap_or(1))
        .cache_subnet_group_name(ctx.cloud_id(spec.subnet_group.id())?)
        .set_security_group_ids(Some(groups))
        .port(i32::try_from(spec.port).unwrap_or(11211))
        .set_tags(Some(tags(ctx, id)))
        .send()
        .await
        .map_err(|e| sdk(&format!("create cache cluster {id} ({})", spec.id), e))?;
    let cluster = out
        .cache_cluster()
        .ok_or_else(|| ProviderError::invalid("create cache cluster returned nothing"))?;
    Ok(observe_cluster(id.clone(), cluster))
}

pub(crate) async fn update_cluster(
    ec: &Client,
    ctx: &Context<'_>,
    spec: &CacheClusterSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    let groups = ctx.cloud_ids(&spec.security_groups)?;
    ec.modify_cache_cluster()
        .cache_cluster_id(&live.cloud_id)
        .cache_node_type(&spec.node_type)
        .num_cache_nodes(i32::try_from(spec.num_nodes).unwrap_or(1))
        .set_engine_version(spec.engine_version.clone())
        .set_security_group_ids(Some(groups))
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| sdk(&format!("modify cache cluster {}", live.id), e))?;
    Ok(live.clone())
}

pub(crate) async fn delete_cluster(ec: &Client, live: &Observed) -> Result<(), ProviderError> {
    ec.delete_cache_cluster()
        .cache_cluster_id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete cache cluster {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_cluster(ec: &Client, live: &Observed) -> Result<Readiness, ProviderError> {
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
