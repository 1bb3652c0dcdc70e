//! The daily timeline on the bundled fleet: per group, the days add up to the report's audit
//! events, and the generator's own events per day and outcome are what it counts.

use std::collections::BTreeMap;

use generate::{Outcome, Payload, Simulation};
use query::report::ReportOptions;
use query::timeline::{TimelineOptions, daily_events};

use crate::fixtures::{runtime, sample_context, sample_inventory, sample_options};

#[test]
fn days_add_up_to_the_report_and_to_the_generators_events() {
    runtime().block_on(async {
        let (_dir, ctx) = sample_context().await;
        let inventory = sample_inventory();
        let days = daily_events(&ctx, &inventory, &TimelineOptions::default())
            .await
            .unwrap();
        assert!(!days.is_empty());
        // Ordered by group, then day, each (group, day) once.
        let keys: Vec<_> = days.iter().map(|d| (d.group.clone(), d.day)).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted);

        let report =
            query::report::blocked_apps_by_group(&ctx, &inventory, &ReportOptions::default())
                .await
                .unwrap();
        for g in &report.groups {
            let total: u64 = days
                .iter()
                .filter(|d| d.group == g.group)
                .map(|d| d.audit_events)
                .sum();
            assert_eq!(total, g.audit_events, "{}", g.group);
        }

        // The generator's events per day (noise included, as `include_noise` counts them).
        let with_noise = daily_events(
            &ctx,
            &inventory,
            &TimelineOptions {
                include_noise: true,
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let sim = Simulation::new(&sample_options()).unwrap();
        let mut expected: BTreeMap<(chrono::NaiveDate, bool), u64> = BTreeMap::new();
        for host in 0..sim.fleet.hosts.len() {
            for e in sim.host_events(host) {
                let outcome = match &e.payload {
                    Payload::File(f) => f.outcome,
                    Payload::Package(p) => p.outcome,
                    _ => continue,
                };
                let blocked = match outcome {
                    Outcome::Audit => false,
                    Outcome::Blocked => true,
                    Outcome::Allowed => continue,
                };
                let day = chrono::DateTime::from_timestamp_nanos(e.time).date_naive();
                *expected.entry((day, blocked)).or_default() += 1;
            }
        }
        let mut counted: BTreeMap<(chrono::NaiveDate, bool), u64> = BTreeMap::new();
        for d in &with_noise {
            for (blocked, n) in [(false, d.audit_events), (true, d.blocked_events)] {
                if n > 0 {
                    *counted.entry((d.day.date_naive(), blocked)).or_default() += n;
                }
            }
        }
        assert_eq!(counted, expected);

        // One group only.
        let finance = daily_events(
            &ctx,
            &inventory,
            &TimelineOptions {
                groups: vec!["finance".into()],
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert!(finance.iter().all(|d| d.group == "finance"));
        assert_eq!(
            finance,
            days.iter()
                .filter(|d| d.group == "finance")
                .cloned()
                .collect::<Vec<_>>()
        );
    });
}
