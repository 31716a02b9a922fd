//! [`DbLogins`] for [`FakeCloud`](super::FakeCloud): a model of the login secret's versions,
//! the database's users and the login each running task started with. After every step it
//! checks the invariant a rotation must keep: every task's login is one the database accepts
//! (the user exists, is not locked, and has that password); each breach is recorded
//! ([`FakeCloud::login_violations`]).

use std::collections::BTreeMap;

use async_trait::async_trait;

use super::FakeCloud;
use crate::provider::{ErrorClass, ProviderError};
use crate::rotation::{DbLogins, LoginState, LoginVersion};

/// The modelled secret, database and tasks.
#[derive(Debug, Default)]
pub(super) struct FakeLogins {
    /// The secret's versions (user, password); the version id is `v<index>`.
    versions: Vec<(String, String)>,
    current: usize,
    pending: Option<usize>,
    rolling: bool,
    rotated: Option<String>,
    /// The database's users: password and whether locked.
    db: BTreeMap<String, (String, bool)>,
    /// Per service, the login (user, password) each running task started with.
    tasks: BTreeMap<String, Vec<(String, String)>>,
    violations: Vec<String>,
    /// Steps called so far, and the one that fails as if the run were killed there.
    steps: u32,
    killed_at: Option<u32>,
}

impl FakeLogins {
    /// Steps called so far.
    pub(crate) fn steps(&self) -> u32 {
        self.steps
    }

    fn version(index: usize) -> String {
        format!("v{index}")
    }

    fn login(&self, index: usize) -> LoginVersion {
        LoginVersion {
            user: self.versions[index].0.clone(),
            version: Self::version(index),
        }
    }

    /// Why the database refuses `user` with `password`, if it does.
    fn refusal(&self, user: &str, password: &str) -> Option<&'static str> {
        match self.db.get(user) {
            None => Some("no such user"),
            Some((_, true)) => Some("user locked"),
            Some((p, false)) if p != password => Some("wrong password"),
            Some(_) => None,
        }
    }

    fn check(&mut self, after: &str) {
        let mut found = Vec::new();
        for (service, tasks) in &self.tasks {
            for (user, password) in tasks {
                if let Some(why) = self.refusal(user, password) {
                    found.push(format!(
                        "after {after}: a {service} task's login {user} is refused ({why})"
                    ));
                }
            }
        }
        self.violations.extend(found);
    }
}

impl FakeCloud {
    /// Models the apps' database login: the secret holds `user` (version `v0`), the database
    /// has it, and each of `services` (name, task count) runs tasks started with it.
    pub fn with_db_login(self, user: &str, services: &[(&str, usize)]) -> FakeCloud {
        {
            let mut state = self.lock();
            let logins = &mut state.logins;
            logins.versions = vec![(user.to_string(), "password-0".to_string())];
            logins
                .db
                .insert(user.to_string(), ("password-0".to_string(), false));
            for (service, count) in services {
                logins.tasks.insert(
                    (*service).to_string(),
                    vec![(user.to_string(), "password-0".to_string()); *count],
                );
            }
        }
        self
    }

    /// The `n`th login step from now (0: the next) fails as if the run were killed there.
    pub fn kill_login_step(&self, n: u32) {
        let mut state = self.lock();
        state.logins.killed_at = Some(state.logins.steps + n);
    }

    /// Every time a task held a login the database refused.
    pub fn login_violations(&self) -> Vec<String> {
        self.lock().logins.violations.clone()
    }

    /// The database's users and whether each is locked.
    pub fn db_users(&self) -> BTreeMap<String, bool> {
        self.lock()
            .logins
            .db
            .iter()
            .map(|(user, (_, locked))| (user.clone(), *locked))
            .collect()
    }

    /// The users the running tasks logged in with, per service.
    pub fn task_users(&self) -> BTreeMap<String, Vec<String>> {
        self.lock()
            .logins
            .tasks
            .iter()
            .map(|(s, tasks)| (s.clone(), tasks.iter().map(|(u, _)| u.clone()).collect()))
            .collect()
    }

