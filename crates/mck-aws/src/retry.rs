//! Retries of single calls inside a driver.
//!
//! A create that needs follow-up calls (attach, associate, modify an attribute) must not fail
//! after its first call succeeded: the engine would run the whole create again and, for calls
//! without an idempotency token (CreateVpc, CreateInternetGateway, AllocateAddress), leave a
//! second resource behind. So each follow-up call is retried here, on its own, through the
//! errors real AWS gives right after a create: eventual consistency ("not found" for the new
//! id), throttling and 5xx. If it still fails, the error says the resource exists, and the
//! engine does not repeat the create ([`ProviderError::created`]); the next run finds
//! the resource by its tags and finishes it with an update.

use std::future::Future;

use mck_core::provider::{ErrorClass, ProviderError};

use crate::AwsProvider;

/// Whether a follow-up call may succeed if tried again.
fn retryable(err: &ProviderError, not_found_is_transient: bool) -> bool {
    match err.class {
        ErrorClass::Throttled | ErrorClass::Transient => true,
        ErrorClass::NotFound => not_found_is_transient,
        _ => false,
    }
}

impl AwsProvider {
    /// Runs `call` until it succeeds or fails for good; "not found" counts as not yet visible.
    pub(crate) async fn follow_up<T, F, Fut>(&self, mut call: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.retry_call(&mut call, true).await
    }

    /// Runs `call` until it succeeds or fails for good; "not found" is final.
    pub(crate) async fn retried<T, F, Fut>(&self, mut call: F) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.retry_call(&mut call, false).await
    }

    /// [`Self::follow_up`] for a resource just created, else [`Self::retried`].
    pub(crate) async fn call<T, F, Fut>(
        &self,
        just_created: bool,
        mut call: F,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        self.retry_call(&mut call, just_created).await
    }

    /// Polls `ready` until it says yes: every `base`, `2 × base`, … capped at 30 × `base`
    /// (15 s by default), for at most 120 polls (about half an hour by default). For calls that
    /// must wait for the previous change to finish (ElastiCache allows one at a time).
    pub(crate) async fn wait_until<F, Fut>(
        &self,
        what: &str,
        mut ready: F,
    ) -> Result<(), ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<bool, ProviderError>>,
    {
        for poll in 1..=120u32 {
            if self.retried(&mut ready).await? {
                return Ok(());
            }
            tokio::time::sleep(self.clients.backoff.base * poll.min(30)).await;
        }
        Err(ProviderError::new(
            ErrorClass::Transient,
            format!("timed out waiting for {what}"),
        ))
    }

    async fn retry_call<T, F, Fut>(
        &self,
        call: &mut F,
        not_found_is_transient: bool,
    ) -> Result<T, ProviderError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 1;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(err)
                    if attempt < self.clients.backoff.attempts
                        && retryable(&err, not_found_is_transient) =>
                {
                    tracing::debug!(attempt, error = %err.message, "retrying a call");
                    let wait = self.clients.backoff.base * attempt.min(30);
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}
