//! After the flip, on hand-made tables: blocks since enforcement split into expected
//! (decided `block`) and unexpected (the exception queue, each with a proposed rule), and
//! warnings where the events disagree with the rollout record.

use std::collections::BTreeMap;

use query::app::AppIdentity;
use query::monitor::monitor;
use query::{Collection, Inventory};
use workspace::{Decision, Rollout, RolloutMode, Verdict};

use crate::fixtures::*;

const DAY: i64 = 86_400_000_000;
/// 2026-09-21T00:00:00Z, so day `d` is 2026-09-21 + d.
const START: i64 = 1_789_948_800_000_000;
const EVIL: &str = "EEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEEE";
const TOOL: &str = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB";

fn event(
    computer: &'static str,
    day: i64,
    outcome: &'static str,
    collection: &'static str,
    path: &'static str,
    hash: &'static str,
) -> Row {
    Row {
        time_us: START + day * DAY + 3_600_000_000,
        computer,
        event_id: if outcome == "blocked" { 8004 } else { 8003 },
        outcome,
        collection: Some(collection),
        user: Some("S-1-5-21-1-2-3-1001"),
        file_path: Some(path),
        file_hash: Some(hash),
        ..Row::default()
    }
}

fn applied(computer: &'static str, day: i64) -> Row {
    Row {
        time_us: START + day * DAY + 3_600_000_000,
        computer,
        event_id: 8001,
        outcome: "other",
        ..Row::default()
    }
}

fn app_id(hash: &str, path: &str) -> String {
    AppIdentity::from_parts(
        Some(Collection::Exe),
        None,
        None,
        None,
        Some(hash),
        Some(path),
    )
    .app_id()
}

fn enforced_exe_since(day: &str) -> Rollout {
    Rollout {
        group: "finance".into(),
        collection: "EXE".into(),
        mode: RolloutMode::Enforce,
        version: Some(1),
        at: format!("{day}T00:00:00Z"),
        note: None,
        recorded_by: "tester".into(),
        recorded_at: "2026-10-01T00:00:00Z".into(),
    }
}

#[test]
fn blocks_after_the_flip_are_split_and_the_unexpected_form_the_queue() {
    let evil_path = "%OSDRIVE%\\USERS\\X\\EVIL.EXE";
    let tool_path = "%PROGRAMFILES%\\NEWVENDOR\\TOOL.EXE";
    let rows = vec![
        // Before the flip (day 10): audit only, not counted.
        event("FIN-1", 5, "audit", "EXE", evil_path, EVIL),
        // After: the app decided block (expected), twice.
        event("FIN-1", 11, "blocked", "EXE", evil_path, EVIL),
        event("FIN-1", 12, "blocked", "EXE", evil_path, EVIL),
        // A new tool nobody decided (unexpected), on two hosts over two days.
        event("FIN-2", 11, "blocked", "EXE", tool_path, TOOL),
        event("FIN-2", 12, "blocked", "EXE", tool_path, TOOL),
        event("FIN-3", 12, "blocked", "EXE", tool_path, TOOL),
        // FIN-3 still audits EXE after the flip: its GPO did not apply?
        event("FIN-3", 13, "audit", "EXE", evil_path, EVIL),
        // FIN-2 blocks a script, though SCRIPT is not recorded as enforced.
        event(
            "FIN-2",
            12,
            "blocked",
            "SCRIPT",
            "%OSDRIVE%\\USERS\\X\\A.PS1",
            TOOL,
        ),
        // Policy applied (8001): FIN-1 after the flip, FIN-2 only before it.
        applied("FIN-1", 10),
        applied("FIN-1", 12),
        applied("FIN-2", 5),
    ];
    let ctx = context_with(&rows);
    let inventory =
        Inventory::parse("computer,group\nFIN-1,finance\nFIN-2,finance\nFIN-3,finance\n").unwrap();
    let evil = app_id(EVIL, evil_path);
    let decisions: BTreeMap<String, Decision> = [(evil.clone(), decided(&evil, Verdict::Block))]
        .into_iter()
        .collect();
    let rollouts = [enforced_exe_since("2026-10-01")];
    let m = runtime()
        .block_on(monitor(&ctx, &inventory, "finance", &rollouts, &decisions))
        .unwrap();

    assert_eq!(
        (m.expected_blocked_events, m.unexpected_blocked_events),
        (2, 3)
    );
    let exe = &m.collections[0];
    assert_eq!(
        (exe.collection, exe.mode, exe.version),
        (Collection::Exe, RolloutMode::Enforce, Some(1))
    );
    let days: Vec<(&str, u64, u64)> = exe
        .days
        .iter()
        .map(|d| (d.day.as_str(), d.expected, d.unexpected))
        .collect();
    assert_eq!(days, [("2026-10-02", 1, 1), ("2026-10-03", 1, 2)]);
    let hours: Vec<(&str, u64)> = m
        .unexpected_by_hour
        .iter()
        .map(|(h, n)| (h.as_str(), *n))
        .collect();
    assert_eq!(hours, [("2026-10-02T01", 1), ("2026-10-03T01", 2)]);

    assert_eq!(m.exceptions.len(), 1, "{:#?}", m.exceptions);
    let tool = &m.exceptions[0];
    assert_eq!(tool.app.app_id, app_id(TOOL, tool_path));
    assert_eq!((tool.app.events, tool.app.hosts), (3, 2));
    assert_eq!(tool.host_names, ["fin-2", "fin-3"]);
    let rule = tool.proposed_rule.as_deref().unwrap();
    assert!(
        rule.contains("FilePathRule") && rule.contains("NEWVENDOR"),
        "{rule}"
    );

    let warnings: Vec<(&str, Collection, u64)> = m
        .warnings
        .iter()
        .map(|w| (w.code, w.collection, w.hosts))
        .collect();
    assert_eq!(
        warnings,
        [
            ("still_auditing", Collection::Exe, 1),
            ("blocking_while_audit", Collection::Script, 1)
        ]
    );
    assert!(
        m.warnings[0]
            .message
            .contains("recorded as enforced since 2026-10-01 00:00"),
        "{}",
        m.warnings[0].message
    );

    // When each host picked up the policy after the flip: FIN-2 and FIN-3 have not yet.
    let applied: Vec<(&str, Option<String>)> = m
        .policy_applied
        .iter()
        .map(|h| (h.host.as_str(), h.applied_at.map(|t| t.to_rfc3339())))
        .collect();
    assert_eq!(
        applied,
        [
            ("fin-1", Some("2026-10-01T01:00:00+00:00".to_owned())),
            ("fin-2", None),
            ("fin-3", None)
        ]
    );
}

