//! `cargo xtask test`: what CI runs. Formatting and lints, then the tests in two cargo
//! invocations (the paused-clock packages, then the SDK-linking ones against a fresh emulator).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use crate::emulator::{
    StopOnDrop, aws_env, emulator_start, is_our_server, read_state, state_file, venv,
};
use crate::workspace::{Result, cargo, root, run};

/// Packages whose tests need tokio's `test-util` (paused clock). They link no AWS SDK crate, so
/// they are tested in a cargo invocation of their own: `test-util` would otherwise change
/// tokio's features for the whole build and with them every SDK crate's, which would then
/// compile twice (once for `mck`, once for the tests).
const PAUSED_CLOCK_PACKAGES: &[&str] = &["mck-core", "mck-bench"];

/// The rest: the SDK-linking packages, tested on the very build of `mck` that `demo` runs.
const SDK_PACKAGES: &[&str] = &["mck-aws", "mck-cli", "mck-tests", "xtask"];

fn package_args(packages: &[&str]) -> Vec<String> {
    packages
        .iter()
        .flat_map(|p| ["-p".to_string(), (*p).to_string()])
        .collect()
}

/// Whether a cargo test invocation runs the tests marked `#[ignore]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ignored {
    Skip,
    /// The end-to-end tests are ignored under a plain `cargo test`, which has no emulator.
    Include,
}

/// `extra` (cargo's arguments, then after `--` the test binaries'), with `--include-ignored`
/// for the test binaries when asked.
fn test_args(extra: &[&str], ignored: Ignored) -> Vec<String> {
    let mut args: Vec<String> = extra.iter().map(|a| (*a).to_string()).collect();
    if ignored == Ignored::Include {
        match args.iter().position(|a| a == "--") {
            Some(separator_idx) => args.insert(separator_idx + 1, "--include-ignored".to_string()),
            None => args.extend(["--".to_string(), "--include-ignored".to_string()]),
        }
    }
    args
}

pub(crate) fn test(extra: &[&str]) -> Result<()> {
    let started = Instant::now();
    let mut failed = Vec::new();
    // What CI checks besides the tests. A failure is reported with the tests' at the end, so one
    // run shows everything to fix.
    if let Err(err) = run(cargo().args(["fmt", "--all", "--check"])) {
        failed.push(err);
    }
    // The same build as `cargo xtask demo`: the binary the end-to-end tests run.
    run(cargo().args(["build", "-p", "mck-cli"]))?;
    // After the build: clippy shares its build scripts and proc-macros.
    if let Err(err) = run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ])) {
        failed.push(err);
    }
    // A fresh emulator for this run only.
    if let Some(old) = read_state()
        && is_our_server(old.pid)
    {
        let _ = Command::new("kill").arg(old.pid.to_string()).status();
    }
    let _ = std::fs::remove_file(state_file());
    let emulator = emulator_start()?;
    let _guard = StopOnDrop(emulator.pid);
    // The emulator launcher's patches of moto, each tested against what the AWS API reference
    // documents (xtask/test_moto_server_mck.py, in-process moto from the same venv).
    let xtask_dir = root().join("xtask");
    if let Err(err) = run(Command::new(venv().join("bin/python"))
        .args(["-m", "unittest", "discover", "-s"])
        .arg(&xtask_dir)
        .args(["-p", "test_*.py"])
        .env("AWS_EC2_METADATA_DISABLED", "true"))
    {
        failed.push(err);
    }
    for (packages, ignored) in [
        (PAUSED_CLOCK_PACKAGES, Ignored::Skip),
        (SDK_PACKAGES, Ignored::Include),
    ] {
        let mut cmd = cargo();
        // Every test binary runs even when an earlier one fails, so one run shows all failures.
        cmd.arg("test")
            .args(package_args(packages))
            .arg("--no-fail-fast")
            .args(test_args(extra, ignored));
        aws_env(&mut cmd, &emulator.endpoint);
        cmd.env("MCK_TEST_ENDPOINT", &emulator.endpoint)
            .env("MCK_TEST_VENV", venv())
            .env("MCK_BIN", root().join("target/debug/mck"));
        if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
            cmd.env("MCK_BIN", Path::new(&dir).join("debug/mck"));
        }
        if let Err(err) = run(&mut cmd) {
            failed.push(err);
        }
    }
    if !failed.is_empty() {
        return Err(failed.join("\n"));
    }
    eprintln!("xtask: all tests passed in {:.0?}", started.elapsed());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Ignored, test_args};

    #[test]
    fn ignored_tests_are_included_for_the_test_binaries_only() {
        let check = |extra: &[&str], ignored: Ignored, expect: &[&str]| {
            assert_eq!(test_args(extra, ignored), expect, "{extra:?}");
        };
        check(&[], Ignored::Include, &["--", "--include-ignored"]);
        check(&[], Ignored::Skip, &[]);
        check(
            &["--release", "--", "lock::"],
            Ignored::Include,
            &["--release", "--", "--include-ignored", "lock::"],
        );
        check(
            &["--", "--", "x"],
            Ignored::Include,
            &["--", "--include-ignored", "--", "x"],
        );
        check(&["--", "lock::"], Ignored::Skip, &["--", "lock::"]);
    }
}
