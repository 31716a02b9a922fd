//! A generated login kept in a secret: `{"username": …, "password": …}`, the password made by
//! `GetRandomPassword` when the secret is created and never again. The value is read only by
//! [`login`], for a service's driver creating the service; it is never logged or returned in
//! an observation.

use std::fmt;

use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::ProvideErrorMetadata;
use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType, Tag};
use mck_core::model::{LogicalId, ResourceKind, SecretSpec};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// Days a deleted secret can be restored (the least AWS allows): a `down` followed by an `up`
/// within them restores the secret, so the service gets its old password back.
const RECOVERY_WINDOW_DAYS: i64 = 7;

/// The name prefix of the stack's secrets.
fn prefix(stack: &str) -> String {
    format!("mck/{stack}/")
}

/// A user name and its password, read from a secret. `Debug` never shows the password.
pub(crate) struct Login {
    /// The user name.
    pub(crate) username: String,
    /// The password.
    pub(crate) password: String,
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The login kept in the secret `secret_id` (its ARN or name), for a driver that creates the
/// service it opens. Errors never contain the value.
pub(crate) async fn login(aws: &AwsProvider, secret_id: &str) -> Result<Login, ProviderError> {
    let out = aws
        .clients
        .secretsmanager
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| sdk(&format!("read the login in secret {secret_id}"), e))?;
    parse_login(out.secret_string().unwrap_or_default()).ok_or_else(|| {
        ProviderError::invalid(format!(
            "secret {secret_id} does not hold a login (JSON with `username` and `password`); \
             delete it to have a new one generated, or put the service's login in it"
        ))
    })
}

fn parse_login(text: &str) -> Option<Login> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    Some(Login {
        username: value.get("username")?.as_str()?.to_string(),
        password: value.get("password")?.as_str()?.to_string(),
    })
}

fn observe(id: LogicalId, arn: &str, name: &str, description: Option<&str>) -> Observed {
    Observed::new(id, ResourceKind::Secret, arn)
        .with(SecretSpec::NAME, name)
        .with(SecretSpec::DESCRIPTION, description.unwrap_or_default())
        .output(SecretSpec::OUT_ARN, arn)
        .output(
            SecretSpec::OUT_PASSWORD_FROM,
            SecretSpec::password_from(arn),
        )
}

pub(super) async fn read(sm: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = sm
        .list_secrets()
        .filters(
            Filter::builder()
                .key(FilterNameStringType::Name)
                .values(prefix(stack))
                .build(),
        )
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list secrets", e))?;
        for secret in page.secret_list() {
            // A secret scheduled for deletion is gone for the stack (ListSecrets leaves them
            // out unless asked; the check keeps it so whatever the filter does).
            if secret.deleted_date().is_some() {
                continue;
            }
            let tags = secret
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?)));
            if let (Some(id), Some(arn), Some(name)) =
                (crate::owner(tags, stack), secret.arn(), secret.name())
            {
                out.push(observe(id, arn, name, secret.description()));
            }
        }
    }
    Ok(out)
}

/// The secret named `name` as DescribeSecret shows it, with the logical id its tags give for
/// `stack`, and whether it is scheduled for deletion.
async fn describe(
    sm: &Client,
    name: &str,
    stack: &str,
) -> Result<Option<(Option<LogicalId>, Observed, bool)>, ProviderError> {
    match sm.describe_secret().secret_id(name).send().await {
        Ok(out) => {
            let tags = out
                .tags()
                .iter()
                .filter_map(|t| Some((t.key()?, t.value()?)));
            let owner = crate::owner(tags, stack);
            let arn = out.arn().unwrap_or_default();
            let observed = observe(
                owner.clone().unwrap_or_else(|| LogicalId::new(name)),
                arn,
                out.name().unwrap_or(name),
                out.description(),
            );
            Ok(Some((owner, observed, out.deleted_date().is_some())))
        }
        Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
        Err(e) => Err(sdk(&format!("describe secret {name}"), e)),
    }
}

