//! EC2 resources of the network tier. One module per kind (route tables host their routes and
//! associations, security groups their rules: each is read in its parent's describe call).

mod elastic_ip;
mod instance;
mod internet_gateway;
mod launch_template;
mod nat_gateway;
mod route;
mod route_table;
mod route_table_association;
mod security_group;
mod security_group_rule;
mod subnet;
mod unmanaged;
mod vpc;

use crate::driver::Listed;
use crate::error::sdk;
use aws_sdk_ec2::Client;
use aws_sdk_ec2::error::ProvideErrorMetadata;
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_smithy_async::future::pagination_stream::PaginationStream;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use mck_core::model::ResourceKind;
use mck_core::model::{LogicalId, TAG_STACK};
use mck_core::provider::{Context, ProviderError};

pub(crate) use unmanaged::{list_networks, list_stacks, read_unmanaged, tag_network};

/// The kinds [`read_all`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[
    ResourceKind::Vpc,
    ResourceKind::InternetGateway,
    ResourceKind::Subnet,
    ResourceKind::RouteTable,
    ResourceKind::RouteTableAssociation,
    ResourceKind::SecurityGroup,
    ResourceKind::SecurityGroupRule,
    ResourceKind::Instance,
    ResourceKind::ElasticIp,
    ResourceKind::NatGateway,
    ResourceKind::Route,
    ResourceKind::LaunchTemplate,
];

/// Reads every kind concurrently: one paginated describe call per kind, filtered by stack tag.
pub(crate) async fn read_all(ec2: &Client, stack: &str) -> Result<Listed, ProviderError> {
    let (vpcs, subnets, igws, eips, nats, tables, groups, instances, templates) = tokio::try_join!(
        vpc::read(ec2, stack),
        subnet::read(ec2, stack),
        internet_gateway::read(ec2, stack),
        elastic_ip::read(ec2, stack),
        nat_gateway::read(ec2, stack),
        route_table::read(ec2, stack),
        security_group::read(ec2, stack),
        instance::read(ec2, stack),
        launch_template::read(ec2, stack),
    )?;
    let mut tables = tables;
    route_table_association::name_associations(&mut tables, &subnets);
    Ok(Listed::default()
        .with(ResourceKind::Vpc, vpcs)
        .with(ResourceKind::Subnet, subnets)
        .with(ResourceKind::InternetGateway, igws)
        .with(ResourceKind::ElasticIp, eips)
        .with(ResourceKind::NatGateway, nats)
        // A route table's routes and associations are in its description.
        .with_kinds(
            &[
                ResourceKind::RouteTable,
                ResourceKind::Route,
                ResourceKind::RouteTableAssociation,
            ],
            tables,
        )
        // A security group's rules are read with it.
        .with_kinds(
            &[ResourceKind::SecurityGroup, ResourceKind::SecurityGroupRule],
            groups,
        )
        .with(ResourceKind::Instance, instances)
        .with(ResourceKind::LaunchTemplate, templates))
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

/// Every item of a paginated, stack-filtered describe call that the stack owns, with its
/// logical id. Ownership is checked client-side as well ([`owned_id`]).
pub(crate) async fn owned_items<O, E, I>(
    mut pages: PaginationStream<Result<O, SdkError<E, HttpResponse>>>,
    what: &str,
    stack: &str,
    items: impl Fn(O) -> Vec<I>,
    tags: impl Fn(&I) -> &[Tag],
) -> Result<Vec<(LogicalId, I)>, ProviderError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(what, e))?;
        for item in items(page) {
            if let Some(id) = owned_id(tags(&item), stack) {
                out.push((id, item));
            }
        }
    }
    Ok(out)
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

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::operation::describe_subnets::{DescribeSubnetsError, DescribeSubnetsOutput};
    use aws_sdk_ec2::types::Subnet;
    use aws_smithy_async::future::pagination_stream::fn_stream::FnStream;
    use aws_smithy_types::error::ErrorMetadata;
    use mck_core::provider::ErrorClass;

    use super::*;

    type Page = Result<DescribeSubnetsOutput, SdkError<DescribeSubnetsError, HttpResponse>>;

    fn subnet(id: &str, tags: &[(&str, &str)]) -> Subnet {
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(*k).value(*v).build())
            .collect();
        Subnet::builder().subnet_id(id).set_tags(Some(tags)).build()
    }

    fn pages(pages: Vec<Page>) -> PaginationStream<Page> {
        PaginationStream::new(FnStream::new(move |tx| {
            Box::pin(async move {
                for page in pages {
                    if tx.send(page).await.is_err() {
                        return;
                    }
                }
            })
        }))
    }

    #[expect(clippy::result_large_err, reason = "the SDK's own page type")]
    fn page(subnets: Vec<Subnet>) -> Page {
        Ok(DescribeSubnetsOutput::builder()
            .set_subnets(Some(subnets))
            .build())
    }

    #[tokio::test]
    async fn only_the_stacks_own_items_are_kept_across_pages() {
        // An API that ignores the tag filter returns other stacks' and untagged resources too.
        let all = pages(vec![
            page(vec![
                subnet(
                    "subnet-1",
                    &[("mck:stack", "dev"), ("mck:id", "subnet.public.a")],
                ),
                subnet(
                    "subnet-2",
                    &[("mck:stack", "dev-2"), ("mck:id", "subnet.public.a")],
                ),
            ]),
            page(vec![
                subnet("subnet-3", &[("Name", "hand-made")]),
                subnet(
                    "subnet-4",
                    &[("mck:stack", "dev"), ("mck:id", "subnet.data.a")],
                ),
            ]),
        ]);
        let owned = owned_items(
            all,
            "list subnets",
            "dev",
            |p| p.subnets().to_vec(),
            |s| s.tags(),
        )
        .await
        .unwrap();
        let ids: Vec<(&str, &str)> = owned
            .iter()
            .map(|(id, s)| (id.as_str(), s.subnet_id().unwrap()))
            .collect();
        assert_eq!(
            ids,
            [
                ("subnet.public.a", "subnet-1"),
                ("subnet.data.a", "subnet-4")
            ]
        );
    }

    #[tokio::test]
    async fn a_failed_page_fails_the_read() {
        let meta = ErrorMetadata::builder()
            .code("RequestLimitExceeded")
            .build();
        let raw = HttpResponse::new(
            aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
            aws_smithy_types::body::SdkBody::empty(),
        );
        let all = pages(vec![
            page(vec![subnet(
                "subnet-1",
                &[("mck:stack", "dev"), ("mck:id", "a")],
            )]),
            Err(SdkError::service_error(
                DescribeSubnetsError::generic(meta),
                raw,
            )),
        ]);
        let err = owned_items(
            all,
            "list subnets",
            "dev",
            |p| p.subnets().to_vec(),
            |s| s.tags(),
        )
        .await
        .unwrap_err();
        assert_eq!(err.class, ErrorClass::Throttled);
        assert!(
            err.message.starts_with("failed to list subnets"),
            "{}",
            err.message
        );
    }
}
