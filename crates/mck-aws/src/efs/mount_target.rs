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
    o
}

pub(super) async fn read_mount_targets(
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
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let efs = &aws.efs;
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

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let efs = &aws.efs;
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
        let efs = &aws.efs;
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
        let efs = &aws.efs;
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
}
