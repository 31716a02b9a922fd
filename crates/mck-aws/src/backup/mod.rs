//! AWS Backup: the stack's vault and plan (found by their name `mck-<stack>`, owned by their
//! tags) and the plan's selection (owned through the plan).

mod plan;
mod selection;
mod vault;

use std::collections::HashMap;

use aws_sdk_backup::Client;
use mck_core::model::{LogicalId, ResourceKind};
use mck_core::provider::{Context, ProviderError};

use crate::driver::Listed;
use crate::error::sdk;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[
    ResourceKind::BackupVault,
    ResourceKind::BackupPlan,
    ResourceKind::BackupSelection,
];

pub(crate) async fn read(backup: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let (vaults, plans) = tokio::try_join!(vault::read(backup, stack), plan::read(backup, stack))?;
    let selections = selection::read(backup, &plans).await?;
    Ok(Listed::default()
        .with(ResourceKind::BackupVault, vaults)
        .with(ResourceKind::BackupPlan, plans)
        .with(ResourceKind::BackupSelection, selections))
}

/// The logical id the tags of the vault or plan `arn` give it in `stack`.
async fn owner(
    backup: &Client,
    arn: &str,
    stack: &str,
) -> Result<Option<LogicalId>, ProviderError> {
    let tags = backup
        .list_tags()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read the tags of {arn}"), e))?;
    Ok(crate::owner(
        tags.tags()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str())),
        stack,
    ))
}

/// The tags of a new vault or plan.
fn tags(ctx: &Context<'_>, id: &LogicalId) -> HashMap<String, String> {
    ctx.tags_for(id).into_iter().collect()
}
