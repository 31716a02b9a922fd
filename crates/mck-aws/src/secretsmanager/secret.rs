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

/// The login a secret's value holds (JSON with `username` and `password`).
pub(crate) fn parse_login(text: &str) -> Option<Login> {
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
        .output(
            SecretSpec::OUT_USERNAME_FROM,
            SecretSpec::username_from(arn),
        )
        .output(SecretSpec::OUT_PENDING_FROM, SecretSpec::pending_from(arn))
}

/// The day of the last rotation: the `mck:rotated` tag `mck rotate` sets, else the day the
/// secret was made.
fn rotated_on<'a>(
    mut tags: impl Iterator<Item = (&'a str, &'a str)>,
    created: Option<&aws_smithy_types::DateTime>,
) -> Option<String> {
    tags.find(|(k, _)| *k == SecretSpec::ROTATED_TAG)
        .map(|(_, v)| v.to_string())
        .or_else(|| {
            created.and_then(|c| {
                c.fmt(aws_smithy_types::date_time::Format::DateTime)
                    .ok()
                    .map(|t| t.chars().take(10).collect())
            })
        })
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
            if let (Some(id), Some(arn), Some(name)) = (
                crate::owner(tags.clone(), stack),
                secret.arn(),
                secret.name(),
            ) {
                let mut observed = observe(id, arn, name, secret.description());
                if let Some(day) = rotated_on(tags, secret.created_date()) {
                    observed = observed.output(SecretSpec::OUT_ROTATED, day);
                }
                out.push(observed);
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
pub(crate) async fn generate_password(
    sm: &Client,
    spec: &SecretSpec,
) -> Result<String, ProviderError> {
    let call = sm
        .get_random_password()
        .password_length(spec.password_length)
        .require_each_included_type(true);
    // Letters and digits only is `ExcludePunctuation`: with every punctuation character in
    // `ExcludeCharacters` instead, punctuation stays a type each password must include.
    let call = if spec.alphanumeric() {
        call.exclude_punctuation(true)
    } else {
        call.exclude_characters(&spec.exclude_characters)
    };
    let out = call
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

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::testing::{Replay, assert_reads, context, json_error};

    const ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:mck/t/mq-AbCdEf";
    const PASSWORD: &str = "s3cr3t-Generated-Value-42";

    fn spec() -> SecretSpec {
        SecretSpec {
            name: "mck/t/mq".into(),
            description: "mck t: the RabbitMQ user login (generated)".into(),
            username: "magento".into(),
            password_length: 32,
            exclude_characters: ",:=".into(),
            rotation_days: None,
        }
    }

    fn random() -> (&'static str, u16, String) {
        (
            "GetRandomPassword",
            200,
            format!(r#"{{"RandomPassword":"{PASSWORD}"}}"#),
        )
    }

    fn described(tags: &[(&str, &str)], deleted: bool) -> (&'static str, u16, String) {
        let tags: Vec<String> = tags
            .iter()
            .map(|(k, v)| format!(r#"{{"Key":"{k}","Value":"{v}"}}"#))
            .collect();
        let deleted = if deleted {
            r#","DeletedDate":1765000000"#
        } else {
            ""
        };
        (
            "DescribeSecret",
            200,
            format!(
                r#"{{"ARN":"{ARN}","Name":"mck/t/mq","Description":"d","Tags":[{}]{deleted}}}"#,
                tags.join(",")
            ),
        )
    }

    async fn create(aws: &Replay) -> Result<Observed, ProviderError> {
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        SecretSpec::create(&provider, &context(&resolved), &"secret.mq".into(), &spec()).await
    }

    #[test]
    fn reads_name_and_description_and_reports_the_arn_and_password_reference() {
        let spec = spec();
        let observed = observe("secret.mq".into(), ARN, &spec.name, Some(&spec.description));
        assert_reads(&observed, spec, &[]);
        assert_eq!(
            observed.outputs[SecretSpec::OUT_PASSWORD_FROM],
            format!("{ARN}:password::")
        );
    }

    /// The password is AWS's (GetRandomPassword with the service's rules), goes into the
    /// secret's value with the user name, and nowhere else: not in the observation or its
    /// outputs.
    #[tokio::test]
    async fn a_new_secret_holds_a_generated_login_that_nothing_returns() {
        let aws = Replay::new([
            random(),
            (
                "CreateSecret",
                200,
                format!(r#"{{"ARN":"{ARN}","Name":"mck/t/mq"}}"#),
            ),
        ]);
        let observed = create(&aws).await.unwrap();
        aws.assert_done();
        assert_eq!(observed.cloud_id, ARN);
        let requests = aws.requests();
        assert!(
            requests[0].1.contains(r#""ExcludeCharacters":",:=""#)
                && requests[0].1.contains(r#""PasswordLength":32"#),
            "{}",
            requests[0].1
        );
        let value: serde_json::Value = serde_json::from_str(&requests[1].1).unwrap();
        let login: serde_json::Value =
            serde_json::from_str(value["SecretString"].as_str().unwrap()).unwrap();
        assert_eq!(login["username"], "magento");
        assert_eq!(login["password"], PASSWORD);
        assert!(!format!("{observed:?}").contains(PASSWORD));
    }

    /// Letters and digits only (the crypt key) is asked as `ExcludePunctuation`, not as every
    /// punctuation character excluded (which leaves punctuation a type each password needs).
    #[tokio::test]
    async fn a_password_of_letters_and_digits_excludes_punctuation_as_a_type() {
        let aws = Replay::new([
            random(),
            (
                "CreateSecret",
                200,
                format!(r#"{{"ARN":"{ARN}","Name":"mck/t/crypt-key"}}"#),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let key = SecretSpec {
            name: "mck/t/crypt-key".into(),
            exclude_characters: SecretSpec::PUNCTUATION.into(),
            ..spec()
        };
        assert!(key.alphanumeric() && !spec().alphanumeric());
        SecretSpec::create(
            &provider,
            &context(&resolved),
            &"secret.crypt-key".into(),
            &key,
        )
        .await
        .unwrap();
        aws.assert_done();
        let asked: serde_json::Value = serde_json::from_str(&aws.requests()[0].1).unwrap();
        assert_eq!(
            asked,
            serde_json::json!({"PasswordLength": 32, "RequireEachIncludedType": true, "ExcludePunctuation": true})
        );
    }

    /// A create repeated after a lost answer finds the name taken by the secret it made: adopted
    /// with its value (the password the service may already have); one of another stack is
    /// refused, naming it.
    #[tokio::test]
    async fn a_taken_name_is_adopted_when_ours_and_refused_otherwise() {
        let exists = || {
            (
                "CreateSecret",
                400,
                json_error(
                    "ResourceExistsException",
                    "The operation failed because the secret mck/t/mq already exists.",
                ),
            )
        };
        let aws = Replay::new([
            random(),
            exists(),
            described(&[("mck:stack", "t"), ("mck:id", "secret.mq")], false),
        ]);
        assert_eq!(create(&aws).await.unwrap().cloud_id, ARN);
        aws.assert_done();

        let aws = Replay::new([
            random(),
            exists(),
            described(&[("mck:stack", "other"), ("mck:id", "secret.mq")], false),
        ]);
        let err = create(&aws).await.unwrap_err();
        assert!(err.message.contains("already exists"), "{}", err.message);
        aws.assert_done();
    }

    /// `down` schedules deletion with a recovery window; an `up` within it meets the name still
    /// taken and restores the secret, so the service gets back the password it was made with.
    #[tokio::test]
    async fn a_secret_scheduled_for_deletion_is_restored_not_replaced() {
        let aws = Replay::new([
            random(),
            (
                "CreateSecret",
                400,
                json_error(
                    "InvalidRequestException",
                    "You can't create this secret because a secret with this name is already scheduled for deletion.",
                ),
            ),
            described(&[("mck:stack", "t"), ("mck:id", "secret.mq")], true),
            (
                "RestoreSecret",
                200,
                format!(r#"{{"ARN":"{ARN}","Name":"mck/t/mq"}}"#),
            ),
        ]);
        assert_eq!(create(&aws).await.unwrap().cloud_id, ARN);
        aws.assert_done();
        assert_eq!(aws.count("RestoreSecret"), 1);
    }

    /// A later `up` never regenerates the password: an update changes the description only
    /// (UpdateSecret without a value makes no new version).
    #[tokio::test]
    async fn an_update_changes_the_description_and_never_the_value() {
        let aws = Replay::new([(
            "UpdateSecret",
            200,
            format!(r#"{{"ARN":"{ARN}","Name":"mck/t/mq"}}"#),
        )]);
        let provider = AwsProvider::offline(aws.clone());
        let resolved = HashMap::new();
        let live = Observed::new("secret.mq".into(), ResourceKind::Secret, ARN);
        let fields = [SecretSpec::DESCRIPTION.name];
        SecretSpec::update(&provider, &context(&resolved), &spec(), &live, &fields)
            .await
            .unwrap();
        aws.assert_done();
        let body = &aws.requests()[0].1;
        assert!(body.contains(r#""Description""#), "{body}");
        assert!(
            !body.contains("SecretString") && !body.contains("GetRandomPassword"),
            "{body}"
        );
        assert_eq!(aws.count("GetRandomPassword"), 0);
    }

    #[tokio::test]
    async fn delete_schedules_a_recovery_window_and_an_already_scheduled_secret_is_done() {
        let aws = Replay::new([
            ("DeleteSecret", 200, format!(r#"{{"ARN":"{ARN}"}}"#)),
            (
                "DeleteSecret",
                400,
                json_error(
                    "InvalidRequestException",
                    "You can't perform this operation on the secret because it was marked for deletion.",
                ),
            ),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let live = Observed::new("secret.mq".into(), ResourceKind::Secret, ARN);
        SecretSpec::delete(&provider, &live).await.unwrap();
        SecretSpec::delete(&provider, &live).await.unwrap();
        aws.assert_done();
        assert!(aws.requests()[0].1.contains(r#""RecoveryWindowInDays":7"#));
    }

    #[test]
    fn a_login_parses_and_its_debug_form_hides_the_password() {
        let login = parse_login(&format!(
            r#"{{"username":"magento","password":"{PASSWORD}"}}"#
        ))
        .unwrap();
        assert_eq!(login.username, "magento");
        assert_eq!(login.password, PASSWORD);
        assert!(!format!("{login:?}").contains(PASSWORD));
        assert!(parse_login(r#"{"user":"x"}"#).is_none());
    }
}
