//! Auto Scaling: the app servers' group (for `app.capacity: ec2`).

mod group;

use crate::driver::Listed;
use aws_sdk_autoscaling::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::AutoScalingGroup];

pub(crate) async fn read(asg: &Client, stack: &str) -> Result<Listed, ProviderError> {
    Ok(Listed::default().with(
        ResourceKind::AutoScalingGroup,
        group::read(asg, stack).await?,
    ))
}
