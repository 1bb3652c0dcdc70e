//! Ingest throughput against `evtx_dump` on a generated fleet of about 1.2 GB (a Windows
//! Event Forwarding collector file plus per-host files, the shape of `bench/ingest.sh`),
//! measured in the same run with the same thread count:
//! - `lockstep_ingest`: `ingest::ingest` into a fresh store each iteration;
//! - `evtx_dump`: `evtx_dump -o jsonl -t 2 FILE > /dev/null` per file (the `evtx` crate's own
//!   CLI, `cargo install evtx --version 0.15.1`; skipped with a note when it is not on PATH).
//!
//! Criterion prints both throughputs; the ratio of the mean times is printed at the end.
//! `LOCKSTEP_BENCH_EVENTS` changes the fleet size (600,000 AppLocker events ≈ 1.2 GB).
//! Peak memory is measured by `bench/ingest.sh`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};

const THREADS: usize = 2;

fn evtx_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(evtx_files(&path));
        } else if path.extension().is_some_and(|e| e == "evtx") {
            files.push(path);
        }
    }
    files
}

/// Runs `evtx_dump` over every file as `bench/ingest.sh` does.
fn dump_all(evtx_dump: &Path, files: &[PathBuf]) {
    for file in files {
        let status = Command::new(evtx_dump)
            .args(["-o", "jsonl", "-t", &THREADS.to_string()])
            .arg(file)
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "evtx_dump failed on {}", file.display());
    }
}

fn ingest_fleet(logs: &Path, data: &Path) {
    let _ = std::fs::remove_dir_all(data);
    let opts = ingest::Options {
        data_dir: data.to_owned(),
        paths: vec![logs.to_owned()],
        strict: false,
        threads: THREADS,
    };
    ingest::ingest(&opts, &ingest::Progress::default()).unwrap();
}

fn find_evtx_dump() -> Option<PathBuf> {
    let ok = |p: &Path| {
        Command::new(p)
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    let on_path = PathBuf::from("evtx_dump");
    if ok(&on_path) {
        return Some(on_path);
    }
    let cargo_bin = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/evtx_dump");
    ok(&cargo_bin).then_some(cargo_bin)
}

/// Times `run` for criterion, keeping each measurement for the ratio printed at the end.
fn timed(
    b: &mut Bencher,
    times: &mut Vec<(&'static str, Duration, u32)>,
    name: &'static str,
    run: impl Fn(),
) {
    b.iter_custom(|iters| {
        let start = Instant::now();
        for _ in 0..iters {
            run();
        }
        let elapsed = start.elapsed();
        times.push((name, elapsed, iters as u32));
        elapsed
    })
}

fn ingest_vs_evtx_dump(c: &mut Criterion) {
    let events = std::env::var("LOCKSTEP_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600_000);
    let work = tempfile::tempdir().unwrap();
    let logs = work.path().join("logs");
    let fleet = generate::Options {
        hosts: 400,
        groups: 8,
        days: 30,
        events,
        forwarded: 1,
        wef_coverage: 70,
        ..Default::default()
    };
    let summary = generate::generate(&fleet, &logs, &AtomicU64::new(0)).unwrap();
    let files = evtx_files(&logs);
    let data = work.path().join("data");
    println!(
        "fleet: {} files, {:.2} GB, {} records",
        files.len(),
        summary.bytes as f64 / 1e9,
        summary.applocker_events + summary.noise_records
    );

    let mut group = c.benchmark_group("ingest_1gb");
    group.throughput(Throughput::Bytes(summary.bytes));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(60));
    let mut times: Vec<(&str, Duration, u32)> = Vec::new();
    group.bench_function("lockstep_ingest", |b| {
        timed(b, &mut times, "lockstep_ingest", || {
            ingest_fleet(&logs, &data)
        })
    });
    match find_evtx_dump() {
        Some(evtx_dump) => group.bench_function("evtx_dump", |b| {
            timed(b, &mut times, "evtx_dump", || dump_all(&evtx_dump, &files))
        }),
        None => {
            println!("evtx_dump not found (cargo install evtx --version 0.15.1): not compared");
            group.finish();
            return;
        }
    };
    group.finish();
    let mean = |name: &str| {
        let (total, iters) = times
            .iter()
            .filter(|(n, _, _)| *n == name)
            .fold((Duration::ZERO, 0), |(t, i), (_, d, n)| (t + *d, i + n));
        total.as_secs_f64() / f64::from(iters.max(1))
    };
    let (ours, theirs) = (mean("lockstep_ingest"), mean("evtx_dump"));
    println!(
        "lockstep ingest {ours:.2} s, evtx_dump {theirs:.2} s per fleet (means over every \
         timed run): lockstep ingest at {:.2}x evtx_dump's records/s",
        theirs / ours
    );
}

criterion_group!(benches, ingest_vs_evtx_dump);
criterion_main!(benches);
