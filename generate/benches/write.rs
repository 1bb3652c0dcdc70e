//! How fast the simulator turns events into EVTX bytes: a small fleet generated into a temp
//! folder, per-host files and one collector file. Throughput is in AppLocker events.
//! The 10 M-event run with peak memory and CPU use is `bench/generate.sh`.

use std::sync::atomic::AtomicU64;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const EVENTS: u64 = 20_000;

fn options(forwarded: usize) -> generate::Options {
    generate::Options {
        hosts: 40,
        groups: 5,
        days: 14,
        events: EVENTS,
        forwarded,
        force: true,
        ..Default::default()
    }
}

fn write(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    for (name, forwarded) in [("per_host_files", 0), ("one_collector_file", 1)] {
        group.bench_function(name, |b| {
            b.iter_batched(
                || tempfile::tempdir().unwrap(),
                |dir| {
                    generate::generate(&options(forwarded), dir.path(), &AtomicU64::new(0)).unwrap()
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, write);
criterion_main!(benches);
