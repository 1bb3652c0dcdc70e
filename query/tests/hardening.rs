//! The hardening what-if and the bypass-risk flag on hand-made executions: the deny list hits
//! exactly the listed Microsoft programs, with who ran them; an execution from a
//! user-writable folder under Windows that the default rules allow is flagged.

use policy::harden::{HARDENING_LIST, MICROSOFT, harden};
use policy::{Evaluator, Policy};
use query::simulate::{SimulateOptions, Simulation, simulate};

use crate::fixtures::*;

const DAY: i64 = 86_400_000_000;
const T0: i64 = 1_791_763_200_000_000; // 2026-10-13

/// Windows' default Exe rules, as the AppLocker console creates them.
fn default_rules() -> Policy {
    let xml = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">
        <FilePathRule Id="921cc481-6e17-4653-8f75-050b80acca20" Name="(Default Rule) All files located in the Program Files folder" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule>
        <FilePathRule Id="a61c8b2c-a319-4cd0-9690-d2177cad7b51" Name="(Default Rule) All files located in the Windows folder" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%WINDIR%\*" /></Conditions></FilePathRule>
        <FilePathRule Id="fd686d83-a829-4351-8ff4-27c7de5755d2" Name="(Default Rule) All files" Description="" UserOrGroupSid="S-1-5-32-544" Action="Allow"><Conditions><FilePathCondition Path="*" /></Conditions></FilePathRule>
    </RuleCollection></AppLockerPolicy>"#;
    policy::read::parse(xml.as_bytes()).unwrap().policy
}

/// An allowed (8002) run of a Microsoft-signed Windows program.
fn windows_program(
    t: i64,
    computer: &'static str,
    user: &'static str,
    path: &'static str,
    binary: &'static str,
) -> Row {
    Row {
        time_us: t,
        computer,
        event_id: 8002,
        outcome: "allowed",
        collection: Some("EXE"),
        user: Some(user),
        file_path: Some(path),
        file_hash: Some("AB"),
        publisher: Some(MICROSOFT),
        product: Some("MICROSOFT® WINDOWS® OPERATING SYSTEM"),
        binary: Some(binary),
        version: Some("10.0.19041.1"),
    }
}

fn fleet() -> Vec<Row> {
    let (anna, ben, admin) = (
        "S-1-5-21-1-2-3-1001",
        "S-1-5-21-1-2-3-1002",
        "S-1-5-21-1-2-3-500",
    );
    vec![
        windows_program(T0, "FIN-1", anna, r"%SYSTEM32%\WBEM\WMIC.EXE", "WMIC.EXE"),
        windows_program(
            T0 + DAY,
            "FIN-2",
            ben,
            r"%SYSTEM32%\WBEM\WMIC.EXE",
            "WMIC.EXE",
        ),
        windows_program(
            T0 + DAY,
            "ENG-1",
            admin,
            r"%WINDIR%\MICROSOFT.NET\FRAMEWORK64\V4.0.30319\MSBUILD.EXE",
            "MSBuild.exe",
        ),
        windows_program(T0, "FIN-1", anna, r"%SYSTEM32%\CMD.EXE", "CMD.EXE"),
        windows_program(T0, "ENG-1", admin, r"%SYSTEM32%\NOTEPAD.EXE", "NOTEPAD.EXE"),
        // Unsigned, in Windows\Temp (users can write there): the default rules let it run.
        Row {
            publisher: None,
            product: None,
            binary: None,
            version: None,
            file_hash: Some("CD"),
            ..windows_program(
                T0 + 2 * DAY,
                "ENG-1",
                ben,
                r"%WINDIR%\TEMP\RMM_AGENT.EXE",
                "",
            )
        },
    ]
}

fn inventory() -> query::Inventory {
    query::Inventory::parse("computer,group\nFIN-*,finance\nENG-*,engineering\n").unwrap()
}

fn run(policy: &Policy) -> Simulation {
    let ctx = context_with(&fleet());
    runtime()
        .block_on(simulate(
            &ctx,
            &inventory(),
            &Evaluator::new(policy, None),
            &SimulateOptions::default(),
        ))
        .unwrap()
}

#[test]
fn hardening_hits_exactly_the_listed_programs_with_who_ran_them() {
    let plain = run(&default_rules());
    for g in &plain.groups {
        assert!(
            g.newly_blocked.is_empty() && g.hardening_hits.is_empty(),
            "{}",
            g.group
        );
    }
    let hardened = harden(&default_rules(), None);
    assert_eq!(
        hardened.rules_added,
        HARDENING_LIST
            .iter()
            .filter(|e| e.collection == policy::CollectionKind::Exe)
            .count()
    );
    let sim = run(&hardened.policy);
    let finance = sim.groups.iter().find(|g| g.group == "finance").unwrap();
    assert_eq!(
        finance.hardening_hits.len(),
        1,
        "{:#?}",
        finance.hardening_hits
    );
    let wmic = &finance.hardening_hits[0];
    assert_eq!(wmic.app.events, 2, "both runs");
    assert_eq!(wmic.host_names, ["fin-1", "fin-2"]);
    assert_eq!(
        wmic.user_sids,
        ["S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1002"]
    );
    assert_eq!(wmic.blocked_by, ["lockstep hardening: WMIC.EXE"]);
    assert_eq!(
        finance.newly_blocked_events, 2,
        "nothing else is newly blocked"
    );

    // Administrators are hit too: a Deny rule for Everyone spares nobody.
    let engineering = sim
        .groups
        .iter()
        .find(|g| g.group == "engineering")
        .unwrap();
    let labels: Vec<&str> = engineering
        .hardening_hits
        .iter()
        .map(|a| a.app.label.as_str())
        .collect();
    assert_eq!(labels.len(), 1, "{labels:?}");
    // The event spells it MSBuild.exe; the rule matches names case-insensitively.
    assert!(labels[0].ends_with("MSBuild.exe"), "{labels:?}");
    assert_eq!(
        engineering.hardening_hits[0].user_sids,
        ["S-1-5-21-1-2-3-500"]
    );
}

#[test]
fn executions_from_user_writable_windows_folders_are_flagged_as_bypass_risks() {
    let sim = run(&default_rules());
    let engineering = sim
        .groups
        .iter()
        .find(|g| g.group == "engineering")
        .unwrap();
    assert_eq!(
        engineering.bypass_risks.len(),
        1,
        "{:#?}",
        engineering.bypass_risks
    );
    let risk = &engineering.bypass_risks[0];
    assert!(
        risk.app.label.contains("RMM_AGENT.EXE"),
        "{}",
        risk.app.label
    );
    assert_eq!(
        risk.allowed_by,
        ["(Default Rule) All files located in the Windows folder"]
    );
    assert_eq!(
        risk.writable_places,
        ["a user-writable folder under Windows"]
    );
    // System32 programs allowed by the same rule are not.
    let finance = sim.groups.iter().find(|g| g.group == "finance").unwrap();
    assert!(
        finance.bypass_risks.is_empty(),
        "{:#?}",
        finance.bypass_risks
    );
}
