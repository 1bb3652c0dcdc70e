//! `--enforce GROUP:COLLECTION:DAY`: the days before the flip are the unflipped fleet's, and
//! after it the group's blocks are exactly the manifest's apps (crate::flip's model).

use std::collections::BTreeSet;

use generate::{Options, Outcome, Payload, Simulation};

fn options(enforce: &[&str]) -> Options {
    Options {
        seed: 9,
        hosts: 18,
        groups: 3,
        days: 12,
        events: 5_000,
        enforce: enforce.iter().map(|f| f.parse().unwrap()).collect(),
        ..Default::default()
    }
}

/// (host, time, event ID, record ID, user) of every event before `day`.
fn events_before(sim: &Simulation, day: usize) -> Vec<(usize, i64, u16, u64, String)> {
    let first_day = options(&[])
        .start
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp_nanos_opt()
        .unwrap();
    let end = first_day + day as i64 * 86_400_000_000_000;
    (0..sim.fleet.hosts.len())
        .flat_map(|h| {
            sim.host_events(h)
                .take_while(|e| e.time < end)
                .map(|e| (e.host, e.time, e.event_id, e.record_id, e.user_sid))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn before_the_flip_nothing_changes() {
    let plain = Simulation::new(&options(&[])).unwrap();
    let flipped = Simulation::new(&options(&["finance:EXE:6", "engineering:SCRIPT:4"])).unwrap();
    assert_eq!(events_before(&plain, 4), events_before(&flipped, 4));
    // The first days are not empty: the comparison says something.
    assert!(events_before(&plain, 4).len() > 1_000);
}

#[test]
fn after_the_flip_only_the_manifest_apps_are_blocked() {
    let dir = tempfile::tempdir().unwrap();
    let opts = options(&["finance:EXE:6", "engineering:SCRIPT:4"]);
    let summary =
        generate::generate(&opts, dir.path(), &std::sync::atomic::AtomicU64::new(0)).unwrap();
    assert_eq!(summary.flips.len(), 2);
    let sim = Simulation::new(&opts).unwrap();
    for flip in &summary.flips {
        let listed: BTreeSet<&str> = flip
            .blocked_on_purpose
            .iter()
            .chain(&flip.new_apps)
            .chain(&flip.new_versions)
            .map(|a| a.key.as_str())
            .collect();
        let mut blocked = BTreeSet::new();
        let mut allowed_after = 0;
        for (h, host) in sim.fleet.hosts.iter().enumerate() {
            if sim.fleet.groups[host.group].name != flip.group {
                continue;
            }
            for event in sim.host_events(h) {
                let Payload::File(f) = &event.payload else {
                    continue;
                };
                let app = &sim.fleet.catalog[f.app];
                if f.collection != flip.collection {
                    continue;
                }
                let new_app = flip.new_apps.iter().any(|a| a.key == app.key);
                match f.outcome {
                    Outcome::Blocked if !app.policy_test_noise => {
                        blocked.insert(app.key.as_str());
                    }
                    Outcome::Audit => assert!(!new_app, "{} ran before the flip", app.key),
                    Outcome::Allowed if f.rule.name.starts_with("lockstep:") => allowed_after += 1,
                    _ => {}
                }
            }
        }
        assert!(
            blocked.is_subset(&listed),
            "{} {}: blocked {blocked:?}, listed {listed:?}",
            flip.group,
            flip.collection.as_str()
        );
        assert!(
            flip.new_apps
                .iter()
                .all(|a| blocked.contains(a.key.as_str())),
            "every new app ran and was blocked: {blocked:?}"
        );
        assert!(allowed_after > 0, "the candidate allows what the group ran");
    }
}

#[test]
fn a_collection_flipped_twice_is_refused() {
    let err = Simulation::new(&options(&["finance:EXE:3", "finance:EXE:5"]))
        .err()
        .expect("refused");
    assert!(err.to_string().contains("flips EXE twice"), "{err}");
}
