//! The workbook for the change advisory board: the answers lockstep gives elsewhere, as one
//! `.xlsx` that needs no Office to make (`lockstep export xlsx`, `GET /api/v1/export.xlsx`).
//!
//! - **Summary**: per group, its readiness, would-block apps, undecided / deferred /
//!   blocked-on-purpose counts, hosts reporting and silent, days of evidence, the candidate,
//!   the latest published version and the next thing to do;
//! - one sheet per group: the would-be-blocked apps with their decision, the suggested rule,
//!   its review flags, and who would see the block (hosts, users by name where known);
//! - **Rules**: each group's candidate rules with the evidence behind them;
//! - **Hosts**: per host its group, last event, audit events over the last 7/15/30 days and
//!   undecided apps (the columns a per-host promotion is planned on).
//!
//! [`gather`] asks the questions (through [`query::Session`]) and lays out the sheets;
//! [`sheet::write_xlsx`] writes them.

pub mod sheet;

use std::collections::{BTreeMap, BTreeSet};

use policy::identities::users_text;
use query::readiness::{GroupReadiness, ReadinessOptions, ResidualApp};
use query::report::{OutcomeFilter, ReportOptions};
use query::suggest::SuggestOptions;
use query::{Candidate, Session, Window};

pub use sheet::{Cell, Sheet, write_xlsx};

/// Why no workbook was written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unknown group(s): {}; known: {}", .unknown.join(", "), .known.join(", "))]
    UnknownGroups {
        unknown: Vec<String>,
        known: Vec<String>,
    },
    #[error(transparent)]
    Query(#[from] query::Error),
    #[error("writing the workbook: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
}

impl Error {
    /// A stable code for programs.
    pub fn code(&self) -> &'static str {
        match self {
            Error::UnknownGroups { .. } => "unknown_group",
            Error::Query(_) => "query_failed",
            Error::Xlsx(_) => "workbook_failed",
        }
    }
}

/// What the workbook covers.
#[derive(Debug, Clone, Default)]
pub struct WorkbookOptions {
    pub window: Window,
    /// These groups (all when empty); an unknown name is an error.
    pub groups: Vec<String>,
    pub include_noise: bool,
}

