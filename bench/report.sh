#!/usr/bin/env bash
# Per-group report on a generated store of EVENTS events (default 10 M), against DuckDB
# running the same queries over the same Parquet files, in the same run (issue: report).
#
#   bench/report.sh                    # 10 M events
#   EVENTS=1000000 bench/report.sh
# Prints each engine's best of RUNS wall times and the ratio. lockstep's time is the whole
# `lockstep report --format json` process (start, registering the store, both queries,
# output); DuckDB's is its two queries inside an already started Python process.
# Needs about 1.3 KB of disk per event for the EVTX (deleted after ingest) under BENCH_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-10000000}"
RUNS="${RUNS:-3}"
BENCH_DIR="${BENCH_DIR:-target/bench-report}"
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"
python3 -c 'import duckdb' || { echo "needs DuckDB: pip install -r .ci/requirements.txt" >&2; exit 1; }

if [ ! -f "$BENCH_DIR/data/lockstep-store.json" ] || [ "$(cat "$BENCH_DIR/events" 2>/dev/null)" != "$EVENTS" ]; then
    rm -rf "$BENCH_DIR"
    "$bin" -q generate --out "$BENCH_DIR/logs" --hosts 2000 --groups 10 --days 30 --events "$EVENTS" >/dev/null
    cp "$BENCH_DIR/logs/inventory.csv" "$BENCH_DIR/inventory.csv"
    "$bin" -q ingest --data "$BENCH_DIR/data" "$BENCH_DIR/logs" >/dev/null
    rm -rf "$BENCH_DIR/logs"
    echo "$EVENTS" >"$BENCH_DIR/events"
fi

best() { sort -n | head -1; }
lockstep_s=$(for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e" "$bin" report --format json --data "$BENCH_DIR/data" --inventory "$BENCH_DIR/inventory.csv" 2>&1 >/dev/null | tail -1
done | best)
duckdb_s=$(for _ in $(seq "$RUNS"); do
    python3 bench/report_duckdb.py "$BENCH_DIR/data" "$BENCH_DIR/inventory.csv" | cut -d' ' -f1
done | best)
awk -v n="$EVENTS" -v l="$lockstep_s" -v d="$duckdb_s" 'BEGIN {
    printf "%d events: lockstep report %.2f s, DuckDB %.2f s, ratio %.2fx (target <= 1.5x and < 2 s)\n", n, l, d, l / d }'
