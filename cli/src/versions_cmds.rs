//! A group's published policy versions: `policy publish`, `versions`, `export` and `diff`
//! (the rules that change and the apps whose verdict changes, for a change ticket).

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use query::versions::{ImpactApp, PolicyChange, PolicyRef};

use crate::engine::block_on;
use crate::output;
use crate::store_args::{DataArgs, read_policy_from};

#[derive(Debug, Args)]
pub(crate) struct PublishArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    /// Why, for whoever reads the versions later (a change ticket, say).
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VersionsArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ListFormat {
    Table,
    Json,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    /// The published version to write.
    #[arg(long, value_name = "N")]
    version: i64,
    #[command(flatten)]
    enforce: crate::store_args::EnforceCollections,
    /// xml: AppLocker policy XML (Set-AppLockerPolicy, a GPO); intune: the Microsoft Graph
    /// body of an Intune custom profile, one AppLocker CSP setting per rule collection.
    #[arg(long, value_enum, default_value = "xml")]
    format: ExportFormat,
    /// The CSP Grouping of an Intune export (default: lockstep-GROUP); keep it from one
    /// version to the next, so a new version replaces the old on the devices.
    #[arg(long, value_name = "NAME")]
    grouping: Option<String>,
    /// Write it to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ExportFormat {
    Xml,
    Intune,
}

#[derive(Debug, Args)]
pub(crate) struct DiffArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    /// The policy before: a version number, `current`, `candidate`, or a policy file.
    #[arg(value_name = "BEFORE")]
    before: String,
    /// The policy after, as BEFORE.
    #[arg(value_name = "AFTER")]
    after: String,
    /// Start of the window the impact is judged on: a date or an RFC 3339 time.
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// End of the window: a date (that whole day included) or an RFC 3339 time (excluded).
    #[arg(long, value_name = "T")]
    until: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: DiffFormat,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DiffFormat {
    Table,
    Json,
    /// For a change ticket.
    Markdown,
}

