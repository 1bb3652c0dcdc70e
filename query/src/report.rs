//! "What would stop working?": apps that would be blocked, per business group (an app is
//! what [`crate::app`] says it is).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use datafusion::arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use policy::identities::{NamedUser, users_listed};
use schema::{Collection, Outcome, PolicyKind, sql_list};

use crate::app::{APP_HASH_SQL, AppIdentity, GENERIC_PATH_SQL, IDENTITY_COLUMNS, app_path_sql};
use crate::columns::{collect, ints, lists, strings, times};
use crate::inventory::{HostGroups, Inventory, sql_string};
use crate::rows::Rows;
use crate::{Result, Window};

/// Which outcomes to report.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum OutcomeFilter {
    /// Would be blocked under *Enforce rules* (8003, 8006, 8021, 8024).
    #[default]
    Audit,
    /// Already blocked where a collection is enforced (8004, 8007, 8022, 8025).
    Blocked,
    /// Both, with the outcome as a column.
    All,
}

impl OutcomeFilter {
    /// The event outcomes it selects.
    pub fn outcomes(self) -> &'static [Outcome] {
        match self {
            OutcomeFilter::Audit => &[Outcome::Audit],
            OutcomeFilter::Blocked => &[Outcome::Blocked],
            OutcomeFilter::All => &[Outcome::Audit, Outcome::Blocked],
        }
    }
}

/// What to report.
#[derive(Debug, Clone, Default)]
pub struct ReportOptions {
    pub window: Window,
    /// Only these groups (all when empty).
    pub groups: Vec<String>,
    /// Only these collections (all when empty).
    pub collections: Vec<Collection>,
    pub outcome: OutcomeFilter,
    pub include_noise: bool,
    /// At most this many apps per group.
    pub top: Option<usize>,
}

/// One app that would be blocked in a group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppRow {
    /// The app's stable id (the same in every store and run).
    pub app_id: String,
    /// How lockstep names the app (`PUBLISHER / PRODUCT / BINARY`, `unsigned FILE (HASH)`).
    pub label: String,
    /// `audit` or `blocked`; only with `--outcome all`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<Outcome>,
    pub collection: Option<Collection>,
    pub publisher: Option<String>,
    pub product: Option<String>,
    pub binary: Option<String>,
    /// For unsigned apps (signed apps have one hash per version).
    pub file_hash: Option<String>,
    pub version_min: Option<String>,
    pub version_max: Option<String>,
    /// Up to five paths seen (per-user profiles generalised), and how many there were.
    pub paths: Vec<String>,
    pub path_count: u64,
    pub events: u64,
    pub hosts: u64,
    pub users: u64,
    /// The first of its users by SID ([`policy::identities::USERS_LISTED`]), with
    /// `DOMAIN\name` where known.
    pub users_seen: Vec<NamedUser>,
    pub first_seen: Option<DateTime<Utc>>,
    pub last_seen: Option<DateTime<Utc>>,
}

impl AppRow {
    /// The app's identity.
    pub fn identity(&self) -> AppIdentity {
        AppIdentity::from_parts(
            self.collection,
            self.publisher.as_deref(),
            self.product.as_deref(),
            self.binary.as_deref(),
            self.file_hash.as_deref(),
            self.paths.first().map(String::as_str),
        )
    }
}

/// One business group.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupReport {
    pub group: String,
    /// Computers the inventory names, plus those its glob lines match in the store.
    pub hosts_in_inventory: u64,
    /// Computers with any AppLocker event in the window.
    pub hosts_reporting: u64,
    /// Computers whose only AppLocker events in the window are 8001 (policy applied).
    pub hosts_policy_only: u64,
    /// AppLocker audit events (8003/8006/8021/8024), noise excluded.
    pub audit_events: u64,
    /// Events left out as noise (`__PSSCRIPTPOLICYTEST_*`), in the reported outcomes.
    pub noise_events: u64,
    pub apps: Vec<AppRow>,
}

/// The report.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Report {
    pub window: Window,
    pub outcome: OutcomeFilter,
    pub groups: Vec<GroupReport>,
}

