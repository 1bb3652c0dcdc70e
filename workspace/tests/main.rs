//! The workspace as the server and the CLI use it: decisions kept with their history,
//! several writers at once, kill -9 in the middle of a burst, files that are not workspaces.

use std::path::Path;
use std::time::Duration;

use workspace::{Error, NewDecision, NewVersion, Scope, Verdict, Workspace};

fn decision(scope: Scope, app_id: &str, verdict: Verdict, note: &str) -> NewDecision {
    NewDecision {
        scope,
        app_id: app_id.to_owned(),
        verdict,
        label: format!("label of {app_id}"),
        collection: Some("EXE".into()),
        rule_xml: (verdict == Verdict::Allow).then(|| "<FileHashRule />".to_owned()),
        granularity: None,
        flagged: Vec::new(),
        note: Some(note.to_owned()),
        decided_by: "tester".into(),
        expected_version: None,
    }
}

fn finance() -> Scope {
    Scope::Group("finance".into())
}

#[test]
fn the_latest_entry_is_current_and_every_entry_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    let first = ws
        .decide(decision(finance(), "a1", Verdict::Defer, "looking"))
        .unwrap();
    let second = ws
        .decide(decision(
            finance(),
            "a1",
            Verdict::Allow,
            "the vendor's tool",
        ))
        .unwrap();
    assert!(second.version > first.version);
    ws.decide(decision(
        Scope::Fleet,
        "a1",
        Verdict::Block,
        "fleet says no",
    ))
    .unwrap();
    ws.decide(decision(Scope::Fleet, "b2", Verdict::Block, "games"))
        .unwrap();
    let current = ws.current_decisions(Some(&finance())).unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].verdict, Verdict::Allow);
    assert_eq!(ws.history(Some(&finance())).unwrap().len(), 2);
    assert_eq!(ws.history(None).unwrap().len(), 4);
    // A group inherits the fleet's decisions on what it has not decided itself.
    let seen = ws.decisions_for_group("finance").unwrap();
    assert_eq!(seen["a1"].verdict, Verdict::Allow);
    assert_eq!(seen["b2"].verdict, Verdict::Block);
    assert_eq!(seen["b2"].scope, Scope::Fleet);
    let hr = ws.decisions_for_group("hr").unwrap();
    assert_eq!(hr["a1"].verdict, Verdict::Block);
    // Reopened: all of it is still there.
    drop(ws);
    let ws = Workspace::open(dir.path()).unwrap();
    assert_eq!(ws.history(None).unwrap().len(), 4);
}

#[test]
fn a_decision_based_on_a_stale_version_is_refused_and_not_written() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    let seen = ws
        .decide(decision(finance(), "a1", Verdict::Defer, ""))
        .unwrap();
    ws.decide(decision(finance(), "a1", Verdict::Block, "someone else"))
        .unwrap();
    let mut late = decision(finance(), "a1", Verdict::Allow, "mine");
    late.expected_version = Some(seen.version);
    match ws.decide(late) {
        Err(Error::Conflict {
            expected, current, ..
        }) => assert!(current > expected),
        other => panic!("{other:?}"),
    }
    assert_eq!(ws.history(None).unwrap().len(), 2);
    // Never decided: version 0 is what a first decision expects.
    let mut first = decision(finance(), "new", Verdict::Defer, "");
    first.expected_version = Some(0);
    ws.decide(first).unwrap();
}

#[test]
fn an_allow_without_a_rule_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    let mut d = decision(finance(), "a1", Verdict::Allow, "");
    d.rule_xml = None;
    assert!(matches!(ws.decide(d), Err(Error::Invalid(_))));
}

