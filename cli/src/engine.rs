//! The query engine for the CLI: `--engine` (local DataFusion with a bounded memory pool, or
//! a Ballista cluster), and the Tokio runtime the questions run on.

use std::future::Future;

use clap::Args;

/// Where queries run, and within how much memory.
#[derive(Debug, Clone, Args)]
pub(crate) struct EngineArgs {
    /// Where queries run: `local` (in this process) or `ballista://HOST:PORT`, a Ballista
    /// scheduler whose executors see the data folder at the same path (a build with
    /// `--features ballista`; docs/scaling-out.md).
    #[arg(
        long,
        env = "LOCKSTEP_ENGINE",
        default_value = "local",
        value_name = "ENGINE"
    )]
    pub(crate) engine: query::Engine,
    /// Memory the local query engine may use, in MiB (all running queries together).
    #[arg(long, env = "LOCKSTEP_MEMORY_MB", default_value_t = query::DEFAULT_MEMORY_MB)]
    pub(crate) memory_mb: usize,
}

/// Runs `work` to completion on a multi-threaded Tokio runtime.
pub(crate) fn block_on<T, E>(work: impl Future<Output = Result<T, E>>) -> anyhow::Result<T>
where
    E: std::error::Error + Send + Sync + 'static,
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(work)?)
}