pub(crate) fn publish(args: PublishArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session_with_workspace()?;
    let published =
        block_on(session.publish(&args.group, args.note.as_deref(), &workspace::os_user()))
            .with_context(|| format!("publishing {}'s candidate", args.group))?;
    let v = &published.version;
    let said = if published.new {
        format!(
            "published {} version {} (content {}, from decisions up to #{})\n",
            v.group, v.version, v.content_hash, v.decisions_through
        )
    } else {
        format!(
            "{}'s candidate does what version {} does (content {}): nothing new was published\n",
            v.group, v.version, v.content_hash
        )
    };
    output::print(&said)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn versions(args: VersionsArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session_with_workspace()?;
    let versions = session.versions(&args.group)?;
    let text = match args.format {
        ListFormat::Json => serde_json::to_string_pretty(&versions)? + "\n",
        ListFormat::Table if versions.is_empty() => format!(
            "{} has no published versions: `lockstep policy publish --group {}` makes one\n",
            args.group, args.group
        ),
        ListFormat::Table => {
            let mut text = String::new();
            for v in &versions {
                let _ = writeln!(
                    text,
                    "{:>4}  {}  {:<12}  {}  {}",
                    v.version,
                    v.published_at,
                    output::escape_controls(&v.published_by),
                    &v.content_hash[..12],
                    output::escape_controls(v.note.as_deref().unwrap_or(""))
                );
            }
            text
        }
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn export(args: ExportArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session_with_workspace()?;
    let (policy, name) =
        block_on(session.resolve_policy(&args.group, &PolicyRef::Version(args.version)))?;
    crate::store_args::warn_enforcing_without_rules(&policy, &args.enforce.enforce, args.version);
    let kinds: Vec<policy::CollectionKind> = args
        .enforce
        .enforce
        .iter()
        .map(|&c| query::app::rule_collection(c))
        .collect();
    let policy = policy::suggest::with_enforcement(&policy, &kinds);
    let xml = match args.format {
        ExportFormat::Xml => policy::write::to_xml(&policy),
        ExportFormat::Intune => {
            let grouping = args
                .grouping
                .clone()
                .unwrap_or_else(|| format!("lockstep-{}", args.group));
            let body = intune_profile(&policy, &args.group, args.version, &grouping);
            serde_json::to_string_pretty(&body)? + "\n"
        }
    };
    match &args.out {
        Some(path) => {
            std::fs::write(path, &xml)
                .with_context(|| format!("writing {}", output::path(path)))?;
            eprintln!("{}: {name} -> {}", args.group, output::path(path));
        }
        None => output::print(&xml)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// The body of `POST https://graph.microsoft.com/v1.0/deviceManagement/deviceConfigurations`:
/// a `windows10CustomConfiguration` with one `omaSettingString` per rule collection.
fn intune_profile(
    policy: &policy::Policy,
    group: &str,
    version: i64,
    grouping: &str,
) -> serde_json::Value {
    let settings: Vec<serde_json::Value> = policy::csp::csp_settings(policy, grouping)
        .into_iter()
        .map(|s| {
            let mode = policy
                .collection(s.kind)
                .and_then(|c| c.mode)
                .map_or("NotConfigured", |m| m.xml_name());
            serde_json::json!({
                "@odata.type": "#microsoft.graph.omaSettingString",
                "displayName": format!("AppLocker {} ({group} version {version}, {mode})", s.kind),
                "description": format!("lockstep: the {} rule collection of {group}'s published version {version}", s.kind),
                "omaUri": s.oma_uri,
                "value": s.value,
            })
        })
        .collect();
    serde_json::json!({
        "@odata.type": "#microsoft.graph.windows10CustomConfiguration",
        "displayName": format!("AppLocker {group} (lockstep version {version})"),
        "description": format!("lockstep: {group}'s published policy version {version}, CSP grouping {}", policy::csp::grouping_name(grouping)),
        "omaSettings": settings,
    })
}

/// `3`, `current`, `candidate`, or a policy file read whole.
fn policy_ref(text: &str) -> anyhow::Result<PolicyRef> {
    if let Some(r) = PolicyRef::parse_named(text) {
        return Ok(r);
    }
    let path = PathBuf::from(text);
    if !path.exists() {
        anyhow::bail!(
            "{text:?} is neither a version number, `current`, `candidate`, nor a policy file"
        );
    }
    let (policy, source) = read_policy_from(&path)?;
    Ok(PolicyRef::Given(
        policy,
        format!("{source} {}", output::path(&path)),
    ))
}

pub(crate) fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let (before, after) = (policy_ref(&args.before)?, policy_ref(&args.after)?);
    let window = query::Window::parse(args.since.as_deref(), args.until.as_deref())?;
    let session = args.store.session_with_workspace()?;
    let change = block_on(session.policy_change(&args.group, &before, &after, window))
        .with_context(|| {
            format!(
                "comparing {} and {} for {}",
                args.before, args.after, args.group
            )
        })?;
    let text = match args.format {
        DiffFormat::Json => serde_json::to_string_pretty(&change)? + "\n",
        DiffFormat::Table => table(&change),
        DiffFormat::Markdown => markdown(&change),
    };
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn table(c: &PolicyChange) -> String {
    let mut t = String::new();
    let _ = writeln!(t, "{}: {} -> {}", c.group, c.before, c.after);
    let r = &c.rules;
    if r.is_empty() {
        let _ = writeln!(t, "rules: no change");
    }
    for m in &r.modes {
        let _ = writeln!(
            t,
            "  mode     {:<6} {} -> {}",
            m.collection.to_string(),
            m.before,
            m.after
        );
    }
    for (what, list) in [
        ("added", &r.added),
        ("removed", &r.removed),
        ("changed", &r.changed),
    ] {
        for rule in list {
            let _ = writeln!(
                t,
                "  {what:<8} {:<6} {} ({})",
                rule.collection.to_string(),
                output::escape_controls(&rule.subject),
                output::escape_controls(&rule.name)
            );
            for d in &rule.details {
                let _ = writeln!(t, "             {}", output::escape_controls(d));
            }
        }
    }
    let i = &c.impact;
    let _ = writeln!(
        t,
        "impact: {} event(s) newly blocked, {} newly allowed",
        i.newly_blocked_events, i.newly_allowed_events
    );
    for app in &i.newly_blocked {
        let _ = writeln!(t, "  blocked  {}", impact_line(app, ""));
    }
    for app in &i.newly_allowed {
        let _ = writeln!(t, "  allowed  {}", impact_line(app, "was: "));
    }
    t
}

/// One app of the impact; `was` prefixes the cause of an app no longer blocked.
fn impact_line(app: &ImpactApp, was: &str) -> String {
    format!(
        "{:>6} events {:>4} hosts {:>4} users  {}  {}  [{was}{}]",
        app.changed_events,
        app.host_names.len(),
        app.user_sids.len(),
        app.app.app_id,
        output::escape_controls(&app.app.label),
        output::escape_controls(&app.cause.join(", "))
    )
}

/// The change as a Markdown section, for a change ticket (`|` in values escaped).
fn markdown(c: &PolicyChange) -> String {
    let cell = |s: &str| output::escape_controls(s).replace('|', "\\|");
    let mut m = String::new();
    let _ = writeln!(m, "## AppLocker policy change: {}\n", cell(&c.group));
    let _ = writeln!(
        m,
        "- before: {}\n- after: {}\n",
        cell(&c.before),
        cell(&c.after)
    );
    let _ = writeln!(m, "### Rules\n");
    let r = &c.rules;
    if r.is_empty() {
        let _ = writeln!(m, "No rule changes.\n");
    } else {
        let _ = writeln!(
            m,
            "| change | collection | rule | name | details |\n|---|---|---|---|---|"
        );
        for mode in &r.modes {
            let _ = writeln!(
                m,
                "| mode | {} | {} → {} | | |",
                mode.collection, mode.before, mode.after
            );
        }
        for (what, list) in [
            ("added", &r.added),
            ("removed", &r.removed),
            ("changed", &r.changed),
        ] {
            for rule in list {
                let _ = writeln!(
                    m,
                    "| {what} | {} | {} | {} | {} |",
                    rule.collection,
                    cell(&rule.subject),
                    cell(&rule.name),
                    cell(&rule.details.join("; "))
                );
            }
        }
        m.push('\n');
    }
    let i = &c.impact;
    let _ = writeln!(
        m,
        "### Impact on the recorded executions\n\n{} event(s) newly blocked, {} newly allowed.\n",
        i.newly_blocked_events, i.newly_allowed_events
    );
    if !(i.newly_blocked.is_empty() && i.newly_allowed.is_empty()) {
        let _ = writeln!(
            m,
            "| verdict | app | events | hosts | users | cause |\n|---|---|---|---|---|---|"
        );
        for (what, was, apps) in [
            ("newly blocked", "", &i.newly_blocked),
            ("newly allowed", "was: ", &i.newly_allowed),
        ] {
            for app in apps {
                let _ = writeln!(
                    m,
                    "| {what} | {} (`{}`) | {} | {} | {} | {was}{} |",
                    cell(&app.app.label),
                    app.app.app_id,
                    app.changed_events,
                    app.host_names.len(),
                    app.user_sids.len(),
                    cell(&app.cause.join(", "))
                );
            }
        }
    }
    m
}
