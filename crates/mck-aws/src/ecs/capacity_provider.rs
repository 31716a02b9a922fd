//! The capacity provider `<stack>-app-servers` over the app servers' Auto Scaling group, with
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
use crate::driver::Driver;
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
        Some("DELETE_IN_PROGRESS") => o.pending("deleting"),
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

/// The stack's provider is named `<stack>-app-servers`, its cluster `<stack>-app`;
/// `on_cluster` is what the cluster lists (from the cluster's read).
pub(super) async fn read(
    ecs: &Client,
    stack: &str,
    on_cluster: &[String],
) -> Result<Vec<Observed>, ProviderError> {
    let name = format!("{stack}-app-servers");
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
            .map_err(|e| sdk(&format!("set the capacity providers of {cluster}"), e))
    })
    .await?;
    Ok(())
}

fn managed_scaling(spec: &CapacityProviderSpec) -> ManagedScaling {
    ManagedScaling::builder()
        .status(ManagedScalingStatus::Enabled)
        .target_capacity(i32::try_from(spec.target_capacity).unwrap_or(100))
        .build()
}

impl Driver for CapacityProviderSpec {
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let cluster = ctx.cloud_id(spec.cluster.id())?.to_string();
        let cp = match describe(&aws.clients.ecs, &spec.name).await? {
            Some(existing) => {
                crate::adopt(
                    "capacity provider",
                    id,
                    Some((
                        owned(&existing, ctx.stack),
                        observe(id.clone(), &existing, None),
                    )),
                )?;
                existing
            }
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
                            .managed_scaling(managed_scaling(spec))
                            .managed_termination_protection(ManagedTerminationProtection::Disabled)
                            .build()
                            .map_err(|e| ProviderError::invalid(e.to_string()))?,
                    )
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("create capacity provider {id}"), e))?;
                out.capacity_provider().cloned().ok_or_else(|| {
                    ProviderError::invalid("create capacity provider returned nothing")
                })?
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
                        .managed_scaling(managed_scaling(spec))
                        .build(),
                )
                .send()
                .await
                .map_err(|e| sdk(&format!("update capacity provider {}", live.id), e))?;
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
            .name("prod-app-servers")
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
                name: "prod-app-servers".into(),
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
                json!({"capacityProvider": {"name": "prod-app-servers"}}).to_string(),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let live = Observed::new(
            "ecs.capacity".into(),
            ResourceKind::CapacityProvider,
            "prod-app-servers",
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
}
