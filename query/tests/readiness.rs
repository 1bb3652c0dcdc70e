//! Readiness verdicts on hand-made tables: undecided or deferred blocks make a collection
//! `not_ready`, apps blocked on purpose do not; thin evidence is `insufficient_data` (days,
//! inventory hosts that never reported or went silent, no events where the policy has no
//! rules), and only enough clean evidence `ready`.

use std::collections::{BTreeMap, BTreeSet};

use policy::read::parse;
use policy::{Evaluator, Policy};
use query::readiness::{GroupPlan, ReadinessOptions, Status, readiness};
use query::{Collection, Inventory};
use workspace::{Decision, Verdict};

use crate::fixtures::*;

const DAY: i64 = 86_400_000_000;
/// SHA256 hashes as events log them (64 hex digits; a policy accepts no other).
const HASH_AB: &str = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB";
const HASH_CD: &str = "CDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCDCD";

fn exe(computer: &'static str, day: i64, path: &'static str) -> Row {
    Row {
        time_us: 1_790_000_000_000_000 + day * DAY,
        computer,
        event_id: 8003,
        outcome: "audit",
        collection: Some("EXE"),
        user: Some("S-1-5-21-1-2-3-1001"),
        file_path: Some(path),
        file_hash: Some(HASH_AB),
        ..Row::default()
    }
}

/// Allows everything in every collection except `except`.
fn allow_all() -> Policy {
    let rule = |id: u32| {
        format!(
            r#"<FilePathRule Id="00000000-0000-4000-8000-{id:012}" Name="all" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="*" /></Conditions></FilePathRule>"#
        )
    };
    let xml = format!(
        r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">{}<FileHashRule Id="00000000-0000-4000-8000-000000000099" Name="pkg" Description="" UserOrGroupSid="S-1-1-0" Action="Deny"><Conditions><FileHashCondition><FileHash Type="SHA256" Data="0x{HASH_CD}" /></FileHashCondition></Conditions></FileHashRule></RuleCollection></AppLockerPolicy>"#,
        rule(1)
    );
    parse(xml.as_bytes()).unwrap().policy
}

fn judge_with(
    rows: &[Row],
    inventory: &str,
    opts: ReadinessOptions,
    decisions: &[Decision],
    configured: &[Collection],
) -> Vec<query::readiness::GroupReadiness> {
    let ctx = context_with(rows);
    let inventory = Inventory::parse(inventory).unwrap();
    let policy = allow_all();
    let plans: BTreeMap<String, GroupPlan> = ["finance".to_owned()]
        .into_iter()
        .map(|g| {
            let plan = GroupPlan {
                evaluator: Evaluator::new(&policy, None),
                include_allowed: true,
                configured: configured.iter().copied().collect::<BTreeSet<_>>(),
                decisions: decisions
                    .iter()
                    .map(|d| (d.app_id.clone(), d.clone()))
                    .collect(),
                current_known: true,
                candidate: "the test's".into(),
            };
            (g, plan)
        })
        .collect();
    runtime()
        .block_on(readiness(&ctx, &inventory, &plans, &opts))
        .unwrap()
}

fn judge(rows: &[Row], inventory: &str, min_days: u32) -> Vec<query::readiness::GroupReadiness> {
    judge_with(
        rows,
        inventory,
        ReadinessOptions {
            min_days,
            ..ReadinessOptions::default()
        },
        &[],
        &[Collection::Exe],
    )
}

fn exe_status(groups: &[query::readiness::GroupReadiness], group: &str) -> (Status, Vec<String>) {
    let g = groups.iter().find(|g| g.group == group).unwrap();
    let c = g
        .collections
        .iter()
        .find(|c| c.collection == Collection::Exe)
        .unwrap();
    (
        c.status,
        c.reasons.iter().map(|r| r.message.clone()).collect(),
    )
}

