//! Aurora MySQL: DB subnet group, cluster parameter group, cluster, cluster instances.
//!
//! Named resources (`<stack>-db`…); ownership is confirmed from their tags. The master password
//! is managed by RDS in Secrets Manager (`ManageMasterUserPassword`): mck never sees it.

mod cluster;
mod instance;
mod parameter_group;
mod subnet_group;

use aws_sdk_rds::Client;
use aws_sdk_rds::error::ProvideErrorMetadata;
use aws_sdk_rds::types::{
    ApplyMethod, DbCluster, DbClusterParameterGroup, DbInstance, DbSubnetGroup, Parameter, Tag,
};
use mck_core::model::{
    DbClusterParameterGroupSpec, DbClusterSpec, DbInstanceSpec, DbSubnetGroupSpec, LogicalId,
    ResourceKind, Value,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::Listed;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// Tag holding the cluster's delete-time choice: RDS has no attribute for it.
const TAG_FINAL_SNAPSHOT: &str = "mck:final-snapshot";

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

fn cloud_ids(ids: impl IntoIterator<Item = String>) -> Value {
    let mut values: Vec<Value> = ids.into_iter().map(Value::CloudId).collect();
    values.sort();
    Value::List(values)
}

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[
    ResourceKind::DbSubnetGroup,
    ResourceKind::DbClusterParameterGroup,
    ResourceKind::DbCluster,
    ResourceKind::DbInstance,
];

/// Reads all RDS kinds of the stack: two list calls, plus tag and parameter reads for the
/// groups named after the stack (usually one each).
pub(crate) async fn read(
    rds: &Client,
    sm: &aws_sdk_secretsmanager::Client,
    stack: &str,
) -> Result<Listed, ProviderError> {
    let (groups, params, clusters, instances) = tokio::try_join!(
        read_subnet_groups(rds, stack),
        read_parameter_groups(rds, stack),
        read_clusters(rds, sm, stack),
        read_instances(rds, stack)
    )?;
    Ok(Listed::default()
        .with(ResourceKind::DbSubnetGroup, groups)
        .with(ResourceKind::DbClusterParameterGroup, params)
        .with(ResourceKind::DbCluster, clusters)
        .with(ResourceKind::DbInstance, instances))
}

async fn tags_of(rds: &Client, arn: &str) -> Result<Vec<Tag>, ProviderError> {
    let out = rds
        .list_tags_for_resource()
        .resource_name(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read tags of {arn}"), e))?;
    Ok(out.tag_list().to_vec())
}

use cluster::*;
use instance::*;
use parameter_group::*;
use subnet_group::*;
