//! `lockstep collect`: keeps watched folders ingested (a WEF collector's export share, a
//! SIEM drop folder) until stopped; `--status` shows where each watched file stands.
//! The work is `ingest::collect::Collector`; this is the loop and the printing.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::bail;
use clap::{Args, ValueEnum};

use crate::output;

#[derive(Debug, Args)]
pub(crate) struct CollectArgs {
    /// The data folder.
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
    /// A folder or file to keep ingested (repeatable).
    #[arg(long, value_name = "PATH")]
    watch: Vec<PathBuf>,
    /// Seconds between passes.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    interval: u64,
    /// One pass, reading EVTX logs at once instead of waiting for them to settle, then exit.
    #[arg(long)]
    once: bool,
    /// Show where each watched file stands (from the running collector's last pass).
    #[arg(long, conflicts_with_all = ["watch", "once"])]
    status: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

pub(crate) fn run(args: CollectArgs) -> anyhow::Result<ExitCode> {
    if args.status {
        return status(&args);
    }
    if args.watch.is_empty() {
        bail!("nothing to watch: give --watch PATH (a folder or a file; repeatable)");
    }
    let mut collector = ingest::collect::Collector::new(&args.data, &args.watch);
    collector.no_settling = args.once;
    loop {
        let pass = collector.pass();
        if let Some(e) = &pass.error {
            tracing::warn!("collecting: {e}; trying again in {} s", args.interval);
        }
        for missing in &pass.missing {
            tracing::warn!("{missing} is not there now; still watching it");
        }
        if !pass.files_read.is_empty() || args.once {
            output::print(&format!(
                "read {} file(s): {} new rows, {} duplicates; {} watched, {} settling\n",
                pass.files_read.len(),
                pass.rows_new,
                pass.rows_duplicate,
                pass.files_watched,
                pass.settling.len()
            ))?;
        }
        if args.once {
            return Ok(ExitCode::SUCCESS);
        }
        collector.wait(Duration::from_secs(args.interval.max(1)));
    }
}

fn status(args: &CollectArgs) -> anyhow::Result<ExitCode> {
    let Some(status) = ingest::collect::read_status(&args.data) else {
        bail!(
            "no collector has run on {} (`lockstep collect --watch PATH`)",
            output::path(&args.data)
        );
    };
    if args.format == Format::Json {
        output::print(&(serde_json::to_string_pretty(&status)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let mut t = String::new();
    let _ = writeln!(
        t,
        "collector (pid {}): last pass {} s ago, {} new rows; watching {}",
        status.pid,
        now.saturating_sub(status.updated_at),
        status.last_pass_rows_new,
        status.watch.join(", ")
    );
    if let Some(e) = &status.last_error {
        let _ = writeln!(t, "  last error: {}", output::escape_controls(e));
    }
    for missing in &status.missing {
        let _ = writeln!(t, "  not there now: {missing}");
    }
    for file in &status.files {
        let state = if file.behind == 0 {
            "caught up".to_owned()
        } else {
            format!("{} behind, for {} s", file.behind, file.lag_seconds)
        };
        let at = match file.last_record_id {
            Some(id) => format!("record {id}"),
            None => format!("byte {}", file.offset),
        };
        let _ = writeln!(
            t,
            "  {}  {at}  {state}",
            output::escape_controls(&file.path)
        );
    }
    output::print(&t)?;
    Ok(ExitCode::SUCCESS)
}
