//! Edge cases on hand-made tables: identities, versions, inventory, windows.

use query::report::{OutcomeFilter, ReportOptions, blocked_apps_by_group};
use query::{Inventory, Window, parse_time_bound};

use crate::fixtures::*;

const MS: &str = "O=MICROSOFT CORPORATION, L=REDMOND, S=WASHINGTON, C=US";
const SLACK: &str = "CN=SLACK TECHNOLOGIES, LLC, O=SLACK TECHNOLOGIES, LLC";
const DAY: i64 = 86_400_000_000;
const T0: i64 = 1_791_158_400_000_000; // 2026-10-05T00:00:00Z

fn signed(
    t: i64,
    computer: &'static str,
    publisher: &'static str,
    binary: &'static str,
    version: &'static str,
) -> Row {
    Row {
        time_us: t,
        computer,
        event_id: 8003,
        outcome: "audit",
        collection: Some("EXE"),
        user: Some("S-1-5-21-1-2-3-1001"),
        file_path: Some(r"%OSDRIVE%\USERS\ANNA\APPDATA\LOCAL\X\UPDATE.EXE"),
        file_hash: Some("AA"),
        publisher: Some(publisher),
        product: Some("P"),
        binary: Some(binary),
        version: Some(version),
    }
}

fn report(rows: &[Row], inventory: &Inventory, opts: ReportOptions) -> query::report::Report {
    let ctx = context_with(rows);
    runtime()
        .block_on(blocked_apps_by_group(&ctx, inventory, &opts))
        .unwrap()
}

#[test]
fn identities_versions_and_generalised_paths() {
    let mut unsigned_b = signed(T0 + 3, "fin-ws02", MS, "X", "1.0");
    unsigned_b.publisher = None;
    unsigned_b.file_hash = Some("BB");
    unsigned_b.file_path = Some(r"%OSDRIVE%\USERS\BEN\DOWNLOADS\TOOL.EXE");
    let mut unsigned_no_hash = unsigned_b.clone();
    unsigned_no_hash.file_hash = None;
    unsigned_no_hash.file_path = Some(r"%OSDRIVE%\USERS\CARLA\DOWNLOADS\TOOL.EXE");
    let mut unsigned_no_hash_2 = unsigned_no_hash.clone();
    unsigned_no_hash_2.file_path = Some(r"%OSDRIVE%\USERS\DAVID\DOWNLOADS\TOOL.EXE");
    unsigned_no_hash_2.computer = "fin-ws03";
    let rows = [
        signed(T0, "fin-ws01", MS, "UPDATE.EXE", "1.9.0.00"),
        signed(
            T0 + DAY,
            "FIN-WS01.corp.example.com",
            MS,
            "UPDATE.EXE",
            "1.10.0.00",
        ),
        signed(T0 + 2 * DAY, "fin-ws02", MS, "UPDATE.EXE", "1.2.0.00"),
        signed(T0 + 5, "fin-ws02", SLACK, "UPDATE.EXE", "4.0.0.00"),
        unsigned_b,
        unsigned_no_hash,
        unsigned_no_hash_2,
    ];
    let inventory = Inventory::parse("computer,group\nFIN-*,finance\n").unwrap();
    let r = report(&rows, &inventory, ReportOptions::default());
    let finance = r.groups.iter().find(|g| g.group == "finance").unwrap();
    assert_eq!(finance.apps.len(), 4, "{:#?}", finance.apps);
    let ms = finance
        .apps
        .iter()
        .find(|a| a.publisher.as_deref() == Some(MS))
        .unwrap();
    assert_eq!(ms.events, 3, "one app over three versions");
    assert_eq!(ms.hosts, 2, "a short name and its FQDN are one host");
    assert_eq!(
        (ms.version_min.as_deref(), ms.version_max.as_deref()),
        (Some("1.2.0.00"), Some("1.10.0.00")),
        "numeric order"
    );
    assert_eq!(
        ms.paths,
        vec![r"%OSDRIVE%\USERS\*\APPDATA\LOCAL\X\UPDATE.EXE".to_owned()]
    );
    assert!(
        finance
            .apps
            .iter()
            .any(|a| a.publisher.as_deref() == Some(SLACK)),
        "same file name, another publisher: another app"
    );
    let by_hash = finance
        .apps
        .iter()
        .find(|a| a.file_hash.as_deref() == Some("BB"))
        .unwrap();
    assert_eq!(by_hash.events, 1);
    let by_path = finance
        .apps
        .iter()
        .find(|a| a.publisher.is_none() && a.file_hash.is_none())
        .unwrap();
    assert_eq!(
        (by_path.events, by_path.hosts),
        (2, 2),
        "one app installed per user is one app"
    );
    assert_eq!(
        by_path.paths,
        vec![r"%OSDRIVE%\USERS\*\DOWNLOADS\TOOL.EXE".to_owned()]
    );
}

