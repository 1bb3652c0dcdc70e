//! Ingest throughput on the bundled sample fleet (5 MB of per-host and collector EVTX) into
//! a fresh store each time. The comparison with `evtx_dump` on 1 GB and 4 GB inputs, with
//! peak memory, is `bench/ingest.sh`.

use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

fn ingest_sample_logs(c: &mut Criterion) {
    let logs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-logs");
    let bytes: u64 = std::fs::read_dir(&logs)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .flat_map(|p| {
            if p.is_dir() {
                std::fs::read_dir(p)
                    .unwrap()
                    .flatten()
                    .map(|e| e.path())
                    .collect()
            } else {
                vec![p]
            }
        })
        .filter(|p| p.extension().is_some_and(|e| e == "evtx"))
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(bytes));
    group.sample_size(10);
    group.bench_function("sample_logs", |b| {
        b.iter_batched(
            || tempfile::tempdir().unwrap(),
            |data| {
                let opts = ingest::Options {
                    data_dir: data.path().to_owned(),
                    paths: vec![logs.clone()],
                    strict: false,
                    threads: 2,
                };
                ingest::ingest(&opts, &ingest::Progress::default()).unwrap()
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, ingest_sample_logs);
criterion_main!(benches);
