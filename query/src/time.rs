//! Report windows: `--since` / `--until` as dates or RFC 3339 timestamps.

use chrono::{DateTime, NaiveDate, Utc};

use crate::Error;

/// A half-open window `[since, until)`; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// The window of `--since` / `--until` (each a date or an RFC 3339 time, see
    /// [`parse_time_bound`]); `since` must come before `until`.
    pub fn parse(since: Option<&str>, until: Option<&str>) -> Result<Window, Error> {
        let window = Window {
            since: since.map(|t| parse_time_bound(t, false)).transpose()?,
            until: until.map(|t| parse_time_bound(t, true)).transpose()?,
        };
        if let (Some(s), Some(u)) = (window.since, window.until)
            && s >= u
        {
            return Err(Error::BadParameter {
                name: "--since",
                message: format!(
                    "{} is not before the end of the window, {}",
                    s.to_rfc3339(),
                    u.to_rfc3339()
                ),
            });
        }
        Ok(window)
    }

    /// SQL conditions on `time` for this window (empty when unbounded).
    pub(crate) fn sql(&self) -> String {
        self.sql_on("time")
    }

    /// SQL conditions on the timestamp column `column` for this window.
    pub(crate) fn sql_on(&self, column: &str) -> String {
        let mut conds = String::new();
        if let Some(since) = self.since {
            conds.push_str(&format!(
                " AND {column} >= arrow_cast({}, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                since.timestamp_micros()
            ));
        }
        if let Some(until) = self.until {
            conds.push_str(&format!(
                " AND {column} < arrow_cast({}, 'Timestamp(Microsecond, Some(\"UTC\"))')",
                until.timestamp_micros()
            ));
        }
        conds
    }

    /// Whether both ends (where given) fall on the start of a UTC day: then a row of a day
    /// is either wholly in the window or wholly out of it (the summary can answer).
    pub(crate) fn is_whole_days(&self) -> bool {
        let whole = |t: &DateTime<Utc>| t.timestamp_micros() % schema::summary::DAY_MICROS == 0;
        self.since.iter().chain(&self.until).all(whole)
    }
}

/// Parses a window bound. A date means the start of that day for `since` and the end of that
/// day for `until` (so `--until 2026-10-10` includes the 10th); a timestamp is exact.
pub fn parse_time_bound(text: &str, is_until: bool) -> Result<DateTime<Utc>, Error> {
    let name = if is_until { "--until" } else { "--since" };
    if let Ok(t) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| Error::BadParameter {
        name,
        message: format!("{text:?} is neither a date (2026-10-05) nor an RFC 3339 time (2026-10-05T08:00:00Z)"),
    })?;
    let day = if is_until {
        date.succ_opt().unwrap_or(date)
    } else {
        date
    };
    Ok(day.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_timestamps() {
        assert_eq!(
            parse_time_bound("2026-10-05", false).unwrap().to_rfc3339(),
            "2026-10-05T00:00:00+00:00"
        );
        assert_eq!(
            parse_time_bound("2026-10-05", true).unwrap().to_rfc3339(),
            "2026-10-06T00:00:00+00:00"
        );
        assert_eq!(
            parse_time_bound("2026-10-05T08:00:00+02:00", true)
                .unwrap()
                .to_rfc3339(),
            "2026-10-05T06:00:00+00:00"
        );
        let err = parse_time_bound("last week", false).unwrap_err();
        assert!(err.to_string().contains("--since"), "{err}");
        let err = Window::parse(Some("2026-10-05"), Some("2026-10-04")).unwrap_err();
        assert!(err.to_string().contains("is not before the end"), "{err}");
        let day = Window::parse(Some("2026-10-05"), Some("2026-10-05")).unwrap();
        assert!(day.since < day.until, "one whole day");
    }
}
