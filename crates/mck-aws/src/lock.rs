//! The stack lock on AWS: one item per stack in a DynamoDB table, written only with conditional
//! writes, so the lock is atomic on real AWS (two runs racing: exactly one write succeeds).
//!
//! - acquire: `PutItem` if no item exists or the holding expired;
//! - take over (the holder's process is gone): `PutItem` if the item is still that holding;
//! - renew: `UpdateItem` of `expires` if the item is still ours;
//! - unlock: `DeleteItem` if the item is still ours; `mck unlock`: `DeleteItem`.
//!
//! Taking the lock writes first: a run whose table exists sends one `PutItem` and nothing
//! else, so a role with only the item actions can run `up` (docs/iam.md). Only when the put
//! answers that the table does not exist is the table (`mck-stack-locks`, on-demand billing,
//! key `stack`) created, waited for and the put sent again; docs/operations.md says why
//! DynamoDB and what it costs.
//!
//! Conditional writes ask for the item that failed the condition
//! (`ReturnValuesOnConditionCheckFailure=ALL_OLD`): the refusal names the holder without
//! another read, and a refusal by our own holding means the SDK retried a write whose first
//! attempt took effect (its answer was lost), so the lock is ours.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, Tag,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use mck_core::lock::{LockError, LockHolder, StackLock, expiry_cutoff, now_unix};
use mck_core::provider::{ErrorClass, ProviderError};

use crate::error::sdk;

/// The lock table of an account and region.
pub const LOCK_TABLE: &str = "mck-stack-locks";

/// The stack lock store on DynamoDB ([`StackLock`]).
#[derive(Debug, Clone)]
pub struct DynamoLock {
    client: Client,
    table: String,
}

fn store_error(err: ProviderError) -> LockError {
    LockError::Store(err)
}

fn is_code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>, code: &str) -> bool {
    err.as_service_error().and_then(ProvideErrorMetadata::code) == Some(code)
}

/// A built SDK value, or the build error as a lock error.
fn built<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, LockError> {
    result.map_err(|e| store_error(ProviderError::invalid(e.to_string())))
}

const CONDITION_FAILED: &str = "ConditionalCheckFailedException";
const NO_TABLE: &str = "ResourceNotFoundException";

fn item(stack: &str, h: &LockHolder) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("stack".to_string(), AttributeValue::S(stack.to_string())),
        ("id".to_string(), AttributeValue::S(h.id.clone())),
        ("user".to_string(), AttributeValue::S(h.user.clone())),
        ("host".to_string(), AttributeValue::S(h.host.clone())),
        ("pid".to_string(), AttributeValue::N(h.pid.to_string())),
        ("command".to_string(), AttributeValue::S(h.command.clone())),
        ("since".to_string(), AttributeValue::S(h.since.clone())),
        (
            "expires".to_string(),
            AttributeValue::N(h.expires.to_string()),
        ),
    ])
}

fn holder_of(item: &HashMap<String, AttributeValue>) -> LockHolder {
    let s = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    LockHolder {
        id: s("id"),
        user: s("user"),
        host: s("host"),
        pid: u32::try_from(n("pid")).unwrap_or(0),
        command: s("command"),
        since: s("since"),
        expires: n("expires"),
    }
}

/// How a conditional put of a holding ended.
enum Put {
    Written,
    /// Refused; the item that failed the condition when the store returned it.
    Refused(Option<LockHolder>),
    NoTable,
}

impl DynamoLock {
    /// The store in the default table.
    pub fn new(client: Client) -> DynamoLock {
        DynamoLock {
            client,
            table: LOCK_TABLE.to_string(),
        }
    }

    /// Writes `holder`'s holding if no live holding exists, or (`stale`) if the current one
    /// is that holding; makes the table first if it does not exist.
    async fn put_holding(
        &self,
        stack: &str,
        holder: &LockHolder,
        stale: Option<&str>,
    ) -> Result<(), LockError> {
        let mut put = self.try_put(stack, holder, stale).await?;
        if matches!(put, Put::NoTable) {
            self.make_table().await?;
            put = self.try_put(stack, holder, stale).await?;
        }
        let current = match put {
            Put::Written => return Ok(()),
            Put::Refused(Some(current)) => Some(current),
            // A store that does not return the item: read it.
            Put::Refused(None) => self.holder(stack).await?,
            Put::NoTable => {
                return Err(store_error(ProviderError::new(
                    ErrorClass::Transient,
                    format!("the lock table {} is still not usable", self.table),
                )));
            }
        };
        match current {
            // The SDK retried a put whose first attempt took effect (its answer was lost):
            // the holding that refused the retry is ours.
            Some(current) if current.id == holder.id => {
                tracing::debug!(stack, "a retried lock write found its own holding");
                Ok(())
            }
            Some(current) => Err(LockError::Held {
                stack: stack.to_string(),
                holder: Box::new(current),
            }),
            // Released between the write and the read: say so rather than guess.
            None => Err(LockError::Store(ProviderError::new(
                ErrorClass::Transient,
                format!(
                    "the lock of stack {stack} changed hands while it was being taken; try again"
                ),
            ))),
        }
    }

