//! Decoded events into Arrow record batches of the event table (`schema::columns`).

use std::fmt::Write;
use std::sync::Arc;

use arrow_array::builder::{
    Int32Builder, Int64Builder, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};

use schema::Collection;
use schema::values::push_computer_key;

use crate::event::{AuditEvent, version_key};

/// One event with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) event: AuditEvent,
    /// Index into the ingest's list of source files.
    pub(crate) source: u32,
}

/// Builds a batch in the column order of `schema::event_schema()`.
pub(crate) fn to_record_batch(rows: &[&Row], sources: &[String], ingest_id: &str) -> RecordBatch {
    let n = rows.len();
    let mut time = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
    let mut event_id = Int32Builder::with_capacity(n);
    let mut record_id = Int64Builder::with_capacity(n);
    let mut process_id = Int64Builder::with_capacity(n);
    let mut logon_id = Int64Builder::with_capacity(n);
    // Exact text sizes: a builder that grows copies its buffer and touches fresh pages
    // (both showed in the ingest profile).
    let strings = |bytes: &dyn Fn(&AuditEvent) -> usize| {
        StringBuilder::with_capacity(n, rows.iter().map(|r| bytes(&r.event)).sum())
    };
    let opt = |s: &Option<String>| s.as_ref().map_or(0, String::len);
    let fqbn_len = |e: &AuditEvent| opt(&e.fqbn);
    let mut computer = strings(&|e| e.computer.len());
    let mut key = strings(&|e| e.computer.len());
    let mut channel = strings(&|e| e.channel.len());
    let mut provider = strings(&|e| e.provider.len());
    let mut outcome = strings(&|e| e.outcome().as_str().len());
    let mut collection = strings(&|e| e.collection().map_or(0, |c| c.as_str().len()));
    let mut policy_kind = strings(&|e| e.policy_kind().as_str().len());
    let mut user_sid = strings(&|e| opt(&e.user_sid));
    let mut file_path = strings(&|e| opt(&e.file_path));
    let mut full_file_path = strings(&|e| opt(&e.full_file_path));
    let mut file_hash = strings(&|e| opt(&e.file_hash));
    let mut fqbn = strings(&fqbn_len);
    let mut publisher = strings(&fqbn_len);
    let mut product = strings(&fqbn_len);
    let mut binary_name = strings(&fqbn_len);
    let mut binary_version = strings(&fqbn_len);
    let mut version_key_col = strings(&|e| if e.fqbn.is_some() { 43 } else { 0 });
    let mut package = strings(&|e| opt(&e.package));
    let mut rule_id = strings(&|e| opt(&e.rule_id));
    let mut rule_name = strings(&|e| opt(&e.rule_name));
    let mut source_file = StringBuilder::with_capacity(
        n,
        rows.iter().map(|r| sources[r.source as usize].len()).sum(),
    );
    let mut ingest = StringBuilder::with_capacity(n, n * ingest_id.len());
    let mut scratch = String::new();
    for row in rows {
        let e = &row.event;
        time.append_value(e.time_us);
        computer.append_value(&e.computer);
        scratch.clear();
        push_computer_key(&e.computer, &mut scratch);
        key.append_value(&scratch);
        channel.append_value(&e.channel);
        provider.append_value(&e.provider);
        event_id.append_value(i32::from(e.event_id));
        record_id.append_value(e.record_id as i64);
        outcome.append_value(e.outcome().as_str());
        collection.append_option(e.collection().map(Collection::as_str));
        policy_kind.append_value(e.policy_kind().as_str());
        user_sid.append_option(e.user_sid.as_deref());
        process_id.append_option(e.process_id);
        logon_id.append_option(e.logon_id);
        file_path.append_option(e.file_path.as_deref());
        full_file_path.append_option(e.full_file_path.as_deref());
        file_hash.append_option(e.file_hash.as_deref());
        fqbn.append_option(e.fqbn.as_deref());
        let parts = e.fqbn_parts();
        publisher.append_option(parts.as_ref().map(|p| p.publisher));
        product.append_option(parts.as_ref().map(|p| p.product));
        binary_name.append_option(parts.as_ref().map(|p| p.binary));
        binary_version.append_option(parts.as_ref().map(|p| p.version));
        match parts.as_ref().and_then(|p| version_key(p.version)) {
            Some(k) => {
                write!(version_key_col, "{k}").expect("writing to a builder cannot fail");
                version_key_col.append_value("");
            }
            None => version_key_col.append_null(),
        }
        package.append_option(e.package.as_deref());
        rule_id.append_option(e.rule_id.as_deref());
        rule_name.append_option(e.rule_name.as_deref());
        source_file.append_value(&sources[row.source as usize]);
        ingest.append_value(ingest_id);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(time.finish()),
        Arc::new(computer.finish()),
        Arc::new(key.finish()),
        Arc::new(channel.finish()),
        Arc::new(provider.finish()),
        Arc::new(event_id.finish()),
        Arc::new(record_id.finish()),
        Arc::new(outcome.finish()),
        Arc::new(collection.finish()),
        Arc::new(policy_kind.finish()),
        Arc::new(user_sid.finish()),
        Arc::new(process_id.finish()),
        Arc::new(logon_id.finish()),
        Arc::new(file_path.finish()),
        Arc::new(full_file_path.finish()),
        Arc::new(file_hash.finish()),
        Arc::new(fqbn.finish()),
        Arc::new(publisher.finish()),
        Arc::new(product.finish()),
        Arc::new(binary_name.finish()),
        Arc::new(binary_version.finish()),
        Arc::new(version_key_col.finish()),
        Arc::new(package.finish()),
        Arc::new(rule_id.finish()),
        Arc::new(rule_name.finish()),
        Arc::new(source_file.finish()),
        Arc::new(ingest.finish()),
    ];
    RecordBatch::try_new(schema::event_schema(), columns)
        .expect("columns match schema::event_schema()")
}

