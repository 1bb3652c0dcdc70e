//! `lockstep suggest`, `simulate` and `readiness` end to end on the bundled fleet.

use std::path::{Path, PathBuf};

use crate::support::{on_sample_store, sample_store};

fn xsd() -> PathBuf {
    testkit::fixture("spec/AppLocker.xsd")
}

fn run(args: &[&str], data: &Path) -> std::process::Output {
    on_sample_store(args, data).output().unwrap()
}

#[test]
fn suggest_writes_valid_policies_that_simulate_and_readiness_accept() {
    let data = sample_store();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        &["suggest", "--out", out_dir.path().to_str().unwrap()],
        data.path(),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let finance = out_dir.path().join("finance.xml");
    let valid = std::process::Command::new(testkit::tool("xmllint"))
        .args(["--noout", "--schema"])
        .arg(xsd())
        .arg(&finance)
        .output()
        .expect("xmllint runs");
    assert!(
        valid.status.success(),
        "{}",
        String::from_utf8_lossy(&valid.stderr)
    );
    let evidence: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out_dir.path().join("finance.json")).unwrap())
            .unwrap();
    let first = &evidence["suggestions"][0];
    for key in [
        "collection",
        "rule",
        "apps",
        "events",
        "hosts",
        "users",
        "why",
        "review",
    ] {
        assert!(first.get(key).is_some(), "{key} missing: {first}");
    }

    // One group to stdout as XML; several groups need --group or --out.
    let one = run(&["suggest", "--group", "finance", "--enforce"], data.path());
    assert!(one.status.success());
    let xml = String::from_utf8(one.stdout).unwrap();
    assert!(xml.contains("EnforcementMode=\"Enabled\""), "{xml}");
    assert!(
        xml.contains("a9e18c21-ff8f-43cf-b9fc-db40eed693ba"),
        "Exe enforced brings the Appx default rule"
    );
    let many = run(&["suggest"], data.path());
    assert!(!many.status.success());
    assert!(String::from_utf8_lossy(&many.stderr).contains("--out DIR"));

    let sim = run(
        &[
            "simulate",
            "--format",
            "json",
            "--group",
            "finance",
            "--policy",
            finance.to_str().unwrap(),
        ],
        data.path(),
    );
    assert!(
        sim.status.success(),
        "{}",
        String::from_utf8_lossy(&sim.stderr)
    );
    let sim: serde_json::Value = serde_json::from_slice(&sim.stdout).unwrap();
    assert_eq!(sim["groups"][0]["group"], "finance");
    assert!(sim["identities_evaluated"].as_u64().unwrap() > 100);

    let table = run(
        &["simulate", "--policy", finance.to_str().unwrap()],
        data.path(),
    );
    assert!(String::from_utf8_lossy(&table.stdout).contains("finance: still blocked"));

    let ready = run(
        &["readiness", "--format", "json", "--min-days", "3"],
        data.path(),
    );
    assert!(
        ready.status.success(),
        "{}",
        String::from_utf8_lossy(&ready.stderr)
    );
    let ready: serde_json::Value = serde_json::from_slice(&ready.stdout).unwrap();
    let groups = ready.as_array().unwrap();
    assert!(groups.iter().any(|g| g["group"] == "finance"));
    for g in groups {
        assert_eq!(g["collections"].as_array().unwrap().len(), 5);
        for c in g["collections"].as_array().unwrap() {
            let status = c["status"].as_str().unwrap();
            assert!(
                ["ready", "not_ready", "insufficient_data"].contains(&status),
                "{c}"
            );
            if status == "not_ready" {
                assert!(c["residual_events"].as_u64().unwrap() > 0, "{c}");
            }
            if status != "ready" {
                assert!(!c["reasons"].as_array().unwrap().is_empty(), "{c}");
            }
        }
    }
}

#[test]
fn bad_policy_files_are_clear_errors() {
    let data = sample_store();
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.xml");
    std::fs::write(&bad, "<AppLockerPolicy Version=\"1\">\n<RuleCollection Type=\"Exe\">\n<FilePathRule Id=\"x\" Name=\"n\" UserOrGroupSid=\"S-1-1-0\" Action=\"Allow\"></FilePathRule>\n</RuleCollection></AppLockerPolicy>").unwrap();
    let out = run(
        &["simulate", "--policy", bad.to_str().unwrap()],
        data.path(),
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.xml") && stderr.contains("line 3"),
        "{stderr}"
    );
    let missing = run(&["simulate", "--policy", "no-such.xml"], data.path());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no-such.xml"));
}
