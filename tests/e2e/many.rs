//! Ten stacks planned and applied at once against one emulator: all converge, each with
//! exactly its own resources, and all go away again.

use std::process::{Command, Stdio};

use mck_tests::{Harness, TestStack, assert_exit, text};

use crate::{counts, network_only_counts};

const N: usize = 10;

fn spawn_all(stacks: &[TestStack], args: &[&str]) -> Vec<std::process::Output> {
    let bin = std::env::var("MCK_BIN").expect("MCK_BIN");
    let children: Vec<std::process::Child> = stacks
        .iter()
        .map(|stack| {
            let mut cmd = Command::new(&bin);
            cmd.args(args)
                .args([
                    "--stack",
                    &stack.name,
                    "--stacks-dir",
                    stack.dir.to_str().unwrap(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            stack.harness.env_for(&mut cmd);
            cmd.spawn().expect("spawn mck")
        })
        .collect();
    children
        .into_iter()
        .map(|c| c.wait_with_output().expect("mck ends"))
        .collect()
}

#[test]
#[ignore = "needs the emulator: cargo xtask test"]
fn ten_stacks_applied_at_once_all_converge() {
    let harness = Harness::from_env();
    let stacks: Vec<TestStack> = (0..N)
        .map(|i| harness.stack_from(&format!("e2e-many-{i}"), crate::NETWORK_ONLY))
        .collect();
    for out in spawn_all(&stacks, &["plan"]) {
        assert_exit(&out, 0);
    }
    for (stack, out) in stacks.iter().zip(spawn_all(&stacks, &["up", "--yes"])) {
        assert_eq!(out.status.code(), Some(0), "{}: {}", stack.name, text(&out));
    }
    for (stack, out) in stacks
        .iter()
        .zip(spawn_all(&stacks, &["plan", "--detailed-exitcode"]))
    {
        assert_eq!(out.status.code(), Some(0), "{}: {}", stack.name, text(&out));
    }
    for stack in &stacks {
        assert_eq!(
            counts(&stack.inventory()),
            network_only_counts(),
            "{}",
            stack.name
        );
    }
    for (stack, out) in stacks.iter().zip(spawn_all(&stacks, &["down", "--yes"])) {
        assert_eq!(out.status.code(), Some(0), "{}: {}", stack.name, text(&out));
    }
    for stack in &stacks {
        assert!(
            counts(&stack.inventory()).iter().all(|(_, n)| *n == 0),
            "{} left resources",
            stack.name
        );
    }
}
