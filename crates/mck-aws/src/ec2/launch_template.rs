//! The app servers' launch template. A change makes a new version and sets it as the default,
//! which the Auto Scaling group launches from then on (running servers are not replaced).

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    LaunchTemplate, LaunchTemplateHttpTokensState,
    LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataOptionsRequest, LaunchTemplateVersion, RequestLaunchTemplateData,
    ResourceType,
};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use mck_core::model::{AmiSelector, LaunchTemplateSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{client_token, owned_id, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// A template with its default version, as the model's fields.
pub(super) fn observe(
    id: LogicalId,
    template: &LaunchTemplate,
    version: Option<&LaunchTemplateVersion>,
) -> Observed {
    let name = template.launch_template_name().unwrap_or_default();
    let data = version.and_then(|v| v.launch_template_data());
    let mut groups: Vec<Value> = data
        .map(|d| d.security_group_ids())
        .unwrap_or_default()
        .iter()
        .map(|g| Value::CloudId(g.clone()))
        .collect();
    groups.sort();
    let user_data = data
        .and_then(|d| d.user_data())
        .and_then(|u| aws_smithy_types::base64::decode(u).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    Observed::new(
        id,
        ResourceKind::LaunchTemplate,
        template.launch_template_id().unwrap_or_default(),
    )
    .with(LaunchTemplateSpec::NAME, name)
    .with(
        LaunchTemplateSpec::INSTANCE_TYPE,
        data.and_then(|d| d.instance_type())
            .map(|t| t.as_str().to_string()),
    )
    .with(
        LaunchTemplateSpec::AMI,
        data.and_then(|d| d.image_id()).map(str::to_string),
    )
    .with(LaunchTemplateSpec::SECURITY_GROUPS, Value::List(groups))
    .with(
        LaunchTemplateSpec::INSTANCE_PROFILE,
        data.and_then(|d| d.iam_instance_profile())
            .and_then(|p| p.name())
            .map(str::to_string),
    )
    .with(
        LaunchTemplateSpec::ECS_CLUSTER,
        LaunchTemplateSpec::cluster_of(&user_data).map(str::to_string),
    )
    .with(
        LaunchTemplateSpec::METADATA_HTTP_TOKENS,
        data.and_then(|d| d.metadata_options())
            .and_then(|m| m.http_tokens())
            .map(|t| t.as_str().to_string()),
    )
    .output(
        LaunchTemplateSpec::OUT_ID,
        template.launch_template_id().unwrap_or_default(),
    )
}

async fn default_version(
    ec2: &Client,
    template_id: &str,
) -> Result<Option<LaunchTemplateVersion>, ProviderError> {
    let out = ec2
        .describe_launch_template_versions()
        .launch_template_id(template_id)
        .versions("$Default")
        .send()
        .await
        .map_err(|e| sdk(&format!("read the default version of {template_id}"), e))?;
    Ok(out.launch_template_versions().first().cloned())
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let templates = owned_items(
        ec2.describe_launch_templates()
            .filters(stack_filter(stack))
            .into_paginator()
            .send(),
        "list launch templates",
        stack,
        |page| page.launch_templates().to_vec(),
        |t| t.tags(),
    )
    .await?;
    let mut out = Vec::new();
    for (id, template) in templates {
        let version =
            default_version(ec2, template.launch_template_id().unwrap_or_default()).await?;
        out.push(observe(id, &template, version.as_ref()));
    }
    Ok(out)
}

async fn by_name(ec2: &Client, name: &str) -> Result<Option<LaunchTemplate>, ProviderError> {
    match ec2
        .describe_launch_templates()
        .launch_template_names(name)
        .send()
        .await
    {
        Ok(out) => Ok(out.launch_templates().first().cloned()),
        Err(e) if e.code().is_some_and(|c| c.contains("NotFound")) => Ok(None),
        Err(e) => Err(sdk(&format!("find launch template {name}"), e)),
    }
}

/// The template's data; `image` is the AMI to launch.
fn data(
    ctx: &Context<'_>,
    spec: &LaunchTemplateSpec,
    image: &str,
) -> Result<RequestLaunchTemplateData, ProviderError> {
    let cluster = ctx.output(spec.cluster.id(), mck_core::model::EcsClusterSpec::OUT_NAME)?;
    let profile = ctx.output(
        spec.instance_profile.id(),
        mck_core::model::InstanceProfileSpec::OUT_NAME,
    )?;
    Ok(RequestLaunchTemplateData::builder()
        .image_id(image)
        .instance_type(spec.instance_type.as_str().into())
        .set_security_group_ids(Some(ctx.cloud_ids(&spec.security_groups)?))
        .iam_instance_profile(
            LaunchTemplateIamInstanceProfileSpecificationRequest::builder()
                .name(profile)
                .build(),
        )
        .user_data(aws_smithy_types::base64::encode(
            LaunchTemplateSpec::user_data(cluster),
        ))
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .build(),
        )
        .build())
}

/// The app servers' image.
const SERVERS_IMAGE: super::instance::ImageFor = super::instance::ImageFor {
    resource: "the app servers' launch template",
    key: "app.servers.ami",
};

impl Driver for LaunchTemplateSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    /// Read by name first: a template of the name (a lost answer) is adopted when its tags
    /// say it is ours, refused otherwise.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        if let Some(existing) = by_name(&aws.clients.ec2, &spec.name).await? {
            let version = default_version(
                &aws.clients.ec2,
                existing.launch_template_id().unwrap_or_default(),
            )
            .await?;
            let owner = owned_id(existing.tags(), ctx.stack);
            return crate::adopt(
                "launch template",
                id,
                Some((owner, observe(id.clone(), &existing, version.as_ref()))),
            );
        }
        let (image, _) =
            super::instance::resolve_ami(&aws.clients.ec2, &spec.ami, SERVERS_IMAGE).await?;
        let out = aws
            .clients
            .ec2
            .create_launch_template()
            .launch_template_name(&spec.name)
            .launch_template_data(data(ctx, spec, &image)?)
            .tag_specifications(tag_spec(ResourceType::LaunchTemplate, ctx, id))
            .client_token(client_token(
                ctx,
                id,
                &[&spec.name, &image, &spec.instance_type],
            ))
            .send()
            .await
            .map_err(|e| sdk(&format!("create launch template {id}"), e))?;
        let template = out
            .launch_template()
            .ok_or_else(|| ProviderError::invalid("create launch template returned nothing"))?;
        let version = default_version(
            &aws.clients.ec2,
            template.launch_template_id().unwrap_or_default(),
        )
        .await
        .unwrap_or(None);
        Ok(observe(id.clone(), template, version.as_ref()))
    }

    /// A new version with the stack's settings (the image stays the default version's unless
    /// the stack names one), made the default.
    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let image = match &spec.ami {
            AmiSelector::Id(image) => image.clone(),
            AmiSelector::Lookup { .. } => match live.fields.get(Self::AMI.name) {
                Some(Value::Str(image)) => image.clone(),
                _ => {
                    super::instance::resolve_ami(&aws.clients.ec2, &spec.ami, SERVERS_IMAGE)
                        .await?
                        .0
                }
            },
        };
        let out = aws
            .clients
            .ec2
            .create_launch_template_version()
            .launch_template_id(&live.cloud_id)
            .launch_template_data(data(ctx, spec, &image)?)
            .send()
            .await
            .map_err(|e| sdk(&format!("add a version to {}", live.id), e))?;
        let number = out
            .launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| {
                ProviderError::invalid("create launch template version returned no number")
            })?;
        aws.retried(|| async {
            aws.clients
                .ec2
                .modify_launch_template()
                .launch_template_id(&live.cloud_id)
                .default_version(number.to_string())
                .send()
                .await
                .map_err(|e| {
                    sdk(
                        &format!("make version {number} of {} the default", live.id),
                        e,
                    )
                })
        })
        .await?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .ec2
            .delete_launch_template()
            .launch_template_id(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete launch template {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let out = match aws
            .clients
            .ec2
            .describe_launch_templates()
            .launch_template_ids(&live.cloud_id)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.code().is_some_and(|c| c.contains("NotFound")) => {
                return Ok(Readiness::Gone);
            }
            Err(e) => return Err(sdk(&format!("describe launch template {}", live.id), e)),
        };
        let Some(template) = out.launch_templates().first() else {
            return Ok(Readiness::Gone);
        };
        let version = default_version(&aws.clients.ec2, &live.cloud_id).await?;
        Ok(Readiness::Ready(observe(
            live.id.clone(),
            template,
            version.as_ref(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        InstanceType, LaunchTemplateHttpTokensState as Tokens,
        LaunchTemplateIamInstanceProfileSpecification, LaunchTemplateInstanceMetadataOptions,
        ResponseLaunchTemplateData, Tag,
    };
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_the_default_version_and_the_cluster_from_the_user_data() {
        let template = LaunchTemplate::builder()
            .launch_template_id("lt-1")
            .launch_template_name("dev-app-server")
            .tags(Tag::builder().key("mck:stack").value("dev").build())
            .tags(
                Tag::builder()
                    .key("mck:id")
                    .value("ecs.servers.template")
                    .build(),
            )
            .build();
        let version = LaunchTemplateVersion::builder()
            .launch_template_data(
                ResponseLaunchTemplateData::builder()
                    .image_id("ami-ecs")
                    .instance_type(InstanceType::C5Large)
                    .security_group_ids("sg-app")
                    .iam_instance_profile(
                        LaunchTemplateIamInstanceProfileSpecification::builder()
                            .name("dev-app-server")
                            .build(),
                    )
                    .user_data(aws_smithy_types::base64::encode(
                        LaunchTemplateSpec::user_data("dev-app"),
                    ))
                    .metadata_options(
                        LaunchTemplateInstanceMetadataOptions::builder()
                            .http_tokens(Tokens::Required)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let id = owned_id(template.tags(), "dev").unwrap();
        let observed = observe(id, &template, Some(&version));
        assert_reads(
            &observed,
            LaunchTemplateSpec {
                name: "dev-app-server".into(),
                instance_type: "c5.large".into(),
                ami: AmiSelector::Id("ami-ecs".into()),
                security_groups: vec![Ref::new("sg.app")],
                instance_profile: Ref::new("iam.profile.app-server"),
                cluster: Ref::new("ecs.cluster"),
            },
            &[
                ("sg.app", "sg-app"),
                ("iam.profile.app-server.name", "dev-app-server"),
                ("ecs.cluster.name", "dev-app"),
            ],
        );
    }

    /// A change is a new version made the default (the group launches `$Default`); the image
    /// of the current default stays when the stack looks it up (a newer image must not roll
    /// the servers), and the new data names the cluster and profile.
    #[tokio::test]
    async fn an_update_adds_a_version_keeping_the_image_and_makes_it_the_default() {
        use crate::testing::{Replay, context, ec2_xml};
        let aws = Replay::new([
            (
                "CreateLaunchTemplateVersion",
                200,
                ec2_xml(
                    "CreateLaunchTemplateVersion",
                    "<launchTemplateVersion><launchTemplateId>lt-1</launchTemplateId><versionNumber>2</versionNumber></launchTemplateVersion>",
                ),
            ),
            (
                "ModifyLaunchTemplate",
                200,
                ec2_xml(
                    "ModifyLaunchTemplate",
                    "<launchTemplate><launchTemplateId>lt-1</launchTemplateId></launchTemplate>",
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = [
            Observed::new("sg.app".into(), ResourceKind::SecurityGroup, "sg-app"),
            Observed::new("ecs.cluster".into(), ResourceKind::EcsCluster, "t-app")
                .output("name", "t-app"),
            Observed::new(
                "iam.profile.app-server".into(),
                ResourceKind::InstanceProfile,
                "t-app-server",
            )
            .output("name", "t-app-server"),
        ]
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect();
        let spec = LaunchTemplateSpec {
            name: "t-app-server".into(),
            instance_type: "c5.xlarge".into(),
            ami: AmiSelector::Lookup {
                name_pattern: "al2023-ami-ecs-hvm-*".into(),
                owner: "591542846629".into(),
            },
            security_groups: vec![Ref::new("sg.app")],
            instance_profile: Ref::new("iam.profile.app-server"),
            cluster: Ref::new("ecs.cluster"),
        };
        let live = Observed::new(
            "ecs.servers.template".into(),
            ResourceKind::LaunchTemplate,
            "lt-1",
        )
        .with(LaunchTemplateSpec::AMI, "ami-running");
        LaunchTemplateSpec::update(
            &provider,
            &context(&deps),
            &spec,
            &live,
            &[LaunchTemplateSpec::INSTANCE_TYPE.name],
        )
        .await
        .unwrap();
        aws.assert_done();
        let requests = aws.requests();
        let version = &requests[0].1;
        for part in [
            "LaunchTemplateId=lt-1",
            "LaunchTemplateData.ImageId=ami-running",
            "LaunchTemplateData.InstanceType=c5.xlarge",
            "LaunchTemplateData.IamInstanceProfile.Name=t-app-server",
            "LaunchTemplateData.MetadataOptions.HttpTokens=required",
        ] {
            assert!(version.contains(part), "{part} not in {version}");
        }
        assert_eq!(
            aws.count("DescribeImages"),
            0,
            "the image was not looked up again"
        );
        assert!(
            requests[1].1.contains("DefaultVersion=2"),
            "{}",
            requests[1].1
        );
    }

    /// No image matches the lookup: the error names the app servers' launch template and the
    /// stack key that chooses another image, not the bastion's.
    #[tokio::test]
    async fn no_image_names_the_app_servers_and_their_stack_key() {
        use crate::testing::{Replay, context, ec2_xml};
        let aws = Replay::new([
            (
                "DescribeLaunchTemplates",
                200,
                ec2_xml("DescribeLaunchTemplates", "<launchTemplates/>"),
            ),
            (
                "DescribeImages",
                200,
                ec2_xml("DescribeImages", "<imagesSet/>"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = std::collections::HashMap::new();
        let spec = LaunchTemplateSpec {
            name: "t-app-server".into(),
            instance_type: "c5.large".into(),
            ami: AmiSelector::Lookup {
                name_pattern: "al2023-ami-ecs-hvm-*".into(),
                owner: "591542846629".into(),
            },
            security_groups: vec![Ref::new("sg.app")],
            instance_profile: Ref::new("iam.profile.app-server"),
            cluster: Ref::new("ecs.cluster"),
        };
        let err = LaunchTemplateSpec::create(
            &provider,
            &context(&deps),
            &"ecs.servers.template".into(),
            &spec,
        )
        .await
        .unwrap_err();
        aws.assert_done();
        assert_eq!(
            err.message,
            "found no image named al2023-ami-ecs-hvm-* owned by 591542846629 in this region for the app servers' launch template; set app.servers.ami.id to an image id, or app.servers.ami.name and app.servers.ami.owner to a lookup that finds one"
        );
        assert!(!err.message.contains("bastion"));
    }
}
