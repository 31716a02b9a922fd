//! Aurora MySQL: DB subnet group, cluster parameter group, cluster, cluster instances.
//!
//! Named resources (`<stack>-db`…); ownership is confirmed from their tags. The master password
//! is managed by RDS in Secrets Manager (`ManageMasterUserPassword`): mck never sees it.

use aws_sdk_rds::Client;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{ApplyMethod, DbCluster, DbInstance, DbSubnetGroup, Parameter, Tag};
use mck_core::model::{
    DbClusterParameterGroupSpec, DbClusterSpec, DbInstanceSpec, DbSubnetGroupSpec, LogicalId,
    ResourceKind, Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::error::sdk;

/// Tag holding the cluster's delete-time choice: RDS has no attribute for it.
const TAG_FINAL_SNAPSHOT: &str = "mck:final-snapshot";

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

fn cloud_ids(ids: impl IntoIterator<Item = String>) -> Value {
    let mut values: Vec<Value> = ids.into_iter().map(Value::CloudId).collect();
    values.sort();
    Value::List(values)
}

/// Reads all RDS kinds of the stack: two list calls, plus tag and parameter reads for the
/// groups named after the stack (usually one each).
pub(crate) async fn read(rds: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let (groups, params, clusters, instances) = tokio::try_join!(
        read_subnet_groups(rds, stack),
        read_parameter_groups(rds, stack),
        read_clusters(rds, stack),
        read_instances(rds, stack)
    )?;
    Ok(groups
        .into_iter()
        .chain(params)
        .chain(clusters)
        .chain(instances)
        .collect())
}

async fn tags_of(rds: &Client, arn: &str) -> Result<Vec<Tag>, ProviderError> {
    let out = rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read tags of {arn}"), e))?;
    Ok(out.tag_list().to_vec())
}

// --- subnet group ---------------------------------------------------------------------------

fn observe_subnet_group(id: LogicalId, group: &DbSubnetGroup) -> Observed {
    let name = group.db_subnet_group_name().unwrap_or_default();
    Observed::new(id, ResourceKind::DbSubnetGroup, name)
        .with("name", name)
        .with(
            "description",
            group.db_subnet_group_description().unwrap_or_default(),
        )
        .with(
            "subnet_ids",
            cloud_ids(
                group
                    .subnets()
                    .iter()
                    .filter_map(|s| s.subnet_identifier().map(str::to_string)),
            ),
        )
}

async fn read_subnet_groups(rds: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
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

pub(crate) async fn create_subnet_group(
    rds: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &DbSubnetGroupSpec,
) -> Result<Observed, ProviderError> {
    let subnets = ctx.cloud_ids(&spec.subnets)?;
    let out = rds
        .create_db_subnet_group()
        .db_subnet_group_name(&spec.name)
        .db_subnet_group_description(&spec.description)
        .set_subnet_ids(Some(subnets))
        .set_tags(Some(tags(ctx, id)))
        .send()
        .await
        .map_err(|e| sdk(&format!("create DB subnet group {id} ({})", spec.name), e))?;
    let group = out
        .db_subnet_group()
        .ok_or_else(|| ProviderError::invalid("create DB subnet group returned nothing"))?;
    Ok(observe_subnet_group(id.clone(), group))
}

pub(crate) async fn update_subnet_group(
    rds: &Client,
    ctx: &Context<'_>,
    spec: &DbSubnetGroupSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
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

pub(crate) async fn delete_subnet_group(
    rds: &Client,
    live: &Observed,
) -> Result<(), ProviderError> {
    rds.delete_db_subnet_group()
        .db_subnet_group_name(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete DB subnet group {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_subnet_group(
    rds: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
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

// --- cluster parameter group ----------------------------------------------------------------

async fn user_parameters(rds: &Client, name: &str) -> Result<Value, ProviderError> {
    let mut values = Vec::new();
    let mut pages = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name(name)
        .source("user")
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("read parameters of {name}"), e))?;
        for p in page.parameters() {
            if let (Some(k), Some(v)) = (p.parameter_name(), p.parameter_value()) {
                values.push(Value::Str(format!("{k}={v}")));
            }
        }
    }
    values.sort();
    Ok(Value::List(values))
}

async fn read_parameter_groups(rds: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = rds
        .describe_db_cluster_parameter_groups()
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list DB cluster parameter groups", e))?;
        for group in page.db_cluster_parameter_groups() {
            let name = group.db_cluster_parameter_group_name().unwrap_or_default();
            if !name.starts_with(&format!("{stack}-")) {
                continue;
            }
            let tags = tags_of(
                rds,
                group.db_cluster_parameter_group_arn().unwrap_or_default(),
            )
            .await?;
            if let Some(id) = owned(&tags, stack) {
                out.push(
                    Observed::new(id, ResourceKind::DbClusterParameterGroup, name)
                        .with("name", name)
                        .with(
                            "family",
                            group.db_parameter_group_family().unwrap_or_default(),
                        )
                        .with("description", group.description().unwrap_or_default())
                        .with("parameters", user_parameters(rds, name).await?),
                );
            }
        }
    }
    Ok(out)
}

async fn set_parameters(
    rds: &Client,
    name: &str,
    spec: &DbClusterParameterGroupSpec,
) -> Result<(), ProviderError> {
    let params: Vec<Parameter> = spec
        .parameters
        .iter()
        .map(|(k, v)| {
            Parameter::builder()
                .parameter_name(k)
                .parameter_value(v)
                .apply_method(ApplyMethod::PendingReboot)
                .build()
        })
        .collect();
    // At most 20 parameters per call.
    for chunk in params.chunks(20) {
        rds.modify_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(name)
            .set_parameters(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk(&format!("set parameters of {name}"), e))?;
    }
    Ok(())
}

pub(crate) async fn create_parameter_group(
    rds: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &DbClusterParameterGroupSpec,
) -> Result<Observed, ProviderError> {
    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(&spec.name)
        .db_parameter_group_family(&spec.family)
        .description(&spec.description)
        .set_tags(Some(tags(ctx, id)))
        .send()
        .await
        .map_err(|e| {
            sdk(
                &format!("create DB cluster parameter group {id} ({})", spec.name),
                e,
            )
        })?;
    set_parameters(rds, &spec.name, spec).await?;
    Ok(Observed::new(
        id.clone(),
        ResourceKind::DbClusterParameterGroup,
        &spec.name,
    ))
}

pub(crate) async fn update_parameter_group(
    rds: &Client,
    spec: &DbClusterParameterGroupSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    // Parameters no longer listed go back to their defaults.
    let current = match live.fields.get("parameters") {
        Some(Value::List(items)) => items.clone(),
        _ => Vec::new(),
    };
    let removed: Vec<Parameter> = current
        .iter()
        .filter_map(|v| match v {
            Value::Str(kv) => kv.split_once('=').map(|(k, _)| k.to_string()),
            _ => None,
        })
        .filter(|k| !spec.parameters.contains_key(k))
        .map(|k| {
            Parameter::builder()
                .parameter_name(k)
                .apply_method(ApplyMethod::PendingReboot)
                .build()
        })
        .collect();
    if !removed.is_empty() {
        rds.reset_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&live.cloud_id)
            .set_parameters(Some(removed))
            .send()
            .await
            .map_err(|e| sdk(&format!("reset parameters of {}", live.id), e))?;
    }
    set_parameters(rds, &live.cloud_id, spec).await?;
    Ok(live.clone())
}

pub(crate) async fn delete_parameter_group(
    rds: &Client,
    live: &Observed,
) -> Result<(), ProviderError> {
    rds.delete_db_cluster_parameter_group()
        .db_cluster_parameter_group_name(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete DB cluster parameter group {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_parameter_group(
    rds: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
    match rds
        .describe_db_cluster_parameter_groups()
        .db_cluster_parameter_group_name(&live.cloud_id)
        .send()
        .await
    {
        Ok(out) if out.db_cluster_parameter_groups().is_empty() => Ok(Readiness::Gone),
        Ok(_) => Ok(Readiness::Ready(live.clone())),
        Err(e) if e.code() == Some("DBParameterGroupNotFound") => Ok(Readiness::Gone),
        Err(e) => Err(sdk(
            &format!("describe DB cluster parameter group {}", live.cloud_id),
            e,
        )),
    }
}

// --- cluster --------------------------------------------------------------------------------

fn observe_cluster(id: LogicalId, cluster: &DbCluster) -> Observed {
    let identifier = cluster.db_cluster_identifier().unwrap_or_default();
    let final_snapshot = cluster
        .tag_list()
        .iter()
        .any(|t| t.key() == Some(TAG_FINAL_SNAPSHOT) && t.value() == Some("true"));
    // The default group (`default.aurora-mysql8.0`) is AWS's, not a resource of the stack.
    let params = cluster
        .db_cluster_parameter_group()
        .filter(|g| !g.starts_with("default."))
        .map_or(Value::Null, |g| {
            Value::CloudRef(ResourceKind::DbClusterParameterGroup, g.to_string())
        });
    let mut o = Observed::new(id, ResourceKind::DbCluster, identifier)
        .with("cluster_identifier", identifier)
        .with("engine", cluster.engine().unwrap_or_default())
        .with(
            "engine_version",
            cluster.engine_version().unwrap_or_default(),
        )
        .with("database_name", cluster.database_name().unwrap_or_default())
        .with(
            "master_username",
            cluster.master_username().unwrap_or_default(),
        )
        .with(
            "manage_master_user_password",
            cluster.master_user_secret().is_some(),
        )
        .with(
            "db_subnet_group_name",
            Value::CloudRef(
                ResourceKind::DbSubnetGroup,
                cluster.db_subnet_group().unwrap_or_default().to_string(),
            ),
        )
        .with(
            "vpc_security_group_ids",
            cloud_ids(
                cluster
                    .vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id().map(str::to_string)),
            ),
        )
        .with(
            "storage_encrypted",
            cluster.storage_encrypted().unwrap_or(false),
        )
        .with(
            "backup_retention_period",
            i64::from(cluster.backup_retention_period().unwrap_or(0)),
        )
        .with(
            "deletion_protection",
            cluster.deletion_protection().unwrap_or(false),
        )
        .with("final_snapshot", final_snapshot)
        .with("db_cluster_parameter_group_name", params);
    if let Some(endpoint) = cluster.endpoint() {
        o = o.output("endpoint", endpoint);
    }
    if let Some(reader) = cluster.reader_endpoint() {
        o = o.output("reader_endpoint", reader);
    }
    if let Some(secret) = cluster.master_user_secret().and_then(|s| s.secret_arn()) {
        o = o.output("secret_arn", secret);
    }
    if let Some(port) = cluster.port() {
        o = o.output("port", port.to_string());
    }
    o
}

async fn read_clusters(rds: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list DB clusters", e))?;
        out.extend(
            page.db_clusters()
                .iter()
                .filter(|c| c.status() != Some("deleting"))
                .filter_map(|c| Some(observe_cluster(owned(c.tag_list(), stack)?, c))),
        );
    }
    Ok(out)
}

async fn describe_cluster(
    rds: &Client,
    identifier: &str,
) -> Result<Option<DbCluster>, ProviderError> {
    match rds
        .describe_db_clusters()
        .db_cluster_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_clusters().first().cloned()),
        Err(e) if e.code() == Some("DBClusterNotFoundFault") => Ok(None),
        Err(e) => Err(sdk(&format!("describe DB cluster {identifier}"), e)),
    }
}

pub(crate) async fn create_cluster(
    rds: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &DbClusterSpec,
) -> Result<Observed, ProviderError> {
    let groups = ctx.cloud_ids(&spec.security_groups)?;
    let mut tags = tags(ctx, id);
    tags.push(
        Tag::builder()
            .key(TAG_FINAL_SNAPSHOT)
            .value(spec.final_snapshot.to_string())
            .build(),
    );
    let mut call = rds
        .create_db_cluster()
        .db_cluster_identifier(&spec.identifier)
        .engine(&spec.engine)
        .set_engine_version(spec.engine_version.clone())
        .database_name(&spec.database_name)
        .master_username(&spec.master_username)
        .manage_master_user_password(true)
        .db_subnet_group_name(ctx.cloud_id(spec.subnet_group.id())?)
        .set_vpc_security_group_ids(Some(groups))
        .storage_encrypted(true)
        .backup_retention_period(i32::try_from(spec.backup_retention_days).unwrap_or(1))
        .deletion_protection(spec.deletion_protection)
        .copy_tags_to_snapshot(true)
        .set_tags(Some(tags));
    if let Some(group) = &spec.parameter_group {
        call = call.db_cluster_parameter_group_name(ctx.cloud_id(group.id())?);
    }
    match call.send().await {
        Ok(out) => {
            let cluster = out
                .db_cluster()
                .ok_or_else(|| ProviderError::invalid("create DB cluster returned nothing"))?;
            Ok(observe_cluster(id.clone(), cluster))
        }
        // A create retried after a crash: adopt the cluster if it is ours.
        Err(e) if e.code() == Some("DBClusterAlreadyExistsFault") => {
            match describe_cluster(rds, &spec.identifier).await? {
                Some(c) if owned(c.tag_list(), ctx.stack).as_ref() == Some(id) => {
                    Ok(observe_cluster(id.clone(), &c))
                }
                _ => Err(ProviderError::invalid(format!(
                    "a DB cluster named {} exists but is not {id} of stack {}; rename the stack or remove that cluster",
                    spec.identifier, ctx.stack
                ))),
            }
        }
        Err(e) => Err(sdk(
            &format!("create DB cluster {id} ({})", spec.identifier),
            e,
        )),
    }
}

pub(crate) async fn update_cluster(
    rds: &Client,
    ctx: &Context<'_>,
    spec: &DbClusterSpec,
    live: &Observed,
    fields: &[&str],
) -> Result<Observed, ProviderError> {
    let mut call = rds
        .modify_db_cluster()
        .db_cluster_identifier(&live.cloud_id)
        .apply_immediately(true);
    let mut modify = false;
    for field in fields {
        match *field {
            "backup_retention_period" => {
                call = call.backup_retention_period(
                    i32::try_from(spec.backup_retention_days).unwrap_or(1),
                );
            }
            "deletion_protection" => call = call.deletion_protection(spec.deletion_protection),
            "manage_master_user_password" => call = call.manage_master_user_password(true),
            "engine_version" => {
                call = call
                    .set_engine_version(spec.engine_version.clone())
                    .allow_major_version_upgrade(false)
            }
            "vpc_security_group_ids" => {
                let groups = ctx.cloud_ids(&spec.security_groups)?;
                call = call.set_vpc_security_group_ids(Some(groups));
            }
            "db_cluster_parameter_group_name" => {
                let name = match &spec.parameter_group {
                    Some(group) => ctx.cloud_id(group.id())?.to_string(),
                    None => format!("default.{}", "aurora-mysql8.0"),
                };
                call = call.db_cluster_parameter_group_name(name);
            }
            _ => continue,
        }
        modify = true;
    }
    if modify {
        call.send()
            .await
            .map_err(|e| sdk(&format!("modify DB cluster {}", live.id), e))?;
    }
    if fields.contains(&"final_snapshot") {
        let cluster = describe_cluster(rds, &live.cloud_id)
            .await?
            .ok_or_else(|| crate::missing("DB cluster", &live.cloud_id))?;
        rds.add_tags_to_resource()
            .resource_name(cluster.db_cluster_arn().unwrap_or_default())
            .tags(
                Tag::builder()
                    .key(TAG_FINAL_SNAPSHOT)
                    .value(spec.final_snapshot.to_string())
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk(&format!("tag DB cluster {}", live.id), e))?;
    }
    Ok(live.clone())
}

pub(crate) async fn delete_cluster(rds: &Client, live: &Observed) -> Result<(), ProviderError> {
    let final_snapshot = live.fields.get("final_snapshot") == Some(&Value::Bool(true));
    let mut call = rds
        .delete_db_cluster()
        .db_cluster_identifier(&live.cloud_id)
        .skip_final_snapshot(!final_snapshot);
    if final_snapshot {
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        call = call.final_db_snapshot_identifier(format!("{}-final-{stamp}", live.cloud_id));
    }
    call.send()
        .await
        .map_err(|e| sdk(&format!("delete DB cluster {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_cluster(
    rds: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
    Ok(match describe_cluster(rds, &live.cloud_id).await? {
        None => Readiness::Gone,
        Some(c) => match c.status().unwrap_or_default() {
            "available" => Readiness::Ready(observe_cluster(live.id.clone(), &c)),
            "failed" | "inaccessible-encryption-credentials" | "incompatible-parameters" => {
                Readiness::Failed(format!("DB cluster is {}", c.status().unwrap_or_default()))
            }
            status => Readiness::Pending(status.to_string()),
        },
    })
}

// --- instances ------------------------------------------------------------------------------

fn observe_instance(id: LogicalId, instance: &DbInstance) -> Observed {
    let identifier = instance.db_instance_identifier().unwrap_or_default();
    let mut o = Observed::new(id, ResourceKind::DbInstance, identifier)
        .with("identifier", identifier)
        .with(
            "cluster_identifier",
            Value::CloudRef(
                ResourceKind::DbCluster,
                instance
                    .db_cluster_identifier()
                    .unwrap_or_default()
                    .to_string(),
            ),
        )
        .with(
            "instance_class",
            instance.db_instance_class().unwrap_or_default(),
        )
        .with("engine", instance.engine().unwrap_or_default())
        .with(
            "availability_zone",
            instance.availability_zone().unwrap_or_default(),
        )
        .with(
            "promotion_tier",
            i64::from(instance.promotion_tier().unwrap_or(1)),
        );
    if let Some(address) = instance.endpoint().and_then(|e| e.address()) {
        o = o.output("endpoint", address);
    }
    o
}

async fn read_instances(rds: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_instances().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list DB instances", e))?;
        out.extend(
            page.db_instances()
                .iter()
                .filter(|i| i.db_instance_status() != Some("deleting"))
                .filter_map(|i| Some(observe_instance(owned(i.tag_list(), stack)?, i))),
        );
    }
    Ok(out)
}

async fn describe_instance(
    rds: &Client,
    identifier: &str,
) -> Result<Option<DbInstance>, ProviderError> {
    match rds
        .describe_db_instances()
        .db_instance_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e)
            if e.code() == Some("DBInstanceNotFound")
                || e.code() == Some("DBInstanceNotFoundFault") =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk(&format!("describe DB instance {identifier}"), e)),
    }
}

