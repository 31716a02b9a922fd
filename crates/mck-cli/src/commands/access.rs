//! `mck exec` and `mck tunnel`: operator access to a stack's running tasks without SSH keys,
//! through ECS Exec and Session Manager ([`mck_aws::session`]). AWS's `session-manager-plugin`
//! carries the session, as it does for the AWS CLI; without it on PATH both commands stop
//! before any AWS call, naming it.

#![expect(
    clippy::print_stdout,
    reason = "where to connect is the command's output, for people and scripts"
)]

use std::path::PathBuf;
use std::process::Command as Process;

use mck_aws::AwsProvider;
use mck_aws::session::{self, ExecTarget, Session};
use mck_core::graph::DesiredGraph;
use mck_core::model::{LogicalId, ResourceSpec};

use super::{Failure, aws_config, check_region, load_args};
use crate::args::{AwsArgs, StackArgs, TunnelTarget};
use crate::ui;

/// The plugin's name on PATH.
const PLUGIN: &str = "session-manager-plugin";

/// Where the plugin is, or what to do without it.
fn plugin() -> Result<PathBuf, Failure> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(PLUGIN))
            .find(|candidate| candidate.is_file())
    });
    found.ok_or_else(|| {
        Failure(format!(
            "this needs AWS's Session Manager plugin (`{PLUGIN}`), which is not on PATH: install it \
             (https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-working-with-install-plugin.html) and run again"
        ))
    })
}

