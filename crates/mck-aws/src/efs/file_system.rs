use super::*;

/// `backup` comes from DescribeBackupPolicy, which only the full read calls.
pub(super) fn observe_file_system(
    id: LogicalId,
    fs: &FileSystemDescription,
    region: &str,
    backup: Option<bool>,
) -> Observed {
    let fs_id = fs.file_system_id();
    let mut o = Observed::new(id, ResourceKind::FileSystem, fs_id)
        .with(FileSystemSpec::CREATION_TOKEN, fs.creation_token())
        .with(FileSystemSpec::ENCRYPTED, fs.encrypted().unwrap_or(false))
        .with(
            FileSystemSpec::PERFORMANCE_MODE,
            fs.performance_mode().as_str(),
        )
        .output(
            FileSystemSpec::OUT_DNS_NAME,
            format!("{fs_id}.efs.{region}.amazonaws.com"),
        );
    if let Some(arn) = fs.file_system_arn() {
        o = o.output(FileSystemSpec::OUT_ARN, arn);
    }
    if let Some(backup) = backup {
        o = o.with(FileSystemSpec::BACKUP, backup);
    }
    if let Some(size) = fs.size_in_bytes() {
        o = o.output(
            mck_core::provider::OUT_DATA,
            format!("{} stored", human_bytes(size.value())),
        );
    }
    if *fs.life_cycle_state() == LifeCycleState::Creating {
        o = o.pending("creating");
    }
    o
}

/// `1.5 GB`: sizes as people read them (decimal units, as the AWS console shows EFS sizes).
pub(super) fn human_bytes(bytes: i64) -> String {
    let units = ["bytes", "kB", "MB", "GB", "TB", "PB"];
    #[expect(
        clippy::cast_precision_loss,
        reason = "a size for people, rounded to 0.1"
    )]
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < units.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}

pub(super) async fn backup_enabled(efs: &Client, fs_id: &str) -> Result<bool, ProviderError> {
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

pub(super) async fn describe_file_system(
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

impl Driver for FileSystemSpec {
    const READ_BY: ServiceRead = ServiceRead::Efs;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let efs = &aws.clients.efs;
        let region = aws.clients.region.as_str();
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
                let mut o =
                    Observed::new(id.clone(), ResourceKind::FileSystem, out.file_system_id())
                        .with(FileSystemSpec::CREATION_TOKEN, out.creation_token())
                        .with(FileSystemSpec::ENCRYPTED, out.encrypted().unwrap_or(false))
                        .with(
                            FileSystemSpec::PERFORMANCE_MODE,
                            out.performance_mode().as_str(),
                        )
                        .output(
                            FileSystemSpec::OUT_DNS_NAME,
                            format!("{}.efs.{region}.amazonaws.com", out.file_system_id()),
                        );
                o = o.with(FileSystemSpec::BACKUP, spec.backup);
                Ok(o)
            }
            // The creation token makes a retried create answer "already exists": adopt it.
            Err(e) if e.code() == Some("FileSystemAlreadyExists") => {
                let out = efs
                    .describe_file_systems()
                    .creation_token(&spec.creation_token)
                    .send()
                    .await
                    .map_err(|e| {
                        sdk(&format!("find EFS file system {}", spec.creation_token), e)
                    })?;
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

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let efs = &aws.clients.efs;
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

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let efs = &aws.clients.efs;
        efs.delete_file_system()
            .file_system_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete EFS file system {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let efs = &aws.clients.efs;
        let region = aws.clients.region.as_str();
        Ok(match describe_file_system(efs, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(fs) => readiness(fs.life_cycle_state(), || {
                observe_file_system(live.id.clone(), &fs, region, None)
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(6_144), "6.1 kB");
        assert_eq!(human_bytes(12_500_000_000), "12.5 GB");
    }
    use crate::testing::assert_reads;

    #[test]
    fn reads_every_field_and_the_dns_name() {
        let fs = FileSystemDescription::builder()
            .owner_id("123456789012")
            .creation_token("t-efs")
            .file_system_id("fs-1")
            .creation_time(aws_smithy_types::DateTime::from_secs(0))
            .life_cycle_state(LifeCycleState::Available)
            .number_of_mount_targets(3)
            .size_in_bytes(
                aws_sdk_efs::types::FileSystemSize::builder()
                    .value(6144)
                    .build(),
            )
            .performance_mode(PerformanceMode::GeneralPurpose)
            .encrypted(true)
            .set_tags(Some(Vec::new()))
            .build()
            .unwrap();
        let spec = FileSystemSpec {
            creation_token: "t-efs".into(),
            encrypted: true,
            performance_mode: "generalPurpose".into(),
            backup: true,
        };
        let observed = observe_file_system("efs".into(), &fs, "us-east-1", Some(true));
        assert_reads(&observed, spec, &[]);
        assert_eq!(
            observed.outputs["dns_name"],
            "fs-1.efs.us-east-1.amazonaws.com"
        );
    }
}
