//! CloudWatch: the stack's metric alarms (owned by their name `mck/<stack>/…`, stack names
//! contain no `/`) and its dashboard (`mck-<stack>`; dashboards cannot be tagged).

mod alarm;
mod dashboard;

use crate::driver::Listed;
use aws_sdk_cloudwatch::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

pub(crate) use alarm::alarms_in_alarm;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::Alarm, ResourceKind::Dashboard];

pub(crate) async fn read(cw: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let (alarms, dashboards) =
        tokio::try_join!(alarm::read(cw, stack), dashboard::read(cw, stack))?;
    Ok(Listed::default()
        .with(ResourceKind::Alarm, alarms)
        .with(ResourceKind::Dashboard, dashboards))
}
