//! `lockstep report` end to end on the bundled fleet: the quick start's command, the JSON
//! shape the README documents, CSV, and an empty store.

use crate::support::{ingest_sample_logs, lockstep, sample_logs, sample_store};

#[test]
fn report_on_sample_logs_ingests_first_and_uses_the_folder_inventory() {
    let data = tempfile::tempdir().unwrap();
    let out = lockstep()
        .args(["report", "--data"])
        .arg(data.path())
        .arg(sample_logs())
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    for group in [
        "engineering:",
        "finance:",
        "hr:",
        "it-ops:",
        "sales:",
        "unassigned:",
    ] {
        assert!(stdout.contains(group), "{group} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("BLOOMBERG FINANCE L.P. / BLOOMBERG / WINTRV.EXE"),
        "{stdout}"
    );
    assert!(
        stdout.contains(" APP ID "),
        "the table shows the id `decide` takes: {stdout}"
    );
    assert!(
        !stdout.contains("__PSSCRIPTPOLICYTEST"),
        "noise is left out by default"
    );
}

#[test]
fn json_has_the_documented_shape() {
    let data = sample_store();
    let out = lockstep()
        .args([
            "report",
            "--format",
            "json",
            "--since",
            "2026-10-05",
            "--until",
            "2026-10-18",
            "--group",
            "finance",
            "--data",
        ])
        .arg(data.path())
        .arg("--inventory")
        .arg(sample_logs().join("inventory.csv"))
        .assert()
        .success();
    let report: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(report["window"]["since"], "2026-10-05T00:00:00Z");
    assert_eq!(report["window"]["until"], "2026-10-19T00:00:00Z");
    let groups = report["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g["group"], "finance");
    for key in [
        "hosts_in_inventory",
        "hosts_reporting",
        "audit_events",
        "noise_events",
        "apps",
    ] {
        assert!(g.get(key).is_some(), "{key}");
    }
    let app = &g["apps"][0];
    for key in [
        "collection",
        "publisher",
        "product",
        "binary",
        "file_hash",
        "version_min",
        "version_max",
        "paths",
        "events",
        "hosts",
        "users",
        "first_seen",
        "last_seen",
    ] {
        assert!(app.get(key).is_some(), "{key} in {app}");
    }
    assert!(
        app["first_seen"].as_str().unwrap().ends_with('Z'),
        "ISO-8601 UTC"
    );
}

#[test]
fn csv_is_one_row_per_group_and_app_and_an_empty_store_says_so() {
    let data = tempfile::tempdir().unwrap();
    let out = lockstep()
        .args(["report", "--format", "csv", "--data"])
        .arg(data.path())
        .assert()
        .success();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(stderr.contains("empty"), "{stderr}");
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout)
            .lines()
            .count(),
        1,
        "header only"
    );

    ingest_sample_logs(data.path());
    let out = lockstep()
        .args(["report", "--format", "csv", "--outcome", "all", "--data"])
        .arg(data.path())
        .arg("--inventory")
        .arg(sample_logs().join("inventory.csv"))
        .assert()
        .success();
    let csv = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
    assert!(csv.starts_with("group,app_id,label,outcome,collection,publisher"));
    assert!(
        csv.lines().any(|l| l.contains(",blocked,")),
        "it-ops blocks already"
    );
    assert!(csv.lines().count() > 20);

    let out = lockstep()
        .args(["report", "--since", "next week", "--data"])
        .arg(data.path())
        .assert()
        .failure();
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("--since"));
}

#[test]
fn report_uses_the_data_folders_inventory_when_none_is_given() {
    let data = sample_store();
    // Ingesting the folder kept its inventory; start without one.
    std::fs::remove_file(data.path().join("inventory.csv")).unwrap();
    let plain = lockstep()
        .args(["report", "--data"])
        .arg(data.path())
        .assert()
        .success();
    let plain = String::from_utf8_lossy(&plain.get_output().stdout).into_owned();
    assert!(!plain.contains("finance:"), "{plain}");
    // What `lockstep serve` keeps (and PUT /api/v1/inventory replaces).
    std::fs::copy(
        sample_logs().join("inventory.csv"),
        data.path().join("inventory.csv"),
    )
    .unwrap();
    for command in ["report", "readiness"] {
        let out = lockstep()
            .args([command, "--data"])
            .arg(data.path())
            .assert()
            .success();
        let stdout = String::from_utf8_lossy(&out.get_output().stdout).into_owned();
        assert!(stdout.contains("finance:"), "{command}: {stdout}");
    }
}
