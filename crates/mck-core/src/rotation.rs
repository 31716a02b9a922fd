//! Rotating the apps' database login with no failed request (`mck rotate --stack NAME db`).
//!
//! AWS's alternating-users strategy: the login lives in a secret (`mck/<stack>/db-app`) as
//! one of two users, `<name>_a` and `<name>_b`. ECS reads a secret only when a task starts, so
//! a running task keeps the login it started with; a rotation therefore never changes the
//! password of the user tasks use. It
//!
//! 1. stages a new password for the *other* user (`AWSPENDING`),
//! 2. sets that login in the database (a one-off task as the master user),
//! 3. marks the rotation as rolling, then promotes the staged login (`AWSCURRENT`),
//! 4. replaces the tasks of every service that uses the login, each rollout gated on its
//!    health (a rollout ECS rolled back fails the rotation, and the old login stays valid),
//! 5. locks the old user, now used by no task, and records the day.
//!
//! Each step is idempotent and the state lives in the secret (its version stages and the
//! rolling tag), so a rotation killed at any instant resumes where it stopped when run again:
//! a staged login is set again, a rolling one is rolled again, and no rotation ever stages a
//! new password for a user that tasks may still use.
//!
//! The steps are a trait ([`DbLogins`]): `mck-aws` implements them with Secrets Manager and
//! ECS, `testing::FakeCloud` (feature `testing`) with a model of the database's logins and the
//! tasks'.

use async_trait::async_trait;

use crate::graph::DesiredGraph;
use crate::model::{LogicalId, ResourceSpec, SecretSpec};
use crate::provider::{Observed, ProviderError};
use crate::time::day_number;

/// A version of the login in the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginVersion {
    /// Its user (`magento_a`).
    pub user: String,
    /// The secret's version id.
    pub version: String,
}

/// Where the login stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginState {
    /// The login tasks get (`AWSCURRENT`).
    pub current: LoginVersion,
    /// The login a rotation staged (`AWSPENDING` on another version than `AWSCURRENT`).
    pub pending: Option<LoginVersion>,
    /// A rotation marked its login for promotion and is rolling the services onto it.
    pub rolling: bool,
}

/// The steps of a rotation, each idempotent.
#[async_trait]
pub trait DbLogins: Send + Sync {
    /// Where the login stands.
    async fn state(&self) -> Result<LoginState, ProviderError>;
    /// Stages a new generated password for `user` (`AWSPENDING`).
    async fn stage(&self, user: &str) -> Result<(), ProviderError>;
    /// Sets the staged login in the database: creates the user if need be, gives it the
    /// password and the apps' privileges, unlocks it.
    async fn set_pending(&self) -> Result<(), ProviderError>;
    /// Marks the rotation as rolling (before the promotion, so a killed run resumes at the
    /// roll and never stages again).
    async fn mark_rolling(&self) -> Result<(), ProviderError>;
    /// Makes the staged login the current one.
    async fn promote(&self, pending: &LoginVersion) -> Result<(), ProviderError>;
    /// Replaces the tasks of every service that uses the login, each rollout gated on its
    /// health; returns the services rolled. Fails when a rollout fails.
    async fn roll(&self) -> Result<Vec<String>, ProviderError>;
    /// Locks `user` in the database.
    async fn retire(&self, user: &str) -> Result<(), ProviderError>;
    /// Ends the rotation: records `today` (`YYYY-MM-DD`) and clears the rolling mark.
    async fn finish(&self, today: &str) -> Result<(), ProviderError>;
}

/// The user a rotation moves to: `<name>_b` for `<name>_a` and back.
pub fn other_user(user: &str) -> Result<String, ProviderError> {
    if let Some(name) = user.strip_suffix("_a") {
        return Ok(format!("{name}_b"));
    }
    if let Some(name) = user.strip_suffix("_b") {
        return Ok(format!("{name}_a"));
    }
    Err(ProviderError::invalid(format!(
        "the login in use is user `{user}`, not one of mck's alternating users (`<name>_a`, \
         `<name>_b`); put `{user}_a`'s login in the secret or let mck make it (`up`), then rotate"
    )))
}

/// What a rotation did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rotated {
    /// The user retired.
    pub from: String,
    /// The user the services now use.
    pub to: String,
    /// The services rolled onto it.
    pub services: Vec<String>,
    /// It finished a rotation a killed run had started.
    pub resumed: bool,
}

