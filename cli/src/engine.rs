//! The query engine for the CLI: a local DataFusion context with a bounded memory pool
//! (`query::local_context`) on a Tokio runtime.

use std::future::Future;

/// Default memory budget of the query engine, in MiB.
pub(crate) const DEFAULT_MEMORY_MB: usize = 2048;

/// Runs `f` with a local context on a Tokio runtime.
pub(crate) fn block_on<F, Fut, T, E>(memory_mb: usize, f: F) -> anyhow::Result<T>
where
    F: FnOnce(datafusion::prelude::SessionContext) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let ctx = query::local_context(memory_mb)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(f(ctx))?)
}
