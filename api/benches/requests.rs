//! One request through the router (auth, cache lookup, JSON), over a generated store of
//! 200,000 events: a cached page of a group's blocked apps, and the same page uncached (the
//! cache emptied before each request, so the report query runs). The load test with a real
//! HTTP client over sockets is `bench/serve.sh`.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use api::{AppState, Config, Tokens};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use criterion::{Criterion, criterion_group, criterion_main};
use tower::ServiceExt as _;

const TOKEN: &str = "bench-token-0123456789abcdef";

fn requests(c: &mut Criterion) {
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
    std::fs::copy(logs.join("inventory.csv"), data.join("inventory.csv")).unwrap();
    let group = query::Inventory::from_path(&data.join("inventory.csv"))
        .unwrap()
        .groups()
        .remove(0);
    let uri = format!("/api/v1/groups/{group}/blocked?limit=100");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let state = Arc::new(AppState::new(Config::new(
        data,
        Tokens::new(Some(TOKEN), None).unwrap(),
    )));
    let get = |state: Arc<AppState>| {
        let request = Request::get(&uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        async move {
            let response = api::router(state).oneshot(request).await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap()
        }
    };
    let mut bench = c.benchmark_group("serve");
    bench.sample_size(20);
    runtime.block_on(get(state.clone()));
    bench.bench_function("blocked_page_cached_200k", |b| {
        b.iter(|| runtime.block_on(get(state.clone())))
    });
    bench.bench_function("blocked_page_uncached_200k", |b| {
        b.iter(|| {
            let fresh = Arc::new(AppState::new(state.config.clone()));
            runtime.block_on(get(fresh))
        })
    });
    bench.finish();
}

criterion_group!(benches, requests);
criterion_main!(benches);
