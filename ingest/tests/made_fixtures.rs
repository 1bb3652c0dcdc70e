//! The shapes of `real_evtx.rs`, made here with `evtx-writer`, so the core suite needs
//! nothing from outside the clone: logs with no AppLocker event, a near miss (Eventlog 104
//! "log cleared" naming AppLocker channels), a chunk with a bad magic, and a log that keeps
//! no checksums. The real files add the real-world check on top.

use std::path::{Path, PathBuf};

use evtx_writer::{Element, EvtxWriter, Instance, Template, Value, ValueType as T};

use crate::fixtures::*;

/// A System-channel record of `provider` with one `EventData/Data` value.
fn other_template(provider: &str, channel: &str) -> Template {
    Template::new(
        Element::new("Event")
            .child(
                Element::new("System")
                    .child(Element::new("Provider").attr("Name", provider))
                    .child(Element::new("EventID").subst(0, T::UInt16))
                    .child(Element::new("TimeCreated").attr_subst("SystemTime", 1, T::FileTime))
                    .child(Element::new("EventRecordID").subst(2, T::UInt64))
                    .child(Element::new("Channel").text(channel))
                    .child(Element::new("Computer").text("FIN-WS01.corp.example")),
            )
            .child(
                Element::new("EventData").child(
                    Element::new("Data")
                        .attr("Name", "param1")
                        .subst(3, T::String),
                ),
            ),
    )
}

/// Eventlog 104 ("the log file was cleared"), as Windows writes it in the System log: its
/// payload names the channel that was cleared, here an AppLocker one.
fn log_cleared_template() -> Template {
    Template::new(
        Element::new("Event")
            .child(
                Element::new("System")
                    .child(Element::new("Provider").attr("Name", "Microsoft-Windows-Eventlog"))
                    .child(Element::new("EventID").subst(0, T::UInt16))
                    .child(Element::new("TimeCreated").attr_subst("SystemTime", 1, T::FileTime))
                    .child(Element::new("EventRecordID").subst(2, T::UInt64))
                    .child(Element::new("Channel").text("System"))
                    .child(Element::new("Computer").text("FIN-WS01.corp.example")),
            )
            .child(
                Element::new("UserData").child(
                    Element::new("LogFileCleared")
                        .child(Element::new("SubjectUserName").text("admin"))
                        .child(Element::new("Channel").subst(3, T::String))
                        .child(Element::new("BackupPath").text("")),
                ),
            ),
    )
}

/// Writes `count` records of `template` (event `event_id`, a text value of about 200
/// characters) into `dir/name`; returns the path.
fn write_log(dir: &Path, name: &str, template: &Template, event_id: u16, count: u64) -> PathBuf {
    let path = dir.join(name);
    let mut writer = EvtxWriter::new(std::fs::File::create(&path).unwrap());
    for i in 0..count {
        let written = 133_540_416_000_000_000 + i * 10_000_000;
        let values = vec![
            Value::UInt16(event_id),
            Value::FileTime(written),
            Value::UInt64(i + 1),
            Value::string(format!(
                "Microsoft-Windows-AppLocker/EXE and DLL {i} {}",
                "x".repeat(160)
            )),
        ];
        writer
            .append(written, &Instance::new(template, values))
            .unwrap();
    }
    writer.finish().unwrap();
    path
}

#[test]
fn logs_without_applocker_events_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        write_log(
            dir.path(),
            "system.evtx",
            &other_template("Service Control Manager", "System"),
            7036,
            700,
        ),
        write_log(
            dir.path(),
            "security.evtx",
            &other_template("Microsoft-Windows-Security-Auditing", "Security"),
            4624,
            7,
        ),
        write_log(dir.path(), "cleared.evtx", &log_cleared_template(), 104, 91),
    ];
    for file in &files {
        let data = tempfile::tempdir().unwrap();
        let s = run(data.path(), std::slice::from_ref(file));
        let name = file.file_name().unwrap().to_string_lossy();
        let expected = match name.as_ref() {
            "system.evtx" => 700,
            "security.evtx" => 7,
            _ => 91,
        };
        assert_eq!(s.records_read, expected, "{name}");
        assert_eq!(
            s.other_records, expected,
            "{name}: all skipped as other records"
        );
        assert_eq!(s.rows_new, 0, "{name}");
        assert!(!s.is_partial(), "{name}: {:?}", s.damaged);
        assert!(read_store(data.path()).is_empty(), "{name}");
    }
}

#[test]
fn a_chunk_with_a_bad_magic_is_reported_with_its_number_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let template = other_template("Service Control Manager", "System");
    let path = write_log(dir.path(), "system.evtx", &template, 7036, 2_000);
    let mut bytes = std::fs::read(&path).unwrap();
    let chunks = (bytes.len() - 4096) / 65536;
    assert!(chunks >= 4, "the test needs several chunks, got {chunks}");
    let damaged = 2;
    bytes[4096 + damaged * 65536..][..8].copy_from_slice(b"NotChnk\0");
    std::fs::write(&path, &bytes).unwrap();
    let s = run(tempfile::tempdir().unwrap().path(), &[path]);
    assert!(
        s.damaged
            .iter()
            .any(|d| d.chunk == Some(damaged as u64) && d.message.contains("magic")),
        "{:?}",
        s.damaged
    );
    assert!(s.is_partial());
    assert!(
        s.records_read > 1_000,
        "the other chunks are read: {}",
        s.records_read
    );
    assert!(
        s.records_read < 2_000,
        "not the damaged one: {}",
        s.records_read
    );
}

#[test]
fn a_log_that_keeps_no_checksums_is_read_without_complaint() {
    let dir = tempfile::tempdir().unwrap();
    let template = other_template("Application Error", "Application");
    let path = write_log(dir.path(), "application.evtx", &template, 1000, 17);
    let mut bytes = std::fs::read(&path).unwrap();
    // File flag 0x4 (no CRC32) and chunk flags 5, as Windows leaves such a log
    // (spec/evtx-format.md §1, §2); then every checksum is wrong on purpose.
    bytes[120..124].copy_from_slice(&4u32.to_le_bytes());
    let chunk = 4096;
    bytes[chunk + 120..chunk + 124].copy_from_slice(&5u32.to_le_bytes());
    bytes[chunk + 52..chunk + 56].copy_from_slice(&[0; 4]);
    bytes[chunk + 124..chunk + 128].copy_from_slice(&[0; 4]);
    bytes[124..128].copy_from_slice(&[0; 4]);
    std::fs::write(&path, &bytes).unwrap();
    let s = run(tempfile::tempdir().unwrap().path(), &[path]);
    assert_eq!(s.records_read, 17);
    assert!(s.damaged.is_empty(), "{:?}", s.damaged);
}
