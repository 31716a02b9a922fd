//! CloudTrail: who last changed a resource (`mck drift --who`).
//!
//! `LookupEvents` searches the last 90 days of management events by resource name. AWS allows
//! it 2 requests per second per account and region; the SDK's adaptive retry paces mck when it
//! is throttled, and drift asks only about drifted resources, one at a time.

use aws_sdk_cloudtrail::Client;
use aws_sdk_cloudtrail::types::{LookupAttribute, LookupAttributeKey};
use mck_core::model::ResourceKind;
use mck_core::provider::{Who, WriteEvent};

use crate::error::sdk;

/// Where CloudTrail records the events of global services.
pub(crate) const GLOBAL_REGION: &str = "us-east-1";

/// Whether `kind` belongs to a global service (IAM, Route 53). Since 2021-11-22 CloudTrail
/// records their events only in us-east-1, so `LookupEvents` in the stack's region finds
/// nothing for them (AWS CloudTrail User Guide, "Global service events").
pub(crate) fn is_global(kind: ResourceKind) -> bool {
    matches!(
        kind,
        ResourceKind::Role
            | ResourceKind::InstanceProfile
            | ResourceKind::HostedZone
            | ResourceKind::RecordSet
    )
}

/// Pages of 50 events searched for a write before giving up.
const PAGES: usize = 4;

/// The id CloudTrail records for a resource: composite ids of untaggable kinds
/// (`sg-1|ingress|…`, `Z1|db.t.internal|CNAME`) name their container first.
fn lookup_name(cloud_id: &str) -> &str {
    cloud_id.split('|').next().unwrap_or(cloud_id)
}

/// The newest write (non-read-only) event on `cloud_id`.
pub(crate) async fn last_write(trail: &Client, cloud_id: &str) -> Who {
    let name = lookup_name(cloud_id);
    let mut token: Option<String> = None;
    for _ in 0..PAGES {
        let attribute = match LookupAttribute::builder()
            .attribute_key(LookupAttributeKey::ResourceName)
            .attribute_value(name)
            .build()
        {
            Ok(a) => a,
            Err(e) => {
                return Who::Unknown {
                    reason: e.to_string(),
                };
            }
        };
        let page = match trail
            .lookup_events()
            .lookup_attributes(attribute)
            .max_results(50)
            .set_next_token(token.clone())
            .send()
            .await
        {
            Ok(page) => page,
            Err(e) => {
                return Who::Unknown {
                    reason: sdk(&format!("look up CloudTrail events of {name}"), e).message,
                };
            }
        };
        for event in page.events() {
            let Some(detail) = event
                .cloud_trail_event()
                .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
            else {
                continue;
            };
            if detail["readOnly"].as_bool() != Some(false) {
                continue;
            }
            let actor = detail["userIdentity"]["arn"]
                .as_str()
                .map(str::to_string)
                .or_else(|| event.username().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            return Who::Found(WriteEvent {
                actor,
                time: detail["eventTime"]
                    .as_str()
                    .map(str::to_string)
                    .unwrap_or_default(),
                call: event.event_name().unwrap_or_default().to_string(),
            });
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Who::NoEvent
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AwsProvider;
    use crate::testing::{Replay, json_error};

    fn event(name: &str, read_only: bool, arn: &str) -> serde_json::Value {
        let detail = serde_json::json!({
            "eventTime": "2026-11-23T22:10:00Z",
            "eventName": name,
            "readOnly": read_only,
            "userIdentity": { "arn": arn },
        });
        serde_json::json!({
            "EventName": name,
            "Username": "alice",
            "CloudTrailEvent": detail.to_string(),
        })
    }

    #[tokio::test]
    async fn the_newest_write_is_found_past_reads_and_pages() {
        let first = serde_json::json!({
            "Events": [event("DescribeSecurityGroups", true, "arn:aws:iam::1:role/ci")],
            "NextToken": "t2",
        });
        let second = serde_json::json!({
            "Events": [
                event("AuthorizeSecurityGroupIngress", false, "arn:aws:iam::1:user/alice"),
                event("CreateSecurityGroup", false, "arn:aws:iam::1:role/mck"),
            ],
        });
        let aws = Replay::new([
            ("LookupEvents", 200, first.to_string()),
            ("LookupEvents", 200, second.to_string()),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let who = last_write(&provider.clients.cloudtrail, "sg-1|ingress|tcp|22").await;
        assert_eq!(
            who,
            Who::Found(WriteEvent {
                actor: "arn:aws:iam::1:user/alice".into(),
                time: "2026-11-23T22:10:00Z".into(),
                call: "AuthorizeSecurityGroupIngress".into(),
            })
        );
        let requests = aws.requests();
        assert!(
            requests[0].1.contains("\"AttributeValue\":\"sg-1\""),
            "{requests:?}"
        );
        assert!(
            requests[1].1.contains("\"NextToken\":\"t2\""),
            "{requests:?}"
        );
        aws.assert_done();
    }

    #[tokio::test]
    async fn no_write_and_unreadable_trails_are_said_apart() {
        let aws = Replay::new([
            (
                "LookupEvents",
                200,
                serde_json::json!({ "Events": [] }).to_string(),
            ),
            (
                "LookupEvents",
                400,
                json_error(
                    "AccessDeniedException",
                    "not authorized to perform cloudtrail:LookupEvents",
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        assert_eq!(
            last_write(&provider.clients.cloudtrail, "vpc-1").await,
            Who::NoEvent
        );
        match last_write(&provider.clients.cloudtrail, "vpc-1").await {
            Who::Unknown { reason } => assert!(reason.contains("LookupEvents"), "{reason}"),
            other => panic!("{other:?}"),
        }
        aws.assert_done();
    }

    /// A stack in eu-west-1: its IAM role and Route 53 records are looked up in us-east-1,
    /// where CloudTrail records global services' events since 2021-11-22; its security group
    /// in eu-west-1.
    #[tokio::test]
    async fn global_services_are_looked_up_in_us_east_1_whatever_the_region() {
        use mck_core::provider::Reader;
        let found = || {
            serde_json::json!({
                "Events": [event("UpdateAssumeRolePolicy", false, "arn:aws:iam::1:user/alice")],
            })
            .to_string()
        };
        let aws = Replay::new([
            ("LookupEvents", 200, found()),
            ("LookupEvents", 200, found()),
            ("LookupEvents", 200, found()),
        ]);
        let provider = AwsProvider::offline_in(aws.clone(), "eu-west-1");
        for (kind, id) in [
            (ResourceKind::Role, "prod-task"),
            (ResourceKind::RecordSet, "Z1|db.prod.internal|CNAME"),
            (ResourceKind::SecurityGroup, "sg-1"),
        ] {
            assert!(
                matches!(provider.last_write(kind, id).await, Who::Found(_)),
                "{kind:?}"
            );
        }
        aws.assert_done();
        let uris = aws.uris();
        assert!(uris[0].contains("cloudtrail.us-east-1."), "{uris:?}");
        assert!(uris[1].contains("cloudtrail.us-east-1."), "{uris:?}");
        assert!(uris[2].contains("cloudtrail.eu-west-1."), "{uris:?}");
    }
}
