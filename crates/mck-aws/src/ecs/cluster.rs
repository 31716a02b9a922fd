//! The ECS cluster `<stack>-app`, with Container Insights on or off.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Cluster, ClusterField, ClusterSetting, ClusterSettingName};
use mck_core::model::{EcsClusterSpec, LogicalId, ResourceKind};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

fn owned(cluster: &Cluster, stack: &str) -> Option<LogicalId> {
    crate::owner(
        cluster
            .tags()
            .iter()
            .filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

pub(super) fn observe(id: LogicalId, cluster: &Cluster) -> Observed {
    let name = cluster.cluster_name().unwrap_or_default();
    let insights = cluster.settings().iter().any(|s| {
        s.name() == Some(&ClusterSettingName::ContainerInsights)
            && matches!(s.value(), Some("enabled" | "enhanced"))
    });
    let o = Observed::new(id, ResourceKind::EcsCluster, name)
        .with(EcsClusterSpec::NAME, name)
        .with(EcsClusterSpec::CONTAINER_INSIGHTS, insights)
        .output(EcsClusterSpec::OUT_NAME, name)
        .output(
            EcsClusterSpec::OUT_ARN,
            cluster.cluster_arn().unwrap_or_default(),
        );
    match cluster.status() {
        Some("PROVISIONING") => o.pending("provisioning"),
        _ => o,
    }
}

/// The clusters named `names`, with their tags and settings; INACTIVE ones (deleted, shown
/// for a while) left out.
async fn describe(ecs: &Client, names: Vec<String>) -> Result<Vec<Cluster>, ProviderError> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let out = ecs
        .describe_clusters()
        .set_clusters(Some(names))
        .include(ClusterField::Tags)
        .include(ClusterField::Settings)
        .send()
        .await
        .map_err(|e| sdk("describe clusters", e))?;
    Ok(out
        .clusters()
        .iter()
        .filter(|c| c.status() != Some("INACTIVE"))
        .cloned()
        .collect())
}

/// The stack's cluster: its name is `<stack>-app`, so one DescribeClusters by name reads it
/// (a missing or INACTIVE cluster is simply not there); the tags confirm ownership.
/// Also returns the capacity providers the cluster lists (for the capacity provider's read).
pub(super) async fn read(
    ecs: &Client,
    stack: &str,
) -> Result<(Vec<Observed>, Vec<String>), ProviderError> {
    let clusters = describe(ecs, vec![format!("{stack}-app")]).await?;
    let providers = clusters
        .iter()
        .flat_map(|c| c.capacity_providers().iter().cloned())
        .collect();
    let mut observed: Vec<Observed> = Vec::new();
    for c in &clusters {
        if let Some(id) = owned(c, stack) {
            observed.push(observe(id, c));
            // The build the release's migration last ran for, recorded on the cluster.
            observed.extend(super::release_task::observe_record(c));
            observed.extend(super::release_record::observe(c));
        }
    }
    Ok((observed, providers))
}

fn insights(on: bool) -> ClusterSetting {
    ClusterSetting::builder()
        .name(ClusterSettingName::ContainerInsights)
        .value(if on { "enabled" } else { "disabled" })
        .build()
}

impl Driver for EcsClusterSpec {
    const READ_BY: ServiceRead = ServiceRead::Ecs;

    /// CreateCluster on an existing name returns that cluster unchanged (terraform-provider-aws
    /// #38875), so the name is read first, as for the load balancer and the Auto Scaling
    /// group: ours (a create retried after a crash) is adopted, a cluster that is not this
    /// stack's (hand-made, or another tool's) is refused rather than silently taken over.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        if let Some(existing) = describe(&aws.clients.ecs, vec![spec.name.clone()])
            .await?
            .first()
        {
            return crate::adopt(
                "ECS cluster",
                id,
                Some((owned(existing, ctx.stack), observe(id.clone(), existing))),
            );
        }
        let tags = super::tags(ctx, id);
        let out = aws
            .clients
            .ecs
            .create_cluster()
            .cluster_name(&spec.name)
            .settings(insights(spec.container_insights))
            .set_tags(Some(tags))
            .send()
            .await
            .map_err(|e| sdk(&format!("create cluster {id} ({})", spec.name), e))?;
        let cluster = out
            .cluster()
            .ok_or_else(|| ProviderError::invalid("create cluster returned nothing"))?;
        Ok(observe(id.clone(), cluster))
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        aws.retried(|| async {
            aws.clients
                .ecs
                .update_cluster_settings()
                .cluster(&live.cloud_id)
                .settings(insights(spec.container_insights))
                .send()
                .await
                .map_err(|e| sdk(&format!("set Container Insights of {}", live.id), e))
        })
        .await?;
        Ok(live.clone())
    }

    /// Refused while services or tasks remain (ClusterContainsServicesException…): a
    /// dependency the executor retries.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .ecs
            .delete_cluster()
            .cluster(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete cluster {}", live.cloud_id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let clusters = describe(&aws.clients.ecs, vec![live.cloud_id.clone()]).await?;
        Ok(match clusters.first() {
            None => Readiness::Gone,
            Some(c) if c.status() == Some("ACTIVE") => {
                Readiness::Ready(observe(live.id.clone(), c))
            }
            Some(c) if c.status() == Some("FAILED") => {
                Readiness::Failed("the cluster failed to provision".into())
            }
            Some(c) => Readiness::Pending(c.status().unwrap_or("unknown").to_lowercase()),
        })
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::Tag;

    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_name_and_container_insights() {
        let cluster = Cluster::builder()
            .cluster_name("dev-app")
            .cluster_arn("arn:aws:ecs:us-east-1:1:cluster/dev-app")
            .status("ACTIVE")
            .settings(insights(true))
            .tags(Tag::builder().key("mck:stack").value("dev").build())
            .tags(Tag::builder().key("mck:id").value("ecs.cluster").build())
            .build();
        let id = owned(&cluster, "dev").unwrap();
        let spec = EcsClusterSpec {
            name: "dev-app".into(),
            container_insights: true,
        };
        let observed = observe(id, &cluster);
        assert_reads(&observed, spec, &[]);
        assert_eq!(observed.pending, None);
    }

    fn described(tags: &[(&str, &str)]) -> String {
        let tags: Vec<serde_json::Value> = tags
            .iter()
            .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
            .collect();
        serde_json::json!({"clusters": [{
            "clusterName": "t-app", "clusterArn": "arn:aws:ecs:us-east-1:1:cluster/t-app",
            "status": "ACTIVE", "tags": tags,
        }], "failures": []})
        .to_string()
    }

    /// A hand-made cluster of the stack's name is refused, never adopted (CreateCluster
    /// would return it unchanged); the stack's own is adopted; neither is created again.
    #[tokio::test]
    async fn a_cluster_of_the_name_is_adopted_only_when_it_is_the_stacks() {
        use crate::testing::{Replay, context};
        let aws = Replay::new([
            ("DescribeClusters", 200, described(&[("team", "shop")])),
            (
                "DescribeClusters",
                200,
                described(&[("mck:stack", "t"), ("mck:id", "ecs.cluster")]),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = Default::default();
        let spec = EcsClusterSpec {
            name: "t-app".into(),
            container_insights: false,
        };
        let id = LogicalId::new("ecs.cluster");
        let err = EcsClusterSpec::create(&provider, &context(&deps), &id, &spec)
            .await
            .unwrap_err();
        assert_eq!(err.class, mck_core::provider::ErrorClass::Invalid);
        assert!(
            err.message.contains("t-app") && err.message.contains("not tagged for this stack"),
            "{}",
            err.message
        );
        let adopted = EcsClusterSpec::create(&provider, &context(&deps), &id, &spec)
            .await
            .unwrap();
        assert_eq!(adopted.cloud_id, "t-app");
        aws.assert_done();
        assert_eq!(aws.count("CreateCluster"), 0);
    }
}
