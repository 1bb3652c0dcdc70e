//! `readiness`: per group and collection, can the candidate policy be enforced?
//!
//! - `not_ready`: the candidate would still block recorded executions (residual apps,
//!   events, hosts are given).
//! - `insufficient_data`: nothing would be blocked, but the evidence is too thin to say so:
//!   fewer than `min_days` days of events, inventory hosts that never reported, or no
//!   events at all for the collection. Never "ready" on thin evidence.
//! - `ready`: nothing would be blocked, on enough evidence.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use policy::suggest::{Granularity, to_policy};
use policy::{EnforcementMode, Evaluator, Policy, SidGroups};

use schema::{Collection, Outcome};

use crate::app::{APP_HASH_SQL, IDENTITY_COLUMNS, app_path_sql};
use crate::columns::{collect, ints, strings, times};
use crate::inventory::{HostGroups, Inventory};
use crate::report::{applocker_outcomes_sql, in_list, noise_filter};
use crate::simulate::{SimulateOptions, simulate};
use crate::suggest::{SuggestOptions, suggest_rules};
use crate::{Result, Window};

/// Days with events a group needs before it can be `ready`, unless told otherwise.
pub const DEFAULT_MIN_DAYS: u32 = 14;

/// What to judge.
#[derive(Debug, Clone)]
pub struct ReadinessOptions {
    pub window: Window,
    /// Only these groups (all when empty).
    pub groups: Vec<String>,
    /// Days with events needed before a group can be `ready`.
    pub min_days: u32,
    pub include_noise: bool,
    /// Judge the executions the current policy allowed too (see
    /// [`SimulateOptions::include_allowed`]): on when the candidate is a whole policy.
    pub include_allowed: bool,
}