#[test]
fn computers_missing_from_the_inventory_are_unassigned() {
    let rows = [
        signed(T0, "fin-ws01", MS, "A.EXE", "1.0"),
        signed(T0, "lab-07", MS, "A.EXE", "1.0"),
    ];
    let inventory = Inventory::parse("computer,group\nfin-ws01,finance\nhr-ws01,hr\n").unwrap();
    let r = report(&rows, &inventory, ReportOptions::default());
    let names: Vec<&str> = r.groups.iter().map(|g| g.group.as_str()).collect();
    assert_eq!(
        names,
        ["finance", "hr", "unassigned"],
        "every inventory group is listed, even without events"
    );
    assert_eq!(r.groups[2].apps[0].hosts, 1);
    assert_eq!(r.groups[1].hosts_in_inventory, 1);
    assert!(r.groups[1].apps.is_empty());
    let none = report(&rows, &Inventory::default(), ReportOptions::default());
    assert_eq!(none.groups.len(), 1);
    assert_eq!(none.groups[0].group, "unassigned");
}

#[test]
fn an_empty_window_or_store_is_an_empty_report_not_an_error() {
    let rows = [signed(T0, "fin-ws01", MS, "A.EXE", "1.0")];
    let later = Window {
        since: Some(parse_time_bound("2027-01-01", false).unwrap()),
        until: None,
    };
    let r = report(
        &rows,
        &Inventory::default(),
        ReportOptions {
            window: later,
            ..Default::default()
        },
    );
    assert!(r.is_empty());
    let day = Window {
        since: Some(parse_time_bound("2026-10-05", false).unwrap()),
        until: Some(parse_time_bound("2026-10-05", true).unwrap()),
    };
    let r = report(
        &rows,
        &Inventory::default(),
        ReportOptions {
            window: day,
            ..Default::default()
        },
    );
    assert_eq!(
        r.groups[0].apps.len(),
        1,
        "a date --until includes that day"
    );
    let empty = report(&[], &Inventory::default(), ReportOptions::default());
    assert!(empty.is_empty());
}

#[test]
fn outcome_collection_noise_and_top_filters() {
    let mut blocked = signed(T0, "fin-ws01", MS, "B.EXE", "1.0");
    blocked.outcome = "blocked";
    blocked.event_id = 8004;
    let mut script = signed(T0, "fin-ws01", MS, "S.PS1", "1.0");
    script.collection = Some("SCRIPT");
    let mut noise = script.clone();
    noise.publisher = None;
    noise.file_hash = Some("CC");
    noise.file_path =
        Some(r"%OSDRIVE%\USERS\ANNA\APPDATA\LOCAL\TEMP\__PSSCRIPTPOLICYTEST_ABCD1234.XYZ.PS1");
    let rows = [
        signed(T0, "fin-ws01", MS, "A.EXE", "1.0"),
        blocked,
        script,
        noise,
    ];
    let inv = Inventory::default();
    let audit = report(&rows, &inv, ReportOptions::default());
    assert_eq!(audit.groups[0].apps.len(), 2);
    assert_eq!(audit.groups[0].noise_events, 1);
    assert_eq!(audit.groups[0].audit_events, 2);
    let with_noise = report(
        &rows,
        &inv,
        ReportOptions {
            include_noise: true,
            ..Default::default()
        },
    );
    assert_eq!(with_noise.groups[0].apps.len(), 3);
    let all = report(
        &rows,
        &inv,
        ReportOptions {
            outcome: OutcomeFilter::All,
            ..Default::default()
        },
    );
    assert!(
        all.groups[0]
            .apps
            .iter()
            .any(|a| a.outcome == Some(query::Outcome::Blocked))
    );
    let blocked_only = report(
        &rows,
        &inv,
        ReportOptions {
            outcome: OutcomeFilter::Blocked,
            ..Default::default()
        },
    );
    assert_eq!(blocked_only.groups[0].apps.len(), 1);
    let scripts = report(
        &rows,
        &inv,
        ReportOptions {
            collections: vec![query::Collection::Script],
            ..Default::default()
        },
    );
    assert_eq!(scripts.groups[0].apps.len(), 1);
    let top = report(
        &rows,
        &inv,
        ReportOptions {
            top: Some(1),
            ..Default::default()
        },
    );
    assert_eq!(top.groups[0].apps.len(), 1);
    assert!(
        "EXES".parse::<query::Collection>().is_err(),
        "an unknown collection cannot even be asked for"
    );
}
