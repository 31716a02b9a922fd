//! Auto Scaling: the app servers' group (for `app.capacity: ec2`).

mod group;

use aws_sdk_autoscaling::Client;
use mck_core::provider::{Observed, ProviderError};

pub(crate) async fn read(asg: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    group::read(asg, stack).await
}
