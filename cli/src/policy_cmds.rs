//! `lockstep suggest`, `simulate` and `readiness`: the policy engine over the store.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use policy::suggest::Granularity;
use policy::{Evaluator, Policy};
use query::Candidate;
use query::readiness::{DEFAULT_MIN_DAYS, DEFAULT_SILENT_DAYS, GroupReadiness, ReadinessOptions};
use query::simulate::{BlockedApp, SimulateOptions, Simulation};
use query::suggest::{GroupSuggestions, PolicyOutput, SuggestOptions};

use crate::engine::block_on;
use crate::output;
use crate::store_args::{StoreArgs, read_policy, read_sid_groups};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SuggestFormat {
    Xml,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

/// Raw arguments of `lockstep suggest`.
#[derive(Debug, Args)]
pub(crate) struct SuggestArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The policy in force for every group (XML, registry.pol or a GPO backup; default: each
    /// group's own from the workspace): apps it already allows are left out, apps it denies
    /// are flagged.
    #[arg(long, value_name = "CURRENT.xml")]
    policy: Option<PathBuf>,
    /// How specific publisher rules are (default: product, binary for Microsoft).
    #[arg(long, value_enum)]
    granularity: Option<Granularity>,
    /// xml: the policy to merge into the group's GPO; json: every suggestion with its evidence.
    #[arg(long, value_enum, default_value = "xml")]
    format: SuggestFormat,
    /// Write collections as Enabled (enforce) instead of AuditOnly.
    #[arg(long)]
    enforce: bool,
    /// Also write the rules flagged for review into the XML (JSON always lists them).
    #[arg(long)]
    include_review: bool,
    /// The SID the rules apply to (default Everyone, S-1-1-0).
    #[arg(long, default_value = policy::eval::EVERYONE)]
    sid: String,
    /// Write one policy file per group (GROUP.xml) into this folder.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Also deny the programs that bypass allow lists (mshta, MSBuild, wmic, …; the list
    /// is `policy::harden`), and say who that would hit.
    #[arg(long)]
    harden: bool,
    /// Scope each rule to the narrowest AD group that holds every user seen running its
    /// apps (needs `lockstep identities import`); rules without such a group stay as they are.
    #[arg(long, conflicts_with = "sid")]
    scope_to_groups: bool,
}

/// The directory `--scope-to-groups` scopes with; an error when nothing was imported.
fn scope_to_groups(
    session: &query::Session,
    wanted: bool,
) -> anyhow::Result<Option<policy::identities::Directory>> {
    if !wanted {
        return Ok(None);
    }
    let directory = session.directory()?;
    if !directory.identities().any(|i| i.is_group) {
        bail!(
            "--scope-to-groups needs the AD groups: import an export with its groups first (lockstep identities import FILE)"
        );
    }
    Ok(Some(directory))
}

pub(crate) fn suggest(args: SuggestArgs) -> anyhow::Result<ExitCode> {
    let given = args.policy.as_deref().map(read_policy).transpose()?;
    let session = args.store.session(&[])?.with_current(given);
    let opts = SuggestOptions {
        window: args.store.window()?,
        groups: args.store.checked_groups(&session)?,
        granularity: args.granularity,
        sid: args.sid.clone(),
        include_noise: args.store.include_noise,
        scope_to: scope_to_groups(&session, args.scope_to_groups)?,
    };
    let groups = block_on(session.suggest(&opts)).with_context(|| {
        format!(
            "suggesting rules from {}",
            output::path(&args.store.base.data)
        )
    })?;
    let written = PolicyOutput {
        include_review: args.include_review,
        enforce: args.enforce,
        harden: args.harden,
    };
    let current_of =
        |g: &GroupSuggestions| session.current_for(&g.group).map(|c| c.map(|(p, _)| p));
    let policy_of = |g: &GroupSuggestions| -> anyhow::Result<Policy> {
        Ok(g.to_policy(written, current_of(g)?.as_ref()))
    };
    if groups.is_empty() {
        eprintln!("nothing would be blocked in the window: no rules to suggest");
    }
    if args.harden {
        for g in &groups {
            let current = current_of(g)?;
            let mut after = current.clone().unwrap_or_default();
            after.merge(&policy_of(g)?);
            print_hardening_hits(&session, &g.group, &after, &args.store)?;
        }
    }
    if let Some(dir) = &args.out {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", output::path(dir)))?;
        for g in &groups {
            let name = policy::write::file_stem(&g.group);
            let path = dir.join(format!("{name}.xml"));
            std::fs::write(&path, policy::write::to_xml(&policy_of(g)?))
                .with_context(|| format!("writing {}", output::path(&path)))?;
            let json = dir.join(format!("{name}.json"));
            std::fs::write(&json, serde_json::to_string_pretty(g)? + "\n")
                .with_context(|| format!("writing {}", output::path(&json)))?;
            eprintln!(
                "{}: {} rule(s) -> {}",
                g.group,
                policy_of(g)?.rules().count(),
                output::path(&path)
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    match args.format {
        SuggestFormat::Json => output::print(&(serde_json::to_string_pretty(&groups)? + "\n"))?,
        SuggestFormat::Xml => match groups.as_slice() {
            [] => output::print(&policy::write::to_xml(&Policy::default()))?,
            [one] => {
                print_review_summary(one, args.include_review);
                output::print(&policy::write::to_xml(&policy_of(one)?))?;
            }
            many => bail!(
                "{} groups have suggestions ({}): pick one with --group, or write one policy per group with --out DIR",
                many.len(),
                many.iter()
                    .map(|g| g.group.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    }
    Ok(ExitCode::SUCCESS)
}

/// Who the hardening rules in `after` (the group's policy once the output is merged) would
/// hit, on stderr.
fn print_hardening_hits(
    session: &query::Session,
    group: &str,
    after: &Policy,
    store: &StoreArgs,
) -> anyhow::Result<()> {
    let opts = SimulateOptions {
        window: store.window()?,
        groups: vec![group.to_owned()],
        include_noise: store.include_noise,
        ..SimulateOptions::default()
    };
    let evaluator = Evaluator::new(after, None);
    let sim = block_on(session.simulate(&evaluator, &opts))?;
    let hits: Vec<&BlockedApp> = sim.groups.iter().flat_map(|g| &g.hardening_hits).collect();
    let rules = after
        .rules()
        .filter(|(_, r)| policy::harden::is_hardening_rule(&r.name))
        .count();
    if rules == 0 {
        eprintln!(
            "{group}: hardening added no deny rules: neither the suggestion nor the group's policy in force has Exe or Dll rules (a first rule would turn the collection on; import the policy in force with `lockstep policy import`, or give --policy)"
        );
        return Ok(());
    }
    eprintln!(
        "{group}: hardening adds {rules} deny rule(s); they would block {} recorded app(s)",
        hits.len()
    );
    for a in hits {
        eprintln!(
            "  {}: {} event(s), hosts {}, users {}",
            output::escape_controls(&a.app.label),
            a.app.events,
            a.host_names.join(", "),
            a.user_sids.join(", ")
        );
    }
    Ok(())
}

fn print_review_summary(g: &GroupSuggestions, include_review: bool) {
    let flagged: Vec<_> = g
        .suggestions
        .iter()
        .filter(|s| !s.review.is_empty())
        .collect();
    if flagged.is_empty() {
        return;
    }
    eprintln!(
        "{}: {} item(s) flagged for review {} (see --format json):",
        g.group,
        flagged.len(),
        if include_review {
            "are included"
        } else {
            "are left out of the XML"
        }
    );
    for s in flagged {
        let reasons: Vec<&str> = s.review.iter().map(|r| r.message.as_str()).collect();
        eprintln!("  {}: {}", s.apps.join(", "), reasons.join("; "));
    }
}

/// Raw arguments of `lockstep simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// The candidate policy.
    #[arg(long, value_name = "CANDIDATE.xml")]
    policy: PathBuf,
    /// Group membership of users, CSV `user_sid,group_sid`, for rules on other SIDs than
    /// Everyone (without it such rules are listed as not evaluated).
    #[arg(long, value_name = "CSV")]
    sid_groups: Option<PathBuf>,
    /// table for people; json for scripts (every app and field).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// At most N apps per group and list in the table.
    #[arg(long, value_name = "N", default_value_t = 20)]
    top: usize,
    /// Also deny the programs that bypass allow lists (mshta, MSBuild, wmic, …; the list
    /// is `policy::harden`) and show who that would hit.
    #[arg(long)]
    harden: bool,
}

pub(crate) fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let session = args.store.session(&[])?;
    let mut candidate = read_policy(&args.policy)?;
    if args.harden {
        let hardened = policy::harden::harden(&candidate, None);
        warn_unhardened(&hardened);
        candidate = hardened.policy;
    }
    let sid_groups = session.sid_groups(read_sid_groups(args.sid_groups.as_deref())?)?;
    let evaluator = Evaluator::new(&candidate, sid_groups);
    let opts = SimulateOptions {
        window: args.store.window()?,
        groups: args.store.checked_groups(&session)?,
        include_noise: args.store.include_noise,
        include_allowed: true,
        with_who: false,
        unknown_current: false,
    };
    let sim = block_on(session.simulate(&evaluator, &opts))
        .with_context(|| format!("simulating on {}", output::path(&args.store.base.data)))?;
    match args.format {
        Format::Json => output::print(&(serde_json::to_string_pretty(&sim)? + "\n"))?,
        Format::Table => output::print(&simulation_table(&sim, args.top))?,
    }
    Ok(ExitCode::SUCCESS)
}

fn simulation_table(sim: &Simulation, top: usize) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} executions judged (one per computer, outcome and file)",
        sim.executions_judged
    );
    for g in &sim.groups {
        let _ = writeln!(
            out,
            "\n{}: still blocked {} event(s) in {} app(s); newly blocked {} event(s) in {} app(s)",
            g.group,
            g.still_blocked_events,
            g.still_blocked.len(),
            g.newly_blocked_events,
            g.newly_blocked.len()
        );
        for (label, apps) in [("still", &g.still_blocked), ("newly", &g.newly_blocked)] {
            for a in apps.iter().take(top) {
                let _ = writeln!(out, "  {label:5} {}", blocked_line(a));
            }
            if apps.len() > top {
                let _ = writeln!(out, "  {label:5} … {} more (--top N)", apps.len() - top);
            }
        }
        for a in g.hardening_hits.iter().take(top) {
            let users: Vec<String> = a
                .user_sids
                .iter()
                .map(|sid| match sim.names.get(sid) {
                    Some(name) => format!("{sid} ({name})"),
                    None => sid.clone(),
                })
                .collect();
            let _ = writeln!(
                out,
                "  harden {}\n         hosts: {}\n         users: {}",
                blocked_line(a),
                a.host_names.join(", "),
                users.join(", ")
            );
        }
        if !g.bypass_risks.is_empty() {
            let _ = writeln!(
                out,
                "  {} app(s) allowed by a path rule on a user-writable folder (a bypass risk: cover them with a publisher or hash rule):",
                g.bypass_risks.len()
            );
        }
        for b in g.bypass_risks.iter().take(top) {
            let app = &b.app;
            let _ = writeln!(
                out,
                "  bypass {:>7} events {:>5} hosts  {:6} {} {}  [{}: {}]",
                app.events,
                app.hosts,
                app.collection.map_or("-", |c| c.as_str()),
                app.app_id,
                output::escape_controls(&app.label),
                b.allowed_by.join(", "),
                b.writable_places.join("; ")
            );
        }
    }
    out
}

/// Says which collections hardening left alone, and why.
fn warn_unhardened(hardened: &policy::harden::Hardened) {
    for kind in &hardened.collections_skipped {
        eprintln!(
            "hardening: no {kind} rules in the policy, so no {kind} deny rules were added (a first rule would turn the collection on)"
        );
    }
}

fn blocked_line(a: &BlockedApp) -> String {
    let app = &a.app;
    format!(
        "{:>7} events {:>5} hosts {:>5} users  {:6} {} {}  [{}]",
        app.events,
        app.hosts,
        app.users,
        app.collection.map_or("-", |c| c.as_str()),
        app.app_id,
        output::escape_controls(&app.label),
        a.blocked_by.join(", ")
    )
}

/// Raw arguments of `lockstep readiness`.
#[derive(Debug, Args)]
pub(crate) struct ReadinessArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// Judge this whole policy for every group (default: each group's candidate, its policy
    /// in force plus the rules of its decisions).
    #[arg(long, value_name = "CANDIDATE.xml")]
    policy: Option<PathBuf>,
    /// The policy in force for every group, over what the workspace holds (XML, a
    /// registry.pol or a GPO backup folder).
    #[arg(long, value_name = "CURRENT")]
    current: Option<PathBuf>,
    /// Judge as if every suggested rule not flagged for review were allowed: the group
    /// after accepting the suggestions.
    #[arg(long, conflicts_with = "policy")]
    assume_suggestions: bool,
    /// Group membership of users, CSV `user_sid,group_sid`.
    #[arg(long, value_name = "CSV")]
    sid_groups: Option<PathBuf>,
    /// Days with the group's hosts reporting needed before it can be ready.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MIN_DAYS)]
    min_days: u32,
    /// A host whose last event is more than N days before the window's end is silent.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_SILENT_DAYS)]
    silent_days: u32,
    /// Granularity of the suggested rules, with --assume-suggestions.
    #[arg(long, value_enum, requires = "assume_suggestions")]
    granularity: Option<Granularity>,
    /// table for people; json for scripts (every app and field).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

pub(crate) fn readiness(args: ReadinessArgs) -> anyhow::Result<ExitCode> {
    if args.policy.is_some() && args.current.is_some() {
        bail!(
            "--policy is the whole candidate; --current is the policy in force the group's candidate starts from: give one of them"
        );
    }
    let current = args.current.as_deref().map(read_policy).transpose()?;
    let session = args.store.session(&[])?.with_current(current);
    let sid_groups = read_sid_groups(args.sid_groups.as_deref())?;
    let opts = ReadinessOptions {
        window: args.store.window()?,
        groups: args.store.checked_groups(&session)?,
        min_days: args.min_days,
        silent_days: args.silent_days,
        include_noise: args.store.include_noise,
    };
    let candidate = match args.policy.as_deref().map(read_policy).transpose()? {
        Some(whole) => Candidate::Whole(whole),
        None if args.assume_suggestions => Candidate::Suggested {
            granularity: args.granularity,
        },
        None => Candidate::Decisions,
    };
    let groups = block_on(session.readiness(&candidate, sid_groups, &opts)).with_context(|| {
        format!(
            "judging readiness on {}",
            output::path(&args.store.base.data)
        )
    })?;
    match args.format {
        Format::Json => output::print(&(serde_json::to_string_pretty(&groups)? + "\n"))?,
        Format::Table => output::print(&readiness_table(&groups))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// At most this many undecided apps and to-do items per group in the table.
const TABLE_TODO: usize = 5;

fn readiness_table(groups: &[GroupReadiness]) -> String {
    let mut out = String::new();
    for g in groups {
        let hosts = if g.hosts_in_inventory == 0 {
            format!(
                "{} host(s) reporting, none of them in the inventory",
                g.hosts_reporting
            )
        } else {
            format!(
                "{} of {} inventory hosts reporting",
                g.hosts_reporting, g.hosts_in_inventory
            )
        };
        let _ = writeln!(
            out,
            "{}: {} ({hosts}, {} day(s) of evidence)",
            g.group,
            g.status(),
            g.days_of_evidence
        );
        for c in &g.collections {
            let reasons: Vec<&str> = c.reasons.iter().map(|r| r.message.as_str()).collect();
            let _ = writeln!(
                out,
                "  {:6} {:17} residual {:>3} apps {:>6} events {:>4} hosts  {}",
                c.collection.as_str(),
                c.status.as_str(),
                c.residual_apps,
                c.residual_events,
                c.residual_hosts,
                reasons.join("; ")
            );
        }
        if !g.blocked_on_purpose.is_empty() {
            let _ = writeln!(
                out,
                "  blocked on purpose: {} app(s), {} event(s) (readiness --format json lists who will see it)",
                g.blocked_on_purpose.len(),
                g.blocked_on_purpose.iter().map(|a| a.events).sum::<u64>()
            );
        }
        if !g.todo.is_empty() {
            let _ = writeln!(out, "  to do ({}):", g.todo.len());
            for item in g.todo.iter().take(TABLE_TODO) {
                let id = item
                    .app_id
                    .as_deref()
                    .map(|id| format!("{id}  "))
                    .unwrap_or_default();
                let _ = writeln!(out, "    {id}{}", output::escape_controls(&item.message));
            }
            if g.todo.len() > TABLE_TODO {
                let _ = writeln!(
                    out,
                    "    … {} more (--format json)",
                    g.todo.len() - TABLE_TODO
                );
            }
        }
    }
    out
}
