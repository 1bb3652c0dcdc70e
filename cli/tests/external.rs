//! `lockstep serve` checked from outside, as its users reach it: Schemathesis against the
//! served OpenAPI document (`.ci/schemathesis`) and the dashboard in headless Chromium
//! (`.ci/browser`). They need schemathesis (PyPI), Node.js with npm and Debian's chromium,
//! which `.ci/run` installs.

use std::path::Path;
use std::process::Command;

fn run_check(script: &str, needs: &str) {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new("bash")
        .arg(repo.join(".ci").join(script))
        .arg(assert_cmd::cargo::cargo_bin("lockstep"))
        .output()
        .unwrap_or_else(|e| panic!("running .ci/{script}: {e}"));
    assert!(
        out.status.success(),
        ".ci/{script} failed (it needs {needs}, installed by .ci/run):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn the_api_answers_as_its_openapi_document_says() {
    run_check("schemathesis", "schemathesis and curl");
}

#[cfg(unix)]
#[test]
fn the_dashboard_works_in_a_real_browser() {
    run_check("browser", "chromium, node and npm");
}
