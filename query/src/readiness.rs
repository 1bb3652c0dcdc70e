//! `readiness`: per group and collection, can the group's candidate policy be enforced?
//!
//! What the candidate would still block is split by what was decided about each app:
//! **undecided** and **deferred** apps keep the group from being ready; apps **blocked on
//! purpose** do not (they are listed with the hosts and users who will see the block, so
//! they can be told). The evidence must be healthy too: enough days with the group's hosts
//! reporting (any event, not events of one collection: installs are rare), no inventory
//! host that never reported or went silent, and events for every collection the policy in
//! force does not configure.
//!
//! - `not_ready`: undecided or deferred apps would be blocked;
//! - `insufficient_data`: nothing undecided would be blocked, but the evidence is thin;
//! - `ready`: neither. Never "ready" on thin evidence.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use datafusion::prelude::SessionContext;
use policy::Evaluator;
use policy::identities::{NamedUser, users_merged};
use schema::{Collection, Outcome};
use workspace::{Decision, Verdict};

use crate::app::{APP_HASH_SQL, IDENTITY_COLUMNS, app_path_sql};
use crate::columns::{collect, ints, strings, times};
use crate::inventory::{HostGroups, Inventory};
use crate::report::{applocker_outcomes_sql, in_list, noise_filter};
use crate::rows::Rows;
use crate::simulate::{
    BlockedApp, SimulateOptions, judged_outcomes, keep_simulated, simulate_judging,
};
use crate::whatif::{EXECUTIONS, Executions, Judging, Keep};
use crate::{Result, Window};

/// Days with the group's hosts reporting needed before it can be `ready`, unless told
/// otherwise.
pub const DEFAULT_MIN_DAYS: u32 = 14;
/// A host whose last event is more than this many days before the window's end has gone
/// silent, unless told otherwise.
pub const DEFAULT_SILENT_DAYS: u32 = 7;

/// What to judge.
#[derive(Debug, Clone)]
pub struct ReadinessOptions {
    pub window: Window,
    /// Only these groups (all when empty).
    pub groups: Vec<String>,
    pub min_days: u32,
    pub silent_days: u32,
    pub include_noise: bool,
}

impl Default for ReadinessOptions {
    fn default() -> Self {
        ReadinessOptions {
            window: Window::default(),
            groups: Vec::new(),
            min_days: DEFAULT_MIN_DAYS,
            silent_days: DEFAULT_SILENT_DAYS,
            include_noise: false,
        }
    }
}

/// The verdict for one group and collection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Status {
    Ready,
    NotReady,
    InsufficientData,
}

impl Status {
    /// How the status is written (`not_ready`), in JSON and in tables alike.
    pub const fn as_str(self) -> &'static str {
        match self {
            Status::Ready => "ready",
            Status::NotReady => "not_ready",
            Status::InsufficientData => "insufficient_data",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a collection is not `ready`: a stable `code` for programs and a `message` for people.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reason {
    pub code: ReasonCode,
    pub message: String,
}

/// The kinds of [`Reason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ReasonCode {
    /// The candidate would block apps nobody has decided about.
    WouldBlock,
    /// The candidate would block apps whose decision was deferred.
    Deferred,
    /// No event of this collection, which the policy in force does not configure: no
    /// evidence that it is audited at all.
    NoEvents,
    /// Fewer days with the group's hosts reporting than needed.
    TooFewDays,
    /// Inventory hosts that never reported in the window.
    HostsNeverReported,
    /// Hosts that stopped reporting well before the window's end.
    HostsSilent,
}

impl Reason {
    fn new(code: ReasonCode, message: String) -> Reason {
        Reason { code, message }
    }
}

/// An app the candidate would still block, with what was decided about it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResidualApp {
    pub app_id: String,
    pub label: String,
    pub collection: Option<Collection>,
    pub events: u64,
    pub hosts: u64,
    pub users: u64,
    /// The first of them by SID, named where known (as on [`crate::report::AppRow`]).
    pub users_seen: Vec<NamedUser>,
    /// The hosts (computer keys) and users (SIDs) who would see the block.
    pub host_names: Vec<String>,
    pub user_sids: Vec<String>,
    /// Deny rules that block it, or `implicit deny`.
    pub blocked_by: Vec<String>,
    /// The decision on it, if any (an `allow` here means its rule does not cover it).
    pub decision: Option<Verdict>,
    pub decided_by: Option<String>,
    pub decided_at: Option<String>,
}

