//! The release in effect, recorded as tags on the stack's cluster (`mck:release-tag`,
//! `mck:release-revision`, `mck:release-file`) once every service has rolled, and read before a
//! stack is lowered ([`live`]) so a run without `--set` keeps what CI released.

use aws_sdk_ecs::Client;
use aws_sdk_ecs::types::{Cluster, ClusterField, Tag};
use mck_core::model::{EcsClusterSpec, LogicalId, ReleaseRecordSpec, ResourceKind};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};
use mck_core::stack::LiveRelease;

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

const OUT_CLUSTER: &str = "_cluster";
const OUT_CLUSTER_ARN: &str = "_cluster_arn";

fn tag<'a>(cluster: &'a Cluster, key: &str) -> Option<&'a str> {
    cluster
        .tags()
        .iter()
        .find(|t| t.key() == Some(key))
        .and_then(|t| t.value())
}

/// The record on a cluster, if it carries one.
pub(super) fn observe(cluster: &Cluster) -> Option<Observed> {
    let file = tag(cluster, ReleaseRecordSpec::TAG_FILE)?;
    let name = cluster.cluster_name().unwrap_or_default();
    Some(
        Observed::new(
            LogicalId::new(ReleaseRecordSpec::ID),
            ResourceKind::ReleaseRecord,
            format!("{name}/{}", ReleaseRecordSpec::TAG_FILE),
        )
        .with(
            ReleaseRecordSpec::TAG,
            tag(cluster, ReleaseRecordSpec::TAG_TAG).unwrap_or("-"),
        )
        .with(
            ReleaseRecordSpec::REVISION,
            tag(cluster, ReleaseRecordSpec::TAG_REVISION).unwrap_or("-"),
        )
        .with(ReleaseRecordSpec::FILE, file)
        .output(OUT_CLUSTER, name)
        .output(OUT_CLUSTER_ARN, cluster.cluster_arn().unwrap_or_default()),
    )
}

async fn describe(ecs: &Client, name: &str) -> Result<Option<Cluster>, ProviderError> {
    let out = ecs
        .describe_clusters()
        .clusters(name)
        .include(ClusterField::Tags)
        .send()
        .await
        .map_err(|e| sdk("describe cluster", e))?;
    Ok(out
        .clusters()
        .iter()
        .find(|c| c.status() != Some("INACTIVE"))
        .cloned())
}

/// The stack's live release: one DescribeClusters of `<stack>-app`, owned by the stack.
pub(crate) async fn live(ecs: &Client, stack: &str) -> Result<Option<LiveRelease>, ProviderError> {
    let Some(cluster) = describe(ecs, &format!("{stack}-app")).await? else {
        return Ok(None);
    };
    if tag(&cluster, mck_core::model::TAG_STACK) != Some(stack) {
        return Ok(None);
    }
    Ok(observe(&cluster).map(|o| {
        let text = |name: &str| match o.fields.get(name) {
            Some(mck_core::model::Value::Str(s)) => Some(s.as_str()),
            _ => None,
        };
        LiveRelease::from_record(
            text(ReleaseRecordSpec::TAG.name),
            text(ReleaseRecordSpec::REVISION.name),
            text(ReleaseRecordSpec::FILE.name),
        )
    }))
}

async fn record(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    spec: &ReleaseRecordSpec,
) -> Result<Observed, ProviderError> {
    let arn = ctx.output(spec.cluster.id(), EcsClusterSpec::OUT_ARN)?;
    let name = ctx.cloud_id(spec.cluster.id())?;
    let tags = [
        (ReleaseRecordSpec::TAG_TAG, &spec.tag),
        (ReleaseRecordSpec::TAG_REVISION, &spec.revision),
        (ReleaseRecordSpec::TAG_FILE, &spec.file),
    ];
    aws.clients
        .ecs
        .tag_resource()
        .resource_arn(arn)
        .set_tags(Some(
            tags.iter()
                .map(|(k, v)| Tag::builder().key(*k).value(v.as_str()).build())
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| sdk("record the release on the cluster", e))?;
    Ok(Observed::new(
        LogicalId::new(ReleaseRecordSpec::ID),
        ResourceKind::ReleaseRecord,
        format!("{name}/{}", ReleaseRecordSpec::TAG_FILE),
    )
    .with(ReleaseRecordSpec::TAG, spec.tag.as_str())
    .with(ReleaseRecordSpec::REVISION, spec.revision.as_str())
    .with(ReleaseRecordSpec::FILE, spec.file.as_str())
    .output(OUT_CLUSTER, name)
    .output(OUT_CLUSTER_ARN, arn))
}

impl Driver for ReleaseRecordSpec {
    const READ_BY: ServiceRead = ServiceRead::Ecs;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        _id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        record(aws, ctx, spec).await
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        _live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        record(aws, ctx, spec).await
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let arn = live
            .outputs
            .get(OUT_CLUSTER_ARN)
            .ok_or_else(|| crate::missing("release record", &live.cloud_id))?;
        aws.clients
            .ecs
            .untag_resource()
            .resource_arn(arn)
            .tag_keys(ReleaseRecordSpec::TAG_TAG)
            .tag_keys(ReleaseRecordSpec::TAG_REVISION)
            .tag_keys(ReleaseRecordSpec::TAG_FILE)
            .send()
            .await
            .map_err(|e| sdk("forget the release record", e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let name = live.outputs.get(OUT_CLUSTER).cloned().unwrap_or_default();
        Ok(
            match describe(&aws.clients.ecs, &name)
                .await?
                .as_ref()
                .and_then(observe)
            {
                Some(record) => Readiness::Ready(record),
                None => Readiness::Gone,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_reads_back_from_the_cluster_tags() {
        let t = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
        let cluster = Cluster::builder()
            .cluster_name("prod-app")
            .cluster_arn("arn:aws:ecs:us-east-1:1:cluster/prod-app")
            .tags(t(ReleaseRecordSpec::TAG_TAG, "3f2a9c1"))
            .tags(t(ReleaseRecordSpec::TAG_FILE, "2.4.7-p1 -"))
            .build();
        let observed = observe(&cluster).unwrap();
        assert_eq!(observed.id.as_str(), ReleaseRecordSpec::ID);
        let field = |f: mck_core::model::FieldDef| observed.fields[f.name].clone();
        assert_eq!(field(ReleaseRecordSpec::TAG), "3f2a9c1".into());
        assert_eq!(field(ReleaseRecordSpec::REVISION), "-".into());
        assert_eq!(field(ReleaseRecordSpec::FILE), "2.4.7-p1 -".into());
        assert!(observe(&Cluster::builder().cluster_name("prod-app").build()).is_none());
    }
}
