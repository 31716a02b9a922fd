//! The library entry point: [`Engine`] ties a provider to the plan and apply operations.

use std::path::Path;
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::exec::{self, CancelToken, ExecConfig, ExecEvent, Summary};
use crate::graph::{DesiredGraph, GraphError};
use crate::lock::{LeaseTiming, LockError, LockGuard, LockHolder, StackLock};
use crate::model::LiveRelease;
use crate::plan::{self, Plan};
use crate::provider::{Observed, Provider, ProviderError, Reader, resolve_cloud_refs};
use crate::stack::{Override, Stack, StackError};

/// Why a stack could not be loaded for a run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The files or the overrides are not a valid stack (every problem, located).
    #[error("{0}")]
    Stack(#[from] StackError),
    /// The stack lowers to resources that do not form a valid graph.
    #[error("{0}")]
    Graph(#[from] GraphError),
    /// The release in effect could not be read.
    #[error("failed to read the release in effect: {0}")]
    Read(ProviderError),
}

/// A stack loaded for a run: what [`Engine::load`] and [`keep_live_release`] give.
#[derive(Debug, Clone)]
pub struct LoadedStack {
    /// The stack, overrides merged.
    pub stack: Stack,
    /// Its desired graph.
    pub desired: Arc<DesiredGraph>,
    /// The release recorded after the last successful `up` that is kept in effect (the
    /// command line set no `release.*` and the files still say what it was made over).
    pub kept_release: Option<LiveRelease>,
}

/// Plans and applies stacks through one provider.
#[derive(Debug, Clone)]
pub struct Engine {
    provider: Arc<dyn Provider>,
    config: ExecConfig,
    lock: Option<Arc<dyn StackLock>>,
}

impl Engine {
    /// An engine on `provider` with `config`.
    pub fn new(provider: Arc<dyn Provider>, config: ExecConfig) -> Engine {
        Engine {
            provider,
            config,
            lock: None,
        }
    }

    /// The same engine, locking stacks in `lock` ([`Engine::lock`]).
    pub fn with_lock(mut self, lock: Arc<dyn StackLock>) -> Engine {
        self.lock = Some(lock);
        self
    }

    /// Takes the stack's lock for `holder` (for `up`, `down`, a release): `Ok(None)` when the
    /// engine has no lock store. Renewed until the guard is released; a holding that
    /// `is_stale` says is gone is taken over. Losing the lock cancels `cancel`.
    pub async fn lock(
        &self,
        stack: &str,
        holder: LockHolder,
        is_stale: &(dyn Fn(&LockHolder) -> bool + Send + Sync),
        cancel: CancelToken,
    ) -> Result<Option<LockGuard>, LockError> {
        let Some(store) = &self.lock else {
            return Ok(None);
        };
        LockGuard::acquire(
            store.clone(),
            stack,
            holder,
            LeaseTiming::default(),
            is_stale,
            cancel,
        )
        .await
        .map(Some)
    }

    /// The run settings it applies with.
    pub fn config(&self) -> &ExecConfig {
        &self.config
    }

    /// The provider it plans and applies with.
    pub fn provider(&self) -> &Arc<dyn Provider> {
        &self.provider
    }

    /// Loads stack `name` from `dir` as every command of the CLI does: the files, then
    /// `overrides` (`--set PATH=VALUE`) over them, validated and lowered, with the stack's
    /// `drift.ignore` entries checked against its resources. No cloud call.
    pub fn load(dir: &Path, name: &str, overrides: &[Override]) -> Result<LoadedStack, LoadError> {
        Engine::loaded(crate::stack::load_with(dir, name, overrides)?)
    }

    /// Loads the preview `name` of `preview.from` ([`crate::stack::load_preview`]) as
    /// [`Engine::load`] loads a stack: validated, lowered, its `drift.ignore` checked.
    pub fn load_preview(
        dir: &Path,
        name: &str,
        preview: &crate::stack::PreviewOf,
        overrides: &[Override],
    ) -> Result<LoadedStack, LoadError> {
        Engine::loaded(crate::stack::load_preview(dir, name, preview, overrides)?)
    }

    /// A loaded stack, lowered and its `drift.ignore` entries checked.
    pub fn loaded(stack: Stack) -> Result<LoadedStack, LoadError> {
        let desired = Engine::desired(&stack)?;
        let diagnostics = crate::drift::check_suppressions(&stack, &desired);
        if !diagnostics.is_empty() {
            return Err(StackError { diagnostics }.into());
        }
        Ok(LoadedStack {
            stack,
            desired,
            kept_release: None,
        })
    }

    /// Lowers a loaded stack to its desired graph (pure; no cloud call).
    pub fn desired(stack: &Stack) -> Result<Arc<DesiredGraph>, GraphError> {
        crate::lower::lower(stack).map(Arc::new)
    }

    /// Reads the stack's live resources, references resolved to logical ids.
    pub async fn read(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
        let mut observed = self.read_all(stack).await?;
        resolve_cloud_refs(&mut observed);
        Ok(observed)
    }

    /// Diffs desired against live state.
    pub async fn plan(&self, desired: Arc<DesiredGraph>) -> Result<Plan, ProviderError> {
        let observed = self.read_all(desired.stack()).await?;
        Ok(plan::diff(desired, observed))
    }

    /// The provider's read, retried like any other call (see [`read_with_retries`]).
    async fn read_all(&self, stack: &str) -> Result<Vec<Observed>, ProviderError> {
        read_with_retries_using(self.provider.as_ref(), stack, &self.config.retry).await
    }

    /// A plan that deletes every live resource of the stack.
    pub async fn plan_destroy(&self, desired: &DesiredGraph) -> Result<Plan, ProviderError> {
        self.plan(Arc::new(desired.emptied())).await
    }

    /// Carries out a plan; progress goes to `events`.
    pub async fn apply(
        &self,
        plan: &Plan,
        events: mpsc::UnboundedSender<ExecEvent>,
        cancel: CancelToken,
    ) -> Summary {
        exec::apply(plan, self.provider.clone(), &self.config, events, cancel).await
    }
}

/// Keeps the release in effect, as `plan`, `up`, `drift`, `releases` and `rollback` do: when
/// `loaded` was loaded with `overrides` that set no `release.*` and its files still say what the
/// live release (recorded after the last successful `up`) was made over, the stack is loaded
/// again with the live `release.tag` and `release.revision` (docs/releases.md). One read.
pub async fn keep_live_release(
    reader: &dyn Reader,
    loaded: LoadedStack,
    overrides: &[Override],
) -> Result<LoadedStack, LoadError> {
    let Some(live) = reader
        .live_release(&loaded.stack.name)
        .await
        .map_err(LoadError::Read)?
    else {
        return Ok(loaded);
    };
    let extra = crate::stack::live_release_overrides(&loaded.stack.file_release, overrides, &live);
    if extra.is_empty() {
        return Ok(loaded);
    }
    let mut overrides = overrides.to_vec();
    overrides.extend(extra);
    let dir = loaded
        .stack
        .files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let reloaded = match &loaded.stack.preview {
        Some(preview) => Engine::load_preview(&dir, &loaded.stack.name, preview, &overrides)?,
        None => Engine::load(&dir, &loaded.stack.name, &overrides)?,
    };
    Ok(LoadedStack {
        kept_release: Some(live),
        ..reloaded
    })
}

pub use crate::read::read_with_retries;
use crate::read::read_with_retries_using;
