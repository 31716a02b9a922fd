//! EC2 instances (the bastion): image looked up by name and owner at creation, IMDSv2 required,
//! encrypted root volume, tags on instance and volume in the run call.

use std::collections::HashMap;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, Instance, InstanceMetadataEndpointState,
    InstanceMetadataOptionsRequest, InstanceStateName, ResourceType, VolumeType,
};
use mck_core::model::{AmiSelector, InstanceSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{client_token, filter, owned_items, stack_filter, tag_spec};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// Root volume facts, read from DescribeVolumes (DescribeInstances does not carry them).
#[derive(Debug, Clone, Copy)]
struct RootVolume {
    size_gb: i64,
    encrypted: bool,
}

fn observe(id: LogicalId, instance: &Instance, root: Option<RootVolume>) -> Observed {
    let mut groups: Vec<Value> = instance
        .security_groups()
        .iter()
        .filter_map(|g| g.group_id())
        .map(|g| Value::CloudId(g.to_string()))
        .collect();
    groups.sort();
    let tokens = instance
        .metadata_options()
        .and_then(|m| m.http_tokens())
        .map(|t| t.as_str().to_string());
    let mut o = Observed::new(
        id,
        ResourceKind::Instance,
        instance.instance_id().unwrap_or_default(),
    )
    .with(
        InstanceSpec::SUBNET_ID,
        Value::CloudId(instance.subnet_id().unwrap_or_default().to_string()),
    )
    .with(
        InstanceSpec::INSTANCE_TYPE,
        instance
            .instance_type()
            .map(|t| t.as_str())
            .unwrap_or_default(),
    )
    .with(InstanceSpec::VPC_SECURITY_GROUP_IDS, Value::List(groups))
    .with(InstanceSpec::KEY_NAME, instance.key_name())
    .with(InstanceSpec::METADATA_HTTP_TOKENS, tokens)
    .with(InstanceSpec::AMI, instance.image_id().unwrap_or_default())
    .output(
        InstanceSpec::OUT_PRIVATE_IP,
        instance.private_ip_address().unwrap_or_default(),
    )
    .output(
        InstanceSpec::OUT_AMI,
        instance.image_id().unwrap_or_default(),
    );
    if let Some(ip) = instance.public_ip_address() {
        o = o.output(InstanceSpec::OUT_PUBLIC_IP, ip);
    }
    if let Some(root) = root {
        o = o
            .with(InstanceSpec::ROOT_VOLUME_SIZE, root.size_gb)
            .with(InstanceSpec::ROOT_VOLUME_ENCRYPTED, root.encrypted);
    }
    if instance.state().and_then(|s| s.name()) == Some(&InstanceStateName::Pending) {
        o = o.pending("pending");
    }
    o
}

fn is_live(instance: &Instance) -> bool {
    !matches!(
        instance.state().and_then(|s| s.name()),
        Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown) | None
    )
}

async fn root_volumes(
    ec2: &Client,
    instances: &[&Instance],
) -> Result<HashMap<String, RootVolume>, ProviderError> {
    let mut wanted: HashMap<String, String> = HashMap::new();
    for instance in instances {
        let root = instance.root_device_name().unwrap_or_default();
        if let Some(volume) = instance
            .block_device_mappings()
            .iter()
            .find(|m| m.device_name() == Some(root))
            .and_then(|m| m.ebs())
            .and_then(|e| e.volume_id())
        {
            wanted.insert(
                volume.to_string(),
                instance.instance_id().unwrap_or_default().to_string(),
            );
        }
    }
    if wanted.is_empty() {
        return Ok(HashMap::new());
    }
    let out = ec2
        .describe_volumes()
        .set_volume_ids(Some(wanted.keys().cloned().collect()))
        .send()
        .await
        .map_err(|e| sdk("read root volumes of instances", e))?;
    Ok(out
        .volumes()
        .iter()
        .filter_map(|v| {
            let instance = wanted.get(v.volume_id()?)?;
            Some((
                instance.clone(),
                RootVolume {
                    size_gb: i64::from(v.size().unwrap_or(0)),
                    encrypted: v.encrypted().unwrap_or(false),
                },
            ))
        })
        .collect())
}

