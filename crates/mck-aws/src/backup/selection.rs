//! The plan's selection `mck-<stack>`: the ARNs it backs up and the role it uses. AWS has no
//! update of a selection (a change is a replace). Its cloud id is `<plan id>/<selection id>`.

use aws_sdk_backup::Client;
use aws_sdk_backup::error::ProvideErrorMetadata;
use aws_sdk_backup::types::BackupSelection;
use mck_core::model::{BackupPlanSpec, BackupSelectionSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

pub(super) fn observe(
    id: LogicalId,
    plan_id: &str,
    selection_id: &str,
    selection: &BackupSelection,
) -> Observed {
    let mut resources: Vec<Value> = selection
        .resources()
        .iter()
        .map(|r| Value::from(r.as_str()))
        .collect();
    resources.sort();
    Observed::new(
        id,
        ResourceKind::BackupSelection,
        BackupSelectionSpec::cloud_id(plan_id, selection_id),
    )
    .with(BackupSelectionSpec::NAME, selection.selection_name())
    .with(
        BackupSelectionSpec::PLAN,
        Value::CloudId(plan_id.to_string()),
    )
    .with(BackupSelectionSpec::ROLE_ARN, selection.iam_role_arn())
    .with(BackupSelectionSpec::RESOURCES, Value::List(resources))
}

/// The selection of `name` in the plan, by id.
async fn find(backup: &Client, plan_id: &str, name: &str) -> Result<Option<String>, ProviderError> {
    let mut pages = backup
        .list_backup_selections()
        .backup_plan_id(plan_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            // The plan is gone, and its selections with it.
            Err(e) if e.code() == Some("ResourceNotFoundException") => return Ok(None),
            Err(e) => {
                return Err(sdk(
                    &format!("list the selections of backup plan {plan_id}"),
                    e,
                ));
            }
        };
        if let Some(found) = page
            .backup_selections_list()
            .iter()
            .find(|s| s.selection_name() == Some(name))
            .and_then(|s| s.selection_id())
        {
            return Ok(Some(found.to_string()));
        }
    }
    Ok(None)
}

/// The selection read in full, or `None` once it is gone.
async fn get(
    backup: &Client,
    id: LogicalId,
    plan_id: &str,
    selection_id: &str,
) -> Result<Option<Observed>, ProviderError> {
    match backup
        .get_backup_selection()
        .backup_plan_id(plan_id)
        .selection_id(selection_id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .backup_selection()
            .map(|s| observe(id, plan_id, selection_id, s))),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sdk(&format!("read backup selection {selection_id}"), e)),
    }
}

/// The selection of each of the stack's plans (owned through the plan).
pub(super) async fn read(
    backup: &Client,
    plans: &[Observed],
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    for plan in plans {
        let Some(Value::Str(name)) = plan.fields.get(BackupPlanSpec::NAME.name) else {
            continue;
        };
        if let Some(selection_id) = find(backup, &plan.cloud_id, name).await?
            && let Some(observed) = get(
                backup,
                LogicalId::new(BackupSelectionSpec::ID),
                &plan.cloud_id,
                &selection_id,
            )
            .await?
        {
            out.push(observed);
        }
    }
    Ok(out)
}

/// (plan id, selection id) of a cloud id mck made.
fn ids(cloud_id: &str) -> Result<(&str, &str), ProviderError> {
    cloud_id.split_once('/').ok_or_else(|| {
        ProviderError::invalid(format!("`{cloud_id}` is not <plan id>/<selection id>"))
    })
}

impl Driver for BackupSelectionSpec {
    const READ_BY: ServiceRead = ServiceRead::Backup;

