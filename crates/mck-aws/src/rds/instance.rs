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

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
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
}