impl Default for ReadinessOptions {
    fn default() -> Self {
        ReadinessOptions {
            window: Window::default(),
            groups: Vec::new(),
            min_days: DEFAULT_MIN_DAYS,
            include_noise: false,
            include_allowed: true,
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
    /// The candidate would still block recorded executions.
    WouldBlock,
    /// No event of this collection in the window.
    NoEvents,
    /// Fewer days of evidence than needed.
    TooFewDays,
    /// Inventory hosts that never reported in the window.
    HostsNeverReported,
}

impl Reason {
    fn new(code: ReasonCode, message: String) -> Reason {
        Reason { code, message }
    }
}

/// One collection of one group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionReadiness {
    pub collection: Collection,
    pub status: Status,
    /// AppLocker events of this collection (any outcome) in the window.
    pub events: u64,
    pub days_of_evidence: u64,
    pub residual_apps: u64,
    pub residual_events: u64,
    pub residual_hosts: u64,
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
    pub hosts_in_inventory: u64,
    pub hosts_reporting: u64,
    pub days_of_evidence: u64,
    pub collections: Vec<CollectionReadiness>,
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

/// The policy each group is judged under.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// One whole policy for every group: every recorded execution is judged.
    Whole(Policy),
    /// Per group: the current policy (when known) plus that group's suggested rules that are
    /// not flagged for review. Without the current policy, what it allowed is taken to stay
    /// allowed (only audited and blocked executions are judged).
    CurrentPlusSuggestions {
        current: Option<Policy>,
        granularity: Option<Granularity>,
    },
}

/// Readiness of each group under `candidate`, with `sid_groups` for rules on other SIDs than
/// Everyone. `opts.include_allowed` is derived from the candidate.
pub async fn readiness_of(
    ctx: &SessionContext,
    inventory: &Inventory,
    candidate: &Candidate,
    sid_groups: Option<SidGroups>,
    opts: &ReadinessOptions,
) -> Result<Vec<GroupReadiness>> {
    let mut per_group: BTreeMap<String, Policy> = BTreeMap::new();
    let (fallback, include_allowed) = match candidate {
        Candidate::Whole(policy) => (policy.clone(), true),
        Candidate::CurrentPlusSuggestions {
            current,
            granularity,
        } => {
            let suggest_opts = SuggestOptions {
                window: opts.window,
                groups: opts.groups.clone(),
                granularity: *granularity,
                sid: policy::eval::EVERYONE.into(),
                include_noise: opts.include_noise,
            };
            for g in suggest_rules(ctx, inventory, current.as_ref(), &suggest_opts).await? {
                let mut p = current.clone().unwrap_or_default();
                let suggested = to_policy(
                    &g.suggestions,
                    false,
                    EnforcementMode::AuditOnly,
                    current.as_ref(),
                );
                p.merge(&suggested);
                per_group.insert(g.group, p);
            }
            (current.clone().unwrap_or_default(), current.is_some())
        }
    };
    let evaluator_of = |group: &str| {
        Evaluator::new(
            per_group.get(group).unwrap_or(&fallback),
            sid_groups.clone(),
        )
    };
    let opts = ReadinessOptions {
        include_allowed,
        ..opts.clone()
    };
    readiness(ctx, inventory, &evaluator_of, &opts).await
}

/// Readiness of each group under `candidate(group)`, the policy that group would enforce.
pub async fn readiness(
    ctx: &SessionContext,
    inventory: &Inventory,
    candidate: &(dyn Fn(&str) -> Evaluator + Sync),
    opts: &ReadinessOptions,
) -> Result<Vec<GroupReadiness>> {
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let mut names: Vec<String> = hosts.known_groups(inventory).into_iter().collect();
    if !opts.groups.is_empty() {
        names.retain(|g| opts.groups.contains(g));
    }
    let evidence = evidence(ctx, &hosts, opts).await?;
    let mut out = Vec::new();
    for group in names {
        let sim = simulate(
            ctx,
            inventory,
            &candidate(&group),
            &SimulateOptions {
                window: opts.window,
                groups: vec![group.clone()],
                include_noise: opts.include_noise,
                include_allowed: opts.include_allowed,
            },
        )
        .await?;
        let residual = sim.groups.into_iter().find(|g| g.group == group);
        let in_inventory = (inventory.named_computers(&group) + hosts.globbed_in(&group)) as u64;
        let e = evidence.get(&group);
        let reporting = e.map_or(0, |e| e.hosts);
        let mut collections = Vec::new();
        for collection in Collection::ALL {
            let c = e.and_then(|e| e.collections.get(&collection));
            let apps: Vec<_> = residual
                .iter()
                .flat_map(|r| r.still_blocked.iter().chain(&r.newly_blocked))
                .filter(|a| a.app.collection == Some(collection))
                .collect();
            let residual_hosts = residual
                .as_ref()
                .and_then(|r| r.blocked_hosts.get(&collection).copied())
                .unwrap_or(0);
            let mut reasons = Vec::new();
            let residual_events: u64 = apps.iter().map(|a| a.app.events).sum();
            if residual_events > 0 {
                reasons.push(Reason::new(
                    ReasonCode::WouldBlock,
                    format!(
                        "{} app(s), {residual_events} event(s) on {residual_hosts} host(s) would be blocked",
                        apps.len()
                    ),
                ));
            }
            let days = c.map_or(0, |c| c.days);
            if c.is_none_or(|c| c.events == 0) {
                reasons.push(Reason::new(
                    ReasonCode::NoEvents,
                    "no events for this collection in the window".into(),
                ));
            } else if days < u64::from(opts.min_days) {
                reasons.push(Reason::new(
                    ReasonCode::TooFewDays,
                    format!("{days} day(s) of evidence, {} needed", opts.min_days),
                ));
            }
            if reporting < in_inventory {
                reasons.push(Reason::new(
                    ReasonCode::HostsNeverReported,
                    format!(
                        "{} of {in_inventory} inventory host(s) never reported",
                        in_inventory - reporting
                    ),
                ));
            }
            let status = if residual_events > 0 {
                Status::NotReady
            } else if reasons.is_empty() {
                Status::Ready
            } else {
                Status::InsufficientData
            };
            collections.push(CollectionReadiness {
                collection,
                status,
                events: c.map_or(0, |c| c.events),
                days_of_evidence: days,
                residual_apps: apps.len() as u64,
                residual_events,
                residual_hosts,
                last_new_app: c.and_then(|c| c.last_new_app),
                reasons,
            });
        }
        out.push(GroupReadiness {
            group,
            hosts_in_inventory: in_inventory,
            hosts_reporting: reporting,
            days_of_evidence: e.map_or(0, |e| e.days),
            collections,
        });
    }
    Ok(out)
}

#[derive(Default)]
struct GroupEvidence {
    hosts: u64,
    days: u64,
    collections: BTreeMap<Collection, CollectionEvidence>,
}

struct CollectionEvidence {
    events: u64,
    days: u64,
    last_new_app: Option<DateTime<Utc>>,
}

/// Per group: hosts reporting and days with events; per collection: events, days, and the
/// newest app's first sighting.
async fn evidence(
    ctx: &SessionContext,
    hosts: &HostGroups,
    opts: &ReadinessOptions,
) -> Result<BTreeMap<String, GroupEvidence>> {
    let window = opts.window.sql();
    let host_table = hosts.table_sql();
    let groups = in_list("h.grp", &opts.groups);
    let per_group = format!(
        r"WITH per_host AS (
            SELECT computer, computer_key, date_trunc('day', time) AS day
            FROM events WHERE true {window}
            GROUP BY computer, computer_key, date_trunc('day', time))
          SELECT h.grp, COUNT(DISTINCT p.computer_key) AS hosts, COUNT(DISTINCT p.day) AS days
          FROM per_host p JOIN ({host_table}) h ON p.computer = h.computer
          WHERE true {groups}
          GROUP BY h.grp"
    );
    let per_collection = format!(
        r"WITH fine AS (
            SELECT computer, collection, publisher, product, binary_name, file_hash, file_path,
              date_trunc('day', time) AS day, SUM(1) AS events, MIN(time) AS first_seen
            FROM events
            WHERE {applocker} AND collection IS NOT NULL {window} {noise}
            GROUP BY computer, collection, publisher, product, binary_name, file_hash, file_path,
              date_trunc('day', time)),
          judged AS (
            SELECT h.grp, f.*, {APP_HASH_SQL} AS app_hash
            FROM fine f JOIN ({host_table}) h ON f.computer = h.computer
            WHERE true {groups}),
          identified AS (SELECT *, {app_path} AS app_path FROM judged),
          apps AS (
            SELECT grp, {IDENTITY_COLUMNS}, MIN(first_seen) AS first_seen FROM identified
            GROUP BY grp, {IDENTITY_COLUMNS}),
          newest AS (
            SELECT grp, collection, MAX(first_seen) AS last_new_app FROM apps
            GROUP BY grp, collection),
          totals AS (
            SELECT grp, collection, SUM(events) AS events, COUNT(DISTINCT day) AS days
            FROM judged GROUP BY grp, collection)
          SELECT t.grp, t.collection, t.events, t.days, n.last_new_app
          FROM totals t JOIN newest n ON t.grp = n.grp AND t.collection = n.collection",
        applocker = applocker_outcomes_sql(&[Outcome::Allowed, Outcome::Audit, Outcome::Blocked]),
        app_path = app_path_sql(),
        noise = noise_filter(opts.include_noise),
    );
    let mut out: BTreeMap<String, GroupEvidence> = BTreeMap::new();
    for batch in collect(ctx, &per_group).await? {
        let (grp, hosts, days) = (
            strings(&batch, "grp")?,
            ints(&batch, "hosts")?,
            ints(&batch, "days")?,
        );
        for i in 0..batch.num_rows() {
            let g = out.entry(grp[i].clone().unwrap_or_default()).or_default();
            g.hosts = hosts[i] as u64;
            g.days = days[i] as u64;
        }
    }
    for batch in collect(ctx, &per_collection).await? {
        let (grp, collection) = (strings(&batch, "grp")?, strings(&batch, "collection")?);
        let (events, days) = (ints(&batch, "events")?, ints(&batch, "days")?);
        let last = times(&batch, "last_new_app")?;
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
    Ok(out)
}