#[test]
fn a_group_recorded_as_audit_has_no_queue() {
    let rows = vec![event(
        "FIN-1",
        11,
        "audit",
        "EXE",
        "%PROGRAMFILES%\\A.EXE",
        TOOL,
    )];
    let ctx = context_with(&rows);
    let inventory = Inventory::parse("computer,group\nFIN-1,finance\n").unwrap();
    let m = runtime()
        .block_on(monitor(&ctx, &inventory, "finance", &[], &BTreeMap::new()))
        .unwrap();
    assert!(
        m.collections.is_empty() && m.exceptions.is_empty() && m.warnings.is_empty(),
        "{m:#?}"
    );
    assert_eq!(
        (m.expected_blocked_events, m.unexpected_blocked_events),
        (0, 0)
    );
}

/// Blocked AppLocker events the generator wrote for `group`'s inventory hosts on or after
/// `from_day`, per collection (noise left out, as the report leaves it out).
fn generator_blocks(
    opts: &generate::Options,
    group: &str,
    from_day: usize,
) -> BTreeMap<String, u64> {
    use generate::{Outcome, Payload, Simulation};
    let sim = Simulation::new(opts).unwrap();
    let first = opts
        .start
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_nanos_opt()
        .unwrap()
        + from_day as i64 * 86_400_000_000_000;
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (h, host) in sim.fleet.hosts.iter().enumerate() {
        if sim.fleet.expected_group(host) != group {
            continue;
        }
        for event in sim.host_events(h) {
            let (app, collection, outcome) = match &event.payload {
                Payload::File(f) => (f.app, f.collection, f.outcome),
                Payload::Package(p) => (p.app, generate::Collection::Appx, p.outcome),
                _ => continue,
            };
            if outcome == Outcome::Blocked
                && event.time >= first
                && !sim.fleet.catalog[app].policy_test_noise
            {
                *out.entry(collection.as_str().to_owned()).or_default() += 1;
            }
        }
    }
    out
}

