//! The `mck` binary where it needs no AWS: stack validation before any call, `graph`,
//! `validate`. Runs under a plain `cargo test`; what needs the emulator is in `tests/e2e`.

mod install;
mod offline;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The shipped stacks directory.
fn shipped_stacks() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks")
}

/// A private stacks directory, removed on drop.
struct StacksDir(PathBuf);

impl StacksDir {
    /// A copy of the shipped `base.yaml`, and `dev.yaml` renamed to `<name>.yaml`.
    fn dev_as(name: &str) -> StacksDir {
        let dir = std::env::temp_dir().join(format!("mck-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create temp stacks dir");
        let shipped = shipped_stacks();
        std::fs::copy(shipped.join("base.yaml"), dir.join("base.yaml")).expect("copy base.yaml");
        let dev = std::fs::read_to_string(shipped.join("dev.yaml")).expect("read dev.yaml");
        std::fs::write(
            dir.join(format!("{name}.yaml")),
            dev.replace("stack: dev", &format!("stack: {name}")),
        )
        .expect("write stack file");
        StacksDir(dir)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for StacksDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `mck` with test credentials and an endpoint nothing listens on: a command that reached
/// for AWS would fail with a connection error, never by chance succeed.
fn mck(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_mck"))
        .args(args)
        .stdin(Stdio::null())
        .env("AWS_ENDPOINT_URL", UNREACHABLE)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("NO_COLOR", "1")
        .output()
        .expect("run mck")
}

/// Port 9 (discard) on loopback: nothing answers there.
const UNREACHABLE: &str = "http://127.0.0.1:9";

/// stdout and stderr of a finished command, for assertion messages.
fn text(out: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Asserts the command exited with `code`.
#[track_caller]
fn assert_exit(out: &Output, code: i32) {
    assert_eq!(out.status.code(), Some(code), "{}", text(out));
}