pub(crate) async fn create_instance(
    rds: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &DbInstanceSpec,
) -> Result<Observed, ProviderError> {
    let result = rds
        .create_db_instance()
        .db_instance_identifier(&spec.identifier)
        .db_cluster_identifier(ctx.cloud_id(spec.cluster.id())?)
        .engine(&spec.engine)
        .db_instance_class(&spec.instance_class)
        .availability_zone(&spec.availability_zone)
        .promotion_tier(i32::try_from(spec.promotion_tier).unwrap_or(1))
        .set_tags(Some(tags(ctx, id)))
        .send()
        .await;
    match result {
        Ok(out) => {
            let instance = out
                .db_instance()
                .ok_or_else(|| ProviderError::invalid("create DB instance returned nothing"))?;
            Ok(observe_instance(id.clone(), instance))
        }
        Err(e) if e.code() == Some("DBInstanceAlreadyExists") => {
            match describe_instance(rds, &spec.identifier).await? {
                Some(i) if owned(i.tag_list(), ctx.stack).as_ref() == Some(id) => {
                    Ok(observe_instance(id.clone(), &i))
                }
                _ => Err(ProviderError::invalid(format!(
                    "a DB instance named {} exists but is not {id} of stack {}",
                    spec.identifier, ctx.stack
                ))),
            }
        }
        Err(e) => Err(sdk(
            &format!("create DB instance {id} ({})", spec.identifier),
            e,
        )),
    }
}

