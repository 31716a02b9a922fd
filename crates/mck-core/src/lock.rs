//! The stack lock: one `up` or `down` at a time per stack, wherever they run (CI, release
//! pipelines, operators' terminals).
//!
//! The lock lives in the cloud beside the stack, behind the small [`StackLock`] trait so
//! embedders can bring their own. A [`LockGuard`] takes it, renews it in the background while
//! the run lasts, and releases it; a holder that stops renewing (killed, or its machine gone)
//! leaves a lock that expires, and a holder on the same host whose process is gone is stale at
//! once (the CLI's check). A holder that cannot confirm a renewal stops its run while its calls
//! can still end before the holding expires ([`LeaseTiming`]); others judge expiry by their own
//! clocks, allowing [`CLOCK_SKEW_ALLOWANCE`]. `plan`, `drift` and `outputs` never take it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::exec::CancelToken;
use crate::provider::ProviderError;

/// How long a holding lasts without renewal: a holder killed outright blocks its stack at most
/// this long plus [`CLOCK_SKEW_ALLOWANCE`] (less on the same host, where a gone process is seen
/// at once).
pub const LOCK_TTL: Duration = Duration::from_secs(300);

/// How far the clocks of two hosts may disagree. A holding's `expires` is written by its
/// holder's clock and judged by the clock of whoever wants the lock, so a holding counts as
/// expired for others only this long after its `expires`.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::from_secs(30);

/// The longest one call of a run may take: the AWS provider's operation timeout (retries
/// included). A cancelled run has made its last call this long after it was cancelled.
pub const CALL_LIMIT: Duration = Duration::from_secs(120);

/// How a holding is kept alive, all on the holder's monotonic clock: renewed every `ttl / 5`,
/// a failed renewal tried again every `ttl / 60`, each renewal given at most `ttl / 10`. If
/// no renewal has been confirmed for `ttl - call_limit`, the run is stopped: its calls in
/// flight then end before the holding, as last confirmed, can expire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaseTiming {
    // Invariant: renew_every + renew_timeout < ttl - call_limit (there is time to retry).
    ttl: Duration,
    call_limit: Duration,
}

impl LeaseTiming {
    /// Holdings of `ttl`, for runs whose calls take at most `call_limit` (at most `ttl / 2`:
    /// a longer limit is cut to it, so a failed renewal is always retried before the run
    /// must stop).
    pub fn new(ttl: Duration, call_limit: Duration) -> LeaseTiming {
        LeaseTiming {
            ttl,
            call_limit: call_limit.min(ttl / 2),
        }
    }

    /// How long a holding lasts without renewal.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// How often the holder renews.
    pub fn renew_every(&self) -> Duration {
        self.ttl / 5
    }

    /// How soon a failed renewal is tried again.
    pub fn retry_every(&self) -> Duration {
        (self.ttl / 60).max(Duration::from_secs(1))
    }

    /// How long one renewal may take before it counts as failed.
    pub fn renew_timeout(&self) -> Duration {
        self.ttl / 10
    }

    /// How long after the last confirmed renewal the run is stopped if no other is confirmed.
    pub fn stop_after(&self) -> Duration {
        self.ttl - self.call_limit
    }
}

impl Default for LeaseTiming {
    /// [`LOCK_TTL`] and [`CALL_LIMIT`]: renewed every 60 s, retried every 5 s, the run stopped
    /// 180 s after the last confirmed renewal.
    fn default() -> LeaseTiming {
        LeaseTiming::new(LOCK_TTL, CALL_LIMIT)
    }
}

/// Who holds a lock, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockHolder {
    /// A random token naming this holding; only its holder renews or releases it.
    pub id: String,
    /// The user that runs the holder.
    pub user: String,
    /// The machine it runs on.
    pub host: String,
    /// Its process id on that machine.
    pub pid: u32,
    /// The command line (`mck up --stack prod`).
    pub command: String,
    /// When it took the lock (RFC 3339, UTC).
    pub since: String,
    /// When the lock expires unless renewed (seconds since the Unix epoch).
    pub expires: u64,
}

