//! lockstep's questions as DataFusion SQL over the Parquet event store.
//!
//! [`Session`] is the way in (the CLI and the API use nothing else): a store, the inventory
//! that applies and the engine, and one method per question. Underneath, every query
//! function takes a `&SessionContext` and never builds one, so the same code runs on an
//! in-process context (the default) or a distributed one.
//!
//! - [`app`]: what an app is, its stable `app_id` and its label.
//! - [`Inventory`]: business groups from `inventory.csv`.
//! - [`report::blocked_apps_by_group`]: which apps would be blocked, per group.
//! - [`suggest::suggest_rules`]: the rules that would let them run, per group.
//! - [`simulate::simulate`]: what a candidate policy would still / newly block.
//! - [`readiness::readiness`]: per group and collection, ready to enforce or not, and why.

pub mod app;
mod columns;
mod engine;
mod error;
pub mod hosts;
pub mod inventory;
pub mod monitor;
pub mod readiness;
pub mod report;
mod rows;
pub mod session;
pub mod simulate;
pub mod suggest;
mod time;
pub mod timeline;
pub mod transition;
pub mod versions;
pub mod whatif;

use datafusion::arrow::datatypes::{DataType, Schema};
use datafusion::prelude::{ParquetReadOptions, SessionContext};

pub use engine::{BALLISTA_DEFAULT_PORT, Engine};
pub use error::{Error, Result};
pub use inventory::Inventory;
pub use rows::SUMMARY;
pub use schema::{Collection, Outcome, Store};
pub use session::{Candidate, DEFAULT_MEMORY_MB, DecideRequest, DecisionView, Session};
pub use time::{Window, parse_time_bound};

/// The table name the queries read.
pub const EVENTS: &str = "events";

/// An in-process DataFusion context using every core within `memory_mb` MiB: a query too big
/// for the budget fails with a clear error instead of exhausting the machine (docs/architecture.md
/// "Known traps").
///
/// It has no scratch folder: a table lockstep computes itself (a what-if's judged
/// executions) that does not fit fails the question. [`Session`]'s contexts have one.
pub fn local_context(memory_mb: usize) -> Result<SessionContext> {
    engine::local_context(memory_mb, None)
}

/// Registers the committed files of `store` as the `events` table (an empty table when the
/// store has none yet), and their summaries as the [`rows::SUMMARY`] table when every file
/// has one (a store written before the summary has them after its next ingest). Returns
/// the number of committed rows.
pub async fn register_store(ctx: &SessionContext, store: &Store) -> Result<u64> {
    let manifest = store.read_manifest()?;
    let events: Vec<&str> = manifest.files.iter().map(|f| f.path.as_str()).collect();
    register_files(ctx, store, EVENTS, schema::event_schema(), &events).await?;
    if ctx.table_exist(rows::SUMMARY)? {
        ctx.deregister_table(rows::SUMMARY)?;
    }
    if let Some(summaries) = manifest.summaries() {
        register_files(
            ctx,
            store,
            rows::SUMMARY,
            schema::summary_schema(),
            &summaries,
        )
        .await?;
    }
    Ok(manifest.rows())
}

/// Registers the Parquet files `relative` (to the data folder) as table `name`.
async fn register_files(
    ctx: &SessionContext,
    store: &Store,
    name: &str,
    schema: datafusion::arrow::datatypes::SchemaRef,
    relative: &[&str],
) -> Result<()> {
    if relative.is_empty() {
        return engine::register_batches(ctx, name, schema, vec![]).await;
    }
    if ctx.table_exist(name)? {
        ctx.deregister_table(name)?;
    }
    // Absolute paths: a distributed engine's executors do not share our working folder.
    let paths: Vec<String> = relative
        .iter()
        .map(|f| {
            let path = store.resolve(f);
            std::path::absolute(&path)
                .map(|p| p.display().to_string())
                .map_err(|e| Error::Io { path, source: e })
        })
        .collect::<Result<_>>()?;
    // Text columns are read as Utf8View (what DataFusion reads Parquet text as by default):
    // grouping and joining on the many text columns of the app queries is markedly faster
    // than with Utf8 (10 M events: see docs/performance.md). Not on a distributed engine:
    // a batch sliced from a larger view array is sent with all of that array's text buffers,
    // so results and shuffles grew to gigabytes (Ballista, 10 M events: a simulate's
    // 824 k distinct identities took over 3 GB in lockstep before the fetch was stopped).
    let as_view = !engine::is_distributed(ctx);
    let view_schema = Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Utf8 if as_view => f.as_ref().clone().with_data_type(DataType::Utf8View),
                _ => f.as_ref().clone(),
            })
            .collect::<Vec<_>>(),
    );
    let options = ParquetReadOptions::default().schema(&view_schema);
    let frame = ctx.read_parquet(paths, options).await?;
    ctx.register_table(name, frame.into_view())?;
    Ok(())
}