pub(super) async fn read(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let pages = ec2
        .describe_instances()
        .filters(stack_filter(stack))
        .into_paginator()
        .send();
    let instances = owned_items(
        pages,
        "list instances",
        stack,
        |p| {
            p.reservations()
                .iter()
                .flat_map(|r| r.instances().iter().filter(|i| is_live(i)).cloned())
                .collect()
        },
        |i| i.tags(),
    )
    .await?;
    let refs: Vec<&Instance> = instances.iter().map(|(_, i)| i).collect();
    let roots = root_volumes(ec2, &refs).await?;
    Ok(instances
        .iter()
        .map(|(id, i)| {
            observe(
                id.clone(),
                i,
                roots.get(i.instance_id().unwrap_or_default()).copied(),
            )
        })
        .collect())
}

/// Who needs an image: the resource, in words, and the stack key that overrides the lookup.
#[derive(Clone, Copy, Debug)]
pub(super) struct ImageFor {
    /// The resource (`the bastion`).
    pub resource: &'static str,
    /// The stack key that sets its image (`bastion.ami`).
    pub key: &'static str,
}

/// The image to launch and its root device name; `user` says whose it is in the error.
pub(super) async fn resolve_ami(
    ec2: &Client,
    ami: &AmiSelector,
    user: ImageFor,
) -> Result<(String, String), ProviderError> {
    let mut call = ec2.describe_images().filters(filter("state", "available"));
    call = match ami {
        AmiSelector::Id(id) => call.image_ids(id),
        AmiSelector::Lookup {
            name_pattern,
            owner,
        } => call.owners(owner).filters(filter("name", name_pattern)),
    };
    let out = call
        .send()
        .await
        .map_err(|e| sdk(&format!("look up the image of {}", user.resource), e))?;
    let newest = out
        .images()
        .iter()
        .max_by(|a, b| a.creation_date().cmp(&b.creation_date()))
        .ok_or_else(|| no_image(ami, user))?;
    Ok((
        newest.image_id().unwrap_or_default().to_string(),
        newest.root_device_name().unwrap_or("/dev/sda1").to_string(),
    ))
}

/// No image matched: which one was looked for, for what, and the key that chooses another.
fn no_image(ami: &AmiSelector, user: ImageFor) -> ProviderError {
    let (what, fix) = match ami {
        AmiSelector::Id(id) => (
            format!("image {id} is not available in this region"),
            format!("set {}.id to an image of this region", user.key),
        ),
        AmiSelector::Lookup {
            name_pattern,
            owner,
        } => (
            format!("no image named {name_pattern} owned by {owner} in this region"),
            format!(
                "set {key}.id to an image id, or {key}.name and {key}.owner to a lookup that finds one",
                key = user.key
            ),
        ),
    };
    ProviderError::invalid(format!("found {what} for {}; {fix}", user.resource))
}

/// The bastion's image.
const BASTION_IMAGE: ImageFor = ImageFor {
    resource: "the bastion",
    key: "bastion.ami",
};

