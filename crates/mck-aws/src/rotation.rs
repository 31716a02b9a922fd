//! [`DbLogins`] on AWS: the rotation of the apps' database login
//! ([`mck_core::rotation`]) with Secrets Manager's version stages and ECS.
//!
//! - the login's state is the secret's: `AWSCURRENT` and `AWSPENDING` (DescribeSecret's
//!   `VersionIdsToStages`; the user of each read with GetSecretValue, never shown), and the
//!   tag [`SecretSpec::ROLLING_TAG`];
//! - a new password is made by `GetRandomPassword` with the secret's rules and staged with
//!   `PutSecretValue` (`VersionStages: [AWSPENDING]`); promoting moves `AWSCURRENT` to it
//!   (`UpdateSecretVersionStage`, which labels the old version `AWSPREVIOUS`) and then takes
//!   `AWSPENDING` off it;
//! - the database is changed by one-off tasks on the stack's `<stack>-db-rotate` (the staged
//!   login) and `<stack>-db-admin` (the current one) task definitions, run and waited for as
//!   the release's tasks are (the same driver: exit code 0, log tail on failure);
//! - the roll is `UpdateService --force-new-deployment` per service, one at a time, each gated
//!   as `up` gates a rollout (the deployment COMPLETED and the target group's healthy count),
//!   so a deployment the circuit breaker rolled back fails the rotation before the old login
//!   is locked.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_secretsmanager::types::Tag;
use mck_core::graph::DesiredGraph;
use mck_core::lower::{ADMIN_TASKDEF_ID, DB_LOGIN_SECRET_ID, ROTATE_TASKDEF_ID};
use mck_core::model::{
    EcsServiceSpec, LogicalId, Ref, ReleaseJob, ReleaseTaskSpec, ResourceKind, ResourceSpec,
    SecretSpec,
};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};
use mck_core::rotation::{DbLogins, LoginState, LoginVersion};

use crate::AwsProvider;
use crate::driver::Driver;
use crate::error::sdk;

const CURRENT: &str = "AWSCURRENT";
const PENDING: &str = "AWSPENDING";

/// The rotation of one stack's login, against its live resources.
#[derive(Debug)]
pub struct AwsDbLogins {
    aws: AwsProvider,
    desired: Arc<DesiredGraph>,
    observed: HashMap<LogicalId, Observed>,
    secret: SecretSpec,
    secret_arn: String,
    job: ReleaseTaskSpec,
}

impl AwsDbLogins {
    /// The rotation of `desired`'s login, given the stack's live state (`observed`, as a plan
    /// read it). Refused when the stack has no app login, or it is not up yet.
    pub fn new(
        aws: AwsProvider,
        desired: Arc<DesiredGraph>,
        observed: HashMap<LogicalId, Observed>,
    ) -> Result<AwsDbLogins, ProviderError> {
        let stack = desired.stack().to_string();
        let spec = |id: &str| desired.get(&LogicalId::new(id)).map(|r| &r.spec);
        let (Some(ResourceSpec::Secret(secret)), Some(ResourceSpec::DbLogin(job))) =
            (spec(DB_LOGIN_SECRET_ID), spec(ReleaseJob::DbLogin.id()))
        else {
            return Err(ProviderError::invalid(format!(
                "stack {stack} has no app database login to rotate (it needs `database:` and an app)"
            )));
        };
        for id in [DB_LOGIN_SECRET_ID, ADMIN_TASKDEF_ID, ROTATE_TASKDEF_ID] {
            if !observed.contains_key(&LogicalId::new(id)) {
                return Err(ProviderError::invalid(format!(
                    "{id} of stack {stack} does not exist yet: run `mck up --stack {stack}` first"
                )));
            }
        }
        let secret_arn = observed[&LogicalId::new(DB_LOGIN_SECRET_ID)]
            .cloud_id
            .clone();
        Ok(AwsDbLogins {
            secret: secret.clone(),
            job: job.task.clone(),
            aws,
            desired,
            observed,
            secret_arn,
        })
    }

