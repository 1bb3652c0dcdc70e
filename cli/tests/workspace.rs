//! `lockstep policy`, `decide`, `decisions` and `workspace` as an admin uses them.

use std::path::Path;

use crate::support::{lockstep, sample_logs, sample_store};

fn run(args: &[&str], data: &Path) -> std::process::Output {
    lockstep()
        .args(args)
        .arg("--data")
        .arg(data)
        .output()
        .unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_gpo_backup_imports_the_same_policy_as_its_xml() {
    let data = sample_store();
    let xml = sample_logs().join("current-policy.xml");
    stdout(&run(
        &[
            "policy",
            "import",
            "--group",
            "finance",
            xml.to_str().unwrap(),
        ],
        data.path(),
    ));
    let from_xml = stdout(&run(&["policy", "show", "--group", "finance"], data.path()));

    // The same rules as Backup-GPO lays them out: {ID}/DomainSysvol/GPO/Machine/registry.pol.
    let backup = tempfile::tempdir().unwrap();
    let machine = backup
        .path()
        .join("{0F4B3A8E-8C1D-4B2A-9E55-2F7C1D3A9B10}/DomainSysvol/GPO/Machine");
    std::fs::create_dir_all(&machine).unwrap();
    let policy = policy::read::read_file(&xml).unwrap().policy;
    std::fs::write(
        machine.join("registry.pol"),
        policy::gpo::to_registry_pol(&policy),
    )
    .unwrap();
    let out = stdout(&run(
        &[
            "policy",
            "import",
            "--group",
            "hr",
            backup.path().to_str().unwrap(),
        ],
        data.path(),
    ));
    assert!(out.contains("Exe 2 rule(s)"), "{out}");
    let from_backup = stdout(&run(&["policy", "show", "--group", "hr"], data.path()));
    let rules = |xml: &str| {
        let mut p = policy::read::parse(xml.as_bytes()).unwrap().policy;
        p.collections.sort_by_key(|c| c.kind);
        for c in &mut p.collections {
            c.rules.sort_by_key(|r| r.id.clone());
        }
        policy::write::to_xml(&p)
    };
    assert_eq!(rules(&from_backup), rules(&from_xml));
    // A group without a policy of its own shows the fleet's, or says there is none.
    let none = run(&["policy", "show", "--group", "sales"], data.path());
    assert!(!none.status.success());
    assert!(String::from_utf8_lossy(&none.stderr).contains("no policy imported"));
}

#[test]
fn what_is_not_a_policy_is_refused_naming_it_and_nothing_is_stored() {
    let data = sample_store();
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.xml");
    std::fs::write(
        &broken,
        "<AppLockerPolicy Version=\"1\">\n<RuleCollection Type=\"Exe\"\n",
    )
    .unwrap();
    let report = dir.path().join("gpreport.xml");
    std::fs::write(
        &report,
        r#"<GPO xmlns="http://www.microsoft.com/GroupPolicy/Settings"><Name>x</Name></GPO>"#,
    )
    .unwrap();
    for (file, says) in [(&broken, "line"), (&report, "GPMC report")] {
        let out = run(
            &["policy", "import", "--fleet", file.to_str().unwrap()],
            data.path(),
        );
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(says) && err.contains(file.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
    let out = run(&["policy", "show", "--fleet"], data.path());
    assert!(!out.status.success(), "nothing was stored");
    let out = run(
        &[
            "policy",
            "import",
            "--group",
            "no-such-group",
            broken.to_str().unwrap(),
        ],
        data.path(),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no group"));
}

#[test]
fn decisions_are_listed_with_who_when_and_history() {
    let data = sample_store();
    let xml = sample_logs().join("current-policy.xml");
    stdout(&run(
        &["policy", "import", "--fleet", xml.to_str().unwrap()],
        data.path(),
    ));
    let decided = stdout(&run(
        &[
            "decide",
            "finance",
            "203547b4aeb4ce0a",
            "defer",
            "--note",
            "asking the desk",
        ],
        data.path(),
    ));
    assert!(
        decided.contains("defer for group finance (version 1"),
        "{decided}"
    );
    stdout(&run(
        &["decide", "finance", "203547b4aeb4ce0a", "allow"],
        data.path(),
    ));
    // Flagged: refused without --force, recorded as flagged with it.
    let refused = run(
        &["decide", "finance", "543da09605f65d43", "allow"],
        data.path(),
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let forced = stdout(&run(
        &["decide", "finance", "543da09605f65d43", "allow", "--force"],
        data.path(),
    ));
    assert!(forced.contains("flagged for review"), "{forced}");
    let unknown = run(
        &["decide", "finance", "0000000000000000", "block"],
        data.path(),
    );
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no app 0000000000000000"));
    let bad = run(
        &["decide", "finance", "203547b4aeb4ce0a", "perhaps"],
        data.path(),
    );
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a decision"));

    let current: serde_json::Value = serde_json::from_str(&stdout(&run(
        &["decisions", "--group", "finance", "--format", "json"],
        data.path(),
    )))
    .unwrap();
    let current = current.as_array().unwrap();
    assert_eq!(current.len(), 2, "{current:?}");
    assert!(
        current
            .iter()
            .all(|d| d["decided_by"].as_str().is_some_and(|w| !w.is_empty()))
    );
    let history = stdout(&run(
        &["decisions", "--history", "--format", "csv"],
        data.path(),
    ));
    assert_eq!(history.lines().count(), 1 + 3, "{history}");
    assert!(history.contains("asking the desk"));
    // The candidate has the allow rules, the way Set-AppLockerPolicy takes it.
    let candidate = stdout(&run(
        &[
            "policy",
            "candidate",
            "--group",
            "finance",
            "--enforce",
            "EXE",
        ],
        data.path(),
    ));
    assert!(candidate.contains("FINRECON.EXE") && candidate.contains("BLOOMBERG"));
    let parsed = policy::read::parse(candidate.as_bytes()).unwrap().policy;
    assert!(
        parsed
            .collection(policy::CollectionKind::Exe)
            .unwrap()
            .is_enforced()
    );
    // A backup is a workspace with all of it.
    let copy = data.path().join("copy.sqlite");
    stdout(
        &lockstep()
            .args(["workspace", "backup"])
            .arg(&copy)
            .arg("--data")
            .arg(data.path())
            .output()
            .unwrap(),
    );
    assert_eq!(
        workspace::Workspace::open_file(&copy)
            .unwrap()
            .history(None)
            .unwrap()
            .len(),
        3
    );
}

#[test]
fn a_damaged_workspace_stops_the_commands_and_is_left_untouched() {
    let data = sample_store();
    let file = data.path().join(workspace::FILE);
    std::fs::write(&file, "not a database at all, just text".repeat(64)).unwrap();
    let before = std::fs::read(&file).unwrap();
    for args in [
        &["readiness"][..],
        &["decide", "finance", "203547b4aeb4ce0a", "defer"],
        &["serve", "--listen", "127.0.0.1:0"],
    ] {
        let out = run(args, data.path());
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("untouched"), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read(&file).unwrap(), before);
}

fn stderr_of_failure(out: &std::process::Output) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Blocked events per app id of a `simulate --format json` answer (still and newly).
fn blocked_events(simulation: &serde_json::Value) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for g in simulation["groups"].as_array().unwrap() {
        for list in ["still_blocked", "newly_blocked"] {
            for app in g[list].as_array().unwrap() {
                *out.entry(app["app_id"].as_str().unwrap().to_owned())
                    .or_default() += app["events"].as_u64().unwrap();
            }
        }
    }
    out
}

/// The flip's paper trail: publish freezes the candidate as numbered versions (the same
/// content twice is one version), export writes one with the collections to enforce, and
/// diff names the rule that changed and the apps whose verdict changes, which must be
/// simulate(after) − simulate(before).
#[test]
fn published_versions_export_and_diff() {
    let data = sample_store();
    let d = data.path();
    let current = sample_logs().join("current-policy.xml");
    stdout(&run(
        &[
            "policy",
            "import",
            "--group",
            "finance",
            current.to_str().unwrap(),
        ],
        d,
    ));
    let first = stdout(&run(
        &[
            "policy", "publish", "--group", "finance", "--note", "baseline",
        ],
        d,
    ));
    assert!(first.starts_with("published finance version 1 "), "{first}");
    let again = stdout(&run(&["policy", "publish", "--group", "finance"], d));
    assert!(
        again.contains("does what version 1 does") && again.contains("nothing new"),
        "{again}"
    );
    const BLOOMBERG: &str = "203547b4aeb4ce0a";
    stdout(&run(
        &["decide", "finance", BLOOMBERG, "allow", "--note", "desk"],
        d,
    ));
    let second = stdout(&run(&["policy", "publish", "--group", "finance"], d));
    assert!(
        second.starts_with("published finance version 2 "),
        "{second}"
    );

    let versions: serde_json::Value = serde_json::from_str(&stdout(&run(
        &[
            "policy", "versions", "--group", "finance", "--format", "json",
        ],
        d,
    )))
    .unwrap();
    let versions = versions.as_array().unwrap();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["note"], "baseline");
    assert_eq!(
        (
            versions[0]["decisions_through"].as_i64(),
            versions[1]["decisions_through"].as_i64()
        ),
        (Some(0), Some(1))
    );

    // Export: the modes asked for, and a warning for a collection without rules.
    let dir = tempfile::tempdir().unwrap();
    let (v1, v2) = (dir.path().join("v1.xml"), dir.path().join("v2.xml"));
    for (n, file) in [("1", &v1), ("2", &v2)] {
        stdout(&run(
            &[
                "policy",
                "export",
                "--group",
                "finance",
                "--version",
                n,
                "--enforce",
                "EXE",
                "--out",
                file.to_str().unwrap(),
            ],
            d,
        ));
    }
    let exported = policy::read::read_file(&v2).unwrap().policy;
    let exe = exported.collection(policy::CollectionKind::Exe).unwrap();
    assert_eq!(exe.mode, Some(policy::EnforcementMode::Enabled));
    assert_eq!(
        exported
            .collection(policy::CollectionKind::Script)
            .unwrap()
            .mode,
        Some(policy::EnforcementMode::AuditOnly)
    );
    // The Intune form: one CSP setting per collection, each value the collection itself,
    // under a Grouping that stays the same from version to version.
    let intune = |version: &str| -> serde_json::Value {
        serde_json::from_str(&stdout(&run(
            &[
                "policy",
                "export",
                "--group",
                "finance",
                "--version",
                version,
                "--enforce",
                "EXE",
                "--format",
                "intune",
            ],
            d,
        )))
        .unwrap()
    };
    let body = intune("2");
    assert_eq!(
        body["@odata.type"],
        "#microsoft.graph.windows10CustomConfiguration"
    );
    let settings = body["omaSettings"].as_array().unwrap();
    assert_eq!(settings.len(), exported.collections.len());
    let exe = settings
        .iter()
        .find(|s| s["omaUri"].as_str().unwrap().ends_with("/EXE/Policy"))
        .unwrap();
    assert_eq!(
        exe["omaUri"],
        "./Vendor/MSFT/AppLocker/ApplicationLaunchRestrictions/lockstep-finance/EXE/Policy"
    );
    assert_eq!(exe["@odata.type"], "#microsoft.graph.omaSettingString");
    let wrapped = format!(
        "<AppLockerPolicy Version=\"1\">{}</AppLockerPolicy>",
        exe["value"].as_str().unwrap()
    );
    let collection = policy::read::parse(wrapped.as_bytes()).unwrap().policy;
    assert_eq!(
        collection.collections,
        vec![
            exported
                .collection(policy::CollectionKind::Exe)
                .unwrap()
                .clone()
        ]
    );
    let uris = |b: &serde_json::Value| -> Vec<String> {
        b["omaSettings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["omaUri"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        uris(&intune("1")),
        uris(&body),
        "the same Grouping for every version"
    );

    let missing = stderr_of_failure(&run(
        &["policy", "export", "--group", "finance", "--version", "9"],
        d,
    ));
    assert!(
        missing.contains("finance has no published version 9"),
        "{missing}"
    );

    // Diff: one rule added, the app it allows, and exactly simulate(v2) − simulate(v1).
    let change: serde_json::Value = serde_json::from_str(&stdout(&run(
        &[
            "policy", "diff", "--group", "finance", "1", "2", "--format", "json",
        ],
        d,
    )))
    .unwrap();
    let rules = &change["rules"];
    assert_eq!(rules["added"].as_array().unwrap().len(), 1, "{rules}");
    assert!(
        rules["removed"].as_array().unwrap().is_empty()
            && rules["changed"].as_array().unwrap().is_empty()
    );
    assert!(
        rules["added"][0]["subject"]
            .as_str()
            .unwrap()
            .contains("BLOOMBERG")
    );
    let simulate = |file: &Path| -> serde_json::Value {
        serde_json::from_str(&stdout(&run(
            &[
                "simulate",
                "--policy",
                file.to_str().unwrap(),
                "--group",
                "finance",
                "--top",
                "10000",
                "--format",
                "json",
            ],
            d,
        )))
        .unwrap()
    };
    let (before, after) = (
        blocked_events(&simulate(&v1)),
        blocked_events(&simulate(&v2)),
    );
    let mut allowed = std::collections::BTreeMap::new();
    for (app, events) in &before {
        let now = after.get(app).copied().unwrap_or(0);
        if *events > now {
            allowed.insert(app.clone(), events - now);
        }
    }
    assert!(
        after
            .iter()
            .all(|(app, e)| before.get(app).is_some_and(|b| b >= e)),
        "nothing newly blocked"
    );
    let impact = &change["impact"];
    let listed: std::collections::BTreeMap<String, u64> = impact["newly_allowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["app_id"].as_str().unwrap().to_owned(),
                a["changed_events"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(listed, allowed);
    assert!(listed.contains_key(BLOOMBERG));
    assert_eq!(
        impact["newly_allowed_events"].as_u64().unwrap(),
        allowed.values().sum::<u64>()
    );
    assert_eq!(impact["newly_blocked_events"], 0);

    // The same for people and for a change ticket; a version against a file and itself.
    let table = stdout(&run(&["policy", "diff", "--group", "finance", "1", "2"], d));
    assert!(
        table.contains("added    Exe") && table.contains(BLOOMBERG),
        "{table}"
    );
    let markdown = stdout(&run(
        &[
            "policy", "diff", "--group", "finance", "1", "2", "--format", "markdown",
        ],
        d,
    ));
    assert!(
        markdown.starts_with("## AppLocker policy change: finance"),
        "{markdown}"
    );
    assert!(
        markdown.contains("| newly allowed | BLOOMBERG"),
        "{markdown}"
    );
    let same = stdout(&run(
        &[
            "policy",
            "diff",
            "--group",
            "finance",
            "2",
            v2.to_str().unwrap(),
        ],
        d,
    ));
    assert!(
        same.contains("mode     Exe    AuditOnly -> Enabled"),
        "{same}"
    );
    assert!(
        same.contains("impact: 0 event(s) newly blocked, 0 newly allowed"),
        "{same}"
    );

    // Bad references and groups are named; nothing to publish is said.
    let unknown = stderr_of_failure(&run(&["policy", "diff", "--group", "finance", "1", "7"], d));
    assert!(
        unknown.contains("finance has no published version 7"),
        "{unknown}"
    );
    let neither = stderr_of_failure(&run(
        &["policy", "diff", "--group", "finance", "1", "latest"],
        d,
    ));
    assert!(neither.contains("neither a version number"), "{neither}");
    let nothing = stderr_of_failure(&run(&["policy", "publish", "--group", "hr"], d));
    assert!(nothing.contains("nothing to publish"), "{nothing}");
}

/// The rollout record and the monitor on the (audit-mode) sample fleet: the flip is
/// recorded with its version, a rollback too, the record is append-only, an unknown
/// version or collection is refused, and monitor warns that the hosts still audit.
#[test]
fn the_rollout_record_and_the_monitor() {
    let data = sample_store();
    let d = data.path();
    let current = sample_logs().join("current-policy.xml");
    stdout(&run(
        &[
            "policy",
            "import",
            "--group",
            "finance",
            current.to_str().unwrap(),
        ],
        d,
    ));
    stdout(&run(&["policy", "publish", "--group", "finance"], d));

    let refused = stderr_of_failure(&run(
        &[
            "rollout",
            "enforce",
            "--group",
            "finance",
            "--collection",
            "EXE",
            "--version",
            "2",
        ],
        d,
    ));
    assert!(
        refused.contains("finance has no published version 2"),
        "{refused}"
    );
    let bad = run(
        &[
            "rollout",
            "enforce",
            "--group",
            "finance",
            "--collection",
            "EXX",
            "--version",
            "1",
        ],
        d,
    );
    assert_eq!(bad.status.code(), Some(2), "a collection not in the list");
    let said = stdout(&run(
        &[
            "rollout",
            "enforce",
            "--group",
            "finance",
            "--collection",
            "exe,script",
            "--version",
            "1",
            "--at",
            "2026-10-12",
            "--note",
            "CAB-1",
        ],
        d,
    ));
    assert_eq!(
        said,
        "recorded: finance EXE,SCRIPT enforce (version 1) from 2026-10-12T00:00:00Z\n"
    );
    let m: serde_json::Value = serde_json::from_str(&stdout(&run(
        &["monitor", "--group", "finance", "--format", "json"],
        d,
    )))
    .unwrap();
    let codes: Vec<(&str, &str)> = m["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["code"].as_str().unwrap(),
                w["collection"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        codes,
        [("still_auditing", "EXE"), ("still_auditing", "SCRIPT")],
        "{m}"
    );
    assert_eq!(m["unexpected_blocked_events"], 0);
    assert_eq!(m["collections"].as_array().unwrap().len(), 2);

    // A rollback: EXE back to audit; the record keeps both entries.
    stdout(&run(
        &[
            "rollout",
            "audit",
            "--group",
            "finance",
            "--collection",
            "EXE",
            "--at",
            "2026-10-15",
        ],
        d,
    ));
    let record: serde_json::Value = serde_json::from_str(&stdout(&run(
        &["rollout", "list", "--group", "finance", "--format", "json"],
        d,
    )))
    .unwrap();
    let entries: Vec<(&str, &str)> = record
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["collection"].as_str().unwrap(),
                r["mode"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [("EXE", "enforce"), ("SCRIPT", "enforce"), ("EXE", "audit")]
    );
    let m: serde_json::Value = serde_json::from_str(&stdout(&run(
        &["monitor", "--group", "finance", "--format", "json"],
        d,
    )))
    .unwrap();
    assert_eq!(m["warnings"].as_array().unwrap().len(), 1, "{m}");
    let unknown = stderr_of_failure(&run(&["monitor", "--group", "nosuch"], d));
    assert!(unknown.contains("no group \"nosuch\""), "{unknown}");
}
