//! `lockstep alerts set|show|clear`: where alerts on unexpected blocks go, kept in the
//! workspace so `lockstep serve` sends them without a flag (`serve --alert-webhook`
//! overrides), and the alerts kept so far with their delivery.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use workspace::Workspace;

use crate::output;

/// `lockstep alerts …`.
#[derive(Debug, Subcommand)]
pub(crate) enum AlertsCommand {
    /// Keep where alerts go (replaces what was kept).
    Set(SetArgs),
    /// Where alerts go, and every alert kept with its delivery.
    Show(ShowArgs),
    /// Forget where alerts go (the alerts kept stay).
    Clear(DataDir),
}

#[derive(Debug, Args)]
pub(crate) struct DataDir {
    /// The data folder (the event store and the workspace).
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct SetArgs {
    /// The http(s) URL alerts are POSTed to, e.g. a Teams or Slack incoming webhook.
    #[arg(long, value_name = "URL")]
    webhook: String,
    /// How often groups with a rollout record are looked at.
    #[arg(long, value_name = "SECONDS", default_value_t = api::AlertSettings::DEFAULT_INTERVAL_SECS)]
    interval: u64,
    /// A burst is more than this many unexpected blocks within --burst-hours.
    #[arg(long, value_name = "N", default_value_t = api::AlertSettings::DEFAULT_BURST_EVENTS)]
    burst_events: u64,
    /// The burst's period, in whole hours (blocks are counted per hour).
    #[arg(long, value_name = "HOURS", default_value_t = api::AlertSettings::DEFAULT_BURST_PERIOD.as_secs() / 3600)]
    burst_hours: u64,
    #[command(flatten)]
    dir: DataDir,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    dir: DataDir,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

pub(crate) fn alerts(command: AlertsCommand) -> anyhow::Result<ExitCode> {
    match command {
        AlertsCommand::Set(args) => set(args),
        AlertsCommand::Show(args) => show(args),
        AlertsCommand::Clear(dir) => {
            let cleared = Workspace::open(&dir.data)?.clear_alert_config()?;
            output::print(if cleared {
                "alerts: no webhook kept any more; `serve --alert-webhook` still sends them\n"
            } else {
                "alerts: no webhook was kept\n"
            })?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn set(args: SetArgs) -> anyhow::Result<ExitCode> {
    // Checked before anything is written: a URL that is not one, periods out of range.
    api::Webhook::parse(&args.webhook).map_err(|e| anyhow::anyhow!("--webhook: {e}"))?;
    if args.interval == 0 {
        bail!("--interval must be at least 1 second");
    }
    if args.burst_events == 0 {
        bail!("--burst-events must be at least 1");
    }
    if args.burst_hours == 0 || args.burst_hours > 7 * 24 {
        bail!(
            "--burst-hours must be between 1 and {} (a week), got {}",
            7 * 24,
            args.burst_hours
        );
    }
    let ws = Workspace::open(&args.dir.data)?;
    let kept = ws.set_alert_config(
        &args.webhook,
        args.interval,
        args.burst_events,
        args.burst_hours * 3600,
        &workspace::os_user(),
    )?;
    output::print(&format!(
        "alerts go to {} (every {} s: each new unexpected app, more than {} unexpected blocks in {} h); `lockstep serve` sends them\n",
        hidden_path(&kept.webhook),
        kept.interval_secs,
        kept.burst_events,
        kept.burst_period_secs / 3600
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let ws = Workspace::open(&args.dir.data)?;
    let config = ws.alert_config()?.map(|mut c| {
        // Teams and Slack webhook paths are secrets: never printed.
        c.webhook = hidden_path(&c.webhook);
        c
    });
    let alerts = ws.all_alerts()?;
    if args.format == Format::Json {
        let body = serde_json::json!({ "settings": config, "alerts": alerts });
        output::print(&(serde_json::to_string_pretty(&body)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = String::new();
    match &config {
        Some(c) => {
            let _ = writeln!(
                t,
                "alerts go to {} (every {} s: each new unexpected app, more than {} unexpected blocks in {} h)\n  set by {} at {}",
                c.webhook,
                c.interval_secs,
                c.burst_events,
                c.burst_period_secs / 3600,
                output::escape_controls(&c.set_by),
                c.set_at
            );
        }
        None => {
            let _ = writeln!(
                t,
                "no webhook kept (`lockstep alerts set --webhook URL`, or `serve --alert-webhook URL`)"
            );
        }
    }
    let _ = writeln!(t, "{} alert(s) kept", alerts.len());
    for a in &alerts {
        let state = match (&a.sent_at, &a.last_error) {
            (Some(at), _) => format!("sent {at}"),
            (None, Some(e)) => format!(
                "not delivered after {} attempt(s): {}; next {}",
                a.attempts,
                output::escape_controls(e),
                a.next_attempt_at
            ),
            (None, None) => "waiting to be sent".to_owned(),
        };
        let _ = writeln!(
            t,
            "  {}  {:<12} {:<18} {state}\n    {}",
            a.created_at,
            a.group,
            a.kind,
            output::escape_controls(&a.message)
        );
    }
    output::print(&t)?;
    Ok(ExitCode::SUCCESS)
}

/// `https://hooks.slack.com/…`: the scheme and host of a webhook URL, the secret path hidden.
fn hidden_path(url: &str) -> String {
    match api::Webhook::parse(url) {
        Ok(w) => {
            let scheme = if w.https { "https" } else { "http" };
            let hidden = if w.path == "/" { "/" } else { "/…" };
            format!("{scheme}://{}{hidden}", w.address())
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}
