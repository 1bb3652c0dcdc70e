//! The transition end to end: with the fleet's policy in force imported, every app the
//! candidate would block is decided (the suggestions allowed where they are not flagged,
//! blocked where they are); then no group has an undecided app left, and the candidate
//! each group would export blocks exactly the apps decided `block`, nothing else. On the
//! bundled fleet and on a generated one.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;

use policy::Evaluator;
use query::readiness::ReadinessOptions;
use query::simulate::SimulateOptions;
use query::{Candidate, DecideRequest, Error, Session};
use workspace::{Scope, Verdict, Workspace};

use crate::fixtures::*;

fn ingest(data: &Path, logs: &Path) {
    let opts = ingest::Options {
        data_dir: data.to_owned(),
        paths: vec![logs.to_owned()],
        strict: false,
        threads: 2,
    };
    ingest::ingest(&opts, &ingest::Progress::default()).unwrap();
}

/// Decides every undecided app of every group; returns the apps decided `block`, by group.
fn triage(session: &Session) -> Vec<(String, BTreeSet<String>)> {
    let rt = runtime();
    let before = rt
        .block_on(session.readiness(&Candidate::Decisions, None, &ReadinessOptions::default()))
        .unwrap();
    assert!(
        before.iter().any(|g| !g.undecided.is_empty()),
        "nothing to decide: the test would prove nothing"
    );
    let mut blocked = Vec::new();
    for g in &before {
        let mut decided_block = BTreeSet::new();
        for app in &g.undecided {
            let ask = |verdict| DecideRequest {
                scope: Scope::Group(g.group.clone()),
                app_id: app.app_id.clone(),
                verdict,
                note: Some("triaged by the test".into()),
                granularity: None,
                force: false,
                decided_by: "test".into(),
                expected_version: None,
            };
            match rt.block_on(session.decide(ask(Verdict::Allow))) {
                Ok(_) => {}
                Err(Error::Flagged { .. } | Error::NoRule { .. }) => {
                    rt.block_on(session.decide(ask(Verdict::Block))).unwrap();
                    decided_block.insert(app.app_id.clone());
                }
                Err(e) => panic!("{}: {e}", app.label),
            }
        }
        blocked.push((g.group.clone(), decided_block));
    }
    blocked
}

fn check_fleet(logs: &Path) {
    let data = tempfile::tempdir().unwrap();
    ingest(data.path(), logs);
    let inventory = query::Inventory::from_path(&logs.join("inventory.csv")).unwrap();
    let ws = Arc::new(Workspace::open(data.path()).unwrap());
    let current = std::fs::read_to_string(logs.join(generate::CURRENT_POLICY_FILE)).unwrap();
    ws.import_policy(&Scope::Fleet, &current, "the generator's", "test")
        .unwrap();
    let session = Session::new(query::Store::new(data.path()), inventory).with_workspace(ws);
    let decided_block = triage(&session);

    let rt = runtime();
    let after = rt
        .block_on(session.readiness(&Candidate::Decisions, None, &ReadinessOptions::default()))
        .unwrap();
    for g in &after {
        assert!(g.undecided.is_empty(), "{}: {:#?}", g.group, g.undecided);
        assert!(g.deferred.is_empty(), "{}", g.group);
    }
    for (group, expected) in decided_block {
        // The candidate as the group would export it, read back as any tool would.
        let candidate = rt.block_on(session.candidate(&group)).unwrap();
        let xml = policy::write::to_xml(&candidate.policy);
        let exported = policy::read::parse(xml.as_bytes()).unwrap().policy;
        let sim = rt
            .block_on(session.simulate(
                &Evaluator::new(&exported, None),
                &SimulateOptions {
                    groups: vec![group.clone()],
                    ..SimulateOptions::default()
                },
            ))
            .unwrap();
        let g = sim.groups.iter().find(|g| g.group == group).unwrap();
        let blocked: BTreeSet<String> = g
            .still_blocked
            .iter()
            .chain(&g.newly_blocked)
            .map(|b| b.app.app_id.clone())
            .collect();
        assert_eq!(
            blocked, expected,
            "{group}: the exported candidate blocks exactly the apps decided block"
        );
        let ready = after.iter().find(|r| r.group == group).unwrap();
        let on_purpose: BTreeSet<String> = ready
            .blocked_on_purpose
            .iter()
            .map(|a| a.app_id.clone())
            .collect();
        assert_eq!(
            on_purpose, expected,
            "{group}: listed as blocked on purpose"
        );
        assert!(
            ready
                .blocked_on_purpose
                .iter()
                .all(|a| !a.host_names.is_empty()),
            "{group}: who will see the blocks is known"
        );
    }
}

