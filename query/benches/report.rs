//! The per-group report and `simulate` over a generated store of 200,000 events (built once
//! in a temp folder). The 10 M-event runs are `bench/report.sh` and `bench/simulate.sh`.

use std::sync::atomic::AtomicU64;

use criterion::{Criterion, criterion_group, criterion_main};
use datafusion::prelude::SessionContext;
use query::report::{ReportOptions, blocked_apps_by_group};

fn report(c: &mut Criterion) {
    let work = tempfile::tempdir().unwrap();
    let logs = work.path().join("logs");
    let opts = generate::Options {
        hosts: 400,
        groups: 8,
        days: 30,
        events: 200_000,
        ..Default::default()
    };
    generate::generate(&opts, &logs, &AtomicU64::new(0)).unwrap();
    let data = work.path().join("data");
    let ingest_opts = ingest::Options {
        data_dir: data.clone(),
        paths: vec![logs.clone()],
        strict: false,
        threads: 2,
    };
    ingest::ingest(&ingest_opts, &ingest::Progress::default()).unwrap();
    let inventory = query::Inventory::from_path(&logs.join("inventory.csv")).unwrap();

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let ctx = SessionContext::new();
    runtime
        .block_on(query::register_store(&ctx, &query::Store::new(&data)))
        .unwrap();
    let mut group = c.benchmark_group("report");
    group.sample_size(10);
    group.bench_function("blocked_apps_by_group_200k", |b| {
        b.iter(|| {
            runtime
                .block_on(blocked_apps_by_group(
                    &ctx,
                    &inventory,
                    &ReportOptions::default(),
                ))
                .unwrap()
        })
    });
    // simulate: every group's suggested rules (flagged ones included) as one candidate.
    let suggestions = runtime
        .block_on(query::suggest::suggest_rules(
            &ctx,
            &inventory,
            None,
            &Default::default(),
        ))
        .unwrap();
    let mut candidate = policy::Policy::default();
    for g in &suggestions {
        candidate.merge(&policy::suggest::to_policy(
            &g.suggestions,
            true,
            policy::EnforcementMode::AuditOnly,
            None,
        ));
    }
    let evaluator = policy::Evaluator::new(&candidate, None);
    group.bench_function("simulate_200k", |b| {
        b.iter(|| {
            runtime
                .block_on(query::simulate::simulate(
                    &ctx,
                    &inventory,
                    &evaluator,
                    &Default::default(),
                ))
                .unwrap()
        })
    });
    group.finish();
}

criterion_group!(benches, report);
criterion_main!(benches);
