//! EFS: the encrypted file system, one mount target per zone, access points per share.
//!
//! The file system and access points carry tags; mount targets cannot, and belong to the stack
//! by being in its file system: their logical id is `<fs>.mount.<zone letter>`.

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

/// File systems, then (per owned file system) mount targets and access points.
pub(crate) async fn read(
    efs: &Client,
    stack: &str,
    region: &str,
) -> Result<Vec<Observed>, ProviderError> {
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
    let mut out = Vec::new();
    for (id, fs) in &systems {
        let backup = backup_enabled(efs, fs.file_system_id()).await?;
        out.push(observe_file_system(id.clone(), fs, region, Some(backup)));
        let (mounts, points) = tokio::try_join!(
            read_mount_targets(efs, id, fs.file_system_id()),
            read_access_points(efs, stack, fs.file_system_id())
        )?;
        out.extend(mounts);
        out.extend(points);
    }
    Ok(out)
}

// --- file system ----------------------------------------------------------------------------

/// `backup` comes from DescribeBackupPolicy, which only the full read calls.
fn observe_file_system(
    id: LogicalId,
    fs: &FileSystemDescription,
    region: &str,
    backup: Option<bool>,
) -> Observed {
    let fs_id = fs.file_system_id();
    let mut o = Observed::new(id, ResourceKind::FileSystem, fs_id)
        .with("creation_token", fs.creation_token())
        .with("encrypted", fs.encrypted().unwrap_or(false))
        .with("performance_mode", fs.performance_mode().as_str())
        .output("dns_name", format!("{fs_id}.efs.{region}.amazonaws.com"));
    if let Some(backup) = backup {
        o = o.with("backup", backup);
    }
    o
}

async fn backup_enabled(efs: &Client, fs_id: &str) -> Result<bool, ProviderError> {
    match efs
        .describe_backup_policy()
        .file_system_id(fs_id)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .backup_policy()
            .is_some_and(|p| matches!(p.status(), Status::Enabled | Status::Enabling))),
        Err(e) if e.code() == Some("PolicyNotFound") => Ok(false),
        Err(e) => Err(sdk(&format!("read backup policy of {fs_id}"), e)),
    }
}

async fn describe_file_system(
    efs: &Client,
    fs_id: &str,
) -> Result<Option<FileSystemDescription>, ProviderError> {
    match efs
        .describe_file_systems()
        .file_system_id(fs_id)
        .send()
        .await
    {
        Ok(out) => Ok(out.file_systems().first().cloned()),
        Err(e) if e.code() == Some("FileSystemNotFound") => Ok(None),
        Err(e) => Err(sdk(&format!("describe EFS file system {fs_id}"), e)),
    }
}

pub(crate) async fn create_file_system(
    efs: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &FileSystemSpec,
    region: &str,
) -> Result<Observed, ProviderError> {
    let result = efs
        .create_file_system()
        .creation_token(&spec.creation_token)
        .encrypted(spec.encrypted)
        .performance_mode(PerformanceMode::from(spec.performance_mode.as_str()))
        // Backup is set at creation (PutBackupPolicy is only needed to change it later).
        .backup(spec.backup)
        .set_tags(Some(tags(ctx, id)))
        .send()
        .await;
    match result {
        Ok(out) => {
            let mut o = Observed::new(id.clone(), ResourceKind::FileSystem, out.file_system_id())
                .with("creation_token", out.creation_token())
                .with("encrypted", out.encrypted().unwrap_or(false))
                .with("performance_mode", out.performance_mode().as_str())
                .output(
                    "dns_name",
                    format!("{}.efs.{region}.amazonaws.com", out.file_system_id()),
                );
            o = o.with("backup", spec.backup);
            Ok(o)
        }
        // The creation token makes a retried create answer "already exists": adopt it.
        Err(e) if e.code() == Some("FileSystemAlreadyExists") => {
            let out = efs
                .describe_file_systems()
                .creation_token(&spec.creation_token)
                .send()
                .await
                .map_err(|e| sdk(&format!("find EFS file system {}", spec.creation_token), e))?;
            match out.file_systems().first() {
                Some(fs) if owned(fs.tags(), ctx.stack).as_ref() == Some(id) => {
                    Ok(observe_file_system(id.clone(), fs, region, None))
                }
                _ => Err(ProviderError::invalid(format!(
                    "an EFS file system with creation token {} exists but is not {id} of stack {}",
                    spec.creation_token, ctx.stack
                ))),
            }
        }
        Err(e) => Err(sdk(&format!("create EFS file system {id}"), e)),
    }
}

