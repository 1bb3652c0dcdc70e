//! `timeline`: audit and blocked events per group and day, so a burn-down is visible as rules
//! are added (the dashboard's time chart).

use chrono::{DateTime, Utc};
use datafusion::prelude::SessionContext;

use schema::Outcome;

use crate::columns::{collect, ints, strings, times};
use crate::inventory::{HostGroups, Inventory};
use crate::report::{applocker_outcomes_sql, in_list, noise_filter};
use crate::rows::Rows;
use crate::{Result, Window};

/// What to count.
#[derive(Debug, Clone, Default)]
pub struct TimelineOptions {
    pub window: Window,
    /// Only these groups (all when empty).
    pub groups: Vec<String>,
    pub include_noise: bool,
}

/// One group's events on one day (UTC).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DayCount {
    pub group: String,
    /// Midnight UTC of the day.
    pub day: DateTime<Utc>,
    /// Would be blocked under *Enforce rules* (8003, 8006, 8021, 8024).
    pub audit_events: u64,
    /// Blocked where a collection is enforced (8004, 8007, 8022, 8025).
    pub blocked_events: u64,
}

/// Per group and day with any audit or blocked event, ordered by group then day.
pub async fn daily_events(
    ctx: &SessionContext,
    inventory: &Inventory,
    opts: &TimelineOptions,
) -> Result<Vec<DayCount>> {
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let rows = Rows::for_window(ctx, &opts.window);
    let (day, count) = (rows.day(), rows.count());
    let sql = format!(
        r"WITH per_host AS (
            SELECT computer, {day} AS day,
              SUM(CASE WHEN outcome = {audit} THEN {count} ELSE 0 END) AS audit_events,
              SUM(CASE WHEN outcome = {blocked} THEN {count} ELSE 0 END) AS blocked_events
            FROM {table}
            WHERE {applocker} {window} {scope} {noise}
            GROUP BY computer, {day})
          SELECT h.grp, p.day, SUM(p.audit_events) AS audit_events,
            SUM(p.blocked_events) AS blocked_events
          FROM per_host p JOIN ({host_table}) h ON p.computer = h.computer
          WHERE true {groups}
          GROUP BY h.grp, p.day
          ORDER BY h.grp, p.day",
        audit = Outcome::Audit.sql(),
        blocked = Outcome::Blocked.sql(),
        applocker = applocker_outcomes_sql(&[Outcome::Audit, Outcome::Blocked]),
        table = rows.table(),
        window = rows.window_sql(&opts.window),
        scope = hosts.scope_sql(&opts.groups),
        noise = noise_filter(opts.include_noise),
        host_table = hosts.table_sql(),
        groups = in_list("h.grp", &opts.groups),
    );
    let mut out = Vec::new();
    for batch in collect(ctx, &sql).await? {
        let (grp, day) = (strings(&batch, "grp")?, times(&batch, "day")?);
        let (audit, blocked) = (
            ints(&batch, "audit_events")?,
            ints(&batch, "blocked_events")?,
        );
        for i in 0..batch.num_rows() {
            let Some(day) = day[i] else { continue };
            out.push(DayCount {
                group: grp[i].clone().unwrap_or_default(),
                day,
                audit_events: audit[i] as u64,
                blocked_events: blocked[i] as u64,
            });
        }
    }
    Ok(out)
}