    fn context(&self) -> Context<'_> {
        Context {
            stack: self.desired.stack(),
            tags: self.desired.tags(),
            resolved: &self.observed,
        }
    }

    /// The user of a version of the secret (its value is read and dropped here).
    async fn user_of(&self, version: &str) -> Result<String, ProviderError> {
        let out = self
            .aws
            .clients
            .secretsmanager
            .get_secret_value()
            .secret_id(&self.secret_arn)
            .version_id(version)
            .send()
            .await
            .map_err(|e| sdk("read the database login's user", e))?;
        crate::secretsmanager::parse_login(out.secret_string().unwrap_or_default())
            .map(|login| login.username)
            .ok_or_else(|| {
                ProviderError::invalid(format!(
                    "version {version} of secret {} holds no login (JSON with `username` and `password`)",
                    self.secret.name
                ))
            })
    }

    /// Runs a login task on `taskdef` with `command` and waits for it to exit 0.
    async fn run_task(&self, taskdef: &str, command: Vec<String>) -> Result<(), ProviderError> {
        let ctx = self.context();
        let spec = ReleaseTaskSpec {
            task_definition: Ref::new(taskdef),
            command,
            ..self.job.clone()
        };
        let id = LogicalId::new(ReleaseJob::DbLogin.id());
        let started = <ReleaseTaskSpec as Driver>::create(&self.aws, &ctx, &id, &spec).await?;
        self.aws
            .wait_until(&format!("the login task on {taskdef}"), || async {
                match <ReleaseTaskSpec as Driver>::poll(&self.aws, &ctx, &started).await? {
                    Readiness::Ready(_) => Ok(true),
                    Readiness::Pending(_) => Ok(false),
                    Readiness::Gone => Err(ProviderError::invalid("the login task vanished")),
                    Readiness::Failed(why) => Err(ProviderError::invalid(why)),
                }
            })
            .await
    }

    async fn tag(&self, key: &str, value: &str) -> Result<(), ProviderError> {
        self.aws
            .clients
            .secretsmanager
            .tag_resource()
            .secret_id(&self.secret_arn)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|e| sdk(&format!("tag secret {}", self.secret.name), e))?;
        Ok(())
    }

    /// Starts a new deployment of `live` and waits until it has rolled out and is healthy.
    async fn roll_service(&self, live: &Observed) -> Result<String, ProviderError> {
        let name = match live.fields.get(EcsServiceSpec::NAME.name) {
            Some(mck_core::model::Value::Str(n)) => n.clone(),
            _ => live.id.to_string(),
        };
        let cluster = self.job.cluster.id();
        let cluster = self.context().cloud_id(cluster)?.to_string();
        crate::ecs::redeploy(&self.aws, &cluster, &name)
            .await
            .map_err(|e| {
                ProviderError::new(
                    e.class,
                    format!(
                        "{}; the old login stays valid: fix the service, then run `mck rotate` again",
                        e.message
                    ),
                )
            })?;
        Ok(name)
    }
}

/// The secret's versions under `AWSCURRENT` and (on another version) `AWSPENDING`, and whether
/// the rolling tag is set: DescribeSecret alone.
struct Stages {
    current: String,
    pending: Option<String>,
    rolling: bool,
}

impl AwsDbLogins {
    async fn stages(&self) -> Result<Stages, ProviderError> {
        let out = self
            .aws
            .clients
            .secretsmanager
            .describe_secret()
            .secret_id(&self.secret_arn)
            .send()
            .await
            .map_err(|e| sdk(&format!("describe secret {}", self.secret.name), e))?;
        let stages = out.version_ids_to_stages().cloned().unwrap_or_default();
        let with = |stage: &str| {
            stages
                .iter()
                .find(|(_, s)| s.iter().any(|x| x == stage))
                .map(|(v, _)| v.clone())
        };
        let current = with(CURRENT).ok_or_else(|| {
            ProviderError::invalid(format!(
                "secret {} has no AWSCURRENT version",
                self.secret.name
            ))
        })?;
        let pending = with(PENDING).filter(|p| *p != current);
        let rolling = out
            .tags()
            .iter()
            .any(|t| t.key() == Some(SecretSpec::ROLLING_TAG));
        Ok(Stages {
            current,
            pending,
            rolling,
        })
    }
}

#[async_trait]
impl DbLogins for AwsDbLogins {
    async fn state(&self) -> Result<LoginState, ProviderError> {
        let Stages {
            current,
            pending,
            rolling,
        } = self.stages().await?;
        let current = LoginVersion {
            user: self.user_of(&current).await?,
            version: current,
        };
        let pending = match pending {
            Some(version) => Some(LoginVersion {
                user: self.user_of(&version).await?,
                version,
            }),
            None => None,
        };
        Ok(LoginState {
            current,
            pending,
            rolling,
        })
    }