#[test]
fn files_that_are_not_workspaces_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let not_sqlite = dir.path().join("text.sqlite");
    std::fs::write(
        &not_sqlite,
        "this is not a database, but someone's notes\n".repeat(100),
    )
    .unwrap();
    let before = std::fs::read(&not_sqlite).unwrap();
    let err = Workspace::open_file(&not_sqlite).unwrap_err();
    assert!(matches!(err, Error::Unreadable { .. }), "{err}");
    assert!(err.to_string().contains("untouched"), "{err}");
    assert_eq!(std::fs::read(&not_sqlite).unwrap(), before);

    let other = dir.path().join("other.sqlite");
    run_sqlite(&other, "CREATE TABLE contacts (name TEXT);");
    let err = Workspace::open_file(&other).unwrap_err();
    assert!(err.to_string().contains("other tables"), "{err}");

    let newer = dir.path().join("newer");
    std::fs::create_dir(&newer).unwrap();
    let ws = Workspace::open(&newer).unwrap();
    ws.decide(decision(finance(), "a1", Verdict::Defer, ""))
        .unwrap();
    drop(ws);
    bump_schema(&newer.join(workspace::FILE));
    let err = Workspace::open(&newer).unwrap_err();
    assert!(
        matches!(err, Error::Newer { found, .. } if found == workspace::SCHEMA_VERSION + 1),
        "{err}"
    );
}

fn bump_schema(path: &Path) {
    run_sqlite(
        path,
        &format!(
            "INSERT INTO migrations (version, applied_at) VALUES ({}, 'later')",
            workspace::SCHEMA_VERSION + 1
        ),
    );
}

/// Runs SQL on a database file with the same SQLite the workspace uses.
fn run_sqlite(path: &Path, sql: &str) {
    rusqlite::Connection::open(path)
        .unwrap()
        .execute_batch(sql)
        .unwrap();
}

#[test]
fn two_writers_at_once_keep_every_decision() {
    let dir = tempfile::tempdir().unwrap();
    Workspace::open(dir.path()).unwrap();
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let data = dir.path().to_owned();
            std::thread::spawn(move || {
                // Each writer its own connection, as the server and a CLI run would have.
                let ws = Workspace::open(&data).unwrap();
                for i in 0..200 {
                    ws.decide(decision(
                        finance(),
                        &format!("app-{w}-{i}"),
                        Verdict::Defer,
                        "",
                    ))
                    .unwrap();
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let ws = Workspace::open(dir.path()).unwrap();
    assert_eq!(ws.current_decisions(None).unwrap().len(), 400);
}

#[test]
fn two_writers_deciding_the_same_app_are_both_kept_and_the_later_is_current() {
    let dir = tempfile::tempdir().unwrap();
    Workspace::open(dir.path()).unwrap();
    let writers: Vec<_> = [Verdict::Allow, Verdict::Block]
        .into_iter()
        .map(|verdict| {
            let data = dir.path().to_owned();
            std::thread::spawn(move || {
                let ws = Workspace::open(&data).unwrap();
                (0..50)
                    .map(|i| {
                        ws.decide(decision(finance(), "same", verdict, &i.to_string()))
                            .unwrap()
                            .version
                    })
                    .max()
                    .unwrap()
            })
        })
        .collect();
    let last: Vec<i64> = writers.into_iter().map(|w| w.join().unwrap()).collect();
    let ws = Workspace::open(dir.path()).unwrap();
    assert_eq!(ws.history(None).unwrap().len(), 100);
    let current = ws.decision(&finance(), "same").unwrap().unwrap();
    assert_eq!(
        current.version,
        *last.iter().max().unwrap(),
        "the later entry is current"
    );
}

/// Not a test on its own: the writer `kill_9_during_a_burst_leaves_a_prefix` runs and kills.
#[test]
fn burst_writer() {
    let Ok(data) = std::env::var("LOCKSTEP_BURST_DATA") else {
        return;
    };
    let ws = Workspace::open(Path::new(&data)).unwrap();
    for i in 0.. {
        ws.decide(decision(
            finance(),
            &format!("app-{i}"),
            Verdict::Defer,
            &i.to_string(),
        ))
        .unwrap();
    }
}

#[cfg(unix)]
#[test]
fn kill_9_during_a_burst_leaves_a_prefix_of_it() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "burst_writer",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env("LOCKSTEP_BURST_DATA", dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(150 + 60 * round));
        // SIGKILL: no destructor, no flush, no chance to finish a transaction.
        child.kill().unwrap();
        child.wait().unwrap();
        let ws = Workspace::open(dir.path()).unwrap();
        let notes: Vec<u64> = ws
            .history(None)
            .unwrap()
            .iter()
            .map(|d| d.note.as_deref().unwrap().parse().unwrap())
            .collect();
        assert!(
            !notes.is_empty(),
            "round {round}: the writer wrote nothing in time"
        );
        let expected: Vec<u64> = (0..notes.len() as u64).collect();
        assert_eq!(notes, expected, "round {round}: not a prefix of the burst");
    }
}

#[test]
fn policies_are_kept_per_group_with_the_fleet_as_default() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    assert!(ws.policy_for_group("finance").unwrap().is_none());
    ws.import_policy(&Scope::Fleet, "<fleet/>", "fleet.xml", "tester")
        .unwrap();
    assert_eq!(
        ws.policy_for_group("finance").unwrap().unwrap().xml,
        "<fleet/>"
    );
    ws.import_policy(&finance(), "<finance-1/>", "gpo backup", "tester")
        .unwrap();
    ws.import_policy(&finance(), "<finance-2/>", "gpo backup", "tester")
        .unwrap();
    assert_eq!(
        ws.policy_for_group("finance").unwrap().unwrap().xml,
        "<finance-2/>"
    );
    assert_eq!(ws.policy_for_group("hr").unwrap().unwrap().xml, "<fleet/>");
    assert_eq!(ws.groups_with_policies().unwrap(), ["finance"]);
}