    /// A selection of the name already in the plan (a create repeated after a lost answer) is
    /// returned; otherwise the create carries a CreatorRequestId.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let backup = &aws.clients.backup;
        let plan_id = ctx.cloud_id(spec.plan.id())?;
        if let Some(selection_id) = find(backup, plan_id, &spec.name).await?
            && let Some(observed) = get(backup, id.clone(), plan_id, &selection_id).await?
        {
            return Ok(observed);
        }
        let role = ctx.output(spec.role.id(), mck_core::model::RoleSpec::OUT_ARN)?;
        let resources = spec
            .resources
            .iter()
            .map(|r| match ctx.resolve(r)? {
                Value::Str(arn) => Ok(arn),
                other => Err(ProviderError::invalid(format!(
                    "a backup selection's resource is not an ARN: {other:?}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let selection = BackupSelection::builder()
            .selection_name(&spec.name)
            .iam_role_arn(role)
            .set_resources(Some(resources))
            .build()
            .map_err(|e| ProviderError::invalid(e.to_string()))?;
        let token = crate::ec2::client_token(ctx, id, &[plan_id, &spec.name]);
        let out = backup
            .create_backup_selection()
            .backup_plan_id(plan_id)
            .backup_selection(selection.clone())
            .creator_request_id(token)
            .send()
            .await
            .map_err(|e| sdk(&format!("create backup selection {}", spec.name), e))?;
        let selection_id = out.selection_id().unwrap_or_default();
        Ok(observe(id.clone(), plan_id, selection_id, &selection))
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        _live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(ResourceKind::BackupSelection))
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let (plan_id, selection_id) = ids(&live.cloud_id)?;
        match aws
            .clients
            .backup
            .delete_backup_selection()
            .backup_plan_id(plan_id)
            .selection_id(selection_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) => Err(sdk(
                &format!("delete backup selection {}", live.cloud_id),
                e,
            )),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let (plan_id, selection_id) = ids(&live.cloud_id)?;
        Ok(
            match get(&aws.clients.backup, live.id.clone(), plan_id, selection_id).await? {
                Some(observed) => Readiness::Ready(observed),
                None => Readiness::Gone,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Replay, assert_reads, context};
    use mck_core::model::{DbClusterSpec, FileSystemSpec, Ref, kind};

    const FS: &str = "arn:aws:elasticfilesystem:us-east-1:123456789012:file-system/fs-1";
    const DB: &str = "arn:aws:rds:us-east-1:123456789012:cluster:prod-db";
    const ROLE: &str = "arn:aws:iam::123456789012:role/mck/prod/prod-backup";

    fn spec() -> BackupSelectionSpec {
        BackupSelectionSpec {
            name: "mck-prod".into(),
            plan: Ref::new(BackupPlanSpec::ID),
            role: Ref::new("iam.backup"),
            resources: vec![
                Ref::<kind::FileSystem>::new("efs").output(FileSystemSpec::OUT_ARN),
                Ref::<kind::DbCluster>::new("db.cluster").output(DbClusterSpec::OUT_ARN),
            ],
        }
    }

    fn selection() -> BackupSelection {
        BackupSelection::builder()
            .selection_name("mck-prod")
            .iam_role_arn(ROLE)
            .resources(DB)
            .resources(FS)
            .build()
            .expect("a selection")
    }

    #[test]
    fn reads_the_selected_arns_and_the_role() {
        assert_reads(
            &observe(
                LogicalId::new(BackupSelectionSpec::ID),
                "p-1",
                "s-1",
                &selection(),
            ),
            spec(),
            &[
                ("backup.plan", "p-1"),
                ("iam.backup.arn", ROLE),
                ("efs.arn", FS),
                ("db.cluster.arn", DB),
            ],
        );
    }

    /// A create repeated after a lost answer finds the selection the first one made in the
    /// plan (by its name) and makes no second one.
    #[tokio::test]
    async fn a_repeated_create_returns_the_first_selection() {
        let replay = Replay::new([
            (
                "GET /backup/plans/p-1/selections",
                200,
                serde_json::json!({"BackupSelectionsList": [
                    {"SelectionId": "s-1", "SelectionName": "mck-prod", "BackupPlanId": "p-1", "IamRoleArn": ROLE}
                ]})
                .to_string(),
            ),
            (
                "GET /backup/plans/p-1/selections/s-1",
                200,
                serde_json::json!({"BackupPlanId": "p-1", "SelectionId": "s-1", "BackupSelection": {
                    "SelectionName": "mck-prod", "IamRoleArn": ROLE, "Resources": [FS, DB]
                }})
                .to_string(),
            ),
        ]);
        let aws = AwsProvider::offline(replay.clone());
        let plan = Observed::new(
            LogicalId::new(BackupPlanSpec::ID),
            ResourceKind::BackupPlan,
            "p-1",
        );
        let resolved = [(plan.id.clone(), plan)].into_iter().collect();
        let ctx = context(&resolved);
        let id = LogicalId::new(BackupSelectionSpec::ID);
        let observed = BackupSelectionSpec::create(&aws, &ctx, &id, &spec())
            .await
            .expect("found");
        assert_eq!(observed.cloud_id, "p-1/s-1");
        replay.assert_done();
        assert!(
            !replay
                .requests()
                .iter()
                .any(|(name, _)| name.starts_with("PUT")),
            "no second selection is made"
        );
    }
}
