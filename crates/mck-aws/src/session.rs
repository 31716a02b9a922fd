//! Sessions into a stack's running tasks through ECS Exec and Session Manager: a shell or a
//! command (`mck exec`, ECS `ExecuteCommand`) and a port forwarded to a host the task can reach
//! (`mck tunnel`, SSM `StartSession` with `AWS-StartPortForwardingSessionToRemoteHost` on the
//! task's ECS Exec target). Both answer what AWS's `session-manager-plugin` needs to carry the
//! session ([`Session`]); the caller runs it.
//!
//! ECS Exec needs the service's `enableExecuteCommand` and the task role's Session Manager
//! channels (`app.exec`, which `up` manages), set when the task started; a task without them
//! is refused here, saying what to do, before any session is asked for.

use aws_sdk_ecs::types::{DesiredStatus, ManagedAgentName, Task};
use mck_core::provider::ProviderError;

use crate::AwsProvider;
use crate::error::sdk;

/// A running task's container ECS Exec can reach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecTarget {
    /// The cluster.
    pub cluster: String,
    /// The task's ARN.
    pub task: String,
    /// The container.
    pub container: String,
    /// The Session Manager target: `ecs:<cluster>_<task id>_<container runtime id>`.
    pub target: String,
}

/// What `session-manager-plugin` takes: the session AWS opened and the request that opened it.
#[derive(Clone, Debug)]
pub struct Session {
    /// `{"SessionId", "StreamUrl", "TokenValue"}`.
    pub response: String,
    /// The request's parameters (`{"Target": …}`, and the document for a port forward).
    pub parameters: String,
    /// The region.
    pub region: String,
}

/// The task of `service` (in the cluster `<stack>-app`) to reach, and its container
/// `container`, checked for ECS Exec: the task started with it on, and the container's exec
/// agent is running.
pub async fn exec_target(
    aws: &AwsProvider,
    stack: &str,
    service: &str,
    container: &str,
) -> Result<ExecTarget, ProviderError> {
    let ecs = &aws.clients.ecs;
    let cluster = format!("{stack}-app");
    let listed = ecs
        .list_tasks()
        .cluster(&cluster)
        .service_name(service)
        .desired_status(DesiredStatus::Running)
        .send()
        .await
        .map_err(|e| sdk(&format!("list the tasks of service {service}"), e))?;
    let Some(first) = listed.task_arns().first() else {
        return Err(ProviderError::invalid(format!(
            "service {service} of stack {stack} runs no task to reach; check `mck plan --stack {stack}` and the service's events"
        )));
    };
    let described = ecs
        .describe_tasks()
        .cluster(&cluster)
        .tasks(first)
        .send()
        .await
        .map_err(|e| sdk(&format!("describe task {first}"), e))?;
    let task = described
        .tasks()
        .first()
        .ok_or_else(|| crate::missing("task", first))?;
    target_of(stack, &cluster, task, container)
}

/// [`exec_target`]'s checks on a described task.
pub(crate) fn target_of(
    stack: &str,
    cluster: &str,
    task: &Task,
    container: &str,
) -> Result<ExecTarget, ProviderError> {
    let arn = task.task_arn().unwrap_or_default();
    let id = arn.rsplit('/').next().unwrap_or_default();
    if !task.enable_execute_command() {
        return Err(ProviderError::invalid(format!(
            "task {id} was started without ECS Exec: set `app.exec: true` in stack {stack} (the default), run `mck up --stack {stack}`, and reach a task started after it (a release or `mck rotate` replaces them)"
        )));
    }
    let names: Vec<&str> = task.containers().iter().filter_map(|c| c.name()).collect();
    let Some(found) = task
        .containers()
        .iter()
        .find(|c| c.name() == Some(container))
    else {
        return Err(ProviderError::invalid(format!(
            "task {id} has no container {container}; it has {}: pass one with --container",
            names.join(", ")
        )));
    };
    let agent = found
        .managed_agents()
        .iter()
        .find(|a| a.name() == Some(&ManagedAgentName::ExecuteCommandAgent));
    match agent.and_then(|a| a.last_status()) {
        Some("RUNNING") => {}
        status => {
            return Err(ProviderError::invalid(format!(
                "the ECS Exec agent of container {container} in task {id} is {}: it starts with the task when the task role may open Session Manager channels (`mck up` sets it) and the task can reach Session Manager (the NAT gateway, or VPC endpoints for ssmmessages); wait a minute, or check the task's network",
                status.map_or("not there".to_string(), |s| s.to_lowercase())
            )));
        }
    }
    let runtime = found.runtime_id().unwrap_or_default();
    Ok(ExecTarget {
        cluster: cluster.to_string(),
        task: arn.to_string(),
        container: container.to_string(),
        target: format!("ecs:{cluster}_{id}_{runtime}"),
    })
}

