//! ElastiCache: cache subnet group, Redis replication groups, memcached clusters.
//!
//! Named `<stack>-<name>`; ownership is confirmed from tags. A replication group's subnet group
//! and security groups live on its member clusters, which this read does not fetch: they are set
//! at creation and not compared (see docs/resources.md).

mod cluster;
mod replication_group;
mod subnet_group;

use aws_sdk_elasticache::Client;
use aws_sdk_elasticache::error::ProvideErrorMetadata;
use aws_sdk_elasticache::types::{
    AutomaticFailoverStatus, CacheCluster, CacheSubnetGroup, MultiAzStatus, ReplicationGroup, Tag,
};
use mck_core::model::{
    CacheClusterSpec, CacheSubnetGroupSpec, LogicalId, ReplicationGroupSpec, ResourceKind, Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::Listed;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

fn tags(ctx: &Context<'_>, id: &LogicalId) -> Vec<Tag> {
    ctx.tags_for(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

fn owned(tags: &[Tag], stack: &str) -> Option<LogicalId> {
    crate::owner(
        tags.iter().filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

async fn tags_of(ec: &Client, arn: &str) -> Result<Vec<Tag>, ProviderError> {
    let out = ec
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read tags of {arn}"), e))?;
    Ok(out.tag_list().to_vec())
}

/// AWS answers ListTagsForResource only for groups and clusters that are `available`
/// (Terraform's read waits for it): in any other state, or if the resource went away between
/// the list and this call, the tags are unknown (`None`) rather than an error, so that one
/// busy resource (another stack's `dev-2-cache` for stack `dev`) cannot break a read.
async fn tags_if_readable(
    ec: &Client,
    status: Option<&str>,
    arn: &str,
) -> Result<Option<Vec<Tag>>, ProviderError> {
    if status != Some("available") {
        return Ok(None);
    }
    match tags_of(ec, arn).await {
        Ok(tags) => Ok(Some(tags)),
        Err(err)
            if matches!(
                err.class,
                mck_core::provider::ErrorClass::DependencyViolation
                    | mck_core::provider::ErrorClass::NotFound
            ) =>
        {
            tracing::debug!(arn, error = %err.message, "tags not readable now");
            Ok(None)
        }
        Err(err) => Err(err),
    }
}

fn ids(values: impl IntoIterator<Item = String>) -> Value {
    let mut v: Vec<Value> = values.into_iter().map(Value::CloudId).collect();
    v.sort();
    Value::List(v)
}

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[
    ResourceKind::CacheSubnetGroup,
    ResourceKind::ReplicationGroup,
    ResourceKind::CacheCluster,
];

pub(crate) async fn read(ec: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let (groups, replication, clusters) = tokio::try_join!(
        read_subnet_groups(ec, stack),
        read_replication_groups(ec, stack),
        read_clusters(ec, stack)
    )?;
    Ok(Listed::default()
        .with(ResourceKind::CacheSubnetGroup, groups)
        .with(ResourceKind::ReplicationGroup, replication)
        .with(ResourceKind::CacheCluster, clusters))
}

use cluster::*;
use replication_group::*;
use subnet_group::*;
