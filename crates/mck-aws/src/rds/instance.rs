use super::*;

pub(super) fn observe_instance(id: LogicalId, instance: &DbInstance) -> Observed {
    let identifier = instance.db_instance_identifier().unwrap_or_default();
    let mut o = Observed::new(id, ResourceKind::DbInstance, identifier)
        .with(DbInstanceSpec::IDENTIFIER, identifier)
        .with(
            DbInstanceSpec::CLUSTER_IDENTIFIER,
            Value::CloudRef(
                ResourceKind::DbCluster,
                instance
                    .db_cluster_identifier()
                    .unwrap_or_default()
                    .to_string(),
            ),
        )
        .with(
            DbInstanceSpec::INSTANCE_CLASS,
            instance.db_instance_class().unwrap_or_default(),
        )
        .with(
            DbInstanceSpec::ENGINE,
            instance.engine().unwrap_or_default(),
        )
        .with(
            DbInstanceSpec::AVAILABILITY_ZONE,
            instance.availability_zone().unwrap_or_default(),
        )
        .with(
            DbInstanceSpec::PROMOTION_TIER,
            i64::from(instance.promotion_tier().unwrap_or(1)),
        );
    if let Some(address) = instance.endpoint().and_then(|e| e.address()) {
        o = o.output(DbInstanceSpec::OUT_ENDPOINT, address);
    }
    if instance.db_instance_status() == Some("creating") {
        o = o.pending("creating");
    }
    o
}

