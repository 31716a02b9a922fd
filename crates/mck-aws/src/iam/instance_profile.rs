//! The app servers' instance profile `<stack>-app-server` under `/mck/<stack>/` (the path is
//! the ownership, as for roles), holding the app servers' role.

use aws_sdk_iam::Client;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{InstanceProfile, Tag};
use mck_core::model::{InstanceProfileSpec, LogicalId, ResourceKind, RoleSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// `iam.profile.<x>` for `<stack>-<x>` under the stack's path.
fn owned(profile: &InstanceProfile, stack: &str) -> Option<LogicalId> {
    if profile.path() != RoleSpec::path(stack) {
        return None;
    }
    let suffix = profile
        .instance_profile_name()
        .strip_prefix(&format!("{stack}-"))?;
    Some(LogicalId::new(format!("iam.profile.{suffix}")))
}

pub(super) fn observe(id: LogicalId, profile: &InstanceProfile) -> Observed {
    let name = profile.instance_profile_name();
    Observed::new(id, ResourceKind::InstanceProfile, name)
        .with(InstanceProfileSpec::NAME, name)
        .with(
            InstanceProfileSpec::ROLE,
            profile.roles().first().map_or(Value::Null, |r| {
                Value::CloudRef(ResourceKind::Role, r.role_name().to_string())
            }),
        )
        .output(InstanceProfileSpec::OUT_NAME, name)
        .output(InstanceProfileSpec::OUT_ARN, profile.arn())
}

pub(super) async fn read(iam: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = iam
        .list_instance_profiles()
        .path_prefix(RoleSpec::path(stack))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list instance profiles", e))?;
        for profile in page.instance_profiles() {
            if let Some(id) = owned(profile, stack) {
                out.push(observe(id, profile));
            }
        }
    }
    Ok(out)
}

async fn get(iam: &Client, name: &str) -> Result<Option<InstanceProfile>, ProviderError> {
    match iam
        .get_instance_profile()
        .instance_profile_name(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.instance_profile().cloned()),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(sdk(&format!("read instance profile {name}"), e)),
    }
}

impl Driver for InstanceProfileSpec {
    const READ_BY: ServiceRead = ServiceRead::Iam;

