//! ECS: the app cluster (task definitions and services follow).

mod cluster;

use aws_sdk_ecs::Client;
use mck_core::provider::{Observed, ProviderError};

pub(crate) async fn read(ecs: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    cluster::read(ecs, stack).await
}
