//! `kill -9` of `mck up` / `mck down` at several points, then a re-run: exactly the desired
//! resources exist (no orphans, no duplicates), and down leaves nothing.

use std::io::{BufRead, BufReader};

use mck_tests::{Harness, TestStack, assert_exit};

use crate::{counts, network_only_counts};

/// Starts `mck <command> --yes` and SIGKILLs it once `n_finished` steps have reported. A small
/// concurrency keeps the number of calls in flight at the kill, so the kill points are spread
/// over the run instead of all landing after the first wave.
/// Returns how many had finished (fewer if the run ended first).
pub(crate) fn kill_after(stack: &TestStack, command: &str, n_finished: usize) -> usize {
    let mut child = stack.spawn(command, &["--yes", "--concurrency", "4"]);
    let stderr = child.stderr.take().expect("stderr is piped");
    let mut seen = 0;
    for line in BufReader::new(stderr).lines() {
        let Ok(line) = line else { break };
        if line.starts_with('✓') {
            seen += 1;
            if seen >= n_finished {
                break;
            }
        }
    }
    // SIGKILL: no chance to clean up, exactly what a crash or an OOM kill does.
    let _ = child.kill();
    let _ = child.wait();
    seen
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn killed_up_and_down_converge_on_rerun_without_orphans_or_duplicates() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-kill", crate::NETWORK_ONLY);
    // Start empty even if an earlier run of this test against this emulator stopped half-way.
    assert_exit(&stack.mck("down", &["--yes"]), 0);

    for n in [2, 6, 10] {
        let seen = kill_after(&stack, "up", n);
        assert_eq!(seen, n, "the run ended before the kill point");
    }
    // Partially built: fewer than desired, but never more.
    let partial = counts(&stack.inventory());
    for ((kind, have), (_, want)) in partial.iter().zip(&network_only_counts()) {
        assert!(have <= want, "{kind}: {have} > {want} after kills");
    }
    assert_ne!(partial, network_only_counts(), "the kills left work to do");

    assert_exit(&stack.mck("up", &["--yes"]), 0);
    assert_eq!(counts(&stack.inventory()), network_only_counts());
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);

    // Same for down.
    assert_eq!(kill_after(&stack, "down", 20), 20);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
    for (kind, count) in counts(&stack.inventory()) {
        assert_eq!(
            count, 0,
            "{kind} left after an interrupted down and a re-run"
        );
    }
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn ctrl_c_and_sigterm_stop_starting_steps_and_a_rerun_finishes() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-int", crate::NETWORK_ONLY);
    // SIGINT is Ctrl-C; SIGTERM is how CI systems cancel a job. Both: no new steps, a
    // summary, exit 128 + the signal's number.
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        assert_exit(&stack.mck("down", &["--yes"]), 0);
        // One step at a time, so the signal lands with most of the run still to start.
        let mut child = stack.spawn("up", &["--yes", "--concurrency", "1"]);
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let mut seen = 0;
        for line in lines.by_ref() {
            if line.expect("utf-8").starts_with('✓') {
                seen += 1;
                if seen == 3 {
                    break;
                }
            }
        }
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        let exit = child.wait().unwrap();
        assert_eq!(exit.code(), Some(code), "{signal}: {rest:#?}");
        assert!(
            rest.iter().any(|l| l.starts_with("interrupted:")),
            "{rest:#?}"
        );
        assert!(
            rest.iter().any(|l| l.starts_with("not done: create")),
            "{rest:#?}"
        );
        let summary = rest
            .iter()
            .find(|l| l.starts_with("up: "))
            .expect("a summary line");
        assert!(!summary.contains(" 0 not started"), "{summary}");
        // A re-run picks up from live state and finishes.
        assert_exit(&stack.mck("up", &["--yes"]), 0);
        assert_eq!(counts(&stack.inventory()), network_only_counts());
    }
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}

/// Fresh from empty each time, killed at spread-out points of the network tier's creation,
/// then re-run: every re-run converges (`plan` finds nothing to do, and it reports duplicates
/// as an error), and boto3 finds exactly one of each at the end.
#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn killed_at_many_points_each_rerun_converges() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-killmany", crate::NETWORK_ONLY);
    let points = [1, 9, 17, 25, 33, 41];
    for n in points {
        assert_exit(&stack.mck("down", &["--yes"]), 0);
        assert_eq!(kill_after(&stack, "up", n), n, "killed after {n} steps");
        assert_exit(&stack.mck("up", &["--yes"]), 0);
        assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);
    }
    assert_eq!(counts(&stack.inventory()), network_only_counts());
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}
