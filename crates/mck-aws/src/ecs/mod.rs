//! ECS: the app cluster, its capacity provider (app servers), the apps' task definitions and
//! services.

mod capacity_provider;
mod cluster;
mod release_record;
mod release_task;
mod rollout;

pub(crate) use release_record::live as live_release;
mod service;
pub(crate) use service::redeploy;
mod task_definition;

pub(crate) use task_definition::{prune as prune_revisions, registered as registered_revisions};

use crate::driver::Listed;
use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::Tag;
use mck_core::model::LogicalId;
use mck_core::model::ResourceKind;
use mck_core::provider::{Context, ProviderError};

/// The create-call tags of `id`: `mck:stack`, `mck:id`, `Name` and the stack's tags.
fn tags(ctx: &Context<'_>, id: &LogicalId) -> Vec<Tag> {
    ctx.tags_for(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[
    ResourceKind::EcsCluster,
    ResourceKind::CapacityProvider,
    ResourceKind::TaskDefinition,
    ResourceKind::DbLogin,
    ResourceKind::Install,
    ResourceKind::ReleaseTask,
    ResourceKind::EcsService,
    ResourceKind::Maintenance,
    ResourceKind::ReleaseRecord,
];

pub(crate) async fn read(ecs: &Client, stack: &str) -> Result<Listed, ProviderError> {
    // The capacity provider's association comes from the cluster's read.
    let clusters_and_providers = async {
        let (clusters, on_cluster) = cluster::read(ecs, stack).await?;
        let providers = capacity_provider::read(ecs, stack, &on_cluster).await?;
        Ok::<_, ProviderError>((clusters, providers))
    };
    let ((clusters, providers), task_definitions, services) = tokio::try_join!(
        clusters_and_providers,
        task_definition::read(ecs, stack),
        service::read(ecs, stack)
    )?;
    Ok(Listed::default()
        // The release's records (migration, maintenance, release) are tags of the cluster.
        .with_kinds(
            &[
                ResourceKind::EcsCluster,
                ResourceKind::DbLogin,
                ResourceKind::Install,
                ResourceKind::ReleaseTask,
                ResourceKind::Maintenance,
                ResourceKind::ReleaseRecord,
            ],
            clusters,
        )
        .with(ResourceKind::CapacityProvider, providers)
        .with(ResourceKind::TaskDefinition, task_definitions)
        .with(ResourceKind::EcsService, services))
}