    async fn stage(&self, user: &str) -> Result<(), ProviderError> {
        let sm = &self.aws.clients.secretsmanager;
        let password = crate::secretsmanager::generate_password(sm, &self.secret).await?;
        let value = serde_json::json!({ "username": user, "password": password });
        sm.put_secret_value()
            .secret_id(&self.secret_arn)
            .secret_string(value.to_string())
            .version_stages(PENDING)
            .send()
            .await
            .map_err(|e| {
                sdk(
                    &format!("stage a new login in secret {}", self.secret.name),
                    e,
                )
            })?;
        Ok(())
    }

    async fn set_pending(&self) -> Result<(), ProviderError> {
        self.run_task(ROTATE_TASKDEF_ID, ReleaseTaskSpec::db_login_command(None))
            .await
    }

    async fn mark_rolling(&self) -> Result<(), ProviderError> {
        self.tag(SecretSpec::ROLLING_TAG, "true").await
    }

    async fn promote(&self, pending: &LoginVersion) -> Result<(), ProviderError> {
        let sm = &self.aws.clients.secretsmanager;
        let current = self.stages().await?.current;
        let what = format!("promote the new login of secret {}", self.secret.name);
        if current != pending.version {
            sm.update_secret_version_stage()
                .secret_id(&self.secret_arn)
                .version_stage(CURRENT)
                .move_to_version_id(&pending.version)
                .remove_from_version_id(&current)
                .send()
                .await
                .map_err(|e| sdk(&what, e))?;
        }
        sm.update_secret_version_stage()
            .secret_id(&self.secret_arn)
            .version_stage(PENDING)
            .remove_from_version_id(&pending.version)
            .send()
            .await
            .map_err(|e| sdk(&what, e))?;
        Ok(())
    }

    async fn roll(&self) -> Result<Vec<String>, ProviderError> {
        let mut services: Vec<&Observed> = self
            .observed
            .values()
            .filter(|o| o.kind == ResourceKind::EcsService)
            .collect();
        services.sort_by(|a, b| a.id.cmp(&b.id));
        let mut rolled = Vec::new();
        for live in services {
            rolled.push(self.roll_service(live).await?);
        }
        Ok(rolled)
    }

    async fn retire(&self, user: &str) -> Result<(), ProviderError> {
        self.run_task(
            ADMIN_TASKDEF_ID,
            ReleaseTaskSpec::db_login_command(Some(user)),
        )
        .await
    }