/// A host of the group, and when it last reported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostSeen {
    pub computer: String,
    pub last_seen: DateTime<Utc>,
}

/// One thing left to do before the group can be enforced.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Todo {
    pub code: TodoCode,
    pub message: String,
    /// The app it is about, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_id: Option<String>,
}

/// The kinds of [`Todo`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum TodoCode {
    /// Decide about an app the candidate would block (allow, block or defer).
    DecideApp,
    /// Finish looking at a deferred app.
    FinishDeferred,
    /// An app was allowed, but its rule does not cover all of it.
    FixAllowRule,
    /// Find out why a host stopped reporting.
    HostSilent,
    /// Find out why an inventory host never reported.
    HostNeverReported,
    /// Keep auditing: more days of evidence are needed.
    MoreDays,
    /// Audit a collection the policy does not configure.
    AuditCollection,
}

/// One collection of one group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionReadiness {
    pub collection: Collection,
    pub status: Status,
    /// AppLocker events of this collection (any outcome) in the window.
    pub events: u64,
    /// Days with an event of this collection (for information: readiness counts the days
    /// the group's hosts reported at all).
    pub days_of_evidence: u64,
    /// Undecided and deferred apps the candidate would block, their events and hosts.
    pub residual_apps: u64,
    pub residual_events: u64,
    pub residual_hosts: u64,
    /// Apps blocked on purpose (they do not keep the group from being ready).
    pub blocked_on_purpose_apps: u64,
    /// When the newest app (by first sighting) was first seen.
    pub last_new_app: Option<DateTime<Utc>>,
    /// Why it is not `ready`.
    pub reasons: Vec<Reason>,
}

/// One group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupReadiness {
    pub group: String,
    /// The policy the group was judged under.
    pub candidate: String,
    pub hosts_in_inventory: u64,
    pub hosts_reporting: u64,
    /// Days with any event from the group's hosts.
    pub days_of_evidence: u64,
    pub collections: Vec<CollectionReadiness>,
    /// What the candidate would block, by what was decided, most events first.
    pub undecided: Vec<ResidualApp>,
    pub deferred: Vec<ResidualApp>,
    pub blocked_on_purpose: Vec<ResidualApp>,
    /// Hosts whose last event is more than `silent_days` before the window's end.
    pub hosts_silent: Vec<HostSeen>,
    /// Computers the inventory names that never reported in the window.
    pub hosts_never_reported: Vec<String>,
    /// What is left to do, most pressing first.
    pub todo: Vec<Todo>,
}

impl GroupReadiness {
    /// The group's overall status: its worst collection.
    pub fn status(&self) -> Status {
        let has = |s| self.collections.iter().any(|c| c.status == s);
        if has(Status::NotReady) {
            Status::NotReady
        } else if has(Status::InsufficientData) {
            Status::InsufficientData
        } else {
            Status::Ready
        }
    }
}

/// How one group is judged: the policy it would enforce, and what was decided about its apps.
pub struct GroupPlan {
    pub evaluator: Evaluator,
    /// Judge the executions allowed today too (the policy in force is known, so the
    /// candidate is a whole policy). Otherwise what was allowed is taken to stay allowed.
    pub include_allowed: bool,
    /// Collections the policy in force has rules for: one without events there is not a
    /// gap in the evidence (nothing ran that it would judge).
    pub configured: BTreeSet<Collection>,
    /// The decisions on the group's apps, by app id.
    pub decisions: BTreeMap<String, Decision>,
    /// Whether the policy in force is known (imported or given).
    pub current_known: bool,
    /// What the candidate is, for people.
    pub candidate: String,
}

