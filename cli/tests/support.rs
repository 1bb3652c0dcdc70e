//! Helpers the end-to-end tests share.

use std::path::{Path, PathBuf};

use assert_cmd::Command;

pub(crate) fn lockstep() -> Command {
    Command::cargo_bin("lockstep").unwrap()
}

pub(crate) fn sample_logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs")
}

/// Ingests the bundled fleet into `data`.
pub(crate) fn ingest_sample_logs(data: &Path) {
    lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(data)
        .arg(sample_logs())
        .assert()
        .success();
}

/// A fresh store with the bundled fleet.
pub(crate) fn sample_store() -> tempfile::TempDir {
    let data = tempfile::tempdir().unwrap();
    ingest_sample_logs(data.path());
    data
}
