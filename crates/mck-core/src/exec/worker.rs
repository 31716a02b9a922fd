//! A worker: one step's call, retries and readiness wait.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::model::{LogicalId, ResourceSpec, Tags};
use crate::provider::{
    Context, ErrorClass, Observed, Provider, ProviderError, Readiness, VISIBILITY_GRACE,
};

use super::*;

/// Why a worker stopped short of its goal.
#[derive(Debug)]
pub(super) enum Interrupt {
    /// A delete found the resource already gone: that is success.
    Gone,
    /// A retire kept the old copy (a task definition revision kept for rollback): success.
    Kept,
    Cancelled,
    Failed(StepError),
}

/// One step's work, owned by its worker task.
pub(super) struct Work {
    pub(super) provider: Arc<dyn Provider>,
    pub(super) stack: Arc<str>,
    pub(super) tags: Arc<Tags>,
    pub(super) id: LogicalId,
    pub(super) op: Op,
    pub(super) spec: Option<ResourceSpec>,
    pub(super) live: Option<Observed>,
    pub(super) changed: Vec<&'static str>,
    /// A delete that retires the old copy of a create-first replacement.
    pub(super) retire: bool,
    pub(super) deps: HashMap<LogicalId, Observed>,
    pub(super) timeout: Duration,
    pub(super) poll: PollConfig,
    pub(super) retry: RetryPolicy,
    pub(super) events: mpsc::UnboundedSender<ExecEvent>,
    pub(super) cancel: CancelToken,
}

impl Work {
    /// Ok(Some) after create/update (fresh state), Ok(None) after delete.
    pub(super) async fn run(self) -> Result<Option<Observed>, Interrupt> {
        let deadline = Instant::now() + self.timeout;
        let ctx = Context {
            stack: &self.stack,
            tags: &self.tags,
            resolved: &self.deps,
        };
        let target = match self.op {
            Op::Create => {
                let spec = self.spec.as_ref().expect("create has a spec");
                self.with_retry(deadline, || async {
                    self.provider
                        .create(&ctx, &self.id, spec)
                        .await?
                        .with_cloud_id()
                })
                .await?
            }
            Op::Update => {
                let spec = self.spec.as_ref().expect("update has a spec");
                let live = self.live.as_ref().expect("update has live state");
                self.with_retry(deadline, || async {
                    self.provider
                        .update(&ctx, spec, live, &self.changed)
                        .await?
                        .with_cloud_id()
                })
                .await?
            }
            Op::Wait => self.live.clone().expect("a wait has live state"),
            // Being deleted already (by a run that was stopped): only waited for.
            Op::Delete if self.live.as_ref().is_some_and(Observed::is_deleting) => {
                self.live.clone().expect("delete has live state")
            }
            Op::Delete => {
                let live = self.live.as_ref().expect("delete has live state");
                let retiring = self.spec.as_ref().filter(|_| self.retire);
                match self
                    .with_retry(deadline, || async {
                        match retiring {
                            Some(spec) => self.provider.retire(&ctx, spec, live).await,
                            None => self.provider.delete(&ctx, live).await.map(|()| true),
                        }
                    })
                    .await
                {
                    Ok(true) => {}
                    // Kept as history: nothing to wait for.
                    Ok(false) => return Err(Interrupt::Kept),
                    Err(Interrupt::Gone) => return Ok(None),
                    Err(other) => return Err(other),
                }
                live.clone()
            }
        };
        self.wait(&ctx, &target, deadline).await
    }