pub(crate) async fn update_instance(
    rds: &Client,
    spec: &DbInstanceSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    rds.modify_db_instance()
        .db_instance_identifier(&live.cloud_id)
        .db_instance_class(&spec.instance_class)
        .promotion_tier(i32::try_from(spec.promotion_tier).unwrap_or(1))
        .apply_immediately(true)
        .send()
        .await
        .map_err(|e| sdk(&format!("modify DB instance {}", live.id), e))?;
    Ok(live.clone())
}

pub(crate) async fn delete_instance(rds: &Client, live: &Observed) -> Result<(), ProviderError> {
    // Cluster instances have no snapshots of their own: the cluster's final snapshot covers them.
    rds.delete_db_instance()
        .db_instance_identifier(&live.cloud_id)
        .skip_final_snapshot(true)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete DB instance {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_instance(
    rds: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
    Ok(match describe_instance(rds, &live.cloud_id).await? {
        None => Readiness::Gone,
        Some(i) => match i.db_instance_status().unwrap_or_default() {
            "available" => Readiness::Ready(observe_instance(live.id.clone(), &i)),
            "failed" | "incompatible-parameters" | "storage-full" => Readiness::Failed(format!(
                "DB instance is {}",
                i.db_instance_status().unwrap_or_default()
            )),
            status => Readiness::Pending(status.to_string()),
        },
    })
}