#[test]
fn an_online_backup_is_a_workspace_with_everything() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    ws.decide(decision(finance(), "a1", Verdict::Block, ""))
        .unwrap();
    ws.import_policy(&Scope::Fleet, "<p/>", "p.xml", "tester")
        .unwrap();
    let copy = dir.path().join("backup.sqlite");
    ws.backup(&copy).unwrap();
    assert!(
        ws.backup(&copy).is_err(),
        "an existing file is not overwritten"
    );
    let restored = Workspace::open_file(&copy).unwrap();
    assert_eq!(restored.history(None).unwrap().len(), 1);
    assert!(restored.policy(&Scope::Fleet).unwrap().is_some());
}

fn version<'a>(xml: &'a str, hash: &'a str, note: Option<&'a str>) -> NewVersion<'a> {
    NewVersion {
        group: "finance",
        xml,
        content_hash: hash,
        note,
        published_by: "alice",
    }
}

#[test]
fn published_versions_are_numbered_per_group_and_immutable() {
    let dir = tempfile::tempdir().unwrap();
    let ws = Workspace::open(dir.path()).unwrap();
    ws.decide(decision(finance(), "app1", Verdict::Block, ""))
        .unwrap();
    let first = ws.publish(&version("<A/>", "h1", Some("first"))).unwrap();
    assert!(first.new);
    assert_eq!(
        (first.version.version, first.version.decisions_through),
        (1, 1)
    );
    // The same content again: no second version, the first is returned.
    let again = ws.publish(&version("<A />", "h1", Some("again"))).unwrap();
    assert!(!again.new);
    assert_eq!(again.version, first.version);
    ws.decide(decision(finance(), "app2", Verdict::Defer, ""))
        .unwrap();
    let second = ws.publish(&version("<B/>", "h2", None)).unwrap();
    assert_eq!(
        (second.version.version, second.version.decisions_through),
        (2, 2)
    );
    // Back to the first content is a new version (3), not version 1 again.
    let third = ws.publish(&version("<A/>", "h1", None)).unwrap();
    assert_eq!(third.version.version, 3);
    // Other groups count from 1.
    let hr = ws
        .publish(&NewVersion {
            group: "hr",
            ..version("<C/>", "h3", None)
        })
        .unwrap();
    assert_eq!(hr.version.version, 1);

    let listed: Vec<i64> = ws
        .versions("finance")
        .unwrap()
        .iter()
        .map(|v| v.version)
        .collect();
    assert_eq!(listed, [1, 2, 3]);
    assert_eq!(ws.version("finance", 2).unwrap().unwrap().xml, "<B/>");
    assert_eq!(ws.version("finance", 4).unwrap(), None);
    drop(ws);

    // Not even SQL changes a published version.
    let path = dir.path().join(workspace::FILE);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let update = conn.execute("UPDATE policy_versions SET xml = 'x' WHERE version = 1", []);
    assert!(
        update
            .unwrap_err()
            .to_string()
            .contains("cannot be changed")
    );
    let delete = conn.execute("DELETE FROM policy_versions", []);
    assert!(
        delete
            .unwrap_err()
            .to_string()
            .contains("cannot be deleted")
    );
}
