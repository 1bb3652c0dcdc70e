//! Helpers the end-to-end tests share.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

pub(crate) fn lockstep() -> Command {
    Command::cargo_bin("lockstep").unwrap()
}

/// The JSON a Python script of the repository prints for `arg`, run with the test
/// environment's Python and `modules` (which `cargo xtask test` installs).
pub(crate) fn python_json(script: &str, modules: &[&str], arg: &Path) -> serde_json::Value {
    let mut command = std::process::Command::new(testkit::python(modules));
    command.arg(testkit::repo().join(script)).arg(arg);
    json_of(Command::from_std(command))
}

/// The JSON `command` prints, after it succeeded (its stderr shown when it did not).
pub(crate) fn json_of(mut command: Command) -> serde_json::Value {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

pub(crate) fn sample_logs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs")
}

/// `lockstep ARGS --data DATA --inventory sample-logs/inventory.csv`: a question about the
/// sample fleet's store.
pub(crate) fn on_sample_store(args: &[&str], data: &Path) -> Command {
    let mut command = lockstep();
    command
        .args(args)
        .arg("--data")
        .arg(data)
        .arg("--inventory")
        .arg(sample_logs().join("inventory.csv"));
    command
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

/// `GET path` on `address` (HTTP/1.1, `Connection: close`, a bearer token if given): the
/// status and the whole raw response (head and body).
pub(crate) fn http_get(
    address: &str,
    path: &str,
    token: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw)?;
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, raw))
}