impl LockHolder {
    /// Whether the holding has expired for someone else whose clock says `now` (seconds since
    /// the Unix epoch): more than [`CLOCK_SKEW_ALLOWANCE`] past its `expires`.
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires < expiry_cutoff(now)
    }
}

/// A holding whose `expires` is below this is expired for someone whose clock says `now`
/// (what a store compares `expires` with).
pub fn expiry_cutoff(now: u64) -> u64 {
    now.saturating_sub(CLOCK_SKEW_ALLOWANCE.as_secs())
}

impl fmt::Display for LockHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} (pid {}) running `{}` since {}",
            self.user, self.host, self.pid, self.command, self.since
        )
    }
}

/// Why a lock operation failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    /// Someone else holds the lock.
    #[error(
        "stack {stack} is being changed by {holder}; try again when it is done, or if that run is gone for good: mck unlock --stack {stack}"
    )]
    Held {
        /// The stack.
        stack: String,
        /// The holder.
        holder: Box<LockHolder>,
    },
    /// The lock was taken from this holder (it expired, or `mck unlock` broke it).
    #[error("lost the lock of stack {stack}: {reason}")]
    Lost {
        /// The stack.
        stack: String,
        /// What happened, in words.
        reason: String,
    },
    /// The lock store could not be used.
    #[error("stack lock: {0}")]
    Store(ProviderError),
}

/// A lock per stack in some store. Every operation must be atomic in the store (a conditional
/// write), so two runs racing for one stack never both win.
#[async_trait]
pub trait StackLock: Send + Sync + fmt::Debug {
    /// Takes the lock of `stack` for `holder` if nobody holds it or its holding has expired;
    /// [`LockError::Held`] otherwise.
    async fn acquire(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError>;

    /// Takes the lock from the holding `stale_id` (whose holder is known to be gone), only if
    /// that holding is still the current one.
    async fn take_over(
        &self,
        stack: &str,
        stale_id: &str,
        holder: &LockHolder,
    ) -> Result<(), LockError>;

    /// Extends the holding `holder.id` to `holder.expires`; [`LockError::Lost`] when it is no
    /// longer the current one.
    async fn renew(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError>;

    /// Releases the holding `id` if it is still the current one (otherwise does nothing).
    async fn unlock(&self, stack: &str, id: &str) -> Result<(), LockError>;

    /// The current holder, expired or not.
    async fn holder(&self, stack: &str) -> Result<Option<LockHolder>, LockError>;

    /// Removes the lock whoever holds it (`mck unlock`).
    async fn force_unlock(&self, stack: &str) -> Result<(), LockError>;
}

pub use crate::time::{now_unix, rfc3339_now};

/// The name of this machine, as holders record it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl LockHolder {
    /// This process as a holder of a new holding: its user, host and pid, `command` (what it
    /// runs, shown to whoever finds the stack locked), now. `expires` is set when it locks.
    pub fn this_process(command: String) -> LockHolder {
        let user = ["USER", "LOGNAME", "USERNAME"]
            .iter()
            .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
            .unwrap_or_else(|| "unknown".into());
        LockHolder {
            id: holding_id(),
            user,
            host: host_name(),
            pid: std::process::id(),
            command,
            since: rfc3339_now(),
            expires: 0,
        }
    }
}

/// Whether `holder` ran on this host and its process is gone (it was killed): its holding is
/// stale and is taken over at once instead of waiting for it to expire (what the CLI passes to
/// [`LockGuard::acquire`] as `is_stale`). Never true for another host's holder, or where the
/// process table cannot be read.
pub fn is_gone_on_this_host(holder: &LockHolder) -> bool {
    holder.host == host_name()
        && std::path::Path::new("/proc/self").exists()
        && !std::path::Path::new(&format!("/proc/{}", holder.pid)).exists()
}

/// A random-enough token for a holding (time, process, address entropy; not a secret).
pub fn holding_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

/// A held lock: renewed in the background until unlocked. If renewing finds the lock lost, or
/// cannot confirm a renewal in time to stop before the holding would expire
/// ([`LeaseTiming`]), the run's [`CancelToken`] is cancelled (no new steps start) and
/// [`LockGuard::lost`] says why.
#[derive(Debug)]
pub struct LockGuard {
    store: Arc<dyn StackLock>,
    stack: String,
    holder: LockHolder,
    renewer: tokio::task::JoinHandle<()>,
    lost: Arc<std::sync::Mutex<Option<String>>>,
}

impl LockGuard {
    /// Takes the lock of `stack` for `holder`, taking over a holding that `is_stale` says is
    /// gone (its process no longer exists), and keeps it as `timing` says.
    pub async fn acquire(
        store: Arc<dyn StackLock>,
        stack: &str,
        mut holder: LockHolder,
        timing: LeaseTiming,
        is_stale: &(dyn Fn(&LockHolder) -> bool + Send + Sync),
        cancel: CancelToken,
    ) -> Result<LockGuard, LockError> {
        // The holding lasts `ttl` from no earlier than this instant.
        let sent = tokio::time::Instant::now();
        holder.expires = now_unix() + timing.ttl().as_secs();
        match store.acquire(stack, &holder).await {
            Ok(()) => {}
            Err(LockError::Held { holder: other, .. }) if is_stale(&other) => {
                tracing::info!(stack, holder = %other, "taking over a lock whose holder is gone");
                store.take_over(stack, &other.id, &holder).await?;
            }
            Err(err) => return Err(err),
        }
        let lost = Arc::new(std::sync::Mutex::new(None));
        let renewer = tokio::spawn(
            Renewer {
                store: store.clone(),
                stack: stack.to_string(),
                holder: holder.clone(),
                timing,
                lost: lost.clone(),
                cancel,
            }
            .run(sent),
        );
        Ok(LockGuard {
            store,
            stack: stack.to_string(),
            holder,
            renewer,
            lost,
        })
    }

