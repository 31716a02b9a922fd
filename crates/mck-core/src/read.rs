//! Reading a stack's live resources, retried like any other call. Between the executor (whose
//! retry policy it uses) and drift and the engine (which read through it).

use crate::exec;
use crate::provider::{Observed, ProviderError, Reader};

/// A reader's `read_all`, retried on throttling and transient errors like any other call: a
/// read is many calls, and one of them failing after the SDK's own retries should not fail a
/// plan or a drift report. An observation without a cloud id fails the read
/// ([`Observed::with_cloud_id`]).
pub async fn read_with_retries(
    reader: &dyn Reader,
    stack: &str,
) -> Result<Vec<Observed>, ProviderError> {
    read_with_retries_using(reader, stack, &exec::RetryPolicy::default()).await
}

pub(crate) async fn read_with_retries_using(
    reader: &dyn Reader,
    stack: &str,
    retry: &exec::RetryPolicy,
) -> Result<Vec<Observed>, ProviderError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 0;
    loop {
        attempt += 1;
        match reader.read_all(stack).await {
            Err(err)
                if attempt < ATTEMPTS
                    && exec::RetryPolicy::should_retry(err.class, exec::Op::Update) =>
            {
                tracing::debug!(attempt, error = %err.message, "retrying the read");
                tokio::time::sleep(retry.backoff(attempt, stack)).await;
            }
            result => {
                return result?.into_iter().map(Observed::with_cloud_id).collect();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use async_trait::async_trait;

    use super::*;
    use crate::model::ResourceKind;
    use crate::provider::ErrorClass;

    /// Answers a VPC with its id and a subnet without one (an answer that lacked `SubnetId`).
    #[derive(Debug)]
    struct Idless;

    #[async_trait]
    impl Reader for Idless {
        async fn read_all(&self, _stack: &str) -> Result<Vec<Observed>, ProviderError> {
            Ok(vec![
                Observed::new("vpc".into(), ResourceKind::Vpc, "vpc-1"),
                Observed::new("subnet.public.a".into(), ResourceKind::Subnet, ""),
            ])
        }
    }

    #[tokio::test]
    async fn an_observation_without_its_cloud_id_fails_the_read_naming_it() {
        let err = read_with_retries(&Idless, "dev").await.unwrap_err();
        assert_eq!(err.class, ErrorClass::Invalid);
        assert!(
            err.message.contains("subnet.public.a") && err.message.contains("cloud id"),
            "{}",
            err.message
        );
    }
}
