//! The summary table answers exactly what the events answer: on generated fleets (every
//! input form, an enforced group, overlapping ingests that de-duplication trims, a
//! compaction, a store written before the summary), every question is asked twice, once
//! with the summary and once from the events only, and the answers must be equal.

use std::path::Path;

use policy::Evaluator;
use query::Window;
use query::readiness::ReadinessOptions;
use query::report::{OutcomeFilter, ReportOptions};
use query::simulate::SimulateOptions;
use query::suggest::SuggestOptions;
use query::timeline::TimelineOptions;
use query::{Candidate, Session};
use serde_json::Value;

use crate::fixtures::runtime;

fn ingest(data: &Path, paths: Vec<std::path::PathBuf>) -> ingest::Summary {
    let opts = ingest::Options {
        data_dir: data.to_owned(),
        paths,
        strict: false,
        threads: 2,
    };
    ingest::ingest(&opts, &ingest::Progress::default()).unwrap()
}

/// A fleet with an enforced group and XML and JSON exports beside the EVTX, written to `out`.
fn generated_fleet(out: &Path) {
    let opts = generate::Options {
        seed: 23,
        hosts: 16,
        groups: 3,
        days: 12,
        events: 6000,
        forwarded: 1,
        wef_coverage: 60,
        enforce: vec!["finance:EXE:6".parse().unwrap()],
        text_exports: 2,
        ..generate::Options::default()
    };
    generate::generate(&opts, out, &Default::default()).unwrap();
}

fn json(value: impl serde::Serialize) -> Value {
    serde_json::to_value(value).unwrap()
}

/// Every question's answer on `session`, by name.
async fn answers(session: &Session, policy: &policy::Policy) -> Vec<(String, Value)> {
    let day = |d: &str| chrono::DateTime::parse_from_rfc3339(d).unwrap().to_utc();
    let windows = [
        ("unbounded", Window::default()),
        (
            "whole days",
            Window {
                since: Some(day("2026-10-07T00:00:00Z")),
                until: Some(day("2026-10-13T00:00:00Z")),
            },
        ),
        (
            "part of a day",
            Window {
                since: Some(day("2026-10-07T09:30:00Z")),
                until: None,
            },
        ),
    ];
    let mut out = Vec::new();
    for (name, window) in windows {
        for outcome in [OutcomeFilter::Audit, OutcomeFilter::All] {
            for include_noise in [false, true] {
                let opts = ReportOptions {
                    window,
                    outcome,
                    include_noise,
                    ..ReportOptions::default()
                };
                let report = session.report(&opts).await.unwrap();
                out.push((
                    format!("report {name} {outcome:?} {include_noise}"),
                    json(report),
                ));
            }
        }
        let timeline = TimelineOptions {
            window,
            ..TimelineOptions::default()
        };
        let days = session.timeline(&timeline).await.unwrap();
        out.push((format!("timeline {name}"), json(days)));
        let suggest = SuggestOptions {
            window,
            ..SuggestOptions::default()
        };
        let suggestions = session.suggest(&suggest).await.unwrap();
        out.push((format!("suggest {name}"), json(suggestions)));
        for include_allowed in [false, true] {
            let simulate = SimulateOptions {
                window,
                include_allowed,
                with_who: true,
                ..SimulateOptions::default()
            };
            let evaluator = Evaluator::new(policy, None);
            let simulation = session.simulate(&evaluator, &simulate).await.unwrap();
            out.push((
                format!("simulate {name} {include_allowed}"),
                json(simulation),
            ));
        }
        let readiness = ReadinessOptions {
            window,
            ..ReadinessOptions::default()
        };
        let candidate = Candidate::Suggested { granularity: None };
        let ready = session
            .readiness(&candidate, None, &readiness)
            .await
            .unwrap();
        out.push((format!("readiness {name}"), json(ready)));
    }
    out
}

/// The summary is registered, smaller than the events, and every answer equals the
/// answer from the events alone.
fn assert_same_answers(data: &Path, fleet: &Path) {
    let rt = runtime();
    let session = Session::open(data, Some(&fleet.join("inventory.csv")), &[]).unwrap();
    let ctx = rt.block_on(session.context()).unwrap();
    let count = |table: &str| {
        let sql = match table {
            "summary" => "SELECT SUM(events) AS n, COUNT(*) AS rows FROM summary",
            _ => "SELECT COUNT(*) AS n, COUNT(*) AS rows FROM events",
        };
        let batches = rt
            .block_on(async { ctx.sql(sql).await?.collect().await })
            .unwrap();
        let value = |c: usize| {
            let column = batches[0].column(c);
            datafusion::arrow::compute::cast(column, &datafusion::arrow::datatypes::DataType::Int64)
                .unwrap()
                .as_any()
                .downcast_ref::<datafusion::arrow::array::Int64Array>()
                .unwrap()
                .value(0)
        };
        (value(0), value(1))
    };
    let (summed, summary_rows) = count(query::SUMMARY);
    let (events, _) = count("events");
    assert_eq!(summed, events, "the summary counts every stored event once");
    assert!(
        summary_rows * 2 < events,
        "{summary_rows} summary rows for {events} events"
    );
    assert_summary_is_the_events_grouped(&rt, &ctx);
    let policy = policy::read::read_file(&fleet.join("current-policy.xml"))
        .unwrap()
        .policy;
    let from_summary = rt.block_on(answers(&session, &policy));
    let from_events = rt.block_on(answers(&session.clone().without_summary(), &policy));
    assert_eq!(from_summary.len(), from_events.len());
    for ((name, a), (_, b)) in from_summary.iter().zip(&from_events) {
        assert!(
            a == b,
            "{name}: the summary's answer differs from the events'"
        );
    }
    assert_same_decisions(&rt, &session);
}

