use super::*;

pub(super) async fn observe_mount_target(
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
    Ok(observe(id, mt, groups.security_groups()))
}

/// A mount target and its security groups (a separate call) as the model's fields.
pub(super) fn observe(id: LogicalId, mt: &MountTargetDescription, groups: &[String]) -> Observed {
    let mut sgs: Vec<Value> = groups.iter().map(|g| Value::CloudId(g.clone())).collect();
    sgs.sort();
    let mut o = Observed::new(id, ResourceKind::MountTarget, mt.mount_target_id())
        .with(
            MountTargetSpec::FILE_SYSTEM_ID,
            Value::CloudId(mt.file_system_id().to_string()),
        )
        .with(
            MountTargetSpec::SUBNET_ID,
            Value::CloudId(mt.subnet_id().to_string()),
        )
        .with(MountTargetSpec::SECURITY_GROUPS, Value::List(sgs));
    if let Some(ip) = mt.ip_address() {
        o = o.output(MountTargetSpec::OUT_IP_ADDRESS, ip);
    }
    if *mt.life_cycle_state() == LifeCycleState::Creating {
        o = o.pending("creating");
    }
    o
}

pub(super) async fn read_mount_targets(
    efs: &Client,
    fs: &LogicalId,
    fs_id: &str,
) -> Result<Vec<Observed>, ProviderError> {
    // Every page: DescribeMountTargets answers 10 per page by default.
    let mut mount_targets = Vec::new();
    let mut pages = efs
        .describe_mount_targets()
        .file_system_id(fs_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list mount targets of {fs_id}"), e))?;
        mount_targets.extend(page.mount_targets().iter().cloned());
    }
    let mut observed = Vec::new();
    for mt in mount_targets
        .iter()
        .filter(|mt| !is_gone(mt.life_cycle_state()))
    {
        let zone = mt.availability_zone_name().unwrap_or_default();
        observed.push(observe_mount_target(efs, mount_target_id(fs, zone), mt).await?);
    }
    Ok(observed)
}

/// Whether the conflicting mount target is in a subnet other than `subnet`.
fn existing_is_elsewhere(
    found: &aws_sdk_efs::operation::describe_mount_targets::DescribeMountTargetsOutput,
    subnet: &str,
) -> bool {
    !found.mount_targets().is_empty()
        && found
            .mount_targets()
            .iter()
            .all(|mt| mt.subnet_id() != subnet)
}

pub(super) async fn describe_mount_target(
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

impl Driver for MountTargetSpec {
    const READ_BY: ServiceRead = ServiceRead::Efs;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let efs = &aws.clients.efs;
        let groups = ctx.cloud_ids(&spec.security_groups)?;
        let fs_id = ctx.cloud_id(spec.file_system.id())?;
        let subnet = ctx.cloud_id(spec.subnet.id())?;
        let out = match efs
            .create_mount_target()
            .file_system_id(fs_id)
            .subnet_id(subnet)
            .set_security_groups(Some(groups))
            .send()
            .await
        {
            Ok(out) => out,
            // The zone already has a mount target of this file system (a create whose answer
            // was lost): it is ours if it is in our subnet, mount targets being owned by their
            // file system.
            Err(e) if e.code() == Some("MountTargetConflict") => {
                let found = efs
                    .describe_mount_targets()
                    .file_system_id(fs_id)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("list mount targets of {fs_id}"), e))?;
                let existing = found
                    .mount_targets()
                    .iter()
                    .find(|mt| mt.subnet_id() == subnet);
                let existing = match existing {
                    Some(mt) => Some((
                        Some(id.clone()),
                        observe_mount_target(efs, id.clone(), mt).await?,
                    )),
                    None => None,
                };
                return crate::adopt("mount target", id, existing).map_err(|err| {
                    if existing_is_elsewhere(&found, subnet) {
                        ProviderError::invalid(format!(
                            "{id}: file system {fs_id} already has a mount target in this zone, in another subnet; remove it or move {id} to that subnet"
                        ))
                    } else {
                        err
                    }
                });
            }
            Err(e) => return Err(sdk(&format!("create mount target {id}"), e)),
        };
        Ok(Observed::new(
            id.clone(),
            ResourceKind::MountTarget,
            out.mount_target_id(),
        ))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let efs = &aws.clients.efs;
        let groups = ctx.cloud_ids(&spec.security_groups)?;
        efs.modify_mount_target_security_groups()
            .mount_target_id(&live.cloud_id)
            .set_security_groups(Some(groups))
            .send()
            .await
            .map_err(|e| sdk(&format!("set security groups of {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let efs = &aws.clients.efs;
        efs.delete_mount_target()
            .mount_target_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete mount target {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let efs = &aws.clients.efs;
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
}

#[cfg(test)]
mod tests {
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_file_system_subnet_and_security_groups() {
        let mt = MountTargetDescription::builder()
            .mount_target_id("fsmt-1")
            .file_system_id("fs-1")
            .subnet_id("subnet-1")
            .life_cycle_state(LifeCycleState::Available)
            .ip_address("10.0.4.10")
            .build()
            .unwrap();
        let spec = MountTargetSpec {
            file_system: Ref::new("efs"),
            subnet: Ref::new("subnet.private.a"),
            security_groups: vec![Ref::new("sg.efs")],
        };
        let ids = [
            ("efs", "fs-1"),
            ("subnet.private.a", "subnet-1"),
            ("sg.efs", "sg-efs"),
        ];
        let observed = observe("efs.mount.a".into(), &mt, &["sg-efs".to_string()]);
        assert_reads(&observed, spec, &ids);
        assert_eq!(observed.outputs["ip_address"], "10.0.4.10");
    }

    #[tokio::test]
    async fn a_mount_target_already_in_our_subnet_is_adopted() {
        use std::collections::HashMap;

        use crate::testing::Replay;

        let aws = Replay::new([
            (
                "POST /2015-02-01/mount-targets",
                409,
                r#"{"__type":"MountTargetConflict","ErrorCode":"MountTargetConflict","Message":"mount target already exists in this AZ"}"#.to_string(),
            ),
            (
                "GET /2015-02-01/mount-targets",
                200,
                r#"{"MountTargets":[{"MountTargetId":"fsmt-1","FileSystemId":"fs-1","SubnetId":"subnet-1","LifeCycleState":"available"}]}"#.to_string(),
            ),
            (
                "GET /2015-02-01/mount-targets/fsmt-1/security-groups",
                200,
                r#"{"SecurityGroups":["sg-efs"]}"#.to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::from([
            (
                LogicalId::from("efs"),
                Observed::new("efs".into(), ResourceKind::FileSystem, "fs-1"),
            ),
            (
                LogicalId::from("subnet.private.a"),
                Observed::new("subnet.private.a".into(), ResourceKind::Subnet, "subnet-1"),
            ),
            (
                LogicalId::from("sg.efs"),
                Observed::new("sg.efs".into(), ResourceKind::SecurityGroup, "sg-efs"),
            ),
        ]);
        let spec = MountTargetSpec {
            file_system: Ref::new("efs"),
            subnet: Ref::new("subnet.private.a"),
            security_groups: vec![Ref::new("sg.efs")],
        };
        let adopted = MountTargetSpec::create(
            &provider,
            &crate::testing::context(&resolved),
            &"efs.mount.a".into(),
            &spec,
        )
        .await
        .unwrap();
        assert_eq!(adopted.cloud_id, "fsmt-1");
        aws.assert_done();
    }
}
