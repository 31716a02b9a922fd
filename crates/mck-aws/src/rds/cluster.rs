use super::*;

/// Bookkeeping output of a created cluster: the master secret's rotation schedule (days) the
/// poll sets once the cluster is available.
const OUT_ROTATION_WANTED: &str = "_master_rotation_days";

/// The rotation schedule of the master user's managed secret `arn`, in days (`Null` when its
/// rotation is off).
pub(super) async fn master_rotation(
    sm: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<Value, ProviderError> {
    let out = sm
        .describe_secret()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("describe the master user's secret {arn}"), e))?;
    if out.rotation_enabled() != Some(true) {
        return Ok(Value::Null);
    }
    let rules = out.rotation_rules();
    if let Some(days) = rules.and_then(|r| r.automatically_after_days()) {
        return Ok(Value::Int(days));
    }
    // A schedule written as `rate(N days)` is the same thing.
    Ok(rules
        .and_then(|r| r.schedule_expression())
        .map_or(Value::Null, |expr| {
            expr.strip_prefix("rate(")
                .and_then(|e| e.strip_suffix(" days)"))
                .and_then(|n| n.parse::<i64>().ok())
                .map_or_else(|| Value::Str(expr.to_string()), Value::Int)
        }))
}

/// Sets the managed secret's rotation schedule, without rotating now (`RotateSecret` with
/// rules only: what AWS documents for a secret RDS manages).
async fn set_master_rotation(
    sm: &aws_sdk_secretsmanager::Client,
    arn: &str,
    days: i64,
) -> Result<(), ProviderError> {
    sm.rotate_secret()
        .secret_id(arn)
        .rotation_rules(
            aws_sdk_secretsmanager::types::RotationRulesType::builder()
                .automatically_after_days(days)
                .build(),
        )
        .rotate_immediately(false)
        .send()
        .await
        .map_err(|e| sdk(&format!("set the rotation schedule of secret {arn}"), e))?;
    Ok(())
}

/// The cluster as read, its master secret's rotation schedule being `rotation`.
pub(super) fn observe_cluster(id: LogicalId, cluster: &DbCluster, rotation: Value) -> Observed {
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
        .with(DbClusterSpec::CLUSTER_IDENTIFIER, identifier)
        .with(DbClusterSpec::ENGINE, cluster.engine().unwrap_or_default())
        .with(
            DbClusterSpec::ENGINE_VERSION,
            cluster.engine_version().unwrap_or_default(),
        )
        .with(
            DbClusterSpec::DATABASE_NAME,
            cluster.database_name().unwrap_or_default(),
        )
        .with(
            DbClusterSpec::MASTER_USERNAME,
            cluster.master_username().unwrap_or_default(),
        )
        .with(
            DbClusterSpec::MANAGE_MASTER_USER_PASSWORD,
            cluster.master_user_secret().is_some() && !source_login(cluster),
        )
        .with(
            DbClusterSpec::DB_SUBNET_GROUP_NAME,
            Value::CloudRef(
                ResourceKind::DbSubnetGroup,
                cluster.db_subnet_group().unwrap_or_default().to_string(),
            ),
        )
        .with(
            DbClusterSpec::VPC_SECURITY_GROUP_IDS,
            cloud_ids(
                cluster
                    .vpc_security_groups()
                    .iter()
                    .filter_map(|g| g.vpc_security_group_id().map(str::to_string)),
            ),
        )
        .with(
            DbClusterSpec::STORAGE_ENCRYPTED,
            cluster.storage_encrypted().unwrap_or(false),
        )
        .with(
            DbClusterSpec::BACKUP_RETENTION_PERIOD,
            i64::from(cluster.backup_retention_period().unwrap_or(0)),
        )
        .with(
            DbClusterSpec::DELETION_PROTECTION,
            cluster.deletion_protection().unwrap_or(false),
        )
        .with(DbClusterSpec::FINAL_SNAPSHOT, final_snapshot)
        .with(DbClusterSpec::MASTER_SECRET_ROTATION_DAYS, rotation)
        .with(DbClusterSpec::DB_CLUSTER_PARAMETER_GROUP_NAME, params);
    if let Some(endpoint) = cluster.endpoint() {
        o = o.output(DbClusterSpec::OUT_ENDPOINT, endpoint);
    }
    if let Some(reader) = cluster.reader_endpoint() {
        o = o.output(DbClusterSpec::OUT_READER_ENDPOINT, reader);
    }
    // A clone that still has its source's login may report the source's secret: not its own.
    if let Some(secret) = cluster.master_user_secret().and_then(|s| s.secret_arn())
        && !source_login(cluster)
    {
        o = o.output(DbClusterSpec::OUT_SECRET_ARN, secret);
    }
    if let Some(port) = cluster.port() {
        o = o.output(DbClusterSpec::OUT_PORT, port.to_string());
    }
    if let Some(arn) = cluster.db_cluster_arn() {
        o = o.output(DbClusterSpec::OUT_ARN, arn);
    }
    if let Some(writer) = cluster
        .db_cluster_members()
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .and_then(|m| m.db_instance_identifier())
    {
        o = o.output(DbClusterSpec::OUT_WRITER, writer);
    }
    o = o.output(
        mck_core::provider::OUT_DATA,
        format!(
            "Aurora cluster with {} instance(s); automated backups kept {} day(s)",
            cluster.db_cluster_members().len(),
            cluster.backup_retention_period().unwrap_or(0)
        ),
    );
    if cluster.status() == Some("creating") {
        o = o.pending("creating");
    }
    o
}