#[test]
fn readiness_needs_clean_and_sufficient_evidence() {
    let rows: Vec<Row> = (0..5)
        .flat_map(|d| {
            [
                exe("FIN-1", d, "%OSDRIVE%\\A.EXE"),
                exe("FIN-2", d, "%OSDRIVE%\\B.EXE"),
            ]
        })
        .collect();
    let inventory = "computer,group\nFIN-1,finance\nFIN-2,finance\n";

    let groups = judge(&rows, inventory, 5);
    assert_eq!(
        exe_status(&groups, "finance").0,
        Status::Ready,
        "{groups:#?}"
    );
    let g = groups.iter().find(|g| g.group == "finance").unwrap();
    assert_eq!(
        (g.hosts_in_inventory, g.hosts_reporting, g.days_of_evidence),
        (2, 2, 5)
    );
    let msi = g
        .collections
        .iter()
        .find(|c| c.collection == Collection::Msi)
        .unwrap();
    assert_eq!(msi.status, Status::InsufficientData, "no MSI events at all");

    let (status, reasons) = exe_status(&judge(&rows, inventory, 6), "finance");
    assert_eq!(status, Status::InsufficientData);
    assert!(
        reasons.iter().any(|r| r.contains("5 day(s)")),
        "{reasons:?}"
    );

    let silent = "computer,group\nFIN-1,finance\nFIN-2,finance\nFIN-3,finance\n";
    let (status, reasons) = exe_status(&judge(&rows, silent, 5), "finance");
    assert_eq!(status, Status::InsufficientData);
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("1 of 3") && r.contains("fin-3")),
        "the host is named: {reasons:?}"
    );

    // One execution the candidate denies: not ready, with the residual.
    let mut blocked = rows.clone();
    blocked.push(Row {
        file_hash: Some(HASH_CD),
        ..exe("FIN-2", 3, "%OSDRIVE%\\USERS\\X\\EVIL.EXE")
    });
    let groups = judge(&blocked, inventory, 5);
    let g = groups.iter().find(|g| g.group == "finance").unwrap();
    let c = g
        .collections
        .iter()
        .find(|c| c.collection == Collection::Exe)
        .unwrap();
    assert_eq!(c.status, Status::NotReady);
    assert_eq!(
        (c.residual_apps, c.residual_events, c.residual_hosts),
        (1, 1, 1)
    );
    assert_eq!(g.status(), Status::NotReady);
    let evil = g.undecided[0].app_id.clone();
    assert_eq!(g.todo[0].app_id.as_deref(), Some(evil.as_str()));

    // Deferred, it still blocks readiness; blocked on purpose, it does not, and the hosts
    // and users who will see the block are listed.
    let opts = || ReadinessOptions {
        min_days: 5,
        ..ReadinessOptions::default()
    };
    let deferred = judge_with(
        &blocked,
        inventory,
        opts(),
        &[decided(&evil, Verdict::Defer)],
        &[Collection::Exe],
    );
    assert_eq!(deferred[0].status(), Status::NotReady);
    assert_eq!(deferred[0].deferred.len(), 1);
    let on_purpose = judge_with(
        &blocked,
        inventory,
        opts(),
        &[decided(&evil, Verdict::Block)],
        &[
            Collection::Exe,
            Collection::Msi,
            Collection::Dll,
            Collection::Script,
            Collection::Appx,
        ],
    );
    let g = &on_purpose[0];
    assert_eq!(g.status(), Status::Ready, "{g:#?}");
    assert_eq!(g.blocked_on_purpose.len(), 1);
    assert_eq!(g.blocked_on_purpose[0].host_names, ["fin-2"]);
    assert_eq!(g.blocked_on_purpose[0].user_sids, ["S-1-5-21-1-2-3-1001"]);
    assert!(g.todo.is_empty(), "{:?}", g.todo);
}

#[test]
fn a_host_that_stopped_reporting_is_named_and_keeps_the_group_from_ready() {
    // FIN-2 reports on days 0-2 only; the window ends on day 9.
    let mut rows: Vec<Row> = (0..10)
        .map(|d| exe("FIN-1", d, "%OSDRIVE%\\A.EXE"))
        .collect();
    rows.extend((0..3).map(|d| exe("FIN-2", d, "%OSDRIVE%\\A.EXE")));
    let inventory = "computer,group\nFIN-1,finance\nFIN-2,finance\n";
    let all = [
        Collection::Exe,
        Collection::Msi,
        Collection::Dll,
        Collection::Script,
        Collection::Appx,
    ];
    let groups = judge_with(
        &rows,
        inventory,
        ReadinessOptions {
            min_days: 5,
            silent_days: 3,
            ..ReadinessOptions::default()
        },
        &[],
        &all,
    );
    let g = &groups[0];
    assert_eq!(g.status(), Status::InsufficientData, "{g:#?}");
    assert_eq!(
        g.hosts_silent
            .iter()
            .map(|h| h.computer.as_str())
            .collect::<Vec<_>>(),
        ["fin-2"]
    );
    assert!(
        g.todo.iter().any(|t| t.message.contains("fin-2")),
        "{:?}",
        g.todo
    );
    // Given more slack, the same evidence is ready: days count for the group, not for one
    // host or one collection.
    let groups = judge_with(
        &rows,
        inventory,
        ReadinessOptions {
            min_days: 5,
            silent_days: 7,
            ..ReadinessOptions::default()
        },
        &[],
        &all,
    );
    assert_eq!(groups[0].status(), Status::Ready, "{:#?}", groups[0]);
}