/// Readiness of each group of `plans` (sorted by group), under its plan.
pub async fn readiness(
    ctx: &SessionContext,
    inventory: &Inventory,
    plans: &BTreeMap<String, GroupPlan>,
    opts: &ReadinessOptions,
) -> Result<Vec<GroupReadiness>> {
    let started = std::time::Instant::now();
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    // One aggregate of the events for everything below: every group's simulation, and the
    // first sightings of the evidence. Every outcome, whatever the plans judge: the
    // evidence counts allowed executions too.
    let judged: Vec<String> = plans.keys().cloned().collect();
    Executions::register(
        ctx,
        &[Outcome::Allowed, Outcome::Audit, Outcome::Blocked],
        &opts.window,
        &hosts.scope_sql(&judged),
    )
    .await?;
    let executions_ms = started.elapsed().as_millis() as u64;
    let (evidence, store_end) = evidence(ctx, &hosts, opts).await?;
    tracing::debug!(
        executions_ms,
        evidence_ms = started.elapsed().as_millis() as u64 - executions_ms,
        "readiness"
    );
    // Every group's candidate judges its own computers' executions, in one pass.
    let sim_opts = SimulateOptions {
        window: opts.window,
        groups: judged.clone(),
        include_noise: opts.include_noise,
        include_allowed: true,
        with_who: true,
        unknown_current: false,
    };
    let candidates: Vec<(&str, &Evaluator, Keep)> = plans
        .iter()
        .map(|(group, plan)| {
            let plan_opts = SimulateOptions {
                include_allowed: plan.include_allowed,
                unknown_current: !plan.include_allowed,
                ..sim_opts.clone()
            };
            (group.as_str(), &plan.evaluator, keep_simulated(&plan_opts))
        })
        .collect();
    let judging = Judging::PerGroup {
        hosts: &hosts,
        candidates: &candidates,
    };
    let executions = Executions::narrowed(judged_outcomes(&sim_opts), &hosts.scope_sql(&judged));
    let sim = simulate_judging(ctx, inventory, &hosts, judging, &sim_opts, &executions).await?;
    let mut blocked: BTreeMap<String, Vec<BlockedApp>> = sim
        .groups
        .into_iter()
        .map(|g| {
            let apps = g.still_blocked.into_iter().chain(g.newly_blocked);
            (g.group, apps.collect())
        })
        .collect();
    let mut out = Vec::new();
    for (group, plan) in plans {
        let blocked = blocked.remove(group).unwrap_or_default();
        let in_inventory = (inventory.named_computers(group) + hosts.globbed_in(group)) as u64;
        let empty = GroupEvidence::default();
        let e = evidence.get(group).unwrap_or(&empty);
        let window_end = opts.window.until.or(store_end);
        let facts = Facts {
            evidence: e,
            inventory,
            in_inventory,
            window_end,
        };
        out.push(judge(group, plan, &blocked, &facts, opts));
    }
    Ok(out)
}

/// What a group's evidence is judged on.
struct Facts<'a> {
    evidence: &'a GroupEvidence,
    inventory: &'a Inventory,
    in_inventory: u64,
    /// `until`, else the store's latest event.
    window_end: Option<DateTime<Utc>>,
}

