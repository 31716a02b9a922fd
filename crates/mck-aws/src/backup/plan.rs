//! The stack's backup plan `mck-<stack>`, with one rule. Found by its name in ListBackupPlans,
//! owned by its tags; GetBackupPlan gives the rule. UpdateBackupPlan makes a new version.

use aws_sdk_backup::Client;
use aws_sdk_backup::error::ProvideErrorMetadata;
use aws_sdk_backup::types::{BackupPlanInput, BackupRule, BackupRuleInput, Lifecycle};
use mck_core::model::{BackupPlanSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

pub(super) fn observe(
    id: LogicalId,
    plan_id: &str,
    arn: &str,
    name: &str,
    rules: &[BackupRule],
) -> Observed {
    // mck's plans have one rule; another (added by hand) reads as a different rule.
    let rule = match rules {
        [rule] => BackupPlanSpec::rule_row(
            rule.rule_name(),
            rule.schedule_expression().unwrap_or_default(),
            rule.lifecycle()
                .and_then(Lifecycle::delete_after_days)
                .unwrap_or(0),
            Value::CloudId(rule.target_backup_vault_name().to_string()),
        ),
        rules => Value::List(rules.iter().map(|r| Value::from(r.rule_name())).collect()),
    };
    Observed::new(id, ResourceKind::BackupPlan, plan_id)
        .with(BackupPlanSpec::NAME, name)
        .with(BackupPlanSpec::RULE, rule)
        .output(BackupPlanSpec::OUT_ARN, arn)
}

/// The plans of `name` that are not deleted: (id, ARN).
async fn find(backup: &Client, name: &str) -> Result<Vec<(String, String)>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = backup.list_backup_plans().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list backup plans", e))?;
        out.extend(
            page.backup_plans_list()
                .iter()
                .filter(|p| p.backup_plan_name() == Some(name) && p.deletion_date().is_none())
                .filter_map(|p| {
                    Some((
                        p.backup_plan_id()?.to_string(),
                        p.backup_plan_arn()?.to_string(),
                    ))
                }),
        );
    }
    Ok(out)
}

/// The plan `plan_id` read in full, or `None` once it is deleted.
async fn get(
    backup: &Client,
    id: LogicalId,
    plan_id: &str,
) -> Result<Option<Observed>, ProviderError> {
    match backup
        .get_backup_plan()
        .backup_plan_id(plan_id)
        .send()
        .await
    {
        Ok(out) if out.deletion_date().is_none() => Ok(out.backup_plan().map(|plan| {
            observe(
                id,
                plan_id,
                out.backup_plan_arn().unwrap_or_default(),
                plan.backup_plan_name(),
                plan.rules(),
            )
        })),
        Ok(_) => Ok(None),
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sdk(&format!("read backup plan {plan_id}"), e)),
    }
}

pub(super) async fn read(backup: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    for (plan_id, arn) in find(backup, &BackupPlanSpec::name(stack)).await? {
        if let Some(id) = super::owner(backup, &arn, stack).await?
            && let Some(observed) = get(backup, id, &plan_id).await?
        {
            out.push(observed);
        }
    }
    Ok(out)
}

fn plan_input(ctx: &Context<'_>, spec: &BackupPlanSpec) -> Result<BackupPlanInput, ProviderError> {
    let vault = ctx.cloud_id(spec.vault.id())?;
    let rule = BackupRuleInput::builder()
        .rule_name(&spec.rule)
        .target_backup_vault_name(vault)
        .schedule_expression(&spec.schedule)
        .lifecycle(
            Lifecycle::builder()
                .delete_after_days(spec.keep_days)
                .build(),
        )
        .build()
        .map_err(|e| ProviderError::invalid(e.to_string()))?;
    BackupPlanInput::builder()
        .backup_plan_name(&spec.name)
        .rules(rule)
        .build()
        .map_err(|e| ProviderError::invalid(e.to_string()))
}

impl Driver for BackupPlanSpec {
    const READ_BY: ServiceRead = ServiceRead::Backup;

