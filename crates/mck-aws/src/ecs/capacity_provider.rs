//! The capacity provider `mck-<stack>-app-servers` over the app servers' Auto Scaling group, with
//! managed scaling, associated with the stack's cluster as its default capacity.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{
    AutoScalingGroupProvider, CapacityProvider, CapacityProviderField,
    CapacityProviderStrategyItem, ManagedScaling, ManagedScalingStatus,
    ManagedTerminationProtection,
};
use mck_core::model::{CapacityProviderSpec, LogicalId, ResourceKind, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The output naming the cluster it is associated with (for the delete, which must undo it).
const OUT_CLUSTER: &str = "_cluster";

fn owned(cp: &CapacityProvider, stack: &str) -> Option<LogicalId> {
    crate::owner(
        cp.tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

/// `cluster`: the stack's cluster when its capacity providers include this one.
pub(super) fn observe(id: LogicalId, cp: &CapacityProvider, cluster: Option<&str>) -> Observed {
    let name = cp.name().unwrap_or_default();
    let asg = cp.auto_scaling_group_provider();
    let scaling = asg.and_then(|a| a.managed_scaling());
    let o = Observed::new(id, ResourceKind::CapacityProvider, name)
        .with(CapacityProviderSpec::NAME, name)
        .with(
            CapacityProviderSpec::AUTO_SCALING_GROUP_ARN,
            asg.map(|a| a.auto_scaling_group_arn().to_string()),
        )
        .with(
            CapacityProviderSpec::MANAGED_SCALING,
            match scaling {
                Some(s) if s.status() == Some(&ManagedScalingStatus::Enabled) => {
                    Value::from(CapacityProviderSpec::managed_scaling(i64::from(
                        s.target_capacity().unwrap_or(100),
                    )))
                }
                _ => Value::from("disabled"),
            },
        )
        .with(
            CapacityProviderSpec::CLUSTER,
            cluster.map_or(Value::Null, |c| {
                Value::CloudRef(ResourceKind::EcsCluster, c.to_string())
            }),
        )
        .output(CapacityProviderSpec::OUT_NAME, name);
    let o = match cluster {
        Some(c) => o.output(OUT_CLUSTER, c),
        None => o,
    };
    match cp.update_status().map(|s| s.as_str()) {
        Some("DELETE_IN_PROGRESS") => o.deleting(),
        _ => o,
    }
}

async fn describe(ecs: &Client, name: &str) -> Result<Option<CapacityProvider>, ProviderError> {
    let out = ecs
        .describe_capacity_providers()
        .capacity_providers(name)
        .include(CapacityProviderField::Tags)
        .send()
        .await
        .map_err(|e| sdk(&format!("describe capacity provider {name}"), e))?;
    Ok(out
        .capacity_providers()
        .iter()
        .find(|cp| cp.status().map(|s| s.as_str()) == Some("ACTIVE"))
        .cloned())
}

/// The stack's provider is named [`CapacityProviderSpec::name_for`], its cluster `<stack>-app`;
/// `on_cluster` is what the cluster lists (from the cluster's read).
pub(super) async fn read(
    ecs: &Client,
    stack: &str,
    on_cluster: &[String],
) -> Result<Vec<Observed>, ProviderError> {
    let name = CapacityProviderSpec::name_for(stack);
    let Some(cp) = describe(ecs, &name).await? else {
        return Ok(Vec::new());
    };
    let Some(id) = owned(&cp, stack) else {
        return Ok(Vec::new());
    };
    let cluster = format!("{stack}-app");
    let on = on_cluster.contains(&name);
    Ok(vec![observe(id, &cp, on.then_some(cluster.as_str()))])
}

/// Makes `providers` the cluster's capacity providers, the first its default strategy.
async fn associate(
    aws: &AwsProvider,
    cluster: &str,
    providers: &[&str],
) -> Result<(), ProviderError> {
    aws.retried(|| async {
        aws.clients
            .ecs
            .put_cluster_capacity_providers()
            .cluster(cluster)
            .set_capacity_providers(Some(providers.iter().map(|p| p.to_string()).collect()))
            .set_default_capacity_provider_strategy(Some(
                providers
                    .iter()
                    .take(1)
                    .map(|p| {
                        CapacityProviderStrategyItem::builder()
                            .capacity_provider(*p)
                            .weight(1)
                            .build()
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| ProviderError::invalid(e.to_string()))?,
            ))
            .send()
            .await
            .map_err(|e| {
                not_active_yet(sdk(&format!("set the capacity providers of {cluster}"), e))
            })
    })
    .await?;
    Ok(())
}

/// Right after CreateCapacityProvider, PutClusterCapacityProviders answers
/// `InvalidParameterException: The specified capacity provider '…' is not in an ACTIVE state`
/// for a while (terraform-provider-aws #45693, #45567): worth retrying.
fn not_active_yet(err: ProviderError) -> ProviderError {
    if err.code.as_deref() == Some("InvalidParameterException")
        && err.message.contains("is not in an ACTIVE state")
    {
        ProviderError {
            class: mck_core::provider::ErrorClass::Transient,
            ..err
        }
    } else {
        err
    }
}

/// CreateCapacityProvider answers `ClientException: The specified capacity provider already
/// exists` when the name is taken, also when an SDK retry repeats a create that took effect.
fn already_exists(err: &ProviderError) -> bool {
    err.code.as_deref() == Some("ClientException") && err.message.contains("already exists")
}

fn managed_scaling(spec: &CapacityProviderSpec) -> Result<ManagedScaling, ProviderError> {
    Ok(ManagedScaling::builder()
        .status(ManagedScalingStatus::Enabled)
        .target_capacity(crate::int32(spec.target_capacity, "target_capacity")?)
        .build())
}

/// UpdateCapacityProvider only starts the update: it ends UPDATE_COMPLETE or UPDATE_FAILED
/// (with a reason) later. Waits for the end, and fails with the reason if it failed.
async fn wait_updated(aws: &AwsProvider, name: &str) -> Result<(), ProviderError> {
    // The last provider read, so the end of the wait needs no further call.
    let last = std::sync::Mutex::new(None::<CapacityProvider>);
    let last_ref = &last;
    aws.wait_until(
        &format!("the update of capacity provider {name}"),
        || async move {
            let cp = describe(&aws.clients.ecs, name)
                .await?
                .ok_or_else(|| crate::missing("capacity provider", name))?;
            let done = cp.update_status().map(|s| s.as_str()) != Some("UPDATE_IN_PROGRESS");
            *last_ref
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(cp);
            Ok(done)
        },
    )
    .await?;
    let last = last
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match last {
        Some(cp) if cp.update_status().map(|s| s.as_str()) == Some("UPDATE_FAILED") => {
            Err(ProviderError::invalid(format!(
                "the update of capacity provider {name} failed: {}",
                cp.update_status_reason().unwrap_or("no reason given")
            )))
        }
        _ => Ok(()),
    }
}

impl Driver for CapacityProviderSpec {
    const READ_BY: ServiceRead = ServiceRead::Ecs;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let cluster = ctx.cloud_id(spec.cluster.id())?.to_string();
        // A provider of the name: ours is adopted, another's refused; one that describe does
        // not show yet (it lags the create) is worth retrying.
        let adopt = |existing: Option<CapacityProvider>| {
            crate::adopt_found("capacity provider", id, existing, |cp| {
                (owned(cp, ctx.stack), observe(id.clone(), cp, None))
            })
        };
        let cp = match describe(&aws.clients.ecs, &spec.name).await? {
            Some(existing) => adopt(Some(existing))?,
            None => {
                let asg = ctx.output(
                    spec.auto_scaling_group.id(),
                    mck_core::model::AutoScalingGroupSpec::OUT_ARN,
                )?;
                let tags = super::tags(ctx, id);
                let out = aws
                    .clients
                    .ecs
                    .create_capacity_provider()
                    .name(&spec.name)
                    .auto_scaling_group_provider(
                        AutoScalingGroupProvider::builder()
                            .auto_scaling_group_arn(asg)
                            .managed_scaling(managed_scaling(spec)?)
                            .managed_termination_protection(ManagedTerminationProtection::Disabled)
                            .build()
                            .map_err(|e| ProviderError::invalid(e.to_string()))?,
                    )
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("create capacity provider {id}"), e));
                match out {
                    Ok(out) => out.capacity_provider().cloned().ok_or_else(|| {
                        ProviderError::invalid("create capacity provider returned nothing")
                    })?,
                    // Ours (an SDK retry of a create that took effect) is adopted; another's
                    // is refused; one not visible yet is retried.
                    Err(err) if already_exists(&err) => {
                        adopt(describe(&aws.clients.ecs, &spec.name).await?)?
                    }
                    Err(err) => return Err(err),
                }
            }
        };
        associate(aws, &cluster, &[&spec.name])
            .await
            .map_err(|e| e.after_create(&spec.name))?;
        Ok(observe(id.clone(), &cp, Some(&cluster)))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        if Self::MANAGED_SCALING.is_in(fields) {
            aws.clients
                .ecs
                .update_capacity_provider()
                .name(&spec.name)
                .auto_scaling_group_provider(
                    aws_sdk_ecs::types::AutoScalingGroupProviderUpdate::builder()
                        .managed_scaling(managed_scaling(spec)?)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk(&format!("update capacity provider {}", live.id), e))?;
            wait_updated(aws, &spec.name).await?;
        }
        if Self::CLUSTER.is_in(fields) {
            let cluster = ctx.cloud_id(spec.cluster.id())?;
            associate(aws, cluster, &[&spec.name]).await?;
        }
        Ok(live.clone())
    }

    /// Takes it off the cluster first (ECS refuses to delete a provider a cluster lists), then
    /// deletes it; the poll waits for the deletion to complete.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        if let Some(cluster) = live.outputs.get(OUT_CLUSTER) {
            associate(aws, cluster, &[]).await.or_else(|e| {
                if e.class == mck_core::provider::ErrorClass::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            })?;
        }
        aws.clients
            .ecs
            .delete_capacity_provider()
            .capacity_provider(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete capacity provider {}", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match describe(&aws.clients.ecs, &live.cloud_id).await? {
            None => Readiness::Gone,
            Some(cp) if cp.update_status().map(|s| s.as_str()) == Some("DELETE_IN_PROGRESS") => {
                Readiness::Pending("deleting".into())
            }
            Some(cp) => {
                let cluster = live.outputs.get(OUT_CLUSTER).map(String::as_str);
                Readiness::Ready(observe(live.id.clone(), &cp, cluster))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use aws_sdk_ecs::types::Tag;

    use super::*;
    use crate::testing::{Replay, assert_reads};

    const ASG: &str =
        "arn:aws:autoscaling:us-east-1:1:autoScalingGroup:x:autoScalingGroupName/prod-app-servers";

    fn provider() -> CapacityProvider {
        CapacityProvider::builder()
            .name("mck-prod-app-servers")
            .status("ACTIVE".into())
            .auto_scaling_group_provider(
                AutoScalingGroupProvider::builder()
                    .auto_scaling_group_arn(ASG)
                    .managed_scaling(
                        ManagedScaling::builder()
                            .status(ManagedScalingStatus::Enabled)
                            .target_capacity(100)
                            .build(),
                    )
                    .build()
                    .unwrap(),
            )
            .tags(Tag::builder().key("mck:stack").value("prod").build())
            .tags(Tag::builder().key("mck:id").value("ecs.capacity").build())
            .build()
    }

    #[test]
    fn reads_the_group_managed_scaling_and_the_cluster_association() {
        let cp = provider();
        let id = owned(&cp, "prod").unwrap();
        let observed = observe(id.clone(), &cp, Some("prod-app"));
        assert_reads(
            &observed,
            CapacityProviderSpec {
                name: "mck-prod-app-servers".into(),
                auto_scaling_group: mck_core::model::Ref::new("ecs.servers"),
                cluster: mck_core::model::Ref::new("ecs.cluster"),
                target_capacity: 100,
            },
            &[("ecs.servers.arn", ASG), ("ecs.cluster", "prod-app")],
        );
        let off = observe(id, &cp, None);
        assert_eq!(off.fields[CapacityProviderSpec::CLUSTER.name], Value::Null);
    }

    /// ECS refuses to delete a capacity provider that a cluster still lists: it is taken off
    /// the cluster first, then deleted.
    #[tokio::test]
    async fn delete_takes_it_off_the_cluster_first() {
        let aws = Replay::new([
            (
                "PutClusterCapacityProviders",
                200,
                json!({"cluster": {"clusterName": "prod-app"}}).to_string(),
            ),
            (
                "DeleteCapacityProvider",
                200,
                json!({"capacityProvider": {"name": "mck-prod-app-servers"}}).to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let live = Observed::new(
            "ecs.capacity".into(),
            ResourceKind::CapacityProvider,
            "mck-prod-app-servers",
        )
        .output(OUT_CLUSTER, "prod-app");
        CapacityProviderSpec::delete(&provider, &live)
            .await
            .unwrap();
        aws.assert_done();
        let (_, body) = &aws.requests()[0];
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["cluster"], "prod-app");
        assert_eq!(body["capacityProviders"], json!([]));
    }

    fn spec() -> CapacityProviderSpec {
        CapacityProviderSpec {
            name: "mck-t-app-servers".into(),
            auto_scaling_group: mck_core::model::Ref::new("ecs.servers"),
            cluster: mck_core::model::Ref::new("ecs.cluster"),
            target_capacity: 100,
        }
    }

    fn deps() -> std::collections::HashMap<LogicalId, Observed> {
        [
            Observed::new("ecs.cluster".into(), ResourceKind::EcsCluster, "t-app"),
            Observed::new(
                "ecs.servers".into(),
                ResourceKind::AutoScalingGroup,
                "t-app-servers",
            )
            .output(mck_core::model::AutoScalingGroupSpec::OUT_ARN, ASG),
        ]
        .into_iter()
        .map(|o| (o.id.clone(), o))
        .collect()
    }

    /// The provider as DescribeCapacityProviders answers, tagged as `ecs.capacity` of `stack`.
    fn described(stack: &str, update_status: Option<(&str, &str)>) -> String {
        let mut cp = json!({
            "name": "mck-t-app-servers", "status": "ACTIVE",
            "autoScalingGroupProvider": {"autoScalingGroupArn": ASG,
                "managedScaling": {"status": "ENABLED", "targetCapacity": 100}},
            "tags": [{"key": "mck:stack", "value": stack}, {"key": "mck:id", "value": "ecs.capacity"}],
        });
        if let Some((status, reason)) = update_status {
            cp["updateStatus"] = json!(status);
            cp["updateStatusReason"] = json!(reason);
        }
        json!({ "capacityProviders": [cp] }).to_string()
    }

    fn none() -> String {
        json!({ "capacityProviders": [] }).to_string()
    }

    /// Right after the create, ECS refuses to put the provider on the cluster until it is
    /// ACTIVE (terraform-provider-aws #45693): the association is retried, the create is not.
    #[tokio::test]
    async fn the_cluster_association_waits_until_the_new_provider_is_active() {
        let aws = Replay::new([
            ("DescribeCapacityProviders", 200, none()),
            (
                "CreateCapacityProvider",
                200,
                json!({"capacityProvider": {"name": "mck-t-app-servers", "status": "ACTIVE"}})
                    .to_string(),
            ),
            (
                "PutClusterCapacityProviders",
                400,
                crate::testing::json_error(
                    "InvalidParameterException",
                    "The specified capacity provider 'mck-t-app-servers' is not in an ACTIVE state. Specify a valid capacity provider and try again.",
                ),
            ),
            (
                "PutClusterCapacityProviders",
                200,
                json!({"cluster": {"clusterName": "t-app"}}).to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = deps();
        let created = CapacityProviderSpec::create(
            &provider,
            &crate::testing::context(&deps),
            &"ecs.capacity".into(),
            &spec(),
        )
        .await
        .unwrap();
        aws.assert_done();
        assert_eq!(created.outputs[OUT_CLUSTER], "t-app");
        assert_eq!(aws.count("CreateCapacityProvider"), 1);
    }

    /// The SDK retried a create whose first attempt took effect: "already exists" for our own
    /// provider adopts it; for another's, the create fails naming it.
    #[tokio::test]
    async fn already_exists_after_a_retried_create_adopts_ours_and_refuses_anothers() {
        let exists = || {
            crate::testing::json_error(
                "ClientException",
                "The specified capacity provider already exists. To change the configuration of an existing capacity provider, update the capacity provider.",
            )
        };
        let aws = Replay::new([
            ("DescribeCapacityProviders", 200, none()),
            ("CreateCapacityProvider", 400, exists()),
            ("DescribeCapacityProviders", 200, described("t", None)),
            (
                "PutClusterCapacityProviders",
                200,
                json!({"cluster": {"clusterName": "t-app"}}).to_string(),
            ),
            ("DescribeCapacityProviders", 200, none()),
            ("CreateCapacityProvider", 400, exists()),
            ("DescribeCapacityProviders", 200, described("other", None)),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = deps();
        let ctx = crate::testing::context(&deps);
        let adopted =
            CapacityProviderSpec::create(&provider, &ctx, &"ecs.capacity".into(), &spec())
                .await
                .unwrap();
        assert_eq!(adopted.cloud_id, "mck-t-app-servers");
        let err = CapacityProviderSpec::create(&provider, &ctx, &"ecs.capacity".into(), &spec())
            .await
            .unwrap_err();
        assert_eq!(
            err.class,
            mck_core::provider::ErrorClass::Invalid,
            "{}",
            err.message
        );
        assert!(
            err.message.contains("is not ecs.capacity of this stack"),
            "{}",
            err.message
        );
        aws.assert_done();
    }

    /// UpdateCapacityProvider only starts the update; one that ends UPDATE_FAILED fails the
    /// step with AWS's reason instead of reporting success.
    #[tokio::test]
    async fn an_update_that_fails_later_fails_the_step_with_the_reason() {
        let aws = Replay::new([
            ("UpdateCapacityProvider", 200, json!({"capacityProvider": {"name": "mck-t-app-servers", "updateStatus": "UPDATE_IN_PROGRESS"}}).to_string()),
            ("DescribeCapacityProviders", 200, described("t", Some(("UPDATE_IN_PROGRESS", "")))),
            ("DescribeCapacityProviders", 200, described("t", Some(("UPDATE_FAILED", "The Auto Scaling group is being deleted")))),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = deps();
        let live = Observed::new(
            "ecs.capacity".into(),
            ResourceKind::CapacityProvider,
            "mck-t-app-servers",
        );
        let err = CapacityProviderSpec::update(
            &provider,
            &crate::testing::context(&deps),
            &CapacityProviderSpec {
                target_capacity: 90,
                ..spec()
            },
            &live,
            &[CapacityProviderSpec::MANAGED_SCALING.name],
        )
        .await
        .unwrap_err();
        aws.assert_done();
        assert_eq!(
            err.message,
            "the update of capacity provider mck-t-app-servers failed: The Auto Scaling group is being deleted"
        );
    }
}
