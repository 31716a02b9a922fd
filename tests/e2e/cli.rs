//! The CLI contract against the emulator: confirmation, exit codes, JSON events, credential and
//! endpoint errors. What needs no AWS (validation before any call, `graph`) is in mck-cli's own
//! tests (`crates/mck-cli/tests/it`), which run under a plain `cargo test`.

use mck_tests::{Harness, assert_exit, text, total};

use crate::section;

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn up_without_yes_and_without_a_terminal_refuses_and_changes_nothing() {
    let harness = Harness::from_env();
    let stack = harness.stack("e2e-refuse");
    let out = stack.mck("up", &[]);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("stdin is not a terminal; pass --yes"),
        "{}",
        text(&out)
    );
    // The plan was shown, nothing was created.
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(&format!("Plan: {} to add", total(&stack.desired_counts()))),
        "{}",
        text(&out)
    );
    assert!(section(&stack.inventory(), "vpcs").is_empty());
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn on_a_terminal_up_asks_and_only_yes_applies() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-tty", crate::NETWORK_ONLY);
    assert_exit(&stack.mck("down", &["--yes"]), 0);

    let declined = stack.mck_on_tty("up", &[], "no\n");
    let screen = String::from_utf8_lossy(&declined.stdout).to_string();
    assert_eq!(declined.status.code(), Some(1), "{screen}");
    assert!(
        screen.contains("Apply these changes to stack e2e-tty?"),
        "{screen}"
    );
    assert!(screen.contains("Only 'yes' will be accepted"), "{screen}");
    assert!(
        screen.contains("cancelled: nothing was changed"),
        "{screen}"
    );
    assert!(section(&stack.inventory(), "vpcs").is_empty());
    // A big plan at a terminal: the summary first, not the diff; `--detail` and a pipe (the
    // test above) get the full diff.
    let n_network = total(&crate::network_only_counts());
    assert!(n_network > 25, "a plan of {n_network} is not big");
    let summary = format!(
        "Plan for stack e2e-tty: {n_network} to create, 0 to update, 0 to replace, 0 to delete (0 unchanged)."
    );
    assert!(screen.contains(&summary), "{screen}");
    assert!(screen.contains("  network "), "{screen}");
    assert!(!screen.contains("resource \"aws_vpc\""), "{screen}");
    let detailed = stack.mck_on_tty("plan", &["--detail"], "");
    let screen = String::from_utf8_lossy(&detailed.stdout).to_string();
    assert!(screen.contains("resource \"aws_vpc\" \"vpc\""), "{screen}");
    assert!(!screen.contains(&summary), "{screen}");

    let accepted = stack.mck_on_tty("up", &[], "yes\n");
    let screen = String::from_utf8_lossy(&accepted.stdout).to_string();
    assert_eq!(accepted.status.code(), Some(0), "{screen}");
    // The live progress line is drawn on the terminal.
    assert!(screen.contains("\u{1b}[K["), "no progress line: {screen}");
    assert!(
        screen.contains(&format!("up: {n_network} done, 0 failed")),
        "{screen}"
    );
    // A big plan's run is brief: no line for a step that went as planned (a pipe gets them).
    assert!(!screen.contains("✓ vpc (aws_vpc) created"), "{screen}");
    assert_eq!(section(&stack.inventory(), "vpcs").len(), 1);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}

/// The JSON lines of `up --json` / `down --json`, each parsed.
fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| {
            serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("not one JSON object: {line}: {e}"))
        })
        .collect()
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn up_and_down_json_stream_the_plan_every_event_and_the_summary() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-json", crate::NETWORK_ONLY);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
    for (command, action) in [("up", "create"), ("down", "delete")] {
        let out = stack.mck(command, &["--yes", "--json"]);
        assert_exit(&out, 0);
        let events = json_lines(&out);
        assert_eq!(events[0]["event"], "plan", "{}", text(&out));
        let planned = events[0]["plan"]["steps"].as_array().unwrap().len();
        assert!(planned >= 50, "{planned}");
        let last = events.last().unwrap();
        assert_eq!(last["event"], "summary");
        assert_eq!(last["success"], true);
        let count = |event: &str| events.iter().filter(|e| e["event"] == event).count();
        assert_eq!(count("started"), planned, "one start per step");
        assert_eq!(count("finished"), planned, "one finish per step");
        assert!(
            events
                .iter()
                .filter(|e| e["event"] == "finished")
                .all(|e| e["op"] == action && e["outcome"]["status"] == "done"),
            "{}",
            text(&out)
        );
        // Nothing but JSON on stdout; the progress display is not there.
        assert!(!String::from_utf8_lossy(&out.stdout).contains("Plan:"));
    }
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn the_embedding_example_plans_and_reports_drift_through_the_library() {
    let harness = Harness::from_env();
    // Built by the same `cargo test` invocation as this test (examples of mck-aws).
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/examples/embed");
    let example = std::env::var("CARGO_TARGET_DIR").map_or(example, |dir| {
        std::path::Path::new(&dir).join("debug/examples/embed")
    });
    assert!(example.exists(), "{} was not built", example.display());
    let stack = harness.stack_from("e2e-embed", crate::NETWORK_ONLY);
    let n_network = total(&crate::network_only_counts());
    let run = || {
        let mut cmd = std::process::Command::new(&example);
        cmd.arg(&stack.dir).arg(&stack.name);
        harness.env_for(&mut cmd);
        cmd.output().expect("run the example")
    };
    let before = run();
    assert_exit(&before, 2);
    let stdout = String::from_utf8_lossy(&before.stdout).to_string();
    assert!(
        stdout.contains(&format!("plan e2e-embed: {n_network} to add")),
        "{}",
        text(&before)
    );
    assert!(
        stdout.contains(&format!(
            "drift e2e-embed: drift ({n_network} checked, 0 changed, {n_network} missing"
        )),
        "{stdout}"
    );
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let after = run();
    assert_exit(&after, 0);
    let stdout = String::from_utf8_lossy(&after.stdout).to_string();
    assert!(stdout.contains("0 to add, 0 to change"), "{stdout}");
    assert!(stdout.contains("drift e2e-embed: in_sync"), "{stdout}");
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn credential_endpoint_and_region_problems_are_one_line_errors_with_the_fix() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-creds", crate::NETWORK_ONLY);
    let bin = std::env::var("MCK_BIN").unwrap();
    let dir = stack.dir.to_str().unwrap().to_string();
    // No credentials anywhere: an empty home, nothing in the environment, no instance metadata.
    let home = std::env::temp_dir().join(format!("mck-e2e-nohome-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = std::process::Command::new(&bin)
        .args(["up", "--yes", "--stack", "e2e-creds", "--stacks-dir", &dir])
        .env_clear()
        .env("HOME", &home)
        .env("PATH", std::env::var("PATH").unwrap())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&home);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.contains("no AWS credentials found") && stderr.contains("AWS_PROFILE"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    // An endpoint nothing answers on.
    let out = stack.mck("plan", &["--endpoint-url", "http://127.0.0.1:9"]);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        stderr.contains("cannot reach AWS (connection refused)"),
        "{stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");

    // A region that is not the stack's, or not a region at all.
    for (region, says) in [
        ("eu-west-1", "lives in us-east-1"),
        ("mars", "is not an AWS region name"),
    ] {
        let out = stack.mck("up", &["--yes", "--region", region]);
        assert_exit(&out, 1);
        let stderr = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(stderr.contains(says), "{region}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    }
    assert!(
        section(&stack.inventory(), "vpcs").is_empty(),
        "nothing was created"
    );
}
