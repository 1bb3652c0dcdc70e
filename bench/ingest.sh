#!/usr/bin/env bash
# Ingest throughput and memory against evtx_dump (issue: ingest).
#
# For each input size (default 1 GB and 4 GB of EVTX), generates a fleet as one Windows Event
# Forwarding collector file plus per-host files, then times, alternating, RUNS times each:
#   evtx_dump -o jsonl -t THREADS FILE > /dev/null   (the evtx crate's own CLI, per file)
#   lockstep ingest --threads THREADS DIR            (EVTX -> Parquet store, fresh each run)
# and prints records/s for both (best and median run), the ratio, and lockstep's peak RSS.
#
#   bench/ingest.sh                  # 1 GB and 4 GB, 3 runs each
#   SIZES_GB="1" RUNS=5 bench/ingest.sh
# Needs evtx_dump (`cargo install evtx --version 0.15.1`), about 2.5x SIZE of free disk
# under BENCH_DIR (default target/bench-ingest, removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES_GB="${SIZES_GB:-1 4}"
THREADS="${THREADS:-2}"
RUNS="${RUNS:-3}"
BENCH_DIR="${BENCH_DIR:-target/bench-ingest}"
EVTX_DUMP="${EVTX_DUMP:-$(command -v evtx_dump || echo "$HOME/.cargo/bin/evtx_dump")}"
[ -x "$EVTX_DUMP" ] || { echo "evtx_dump not found: cargo install evtx --version 0.15.1" >&2; exit 1; }
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"
trap 'rm -rf "$BENCH_DIR"' EXIT

seconds_since() { awk -v s="$1" -v e="$(date +%s.%N)" 'BEGIN { print e - s }'; }
# best and median of the numbers on stdin
best_median() { sort -g | awk '{ v[NR] = $1 } END { print v[1], v[int((NR + 1) / 2)] }'; }

for gb in $SIZES_GB; do
    rm -rf "$BENCH_DIR"
    # ~1.7 KB of EVTX per event in this mix (collector + per-host files).
    events=$((gb * 600000))
    "$bin" -q generate --out "$BENCH_DIR/logs" --hosts 400 --groups 8 --days 30 \
        --events "$events" --forwarded 1 --wef-coverage 70 >/dev/null
    bytes=$(du -sb "$BENCH_DIR/logs" | cut -f1)
    records=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['applocker_events']+m['noise_records'])" "$BENCH_DIR/logs/manifest.json")

    dump_runs=() ingest_runs=() rss_max=0
    for _ in $(seq "$RUNS"); do
        start=$(date +%s.%N)
        find "$BENCH_DIR/logs" -name '*.evtx' -print0 | xargs -0 -n 1 "$EVTX_DUMP" -o jsonl -t "$THREADS" >/dev/null
        dump_runs+=("$(seconds_since "$start")")

        rm -rf "$BENCH_DIR/data"
        stats=$(mktemp)
        /usr/bin/time -f "%e %M" -o "$stats" "$bin" -q ingest --threads "$THREADS" --data "$BENCH_DIR/data" "$BENCH_DIR/logs" >/dev/null
        read -r ingest_s rss_kb <"$stats"
        rm -f "$stats"
        ingest_runs+=("$ingest_s")
        rss_max=$((rss_kb > rss_max ? rss_kb : rss_max))
    done
    read -r dump_best dump_median < <(printf '%s\n' "${dump_runs[@]}" | best_median)
    read -r ingest_best ingest_median < <(printf '%s\n' "${ingest_runs[@]}" | best_median)
    awk -v gb="$(awk -v b="$bytes" 'BEGIN { print b / 1e9 }')" -v r="$records" -v runs="$RUNS" \
        -v db="$dump_best" -v dm="$dump_median" -v ib="$ingest_best" -v im="$ingest_median" -v m="$rss_max" 'BEGIN {
        printf "%.2f GB, %d records, %d runs each (best | median):\n", gb, r, runs
        printf "  evtx_dump       %6.2f s (%.0f rec/s) | %6.2f s (%.0f rec/s)\n", db, r / db, dm, r / dm
        printf "  lockstep ingest %6.2f s (%.0f rec/s) | %6.2f s (%.0f rec/s)\n", ib, r / ib, im, r / im
        printf "  ratio (lockstep rec/s / evtx_dump rec/s): best %.2fx, median %.2fx; peak RSS %.0f MiB\n", db / ib, dm / im, m / 1024 }'
done
