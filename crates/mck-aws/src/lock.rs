//! The stack lock on AWS: one item per stack in a DynamoDB table, written only with conditional
//! writes, so the lock is atomic on real AWS (two runs racing: exactly one write succeeds).
//!
//! - acquire: `PutItem` if no item exists or the holding expired;
//! - take over (the holder's process is gone): `PutItem` if the item is still that holding;
//! - renew: `UpdateItem` of `expires` if the item is still ours;
//! - release: `DeleteItem` if the item is still ours; `mck unlock`: `DeleteItem`.
//!
//! The table (`mck-stack-locks`, on-demand billing, key `stack`) is created on first use in each
//! account and region and then reused; docs/operations.md says why DynamoDB and what it costs.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus, Tag,
};
use mck_core::lock::{LockError, LockHolder, StackLock, now_unix};
use mck_core::provider::{ErrorClass, ProviderError};

use crate::error::sdk;

/// The lock table of an account and region.
pub const LOCK_TABLE: &str = "mck-stack-locks";

/// The stack lock store on DynamoDB ([`StackLock`]).
#[derive(Debug, Clone)]
pub struct DynamoLock {
    client: Client,
    table: String,
    ready: std::sync::Arc<tokio::sync::OnceCell<()>>,
}

fn store_error(err: ProviderError) -> LockError {
    LockError::Store(err)
}

