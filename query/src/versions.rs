//! A group's published policy versions, and what changes between two policies: the rules
//! ([`policy::diff`]) and the **event impact**, which is `simulate(after) − simulate(before)`
//! over the recorded window: the apps whose blocked events differ, with their hosts, users
//! and the rules that cause it.

use std::collections::BTreeMap;

use policy::Policy;
use policy::diff::PolicyDiff;
use policy::identities::users_merged;

use crate::report::AppRow;
use crate::simulate::{BlockedApp, Simulation};

/// A collection about to be enforced that the version has no rules for: enforcing it blocks
/// every file of the collection.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnforceWarning {
    /// Always `no_rules`.
    pub code: &'static str,
    pub collection: crate::Collection,
    pub message: String,
}

/// The collections of `collections` that `policy` (version `version`) has no rules for.
pub fn enforcing_without_rules(
    policy: &Policy,
    collections: &[crate::Collection],
    version: i64,
) -> Vec<EnforceWarning> {
    collections
        .iter()
        .filter_map(|&c| {
            let kind = crate::app::rule_collection(c);
            let empty = policy.collection(kind).is_none_or(|rc| rc.rules.is_empty());
            empty.then(|| EnforceWarning {
                code: "no_rules",
                collection: c,
                message: format!(
                    "version {version} has no {kind} rules: enforcing {c} blocks everything of the collection{}",
                    if kind == policy::CollectionKind::Exe {
                        " (and, without Appx rules, packaged apps too)"
                    } else {
                        ""
                    }
                ),
            })
        })
        .collect()
}

/// When a rollout went live, as the record keeps it (RFC 3339 UTC, seconds): `at` (a date
/// or an RFC 3339 time), or now.
pub fn rollout_time(at: Option<&str>) -> crate::Result<String> {
    let t = match at {
        Some(text) => crate::parse_time_bound(text, false)?,
        None => chrono::Utc::now(),
    };
    Ok(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// The UTC hour `ago` before now, as `GroupMonitor::unexpected_by_hour` names hours
/// (`2026-10-05T13`).
pub fn hour_before(ago: std::time::Duration) -> String {
    let ago = chrono::Duration::from_std(ago).unwrap_or(chrono::Duration::days(36_500));
    (chrono::Utc::now() - ago).format("%Y-%m-%dT%H").to_string()
}

/// Which policy of a group a diff or an export means.
#[derive(Debug, Clone)]
pub enum PolicyRef {
    /// A published version, by number.
    Version(i64),
    /// The policy in force (imported into the workspace, or given).
    Current,
    /// The group's candidate as its decisions make it now.
    Candidate,
    /// A policy from elsewhere (a file), with how to name it.
    Given(Policy, String),
}

impl PolicyRef {
    /// `3`, `current`, `candidate`; anything else is not a reference (a file, for the CLI).
    pub fn parse_named(text: &str) -> Option<PolicyRef> {
        match text {
            "current" => Some(PolicyRef::Current),
            "candidate" => Some(PolicyRef::Candidate),
            number => number.parse().ok().map(PolicyRef::Version),
        }
    }
}

/// What changes from one policy of a group to another.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyChange {
    pub group: String,
    /// What each side is (`version 2`, `current: the group's policy imported …`).
    pub before: String,
    pub after: String,
    pub rules: PolicyDiff,
    pub impact: Impact,
}

/// The apps whose verdict changes, over the recorded window.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Impact {
    /// Executions `after` blocks that `before` let run.
    pub newly_blocked_events: u64,
    /// Executions `before` blocked that `after` lets run.
    pub newly_allowed_events: u64,
    pub newly_blocked: Vec<ImpactApp>,
    pub newly_allowed: Vec<ImpactApp>,
}

/// One app whose verdict changes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ImpactApp {
    #[serde(flatten)]
    pub app: AppRow,
    /// The executions whose verdict changes (the app's `events` are all it logged).
    pub changed_events: u64,
    /// For a newly blocked app, the rules of `after` that block it (`implicit deny`: no
    /// allow rule matches); for a newly allowed one, what blocked it under `before`.
    pub cause: Vec<String>,
    pub host_names: Vec<String>,
    pub user_sids: Vec<String>,
}

/// The apps each simulation blocks, by app id (still and newly blocked together: what
/// counts is blocked or not).
fn blocked_apps(simulation: &Simulation) -> BTreeMap<String, BlockedApp> {
    let mut out: BTreeMap<String, BlockedApp> = BTreeMap::new();
    for g in &simulation.groups {
        for app in g.still_blocked.iter().chain(&g.newly_blocked) {
            match out.get_mut(&app.app.app_id) {
                Some(seen) => merge(seen, app),
                None => {
                    out.insert(app.app.app_id.clone(), app.clone());
                }
            }
        }
    }
    out
}

fn merge(into: &mut BlockedApp, other: &BlockedApp) {
    into.app.events += other.app.events;
    for (list, more) in [
        (&mut into.blocked_by, &other.blocked_by),
        (&mut into.host_names, &other.host_names),
        (&mut into.user_sids, &other.user_sids),
    ] {
        list.extend(more.iter().cloned());
        list.sort();
        list.dedup();
    }
    into.app.hosts = into.app.hosts.max(into.host_names.len() as u64);
    into.app.users = into.app.users.max(into.user_sids.len() as u64);
    into.app.users_seen = users_merged(&into.app.users_seen, &other.app.users_seen);
}

/// `after − before`: the apps blocked by one simulation and not (or less) by the other.
pub fn impact(before: &Simulation, after: &Simulation) -> Impact {
    let (old, new) = (blocked_apps(before), blocked_apps(after));
    let mut out = Impact::default();
    let changed = |app: &BlockedApp, events: u64| ImpactApp {
        app: app.app.clone(),
        changed_events: events,
        cause: app.blocked_by.clone(),
        host_names: app.host_names.clone(),
        user_sids: app.user_sids.clone(),
    };
    for (id, b) in &new {
        let was = old.get(id).map_or(0, |a| a.app.events);
        if b.app.events > was {
            out.newly_blocked_events += b.app.events - was;
            out.newly_blocked.push(changed(b, b.app.events - was));
        }
    }
    for (id, a) in &old {
        let now = new.get(id).map_or(0, |b| b.app.events);
        if a.app.events > now {
            out.newly_allowed_events += a.app.events - now;
            out.newly_allowed.push(changed(a, a.app.events - now));
        }
    }
    for list in [&mut out.newly_blocked, &mut out.newly_allowed] {
        list.sort_by(|x, y| {
            y.changed_events
                .cmp(&x.changed_events)
                .then_with(|| x.app.app_id.cmp(&y.app.app_id))
        });
    }
    out
}