    /// The store and stack, to end the holding from elsewhere (a signal handler about to
    /// exit the process).
    pub fn handle(&self) -> (Arc<dyn StackLock>, String) {
        (self.store.clone(), self.stack.clone())
    }

    /// The holding.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// Why the lock was lost, or the run stopped for want of a renewal, if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops renewing and releases the lock.
    pub async fn unlock(self) -> Result<(), LockError> {
        self.renewer.abort();
        self.store.unlock(&self.stack, &self.holder.id).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Not unlocked (an early return): stop renewing, so the lock expires.
        self.renewer.abort();
    }
}

/// The background task that keeps a holding alive.
struct Renewer {
    store: Arc<dyn StackLock>,
    stack: String,
    holder: LockHolder,
    timing: LeaseTiming,
    lost: Arc<std::sync::Mutex<Option<String>>>,
    cancel: CancelToken,
}

impl Renewer {
    /// Renews until aborted. `confirmed`: the instant the last confirmed write of the holding
    /// was sent (it lasts `ttl` from then, or longer).
    async fn run(mut self, mut confirmed: tokio::time::Instant) {
        use tokio::time::Instant;
        let timing = self.timing;
        let mut next = confirmed + timing.renew_every();
        let mut last_error: Option<String> = None;
        let mut stopped = false;
        loop {
            let stop_at = confirmed + timing.stop_after();
            tokio::time::sleep_until(if stopped { next } else { next.min(stop_at) }).await;
            if !stopped && Instant::now() >= stop_at {
                // The calls in flight end within `call_limit`, before the holding can expire.
                let reason = format!(
                    "it could not be renewed for {} s ({}); the run stopped before the lock could expire",
                    (Instant::now() - confirmed).as_secs(),
                    last_error.as_deref().unwrap_or("no answer")
                );
                self.stop(reason);
                // Still try: a renewal that gets through keeps the calls in flight covered.
                stopped = true;
                continue;
            }
            let sent = Instant::now();
            self.holder.expires = now_unix() + timing.ttl().as_secs();
            let deadline = if stopped {
                sent + timing.renew_timeout()
            } else {
                (sent + timing.renew_timeout()).min(stop_at)
            };
            let renewed =
                tokio::time::timeout_at(deadline, self.store.renew(&self.stack, &self.holder))
                    .await;
            match renewed {
                Ok(Ok(())) => {
                    confirmed = sent;
                    next = sent + timing.renew_every();
                    last_error = None;
                    continue;
                }
                Ok(Err(LockError::Lost { reason, .. })) => {
                    if !stopped {
                        self.stop(reason);
                    }
                    return;
                }
                // A store hiccup: tried again soon, well before the holding expires.
                Ok(Err(err)) => last_error = Some(err.to_string()),
                Err(_) => {
                    last_error = Some(format!(
                        "no answer within {} s",
                        timing.renew_timeout().as_secs()
                    ));
                }
            }
            tracing::warn!(
                stack = self.stack,
                error = last_error.as_deref().unwrap_or_default(),
                "could not renew the stack lock; trying again"
            );
            next = Instant::now() + timing.retry_every();
        }
    }

