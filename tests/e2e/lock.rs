//! The stack lock between processes: two `up`s started together build everything once; a
//! second `up` or `down` is refused at once, naming the holder; `plan` and `drift` do not take
//! the lock; `mck unlock` breaks it; the lock is gone after a run (checked with the AWS CLI).

use std::io::{BufRead, BufReader};
use std::process::Command;

use mck_tests::{Harness, TestStack, assert_exit, text};

use crate::{counts, network_only_counts};

/// The lock item of `stack` as the AWS CLI sees it (empty when there is none).
fn lock_item(harness: &Harness, stack: &TestStack) -> String {
    harness.aws(&[
        "dynamodb",
        "get-item",
        "--table-name",
        "mck-stack-locks",
        "--key",
        &format!("{{\"stack\": {{\"S\": \"{}\"}}}}", stack.name),
        "--consistent-read",
    ])
}

fn signal(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn two_ups_started_together_build_everything_once() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-race", crate::NETWORK_ONLY);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
    let first = stack.spawn("up", &["--yes"]);
    let second = stack.spawn("up", &["--yes"]);
    let (a, b) = (
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    );
    let codes = [a.status.code(), b.status.code()];
    assert!(
        codes.contains(&Some(0)) && codes.contains(&Some(1)),
        "one wins, one is refused: {}\n{}",
        text(&a),
        text(&b)
    );
    let refused = if a.status.code() == Some(1) { &a } else { &b };
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("is being changed by") && stderr.contains("mck up --stack e2e-race"),
        "{stderr}"
    );
    assert_eq!(
        counts(&stack.inventory()),
        network_only_counts(),
        "no duplicates"
    );
    assert_eq!(lock_item(&harness, &stack), "", "released after the run");
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn a_run_in_progress_refuses_others_and_unlock_breaks_its_lock() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-lock", crate::NETWORK_ONLY);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
    // One step at a time: the run lasts while the others try.
    let mut running = stack.spawn("up", &["--yes", "--concurrency", "1"]);
    let stderr = running.stderr.take().expect("stderr is piped");
    let mut lines = BufReader::new(stderr).lines();
    for line in lines.by_ref() {
        if line.expect("utf-8").starts_with('✓') {
            break;
        }
    }
    // Frozen, not gone: its lock stays.
    signal(&running, "-STOP");
    for command in ["up", "down"] {
        let out = stack.mck(command, &["--yes"]);
        assert_exit(&out, 1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("stack e2e-lock is being changed by")
                && stderr.contains(&format!("(pid {})", running.id()))
                && stderr.contains("running `mck up --stack e2e-lock")
                && stderr.contains(" since ")
                && stderr.contains("mck unlock --stack e2e-lock"),
            "{command}: {stderr}"
        );
    }
    // Reading does not take the lock.
    assert_exit(&stack.mck("plan", &[]), 0);
    let drift = stack.mck("drift", &[]);
    assert_eq!(drift.status.code(), Some(2), "{}", text(&drift));
    assert!(lock_item(&harness, &stack).contains("mck up --stack e2e-lock"));

    // Without --yes and without a terminal, unlock refuses.
    assert_exit(&stack.mck("unlock", &[]), 1);
    let unlock = stack.mck("unlock", &["--yes"]);
    assert_exit(&unlock, 0);
    let said = String::from_utf8_lossy(&unlock.stderr);
    assert!(
        said.contains("is locked (held) by") && said.contains("is unlocked"),
        "{said}"
    );
    assert_eq!(lock_item(&harness, &stack), "");
    signal(&running, "-KILL");
    let _ = running.wait();
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    assert_eq!(counts(&stack.inventory()), network_only_counts());
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn duplicates_are_refused_by_plan_up_and_drift_and_dedupe_removes_them() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-dup", crate::NETWORK_ONLY);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
    assert_exit(&stack.mck("up", &["--yes"]), 0);
    let vpcs = || {
        let ids = harness.aws(&[
            "ec2",
            "describe-vpcs",
            "--filters",
            "Name=tag:mck:stack,Values=e2e-dup",
            "--query",
            "Vpcs[].VpcId",
        ]);
        let mut ids: Vec<String> = ids.split_whitespace().map(str::to_string).collect();
        ids.sort();
        ids
    };
    let original = vpcs();
    assert_eq!(original.len(), 1);
    // What two runs without the lock leave: a second VPC claiming the same logical id.
    let copy = harness.aws(&[
        "ec2",
        "create-vpc",
        "--cidr-block",
        "10.0.0.0/16",
        "--tag-specifications",
        "ResourceType=vpc,Tags=[{Key=mck:stack,Value=e2e-dup},{Key=mck:id,Value=vpc}]",
        "--query",
        "Vpc.VpcId",
    ]);
    for command in ["plan", "drift"] {
        let out = stack.mck(command, &[]);
        assert_exit(&out, 1);
        let all = text(&out);
        assert!(
            all.contains("duplicates") && all.contains(&original[0]) && all.contains(&copy),
            "{command}: {all}"
        );
    }
    let refused = stack.mck("up", &["--yes"]);
    assert_exit(&refused, 1);
    assert!(text(&refused).contains("--dedupe"), "{}", text(&refused));
    assert_eq!(vpcs().len(), 2, "up built nothing on the duplicates");
    // The copy the subnets use is kept; the other goes.
    assert_exit(&stack.mck("up", &["--yes", "--dedupe"]), 0);
    assert_eq!(vpcs(), original);
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}

