//! [`StackLock`] for [`FakeCloud`](super::FakeCloud).

use async_trait::async_trait;

use super::FakeCloud;
use crate::lock::{LockError, LockHolder, StackLock, now_unix};

/// An in-memory lock store: each operation is atomic (one mutex), as the conditional writes of
/// a real store are.
#[async_trait]
impl StackLock for FakeCloud {
    async fn acquire(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
        let mut state = self.lock();
        match state.locks.get(stack) {
            Some(current) if !current.is_expired(now_unix()) => Err(LockError::Held {
                stack: stack.to_string(),
                holder: Box::new(current.clone()),
            }),
            _ => {
                state.locks.insert(stack.to_string(), holder.clone());
                Ok(())
            }
        }
    }

    async fn take_over(
        &self,
        stack: &str,
        stale_id: &str,
        holder: &LockHolder,
    ) -> Result<(), LockError> {
        let mut state = self.lock();
        match state.locks.get(stack) {
            Some(current) if current.id != stale_id && !current.is_expired(now_unix()) => {
                Err(LockError::Held {
                    stack: stack.to_string(),
                    holder: Box::new(current.clone()),
                })
            }
            _ => {
                state.locks.insert(stack.to_string(), holder.clone());
                Ok(())
            }
        }
    }

    async fn renew(&self, stack: &str, holder: &LockHolder) -> Result<(), LockError> {
        let mut state = self.lock();
        match state.locks.get_mut(stack) {
            Some(current) if current.id == holder.id => {
                current.expires = holder.expires;
                *state.lock_renewals.entry(stack.to_string()).or_default() += 1;
                Ok(())
            }
            other => Err(LockError::Lost {
                stack: stack.to_string(),
                reason: match other {
                    Some(h) => format!("now held by {h}"),
                    None => "it was removed".into(),
                },
            }),
        }
    }

    async fn unlock(&self, stack: &str, id: &str) -> Result<(), LockError> {
        let mut state = self.lock();
        if state.locks.get(stack).is_some_and(|h| h.id == id) {
            state.locks.remove(stack);
        }
        Ok(())
    }

    async fn holder(&self, stack: &str) -> Result<Option<LockHolder>, LockError> {
        Ok(self.lock().locks.get(stack).cloned())
    }

    async fn force_unlock(&self, stack: &str) -> Result<(), LockError> {
        self.lock().locks.remove(stack);
        Ok(())
    }
}
