use super::*;

pub(super) async fn user_parameters(rds: &Client, name: &str) -> Result<Value, ProviderError> {
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

/// A parameter group and the parameters the user set (a separate, paginated call).
pub(super) fn observe_parameter_group(
    id: LogicalId,
    group: &DbClusterParameterGroup,
    parameters: Value,
) -> Observed {
    let name = group.db_cluster_parameter_group_name().unwrap_or_default();
    Observed::new(id, ResourceKind::DbClusterParameterGroup, name)
        .with(DbClusterParameterGroupSpec::NAME, name)
        .with(
            DbClusterParameterGroupSpec::FAMILY,
            group.db_parameter_group_family().unwrap_or_default(),
        )
        .with(
            DbClusterParameterGroupSpec::DESCRIPTION,
            group.description().unwrap_or_default(),
        )
        .with(DbClusterParameterGroupSpec::PARAMETERS, parameters)
}

pub(super) async fn read_parameter_groups(
    rds: &Client,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
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
                let parameters = user_parameters(rds, name).await?;
                out.push(observe_parameter_group(id, group, parameters));
            }
        }
    }
    Ok(out)
}

pub(super) async fn set_parameters(
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

impl Driver for DbClusterParameterGroupSpec {
    const READ_BY: ServiceRead = ServiceRead::Rds;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        match rds
            .create_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&spec.name)
            .db_parameter_group_family(&spec.family)
            .description(&spec.description)
            .set_tags(Some(tags(ctx, id)))
            .send()
            .await
        {
            Ok(_) => {}
            // Ours from a create whose answer was lost (or whose parameters were never set):
            // adopt it and set the parameters below.
            Err(e) if e.code() == Some("DBParameterGroupAlreadyExists") => {
                let found = rds
                    .describe_db_cluster_parameter_groups()
                    .db_cluster_parameter_group_name(&spec.name)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("find parameter group {}", spec.name), e))?;
                let existing = match found.db_cluster_parameter_groups().first() {
                    Some(group) => {
                        let arn = group.db_cluster_parameter_group_arn().unwrap_or_default();
                        let tags = tags_of(rds, arn).await?;
                        Some((
                            owned(&tags, ctx.stack),
                            observe_parameter_group(id.clone(), group, Value::Null),
                        ))
                    }
                    None => None,
                };
                crate::adopt("DB cluster parameter group", id, existing)?;
            }
            Err(e) => {
                return Err(sdk(
                    &format!("create DB cluster parameter group {id} ({})", spec.name),
                    e,
                ));
            }
        }
        aws.follow_up(|| set_parameters(rds, &spec.name, spec))
            .await
            .map_err(|e| e.after_create(&spec.name))?;
        Ok(Observed::new(
            id.clone(),
            ResourceKind::DbClusterParameterGroup,
            &spec.name,
        ))
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let rds = &aws.clients.rds;
        // Parameters no longer listed go back to their defaults.
        let current = match live
            .fields
            .get(DbClusterParameterGroupSpec::PARAMETERS.name)
        {
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
        aws.retried(|| set_parameters(rds, &live.cloud_id, spec))
            .await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let rds = &aws.clients.rds;
        rds.delete_db_cluster_parameter_group()
            .db_cluster_parameter_group_name(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete DB cluster parameter group {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let rds = &aws.clients.rds;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_family_and_user_parameters() {
        let group = DbClusterParameterGroup::builder()
            .db_cluster_parameter_group_name("t-db")
            .db_parameter_group_family("aurora-mysql8.0")
            .description("mck t: Aurora cluster parameters")
            .build();
        let spec = DbClusterParameterGroupSpec {
            name: "t-db".into(),
            family: "aurora-mysql8.0".into(),
            description: "mck t: Aurora cluster parameters".into(),
            parameters: [("max_connections".to_string(), "500".to_string())].into(),
        };
        let parameters = Value::List(vec![Value::Str("max_connections=500".into())]);
        assert_reads(
            &observe_parameter_group("db.params".into(), &group, parameters),
            spec,
            &[],
        );
    }
}
