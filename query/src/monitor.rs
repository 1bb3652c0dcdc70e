//! After the flip: per collection of a group, what the rollout record says (enforced since
//! when, with which version), blocked events per day since then split into **expected**
//! (apps decided `block`) and **unexpected** (anything else), the **exception queue** of
//! unexpected blocked apps with the rule that would allow each, and warnings where the
//! events disagree with the record (hosts still auditing an enforced collection, hosts
//! blocking in a collection recorded as audit).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;
use policy::suggest::{ReviewReason, SuggestOptions};
use schema::{Collection, Outcome};
use workspace::{Decision, Rollout, RolloutMode, Verdict};

use crate::columns::{collect, ints, lists, strings};
use crate::inventory::{HostGroups, Inventory, sql_string};
use crate::report::{AppRow, applocker_outcomes_sql, apps_sql, noise_filter, read_apps};
use crate::{Error, Result};

/// One group after the flip.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupMonitor {
    pub group: String,
    /// The rollout record, in the order the changes went live.
    pub rollouts: Vec<Rollout>,
    /// Per collection with a rollout entry: its state now and its blocks per day.
    pub collections: Vec<CollectionMonitor>,
    pub expected_blocked_events: u64,
    pub unexpected_blocked_events: u64,
    /// Unexpected blocks, by app: what to allow (a decision, a new candidate, a publish) or
    /// confirm blocked. Most events first.
    pub exceptions: Vec<ExceptionApp>,
    /// Unexpected blocked events per hour (`2026-10-05T13`, UTC), for bursts.
    pub unexpected_by_hour: BTreeMap<String, u64>,
    /// Where the events disagree with the rollout record.
    pub warnings: Vec<MonitorWarning>,
    /// When each of the group's hosts picked up the policy after the latest change of the
    /// record: its first 8001 ("policy applied") since then, or none yet.
    pub policy_applied: Vec<HostApplied>,
}

/// A host's first "policy applied" (8001) since the latest change of the record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostApplied {
    pub host: String,
    pub applied_at: Option<DateTime<Utc>>,
}

/// A collection's state and blocks.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CollectionMonitor {
    pub collection: Collection,
    pub mode: RolloutMode,
    /// Since when it is in `mode`.
    pub since: DateTime<Utc>,
    /// The version that went live (enforce).
    pub version: Option<i64>,
    /// Blocked events per day since it was enforced (none while audit).
    pub days: Vec<DayBlocks>,
}

/// Blocked events of one day.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayBlocks {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub expected: u64,
    pub unexpected: u64,
}

/// An app blocked without a `block` decision.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExceptionApp {
    #[serde(flatten)]
    pub app: AppRow,
    pub host_names: Vec<String>,
    pub user_sids: Vec<String>,
    /// The decision on the app, if any (an `allow` whose rule is not live yet, a `defer`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decided: Option<Verdict>,
    /// The rule that would let it run (as `suggest` makes it), when a safe one exists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub proposed_rule: Option<String>,
    /// Why the proposal should be looked at before it is allowed.
    pub review: Vec<ReviewReason>,
}

/// A disagreement between the events and the rollout record.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonitorWarning {
    /// `still_auditing` or `blocking_while_audit`.
    pub code: &'static str,
    pub collection: Collection,
    pub hosts: u64,
    pub message: String,
}

/// Each collection's state from the record (its latest entry): the mode, since when, and
/// the version that went live.
type States = BTreeMap<Collection, (RolloutMode, DateTime<Utc>, Option<i64>)>;

fn states(rollouts: &[Rollout]) -> Result<States> {
    let mut out = BTreeMap::new();
    for r in rollouts {
        let collection: Collection = r.collection.parse().map_err(|_| Error::BadParameter {
            name: "collection",
            message: format!(
                "{:?} in the rollout record is not a collection",
                r.collection
            ),
        })?;
        let at = DateTime::parse_from_rfc3339(&r.at)
            .map_err(|e| Error::BadParameter {
                name: "at",
                message: format!("{:?} in the rollout record: {e}", r.at),
            })?
            .with_timezone(&Utc);
        out.insert(collection, (r.mode, at, r.version));
    }
    Ok(out)
}

fn micros(t: DateTime<Utc>) -> String {
    format!(
        "arrow_cast({}, 'Timestamp(Microsecond, Some(\"UTC\"))')",
        t.timestamp_micros()
    )
}

