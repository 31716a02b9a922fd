//! An IAM role for ECS tasks: trust for one service, AWS managed policies, and an inline policy
//! that reads exactly the stack's secrets.

use aws_sdk_iam::Client;
use aws_sdk_iam::error::ProvideErrorMetadata;
use aws_sdk_iam::types::{Role, Tag};
use mck_core::model::{LogicalId, ResourceKind, RoleSpec, Value};
use mck_core::provider::{Context, Observed, ProviderError, Readiness};

use super::{policy_json, strings};
use crate::AwsProvider;
use crate::driver::{Driver, ServiceRead};
use crate::error::sdk;

/// The logical id of a role of the stack: `iam.<x>` for `<stack>-<x>` under `/mck/<stack>/`.
fn owned(role: &Role, stack: &str) -> Option<LogicalId> {
    if role.path() != RoleSpec::path(stack) {
        return None;
    }
    let suffix = role.role_name().strip_prefix(&format!("{stack}-"))?;
    Some(LogicalId::new(format!("iam.{suffix}")))
}

/// The service a trust policy lets assume the role.
fn trusted_service(role: &Role) -> String {
    let Some(doc) = role.assume_role_policy_document().and_then(policy_json) else {
        return String::new();
    };
    doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|s| strings(s["Principal"].get("Service")))
        .next()
        .unwrap_or_default()
}

/// A role, its attached managed policies and the secrets its inline policy grants.
pub(super) fn observe(
    id: LogicalId,
    role: &Role,
    managed: Vec<String>,
    secrets: Vec<String>,
    exec: bool,
) -> Observed {
    let mut managed: Vec<Value> = managed.into_iter().map(Value::Str).collect();
    managed.sort();
    let mut secrets: Vec<Value> = secrets.into_iter().map(Value::Str).collect();
    secrets.sort();
    Observed::new(id, ResourceKind::Role, role.role_name())
        .with(RoleSpec::NAME, role.role_name())
        .with(
            RoleSpec::DESCRIPTION,
            role.description().unwrap_or_default(),
        )
        .with(RoleSpec::SERVICE, trusted_service(role))
        .with(RoleSpec::MANAGED_POLICY_ARNS, Value::List(managed))
        .with(RoleSpec::SECRET_ARNS, Value::List(secrets))
        .with(RoleSpec::ECS_EXEC, exec)
        .output(RoleSpec::OUT_ARN, role.arn())
}

/// The managed policies attached to `name`.
async fn attached(iam: &Client, name: &str) -> Result<Vec<String>, ProviderError> {
    let mut out = Vec::new();
    let mut pages = iam
        .list_attached_role_policies()
        .role_name(name)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk(&format!("list policies of role {name}"), e))?;
        out.extend(
            page.attached_policies()
                .iter()
                .filter_map(|p| p.policy_arn().map(str::to_string)),
        );
    }
    Ok(out)
}

/// The secrets the role's inline policy grants (none when it has no such policy).
async fn granted_secrets(iam: &Client, name: &str) -> Result<Vec<String>, ProviderError> {
    match iam
        .get_role_policy()
        .role_name(name)
        .policy_name(RoleSpec::SECRETS_POLICY)
        .send()
        .await
    {
        Ok(out) => Ok(policy_json(out.policy_document())
            .map(|doc| {
                doc["Statement"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| strings(s.get("Resource")))
                    .collect()
            })
            .unwrap_or_default()),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(Vec::new()),
        Err(e) => Err(sdk(&format!("read the inline policy of role {name}"), e)),
    }
}

/// Whether the role has the ECS Exec policy.
async fn has_exec(iam: &Client, name: &str) -> Result<bool, ProviderError> {
    match iam
        .get_role_policy()
        .role_name(name)
        .policy_name(RoleSpec::EXEC_POLICY)
        .send()
        .await
    {
        Ok(_) => Ok(true),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(false),
        Err(e) => Err(sdk(&format!("read the exec policy of role {name}"), e)),
    }
}

fn exec_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": RoleSpec::EXEC_ACTIONS,
            "Resource": "*",
        }],
    })
    .to_string()
}

async fn observe_full(iam: &Client, id: LogicalId, role: &Role) -> Result<Observed, ProviderError> {
    let name = role.role_name();
    let (managed, secrets, exec) = tokio::try_join!(
        attached(iam, name),
        granted_secrets(iam, name),
        has_exec(iam, name)
    )?;
    Ok(observe(id, role, managed, secrets, exec))
}

pub(super) async fn read(iam: &Client, stack: &str) -> Result<Vec<Observed>, ProviderError> {
    let mut roles = Vec::new();
    let mut pages = iam
        .list_roles()
        .path_prefix(RoleSpec::path(stack))
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| sdk("list roles", e))?;
        roles.extend(
            page.roles()
                .iter()
                .filter_map(|r| Some((owned(r, stack)?, r.clone()))),
        );
    }
    let mut out = Vec::with_capacity(roles.len());
    for (id, role) in roles {
        out.push(observe_full(iam, id, &role).await?);
    }
    Ok(out)
}

