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
use mck_core::model::ResourceKind;
use mck_core::provider::{Context, ErrorClass, Observed, ProviderError};

use crate::driver::Listed;
use crate::error::sdk;

/// The kinds [`read`] returns; each one's driver names this read (`Driver::READ_BY`).
pub(crate) const KINDS: &[ResourceKind] = &[
    ResourceKind::TargetGroup,
    ResourceKind::LoadBalancer,
    ResourceKind::Listener,
    ResourceKind::ListenerRule,
];

pub(crate) async fn read(elb: &Client, stack: &str) -> Result<Listed, ProviderError> {
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
    Ok(Listed::default()
        .with(ResourceKind::TargetGroup, groups)
        .with(ResourceKind::LoadBalancer, balancers)
        .with(ResourceKind::Listener, listeners)
        .with(ResourceKind::ListenerRule, rules))
}

fn tags(ctx: &Context<'_>, id: &LogicalId) -> Vec<Tag> {
    ctx.tags_for(id)
        .into_iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}

/// The tags of up to 20 resources per call, by ARN. Resources are listed by name prefix, so
/// another stack's (`prod-eu-…` for `prod`) may be deleted between the list and this read:
/// DescribeTags then fails for its whole batch, which is read again one ARN at a time, leaving
/// out the gone ones, instead of failing this stack's read.
async fn tags_of(elb: &Client, arns: &[String]) -> Result<TagsByArn, ProviderError> {
    let mut out = std::collections::HashMap::new();
    for chunk in arns.chunks(20) {
        match describe_tags(elb, chunk).await {
            Ok(found) => out.extend(found),
            Err(err) if err.class == ErrorClass::NotFound => {
                for arn in chunk {
                    match describe_tags(elb, std::slice::from_ref(arn)).await {
                        Ok(found) => out.extend(found),
                        Err(err) if err.class == ErrorClass::NotFound => {}
                        Err(err) => return Err(err),
                    }
                }
            }
            Err(err) => return Err(err),
        }
    }
    Ok(out)
}

async fn describe_tags(elb: &Client, arns: &[String]) -> Result<TagsByArn, ProviderError> {
    let described = elb
        .describe_tags()
        .set_resource_arns(Some(arns.to_vec()))
        .send()
        .await
        .map_err(|e| sdk("read load balancing tags", e))?;
    Ok(described
        .tag_descriptions()
        .iter()
        .map(|d| {
            (
                d.resource_arn().unwrap_or_default().to_string(),
                d.tags().to_vec(),
            )
        })
        .collect())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AwsProvider;
    use crate::testing::{Replay, query_error_xml, query_xml};

    fn tags_xml(arn: &str, stack: &str) -> String {
        query_xml(
            "DescribeTags",
            &format!(
                "<TagDescriptions><member><ResourceArn>{arn}</ResourceArn><Tags><member><Key>mck:stack</Key><Value>{stack}</Value></member></Tags></member></TagDescriptions>"
            ),
        )
    }

    /// Listed by the prefix `prod-`, another stack's `prod-eu-alb` is deleted before the tag
    /// read: the batch fails with LoadBalancerNotFound, and is read again ARN by ARN, so this
    /// stack's read goes on without the gone one.
    #[tokio::test]
    async fn a_resource_of_another_stack_deleted_meanwhile_does_not_fail_the_read() {
        let ours = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/prod-alb/1";
        let gone = "arn:aws:elasticloadbalancing:us-east-1:1:loadbalancer/app/prod-eu-alb/2";
        let not_found = || {
            query_error_xml(
                "LoadBalancerNotFound",
                &format!("Load balancer '{gone}' not found"),
            )
        };
        let aws = Replay::new([
            ("DescribeTags", 400, not_found()),
            ("DescribeTags", 200, tags_xml(ours, "prod")),
            ("DescribeTags", 400, not_found()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let tags = tags_of(
            &provider.clients.elbv2,
            &[ours.to_string(), gone.to_string()],
        )
        .await
        .unwrap();
        aws.assert_done();
        assert_eq!(tags.len(), 1);
        assert_eq!(owned(tags.get(ours), "prod"), None, "no mck:id tag");
        assert!(tags.contains_key(ours) && !tags.contains_key(gone));
    }
}
