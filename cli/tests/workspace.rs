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