/// The group after the flip, from the store, the rollout record and the decisions.
pub async fn monitor(
    ctx: &SessionContext,
    inventory: &Inventory,
    group: &str,
    rollouts: &[Rollout],
    decisions: &BTreeMap<String, Decision>,
) -> Result<GroupMonitor> {
    let state = states(rollouts)?;
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let scope = hosts.scope_sql(&[group.to_owned()]);
    let enforced: Vec<(Collection, DateTime<Utc>)> = state
        .iter()
        .filter(|(_, (mode, _, _))| *mode == RolloutMode::Enforce)
        .map(|(c, (_, since, _))| (*c, *since))
        .collect();
    let since_enforced = if enforced.is_empty() {
        " AND false".to_owned()
    } else {
        let any: Vec<String> = enforced
            .iter()
            .map(|(c, since)| format!("(collection = {} AND time >= {})", c.sql(), micros(*since)))
            .collect();
        format!(" AND ({})", any.join(" OR "))
    };
    // Per hour (the days are summed from the hours; alerts look at the last hours).
    let fine = |by_hour: bool| {
        let day_col = if by_hour {
            "CAST(date_trunc('hour', time) AS VARCHAR) AS hour,"
        } else {
            ""
        };
        let day_group = if by_hour { "hour," } else { "" };
        format!(
            r"SELECT computer, {day_col} collection, publisher, product, binary_name,
                {hash} AS app_hash, file_path, user_sid, binary_version,
                MAX(binary_version_key) AS binary_version_key,
                SUM(1) AS events, MIN(time) AS first_seen, MAX(time) AS last_seen
              FROM events
              WHERE {blocked} {since_enforced} {scope}
              GROUP BY computer, {day_group} collection, publisher, product, binary_name,
                app_hash, file_path, user_sid, binary_version",
            hash = crate::app::APP_HASH_SQL,
            blocked = applocker_outcomes_sql(&[Outcome::Blocked]),
        )
    };
    let filter = format!("{} AND grp = {}", noise_filter(false), sql_string(group));
    let who = ", array_agg(DISTINCT computer_key) AS host_names";
    let day_sql = apps_sql(&fine(true), Some("hour"), &hosts, &filter, "");
    let app_sql = apps_sql(&fine(false), None, &hosts, &filter, who);
    let (per_day, per_app) = tokio::try_join!(collect(ctx, &day_sql), collect(ctx, &app_sql))?;
    let expected = |app_id: &str| {
        decisions
            .get(app_id)
            .is_some_and(|d| d.verdict == Verdict::Block)
    };

    let mut days: BTreeMap<(Collection, String), DayBlocks> = BTreeMap::new();
    let mut unexpected_by_hour: BTreeMap<String, u64> = BTreeMap::new();
    for app in read_apps(&per_day, Some("hour"))? {
        let (Some(collection), Some(hour)) = (app.row.collection, app.class) else {
            continue;
        };
        // `2026-10-05T13` whichever separator the cast wrote.
        let hour: String = hour
            .chars()
            .take(13)
            .enumerate()
            .map(|(i, c)| if i == 10 { 'T' } else { c })
            .collect();
        let day = hour.chars().take(10).collect::<String>();
        if !expected(&app.row.app_id) {
            *unexpected_by_hour.entry(hour).or_default() += app.row.events;
        }
        let entry = days.entry((collection, day.clone())).or_insert(DayBlocks {
            day,
            expected: 0,
            unexpected: 0,
        });
        if expected(&app.row.app_id) {
            entry.expected += app.row.events;
        } else {
            entry.unexpected += app.row.events;
        }
    }

    let mut exceptions = Vec::new();
    let (mut expected_events, mut unexpected_events) = (0, 0);
    for app in read_apps(&per_app, None)? {
        if expected(&app.row.app_id) {
            expected_events += app.row.events;
            continue;
        }
        unexpected_events += app.row.events;
        let batch = &per_app[app.batch];
        let host_names = lists(batch, "host_names")?[app.index].clone();
        let user_sids = lists(batch, "user_sids")?[app.index].clone();
        let suggestion = policy::suggest::suggest(
            &[crate::suggest::evidence_of(&app.row)],
            &SuggestOptions::default(),
        )
        .into_iter()
        .next();
        let (proposed_rule, review) = match suggestion {
            Some(s) => (s.rule.as_ref().map(policy::write::rule_xml), s.review),
            None => (None, Vec::new()),
        };
        exceptions.push(ExceptionApp {
            decided: decisions.get(&app.row.app_id).map(|d| d.verdict),
            app: app.row,
            host_names,
            user_sids,
            proposed_rule,
            review,
        });
    }
    exceptions.sort_by(|a, b| {
        b.app
            .events
            .cmp(&a.app.events)
            .then_with(|| a.app.app_id.cmp(&b.app.app_id))
    });

    let collections = state
        .iter()
        .map(|(collection, (mode, since, version))| CollectionMonitor {
            collection: *collection,
            mode: *mode,
            since: *since,
            version: *version,
            days: days
                .iter()
                .filter(|((c, _), _)| c == collection)
                .map(|(_, d)| d.clone())
                .collect(),
        })
        .collect();
    let warnings = disagreements(ctx, &hosts, group, &state).await?;
    let policy_applied = match state.values().map(|(_, since, _)| *since).max() {
        Some(changed) => applied_since(ctx, &hosts, group, changed).await?,
        None => Vec::new(),
    };
    Ok(GroupMonitor {
        group: group.to_owned(),
        rollouts: rollouts.to_vec(),
        collections,
        expected_blocked_events: expected_events,
        unexpected_blocked_events: unexpected_events,
        exceptions,
        unexpected_by_hour,
        warnings,
        policy_applied,
    })
}

