//! The admin's work, kept in the workspace: each group's policy in force (`policy import`,
//! `show`, `candidate`; the published versions are in `versions_cmds`), decisions on apps (`decide`, `decisions`) and `workspace backup`.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use policy::suggest::Granularity;
use query::{DecideRequest, DecisionView};
use workspace::{Scope, Verdict, Workspace};

use crate::engine::block_on;
use crate::output;
use crate::store_args::{DataArgs, read_policy_from};

/// Which group, or the fleet.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(crate) struct ScopeArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// The whole fleet: what every group without its own uses.
    #[arg(long)]
    fleet: bool,
}

impl ScopeArgs {
    fn scope(&self) -> Scope {
        match &self.group {
            Some(g) => Scope::Group(g.clone()),
            None => Scope::Fleet,
        }
    }
}

/// The workspace of the data folder (made when missing).
fn open_workspace(store: &DataArgs) -> anyhow::Result<Arc<Workspace>> {
    Ok(Arc::new(Workspace::open(&store.data)?))
}

/// `lockstep policy …`.
#[derive(Debug, Subcommand)]
pub(crate) enum PolicyCommand {
    /// Store the policy in force for a group (or the fleet): AppLocker policy XML (UTF-8 or
    /// UTF-16), a GPO's registry.pol, or a GPO backup folder, recognised by content.
    Import(ImportArgs),
    /// Print the policy in force for a group (its own, else the fleet's).
    Show(ShowArgs),
    /// Write a group's candidate: its policy in force plus the rules of its decisions.
    Candidate(CandidateArgs),
    /// Freeze a group's candidate as its next numbered version (immutable; the same
    /// content again publishes nothing).
    Publish(crate::versions_cmds::PublishArgs),
    /// List a group's published versions.
    Versions(crate::versions_cmds::VersionsArgs),
    /// Write a published version as policy XML, with the collections to enforce.
    Export(crate::versions_cmds::ExportArgs),
    /// What changes between two policies of a group: rules, and the apps, events, hosts
    /// and users whose verdict changes over the recorded window.
    Diff(crate::versions_cmds::DiffArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    /// The policy: XML, registry.pol, or a GPO backup folder.
    #[arg(value_name = "PATH")]
    path: PathBuf,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct ShowArgs {
    #[command(flatten)]
    scope: ScopeArgs,
    #[command(flatten)]
    store: DataArgs,
}

#[derive(Debug, Args)]
pub(crate) struct CandidateArgs {
    /// The business group.
    #[arg(long, value_name = "NAME")]
    group: String,
    #[command(flatten)]
    enforce: crate::store_args::EnforceCollections,
    /// Write it to this file instead of stdout.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    #[command(flatten)]
    store: DataArgs,
}

pub(crate) fn policy(command: PolicyCommand) -> anyhow::Result<ExitCode> {
    match command {
        PolicyCommand::Import(args) => import(args),
        PolicyCommand::Show(args) => show(args),
        PolicyCommand::Candidate(args) => candidate(args),
        PolicyCommand::Publish(args) => crate::versions_cmds::publish(args),
        PolicyCommand::Versions(args) => crate::versions_cmds::versions(args),
        PolicyCommand::Export(args) => crate::versions_cmds::export(args),
        PolicyCommand::Diff(args) => crate::versions_cmds::diff(args),
    }
}

fn import(args: ImportArgs) -> anyhow::Result<ExitCode> {
    let scope = args.scope.scope();
    let session = args.store.session(&[])?;
    if let Scope::Group(group) = &scope {
        ensure_group(&session, group)?;
    }
    // Read whole before anything is stored: a file that is not a policy changes nothing.
    let (policy, source) = read_policy_from(&args.path)?;
    let ws = open_workspace(&args.store)?;
    let source = format!("{source} {}", output::path(&args.path));
    let stored = ws.import_policy(
        &scope,
        &policy::write::to_xml(&policy),
        &source,
        &workspace::os_user(),
    )?;
    let mut counts = String::new();
    for c in &policy.collections {
        let mode = c.mode.map_or("not configured", |m| m.xml_name());
        let _ = write!(counts, " {} {} rule(s) ({mode});", c.kind, c.rules.len());
    }
    output::print(&format!(
        "stored as the policy in force for {scope} (version {}):{}\n",
        stored.version,
        counts.trim_end_matches(';')
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn show(args: ShowArgs) -> anyhow::Result<ExitCode> {
    let ws = open_workspace(&args.store)?;
    let scope = args.scope.scope();
    let stored = match &scope {
        Scope::Group(g) => ws.policy_for_group(g)?,
        Scope::Fleet => ws.policy(&Scope::Fleet)?,
    };
    let Some(stored) = stored else {
        bail!("no policy imported for {scope}: `lockstep policy import` stores one");
    };
    eprintln!(
        "the policy in force for {} (from {}, imported {} by {})",
        stored.scope, stored.source, stored.imported_at, stored.imported_by
    );
    output::print(&stored.xml)?;
    Ok(ExitCode::SUCCESS)
}

fn candidate(args: CandidateArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session(&[])?;
    let candidate = block_on(session.candidate(&args.group))
        .with_context(|| format!("building the candidate of {}", args.group))?;
    match &candidate.current {
        Some(source) => eprintln!("{}: starts from {source}", args.group),
        None => eprintln!(
            "{}: no policy in force imported (`lockstep policy import`): the candidate is only the decided rules",
            args.group
        ),
    }
    eprintln!(
        "{}: {} allowed app(s), {} deny rule(s) for apps blocked on purpose",
        args.group,
        candidate.allowed.len(),
        candidate.denied.len()
    );
    for note in &candidate.notes {
        eprintln!("  {}", output::escape_controls(note));
    }
    let xml = candidate.to_xml(&args.enforce.enforce);
    match &args.out {
        Some(path) => {
            std::fs::write(path, &xml)
                .with_context(|| format!("writing {}", output::path(path)))?;
            eprintln!("{}: -> {}", args.group, output::path(path));
        }
        None => output::print(&xml)?,
    }
    Ok(ExitCode::SUCCESS)
}

/// An error unless `group` is known to the inventory or the store.
fn ensure_group(session: &query::Session, group: &str) -> anyhow::Result<()> {
    let known = block_on(session.known_groups())?;
    if !known.contains(group) {
        bail!(
            "no group {group:?}: it is neither in the inventory nor a group of any computer in the store (known: {})",
            known.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    Ok(())
}

/// Raw arguments of `lockstep decide`.
#[derive(Debug, Args)]
pub(crate) struct DecideArgs {
    /// GROUP APP_ID DECISION, or with --fleet APP_ID DECISION. The app id is what `report`,
    /// `readiness` and `suggest --format json` show; the decision is allow, block or defer.
    #[arg(value_name = "GROUP APP_ID DECISION", num_args = 2..=3, required = true)]
    words: Vec<String>,
    /// For every group (each may decide otherwise): then no GROUP.
    #[arg(long)]
    fleet: bool,
    /// Why.
    #[arg(long, value_name = "TEXT")]
    note: Option<String>,
    /// How specific the allowing rule is (default: as suggested).
    #[arg(long = "rule-granularity", value_enum)]
    granularity: Option<Granularity>,
    /// Allow an app whose suggestion is flagged for review (recorded as flagged).
    #[arg(long)]
    force: bool,
    #[command(flatten)]
    store: DataArgs,
}

pub(crate) fn decide(args: DecideArgs) -> anyhow::Result<ExitCode> {
    let (scope, app_id, verdict) = match (args.fleet, args.words.as_slice()) {
        (false, [group, app, verdict]) => (Scope::Group(group.clone()), app, verdict),
        (true, [app, verdict]) => (Scope::Fleet, app, verdict),
        (false, _) => bail!("give GROUP APP_ID DECISION (or --fleet APP_ID DECISION)"),
        (true, _) => bail!("with --fleet, give APP_ID DECISION (no group)"),
    };
    let verdict = Verdict::from_str(verdict, true)
        .map_err(|_| anyhow::anyhow!("{verdict:?} is not a decision: allow, block or defer"))?;
    let session = args.store.session_with_workspace()?;
    let decision = block_on(session.decide(DecideRequest {
        scope,
        app_id: app_id.clone(),
        verdict,
        note: args.note,
        granularity: args.granularity,
        force: args.force,
        decided_by: workspace::os_user(),
        expected_version: None,
    }))?;
    let flagged = if decision.flagged.is_empty() {
        String::new()
    } else {
        format!(" (flagged for review: {})", decision.flagged.join(", "))
    };
    output::print(&format!(
        "{} {}: {} for {} (version {}, by {}){flagged}\n",
        decision.app_id,
        output::escape_controls(&decision.label),
        decision.verdict.as_str(),
        decision.scope,
        decision.version,
        decision.decided_by
    ))?;
    Ok(ExitCode::SUCCESS)
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ListFormat {
    Table,
    Json,
    Csv,
}

/// Raw arguments of `lockstep decisions`.
#[derive(Debug, Args)]
pub(crate) struct DecisionsArgs {
    /// Every entry, oldest first, instead of the current decision on each app.
    #[arg(long)]
    history: bool,
    /// Only this group's decisions (repeatable).
    #[arg(long = "group", value_name = "NAME")]
    groups: Vec<String>,
    /// Only the fleet's decisions.
    #[arg(long, conflicts_with = "groups")]
    fleet: bool,
    /// table for people; json and csv for scripts.
    #[arg(long, value_enum, default_value = "table")]
    format: ListFormat,
    #[command(flatten)]
    store: DataArgs,
}

pub(crate) fn decisions(args: DecisionsArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session(&[])?;
    // No scope named: every scope.
    let scopes: Vec<Scope> = if args.fleet {
        vec![Scope::Fleet]
    } else {
        args.groups
            .iter()
            .map(|g| Scope::Group(g.clone()))
            .collect()
    };
    let views = block_on(session.decisions(&scopes, args.history))?;
    let text = match args.format {
        ListFormat::Json => serde_json::to_string_pretty(&views)? + "\n",
        ListFormat::Csv => decisions_csv(&views),
        ListFormat::Table => decisions_table(&views),
    };
    if views.is_empty() {
        eprintln!("no decisions yet: `lockstep decide GROUP APP_ID allow|block|defer` takes one");
    }
    output::print(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn scope_name(scope: &Scope) -> &str {
    match scope {
        Scope::Fleet => "(fleet)",
        Scope::Group(g) => g,
    }
}

fn decisions_table(views: &[DecisionView]) -> String {
    let mut out = String::new();
    if views.is_empty() {
        return out;
    }
    let _ = writeln!(
        out,
        "{:>7}  {:<14} {:<16} {:<6} {:<24} {:<12} APP",
        "VERSION", "GROUP", "APP ID", "DECIDE", "WHEN", "WHO"
    );
    for v in views {
        let d = &v.decision;
        let stale = if v.stale {
            "  [stale: no longer seen]"
        } else {
            ""
        };
        let note = d
            .note
            .as_deref()
            .map(|n| format!("  \"{}\"", output::escape_controls(n)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:>7}  {:<14} {:<16} {:<6} {:<24} {:<12} {}{note}{stale}",
            d.version,
            scope_name(&d.scope),
            d.app_id,
            d.verdict.as_str(),
            d.decided_at.get(..19).unwrap_or(&d.decided_at),
            d.decided_by,
            output::escape_controls(&d.label)
        );
    }
    out
}

fn decisions_csv(views: &[DecisionView]) -> String {
    let field = |t: &str| {
        if t.contains([',', '"', '\n', '\r']) {
            format!("\"{}\"", t.replace('"', "\"\""))
        } else {
            t.to_owned()
        }
    };
    let mut out = String::from(
        "version,group,app_id,decision,label,collection,note,decided_by,decided_at,flagged,stale\n",
    );
    for v in views {
        let d = &v.decision;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{}",
            d.version,
            field(match &d.scope {
                Scope::Fleet => "",
                Scope::Group(g) => g,
            }),
            d.app_id,
            d.verdict.as_str(),
            field(&d.label),
            field(d.collection.as_deref().unwrap_or("")),
            field(d.note.as_deref().unwrap_or("")),
            field(&d.decided_by),
            d.decided_at,
            field(&d.flagged.join("|")),
            v.stale
        );
    }
    out
}

/// `lockstep workspace …`.
#[derive(Debug, Subcommand)]
pub(crate) enum WorkspaceCommand {
    /// Copy the workspace to a new file while it is in use (SQLite's online backup).
    Backup(BackupArgs),
}

#[derive(Debug, Args)]
pub(crate) struct BackupArgs {
    /// The new file.
    #[arg(value_name = "FILE")]
    to: PathBuf,
    /// The data folder.
    #[arg(long, env = "LOCKSTEP_DATA", default_value = "lockstep-data")]
    data: PathBuf,
}

pub(crate) fn workspace(command: WorkspaceCommand) -> anyhow::Result<ExitCode> {
    match command {
        WorkspaceCommand::Backup(args) => {
            let file = args.data.join(workspace::FILE);
            if !file.exists() {
                bail!("{} has no workspace yet", output::path(&args.data));
            }
            let ws = Workspace::open_file(&file)?;
            ws.backup(&args.to)?;
            output::print(&format!(
                "backed up {} to {}\n",
                output::path(&file),
                output::path(&args.to)
            ))?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
