//! EC2 resources of the network tier. One module per kind (route tables host their routes and
//! associations, security groups their rules: each is read in its parent's describe call).

mod elastic_ip;
mod instance;
mod internet_gateway;
mod nat_gateway;
mod route;
mod route_table;
mod route_table_association;
mod security_group;
mod security_group_rule;
mod subnet;
mod vpc;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use mck_core::model::{LogicalId, TAG_STACK};
use mck_core::provider::{Context, Observed, ProviderError};

/// Reads every kind concurrently: one paginated describe call per kind, filtered by stack tag.
pub(crate) async fn read_all(ec2: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let (vpcs, subnets, igws, eips, nats, tables, groups, instances) = tokio::try_join!(
        vpc::read(ec2, stack),
        subnet::read(ec2, stack),
        internet_gateway::read(ec2, stack),
        elastic_ip::read(ec2, stack),
        nat_gateway::read(ec2, stack),
        route_table::read(ec2, stack),
        security_group::read(ec2, stack),
        instance::read(ec2, stack),
    )?;
    let mut all = Vec::new();
    for part in [vpcs, subnets, igws, eips, nats, tables, groups, instances] {
        all.extend(part);
    }
    route_table_association::name_associations(&mut all);
    Ok(all)
}

// ---------------------------------------------------------------------------------------------
// Helpers shared by the EC2 modules.

/// `tag:mck:stack = <stack>`.
pub(crate) fn stack_filter(stack: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{TAG_STACK}"))
        .values(stack)
        .build()
}

pub(crate) fn filter(name: &str, value: impl Into<String>) -> Filter {
    Filter::builder().name(name).values(value).build()
}

/// The create-call tags: user tags, `Name`, `mck:stack`, `mck:id`.
pub(crate) fn tag_spec(
    resource_type: ResourceType,
    ctx: &Context<'_>,
    id: &LogicalId,
) -> TagSpecification {
    let tags = ctx
        .tags_for(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect();
    TagSpecification::builder()
        .resource_type(resource_type)
        .set_tags(Some(tags))
        .build()
}

/// The logical id of a resource owned by `stack`, checked client-side (some APIs ignore tag
/// filters, e.g. NAT gateways in the emulator).
pub(crate) fn owned_id(tags: &[Tag], stack: &str) -> Option<LogicalId> {
    crate::owner(
        tags.iter().filter_map(|t| Some((t.key()?, t.value()?))),
        stack,
    )
}

/// A deterministic idempotency token for EC2 creates: the same stack, id and parameters give
/// the same token, so a create retried after a crash returns the first resource instead of a
/// second one. The hour bucket keeps a later re-create (after a delete) from replaying the old,
/// deleted resource.
pub(crate) fn client_token(ctx: &Context<'_>, id: &LogicalId, params: &[&str]) -> String {
    // FNV-1a: stable across Rust versions, unlike DefaultHasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in [ctx.stack, id.as_str()]
        .into_iter()
        .chain(params.iter().copied())
    {
        for byte in part.bytes().chain(std::iter::once(0)) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    let hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() / 3600)
        .unwrap_or(0);
    format!("mck-{hash:016x}-{hour}")
}