    /// Records why the run stops and cancels it.
    fn stop(&self, reason: String) {
        tracing::warn!(
            stack = self.stack,
            reason,
            "lost the stack lock; starting nothing new"
        );
        *self
            .lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
        self.cancel.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeCloud;

    fn holder(user: &str) -> LockHolder {
        LockHolder {
            id: holding_id(),
            user: user.into(),
            host: "ci-1".into(),
            pid: 4711,
            command: "mck up --stack prod".into(),
            since: "2026-11-24T03:00:00Z".into(),
            expires: 0,
        }
    }

    const TTL: Duration = LOCK_TTL;

    fn timing() -> LeaseTiming {
        LeaseTiming::default()
    }

    fn holder_at(host: String, pid: u32) -> LockHolder {
        LockHolder {
            id: "h1".into(),
            user: "alice".into(),
            host,
            pid,
            command: "mck up --stack t".into(),
            since: "2026-01-01T00:00:00Z".into(),
            expires: 0,
        }
    }

    /// The pid of a process that has exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true")
            .spawn()
            .expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait for true");
        pid
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_holder_on_this_host_whose_process_is_gone_is_gone_on_this_host() {
        assert!(is_gone_on_this_host(&holder_at(host_name(), dead_pid())));
    }

    #[test]
    fn a_holder_whose_process_runs_is_not_stale() {
        assert!(!is_gone_on_this_host(&holder_at(
            host_name(),
            std::process::id()
        )));
    }

    #[test]
    fn a_holder_on_another_host_is_never_stale_here() {
        let elsewhere = format!("{}-elsewhere", host_name());
        assert!(!is_gone_on_this_host(&holder_at(elsewhere, dead_pid())));
    }

    #[test]
    fn this_process_names_its_host_pid_and_command() {
        let me = LockHolder::this_process("mck up --stack t".into());
        assert_eq!(
            (me.pid, me.host.as_str()),
            (std::process::id(), host_name().as_str())
        );
        assert_eq!(me.command, "mck up --stack t");
        assert!(!is_gone_on_this_host(&me));
    }

    fn never_stale(_: &LockHolder) -> bool {
        false
    }

    #[tokio::test(start_paused = true)]
    async fn two_runs_racing_one_wins_and_the_other_is_told_who_holds_it() {
        let cloud = Arc::new(FakeCloud::new());
        let store: Arc<dyn StackLock> = cloud.clone();
        let (a, b) = tokio::join!(
            LockGuard::acquire(
                store.clone(),
                "prod",
                holder("alice"),
                timing(),
                &never_stale,
                CancelToken::default()
            ),
            LockGuard::acquire(
                store.clone(),
                "prod",
                holder("bob"),
                timing(),
                &never_stale,
                CancelToken::default()
            ),
        );
        let (winner, loser) = match (a, b) {
            (Ok(g), Err(e)) | (Err(e), Ok(g)) => (g, e),
            (a, b) => panic!("exactly one must win: {a:?} {b:?}"),
        };
        match &loser {
            LockError::Held { holder, .. } => assert_eq!(holder.id, winner.holder().id),
            other => panic!("{other:?}"),
        }
        let message = loser.to_string();
        assert!(
            message.contains("ci-1")
                && message.contains("mck up --stack prod")
                && message.contains("since 2026-11-24T03:00:00Z"),
            "{message}"
        );
        // Another stack is not affected.
        LockGuard::acquire(
            store.clone(),
            "dev",
            holder("carol"),
            timing(),
            &never_stale,
            CancelToken::default(),
        )
        .await
        .unwrap();
        // Released: the next run takes it.
        winner.unlock().await.unwrap();
        LockGuard::acquire(
            store,
            "prod",
            holder("bob"),
            timing(),
            &never_stale,
            CancelToken::default(),
        )
        .await
        .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_holder_that_stops_renewing_expires_and_a_gone_one_is_taken_over() {
        let cloud = Arc::new(FakeCloud::new());
        let store: Arc<dyn StackLock> = cloud.clone();
        // Expired: its holder stopped renewing.
        let mut old = holder("alice");
        old.expires = now_unix() - CLOCK_SKEW_ALLOWANCE.as_secs() - 1;
        store.acquire("prod", &old).await.unwrap();
        let guard = LockGuard::acquire(
            store.clone(),
            "prod",
            holder("bob"),
            timing(),
            &never_stale,
            CancelToken::default(),
        )
        .await
        .unwrap();
        // Not expired, but its process is gone (what the CLI checks on the same host).
        let gone = guard.holder().id.clone();
        drop(guard);
        let stale = |h: &LockHolder| h.id == gone;
        let carol = LockGuard::acquire(
            store.clone(),
            "prod",
            holder("carol"),
            timing(),
            &stale,
            CancelToken::default(),
        )
        .await
        .unwrap();
        assert_eq!(store.holder("prod").await.unwrap().unwrap().user, "carol");
        carol.unlock().await.unwrap();
        assert_eq!(store.holder("prod").await.unwrap(), None);
    }

    #[tokio::test(start_paused = true)]
    async fn two_ups_racing_through_the_engine_build_everything_once() {
        use crate::Engine;
        use crate::exec::ExecConfig;
        use crate::provider::Provider;

        let cloud = Arc::new(FakeCloud::new().with_call_latency(Duration::from_millis(50)));
        let provider: Arc<dyn Provider> = cloud.clone();
        let engine = Engine::new(provider, ExecConfig::default()).with_lock(cloud.clone());
        let stack = crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
        let run = |user: &'static str| {
            let (engine, stack) = (engine.clone(), stack.clone());
            async move {
                let cancel = CancelToken::default();
                let guard = engine
                    .lock("dev", holder(user), &never_stale, cancel.clone())
                    .await?;
                let plan = engine.plan(Engine::desired(&stack).unwrap()).await.unwrap();
                let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
                let summary = engine.apply(&plan, tx, cancel).await;
                if let Some(guard) = guard {
                    guard.unlock().await?;
                }
                Ok::<_, LockError>(summary.is_success())
            }
        };
        let (a, b) = tokio::join!(run("alice"), run("bob"));
        let outcomes = [&a, &b];
        assert_eq!(
            outcomes.iter().filter(|r| matches!(r, Ok(true))).count(),
            1,
            "{a:?} {b:?}"
        );
        assert_eq!(
            outcomes
                .iter()
                .filter(|r| matches!(r, Err(LockError::Held { .. })))
                .count(),
            1
        );
        // Everything exactly once (duplicates would show as more resources).
        assert_eq!(cloud.len("dev"), Engine::desired(&stack).unwrap().len());
    }

    #[tokio::test(start_paused = true)]
    async fn renewing_keeps_the_lock_and_losing_it_cancels_the_run() {
        let cloud = Arc::new(FakeCloud::new());
        let store: Arc<dyn StackLock> = cloud.clone();
        let cancel = CancelToken::default();
        let guard = LockGuard::acquire(
            store.clone(),
            "prod",
            holder("alice"),
            timing(),
            &never_stale,
            cancel.clone(),
        )
        .await
        .unwrap();
        let first = store.holder("prod").await.unwrap().unwrap().expires;
        tokio::time::sleep(TTL).await;
        assert!(cloud.lock_renewals("prod") >= 2, "renewed every ttl/5");
        assert!(store.holder("prod").await.unwrap().unwrap().expires >= first);
        assert!(!cancel.is_cancelled());
        // `mck unlock` breaks it: the next renewal finds it lost and stops the run.
        store.force_unlock("prod").await.unwrap();
        tokio::time::sleep(TTL).await;
        assert!(cancel.is_cancelled());
        assert!(guard.lost().is_some());
        // Releasing a lock that is no longer ours leaves the new holder alone.
        store.acquire("prod", &holder("bob")).await.unwrap();
        guard.unlock().await.unwrap();
        assert_eq!(store.holder("prod").await.unwrap().unwrap().user, "bob");
    }

    /// A renewal the store answers with an error (not a lost lock), or never answers.
    #[derive(Debug, Clone, Copy)]
    enum Renewal {
        Fail,
        Hang,
    }

    /// A lock store whose renewals go as scripted; once the script ends, `FakeCloud` answers.
    #[derive(Debug)]
    struct Flaky {
        cloud: Arc<FakeCloud>,
        script: std::sync::Mutex<std::collections::VecDeque<Renewal>>,
        n_attempts: std::sync::atomic::AtomicU32,
    }

    impl Flaky {
        fn new(cloud: Arc<FakeCloud>, script: impl IntoIterator<Item = Renewal>) -> Flaky {
            Flaky {
                cloud,
                script: std::sync::Mutex::new(script.into_iter().collect()),
                n_attempts: std::sync::atomic::AtomicU32::new(0),
            }
        }

        fn n_attempts(&self) -> u32 {
            self.n_attempts.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl StackLock for Flaky {
        async fn acquire(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
            self.cloud.acquire(stack, holder).await
        }

        async fn take_over(
            &self,
            stack: &str,
            stale_id: &str,
            holder: &LockHolder,
        ) -> Result<(), LockError> {
            self.cloud.take_over(stack, stale_id, holder).await
        }

        async fn renew(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
            self.n_attempts
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let next = self
                .script
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .pop_front();
            match next {
                Some(Renewal::Fail) => Err(LockError::Store(ProviderError::new(
                    crate::provider::ErrorClass::Transient,
                    "ServiceUnavailable: try again later",
                ))),
                Some(Renewal::Hang) => std::future::pending().await,
                None => self.cloud.renew(stack, holder).await,
            }
        }

        async fn unlock(&self, stack: &str, id: &str) -> Result<(), LockError> {
            self.cloud.unlock(stack, id).await
        }

        async fn holder(&self, stack: &str) -> Result<Option<LockHolder>, LockError> {
            self.cloud.holder(stack).await
        }

        async fn force_unlock(&self, stack: &str) -> Result<(), LockError> {
            self.cloud.force_unlock(stack).await
        }
    }

    /// Takes the lock of `prod` on `store`; then waits (paused clock) until the run is
    /// cancelled or a whole lease has passed, and says how long that took.
    async fn time_until_cancelled(store: Arc<Flaky>) -> (Duration, LockGuard) {
        let cancel = CancelToken::default();
        let guard = LockGuard::acquire(
            store,
            "prod",
            holder("alice"),
            timing(),
            &never_stale,
            cancel.clone(),
        )
        .await
        .unwrap();
        let start = tokio::time::Instant::now();
        while !cancel.is_cancelled() && start.elapsed() < TTL {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (start.elapsed(), guard)
    }

    #[tokio::test(start_paused = true)]
    async fn renewals_that_keep_failing_stop_the_run_before_the_lease_expires() {
        let store = Arc::new(Flaky::new(
            Arc::new(FakeCloud::new()),
            [Renewal::Fail; 1000],
        ));
        let (elapsed, guard) = time_until_cancelled(store.clone()).await;
        // Stopped when the calls in flight (each ends within CALL_LIMIT) still end before the
        // holding can expire, and not before.
        assert_eq!(
            elapsed.as_secs(),
            (TTL - CALL_LIMIT).as_secs(),
            "{elapsed:?}"
        );
        let reason = guard.lost().expect("the reason is recorded");
        assert!(
            reason.contains("could not be renewed") && reason.contains("ServiceUnavailable"),
            "{reason}"
        );
        // Failed renewals were retried soon, not once per renewal period.
        assert!(store.n_attempts() >= 5, "{} attempts", store.n_attempts());
    }

    #[tokio::test(start_paused = true)]
    async fn a_renewal_that_never_answers_stops_the_run_before_the_lease_expires() {
        let store = Arc::new(Flaky::new(
            Arc::new(FakeCloud::new()),
            [Renewal::Hang; 1000],
        ));
        let (elapsed, guard) = time_until_cancelled(store.clone()).await;
        assert_eq!(
            elapsed.as_secs(),
            (TTL - CALL_LIMIT).as_secs(),
            "{elapsed:?}"
        );
        let reason = guard.lost().expect("the reason is recorded");
        assert!(reason.contains("no answer"), "{reason}");
        assert!(store.n_attempts() >= 2, "{} attempts", store.n_attempts());
    }

    #[tokio::test(start_paused = true)]
    async fn one_failed_renewal_is_retried_soon_and_the_run_goes_on() {
        let cloud = Arc::new(FakeCloud::new());
        let store = Arc::new(Flaky::new(cloud.clone(), [Renewal::Fail]));
        let cancel = CancelToken::default();
        let guard = LockGuard::acquire(
            store.clone(),
            "prod",
            holder("alice"),
            timing(),
            &never_stale,
            cancel.clone(),
        )
        .await
        .unwrap();
        // The first renewal fails; the next one follows within seconds, not a period later.
        tokio::time::sleep(timing().renew_every() + Duration::from_secs(10)).await;
        assert_eq!(store.n_attempts(), 2);
        assert_eq!(cloud.lock_renewals("prod"), 1);
        tokio::time::sleep(TTL * 2).await;
        assert!(!cancel.is_cancelled());
        assert_eq!(guard.lost(), None);
        guard.unlock().await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_holding_expires_for_others_only_after_the_clock_skew_allowance() {
        let cloud = Arc::new(FakeCloud::new());
        let store: Arc<dyn StackLock> = cloud.clone();
        // Past its `expires` by 10 s of this host's clock: its holder's clock may be behind.
        let mut old = holder("alice");
        old.expires = now_unix() - 10;
        store.acquire("prod", &old).await.unwrap();
        match store.acquire("prod", &holder("bob")).await {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.user, "alice"),
            other => panic!("{other:?}"),
        }
        assert!(!old.is_expired(now_unix()));
        // Past it by more than the allowance: expired.
        old.expires = now_unix() - CLOCK_SKEW_ALLOWANCE.as_secs() - 1;
        store.force_unlock("prod").await.unwrap();
        store.acquire("prod", &old).await.unwrap();
        store.acquire("prod", &holder("bob")).await.unwrap();
    }
}
