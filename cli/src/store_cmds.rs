//! `lockstep store compact`: the event store's small files (many small ingests, uploads)
//! merged into large sorted ones; ingests also do it on their own past
//! `ingest::AUTO_COMPACT_SMALL_FILES` small files.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};

use crate::output;

/// `lockstep store …`.
#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Merge the small event files into large sorted ones (queries read fewer files).
    Compact(CompactArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CompactArgs {
    /// The data folder.
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
}

pub(crate) fn store(command: StoreCommand) -> anyhow::Result<ExitCode> {
    let StoreCommand::Compact(args) = command;
    let summary = ingest::compact(&args.data)
        .with_context(|| format!("compacting {}", output::path(&args.data)))?;
    let text = if args.json {
        serde_json::to_string_pretty(&summary)? + "\n"
    } else if summary.files_merged == 0 {
        format!(
            "nothing to compact: {} file(s), fewer than two of them small ({})\n",
            summary.files_before,
            output::path(&args.data)
        )
    } else {
        format!(
            "merged {} small files ({} rows) into {}: the store has {} files instead of {}\n",
            summary.files_merged,
            summary.rows_merged,
            summary.files_merged + summary.files_after - summary.files_before,
            summary.files_after,
            summary.files_before,
        )
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}
