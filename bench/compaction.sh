#!/usr/bin/env bash
# Report time on a store made of INGESTS small ingests (default 1,000), before and after
# `lockstep store compact`, in the same run (issue: collectors, "Many small ingests").
#
#   bench/compaction.sh
#   INGESTS=200 bench/compaction.sh
# The store is built with LOCKSTEP_AUTO_COMPACT=off, so ingests leave their small files as
# continuous collection would without compaction. Prints the best of RUNS report times,
# the file counts, the compaction's time and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
INGESTS="${INGESTS:-1000}"
RUNS="${RUNS:-3}"
BENCH_DIR="${BENCH_DIR:-target/bench-compaction}"
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"

rm -rf "$BENCH_DIR"
"$bin" -q generate --out "$BENCH_DIR/logs" --hosts "$INGESTS" --groups 10 --days 14 \
    --events $((INGESTS * 200)) >/dev/null
cp "$BENCH_DIR/logs/inventory.csv" "$BENCH_DIR/inventory.csv"
for host in "$BENCH_DIR"/logs/*/; do
    LOCKSTEP_AUTO_COMPACT=off "$bin" -q ingest --data "$BENCH_DIR/data" "$host" >/dev/null
done
rm -rf "$BENCH_DIR/logs"

files() { python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["files"]))' "$BENCH_DIR/data/lockstep-store.json"; }
best() { sort -n | head -1; }
report() {
    for _ in $(seq "$RUNS"); do
        /usr/bin/time -f "%e" "$bin" report --format json --data "$BENCH_DIR/data" \
            --inventory "$BENCH_DIR/inventory.csv" 2>&1 >/dev/null | tail -1
    done | best
}
files_before=$(files)
before=$(report)
compact_s=$( { /usr/bin/time -f "%e" "$bin" -q store compact --data "$BENCH_DIR/data" >/dev/null; } 2>&1 | tail -1)
files_after=$(files)
after=$(report)
awk -v fb="$files_before" -v fa="$files_after" -v b="$before" -v a="$after" -v c="$compact_s" 'BEGIN {
    printf "report on %d small files: %.2f s; compacted in %.2f s to %d files: %.2f s; %.1fx faster\n", fb, b, c, fa, a, b / a }'
