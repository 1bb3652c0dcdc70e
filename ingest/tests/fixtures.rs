//! Helpers shared by the ingest tests.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use arrow_array::{Array, Int32Array, RecordBatch, StringArray, TimestampMicrosecondArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub(crate) fn sample_logs() -> PathBuf {
    repo().join("sample-logs")
}

/// A real Windows log of the outside fixtures folder (`real-evtx/`, see docs/testing.md).
pub(crate) fn real_evtx(name: &str) -> PathBuf {
    testkit::fixture(&format!("real-evtx/{name}"))
}

pub(crate) fn options(data: &Path, paths: &[PathBuf]) -> ingest::Options {
    ingest::Options {
        data_dir: data.to_owned(),
        paths: paths.to_vec(),
        strict: false,
        threads: 2,
    }
}

pub(crate) fn run(data: &Path, paths: &[PathBuf]) -> ingest::Summary {
    ingest::ingest(&options(data, paths), &ingest::Progress::default()).unwrap()
}

/// Every committed row of the store, one batch per file.
pub(crate) fn read_store(data: &Path) -> Vec<RecordBatch> {
    let store = schema::Store::new(data);
    let mut batches = Vec::new();
    for path in store.committed_files().unwrap() {
        let reader = ParquetRecordBatchReaderBuilder::try_new(File::open(&path).unwrap())
            .unwrap()
            .build()
            .unwrap();
        batches.extend(reader.map(|b| b.unwrap()));
    }
    batches
}

pub(crate) fn strings<'a>(batch: &'a RecordBatch, column: &str) -> &'a StringArray {
    batch
        .column_by_name(column)
        .unwrap()
        .as_any()
        .downcast_ref::<StringArray>()
        .unwrap()
}

pub(crate) fn ints<'a>(batch: &'a RecordBatch, column: &str) -> &'a Int32Array {
    batch
        .column_by_name(column)
        .unwrap()
        .as_any()
        .downcast_ref::<Int32Array>()
        .unwrap()
}

/// Rows per (computer, event id) in the store.
pub(crate) fn counts_by_computer_and_id(data: &Path) -> BTreeMap<(String, u16), u64> {
    let mut out = BTreeMap::new();
    for batch in read_store(data) {
        let (computer, id) = (strings(&batch, "computer"), ints(&batch, "event_id"));
        for i in 0..batch.num_rows() {
            *out.entry((computer.value(i).to_owned(), id.value(i) as u16))
                .or_default() += 1;
        }
    }
    out
}

/// The generator's own count of what sample-logs holds, per (computer, event id).
pub(crate) fn sample_manifest() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(sample_logs().join("manifest.json")).unwrap()).unwrap()
}

pub(crate) fn expected_by_computer_and_id(
    manifest: &serde_json::Value,
) -> BTreeMap<(String, u16), u64> {
    let mut out = BTreeMap::new();
    for host in manifest["hosts"].as_array().unwrap() {
        for (id, n) in host["events_by_id"].as_object().unwrap() {
            out.insert(
                (
                    host["computer"].as_str().unwrap().to_owned(),
                    id.parse().unwrap(),
                ),
                n.as_u64().unwrap(),
            );
        }
    }
    out
}

/// A generated fleet in a temp folder.
pub(crate) fn generated(opts: generate::Options) -> (tempfile::TempDir, generate::Summary) {
    let dir = tempfile::tempdir().unwrap();
    let summary =
        generate::generate(&opts, dir.path(), &std::sync::atomic::AtomicU64::new(0)).unwrap();
    (dir, summary)
}

/// Every `.evtx` file under `dir`, sorted.
pub(crate) fn evtx_files(dir: &Path) -> Vec<PathBuf> {
    files_with(dir, &["evtx"])
}

/// Every event log under `dir` in any form: EVTX and the per-host text exports (event XML,
/// Winlogbeat NDJSON) that `generate --text-exports` writes in host folders.
pub(crate) fn event_logs(dir: &Path) -> Vec<PathBuf> {
    let mut files = files_with(dir, &["evtx", "xml", "ndjson"]);
    files.retain(|p| p.extension().is_some_and(|e| e == "evtx") || p.parent() != Some(dir));
    files
}

/// Every file under `dir` with one of `extensions`, sorted.
pub(crate) fn files_with(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|e| extensions.iter().any(|x| e == *x))
            {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Every stored row as text, all columns but `source_file` and `ingest_id`, sorted; times
/// cut to the millisecond when `ms`.
pub(crate) fn rows(data: &Path, ms: bool) -> Vec<String> {
    let mut out = Vec::new();
    for batch in read_store(data) {
        let schema = batch.schema();
        for i in 0..batch.num_rows() {
            let mut row = Vec::new();
            for (c, field) in schema.fields().iter().enumerate() {
                let name = field.name().as_str();
                if name == "source_file" || name == "ingest_id" {
                    continue;
                }
                let column = batch.column(c);
                if name == "time" {
                    let t = column
                        .as_any()
                        .downcast_ref::<TimestampMicrosecondArray>()
                        .unwrap()
                        .value(i);
                    row.push(format!("{}", if ms { t.div_euclid(1000) } else { t }));
                } else {
                    let text = format!("{:?}", column.slice(i, 1));
                    // `StringArray\n[\n  "x",\n]` → `"x"`.
                    let value = text
                        .lines()
                        .nth(2)
                        .unwrap_or("")
                        .trim()
                        .trim_end_matches(',');
                    row.push(value.to_owned());
                }
            }
            out.push(row.join("|"));
        }
    }
    out.sort();
    out
}

/// Equal row sets, or the first row that differs.
pub(crate) fn same_rows(a: &[String], b: &[String], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: row counts");
    if let Some((x, y)) = a.iter().zip(b).find(|(x, y)| x != y) {
        panic!("{what}: first difference:\n{x}\n{y}");
    }
}

/// Ingests one mutated file into a fresh store: it must neither panic nor fail, and what it
/// reports as damaged or skipped names that file. `what` says which case it was.
pub(crate) fn ingest_mutated(file: &Path, what: &str) -> ingest::Summary {
    let data = tempfile::tempdir().unwrap();
    let outcome = std::panic::catch_unwind(|| {
        ingest::ingest(
            &options(data.path(), &[file.to_owned()]),
            &ingest::Progress::default(),
        )
    });
    let summary = match outcome {
        Ok(Ok(summary)) => summary,
        Ok(Err(e)) => panic!("{what}: ingest failed: {e}"),
        Err(_) => panic!("{what}: ingest panicked"),
    };
    for d in &summary.damaged {
        assert_eq!(d.file, file, "{what}: damage names its file");
    }
    for s in &summary.skipped_inputs {
        assert_eq!(s.path, file, "{what}: a skipped file is named");
    }
    summary
}