    async fn with_retry<T, F, Fut>(&self, deadline: Instant, mut call: F) -> Result<T, Interrupt>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ProviderError>>,
    {
        let mut attempt = 0u32;
        loop {
            match call().await {
                Ok(v) => return Ok(v),
                Err(err) if self.op == Op::Delete && err.class == ErrorClass::NotFound => {
                    // Already gone: the goal of a delete.
                    return Err(Interrupt::Gone);
                }
                Err(err) => {
                    attempt += 1;
                    let wait = self.retry.backoff(attempt, self.id.as_str());
                    // A create that left its resource behind is not repeated: that would
                    // make a second one.
                    if let Some(created) = &err.created {
                        let mut err = StepError::from(err.clone());
                        err.message.push_str(&format!(
                            " ({created} was created; the next run finds it and finishes it)"
                        ));
                        return Err(Interrupt::Failed(err));
                    }
                    if !RetryPolicy::should_retry(err.class, self.op)
                        || Instant::now() + wait > deadline
                    {
                        let mut err = StepError::from(err);
                        if err.reason == FailureReason::Provider(ErrorClass::DependencyViolation) {
                            err.message.push_str(" (something still uses it)");
                        }
                        return Err(Interrupt::Failed(err));
                    }
                    tracing::debug!(attempt, error = %err.message, "retrying");
                    let _ = self.events.send(ExecEvent::Retrying {
                        id: self.id.clone(),
                        attempt,
                        error: err.message,
                    });
                    // A delete blocked by a dependency may retry for an hour: Ctrl-C must not
                    // wait for it.
                    let mut cancel = self.cancel.clone();
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = cancel.cancelled() => return Err(Interrupt::Cancelled),
                    }
                }
            }
        }
    }

    async fn wait(
        &self,
        ctx: &Context<'_>,
        target: &Observed,
        deadline: Instant,
    ) -> Result<Option<Observed>, Interrupt> {
        let started = Instant::now();
        let mut last_status;
        loop {
            let readiness = match self.provider.poll(ctx, target).await {
                Ok(r) => r,
                Err(err) if err.class == ErrorClass::NotFound => Readiness::Gone,
                Err(err) if RetryPolicy::should_retry(err.class, Op::Create) => {
                    Readiness::Pending(err.message)
                }
                Err(err) => return Err(Interrupt::Failed(err.into())),
            };
            match (readiness, self.op) {
                (Readiness::Ready(observed), Op::Create | Op::Update | Op::Wait) => {
                    return Ok(Some(observed));
                }
                (Readiness::Gone, Op::Delete) => return Ok(None),
                // AWS APIs are eventually consistent: a describe right after a create may not
                // see the new resource yet.
                (Readiness::Gone, _) if started.elapsed() < VISIBILITY_GRACE => {
                    last_status = "not visible yet".to_string();
                }
                (Readiness::Gone, _) => {
                    return Err(Interrupt::Failed(StepError::new(
                        FailureReason::Disappeared,
                        format!(
                            "{} disappeared while waiting for it to become ready",
                            target.cloud_id
                        ),
                    )));
                }
                (Readiness::Failed(why), _) => {
                    return Err(Interrupt::Failed(StepError::new(
                        FailureReason::ResourceFailed,
                        format!("{} failed: {why}", target.cloud_id),
                    )));
                }
                (Readiness::Pending(status), _) => last_status = status,
                (Readiness::Ready(_), Op::Delete) => last_status = "still exists".to_string(),
            }
            let elapsed = started.elapsed();
            let interval = self.poll.next_interval(elapsed);
            if Instant::now() + interval > deadline {
                return Err(Interrupt::Failed(StepError::new(
                    FailureReason::TimedOut,
                    format!(
                        "timed out after {}s waiting for {} to be {} (last status: {last_status})",
                        elapsed.as_secs(),
                        target.cloud_id,
                        if self.op == Op::Delete {
                            "deleted"
                        } else {
                            "ready"
                        },
                    ),
                )));
            }
            let _ = self.events.send(ExecEvent::Waiting {
                id: self.id.clone(),
                status: last_status.clone(),
                elapsed_ms: u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            });
            let mut cancel = self.cancel.clone();
            tokio::select! {
                () = tokio::time::sleep(interval) => {}
                () = cancel.cancelled() => return Err(Interrupt::Cancelled),
            }
        }
    }
}