    /// Login steps called so far.
    pub fn login_steps(&self) -> u32 {
        self.lock().logins.steps()
    }

    /// The day the last rotation finished.
    pub fn rotated_on(&self) -> Option<String> {
        self.lock().logins.rotated.clone()
    }

    /// Counts a step; fails it when it is the one [`Self::kill_login_step`] named.
    fn login_step(&self, what: &str) -> Result<(), ProviderError> {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut state = self.lock();
        let logins = &mut state.logins;
        let n = logins.steps;
        logins.steps += 1;
        if logins.killed_at == Some(n) {
            return Err(ProviderError::new(
                ErrorClass::Transient,
                format!("killed before {what}"),
            ));
        }
        Ok(())
    }
}

#[async_trait]
impl DbLogins for FakeCloud {
    async fn state(&self) -> Result<LoginState, ProviderError> {
        self.login_step("state")?;
        let state = self.lock();
        let l = &state.logins;
        Ok(LoginState {
            current: l.login(l.current),
            pending: l.pending.filter(|p| *p != l.current).map(|p| l.login(p)),
            rolling: l.rolling,
        })
    }

    async fn stage(&self, user: &str) -> Result<(), ProviderError> {
        self.login_step("stage")?;
        let mut state = self.lock();
        let l = &mut state.logins;
        let n = l.versions.len();
        l.versions.push((user.to_string(), format!("password-{n}")));
        l.pending = Some(n);
        Ok(())
    }

    async fn set_pending(&self) -> Result<(), ProviderError> {
        self.login_step("set")?;
        let mut state = self.lock();
        let l = &mut state.logins;
        let pending = l
            .pending
            .ok_or_else(|| ProviderError::invalid("no staged login to set"))?;
        let (user, password) = l.versions[pending].clone();
        l.db.insert(user, (password, false));
        l.check("set");
        Ok(())
    }

    async fn mark_rolling(&self) -> Result<(), ProviderError> {
        self.login_step("mark")?;
        self.lock().logins.rolling = true;
        Ok(())
    }

    async fn promote(&self, pending: &LoginVersion) -> Result<(), ProviderError> {
        self.login_step("promote")?;
        let mut state = self.lock();
        let l = &mut state.logins;
        let index = (0..l.versions.len())
            .find(|i| FakeLogins::version(*i) == pending.version)
            .ok_or_else(|| ProviderError::invalid("no such version"))?;
        l.current = index;
        l.pending = None;
        Ok(())
    }

    async fn roll(&self) -> Result<Vec<String>, ProviderError> {
        self.login_step("roll")?;
        let mut state = self.lock();
        let l = &mut state.logins;
        let login = l.versions[l.current].clone();
        let services: Vec<String> = l.tasks.keys().cloned().collect();
        for service in &services {
            let count = l.tasks[service].len();
            // One at a time: a new task starts (and must pass its health check, which
            // logs in) before an old one stops.
            for _ in 0..count {
                if let Some(why) = l.refusal(&login.0, &login.1) {
                    return Err(ProviderError::invalid(format!(
                        "the rollout of service {service} failed: its new tasks cannot log in \
                         as {} ({why}); ECS rolled it back",
                        login.0
                    )));
                }
                let tasks = l.tasks.get_mut(service).expect("listed");
                tasks.push(login.clone());
                tasks.remove(0);
                l.check(&format!("a task of {service} was replaced"));
            }
        }
        Ok(services)
    }

    async fn retire(&self, user: &str) -> Result<(), ProviderError> {
        self.login_step("retire")?;
        let mut state = self.lock();
        let l = &mut state.logins;
        if l.versions[l.current].0 == user {
            return Err(ProviderError::invalid(format!(
                "{user} is the login in use; not locked"
            )));
        }
        if let Some((_, locked)) = l.db.get_mut(user) {
            *locked = true;
        }
        l.check(&format!("{user} was locked"));
        Ok(())
    }

    async fn finish(&self, today: &str) -> Result<(), ProviderError> {
        self.login_step("finish")?;
        let mut state = self.lock();
        state.logins.rolling = false;
        state.logins.rotated = Some(today.to_string());
        Ok(())
    }
}
