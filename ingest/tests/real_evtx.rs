//! Real Windows logs (shared/real-evtx/SOURCES.md): none holds an AppLocker event.

use crate::fixtures::*;

#[test]
fn negatives_and_near_misses_store_no_rows() {
    // Record counts from SOURCES.md (evtx_dump), and none of them AppLocker.
    for (name, records) in [
        (
            "negative_nearmiss_eventlog-cleared-104-naming-applocker-channels.evtx",
            91,
        ),
        ("negative_system_1881-records.evtx", 1881),
        ("negative_security_7-records.evtx", 7),
    ] {
        let data = tempfile::tempdir().unwrap();
        let s = run(data.path(), &[real_evtx(name)]);
        assert_eq!(s.records_read, records, "{name}");
        assert_eq!(s.other_records, records, "{name}");
        assert_eq!(s.rows_new, 0, "{name}");
        assert!(!s.is_partial(), "{name}: {:?}", s.damaged);
        assert!(read_store(data.path()).is_empty());
    }
}

#[test]
fn a_log_without_checksums_is_read_without_complaint() {
    let s = run(
        tempfile::tempdir().unwrap().path(),
        &[real_evtx("damaged_application_no-crc32.evtx")],
    );
    assert_eq!(s.records_read, 17);
    assert!(s.damaged.is_empty(), "{:?}", s.damaged);
}

#[test]
fn a_bad_chunk_is_reported_with_its_number_and_the_rest_is_read() {
    let s = run(
        tempfile::tempdir().unwrap().path(),
        &[real_evtx("damaged_bad-chunk-magic.evtx")],
    );
    assert!(s.records_read >= 300, "{}", s.records_read);
    assert!(
        s.damaged
            .iter()
            .any(|d| d.chunk == Some(10) && d.message.contains("magic")),
        "{:?}",
        s.damaged
    );
    assert!(
        s.damaged
            .iter()
            .all(|d| d.file.ends_with("damaged_bad-chunk-magic.evtx"))
    );
    assert!(s.is_partial());
}

#[test]
fn a_truncated_copy_is_flagged_not_silently_accepted() {
    let s = run(
        tempfile::tempdir().unwrap().path(),
        &[real_evtx("damaged_system_truncated-200000-bytes.evtx")],
    );
    assert_eq!(s.records_read, 210);
    assert!(
        s.damaged
            .iter()
            .any(|d| d.chunk == Some(2) && d.message.contains("truncated")),
        "{:?}",
        s.damaged
    );
}