/// Deciding looks the app up among the recorded apps, and a decision is stale when its app
/// is no longer among them: the same with the summary as from the events.
fn assert_same_decisions(rt: &tokio::runtime::Runtime, session: &Session) {
    let dir = tempfile::tempdir().unwrap();
    let ws = workspace::Workspace::open_file(&dir.path().join("workspace.sqlite")).unwrap();
    let session = session.clone().with_workspace(std::sync::Arc::new(ws));
    let report = rt
        .block_on(session.report(&ReportOptions::default()))
        .unwrap();
    let group = report.groups.iter().find(|g| g.apps.len() >= 2).unwrap();
    let deciders = [session.clone(), session.clone().without_summary()];
    for (app, by) in group.apps.iter().zip(&deciders) {
        let request = query::DecideRequest {
            scope: workspace::Scope::Group(group.group.clone()),
            app_id: app.app_id.clone(),
            verdict: workspace::Verdict::Block,
            note: None,
            granularity: None,
            force: false,
            decided_by: "test".into(),
            expected_version: None,
        };
        rt.block_on(by.decide(request)).unwrap();
    }
    let views: Vec<Value> = deciders
        .iter()
        .map(|s| json(rt.block_on(s.decisions(&[], false)).unwrap()))
        .collect();
    assert_eq!(views[0].as_array().unwrap().len(), 2);
    assert_eq!(views[0], views[1]);
    assert!(
        views[0]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["stale"] == false),
        "{views:?}"
    );
}

/// Grouping the events by the summary's key columns and day gives the summary's rows
/// (after adding up a key's rows across files), in both directions.
fn assert_summary_is_the_events_grouped(
    rt: &tokio::runtime::Runtime,
    ctx: &datafusion::prelude::SessionContext,
) {
    let keys = schema::summary::KEY_COLUMNS.join(", ");
    let from_events = format!(
        "SELECT {keys}, date_trunc('day', time) AS day, MAX(binary_version_key) AS v,
           COUNT(*) AS events, MIN(time) AS first_seen, MAX(time) AS last_seen
         FROM events GROUP BY {keys}, date_trunc('day', time)"
    );
    let from_summary = format!(
        "SELECT {keys}, day, MAX(binary_version_key) AS v, SUM(events) AS events,
           MIN(first_seen) AS first_seen, MAX(last_seen) AS last_seen
         FROM summary GROUP BY {keys}, day"
    );
    for (a, b) in [(&from_events, &from_summary), (&from_summary, &from_events)] {
        let sql = format!("SELECT COUNT(*) AS n FROM (({a}) EXCEPT ({b}))");
        let batches = rt
            .block_on(async { ctx.sql(&sql).await?.collect().await })
            .unwrap();
        let n = batches[0]
            .column(0)
            .as_any()
            .downcast_ref::<datafusion::arrow::array::Int64Array>()
            .unwrap()
            .value(0);
        assert_eq!(n, 0, "rows in one and not the other:\n{a}\n{b}");
    }
}

#[test]
fn every_answer_from_the_summary_equals_the_answer_from_the_events() {
    let fleet = tempfile::tempdir().unwrap();
    generated_fleet(fleet.path());
    let data = tempfile::tempdir().unwrap();
    // Part of the fleet first, then all of it: the second ingest stages rows that are
    // already stored, and de-duplication rewrites its files (and their summaries).
    let mut hosts: Vec<_> = std::fs::read_dir(fleet.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    hosts.sort();
    ingest(data.path(), hosts[..hosts.len() / 2].to_vec());
    let second = ingest(data.path(), vec![fleet.path().to_owned()]);
    assert!(second.rows_duplicate > 0, "{second:?}");
    assert_same_answers(data.path(), fleet.path());
    // Compaction merges the files and writes the merged file's summary.
    let compacted = ingest::compact(data.path()).unwrap();
    assert!(compacted.files_merged >= 2, "{compacted:?}");
    assert_same_answers(data.path(), fleet.path());
}

#[test]
fn a_store_written_before_the_summary_gets_one_at_its_next_ingest() {
    let fleet = tempfile::tempdir().unwrap();
    generated_fleet(fleet.path());
    let data = tempfile::tempdir().unwrap();
    ingest(data.path(), vec![fleet.path().to_owned()]);
    // As an older lockstep left it: no summary files, none listed.
    let store = schema::Store::new(data.path());
    let mut manifest = store.read_manifest().unwrap();
    for file in &mut manifest.files {
        std::fs::remove_file(store.resolve(file.summary.as_deref().unwrap())).unwrap();
        file.summary = None;
    }
    store.write_manifest(&manifest).unwrap();
    let rt = runtime();
    let session =
        Session::open(data.path(), Some(&fleet.path().join("inventory.csv")), &[]).unwrap();
    let ctx = rt.block_on(session.context()).unwrap();
    assert!(
        !ctx.table_exist(query::SUMMARY).unwrap(),
        "without every file's summary the events answer"
    );
    let again = ingest(data.path(), vec![fleet.path().to_owned()]);
    assert_eq!(again.rows_new, 0);
    assert!(store.read_manifest().unwrap().summaries().is_some());
    assert_same_answers(data.path(), fleet.path());
}