fn is_code<E: ProvideErrorMetadata>(
    err: &aws_sdk_dynamodb::error::SdkError<
        E,
        aws_smithy_runtime_api::client::orchestrator::HttpResponse,
    >,
    code: &str,
) -> bool {
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

impl DynamoLock {
    /// The store in the default table.
    pub fn new(client: Client) -> DynamoLock {
        DynamoLock {
            client,
            table: LOCK_TABLE.to_string(),
            ready: std::sync::Arc::default(),
        }
    }

    /// Creates the table on first use (and waits until it is ACTIVE); once per process.
    async fn ensure_table(&self) -> Result<(), LockError> {
        self.ready
            .get_or_try_init(|| async {
                match self
                    .client
                    .describe_table()
                    .table_name(&self.table)
                    .send()
                    .await
                {
                    Ok(out)
                        if out.table().and_then(|t| t.table_status())
                            == Some(&TableStatus::Active) =>
                    {
                        return Ok(());
                    }
                    Ok(_) => {}
                    Err(e) if is_code(&e, NO_TABLE) => self.create_table().await?,
                    Err(e) => return Err(store_error(sdk("read the lock table", e))),
                }
                self.wait_active().await
            })
            .await
            .map(|_| ())
    }

    async fn create_table(&self) -> Result<(), LockError> {
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
            Ok(_) => Ok(()),
            // Another run created it first.
            Err(e) if is_code(&e, "ResourceInUseException") => Ok(()),
            Err(e) => Err(store_error(sdk("create the lock table", e))),
        }
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

    /// A refused conditional write: who holds the lock now.
    async fn held(&self, stack: &str) -> LockError {
        match self.holder(stack).await {
            Ok(Some(holder)) => LockError::Held {
                stack: stack.to_string(),
                holder: Box::new(holder),
            },
            // Released between the write and the read: say so rather than guess.
            Ok(None) => LockError::Store(ProviderError::new(
                ErrorClass::Transient,
                format!(
                    "the lock of stack {stack} changed hands while it was being taken; try again"
                ),
            )),
            Err(err) => err,
        }
    }
}

#[async_trait]
impl StackLock for DynamoLock {
    async fn acquire(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
        self.ensure_table().await?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(stack, holder)))
            .condition_expression("attribute_not_exists(#stack) OR #expires < :now")
            .expression_attribute_names("#stack", "stack")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(":now", AttributeValue::N(now_unix().to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, CONDITION_FAILED) => Err(self.held(stack).await),
            Err(e) => Err(store_error(sdk(&format!("lock stack {stack}"), e))),
        }
    }

    async fn take_over(
        &self,
        stack: &str,
        stale_id: &str,
        holder: &LockHolder,
    ) -> Result<(), LockError> {
        self.ensure_table().await?;
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item(stack, holder)))
            .condition_expression("attribute_not_exists(#stack) OR #id = :stale OR #expires < :now")
            .expression_attribute_names("#stack", "stack")
            .expression_attribute_names("#id", "id")
            .expression_attribute_names("#expires", "expires")
            .expression_attribute_values(":stale", AttributeValue::S(stale_id.to_string()))
            .expression_attribute_values(":now", AttributeValue::N(now_unix().to_string()))
            .send()
            .await;
        match put {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, CONDITION_FAILED) => Err(self.held(stack).await),
            Err(e) => Err(store_error(sdk(&format!("lock stack {stack}"), e))),
        }
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
            .send()
            .await;
        match update {
            Ok(_) => Ok(()),
            Err(e) if is_code(&e, CONDITION_FAILED) || is_code(&e, NO_TABLE) => {
                let reason = match self.holder(stack).await {
                    Ok(Some(other)) => format!("it is now held by {other}"),
                    Ok(None) => "it was removed (mck unlock)".to_string(),
                    Err(err) => err.to_string(),
                };
                Err(LockError::Lost {
                    stack: stack.to_string(),
                    reason,
                })
            }
            Err(e) => Err(store_error(sdk(
                &format!("renew the lock of stack {stack}"),
                e,
            ))),
        }
    }

    async fn release(&self, stack: &str, id: &str) -> Result<(), LockError> {
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
            // No longer ours (expired and taken, or broken): nothing to release.
            Err(e) if is_code(&e, CONDITION_FAILED) || is_code(&e, NO_TABLE) => Ok(()),
            Err(e) => Err(store_error(sdk(
                &format!("release the lock of stack {stack}"),
                e,
            ))),
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

    async fn force_release(&self, stack: &str) -> Result<(), LockError> {
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

    #[tokio::test]
    async fn the_table_is_made_on_first_use_and_a_held_lock_names_its_holder() {
        let active =
            serde_json::json!({"Table": {"TableName": LOCK_TABLE, "TableStatus": "ACTIVE"}});
        let held = serde_json::json!({"Item": {
            "stack": {"S": "prod"}, "id": {"S": "h1"}, "user": {"S": "alice"}, "host": {"S": "ci-7"},
            "pid": {"N": "4711"}, "command": {"S": "mck up --stack prod"},
            "since": {"S": "2026-11-24T03:59:00Z"}, "expires": {"N": "99999999999"}}});
        let aws = Replay::new([
            (
                "DescribeTable",
                400,
                json_error(NO_TABLE, "Requested resource not found"),
            ),
            (
                "CreateTable",
                200,
                serde_json::json!({"TableDescription": {"TableStatus": "CREATING"}}).to_string(),
            ),
            ("DescribeTable", 200, active.to_string()),
            (
                "PutItem",
                400,
                json_error(CONDITION_FAILED, "The conditional request failed"),
            ),
            ("GetItem", 200, held.to_string()),
            // The table is known now: no second DescribeTable.
            ("PutItem", 200, "{}".to_string()),
        ]);
        let lock = AwsProvider::offline(aws.clone()).stack_lock();
        match lock.acquire("prod", &holder()).await {
            Err(LockError::Held { holder, .. }) => {
                assert_eq!(
                    (holder.user.as_str(), holder.host.as_str(), holder.pid),
                    ("alice", "ci-7", 4711)
                );
                assert_eq!(holder.command, "mck up --stack prod");
            }
            other => panic!("{other:?}"),
        }
        lock.acquire("prod", &holder()).await.unwrap();
        aws.assert_done();
        let requests = aws.requests();
        let put = &requests[3].1;
        assert!(
            put.contains("attribute_not_exists(#stack) OR #expires < :now"),
            "{put}"
        );
        assert!(
            requests[4].1.contains("\"ConsistentRead\":true"),
            "{}",
            requests[4].1
        );
    }

    #[tokio::test]
    async fn renew_and_release_are_conditional_on_the_holding() {
        let aws = Replay::new([
            (
                "UpdateItem",
                400,
                json_error(CONDITION_FAILED, "The conditional request failed"),
            ),
            ("GetItem", 200, "{}".to_string()),
            (
                "DeleteItem",
                400,
                json_error(CONDITION_FAILED, "The conditional request failed"),
            ),
        ]);
        let lock = AwsProvider::offline(aws.clone()).stack_lock();
        match lock.renew("prod", &holder()).await {
            Err(LockError::Lost { reason, .. }) => assert!(reason.contains("removed"), "{reason}"),
            other => panic!("{other:?}"),
        }
        // Not ours any more: releasing leaves the new holder alone and is not an error.
        lock.release("prod", "h2").await.unwrap();
        aws.assert_done();
        let requests = aws.requests();
        assert!(
            requests[0].1.contains("#id = :me") && requests[0].1.contains("\"S\":\"h2\""),
            "{}",
            requests[0].1
        );
        assert!(requests[2].1.contains("#id = :me"), "{}", requests[2].1);
    }
}
