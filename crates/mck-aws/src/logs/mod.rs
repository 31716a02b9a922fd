//! CloudWatch Logs: the apps' log groups, owned by their name `/mck/<stack>/<app>` (stack names
//! contain no `/`), so a read costs one paginated call and no tag reads.

mod log_group;

use crate::driver::Listed;
use aws_sdk_cloudwatchlogs::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::LogGroup];

pub(crate) async fn read(logs: &Client, stack: &str) -> Result<Listed, ProviderError> {
    Ok(Listed::default().with(ResourceKind::LogGroup, log_group::read(logs, stack).await?))
}