    async fn try_put(
        &self,
        stack: &str,
        holder: &LockHolder,
        stale: Option<&str>,
    ) -> Result<Put, LockError> {
        let mut request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(stack, holder)))
            .expression_attribute_names("#stack", "stack")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(
                ":now",
                AttributeValue::N(expiry_cutoff(now_unix()).to_string()),
            )
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        request = match stale {
            None => request.condition_expression("attribute_not_exists(#stack) OR #expires < :now"),
            Some(stale) => request
                .condition_expression(
                    "attribute_not_exists(#stack) OR #id = :stale OR #expires < :now",
                )
                .expression_attribute_names("#id", "id")
                .expression_attribute_values(":stale", AttributeValue::S(stale.to_string())),
        };
        match request.send().await {
            Ok(_) => Ok(Put::Written),
            Err(e) => match e.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(refused)) => {
                    Ok(Put::Refused(refused.item().map(holder_of)))
                }
                Some(PutItemError::ResourceNotFoundException(_)) => Ok(Put::NoTable),
                _ => Err(store_error(sdk(&format!("lock stack {stack}"), e))),
            },
        }
    }

    /// Creates the table (or finds it being created by another run) and waits until it is
    /// ACTIVE.
    async fn make_table(&self) -> Result<(), LockError> {
        tracing::info!(table = self.table, "creating the stack lock table");
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .attribute_definitions(built(
                AttributeDefinition::builder()
                    .attribute_name("stack")
                    .attribute_type(ScalarAttributeType::S)
                    .build(),
            )?)
            .key_schema(built(
                KeySchemaElement::builder()
                    .attribute_name("stack")
                    .key_type(KeyType::Hash)
                    .build(),
            )?)
            .billing_mode(BillingMode::PayPerRequest)
            .tags(built(
                Tag::builder()
                    .key("mck:purpose")
                    .value("stack locks")
                    .build(),
            )?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            // Another run created it first.
            Err(e) if is_code(&e, "ResourceInUseException") => {}
            Err(e) => return Err(store_error(sdk("create the lock table", e))),
        }
        self.wait_active().await
    }

    async fn wait_active(&self) -> Result<(), LockError> {
        for _ in 0..120 {
            let out = self
                .client
                .describe_table()
                .table_name(&self.table)
                .send()
                .await;
            match out {
                Ok(out)
                    if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) =>
                {
                    return Ok(());
                }
                Ok(_) => {}
                Err(e) if is_code(&e, NO_TABLE) => {}
                Err(e) => return Err(store_error(sdk("read the lock table", e))),
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
        Err(store_error(ProviderError::new(
            ErrorClass::Transient,
            format!(
                "the lock table {} did not become ACTIVE within a minute",
                self.table
            ),
        )))
    }
}

#[async_trait]
impl StackLock for DynamoLock {
    async fn acquire(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
        self.put_holding(stack, holder, None).await
    }

    async fn take_over(
        &self,
        stack: &str,
        stale_id: &str,
        holder: &LockHolder,
    ) -> Result<(), LockError> {
        self.put_holding(stack, holder, Some(stale_id)).await
    }

