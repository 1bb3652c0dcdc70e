//! `lockstep report`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use query::report::{AppRow, OutcomeFilter, Report, ReportOptions};

use crate::engine;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Outcome {
    Audit,
    Blocked,
    All,
}

/// Raw arguments of `lockstep report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// EVTX files or folders to ingest first (idempotent); a folder's inventory.csv is used
    /// when --inventory is not given.
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// The data folder (the event store).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
    /// Business groups: CSV with `computer,group` (short names, FQDNs or globs); default: the
    /// inventory.csv of the one folder given, else DATA/inventory.csv when it exists.
    #[arg(long, value_name = "CSV")]
    inventory: Option<PathBuf>,
    /// Start of the window: a date (2026-10-05) or an RFC 3339 time.
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// End of the window: a date (that whole day included) or an RFC 3339 time (excluded).
    #[arg(long, value_name = "T")]
    until: Option<String>,
    /// Only this group (repeatable).
    #[arg(long = "group", value_name = "NAME")]
    groups: Vec<String>,
    /// Only this rule collection (repeatable): EXE, DLL, MSI, SCRIPT, APPX.
    #[arg(long = "collection", value_name = "C", value_parser = ["EXE", "DLL", "MSI", "SCRIPT", "APPX"], ignore_case = true)]
    collections: Vec<String>,
    /// audit: would be blocked if enforced (default); blocked: already blocked; all: both.
    #[arg(long, value_enum, default_value = "audit")]
    outcome: Outcome,
    /// Keep PowerShell's __PSSCRIPTPOLICYTEST_* probes (counted as noise otherwise).
    #[arg(long)]
    include_noise: bool,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// At most N apps per group (the table shows 20 unless set).
    #[arg(long, value_name = "N")]
    top: Option<usize>,
    #[command(flatten)]
    engine: engine::EngineArgs,
}

pub(crate) fn run(args: ReportArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    if !args.paths.is_empty() {
        ingest_first(&args.paths, &args.data, quiet)?;
    }
    let inventory_path = args
        .inventory
        .clone()
        .or_else(|| folder_inventory(&args.paths))
        .or_else(|| crate::store_args::data_inventory(&args.data));
    let inventory = match &inventory_path {
        Some(path) => query::Inventory::from_path(path)?,
        None => query::Inventory::default(),
    };
    let window = crate::store_args::window(args.since.as_deref(), args.until.as_deref())?;
    let table_top = matches!(args.format, Format::Table).then_some(20);
    let opts = ReportOptions {
        window,
        groups: args.groups.clone(),
        collections: args
            .collections
            .iter()
            .map(|c| c.to_ascii_uppercase())
            .collect(),
        outcome: match args.outcome {
            Outcome::Audit => OutcomeFilter::Audit,
            Outcome::Blocked => OutcomeFilter::Blocked,
            Outcome::All => OutcomeFilter::All,
        },
        include_noise: args.include_noise,
        top: args.top.or(table_top),
    };
    let store = query::Store::new(&args.data);
    let (report, rows) = engine::block_on(&args.engine, &store, |ctx, rows| async move {
        let report = query::report::blocked_apps_by_group(&ctx, &inventory, &opts).await?;
        Ok::<_, query::Error>((report, rows))
    })
    .with_context(|| format!("reporting on {}", args.data.display()))?;
    if rows == 0 {
        eprintln!(
            "the store at {} is empty: ingest EVTX files first (lockstep ingest PATH)",
            args.data.display()
        );
    } else if report.is_empty() {
        eprintln!("no matching events in the window");
    }
    if inventory_path.is_none() {
        eprintln!("no inventory given (--inventory CSV): every computer is in group `unassigned`");
    }
    let out = match args.format {
        Format::Json => serde_json::to_string_pretty(&report)? + "\n",
        Format::Csv => to_csv(&report),
        Format::Table => to_table(&report),
    };
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn ingest_first(paths: &[PathBuf], data: &Path, quiet: bool) -> anyhow::Result<()> {
    let opts = ingest::Options {
        data_dir: data.to_owned(),
        paths: paths.to_vec(),
        strict: false,
        threads: 0,
    };
    let summary = ingest::ingest(&opts, &ingest::Progress::default())?;
    for damage in &summary.damaged {
        eprintln!("damaged {damage}");
    }
    for skipped in &summary.skipped_inputs {
        eprintln!("skipped {}: {}", skipped.path.display(), skipped.reason);
    }
    if !quiet {
        eprintln!(
            "ingested {} files: {} new events, {} already stored ({})",
            summary.files_read,
            summary.rows_new,
            summary.rows_duplicate,
            data.display()
        );
    }
    Ok(())
}

/// `inventory.csv` inside the one folder given, as `lockstep generate` writes it.
pub(crate) fn folder_inventory(paths: &[PathBuf]) -> Option<PathBuf> {
    let found: Vec<PathBuf> = paths
        .iter()
        .map(|p| p.join("inventory.csv"))
        .filter(|p| p.is_file())
        .collect();
    (found.len() == 1).then(|| found[0].clone())
}

/// A short label for an app: binary and product for signed files, the path otherwise.
fn app_label(app: &AppRow) -> String {
    match (&app.publisher, &app.binary) {
        (Some(publisher), binary) => {
            let org = policy::suggest::short_publisher(publisher);
            let binary = binary.as_deref().filter(|b| !b.is_empty()).unwrap_or("*");
            let product = app
                .product
                .as_deref()
                .filter(|p| !p.is_empty())
                .unwrap_or("*");
            format!("{binary} ({product}; {org})")
        }
        (None, _) => {
            let path = app.paths.first().cloned().unwrap_or_default();
            match &app.file_hash {
                Some(hash) => format!("unsigned {path} [{}…]", &hash[..hash.len().min(12)]),
                None => format!("unsigned {path}"),
            }
        }
    }
}

/// `O=` (or `CN=`) of a subject DN.
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
            "  {:>7} {:>5} {:>5}  {:<6} {:<60} {:<24} LAST SEEN",
            "EVENTS", "HOSTS", "USERS", "COLL", "APP", "VERSIONS"
        );
        for app in &g.apps {
            let versions = match (&app.version_min, &app.version_max) {
                (Some(a), Some(b)) if a != b => format!("{a} - {b}"),
                (Some(a), _) => a.clone(),
                _ => String::new(),
            };
            let mut label = app_label(app);
            if label.chars().count() > 60 {
                label = format!("{}…", label.chars().take(59).collect::<String>());
            }
            let last = app
                .last_seen
                .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default();
            let outcome = app
                .outcome
                .as_deref()
                .map(|o| format!(" [{o}]"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:>7} {:>5} {:>5}  {:<6} {:<60} {:<24} {last}{outcome}",
                app.events,
                app.hosts,
                app.users,
                app.collection.as_deref().unwrap_or(""),
                label,
                versions
            );
        }
        out.push('\n');
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn to_csv(report: &Report) -> String {
    let mut out = String::from(
        "group,outcome,collection,publisher,product,binary,file_hash,version_min,version_max,paths,path_count,events,hosts,users,first_seen,last_seen\n",
    );
    for g in &report.groups {
        for a in &g.apps {
            let opt = |v: &Option<String>| csv_field(v.as_deref().unwrap_or(""));
            let time = |t: &Option<chrono::DateTime<chrono::Utc>>| {
                t.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
                    .unwrap_or_default()
            };
            let _ = writeln!(
                out,
                "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&g.group),
                opt(&a.outcome),
                opt(&a.collection),
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
                time(&a.last_seen)
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
}
