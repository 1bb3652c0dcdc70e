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

/// An Exe policy that allows Program Files and Windows, and denies one sample app by path.
fn program_files_and_windows() -> Policy {
    let xml = r#"<AppLockerPolicy Version="1"><RuleCollection Type="Exe" EnforcementMode="Enabled">
      <FilePathRule Id="00000000-0000-4000-8000-000000000001" Name="program files" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%PROGRAMFILES%\*" /></Conditions></FilePathRule>
      <FilePathRule Id="00000000-0000-4000-8000-000000000002" Name="windows" Description="" UserOrGroupSid="S-1-1-0" Action="Allow"><Conditions><FilePathCondition Path="%WINDIR%\*" /></Conditions></FilePathRule>
      <FilePathRule Id="00000000-0000-4000-8000-000000000003" Name="no code" Description="" UserOrGroupSid="S-1-1-0" Action="Deny"><Conditions><FilePathCondition Path="*\CODE.EXE" /></Conditions></FilePathRule>
    </RuleCollection></AppLockerPolicy>"#;
    parse(xml.as_bytes()).unwrap().policy
}

/// Per app: events, hosts, users and blocking rules, summed over the still and newly
/// blocked rows (as readiness merges them).
type Blocked = BTreeMap<String, (u64, BTreeSet<String>, BTreeSet<String>, BTreeSet<String>)>;

fn blocked_of<'a>(
    apps: impl Iterator<Item = (&'a str, u64, &'a [String], &'a [String], &'a [String])>,
) -> Blocked {
    let mut out = Blocked::new();
    for (id, events, hosts, users, rules) in apps {
        let entry = out.entry(id.to_owned()).or_default();
        entry.0 += events;
        entry.1.extend(hosts.iter().cloned());
        entry.2.extend(users.iter().cloned());
        entry.3.extend(rules.iter().cloned());
    }
    out
}

/// Readiness judges every group on one aggregate of the events; each group's answer must
/// be what a simulation of that group alone, straight from the events, blocks.
#[test]
fn every_group_on_one_aggregate_blocks_what_its_own_simulation_blocks() {
    use query::simulate::{SimulateOptions, simulate};
    let rt = runtime();
    let (_data, ctx) = rt.block_on(sample_context());
    let inventory = sample_inventory();
    let (whole, empty) = (program_files_and_windows(), Policy::default());
    // A whole policy (allowed executions judged too) and an add-on candidate to an
    // unknown policy, in turn.
    let plans: BTreeMap<String, GroupPlan> = inventory
        .groups()
        .into_iter()
        .enumerate()
        .map(|(i, group)| {
            let include_allowed = i % 2 == 0;
            let policy = if include_allowed { &whole } else { &empty };
            let plan = GroupPlan {
                evaluator: Evaluator::new(policy, None),
                include_allowed,
                configured: BTreeSet::new(),
                decisions: BTreeMap::new(),
                current_known: include_allowed,
                candidate: "the test's".into(),
            };
            (group, plan)
        })
        .collect();
    assert!(plans.len() >= 3, "{plans:?}", plans = plans.keys());
    let judged = rt
        .block_on(readiness(
            &ctx,
            &inventory,
            &plans,
            &ReadinessOptions::default(),
        ))
        .unwrap();
    let (mut nonempty, mut denied) = (0, 0);
    for g in &judged {
        let plan = &plans[&g.group];
        let sim = rt
            .block_on(simulate(
                &ctx,
                &inventory,
                &plan.evaluator,
                &SimulateOptions {
                    groups: vec![g.group.clone()],
                    include_allowed: plan.include_allowed,
                    with_who: true,
                    unknown_current: !plan.include_allowed,
                    ..SimulateOptions::default()
                },
            ))
            .unwrap();
        let alone = blocked_of(
            sim.groups
                .iter()
                .flat_map(|s| s.still_blocked.iter().chain(&s.newly_blocked))
                .map(|b| {
                    let app = &b.app;
                    (
                        app.app_id.as_str(),
                        app.events,
                        b.host_names.as_slice(),
                        b.user_sids.as_slice(),
                        b.blocked_by.as_slice(),
                    )
                }),
        );
        let together = blocked_of(
            g.undecided
                .iter()
                .chain(&g.deferred)
                .chain(&g.blocked_on_purpose)
                .map(|a| {
                    (
                        a.app_id.as_str(),
                        a.events,
                        a.host_names.as_slice(),
                        a.user_sids.as_slice(),
                        a.blocked_by.as_slice(),
                    )
                }),
        );
        assert_eq!(together, alone, "group {}", g.group);
        nonempty += usize::from(!alone.is_empty());
        denied += alone.values().filter(|a| a.3.contains("no code")).count();
    }
    assert_eq!(nonempty, judged.len(), "every group has blocked apps");
    assert!(denied > 0, "the deny rule blocks something somewhere");
}

/// Several candidates judged on one aggregate give what each gives on its own.
#[test]
fn candidates_on_one_aggregate_give_their_own_simulations() {
    use query::simulate::{SimulateOptions, simulate, simulate_each};
    let rt = runtime();
    let (_data, ctx) = rt.block_on(sample_context());
    let inventory = sample_inventory();
    let (whole, empty) = (program_files_and_windows(), Policy::default());
    let (a, b) = (Evaluator::new(&whole, None), Evaluator::new(&empty, None));
    let group = inventory.groups().into_iter().next().unwrap();
    for groups in [Vec::new(), vec![group]] {
        let opts = SimulateOptions {
            groups,
            with_who: true,
            ..SimulateOptions::default()
        };
        let each = rt
            .block_on(simulate_each(&ctx, &inventory, &[&a, &b], &opts))
            .unwrap();
        let alone = [&a, &b].map(|e| rt.block_on(simulate(&ctx, &inventory, e, &opts)).unwrap());
        assert_eq!(each, alone, "{:?}", opts.groups);
        assert!(each[0].groups.iter().any(|g| !g.still_blocked.is_empty()));
    }
}