impl Report {
    /// True when no group has any app row.
    pub fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.apps.is_empty())
    }
}

/// Whether a row is noise: PowerShell probes AppLocker with random `__PSSCRIPTPOLICYTEST_*`
/// scripts at every start, never a real app, so they are counted as noise and left out unless
/// asked for. Only scripts can be such probes, and CASE runs the string test on those only.
const NOISE_ROW_SQL: &str = r"CASE WHEN collection = 'SCRIPT' THEN upper(coalesce(file_path, '')) LIKE '%\_\_PSSCRIPTPOLICYTEST\_%' ESCAPE '\' ELSE false END";

/// `AND NOT noise`, unless noise is wanted.
pub(crate) fn noise_filter(include_noise: bool) -> String {
    if include_noise {
        String::new()
    } else {
        format!(" AND NOT ({NOISE_ROW_SQL})")
    }
}

/// `policy_kind = 'applocker' AND outcome IN (…)`: the AppLocker events of these outcomes.
pub(crate) fn applocker_outcomes_sql(outcomes: &[Outcome]) -> String {
    format!(
        "policy_kind = {} AND outcome IN {}",
        PolicyKind::Applocker.sql(),
        sql_list(outcomes)
    )
}

/// App rows per group from `fine`, a query with one row per (computer, app, path, user,
/// version) and the columns `computer, [class,] collection, publisher, product,
/// binary_name, app_hash, file_path, user_sid, binary_version, binary_version_key, events,
/// first_seen, last_seen` (plus whatever `extra_aggs` aggregates; every user SID is always
/// aggregated, as `user_sids`). `class`, when given, is
/// one more grouping column (`outcome`, or simulate's `status`); `filter` applies after the
/// join with the groups (`grp` is available).
pub(crate) fn apps_sql(
    fine: &str,
    class: Option<&str>,
    hosts: &HostGroups,
    filter: &str,
    extra_aggs: &str,
) -> String {
    let class = class.map(|c| format!("{c},")).unwrap_or_default();
    format!(
        r"WITH fine AS ({fine}),
          apps AS (
            SELECT f.*, h.grp, h.computer_key, {GENERIC_PATH_SQL} AS generic_path,
              {app_path} AS app_path
            FROM fine f JOIN ({host_groups}) h ON f.computer = h.computer
            WHERE true {filter})
          SELECT grp, {class} {IDENTITY_COLUMNS},
            first_value(binary_version ORDER BY binary_version_key ASC NULLS LAST) AS version_min,
            first_value(binary_version ORDER BY binary_version_key DESC NULLS LAST) AS version_max,
            SUM(events) AS events,
            COUNT(DISTINCT computer_key) AS hosts,
            COUNT(DISTINCT user_sid) AS users,
            array_agg(DISTINCT user_sid) AS user_sids,
            MIN(first_seen) AS first_seen,
            MAX(last_seen) AS last_seen,
            COUNT(DISTINCT generic_path) AS path_count,
            array_agg(DISTINCT generic_path) AS paths
            {extra_aggs}
          FROM apps
          GROUP BY grp, {class} {IDENTITY_COLUMNS}
          ORDER BY grp, {class} events DESC, {IDENTITY_COLUMNS}",
        app_path = app_path_sql(),
        host_groups = hosts.table_sql(),
    )
}

/// One app row of [`apps_sql`]'s result: group, class (when asked for) and the row.
pub(crate) struct GroupedApp {
    pub group: String,
    pub class: Option<String>,
    pub row: AppRow,
    /// The batch and row index, for reading extra columns.
    pub batch: usize,
    pub index: usize,
}