async fn get(iam: &Client, name: &str) -> Result<Option<Role>, ProviderError> {
    match iam.get_role().role_name(name).send().await {
        Ok(out) => Ok(out.role().cloned()),
        Err(e) if e.code() == Some("NoSuchEntity") => Ok(None),
        Err(e) => Err(sdk(&format!("read role {name}"), e)),
    }
}

fn trust_policy(service: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Service": service },
            "Action": "sts:AssumeRole",
        }],
    })
    .to_string()
}

fn secrets_policy(arns: &[String]) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": arns,
        }],
    })
    .to_string()
}

/// The secret ARNs the spec grants, resolved (usually the database's managed secret).
fn desired_secrets(ctx: &Context<'_>, spec: &RoleSpec) -> Result<Vec<String>, ProviderError> {
    spec.secrets
        .iter()
        .map(|value| match ctx.resolve(value)? {
            Value::Str(arn) | Value::CloudId(arn) => Ok(arn),
            other => Err(ProviderError::invalid(format!(
                "internal error: a secret ARN resolved to {other} (please report this)"
            ))),
        })
        .collect()
}

/// Attaches and detaches managed policies, and writes or removes the secrets policy, so the
/// role matches `spec`. Each call is retried on its own.
async fn converge(
    aws: &AwsProvider,
    ctx: &Context<'_>,
    spec: &RoleSpec,
    name: &str,
    just_created: bool,
) -> Result<(), ProviderError> {
    let iam = &aws.clients.iam;
    let have = aws.call(just_created, || attached(iam, name)).await?;
    for arn in spec.managed_policies.iter().filter(|p| !have.contains(p)) {
        aws.call(just_created, || async {
            iam.attach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| sdk(&format!("attach {arn} to role {name}"), e))
        })
        .await?;
    }
    for arn in have.iter().filter(|p| !spec.managed_policies.contains(p)) {
        aws.call(just_created, || async {
            iam.detach_role_policy()
                .role_name(name)
                .policy_arn(arn)
                .send()
                .await
                .map_err(|e| sdk(&format!("detach {arn} from role {name}"), e))
        })
        .await?;
    }
    if spec.exec {
        let document = exec_policy();
        aws.call(just_created, || async {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(RoleSpec::EXEC_POLICY)
                .policy_document(&document)
                .send()
                .await
                .map_err(|e| sdk(&format!("allow ECS Exec to role {name}"), e))
        })
        .await?;
    } else if !just_created && has_exec(iam, name).await? {
        iam.delete_role_policy()
            .role_name(name)
            .policy_name(RoleSpec::EXEC_POLICY)
            .send()
            .await
            .map_err(|e| sdk(&format!("remove the exec policy of role {name}"), e))?;
    }
    let secrets = desired_secrets(ctx, spec)?;
    if secrets.is_empty() {
        if !just_created && !granted_secrets(iam, name).await?.is_empty() {
            iam.delete_role_policy()
                .role_name(name)
                .policy_name(RoleSpec::SECRETS_POLICY)
                .send()
                .await
                .map_err(|e| sdk(&format!("remove the secrets policy of role {name}"), e))?;
        }
    } else {
        let document = secrets_policy(&secrets);
        aws.call(just_created, || async {
            iam.put_role_policy()
                .role_name(name)
                .policy_name(RoleSpec::SECRETS_POLICY)
                .policy_document(&document)
                .send()
                .await
                .map_err(|e| sdk(&format!("grant secrets to role {name}"), e))
        })
        .await?;
    }
    Ok(())
}

impl Driver for RoleSpec {
    const READ_BY: ServiceRead = ServiceRead::Iam;

    async fn create(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        id: &LogicalId,
        spec: &Self,
    ) -> Result<Observed, ProviderError> {
        let iam = &aws.clients.iam;
        let tags: Vec<Tag> = ctx
            .tags_for(id)
            .into_iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Result<_, _>>()
            .map_err(|e| ProviderError::invalid(e.to_string()))?;
        let role = match iam
            .create_role()
            .role_name(&spec.name)
            .path(RoleSpec::path(ctx.stack))
            .description(&spec.description)
            .assume_role_policy_document(trust_policy(&spec.service))
            .set_tags(Some(tags))
            .send()
            .await
        {
            Ok(out) => out.role().cloned(),
            // A create whose answer was lost: the role is ours if it is under our path.
            Err(e) if e.code() == Some("EntityAlreadyExists") => {
                let existing = get(iam, &spec.name).await?;
                let owner = existing.as_ref().and_then(|r| owned(r, ctx.stack));
                if owner.as_ref() != Some(id) {
                    return Err(ProviderError::invalid(format!(
                        "role {} already exists and is not {id} of this stack (its path is {}); remove or rename it",
                        spec.name,
                        existing.as_ref().map_or("unknown", |r| r.path())
                    )));
                }
                existing
            }
            Err(e) => return Err(sdk(&format!("create role {id} ({})", spec.name), e)),
        };
        let role = role.ok_or_else(|| ProviderError::invalid("create role returned nothing"))?;
        // CreateRole is not idempotent: from here on only single calls are retried.
        converge(aws, ctx, spec, &spec.name, true)
            .await
            .map_err(|e| e.after_create(&spec.name))?;
        let secrets = desired_secrets(ctx, spec)?;
        Ok(observe(
            id.clone(),
            &role,
            spec.managed_policies.clone(),
            secrets,
            spec.exec,
        ))
    }

