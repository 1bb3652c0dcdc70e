//! `lockstep ingest` end to end: exit statuses, JSON summary, and kill -9 at any moment
//! leaving the store at its state before or after the ingest.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::support::{lockstep, sample_logs};

fn generate(out: &Path, events: &str, seed: &str) {
    generate_as(out, events, seed, "evtx");
}

/// A 20-host fleet behind one collector, as `format` (evtx, xml, winlogbeat).
fn generate_as(out: &Path, events: &str, seed: &str, format: &str) {
    lockstep()
        .args([
            "-q",
            "generate",
            "--hosts",
            "20",
            "--groups",
            "4",
            "--days",
            "7",
            "--forwarded",
            "1",
            "--seed",
            seed,
            "--events",
            events,
            "--format",
            format,
            "--out",
        ])
        .arg(out)
        .assert()
        .success();
}

/// (rows, listed files) of the committed store; every listed file must be complete Parquet.
fn committed(data: &Path) -> (u64, usize) {
    let Ok(text) = std::fs::read_to_string(data.join("lockstep-store.json")) else {
        return (0, 0);
    };
    let manifest: serde_json::Value =
        serde_json::from_str(&text).expect("the manifest is always whole JSON");
    let files = manifest["files"].as_array().unwrap();
    for f in files {
        let bytes =
            std::fs::read(data.join(f["path"].as_str().unwrap())).expect("a listed file exists");
        assert!(
            bytes.starts_with(b"PAR1") && bytes.ends_with(b"PAR1"),
            "a listed file is complete Parquet"
        );
        let keys = std::fs::metadata(data.join(f["keys"].as_str().unwrap()))
            .expect("its keys exist")
            .len();
        assert_eq!(keys, 16 * f["rows"].as_u64().unwrap());
    }
    (
        files.iter().map(|f| f["rows"].as_u64().unwrap()).sum(),
        files.len(),
    )
}

#[test]
fn ingest_reports_json_and_exit_statuses() {
    let data = tempfile::tempdir().unwrap();
    let out = lockstep()
        .args(["ingest", "--json", "--data"])
        .arg(data.path())
        .arg(sample_logs())
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(summary["rows_new"].as_u64().unwrap(), 2500);
    assert_eq!(summary["rows_duplicate"].as_u64().unwrap(), 0);

    // A damaged input: the rest is stored and the exit status says "partial" (3).
    let elsewhere = tempfile::tempdir().unwrap();
    let bad = elsewhere.path().join("not-a-log.evtx");
    std::fs::write(&bad, "hello").unwrap();
    let out = lockstep()
        .args(["ingest", "--data"])
        .arg(data.path())
        .arg(&bad)
        .arg(sample_logs())
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.contains("not-a-log.evtx") && stderr.contains("not an EVTX, event XML or JSON file"),
        "{stderr}"
    );

    // --strict: the same input is refused before anything is stored.
    let out = lockstep()
        .args(["ingest", "--strict", "--data"])
        .arg(data.path())
        .arg(&bad)
        .assert()
        .code(1);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--strict"));

    // LOCKSTEP_DATA picks the store; a path that does not exist is named.
    let out = lockstep()
        .env("LOCKSTEP_DATA", data.path())
        .args(["ingest", "/no/such/file.evtx"])
        .assert()
        .code(3);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("/no/such/file.evtx"));
}

/// The probe's case: a damaged file whose name is not UTF-8 made `--json` fail after the
/// rows were committed (exit 1, "nothing stored"). Now the summary names it lossily and the
/// status says "partial"; a newline in a name cannot split a line; `-q` writes no INFO
/// lines and no colours into a pipe.
#[cfg(unix)]
#[test]
fn odd_file_names_never_change_the_exit_status_or_split_lines() {
    use std::os::unix::ffi::OsStrExt;
    let data = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let log = std::fs::read(sample_logs().join("ForwardedEvents-2.evtx")).unwrap();
    let not_utf8 = inputs
        .path()
        .join(std::ffi::OsStr::from_bytes(b"bad-\xff-name.evtx"));
    std::fs::write(&not_utf8, &log[..log.len() - 30_000]).unwrap();
    let newline = inputs.path().join("two\nlines.evtx");
    std::fs::write(&newline, "not a log").unwrap();

    let out = lockstep()
        .args(["-q", "ingest", "--json", "--data"])
        .arg(data.path())
        .arg(&not_utf8)
        .arg(&newline)
        .assert()
        .code(3);
    let output = out.get_output();
    let summary: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(summary["rows_new"].as_u64().unwrap() > 0);
    let damaged = summary["damaged"][0]["file"].as_str().unwrap();
    assert!(damaged.ends_with("bad-\u{fffd}-name.evtx"), "{damaged}");
    assert!(
        summary["skipped_inputs"][0]["path"]
            .as_str()
            .unwrap()
            .ends_with("two\nlines.evtx")
    );

    let out = lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(data.path())
        .arg(&newline)
        .arg(&not_utf8)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    let skipped: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("skipped"))
        .collect();
    assert_eq!(skipped.len(), 1, "{stderr}");
    assert!(skipped[0].contains("two\\nlines.evtx"), "{stderr}");
    assert!(
        !stderr.contains('\u{1b}'),
        "no colours into a pipe: {stderr:?}"
    );
    assert!(
        !stderr.contains("INFO"),
        "-q: warnings and errors only: {stderr}"
    );
}