    /// Create, then add the role (retried on its own: IAM is eventually consistent). A
    /// profile of the name already there (a lost answer) is taken over when it is on the
    /// stack's path.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let role = ctx.cloud_id(spec.role.id())?.to_string();
        // A profile of the name: ours (a lost answer) is adopted, another's refused; one that
        // IAM does not show yet (it lags the create) is worth retrying.
        let adopt = |existing: Option<InstanceProfile>| {
            crate::adopt_found("instance profile", id, existing, |profile| {
                (owned(profile, ctx.stack), observe(id.clone(), profile))
            })
        };
        let existing = get(&aws.clients.iam, &spec.name).await?;
        let profile = match existing {
            Some(profile) => adopt(Some(profile))?,
            None => {
                let tags: Vec<Tag> = ctx
                    .tags_for(id)
                    .into_iter()
                    .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
                    .collect();
                let out = aws
                    .clients
                    .iam
                    .create_instance_profile()
                    .instance_profile_name(&spec.name)
                    .path(RoleSpec::path(ctx.stack))
                    .set_tags(Some(tags))
                    .send()
                    .await;
                match out {
                    Ok(out) => out.instance_profile().cloned().ok_or_else(|| {
                        ProviderError::invalid("create instance profile returned nothing")
                    })?,
                    // An SDK retry of a create that took effect, or a name taken meanwhile.
                    Err(e) if e.code() == Some("EntityAlreadyExists") => {
                        adopt(get(&aws.clients.iam, &spec.name).await?)?
                    }
                    Err(e) => return Err(sdk(&format!("create instance profile {id}"), e)),
                }
            }
        };
        if profile.roles().iter().all(|r| r.role_name() != role) {
            aws.follow_up(|| async {
                aws.clients
                    .iam
                    .add_role_to_instance_profile()
                    .instance_profile_name(&spec.name)
                    .role_name(&role)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("add role {role} to {id}"), e))
            })
            .await
            .map_err(|e| e.after_create(&spec.name))?;
        }
        Ok(observe(id.clone(), &profile).with(
            InstanceProfileSpec::ROLE,
            Value::CloudRef(ResourceKind::Role, role),
        ))
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        _live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(ResourceKind::InstanceProfile))
    }

    /// Remove the role first (IAM refuses to delete a profile that has one), then delete.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let Some(profile) = get(&aws.clients.iam, &live.cloud_id).await? else {
            return Err(crate::missing("instance profile", &live.cloud_id));
        };
        for role in profile.roles() {
            match aws
                .clients
                .iam
                .remove_role_from_instance_profile()
                .instance_profile_name(&live.cloud_id)
                .role_name(role.role_name())
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == Some("NoSuchEntity") => {}
                Err(e) => return Err(sdk(&format!("remove the role of {}", live.id), e)),
            }
        }
        aws.clients
            .iam
            .delete_instance_profile()
            .instance_profile_name(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete instance profile {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match get(&aws.clients.iam, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(p) => Readiness::Ready(observe(live.id.clone(), &p)),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_iam::types::Role;
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_name_and_role_and_owns_by_path() {
        let role = Role::builder()
            .role_name("dev-app-server")
            .path("/mck/dev/")
            .role_id("r")
            .arn("arn:aws:iam::1:role/mck/dev/dev-app-server")
            .create_date(aws_sdk_iam::primitives::DateTime::from_secs(0))
            .build()
            .unwrap();
        let profile = InstanceProfile::builder()
            .instance_profile_name("dev-app-server")
            .path("/mck/dev/")
            .instance_profile_id("p")
            .arn("arn:aws:iam::1:instance-profile/mck/dev/dev-app-server")
            .create_date(aws_sdk_iam::primitives::DateTime::from_secs(0))
            .roles(role)
            .build()
            .unwrap();
        let id = owned(&profile, "dev").unwrap();
        assert_eq!(id.as_str(), "iam.profile.app-server");
        assert_eq!(owned(&profile, "dev-2"), None);
        assert_reads(
            &observe(id, &profile),
            InstanceProfileSpec {
                name: "dev-app-server".into(),
                role: Ref::new("iam.app-server"),
            },
            &[("iam.app-server", "dev-app-server")],
        );
    }

    /// IAM is eventually consistent: adding the role right after the profile was created may
    /// answer NoSuchEntity for a while. The add is retried on its own, never the create.
    /// `t-app-server` on the stack's path, without a role, as IAM answers it.
    const PROFILE_XML: &str = "<InstanceProfile><Path>/mck/t/</Path><InstanceProfileName>t-app-server</InstanceProfileName><InstanceProfileId>AIPA1</InstanceProfileId><Arn>arn:aws:iam::1:instance-profile/mck/t/t-app-server</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate><Roles></Roles></InstanceProfile>";

    #[tokio::test]
    async fn adding_the_role_right_after_create_waits_for_the_new_profile() {
        use crate::testing::{Replay, context, query_error_xml, query_xml};
        let profile = PROFILE_XML;
        let aws = Replay::new([
            (
                "GetInstanceProfile",
                404,
                query_error_xml(
                    "NoSuchEntity",
                    "Instance Profile t-app-server cannot be found.",
                ),
            ),
            (
                "CreateInstanceProfile",
                200,
                query_xml("CreateInstanceProfile", profile),
            ),
            (
                "AddRoleToInstanceProfile",
                404,
                query_error_xml(
                    "NoSuchEntity",
                    "Instance Profile t-app-server cannot be found.",
                ),
            ),
            (
                "AddRoleToInstanceProfile",
                200,
                query_xml("AddRoleToInstanceProfile", ""),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = [(
            LogicalId::new("iam.app-server"),
            Observed::new("iam.app-server".into(), ResourceKind::Role, "t-app-server"),
        )]
        .into_iter()
        .collect();
        let spec = InstanceProfileSpec {
            name: "t-app-server".into(),
            role: Ref::new("iam.app-server"),
        };
        let created = InstanceProfileSpec::create(
            &provider,
            &context(&deps),
            &"iam.profile.app-server".into(),
            &spec,
        )
        .await
        .unwrap();
        assert_eq!(created.cloud_id, "t-app-server");
        assert_eq!(
            created.fields[InstanceProfileSpec::ROLE.name],
            Value::CloudRef(ResourceKind::Role, "t-app-server".into())
        );
        aws.assert_done();
        assert_eq!(aws.count("CreateInstanceProfile"), 1);
    }

    /// The SDK retried a CreateInstanceProfile whose first attempt took effect: the retry's
    /// EntityAlreadyExists reads the profile and, on the stack's path, adopts it; IAM not
    /// showing it yet is retried.
    #[tokio::test]
    async fn entity_already_exists_after_a_retried_create_adopts_our_profile() {
        use crate::testing::{Replay, context, query_error_xml, query_xml};
        let profile = PROFILE_XML;
        let missing = || {
            query_error_xml(
                "NoSuchEntity",
                "Instance Profile t-app-server cannot be found.",
            )
        };
        let exists = || {
            query_error_xml(
                "EntityAlreadyExists",
                "Instance Profile t-app-server already exists.",
            )
        };
        let aws = Replay::new([
            ("GetInstanceProfile", 404, missing()),
            ("CreateInstanceProfile", 409, exists()),
            ("GetInstanceProfile", 404, missing()),
            ("GetInstanceProfile", 404, missing()),
            ("CreateInstanceProfile", 409, exists()),
            (
                "GetInstanceProfile",
                200,
                query_xml("GetInstanceProfile", profile),
            ),
            (
                "AddRoleToInstanceProfile",
                200,
                query_xml("AddRoleToInstanceProfile", ""),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = [(
            LogicalId::new("iam.app-server"),
            Observed::new("iam.app-server".into(), ResourceKind::Role, "t-app-server"),
        )]
        .into_iter()
        .collect();
        let spec = InstanceProfileSpec {
            name: "t-app-server".into(),
            role: Ref::new("iam.app-server"),
        };
        let ctx = context(&deps);
        let id = LogicalId::new("iam.profile.app-server");
        // Not visible yet: transient, so the engine tries again.
        let err = InstanceProfileSpec::create(&provider, &ctx, &id, &spec)
            .await
            .unwrap_err();
        assert_eq!(
            err.class,
            mck_core::provider::ErrorClass::Transient,
            "{}",
            err.message
        );
        let adopted = InstanceProfileSpec::create(&provider, &ctx, &id, &spec)
            .await
            .unwrap();
        assert_eq!(adopted.cloud_id, "t-app-server");
        aws.assert_done();
    }
}
