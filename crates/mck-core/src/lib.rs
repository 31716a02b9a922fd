//! # mck-core
//!
//! The MageCloudKit provisioning engine without any cloud SDK: stack files are parsed and
//! validated ([`stack`]), lowered to typed resources in a DAG ([`lower`], [`graph`]), diffed
//! against live state read through a [`provider::Provider`] ([`plan`]) and applied concurrently
//! in dependency order ([`exec`]). [`Engine`] is the entry point for programs that embed mck.
//!
//! ```no_run
//! # async fn run(provider: std::sync::Arc<dyn mck_core::provider::Provider>) -> Result<(), Box<dyn std::error::Error>> {
//! use mck_core::{Engine, exec::{CancelToken, ExecConfig}};
//! let stack = mck_core::stack::load(std::path::Path::new("stacks"), "dev")?;
//! let engine = Engine::new(provider, ExecConfig::default());
//! let plan = engine.plan(Engine::desired(&stack)?).await?;
//! print!("{}", plan.render_text());
//! let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
//! let summary = engine.apply(&plan, tx, CancelToken::default()).await;
//! assert!(summary.is_success());
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

pub mod drift;
pub mod engine;
#[cfg(test)]
mod engine_tests;
pub mod exec;
pub mod graph;
pub mod lock;
pub mod lower;
pub mod model;
pub mod plan;
pub mod preview;
pub mod provider;
pub mod read;
pub mod release;
pub mod rotation;
pub mod stack;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod time;

pub use engine::Engine;
pub use exec::{ExecEvent, Summary};
pub use plan::Plan;
pub use stack::Stack;
