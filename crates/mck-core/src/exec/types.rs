//! The executor's public types: operations, outcomes, events, settings, the summary.

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::model::{LogicalId, ResourceKind};
use crate::provider::{ErrorClass, ProviderError};

/// What a worker does to a resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    /// Create it.
    Create,
    /// Change it in place.
    Update,
    /// Delete it.
    Delete,
    /// Wait for an unchanged resource that is not usable yet (left mid-transition).
    Wait,
}

impl Op {
    /// The name used in messages and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Create => "create",
            Op::Update => "update",
            Op::Delete => "delete",
            Op::Wait => "wait for",
        }
    }
}

/// How a step ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Outcome {
    /// It succeeded.
    Done,
    /// It failed; the error says why.
    Failed(StepError),
    /// A step it needs failed or was not run.
    Skipped(String),
    /// Cancelled before it started, while it waited between retries, or while it waited for
    /// readiness.
    Cancelled,
}

/// Why a step failed, for the summary and for embedders: what went wrong, the cloud's error
/// code when it sent one, and the message.
#[derive(Clone, Debug, PartialEq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct StepError {
    /// Why it failed.
    pub reason: FailureReason,
    /// The cloud's error code, when it sent one.
    pub code: Option<String>,
    /// What went wrong, in words.
    pub message: String,
}

/// The kind of a step failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// A provider call failed (and was not retried, or ran out of time retrying).
    Provider(ErrorClass),
    /// The resource did not become ready (or gone) within its timeout.
    TimedOut,
    /// The resource reached a terminal failure state.
    ResourceFailed,
    /// The resource disappeared while mck waited for it to become ready.
    Disappeared,
    /// A bug in mck.
    Internal,
}

impl StepError {
    pub(crate) fn new(reason: FailureReason, message: impl Into<String>) -> StepError {
        StepError {
            reason,
            code: None,
            message: message.into(),
        }
    }
}

impl From<ProviderError> for StepError {
    fn from(err: ProviderError) -> StepError {
        StepError {
            reason: FailureReason::Provider(err.class),
            code: err.code,
            message: err.message,
        }
    }
}

/// Progress of a run, in the order the dispatcher saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum ExecEvent {
    /// A step started.
    Started {
        /// The resource.
        id: LogicalId,
        /// Its kind.
        kind: ResourceKind,
        /// What is done to it.
        op: Op,
    },
    /// Waiting for the resource to become ready (or gone); `status` is the cloud's word.
    Waiting {
        /// The resource.
        id: LogicalId,
        /// The cloud's status word.
        status: String,
        /// Milliseconds since the start.
        elapsed_ms: u64,
    },
    /// A call failed with a retryable error and will be retried.
    Retrying {
        /// The resource.
        id: LogicalId,
        /// Which attempt failed.
        attempt: u32,
        /// The error.
        error: String,
    },
    /// A step ended.
    Finished {
        /// The resource.
        id: LogicalId,
        /// Its kind.
        kind: ResourceKind,
        /// What is done to it.
        op: Op,
        /// How it ended.
        outcome: Outcome,
        /// Milliseconds since the start.
        elapsed_ms: u64,
        /// What the resource reported on success for people to read (output
        /// [`crate::provider::NOTE`]: a migration's last log lines).
        note: Option<String>,
    },
}

/// The adaptive readiness poller: first check after `first`, then every `elapsed / divisor`,
/// never more often than `first` nor less often than `max_interval`.
#[derive(Clone, Copy, Debug)]
pub struct PollConfig {
    /// The first check (and the shortest interval).
    pub first: Duration,
    /// Poll every `elapsed / divisor`.
    pub divisor: u32,
    /// The longest interval between checks.
    pub max_interval: Duration,
}

impl Default for PollConfig {
    fn default() -> Self {
        PollConfig {
            first: Duration::from_millis(200),
            divisor: 10,
            max_interval: Duration::from_secs(10),
        }
    }
}

