//! Project automation: `cargo xtask <command>`.
//!
//! - `emulator start|stop|status`: moto server (pinned) in a git-ignored venv, on a free
//!   127.0.0.1 port; the endpoint is written to `.mck/emulator.json`; `stop` kills only its PID.
//! - `test`: everything CI runs: formatting and lints (`cargo fmt --check`, clippy with warnings
//!   denied), then unit, engine and end-to-end tests against a fresh emulator.
//! - `demo`: emulator + `mck up` of the dev stack + outputs + plan (no changes) + `mck down`.
//!
//! Uses only the standard library so it builds in seconds.
//!
//! This file parses the arguments and dispatches; `emulator`, `test`, `demo` and `bench` hold
//! the commands, `workspace` what they share (the workspace root, running a command, cargo).

#![expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "xtask is a command-line tool"
)]

mod bench;
mod demo;
mod emulator;
mod test;
mod workspace;

use std::process::ExitCode;

use bench::bench;
use demo::demo;
use emulator::{emulator_start, emulator_status, emulator_stop, install};
use test::test;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["emulator", "start"] => {
            emulator_start().map(|e| println!("emulator running at {}", e.endpoint))
        }
        ["emulator", "stop"] => emulator_stop(),
        ["emulator", "status"] => emulator_status(),
        ["emulator", "install"] => install().map(|_| ()),
        ["test", rest @ ..] => test(rest),
        ["demo"] => demo(),
        ["bench", rest @ ..] => bench(rest),
        _ => Err(USAGE.to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const USAGE: &str = "usage: cargo xtask <command>
  emulator start|stop|status|install   moto server on 127.0.0.1 (endpoint in .mck/emulator.json)
  test [-- cargo test args]            what CI runs: fmt --check, clippy, then all tests (unit, engine,
                                       end-to-end against a fresh emulator)
  demo                                 emulator + mck up (dev) + outputs + plan + down
  bench [--runs N] [--build]           benchmark figures (release builds); --build adds cold/warm build times";