/// One group's readiness from what its candidate blocks and its evidence.
fn judge(
    group: &str,
    plan: &GroupPlan,
    blocked: &[BlockedApp],
    facts: &Facts<'_>,
    opts: &ReadinessOptions,
) -> GroupReadiness {
    let (e, in_inventory) = (facts.evidence, facts.in_inventory);
    let (mut undecided, mut deferred, mut on_purpose) = (Vec::new(), Vec::new(), Vec::new());
    for b in blocked {
        let decision = plan.decisions.get(&b.app.app_id);
        let app = ResidualApp {
            app_id: b.app.app_id.clone(),
            label: b.app.label.clone(),
            collection: b.app.collection,
            events: b.app.events,
            hosts: b.app.hosts,
            users: b.app.users,
            users_seen: b.app.users_seen.clone(),
            host_names: b.host_names.clone(),
            user_sids: b.user_sids.clone(),
            blocked_by: b.blocked_by.clone(),
            decision: decision.map(|d| d.verdict),
            decided_by: decision.map(|d| d.decided_by.clone()),
            decided_at: decision.map(|d| d.decided_at.clone()),
        };
        match app.decision {
            Some(Verdict::Block) => on_purpose.push(app),
            Some(Verdict::Defer) => deferred.push(app),
            None | Some(Verdict::Allow) => undecided.push(app),
        }
    }
    // An app blocked as "still" and "newly" (some executions of each) is one app.
    for list in [&mut undecided, &mut deferred, &mut on_purpose] {
        merge_same_app(list);
    }

    let never_reported = never_reported(facts.inventory, group, &e.seen);
    let silent: Vec<HostSeen> = facts
        .window_end
        .map(|end| {
            let limit = end - Duration::days(i64::from(opts.silent_days));
            e.seen
                .iter()
                .filter(|(_, last)| **last < limit)
                .map(|(computer, last)| HostSeen {
                    computer: computer.clone(),
                    last_seen: *last,
                })
                .collect()
        })
        .unwrap_or_default();

    // The evidence reasons hold for every collection of the group.
    let mut evidence_reasons = Vec::new();
    if e.days < u64::from(opts.min_days) {
        evidence_reasons.push(Reason::new(
            ReasonCode::TooFewDays,
            format!(
                "{} day(s) with the group's hosts reporting, {} needed",
                e.days, opts.min_days
            ),
        ));
    }
    if !never_reported.is_empty() {
        evidence_reasons.push(Reason::new(
            ReasonCode::HostsNeverReported,
            format!(
                "{} of {in_inventory} inventory host(s) never reported: {}",
                never_reported.len(),
                names(&never_reported)
            ),
        ));
    }
    if !silent.is_empty() {
        let computers: Vec<String> = silent.iter().map(|h| h.computer.clone()).collect();
        evidence_reasons.push(Reason::new(
            ReasonCode::HostsSilent,
            format!(
                "{} host(s) silent for more than {} day(s) before the window's end: {}",
                silent.len(),
                opts.silent_days,
                names(&computers)
            ),
        ));
    }

    let mut collections = Vec::new();
    for collection in Collection::ALL {
        let c = e.collections.get(&collection);
        fn of(apps: &[ResidualApp], collection: Collection) -> Vec<&ResidualApp> {
            apps.iter()
                .filter(|a| a.collection == Some(collection))
                .collect()
        }
        let (open, waiting) = (of(&undecided, collection), of(&deferred, collection));
        let residual: Vec<&ResidualApp> = open.iter().chain(&waiting).copied().collect();
        let residual_events: u64 = residual.iter().map(|a| a.events).sum();
        let residual_hosts: BTreeSet<&str> = residual
            .iter()
            .flat_map(|a| a.host_names.iter().map(String::as_str))
            .collect();
        let mut reasons = Vec::new();
        for (apps, code, what) in [
            (&open, ReasonCode::WouldBlock, "undecided"),
            (&waiting, ReasonCode::Deferred, "deferred"),
        ] {
            if !apps.is_empty() {
                let events: u64 = apps.iter().map(|a| a.events).sum();
                let hosts: BTreeSet<&str> = apps
                    .iter()
                    .flat_map(|a| a.host_names.iter().map(String::as_str))
                    .collect();
                reasons.push(Reason::new(
                    code,
                    format!(
                        "{} {what} app(s), {events} event(s) on {} host(s) would be blocked",
                        apps.len(),
                        hosts.len()
                    ),
                ));
            }
        }
        let events = c.map_or(0, |c| c.events);
        if events == 0 && !plan.configured.contains(&collection) {
            let why = if plan.current_known {
                "no events for this collection, which the policy in force has no rules for: audit it first"
            } else {
                "no events for this collection, and no policy in force imported to show it is audited: audit it first"
            };
            reasons.push(Reason::new(ReasonCode::NoEvents, why.into()));
        }
        reasons.extend(evidence_reasons.iter().cloned());
        let status = if !residual.is_empty() {
            Status::NotReady
        } else if reasons.is_empty() {
            Status::Ready
        } else {
            Status::InsufficientData
        };
        collections.push(CollectionReadiness {
            collection,
            status,
            events,
            days_of_evidence: c.map_or(0, |c| c.days),
            residual_apps: residual.len() as u64,
            residual_events,
            residual_hosts: residual_hosts.len() as u64,
            blocked_on_purpose_apps: of(&on_purpose, collection).len() as u64,
            last_new_app: c.and_then(|c| c.last_new_app),
            reasons,
        });
    }
    let todo = todo(
        &undecided,
        &deferred,
        &silent,
        &never_reported,
        &collections,
        e.days,
        opts.min_days,
    );
    GroupReadiness {
        group: group.to_owned(),
        candidate: plan.candidate.clone(),
        hosts_in_inventory: in_inventory,
        hosts_reporting: e.seen.len() as u64,
        days_of_evidence: e.days,
        collections,
        undecided,
        deferred,
        blocked_on_purpose: on_purpose,
        hosts_silent: silent,
        hosts_never_reported: never_reported,
        todo,
    }
}

