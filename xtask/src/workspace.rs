//! What every command shares: the workspace it works on, running a command in it, and cargo.

use std::path::PathBuf;
use std::process::Command;

pub(crate) type Result<T> = std::result::Result<T, String>;

/// The workspace this run is for. `cargo run` sets `CARGO_MANIFEST_DIR` for the process, which
/// is right even when the binary came from a target directory another clone shares (cargo may
/// then reuse that clone's build); the compile-time value is the fallback.
pub(crate) fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    manifest_dir
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

pub(crate) fn run(cmd: &mut Command) -> Result<()> {
    let status = cmd
        .status()
        .map_err(|e| format!("failed to run {cmd:?}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed with {status}"))
    }
}

pub(crate) fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    cmd.current_dir(root());
    cmd
}
