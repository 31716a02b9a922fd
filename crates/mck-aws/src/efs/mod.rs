//! EFS: the encrypted file system, one mount target per zone, access points per share.
//!
//! The file system and access points carry tags; mount targets cannot, and belong to the stack
//! by being in its file system: their logical id is `<fs>.mount.<zone letter>`.

mod access_point;
mod file_system;
mod mount_target;

use aws_sdk_efs::Client;
use aws_sdk_efs::error::ProvideErrorMetadata;
use aws_sdk_efs::types::{
    AccessPointDescription, BackupPolicy, CreationInfo, FileSystemDescription, LifeCycleState,
    MountTargetDescription, PerformanceMode, PosixUser, RootDirectory, Status, Tag,
};
use mck_core::model::{
    AccessPointSpec, FileSystemSpec, LogicalId, MountTargetSpec, ResourceKind, Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::Listed;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

fn tags(ctx: &Context<'_>, id: &LogicalId) -> Vec<Tag> {
    ctx.tags_for(id)
        .into_iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

fn owned(tags: &[Tag], stack: &str) -> Option<LogicalId> {
    crate::owner(tags.iter().map(|t| (t.key(), t.value())), stack)
}

/// `<fs>.mount.<zone letter>`.
pub fn mount_target_id(file_system: &LogicalId, zone: &str) -> LogicalId {
    LogicalId::new(format!(
        "{file_system}.mount.{}",
        mck_core::lower::zone_suffix(zone)
    ))
}

fn is_gone(state: &LifeCycleState) -> bool {
    matches!(state, LifeCycleState::Deleted | LifeCycleState::Deleting)
}

fn readiness(state: &LifeCycleState, ready: impl FnOnce() -> Observed) -> Readiness {
    match state {
        LifeCycleState::Available => Readiness::Ready(ready()),
        LifeCycleState::Deleted => Readiness::Gone,
        LifeCycleState::Error => Readiness::Failed("EFS reports an error state".into()),
        other => Readiness::Pending(other.as_str().to_string()),
    }
}

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[
    ResourceKind::FileSystem,
    ResourceKind::MountTarget,
    ResourceKind::AccessPoint,
];

/// File systems, then (per owned file system) mount targets and access points.
pub(crate) async fn read(efs: &Client, stack: &str, region: &str) -> Result<Listed, ProviderError> {
    let mut systems = Vec::new();
    let mut pages = efs.describe_file_systems().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list EFS file systems", e))?;
        systems.extend(
            page.file_systems()
                .iter()
                .filter(|fs| !is_gone(fs.life_cycle_state()))
                .filter_map(|fs| Some((owned(fs.tags(), stack)?, fs.clone()))),
        );
    }
    let (mut file_systems, mut mount_targets, mut access_points) =
        (Vec::new(), Vec::new(), Vec::new());
    for (id, fs) in &systems {
        let backup = backup_enabled(efs, fs.file_system_id()).await?;
        file_systems.push(observe_file_system(id.clone(), fs, region, Some(backup)));
        let (mounts, points) = tokio::try_join!(
            read_mount_targets(efs, id, fs.file_system_id()),
            read_access_points(efs, stack, fs.file_system_id())
        )?;
        mount_targets.extend(mounts);
        access_points.extend(points);
    }
    Ok(Listed::default()
        .with(ResourceKind::FileSystem, file_systems)
        .with(ResourceKind::MountTarget, mount_targets)
        .with(ResourceKind::AccessPoint, access_points))
}

use access_point::*;
use file_system::*;
use mount_target::*;