/// Reads [`apps_sql`]'s result.
pub(crate) fn read_apps(batches: &[RecordBatch], class: Option<&str>) -> Result<Vec<GroupedApp>> {
    let mut out = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        let grp = strings(batch, "grp")?;
        let classes = match class {
            Some(c) => Some(strings(batch, c)?),
            None => None,
        };
        let [collection, publisher, product, binary, hash, vmin, vmax] = [
            "collection",
            "publisher",
            "product",
            "binary_name",
            "app_hash",
            "version_min",
            "version_max",
        ]
        .map(|c| strings(batch, c));
        let (collection, publisher, product, binary, hash, vmin, vmax) = (
            collection?,
            publisher?,
            product?,
            binary?,
            hash?,
            vmin?,
            vmax?,
        );
        let [events, hosts, users, path_count] =
            ["events", "hosts", "users", "path_count"].map(|c| ints(batch, c));
        let (events, hosts, users, path_count) = (events?, hosts?, users?, path_count?);
        let (first, last) = (times(batch, "first_seen")?, times(batch, "last_seen")?);
        let paths = lists(batch, "paths")?;
        let user_sids = lists(batch, "user_sids")?;
        for i in 0..batch.num_rows() {
            let mut shown = paths[i].clone();
            shown.sort();
            shown.truncate(5);
            let mut row = AppRow {
                app_id: String::new(),
                label: String::new(),
                outcome: None,
                collection: collection[i].as_deref().and_then(|c| c.parse().ok()),
                publisher: publisher[i].clone(),
                product: product[i].clone(),
                binary: binary[i].clone(),
                file_hash: hash[i].clone(),
                version_min: vmin[i].clone(),
                version_max: vmax[i].clone(),
                paths: shown,
                path_count: path_count[i] as u64,
                events: events[i] as u64,
                hosts: hosts[i] as u64,
                users: users[i] as u64,
                users_seen: users_listed(&user_sids[i]),
                first_seen: first[i],
                last_seen: last[i],
            };
            let identity = row.identity();
            row.app_id = identity.app_id();
            row.label = identity.label(row.paths.first().map(String::as_str));
            out.push(GroupedApp {
                group: grp[i].clone().unwrap_or_default(),
                class: classes.as_ref().and_then(|c| c[i].clone()),
                row,
                batch: b,
                index: i,
            });
        }
    }
    Ok(out)
}

/// ` AND column IN ('a', 'b')`, or nothing for an empty list.
pub(crate) fn in_list<T: std::fmt::Display>(column: &str, values: &[T]) -> String {
    if values.is_empty() {
        return String::new();
    }
    let list: Vec<String> = values.iter().map(|v| sql_string(&v.to_string())).collect();
    format!(" AND {column} IN ({})", list.join(", "))
}