/// The workbook's sheets, from the session's answers.
pub async fn gather(session: &Session, opts: &WorkbookOptions) -> Result<Vec<Sheet>, Error> {
    let known: Vec<String> = session.known_groups().await?.into_iter().collect();
    let unknown: Vec<String> = opts
        .groups
        .iter()
        .filter(|g| !known.contains(g))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownGroups { unknown, known });
    }
    let groups = if opts.groups.is_empty() {
        known
    } else {
        opts.groups.clone()
    };
    let readiness = session
        .readiness(
            &Candidate::Decisions,
            None,
            &ReadinessOptions {
                window: opts.window,
                groups: groups.clone(),
                include_noise: opts.include_noise,
                ..ReadinessOptions::default()
            },
        )
        .await?;
    let report = session
        .report(&ReportOptions {
            window: opts.window,
            groups: groups.clone(),
            collections: Vec::new(),
            outcome: OutcomeFilter::default(),
            include_noise: opts.include_noise,
            top: None,
        })
        .await?;
    let suggestions = session
        .suggest(&SuggestOptions {
            window: opts.window,
            groups: groups.clone(),
            include_noise: opts.include_noise,
            ..SuggestOptions::default()
        })
        .await?;
    let (hosts, _) = session
        .host_activity(&opts.window, &groups, opts.include_noise)
        .await?;

    // The suggestion for each app, by group and app id.
    let mut suggested: BTreeMap<(&str, &str), &policy::suggest::Suggestion> = BTreeMap::new();
    for g in &suggestions {
        for s in &g.suggestions {
            for id in &s.app_ids {
                suggested.insert((g.group.as_str(), id.as_str()), s);
            }
        }
    }
    let mut summary = summary_sheet();
    let mut rules = rules_sheet();
    let mut group_sheets = Vec::new();
    let mut names = BTreeSet::new();
    for name in &groups {
        let Some(r) = readiness.iter().find(|r| &r.group == name) else {
            continue;
        };
        let apps = report
            .groups
            .iter()
            .find(|g| &g.group == name)
            .map_or(&[][..], |g| g.apps.as_slice());
        let decisions = session.decisions_for(name)?;
        let version = match session.versions(name) {
            Ok(v) => v.last().map(|v| v.version as u64),
            Err(query::Error::NoWorkspace) => None,
            Err(e) => return Err(e.into()),
        };
        summary.rows.push(summary_row(r, apps.len(), version));
        let candidate = session.candidate(name).await?;
        rules
            .rows
            .extend(rule_rows(name, &candidate.policy, &suggestions));

        let residual: BTreeMap<&str, &ResidualApp> = r
            .undecided
            .iter()
            .chain(&r.deferred)
            .chain(&r.blocked_on_purpose)
            .map(|a| (a.app_id.as_str(), a))
            .collect();
        let mut sheet = group_sheet(unique_sheet_name(name, &mut names));
        for app in apps {
            let decision = decisions.get(&app.app_id);
            let suggestion = suggested.get(&(name.as_str(), app.app_id.as_str()));
            let who = residual.get(app.app_id.as_str());
            sheet.rows.push(vec![
                app.app_id.clone().into(),
                app.label.clone().into(),
                app.collection.map(|c| c.as_str().to_owned()).into(),
                app.events.into(),
                app.hosts.into(),
                app.users.into(),
                app.first_seen.into(),
                app.last_seen.into(),
                decision.map(|d| d.verdict.as_str().to_owned()).into(),
                decision.map(|d| d.decided_by.clone()).into(),
                decision.and_then(|d| d.note.clone()).into(),
                suggestion
                    .and_then(|s| s.rule.as_ref())
                    .map(|rule| rule.name.clone())
                    .into(),
                suggestion
                    .map(|s| {
                        s.review
                            .iter()
                            .map(|r| r.message.clone())
                            .collect::<Vec<_>>()
                            .join("; ")
                    })
                    .filter(|t| !t.is_empty())
                    .into(),
                who.map(|a| a.host_names.join(", ")).into(),
                who.map(|a| users_text(&a.users_seen, a.users)).into(),
            ]);
        }
        group_sheets.push(sheet);
    }
    let undecided_per_host = undecided_per_host(&readiness);
    let mut hosts_sheet = hosts_sheet();
    for h in &hosts {
        let undecided = undecided_per_host
            .get(&(h.group.as_str(), h.computer.as_str()))
            .copied()
            .unwrap_or(0);
        let [d7, d15, d30] = h.audit_events;
        hosts_sheet.rows.push(vec![
            h.computer.clone().into(),
            h.group.clone().into(),
            h.last_seen.into(),
            d7.into(),
            d15.into(),
            d30.into(),
            undecided.into(),
        ]);
    }
    let mut sheets = vec![summary];
    sheets.extend(group_sheets);
    sheets.push(rules);
    sheets.push(hosts_sheet);
    Ok(sheets)
}

/// [`gather`] then [`write_xlsx`]: the workbook's bytes.
pub async fn build(session: &Session, opts: &WorkbookOptions) -> Result<Vec<u8>, Error> {
    let sheets = gather(session, opts).await?;
    Ok(write_xlsx(&sheets)?)
}

fn summary_sheet() -> Sheet {
    Sheet {
        name: "Summary".into(),
        columns: vec![
            ("Group", 18.0),
            ("Readiness", 16.0),
            ("Would-block apps", 10.0),
            ("Undecided", 10.0),
            ("Deferred", 10.0),
            ("Blocked on purpose", 10.0),
            ("Hosts in inventory", 10.0),
            ("Hosts reporting", 10.0),
            ("Hosts silent", 10.0),
            ("Hosts never reported", 10.0),
            ("Days of evidence", 10.0),
            ("Candidate", 40.0),
            ("Published version", 10.0),
            ("Next step", 60.0),
        ],
        rows: Vec::new(),
    }
}

fn summary_row(r: &GroupReadiness, would_block: usize, version: Option<u64>) -> Vec<Cell> {
    vec![
        r.group.clone().into(),
        r.status().as_str().into(),
        (would_block as u64).into(),
        (r.undecided.len() as u64).into(),
        (r.deferred.len() as u64).into(),
        (r.blocked_on_purpose.len() as u64).into(),
        r.hosts_in_inventory.into(),
        r.hosts_reporting.into(),
        (r.hosts_silent.len() as u64).into(),
        (r.hosts_never_reported.len() as u64).into(),
        r.days_of_evidence.into(),
        r.candidate.clone().into(),
        version.map_or(Cell::Empty, Cell::from),
        r.todo.first().map(|t| t.message.clone()).into(),
    ]
}

