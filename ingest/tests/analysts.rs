//! Analysts open the store directly with DuckDB, polars and pandas (installed by `cargo xtask test`).

use std::process::Command;

use crate::fixtures::*;

#[test]
fn duckdb_polars_and_pandas_read_the_store() {
    let data = tempfile::tempdir().unwrap();
    let summary = run(data.path(), &[sample_logs()]);
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/read_store.py");
    let out = Command::new(testkit::python(&["duckdb", "polars", "pandas", "pyarrow"]))
        .arg(script)
        .arg(data.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "reading the store failed (duckdb, polars, pandas and pyarrow come from PyPI; `cargo xtask test` installs them):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = sample_manifest();
    for tool in ["duckdb", "polars", "pandas"] {
        assert_eq!(
            seen[tool]["rows"].as_u64().unwrap(),
            summary.rows_in_store,
            "{tool}"
        );
        assert_eq!(seen[tool]["by_id"], manifest["events_by_id"], "{tool}");
        let reporting = manifest["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|h| h["events_by_id"].as_object().is_some_and(|m| !m.is_empty()))
            .count();
        assert_eq!(
            seen[tool]["computers"].as_u64().unwrap() as usize,
            reporting,
            "{tool}"
        );
    }
}
