//! Amazon MQ: the stack's RabbitMQ broker (`<stack>-mq`), read with one paginated ListBrokers
//! (names and states) and a DescribeBroker for each broker whose name starts with `<stack>-`
//! (its settings, endpoints and tags: ListBrokers has no tags and no tag filter); owners checked
//! by tags.

mod broker;

use crate::driver::Listed;
use aws_sdk_mq::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::MqBroker];

pub(crate) async fn read(mq: &Client, stack: &str) -> Result<Listed, ProviderError> {
    Ok(Listed::default().with(ResourceKind::MqBroker, broker::read(mq, stack).await?))
}
