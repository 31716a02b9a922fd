//! ECS: the app cluster, the apps' task definitions and services.

mod cluster;
mod service;
mod task_definition;

use aws_sdk_ecs::Client;
use mck_core::provider::{Observed, ProviderError};

pub(crate) async fn read(ecs: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let (clusters, task_definitions, services) = tokio::try_join!(
        cluster::read(ecs, stack),
        task_definition::read(ecs, stack),
        service::read(ecs, stack)
    )?;
    Ok(clusters
        .into_iter()
        .chain(task_definitions)
        .chain(services)
        .collect())
}
