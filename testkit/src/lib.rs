//! What lockstep's tests need from outside the clone, found in one place (a dev-dependency
//! of every crate whose tests need it; docs/testing.md).
//!
//! - [`fixture`]: a file of the outside fixtures folder, `LOCKSTEP_FIXTURES` (default
//!   `../shared` beside the clone): real Windows logs and Microsoft's AppLocker schema,
//!   which the project could not have written itself.
//! - [`tool`] and [`python`]: the outside tools (xmllint, libevtx, python-evtx, DuckDB, …),
//!   which `cargo xtask test` installs. The test-tools folder it fills (`TARGET/test-tools`)
//!   is searched first, so a plain `cargo test` after one `cargo xtask test` finds them too.
//!
//! A missing fixture or tool fails the test at once with one message naming it and how to
//! provide it: never a panic deep inside a test, never a silent skip.

pub mod mutate;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The environment variable naming the outside fixtures folder.
pub const FIXTURES_VAR: &str = "LOCKSTEP_FIXTURES";

/// The repository root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit sits in the repository")
        .to_owned()
}

/// The bundled sample fleet.
pub fn sample_logs() -> PathBuf {
    repo().join("sample-logs")
}

/// The outside fixtures folder: `$LOCKSTEP_FIXTURES`, else `shared/` beside the clone.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os(FIXTURES_VAR) {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo().join("..").join("shared"),
    }
}

/// `relative` inside the outside fixtures folder (`real-evtx/…`, `spec/AppLocker.xsd`,
/// `real-policies/…`); fails the test at once, saying what to do, when it is not there.
pub fn fixture(relative: &str) -> PathBuf {
    let dir = fixtures_dir();
    let path = dir.join(relative);
    if !path.exists() {
        panic!(
            "outside fixture missing: {} (the fixtures folder is {}, from {FIXTURES_VAR} or \
             `shared/` beside the clone). It holds real Windows logs and Microsoft's AppLocker \
             schema that the project cannot produce itself; docs/testing.md lists what it \
             holds and where each file comes from. Put that folder beside the clone, or set \
             {FIXTURES_VAR}=/path/to/it.",
            relative,
            dir.display()
        );
    }
    path
}

/// Every file under the fixtures folder's `dir` ending in `.extension`, sorted; at least one.
pub fn fixtures_in(dir: &str, extension: &str) -> Vec<PathBuf> {
    let root = fixture(dir);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("reading {}: {e}", root.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no .{extension} file in {}",
        root.display()
    );
    files
}

/// The folder `cargo xtask test` installs the test tools into (`TARGET/test-tools`), if it
/// exists: `$LOCKSTEP_TEST_TOOLS`, else found above the running test binary.
pub fn test_tools_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("LOCKSTEP_TEST_TOOLS").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().ok()?;
    exe.ancestors()
        .map(|a| a.join("test-tools"))
        .find(|d| d.is_dir())
}

/// `PATH` with the test tools' own `bin` folders first, for commands a test starts (shell
/// scripts that call `python3`, `schemathesis`, `node`).
pub fn path_with_tools() -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = test_tools_dir()
        .map(|d| vec![d.join("venv").join("bin")])
        .unwrap_or_default();
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH entries join")
}

/// The outside commands the tests run and the Debian package of each (`cargo xtask test`
/// installs the missing ones). Python packages come from `.ci/requirements.txt` instead,
/// and the browser tests' npm packages from `dashboards/package-lock.json`.
pub const DEBIAN_TOOLS: [(&str, &str); 10] = [
    // The independent C EVTX parser the generator's files are checked against.
    ("evtxexport", "libevtx-utils"),
    ("evtxinfo", "libevtx-utils"),
    // Validates written policies against Microsoft's AppLocker.xsd.
    ("xmllint", "libxml2-utils"),
    // Fetches the served OpenAPI document for Schemathesis.
    ("curl", "curl"),
    // The dashboard's browser tests (playwright-core drives Debian's Chromium).
    ("chromium", "chromium"),
    ("node", "nodejs"),
    ("npm", "npm"),
    // Sends SIGTERM to a server under test (slim container images leave procps out).
    ("kill", "procps"),
    // Makes the certificate of the TLS example in docs/tls.md.
    ("openssl", "openssl"),
    // python-evtx, DuckDB, polars, pandas and Schemathesis run in a virtual environment.
    ("python3", "python3"),
];

/// The full path of the outside command `name`, looked up in the test tools first, then in
/// `PATH`; fails the test at once, naming what provides it, when it is not installed.
pub fn tool(name: &str) -> PathBuf {
    let found = std::env::split_paths(&path_with_tools())
        .map(|dir| dir.join(name))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        let source = DEBIAN_TOOLS
            .iter()
            .find(|(tool, _)| *tool == name)
            .map_or_else(
                || "PyPI, .ci/requirements.txt".to_owned(),
                |(_, package)| format!("Debian package {package}"),
            );
        panic!(
            "`{name}` is not installed ({source}). `cargo xtask test` installs every tool the \
             tests use and then runs them (docs/testing.md)."
        )
    })
}

/// A `python3` that can import every module of `modules` (the test tools' virtual
/// environment first); fails the test at once, naming the missing module, otherwise.
pub fn python(modules: &[&str]) -> PathBuf {
    let python = tool("python3");
    if modules.is_empty() {
        return python;
    }
    let imports = format!("import {}", modules.join(", "));
    let out = Command::new(&python)
        .args(["-c", &imports])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", python.display()));
    if !out.status.success() {
        panic!(
            "{} cannot `{imports}` (PyPI packages of .ci/requirements.txt): {}`cargo xtask \
             test` installs them into TARGET/test-tools/venv and then runs the tests \
             (docs/testing.md).",
            python.display(),
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .map(|l| format!("{l}. "))
                .unwrap_or_default()
        );
    }
    python
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_fixture_names_itself_and_the_folder() {
        let err = std::panic::catch_unwind(|| fixture("no-such-folder/no-such-file.evtx"))
            .expect_err("a missing fixture fails");
        let message = err.downcast_ref::<String>().expect("a formatted message");
        assert!(
            message.contains("no-such-folder/no-such-file.evtx"),
            "{message}"
        );
        assert!(message.contains(FIXTURES_VAR), "{message}");
    }

    #[test]
    fn a_missing_tool_names_what_provides_it() {
        let err = std::panic::catch_unwind(|| tool("no-such-tool-for-lockstep"))
            .expect_err("a missing tool fails");
        let message = err.downcast_ref::<String>().expect("a formatted message");
        assert!(message.contains("cargo xtask test"), "{message}");
    }
}
