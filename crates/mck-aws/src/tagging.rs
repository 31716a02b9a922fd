//! The Resource Groups Tagging API: every tagged resource of the region carrying `mck:stack`,
//! in one paginated call family (`mck ls`'s resource counts).

use std::collections::BTreeMap;

use aws_sdk_resourcegroupstagging::Client;
use aws_sdk_resourcegroupstagging::types::TagFilter;
use mck_core::model::TAG_STACK;
use mck_core::provider::ProviderError;

use crate::error::sdk;

/// How many tagged resources each stack has in the region.
pub(crate) async fn count_resources(
    tagging: &Client,
) -> Result<BTreeMap<String, usize>, ProviderError> {
    let mut counts = BTreeMap::new();
    let mut pages = tagging
        .get_resources()
        .tag_filters(TagFilter::builder().key(TAG_STACK).build())
        .resources_per_page(100)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("search the resources tagged mck:stack", e))?;
        for mapping in page.resource_tag_mapping_list() {
            if let Some(stack) = mapping
                .tags()
                .iter()
                .find(|t| t.key() == TAG_STACK)
                .map(|t| t.value())
            {
                *counts.entry(stack.to_string()).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AwsProvider;
    use crate::testing::Replay;

    #[tokio::test]
    async fn resources_are_counted_per_stack_across_pages() {
        let page = |token: &str, arns: &[(&str, &str)]| {
            serde_json::json!({
                "PaginationToken": token,
                "ResourceTagMappingList": arns.iter().map(|(arn, stack)| serde_json::json!({
                    "ResourceARN": arn,
                    "Tags": [{"Key": "mck:stack", "Value": stack}, {"Key": "mck:id", "Value": "x"}]
                })).collect::<Vec<_>>()
            })
            .to_string()
        };
        let replay = Replay::new([
            (
                "GetResources",
                200,
                page(
                    "next",
                    &[
                        ("arn:aws:ec2:us-east-1:1:vpc/vpc-1", "stage"),
                        ("arn:aws:rds:us-east-1:1:cluster:pr-1-db", "pr-1"),
                    ],
                ),
            ),
            (
                "GetResources",
                200,
                page("", &[("arn:aws:ec2:us-east-1:1:vpc/vpc-2", "pr-1")]),
            ),
        ]);
        let aws = AwsProvider::offline(replay.clone());
        let counts = count_resources(&aws.clients.tagging).await.unwrap();
        assert_eq!(
            counts,
            BTreeMap::from([("pr-1".to_string(), 2), ("stage".to_string(), 1)])
        );
        replay.assert_done();
        assert!(replay.requests()[0].1.contains("mck:stack"));
    }
}