pub(super) async fn read_instances(
    rds: &Client,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
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

pub(super) async fn describe_instance(
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

impl Driver for DbInstanceSpec {
    const READ_BY: ServiceRead = ServiceRead::Rds;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        let result = rds
            .create_db_instance()
            .db_instance_identifier(&spec.identifier)
            .db_cluster_identifier(ctx.cloud_id(spec.cluster.id())?)
            .engine(&spec.engine)
            .db_instance_class(&spec.instance_class)
            .availability_zone(&spec.availability_zone)
            .promotion_tier(crate::int32(spec.promotion_tier, "promotion_tier")?)
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

    /// A class change is a resize without downtime (docs/resources.md): every instance's
    /// update waits for its turn ([`resize_turn`]), readers one at a time, the writer last,
    /// after a failover to a resized reader.
    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        if DbInstanceSpec::INSTANCE_CLASS.is_in(fields) {
            let cluster = ctx.cloud_id(spec.cluster.id())?.to_string();
            resize_turn(aws, &cluster, &live.cloud_id, &spec.instance_class).await?;
        }
        rds.modify_db_instance()
            .db_instance_identifier(&live.cloud_id)
            .db_instance_class(&spec.instance_class)
            .promotion_tier(crate::int32(spec.promotion_tier, "promotion_tier")?)
            .apply_immediately(true)
            .send()
            .await
            .map_err(|e| sdk(&format!("modify DB instance {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let rds = &aws.clients.rds;
        // Cluster instances have no snapshots of their own: the cluster's final snapshot covers them.
        rds.delete_db_instance()
            .db_instance_identifier(&live.cloud_id)
            .skip_final_snapshot(true)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete DB instance {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let rds = &aws.clients.rds;
        Ok(match describe_instance(rds, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(i) => match i.db_instance_status().unwrap_or_default() {
                // "available" comes before a class change starts: it is applied only once it
                // no longer shows as pending.
                "available"
                    if i.pending_modified_values()
                        .is_some_and(|p| p.db_instance_class().is_some()) =>
                {
                    Readiness::Pending("applying changes".into())
                }
                "available" => Readiness::Ready(observe_instance(live.id.clone(), &i)),
                "failed" | "incompatible-parameters" | "storage-full" => {
                    Readiness::Failed(format!(
                        "DB instance is {}",
                        i.db_instance_status().unwrap_or_default()
                    ))
                }
                status => Readiness::Pending(status.to_string()),
            },
        })
    }
}

/// Whether instance `identifier` has class `class` and no change pending: resized.
async fn resized(rds: &Client, identifier: &str, class: &str) -> Result<bool, ProviderError> {
    Ok(describe_instance(rds, identifier).await?.is_some_and(|i| {
        i.db_instance_class() == Some(class)
            && i.db_instance_status() == Some("available")
            && i.pending_modified_values()
                .is_none_or(|p| p.db_instance_class().is_none())
    }))
}

/// Waits until instance `me` of `cluster` may change to `class` without the cluster losing
/// its writer or more than one reader at once: a reader goes once every reader before it (by
/// identifier) is resized; the writer goes once every reader is, after a failover to the
/// first of them (it is then a reader itself). A single-instance cluster has no one to fail
/// over to: it is resized in place (the writer restarts).
pub(super) async fn resize_turn(
    aws: &AwsProvider,
    cluster: &str,
    me: &str,
    class: &str,
) -> Result<(), ProviderError> {
    let rds = &aws.clients.rds;
    let failed_over = std::sync::atomic::AtomicBool::new(false);
    aws.wait_until(
        &format!("the turn of DB instance {me} to become {class}"),
        || async {
            let Some(found) = super::cluster::describe_cluster(rds, cluster).await? else {
                return Err(crate::missing("DB cluster", cluster));
            };
            let members = found.db_cluster_members();
            let writer = members
                .iter()
                .find(|m| m.is_cluster_writer() == Some(true))
                .and_then(|m| m.db_instance_identifier());
            let mut readers: Vec<&str> = members
                .iter()
                .filter(|m| m.is_cluster_writer() != Some(true))
                .filter_map(|m| m.db_instance_identifier())
                .filter(|id| *id != me)
                .collect();
            readers.sort_unstable();
            if writer != Some(me) {
                // A reader: after the readers before it.
                for earlier in readers.iter().filter(|r| **r < me) {
                    if !resized(rds, earlier, class).await? {
                        return Ok(false);
                    }
                }
                return Ok(true);
            }
            let Some(first) = readers.first() else {
                return Ok(true);
            };
            for reader in &readers {
                if !resized(rds, reader, class).await? {
                    return Ok(false);
                }
            }
            if !failed_over.swap(true, std::sync::atomic::Ordering::SeqCst) {
                tracing::info!(
                    cluster,
                    from = me,
                    to = first,
                    "failover before resizing the writer"
                );
                rds.failover_db_cluster()
                    .db_cluster_identifier(cluster)
                    .target_db_instance_identifier(*first)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("fail DB cluster {cluster} over to {first}"), e))?;
            }
            // Resized once the failover made it a reader (the next poll sees so).
            Ok(false)
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use aws_sdk_rds::types::Endpoint;
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_every_field() {
        let instance = DbInstance::builder()
            .db_instance_identifier("t-db-1")
            .db_cluster_identifier("t-db")
            .db_instance_class("db.r6g.large")
            .engine("aurora-mysql")
            .availability_zone("us-east-1a")
            .promotion_tier(0)
            .endpoint(
                Endpoint::builder()
                    .address("t-db-1.rds.amazonaws.com")
                    .build(),
            )
            .build();
        let spec = DbInstanceSpec {
            identifier: "t-db-1".into(),
            cluster: Ref::new("db.cluster"),
            instance_class: "db.r6g.large".into(),
            engine: "aurora-mysql".into(),
            availability_zone: "us-east-1a".into(),
            promotion_tier: 0,
        };
        let observed = observe_instance("db.instance.1".into(), &instance);
        assert_reads(&observed, spec, &[("db.cluster", "t-db")]);
        assert_eq!(observed.outputs["endpoint"], "t-db-1.rds.amazonaws.com");
    }

    fn members(writer: &str, readers: &[&str]) -> String {
        let member = |id: &str, w: bool| {
            format!(
                "<DBClusterMember><DBInstanceIdentifier>{id}</DBInstanceIdentifier><IsClusterWriter>{w}</IsClusterWriter></DBClusterMember>"
            )
        };
        let mut all = member(writer, true);
        for r in readers {
            all.push_str(&member(r, false));
        }
        crate::testing::query_xml(
            "DescribeDBClusters",
            &format!(
                "<DBClusters><DBCluster><DBClusterIdentifier>t-db</DBClusterIdentifier><Status>available</Status><DBClusterMembers>{all}</DBClusterMembers></DBCluster></DBClusters>"
            ),
        )
    }

    fn instance_xml(id: &str, class: &str, status: &str) -> String {
        crate::testing::query_xml(
            "DescribeDBInstances",
            &format!(
                "<DBInstances><DBInstance><DBInstanceIdentifier>{id}</DBInstanceIdentifier><DBClusterIdentifier>t-db</DBClusterIdentifier><DBInstanceClass>{class}</DBInstanceClass><DBInstanceStatus>{status}</DBInstanceStatus></DBInstance></DBInstances>"
            ),
        )
    }

    fn resize(identifier: &str) -> (DbInstanceSpec, Observed) {
        let spec = DbInstanceSpec {
            identifier: identifier.into(),
            cluster: Ref::new("db.cluster"),
            instance_class: "db.r6g.xlarge".into(),
            engine: "aurora-mysql".into(),
            availability_zone: "us-east-1a".into(),
            promotion_tier: 1,
        };
        let live = Observed::new("db.instance.x".into(), ResourceKind::DbInstance, identifier);
        (spec, live)
    }

    /// Changes instance `identifier` of cluster `t-db` to db.r6g.xlarge against the script
    /// `aws`, which must be played to its end.
    async fn resize_on(aws: &crate::testing::Replay, identifier: &str) {
        let provider = crate::AwsProvider::offline(aws.clone());
        let deps = std::collections::HashMap::from([(
            LogicalId::new("db.cluster"),
            Observed::new("db.cluster".into(), ResourceKind::DbCluster, "t-db"),
        )]);
        let (spec, live) = resize(identifier);
        DbInstanceSpec::update(
            &provider,
            &crate::testing::context(&deps),
            &spec,
            &live,
            &[DbInstanceSpec::INSTANCE_CLASS.name],
        )
        .await
        .unwrap();
        aws.assert_done();
    }

    /// The writer's resize waits until every reader has the new class, fails over to the first
    /// reader once (not again while the failover runs), and changes its class only as a reader:
    /// the cluster always has a writer.
    #[tokio::test]
    async fn the_writer_is_resized_last_after_a_failover_to_a_resized_reader() {
        let aws = crate::testing::Replay::new([
            ("DescribeDBClusters", 200, members("t-db-1", &["t-db-2"])),
            (
                "DescribeDBInstances",
                200,
                instance_xml("t-db-2", "db.r6g.large", "modifying"),
            ),
            ("DescribeDBClusters", 200, members("t-db-1", &["t-db-2"])),
            (
                "DescribeDBInstances",
                200,
                instance_xml("t-db-2", "db.r6g.xlarge", "available"),
            ),
            (
                "FailoverDBCluster",
                200,
                crate::testing::query_xml(
                    "FailoverDBCluster",
                    "<DBCluster><DBClusterIdentifier>t-db</DBClusterIdentifier></DBCluster>",
                ),
            ),
            ("DescribeDBClusters", 200, members("t-db-1", &["t-db-2"])),
            (
                "DescribeDBInstances",
                200,
                instance_xml("t-db-2", "db.r6g.xlarge", "available"),
            ),
            ("DescribeDBClusters", 200, members("t-db-2", &["t-db-1"])),
            (
                "ModifyDBInstance",
                200,
                crate::testing::query_xml("ModifyDBInstance", "<DBInstance/>"),
            ),
        ]);
        resize_on(&aws, "t-db-1").await;
        let requests = aws.requests();
        let failovers: Vec<&String> = requests
            .iter()
            .filter(|(name, _)| name == "FailoverDBCluster")
            .map(|(_, body)| body)
            .collect();
        assert_eq!(failovers.len(), 1);
        assert!(
            failovers[0].contains("TargetDBInstanceIdentifier=t-db-2"),
            "{}",
            failovers[0]
        );
        assert!(
            requests
                .last()
                .unwrap()
                .1
                .contains("DBInstanceClass=db.r6g.xlarge")
        );
    }

    /// Readers go one at a time, in identifier order: the second waits for the first.
    #[tokio::test]
    async fn a_reader_waits_for_the_readers_before_it() {
        let aws = crate::testing::Replay::new([
            (
                "DescribeDBClusters",
                200,
                members("t-db-1", &["t-db-2", "t-db-3"]),
            ),
            (
                "DescribeDBInstances",
                200,
                instance_xml("t-db-2", "db.r6g.xlarge", "modifying"),
            ),
            (
                "DescribeDBClusters",
                200,
                members("t-db-1", &["t-db-2", "t-db-3"]),
            ),
            (
                "DescribeDBInstances",
                200,
                instance_xml("t-db-2", "db.r6g.xlarge", "available"),
            ),
            (
                "ModifyDBInstance",
                200,
                crate::testing::query_xml("ModifyDBInstance", "<DBInstance/>"),
            ),
        ]);
        resize_on(&aws, "t-db-3").await;
        assert!(
            aws.requests()
                .iter()
                .all(|(name, _)| name != "FailoverDBCluster")
        );
    }
}
