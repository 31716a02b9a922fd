//! The alarms' topic `<stack>-alarms`. ListTopics gives only ARNs: the stack's is the one whose
//! name (the ARN's last part) is the topic's name and whose tags name the stack.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::Tag;
use mck_core::model::{LogicalId, ResourceKind, TopicSpec};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The name in a topic ARN (`arn:aws:sns:<region>:<account>:<name>`).
fn name_of(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or_default()
}

pub(super) fn observe(id: LogicalId, arn: &str) -> Observed {
    Observed::new(id, ResourceKind::Topic, arn)
        .with(TopicSpec::NAME, name_of(arn))
        .output(TopicSpec::OUT_ARN, arn)
}

/// The topic of `name`, if any, by its ARN.
async fn find(sns: &Client, name: &str) -> Result<Option<String>, ProviderError> {
    let mut pages = sns.list_topics().into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list SNS topics", e))?;
        if let Some(arn) = page
            .topics()
            .iter()
            .filter_map(|t| t.topic_arn())
            .find(|arn| name_of(arn) == name)
        {
            return Ok(Some(arn.to_string()));
        }
    }
    Ok(None)
}

/// The logical id the topic's tags give it in `stack`.
async fn owner(sns: &Client, arn: &str, stack: &str) -> Result<Option<LogicalId>, ProviderError> {
    let tags = sns
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| sdk(&format!("read the tags of topic {arn}"), e))?;
    Ok(crate::owner(
        tags.tags().iter().map(|t| (t.key(), t.value())),
        stack,
    ))
}

pub(super) async fn read(sns: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let Some(arn) = find(sns, &TopicSpec::name(stack)).await? else {
        return Ok(Vec::new());
    };
    Ok(match owner(sns, &arn, stack).await? {
        Some(id) => vec![observe(id, &arn)],
        None => Vec::new(),
    })
}

impl Driver for TopicSpec {
    const READ_BY: ServiceRead = ServiceRead::Sns;

    /// CreateTopic returns the topic of the name when it exists with the same attributes and
    /// tags (a create repeated after a lost answer); a topic of the name with other tags is
    /// refused by AWS, and then adopted only when its tags say it is this one.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let sns = &aws.clients.sns;
        let tags = ctx
            .tags_for(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ProviderError::invalid(e.to_string()))?;
        match sns
            .create_topic()
            .name(&spec.name)
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(out) => Ok(observe(id.clone(), out.topic_arn().unwrap_or_default())),
            Err(e) if e.code() == Some("InvalidParameter") => {
                let arn = find(sns, &spec.name).await?;
                let found = match arn {
                    Some(arn) => Some((
                        owner(sns, &arn, ctx.stack).await?,
                        observe(id.clone(), &arn),
                    )),
                    None => None,
                };
                crate::adopt("SNS topic", id, found)
            }
            Err(e) => Err(sdk(&format!("create topic {id} ({})", spec.name), e)),
        }
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        _live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(ResourceKind::Topic))
    }

    /// Deleting a topic deletes its subscriptions, pending ones included.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        aws.clients
            .sns
            .delete_topic()
            .topic_arn(&live.cloud_id)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete topic {}", live.cloud_id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        match aws
            .clients
            .sns
            .get_topic_attributes()
            .topic_arn(&live.cloud_id)
            .send()
            .await
        {
            Ok(_) => Ok(Readiness::Ready(observe(live.id.clone(), &live.cloud_id))),
            Err(e) if e.code() == Some("NotFound") => Ok(Readiness::Gone),
            Err(e) => Err(sdk(&format!("describe topic {}", live.cloud_id), e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;

    #[test]
    fn reads_the_name_from_the_arn() {
        let arn = "arn:aws:sns:us-east-1:123456789012:prod-alarms";
        assert_reads(
            &observe(LogicalId::new(TopicSpec::ID), arn),
            TopicSpec {
                name: "prod-alarms".into(),
            },
            &[],
        );
    }
}