impl Driver for InstanceSpec {
    const READ_BY: ServiceRead = ServiceRead::Ec2;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let (image, root_device) = resolve_ami(ec2, &spec.ami, BASTION_IMAGE).await?;
        let subnet = ctx.cloud_id(spec.subnet.id())?;
        let groups = ctx.cloud_ids(&spec.security_groups)?;
        let root_size = crate::int32(spec.root_volume_gb, "root_volume_gb")?;
        // The token covers every parameter (AWS refuses a reused token with other parameters:
        // IdempotentParameterMismatch) and the instances it already returned dead: a token
        // whose instance was terminated replays that instance, so the next try mints a new one.
        let mut params: Vec<String> = vec![
            subnet.to_string(),
            image.clone(),
            spec.instance_type.clone(),
            groups.join(","),
            spec.key_name.clone().unwrap_or_default(),
            root_device.clone(),
            root_size.to_string(),
            spec.root_volume_encrypted.to_string(),
            spec.imdsv2_required.to_string(),
        ];
        params.extend(
            ctx.tags_for(id)
                .into_iter()
                .map(|(k, v)| format!("{k}={v}")),
        );
        for _ in 0..3 {
            let token_params: Vec<&str> = params.iter().map(String::as_str).collect();
            let out = ec2
                .run_instances()
                .image_id(&image)
                .instance_type(spec.instance_type.as_str().into())
                .min_count(1)
                .max_count(1)
                .subnet_id(subnet)
                .set_security_group_ids(Some(groups.clone()))
                .set_key_name(spec.key_name.clone())
                .metadata_options(
                    InstanceMetadataOptionsRequest::builder()
                        .http_tokens(if spec.imdsv2_required {
                            HttpTokensState::Required
                        } else {
                            HttpTokensState::Optional
                        })
                        .http_endpoint(InstanceMetadataEndpointState::Enabled)
                        .build(),
                )
                .block_device_mappings(
                    BlockDeviceMapping::builder()
                        .device_name(&root_device)
                        .ebs(
                            EbsBlockDevice::builder()
                                .volume_size(root_size)
                                .volume_type(VolumeType::Gp3)
                                .encrypted(spec.root_volume_encrypted)
                                .delete_on_termination(true)
                                .build(),
                        )
                        .build(),
                )
                .client_token(client_token(ctx, id, &token_params))
                .tag_specifications(tag_spec(ResourceType::Instance, ctx, id))
                .tag_specifications(tag_spec(ResourceType::Volume, ctx, id))
                .send()
                .await
                .map_err(|e| sdk(&format!("launch instance {id} ({})", spec.instance_type), e))?;
            let instance = out
                .instances()
                .first()
                .ok_or_else(|| ProviderError::invalid("run instances returned none"))?;
            let dead = matches!(
                instance.state().and_then(|s| s.name()),
                Some(InstanceStateName::Terminated | InstanceStateName::ShuttingDown)
            );
            if !dead {
                return Ok(observe(id.clone(), instance, None));
            }
            let dead = instance.instance_id().unwrap_or_default();
            tracing::debug!(
                instance = dead,
                "the client token replayed a terminated instance"
            );
            params.push(format!("after:{dead}"));
        }
        Err(ProviderError::invalid(format!(
            "launching {id} kept returning terminated instances; try again later"
        )))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let ec2 = &aws.clients.ec2;
        if InstanceSpec::VPC_SECURITY_GROUP_IDS.is_in(fields) {
            let groups = ctx.cloud_ids(&spec.security_groups)?;
            ec2.modify_instance_attribute()
                .instance_id(&live.cloud_id)
                .set_groups(Some(groups))
                .send()
                .await
                .map_err(|e| sdk(&format!("set security groups of {}", live.id), e))?;
        }
        if InstanceSpec::METADATA_HTTP_TOKENS.is_in(fields) {
            ec2.modify_instance_metadata_options()
                .instance_id(&live.cloud_id)
                .http_tokens(if spec.imdsv2_required {
                    HttpTokensState::Required
                } else {
                    HttpTokensState::Optional
                })
                .send()
                .await
                .map_err(|e| sdk(&format!("set metadata options of {}", live.id), e))?;
        }
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let ec2 = &aws.clients.ec2;
        ec2.terminate_instances()
            .instance_ids(&live.cloud_id)
            .send()
            .await
            .map_err(|e| {
                sdk(
                    &format!("terminate instance {} ({})", live.id, live.cloud_id),
                    e,
                )
            })?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let ec2 = &aws.clients.ec2;
        let out = ec2
            .describe_instances()
            .filters(filter("instance-id", &live.cloud_id))
            .send()
            .await
            .map_err(|e| sdk(&format!("describe instance {}", live.cloud_id), e))?;
        let Some(instance) = out.reservations().iter().flat_map(|r| r.instances()).next() else {
            return Ok(Readiness::Gone);
        };
        Ok(match instance.state().and_then(|s| s.name()) {
            Some(InstanceStateName::Running) => {
                Readiness::Ready(observe(live.id.clone(), instance, None))
            }
            Some(InstanceStateName::Terminated) => Readiness::Gone,
            Some(state) => Readiness::Pending(state.as_str().to_string()),
            None => Readiness::Pending("unknown".into()),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        GroupIdentifier, HttpTokensState, InstanceMetadataOptionsResponse, InstanceType,
    };
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    fn bastion(ami: AmiSelector) -> InstanceSpec {
        InstanceSpec {
            subnet: Ref::new("subnet.public.a"),
            security_groups: vec![Ref::new("sg.bastion")],
            instance_type: "t3.micro".into(),
            ami,
            key_name: Some("ops".into()),
            root_volume_gb: 8,
            root_volume_encrypted: true,
            imdsv2_required: true,
        }
    }

    #[test]
    fn reads_instance_and_root_volume() {
        let instance = Instance::builder()
            .instance_id("i-1")
            .subnet_id("subnet-1")
            .instance_type(InstanceType::T3Micro)
            .security_groups(GroupIdentifier::builder().group_id("sg-b").build())
            .key_name("ops")
            .image_id("ami-1")
            .metadata_options(
                InstanceMetadataOptionsResponse::builder()
                    .http_tokens(HttpTokensState::Required)
                    .build(),
            )
            .private_ip_address("10.0.0.5")
            .public_ip_address("203.0.113.9")
            .build();
        let root = Some(RootVolume {
            size_gb: 8,
            encrypted: true,
        });
        let observed = observe("bastion".into(), &instance, root);
        let ids = [("subnet.public.a", "subnet-1"), ("sg.bastion", "sg-b")];
        assert_reads(&observed, bastion(AmiSelector::Id("ami-1".into())), &ids);
        // A looked-up image is create-only: the live image id is read but never compared.
        let lookup = AmiSelector::Lookup {
            name_pattern: "ubuntu/*".into(),
            owner: "099720109477".into(),
        };
        assert_reads(&observed, bastion(lookup), &ids);
    }

    fn launched(id: &str, state: &str) -> String {
        crate::testing::ec2_xml(
            "RunInstances",
            &format!(
                "<reservationId>r-1</reservationId><instancesSet><item><instanceId>{id}</instanceId><instanceState><code>0</code><name>{state}</name></instanceState></item></instancesSet>"
            ),
        )
    }

    fn image() -> (&'static str, u16, String) {
        (
            "DescribeImages",
            200,
            crate::testing::ec2_xml(
                "DescribeImages",
                "<imagesSet><item><imageId>ami-1</imageId><rootDeviceName>/dev/sda1</rootDeviceName></item></imagesSet>",
            ),
        )
    }

    fn token(body: &str) -> String {
        body.split('&')
            .find_map(|kv| kv.strip_prefix("ClientToken="))
            .unwrap()
            .to_string()
    }

    fn resolved() -> std::collections::HashMap<LogicalId, Observed> {
        std::collections::HashMap::from([
            (
                LogicalId::from("subnet.public.a"),
                Observed::new("subnet.public.a".into(), ResourceKind::Subnet, "subnet-1"),
            ),
            (
                LogicalId::from("sg.bastion"),
                Observed::new("sg.bastion".into(), ResourceKind::SecurityGroup, "sg-b"),
            ),
        ])
    }

    #[tokio::test]
    async fn a_token_that_replays_a_terminated_instance_is_replaced_by_a_new_one() {
        use crate::testing::{Replay, context};

        let aws = Replay::new([
            image(),
            ("RunInstances", 200, launched("i-old", "terminated")),
            ("RunInstances", 200, launched("i-new", "pending")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = resolved();
        let spec = bastion(AmiSelector::Id("ami-1".into()));
        let live = InstanceSpec::create(&provider, &context(&resolved), &"bastion".into(), &spec)
            .await
            .unwrap();
        assert_eq!(live.cloud_id, "i-new");
        aws.assert_done();
        let requests = aws.requests();
        assert_ne!(token(&requests[1].1), token(&requests[2].1));
    }

    #[tokio::test]
    async fn every_parameter_is_part_of_the_token() {
        use crate::testing::{Replay, context};

        let resolved = resolved();
        let mut tokens = Vec::new();
        let base = bastion(AmiSelector::Id("ami-1".into()));
        let mut other_key = base.clone();
        other_key.key_name = Some("other".into());
        let mut bigger_disk = base.clone();
        bigger_disk.root_volume_gb = 16;
        let mut unencrypted = base.clone();
        unencrypted.root_volume_encrypted = false;
        for spec in [&base, &other_key, &bigger_disk, &unencrypted, &base] {
            let aws = Replay::new([image(), ("RunInstances", 200, launched("i-1", "pending"))]);
            let provider = AwsProvider::offline(aws.clone());
            InstanceSpec::create(&provider, &context(&resolved), &"bastion".into(), spec)
                .await
                .unwrap();
            tokens.push(token(&aws.requests()[1].1));
            aws.assert_done();
        }
        // The same parameters give the same token (a retry after a crash), others another.
        assert_eq!(tokens[0], tokens[4]);
        let distinct: std::collections::HashSet<&String> = tokens[..4].iter().collect();
        assert_eq!(distinct.len(), 4, "{tokens:?}");
    }
}