/// Blocked events the generator wrote for `group`'s inventory hosts after `from_day`, per
/// app identity as lockstep keys it: `P|publisher|product|binary` or `H|hash`.
fn generator_blocks_by_app(
    opts: &generate::Options,
    group: &str,
    from_day: usize,
) -> BTreeMap<String, u64> {
    use generate::{Outcome, Payload, Simulation};
    let sim = Simulation::new(opts).unwrap();
    let first = day_start(opts, from_day);
    let mut out: BTreeMap<String, u64> = BTreeMap::new();
    for (h, host) in sim.fleet.hosts.iter().enumerate() {
        if sim.fleet.expected_group(host) != group {
            continue;
        }
        for event in sim.host_events(h) {
            let Payload::File(f) = &event.payload else {
                continue;
            };
            let app = &sim.fleet.catalog[f.app];
            if f.outcome != Outcome::Blocked || event.time < first || app.policy_test_noise {
                continue;
            }
            let key = match &app.publisher {
                Some(p) => format!("P|{p}|{}|{}", app.product, app.binary),
                None => format!("H|{}", hex_upper(&f.file_hash)),
            };
            *out.entry(key).or_default() += 1;
        }
    }
    out
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn day_start(opts: &generate::Options, day: usize) -> i64 {
    opts.start
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_nanos_opt()
        .unwrap()
        + day as i64 * 86_400_000_000_000
}

/// The identity keys of a manifest app (one per version for unsigned files).
fn manifest_keys(app: &generate::ManifestApp) -> Vec<String> {
    match &app.publisher {
        Some(p) => vec![format!(
            "P|{p}|{}|{}",
            app.product.as_deref().unwrap_or(""),
            app.binary.as_deref().unwrap_or("")
        )],
        None => app.file_hashes.iter().map(|h| format!("H|{h}")).collect(),
    }
}

fn exception_key(app: &query::report::AppRow) -> String {
    match &app.publisher {
        Some(p) => format!(
            "P|{p}|{}|{}",
            app.product.as_deref().unwrap_or(""),
            app.binary.as_deref().unwrap_or("")
        ),
        None => format!("H|{}", app.file_hash.as_deref().unwrap_or("")),
    }
}

/// A fleet generated with finance's EXE flipped to Enforce on day 7, recorded so: the
/// exception queue is the generator's own ground truth app by app. Before any decision every
/// block is unexpected; once the apps the generator blocked on purpose are decided `block`,
/// they move to expected and the queue holds exactly the new apps and the new version the
/// manifest lists. Before the flip the same apps were audits; no host still audits EXE.
#[test]
fn a_flip_in_the_middle_of_the_window_matches_the_generator() {
    let dir = tempfile::tempdir().unwrap();
    let opts = generate::Options {
        seed: 5,
        hosts: 15,
        groups: 3,
        days: 14,
        events: 6_000,
        enforce: vec!["finance:EXE:7".parse().unwrap()],
        ..Default::default()
    };
    let summary =
        generate::generate(&opts, dir.path(), &std::sync::atomic::AtomicU64::new(0)).unwrap();
    let expected = generator_blocks(&opts, "finance", 0);
    assert_eq!(
        expected,
        generator_blocks(&opts, "finance", 7),
        "no block before the flip"
    );
    let by_app = generator_blocks_by_app(&opts, "finance", 7);
    let [flip] = summary.flips.as_slice() else {
        panic!("one flip in the manifest: {:?}", summary.flips)
    };
    assert_eq!(
        (flip.group.as_str(), flip.date.as_str()),
        ("finance", "2026-10-12")
    );
    let on_purpose: Vec<String> = flip
        .blocked_on_purpose
        .iter()
        .flat_map(manifest_keys)
        .collect();
    let unexpected: Vec<String> = flip
        .new_apps
        .iter()
        .chain(&flip.new_versions)
        .flat_map(manifest_keys)
        .collect();
    assert!(
        !on_purpose.is_empty() && flip.new_apps.len() == 2 && flip.new_versions.len() == 1,
        "{flip:#?}"
    );
    // Every block is one of the manifest's apps, and each of them ran after the flip.
    for key in by_app.keys() {
        assert!(
            on_purpose.contains(key) || unexpected.contains(key),
            "a block the manifest does not explain: {key}"
        );
    }
    for key in &unexpected {
        assert!(by_app.contains_key(key), "{key} never ran: {by_app:#?}");
    }

    let data = tempfile::tempdir().unwrap();
    ingest::ingest(
        &ingest::Options {
            data_dir: data.path().to_owned(),
            paths: vec![dir.path().to_owned()],
            strict: false,
            threads: 2,
        },
        &ingest::Progress::default(),
    )
    .unwrap();
    let ctx = datafusion::prelude::SessionContext::new();
    let rt = runtime();
    rt.block_on(query::register_store(
        &ctx,
        &schema::Store::new(data.path()),
    ))
    .unwrap();
    let inventory = Inventory::from_path(&dir.path().join("inventory.csv")).unwrap();
    let flip_record = Rollout {
        group: "finance".into(),
        ..enforced_exe_since("2026-10-12")
    };
    let monitor_with = |decisions: &BTreeMap<String, Decision>| {
        rt.block_on(monitor(
            &ctx,
            &inventory,
            "finance",
            std::slice::from_ref(&flip_record),
            decisions,
        ))
        .unwrap()
    };
    let m = monitor_with(&BTreeMap::new());
    let seen: BTreeMap<String, u64> = m
        .collections
        .iter()
        .map(|c| {
            (
                c.collection.as_str().to_owned(),
                c.days.iter().map(|d| d.unexpected).sum(),
            )
        })
        .collect();
    assert_eq!(seen, expected);
    let queue: BTreeMap<String, u64> = m
        .exceptions
        .iter()
        .map(|e| (exception_key(&e.app), e.app.events))
        .collect();
    assert_eq!(queue, by_app, "the queue, app by app");
    assert!(
        m.collections[0]
            .days
            .iter()
            .all(|d| d.day.as_str() >= "2026-10-12")
    );
    assert!(
        m.warnings.is_empty(),
        "nobody audits EXE after the flip: {:?}",
        m.warnings
    );

    // The admin's decisions: the apps blocked on purpose become expected blocks.
    let decisions: BTreeMap<String, Decision> = m
        .exceptions
        .iter()
        .filter(|e| on_purpose.contains(&exception_key(&e.app)))
        .map(|e| (e.app.app_id.clone(), decided(&e.app.app_id, Verdict::Block)))
        .collect();
    let after = monitor_with(&decisions);
    let queue: Vec<String> = after
        .exceptions
        .iter()
        .map(|e| exception_key(&e.app))
        .collect();
    let mut want = unexpected.clone();
    want.sort();
    let mut got = queue.clone();
    got.sort();
    assert_eq!(got, want, "the queue is the new apps and the new version");
    let on_purpose_events: u64 = by_app
        .iter()
        .filter(|(k, _)| on_purpose.contains(k))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(after.expected_blocked_events, on_purpose_events);
    assert_eq!(
        after.unexpected_blocked_events,
        m.unexpected_blocked_events - on_purpose_events
    );

    // Recorded a day too early, the hosts that still audited that day are named.
    let early = Rollout {
        at: "2026-10-11T00:00:00Z".into(),
        ..flip_record.clone()
    };
    let m = rt
        .block_on(monitor(
            &ctx,
            &inventory,
            "finance",
            &[early],
            &BTreeMap::new(),
        ))
        .unwrap();
    assert_eq!(m.warnings.len(), 1, "{:?}", m.warnings);
    assert_eq!(m.warnings[0].code, "still_auditing");
}

/// The sample fleet's IT operations group already enforces EXE, SCRIPT and APPX (the
/// generator's mixed deployment). Recorded as enforced from the first day, every block the
/// generator wrote for the group's inventory hosts is in the monitor, per collection and
/// app, and a `block` decision moves an app from unexpected to expected.
#[test]
fn the_sample_fleets_enforced_group_matches_the_generator() {
    let expected = generator_blocks(&sample_options(), "it-ops", 0);
    assert!(expected.values().sum::<u64>() > 20, "{expected:?}");

    let rt = runtime();
    let (_data, ctx) = rt.block_on(sample_context());
    let inventory = sample_inventory();
    let rollouts: Vec<Rollout> = ["EXE", "SCRIPT", "APPX"]
        .into_iter()
        .map(|c| Rollout {
            group: "it-ops".into(),
            collection: c.into(),
            ..enforced_exe_since("2026-10-05")
        })
        .collect();
    let m = rt
        .block_on(monitor(
            &ctx,
            &inventory,
            "it-ops",
            &rollouts,
            &BTreeMap::new(),
        ))
        .unwrap();
    let seen: BTreeMap<String, u64> = m
        .collections
        .iter()
        .map(|c| {
            (
                c.collection.as_str().to_owned(),
                c.days.iter().map(|d| d.unexpected).sum(),
            )
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(seen, expected);
    assert_eq!(m.unexpected_blocked_events, expected.values().sum::<u64>());
    assert_eq!(m.expected_blocked_events, 0);
    assert!(m.warnings.is_empty(), "{:?}", m.warnings);
    assert_eq!(
        m.exceptions.iter().map(|e| e.app.events).sum::<u64>(),
        m.unexpected_blocked_events
    );

    // Blocking the first app on purpose makes its events expected.
    let first = m.exceptions[0].app.clone();
    let decisions: BTreeMap<String, Decision> =
        [(first.app_id.clone(), decided(&first.app_id, Verdict::Block))]
            .into_iter()
            .collect();
    let after = rt
        .block_on(monitor(&ctx, &inventory, "it-ops", &rollouts, &decisions))
        .unwrap();
    assert_eq!(after.expected_blocked_events, first.events);
    assert_eq!(
        after.unexpected_blocked_events,
        m.unexpected_blocked_events - first.events
    );
    assert!(
        after
            .exceptions
            .iter()
            .all(|e| e.app.app_id != first.app_id)
    );

    // Without a record, the same blocks are a disagreement: the group is taken as audit.
    let unrecorded = rt
        .block_on(monitor(&ctx, &inventory, "it-ops", &[], &BTreeMap::new()))
        .unwrap();
    let codes: Vec<(&str, Collection)> = unrecorded
        .warnings
        .iter()
        .map(|w| (w.code, w.collection))
        .collect();
    assert!(
        codes.contains(&("blocking_while_audit", Collection::Exe)),
        "{codes:?}"
    );
}
