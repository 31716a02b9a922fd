//! Plans and applies the shipped dev stack against the in-memory FakeCloud, printing the plan,
//! the progress events and a second (empty) plan.
//!
//! `cargo run -p mck-core --features testing --example fake_cloud`

#![expect(clippy::print_stdout, reason = "an example program")]

use std::path::Path;
use std::sync::Arc;

use mck_core::Engine;
use mck_core::exec::{CancelToken, ExecConfig};
use mck_core::provider::Provider;
use mck_core::testing::FakeCloud;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let stacks = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stacks");
    let stack = mck_core::stack::load(&stacks, "dev")?;
    let provider: Arc<dyn Provider> = Arc::new(FakeCloud::new());
    let engine = Engine::new(provider, ExecConfig::default());
    let plan = engine.plan(Engine::desired(&stack)?).await?;
    println!("plan: {} to add", plan.summary().add);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let summary = engine.apply(&plan, tx, CancelToken::default()).await;
    while let Ok(event) = rx.try_recv() {
        println!("{}", serde_json::to_string(&event)?);
    }
    println!("success: {}", summary.is_success());
    print!(
        "{}",
        engine.plan(Engine::desired(&stack)?).await?.render_text()
    );
    Ok(())
}