/// Each host of the group (by computer key) with its first 8001 at or after `since`.
async fn applied_since(
    ctx: &SessionContext,
    hosts: &HostGroups,
    group: &str,
    since: DateTime<Utc>,
) -> Result<Vec<HostApplied>> {
    let sql = format!(
        r"SELECT h.computer_key AS host, MIN(e.time) AS applied_at
          FROM (SELECT computer, time FROM events
                WHERE event_id = 8001 AND time >= {since} {scope}) e
          JOIN ({table}) h ON e.computer = h.computer
          WHERE h.grp = {group}
          GROUP BY h.computer_key",
        since = micros(since),
        scope = hosts.scope_sql(&[group.to_owned()]),
        table = hosts.table_sql(),
        group = sql_string(group),
    );
    let mut applied: BTreeMap<String, Option<DateTime<Utc>>> = hosts
        .hosts
        .iter()
        .filter(|h| h.group == group)
        .map(|h| (h.computer_key.clone(), None))
        .collect();
    for batch in collect(ctx, &sql).await? {
        let names = strings(&batch, "host")?;
        let times = crate::columns::times(&batch, "applied_at")?;
        for (name, time) in names.into_iter().zip(times) {
            if let Some(name) = name {
                applied.insert(name, time);
            }
        }
    }
    Ok(applied
        .into_iter()
        .map(|(host, applied_at)| HostApplied { host, applied_at })
        .collect())
}

/// Hosts that still log audit events in a collection recorded as enforced (since it was),
/// and hosts that log blocked events in one recorded as audit (since then, or ever when
/// the record has no entry for it).
async fn disagreements(
    ctx: &SessionContext,
    hosts: &HostGroups,
    group: &str,
    state: &States,
) -> Result<Vec<MonitorWarning>> {
    let mut conditions = Vec::new();
    for collection in Collection::ALL {
        let (outcome, since) = match state.get(&collection) {
            Some((RolloutMode::Enforce, since, _)) => (Outcome::Audit, Some(*since)),
            Some((RolloutMode::Audit, since, _)) => (Outcome::Blocked, Some(*since)),
            None => (Outcome::Blocked, None),
        };
        let since = since
            .map(|t| format!(" AND time >= {}", micros(t)))
            .unwrap_or_default();
        conditions.push(format!(
            "(collection = {} AND outcome = {}{since})",
            collection.sql(),
            outcome.sql()
        ));
    }
    let sql = format!(
        r"SELECT e.collection, e.outcome, COUNT(DISTINCT h.computer_key) AS hosts
          FROM (SELECT DISTINCT computer, collection, outcome FROM events
                WHERE {applocker} AND ({conditions}) {scope}) e
          JOIN ({table}) h ON e.computer = h.computer
          WHERE h.grp = {group}
          GROUP BY e.collection, e.outcome",
        table = hosts.table_sql(),
        group = sql_string(group),
        applocker = applocker_outcomes_sql(&[Outcome::Audit, Outcome::Blocked]),
        conditions = conditions.join(" OR "),
        scope = hosts.scope_sql(&[group.to_owned()]),
    );
    let mut out = Vec::new();
    for batch in collect(ctx, &sql).await? {
        let (collections, outcomes) = (strings(&batch, "collection")?, strings(&batch, "outcome")?);
        let counts = ints(&batch, "hosts")?;
        for i in 0..batch.num_rows() {
            let Some(collection) = collections[i]
                .as_deref()
                .and_then(|c| c.parse::<Collection>().ok())
            else {
                continue;
            };
            let n = counts[i] as u64;
            let warning = match (outcomes[i].as_deref(), state.get(&collection)) {
                (Some("audit"), Some((_, since, _))) => MonitorWarning {
                    code: "still_auditing",
                    collection,
                    hosts: n,
                    message: format!(
                        "{collection} is recorded as enforced since {} but {n} host(s) still log audit events for it (the GPO not applied?)",
                        since.format("%Y-%m-%d %H:%M")
                    ),
                },
                (Some("blocked"), _) => MonitorWarning {
                    code: "blocking_while_audit",
                    collection,
                    hosts: n,
                    message: format!(
                        "{n} host(s) log blocked {collection} events but the group is recorded as audit for it (`lockstep rollout enforce` records the flip)"
                    ),
                },
                _ => continue,
            };
            out.push(warning);
        }
    }
    out.sort_by(|a, b| (a.collection, a.code).cmp(&(b.collection, b.code)));
    Ok(out)
}
