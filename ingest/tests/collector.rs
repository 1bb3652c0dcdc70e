//! Collector mode: an appended NDJSON export is read from where the last pass ended,
//! complete lines only; a growing EVTX log is read once it settles, past the last record id;
//! a rotated file is read from its start; positions survive a restart (they are in the
//! manifest with the rows); a watched folder that goes away and comes back is picked up.

use std::io::Write;
use std::path::Path;

use generate::OutputFormat;
use ingest::collect::Collector;

use crate::fixtures::*;

/// The NDJSON lines of one host's log of a generated fleet.
fn ndjson_lines(n: usize) -> Vec<String> {
    let (fleet, _) = generated(generate::Options {
        hosts: 4,
        groups: 1,
        days: 3,
        events: 400,
        format: OutputFormat::Winlogbeat,
        ..Default::default()
    });
    let mut lines = Vec::new();
    for file in files_with(fleet.path(), &["ndjson"]) {
        lines.extend(
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .map(str::to_owned),
        );
    }
    assert!(lines.len() >= n, "{} lines", lines.len());
    lines.truncate(n);
    lines
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    f.write_all(text.as_bytes()).unwrap();
}

#[test]
fn an_appended_export_is_read_from_where_the_last_pass_ended() {
    let lines = ndjson_lines(30);
    let watch = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let file = watch.path().join("winlogbeat.ndjson");
    append(&file, &(lines[..10].join("\n") + "\n"));
    let mut collector = Collector::new(data.path(), &[watch.path().to_owned()]);
    let first = collector.pass();
    assert_eq!(
        (first.rows_new, first.files_read.len()),
        (10, 1),
        "{first:?}"
    );
    // Nothing new: the file is not read again.
    assert!(collector.pass().files_read.is_empty());

    // Five more lines and half of the sixth: the five are read, the half waits.
    let half = lines[15].len() / 2;
    append(
        &file,
        &(lines[10..15].join("\n") + "\n" + &lines[15][..half]),
    );
    let second = collector.pass();
    assert_eq!(
        (second.rows_new, second.rows_duplicate),
        (5, 0),
        "only the new lines: {second:?}"
    );
    assert_eq!(second.damaged, 0, "a line being written is not damage");
    append(&file, &(lines[15][half..].to_owned() + "\n"));
    assert_eq!(collector.pass().rows_new, 1);

    // A restart: a new collector resumes from the committed position.
    append(&file, &(lines[16..20].join("\n") + "\n"));
    let mut restarted = Collector::new(data.path(), &[watch.path().to_owned()]);
    let after = restarted.pass();
    assert_eq!((after.rows_new, after.rows_duplicate), (4, 0), "{after:?}");
    let status = ingest::collect::read_status(data.path()).unwrap();
    assert_eq!(status.files.len(), 1);
    assert_eq!(
        status.files[0].offset,
        std::fs::metadata(&file).unwrap().len()
    );
    assert_eq!(status.files[0].behind, 0);

    // Rotation: the file is replaced (another inode) by a new export: read from its start.
    let rotated = watch.path().join("rotated.tmp");
    std::fs::write(&rotated, lines[20..30].join("\n") + "\n").unwrap();
    std::fs::rename(&rotated, &file).unwrap();
    let third = restarted.pass();
    assert_eq!((third.rows_new, third.rows_duplicate), (10, 0), "{third:?}");
    assert_eq!(manifest_rows(data.path()), 30);
}

fn manifest_rows(data: &Path) -> u64 {
    schema::Store::new(data).read_manifest().unwrap().rows()
}

