//! Auto Scaling: the app servers' group (for `app.capacity: ec2`).

mod group;

use aws_sdk_autoscaling::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::{Observed, ProviderError};

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[ResourceKind::AutoScalingGroup];

pub(crate) async fn read(asg: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    group::read(asg, stack).await
}
