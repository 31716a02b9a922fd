//! `plan`, `up` and `down`: the plan, the guards that refuse it (duplicates, data loss,
//! deletion protection), confirmation, and applying it with progress under the stack lock.

#![expect(clippy::print_stdout, reason = "plans are the commands' products")]

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mck_core::exec::CancelToken;
use mck_core::lock::LockGuard;
use mck_core::{Engine, Plan};

use super::lock::{let_go, take_lock_unless};
use super::preview::{Make, open};
use super::release::keep_live_release;
use super::signals::Signals;
use super::{CHANGES, ERROR, Failure, OK, confirm, read_failure};
use crate::args::{ApprovalArgs, AwsArgs, StackArgs};
use crate::ui;

pub(super) async fn plan(
    args: &StackArgs,
    aws: &AwsArgs,
    detailed: bool,
    view: View,
    json: bool,
    stats: bool,
) -> Result<u8, Failure> {
    let (stack, desired, engine) = open(args, aws, "plan", None).await?;
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
        print!("{}", render(&plan, view));
    }
    if !plan.duplicates().is_empty() {
        return Err(Failure(duplicates_message(&plan)));
    }
    // Say now what `up` would refuse, rather than after the user has asked for it.
    for refusal in plan.refusals(false) {
        ui::note(&format!("note: `mck up` would stop here: {refusal}"));
    }
    if let Some(order) = plan.resize_order() {
        ui::note(&format!("note: {order}"));
    }
    let today = mck_core::time::today_utc();
    for due in mck_core::rotation::overdue(&desired, plan.observed().values(), &today) {
        ui::note(&format!("note: {}", due.describe(desired.stack())));
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

/// How a plan is shown: `--detail`, `--summary`, or as suits where the output goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum View {
    /// At a terminal, a plan of more than [`mck_core::plan::SMALL_PLAN`] changes as its
    /// summary; everywhere else (a pipe, a CI log) the full diff.
    Auto,
    /// The full diff (`--detail`).
    Detail,
    /// The summary (`--summary`).
    Summary,
}

impl View {
    pub(super) fn of(detail: bool, summary: bool) -> View {
        match (detail, summary) {
            (true, _) => View::Detail,
            (false, true) => View::Summary,
            (false, false) => View::Auto,
        }
    }
}

/// Whether `plan` is shown brief: its summary, and the run's progress without a line per
/// step that went as planned ([`View`]).
fn brief(plan: &Plan, view: View) -> bool {
    let summary = plan.summary();
    let changes = summary.add + summary.change + summary.replace + summary.destroy;
    match view {
        View::Detail => false,
        View::Summary => true,
        View::Auto => std::io::stdout().is_terminal() && changes > mck_core::plan::SMALL_PLAN,
    }
}

/// The plan as a person reads it ([`View`]).
fn render(plan: &Plan, view: View) -> String {
    if brief(plan, view) {
        plan.render_summary()
    } else {
        plan.render_text()
    }
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

pub(super) async fn up(
    args: &StackArgs,
    aws: &AwsArgs,
    approval: &ApprovalArgs,
    view: View,
    json: bool,
    make: &Make,
) -> Result<u8, Failure> {
    let (stack, desired, engine) = open(args, aws, "up", Some(make)).await?;
    let (_, desired) =
        keep_live_release(engine.provider().as_ref(), stack, desired, &args.set).await?;
    let cancel = CancelToken::default();
    let lock = take_lock_unless(approval.no_lock, &engine, desired.stack(), &cancel).await?;
    let result = async {
        let plan = engine
            .plan(desired.clone())
            .await
            .map_err(|e| read_failure(&desired, e))?;
        let question = format!("Apply these changes to stack {}?", desired.stack());
        let run = Run {
            verb: "up",
            view,
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

pub(super) async fn down(
    args: &StackArgs,
    aws: &AwsArgs,
    approval: &ApprovalArgs,
    force: bool,
    view: View,
    json: bool,
) -> Result<u8, Failure> {
    let (stack, desired, engine) = open(args, aws, "down", None).await?;
    if stack.config.protected && !force {
        let at = stack.locate(&["protected"]);
        return Err(Failure(format!(
            "refusing to delete stack {}: it is protected ({at}: `protected: true`); nothing was changed\n  help: pass --force if the whole stack, its data included, is to go",
            stack.name
        )));
    }
    let cancel = CancelToken::default();
    let lock = take_lock_unless(approval.no_lock, &engine, desired.stack(), &cancel).await?;
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
            view,
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
    /// How the plan is shown.
    view: View,
    json: bool,
    cancel: &'a CancelToken,
    lock: Option<&'a LockGuard>,
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
        print!("{}", render(plan, run.view));
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
    if let Some(order) = plan.resize_order() {
        ui::note(&format!("note: {order}"));
    }
    confirm(approval.yes, question)?;
    execute(engine, plan, run).await
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
        tokio::spawn(ui::progress(rx, n_steps, brief(plan, run.view)))
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