    async fn update(
        aws: &AwsProvider,
        ctx: &Context<'_>,
        spec: &Self,
        live: &Observed,
        fields: &[&str],
    ) -> Result<Observed, ProviderError> {
        let iam = &aws.clients.iam;
        if RoleSpec::DESCRIPTION.is_in(fields) {
            aws.retried(|| async {
                iam.update_role()
                    .role_name(&live.cloud_id)
                    .description(&spec.description)
                    .send()
                    .await
                    .map_err(|e| sdk(&format!("describe role {}", live.id), e))
            })
            .await?;
        }
        if RoleSpec::MANAGED_POLICY_ARNS.is_in(fields)
            || RoleSpec::SECRET_ARNS.is_in(fields)
            || RoleSpec::ECS_EXEC.is_in(fields)
        {
            converge(aws, ctx, spec, &live.cloud_id, false).await?;
        }
        Ok(live.clone())
    }

    /// IAM refuses to delete a role with policies (DeleteConflict): they go first.
    async fn delete(aws: &AwsProvider, live: &Observed) -> Result<(), ProviderError> {
        let iam = &aws.clients.iam;
        let name = live.cloud_id.as_str();
        if get(iam, name).await?.is_none() {
            return Err(crate::missing("role", name));
        }
        // NoSuchEntity from a detach or an inline delete says that policy is gone (another
        // actor removed it meanwhile), not that the role is: go on, and let DeleteRole say
        // whether the role is gone.
        for arn in attached(iam, name).await? {
            match iam
                .detach_role_policy()
                .role_name(name)
                .policy_arn(&arn)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == Some("NoSuchEntity") => {}
                Err(e) => return Err(sdk(&format!("detach {arn} from role {name}"), e)),
            }
        }
        let mut inline = Vec::new();
        let mut pages = iam
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| sdk(&format!("list inline policies of role {name}"), e))?;
            inline.extend(page.policy_names().iter().cloned());
        }
        for policy in &inline {
            match iam
                .delete_role_policy()
                .role_name(name)
                .policy_name(policy)
                .send()
                .await
            {
                Ok(_) => {}
                Err(e) if e.code() == Some("NoSuchEntity") => {}
                Err(e) => return Err(sdk(&format!("delete policy {policy} of role {name}"), e)),
            }
        }
        iam.delete_role()
            .role_name(name)
            .send()
            .await
            .map_err(|e| sdk(&format!("delete role {} ({name})", live.id), e))?;
        Ok(())
    }

    async fn poll(
        aws: &AwsProvider,
        _ctx: &Context<'_>,
        live: &Observed,
    ) -> Result<Readiness, ProviderError> {
        Ok(match get(&aws.clients.iam, &live.cloud_id).await? {
            Some(role) => {
                Readiness::Ready(observe_full(&aws.clients.iam, live.id.clone(), &role).await?)
            }
            None => Readiness::Gone,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::assert_reads;

    fn role(path: &str, name: &str) -> Role {
        Role::builder()
            .path(path)
            .role_name(name)
            .role_id("AROA1")
            .arn(format!("arn:aws:iam::123456789012:role{path}{name}"))
            .create_date(aws_smithy_types::DateTime::from_secs(0))
            .description("mck dev: tasks")
            .assume_role_policy_document(
                "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%5B%7B%22Effect%22%3A%22Allow%22%2C%22Principal%22%3A%7B%22Service%22%3A%22ecs-tasks.amazonaws.com%22%7D%2C%22Action%22%3A%22sts%3AAssumeRole%22%7D%5D%7D",
            )
            .build()
            .unwrap()
    }

    #[test]
    fn reads_trust_policies_and_secrets_and_owns_by_path() {
        let live = role("/mck/dev/", "dev-task-execution");
        let id = owned(&live, "dev").unwrap();
        assert_eq!(id.as_str(), "iam.task-execution");
        assert_eq!(owned(&role("/mck/dev-2/", "dev-2-task"), "dev"), None);
        assert_eq!(owned(&role("/", "dev-task"), "dev"), None);
        let secret = "arn:aws:secretsmanager:us-east-1:1:secret:rds-db-1";
        let observed = observe(
            id,
            &live,
            vec![mck_core::lower::TASK_EXECUTION_POLICY.to_string()],
            vec![secret.to_string()],
            true,
        );
        let spec = RoleSpec {
            name: "dev-task-execution".into(),
            description: "mck dev: tasks".into(),
            service: "ecs-tasks.amazonaws.com".into(),
            managed_policies: vec![mck_core::lower::TASK_EXECUTION_POLICY.into()],
            secrets: vec![Value::Str(secret.into())],
            exec: true,
        };
        assert_reads(&observed, spec, &[]);
    }

    /// A policy detached (or an inline one deleted) by someone else between the list and the
    /// call answers NoSuchEntity: that says the policy is gone, not the role, so the delete
    /// goes on and DeleteRole runs.
    #[tokio::test]
    async fn no_such_entity_from_a_policy_call_does_not_read_as_the_role_gone() {
        use crate::testing::{Replay, query_error_xml, query_xml};
        let role = "<Role><Path>/mck/t/</Path><RoleName>t-task</RoleName><RoleId>AROA1</RoleId><Arn>arn:aws:iam::1:role/mck/t/t-task</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate></Role>";
        let aws = Replay::new([
            ("GetRole", 200, query_xml("GetRole", role)),
            (
                "ListAttachedRolePolicies",
                200,
                query_xml(
                    "ListAttachedRolePolicies",
                    "<AttachedPolicies><member><PolicyName>P</PolicyName><PolicyArn>arn:aws:iam::aws:policy/P</PolicyArn></member></AttachedPolicies><IsTruncated>false</IsTruncated>",
                ),
            ),
            (
                "DetachRolePolicy",
                404,
                query_error_xml(
                    "NoSuchEntity",
                    "Policy arn:aws:iam::aws:policy/P was not found.",
                ),
            ),
            (
                "ListRolePolicies",
                200,
                query_xml(
                    "ListRolePolicies",
                    "<PolicyNames><member>secrets</member></PolicyNames><IsTruncated>false</IsTruncated>",
                ),
            ),
            (
                "DeleteRolePolicy",
                404,
                query_error_xml(
                    "NoSuchEntity",
                    "The role policy with name secrets cannot be found.",
                ),
            ),
            ("DeleteRole", 200, query_xml("DeleteRole", "")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let live = Observed::new("iam.task".into(), ResourceKind::Role, "t-task");
        RoleSpec::delete(&provider, &live).await.unwrap();
        aws.assert_done();
        assert_eq!(aws.count("DeleteRole"), 1);
    }

    /// IAM answers `ConcurrentModification` while another change of the role runs (a policy
    /// attached by a parallel step): the attach is tried again inside the create, and the
    /// second attempt goes through; the role is created once.
    #[tokio::test]
    async fn a_concurrent_change_of_the_role_is_retried_and_the_attach_goes_through() {
        use crate::testing::{Replay, context, query_error_xml, query_xml};
        let role = "<Role><Path>/mck/t/</Path><RoleName>t-task</RoleName><RoleId>AROA1</RoleId><Arn>arn:aws:iam::1:role/mck/t/t-task</Arn><CreateDate>2024-01-01T00:00:00Z</CreateDate></Role>";
        let aws = Replay::new([
            ("CreateRole", 200, query_xml("CreateRole", role)),
            (
                "ListAttachedRolePolicies",
                200,
                query_xml(
                    "ListAttachedRolePolicies",
                    "<AttachedPolicies></AttachedPolicies><IsTruncated>false</IsTruncated>",
                ),
            ),
            (
                "AttachRolePolicy",
                409,
                query_error_xml(
                    "ConcurrentModification",
                    "Rate exceeded for the role t-task: another change is in progress.",
                ),
            ),
            ("AttachRolePolicy", 200, query_xml("AttachRolePolicy", "")),
        ]);
        let provider = AwsProvider::offline(aws.clone());
        let deps = std::collections::HashMap::new();
        let spec = RoleSpec {
            name: "t-task".into(),
            description: "mck t: tasks".into(),
            service: "ecs-tasks.amazonaws.com".into(),
            managed_policies: vec!["arn:aws:iam::aws:policy/P".into()],
            secrets: vec![],
            exec: false,
        };
        let created = RoleSpec::create(&provider, &context(&deps), &"iam.task".into(), &spec)
            .await
            .unwrap();
        assert_eq!(created.cloud_id, "t-task");
        assert_eq!(aws.count("CreateRole"), 1);
        assert_eq!(aws.count("AttachRolePolicy"), 2);
        aws.assert_done();
    }
}
