//! Per host: its group, when it last reported, and its audit events over the last 7, 15 and
//! 30 days: the columns practitioners filter on to pick which hosts to enforce first.

use chrono::{DateTime, Duration, Utc};
use datafusion::prelude::SessionContext;
use schema::Outcome;

use crate::columns::{collect, ints, strings, times};
use crate::inventory::{HostGroups, Inventory};
use crate::report::{applocker_outcomes_sql, in_list, noise_filter};
use crate::{Result, Window};

/// The look-back periods, in days, of [`HostActivity::audit_events`].
pub const AUDIT_PERIODS_DAYS: [i64; 3] = [7, 15, 30];

/// One host's activity.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostActivity {
    /// The computer key (short name, lower case).
    pub computer: String,
    pub group: String,
    /// Its last event of any kind in the window (8001 included).
    pub last_seen: Option<DateTime<Utc>>,
    /// Audit (would-be-blocked) events in the last 7, 15 and 30 days before `as_of`.
    pub audit_events: [u64; 3],
}

/// Every host that reported in the window, by group then computer, with `as_of` (the
/// window's end, or the last event when the window is open).
pub async fn host_activity(
    ctx: &SessionContext,
    inventory: &Inventory,
    window: &Window,
    groups: &[String],
    include_noise: bool,
) -> Result<(Vec<HostActivity>, Option<DateTime<Utc>>)> {
    let hosts = HostGroups::resolve(ctx, inventory).await?;
    let as_of = match window.until {
        Some(until) => Some(until),
        None => {
            let last = collect(
                ctx,
                &format!(
                    "SELECT MAX(time) AS t FROM events WHERE true {}",
                    window.sql()
                ),
            )
            .await?;
            last.first()
                .map(|b| times(b, "t"))
                .transpose()?
                .and_then(|t| t.into_iter().flatten().next())
        }
    };
    let Some(as_of) = as_of else {
        return Ok((Vec::new(), None));
    };
    let counts: Vec<String> = AUDIT_PERIODS_DAYS
        .iter()
        .map(|days| {
            let from = (as_of - Duration::days(*days)).timestamp_micros();
            format!(
                "SUM(CASE WHEN is_audit AND time >= arrow_cast({from}, 'Timestamp(Microsecond, Some(\"UTC\"))') THEN 1 ELSE 0 END) AS audit_{days}"
            )
        })
        .collect();
    let sql = format!(
        r"SELECT h.grp, h.computer_key, MAX(e.time) AS last_seen, {counts}
          FROM (SELECT computer, time,
                  ({audit} {noise}) AS is_audit
                FROM events WHERE true {window}) e
          JOIN ({host_groups}) h ON e.computer = h.computer
          WHERE true {groups}
          GROUP BY h.grp, h.computer_key
          ORDER BY h.grp, h.computer_key",
        counts = counts.join(", "),
        audit = applocker_outcomes_sql(&[Outcome::Audit]),
        noise = noise_filter(include_noise),
        window = window.sql(),
        host_groups = hosts.table_sql(),
        groups = in_list("h.grp", groups),
    );
    let mut out = Vec::new();
    for batch in collect(ctx, &sql).await? {
        let (grp, computer, last) = (
            strings(&batch, "grp")?,
            strings(&batch, "computer_key")?,
            times(&batch, "last_seen")?,
        );
        let periods: Vec<Vec<i64>> = AUDIT_PERIODS_DAYS
            .iter()
            .map(|d| ints(&batch, &format!("audit_{d}")))
            .collect::<Result<_>>()?;
        for i in 0..batch.num_rows() {
            out.push(HostActivity {
                computer: computer[i].clone().unwrap_or_default(),
                group: grp[i].clone().unwrap_or_default(),
                last_seen: last[i],
                audit_events: [0, 1, 2].map(|p| periods[p][i].max(0) as u64),
            });
        }
    }
    Ok((out, Some(as_of)))
}