/// The stack's clusters, each with its master secret's rotation schedule (one DescribeSecret
/// per cluster of the stack).
pub(super) async fn read_clusters(
    rds: &Client,
    sm: &aws_sdk_secretsmanager::Client,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = rds.describe_db_clusters().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list DB clusters", e))?;
        for cluster in page
            .db_clusters()
            .iter()
            .filter(|c| c.status() != Some("deleting"))
        {
            let Some(id) = owned(cluster.tag_list(), stack) else {
                continue;
            };
            let rotation = match cluster.master_user_secret().and_then(|s| s.secret_arn()) {
                Some(arn) => master_rotation(sm, arn).await?,
                None => Value::Null,
            };
            out.push(observe_cluster(id, cluster, rotation));
        }
    }
    Ok(out)
}

pub(super) async fn describe_cluster(
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

/// A clone whose master user is still its source's ([`DbClusterSpec::TAG_SOURCE_LOGIN`]).
fn source_login(cluster: &DbCluster) -> bool {
    cluster
        .tag_list()
        .iter()
        .any(|t| t.key() == Some(DbClusterSpec::TAG_SOURCE_LOGIN))
}

/// Gives a clone a master login of its own: RestoreDBClusterToPointInTime takes no
/// `ManageMasterUserPassword` (the clone's master user and password are the source's), so
/// RDS is asked to manage a new password in a secret of the clone's, as Terraform's provider
/// does after a restore, then the mark is removed. Called once the clone is available.
async fn own_login(rds: &Client, cluster: &DbCluster) -> Result<(), ProviderError> {
    let identifier = cluster.db_cluster_identifier().unwrap_or_default();
    match rds
        .modify_db_cluster()
        .db_cluster_identifier(identifier)
        .manage_master_user_password(true)
        .apply_immediately(true)
        .send()
        .await
    {
        Ok(_) => {}
        // Already managed (a run killed after this call, before the mark went).
        Err(e)
            if e.code() == Some("InvalidParameterCombination")
                && e.message().is_some_and(|m| m.contains("already")) => {}
        Err(e) => {
            return Err(sdk(
                &format!("give the clone {identifier} a master login of its own"),
                e,
            ));
        }
    }
    rds.remove_tags_from_resource()
        .resource_name(cluster.db_cluster_arn().unwrap_or_default())
        .tag_keys(DbClusterSpec::TAG_SOURCE_LOGIN)
        .send()
        .await
        .map_err(|e| sdk(&format!("untag DB cluster {identifier}"), e))?;
    Ok(())
}

/// Aurora's copy-on-write clones of one cluster: "You can create up to 15 clones with
/// copy-on-write protocol. After you have 15 clones, the next clone that you create is a full
/// copy" (Aurora User Guide, "Limitations of Aurora cloning").
const COPY_ON_WRITE_CLONES: usize = 15;

/// The clone's source is missing (found so before the restore, or by it).
fn missing_source(id: &LogicalId, source: &str) -> ProviderError {
    ProviderError::invalid(format!(
        "{id} is a clone of DB cluster {source}, which does not exist: `mck up` its stack first, or make the preview with --empty-db"
    ))
    .with_code("DBClusterNotFoundFault")
}

/// What AWS would do with a clone of `source`, checked before asking: a source that does not
/// exist or has no instance ("You can only clone Aurora DB clusters that have at least one DB
/// instance") is refused with what to do, and so is a 16th clone in the source's clone group
/// (`CloneGroupId`), which AWS would make silently as a full copy: slow, and its storage paid
/// in full. Clones made outside mck count too.
async fn check_clone_room(rds: &Client, id: &LogicalId, source: &str) -> Result<(), ProviderError> {
    let Some(cluster) = describe_cluster(rds, source).await? else {
        return Err(missing_source(id, source));
    };
    if cluster.db_cluster_members().is_empty() {
        return Err(ProviderError::invalid(format!(
            "{id} is a clone of DB cluster {source}, which has no DB instance, and Aurora clones only a cluster with one: `mck up` its stack (it makes the instances), or make the preview with --empty-db"
        )));
    }
    let Some(group) = cluster.clone_group_id() else {
        return Ok(());
    };
    let filter = aws_sdk_rds::types::Filter::builder()
        .name("clone-group-id")
        .values(group)
        .build();
    let mut pages = rds
        .describe_db_clusters()
        .filters(filter)
        .into_paginator()
        .send();
    let mut clones = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list the clones of DB cluster {source}"), e))?;
        clones.extend(
            page.db_clusters()
                .iter()
                .filter_map(|c| c.db_cluster_identifier())
                .filter(|c| *c != source)
                .map(str::to_string),
        );
    }
    if clones.len() >= COPY_ON_WRITE_CLONES {
        clones.sort();
        return Err(ProviderError::invalid(format!(
            "DB cluster {source} already has {} clones ({}); Aurora makes {COPY_ON_WRITE_CLONES} copy-on-write clones of a cluster, and would make {id} a full copy, slow and paid in full: remove a preview (`mck ls`, `mck down --expired`) or another clone, or make this one with --empty-db",
            clones.len(),
            clones.join(", ")
        )));
    }
    Ok(())
}