/// A log Windows keeps writing: the same file rewritten with more records (as evtx-writer
/// writes a finished file), read once it stops changing, past the records already read.
#[test]
fn a_growing_evtx_log_is_read_once_settled_and_past_what_was_read() {
    let (fleet, _) = generated(generate::Options {
        hosts: 1,
        groups: 1,
        days: 20,
        events: 3_000,
        ..Default::default()
    });
    let source = evtx_files(fleet.path())
        .into_iter()
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let full = std::fs::read(&source).unwrap();
    let chunks = (full.len() - 4096) / 65536;
    assert!(chunks >= 3, "{chunks} chunks");
    let watch = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let log = watch
        .path()
        .join("Microsoft-Windows-AppLocker%4EXE and DLL.evtx");
    // The first chunks only (a copy cut at a chunk boundary, as a log still being written).
    std::fs::write(&log, &full[..4096 + 65536 * (chunks - 1)]).unwrap();
    let mut collector = Collector::new(data.path(), &[watch.path().to_owned()]);
    let first = collector.pass();
    assert_eq!(
        first.settling.len(),
        1,
        "a new log waits one pass: {first:?}"
    );
    let second = collector.pass();
    assert_eq!(second.files_read.len(), 1, "{second:?}");
    let stored = manifest_rows(data.path());
    assert!(stored > 0);

    // It grows by its last chunk: read once it settles, the old chunks not decoded again.
    std::fs::write(&log, &full).unwrap();
    assert!(collector.pass().settling.len() == 1);
    let grown = collector.pass();
    assert_eq!(
        grown.rows_duplicate, 0,
        "the chunks read before were skipped: {grown:?}"
    );
    let all = tempfile::tempdir().unwrap();
    let whole = run(all.path(), std::slice::from_ref(&source));
    assert_eq!(manifest_rows(data.path()), whole.rows_new);
}

/// A log that changes at every pass (a WEF collector's, written every few seconds) is read
/// anyway once it has kept changing for `max_settle`.
#[test]
fn a_log_that_never_settles_is_read_after_the_longest_wait() {
    let (fleet, _) = generated(generate::Options {
        hosts: 1,
        groups: 1,
        days: 5,
        events: 500,
        ..Default::default()
    });
    let source = evtx_files(fleet.path()).into_iter().next().unwrap();
    let bytes = std::fs::read(&source).unwrap();
    let watch = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let log = watch.path().join("busy.evtx");
    let mut collector = Collector::new(data.path(), &[watch.path().to_owned()]);
    collector.max_settle = std::time::Duration::from_millis(200);
    let touch = |n: u8| {
        // The same records, the file's timestamp moved: it changed.
        std::fs::write(&log, &bytes).unwrap();
        let t = std::time::SystemTime::UNIX_EPOCH
            + std::time::Duration::from_secs(1_800_000_000 + u64::from(n));
        std::fs::File::options()
            .write(true)
            .open(&log)
            .unwrap()
            .set_modified(t)
            .unwrap();
    };
    touch(0);
    assert_eq!(collector.pass().settling.len(), 1);
    touch(1);
    assert_eq!(
        collector.pass().settling.len(),
        1,
        "still changing, not waited long enough"
    );
    std::thread::sleep(std::time::Duration::from_millis(250));
    touch(2);
    let read = collector.pass();
    assert_eq!(
        read.files_read.len(),
        1,
        "read after the longest wait: {read:?}"
    );
    assert!(read.rows_new > 0);
}

#[test]
fn a_watched_folder_that_goes_away_and_comes_back_is_picked_up() {
    let lines = ndjson_lines(8);
    let share = tempfile::tempdir().unwrap();
    let folder = share.path().join("drop");
    let data = tempfile::tempdir().unwrap();
    let mut collector = Collector::new(data.path(), std::slice::from_ref(&folder));
    let gone = collector.pass();
    assert_eq!(gone.missing, [folder.display().to_string()]);
    assert!(gone.error.is_none());
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("a.ndjson"), lines.join("\n") + "\n").unwrap();
    let back = collector.pass();
    assert!(back.missing.is_empty());
    assert_eq!(back.rows_new, 8);
    let status = ingest::collect::read_status(data.path()).unwrap();
    assert!(status.missing.is_empty() && status.last_error.is_none());
}

/// A change under a watched folder wakes the collector before its interval is up (local
/// file events); with none, it waits the whole interval.
#[test]
fn a_change_wakes_the_collector_early() {
    let watch = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let mut collector = Collector::new(data.path(), &[watch.path().to_owned()]);
    let started = std::time::Instant::now();
    assert!(
        !collector.wait(std::time::Duration::from_millis(300)),
        "nothing changed"
    );
    assert!(started.elapsed() >= std::time::Duration::from_millis(300));
    let file = watch.path().join("new.ndjson");
    let writer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        std::fs::write(file, "{}\n").unwrap();
    });
    let started = std::time::Instant::now();
    assert!(
        collector.wait(std::time::Duration::from_secs(30)),
        "woken by the new file"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    writer.join().unwrap();
}
