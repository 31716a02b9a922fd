//! CloudWatch Logs: the apps' log groups, owned by their name `/mck/<stack>/<app>` (stack names
//! contain no `/`), so a read costs one paginated call and no tag reads.

mod log_group;

use aws_sdk_cloudwatchlogs::Client;
use mck_core::provider::{Observed, ProviderError};

pub(crate) async fn read(logs: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    log_group::read(logs, stack).await
}
