//! Harness for the end-to-end tests: runs the real `mck` binary against the emulator started by
//! `cargo xtask test`, and reads the result back with an independent client (boto3).
//!
//! Each test uses its own stack name, so tests share one emulator and run in parallel.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use mck_core::model::ResourceKind;
use serde_json::Value;

/// How many resources of each kind lowering makes of the stack file `yaml` (no `extends:`),
/// in [`ResourceKind::ALL`] order, by plan name (`aws_subnet`): what `up` creates. The one
/// source of the counts the end-to-end tests expect.
pub fn desired_counts(yaml: &str) -> Vec<(&'static str, usize)> {
    let stack = mck_core::stack::parse_str("e2e", "e2e.yaml", yaml)
        .unwrap_or_else(|err| panic!("the test stack does not load: {err}"));
    counts_of(&stack)
}

fn counts_of(stack: &mck_core::stack::Stack) -> Vec<(&'static str, usize)> {
    let desired = mck_core::Engine::desired(stack)
        .unwrap_or_else(|err| panic!("the test stack does not lower: {err}"));
    ResourceKind::ALL
        .iter()
        .map(|kind| {
            (
                kind.name(),
                desired.iter().filter(|r| r.kind() == *kind).count(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect()
}

/// The sum of `counts`: how many resources a plan of the stack adds.
pub fn total(counts: &[(&'static str, usize)]) -> usize {
    counts.iter().map(|(_, n)| n).sum()
}

/// What `cargo xtask test` provides.
#[derive(Debug, Clone)]
pub struct Harness {
    endpoint: String,
    venv: PathBuf,
    mck: PathBuf,
}

impl Harness {
    /// The emulator's environment, which `cargo xtask test` sets.
    ///
    /// # Panics
    ///
    /// When it is not set: a test that needs the emulator is `#[ignore]`d, so it runs only
    /// when asked for (`cargo xtask test` runs ignored tests), and then it must not pass
    /// without having run.
    pub fn from_env() -> Harness {
        let var = |name: &str| {
            std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: this test needs the emulator; run `cargo xtask test`")
            })
        };
        let endpoint = var("MCK_TEST_ENDPOINT");
        assert_loopback(&endpoint);
        Harness {
            endpoint,
            venv: PathBuf::from(var("MCK_TEST_VENV")),
            mck: PathBuf::from(var("MCK_BIN")),
        }
    }

    /// A private copy of the shipped stacks with `dev.yaml` renamed to `<name>.yaml`.
    pub fn stack(&self, name: &str) -> TestStack {
        let dir = std::env::temp_dir().join(format!("mck-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp stacks dir");
        let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("../stacks");
        std::fs::copy(shipped.join("base.yaml"), dir.join("base.yaml")).expect("copy base.yaml");
        let dev = std::fs::read_to_string(shipped.join("dev.yaml")).expect("read dev.yaml");
        std::fs::write(
            dir.join(format!("{name}.yaml")),
            dev.replace("stack: dev", &format!("stack: {name}")),
        )
        .expect("write stack file");
        TestStack {
            harness: self.clone(),
            dir,
            name: name.to_string(),
        }
    }

    /// A stack whose file is exactly `yaml` (no `extends:`).
    pub fn stack_from(&self, name: &str, yaml: &str) -> TestStack {
        let dir = std::env::temp_dir().join(format!("mck-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp stacks dir");
        std::fs::write(dir.join(format!("{name}.yaml")), yaml).expect("write stack file");
        TestStack {
            harness: self.clone(),
            dir,
            name: name.to_string(),
        }
    }

    /// Gives `cmd` the emulator's environment (endpoint, test credentials, region).
    pub fn env_for(&self, cmd: &mut Command) {
        self.env(cmd);
    }

    fn env(&self, cmd: &mut Command) {
        cmd.env("AWS_ENDPOINT_URL", &self.endpoint)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env("NO_COLOR", "1");
    }

    /// Runs the `mck` binary with the emulator's environment.
    pub fn mck(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.mck);
        cmd.args(args).stdin(Stdio::null());
        self.env(&mut cmd);
        cmd.output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", self.mck.display()))
    }

    /// Like [`Harness::mck`], with more environment variables (`MCK_LOG`).
    pub fn mck_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(&self.mck);
        cmd.args(args).stdin(Stdio::null());
        self.env(&mut cmd);
        cmd.envs(env.iter().copied());
        cmd.output()
            .unwrap_or_else(|e| panic!("failed to run {}: {e}", self.mck.display()))
    }

    /// Runs `mck` on a pseudo-terminal (util-linux `script`), typing `input` at its prompt.
    pub fn mck_on_tty(&self, args: &[&str], input: &str) -> Output {
        use std::io::Write as _;
        let command_line = std::iter::once(self.mck.to_str().expect("utf-8 path"))
            .chain(args.iter().copied())
            .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
            .collect::<Vec<_>>()
            .join(" ");
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &command_line, "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        self.env(&mut cmd);
        let mut child = cmd.spawn().expect("spawn script");
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(input.as_bytes())
            .expect("type the answer");
        child.wait_with_output().expect("script finishes")
    }

    /// Runs a boto3 script from `tests/py` and parses its JSON output.
    pub fn python(&self, script: &str, args: &[&str]) -> Value {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("py")
            .join(script);
        let mut cmd = Command::new(self.venv.join("bin/python"));
        cmd.arg(&path).args(args);
        self.env(&mut cmd);
        let out = cmd.output().expect("run python");
        assert!(
            out.status.success(),
            "{script} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("script prints JSON")
    }

    /// Runs the AWS CLI (text output).
    pub fn aws(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(self.venv.join("bin/aws"));
        // Explicit: the CLI's RDS commands replace an endpoint from `AWS_ENDPOINT_URL` with
        // their default one (an `update_endpoint_url` customisation).
        cmd.args(args)
            .args(["--output", "text", "--endpoint-url", &self.endpoint]);
        self.env(&mut cmd);
        let out = cmd.output().expect("run aws");
        assert!(
            out.status.success(),
            "aws {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }
}

/// A stack in a private stacks directory.
#[derive(Debug)]
pub struct TestStack {
    pub harness: Harness,
    pub dir: PathBuf,
    pub name: String,
}

impl TestStack {
    /// [`desired_counts`] of this stack as its files say now (overlays merged).
    pub fn desired_counts(&self) -> Vec<(&'static str, usize)> {
        let stack = mck_core::stack::load(&self.dir, &self.name)
            .unwrap_or_else(|err| panic!("stack {} does not load: {err}", self.name));
        counts_of(&stack)
    }

    fn args<'a>(&'a self, command: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec![
            command,
            "--stack",
            &self.name,
            "--stacks-dir",
            self.dir.to_str().expect("utf-8 path"),
        ];
        args.extend_from_slice(extra);
        args
    }

    /// Like [`TestStack::mck`], on a terminal, answering `input` to the prompt.
    pub fn mck_on_tty(&self, command: &str, extra: &[&str], input: &str) -> Output {
        self.harness.mck_on_tty(&self.args(command, extra), input)
    }

    /// `mck <command> --stack <name> --stacks-dir <dir> <extra>`.
    pub fn mck(&self, command: &str, extra: &[&str]) -> Output {
        self.harness.mck(&self.args(command, extra))
    }

    /// Like [`TestStack::mck`], with more environment variables (`MCK_LOG`).
    pub fn mck_env(&self, command: &str, extra: &[&str], env: &[(&str, &str)]) -> Output {
        self.harness.mck_env(&self.args(command, extra), env)
    }

    /// Like [`TestStack::mck`], but running in the background with stderr piped.
    pub fn spawn(&self, command: &str, extra: &[&str]) -> Child {
        let mut cmd = Command::new(&self.harness.mck);
        cmd.args(self.args(command, extra))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        self.harness.env(&mut cmd);
        cmd.spawn().expect("spawn mck")
    }

    /// The stack as boto3 sees it.
    pub fn inventory(&self) -> Value {
        self.harness.python("inventory.py", &[&self.name])
    }

    /// Overwrites the stack file.
    pub fn write(&self, yaml: &str) {
        std::fs::write(self.dir.join(format!("{}.yaml", self.name)), yaml).expect("write stack");
    }
}

impl Drop for TestStack {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// stdout and stderr of a finished command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the command exited with `code`.
#[track_caller]
pub fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
}

/// Tests talk to the local emulator only: an endpoint that is not loopback is refused, so no
/// test can reach a real AWS account by a stray environment variable.
#[track_caller]
pub fn assert_loopback(endpoint: &str) {
    let host = endpoint
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(['/', '?']).next())
        .map(|authority| match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
            _ => authority,
        })
        .unwrap_or("");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    assert!(
        loopback,
        "refusing endpoint {endpoint}: tests run against the local emulator on loopback only"
    );
}

#[cfg(test)]
mod tests {
    use super::assert_loopback;

    #[test]
    fn only_loopback_endpoints_are_accepted() {
        assert_loopback("http://127.0.0.1:5000");
        assert_loopback("http://localhost:5000");
        assert_loopback("http://[::1]:5000/");
        for bad in [
            "https://ec2.us-east-1.amazonaws.com",
            // An address of the IPv6 documentation range (RFC 3849): refused before any
            // request, never contacted.
            "http://[2001:db8::5]:5000",
            "http://127.0.0.1.evil.example:5000",
        ] {
            assert!(
                std::panic::catch_unwind(|| assert_loopback(bad)).is_err(),
                "{bad}"
            );
        }
    }
}