#[test]
fn deciding_every_app_of_the_sample_fleet_leaves_nothing_undecided() {
    check_fleet(&sample_logs());
}

#[test]
fn deciding_every_app_of_a_generated_fleet_leaves_nothing_undecided() {
    let dir = tempfile::tempdir().unwrap();
    let opts = generate::Options {
        seed: 11,
        hosts: 24,
        groups: 3,
        days: 10,
        events: 4_000,
        ..Default::default()
    };
    generate::generate(&opts, dir.path(), &std::sync::atomic::AtomicU64::new(0)).unwrap();
    check_fleet(dir.path());
}

#[test]
fn a_block_decision_the_policy_would_not_hold_gets_a_deny_rule() {
    let data = tempfile::tempdir().unwrap();
    ingest(data.path(), &sample_logs());
    let ws = Arc::new(Workspace::open(data.path()).unwrap());
    // A policy that allows everything Zoom signs: deciding Zoom `block` then needs a deny.
    let allow_zoom = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="AuditOnly"><FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="Program Files" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule><FilePublisherRule Id="11111111-2222-4333-8444-555555555555" Name="all of Zoom" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePublisherCondition PublisherName="*" ProductName="ZOOM" BinaryName="*"><BinaryVersionRange LowSection="*" HighSection="*" /></FilePublisherCondition></Conditions></FilePublisherRule></RuleCollection></AppLockerPolicy>"#;
    ws.import_policy(&Scope::Group("finance".into()), allow_zoom, "test", "test")
        .unwrap();
    let session =
        Session::new(query::Store::new(data.path()), sample_inventory()).with_workspace(ws);
    let rt = runtime();
    let zoom = "03103330f2b179a6";
    rt.block_on(session.decide(DecideRequest {
        scope: Scope::Group("finance".into()),
        app_id: zoom.into(),
        verdict: Verdict::Block,
        note: None,
        granularity: None,
        force: false,
        decided_by: "test".into(),
        expected_version: None,
    }))
    .unwrap();
    let candidate = rt.block_on(session.candidate("finance")).unwrap();
    assert_eq!(candidate.denied, [zoom]);
    assert!(
        candidate.notes.iter().any(|n| n.contains("deny rule")),
        "{:?}",
        candidate.notes
    );
    let deny = candidate
        .policy
        .rules()
        .find(|(_, r)| r.action == policy::Action::Deny)
        .expect("a deny rule")
        .1
        .clone();
    assert!(deny.name.contains("ZOOM.EXE"), "{}", deny.name);
    let ready = rt
        .block_on(session.readiness(
            &Candidate::Decisions,
            None,
            &ReadinessOptions {
                groups: vec!["finance".into()],
                ..ReadinessOptions::default()
            },
        ))
        .unwrap();
    assert!(
        ready[0].blocked_on_purpose.iter().any(|a| a.app_id == zoom),
        "{:#?}",
        ready[0].blocked_on_purpose
    );
    // An app id the group never saw, or a group nobody knows: refused, nothing written.
    for (scope, app) in [
        (Scope::Group("finance".into()), "0000000000000000"),
        (Scope::Group("no-such-group".into()), zoom),
    ] {
        let err = rt
            .block_on(session.decide(DecideRequest {
                scope,
                app_id: app.into(),
                verdict: Verdict::Defer,
                note: None,
                granularity: None,
                force: false,
                decided_by: "test".into(),
                expected_version: None,
            }))
            .unwrap_err();
        assert!(
            matches!(err, Error::UnknownApp { .. } | Error::UnknownGroup(_)),
            "{err}"
        );
    }
    assert_eq!(session.workspace().unwrap().history(None).unwrap().len(), 1);
}
