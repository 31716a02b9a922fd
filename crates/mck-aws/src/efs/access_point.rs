use super::*;

pub(super) fn observe_access_point(id: LogicalId, ap: &AccessPointDescription) -> Observed {
    let root = ap.root_directory();
    let creation = root.and_then(|r| r.creation_info());
    Observed::new(
        id,
        ResourceKind::AccessPoint,
        ap.access_point_id().unwrap_or_default(),
    )
    .with(
        AccessPointSpec::FILE_SYSTEM_ID,
        Value::CloudId(ap.file_system_id().unwrap_or_default().to_string()),
    )
    .with(
        AccessPointSpec::PATH,
        root.and_then(|r| r.path()).unwrap_or("/"),
    )
    .with(
        AccessPointSpec::POSIX_UID,
        ap.posix_user().map_or(Value::Null, |p| Value::Int(p.uid())),
    )
    .with(
        AccessPointSpec::POSIX_GID,
        ap.posix_user().map_or(Value::Null, |p| Value::Int(p.gid())),
    )
    .with(
        AccessPointSpec::PERMISSIONS,
        creation.map(|c| c.permissions().to_string()),
    )
    .output(
        AccessPointSpec::OUT_ARN,
        ap.access_point_arn().unwrap_or_default(),
    )
}

pub(super) async fn read_access_points(
    efs: &Client,
    stack: &str,
    fs_id: &str,
) -> Result<Vec<Observed>, ProviderError> {
    // Paginated: a file system may have up to 10,000 access points.
    let mut out = Vec::new();
    let mut pages = efs
        .describe_access_points()
        .file_system_id(fs_id)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list access points of {fs_id}"), e))?;
        out.extend(
            page.access_points()
                .iter()
                .filter(|ap| ap.life_cycle_state().is_none_or(|s| !is_gone(s)))
                .filter_map(|ap| Some(observe_access_point(owned(ap.tags(), stack)?, ap))),
        );
    }
    Ok(out)
}

impl Driver for AccessPointSpec {
    const READ_BY: ServiceRead = ServiceRead::Efs;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let efs = &aws.clients.efs;
        let invalid = |e: aws_sdk_efs::error::BuildError| {
            ProviderError::invalid(format!("access point {id}: {e}"))
        };
        let fs_id = ctx.cloud_id(spec.file_system.id())?;
        // The token covers every parameter and the hour, as EC2's do: a replacement (another
        // path or owner) gets a new token instead of AccessPointAlreadyExists.
        let (uid, gid) = (spec.uid.to_string(), spec.gid.to_string());
        let token =
            crate::ec2::client_token(ctx, id, &[fs_id, &spec.path, &uid, &gid, &spec.permissions]);
        let result = efs
            .create_access_point()
            .client_token(token)
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
            .await;
        let out = match result {
            Ok(out) => out,
            Err(e) if e.code() == Some("AccessPointAlreadyExists") => {
                let existing = read_access_points(efs, ctx.stack, fs_id)
                    .await?
                    .into_iter()
                    .find(|ap| &ap.id == id)
                    .map(|ap| (Some(id.clone()), ap));
                return crate::adopt("access point", id, existing);
            }
            Err(e) => return Err(sdk(&format!("create access point {id}"), e)),
        };
        Ok(Observed::new(
            id.clone(),
            ResourceKind::AccessPoint,
            out.access_point_id().unwrap_or_default(),
        ))
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(live.kind))
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let efs = &aws.clients.efs;
        efs.delete_access_point()
            .access_point_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete access point {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let efs = &aws.clients.efs;
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
}

#[cfg(test)]
mod tests {
    use aws_sdk_efs::types::{CreationInfo, PosixUser, RootDirectory};
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_path_owner_and_permissions() {
        let ap = AccessPointDescription::builder()
            .access_point_id("fsap-1")
            .access_point_arn("arn:aws:elasticfilesystem:us-east-1:1:access-point/fsap-1")
            .file_system_id("fs-1")
            .posix_user(PosixUser::builder().uid(33).gid(33).build().unwrap())
            .root_directory(
                RootDirectory::builder()
                    .path("/media")
                    .creation_info(
                        CreationInfo::builder()
                            .owner_uid(33)
                            .owner_gid(33)
                            .permissions("0755")
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build();
        let spec = AccessPointSpec {
            file_system: Ref::new("efs"),
            path: "/media".into(),
            uid: 33,
            gid: 33,
            permissions: "0755".into(),
        };
        assert_reads(
            &observe_access_point("efs.ap.media".into(), &ap),
            spec,
            &[("efs", "fs-1")],
        );
    }

    #[tokio::test]
    async fn every_page_of_access_points_is_read() {
        use crate::testing::Replay;

        let point = |id: &str| {
            format!(
                r#"{{"AccessPointId":"{id}","FileSystemId":"fs-1","LifeCycleState":"available","Tags":[{{"Key":"mck:stack","Value":"t"}},{{"Key":"mck:id","Value":"efs.ap.{id}"}}]}}"#
            )
        };
        let aws = Replay::new([
            (
                "GET /2015-02-01/access-points",
                200,
                format!(
                    r#"{{"AccessPoints":[{}],"NextToken":"page-2"}}"#,
                    point("media")
                ),
            ),
            (
                "GET /2015-02-01/access-points",
                200,
                format!(r#"{{"AccessPoints":[{}]}}"#, point("static")),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let read = read_access_points(&provider.clients.efs, "t", "fs-1")
            .await
            .unwrap();
        let ids: Vec<&str> = read.iter().map(|o| o.id.as_str()).collect();
        assert_eq!(ids, ["efs.ap.media", "efs.ap.static"]);
        aws.assert_done();
        assert!(
            aws.requests()[1].0.contains("NextToken=page-2"),
            "{:?}",
            aws.requests()
        );
    }
}