    async fn finish(&self, today: &str) -> Result<(), ProviderError> {
        self.tag(SecretSpec::ROTATED_TAG, today).await?;
        self.aws
            .clients
            .secretsmanager
            .untag_resource()
            .secret_id(&self.secret_arn)
            .tag_keys(SecretSpec::ROLLING_TAG)
            .send()
            .await
            .map_err(|e| sdk(&format!("untag secret {}", self.secret.name), e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::testing::Replay;

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:1:secret:mck/dev/db-app-AbCdEf";

    /// The rotation of the shipped dev stack, its login secret and task definitions live.
    fn logins(aws: &Replay) -> AwsDbLogins {
        let stack = mck_core::stack::load(std::path::Path::new("../../stacks"), "dev").unwrap();
        let desired = Arc::new(mck_core::lower::lower(&stack).unwrap());
        let live = |id: &str, kind: ResourceKind, cloud_id: &str| {
            (
                LogicalId::new(id),
                Observed::new(LogicalId::new(id), kind, cloud_id),
            )
        };
        let observed = [
            live(DB_LOGIN_SECRET_ID, ResourceKind::Secret, ARN),
            live(ADMIN_TASKDEF_ID, ResourceKind::TaskDefinition, "td-admin"),
            live(ROTATE_TASKDEF_ID, ResourceKind::TaskDefinition, "td-rotate"),
        ]
        .into_iter()
        .collect();
        AwsDbLogins::new(AwsProvider::offline(aws.clone()), desired, observed).unwrap()
    }

    fn described(stages: Value, rolling: bool) -> (&'static str, u16, String) {
        let tags = if rolling {
            json!([{"Key": SecretSpec::ROLLING_TAG, "Value": "true"}])
        } else {
            json!([])
        };
        (
            "DescribeSecret",
            200,
            json!({"ARN": ARN, "Name": "mck/dev/db-app", "VersionIdsToStages": stages, "Tags": tags})
                .to_string(),
        )
    }

    fn value(user: &str) -> (&'static str, u16, String) {
        let login = json!({"username": user, "password": "not-shown"}).to_string();
        (
            "GetSecretValue",
            200,
            json!({"ARN": ARN, "SecretString": login}).to_string(),
        )
    }

    fn body(aws: &Replay, n: usize) -> Value {
        serde_json::from_str(&aws.requests()[n].1).unwrap()
    }

    #[tokio::test]
    async fn a_pending_login_is_one_on_another_version_than_the_current_one() {
        let aws = Replay::new([
            described(json!({"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]}), true),
            value("magento_a"),
            value("magento_b"),
            // AWSPENDING left on the current version (a finished rotation elsewhere): none.
            described(
                json!({"v2": ["AWSCURRENT", "AWSPENDING"], "v1": ["AWSPREVIOUS"]}),
                false,
            ),
            value("magento_b"),
        ]);
        let logins = logins(&aws);
        let state = logins.state().await.unwrap();
        assert_eq!(state.current.user, "magento_a");
        assert_eq!(state.current.version, "v1");
        assert_eq!(
            state.pending,
            Some(LoginVersion {
                user: "magento_b".into(),
                version: "v2".into()
            })
        );
        assert!(state.rolling);
        let state = logins.state().await.unwrap();
        assert_eq!(
            (state.current.version.as_str(), state.pending),
            ("v2", None)
        );
        assert!(!state.rolling);
        assert_eq!(body(&aws, 1)["VersionId"], "v1");
        aws.assert_done();
    }

    #[tokio::test]
    async fn staging_puts_the_other_user_with_a_generated_password_under_awspending() {
        let aws = Replay::new([
            (
                "GetRandomPassword",
                200,
                json!({"RandomPassword": "Gen3rated-Pa55word"}).to_string(),
            ),
            (
                "PutSecretValue",
                200,
                json!({"ARN": ARN, "VersionId": "v2", "VersionStages": ["AWSPENDING"]}).to_string(),
            ),
        ]);
        logins(&aws).stage("magento_b").await.unwrap();
        let random = body(&aws, 0);
        assert_eq!(random["PasswordLength"], 32);
        assert_eq!(random["RequireEachIncludedType"], true);
        let put = body(&aws, 1);
        assert_eq!(put["SecretId"], ARN);
        assert_eq!(put["VersionStages"], json!(["AWSPENDING"]));
        let login: Value = serde_json::from_str(put["SecretString"].as_str().unwrap()).unwrap();
        assert_eq!(
            login,
            json!({"username": "magento_b", "password": "Gen3rated-Pa55word"})
        );
        aws.assert_done();
    }

    #[tokio::test]
    async fn promoting_moves_awscurrent_then_takes_awspending_off_the_new_version() {
        let ok = || {
            (
                "UpdateSecretVersionStage",
                200,
                json!({"ARN": ARN}).to_string(),
            )
        };
        let aws = Replay::new([
            described(json!({"v1": ["AWSCURRENT"], "v2": ["AWSPENDING"]}), true),
            ok(),
            ok(),
            // Asked again after a kill between the two calls: only AWSPENDING is left to take off.
            described(
                json!({"v2": ["AWSCURRENT", "AWSPENDING"], "v1": ["AWSPREVIOUS"]}),
                true,
            ),
            ok(),
        ]);
        let logins = logins(&aws);
        let pending = LoginVersion {
            user: "magento_b".into(),
            version: "v2".into(),
        };
        logins.promote(&pending).await.unwrap();
        assert_eq!(
            body(&aws, 1),
            json!({"SecretId": ARN, "VersionStage": "AWSCURRENT", "MoveToVersionId": "v2",
                "RemoveFromVersionId": "v1"})
        );
        assert_eq!(
            body(&aws, 2),
            json!({"SecretId": ARN, "VersionStage": "AWSPENDING", "RemoveFromVersionId": "v2"})
        );
        logins.promote(&pending).await.unwrap();
        assert_eq!(
            body(&aws, 4),
            json!({"SecretId": ARN, "VersionStage": "AWSPENDING", "RemoveFromVersionId": "v2"})
        );
        aws.assert_done();
    }
}
