//! The topic's e-mail subscriptions. A subscription pending confirmation is listed with the
//! ARN `PendingConfirmation`: it exists (no drift, nothing to create), but AWS lets nobody
//! remove it; it expires unconfirmed after three days, or goes with its topic.

use aws_sdk_sns::Client;
use aws_sdk_sns::error::ProvideErrorMetadata;
use aws_sdk_sns::types::Subscription;
use mck_core::model::{LogicalId, ResourceKind, SubscriptionSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The cloud id of a pending subscription, which has no ARN yet: its topic, protocol and
/// endpoint.
fn pending_id(topic: &str, protocol: &str, endpoint: &str) -> String {
    format!(
        "{}:{topic}:{protocol}:{endpoint}",
        SubscriptionSpec::PENDING_ARN
    )
}

fn is_pending(cloud_id: &str) -> bool {
    cloud_id.starts_with(SubscriptionSpec::PENDING_ARN)
}

pub(super) fn observe(topic: &str, sub: &Subscription) -> Observed {
    let protocol = sub.protocol().unwrap_or_default();
    let endpoint = sub.endpoint().unwrap_or_default();
    let arn = sub.subscription_arn().unwrap_or_default();
    let pending = arn == SubscriptionSpec::PENDING_ARN;
    let cloud_id = if pending {
        pending_id(topic, protocol, endpoint)
    } else {
        arn.to_string()
    };
    Observed::new(
        SubscriptionSpec::logical_id(protocol, endpoint),
        ResourceKind::Subscription,
        cloud_id,
    )
    .with(SubscriptionSpec::TOPIC, Value::CloudId(topic.into()))
    .with(SubscriptionSpec::PROTOCOL, protocol)
    .with(SubscriptionSpec::ENDPOINT, endpoint)
    .output(SubscriptionSpec::OUT_PENDING, pending.to_string())
}

async fn list(sns: &Client, topic: &str) -> Result<Vec<Subscription>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list the subscriptions of {topic}"), e))?;
        out.extend(page.subscriptions().iter().cloned());
    }
    Ok(out)
}

/// The subscriptions of the stack's topics.
pub(super) async fn read(
    sns: &Client,
    topics: &[Observed],
) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    for topic in topics {
        for sub in list(sns, &topic.cloud_id).await? {
            out.push(observe(&topic.cloud_id, &sub));
        }
    }
    Ok(out)
}

/// The subscription of `protocol` and `endpoint` on `topic`, as listed.
async fn find(
    sns: &Client,
    topic: &str,
    protocol: &str,
    endpoint: &str,
) -> Result<Option<Observed>, ProviderError> {
    Ok(list(sns, topic)
        .await?
        .iter()
        .find(|s| s.protocol() == Some(protocol) && s.endpoint() == Some(endpoint))
        .map(|s| observe(topic, s)))
}

impl Driver for SubscriptionSpec {
    const READ_BY: ServiceRead = ServiceRead::Sns;

