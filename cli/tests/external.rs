//! `lockstep serve` checked from outside, as its users reach it: Schemathesis against the
//! served OpenAPI document (`.ci/schemathesis`) and the dashboard in headless Chromium
//! (`.ci/browser`). Their tools (schemathesis from PyPI, curl, Node.js with npm and the
//! dashboard's packages, Debian's chromium) are installed by `cargo xtask test`.

use std::process::Command;

fn run_check(script: &str, tools: &[&str]) {
    for tool in tools {
        testkit::tool(tool);
    }
    let out = Command::new("bash")
        .arg(testkit::repo().join(".ci").join(script))
        .arg(assert_cmd::cargo::cargo_bin("lockstep"))
        .env("PATH", testkit::path_with_tools())
        .output()
        .unwrap_or_else(|e| panic!("running .ci/{script}: {e}"));
    assert!(
        out.status.success(),
        ".ci/{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[cfg(unix)]
#[test]
fn the_api_answers_as_its_openapi_document_says() {
    run_check("schemathesis", &["schemathesis", "curl"]);
}

#[cfg(unix)]
#[test]
fn the_dashboard_works_in_a_real_browser() {
    let modules = testkit::repo().join("dashboards/node_modules/playwright-core");
    assert!(
        modules.is_dir(),
        "{} is missing: `cargo xtask test` runs `npm ci` in dashboards/ before the tests",
        modules.display()
    );
    run_check("browser", &["chromium", "node", "python3"]);
}