/// Runs (or resumes) a rotation; `progress` hears each step as it starts.
pub async fn rotate(
    logins: &dyn DbLogins,
    today: &str,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<Rotated, ProviderError> {
    let state = logins.state().await?;
    let resumed = state.rolling || state.pending.is_some();
    if !state.rolling {
        let pending = match state.pending {
            Some(pending) => {
                progress(&format!(
                    "resuming the rotation to {} staged by an earlier run",
                    pending.user
                ));
                pending
            }
            None => {
                let user = other_user(&state.current.user)?;
                progress(&format!("staging a new password for {user}"));
                logins.stage(&user).await?;
                logins.state().await?.pending.ok_or_else(|| {
                    ProviderError::invalid(
                        "the new login was staged but the secret shows no AWSPENDING version",
                    )
                })?
            }
        };
        progress(&format!("setting {} in the database", pending.user));
        logins.set_pending().await?;
        logins.mark_rolling().await?;
        progress(&format!("promoting {}", pending.user));
        logins.promote(&pending).await?;
    } else if let Some(pending) = state.pending {
        // Marked rolling, killed before the promotion: its login is set in the database.
        progress(&format!("promoting {} (resumed)", pending.user));
        logins.promote(&pending).await?;
    } else {
        progress("resuming the roll of an earlier run");
    }
    let current = logins.state().await?.current.user;
    let old = other_user(&current)?;
    progress(&format!("rolling every service onto {current}"));
    let services = logins.roll().await?;
    progress(&format!("locking {old}"));
    logins.retire(&old).await?;
    logins.finish(today).await?;
    Ok(Rotated {
        from: old,
        to: current,
        services,
        resumed,
    })
}

/// A login whose rotation is overdue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Overdue {
    /// The secret.
    pub id: LogicalId,
    /// The day of its last rotation (or its creation).
    pub last: String,
    /// How often it is due.
    pub every_days: i64,
    /// Days since `last`.
    pub age_days: i64,
}

impl Overdue {
    /// In words, with what to do.
    pub fn describe(&self, stack: &str) -> String {
        format!(
            "{} was last rotated on {} ({} days ago; due every {} days): run `mck rotate --stack {stack} db`",
            self.id, self.last, self.age_days, self.every_days
        )
    }
}