    /// Subscribe returns the existing subscription of the same topic, protocol and endpoint;
    /// with `ReturnSubscriptionArn` it answers the ARN even before the address confirms.
    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let topic = ctx.cloud_id(spec.topic.id())?.to_string();
        let out = aws
            .clients
            .sns
            .subscribe()
            .topic_arn(&topic)
            .protocol(&spec.protocol)
            .endpoint(&spec.endpoint)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| sdk(&format!("subscribe {id} to {topic}"), e))?;
        let arn = out.subscription_arn().unwrap_or_default();
        Ok(Observed::new(id.clone(), ResourceKind::Subscription, arn)
            .with(SubscriptionSpec::TOPIC, Value::CloudId(topic))
            .with(SubscriptionSpec::PROTOCOL, spec.protocol.as_str())
            .with(SubscriptionSpec::ENDPOINT, spec.endpoint.as_str()))
    }

    async fn update(
        _aws: &AwsProvider,
        _ctx: &Context<'_>,
        _spec: &Self,
        _live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        Err(crate::no_mutable_fields(ResourceKind::Subscription))
    }

    /// A pending subscription cannot be removed (AWS refuses; it expires after three days):
    /// left, with a warning.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        if is_pending(&live.cloud_id) {
            tracing::warn!(
                subscription = %live.id,
                "pending confirmation: AWS does not let it be removed; it expires unconfirmed after three days"
            );
            return Ok(());
        }
        match aws
            .clients
            .sns
            .unsubscribe()
            .subscription_arn(&live.cloud_id)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("NotFound") => Ok(()),
            Err(e) => Err(sdk(&format!("unsubscribe {}", live.id), e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        // A pending one is listed under its placeholder until confirmed: as good as gone for
        // a delete, which AWS does not allow.
        if is_pending(&live.cloud_id) {
            return Ok(Readiness::Gone);
        }
        // A subscription's ARN is its topic's and an id: `<topic arn>:<id>`. (The `topic`
        // field reads as a reference to the topic once mapped, not as its ARN.)
        let topic = live.cloud_id.rsplit_once(':').map(|(t, _)| t);
        let (Some(topic), Some(Value::Str(protocol)), Some(Value::Str(endpoint))) = (
            topic,
            live.fields.get(SubscriptionSpec::PROTOCOL.name),
            live.fields.get(SubscriptionSpec::ENDPOINT.name),
        ) else {
            return Err(ProviderError::invalid(format!(
                "internal error: subscription {} ({}) has no topic in its ARN, or was read without its protocol or endpoint",
                live.id, live.cloud_id
            )));
        };
        Ok(
            match find(&aws.clients.sns, topic, protocol, endpoint).await {
                Ok(Some(found)) => Readiness::Ready(found),
                Ok(None) => Readiness::Gone,
                Err(e) if e.code.as_deref() == Some("NotFound") => Readiness::Gone,
                Err(e) => return Err(e),
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;
    use mck_core::model::Ref;

    /// A confirmed and a pending subscription read the same: the address is subscribed;
    /// only the output says it waits for its confirmation.
    #[test]
    fn a_pending_subscription_reads_as_subscribed_and_says_so_in_its_output() {
        let topic = "arn:aws:sns:us-east-1:123456789012:prod-alarms";
        let spec = SubscriptionSpec {
            topic: Ref::new("alarms.topic"),
            protocol: "email".into(),
            endpoint: "ops@example.com".into(),
        };
        for (arn, pending) in [
            (
                format!("{topic}:6b0e71bd-7e97-4d97-80ce-4a0994e55286"),
                "false",
            ),
            (SubscriptionSpec::PENDING_ARN.to_string(), "true"),
        ] {
            let sub = Subscription::builder()
                .subscription_arn(arn)
                .protocol("email")
                .endpoint("ops@example.com")
                .topic_arn(topic)
                .build();
            let observed = observe(topic, &sub);
            assert_eq!(observed.id.as_str(), "alarms.email/ops@example.com");
            assert_eq!(observed.outputs[SubscriptionSpec::OUT_PENDING], pending);
            assert_eq!(is_pending(&observed.cloud_id), pending == "true");
            assert_reads(&observed, spec.clone(), &[("alarms.topic", topic)]);
        }
    }

    /// The poll finds the subscription through the topic in its ARN, whatever its `topic`
    /// field reads as; once the topic is gone (a `down` deletes the topic after it), so is it.
    #[tokio::test]
    async fn the_poll_finds_it_through_its_arn_and_a_deleted_topic_means_gone() {
        use crate::testing::{Replay, context, query_error_xml, query_xml};
        let topic = "arn:aws:sns:us-east-1:123456789012:t-alarms";
        let arn = format!("{topic}:6b0e71bd");
        let listed = query_xml(
            "ListSubscriptionsByTopic",
            &format!(
                "<Subscriptions><member><SubscriptionArn>{arn}</SubscriptionArn><Protocol>email</Protocol><Endpoint>ops@example.com</Endpoint><TopicArn>{topic}</TopicArn></member></Subscriptions>"
            ),
        );
        let aws = Replay::new([
            ("ListSubscriptionsByTopic", 200, listed),
            (
                "ListSubscriptionsByTopic",
                404,
                query_error_xml("NotFound", "Topic does not exist"),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = Default::default();
        let live = Observed::new(
            SubscriptionSpec::logical_id("email", "ops@example.com"),
            ResourceKind::Subscription,
            &arn,
        )
        .with(
            SubscriptionSpec::TOPIC,
            Value::Ref(ResourceKind::Topic, "alarms.topic".into()),
        )
        .with(SubscriptionSpec::PROTOCOL, "email")
        .with(SubscriptionSpec::ENDPOINT, "ops@example.com");
        let Readiness::Ready(found) = SubscriptionSpec::poll(&provider, &context(&deps), &live)
            .await
            .unwrap()
        else {
            panic!("the subscription is there")
        };
        assert_eq!(found.cloud_id, arn);
        assert!(matches!(
            SubscriptionSpec::poll(&provider, &context(&deps), &live)
                .await
                .unwrap(),
            Readiness::Gone
        ));
        aws.assert_done();
    }
}