/// One entry per app (a "still" and a "newly" blocked row of one app become one), most
/// events first.
fn merge_same_app(apps: &mut Vec<ResidualApp>) {
    let mut by_id: BTreeMap<String, ResidualApp> = BTreeMap::new();
    for app in apps.drain(..) {
        match by_id.get_mut(&app.app_id) {
            None => {
                by_id.insert(app.app_id.clone(), app);
            }
            Some(seen) => {
                seen.events += app.events;
                seen.hosts = seen.hosts.max(app.hosts);
                seen.users = seen.users.max(app.users);
                seen.users_seen = users_merged(&seen.users_seen, &app.users_seen);
                for (ours, theirs) in [
                    (&mut seen.host_names, app.host_names),
                    (&mut seen.user_sids, app.user_sids),
                    (&mut seen.blocked_by, app.blocked_by),
                ] {
                    ours.extend(theirs);
                    ours.sort();
                    ours.dedup();
                }
                seen.hosts = seen.hosts.max(seen.host_names.len() as u64);
                seen.users = seen.users.max(seen.user_sids.len() as u64);
            }
        }
    }
    apps.extend(by_id.into_values());
    apps.sort_by(|a, b| b.events.cmp(&a.events).then(a.label.cmp(&b.label)));
}

/// The computers the inventory names for `group` (not by glob) with no event in the window.
fn never_reported(
    inventory: &Inventory,
    group: &str,
    seen: &BTreeMap<String, DateTime<Utc>>,
) -> Vec<String> {
    let mut names: Vec<String> = inventory
        .entries
        .iter()
        .filter(|e| e.group == group && !e.is_glob())
        .filter(|e| {
            inventory
                .matching_entry(&e.pattern)
                .is_some_and(|m| m.group == group)
        })
        .map(|e| schema::computer_key(&e.pattern))
        .filter(|key| !seen.contains_key(key))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A list of names for a message: the first ten, and how many more.
fn names(list: &[String]) -> String {
    let mut text = list.iter().take(10).cloned().collect::<Vec<_>>().join(", ");
    if list.len() > 10 {
        text.push_str(&format!(" and {} more", list.len() - 10));
    }
    text
}

/// What is left to do, most pressing first: apps by events, then the evidence.
fn todo(
    undecided: &[ResidualApp],
    deferred: &[ResidualApp],
    silent: &[HostSeen],
    never_reported: &[String],
    collections: &[CollectionReadiness],
    days: u64,
    min_days: u32,
) -> Vec<Todo> {
    let mut out = Vec::new();
    for app in undecided {
        let (code, message) = if app.decision == Some(Verdict::Allow) {
            (
                TodoCode::FixAllowRule,
                format!(
                    "{} was allowed, but its rule leaves {} event(s) blocked: decide it again",
                    app.label, app.events
                ),
            )
        } else {
            (
                TodoCode::DecideApp,
                format!(
                    "decide {} ({} event(s), {} host(s)): allow, block or defer",
                    app.label, app.events, app.hosts
                ),
            )
        };
        out.push(Todo {
            code,
            message,
            app_id: Some(app.app_id.clone()),
        });
    }
    for app in deferred {
        out.push(Todo {
            code: TodoCode::FinishDeferred,
            message: format!(
                "finish looking at {} (deferred; {} event(s))",
                app.label, app.events
            ),
            app_id: Some(app.app_id.clone()),
        });
    }
    for host in silent {
        out.push(Todo {
            code: TodoCode::HostSilent,
            message: format!(
                "{} last reported {}: find out why it went silent",
                host.computer,
                host.last_seen.format("%Y-%m-%d %H:%M")
            ),
            app_id: None,
        });
    }
    for host in never_reported {
        out.push(Todo {
            code: TodoCode::HostNeverReported,
            message: format!("{host} is in the inventory but never reported"),
            app_id: None,
        });
    }
    if days < u64::from(min_days) {
        out.push(Todo {
            code: TodoCode::MoreDays,
            message: format!(
                "keep auditing: {} more day(s) of evidence needed",
                u64::from(min_days) - days
            ),
            app_id: None,
        });
    }
    for c in collections {
        if c.reasons.iter().any(|r| r.code == ReasonCode::NoEvents) {
            out.push(Todo {
                code: TodoCode::AuditCollection,
                message: format!(
                    "{}: no events; audit it (or keep it out of enforcement)",
                    c.collection
                ),
                app_id: None,
            });
        }
    }
    out
}

#[derive(Default)]
struct GroupEvidence {
    /// Days with any event from the group's hosts.
    days: u64,
    /// Each reporting host (computer key) and its last event.
    seen: BTreeMap<String, DateTime<Utc>>,
    collections: BTreeMap<Collection, CollectionEvidence>,
}

struct CollectionEvidence {
    events: u64,
    days: u64,
    last_new_app: Option<DateTime<Utc>>,
}

/// Per group: the days its hosts reported and each host's last event; per collection:
/// events, days, and the newest app's first sighting (from the [`EXECUTIONS`] table, which
/// must hold every outcome in the window for the groups judged). And the latest event of the store in
/// the window (all groups), the window's end when no `until` is given.
async fn evidence(
    ctx: &SessionContext,
    hosts: &HostGroups,
    opts: &ReadinessOptions,
) -> Result<(BTreeMap<String, GroupEvidence>, Option<DateTime<Utc>>)> {
    let rows = Rows::for_window(ctx, &opts.window);
    let (table, window) = (rows.table(), rows.window_sql(&opts.window));
    let (day, count, last) = (rows.day(), rows.count(), rows.last());
    let host_table = hosts.table_sql();
    let groups = in_list("h.grp", &opts.groups);
    let per_host = format!(
        r"WITH per_host AS (
            SELECT computer, computer_key, {day} AS day, MAX({last}) AS last_seen
            FROM {table} WHERE true {window}
            GROUP BY computer, computer_key, {day})
          SELECT h.grp, p.computer_key, COUNT(DISTINCT p.day) AS days, MAX(p.last_seen) AS last_seen
          FROM per_host p JOIN ({host_table}) h ON p.computer = h.computer
          WHERE true {groups}
          GROUP BY h.grp, p.computer_key"
    );
    let per_group = format!(
        r"WITH per_host AS (
            SELECT computer, {day} AS day
            FROM {table} WHERE true {window}
            GROUP BY computer, {day})
          SELECT h.grp, COUNT(DISTINCT p.day) AS days
          FROM per_host p JOIN ({host_table}) h ON p.computer = h.computer
          WHERE true {groups}
          GROUP BY h.grp"
    );
    let store_end = format!("SELECT MAX({last}) AS last FROM {table} WHERE true {window}");
    // Events and days per collection from a small per-day count; the newest app's first
    // sighting from the executions `readiness` registered (one row per computer, outcome
    // and identity, each with its first time), not from another scan of the events.
    let per_collection = format!(
        r"WITH per_day AS (
            SELECT computer, collection, {day} AS day, SUM({count}) AS events
            FROM {table}
            WHERE {applocker} AND collection IS NOT NULL {window} {noise}
            GROUP BY computer, collection, {day}),
          totals AS (
            SELECT h.grp, p.collection, SUM(p.events) AS events, COUNT(DISTINCT p.day) AS days
            FROM per_day p JOIN ({host_table}) h ON p.computer = h.computer
            WHERE true {groups}
            GROUP BY h.grp, p.collection),
          judged AS (
            SELECT h.grp, e.*, {APP_HASH_SQL} AS app_hash
            FROM {EXECUTIONS} e JOIN ({host_table}) h ON e.computer = h.computer
            WHERE e.collection IS NOT NULL {noise} {groups}),
          identified AS (SELECT *, {app_path} AS app_path FROM judged),
          apps AS (
            SELECT grp, {IDENTITY_COLUMNS}, MIN(first_seen) AS first_seen FROM identified
            GROUP BY grp, {IDENTITY_COLUMNS}),
          newest AS (
            SELECT grp, collection, MAX(first_seen) AS last_new_app FROM apps
            GROUP BY grp, collection)
          SELECT t.grp, t.collection, t.events, t.days, n.last_new_app
          FROM totals t JOIN newest n ON t.grp = n.grp AND t.collection = n.collection",
        applocker = applocker_outcomes_sql(&[Outcome::Allowed, Outcome::Audit, Outcome::Blocked]),
        app_path = app_path_sql(),
        noise = noise_filter(opts.include_noise),
    );
    let (host_rows, group_rows, end_rows, collection_rows) = tokio::try_join!(
        collect(ctx, &per_host),
        collect(ctx, &per_group),
        collect(ctx, &store_end),
        collect(ctx, &per_collection),
    )?;
    let end = end_rows
        .iter()
        .map(|b| times(b, "last"))
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .flatten()
        .max();
    let mut out: BTreeMap<String, GroupEvidence> = BTreeMap::new();
    for batch in &host_rows {
        let (grp, key, last) = (
            strings(batch, "grp")?,
            strings(batch, "computer_key")?,
            times(batch, "last_seen")?,
        );
        for i in 0..batch.num_rows() {
            let g = out.entry(grp[i].clone().unwrap_or_default()).or_default();
            if let (Some(key), Some(last)) = (key[i].clone(), last[i]) {
                g.seen.insert(key, last);
            }
        }
    }
    for batch in &group_rows {
        let (grp, days) = (strings(batch, "grp")?, ints(batch, "days")?);
        for i in 0..batch.num_rows() {
            out.entry(grp[i].clone().unwrap_or_default())
                .or_default()
                .days = days[i] as u64;
        }
    }
    for batch in &collection_rows {
        let (grp, collection) = (strings(batch, "grp")?, strings(batch, "collection")?);
        let (events, days) = (ints(batch, "events")?, ints(batch, "days")?);
        let last = times(batch, "last_new_app")?;
        for i in 0..batch.num_rows() {
            let Some(collection) = collection[i].as_deref().and_then(|c| c.parse().ok()) else {
                continue;
            };
            out.entry(grp[i].clone().unwrap_or_default())
                .or_default()
                .collections
                .insert(
                    collection,
                    CollectionEvidence {
                        events: events[i] as u64,
                        days: days[i] as u64,
                        last_new_app: last[i],
                    },
                );
        }
    }
    Ok((out, end))
}