fn response(session_id: Option<&str>, stream_url: Option<&str>, token: Option<&str>) -> String {
    serde_json::json!({
        "SessionId": session_id.unwrap_or_default(),
        "StreamUrl": stream_url.unwrap_or_default(),
        "TokenValue": token.unwrap_or_default(),
    })
    .to_string()
}

/// Runs `command` in the target's container, interactively (ECS `ExecuteCommand`).
pub async fn exec(
    aws: &AwsProvider,
    target: &ExecTarget,
    command: &str,
) -> Result<Session, ProviderError> {
    let out = aws
        .clients
        .ecs
        .execute_command()
        .cluster(&target.cluster)
        .task(&target.task)
        .container(&target.container)
        .command(command)
        .interactive(true)
        .send()
        .await
        .map_err(|e| sdk(&format!("start `{command}` in {}", target.task), e))?;
    let session = out
        .session()
        .ok_or_else(|| ProviderError::invalid("ExecuteCommand answered no session"))?;
    Ok(Session {
        response: response(
            session.session_id(),
            session.stream_url(),
            session.token_value(),
        ),
        parameters: serde_json::json!({ "Target": target.target }).to_string(),
        region: aws.region().to_string(),
    })
}

/// Forwards `local_port` to `host:port` as the target's task reaches it (SSM `StartSession`).
pub async fn port_forward(
    aws: &AwsProvider,
    target: &ExecTarget,
    host: &str,
    port: u16,
    local_port: u16,
) -> Result<Session, ProviderError> {
    const DOCUMENT: &str = "AWS-StartPortForwardingSessionToRemoteHost";
    let parameters = [
        ("host", host.to_string()),
        ("portNumber", port.to_string()),
        ("localPortNumber", local_port.to_string()),
    ];
    let out = aws
        .clients
        .ssm
        .start_session()
        .target(&target.target)
        .document_name(DOCUMENT)
        .set_parameters(Some(
            parameters
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.clone()]))
                .collect(),
        ))
        .send()
        .await
        .map_err(|e| sdk(&format!("start a session to {host}:{port}"), e))?;
    Ok(Session {
        response: response(out.session_id(), out.stream_url(), out.token_value()),
        parameters: serde_json::json!({
            "Target": target.target,
            "DocumentName": DOCUMENT,
            "Parameters": parameters
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.clone()]))
                .collect::<std::collections::BTreeMap<_, _>>(),
        })
        .to_string(),
        region: aws.region().to_string(),
    })
}

/// The password of the login kept in the secret `secret` (for `mck tunnel --show-password`,
/// which prints it only to a terminal). Errors never contain it.
pub async fn password(aws: &AwsProvider, secret: &str) -> Result<String, ProviderError> {
    Ok(crate::secretsmanager::login(aws, secret).await?.password)
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Container, ManagedAgent};

    use super::*;

    fn task(exec: bool, agent: Option<&str>) -> Task {
        let mut php = Container::builder().name("php-fpm").runtime_id("abc-123");
        if let Some(status) = agent {
            php = php.managed_agents(
                ManagedAgent::builder()
                    .name(ManagedAgentName::ExecuteCommandAgent)
                    .last_status(status)
                    .build(),
            );
        }
        Task::builder()
            .task_arn("arn:aws:ecs:us-east-1:1:task/prod-app/0a1b2c")
            .enable_execute_command(exec)
            .containers(Container::builder().name("nginx").build())
            .containers(php.build())
            .build()
    }

    /// ECS Exec's requirements, each refused with what to do: a task started without it, a
    /// container that is not there, an agent not running; a task that has them is reached by
    /// its Session Manager target.
    #[test]
    fn ecs_execs_requirements_are_reported_clearly() {
        let target =
            target_of("prod", "prod-app", &task(true, Some("RUNNING")), "php-fpm").unwrap();
        assert_eq!(target.target, "ecs:prod-app_0a1b2c_abc-123");
        assert_eq!(target.container, "php-fpm");

        let off = target_of("prod", "prod-app", &task(false, Some("RUNNING")), "php-fpm")
            .unwrap_err()
            .message;
        assert!(
            off.contains("started without ECS Exec") && off.contains("mck up --stack prod"),
            "{off}"
        );
        let missing = target_of("prod", "prod-app", &task(true, Some("RUNNING")), "redis")
            .unwrap_err()
            .message;
        assert!(
            missing.contains("nginx, php-fpm") && missing.contains("--container"),
            "{missing}"
        );
        let pending = target_of("prod", "prod-app", &task(true, Some("PENDING")), "php-fpm")
            .unwrap_err()
            .message;
        assert!(
            pending.contains("agent") && pending.contains("is pending"),
            "{pending}"
        );
        let none = target_of("prod", "prod-app", &task(true, None), "php-fpm")
            .unwrap_err()
            .message;
        assert!(none.contains("is not there"), "{none}");
    }
}
