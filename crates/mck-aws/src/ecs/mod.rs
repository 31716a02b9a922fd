//! ECS: the app cluster and the apps' task definitions (services follow).

mod cluster;
mod task_definition;

use aws_sdk_ecs::Client;
use mck_core::provider::{Observed, ProviderError};

pub(crate) async fn read(ecs: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let (clusters, task_definitions) =
        tokio::try_join!(cluster::read(ecs, stack), task_definition::read(ecs, stack))?;
    Ok(clusters.into_iter().chain(task_definitions).collect())
}