/// Creates the cluster as a copy-on-write clone of `source` at its latest restorable time
/// (`RestoreDBClusterToPointInTime`): minutes, whatever the size, sharing the source's
/// storage until pages change. Its master login is the source's until the poll gives it its
/// own ([`own_login`]).
async fn clone_cluster(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &DbClusterSpec,
    source: &str,
    mut tags: Vec<Tag>,
) -> Result<DbCluster, ProviderError> {
    let rds = &aws.clients.rds;
    check_clone_room(rds, id, source).await?;
    for (key, value) in [
        (DbClusterSpec::TAG_CLONE_OF, source),
        (DbClusterSpec::TAG_SOURCE_LOGIN, "true"),
    ] {
        tags.push(Tag::builder().key(key).value(value).build());
    }
    let mut call = rds
        .restore_db_cluster_to_point_in_time()
        .db_cluster_identifier(&spec.identifier)
        .source_db_cluster_identifier(source)
        .restore_type("copy-on-write")
        .use_latest_restorable_time(true)
        .db_subnet_group_name(ctx.cloud_id(spec.subnet_group.id())?)
        .set_vpc_security_group_ids(Some(ctx.cloud_ids(&spec.security_groups)?))
        .backup_retention_period(crate::int32(
            spec.backup_retention_days,
            "backup_retention_days",
        )?)
        .deletion_protection(spec.deletion_protection)
        .copy_tags_to_snapshot(true)
        .set_tags(Some(tags));
    if let Some(group) = &spec.parameter_group {
        call = call.db_cluster_parameter_group_name(ctx.cloud_id(group.id())?);
    }
    let out = call.send().await.map_err(|e| match e.code() {
        Some("DBClusterNotFoundFault") => missing_source(id, source),
        Some("DBClusterQuotaExceededFault") => ProviderError::invalid(
            "the account's DB cluster quota in this region is reached (40 by default; each preview's clone is one): remove a preview (`mck ls`, `mck down --expired`) or ask AWS for more",
        )
        .with_code("DBClusterQuotaExceededFault"),
        _ => sdk(&format!("clone DB cluster {source} as {id} ({})", spec.identifier), e),
    })?;
    out.db_cluster()
        .cloned()
        .ok_or_else(|| ProviderError::invalid("restore DB cluster returned nothing"))
}

/// Creates a new, empty cluster whose master password RDS manages.
async fn create_empty(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &DbClusterSpec,
    tags: Vec<Tag>,
) -> Result<DbCluster, ProviderError> {
    let mut call = aws
        .clients
        .rds
        .create_db_cluster()
        .db_cluster_identifier(&spec.identifier)
        .engine(&spec.engine)
        .set_engine_version(spec.engine_version.clone())
        .database_name(&spec.database_name)
        .master_username(&spec.master_username)
        .manage_master_user_password(true)
        .db_subnet_group_name(ctx.cloud_id(spec.subnet_group.id())?)
        .set_vpc_security_group_ids(Some(ctx.cloud_ids(&spec.security_groups)?))
        .storage_encrypted(true)
        .backup_retention_period(crate::int32(
            spec.backup_retention_days,
            "backup_retention_days",
        )?)
        .deletion_protection(spec.deletion_protection)
        .copy_tags_to_snapshot(true)
        .set_tags(Some(tags));
    if let Some(group) = &spec.parameter_group {
        call = call.db_cluster_parameter_group_name(ctx.cloud_id(group.id())?);
    }
    let out = call
        .send()
        .await
        .map_err(|e| sdk(&format!("create DB cluster {id} ({})", spec.identifier), e))?;
    out.db_cluster()
        .cloned()
        .ok_or_else(|| ProviderError::invalid("create DB cluster returned nothing"))
}

/// Whether a change mck makes (engine version, backup retention) is still pending.
fn applying(cluster: &DbCluster) -> bool {
    cluster
        .pending_modified_values()
        .is_some_and(|p| p.engine_version().is_some() || p.backup_retention_period().is_some())
}