/// The rows DuckDB, polars and pandas see reading the store as docs/store.md shows (each
/// must see the same).
fn analysts_see(data: &Path) -> u64 {
    let seen = crate::support::python_json(
        "ingest/tests/support/read_store.py",
        &["duckdb", "polars", "pandas", "pyarrow"],
        data,
    );
    let rows = seen["duckdb"]["rows"].as_u64().unwrap();
    for tool in ["polars", "pandas"] {
        assert_eq!(seen[tool]["rows"].as_u64().unwrap(), rows, "{tool}");
    }
    rows
}

#[test]
fn kill_9_at_any_moment_leaves_the_store_before_or_after() {
    let work = tempfile::tempdir().unwrap();
    let (first, second) = (work.path().join("first"), work.path().join("second"));
    generate(&first, "2000", "1");
    generate(&second, "60000", "2");
    let reference = work.path().join("reference");
    lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(&reference)
        .arg(&second)
        .assert()
        .success();
    let second_rows = committed(&reference).0;

    let data = work.path().join("data");
    lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(&data)
        .arg(&first)
        .assert()
        .success();
    let before = committed(&data).0;
    let bin = assert_cmd::cargo::cargo_bin("lockstep");
    let mut killed_mid_way = 0;
    for delay_ms in [0, 40, 120, 250, 400, 700, 1000, 1500, 2200] {
        let mut child = std::process::Command::new(&bin)
            .args(["-q", "ingest", "--data"])
            .arg(&data)
            .arg(&second)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(delay_ms) {
            // A reader polling meanwhile sees only whole states.
            let (rows, _) = committed(&data);
            assert!(
                rows == before || rows == before + second_rows,
                "a reader saw {rows} rows"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let (rows, _) = committed(&data);
        assert!(
            rows == before || rows == before + second_rows,
            "after kill at {delay_ms} ms: {rows} rows"
        );
        if rows == before + second_rows {
            break; // it finished before the kill; later kills have nothing to interrupt
        }
        if !finished {
            killed_mid_way += 1;
            // The killed ingest left staging and uncommitted files; DuckDB, polars and
            // pandas reading the store the documented way (the manifest's file list) see
            // exactly the committed rows.
            assert_eq!(analysts_see(&data), rows, "after kill at {delay_ms} ms");
        }
    }
    assert!(killed_mid_way > 0, "at least one kill must land mid-ingest");
    // A later ingest cleans up what the killed ones left and completes.
    lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(&data)
        .arg(&second)
        .assert()
        .success();
    let (rows, files) = committed(&data);
    assert_eq!(rows, before + second_rows);
    let on_disk = std::fs::read_dir(data.join("events")).unwrap().count();
    assert_eq!(
        on_disk,
        3 * files,
        "only listed files (and their keys and summaries) remain"
    );
    let staging = data.join("staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());
}

/// `lockstep collect` killed with SIGKILL while it reads a growing NDJSON export: a restart
/// resumes from the position committed with the rows, and the store ends with every event
/// once.
#[test]
fn a_collector_killed_mid_file_resumes_without_loss_or_duplicates() {
    let fleet = tempfile::tempdir().unwrap();
    generate_as(fleet.path(), "30000", "1", "winlogbeat");
    let export = fleet.path().join("ForwardedEvents-1.ndjson");
    let lines: Vec<String> = std::fs::read_to_string(&export)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let watch = tempfile::tempdir().unwrap();
    let growing = watch.path().join("winlogbeat.ndjson");
    let data = tempfile::tempdir().unwrap();
    let mut written = 0;
    for delay_ms in [150u64, 400, 900] {
        // More of the export arrives, and the collector is killed while it reads.
        let upto = (written + lines.len() / 4).min(lines.len());
        let mut text = lines[written..upto].join("\n");
        text.push('\n');
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&growing)
            .unwrap();
        std::io::Write::write_all(&mut f, text.as_bytes()).unwrap();
        written = upto;
        let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("lockstep"))
            .args(["-q", "collect", "--interval", "1", "--watch"])
            .arg(watch.path())
            .arg("--data")
            .arg(data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().ok(); // SIGKILL
        child.wait().ok();
        committed(data.path()); // whole JSON, every listed file complete
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&growing)
        .unwrap();
    std::io::Write::write_all(&mut f, (lines[written..].join("\n") + "\n").as_bytes()).unwrap();
    lockstep()
        .args(["-q", "collect", "--once", "--watch"])
        .arg(watch.path())
        .arg("--data")
        .arg(data.path())
        .assert()
        .success();
    let whole = tempfile::tempdir().unwrap();
    lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(whole.path())
        .arg(&export)
        .assert()
        .success();
    assert_eq!(
        committed(data.path()).0,
        committed(whole.path()).0,
        "every event, once"
    );
}

/// `lockstep store compact` killed with SIGKILL at any moment, while `lockstep report` keeps
/// answering from the same store in another process: every answer is the one from before,
/// the store stays whole, and a later compaction finishes and leaves only listed and
/// retired files behind.
#[test]
fn compaction_killed_at_any_moment_under_readers_changes_no_answer() {
    let work = tempfile::tempdir().unwrap();
    let fleet = work.path().join("fleet");
    lockstep()
        .args([
            "-q", "generate", "--hosts", "24", "--groups", "4", "--days", "7",
        ])
        .args([
            "--forwarded",
            "0",
            "--seed",
            "5",
            "--events",
            "40000",
            "--out",
        ])
        .arg(&fleet)
        .assert()
        .success();
    let mut hosts: Vec<_> = std::fs::read_dir(&fleet)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    hosts.sort();
    let data = work.path().join("data");
    for host in &hosts {
        lockstep()
            .env("LOCKSTEP_AUTO_COMPACT", "off")
            .args(["-q", "ingest", "--data"])
            .arg(&data)
            .arg(host)
            .assert()
            .success();
    }
    let (rows, files_before) = committed(&data);
    assert_eq!(files_before, hosts.len(), "one small file per ingest");

    let answer = {
        let data = data.clone();
        move || {
            let out = lockstep()
                .args(["report", "--format", "json", "--data"])
                .arg(&data)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).unwrap()
        }
    };
    let reference = answer();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (stop, reference, answer) = (stop.clone(), reference.clone(), answer.clone());
        std::thread::spawn(move || {
            let mut answers = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                assert!(answer() == reference, "a report during compaction differed");
                answers += 1;
            }
            answers
        })
    };

    let bin = assert_cmd::cargo::cargo_bin("lockstep");
    let mut killed_mid_way = 0;
    for delay_ms in [0u64, 30, 80, 150, 250, 400, 600, 900, 1300, 2000] {
        let mut child = std::process::Command::new(&bin)
            .args(["-q", "store", "compact", "--data"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok(); // SIGKILL
        child.wait().unwrap();
        let (rows_now, files_now) = committed(&data);
        assert_eq!(rows_now, rows, "after a kill at {delay_ms} ms");
        if files_now < files_before {
            break; // it finished before the kill
        }
        assert_eq!(files_now, files_before, "before or after, nothing between");
        if !finished {
            killed_mid_way += 1;
        }
    }
    assert!(
        killed_mid_way > 0,
        "at least one kill must land mid-compaction"
    );
    lockstep()
        .args(["-q", "store", "compact", "--data"])
        .arg(&data)
        .assert()
        .success();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = reader
        .join()
        .expect("every answer during compaction was the same");
    assert!(answers > 0);

    let (rows_after, files_after) = committed(&data);
    assert_eq!(rows_after, rows);
    assert!(files_after < files_before);
    assert_eq!(answer(), reference, "the compacted store answers the same");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data.join("lockstep-store.json")).unwrap())
            .unwrap();
    let retired = manifest["retired"].as_array().map_or(0, Vec::len);
    let on_disk = std::fs::read_dir(data.join("events")).unwrap().count();
    assert_eq!(
        on_disk,
        3 * (files_after + retired),
        "only listed and retired files (and their keys and summaries) remain"
    );
    let staging = data.join("staging");
    assert!(!staging.exists() || std::fs::read_dir(&staging).unwrap().next().is_none());
}
