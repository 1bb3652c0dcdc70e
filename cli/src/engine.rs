//! The query engine for the CLI: an in-process DataFusion context with a bounded memory pool,
//! so a query too big for the machine fails with a clear error instead of exhausting it
//! (DESIGN.md "Known traps").

use std::future::Future;

use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext};

/// Default memory budget of the query engine, in MiB.
pub(crate) const DEFAULT_MEMORY_MB: usize = 2048;

/// A local DataFusion context using every core within `memory_mb`.
pub(crate) fn local_context(memory_mb: usize) -> anyhow::Result<SessionContext> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(memory_mb.max(64) * 1024 * 1024, 1.0)
        .build_arc()?;
    let config = SessionConfig::new().with_information_schema(false);
    Ok(SessionContext::new_with_config_rt(config, runtime))
}

/// Runs `f` with a local context on a Tokio runtime.
pub(crate) fn block_on<F, Fut, T, E>(memory_mb: usize, f: F) -> anyhow::Result<T>
where
    F: FnOnce(SessionContext) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let ctx = local_context(memory_mb)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(f(ctx))?)
}
