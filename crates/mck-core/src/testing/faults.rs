//! Behaviours of real AWS that [`FakeCloud`](super::FakeCloud) can be told to show, and the
//! random faults of [`FakeCloud::with_faults`](super::FakeCloud::with_faults).

use std::time::Duration;

use tokio::time::Instant;

use super::State;
use crate::model::LogicalId;
use crate::model::ResourceKind;
use crate::provider::{ErrorClass, ProviderError};

/// A behaviour of real AWS right after a create or update, injected with
/// [`FakeCloud::with_fault`](super::FakeCloud::with_fault); [`FakeCloud::triggered`](super::FakeCloud::triggered) counts how often it bit.
#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Creates of `kind` fail with a transient error saying `message` for `window` after a
    /// resource of kind `after` was created in the stack: IAM's propagation delay
    /// (CreateAutoScalingGroup answers "Invalid IAM Instance Profile name" for several seconds
    /// after the instance profile was created).
    CreateRefusedAfter {
        /// The kind whose creates are refused.
        kind: ResourceKind,
        /// The kind whose create starts the window.
        after: ResourceKind,
        /// How long the refusals last.
        window: Duration,
        /// The cloud's words.
        message: &'static str,
    },
    /// A create of `kind` makes the resource, but its follow-up call, which sets `field`, is
    /// refused with a transient error saying `message` for `window` after the create: the
    /// create fails having made the resource (left with `field` null, which an update sets),
    /// and updates of `field` within the window are refused the same way.
    /// PutClusterCapacityProviders answers "not in an ACTIVE state" right after
    /// CreateCapacityProvider.
    FollowUpRefused {
        /// The kind.
        kind: ResourceKind,
        /// The field its follow-up call sets.
        field: &'static str,
        /// How long after the create the follow-up is refused.
        window: Duration,
        /// The cloud's words.
        message: &'static str,
    },
    /// The first `times` updates of `kind` are accepted, then end failed on a poll with
    /// `reason`, their changes undone: a capacity provider update that ends `UPDATE_FAILED`.
    UpdateFailsLater {
        /// The kind.
        kind: ResourceKind,
        /// How many updates fail.
        times: u32,
        /// What the poll reports.
        reason: &'static str,
    },
    /// Polls do not see a resource of `kind` for `window` after each create or update:
    /// DescribeTasks answers `MISSING` right after RunTask started a release's task.
    InvisibleAfterStart {
        /// The kind.
        kind: ResourceKind,
        /// How long it stays invisible.
        window: Duration,
    },
}

/// An injected [`Fault`] and how often it bit.
#[derive(Debug)]
pub(super) struct Injected {
    pub(super) fault: Fault,
    pub(super) hits: u32,
}

/// Random faults on every call ([`FakeCloud::with_faults`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct Faults {
    pub(super) throttle_permille: u64,
    pub(super) server_error_permille: u64,
    pub(super) rng: u64,
}

impl State {
    /// Counts a hit of the first injected fault `pred` accepts.
    pub(super) fn hit(&mut self, pred: impl Fn(&Fault) -> bool) {
        if let Some(injected) = self.injected.iter_mut().find(|i| pred(&i.fault)) {
            injected.hits += 1;
        }
    }

    /// [`Fault::CreateRefusedAfter`]: refuses a create of `kind` in `stack` while a resource of
    /// the kind it waits for is newer than the window.
    pub(super) fn refuse_create(
        &mut self,
        stack: &str,
        id: &LogicalId,
        kind: ResourceKind,
    ) -> Result<(), ProviderError> {
        let now = Instant::now();
        let refusal = self.injected.iter_mut().find_map(|i| match i.fault {
            Fault::CreateRefusedAfter {
                kind: refused,
                after,
                window,
                message,
            } if refused == kind
                && self.resources.values().any(|r| {
                    r.stack == stack && r.kind == after && now < r.created_at + window
                }) =>
            {
                i.hits += 1;
                Some(message)
            }
            _ => None,
        });
        match refusal {
            Some(message) => Err(ProviderError::new(
                ErrorClass::Transient,
                format!("failed to create {id}: {message}"),
            )),
            None => Ok(()),
        }
    }

    /// [`Fault::FollowUpRefused`]: the field and message of a follow-up call of `kind` refused
    /// now, for a resource created at `created_at` (a create in progress: now).
    pub(super) fn follow_up_refused(
        &mut self,
        kind: ResourceKind,
        created_at: Option<Instant>,
    ) -> Option<(&'static str, &'static str)> {
        let now = Instant::now();
        let created_at = created_at.unwrap_or(now);
        self.injected.iter_mut().find_map(|i| match i.fault {
            Fault::FollowUpRefused {
                kind: refused,
                field,
                window,
                message,
            } if refused == kind && now < created_at + window => {
                i.hits += 1;
                Some((field, message))
            }
            _ => None,
        })
    }

    /// [`Fault::UpdateFailsLater`]: the failure an update of `kind` ends in, while any are left.
    pub(super) fn update_fails_later(&mut self, kind: ResourceKind) -> Option<String> {
        self.injected.iter_mut().find_map(|i| match i.fault {
            Fault::UpdateFailsLater {
                kind: failing,
                times,
                reason,
            } if failing == kind && i.hits < times => {
                i.hits += 1;
                Some(reason.to_string())
            }
            _ => None,
        })
    }

    /// [`Fault::InvisibleAfterStart`]: until when polls miss a resource of `kind` just created
    /// or updated.
    pub(super) fn hidden_after_start(&self, kind: ResourceKind) -> Option<Instant> {
        self.injected.iter().find_map(|i| match i.fault {
            Fault::InvisibleAfterStart {
                kind: hidden,
                window,
            } if hidden == kind => Some(Instant::now() + window),
            _ => None,
        })
    }
}
