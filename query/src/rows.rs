//! Where a question reads its rows from: the [`SUMMARY`] table ingest keeps (one row per
//! computer, UTC day and key column values, with its event count and first and last time),
//! or the events themselves.
//!
//! A question that groups by key columns only (the app questions, the per-host and per-day
//! evidence) gets the same answer from either, the summary being several times smaller;
//! it can take the summary when the store has one for every file and its window is whole
//! UTC days (or unbounded). The SQL is written once against a [`Rows`]: its table and the
//! expressions that stand for "one event", "its time" and "its day" in that table.

use datafusion::prelude::SessionContext;

use crate::Window;

/// The summary table's name (`schema::summary`).
pub const SUMMARY: &str = "summary";

/// The rows a question reads (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rows {
    Events,
    Summary,
}

impl Rows {
    /// The summary when it can answer over `window` in `ctx`, else the events.
    pub(crate) fn for_window(ctx: &SessionContext, window: &Window) -> Rows {
        let registered = ctx.table_exist(SUMMARY).unwrap_or(false);
        if registered && window.is_whole_days() {
            Rows::Summary
        } else {
            Rows::Events
        }
    }

    /// The table to select from.
    pub(crate) fn table(self) -> &'static str {
        match self {
            Rows::Events => crate::EVENTS,
            Rows::Summary => SUMMARY,
        }
    }

    /// How many events a row stands for (`SUM({count})` counts events).
    pub(crate) fn count(self) -> &'static str {
        match self {
            Rows::Events => "1",
            Rows::Summary => "events",
        }
    }

    /// The earliest time of a row's events (`MIN({first})`).
    pub(crate) fn first(self) -> &'static str {
        match self {
            Rows::Events => "time",
            Rows::Summary => "first_seen",
        }
    }

    /// The latest time of a row's events (`MAX({last})`).
    pub(crate) fn last(self) -> &'static str {
        match self {
            Rows::Events => "time",
            Rows::Summary => "last_seen",
        }
    }

    /// The start of a row's UTC day.
    pub(crate) fn day(self) -> &'static str {
        match self {
            Rows::Events => "date_trunc('day', time)",
            Rows::Summary => "day",
        }
    }

    /// `window`'s conditions on these rows (`AND …`, empty when unbounded).
    pub(crate) fn window_sql(self, window: &Window) -> String {
        match self {
            Rows::Events => window.sql(),
            Rows::Summary => window.sql_on("day"),
        }
    }
}
