//! The report on sample-logs matches, app by app, what the generator says it wrote. The
//! expectation is computed from the generator's own events, not from lockstep's queries.

use std::collections::{BTreeMap, BTreeSet};

use generate::{Collection, Outcome, Payload, Simulation};
use query::report::{OutcomeFilter, ReportOptions, blocked_apps_by_group};

use crate::fixtures::*;

#[derive(Debug, Default, PartialEq)]
struct Expected {
    events: u64,
    hosts: BTreeSet<String>,
    users: BTreeSet<String>,
    first: i64,
    last: i64,
    versions: BTreeSet<[u32; 4]>,
}

/// (group, collection, publisher, product, binary, hash) of an app, as docs/architecture.md "App identity" defines it.
type AppKey = (
    String,
    String,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn collection_name(c: Collection) -> &'static str {
    c.as_str()
}

fn expected_apps() -> BTreeMap<AppKey, Expected> {
    let sim = Simulation::new(&sample_options()).unwrap();
    let mut apps: BTreeMap<AppKey, Expected> = BTreeMap::new();
    for (h, host) in sim.fleet.hosts.iter().enumerate() {
        let group = sim.fleet.expected_group(host).to_owned();
        let key_name = host.computer.split('.').next().unwrap().to_lowercase();
        for event in sim.host_events(h) {
            let (app, collection, outcome, hash, version) = match &event.payload {
                Payload::File(f) => (f.app, f.collection, f.outcome, Some(f.file_hash), f.version),
                Payload::Package(p) => (p.app, Collection::Appx, p.outcome, None, p.version),
                _ => continue,
            };
            let spec = &sim.fleet.catalog[app];
            if outcome != Outcome::Audit || spec.policy_test_noise {
                continue;
            }
            let hex = hash.map(|h| h.iter().map(|b| format!("{b:02X}")).collect::<String>());
            let key: AppKey = match &spec.publisher {
                Some(p) => (
                    group.clone(),
                    collection_name(collection).into(),
                    Some(p.clone()),
                    Some(spec.product.clone()),
                    Some(if collection == Collection::Appx {
                        "APPX".into()
                    } else {
                        spec.binary.clone()
                    }),
                    None,
                ),
                None => (
                    group.clone(),
                    collection_name(collection).into(),
                    None,
                    None,
                    None,
                    hex,
                ),
            };
            let e = apps.entry(key).or_insert(Expected {
                first: i64::MAX,
                last: i64::MIN,
                ..Default::default()
            });
            let t = event.time / 1000;
            e.events += 1;
            e.hosts.insert(key_name.clone());
            e.users.insert(event.user_sid.clone());
            e.first = e.first.min(t);
            e.last = e.last.max(t);
            if spec.publisher.is_some() {
                e.versions.insert(version);
            }
        }
    }
    apps
}

#[test]
fn report_matches_the_generator_app_by_app() {
    runtime().block_on(async {
        let (_data, ctx) = sample_context().await;
        let report = blocked_apps_by_group(&ctx, &sample_inventory(), &ReportOptions::default())
            .await
            .unwrap();
        assert_eq!(report.outcome, OutcomeFilter::Audit);
        let expected = expected_apps();
        let mut seen = BTreeMap::new();
        for g in &report.groups {
            for a in &g.apps {
                let key: AppKey = (
                    g.group.clone(),
                    a.collection.unwrap().to_string(),
                    a.publisher.clone(),
                    a.product.clone(),
                    a.binary.clone(),
                    a.file_hash.clone(),
                );
                seen.insert(key, a.clone());
            }
        }
        assert_eq!(
            seen.keys().collect::<Vec<_>>(),
            expected.keys().collect::<Vec<_>>(),
            "the same apps in the same groups"
        );
        for (key, e) in &expected {
            let a = &seen[key];
            assert_eq!(a.events, e.events, "{key:?}");
            assert_eq!(a.hosts, e.hosts.len() as u64, "{key:?}");
            assert_eq!(a.users, e.users.len() as u64, "{key:?}");
            assert_eq!(a.first_seen.unwrap().timestamp_micros(), e.first, "{key:?}");
            assert_eq!(a.last_seen.unwrap().timestamp_micros(), e.last, "{key:?}");
            if let (Some(min), Some(max)) = (e.versions.first(), e.versions.last()) {
                assert_eq!(
                    a.version_min.as_deref(),
                    Some(generate::fqbn_version(*min).as_str()),
                    "{key:?}"
                );
                assert_eq!(
                    a.version_max.as_deref(),
                    Some(generate::fqbn_version(*max).as_str()),
                    "{key:?}"
                );
            }
        }
        // Groups sorted by name, apps by events descending.
        let names: Vec<&str> = report.groups.iter().map(|g| g.group.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for g in &report.groups {
            assert!(
                g.apps.windows(2).all(|w| w[0].events >= w[1].events),
                "{}",
                g.group
            );
        }
    });
}

#[test]
fn group_context_counts_hosts_and_noise() {
    runtime().block_on(async {
        let (_data, ctx) = sample_context().await;
        let report = blocked_apps_by_group(&ctx, &sample_inventory(), &ReportOptions::default())
            .await
            .unwrap();
        let manifest: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sample_logs().join("manifest.json")).unwrap())
                .unwrap();
        for g in &report.groups {
            let hosts: Vec<&serde_json::Value> = manifest["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|h| h["expected_group"] == g.group.as_str())
                .collect();
            let reporting = hosts
                .iter()
                .filter(|h| !h["events_by_id"].as_object().unwrap().is_empty())
                .count();
            let policy_only = hosts
                .iter()
                .filter(|h| {
                    let ids = h["events_by_id"].as_object().unwrap();
                    !ids.is_empty() && ids.keys().all(|k| k == "8001")
                })
                .count();
            let audits: u64 = hosts
                .iter()
                .flat_map(|h| {
                    ["8003", "8006", "8021", "8024"]
                        .map(|id| h["events_by_id"][id].as_u64().unwrap_or(0))
                })
                .sum();
            assert_eq!(g.hosts_reporting as usize, reporting, "{}", g.group);
            assert_eq!(g.hosts_policy_only as usize, policy_only, "{}", g.group);
            assert_eq!(
                g.audit_events + g.noise_events,
                audits,
                "{}: audits = real + noise",
                g.group
            );
            if g.group != "unassigned" {
                // Named lines count themselves; a glob line counts the computers it matches in the store.
                let by_glob = sample_inventory()
                    .entries
                    .iter()
                    .any(|e| e.group == g.group && e.is_glob());
                let listed = hosts.iter().filter(|h| h["in_inventory"] == true);
                let expected = if by_glob {
                    listed
                        .filter(|h| !h["events_by_id"].as_object().unwrap().is_empty())
                        .count()
                } else {
                    listed.count()
                };
                assert_eq!(g.hosts_in_inventory as usize, expected, "{}", g.group);
            }
        }
        assert!(
            report
                .groups
                .iter()
                .any(|g| g.group == "unassigned" && !g.apps.is_empty()),
            "computers missing from the inventory are reported"
        );
        assert!(
            report.groups.iter().map(|g| g.noise_events).sum::<u64>() > 0,
            "PowerShell probes are counted as noise"
        );
    });
}