/// A new password by the service's rules, made by AWS (never by this process's RNG).
async fn generate_password(sm: &Client, spec: &SecretSpec) -> Result<String, ProviderError> {
    let out = sm
        .get_random_password()
        .password_length(spec.password_length)
        .exclude_characters(&spec.exclude_characters)
        .require_each_included_type(true)
        .send()
        .await
        .map_err(|e| sdk(&format!("generate a password for secret {}", spec.name), e))?;
    out.random_password()
        .map(str::to_string)
        .ok_or_else(|| ProviderError::invalid("GetRandomPassword returned no password"))
}

impl Driver for SecretSpec {
    const READ_BY: ServiceRead = ServiceRead::SecretsManager;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let sm = &aws.clients.secretsmanager;
        let password = generate_password(sm, spec).await?;
        let value = serde_json::json!({ "username": spec.username, "password": password });
        let tags: Vec<Tag> = ctx
            .tags_for(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect();
        let created = sm
            .create_secret()
            .name(&spec.name)
            .description(&spec.description)
            .secret_string(value.to_string())
            .set_tags(Some(tags))
            .send()
            .await;
        drop(value);
        match created {
            Ok(out) => Ok(observe(
                id.clone(),
                out.arn().unwrap_or_default(),
                &spec.name,
                Some(&spec.description),
            )),
            // The name is taken: by this secret (a create whose answer was lost), by it
            // scheduled for deletion (a `down` within the recovery window: restored, with the
            // password the service had), or by someone else's (refused, naming it).
            Err(e)
                if matches!(
                    e.code(),
                    Some("ResourceExistsException" | "InvalidRequestException")
                ) =>
            {
                let found = describe(sm, &spec.name, ctx.stack).await?;
                if let Some((Some(owner), observed, true)) = &found
                    && owner == id
                {
                    sm.restore_secret()
                        .secret_id(&observed.cloud_id)
                        .send()
                        .await
                        .map_err(|e| sdk(&format!("restore secret {}", spec.name), e))?;
                    tracing::info!(%id, "restored the secret scheduled for deletion");
                    return Ok(observed.clone());
                }
                if found.is_none() {
                    return Err(sdk(&format!("create secret {id} ({})", spec.name), e));
                }
                crate::adopt(
                    "secret",
                    id,
                    found.map(|(owner, observed, _)| (owner, observed)),
                )
            }
            Err(e) => Err(sdk(&format!("create secret {id} ({})", spec.name), e)),
        }
    }

    async fn update(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        _fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        // Only the description changes in place: no new version, the value stays.
        aws.clients
            .secretsmanager
            .update_secret()
            .secret_id(&live.cloud_id)
            .description(&spec.description)
            .send()
            .await
            .map_err(|e| sdk(&format!("update secret {}", live.id), e))?;
        Ok(live.clone())
    }

    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        match aws
            .clients
            .secretsmanager
            .delete_secret()
            .secret_id(&live.cloud_id)
            .recovery_window_in_days(RECOVERY_WINDOW_DAYS)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            // Already scheduled for deletion: the goal.
            Err(e)
                if e.code() == Some("InvalidRequestException")
                    && e.message().is_some_and(|m| m.contains("deletion")) =>
            {
                Ok(())
            }
            Err(e) => Err(sdk(&format!("delete secret {}", live.id), e)),
        }
    }

    async fn poll(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        let name = live
            .fields
            .get(SecretSpec::NAME.name)
            .and_then(|v| match v {
                mck_core::model::Value::Str(s) => Some(s.as_str()),
                _ => None,
            })
            .unwrap_or(live.cloud_id.as_str());
        Ok(
            match describe(&aws.clients.secretsmanager, name, ctx.stack).await? {
                None | Some((_, _, true)) => Readiness::Gone,
                Some((_, mut observed, false)) => {
                    observed.id = live.id.clone();
                    Readiness::Ready(observed)
                }
            },
        )
    }
}
