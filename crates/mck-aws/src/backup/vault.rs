//! The stack's backup vault `mck-<stack>`. A vault's name is unique in the account and
//! region; AWS refuses to delete one that holds recovery points.

use aws_sdk_backup::Client;
use aws_sdk_backup::error::ProvideErrorMetadata;
use mck_core::model::{BackupVaultSpec, LogicalId, ResourceKind};
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

pub(super) fn observe(id: LogicalId, name: &str, arn: &str, recovery_points: i64) -> Observed {
    Observed::new(id, ResourceKind::BackupVault, name)
        .with(BackupVaultSpec::NAME, name)
        .output(BackupVaultSpec::OUT_ARN, arn)
        .output(
            BackupVaultSpec::OUT_RECOVERY_POINTS,
            recovery_points.to_string(),
        )
        .output(
            mck_core::provider::OUT_DATA,
            format!("{recovery_points} recovery point(s)"),
        )
}

/// The vault of `name`: (ARN, recovery points).
async fn find(backup: &Client, name: &str) -> Result<Option<(String, i64)>, ProviderError> {
    let mut pages = backup.list_backup_vaults().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list backup vaults", e))?;
        if let Some(vault) = page
            .backup_vault_list()
            .iter()
            .find(|v| v.backup_vault_name() == Some(name))
        {
            return Ok(Some((
                vault.backup_vault_arn().unwrap_or_default().to_string(),
                vault.number_of_recovery_points(),
            )));
        }
    }
    Ok(None)
}

pub(super) async fn read(backup: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let name = BackupVaultSpec::name(stack);
    let Some((arn, points)) = find(backup, &name).await? else {
        return Ok(Vec::new());
    };
    Ok(match super::owner(backup, &arn, stack).await? {
        Some(id) => vec![observe(id, &name, &arn, points)],
        None => Vec::new(),
    })
}

impl Driver for BackupVaultSpec {
    const READ_BY: ServiceRead = ServiceRead::Backup;

    /// A vault of the name that exists already (a create repeated after a lost answer) is
    /// refused with `AlreadyExistsException`; it is adopted when its tags say it is this one.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let backup = &aws.clients.backup;
        match backup
            .create_backup_vault()
            .backup_vault_name(&spec.name)
            .set_backup_vault_tags(Some(super::tags(ctx, id)))
            .send()
            .await
        {
            Ok(out) => Ok(observe(
                id.clone(),
                &spec.name,
                out.backup_vault_arn().unwrap_or_default(),
                0,
            )),
            Err(e) if e.code() == Some("AlreadyExistsException") => {
                let found = match find(backup, &spec.name).await? {
                    Some((arn, points)) => Some((
                        super::owner(backup, &arn, ctx.stack).await?,
                        observe(id.clone(), &spec.name, &arn, points),
                    )),
                    None => None,
                };
                crate::adopt("backup vault", id, found)
            }
            Err(e) => Err(sdk(&format!("create backup vault {}", spec.name), e)),
        }
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        _live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(ResourceKind::BackupVault))
    }

    /// AWS deletes only an empty vault ("InvalidRequestException … vault is not empty"). The
    /// recovery points are the backups: mck never deletes them; the error says how to.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        match aws
            .clients
            .backup
            .delete_backup_vault()
            .backup_vault_name(&live.cloud_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("InvalidRequestException") => Err(ProviderError::new(
                ErrorClass::Invalid,
                format!(
                    "backup vault {} still holds recovery points ({}); mck does not delete \
                     backups. Delete them on purpose (`aws backup list-recovery-points-by-backup-vault \
                     --backup-vault-name {0}`, then `aws backup delete-recovery-point`) and run \
                     `mck down` again, or leave the vault",
                    live.cloud_id,
                    e.message().unwrap_or("not empty"),
                ),
            )
            .with_code("InvalidRequestException")),
            Err(e) => Err(sdk(&format!("delete backup vault {}", live.cloud_id), e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match find(&aws.clients.backup, &live.cloud_id).await? {
            Some((arn, points)) => {
                Readiness::Ready(observe(live.id.clone(), &live.cloud_id, &arn, points))
            }
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{Replay, assert_reads, json_error};

    #[test]
    fn reads_the_vault_by_its_name() {
        assert_reads(
            &observe(
                LogicalId::new(BackupVaultSpec::ID),
                "mck-prod",
                "arn:aws:backup:us-east-1:123456789012:backup-vault:mck-prod",
                3,
            ),
            BackupVaultSpec {
                name: "mck-prod".into(),
            },
            &[],
        );
    }

    /// AWS refuses to delete a vault with recovery points: `down` stops there, names the
    /// vault and says how to delete the backups, and never deletes them itself.
    #[tokio::test]
    async fn a_vault_with_backups_is_never_emptied_by_mck() {
        let replay = Replay::new([(
            "DELETE /backup-vaults/mck-prod",
            400,
            json_error(
                "InvalidRequestException",
                "Backup vault cannot be deleted because it contains recovery points",
            ),
        )]);
        let aws = AwsProvider::offline(replay.clone());
        let live = observe(LogicalId::new(BackupVaultSpec::ID), "mck-prod", "arn", 2);
        let err = BackupVaultSpec::delete(&aws, &live)
            .await
            .expect_err("a vault with backups is not deleted");
        assert_eq!(err.class, ErrorClass::Invalid);
        assert!(err.message.contains("mck-prod"), "{err}");
        assert!(err.message.contains("delete-recovery-point"), "{err}");
        replay.assert_done();
    }
}
