//! One function per command; each is a thin wrapper over mck-core. This module dispatches
//! (`run`) and holds what the commands share: exit codes, [`Failure`], loading a stack, the
//! region check, the AWS configuration and engine, and confirmation.

mod access;
mod apply;
mod drift;
mod inspect;
mod lock;
mod preview;
mod release;
mod rotate;
mod signals;

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;

use mck_aws::{AwsConfig, AwsProvider};
use mck_core::Engine;
use mck_core::exec::ExecConfig;
use mck_core::graph::DesiredGraph;
use mck_core::provider::Provider;
use mck_core::stack::Stack;

use crate::args::{AwsArgs, Cli, Command, StackArgs};
use crate::ui;

use apply::{View, down, plan, up};
use drift::{DriftOptions, DriftTarget, drift};
use inspect::{graph, outputs, validate};
use lock::unlock;
use release::{releases, rollback};
use rotate::rotate;

/// Exit codes.
const OK: u8 = 0;
const ERROR: u8 = 1;
const CHANGES: u8 = 2;

/// A failure already worded for the user.
#[derive(Debug)]
struct Failure(String);

impl<E: std::fmt::Display> From<E> for Failure {
    fn from(err: E) -> Failure {
        Failure(err.to_string())
    }
}

pub async fn run(cli: Cli) -> u8 {
    let result = match cli.command {
        Command::Validate { stack } => validate(&stack),
        Command::Plan {
            stack,
            aws,
            detailed_exitcode,
            detail,
            summary,
            json,
            stats,
        } => {
            plan(
                &stack,
                &aws,
                detailed_exitcode,
                View::of(detail, summary),
                json,
                stats,
            )
            .await
        }
        Command::Up {
            stack,
            aws,
            approval,
            detail,
            summary,
            json,
            ttl,
            empty_db,
        } => {
            let make = preview::Make { ttl, empty_db };
            up(
                &stack,
                &aws,
                &approval,
                View::of(detail, summary),
                json,
                &make,
            )
            .await
        }
        Command::Down {
            stack,
            stacks_dir,
            set,
            from,
            expired,
            aws,
            approval,
            force,
            detail,
            summary,
            json,
        } => {
            let view = View::of(detail, summary);
            match stack {
                Some(stack) if !expired => {
                    let args = StackArgs {
                        stack,
                        stacks_dir,
                        set,
                        from,
                    };
                    down(&args, &aws, &approval, force, view, json).await
                }
                _ => preview::down_expired(&stacks_dir, &aws, &approval, view, json).await,
            }
        }
        Command::Ls {
            stacks_dir,
            aws,
            json,
        } => preview::ls(&stacks_dir, &aws, json).await,
        Command::Graph { stack, format } => graph(&stack, format),
        Command::Outputs {
            stack,
            aws,
            json,
            all,
        } => outputs(&stack, &aws, json, all).await,
        Command::Drift {
            stack,
            from,
            all,
            stacks_dir,
            aws,
            format,
            output,
            who,
            stats,
        } => {
            let target = match stack {
                Some(name) if !all => DriftTarget::One(name, from),
                _ => DriftTarget::All,
            };
            let options = DriftOptions {
                format,
                outputs: output,
                who,
                stats,
            };
            drift(target, &stacks_dir, &aws, &options).await
        }
        Command::Unlock { stack, aws, yes } => unlock(&stack, &aws, yes).await,
        Command::Releases { stack, aws, json } => releases(&stack, &aws, json).await,
        Command::Rollback {
            stack,
            aws,
            yes,
            json,
        } => rollback(&stack, &aws, yes, json).await,
        Command::Rotate {
            stack,
            aws,
            target,
            yes,
        } => rotate(&stack, &aws, target, yes).await,
        Command::Exec {
            stack,
            aws,
            app,
            container,
            command,
        } => access::exec(&stack, &aws, app.as_deref(), container.as_deref(), &command).await,
        Command::Tunnel {
            stack,
            aws,
            to,
            port,
            show_password,
        } => access::tunnel(&stack, &aws, to, port, show_password).await,
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "mck", &mut std::io::stdout());
            Ok(OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(Failure(message)) => {
            ui::error(&message);
            ERROR
        }
    }
}

/// `--region` must name a region, and the stack's: its zones, subnets and names belong there.
fn check_region(aws: &AwsArgs, stack: &str, stack_region: &str) -> Result<(), Failure> {
    let Some(region) = &aws.region else {
        return Ok(());
    };
    if !mck_core::stack::is_region(region) {
        return Err(Failure(format!(
            "--region `{region}` is not an AWS region name; write e.g. us-east-1"
        )));
    }
    if region != stack_region {
        return Err(Failure(format!(
            "stack {stack} lives in {stack_region} (its `region:`), not {region}: drop --region, or change `region:` in the stack file"
        )));
    }
    Ok(())
}

/// Loads, validates and lowers a stack. No AWS call happens before this succeeds.
fn load(args: &StackArgs) -> Result<Arc<DesiredGraph>, Failure> {
    load_args(args).map(|(_, desired)| desired)
}

