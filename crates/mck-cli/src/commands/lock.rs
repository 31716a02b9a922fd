//! The stack lock around a changing run: this process as the holder, taking the lock and
//! letting it go, and `mck unlock`.

use mck_aws::AwsProvider;
use mck_core::Engine;
use mck_core::exec::CancelToken;
use mck_core::lock::{LockGuard, LockHolder};

use super::{Failure, OK, aws_config, check_region, confirm, load};
use crate::args::{AwsArgs, StackArgs};
use crate::ui;

/// Who this run is, for the lock and for whoever it refuses.
/// This process as a lock holder, named by its command line.
pub(super) fn lock_holder() -> LockHolder {
    let command = std::iter::once("mck".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    LockHolder::this_process(command)
}

/// [`take_lock`], or with `--no-lock` (`no_lock`) a warning and no lock.
pub(super) async fn take_lock_unless(
    no_lock: bool,
    engine: &Engine,
    stack: &str,
    cancel: &CancelToken,
) -> Result<Option<LockGuard>, Failure> {
    if no_lock {
        ui::note(
            "warning: --no-lock: another run of this stack at the same time would build two of everything",
        );
        return Ok(None);
    }
    take_lock(engine, stack, cancel).await
}

/// Takes the stack's lock; refused at once, naming the holder, when another run holds it.
pub(super) async fn take_lock(
    engine: &Engine,
    stack: &str,
    cancel: &CancelToken,
) -> Result<Option<LockGuard>, Failure> {
    engine
        .lock(
            stack,
            lock_holder(),
            &mck_core::lock::is_gone_on_this_host,
            cancel.clone(),
        )
        .await
        .map_err(|e| Failure(e.to_string()))
}

/// Unlocks the stack, saying so if the lock was lost during the run.
pub(super) async fn let_go(lock: Option<LockGuard>) {
    let Some(guard) = lock else { return };
    if let Some(reason) = guard.lost() {
        ui::error(&format!(
            "the stack lock was lost during the run ({reason}); nothing new was started after that"
        ));
    }
    if let Err(err) = guard.unlock().await {
        ui::note(&format!(
            "warning: could not unlock the stack ({err}); it expires by itself"
        ));
    }
}

/// `mck unlock`: shows the holder, asks, and removes the lock whoever holds it.
pub(super) async fn unlock(args: &StackArgs, aws: &AwsArgs, yes: bool) -> Result<u8, Failure> {
    let desired = load(args)?;
    check_region(aws, desired.stack(), desired.region())?;
    let cloud = AwsProvider::connect(&aws_config(aws, "unlock"), desired.region()).await;
    let store = cloud.stack_lock();
    let stack = desired.stack();
    let holder = mck_core::lock::StackLock::holder(&store, stack)
        .await
        .map_err(|e| Failure(e.to_string()))?;
    let Some(holder) = holder else {
        ui::note(&format!("stack {stack} is not locked"));
        return Ok(OK);
    };
    let state = if holder.is_expired(mck_core::lock::now_unix()) {
        "expired"
    } else {
        "held"
    };
    ui::note(&format!("stack {stack} is locked ({state}) by {holder}"));
    confirm(
        yes,
        &format!(
            "Break the lock? If that run is still going, it stops starting new steps at its next renewal and two runs may change {stack} at once until then."
        ),
    )?;
    mck_core::lock::StackLock::force_unlock(&store, stack)
        .await
        .map_err(|e| Failure(e.to_string()))?;
    ui::note(&format!("stack {stack} is unlocked"));
    Ok(OK)
}
