//! The summary table: the events counted per computer, UTC day and everything the app
//! questions group by (docs/store.md "The summary table").
//!
//! Ingest writes one summary file beside each event file, from exactly that file's rows
//! (after de-duplication), and compaction writes the merged file's. Summing a column over
//! the summary therefore gives what counting the events gives, for every question that
//! groups by these columns and, at most, whole days.

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::columns::*;

/// The start of the row's UTC day (`date_trunc('day', time)`).
pub const DAY: &str = "day";
/// How many events the row stands for.
pub const EVENTS: &str = "events";
/// The earliest and latest `time` of those events.
pub const FIRST_SEEN: &str = "first_seen";
pub const LAST_SEEN: &str = "last_seen";

/// The event columns a summary row is one value of, in the order they are written (after
/// [`DAY`], which follows [`COMPUTER_KEY`]). `binary_version_key` is not among them: it is
/// a function of `binary_version`, kept as its maximum.
pub const KEY_COLUMNS: [&str; 13] = [
    COMPUTER,
    COMPUTER_KEY,
    POLICY_KIND,
    OUTCOME,
    EVENT_ID,
    COLLECTION,
    PUBLISHER,
    PRODUCT,
    BINARY_NAME,
    BINARY_VERSION,
    FILE_HASH,
    FILE_PATH,
    USER_SID,
];

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let time = |name: &str| {
        Field::new(
            name,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        )
    };
    let events = crate::event_schema();
    let mut fields: Vec<Field> = Vec::new();
    for name in KEY_COLUMNS {
        fields.push(events.field_with_name(name).expect("event column").clone());
        if name == COMPUTER_KEY {
            fields.push(time(DAY));
        }
    }
    fields.push(
        events
            .field_with_name(BINARY_VERSION_KEY)
            .expect("event column")
            .clone(),
    );
    fields.push(Field::new(EVENTS, DataType::Int64, false));
    fields.push(time(FIRST_SEEN));
    fields.push(time(LAST_SEEN));
    Arc::new(Schema::new(fields))
});

/// The Arrow schema of the summary table.
pub fn summary_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

/// Microseconds in a day: [`DAY`] is `time` rounded down to a multiple of it.
pub const DAY_MICROS: i64 = 86_400_000_000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_has_every_key_column_then_the_counts() {
        let schema = summary_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names.len(), KEY_COLUMNS.len() + 5);
        assert_eq!(&names[..3], &[COMPUTER, COMPUTER_KEY, DAY]);
        assert_eq!(&names[names.len() - 3..], &[EVENTS, FIRST_SEEN, LAST_SEEN]);
    }
}
