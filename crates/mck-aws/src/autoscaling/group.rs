//! The app servers' Auto Scaling group `<stack>-app-servers` over the private subnets, launching
//! the default version of the launch template; ECS scales it through the capacity provider.

use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{AutoScalingGroup, Filter, LaunchTemplateSpecification, Tag};
use mck_core::model::{AutoScalingGroupSpec, LogicalId, ResourceKind, TAG_STACK, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

fn owned(group: &AutoScalingGroup, stack: &str) -> Option<LogicalId> {
    crate::owner(
        group
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

pub(super) fn observe(id: LogicalId, group: &AutoScalingGroup) -> Observed {
    let name = group.auto_scaling_group_name().unwrap_or_default();
    let mut subnets: Vec<Value> = group
        .vpc_zone_identifier()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| Value::CloudId(s.to_string()))
        .collect();
    subnets.sort();
    let o = Observed::new(id, ResourceKind::AutoScalingGroup, name)
        .with(AutoScalingGroupSpec::NAME, name)
        .with(
            AutoScalingGroupSpec::MIN_SIZE,
            i64::from(group.min_size().unwrap_or(0)),
        )
        .with(
            AutoScalingGroupSpec::MAX_SIZE,
            i64::from(group.max_size().unwrap_or(0)),
        )
        .with(AutoScalingGroupSpec::SUBNETS, Value::List(subnets))
        .with(
            AutoScalingGroupSpec::LAUNCH_TEMPLATE,
            group
                .launch_template()
                .and_then(|t| t.launch_template_id())
                .map_or(Value::Null, |t| Value::CloudId(t.to_string())),
        )
        .output(AutoScalingGroupSpec::OUT_NAME, name)
        .output(
            AutoScalingGroupSpec::OUT_ARN,
            group.auto_scaling_group_arn().unwrap_or_default(),
        );
    match group.status() {
        Some(status) if status.starts_with("Delete") => o.deleting(),
        _ => o,
    }
}

async fn describe(
    asg: &Client,
    names: Option<Vec<String>>,
    stack: Option<&str>,
) -> Result<Vec<AutoScalingGroup>, ProviderError> {
    let mut out = Vec::new();
    let mut call = asg
        .describe_auto_scaling_groups()
        .set_auto_scaling_group_names(names);
    if let Some(stack) = stack {
        call = call.filters(
            Filter::builder()
                .name(format!("tag:{TAG_STACK}"))
                .values(stack)
                .build(),
        );
    }
    let mut pages = call.into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("describe auto scaling groups", e))?;
        out.extend(page.auto_scaling_groups().iter().cloned());
    }
    Ok(out)
}

pub(super) async fn read(asg: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    Ok(describe(asg, None, Some(stack))
        .await?
        .iter()
        .filter_map(|g| Some(observe(owned(g, stack)?, g)))
        .collect())
}

fn template(
    ctx: &Context<'_>,
    spec: &AutoScalingGroupSpec,
) -> Result<LaunchTemplateSpecification, ProviderError> {
    Ok(LaunchTemplateSpecification::builder()
        .launch_template_id(ctx.cloud_id(spec.launch_template.id())?)
        .version(AutoScalingGroupSpec::TEMPLATE_VERSION)
        .build())
}

/// Answers CreateAutoScalingGroup gives for a while after what the group launches was made:
/// the launch template's instance profile is not visible to EC2 yet (`ValidationError …
/// Invalid IAM Instance Profile name`), or the template itself (`You must use a valid
/// fully-formed launch template`). terraform-provider-aws retries both on create
/// (`internal/service/autoscaling/group.go`; #5217, #24910). Retried until the step's timeout;
/// the create reads by name first, so a retry never makes a second group.
fn retry_later(err: ProviderError) -> ProviderError {
    const PROPAGATING: &[&str] = &[
        "Invalid IAM Instance Profile",
        "You must use a valid fully-formed launch template",
    ];
    if err.code.as_deref() == Some("ValidationError")
        && PROPAGATING.iter().any(|m| err.message.contains(m))
    {
        ProviderError {
            class: mck_core::provider::ErrorClass::Transient,
            ..err
        }
    } else {
        err
    }
}

