//! `lockstep ingest`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::output;

/// Exit status when some input was skipped or damaged (the rest was stored).
pub(crate) const EXIT_PARTIAL: u8 = 3;

/// Raw arguments of `lockstep ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// EVTX files, folders (searched recursively) or globs; EVTX is recognised by content.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The data folder (the event store).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Any damaged or unreadable input stops the ingest before anything is stored.
    #[arg(long)]
    strict: bool,
    /// Parser threads (default: one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
}

pub(crate) fn run(args: IngestArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let opts = ingest::Options {
        data_dir: args.data.clone(),
        paths: args.paths.clone(),
        strict: args.strict,
        threads: args.threads,
    };
    let progress = ingest::Progress::default();
    let bar = progress_bar(quiet);
    let result = std::thread::scope(|scope| {
        let worker = scope.spawn(|| ingest::ingest(&opts, &progress));
        while !worker.is_finished() {
            let total = progress.bytes_total.load(Ordering::Relaxed);
            bar.set_length(total.max(1));
            bar.set_position(progress.bytes_done.load(Ordering::Relaxed));
            bar.set_message(format!(
                "{}/{} files, {} events",
                progress.files_done.load(Ordering::Relaxed),
                progress.files_total.load(Ordering::Relaxed),
                progress.records.load(Ordering::Relaxed)
            ));
            std::thread::sleep(Duration::from_millis(100));
        }
        worker.join().expect("ingest thread panicked")
    });
    bar.finish_and_clear();
    let summary = result.with_context(|| format!("ingesting into {}", output::path(&args.data)))?;
    match crate::report::adopt_inventory(&opts.paths, &args.data) {
        Ok(Some(said)) => eprintln!("{said}"),
        Ok(None) => {}
        // The events are stored; a bad inventory beside them is said, not fatal.
        Err(e) => eprintln!("{}", output::escape_controls(&format!("{e:#}"))),
    }
    // The rows are committed: whatever happens to the summary, the exit status says so.
    let printed = if args.json {
        match serde_json::to_string_pretty(&summary) {
            Ok(json) => output::print(&(json + "\n")),
            Err(e) => {
                eprintln!("the summary could not be written as JSON: {e}");
                Ok(())
            }
        }
    } else {
        output::print(&summary_text(&summary))
    };
    if let Err(e) = printed
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        eprintln!("the summary could not be printed: {e}");
    }
    Ok(if summary.is_partial() {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

/// The summary for people; skipped and damaged inputs go to stderr.
fn summary_text(s: &ingest::Summary) -> String {
    for skipped in &s.skipped_inputs {
        eprintln!(
            "skipped {}: {}",
            output::path(&skipped.path),
            skipped.reason
        );
    }
    for damage in &s.damaged {
        eprintln!("damaged {}", output::escape_controls(&damage.to_string()));
    }
    let events: u64 = s.applocker_events_by_id.values().sum();
    let mut text = String::new();
    // The forms are named once something else than plain EVTX was read.
    let forms = if s.files_by_form.keys().all(|f| f == "EVTX") {
        String::new()
    } else {
        let parts: Vec<String> = s
            .files_by_form
            .iter()
            .map(|(form, n)| format!("{n} {form}"))
            .collect();
        format!(", {}", parts.join(", "))
    };
    let _ = writeln!(
        text,
        "read {} files ({:.1} MB{forms}): {} records, {} AppLocker events, {} other records skipped",
        s.files_read,
        s.bytes_read as f64 / 1e6,
        s.records_read,
        events,
        s.other_records
    );
    for (id, n) in &s.applocker_events_by_id {
        let _ = writeln!(text, "  event {id}: {n}");
    }
    let _ = writeln!(
        text,
        "stored {} new rows, {} duplicates not stored; the store now holds {} rows ({})",
        s.rows_new,
        s.rows_duplicate,
        s.rows_in_store,
        output::path(&s.data_dir)
    );
    let _ = writeln!(
        text,
        "{:.1} s, {:.0} records/s",
        s.elapsed_seconds, s.records_per_second
    );
    if let Some(c) = &s.compacted {
        let _ = writeln!(
            text,
            "compacted {} small files ({} rows) into {}: the store has {} files",
            c.files_merged,
            c.rows_merged,
            c.files_merged + c.files_after - c.files_before,
            c.files_after
        );
    }
    if s.is_partial() {
        let _ = writeln!(
            text,
            "partial: {} input(s) skipped and {} damaged part(s) not read (listed above); everything else was stored",
            s.skipped_inputs.len(),
            s.damaged.len()
        );
    }
    text
}

fn progress_bar(quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(1);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}) {msg}",
    )
    .expect("valid template");
    bar.set_style(style);
    bar
}