fn group_sheet(name: String) -> Sheet {
    Sheet {
        name,
        columns: vec![
            ("App ID", 18.0),
            ("App", 60.0),
            ("Collection", 10.0),
            ("Events", 8.0),
            ("Hosts", 8.0),
            ("Users", 8.0),
            ("First seen", 17.0),
            ("Last seen", 17.0),
            ("Decision", 10.0),
            ("Decided by", 14.0),
            ("Note", 30.0),
            ("Suggested rule", 50.0),
            ("Review flags", 50.0),
            ("Hosts blocked", 40.0),
            ("Users blocked", 50.0),
        ],
        rows: Vec::new(),
    }
}

fn rules_sheet() -> Sheet {
    Sheet {
        name: "Rules".into(),
        columns: vec![
            ("Group", 18.0),
            ("Collection", 10.0),
            ("Action", 8.0),
            ("Type", 10.0),
            ("Name", 50.0),
            ("Applies to", 20.0),
            ("Condition", 70.0),
            ("Rule Id", 38.0),
            ("Apps", 60.0),
            ("Events", 8.0),
            ("Hosts", 8.0),
            ("Users", 8.0),
        ],
        rows: Vec::new(),
    }
}

fn hosts_sheet() -> Sheet {
    Sheet {
        name: "Hosts".into(),
        columns: vec![
            ("Host", 18.0),
            ("Group", 18.0),
            ("Last event", 17.0),
            ("Audit events, 7 days", 10.0),
            ("Audit events, 15 days", 10.0),
            ("Audit events, 30 days", 10.0),
            ("Undecided apps", 10.0),
        ],
        rows: Vec::new(),
    }
}

/// The candidate's rules with the evidence of the suggestion that made each (by rule Id).
fn rule_rows(
    group: &str,
    policy: &policy::Policy,
    suggestions: &[query::suggest::GroupSuggestions],
) -> Vec<Vec<Cell>> {
    let evidence: BTreeMap<String, &policy::suggest::Suggestion> = suggestions
        .iter()
        .filter(|g| g.group == group)
        .flat_map(|g| &g.suggestions)
        .filter_map(|s| Some((s.rule.as_ref()?.id.to_ascii_lowercase(), s)))
        .collect();
    policy
        .rules()
        .map(|(kind, rule)| {
            let found = evidence.get(&rule.id.to_ascii_lowercase());
            let kind_of_rule = match rule.condition {
                policy::Condition::Publisher(_) => "publisher",
                policy::Condition::Path(_) => "path",
                policy::Condition::Hash(_) => "hash",
            };
            vec![
                group.into(),
                kind.xml_name().into(),
                format!("{:?}", rule.action).into(),
                kind_of_rule.into(),
                rule.name.clone().into(),
                rule.user_or_group_sid.clone().into(),
                condition_text(&rule.condition).into(),
                rule.id.clone().into(),
                found.map(|s| s.apps.join("; ")).into(),
                found.map_or(Cell::Empty, |s| s.events.into()),
                found.map_or(Cell::Empty, |s| s.hosts.into()),
                found.map_or(Cell::Empty, |s| s.users.into()),
            ]
        })
        .collect()
}

/// A rule's condition in one line.
fn condition_text(condition: &policy::Condition) -> String {
    match condition {
        policy::Condition::Publisher(p) => {
            let version = |v: Option<policy::Version>| v.map_or("*".to_owned(), |v| v.to_string());
            format!(
                "{} / {} / {} ({} to {})",
                p.publisher_name,
                p.product_name,
                p.binary_name,
                version(p.low),
                version(p.high)
            )
        }
        policy::Condition::Path(p) => p.path.clone(),
        policy::Condition::Hash(h) => h
            .hashes
            .iter()
            .map(|f| format!("{} {}", f.kind, f.data))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Undecided apps (the candidate would block them) per (group, host).
fn undecided_per_host(readiness: &[GroupReadiness]) -> BTreeMap<(&str, &str), u64> {
    let mut counts = BTreeMap::new();
    for r in readiness {
        for app in &r.undecided {
            for host in &app.host_names {
                *counts.entry((r.group.as_str(), host.as_str())).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// A sheet name for a group that no other sheet has (Excel compares them case-insensitively).
fn unique_sheet_name(group: &str, taken: &mut BTreeSet<String>) -> String {
    let base = sheet::sheet_name(group);
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name.to_lowercase())
        || ["summary", "rules", "hosts"].contains(&name.to_lowercase().as_str())
    {
        let suffix = format!(" ({n})");
        name = format!(
            "{}{suffix}",
            base.chars().take(31 - suffix.len()).collect::<String>()
        );
        n += 1;
    }
    taken.insert(name.to_lowercase());
    name
}