impl Driver for AutoScalingGroupSpec {
    const READ_BY: ServiceRead = ServiceRead::AutoScaling;

    /// Read by name first (a lost answer, or a name taken): ours is adopted, another's refused.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let existing = describe(
            &aws.clients.autoscaling,
            Some(vec![spec.name.clone()]),
            None,
        )
        .await?;
        if let Some(group) = existing.first() {
            return crate::adopt(
                "Auto Scaling group",
                id,
                Some((owned(group, ctx.stack), observe(id.clone(), group))),
            );
        }
        // The stack's tags; the instances get the user tags and `Name` but not `mck:stack` /
        // `mck:id`: the group owns its instances, which are no resources of the stack.
        // `AmazonECSManaged` lets ECS's managed scaling drive the group.
        let tags: Vec<Tag> = ctx
            .tags_for(id)
            .into_iter()
            .chain([("AmazonECSManaged".to_string(), "true".to_string())])
            .map(|(k, v)| {
                let identity = k == TAG_STACK || k == mck_core::model::TAG_ID;
                Tag::builder()
                    .key(k)
                    .value(v)
                    .propagate_at_launch(!identity)
                    .resource_id(&spec.name)
                    .resource_type("auto-scaling-group")
                    .build()
            })
            .collect();
        let created = aws
            .clients
            .autoscaling
            .create_auto_scaling_group()
            .auto_scaling_group_name(&spec.name)
            .min_size(crate::int32(spec.min_size, "min_size")?)
            .max_size(crate::int32(spec.max_size, "max_size")?)
            .desired_capacity(crate::int32(spec.min_size, "min_size")?)
            .vpc_zone_identifier(ctx.cloud_ids(&spec.subnets)?.join(","))
            .launch_template(template(ctx, spec)?)
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| retry_later(sdk(&format!("create Auto Scaling group {id}"), e)));
        match created {
            Ok(_) => {}
            // An SDK retry of a create that took effect, or a name taken meanwhile: ours is
            // adopted, another's refused, one not visible yet retried.
            Err(err) if err.code.as_deref() == Some("AlreadyExists") => {
                let existing = describe(
                    &aws.clients.autoscaling,
                    Some(vec![spec.name.clone()]),
                    None,
                )
                .await?;
                return crate::adopt(
                    "Auto Scaling group",
                    id,
                    existing
                        .first()
                        .map(|g| (owned(g, ctx.stack), observe(id.clone(), g))),
                );
            }
            Err(err) => return Err(err),
        }
        let created = aws
            .follow_up(|| async {
                describe(
                    &aws.clients.autoscaling,
                    Some(vec![spec.name.clone()]),
                    None,
                )
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| crate::missing("Auto Scaling group", &spec.name))
            })
            .await
            .map_err(|e| e.after_create(&spec.name))?;
        Ok(observe(id.clone(), &created))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        aws.clients
            .autoscaling
            .update_auto_scaling_group()
            .auto_scaling_group_name(&live.cloud_id)
            .min_size(crate::int32(spec.min_size, "min_size")?)
            .max_size(crate::int32(spec.max_size, "max_size")?)
            .vpc_zone_identifier(ctx.cloud_ids(&spec.subnets)?.join(","))
            .launch_template(template(ctx, spec)?)
            .send()
            .await
            .map_err(|e| sdk(&format!("update Auto Scaling group {}", live.id), e))?;
        Ok(live.clone())
    }

    /// Deletes the group with its instances (`ForceDelete`); the poll waits until it is gone.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        match aws
            .clients
            .autoscaling
            .delete_auto_scaling_group()
            .auto_scaling_group_name(&live.cloud_id)
            .force_delete(true)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // "AutoScalingGroup name not found" is a ValidationError.
            Err(e)
                if aws_smithy_types::error::metadata::ProvideErrorMetadata::message(&e)
                    .is_some_and(|m| m.contains("not found")) =>
            {
                Err(crate::missing("Auto Scaling group", &live.cloud_id))
            }
            Err(e) => Err(sdk(&format!("delete Auto Scaling group {}", live.id), e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let groups = describe(
            &aws.clients.autoscaling,
            Some(vec![live.cloud_id.clone()]),
            None,
        )
        .await?;
        Ok(match groups.first() {
            None => Readiness::Gone,
            Some(g) if g.status().is_some_and(|s| s.starts_with("Delete")) => {
                Readiness::Pending("deleting".into())
            }
            Some(g) => Readiness::Ready(observe(live.id.clone(), g)),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_autoscaling::types::{LaunchTemplateSpecification, TagDescription};
    use mck_core::model::Ref;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_sizes_subnets_and_the_template() {
        let group = AutoScalingGroup::builder()
            .auto_scaling_group_name("prod-app-servers")
            .auto_scaling_group_arn("arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/prod-app-servers")
            .min_size(2)
            .max_size(6)
            .vpc_zone_identifier("subnet-b,subnet-a")
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_id("lt-1")
                    .version("$Default")
                    .build(),
            )
            .tags(TagDescription::builder().key("mck:stack").value("prod").build())
            .tags(TagDescription::builder().key("mck:id").value("ecs.servers").build())
            .build();
        let id = owned(&group, "prod").unwrap();
        assert_reads(
            &observe(id, &group),
            AutoScalingGroupSpec {
                name: "prod-app-servers".into(),
                min_size: 2,
                max_size: 6,
                subnets: vec![Ref::new("subnet.private.a"), Ref::new("subnet.private.b")],
                launch_template: Ref::new("ecs.servers.template"),
                after: Vec::new(),
            },
            &[
                ("subnet.private.a", "subnet-a"),
                ("subnet.private.b", "subnet-b"),
                ("ecs.servers.template", "lt-1"),
            ],
        );
    }

    /// CreateAutoScalingGroup of a taken name fails with AlreadyExists; the name is read
    /// first instead: a group tagged for another stack is refused by name, with no create.
    #[tokio::test]
    async fn a_group_name_taken_by_another_stack_is_refused_before_any_create() {
        use crate::testing::{Replay, context};
        let aws = Replay::new([("DescribeAutoScalingGroups", 200, group_xml("other"))]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = Default::default();
        let spec = create_spec();
        let err =
            AutoScalingGroupSpec::create(&provider, &context(&deps), &"ecs.servers".into(), &spec)
                .await
                .unwrap_err();
        assert_eq!(
            err.class,
            mck_core::provider::ErrorClass::Invalid,
            "{}",
            err.message
        );
        assert!(err.message.contains("t-app-servers"), "{}", err.message);
        aws.assert_done();
        assert_eq!(aws.count("CreateAutoScalingGroup"), 0);
    }

    fn group_xml(stack: &str) -> String {
        crate::testing::query_xml(
            "DescribeAutoScalingGroups",
            &format!(
                "<AutoScalingGroups><member><AutoScalingGroupName>t-app-servers</AutoScalingGroupName><AutoScalingGroupARN>arn:asg</AutoScalingGroupARN><MinSize>2</MinSize><MaxSize>6</MaxSize><DesiredCapacity>2</DesiredCapacity><DefaultCooldown>300</DefaultCooldown><AvailabilityZones><member>us-east-1a</member></AvailabilityZones><HealthCheckType>EC2</HealthCheckType><CreatedTime>2024-01-01T00:00:00Z</CreatedTime><Tags><member><Key>mck:stack</Key><Value>{stack}</Value></member><member><Key>mck:id</Key><Value>ecs.servers</Value></member></Tags></member></AutoScalingGroups>"
            ),
        )
    }

    fn no_group() -> String {
        crate::testing::query_xml("DescribeAutoScalingGroups", "<AutoScalingGroups/>")
    }

    fn create_spec() -> AutoScalingGroupSpec {
        AutoScalingGroupSpec {
            name: "t-app-servers".into(),
            min_size: 2,
            max_size: 6,
            subnets: Vec::new(),
            launch_template: Ref::new("ecs.servers.template"),
            after: Vec::new(),
        }
    }

    fn template_deps() -> std::collections::HashMap<LogicalId, Observed> {
        let template = Observed::new(
            "ecs.servers.template".into(),
            ResourceKind::LaunchTemplate,
            "lt-1",
        );
        [(template.id.clone(), template)].into_iter().collect()
    }

    /// Right after the instance profile is made, CreateAutoScalingGroup answers
    /// `ValidationError … Invalid IAM Instance Profile name` for several seconds
    /// (terraform-provider-aws #5217, #24910): transient, so the engine tries the create again
    /// (which reads by name first), and the next attempt makes the one group.
    #[tokio::test]
    async fn a_profile_not_visible_yet_is_worth_retrying() {
        use crate::testing::{Replay, context, query_error_xml, query_xml};
        let aws = Replay::new([
            ("DescribeAutoScalingGroups", 200, no_group()),
            (
                "CreateAutoScalingGroup",
                400,
                query_error_xml(
                    "ValidationError",
                    "You must use a valid fully-formed launch template. Value (t-app-server) for parameter iamInstanceProfile.name is invalid. Invalid IAM Instance Profile name",
                ),
            ),
            // The engine's next attempt: the profile is visible now.
            ("DescribeAutoScalingGroups", 200, no_group()),
            (
                "CreateAutoScalingGroup",
                200,
                query_xml("CreateAutoScalingGroup", ""),
            ),
            ("DescribeAutoScalingGroups", 200, group_xml("t")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = template_deps();
        let ctx = context(&deps);
        let id = LogicalId::new("ecs.servers");
        let err = AutoScalingGroupSpec::create(&provider, &ctx, &id, &create_spec())
            .await
            .unwrap_err();
        assert_eq!(
            err.class,
            mck_core::provider::ErrorClass::Transient,
            "{}",
            err.message
        );
        assert!(
            mck_core::exec::RetryPolicy::should_retry(err.class, mck_core::exec::Op::Create),
            "the engine retries it"
        );
        let created = AutoScalingGroupSpec::create(&provider, &ctx, &id, &create_spec())
            .await
            .unwrap();
        assert_eq!(created.cloud_id, "t-app-servers");
        aws.assert_done();
        // A validation error that is no propagation fails for good.
        let bad = Replay::new([
            ("DescribeAutoScalingGroups", 200, no_group()),
            (
                "CreateAutoScalingGroup",
                400,
                query_error_xml(
                    "ValidationError",
                    "Max bound, 0, must be greater than or equal to min bound, 2",
                ),
            ),
        ]);
        let err = AutoScalingGroupSpec::create(
            &AwsProvider::offline(bad.clone()),
            &ctx,
            &id,
            &create_spec(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.class,
            mck_core::provider::ErrorClass::Invalid,
            "{}",
            err.message
        );
        bad.assert_done();
    }

    /// The SDK retried a CreateAutoScalingGroup whose first attempt took effect: the retry's
    /// AlreadyExists finds our own group and adopts it.
    #[tokio::test]
    async fn already_exists_after_a_retried_create_adopts_our_group() {
        use crate::testing::{Replay, context, query_error_xml};
        let aws = Replay::new([
            ("DescribeAutoScalingGroups", 200, no_group()),
            (
                "CreateAutoScalingGroup",
                400,
                query_error_xml(
                    "AlreadyExists",
                    "AutoScalingGroup by this name already exists - A group with the name t-app-servers already exists",
                ),
            ),
            ("DescribeAutoScalingGroups", 200, group_xml("t")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = template_deps();
        let adopted = AutoScalingGroupSpec::create(
            &provider,
            &context(&deps),
            &"ecs.servers".into(),
            &create_spec(),
        )
        .await
        .unwrap();
        aws.assert_done();
        assert_eq!(adopted.cloud_id, "t-app-servers");
        assert_eq!(adopted.id.as_str(), "ecs.servers");
    }
}