/// The secrets of `desired` with a rotation schedule whose last rotation (as `observed`)
/// is more than their `rotation_days` before `today`.
pub fn overdue<'a>(
    desired: &DesiredGraph,
    observed: impl IntoIterator<Item = &'a Observed>,
    today: &str,
) -> Vec<Overdue> {
    let Some(today_n) = day_number(today) else {
        return Vec::new();
    };
    observed
        .into_iter()
        .filter_map(|o| {
            let ResourceSpec::Secret(SecretSpec {
                rotation_days: Some(every_days),
                ..
            }) = &desired.get(&o.id)?.spec
            else {
                return None;
            };
            let last = o.outputs.get(SecretSpec::OUT_ROTATED)?;
            let age_days = today_n - day_number(last)?;
            (age_days > *every_days).then(|| Overdue {
                id: o.id.clone(),
                last: last.clone(),
                every_days: *every_days,
                age_days,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeCloud;

    const TODAY: &str = "2026-12-06";

    fn store() -> FakeCloud {
        FakeCloud::new().with_db_login("magento_a", &[("admin", 2), ("frontend", 3), ("cron", 1)])
    }

    async fn run(cloud: &FakeCloud) -> Result<Rotated, ProviderError> {
        rotate(cloud, TODAY, &|_| {}).await
    }

    fn assert_settled(cloud: &FakeCloud, user: &str, locked: &str) {
        assert_eq!(cloud.login_violations(), Vec::<String>::new());
        for (service, users) in cloud.task_users() {
            assert!(users.iter().all(|u| u == user), "{service}: {users:?}");
        }
        let db = cloud.db_users();
        assert_eq!(db.get(user), Some(&false), "{db:?}");
        assert_eq!(db.get(locked), Some(&true), "{db:?}");
    }

    #[tokio::test]
    async fn a_rotation_moves_every_task_to_the_other_user_and_locks_the_old_one() {
        let cloud = store();
        let done = run(&cloud).await.unwrap();
        assert_eq!(
            (done.from.as_str(), done.to.as_str()),
            ("magento_a", "magento_b")
        );
        assert_eq!(done.services, ["admin", "cron", "frontend"]);
        assert!(!done.resumed);
        assert_settled(&cloud, "magento_b", "magento_a");
        assert_eq!(cloud.rotated_on().as_deref(), Some(TODAY));
        // And back: the old user gets a new password, is unlocked, then used.
        let back = run(&cloud).await.unwrap();
        assert_eq!(back.to, "magento_a");
        assert_settled(&cloud, "magento_a", "magento_b");
    }

    #[tokio::test]
    async fn a_rotation_killed_at_any_step_completes_when_run_again_and_no_task_is_refused() {
        let steps = {
            let cloud = store();
            run(&cloud).await.unwrap();
            // Every step the fake counted: state, stage, state, set, mark, promote, state,
            // roll, retire, finish.
            cloud.login_steps()
        };
        assert!(steps >= 10, "{steps}");
        for kill in 0..steps {
            let cloud = store();
            cloud.kill_login_step(kill);
            assert!(run(&cloud).await.is_err(), "step {kill} was not killed");
            // Run again: it resumes and finishes.
            let done = run(&cloud).await.unwrap();
            assert_eq!(done.to, "magento_b", "killed at step {kill}");
            assert_settled(&cloud, "magento_b", "magento_a");
            // The next rotation starts afresh and goes back.
            assert!(!run(&cloud).await.unwrap().resumed, "killed at step {kill}");
            assert_settled(&cloud, "magento_a", "magento_b");
        }
    }

    #[tokio::test]
    async fn the_model_catches_a_rotation_that_locks_the_old_login_before_the_roll() {
        // The invariant can fail: the same steps in a wrong order leave tasks refused.
        let cloud = store();
        let state = cloud.state().await.unwrap();
        cloud.stage("magento_b").await.unwrap();
        cloud.set_pending().await.unwrap();
        let pending = cloud.state().await.unwrap().pending.unwrap();
        cloud.promote(&pending).await.unwrap();
        cloud.retire(&state.current.user).await.unwrap();
        let violations = cloud.login_violations();
        assert_eq!(violations.len(), 6, "{violations:?}");
        assert!(
            violations[0].contains("refused (user locked)"),
            "{violations:?}"
        );
        // Staging over the login in use and setting it breaks running tasks too.
        let cloud = store();
        cloud.stage("magento_a").await.unwrap();
        cloud.set_pending().await.unwrap();
        assert!(
            cloud.login_violations()[0].contains("refused (wrong password)"),
            "{:?}",
            cloud.login_violations()
        );
    }

    #[test]
    fn only_mcks_alternating_users_rotate() {
        assert_eq!(other_user("magento_a").unwrap(), "magento_b");
        assert_eq!(other_user("shop_1_b").unwrap(), "shop_1_a");
        let err = other_user("magento").unwrap_err().to_string();
        assert!(err.contains("`magento_a`"), "{err}");
    }

    #[test]
    fn a_login_is_overdue_once_its_schedule_has_passed() {
        let stack = crate::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
        let desired = crate::lower::lower(&stack).unwrap();
        let id = LogicalId::new(crate::lower::DB_LOGIN_SECRET_ID);
        let every = match &desired.get(&id).unwrap().spec {
            ResourceSpec::Secret(s) => s.rotation_days.unwrap(),
            other => panic!("{other:?}"),
        };
        let secret = |last: &str| {
            Observed::new(id.clone(), crate::model::ResourceKind::Secret, "arn")
                .output(SecretSpec::OUT_ROTATED, last)
        };
        let due_on = crate::time::date_of_day(day_number(TODAY).unwrap() - every);
        let late = crate::time::date_of_day(day_number(TODAY).unwrap() - every - 1);
        assert_eq!(overdue(&desired, &[secret(&due_on)], TODAY), []);
        let found = overdue(&desired, &[secret(&late)], TODAY);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].age_days, every + 1);
        assert!(
            found[0]
                .describe("dev")
                .contains("run `mck rotate --stack dev db`"),
            "{}",
            found[0].describe("dev")
        );
        // The other secrets have no schedule.
        let crypt = Observed::new(
            "secret.crypt-key".into(),
            crate::model::ResourceKind::Secret,
            "arn",
        )
        .output(SecretSpec::OUT_ROTATED, "2000-01-01");
        assert_eq!(overdue(&desired, &[crypt], TODAY), []);
    }
}
