//! The stack lock: one `up` or `down` at a time per stack, wherever they run (CI, release
//! pipelines, operators' terminals).
//!
//! The lock lives in the cloud beside the stack, behind the small [`StackLock`] trait so
//! embedders can bring their own. A [`LockGuard`] takes it, renews it in the background while
//! the run lasts, and releases it; a holder that stops renewing (killed, or its machine gone)
//! leaves a lock that expires, and a holder on the same host whose process is gone is stale at
//! once (the CLI's check). `plan`, `drift` and `outputs` never take it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::exec::CancelToken;
use crate::provider::ProviderError;

/// How long a holding lasts without renewal: a holder killed outright blocks its stack at most
/// this long (less on the same host, where a gone process is seen at once).
pub const LOCK_TTL: Duration = Duration::from_secs(300);

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
    /// Whether the lock has expired at `now` (seconds since the Unix epoch).
    pub fn is_expired(&self, now: u64) -> bool {
        self.expires < now
    }
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
    async fn release(&self, stack: &str, id: &str) -> Result<(), LockError>;

    /// The current holder, expired or not.
    async fn holder(&self, stack: &str) -> Result<Option<LockHolder>, LockError>;

    /// Removes the lock whoever holds it (`mck unlock`).
    async fn force_release(&self, stack: &str) -> Result<(), LockError>;
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Now as RFC 3339 in UTC, to the second (`2026-11-24T04:05:06Z`).
pub fn rfc3339_now() -> String {
    let secs = now_unix();
    let date = crate::drift::date_of_day(i64::try_from(secs / 86_400).unwrap_or(0));
    let t = secs % 86_400;
    format!("{date}T{:02}:{:02}:{:02}Z", t / 3600, t % 3600 / 60, t % 60)
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

/// A held lock: renewed in the background until released. If renewing finds the lock lost,
/// the run's [`CancelToken`] is cancelled (no new steps start) and [`LockGuard::lost`] says why.
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
    /// gone (its process no longer exists), and renews it every `ttl / 3`.
    pub async fn acquire(
        store: Arc<dyn StackLock>,
        stack: &str,
        mut holder: LockHolder,
        ttl: Duration,
        is_stale: &(dyn Fn(&LockHolder) -> bool + Send + Sync),
        cancel: CancelToken,
    ) -> Result<LockGuard, LockError> {
        holder.expires = now_unix() + ttl.as_secs();
        match store.acquire(stack, &holder).await {
            Ok(()) => {}
            Err(LockError::Held { holder: other, .. }) if is_stale(&other) => {
                tracing::info!(stack, holder = %other, "taking over a lock whose holder is gone");
                store.take_over(stack, &other.id, &holder).await?;
            }
            Err(err) => return Err(err),
        }
        let lost = Arc::new(std::sync::Mutex::new(None));
        let renewer = tokio::spawn(renew_loop(
            store.clone(),
            stack.to_string(),
            holder.clone(),
            ttl,
            lost.clone(),
            cancel,
        ));
        Ok(LockGuard {
            store,
            stack: stack.to_string(),
            holder,
            renewer,
            lost,
        })
    }

    /// The store and stack, to release the holding from elsewhere (a signal handler about to
    /// exit the process).
    pub fn handle(&self) -> (Arc<dyn StackLock>, String) {
        (self.store.clone(), self.stack.clone())
    }

    /// The holding.
    pub fn holder(&self) -> &LockHolder {
        &self.holder
    }

    /// Why the lock was lost during the run, if it was.
    pub fn lost(&self) -> Option<String> {
        self.lost
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Stops renewing and releases the lock.
    pub async fn release(self) -> Result<(), LockError> {
        self.renewer.abort();
        self.store.release(&self.stack, &self.holder.id).await
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Not released (an early return): stop renewing, so the lock expires.
        self.renewer.abort();
    }
}

async fn renew_loop(
    store: Arc<dyn StackLock>,
    stack: String,
    mut holder: LockHolder,
    ttl: Duration,
    lost: Arc<std::sync::Mutex<Option<String>>>,
    cancel: CancelToken,
) {
    let every = (ttl / 3).max(Duration::from_secs(1));
    loop {
        tokio::time::sleep(every).await;
        holder.expires = now_unix() + ttl.as_secs();
        match store.renew(&stack, &holder).await {
            Ok(()) => {}
            Err(LockError::Lost { reason, .. }) => {
                tracing::warn!(stack, reason, "lost the stack lock; starting nothing new");
                *lost
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(reason);
                cancel.cancel();
                return;
            }
            // A store hiccup: try again at the next tick, well before the lock expires.
            Err(err) => tracing::warn!(stack, error = %err, "could not renew the stack lock"),
        }
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

    const TTL: Duration = Duration::from_secs(300);

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
                TTL,
                &never_stale,
                CancelToken::default()
            ),
            LockGuard::acquire(
                store.clone(),
                "prod",
                holder("bob"),
                TTL,
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
            TTL,
            &never_stale,
            CancelToken::default(),
        )
        .await
        .unwrap();
        // Released: the next run takes it.
        winner.release().await.unwrap();
        LockGuard::acquire(
            store,
            "prod",
            holder("bob"),
            TTL,
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
        old.expires = now_unix() - 1;
        store.acquire("prod", &old).await.unwrap();
        let guard = LockGuard::acquire(
            store.clone(),
            "prod",
            holder("bob"),
            TTL,
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
            TTL,
            &stale,
            CancelToken::default(),
        )
        .await
        .unwrap();
        assert_eq!(store.holder("prod").await.unwrap().unwrap().user, "carol");
        carol.release().await.unwrap();
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
                    guard.release().await?;
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
            TTL,
            &never_stale,
            cancel.clone(),
        )
        .await
        .unwrap();
        let first = store.holder("prod").await.unwrap().unwrap().expires;
        tokio::time::sleep(TTL).await;
        assert!(cloud.lock_renewals("prod") >= 2, "renewed every ttl/3");
        assert!(store.holder("prod").await.unwrap().unwrap().expires >= first);
        assert!(!cancel.is_cancelled());
        // `mck unlock` breaks it: the next renewal finds it lost and stops the run.
        store.force_release("prod").await.unwrap();
        tokio::time::sleep(TTL).await;
        assert!(cancel.is_cancelled());
        assert!(guard.lost().is_some());
        // Releasing a lock that is no longer ours leaves the new holder alone.
        store.acquire("prod", &holder("bob")).await.unwrap();
        guard.release().await.unwrap();
        assert_eq!(store.holder("prod").await.unwrap().unwrap().user, "bob");
    }
}