/// What the lock prevents, and what happens without it: two `up --no-lock` racing. The race has
/// more than one outcome: both runs read an empty stack and build two of everything; or one
/// reads what the other has begun and builds the rest beside it, where the two collide (a
/// subnet's CIDR taken, a group's name in use) and a step fails; or one finds the other's work
/// done. Whichever it is, the outcome is never silent and always resolvable: a run that fails
/// exits 1 saying what failed; duplicates are reported by `plan` and `drift` naming every copy
/// and refused by `up`; and `up --dedupe` leaves exactly one of each.
#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn two_ups_racing_without_the_lock_end_reported_and_resolved_by_dedupe() {
    let harness = Harness::from_env();
    let stack = harness.stack_from("e2e-nolock", crate::NETWORK_ONLY);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
    let first = stack.spawn("up", &["--yes", "--no-lock"]);
    let second = stack.spawn("up", &["--yes", "--no-lock"]);
    let runs = [
        first.wait_with_output().unwrap(),
        second.wait_with_output().unwrap(),
    ];
    for run in &runs {
        match run.status.code() {
            Some(0) => {}
            Some(1) => assert!(
                String::from_utf8_lossy(&run.stderr).contains("failed"),
                "a failed run says what failed: {}",
                text(run)
            ),
            _ => panic!("a run ends in success or an error: {}", text(run)),
        }
    }
    let races = || format!("{}\n{}", text(&runs[0]), text(&runs[1]));
    let plan = stack.mck("plan", &[]);
    if text(&plan).contains("is claimed by") {
        // Duplicates: reported by plan and drift, refused by up.
        for (command, out) in [("plan", plan), ("drift", stack.mck("drift", &[]))] {
            assert_exit(&out, 1);
            assert!(
                text(&out).contains("is claimed by") && text(&out).contains("--dedupe"),
                "{command}: {}",
                text(&out)
            );
        }
        let refused = stack.mck("up", &["--yes"]);
        assert_exit(&refused, 1);
        assert!(
            text(&refused).contains("nothing was changed"),
            "{}",
            text(&refused)
        );
    } else {
        assert_exit(&plan, 0);
        // No duplicates: each of the stack's resources was built once, or a run said it failed.
        let both_succeeded = runs.iter().all(|run| run.status.success());
        if both_succeeded {
            assert_eq!(
                counts(&stack.inventory()),
                network_only_counts(),
                "two successful runs and no duplicates reported: {}",
                races()
            );
        }
    }
    assert_exit(&stack.mck("up", &["--yes", "--dedupe"]), 0);
    assert_eq!(
        counts(&stack.inventory()),
        network_only_counts(),
        "{}",
        races()
    );
    assert_exit(&stack.mck("plan", &["--detailed-exitcode"]), 0);
    assert_exit(&stack.mck("down", &["--yes"]), 0);
}
