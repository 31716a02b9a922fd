//! `mck`: the MageCloudKit provisioning engine's command-line tool. Glue only: arguments are
//! resolved into a config, then mck-core does the work through the AWS provider.

mod args;
mod commands;
mod ui;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            ui::error(&format!("failed to start the async runtime: {err}"));
            return ExitCode::from(1);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    // Do not wait for in-flight SDK connections to wind down.
    runtime.shutdown_background();
    ExitCode::from(code)
}

/// Logs (not UI) go to stderr, filtered by `MCK_LOG` (e.g. `MCK_LOG=mck_aws=debug`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("MCK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .init();
}