/// The stack of the command line, with its `--set` overrides. A preview (`--from`) is loaded
/// with its source's address space, as no cloud was asked for its own: for the commands that
/// never change its network (`validate`, `graph`, `outputs`, `releases`, `rollback`, `rotate`,
/// `exec`, `tunnel`, `unlock`); `plan`, `up` and `down` read it (`preview::open`).
fn load_args(args: &StackArgs) -> Result<(Stack, Arc<DesiredGraph>), Failure> {
    match &args.from {
        Some(from) => preview::load_offline(args, from),
        None => load_stack_with(&args.stacks_dir, &args.stack, &args.set),
    }
}

fn load_stack(dir: &Path, name: &str) -> Result<(Stack, Arc<DesiredGraph>), Failure> {
    load_stack_with(dir, name, &[])
}

/// The command line's `--set PATH=VALUE` overrides.
fn overrides(name: &str, sets: &[String]) -> Result<Vec<mck_core::stack::Override>, Failure> {
    sets.iter()
        .map(|arg| mck_core::stack::Override::parse(arg))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| Failure(format!("invalid stack `{name}`:\n{err}")))
}

/// The CLI's words for a stack that did not load.
fn load_failure(name: &str, err: mck_core::engine::LoadError) -> Failure {
    match err {
        mck_core::engine::LoadError::Read(err) => {
            Failure(format!("failed to read stack {name}: {err}"))
        }
        mck_core::engine::LoadError::Stack(err) => {
            Failure(format!("invalid stack `{name}`:\n{err}"))
        }
        other => Failure(format!("invalid stack `{name}`: {other}")),
    }
}

/// Loads a stack with the command line's `--set PATH=VALUE` overrides merged over its files.
fn load_stack_with(
    dir: &Path,
    name: &str,
    sets: &[String],
) -> Result<(Stack, Arc<DesiredGraph>), Failure> {
    let loaded =
        Engine::load(dir, name, &overrides(name, sets)?).map_err(|err| load_failure(name, err))?;
    Ok((loaded.stack, loaded.desired))
}

/// The regions a command over every stack looks in (`drift --all`, `ls`, `down --expired`):
/// `--region`, or those of `stacks` (the stack files).
fn regions<'a>(
    dir: &Path,
    aws: &AwsArgs,
    stacks: impl Iterator<Item = &'a Stack>,
) -> Result<Vec<String>, Failure> {
    let mut regions: Vec<String> = match &aws.region {
        Some(region) if !mck_core::stack::is_region(region) => {
            return Err(Failure(format!(
                "--region `{region}` is not an AWS region name; write e.g. us-east-1"
            )));
        }
        Some(region) => vec![region.clone()],
        None => stacks.map(|s| s.config.region.clone()).collect(),
    };
    regions.sort();
    regions.dedup();
    if regions.is_empty() {
        return Err(Failure(format!(
            "no stack files in {} and no --region: nowhere to look",
            dir.display()
        )));
    }
    Ok(regions)
}

/// `command` names the calls in CloudTrail's user agent (`app/mck-<command>`).
fn aws_config(aws: &AwsArgs, command: &str) -> AwsConfig {
    AwsConfig {
        region: aws.region.clone(),
        profile: aws.profile.clone(),
        endpoint_url: aws.endpoint_url.clone(),
        app_name: Some(format!("mck-{command}")),
    }
}

async fn engine(aws: &AwsArgs, desired: &DesiredGraph, command: &str) -> Result<Engine, Failure> {
    Ok(aws_engine(aws, desired, command).await?.0)
}

/// An engine on `cloud`, locking stacks in its lock table.
fn engine_on(aws: &AwsArgs, cloud: &AwsProvider) -> Engine {
    let lock = Arc::new(cloud.stack_lock());
    let provider: Arc<dyn Provider> = Arc::new(cloud.clone());
    Engine::new(
        provider,
        ExecConfig {
            concurrency: aws.concurrency,
            max_wait: aws.max_wait,
            ..ExecConfig::default()
        },
    )
    .with_lock(lock)
}

/// [`engine`], with the AWS provider it runs on, for a command that also calls AWS itself
/// (`rotate`).
async fn aws_engine(
    aws: &AwsArgs,
    desired: &DesiredGraph,
    command: &str,
) -> Result<(Engine, AwsProvider), Failure> {
    check_region(aws, desired.stack(), desired.region())?;
    let config = aws_config(aws, command);
    let cloud = AwsProvider::connect(&config, desired.region()).await;
    Ok((engine_on(aws, &cloud), cloud))
}

fn read_failure(desired: &DesiredGraph, err: mck_core::provider::ProviderError) -> Failure {
    Failure(format!("failed to read stack {}: {err}", desired.stack()))
}

fn confirm(yes: bool, question: &str) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure(
            "refusing to change AWS without confirmation: stdin is not a terminal; pass --yes"
                .into(),
        ));
    }
    if ui::confirm(question) {
        Ok(())
    } else {
        Err(Failure("cancelled: nothing was changed".into()))
    }
}
