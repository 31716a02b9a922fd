//! SNS: the topic the stack's alarms notify (found by its name, owned by its tags) and its
//! subscriptions (owned through the topic).

mod subscription;
mod topic;

use crate::driver::Listed;
use aws_sdk_sns::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::Topic, ResourceKind::Subscription];

pub(crate) async fn read(sns: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let topics = topic::read(sns, stack).await?;
    let subscriptions = subscription::read(sns, &topics).await?;
    Ok(Listed::default()
        .with(ResourceKind::Topic, topics)
        .with(ResourceKind::Subscription, subscriptions))
}
