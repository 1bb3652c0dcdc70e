//! The event table: one row per AppLocker event (docs/architecture.md "The event table").

use std::sync::{Arc, LazyLock};

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// `TimeCreated`, UTC, microseconds.
pub const TIME: &str = "time";
/// `System/Computer` as logged.
pub const COMPUTER: &str = "computer";
/// Lower-case short name (before the first dot), for joins with the inventory.
pub const COMPUTER_KEY: &str = "computer_key";
pub const CHANNEL: &str = "channel";
pub const PROVIDER: &str = "provider";
pub const EVENT_ID: &str = "event_id";
/// `System/EventRecordID`: the source computer's counter for the channel.
pub const RECORD_ID: &str = "record_id";
/// `allowed` | `audit` | `blocked` | `other`.
pub const OUTCOME: &str = "outcome";
/// `EXE` | `DLL` | `MSI` | `SCRIPT` | `APPX`, or null.
pub const COLLECTION: &str = "collection";
/// `applocker` | `wdac` (8028/8029 come from an App Control policy).
pub const POLICY_KIND: &str = "policy_kind";
pub const USER_SID: &str = "user_sid";
/// `TargetProcessId`.
pub const PROCESS_ID: &str = "process_id";
/// `TargetLogonId`.
pub const LOGON_ID: &str = "logon_id";
/// `FilePath` as logged (upper case, AppLocker variables such as `%OSDRIVE%`).
pub const FILE_PATH: &str = "file_path";
pub const FULL_FILE_PATH: &str = "full_file_path";
/// SHA-256 as 64 upper-case hex digits, no `0x`, no dashes.
pub const FILE_HASH: &str = "file_hash";
pub const FQBN: &str = "fqbn";
pub const PUBLISHER: &str = "publisher";
pub const PRODUCT: &str = "product";
pub const BINARY_NAME: &str = "binary_name";
/// The version as logged (`2.35.5.01`).
pub const BINARY_VERSION: &str = "binary_version";
/// The version as four zero-padded 10-digit parts: sorts numerically as text.
pub const BINARY_VERSION_KEY: &str = "binary_version_key";
/// Packaged apps: the package name.
pub const PACKAGE: &str = "package";
/// Lower case, no braces; the all-zero GUID when no rule matched.
pub const RULE_ID: &str = "rule_id";
pub const RULE_NAME: &str = "rule_name";
/// The EVTX file the row came from, as given to ingest.
pub const SOURCE_FILE: &str = "source_file";
/// The ingest run that stored the row.
pub const INGEST_ID: &str = "ingest_id";

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let utf8 = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
    Arc::new(Schema::new(vec![
        Field::new(
            TIME,
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        utf8(COMPUTER, false),
        utf8(COMPUTER_KEY, false),
        utf8(CHANNEL, false),
        utf8(PROVIDER, false),
        Field::new(EVENT_ID, DataType::Int32, false),
        Field::new(RECORD_ID, DataType::Int64, false),
        utf8(OUTCOME, false),
        utf8(COLLECTION, true),
        utf8(POLICY_KIND, false),
        utf8(USER_SID, true),
        Field::new(PROCESS_ID, DataType::Int64, true),
        Field::new(LOGON_ID, DataType::Int64, true),
        utf8(FILE_PATH, true),
        utf8(FULL_FILE_PATH, true),
        utf8(FILE_HASH, true),
        utf8(FQBN, true),
        utf8(PUBLISHER, true),
        utf8(PRODUCT, true),
        utf8(BINARY_NAME, true),
        utf8(BINARY_VERSION, true),
        utf8(BINARY_VERSION_KEY, true),
        utf8(PACKAGE, true),
        utf8(RULE_ID, true),
        utf8(RULE_NAME, true),
        utf8(SOURCE_FILE, false),
        utf8(INGEST_ID, false),
    ]))
});

/// The Arrow schema of the event table.
pub fn event_schema() -> SchemaRef {
    Arc::clone(&SCHEMA)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_constant_is_in_the_schema_once() {
        let schema = event_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), names.len());
        for c in [TIME, COMPUTER_KEY, OUTCOME, BINARY_VERSION_KEY, INGEST_ID] {
            assert!(names.contains(&c));
        }
    }
}
