//! One function per command; each is a thin wrapper over mck-core.

#![expect(
    clippy::print_stdout,
    reason = "plans, graphs and outputs are the commands' products"
)]

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::path::{Path, PathBuf};

use mck_aws::{AwsConfig, AwsProvider, AwsReader};
use mck_core::drift::{self, DriftReport, Format, StackDrift};
use mck_core::exec::{CancelToken, ExecConfig};
use mck_core::graph::DesiredGraph;
use mck_core::lock::{LockGuard, LockHolder};
use mck_core::provider::Provider;
use mck_core::stack::Stack;
use mck_core::{Engine, Plan};

use crate::args::{ApprovalArgs, AwsArgs, Cli, Command, DriftFormat, GraphFormat, StackArgs};
use crate::ui;

/// Exit codes.
const OK: u8 = 0;
const ERROR: u8 = 1;
const CHANGES: u8 = 2;

/// A failure already worded for the user.
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
            json,
            stats,
        } => plan(&stack, &aws, detailed_exitcode, json, stats).await,
        Command::Up {
            stack,
            aws,
            approval,
            json,
        } => up(&stack, &aws, &approval, json).await,
        Command::Down {
            stack,
            aws,
            approval,
            force,
            json,
        } => down(&stack, &aws, &approval, force, json).await,
        Command::Graph { stack, format } => graph(&stack, format),
        Command::Outputs {
            stack,
            aws,
            json,
            all,
        } => outputs(&stack, &aws, json, all).await,
        Command::Drift {
            stack,
            all,
            stacks_dir,
            aws,
            format,
            output,
            who,
            stats,
        } => {
            let target = match stack {
                Some(name) if !all => DriftTarget::One(name),
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
    load_stack_with(&args.stacks_dir, &args.stack, &args.set).map(|(_, desired)| desired)
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

/// The stack as the command line gives it, with the release recorded after the last
/// successful `up` kept in effect when the command line sets no `release.*` and the files still
/// say what that release was made over (docs/releases.md; [`mck_core::engine::keep_live_release`]).
async fn keep_live_release(
    reader: &dyn mck_core::provider::Reader,
    stack: Stack,
    desired: Arc<DesiredGraph>,
    sets: &[String],
) -> Result<(Stack, Arc<DesiredGraph>), Failure> {
    let name = stack.name.clone();
    let loaded = mck_core::engine::LoadedStack {
        stack,
        desired,
        kept_release: None,
    };
    let loaded = mck_core::engine::keep_live_release(reader, loaded, &overrides(&name, sets)?)
        .await
        .map_err(|err| load_failure(&name, err))?;
    if let Some(live) = &loaded.kept_release {
        ui::note(&format!(
            "release: keeping the build released from the command line ({}; the stack file says {}); --set release.tag=… or an edit of the file's release.tag changes it",
            live.in_effect, loaded.stack.file_release
        ));
    }
    Ok((loaded.stack, loaded.desired))
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
    check_region(aws, desired.stack(), desired.region())?;
    let config = aws_config(aws, command);
    let cloud = AwsProvider::connect(&config, desired.region()).await;
    let lock = Arc::new(cloud.stack_lock());
    let provider: Arc<dyn Provider> = Arc::new(cloud);
    Ok(Engine::new(
        provider,
        ExecConfig {
            concurrency: aws.concurrency,
            max_wait: aws.max_wait,
            ..ExecConfig::default()
        },
    )
    .with_lock(lock))
}

fn validate(args: &StackArgs) -> Result<u8, Failure> {
    let desired = load(args)?;
    ui::note(&format!(
        "stack {} is valid: {} resources",
        desired.stack(),
        desired.len()
    ));
    Ok(OK)
}

fn graph(args: &StackArgs, format: GraphFormat) -> Result<u8, Failure> {
    let desired = load(args)?;
    match format {
        GraphFormat::Dot => print!("{}", desired.to_dot()),
        GraphFormat::Mermaid => print!("{}", desired.to_mermaid()),
    }
    Ok(OK)
}

async fn plan(
    args: &StackArgs,
    aws: &AwsArgs,
    detailed: bool,
    json: bool,
    stats: bool,
) -> Result<u8, Failure> {
    let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
    let engine = engine(aws, &desired, "plan").await?;
    let (_, desired) =
        keep_live_release(engine.provider().as_ref(), stack, desired, &args.set).await?;
    let started = Instant::now();
    let plan = engine
        .plan(desired.clone())
        .await
        .map_err(|e| read_failure(&desired, e))?;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let requests = engine.provider().request_count();
    if json {
        let mut value = plan.to_json();
        value["stats"] = serde_json::json!({
            "requests": requests,
            "elapsed_ms": elapsed_ms,
            "resources": plan.observed().len(),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        print!("{}", plan.render_text());
    }
    if !plan.duplicates().is_empty() {
        return Err(Failure(duplicates_message(&plan)));
    }
    // Say now what `up` would refuse, rather than after the user has asked for it.
    for refusal in plan.refusals(false) {
        ui::note(&format!("note: `mck up` would stop here: {refusal}"));
    }
    if stats {
        ui::note(&format!(
            "stats: {requests} AWS requests for {} live resources in {elapsed_ms} ms",
            plan.observed().len()
        ));
    }
    Ok(if detailed && plan.has_changes() {
        CHANGES
    } else {
        OK
    })
}

fn read_failure(desired: &DesiredGraph, err: mck_core::provider::ProviderError) -> Failure {
    Failure(format!("failed to read stack {}: {err}", desired.stack()))
}

/// Resources claiming one logical id, every cloud id named, and the way out.
fn duplicates_message(plan: &Plan) -> String {
    let lines: Vec<String> = plan.duplicates().iter().map(|d| d.describe()).collect();
    format!(
        "stack {} has duplicates (two runs without the lock, or copies made by hand):\n  {}\n  help: `mck up --stack {} --dedupe` deletes the extra copies of what holds no data; copies that hold data (databases, caches, file systems) are left for you to delete by hand",
        plan.stack(),
        lines.join("\n  "),
        plan.stack()
    )
}

/// `up` does not build on duplicates: without `--dedupe` it refuses; with it, it deletes the
/// extra copies that hold no data and refuses while data-holding ones remain.
fn dedupe_guard(plan: &Plan, dedupe: bool) -> Result<(), Failure> {
    if plan.duplicates().is_empty() {
        return Ok(());
    }
    if !dedupe {
        return Err(Failure(format!(
            "nothing was changed: {}",
            duplicates_message(plan)
        )));
    }
    let data: Vec<String> = plan
        .duplicates()
        .iter()
        .filter(|d| d.kind.holds_data())
        .map(|d| {
            format!(
                "{} ({}): keep {} or one of {}, and delete the others by hand",
                d.id,
                d.kind,
                d.kept,
                d.extra.join(", ")
            )
        })
        .collect();
    if data.is_empty() {
        return Ok(());
    }
    Err(Failure(format!(
        "nothing was changed: these copies hold data and mck will not choose between them:\n  {}",
        data.join("\n  ")
    )))
}

/// Refuses plans that would lose data or hit deletion protection.
fn guard(plan: &Plan, allow_data_loss: bool) -> Result<(), Failure> {
    let refusals = plan.refusals(allow_data_loss);
    if refusals.is_empty() {
        return Ok(());
    }
    Err(Failure(format!(
        "nothing was changed:\n  {}",
        refusals.join("\n  ")
    )))
}

async fn up(
    args: &StackArgs,
    aws: &AwsArgs,
    approval: &ApprovalArgs,
    json: bool,
) -> Result<u8, Failure> {
    let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
    let engine = engine(aws, &desired, "up").await?;
    let (_, desired) =
        keep_live_release(engine.provider().as_ref(), stack, desired, &args.set).await?;
    let cancel = CancelToken::default();
    let lock = if approval.no_lock {
        ui::note(
            "warning: --no-lock: another run of this stack at the same time would build two of everything",
        );
        None
    } else {
        take_lock(&engine, desired.stack(), &cancel).await?
    };
    let result = async {
        let plan = engine
            .plan(desired.clone())
            .await
            .map_err(|e| read_failure(&desired, e))?;
        let question = format!("Apply these changes to stack {}?", desired.stack());
        let run = Run {
            verb: "up",
            json,
            cancel: &cancel,
            lock: lock.as_ref(),
        };
        show_and_apply(&engine, &plan, approval, &question, &run).await
    }
    .await;
    let_go(lock).await;
    result
}

async fn down(
    args: &StackArgs,
    aws: &AwsArgs,
    approval: &ApprovalArgs,
    force: bool,
    json: bool,
) -> Result<u8, Failure> {
    let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
    if stack.config.protected && !force {
        let at = stack.locate(&["protected"]);
        return Err(Failure(format!(
            "refusing to delete stack {}: it is protected ({at}: `protected: true`); nothing was changed\n  help: pass --force if the whole stack, its data included, is to go",
            stack.name
        )));
    }
    let engine = engine(aws, &desired, "down").await?;
    let cancel = CancelToken::default();
    let lock = if approval.no_lock {
        ui::note(
            "warning: --no-lock: another run of this stack at the same time would build two of everything",
        );
        None
    } else {
        take_lock(&engine, desired.stack(), &cancel).await?
    };
    let result = async {
        let plan = engine
            .plan_destroy(&desired)
            .await
            .map_err(|e| read_failure(&desired, e))?;
        let question = format!(
            "Delete all {} resources of stack {}?",
            plan.summary().destroy,
            desired.stack()
        );
        let run = Run {
            verb: "down",
            json,
            cancel: &cancel,
            lock: lock.as_ref(),
        };
        show_and_apply(&engine, &plan, approval, &question, &run).await
    }
    .await;
    let_go(lock).await;
    result
}

/// One changing run: what it is called, how it reports, how it stops, the lock it holds.
struct Run<'a> {
    verb: &'a str,
    json: bool,
    cancel: &'a CancelToken,
    lock: Option<&'a LockGuard>,
}

/// Who this run is, for the lock and for whoever it refuses.
/// This process as a lock holder, named by its command line.
fn lock_holder() -> LockHolder {
    let command = std::iter::once("mck".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    LockHolder::this_process(command)
}

/// Takes the stack's lock; refused at once, naming the holder, when another run holds it.
async fn take_lock(
    engine: &Engine,
    stack: &str,
    cancel: &CancelToken,
) -> Result<Option<LockGuard>, Failure> {
    engine
        .lock(
            stack,
            lock_holder(),
            &mck_core::lock::is_gone_on_this_host,
            cancel.clone(),
        )
        .await
        .map_err(|e| Failure(e.to_string()))
}

/// Unlocks the stack, saying so if the lock was lost during the run.
async fn let_go(lock: Option<LockGuard>) {
    let Some(guard) = lock else { return };
    if let Some(reason) = guard.lost() {
        ui::error(&format!(
            "the stack lock was lost during the run ({reason}); nothing new was started after that"
        ));
    }
    if let Err(err) = guard.unlock().await {
        ui::note(&format!(
            "warning: could not unlock the stack ({err}); it expires by itself"
        ));
    }
}

/// Prints the plan, refuses unsafe plans, asks, then applies with progress.
async fn show_and_apply(
    engine: &Engine,
    plan: &Plan,
    approval: &ApprovalArgs,
    question: &str,
    run: &Run<'_>,
) -> Result<u8, Failure> {
    if run.json {
        ui::json_line(&serde_json::json!({ "event": "plan", "plan": plan.to_json() }));
    } else {
        print!("{}", plan.render_text());
    }
    if run.verb == "up" {
        dedupe_guard(plan, approval.dedupe)?;
    }
    if !plan.has_changes() {
        return Ok(OK);
    }
    guard(plan, approval.allow_data_loss)?;
    let loss = plan.data_loss();
    if !loss.is_empty() {
        ui::note(&format!("this loses data:\n  {}", loss.join("\n  ")));
    }
    confirm(approval.yes, question)?;
    execute(engine, plan, run).await
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

/// Exit code after an interruption: 128 + the signal's number, as shells report it.
const SIGINT_EXIT: u8 = 130;
const SIGTERM_EXIT: u8 = 143;

/// SIGINT (Ctrl-C) and SIGTERM (what CI systems send to cancel a job, before SIGKILL).
struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
}

impl Signals {
    fn watch() -> std::io::Result<Signals> {
        Ok(Signals {
            #[cfg(unix)]
            term: tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?,
        })
    }

    /// Waits for the next signal; returns the exit code that reports it.
    async fn next(&mut self) -> u8 {
        #[cfg(unix)]
        {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => SIGINT_EXIT,
                _ = self.term.recv() => SIGTERM_EXIT,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            SIGINT_EXIT
        }
    }
}

/// Applies a plan with live progress. The first SIGINT or SIGTERM stops starting new steps and
/// lets the steps in flight reach a safe point; the summary is printed and mck exits 130
/// (SIGINT) or 143 (SIGTERM). A second signal exits at once with its code.
async fn execute(engine: &Engine, plan: &Plan, run: &Run<'_>) -> Result<u8, Failure> {
    let (verb, json, cancel) = (run.verb, run.json, run.cancel.clone());
    let on_signal = cancel.clone();
    let handle = run.lock.map(|g| (g.handle(), g.holder().id.clone()));
    let signalled = Arc::new(std::sync::atomic::AtomicU8::new(0));
    let first = signalled.clone();
    let mut signals =
        Signals::watch().map_err(|e| Failure(format!("cannot watch for signals: {e}")))?;
    tokio::spawn(async move {
        let code = signals.next().await;
        first.store(code, std::sync::atomic::Ordering::SeqCst);
        ui::note(
            "\ninterrupted: finishing the calls in flight and starting nothing new (interrupt again to quit now; a re-run picks up from live state)",
        );
        on_signal.cancel();
        let again = signals.next().await;
        // Quitting at once: unlock first (briefly), so the next run need not wait.
        if let Some(((store, stack), id)) = handle {
            let _ = tokio::time::timeout(Duration::from_secs(3), store.unlock(&stack, &id)).await;
        }
        std::process::exit(i32::from(again));
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let n_steps = plan
        .steps()
        .iter()
        .filter(|s| s.action != mck_core::plan::Action::NoOp)
        .count();
    let printer = if json {
        tokio::spawn(ui::json_events(rx))
    } else {
        tokio::spawn(ui::progress(rx, n_steps))
    };
    let summary = engine.apply(plan, tx, cancel).await;
    let _ = printer.await;
    let requests = engine.provider().request_count();
    if json {
        ui::json_line(&serde_json::json!({
            "event": "summary",
            "verb": verb,
            "success": summary.is_success(),
            "summary": summary,
            "requests": requests,
        }));
    } else {
        ui::summary(&summary, verb, requests);
    }
    match signalled.load(std::sync::atomic::Ordering::SeqCst) {
        0 => {}
        code => return Ok(code),
    }
    Ok(if summary.is_success() { OK } else { ERROR })
}

async fn outputs(args: &StackArgs, aws: &AwsArgs, json: bool, all: bool) -> Result<u8, Failure> {
    let desired = load(args)?;
    check_region(aws, desired.stack(), desired.region())?;
    // Read-only: a reader has no mutating operation.
    let reader = AwsReader::connect(&aws_config(aws, "outputs"), desired.region()).await;
    let mut observed = mck_core::engine::read_with_retries(&reader, desired.stack())
        .await
        .map_err(|e| read_failure(&desired, e))?;
    mck_core::provider::resolve_cloud_refs(&mut observed);
    let outputs = if all {
        mck_core::plan::all_outputs(&observed)
    } else {
        mck_core::plan::outputs(&observed)
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&outputs)?);
    } else if outputs.is_empty() {
        ui::note(&format!("stack {} has no live resources", desired.stack()));
    } else {
        let width = outputs.keys().map(String::len).max().unwrap_or(0);
        for (key, value) in &outputs {
            println!("{key:width$} = {value}");
        }
    }
    Ok(OK)
}

async fn releases(args: &StackArgs, aws: &AwsArgs, json: bool) -> Result<u8, Failure> {
    let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
    check_region(aws, desired.stack(), desired.region())?;
    let reader = AwsReader::connect(&aws_config(aws, "releases"), desired.region()).await;
    let (_, desired) = keep_live_release(&reader, stack, desired, &args.set).await?;
    let releases = mck_core::release::releases(&reader, &desired)
        .await
        .map_err(|e| read_failure(&desired, e))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&releases)?);
    } else {
        print!("{}", releases.render_text());
    }
    Ok(OK)
}

async fn rollback(args: &StackArgs, aws: &AwsArgs, yes: bool, json: bool) -> Result<u8, Failure> {
    let (stack, desired) = load_stack_with(&args.stacks_dir, &args.stack, &args.set)?;
    let engine = engine(aws, &desired, "rollback").await?;
    let (_, desired) =
        keep_live_release(engine.provider().as_ref(), stack, desired, &args.set).await?;
    let cancel = CancelToken::default();
    let lock = take_lock(&engine, desired.stack(), &cancel).await?;
    let result = async {
        let releases = mck_core::release::releases(engine.provider().as_ref(), &desired)
            .await
            .map_err(|e| read_failure(&desired, e))?;
        let steps = mck_core::release::plan_rollback(&releases)
            .map_err(|e| Failure(format!("nothing was changed: {e}")))?;
        for step in &steps {
            ui::note(&format!(
                "{}: {} -> revision {} ({})",
                step.app,
                step.from.number,
                step.to.number,
                step.to
                    .images
                    .values()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        ui::note(
            "the database is not rolled back; the stack file still describes the newest revision, so `plan` and `drift` show this until the next `up`",
        );
        confirm(
            yes,
            &format!("Roll back the services of stack {}?", desired.stack()),
        )?;
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let printer = if json {
            tokio::spawn(ui::json_events(rx))
        } else {
            tokio::spawn(ui::progress(rx, steps.len()))
        };
        let summary = mck_core::release::rollback(
            engine.provider().clone(),
            engine.config(),
            desired.clone(),
            &steps,
            tx,
            cancel.clone(),
        )
        .await
        .map_err(|e| read_failure(&desired, e))?;
        let _ = printer.await;
        let requests = engine.provider().request_count();
        if json {
            ui::json_line(&serde_json::json!({
                "event": "summary",
                "verb": "rollback",
                "success": summary.is_success(),
                "summary": summary,
                "requests": requests,
            }));
        } else {
            ui::summary(&summary, "rollback", requests);
        }
        Ok(if summary.is_success() { OK } else { ERROR })
    }
    .await;
    let_go(lock).await;
    result
}

/// Which stacks `mck drift` checks.
enum DriftTarget {
    One(String),
    /// Every stack found by its tags, in the regions of the stack files (or `--region`).
    All,
}

fn drift_format(format: DriftFormat) -> Format {
    match format {
        DriftFormat::Text => Format::Text,
        DriftFormat::Json => Format::Json,
        DriftFormat::Markdown => Format::Markdown,
        DriftFormat::Junit => Format::Junit,
        DriftFormat::Sarif => Format::Sarif,
    }
}

/// `mck drift`: read-only by construction, on an [`AwsReader`], which has no mutating
/// operation. Exit 0 in sync, 2 drift, 1 error (also when a report file cannot be written).
/// How `mck drift` reports.
struct DriftOptions {
    format: DriftFormat,
    outputs: Vec<(DriftFormat, PathBuf)>,
    who: bool,
    stats: bool,
}

async fn drift(
    target: DriftTarget,
    dir: &Path,
    aws: &AwsArgs,
    options: &DriftOptions,
) -> Result<u8, Failure> {
    let DriftOptions {
        format,
        outputs,
        who,
        stats,
    } = options;
    let (format, who) = (*format, *who);
    let started = Instant::now();
    let mut requests = 0;
    let today = drift::today_utc();
    let config = aws_config(aws, "drift");
    let mut stacks: Vec<StackDrift> = Vec::new();
    match target {
        DriftTarget::One(name) => {
            let (stack, _) = load_stack(dir, &name)?;
            check_region(aws, &stack.name, &stack.config.region)?;
            let reader = AwsReader::connect(&config, &stack.config.region).await;
            stacks.push(check_one(&reader, &stack, &today, who).await);
            requests += mck_core::provider::Reader::request_count(&reader);
        }
        DriftTarget::All => {
            // The stack files say which regions to look in; `--region` overrides them.
            let names = mck_core::stack::list(dir)
                .map_err(|e| Failure(format!("cannot list stacks in {}: {e}", dir.display())))?;
            let mut files = std::collections::BTreeMap::new();
            for name in &names {
                files.insert(name.clone(), load_stack(dir, name)?.0);
            }
            if let Some(region) = aws
                .region
                .as_deref()
                .filter(|r| !mck_core::stack::is_region(r))
            {
                return Err(Failure(format!(
                    "--region `{region}` is not an AWS region name; write e.g. us-east-1"
                )));
            }
            let mut regions: Vec<String> = match &aws.region {
                Some(region) => vec![region.clone()],
                None => files.values().map(|s| s.config.region.clone()).collect(),
            };
            regions.sort();
            regions.dedup();
            if regions.is_empty() {
                return Err(Failure(format!(
                    "no stack files in {} and no --region: nowhere to look",
                    dir.display()
                )));
            }
            for region in regions {
                let reader = AwsReader::connect(&config, &region).await;
                let found = mck_core::provider::Reader::list_stacks(&reader)
                    .await
                    .map_err(|e| Failure(format!("failed to list stacks in {region}: {e}")))?;
                for name in found {
                    match files.get(&name) {
                        Some(stack) if aws.region.is_some() || stack.config.region == region => {
                            stacks.push(check_one(&reader, stack, &today, who).await);
                        }
                        Some(_) => {}
                        None => stacks.push(StackDrift::failed(
                            &name,
                            &region,
                            format!(
                                "found in AWS by its mck:stack tags but there is no {}/{name}.yaml to compare it with",
                                dir.display()
                            ),
                        )),
                    }
                }
                requests += mck_core::provider::Reader::request_count(&reader);
            }
        }
    }
    let report = DriftReport::new(stacks);
    if *stats {
        ui::note(&format!(
            "stats: {requests} AWS requests for {} resources in {} ms",
            report.counts.checked,
            started.elapsed().as_millis()
        ));
    }
    for (format, file) in outputs.iter() {
        std::fs::write(file, report.render(drift_format(*format)))
            .map_err(|e| Failure(format!("cannot write {}: {e}", file.display())))?;
    }
    print!("{}", report.render(drift_format(format)));
    Ok(report.exit_code())
}

async fn check_one(reader: &AwsReader, stack: &Stack, today: &str, who: bool) -> StackDrift {
    // A release made from the command line is in effect, not drift.
    let live = match Engine::desired(stack) {
        Ok(desired) => keep_live_release(reader, stack.clone(), desired, &[])
            .await
            .ok(),
        Err(_) => None,
    };
    let stack = live.as_ref().map_or(stack, |(s, _)| s);
    let mut report = drift::check(reader, stack, today).await;
    if who {
        report.annotate_who(reader).await;
    }
    report
}

/// `mck unlock`: shows the holder, asks, and removes the lock whoever holds it.
async fn unlock(args: &StackArgs, aws: &AwsArgs, yes: bool) -> Result<u8, Failure> {
    let desired = load(args)?;
    check_region(aws, desired.stack(), desired.region())?;
    let cloud = AwsProvider::connect(&aws_config(aws, "unlock"), desired.region()).await;
    let store = cloud.stack_lock();
    let stack = desired.stack();
    let holder = mck_core::lock::StackLock::holder(&store, stack)
        .await
        .map_err(|e| Failure(e.to_string()))?;
    let Some(holder) = holder else {
        ui::note(&format!("stack {stack} is not locked"));
        return Ok(OK);
    };
    let state = if holder.is_expired(mck_core::lock::now_unix()) {
        "expired"
    } else {
        "held"
    };
    ui::note(&format!("stack {stack} is locked ({state}) by {holder}"));
    confirm(
        yes,
        &format!(
            "Break the lock? If that run is still going, it stops starting new steps at its next renewal and two runs may change {stack} at once until then."
        ),
    )?;
    mck_core::lock::StackLock::force_unlock(&store, stack)
        .await
        .map_err(|e| Failure(e.to_string()))?;
    ui::note(&format!("stack {stack} is unlocked"));
    Ok(OK)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use mck_core::graph::DesiredGraph;
    use mck_core::provider::Observed;

    use super::dedupe_guard;

    /// A network with an internet gateway, and a file system (which holds data).
    const STACK: &str =
        "version: 1\nnetwork:\n  zones: [us-east-1a]\n  nat: none\nfilesystem: {}\n";

    fn desired() -> Arc<DesiredGraph> {
        let stack = mck_core::stack::parse_str("t", "t.yaml", STACK).expect("a valid stack");
        mck_core::Engine::desired(&stack).expect("a valid graph")
    }

    /// Everything the stack declares, live once, plus a second copy of each of `copied`.
    fn plan_with_copies(copied: &[&str]) -> mck_core::Plan {
        let desired = desired();
        let mut observed: Vec<Observed> = desired
            .iter()
            .map(|r| Observed::new(r.id.clone(), r.kind(), format!("{}-1", r.id)))
            .collect();
        for id in copied {
            let resource = desired
                .iter()
                .find(|r| r.id.as_str() == *id)
                .unwrap_or_else(|| panic!("no {id} in the stack"));
            observed.push(Observed::new(
                resource.id.clone(),
                resource.kind(),
                format!("{id}-2"),
            ));
        }
        mck_core::plan::diff(desired, observed)
    }

    /// The id of the stack's one resource that holds data.
    fn data_holder() -> String {
        let desired = desired();
        let holders: Vec<String> = desired
            .iter()
            .filter(|r| r.kind().holds_data())
            .map(|r| r.id.to_string())
            .collect();
        assert_eq!(holders.len(), 1, "{holders:?}");
        holders[0].clone()
    }

    fn refusal(plan: &mck_core::Plan, dedupe: bool) -> Option<String> {
        dedupe_guard(plan, dedupe).err().map(|failure| failure.0)
    }

    #[test]
    fn without_duplicates_up_goes_on() {
        let plan = plan_with_copies(&[]);
        assert!(plan.duplicates().is_empty());
        assert_eq!(refusal(&plan, false), None);
        assert_eq!(refusal(&plan, true), None);
    }

    #[test]
    fn duplicates_are_refused_without_dedupe_naming_every_copy_and_the_way_out() {
        let plan = plan_with_copies(&["igw"]);
        assert_eq!(plan.duplicates().len(), 1);
        let said = refusal(&plan, false).expect("refused");
        assert!(
            said.starts_with("nothing was changed: stack t has duplicates"),
            "{said}"
        );
        assert!(said.contains("igw-1") && said.contains("igw-2"), "{said}");
        assert!(said.contains("mck up --stack t --dedupe"), "{said}");
        // With --dedupe the extra copy, which holds no data, is deleted by the plan.
        assert_eq!(refusal(&plan, true), None);
    }

    #[test]
    fn copies_that_hold_data_are_refused_even_with_dedupe() {
        let holder = data_holder();
        let plan = plan_with_copies(&["igw", &holder]);
        assert_eq!(plan.duplicates().len(), 2);
        let said = refusal(&plan, true).expect("refused");
        assert!(
            said.starts_with("nothing was changed: these copies hold data"),
            "{said}"
        );
        assert!(said.contains(&format!("{holder}-1")), "{said}");
        assert!(said.contains(&format!("{holder}-2")), "{said}");
        assert!(
            !said.contains("igw"),
            "only the copies that hold data: {said}"
        );
    }
}