/// Apps that would be blocked, per group, with per-group context.
pub async fn blocked_apps_by_group(
    ctx: &SessionContext,
    inventory: &Inventory,
    opts: &ReportOptions,
) -> Result<Report> {
    let with_outcome = opts.outcome == OutcomeFilter::All;
    let outcome_col = if with_outcome { "outcome," } else { "" };
    // Aggregate first, join later: one row per (app, path, computer, user, version) is
    // computed straight from the scan, and only those rows meet the inventory's groups
    // (resolved once per distinct computer: the CASE has one branch per inventory line) and
    // the path regex. Distinct counts then run over that small table (docs/architecture.md "Known
    // traps").
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let class = with_outcome.then_some("outcome");
    let rows = Rows::for_window(ctx, &opts.window);
    let (table, window, count) = (rows.table(), rows.window_sql(&opts.window), rows.count());
    let fine = format!(
        r"SELECT computer, {outcome_col} collection, publisher, product, binary_name,
            {APP_HASH_SQL} AS app_hash,
            file_path, user_sid, binary_version, MAX(binary_version_key) AS binary_version_key,
            SUM({count}) AS events, MIN({first}) AS first_seen, MAX({last}) AS last_seen
          FROM {table}
          WHERE {applocker} {window} {collections}
          GROUP BY computer, {outcome_col} collection, publisher, product,
            binary_name, app_hash, file_path, user_sid, binary_version",
        first = rows.first(),
        last = rows.last(),
        applocker = applocker_outcomes_sql(opts.outcome.outcomes()),
        collections = in_list("collection", &opts.collections),
    );
    let filter = format!(
        "{}{}",
        noise_filter(opts.include_noise),
        in_list("grp", &opts.groups)
    );
    let apps_sql = apps_sql(&fine, class, &hosts, &filter, "");
    let stats_sql = format!(
        r"WITH per_host AS (
            SELECT computer, computer_key,
              MAX(CASE WHEN event_id <> 8001 THEN 1 ELSE 0 END) AS more_than_policy,
              SUM(CASE WHEN {audit} AND NOT ({NOISE_ROW_SQL}) THEN {count} ELSE 0 END) AS audit_events,
              SUM(CASE WHEN {selected} AND ({NOISE_ROW_SQL}) THEN {count} ELSE 0 END) AS noise_events
            FROM {table} WHERE true {window}
            GROUP BY computer, computer_key),
          per_key AS (
            SELECT h.grp, p.computer_key, MAX(more_than_policy) AS more_than_policy,
              SUM(audit_events) AS audit_events, SUM(noise_events) AS noise_events
            FROM per_host p JOIN ({host_groups}) h ON p.computer = h.computer
            GROUP BY h.grp, p.computer_key)
          SELECT grp, SUM(1) AS hosts_reporting,
            SUM(CASE WHEN more_than_policy = 0 THEN 1 ELSE 0 END) AS hosts_policy_only,
            SUM(audit_events) AS audit_events, SUM(noise_events) AS noise_events
          FROM per_key GROUP BY grp",
        audit = applocker_outcomes_sql(&[Outcome::Audit]),
        selected = applocker_outcomes_sql(opts.outcome.outcomes()),
        host_groups = hosts.table_sql(),
    );
    // Both queries at once: each has single-threaded phases (final aggregation, sort) in
    // which the other keeps the second core busy.
    let (apps, stats) = tokio::try_join!(collect(ctx, &apps_sql), collect(ctx, &stats_sql))?;

    let mut groups: BTreeMap<String, GroupReport> = BTreeMap::new();
    for name in inventory.groups() {
        group_entry(&mut groups, inventory, &name);
    }
    let with_hosts: std::collections::BTreeSet<&str> = hosts.groups().collect();
    for name in with_hosts {
        group_entry(&mut groups, inventory, name).hosts_in_inventory =
            (inventory.named_computers(name) + hosts.globbed_in(name)) as u64;
    }
    for batch in &stats {
        let grp = strings(batch, "grp")?;
        let [reporting, policy_only, audit, noise] = [
            "hosts_reporting",
            "hosts_policy_only",
            "audit_events",
            "noise_events",
        ]
        .map(|c| ints(batch, c));
        let (reporting, policy_only, audit, noise) = (reporting?, policy_only?, audit?, noise?);
        for i in 0..batch.num_rows() {
            let g = group_entry(
                &mut groups,
                inventory,
                grp[i].as_deref().unwrap_or_default(),
            );
            g.hosts_reporting = reporting[i] as u64;
            g.hosts_policy_only = policy_only[i] as u64;
            g.audit_events = audit[i] as u64;
            g.noise_events = noise[i] as u64;
        }
    }
    for app in read_apps(&apps, class)? {
        let g = group_entry(&mut groups, inventory, &app.group);
        if opts.top.is_some_and(|top| g.apps.len() >= top) {
            continue;
        }
        g.apps.push(AppRow {
            outcome: app.class.as_deref().and_then(|o| o.parse().ok()),
            ..app.row
        });
    }
    let mut groups: Vec<GroupReport> = groups.into_values().collect();
    if !opts.groups.is_empty() {
        groups.retain(|g| opts.groups.contains(&g.group));
    }
    Ok(Report {
        window: opts.window,
        outcome: opts.outcome,
        groups,
    })
}

/// The report of group `name`, created with its inventory count on first use.
fn group_entry<'a>(
    groups: &'a mut BTreeMap<String, GroupReport>,
    inventory: &Inventory,
    name: &str,
) -> &'a mut GroupReport {
    groups
        .entry(name.to_owned())
        .or_insert_with(|| GroupReport {
            group: name.to_owned(),
            hosts_in_inventory: inventory.named_computers(name) as u64,
            hosts_reporting: 0,
            hosts_policy_only: 0,
            audit_events: 0,
            noise_events: 0,
            apps: Vec::new(),
        })
}
