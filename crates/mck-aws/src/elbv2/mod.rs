//! Elastic Load Balancing v2: the ALB, the apps' target groups, the listener.
//!
//! ELBv2 does not refuse duplicates by itself in the emulator, and names are the identity on
//! AWS: every create is preceded by a read of the name, and a resource of that name is adopted
//! only when its tags say it is this one of this stack.

mod listener;
mod listener_rule;
mod load_balancer;
mod target_group;

use aws_sdk_elasticloadbalancingv2::Client;
use aws_sdk_elasticloadbalancingv2::types::Tag;
use mck_core::model::LogicalId;
use mck_core::provider::{Context, Observed, ProviderError};

use crate::error::sdk;

pub(crate) async fn read(elb: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let (groups, balancers) = tokio::try_join!(
        target_group::list(elb, stack),
        load_balancer::list(elb, stack)
    )?;
    // One tag read for both kinds (DescribeTags takes 20 ARNs of any kind per call).
    let arns: Vec<String> = groups
        .iter()
        .filter_map(|g| g.target_group_arn())
        .chain(balancers.iter().filter_map(|lb| lb.load_balancer_arn()))
        .map(str::to_string)
        .collect();
    let tags = tags_of(elb, &arns).await?;
    let (groups, balancers) = tokio::try_join!(
        target_group::read(elb, stack, &groups, &tags),
        load_balancer::read(elb, stack, &balancers, &tags)
    )?;
    let mut listeners = Vec::new();
    for lb in balancers.iter() {
        listeners.extend(listener::read(elb, lb).await?);
    }
    let mut rules = Vec::new();
    for listener in listeners.iter() {
        rules.extend(listener_rule::read(elb, listener).await?);
    }
    Ok(groups
        .into_iter()
        .chain(balancers)
        .chain(listeners)
        .chain(rules)
        .collect())
}

fn tags(ctx: &Context<'_>, id: &LogicalId) -> Vec<Tag> {
    ctx.tags_for(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of up to 20 resources per call, by ARN.
async fn tags_of(elb: &Client, arns: &[String]) -> Result<TagsByArn, ProviderError> {
    let mut out = std::collections::HashMap::new();
    for chunk in arns.chunks(20) {
        let described = elb
            .describe_tags()
            .set_resource_arns(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| sdk("read load balancing tags", e))?;
        for d in described.tag_descriptions() {
            out.insert(
                d.resource_arn().unwrap_or_default().to_string(),
                d.tags().to_vec(),
            );
        }
    }
    Ok(out)
}

/// The action that forwards requests to a target group (listeners and rules).
fn forward(target_group: &str) -> aws_sdk_elasticloadbalancingv2::types::Action {
    aws_sdk_elasticloadbalancingv2::types::Action::builder()
        .r#type(aws_sdk_elasticloadbalancingv2::types::ActionTypeEnum::Forward)
        .target_group_arn(target_group)
        .build()
}

/// Tags by ARN, as [`tags_of`] reads them.
type TagsByArn = std::collections::HashMap<String, Vec<Tag>>;

/// Whether a load balancer or target group name is one the stack would give (`<stack>-…`);
/// the tags decide ownership.
fn named_for(stack: &str, name: Option<&str>) -> bool {
    name.is_some_and(|n| n.starts_with(&format!("{stack}-")))
}

/// The items the stack owns among `items`, with their logical ids and ARNs.
fn owned_items<'a, T>(
    stack: &str,
    items: &'a [T],
    arn: impl Fn(&T) -> Option<&str>,
    tags: &TagsByArn,
) -> Vec<(LogicalId, &'a T, String)> {
    items
        .iter()
        .filter_map(|item| {
            let arn = arn(item)?.to_string();
            Some((owned(tags.get(&arn), stack)?, item, arn))
        })
        .collect()
}

/// A create found `arn` already holding the name: fine when its tags say it is `id` of this
/// stack (a retried create), refused otherwise ([`crate::adopt`]).
async fn adopt_existing(
    elb: &Client,
    what: &str,
    id: &LogicalId,
    stack: &str,
    arn: &str,
    observed: Observed,
) -> Result<(), ProviderError> {
    let tags = tags_of(elb, &[arn.to_string()]).await?;
    crate::adopt(what, id, Some((owned(tags.get(arn), stack), observed)))?;
    Ok(())
}

fn owned(tags: Option<&Vec<Tag>>, stack: &str) -> Option<LogicalId> {
    crate::owner(
        tags.into_iter()
            .flatten()
            .filter_map(|t| Some((t.key()?, t.value().unwrap_or_default()))),
        stack,
    )
}
