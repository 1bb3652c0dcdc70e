//! Shared helpers: generating small fleets and reading EVTX files with every parser.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicU64;

use evtx::{EvtxParser, ParserSettings};
use serde_json::Value as Json;

/// The repository's `sample-logs/` folder.
pub(crate) fn sample_logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs")
}

/// A small fleet with per-host and forwarded files, generated into a new temp folder.
pub(crate) fn small_mixed_fleet(seed: u64) -> (tempfile::TempDir, generate::Summary) {
    let dir = tempfile::tempdir().unwrap();
    let opts = generate::Options {
        seed,
        hosts: 15,
        groups: 5,
        days: 4,
        events: 2_500,
        forwarded: 2,
        wef_coverage: 60,
        ..Default::default()
    };
    let summary = generate::generate(&opts, dir.path(), &AtomicU64::new(0)).unwrap();
    (dir, summary)
}

/// Every `.evtx` file under `dir`, sorted.
pub(crate) fn evtx_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "evtx") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The fields every parser must agree on, for one record.
pub(crate) type Fields = BTreeMap<String, Json>;

/// Reads `path` with the `evtx` crate (checksums validated) into the same normal form as
/// `tests/support/evtx_fields.py`.
pub(crate) fn read_with_evtx_crate(path: &Path) -> Vec<Fields> {
    let settings = ParserSettings::default()
        .validate_checksums(true)
        .num_threads(1);
    let mut parser = EvtxParser::from_path(path)
        .unwrap()
        .with_configuration(settings);
    parser
        .records_json_value()
        .map(|r| {
            let r = r.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            normal_fields(&r.data["Event"])
        })
        .collect()
}

fn normal_fields(event: &Json) -> Fields {
    let system = &event["System"];
    let text = |v: &Json| {
        v.as_str()
            .unwrap_or_else(|| panic!("not text: {v}"))
            .to_owned()
    };
    let event_id = match &system["EventID"] {
        Json::Object(o) => o["#text"].clone(),
        other => other.clone(),
    };
    let mut out = Fields::new();
    out.insert("Computer".into(), Json::from(text(&system["Computer"])));
    out.insert("EventID".into(), event_id);
    out.insert("Channel".into(), Json::from(text(&system["Channel"])));
    out.insert(
        "Provider".into(),
        system["Provider"]["#attributes"]["Name"].clone(),
    );
    out.insert(
        "TimeCreated".into(),
        Json::from(micros(&text(
            &system["TimeCreated"]["#attributes"]["SystemTime"],
        ))),
    );
    out.insert("EventRecordID".into(), system["EventRecordID"].clone());
    if let Some(data) = event.get("UserData").and_then(|u| u.get("RuleAndFileData")) {
        for name in [
            "PolicyName",
            "FilePath",
            "FileHash",
            "Fqbn",
            "TargetUser",
            "Package",
        ] {
            if let Some(v) = data.get(name) {
                let v = text(v);
                let v = if name == "FileHash" {
                    v.trim_start_matches("0x").to_uppercase()
                } else {
                    v
                };
                out.insert(name.into(), Json::from(v));
            }
        }
    }
    out
}

/// `2026-10-05T03:56:26.2003207Z` as microseconds since the epoch.
fn micros(text: &str) -> i64 {
    let t = chrono::DateTime::parse_from_rfc3339(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    t.timestamp_micros()
}

/// Reads `path` with python-evtx or libevtx through `tests/support/evtx_fields.py`.
pub(crate) fn read_with_python_helper(reader: &str, path: &Path) -> Vec<Fields> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/evtx_fields.py");
    let python = match reader {
        "pyevtx" => testkit::python(&["Evtx"]),
        _ => {
            testkit::tool("evtxexport");
            testkit::python(&[])
        }
    };
    let out = Command::new(python)
        .arg(script)
        .arg(reader)
        .arg(path)
        .env("PATH", testkit::path_with_tools())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{reader} could not read {}: {}\n(python-evtx comes from PyPI `python-evtx`, evtxexport from Debian \
         `libevtx-utils`; `cargo xtask test` installs both)",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Asserts that python-evtx and libevtx read exactly what the `evtx` crate reads.
pub(crate) fn assert_parsers_agree(path: &Path) -> Vec<Fields> {
    let reference = read_with_evtx_crate(path);
    for reader in ["pyevtx", "libevtx"] {
        let other = read_with_python_helper(reader, path);
        assert_eq!(
            other.len(),
            reference.len(),
            "{reader} record count for {}",
            path.display()
        );
        for (i, (a, b)) in reference.iter().zip(&other).enumerate() {
            for (key, value) in a {
                let theirs = b.get(key).unwrap_or_else(|| {
                    panic!("{reader} lacks {key} in record {i} of {}", path.display())
                });
                if key == "TimeCreated" {
                    // python-evtx converts FileTime through floats: up to 2 µs off (§4.10).
                    let diff = value.as_i64().unwrap() - theirs.as_i64().unwrap();
                    assert!(
                        diff.abs() <= 2,
                        "{reader}: TimeCreated of record {i} differs by {diff} µs"
                    );
                } else {
                    assert_eq!(
                        value,
                        theirs,
                        "{reader}: {key} of record {i} in {}",
                        path.display()
                    );
                }
            }
            assert_eq!(
                a.len(),
                b.len(),
                "{reader}: field set of record {i} in {}",
                path.display()
            );
        }
    }
    reference
}
