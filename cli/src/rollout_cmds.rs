//! The flip and after: `rollout enforce|audit|list` keeps the record of when each group's
//! collections went to Enforce (and with which published version) or back to audit;
//! `monitor` shows the blocks since, the exception queue and where the events disagree.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use query::versions::PolicyRef;
use workspace::{NewRollout, RolloutMode};

use crate::engine::block_on;
use crate::output;
use crate::store_args::DataArgs;

/// `lockstep rollout …`.
#[derive(Debug, Subcommand)]
pub(crate) enum RolloutCommand {
    /// Record that a published version went live in Enforce mode for these collections.
    Enforce(EnforceArgs),
    /// Record that these collections went back to audit (a rollback).
    Audit(AuditArgs),
    /// The group's rollout record.
    List(ListArgs),
}

/// What every rollout entry names: the group, its collections, when and why.
#[derive(Debug, Args)]
pub(crate) struct RolloutTarget {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    /// The collections that changed, comma-separated (EXE,SCRIPT).
    #[arg(
        long,
        value_name = "COLLECTIONS",
        value_delimiter = ',',
        value_enum,
        ignore_case = true,
        required = true
    )]
    collection: Vec<query::Collection>,
    /// When it went live: a date or an RFC 3339 time (default: now).
    #[arg(long, value_name = "T")]
    at: Option<String>,
    /// Why, or the change ticket.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct EnforceArgs {
    #[command(flatten)]
    target: RolloutTarget,
    /// The published version that went live.
    #[arg(long, value_name = "N")]
    version: i64,
}

#[derive(Debug, Args)]
pub(crate) struct AuditArgs {
    #[command(flatten)]
    target: RolloutTarget,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MonitorArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

pub(crate) fn rollout(command: RolloutCommand) -> anyhow::Result<ExitCode> {
    match command {
        RolloutCommand::Enforce(args) => {
            record(&args.target, RolloutMode::Enforce, Some(args.version))
        }
        RolloutCommand::Audit(args) => record(&args.target, RolloutMode::Audit, None),
        RolloutCommand::List(args) => list(args),
    }
}

fn record(
    target: &RolloutTarget,
    mode: RolloutMode,
    version: Option<i64>,
) -> anyhow::Result<ExitCode> {
    let RolloutTarget {
        group,
        collection: collections,
        at,
        note,
        store,
    } = target;
    let (at, note) = (at.as_deref(), note.as_deref());
    let session = store.session_with_workspace()?;
    let at = query::versions::rollout_time(at).context("--at")?;
    if let Some(number) = version {
        // Enforcing a collection the version has no rules for blocks all of it: say so.
        let (policy, _) = block_on(session.resolve_policy(group, &PolicyRef::Version(number)))?;
        crate::store_args::warn_enforcing_without_rules(&policy, collections, number);
    }
    let names: Vec<String> = collections.iter().map(|c| c.as_str().to_owned()).collect();
    let ws = session.workspace().context("the workspace")?;
    let recorded = ws.record_rollout(&NewRollout {
        group,
        collections: &names,
        mode,
        version,
        at: &at,
        note,
        recorded_by: &workspace::os_user(),
    })?;
    let what = match version {
        Some(n) => format!("enforce (version {n})"),
        None => "audit".to_owned(),
    };
    output::print(&format!(
        "recorded: {group} {} {what} from {at}\n",
        recorded
            .iter()
            .map(|r| r.collection.as_str())
            .collect::<Vec<_>>()
            .join(",")
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session_with_workspace()?;
    let ws = session.workspace().context("the workspace")?;
    let rollouts = ws.rollouts(&args.group)?;
    let text = match args.format {
        Format::Json => serde_json::to_string_pretty(&rollouts)? + "\n",
        Format::Table if rollouts.is_empty() => format!(
            "{}: no rollout recorded (every collection audit); `lockstep rollout enforce` records the flip\n",
            args.group
        ),
        Format::Table => {
            let mut t = String::new();
            for r in &rollouts {
                let version = r
                    .version
                    .map(|v| format!("version {v}"))
                    .unwrap_or_default();
                let _ = writeln!(
                    t,
                    "{}  {:<6} {:<7} {:<10} {}  {}",
                    r.at,
                    r.collection,
                    r.mode.as_str(),
                    version,
                    output::escape_controls(&r.recorded_by),
                    output::escape_controls(r.note.as_deref().unwrap_or(""))
                );
            }
            t
        }
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn monitor(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session_with_workspace()?;
    let m = block_on(session.monitor(&args.group))
        .with_context(|| format!("monitoring {}", args.group))?;
    if args.format == Format::Json {
        output::print(&(serde_json::to_string_pretty(&m)? + "\n"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "{}: {} expected and {} unexpected blocked event(s) since enforcement",
        m.group, m.expected_blocked_events, m.unexpected_blocked_events
    );
    if m.collections.is_empty() {
        let _ = writeln!(t, "  no rollout recorded: every collection audit");
    }
    for c in &m.collections {
        let version = c
            .version
            .map(|v| format!(" (version {v})"))
            .unwrap_or_default();
        let _ = writeln!(
            t,
            "  {:<6} {}{version} since {}",
            c.collection.as_str(),
            c.mode.as_str(),
            c.since.format("%Y-%m-%d %H:%M")
        );
        for d in &c.days {
            let _ = writeln!(
                t,
                "    {}  {:>6} expected {:>6} unexpected",
                d.day, d.expected, d.unexpected
            );
        }
    }
    if !m.policy_applied.is_empty() {
        let waiting: Vec<&str> = m
            .policy_applied
            .iter()
            .filter(|h| h.applied_at.is_none())
            .map(|h| h.host.as_str())
            .collect();
        let _ = writeln!(
            t,
            "  policy applied (8001) since the latest change: {} of {} host(s){}",
            m.policy_applied.len() - waiting.len(),
            m.policy_applied.len(),
            if waiting.is_empty() {
                String::new()
            } else {
                format!("; not yet: {}", waiting.join(", "))
            }
        );
    }
    for w in &m.warnings {
        let _ = writeln!(t, "  warning ({}): {}", w.code, w.message);
    }
    if !m.exceptions.is_empty() {
        let _ = writeln!(t, "  exception queue ({}):", m.exceptions.len());
    }
    for e in &m.exceptions {
        let _ = writeln!(
            t,
            "    {}  {}  {} event(s), {} host(s), {} user(s), last {}",
            e.app.app_id,
            output::escape_controls(&e.app.label),
            e.app.events,
            e.app.hosts,
            e.app.users,
            e.app
                .last_seen
                .map(|l| l.format("%Y-%m-%d %H:%M").to_string())
                .unwrap_or_default()
        );
        let allow = if e.proposed_rule.is_some() {
            format!("lockstep decide {} {} allow", m.group, e.app.app_id)
        } else {
            "no safe rule: a hash or path decision by hand".to_owned()
        };
        let _ = writeln!(
            t,
            "      allow: {allow}, then publish and roll out; or confirm: lockstep decide {} {} block",
            m.group, e.app.app_id
        );
    }
    output::print(&t)?;
    Ok(ExitCode::SUCCESS)
}