    async fn renew(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("stack", AttributeValue::S(stack.to_string()))
            .update_expression("SET #expires = :expires")
            .condition_expression("#id = :me")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":expires", AttributeValue::N(holder.expires.to_string()))
            .expression_attribute_values(":me", AttributeValue::S(holder.id.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let reason = match update {
            Ok(_) => return Ok(()),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(refused)) => {
                    match refused.item().map(holder_of) {
                        Some(other) => format!("it is now held by {other}"),
                        // The item is gone, or the store does not return it: read it.
                        None => match self.holder(stack).await {
                            Ok(Some(other)) => format!("it is now held by {other}"),
                            Ok(None) => "it was removed (mck unlock)".to_string(),
                            Err(err) => err.to_string(),
                        },
                    }
                }
                Some(UpdateItemError::ResourceNotFoundException(_)) => {
                    format!("the lock table {} was deleted", self.table)
                }
                _ => {
                    return Err(store_error(sdk(
                        &format!("renew the lock of stack {stack}"),
                        e,
                    )));
                }
            },
        };
        Err(LockError::Lost {
            stack: stack.to_string(),
            reason,
        })
    }

    async fn unlock(&self, stack: &str, id: &str) -> Result<(), LockError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("stack", AttributeValue::S(stack.to_string()))
            .condition_expression("#id = :me")
            .expression_attribute_names("#id", "id")
            .expression_attribute_values(":me", AttributeValue::S(id.to_string()))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            // No longer ours (expired and taken, or broken), or a retried delete whose first
            // attempt took effect: nothing to release.
            Err(e) if is_code(&e, CONDITION_FAILED) || is_code(&e, NO_TABLE) => Ok(()),
            Err(e) => Err(store_error(sdk(&format!("unlock stack {stack}"), e))),
        }
    }

    async fn holder(&self, stack: &str) -> Result<Option<LockHolder>, LockError> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("stack", AttributeValue::S(stack.to_string()))
            .consistent_read(true)
            .send()
            .await;
        match got {
            Ok(out) => Ok(out.item().map(holder_of)),
            Err(e) if is_code(&e, NO_TABLE) => Ok(None),
            Err(e) => Err(store_error(sdk(
                &format!("read the lock of stack {stack}"),
                e,
            ))),
        }
    }

    async fn force_unlock(&self, stack: &str) -> Result<(), LockError> {
        let delete = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("stack", AttributeValue::S(stack.to_string()))
            .send()
            .await;
        match delete {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, NO_TABLE) => Ok(()),
            Err(e) => Err(store_error(sdk(
                &format!("remove the lock of stack {stack}"),
                e,
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::AwsProvider;
    use crate::testing::{Replay, json_error};

    /// This run's holding.
    fn holder() -> LockHolder {
        LockHolder {
            id: "h2".into(),
            user: "bob".into(),
            host: "laptop".into(),
            pid: 42,
            command: "mck down --stack prod".into(),
            since: "2026-11-24T04:00:00Z".into(),
            expires: now_unix() + 300,
        }
    }

    /// The item of a holding as DynamoDB returns it.
    fn item_json(id: &str, user: &str, host: &str, pid: u32) -> serde_json::Value {
        serde_json::json!({
            "stack": {"S": "prod"}, "id": {"S": id}, "user": {"S": user}, "host": {"S": host},
            "pid": {"N": pid.to_string()}, "command": {"S": "mck up --stack prod"},
            "since": {"S": "2026-11-24T03:59:00Z"}, "expires": {"N": "99999999999"}})
    }

    /// A refused conditional write; with `ReturnValuesOnConditionCheckFailure=ALL_OLD` AWS puts
    /// the item that failed the condition in the error.
    fn condition_failed(item: Option<serde_json::Value>) -> String {
        let mut body = serde_json::json!({
            "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
            "message": "The conditional request failed"});
        if let Some(item) = item {
            body["Item"] = item;
        }
        body.to_string()
    }

    fn no_table() -> String {
        json_error(
            "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException",
            "Requested resource not found",
        )
    }

    fn lock(aws: &Replay) -> DynamoLock {
        AwsProvider::offline(aws.clone()).stack_lock()
    }

    #[tokio::test]
    async fn an_existing_table_costs_one_put_and_no_describe() {
        let aws = Replay::new([("PutItem", 200, "{}".to_string())]);
        lock(&aws).acquire("prod", &holder()).await.unwrap();
        aws.assert_done();
        let put = &aws.requests()[0].1;
        assert!(
            put.contains("attribute_not_exists(#stack) OR #expires < :now"),
            "{put}"
        );
    }

    #[tokio::test]
    async fn a_missing_table_is_made_and_the_put_tried_again() {
        let aws = Replay::new([
            ("PutItem", 400, no_table()),
            (
                "CreateTable",
                200,
                serde_json::json!({"TableDescription": {"TableStatus": "CREATING"}}).to_string(),
            ),
            (
                "DescribeTable",
                200,
                serde_json::json!({"Table": {"TableName": LOCK_TABLE, "TableStatus": "ACTIVE"}})
                    .to_string(),
            ),
            ("PutItem", 200, "{}".to_string()),
        ]);
        lock(&aws).acquire("prod", &holder()).await.unwrap();
        aws.assert_done();
        let create = &aws.requests()[1].1;
        assert!(
            create.contains("PAY_PER_REQUEST") && create.contains("mck:purpose"),
            "{create}"
        );
    }

    #[tokio::test]
    async fn a_retried_put_that_took_effect_is_our_own_holding() {
        // The SDK sent the put again after its first attempt had written the item (a lost
        // answer): the retry fails its condition against our own holding.
        let ours = || condition_failed(Some(item_json("h2", "bob", "laptop", 42)));
        let aws = Replay::new([("PutItem", 400, ours()), ("PutItem", 400, ours())]);
        let lock = lock(&aws);
        lock.acquire("prod", &holder()).await.unwrap();
        lock.take_over("prod", "h1", &holder()).await.unwrap();
        // No GetItem: the refusal carried the item.
        aws.assert_done();
        for (_, put) in aws.requests() {
            assert!(
                put.contains("\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\""),
                "{put}"
            );
        }
    }

    #[tokio::test]
    async fn a_refused_put_names_the_holder_it_returns() {
        let aws = Replay::new([(
            "PutItem",
            400,
            condition_failed(Some(item_json("h1", "alice", "ci-7", 4711))),
        )]);
        match lock(&aws).acquire("prod", &holder()).await {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(
                    (holder.user.as_str(), holder.host.as_str(), holder.pid),
                    ("alice", "ci-7", 4711)
                );
                assert_eq!(holder.command, "mck up --stack prod");
            }
            other => panic!("{other:?}"),
        }
        aws.assert_done();
    }

    #[tokio::test]
    async fn without_the_item_in_the_refusal_the_holder_is_read() {
        // A store that ignores ALL_OLD: the holder is read (consistently), and a holding that
        // turns out to be ours is ours.
        let aws = Replay::new([
            ("PutItem", 400, condition_failed(None)),
            (
                "GetItem",
                200,
                serde_json::json!({"Item": item_json("h1", "alice", "ci-7", 4711)}).to_string(),
            ),
            ("PutItem", 400, condition_failed(None)),
            (
                "GetItem",
                200,
                serde_json::json!({"Item": item_json("h2", "bob", "laptop", 42)}).to_string(),
            ),
        ]);
        let lock = lock(&aws);
        match lock.acquire("prod", &holder()).await {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.user, "alice"),
            other => panic!("{other:?}"),
        }
        lock.acquire("prod", &holder()).await.unwrap();
        aws.assert_done();
        let get = &aws.requests()[1].1;
        assert!(get.contains("\"ConsistentRead\":true"), "{get}");
    }

    #[tokio::test]
    async fn a_taker_allows_for_clock_skew() {
        let aws = Replay::new([("PutItem", 200, "{}".to_string())]);
        let before = now_unix();
        lock(&aws).acquire("prod", &holder()).await.unwrap();
        let put: serde_json::Value = serde_json::from_str(&aws.requests()[0].1).unwrap();
        let now: u64 = put["ExpressionAttributeValues"][":now"]["N"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let allowance = mck_core::lock::CLOCK_SKEW_ALLOWANCE.as_secs();
        assert!(
            now <= now_unix() - allowance && now >= before - allowance,
            "{now}"
        );
        aws.assert_done();
    }

    #[tokio::test]
    async fn renew_and_release_are_conditional_on_the_holding() {
        let aws = Replay::new([
            (
                "UpdateItem",
                400,
                condition_failed(Some(item_json("h1", "alice", "ci-7", 4711))),
            ),
            ("DeleteItem", 400, condition_failed(None)),
        ]);
        let lock = lock(&aws);
        match lock.renew("prod", &holder()).await {
            Err(LockError::Lost { reason, .. }) => {
                assert!(reason.contains("alice@ci-7"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        // Not ours any more: releasing leaves the new holder alone and is not an error.
        lock.unlock("prod", "h2").await.unwrap();
        aws.assert_done();
        let requests = aws.requests();
        let update = &requests[0].1;
        assert!(
            update.contains("#id = :me")
                && update.contains("\"S\":\"h2\"")
                && update.contains("\"ReturnValuesOnConditionCheckFailure\":\"ALL_OLD\""),
            "{update}"
        );
        assert!(requests[1].1.contains("#id = :me"), "{}", requests[1].1);
    }

    #[tokio::test]
    async fn a_renewal_finding_the_item_gone_reads_as_removed() {
        let aws = Replay::new([
            ("UpdateItem", 400, condition_failed(None)),
            ("GetItem", 200, "{}".to_string()),
        ]);
        match lock(&aws).renew("prod", &holder()).await {
            Err(LockError::Lost { reason, .. }) => assert!(reason.contains("removed"), "{reason}"),
            other => panic!("{other:?}"),
        }
        aws.assert_done();
    }

    #[tokio::test]
    async fn without_the_table_renew_is_lost_and_holder_and_release_find_nothing() {
        let aws = Replay::new([
            ("UpdateItem", 400, no_table()),
            ("GetItem", 400, no_table()),
            ("DeleteItem", 400, no_table()),
            ("DeleteItem", 400, no_table()),
        ]);
        let lock = lock(&aws);
        match lock.renew("prod", &holder()).await {
            Err(LockError::Lost { reason, .. }) => {
                assert!(reason.contains(LOCK_TABLE), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(lock.holder("prod").await.unwrap(), None);
        lock.unlock("prod", "h2").await.unwrap();
        lock.force_unlock("prod").await.unwrap();
        // Nothing describes or creates the table but taking the lock.
        aws.assert_done();
    }
}
