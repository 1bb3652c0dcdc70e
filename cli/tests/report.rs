//! `lockstep report` end to end on the bundled fleet: the quick start's command, the JSON
//! shape the README documents, CSV, and an empty store.

use crate::support::{ingest_sample_logs, json_of, lockstep, sample_logs, sample_store};

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

/// Every app row lists its first users (by SID, at most 50, `users` the total) with the
/// name the imported AD export gives them; the accounts the export misses stay SIDs. On a
/// generated fleet with more than 50 users of one app, through report, suggest and
/// readiness, JSON and CSV.
#[test]
fn app_rows_list_their_users_by_name() {
    let work = tempfile::tempdir().unwrap();
    let (logs, data) = (work.path().join("logs"), work.path().join("data"));
    lockstep()
        .args([
            "-q", "generate", "--hosts", "160", "--groups", "2", "--days", "5",
        ])
        .args([
            "--events",
            "12000",
            "--seed",
            "11",
            "--enforce",
            "finance:EXE:2",
            "--out",
        ])
        .arg(&logs)
        .assert()
        .success();
    let export = logs.join("identities.csv");
    let on_store = |args: &[&str]| -> serde_json::Value {
        let mut command = lockstep();
        command.args(args).arg("--data").arg(&data);
        command.args(["--format", "json"]);
        json_of(command)
    };
    lockstep()
        .args(["-q", "ingest", "--data"])
        .arg(&data)
        .arg(&logs)
        .assert()
        .success();
    std::fs::copy(logs.join("inventory.csv"), data.join("inventory.csv")).unwrap();
    let unnamed = on_store(&["report"]);
    lockstep()
        .args(["-q", "identities", "import", "--data"])
        .arg(&data)
        .arg(&export)
        .assert()
        .success();

    // The export's users, read the way the generator writes them (SamAccountName, SID).
    let text = std::fs::read_to_string(&export).unwrap();
    let named: std::collections::BTreeMap<String, String> = text
        .lines()
        .skip(1)
        .map(|line| line.split("\",\"").collect::<Vec<_>>())
        .filter(|cells| cells[1] == "user")
        .map(|cells| (cells[4].to_owned(), format!("CORP\\{}", cells[2])))
        .collect();
    let check = |what: &str, row: &serde_json::Value, seen: &mut (usize, usize, usize)| {
        let users = row["users_seen"].as_array().unwrap();
        let total = row["users"].as_u64().unwrap() as usize;
        assert_eq!(users.len(), total.min(50), "{what}: {row}");
        let sids: Vec<&str> = users.iter().map(|u| u["sid"].as_str().unwrap()).collect();
        assert!(
            sids.windows(2).all(|w| w[0] < w[1]),
            "{what}: sorted, distinct: {sids:?}"
        );
        for u in users {
            let sid = u["sid"].as_str().unwrap();
            match named.get(sid) {
                Some(name) => {
                    assert_eq!(u["name"], name.as_str(), "{what}");
                    seen.0 += 1;
                }
                None => {
                    assert!(u.get("name").is_none(), "{what}: {u}");
                    seen.1 += 1;
                }
            }
        }
        if total > 50 {
            seen.2 += 1;
        }
    };

    let report = on_store(&["report"]);
    let mut seen = (0, 0, 0);
    for (g, group) in report["groups"].as_array().unwrap().iter().enumerate() {
        for (a, app) in group["apps"].as_array().unwrap().iter().enumerate() {
            check("report", app, &mut seen);
            // Naming changes nothing else.
            let before = &unnamed["groups"][g]["apps"][a];
            let sids = |row: &serde_json::Value| {
                row["users_seen"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|u| u["sid"].clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(sids(app), sids(before));
            assert_eq!(app["events"], before["events"]);
        }
    }
    let (named_rows, unnamed_rows, capped) = seen;
    assert!(named_rows > 0 && unnamed_rows > 0, "{seen:?}");
    assert!(capped > 0, "an app with more than 50 users: {seen:?}");

    let mut seen = (0, 0, 0);
    for group in on_store(&["suggest"]).as_array().unwrap() {
        for s in group["suggestions"].as_array().unwrap() {
            check("suggest", s, &mut seen);
        }
    }
    assert!(seen.0 > 0 && seen.2 > 0, "suggest: {seen:?}");
    let mut seen = (0, 0, 0);
    for group in on_store(&["readiness"]).as_array().unwrap() {
        for app in group["undecided"].as_array().unwrap() {
            check("readiness", app, &mut seen);
        }
    }
    assert!(seen.0 > 0, "readiness: {seen:?}");

    // After the flip: the exception queue's apps name their users too.
    let policy = logs.join("current-policy.xml");
    for args in [
        &[
            "policy",
            "import",
            "--group",
            "finance",
            policy.to_str().unwrap(),
        ][..],
        &["policy", "publish", "--group", "finance"],
        &[
            "rollout",
            "enforce",
            "--group",
            "finance",
            "--collection",
            "EXE",
        ],
    ] {
        let mut command = lockstep();
        command.args(args).arg("--data").arg(&data);
        if args[0] == "rollout" {
            command.args(["--version", "1", "--at", "2026-10-07"]);
        }
        command.assert().success();
    }
    let mut seen = (0, 0, 0);
    let monitor = on_store(&["monitor", "--group", "finance"]);
    for app in monitor["exceptions"].as_array().unwrap() {
        check("monitor", app, &mut seen);
    }
    assert!(seen.0 > 0, "monitor: {seen:?} in {monitor}");

    // CSV: the listed users, `SID (DOMAIN\name)`, `|` between them.
    let csv = lockstep()
        .args(["report", "--format", "csv", "--data"])
        .arg(&data)
        .output()
        .unwrap();
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.lines().next().unwrap().ends_with(",users_seen"));
    assert!(
        named
            .iter()
            .any(|(s, n)| csv.contains(&format!("{s} ({n})"))),
        "a named user in:\n{csv}"
    );
}

/// A mistyped `--group` is an error naming the groups there are, not an empty answer.
#[test]
fn an_unknown_group_is_named_with_the_known_ones() {
    let data = sample_store();
    let policy = sample_logs().join("current-policy.xml");
    for args in [
        &["report", "--group", "financ"][..],
        &["suggest", "--group", "financ"],
        &["readiness", "--group", "financ"],
        &[
            "simulate",
            "--group",
            "financ",
            "--policy",
            policy.to_str().unwrap(),
        ],
    ] {
        let out = crate::support::on_sample_store(args, data.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("no group financ: the inventory and the store know engineering, finance, hr, it-ops, sales, unassigned"),
            "{args:?}: {stderr}"
        );
    }
}
