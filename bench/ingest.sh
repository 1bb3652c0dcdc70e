#!/usr/bin/env bash
# Ingest throughput and memory against evtx_dump (issue: ingest).
#
# For each input size (default 1 GB and 4 GB of EVTX), generates a fleet as one Windows Event
# Forwarding collector file plus per-host files, then times in the same run:
#   evtx_dump -o jsonl -t THREADS FILE > /dev/null   (the evtx crate's own CLI, per file)
#   lockstep ingest --threads THREADS DIR            (EVTX -> Parquet store)
# and prints records/s for both, the ratio, and lockstep's peak RSS.
#
#   bench/ingest.sh                  # 1 GB and 4 GB
#   SIZES_GB="1" bench/ingest.sh
# Needs evtx_dump (`cargo install evtx --version 0.15.1`), about 2.5x SIZE of free disk
# under BENCH_DIR (default target/bench-ingest, removed afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
SIZES_GB="${SIZES_GB:-1 4}"
THREADS="${THREADS:-2}"
BENCH_DIR="${BENCH_DIR:-target/bench-ingest}"
EVTX_DUMP="${EVTX_DUMP:-$(command -v evtx_dump || echo "$HOME/.cargo/bin/evtx_dump")}"
[ -x "$EVTX_DUMP" ] || { echo "evtx_dump not found: cargo install evtx --version 0.15.1" >&2; exit 1; }
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"
trap 'rm -rf "$BENCH_DIR"' EXIT

for gb in $SIZES_GB; do
    rm -rf "$BENCH_DIR"
    # ~1.7 KB of EVTX per event in this mix (collector + per-host files).
    events=$((gb * 600000))
    "$bin" -q generate --out "$BENCH_DIR/logs" --hosts 400 --groups 8 --days 30 \
        --events "$events" --forwarded 1 --wef-coverage 70 >/dev/null
    bytes=$(du -sb "$BENCH_DIR/logs" | cut -f1)
    records=$(python3 -c "import json,sys; m=json.load(open(sys.argv[1])); print(m['applocker_events']+m['noise_records'])" "$BENCH_DIR/logs/manifest.json")

    start=$(date +%s.%N)
    find "$BENCH_DIR/logs" -name '*.evtx' -print0 | xargs -0 -n 1 "$EVTX_DUMP" -o jsonl -t "$THREADS" >/dev/null
    dump_s=$(awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')

    stats=$(mktemp)
    /usr/bin/time -f "%e %M" -o "$stats" "$bin" -q ingest --threads "$THREADS" --data "$BENCH_DIR/data" "$BENCH_DIR/logs" >/dev/null
    read -r ingest_s rss_kb <"$stats"
    rm -f "$stats"
    awk -v gb="$(awk -v b="$bytes" 'BEGIN { print b / 1e9 }')" -v r="$records" -v d="$dump_s" -v i="$ingest_s" -v m="$rss_kb" 'BEGIN {
        printf "%.2f GB, %d records: evtx_dump %.1f s (%.0f rec/s)  lockstep ingest %.1f s (%.0f rec/s)  ratio %.2fx  peak RSS %.0f MiB\n",
            gb, r, d, r / d, i, r / i, d / i, m / 1024 }'
done
