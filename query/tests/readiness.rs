//! Readiness verdicts on hand-made tables: residual blocks make a collection `not_ready`,
//! thin evidence `insufficient_data` (days, silent inventory hosts, no events), and only
//! enough clean evidence `ready`.

use policy::read::parse;
use policy::{Evaluator, Policy};
use query::readiness::{ReadinessOptions, Status, readiness};
use query::{Collection, Inventory};

use crate::fixtures::*;

const DAY: i64 = 86_400_000_000;

fn exe(computer: &'static str, day: i64, path: &'static str) -> Row {
    Row {
        time_us: 1_790_000_000_000_000 + day * DAY,
        computer,
        event_id: 8003,
        outcome: "audit",
        collection: Some("EXE"),
        user: Some("S-1-5-21-1-2-3-1001"),
        file_path: Some(path),
        file_hash: Some("AB"),
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
        r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">{}<FileHashRule Id="00000000-0000-4000-8000-000000000099" Name="pkg" Description="" UserOrGroupSid="S-1-1-0" Action="Deny"><Conditions><FileHashCondition><FileHash Type="SHA256" Data="0xCD" /></FileHashCondition></Conditions></FileHashRule></RuleCollection></AppLockerPolicy>"#,
        rule(1)
    );
    parse(xml.as_bytes()).unwrap().policy
}

fn judge(rows: &[Row], inventory: &str, min_days: u32) -> Vec<query::readiness::GroupReadiness> {
    let ctx = context_with(rows);
    let inventory = Inventory::parse(inventory).unwrap();
    let policy = allow_all();
    let candidate = |_: &str| Evaluator::new(&policy, None);
    runtime()
        .block_on(readiness(
            &ctx,
            &inventory,
            &candidate,
            &ReadinessOptions {
                min_days,
                ..ReadinessOptions::default()
            },
        ))
        .unwrap()
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
    assert!(reasons.iter().any(|r| r.contains("1 of 3")), "{reasons:?}");

    // One execution the candidate denies: not ready, with the residual.
    let mut blocked = rows.clone();
    blocked.push(Row {
        file_hash: Some("CD"),
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
}
