//! The one owner of terminal output. Human output goes to stderr (plans and outputs, the
//! products of their commands, go to stdout); progress is live on a TTY and plain otherwise.

#![expect(
    clippy::print_stderr,
    reason = "this module is the CLI's terminal output"
)]

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use mck_core::exec::{ExecEvent, Op, Outcome, Summary};
use mck_core::model::LogicalId;
use tokio::sync::mpsc;

fn color_enabled() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

fn paint(code: &str, text: &str) -> String {
    if color_enabled() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub fn error(message: &str) {
    eprintln!("{} {message}", paint("1;31", "error:"));
}

pub fn note(message: &str) {
    eprintln!("{message}");
}

fn past(op: Op) -> &'static str {
    match op {
        Op::Create => "created",
        Op::Update => "updated",
        Op::Delete => "deleted",
        Op::Wait => "ready",
    }
}

fn ing(op: Op) -> &'static str {
    match op {
        Op::Create => "creating",
        Op::Update => "updating",
        Op::Delete => "deleting",
        Op::Wait => "waiting for",
    }
}

fn secs(ms: u64) -> String {
    format!("{:.1}s", Duration::from_millis(ms).as_secs_f64())
}

/// Renders executor events until the channel closes.
/// One JSON object on one line of stdout (`--json` streams).
#[expect(
    clippy::print_stdout,
    reason = "the JSON event stream is the command's product"
)]
pub fn json_line(value: &serde_json::Value) {
    println!("{value}");
}

/// `up --json`: each engine event as one JSON object per line on stdout, as it happens.
pub async fn json_events(mut events: mpsc::UnboundedReceiver<ExecEvent>) {
    while let Some(event) = events.recv().await {
        match serde_json::to_value(&event) {
            Ok(value) => json_line(&value),
            Err(err) => error(&format!("cannot encode an event as JSON: {err}")),
        }
    }
}

/// Live progress of a run. `brief` (a plan shown as its summary): no line for a step that
/// starts or goes as planned in under [`BRIEF_SLOW`]; failures, skips, notes and slow steps
/// are still printed, and off a terminal a count every [`BRIEF_EVERY`] steps.
pub async fn progress(mut events: mpsc::UnboundedReceiver<ExecEvent>, n_steps: usize, brief: bool) {
    let tty = std::io::stderr().is_terminal();
    let mut running: BTreeMap<LogicalId, (Op, Instant, String)> = BTreeMap::new();
    let mut finished = 0usize;
    let mut last_plain_wait: BTreeMap<LogicalId, Instant> = BTreeMap::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let mut status_shown = false;
    loop {
        let event = tokio::select! {
            event = events.recv() => match event {
                Some(e) => e,
                None => break,
            },
            _ = ticker.tick(), if tty => {
                status_line(&running, finished, n_steps, &mut status_shown);
                continue;
            }
        };
        if status_shown {
            eprint!("\r\x1b[K");
            status_shown = false;
        }
        match event {
            ExecEvent::Started { id, kind, op } => {
                running.insert(id.clone(), (op, Instant::now(), String::new()));
                if !tty && !brief {
                    eprintln!("{} {id} ({kind})", ing(op));
                }
            }
            ExecEvent::Waiting {
                id,
                status,
                elapsed_ms,
            } => {
                if let Some(entry) = running.get_mut(&id) {
                    entry.2 = status.clone();
                }
                // Plain output: one line per resource every 30 s at most.
                let due = last_plain_wait
                    .get(&id)
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(30));
                if !tty && !brief && due && elapsed_ms >= 5_000 {
                    last_plain_wait.insert(id.clone(), Instant::now());
                    eprintln!("still waiting for {id}: {status} ({})", secs(elapsed_ms));
                }
            }
            ExecEvent::Retrying { id, attempt, error } => {
                eprintln!(
                    "{} {id} (attempt {attempt}): {error}",
                    paint("33", "retrying")
                );
            }
            ExecEvent::Finished {
                id,
                kind,
                op,
                outcome,
                elapsed_ms,
                note,
            } => {
                running.remove(&id);
                finished += 1;
                let quiet = brief
                    && outcome == Outcome::Done
                    && note.is_none()
                    && u128::from(elapsed_ms) < BRIEF_SLOW.as_millis();
                if quiet {
                    if !tty && finished.is_multiple_of(BRIEF_EVERY) {
                        eprintln!("[{finished}/{n_steps}] done");
                    }
                    if tty {
                        status_line(&running, finished, n_steps, &mut status_shown);
                    }
                    continue;
                }
                let line = match &outcome {
                    Outcome::Done => format!(
                        "{} {id} ({kind}) {} in {}",
                        paint("32", "✓"),
                        past(op),
                        secs(elapsed_ms)
                    ),
                    Outcome::Failed(why) => {
                        format!(
                            "{} {id} ({kind}) {} failed: {why}",
                            paint("31", "✗"),
                            op.as_str()
                        )
                    }
                    Outcome::Skipped(why) => {
                        format!("{} {id} ({kind}) skipped: {why}", paint("33", "-"))
                    }
                    Outcome::Cancelled => format!("{} {id} ({kind}) cancelled", paint("33", "-")),
                };
                eprintln!("{line}");
                for text in note.iter().flat_map(|n| n.lines()) {
                    eprintln!("    {text}");
                }
            }
        }
        if tty {
            status_line(&running, finished, n_steps, &mut status_shown);
        }
    }
    if status_shown {
        eprint!("\r\x1b[K");
    }
}