impl PollConfig {
    /// The wait before the next check, given the time since the operation finished.
    pub fn next_interval(&self, elapsed: Duration) -> Duration {
        (elapsed / self.divisor).clamp(self.first, self.max_interval)
    }
}

/// Exponential backoff with full jitter for retryable errors.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// First backoff.
    pub base: Duration,
    /// Longest backoff.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base: Duration::from_millis(500),
            cap: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// Whether an error of `class` is worth retrying for operation `op`.
    pub fn should_retry(class: ErrorClass, op: Op) -> bool {
        match class {
            ErrorClass::Transient | ErrorClass::Throttled => true,
            // Hidden dependencies (ENIs, attachments being torn down) clear up with time, and
            // so does a resource busy with an earlier change (RDS and ElastiCache refuse a
            // modification while one is running).
            ErrorClass::DependencyViolation => matches!(op, Op::Delete | Op::Update),
            ErrorClass::NotFound | ErrorClass::Invalid | ErrorClass::Denied => false,
        }
    }

    /// Backoff before retry `attempt` (1-based), jittered between half and all of the bound.
    pub fn backoff(&self, attempt: u32, salt: &str) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << attempt.min(16))
            .min(self.cap);
        let jitter = RandomState::new().hash_one((attempt, salt)) % 1000;
        exp / 2 + exp / 2 * u32::try_from(jitter).unwrap_or(0) / 1000
    }
}

/// Settings of one run.
#[derive(Clone, Debug)]
pub struct ExecConfig {
    /// At most this many steps run at once.
    pub concurrency: usize,
    /// The readiness poller.
    pub poll: PollConfig,
    /// Retry backoff of failed calls.
    pub retry: RetryPolicy,
    /// Caps every per-kind readiness timeout for this run (fail fast in CI, emulators).
    pub max_wait: Option<Duration>,
}

impl Default for ExecConfig {
    fn default() -> Self {
        ExecConfig {
            concurrency: 32,
            poll: PollConfig::default(),
            retry: RetryPolicy::default(),
            max_wait: None,
        }
    }
}

/// Stops a run from starting new steps. Cloning shares the token.
#[derive(Clone, Debug)]
pub struct CancelToken {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
}

impl Default for CancelToken {
    fn default() -> Self {
        let (tx, rx) = watch::channel(false);
        CancelToken {
            tx: Arc::new(tx),
            rx,
        }
    }
}

impl CancelToken {
    /// Asks the run to stop starting steps and waiting.
    pub fn cancel(&self) {
        self.tx.send_replace(true);
    }

    /// Whether the run was asked to stop.
    pub fn is_cancelled(&self) -> bool {
        *self.rx.borrow()
    }

    pub(crate) async fn cancelled(&mut self) {
        let _ = self.rx.wait_for(|c| *c).await;
    }
}

/// One finished step in the summary.
#[derive(Clone, Debug, Serialize)]
pub struct StepResult {
    /// The resource.
    pub id: LogicalId,
    /// Its kind.
    pub kind: ResourceKind,
    /// What is done to it.
    pub op: Op,
    /// How it ended.
    pub outcome: Outcome,
}

/// The result of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    /// One result per step.
    pub results: Vec<StepResult>,
    /// Milliseconds since the start.
    pub elapsed_ms: u64,
}

impl Summary {
    /// How many steps ended as `pred` says.
    pub fn count(&self, pred: impl Fn(&Outcome) -> bool) -> usize {
        self.results.iter().filter(|r| pred(&r.outcome)).count()
    }

    /// Every step succeeded.
    pub fn is_success(&self) -> bool {
        self.results.iter().all(|r| r.outcome == Outcome::Done)
    }

    /// Failed first, then skipped and cancelled, then done.
    pub fn sorted(&self) -> Vec<&StepResult> {
        let rank = |o: &Outcome| match o {
            Outcome::Failed(_) => 0,
            Outcome::Skipped(_) => 1,
            Outcome::Cancelled => 2,
            Outcome::Done => 3,
        };
        let mut out: Vec<&StepResult> = self.results.iter().collect();
        out.sort_by_key(|r| rank(&r.outcome));
        out
    }
}
