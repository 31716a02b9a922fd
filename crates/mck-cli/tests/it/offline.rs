//! Commands that must not touch AWS.

use crate::{StacksDir, UNREACHABLE, assert_exit, mck, shipped_stacks, text};

#[test]
fn an_invalid_stack_fails_before_any_aws_call() {
    let stacks = StacksDir::dev_as("it-invalid");
    std::fs::write(
        stacks.0.join("it-invalid.yaml"),
        "version: 1\nnetwork:\n  cidr: 10.0.0.0/16\n  zones: [us-east-1a]\n  subnets:\n    public: [10.9.0.0/24]\n",
    )
    .expect("write stack file");
    let out = mck(&[
        "up",
        "--stack",
        "it-invalid",
        "--stacks-dir",
        stacks.path(),
        "--yes",
        "--endpoint-url",
        UNREACHABLE,
    ]);
    assert_exit(&out, 1);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("it-invalid.yaml:6:14: subnet `10.9.0.0/24`"),
        "{stderr}"
    );
    assert!(
        stderr.contains("help: choose a block inside 10.0.0.0/16"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty(), "{}", text(&out));
}

#[test]
fn graph_and_validate_need_no_aws() {
    let stacks = StacksDir::dev_as("it-graph");
    let args = |command: &'static str, extra: &[&'static str]| -> Vec<String> {
        [
            command,
            "--stack",
            "it-graph",
            "--stacks-dir",
            stacks.path(),
        ]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_string())
        .collect()
    };
    let run = |args: Vec<String>| mck(&args.iter().map(String::as_str).collect::<Vec<_>>());
    let dot = run(args("graph", &[]));
    assert_exit(&dot, 0);
    let dot = String::from_utf8_lossy(&dot.stdout);
    assert!(dot.starts_with("digraph \"it-graph\""), "{dot}");
    assert!(dot.contains("\"nat.a\" -> \"eip.nat.a\";"), "{dot}");
    let mermaid = run(args("graph", &["--format", "mermaid"]));
    assert_exit(&mermaid, 0);
    assert!(
        String::from_utf8_lossy(&mermaid.stdout).starts_with("flowchart LR"),
        "{}",
        text(&mermaid)
    );
    let validate = run(args("validate", &[]));
    assert_exit(&validate, 0);
    // The count the library lowers the same file to.
    let stack = mck_core::stack::load(&stacks.0, "it-graph").expect("the copy loads");
    let n_resources = mck_core::Engine::desired(&stack).expect("it lowers").len();
    assert!(
        String::from_utf8_lossy(&validate.stderr)
            .contains(&format!("stack it-graph is valid: {n_resources} resources")),
        "{}",
        text(&validate)
    );
}

#[test]
fn every_case_of_the_bad_input_corpus_is_refused_by_up_before_any_aws_call() {
    let dir = shipped_stacks().join("invalid");
    let mut n_cases = 0;
    for entry in std::fs::read_dir(&dir).expect("read stacks/invalid") {
        let name = entry
            .expect("read stacks/invalid")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let Some(stack) = name.strip_suffix(".yaml") else {
            continue;
        };
        let out = mck(&[
            "up",
            "--stack",
            stack,
            "--stacks-dir",
            dir.to_str().expect("utf-8 path"),
            "--yes",
            "--endpoint-url",
            UNREACHABLE,
        ]);
        assert_exit(&out, 1);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.starts_with(&format!("error: invalid stack `{stack}`:"))
                && stderr.contains("help: "),
            "{stack}: {}",
            text(&out)
        );
        assert!(
            !stderr.contains("127.0.0.1:9") && !stderr.contains("failed to read stack"),
            "{stack} reached for AWS: {stderr}"
        );
        n_cases += 1;
    }
    assert!(n_cases >= 30, "{n_cases} cases");
}

#[test]
fn version_names_the_release_and_the_git_commit() {
    let out = mck(&["--version"]);
    assert_exit(&out, 0);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let expected_start = format!("mck {} (commit ", env!("CARGO_PKG_VERSION"));
    assert!(line.starts_with(&expected_start), "{line}");
    let given = line
        .trim_start_matches(&expected_start)
        .trim_end_matches(')');
    let commit = given.trim_end_matches("-dirty");
    // Built inside the repository: this very commit, abbreviated (the build script runs again
    // on a new commit); a source archive says `unknown`. A release build names the commit it
    // was given (`MCK_GIT_COMMIT`, a full SHA) instead.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match head {
        Some(head) if commit.len() != 40 => assert_eq!(commit, head, "{line}"),
        Some(head) => assert!(commit.starts_with(&head), "{line} (HEAD {head})"),
        None => assert_eq!(commit, "unknown", "{line}"),
    }
}
