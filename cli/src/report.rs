//! `lockstep report`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use query::Collection;
use query::report::{OutcomeFilter, Report, ReportOptions};

use crate::output;
use crate::store_args::StoreArgs;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

/// Apps per group the table shows unless `--top` says otherwise.
const TABLE_TOP: usize = 20;

/// Raw arguments of `lockstep report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// EVTX files or folders to ingest first (idempotent); a folder's inventory.csv is used
    /// when --inventory is not given.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    store: StoreArgs,
    /// Only this rule collection (repeatable).
    #[arg(long = "collection", value_name = "C", value_enum, ignore_case = true)]
    collections: Vec<Collection>,
    /// audit: would be blocked if enforced (default); blocked: already blocked; all: both.
    #[arg(long, value_enum, default_value_t)]
    outcome: OutcomeFilter,
    /// table for people; json and csv carry every app and field.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// At most N apps per group (the table shows 20 unless set).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
}

pub(crate) fn run(args: ReportArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    if !args.paths.is_empty() {
        ingest_first(&args.paths, &args.store.base.data, quiet)?;
        if args.store.base.inventory.is_none()
            && let Some(said) = adopt_inventory(&args.paths, &args.store.base.data)?
            && !quiet
        {
            eprintln!("{said}");
        }
    }
    let session = args.store.session(&args.paths)?;
    let table_top = matches!(args.format, Format::Table).then_some(TABLE_TOP);
    let opts = ReportOptions {
        window: args.store.window()?,
        groups: args.store.checked_groups(&session)?,
        collections: args.collections.clone(),
        outcome: args.outcome,
        include_noise: args.store.include_noise,
        top: args.top.or(table_top),
    };
    let report = crate::engine::block_on(session.report(&opts))
        .with_context(|| format!("reporting on {}", output::path(&args.store.base.data)))?;
    if session.committed_rows()? == 0 {
        eprintln!(
            "the store at {} is empty: ingest EVTX files first (lockstep ingest PATH)",
            output::path(&args.store.base.data)
        );
    } else if report.is_empty() {
        eprintln!("no matching events in the window");
    }
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Csv => to_csv(&report),
        Format::Table => to_table(&report),
    };
    output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

/// Ingests `paths` into `data` before a question, saying what happened on stderr.
pub(crate) fn ingest_first(paths: &[PathBuf], data: &Path, quiet: bool) -> anyhow::Result<()> {
    let opts = ingest::Options {
        data_dir: data.to_owned(),
        paths: paths.to_vec(),
        strict: false,
        threads: 0,
    };
    let summary = ingest::ingest(&opts, &ingest::Progress::default())?;
    // Through the log, not plain lines: `serve --log-format json` keeps stderr all JSON,
    // and -q keeps the warnings only.
    for damage in &summary.damaged {
        tracing::warn!("damaged {}", output::escape_controls(&damage.to_string()));
    }
    for skipped in &summary.skipped_inputs {
        tracing::warn!(
            "skipped {}: {}",
            output::path(&skipped.path),
            output::escape_controls(&skipped.reason)
        );
    }
    if !quiet {
        tracing::info!(
            "ingested {} files: {} new events, {} already stored ({})",
            summary.files_read,
            summary.rows_new,
            summary.rows_duplicate,
            output::path(data)
        );
    }
    Ok(())
}

/// Keeps the `inventory.csv` of the one folder ingested as the data folder's inventory
/// (`DATA/inventory.csv`, which every later command and `lockstep serve` use), unless the
/// data folder has one already. A copy: `PUT /api/v1/inventory` must never rewrite the
/// user's input folder.
/// Returns the file kept, if one was.
pub(crate) fn adopt_inventory(paths: &[PathBuf], data: &Path) -> anyhow::Result<Option<String>> {
    let kept = data.join(query::session::DATA_INVENTORY);
    let Some(found) = query::session::inputs_inventory(paths) else {
        return Ok(None);
    };
    if kept.exists() {
        return Ok(None);
    }
    query::Inventory::from_path(&found)?;
    std::fs::copy(&found, &kept).with_context(|| {
        format!(
            "copying {} to {}",
            output::path(&found),
            output::path(&kept)
        )
    })?;
    Ok(Some(format!(
        "kept {} as the data folder's inventory ({})",
        output::path(&found),
        output::path(&kept)
    )))
}

/// `text` cut to `width` characters, with `…` where it was cut.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() > width {
        format!("{}…", text.chars().take(width - 1).collect::<String>())
    } else {
        text.to_owned()
    }
}

fn to_table(report: &Report) -> String {
    let mut out = String::new();
    for g in &report.groups {
        let _ = writeln!(
            out,
            "{}: {} hosts in inventory, {} reporting ({} only 8001), {} audit events, {} noise events left out",
            g.group,
            g.hosts_in_inventory,
            g.hosts_reporting,
            g.hosts_policy_only,
            g.audit_events,
            g.noise_events
        );
        if g.apps.is_empty() {
            let _ = writeln!(out, "  nothing would be blocked\n");
            continue;
        }
        let _ = writeln!(
            out,
            "  {:>7} {:>5} {:>5}  {:<6} {:<16} {:<60} {:<24} LAST SEEN",
            "EVENTS", "HOSTS", "USERS", "COLL", "APP ID", "APP", "VERSIONS"
        );
        for app in &g.apps {
            let versions = match (&app.version_min, &app.version_max) {
                (Some(a), Some(b)) if a != b => format!("{a} - {b}"),
                (Some(a), _) => a.clone(),
                _ => String::new(),
            };
            let last = app
                .last_seen
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            let outcome = app.outcome.map(|o| format!(" [{o}]")).unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>7} {:>5} {:>5}  {:<6} {:<16} {:<60} {:<24} {last}{outcome}",
                app.events,
                app.hosts,
                app.users,
                app.collection.map_or("", Collection::as_str),
                app.app_id,
                fit(&output::escape_controls(&app.label), 60),
                versions
            );
        }
        out.push('\n');
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn to_csv(report: &Report) -> String {
    let mut out = String::from(
        "group,app_id,label,outcome,collection,publisher,product,binary,file_hash,version_min,version_max,paths,path_count,events,hosts,users,first_seen,last_seen,users_seen\n",
    );
    for g in &report.groups {
        for a in &g.apps {
            let opt = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
            let time = |t: &Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .unwrap_or_default()
            };
            // `SID (DOMAIN\name)` for the first users, like the paths: `|` between them.
            let users_seen: Vec<String> = a.users_seen.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&g.group),
                a.app_id,
                csv_field(&a.label),
                a.outcome.map_or("", |o| o.as_str()),
                a.collection.map_or("", Collection::as_str),
                opt(&a.publisher),
                opt(&a.product),
                opt(&a.binary),
                opt(&a.file_hash),
                opt(&a.version_min),
                opt(&a.version_max),
                csv_field(&a.paths.join("|")),
                a.path_count,
                a.events,
                a.hosts,
                a.users,
                time(&a.first_seen),
                time(&a.last_seen),
                csv_field(&users_seen.join("|"))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_what_needs_it() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("plain"), "plain");
    }

    #[test]
    fn long_labels_are_cut_with_an_ellipsis() {
        assert_eq!(fit("abcdef", 4), "abc…");
        assert_eq!(fit("abc", 4), "abc");
    }
}