    /// With a CreatorRequestId, a create repeated after a lost answer returns the first plan;
    /// a plan of the name refused as existing is adopted when its tags say it is this one.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let backup = &aws.clients.backup;
        let token = crate::ec2::client_token(ctx, id, &[&spec.name]);
        match backup
            .create_backup_plan()
            .backup_plan(plan_input(ctx, spec)?)
            .set_backup_plan_tags(Some(super::tags(ctx, id)))
            .creator_request_id(token)
            .send()
            .await
        {
            Ok(out) => {
                let plan_id = out.backup_plan_id().unwrap_or_default();
                get(backup, id.clone(), plan_id).await?.ok_or_else(|| {
                    ProviderError::new(
                        ErrorClass::Transient,
                        format!("backup plan {plan_id} is not readable yet"),
                    )
                    .after_create(plan_id)
                })
            }
            Err(e) if e.code() == Some("AlreadyExistsException") => {
                let mut found = None;
                for (plan_id, arn) in find(backup, &spec.name).await? {
                    let owner = super::owner(backup, &arn, ctx.stack).await?;
                    if let Some(observed) = get(backup, id.clone(), &plan_id).await? {
                        found = Some((owner, observed));
                        break;
                    }
                }
                crate::adopt("backup plan", id, found)
            }
            Err(e) => Err(sdk(&format!("create backup plan {}", spec.name), e)),
        }
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let backup = &aws.clients.backup;
        backup
            .update_backup_plan()
            .backup_plan_id(&live.cloud_id)
            .backup_plan(plan_input(ctx, spec)?)
            .send()
            .await
            .map_err(|e| sdk(&format!("update backup plan {}", spec.name), e))?;
        get(backup, live.id.clone(), &live.cloud_id)
            .await?
            .ok_or_else(|| {
                ProviderError::new(
                    ErrorClass::NotFound,
                    format!("backup plan {} is gone", live.cloud_id),
                )
            })
    }

    /// AWS deletes a plan only once its selections are gone (`InvalidRequestException`);
    /// mck deletes the selection first, and a refusal while AWS still lists it is retried.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        match aws
            .clients
            .backup
            .delete_backup_plan()
            .backup_plan_id(&live.cloud_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
            Err(e) if e.code() == Some("InvalidRequestException") => Err(ProviderError::new(
                ErrorClass::DependencyViolation,
                format!(
                    "backup plan {} still has selections: {}",
                    live.cloud_id,
                    e.message().unwrap_or("in use")
                ),
            )
            .with_code("InvalidRequestException")),
            Err(e) => Err(sdk(&format!("delete backup plan {}", live.cloud_id), e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(
            match get(&aws.clients.backup, live.id.clone(), &live.cloud_id).await? {
                Some(observed) => Readiness::Ready(observed),
                None => Readiness::Gone,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Replay, assert_reads, context, json_error};
    use mck_core::model::Ref;

    fn rule() -> BackupRule {
        BackupRule::builder()
            .rule_name("every-6h")
            .target_backup_vault_name("mck-prod")
            .schedule_expression("cron(0 */6 ? * * *)")
            .lifecycle(Lifecycle::builder().delete_after_days(14).build())
            .build()
            .expect("a rule")
    }

    #[test]
    fn reads_the_rule_schedule_retention_and_vault() {
        assert_reads(
            &observe(
                LogicalId::new(BackupPlanSpec::ID),
                "p-1",
                "arn:aws:backup:us-east-1:123456789012:backup-plan:p-1",
                "mck-prod",
                &[rule()],
            ),
            BackupPlanSpec {
                name: "mck-prod".into(),
                rule: "every-6h".into(),
                schedule: "cron(0 */6 ? * * *)".into(),
                keep_days: 14,
                vault: Ref::new(mck_core::model::BackupVaultSpec::ID),
            },
            &[("backup.vault", "mck-prod")],
        );
    }

    /// A new schedule or retention is one UpdateBackupPlan of the plan (a new version), with
    /// the whole rule, and the plan read back.
    #[tokio::test]
    async fn a_new_schedule_updates_the_plan_in_place() {
        let got = serde_json::json!({
            "BackupPlanId": "p-1",
            "BackupPlanArn": "arn:aws:backup:us-east-1:123456789012:backup-plan:p-1",
            "VersionId": "v2",
            "BackupPlan": {"BackupPlanName": "mck-t", "Rules": [{
                "RuleName": "every-12h", "TargetBackupVaultName": "mck-t",
                "ScheduleExpression": "cron(0 */12 ? * * *)", "Lifecycle": {"DeleteAfterDays": 30}
            }]}
        });
        let replay = Replay::new([
            (
                "POST /backup/plans/p-1",
                200,
                serde_json::json!({"BackupPlanId": "p-1", "VersionId": "v2"}).to_string(),
            ),
            ("GET /backup/plans/p-1", 200, got.to_string()),
        ]);
        let aws = AwsProvider::offline(replay.clone());
        let vault = Observed::new(
            LogicalId::new(mck_core::model::BackupVaultSpec::ID),
            ResourceKind::BackupVault,
            "mck-t",
        );
        let resolved = [(vault.id.clone(), vault)].into_iter().collect();
        let spec = BackupPlanSpec {
            name: "mck-t".into(),
            rule: BackupPlanSpec::rule_name(12),
            schedule: BackupPlanSpec::schedule(12),
            keep_days: 30,
            vault: Ref::new(mck_core::model::BackupVaultSpec::ID),
        };
        let live = Observed::new(
            LogicalId::new(BackupPlanSpec::ID),
            ResourceKind::BackupPlan,
            "p-1",
        );
        let updated = BackupPlanSpec::update(&aws, &context(&resolved), &spec, &live, &["rule"])
            .await
            .expect("updated");
        replay.assert_done();
        let body = &replay.requests()[0].1;
        let sent: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(
            sent["BackupPlan"]["Rules"][0]["ScheduleExpression"],
            "cron(0 */12 ? * * *)"
        );
        assert_eq!(
            sent["BackupPlan"]["Rules"][0]["Lifecycle"]["DeleteAfterDays"],
            30
        );
        assert_eq!(
            sent["BackupPlan"]["Rules"][0]["TargetBackupVaultName"],
            "mck-t"
        );
        assert_eq!(
            updated.fields.get(BackupPlanSpec::RULE.name),
            Some(&BackupPlanSpec::rule_row(
                "every-12h",
                "cron(0 */12 ? * * *)",
                30,
                Value::CloudId("mck-t".into())
            ))
        );
    }

    /// The selection may still be listed for a moment after its delete: the plan's delete
    /// is then refused, which is a dependency to wait for, not a failure.
    #[tokio::test]
    async fn a_plan_refused_while_its_selection_goes_is_retried() {
        let replay = Replay::new([(
            "DELETE /backup/plans/p-1",
            400,
            json_error(
                "InvalidRequestException",
                "Related backup plan selections must be deleted prior to backup plan deletion",
            ),
        )]);
        let aws = AwsProvider::offline(replay.clone());
        let live = Observed::new(
            LogicalId::new(BackupPlanSpec::ID),
            ResourceKind::BackupPlan,
            "p-1",
        );
        let err = BackupPlanSpec::delete(&aws, &live)
            .await
            .expect_err("refused");
        assert_eq!(err.class, ErrorClass::DependencyViolation);
        replay.assert_done();
    }
}