/// The de-duplication key (docs/architecture.md "The event table"), `(computer, channel,
/// record_id, time to the millisecond)`, as a 128-bit FNV-1a hash. Computer and channel
/// compare case-insensitively. Milliseconds because that is the coarsest time any input form
/// keeps (Winlogbeat's `@timestamp`; EVTX and event XML have 100 ns), so the same event read
/// from EVTX, XML and JSON has one key.
pub(crate) fn dedup_key(computer: &str, channel: &str, record_id: u64, time_us: i64) -> u128 {
    let time_ms = time_us.div_euclid(1000);
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    let mut eat = |b: u8| {
        h ^= u128::from(b);
        h = h.wrapping_mul(PRIME);
    };
    for b in computer.bytes() {
        eat(b.to_ascii_lowercase());
    }
    eat(0xFF);
    for b in channel.bytes() {
        eat(b.to_ascii_lowercase());
    }
    eat(0xFF);
    for b in record_id
        .to_le_bytes()
        .into_iter()
        .chain(time_ms.to_le_bytes())
    {
        eat(b);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_ignore_case_but_not_content() {
        let a = dedup_key(
            "FIN-WS01",
            "Microsoft-Windows-AppLocker/EXE and DLL",
            7,
            100,
        );
        assert_eq!(
            a,
            dedup_key(
                "fin-ws01",
                "microsoft-windows-applocker/exe and dll",
                7,
                100
            )
        );
        assert_ne!(
            a,
            dedup_key(
                "FIN-WS01",
                "Microsoft-Windows-AppLocker/EXE and DLL",
                8,
                100
            )
        );
        let channel = "Microsoft-Windows-AppLocker/EXE and DLL";
        // Times meet at the millisecond: EVTX's 1_000_100 µs is JSON's 1_000 ms.
        assert_eq!(
            dedup_key("FIN-WS01", channel, 7, 1_000_999),
            dedup_key("FIN-WS01", channel, 7, 1_000_000)
        );
        assert_ne!(
            dedup_key("FIN-WS01", channel, 7, 1_001_000),
            dedup_key("FIN-WS01", channel, 7, 1_000_999)
        );
        assert_ne!(
            a,
            dedup_key(
                "FIN-WS011",
                "Microsoft-Windows-AppLocker/EXE and DLL",
                7,
                100
            )
        );
    }
}
