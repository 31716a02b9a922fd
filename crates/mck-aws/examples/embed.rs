//! A program that embeds mck: loads a stack, plans it against AWS and reports its drift, with
//! no CLI in between. Credentials and endpoint come from the standard AWS chain
//! (`AWS_ENDPOINT_URL` included, so it runs against the emulator as it is).
//!
//! `cargo run -p mck-aws --example embed -- STACKS_DIR STACK`
//!
//! Prints one line for the plan and one for the drift; exits like `mck drift` (0 in sync, 2
//! drift, 1 error). The end-to-end tests run it.

#![expect(clippy::print_stdout, reason = "an example program")]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use mck_aws::{AwsConfig, AwsProvider};
use mck_core::Engine;
use mck_core::drift::{self, DriftReport};
use mck_core::exec::ExecConfig;
use mck_core::provider::Provider;

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(dir), Some(name)) = (args.next(), args.next()) else {
        return Err("usage: embed STACKS_DIR STACK".into());
    };
    let stack = mck_core::stack::load(&PathBuf::from(dir), &name)?;
    let aws = AwsProvider::connect(&AwsConfig::default(), &stack.config.region).await;

    // Plan: what `mck plan` computes, as a typed value.
    let provider: Arc<dyn Provider> = Arc::new(aws.clone());
    let engine = Engine::new(provider, ExecConfig::default());
    let plan = engine.plan(Engine::desired(&stack)?).await?;
    let s = plan.summary();
    println!(
        "plan {}: {} to add, {} to change, {} to replace, {} to destroy, {} unchanged",
        plan.stack(),
        s.add,
        s.change,
        s.replace,
        s.destroy,
        s.unchanged
    );

    // Drift, on the read-only handle.
    let reader = aws.reader();
    let report = DriftReport::new(vec![
        drift::check(&reader, &stack, &drift::today_utc()).await,
    ]);
    let c = report.counts;
    println!(
        "drift {}: {} ({} checked, {} changed, {} missing, {} extra, {} unmanaged)",
        name,
        report.status.as_str(),
        c.checked,
        c.changed,
        c.missing,
        c.extra,
        c.unmanaged
    );
    Ok(ExitCode::from(report.exit_code()))
}
