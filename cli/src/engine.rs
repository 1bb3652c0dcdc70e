//! The query engine for the CLI: `--engine` (local DataFusion with a bounded memory pool, or
//! a Ballista cluster) on a Tokio runtime.

use std::future::Future;

use clap::Args;

/// Default memory budget of the local query engine, in MiB.
pub(crate) const DEFAULT_MEMORY_MB: usize = 2048;

/// Where queries run, and within how much memory.
#[derive(Debug, Clone, Args)]
pub(crate) struct EngineArgs {
    /// Where queries run: `local` (in this process) or `ballista://HOST:PORT`, a Ballista
    /// scheduler whose executors see the data folder at the same path (a build with
    /// `--features ballista`; README "Scaling out").
    #[arg(
        long,
        env = "LOCKSTEP_ENGINE",
        default_value = "local",
        value_name = "ENGINE"
    )]
    pub(crate) engine: query::Engine,
    /// Memory the local query engine may use, in MiB (all running queries together).
    #[arg(long, env = "LOCKSTEP_MEMORY_MB", default_value_t = DEFAULT_MEMORY_MB)]
    pub(crate) memory_mb: usize,
}

/// Runs `f` with a context of `engine` over `store` (registered first) on a Tokio runtime.
pub(crate) fn block_on<F, Fut, T, E>(
    engine: &EngineArgs,
    store: &query::Store,
    f: F,
) -> anyhow::Result<T>
where
    F: FnOnce(datafusion::prelude::SessionContext, u64) -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::error::Error + Send + Sync + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let ctx = engine.engine.context(engine.memory_mb, store).await?;
        let rows = query::register_store(&ctx, store).await?;
        Ok(f(ctx, rows).await?)
    })
}