pub(crate) async fn update_file_system(
    efs: &Client,
    spec: &FileSystemSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    let status = if spec.backup {
        Status::Enabled
    } else {
        Status::Disabled
    };
    efs.put_backup_policy()
        .file_system_id(&live.cloud_id)
        .backup_policy(
            BackupPolicy::builder()
                .status(status)
                .build()
                .map_err(|e| ProviderError::invalid(e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| sdk(&format!("set backup policy of {}", live.id), e))?;
    Ok(live.clone())
}

pub(crate) async fn delete_file_system(efs: &Client, live: &Observed) -> Result<(), ProviderError> {
    efs.delete_file_system()
        .file_system_id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete EFS file system {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_file_system(
    efs: &Client,
    live: &Observed,
    region: &str,
) -> Result<Readiness, ProviderError> {
    Ok(match describe_file_system(efs, &live.cloud_id).await? {
        None => Readiness::Gone,
        Some(fs) => readiness(fs.life_cycle_state(), || {
            observe_file_system(live.id.clone(), &fs, region, None)
        }),
    })
}

// --- mount targets --------------------------------------------------------------------------

async fn observe_mount_target(
    efs: &Client,
    id: LogicalId,
    mt: &MountTargetDescription,
) -> Result<Observed, ProviderError> {
    let mt_id = mt.mount_target_id();
    let groups = efs
        .describe_mount_target_security_groups()
        .mount_target_id(mt_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("read security groups of mount target {mt_id}"), e))?;
    let mut sgs: Vec<Value> = groups
        .security_groups()
        .iter()
        .map(|g| Value::CloudId(g.clone()))
        .collect();
    sgs.sort();
    let mut o = Observed::new(id, ResourceKind::MountTarget, mt_id)
        .with(
            "file_system_id",
            Value::CloudId(mt.file_system_id().to_string()),
        )
        .with("subnet_id", Value::CloudId(mt.subnet_id().to_string()))
        .with("security_groups", Value::List(sgs));
    if let Some(ip) = mt.ip_address() {
        o = o.output("ip_address", ip);
    }
    Ok(o)
}

async fn read_mount_targets(
    efs: &Client,
    fs: &LogicalId,
    fs_id: &str,
) -> Result<Vec<Observed>, ProviderError> {
    let out = efs
        .describe_mount_targets()
        .file_system_id(fs_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("list mount targets of {fs_id}"), e))?;
    let mut observed = Vec::new();
    for mt in out
        .mount_targets()
        .iter()
        .filter(|mt| !is_gone(mt.life_cycle_state()))
    {
        let zone = mt.availability_zone_name().unwrap_or_default();
        observed.push(observe_mount_target(efs, mount_target_id(fs, zone), mt).await?);
    }
    Ok(observed)
}

async fn describe_mount_target(
    efs: &Client,
    mt_id: &str,
) -> Result<Option<MountTargetDescription>, ProviderError> {
    match efs
        .describe_mount_targets()
        .mount_target_id(mt_id)
        .send()
        .await
    {
        Ok(out) => Ok(out.mount_targets().first().cloned()),
        Err(e) if e.code() == Some("MountTargetNotFound") => Ok(None),
        Err(e) => Err(sdk(&format!("describe mount target {mt_id}"), e)),
    }
}

pub(crate) async fn create_mount_target(
    efs: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &MountTargetSpec,
) -> Result<Observed, ProviderError> {
    let groups = ctx.cloud_ids(&spec.security_groups)?;
    let out = efs
        .create_mount_target()
        .file_system_id(ctx.cloud_id(spec.file_system.id())?)
        .subnet_id(ctx.cloud_id(spec.subnet.id())?)
        .set_security_groups(Some(groups))
        .send()
        .await
        .map_err(|e| sdk(&format!("create mount target {id}"), e))?;
    Ok(Observed::new(
        id.clone(),
        ResourceKind::MountTarget,
        out.mount_target_id(),
    ))
}

pub(crate) async fn update_mount_target(
    efs: &Client,
    ctx: &Context<'_>,
    spec: &MountTargetSpec,
    live: &Observed,
) -> Result<Observed, ProviderError> {
    let groups = ctx.cloud_ids(&spec.security_groups)?;
    efs.modify_mount_target_security_groups()
        .mount_target_id(&live.cloud_id)
        .set_security_groups(Some(groups))
        .send()
        .await
        .map_err(|e| sdk(&format!("set security groups of {}", live.id), e))?;
    Ok(live.clone())
}

pub(crate) async fn delete_mount_target(
    efs: &Client,
    live: &Observed,
) -> Result<(), ProviderError> {
    efs.delete_mount_target()
        .mount_target_id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete mount target {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_mount_target(
    efs: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
    let Some(mt) = describe_mount_target(efs, &live.cloud_id).await? else {
        return Ok(Readiness::Gone);
    };
    if *mt.life_cycle_state() == LifeCycleState::Available {
        return Ok(Readiness::Ready(
            observe_mount_target(efs, live.id.clone(), &mt).await?,
        ));
    }
    Ok(readiness(mt.life_cycle_state(), || live.clone()))
}

// --- access points --------------------------------------------------------------------------

fn observe_access_point(id: LogicalId, ap: &AccessPointDescription) -> Observed {
    let root = ap.root_directory();
    let creation = root.and_then(|r| r.creation_info());
    Observed::new(
        id,
        ResourceKind::AccessPoint,
        ap.access_point_id().unwrap_or_default(),
    )
    .with(
        "file_system_id",
        Value::CloudId(ap.file_system_id().unwrap_or_default().to_string()),
    )
    .with("path", root.and_then(|r| r.path()).unwrap_or("/"))
    .with(
        "posix_uid",
        ap.posix_user().map_or(Value::Null, |p| Value::Int(p.uid())),
    )
    .with(
        "posix_gid",
        ap.posix_user().map_or(Value::Null, |p| Value::Int(p.gid())),
    )
    .with("permissions", creation.map(|c| c.permissions().to_string()))
    .output("arn", ap.access_point_arn().unwrap_or_default())
}

async fn read_access_points(
    efs: &Client,
    stack: &str,
    fs_id: &str,
) -> Result<Vec<Observed>, ProviderError> {
    let out = efs
        .describe_access_points()
        .file_system_id(fs_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("list access points of {fs_id}"), e))?;
    Ok(out
        .access_points()
        .iter()
        .filter(|ap| ap.life_cycle_state().is_none_or(|s| !is_gone(s)))
        .filter_map(|ap| Some(observe_access_point(owned(ap.tags(), stack)?, ap)))
        .collect())
}

pub(crate) async fn create_access_point(
    efs: &Client,
    ctx: &Context<'_>,
    id: &LogicalId,
    spec: &AccessPointSpec,
) -> Result<Observed, ProviderError> {
    let invalid = |e: aws_sdk_efs::error::BuildError| {
        ProviderError::invalid(format!("access point {id}: {e}"))
    };
    let fs_id = ctx.cloud_id(spec.file_system.id())?;
    let out = efs
        .create_access_point()
        .client_token(
            format!("{}-{}", ctx.stack, id)
                .chars()
                .take(64)
                .collect::<String>(),
        )
        .file_system_id(fs_id)
        .posix_user(
            PosixUser::builder()
                .uid(spec.uid)
                .gid(spec.gid)
                .build()
                .map_err(invalid)?,
        )
        .root_directory(
            RootDirectory::builder()
                .path(&spec.path)
                .creation_info(
                    CreationInfo::builder()
                        .owner_uid(spec.uid)
                        .owner_gid(spec.gid)
                        .permissions(&spec.permissions)
                        .build()
                        .map_err(invalid)?,
                )
                .build(),
        )
        .set_tags(Some(tags(ctx, id)))
        .send()
        .await
        .map_err(|e| sdk(&format!("create access point {id}"), e))?;
    Ok(Observed::new(
        id.clone(),
        ResourceKind::AccessPoint,
        out.access_point_id().unwrap_or_default(),
    ))
}

pub(crate) async fn delete_access_point(
    efs: &Client,
    live: &Observed,
) -> Result<(), ProviderError> {
    efs.delete_access_point()
        .access_point_id(&live.cloud_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("delete access point {}", live.id), e))?;
    Ok(())
}

pub(crate) async fn poll_access_point(
    efs: &Client,
    live: &Observed,
) -> Result<Readiness, ProviderError> {
    let out = match efs
        .describe_access_points()
        .access_point_id(&live.cloud_id)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e) if e.code() == Some("AccessPointNotFound") => return Ok(Readiness::Gone),
        Err(e) => return Err(sdk(&format!("describe access point {}", live.cloud_id), e)),
    };
    Ok(match out.access_points().first() {
        None => Readiness::Gone,
        Some(ap) => match ap.life_cycle_state() {
            Some(state) => readiness(state, || observe_access_point(live.id.clone(), ap)),
            None => Readiness::Ready(observe_access_point(live.id.clone(), ap)),
        },
    })
}
