//! Application Auto Scaling: the apps' services as scalable targets and their target-tracking
//! policies, owned by their resource id in the stack's cluster (`service/<stack>-app/…`).

mod policy;
mod target;

use crate::driver::Listed;
use aws_sdk_applicationautoscaling::Client;
use mck_core::model::ResourceKind;
use mck_core::provider::ProviderError;

pub(crate) use target::{resume_scale_in, suspend_scale_in};

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] =
    &[ResourceKind::ScalableTarget, ResourceKind::ScalingPolicy];

/// The stack's cluster, whose services' resource ids start `service/<cluster>/`.
fn cluster(stack: &str) -> String {
    format!("{stack}-app")
}

pub(crate) async fn read(scaling: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let (targets, policies) =
        tokio::try_join!(target::read(scaling, stack), policy::read(scaling, stack))?;
    Ok(Listed::default()
        .with(ResourceKind::ScalableTarget, targets)
        .with(ResourceKind::ScalingPolicy, policies))
}