/// In a brief run, a step that took at least this long still gets its line.
const BRIEF_SLOW: Duration = Duration::from_secs(30);

/// In a brief run off a terminal, a count of the finished steps every this many.
const BRIEF_EVERY: usize = 25;

fn status_line(
    running: &BTreeMap<LogicalId, (Op, Instant, String)>,
    finished: usize,
    n_steps: usize,
    shown: &mut bool,
) {
    if running.is_empty() {
        return;
    }
    let mut parts: Vec<String> = running
        .iter()
        .map(|(id, (op, started, status))| {
            let what = if status.is_empty() {
                ing(*op).to_string()
            } else {
                status.clone()
            };
            format!("{id} {what} {}s", started.elapsed().as_secs())
        })
        .collect();
    let n = parts.len();
    parts.truncate(4);
    let more = if n > 4 {
        format!(" +{} more", n - 4)
    } else {
        String::new()
    };
    let width = terminal_width();
    let mut line = format!("[{finished}/{n_steps}] {}{more}", parts.join(", "));
    line.truncate(width.saturating_sub(1));
    eprint!("\r\x1b[K{line}");
    let _ = std::io::stderr().flush();
    *shown = true;
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(120)
}

/// The end-of-run summary: failures first.
pub fn summary(summary: &Summary, verb: &str, requests: u64) {
    let n_done = summary.count(|o| *o == Outcome::Done);
    let n_failed = summary.count(|o| matches!(o, Outcome::Failed(_)));
    let n_skipped = summary.count(|o| matches!(o, Outcome::Skipped(_)));
    let n_cancelled = summary.count(|o| *o == Outcome::Cancelled);
    if n_failed + n_skipped + n_cancelled > 0 {
        eprintln!();
        for result in summary.sorted() {
            match &result.outcome {
                Outcome::Failed(why) => eprintln!(
                    "{} {} {}: {why}",
                    paint("31", "failed:"),
                    result.op.as_str(),
                    result.id
                ),
                Outcome::Skipped(why) => {
                    eprintln!("skipped: {} {}: {why}", result.op.as_str(), result.id)
                }
                Outcome::Cancelled => eprintln!("not done: {} {}", result.op.as_str(), result.id),
                Outcome::Done => {}
            }
        }
    }
    let time = secs(summary.elapsed_ms);
    let line = format!(
        "{verb}: {n_done} done, {n_failed} failed, {n_skipped} skipped, {n_cancelled} not started, in {time} ({requests} AWS requests)"
    );
    eprintln!(
        "\n{}",
        if n_failed + n_skipped + n_cancelled > 0 {
            paint("1;31", &line)
        } else {
            paint("1;32", &line)
        }
    );
}

/// Asks for `yes` on the terminal; false on anything else.
pub fn confirm(question: &str) -> bool {
    eprint!("{question}\n  Only 'yes' will be accepted to approve.\n\n  Enter a value: ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).is_ok() && answer.trim() == "yes"
}