/// The app to enter and its container: `--app`/`--container`, else admin (or the first app)
/// and php-fpm (or its first container without a port), as the migration chooses.
fn app_and_container(
    desired: &DesiredGraph,
    app: Option<&str>,
    container: Option<&str>,
) -> Result<(String, String), Failure> {
    let apps: Vec<(String, Vec<(String, bool)>)> = desired
        .iter()
        .filter_map(|r| match &r.spec {
            ResourceSpec::TaskDefinition(td) => {
                let app = r.id.as_str().strip_prefix("ecs.taskdef.")?;
                desired.get(&LogicalId::new(format!("ecs.service.{app}")))?;
                Some((
                    app.to_string(),
                    td.containers
                        .iter()
                        .map(|c| (c.name.clone(), c.port.is_some()))
                        .collect(),
                ))
            }
            _ => None,
        })
        .collect();
    let names = || {
        apps.iter()
            .map(|(a, _)| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let chosen = match app {
        Some(app) => apps.iter().find(|(a, _)| a == app).ok_or_else(|| {
            Failure(format!(
                "stack {} has no service {app}; it has {}",
                desired.stack(),
                names()
            ))
        })?,
        None => apps
            .iter()
            .find(|(a, _)| a == "admin")
            .or(apps.first())
            .ok_or_else(|| Failure(format!("stack {} runs no service", desired.stack())))?,
    };
    let container = match container {
        Some(c) => c.to_string(),
        None => chosen
            .1
            .iter()
            .find(|(c, _)| c == "php-fpm")
            .or_else(|| chosen.1.iter().find(|(_, port)| !port))
            .or(chosen.1.first())
            .map(|(c, _)| c.clone())
            .unwrap_or_default(),
    };
    Ok((chosen.0.clone(), container))
}

/// The Session Manager endpoint the plugin talks to: the one the SDK uses.
fn ssm_endpoint(aws: &AwsArgs, region: &str) -> String {
    aws.endpoint_url
        .clone()
        .or_else(|| std::env::var("AWS_ENDPOINT_URL_SSM").ok())
        .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok())
        .unwrap_or_else(|| format!("https://ssm.{region}.amazonaws.com"))
}

/// Runs the plugin on `session` until it ends; its exit code is the command's.
fn carry(plugin: &PathBuf, session: &Session, aws: &AwsArgs) -> Result<u8, Failure> {
    let status = Process::new(plugin)
        .arg(&session.response)
        .arg(&session.region)
        .arg("StartSession")
        .arg(aws.profile.clone().unwrap_or_default())
        .arg(&session.parameters)
        .arg(ssm_endpoint(aws, &session.region))
        .status()
        .map_err(|e| Failure(format!("could not run {}: {e}", plugin.display())))?;
    Ok(u8::try_from(status.code().unwrap_or(1)).unwrap_or(1))
}

async fn connect(
    args: &StackArgs,
    aws: &AwsArgs,
    command: &str,
) -> Result<(DesiredGraph, AwsProvider), Failure> {
    let (_, desired) = load_args(args)?;
    check_region(aws, desired.stack(), desired.region())?;
    let cloud = AwsProvider::connect(&aws_config(aws, command), desired.region()).await;
    Ok(((*desired).clone(), cloud))
}

async fn target(
    cloud: &AwsProvider,
    desired: &DesiredGraph,
    app: &str,
    container: &str,
) -> Result<ExecTarget, Failure> {
    session::exec_target(cloud, desired.stack(), app, container)
        .await
        .map_err(|e| Failure(format!("cannot reach service {app}: {e}")))
}

pub(super) async fn exec(
    args: &StackArgs,
    aws: &AwsArgs,
    app: Option<&str>,
    container: Option<&str>,
    command: &[String],
) -> Result<u8, Failure> {
    let plugin = plugin()?;
    let (desired, cloud) = connect(args, aws, "exec").await?;
    let (app, container) = app_and_container(&desired, app, container)?;
    let target = target(&cloud, &desired, &app, &container).await?;
    let command = if command.is_empty() {
        "sh".to_string()
    } else {
        command.join(" ")
    };
    ui::note(&format!(
        "{app}/{container} in task {}: {command}",
        target.task
    ));
    let session = session::exec(&cloud, &target, &command)
        .await
        .map_err(|e| Failure(e.to_string()))?;
    carry(&plugin, &session, aws)
}

/// What a tunnel reaches: the resource with the host, its output, the port, the secret with
/// the login (a logical id whose `arn` output names it, or an output of the resource itself).
struct Destination {
    resource: &'static str,
    host_output: &'static str,
    port: u16,
    login: Option<(&'static str, &'static str)>,
}

fn destination(to: TunnelTarget) -> Destination {
    use mck_core::model::{
        DbClusterSpec, MqBrokerSpec, ReplicationGroupSpec, SearchDomainSpec, SecretSpec,
    };
    let app_login = Some((mck_core::lower::DB_LOGIN_SECRET_ID, SecretSpec::OUT_ARN));
    match to {
        TunnelTarget::Db => Destination {
            resource: "db.cluster",
            host_output: DbClusterSpec::OUT_ENDPOINT,
            port: 3306,
            login: app_login,
        },
        TunnelTarget::DbRo => Destination {
            resource: "db.cluster",
            host_output: DbClusterSpec::OUT_READER_ENDPOINT,
            port: 3306,
            login: app_login,
        },
        TunnelTarget::RedisCache => Destination {
            resource: "redis.cache",
            host_output: ReplicationGroupSpec::OUT_PRIMARY_ENDPOINT,
            port: 6379,
            login: None,
        },
        TunnelTarget::RedisSession => Destination {
            resource: "redis.session",
            host_output: ReplicationGroupSpec::OUT_PRIMARY_ENDPOINT,
            port: 6379,
            login: None,
        },
        TunnelTarget::Search => Destination {
            resource: "search",
            host_output: SearchDomainSpec::OUT_ENDPOINT,
            port: 443,
            login: Some(("secret.search", SecretSpec::OUT_ARN)),
        },
        TunnelTarget::Mq => Destination {
            resource: "mq",
            host_output: MqBrokerSpec::OUT_HOST,
            port: 5671,
            login: Some(("secret.mq", SecretSpec::OUT_ARN)),
        },
    }
}

pub(super) async fn tunnel(
    args: &StackArgs,
    aws: &AwsArgs,
    to: TunnelTarget,
    port: Option<u16>,
    show_password: bool,
) -> Result<u8, Failure> {
    use std::io::IsTerminal;
    if show_password && !std::io::stdout().is_terminal() {
        return Err(Failure(
            "--show-password prints the password only to a terminal; read the secret instead (its name is printed without the flag)".into(),
        ));
    }
    let plugin = plugin()?;
    let (desired, cloud) = connect(args, aws, "tunnel").await?;
    let name = desired.stack().to_string();
    let dest = destination(to);
    // Only the services of the destination and its login are read, not the whole stack.
    let kinds: Vec<_> = std::iter::once(dest.resource)
        .chain(dest.login.map(|(id, _)| id))
        .filter_map(|id| desired.get(&id.into()).map(|r| r.kind()))
        .collect();
    let live = cloud
        .reader()
        .read_kinds(&name, &kinds)
        .await
        .map_err(|e| Failure(format!("failed to read stack {name}: {e}")))?;
    let output = |id: &str, key: &str| {
        live.iter()
            .find(|o| o.id.as_str() == id)
            .and_then(|o| o.outputs.get(key).cloned())
    };
    let host = output(dest.resource, dest.host_output).ok_or_else(|| {
        Failure(format!(
            "stack {name} has no {} with a {} yet: is it in the stack, and up?",
            dest.resource, dest.host_output
        ))
    })?;
    let (app, container) = app_and_container(&desired, None, None)?;
    let target = target(&cloud, &desired, &app, &container).await?;
    let local = port.unwrap_or(dest.port);
    let session = session::port_forward(&cloud, &target, &host, dest.port, local)
        .await
        .map_err(|e| Failure(e.to_string()))?;
    // Where to connect goes to stdout (a script may read it); the rest is progress.
    let login = dest.login.and_then(|(id, key)| output(id, key));
    println!(
        "{host}:{} is at 127.0.0.1:{local} (through a task of {app}); login: {}",
        dest.port,
        login
            .as_deref()
            .map_or("none (TLS only)".to_string(), |s| format!("secret {s}")),
    );
    if show_password && let Some(secret) = &login {
        let password = session::password(&cloud, secret)
            .await
            .map_err(|e| Failure(e.to_string()))?;
        println!("password: {password}");
    }
    carry(&plugin, &session, aws)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> std::sync::Arc<DesiredGraph> {
        let stack = mck_core::stack::load(std::path::Path::new("../../stacks"), name)
            .expect("a valid stack");
        mck_core::Engine::desired(&stack).expect("a valid graph")
    }

    /// The task to enter is the admin's php-fpm, as the migration's, unless asked otherwise; a
    /// cron or worker service is reachable by name; an unknown service or container is named.
    #[test]
    fn the_admins_php_fpm_unless_asked_otherwise() {
        let prod = shipped("prod");
        assert_eq!(
            app_and_container(&prod, None, None).unwrap(),
            ("admin".to_string(), "php-fpm".to_string())
        );
        assert_eq!(
            app_and_container(&prod, Some("frontend"), Some("nginx")).unwrap(),
            ("frontend".to_string(), "nginx".to_string())
        );
        assert_eq!(
            app_and_container(&prod, Some("cron"), None).unwrap().0,
            "cron"
        );
        let Failure(unknown) = app_and_container(&prod, Some("nope"), None).unwrap_err();
        assert!(
            unknown.contains("has no service nope; it has admin, cron, frontend, worker-consumers"),
            "{unknown}"
        );
    }

    /// Each tunnel goes to the output that holds its host, on its service's port, and names the
    /// secret with its login (Redis has none: TLS only).
    #[test]
    fn each_tunnel_names_its_host_port_and_login() {
        let db = destination(TunnelTarget::Db);
        assert_eq!(
            (db.resource, db.host_output, db.port),
            ("db.cluster", "endpoint", 3306)
        );
        assert_eq!(
            db.login.map(|l| l.0),
            Some(mck_core::lower::DB_LOGIN_SECRET_ID)
        );
        assert_eq!(
            destination(TunnelTarget::DbRo).host_output,
            "reader_endpoint"
        );
        assert!(destination(TunnelTarget::RedisSession).login.is_none());
        assert_eq!(destination(TunnelTarget::Mq).port, 5671);
        assert_eq!(
            destination(TunnelTarget::Search).login.map(|l| l.0),
            Some("secret.search")
        );
        // Every resource a tunnel reaches is one prod lowers, with the output it reads.
        let prod = shipped("prod");
        for to in [
            TunnelTarget::Db,
            TunnelTarget::DbRo,
            TunnelTarget::RedisCache,
            TunnelTarget::RedisSession,
            TunnelTarget::Search,
            TunnelTarget::Mq,
        ] {
            let d = destination(to);
            let resource = prod
                .get(&LogicalId::new(d.resource))
                .unwrap_or_else(|| panic!("prod has no {}", d.resource));
            assert!(
                resource.kind().output_names().contains(&d.host_output),
                "{to:?}"
            );
            if let Some((secret, _)) = d.login {
                assert!(prod.get(&LogicalId::new(secret)).is_some(), "{secret}");
            }
        }
    }
}