impl Driver for DbClusterSpec {
    const READ_BY: ServiceRead = ServiceRead::Rds;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        let mut tags = tags(ctx, id);
        tags.push(
            Tag::builder()
                .key(TAG_FINAL_SNAPSHOT)
                .value(spec.final_snapshot.to_string())
                .build(),
        );
        let made = match &spec.clone_of {
            Some(source) => clone_cluster(aws, ctx, id, spec, source, tags).await,
            None => create_empty(aws, ctx, id, spec, tags).await,
        };
        match made {
            // The managed secret's schedule (and a clone's own login) are set once the cluster
            // is available.
            Ok(cluster) => Ok(observe_cluster(id.clone(), &cluster, Value::Null)
                .output(OUT_ROTATION_WANTED, spec.master_rotation_days.to_string())),
            // A create retried after a crash: adopt the cluster if it is ours.
            Err(e) if e.code.as_deref() == Some("DBClusterAlreadyExistsFault") => {
                match describe_cluster(rds, &spec.identifier).await? {
                    Some(c) if owned(c.tag_list(), ctx.stack).as_ref() == Some(id) => {
                        Ok(observe_cluster(id.clone(), &c, Value::Null)
                            .output(OUT_ROTATION_WANTED, spec.master_rotation_days.to_string()))
                    }
                    _ => Err(ProviderError::invalid(format!(
                        "a DB cluster named {} exists but is not {id} of stack {}; rename the stack or remove that cluster",
                        spec.identifier, ctx.stack
                    ))),
                }
            }
            Err(e) => Err(e),
        }
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        // A clone left with its source's login by a run killed before its poll gave it its own.
        let clone_to_own = match DbClusterSpec::MANAGE_MASTER_USER_PASSWORD.is_in(fields) {
            true => describe_cluster(rds, &live.cloud_id)
                .await?
                .filter(source_login),
            false => None,
        };
        let mut call = rds
            .modify_db_cluster()
            .db_cluster_identifier(&live.cloud_id)
            .apply_immediately(true);
        let mut modify = false;
        for field in fields {
            match *field {
                "backup_retention_period" => {
                    call = call.backup_retention_period(crate::int32(
                        spec.backup_retention_days,
                        "backup_retention_days",
                    )?);
                }
                "deletion_protection" => call = call.deletion_protection(spec.deletion_protection),
                // A clone's is given with its mark removed, below.
                "manage_master_user_password" if clone_to_own.is_some() => continue,
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
        if let Some(cluster) = &clone_to_own {
            own_login(rds, cluster).await?;
        }
        if DbClusterSpec::MASTER_SECRET_ROTATION_DAYS.is_in(fields) {
            let arn = live
                .outputs
                .get(DbClusterSpec::OUT_SECRET_ARN)
                .ok_or_else(|| {
                    ProviderError::invalid(format!(
                        "DB cluster {} has no managed master secret to set the rotation of",
                        live.id
                    ))
                })?;
            set_master_rotation(&aws.clients.secretsmanager, arn, spec.master_rotation_days)
                .await?;
        }
        if DbClusterSpec::FINAL_SNAPSHOT.is_in(fields) {
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

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let rds = &aws.clients.rds;
        let final_snapshot =
            live.fields.get(DbClusterSpec::FINAL_SNAPSHOT.name) == Some(&Value::Bool(true));
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

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let rds = &aws.clients.rds;
        Ok(match describe_cluster(rds, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(c) => match c.status().unwrap_or_default() {
                // "available" comes before a modification starts: the change is applied only
                // once it no longer shows as pending.
                "available" if applying(&c) => Readiness::Pending("applying changes".into()),
                "available" if source_login(&c) => {
                    own_login(rds, &c).await?;
                    Readiness::Pending("giving the clone a master login of its own".into())
                }
                "available" => {
                    let sm = &aws.clients.secretsmanager;
                    let secret = c.master_user_secret().and_then(|s| s.secret_arn());
                    let rotation = match secret {
                        Some(arn) => master_rotation(sm, arn).await?,
                        None => Value::Null,
                    };
                    let wanted = live
                        .outputs
                        .get(OUT_ROTATION_WANTED)
                        .and_then(|d| d.parse::<i64>().ok());
                    match (secret, wanted) {
                        (Some(arn), Some(days)) if rotation != Value::Int(days) => {
                            set_master_rotation(sm, arn, days).await?;
                            Readiness::Pending("setting the master secret's rotation".into())
                        }
                        _ => Readiness::Ready(observe_cluster(live.id.clone(), &c, rotation)),
                    }
                }
                "failed" | "inaccessible-encryption-credentials" | "incompatible-parameters" => {
                    Readiness::Failed(format!("DB cluster is {}", c.status().unwrap_or_default()))
                }
                status => Readiness::Pending(status.to_string()),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::types::{MasterUserSecret, VpcSecurityGroupMembership};
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_every_field_and_the_outputs_records_use() {
        let cluster = DbCluster::builder()
            .db_cluster_identifier("t-db")
            .engine("aurora-mysql")
            .engine_version("8.0.mysql_aurora.3.05.2")
            .database_name("magento")
            .master_username("magento")
            .master_user_secret(
                MasterUserSecret::builder()
                    .secret_arn("arn:aws:secretsmanager:us-east-1:1:secret:rds-1")
                    .build(),
            )
            .db_subnet_group("t-db")
            .vpc_security_groups(
                VpcSecurityGroupMembership::builder()
                    .vpc_security_group_id("sg-db")
                    .build(),
            )
            .storage_encrypted(true)
            .backup_retention_period(7)
            .deletion_protection(true)
            .tag_list(Tag::builder().key(TAG_FINAL_SNAPSHOT).value("true").build())
            .db_cluster_parameter_group("t-db")
            .endpoint("t-db.cluster-1.rds.amazonaws.com")
            .reader_endpoint("t-db.cluster-ro-1.rds.amazonaws.com")
            .port(3306)
            .build();
        let spec = DbClusterSpec {
            identifier: "t-db".into(),
            engine: "aurora-mysql".into(),
            engine_version: Some("8.0.mysql_aurora.3.05.2".into()),
            database_name: "magento".into(),
            master_username: "magento".into(),
            subnet_group: Ref::new("db.subnets"),
            parameter_group: Some(Ref::new("db.params")),
            security_groups: vec![Ref::new("sg.db")],
            storage_encrypted: true,
            backup_retention_days: 7,
            deletion_protection: true,
            final_snapshot: true,
            master_rotation_days: 7,
            clone_of: None,
        };
        let ids = [
            ("db.subnets", "t-db"),
            ("db.params", "t-db"),
            ("sg.db", "sg-db"),
        ];
        let observed = observe_cluster("db.cluster".into(), &cluster, Value::Int(7));
        assert_reads(&observed, spec, &ids);
        let mut outputs: Vec<&str> = observed.outputs.keys().map(String::as_str).collect();
        outputs.sort_unstable();
        assert_eq!(
            outputs,
            ["_data", "endpoint", "port", "reader_endpoint", "secret_arn"]
        );
        // What a delete would lose, for the summary shown before the confirmation.
        assert!(
            observed.outputs["_data"].starts_with("Aurora cluster with "),
            "{:?}",
            observed.outputs
        );
    }

    #[test]
    fn the_default_parameter_group_is_not_the_stacks() {
        let cluster = DbCluster::builder()
            .db_cluster_identifier("t-db")
            .db_cluster_parameter_group("default.aurora-mysql8.0")
            .build();
        let observed = observe_cluster("db.cluster".into(), &cluster, Value::Int(7));
        assert_eq!(
            observed.fields[DbClusterSpec::DB_CLUSTER_PARAMETER_GROUP_NAME.name],
            Value::Null
        );
    }

    #[tokio::test]
    async fn a_modification_is_applied_only_once_it_no_longer_shows_as_pending() {
        use crate::testing::{Replay, query_xml};

        let cluster = |pending: &str| {
            query_xml(
                "DescribeDBClusters",
                &format!(
                    "<DBClusters><DBCluster><DBClusterIdentifier>t-db</DBClusterIdentifier><Status>available</Status>{pending}</DBCluster></DBClusters>"
                ),
            )
        };
        let aws = Replay::new([
            (
                "DescribeDBClusters",
                200,
                cluster(
                    "<PendingModifiedValues><EngineVersion>8.0.mysql_aurora.3.06.0</EngineVersion></PendingModifiedValues>",
                ),
            ),
            ("DescribeDBClusters", 200, cluster("")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = std::collections::HashMap::new();
        let ctx = crate::testing::context(&resolved);
        let live = Observed::new("db.cluster".into(), ResourceKind::DbCluster, "t-db");
        let first = DbClusterSpec::poll(&provider, &ctx, &live).await.unwrap();
        assert_eq!(first, Readiness::Pending("applying changes".into()));
        let then = DbClusterSpec::poll(&provider, &ctx, &live).await.unwrap();
        assert!(matches!(then, Readiness::Ready(_)), "{then:?}");
        aws.assert_done();
    }

    /// A new cluster's managed secret gets the stack's schedule once the cluster is available
    /// (RDS made it with its own, 7 days): `RotateSecret` with rules only and
    /// `RotateImmediately` false; the poll is ready once DescribeSecret shows the schedule.
    #[tokio::test]
    async fn a_new_clusters_master_secret_gets_the_stacks_rotation_schedule() {
        use crate::testing::{Replay, query_xml};

        const SECRET: &str = "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-1-AbCdEf";
        let cluster = query_xml(
            "DescribeDBClusters",
            &format!(
                "<DBClusters><DBCluster><DBClusterIdentifier>t-db</DBClusterIdentifier><Status>available</Status><MasterUserSecret><SecretArn>{SECRET}</SecretArn><SecretStatus>active</SecretStatus></MasterUserSecret></DBCluster></DBClusters>"
            ),
        );
        let described = |days: i64| {
            format!(
                r#"{{"ARN":"{SECRET}","Name":"rds!cluster-1","RotationEnabled":true,"RotationRules":{{"AutomaticallyAfterDays":{days}}}}}"#
            )
        };
        let aws = Replay::new([
            ("DescribeDBClusters", 200, cluster.clone()),
            ("DescribeSecret", 200, described(7)),
            ("RotateSecret", 200, format!(r#"{{"ARN":"{SECRET}"}}"#)),
            ("DescribeDBClusters", 200, cluster),
            ("DescribeSecret", 200, described(30)),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = std::collections::HashMap::new();
        let ctx = crate::testing::context(&resolved);
        let live = Observed::new("db.cluster".into(), ResourceKind::DbCluster, "t-db")
            .output(OUT_ROTATION_WANTED, "30");
        let first = DbClusterSpec::poll(&provider, &ctx, &live).await.unwrap();
        assert_eq!(
            first,
            Readiness::Pending("setting the master secret's rotation".into())
        );
        let rotate = &aws.requests()[2].1;
        let mut body: serde_json::Value = serde_json::from_str(rotate).unwrap();
        // The SDK's idempotency token.
        body.as_object_mut().unwrap().remove("ClientRequestToken");
        assert_eq!(
            body,
            serde_json::json!({"SecretId": SECRET, "RotationRules": {"AutomaticallyAfterDays": 30},
                "RotateImmediately": false})
        );
        let Readiness::Ready(ready) = DbClusterSpec::poll(&provider, &ctx, &live).await.unwrap()
        else {
            panic!("not ready");
        };
        assert_eq!(
            ready.fields[DbClusterSpec::MASTER_SECRET_ROTATION_DAYS.name],
            Value::Int(30)
        );
        aws.assert_done();
    }

    #[tokio::test]
    async fn a_schedule_as_a_rate_expression_reads_as_days_and_rotation_off_as_none() {
        use crate::testing::Replay;

        let aws = Replay::new([
            (
                "DescribeSecret",
                200,
                r#"{"RotationEnabled":true,"RotationRules":{"ScheduleExpression":"rate(14 days)"}}"#.to_string(),
            ),
            ("DescribeSecret", 200, r#"{"RotationEnabled":false}"#.to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let sm = &provider.clients.secretsmanager;
        assert_eq!(master_rotation(sm, "s").await.unwrap(), Value::Int(14));
        assert_eq!(master_rotation(sm, "s").await.unwrap(), Value::Null);
        aws.assert_done();
    }

    /// A changed schedule is set on the managed secret alone: `RotateSecret` with the rules,
    /// no ModifyDBCluster (the cluster itself does not change).
    #[tokio::test]
    async fn a_new_schedule_is_set_on_the_managed_secret_alone() {
        use crate::testing::Replay;

        const SECRET: &str = "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-1-AbCdEf";
        let aws = Replay::new([("RotateSecret", 200, format!(r#"{{"ARN":"{SECRET}"}}"#))]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = std::collections::HashMap::new();
        let ctx = crate::testing::context(&resolved);
        let live = Observed::new("db.cluster".into(), ResourceKind::DbCluster, "t-db")
            .output(DbClusterSpec::OUT_SECRET_ARN, SECRET);
        let spec = DbClusterSpec {
            identifier: "t-db".into(),
            engine: "aurora-mysql".into(),
            engine_version: None,
            database_name: "magento".into(),
            master_username: "magento".into(),
            subnet_group: Ref::new("db.subnets"),
            parameter_group: None,
            security_groups: vec![Ref::new("sg.db")],
            storage_encrypted: true,
            backup_retention_days: 7,
            deletion_protection: true,
            final_snapshot: true,
            master_rotation_days: 14,
            clone_of: None,
        };
        DbClusterSpec::update(
            &provider,
            &ctx,
            &spec,
            &live,
            &[DbClusterSpec::MASTER_SECRET_ROTATION_DAYS.name],
        )
        .await
        .unwrap();
        let mut body: serde_json::Value = serde_json::from_str(&aws.requests()[0].1).unwrap();
        body.as_object_mut().unwrap().remove("ClientRequestToken");
        assert_eq!(
            body,
            serde_json::json!({"SecretId": SECRET, "RotationRules": {"AutomaticallyAfterDays": 14},
                "RotateImmediately": false})
        );
        aws.assert_done();
    }

    fn clone_spec() -> DbClusterSpec {
        DbClusterSpec {
            identifier: "pr-1-db".into(),
            engine: "aurora-mysql".into(),
            engine_version: None,
            database_name: "magento".into(),
            master_username: "magento".into(),
            subnet_group: Ref::new("db.subnets"),
            parameter_group: None,
            security_groups: vec![Ref::new("sg.db")],
            storage_encrypted: true,
            backup_retention_days: 1,
            deletion_protection: false,
            final_snapshot: false,
            master_rotation_days: 30,
            clone_of: Some("stage-db".into()),
        }
    }

    fn clone_deps() -> std::collections::HashMap<LogicalId, Observed> {
        [
            Observed::new("db.subnets".into(), ResourceKind::DbSubnetGroup, "pr-1-db"),
            Observed::new("sg.db".into(), ResourceKind::SecurityGroup, "sg-1"),
        ]
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect()
    }

    /// DescribeDBClusters of the source, `stage-db`, with one instance and `group` as its
    /// clone group.
    fn source_described(group: Option<&str>) -> (&'static str, u16, String) {
        let group = group
            .map(|g| format!("<CloneGroupId>{g}</CloneGroupId>"))
            .unwrap_or_default();
        (
            "DescribeDBClusters",
            200,
            crate::testing::query_xml(
                "DescribeDBClusters",
                &format!(
                    "<DBClusters><DBCluster><DBClusterIdentifier>stage-db</DBClusterIdentifier><Status>available</Status>{group}<DBClusterMembers><DBClusterMember><DBInstanceIdentifier>stage-db-1</DBInstanceIdentifier><IsClusterWriter>true</IsClusterWriter></DBClusterMember></DBClusterMembers></DBCluster></DBClusters>"
                ),
            ),
        )
    }

    /// DescribeDBClusters of the clone group `cg-1`: the source and `clones` clones.
    fn clone_group(clones: usize) -> (&'static str, u16, String) {
        let cluster = |name: &str| {
            format!(
                "<DBCluster><DBClusterIdentifier>{name}</DBClusterIdentifier><CloneGroupId>cg-1</CloneGroupId></DBCluster>"
            )
        };
        let all: String = std::iter::once(cluster("stage-db"))
            .chain((1..=clones).map(|i| cluster(&format!("pr-{:02}-db", i + 1))))
            .collect();
        (
            "DescribeDBClusters",
            200,
            crate::testing::query_xml(
                "DescribeDBClusters",
                &format!("<DBClusters>{all}</DBClusters>"),
            ),
        )
    }

    /// A preview's database is a copy-on-write clone of its source's at the latest restorable
    /// time, with no master password of its own in the call (the restore takes none: the
    /// clone's login is the source's, and the source's secret it may report is not shown as
    /// its own); once available, RDS is asked to manage a new password for it (its own secret),
    /// and the mark saying it still has the source's login is removed.
    #[tokio::test]
    async fn a_clone_gets_a_master_login_of_its_own_once_available() {
        use crate::testing::{Replay, query_xml};

        const SOURCE_SECRET: &str = "arn:aws:secretsmanager:us-east-1:1:secret:rds!cluster-stage";
        let cluster = |tags: &str| {
            format!(
                "<DBCluster><DBClusterIdentifier>pr-1-db</DBClusterIdentifier><DBClusterArn>arn:aws:rds:us-east-1:1:cluster:pr-1-db</DBClusterArn><Status>{}</Status><MasterUserSecret><SecretArn>{SOURCE_SECRET}</SecretArn></MasterUserSecret><TagList>{tags}</TagList></DBCluster>",
                if tags.is_empty() {
                    "available"
                } else {
                    "creating"
                }
            )
        };
        let marked = "<Tag><Key>mck:source-login</Key><Value>true</Value></Tag>";
        let available_marked = cluster(marked).replace("creating", "available");
        let aws = Replay::new([
            source_described(Some("cg-1")),
            clone_group(2),
            (
                "RestoreDBClusterToPointInTime",
                200,
                query_xml("RestoreDBClusterToPointInTime", &cluster(marked)),
            ),
            (
                "DescribeDBClusters",
                200,
                query_xml(
                    "DescribeDBClusters",
                    &format!("<DBClusters>{available_marked}</DBClusters>"),
                ),
            ),
            (
                "ModifyDBCluster",
                200,
                query_xml("ModifyDBCluster", &available_marked),
            ),
            (
                "RemoveTagsFromResource",
                200,
                query_xml("RemoveTagsFromResource", ""),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = clone_deps();
        let ctx = crate::testing::context(&deps);
        let id = LogicalId::new("db.cluster");
        let made = DbClusterSpec::create(&provider, &ctx, &id, &clone_spec())
            .await
            .expect("cloned");
        // Not its own login yet: no secret of its own to give the apps.
        assert_eq!(
            made.fields[DbClusterSpec::MANAGE_MASTER_USER_PASSWORD.name],
            Value::Bool(false)
        );
        assert!(!made.outputs.contains_key(DbClusterSpec::OUT_SECRET_ARN));
        let group = &aws.requests()[1].1;
        assert!(
            group.contains("clone-group-id") && group.contains("cg-1"),
            "{group}"
        );
        let restore = &aws.requests()[2].1;
        for param in [
            "SourceDBClusterIdentifier=stage-db",
            "RestoreType=copy-on-write",
            "UseLatestRestorableTime=true",
            "DBClusterIdentifier=pr-1-db",
            "DBSubnetGroupName=pr-1-db",
            "mck%3Aclone-of",
            "mck%3Asource-login",
        ] {
            assert!(restore.contains(param), "{param} missing from {restore}");
        }
        assert!(!restore.contains("MasterUser"), "{restore}");
        assert!(!restore.contains("RestoreToTime"), "{restore}");
        let polled = DbClusterSpec::poll(&provider, &ctx, &made).await.unwrap();
        assert_eq!(
            polled,
            Readiness::Pending("giving the clone a master login of its own".into())
        );
        let modify = &aws.requests()[4].1;
        assert!(modify.contains("ManageMasterUserPassword=true"), "{modify}");
        assert!(modify.contains("ApplyImmediately=true"), "{modify}");
        let untag = &aws.requests()[5].1;
        assert!(
            untag.contains("TagKeys.member.1=mck%3Asource-login"),
            "{untag}"
        );
        aws.assert_done();
    }

    /// Clones count against the account's DB cluster quota: a clone refused by it says so and
    /// what to remove; a missing source says to bring the source up first.
    #[tokio::test]
    async fn a_clone_refused_names_the_quota_or_the_missing_source() {
        use crate::testing::Replay;

        let error = |code: &str, message: &str| {
            format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r</RequestId></ErrorResponse>"
            )
        };
        let aws = Replay::new([
            // A source never cloned has no clone group.
            source_described(None),
            (
                "RestoreDBClusterToPointInTime",
                400,
                error(
                    "DBClusterQuotaExceededFault",
                    "The request cannot be processed because it would exceed the user's DB cluster quota.",
                ),
            ),
            // A missing source is found before any restore is asked for.
            (
                "DescribeDBClusters",
                404,
                error("DBClusterNotFoundFault", "DBCluster stage-db not found."),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = clone_deps();
        let ctx = crate::testing::context(&deps);
        let id = LogicalId::new("db.cluster");
        let quota = DbClusterSpec::create(&provider, &ctx, &id, &clone_spec())
            .await
            .unwrap_err();
        assert!(quota.message.contains("quota"), "{quota}");
        assert!(quota.message.contains("mck down --expired"), "{quota}");
        assert_eq!(quota.class, mck_core::provider::ErrorClass::Invalid);
        let missing = DbClusterSpec::create(&provider, &ctx, &id, &clone_spec())
            .await
            .unwrap_err();
        assert!(missing.message.contains("--empty-db"), "{missing}");
        aws.assert_done();
    }

    /// Aurora clones a cluster copy-on-write 15 times; a 16th clone would be a full copy, made
    /// silently. The source's clone group (clones made outside mck too) is counted first: at 15
    /// the clone is refused, naming them, with no restore asked for; a source without an
    /// instance, which AWS cannot clone, is refused the same way.
    #[tokio::test]
    async fn a_sixteenth_clone_or_a_clone_of_a_cluster_without_instances_is_refused() {
        use crate::testing::{Replay, query_xml};

        let bare = query_xml(
            "DescribeDBClusters",
            "<DBClusters><DBCluster><DBClusterIdentifier>stage-db</DBClusterIdentifier><Status>available</Status><DBClusterMembers/></DBCluster></DBClusters>",
        );
        let aws = Replay::new([
            source_described(Some("cg-1")),
            clone_group(15),
            ("DescribeDBClusters", 200, bare),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = clone_deps();
        let ctx = crate::testing::context(&deps);
        let id = LogicalId::new("db.cluster");
        let full = DbClusterSpec::create(&provider, &ctx, &id, &clone_spec())
            .await
            .unwrap_err();
        assert!(
            full.message.contains("already has 15 clones")
                && full.message.contains("pr-02-db")
                && full.message.contains("pr-16-db")
                && full.message.contains("--empty-db"),
            "{full}"
        );
        assert_eq!(full.class, mck_core::provider::ErrorClass::Invalid);
        let bare = DbClusterSpec::create(&provider, &ctx, &id, &clone_spec())
            .await
            .unwrap_err();
        assert!(bare.message.contains("has no DB instance"), "{bare}");
        // Neither asked AWS for a restore.
        assert!(
            aws.requests()
                .iter()
                .all(|(op, _)| op != "RestoreDBClusterToPointInTime"),
            "{:?}",
            aws.requests()
        );
        aws.assert_done();
    }
}
