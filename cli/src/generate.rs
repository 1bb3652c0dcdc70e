//! `lockstep generate`.

use std::fmt::Write as _;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDate;
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Raw arguments of `lockstep generate`.
#[derive(Debug, Args)]
pub(crate) struct GenerateArgs {
    /// Output folder (created; must be empty unless --force).
    #[arg(long)]
    out: PathBuf,
    /// Seed: the same options and seed give byte-identical files.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Number of computers.
    #[arg(long, default_value_t = 40)]
    hosts: usize,
    /// Number of business groups.
    #[arg(long, default_value_t = 5)]
    groups: usize,
    /// Days of audit-mode logging.
    #[arg(long, default_value_t = 21)]
    days: usize,
    /// AppLocker events in total (collector noise comes on top).
    #[arg(long, default_value_t = 20_000)]
    events: u64,
    /// Write N Windows Event Forwarding collector files (ForwardedEvents-N.evtx).
    #[arg(long, default_value_t = 0, value_name = "N")]
    forwarded: usize,
    /// With --forwarded: percentage of hosts enrolled in WEF; the rest get per-host files.
    #[arg(long, default_value_t = 100, value_name = "PERCENT")]
    wef_coverage: u8,
    /// First day of the window (YYYY-MM-DD, UTC).
    #[arg(long, default_value = "2026-10-05")]
    start: NaiveDate,
    /// Write into a non-empty output folder, replacing files of the same names.
    #[arg(long)]
    force: bool,
    /// From DAY (0-based) of the window on, GROUP's hosts enforce COLLECTION with the
    /// generator's candidate: what it allows keeps running, the apps blocked on purpose and
    /// the new apps and versions that appear after the flip log blocks (repeatable;
    /// `finance:EXE:7`; manifest.json "flips" lists them).
    #[arg(long, value_name = "GROUP:COLLECTION:DAY")]
    enforce: Vec<generate::Flip>,
    /// The export form: evtx (.evtx files), xml (event XML, one `<Event>` per line, as
    /// `wevtutil qe /f:xml` prints) or winlogbeat (NDJSON, one Winlogbeat document per line).
    #[arg(long, value_name = "FORM", default_value = "evtx")]
    format: generate::OutputFormat,
    /// With evtx: the N busiest hosts with logs of their own (not forwarded) write event
    /// XML and Winlogbeat NDJSON exports in turn instead (hosts no EVTX file holds).
    #[arg(long, value_name = "N", default_value_t = 0)]
    text_exports: usize,
}

impl From<GenerateArgs> for generate::Options {
    fn from(a: GenerateArgs) -> Self {
        generate::Options {
            seed: a.seed,
            hosts: a.hosts,
            groups: a.groups,
            days: a.days,
            events: a.events,
            forwarded: a.forwarded,
            wef_coverage: a.wef_coverage,
            start: a.start,
            force: a.force,
            enforce: a.enforce,
            format: a.format,
            text_exports: a.text_exports,
        }
    }
}

pub(crate) fn run(args: GenerateArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let out = args.out.clone();
    let opts: generate::Options = args.into();
    opts.validate()?;
    let progress = AtomicU64::new(0);
    let bar = progress_bar(opts.events, quiet);
    let summary = std::thread::scope(|scope| {
        let worker = scope.spawn(|| generate::generate(&opts, &out, &progress));
        while !worker.is_finished() {
            bar.set_position(progress.load(Ordering::Relaxed));
            std::thread::sleep(Duration::from_millis(100));
        }
        worker.join().expect("generator thread panicked")
    });
    bar.finish_and_clear();
    let summary = summary.with_context(|| format!("generating into {}", out.display()))?;
    let secs = summary.elapsed_seconds.max(1e-9);
    let records = summary.applocker_events + summary.noise_records;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "wrote {} files ({:.1} MB) for {} hosts in {} groups: {} AppLocker events + {} other records",
        summary.files.len(),
        summary.bytes as f64 / 1e6,
        summary.hosts.len(),
        opts.groups,
        summary.applocker_events,
        summary.noise_records,
    );
    for (id, n) in &summary.events_by_id {
        let _ = writeln!(text, "  event {id}: {n}");
    }
    for flip in &summary.flips {
        let keys = |apps: &[generate::ManifestApp]| {
            let keys: Vec<&str> = apps.iter().map(|a| a.key.as_str()).collect();
            if keys.is_empty() {
                "none".to_owned()
            } else {
                keys.join(", ")
            }
        };
        let _ = writeln!(
            text,
            "  {} enforces {} from {}: blocked on purpose {}; new apps {}; new versions {} (manifest.json \"flips\")",
            flip.group,
            flip.collection.as_str(),
            flip.date,
            keys(&flip.blocked_on_purpose),
            keys(&flip.new_apps),
            keys(&flip.new_versions),
        );
    }
    let _ = writeln!(
        text,
        "{:.1} s, {:.0} records/s, {:.1} MB/s; inventory: {}",
        secs,
        records as f64 / secs,
        summary.bytes as f64 / 1e6 / secs,
        crate::output::path(&out.join("inventory.csv"))
    );
    crate::output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn progress_bar(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::hidden());
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} events ({per_sec}, eta {eta})",
    )
    .expect("valid template");
    bar.set_style(style);
    bar
}
