#!/usr/bin/env bash
# `lockstep simulate` over the 10 M-event store of bench/report.sh with a RULES-rule candidate
# policy (default 500) made from the store's own evidence by bench/make_policy.py. Prints the
# best of RUNS wall times and events/s (target: under 10 s on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
RULES="${RULES:-500}"
RUNS="${RUNS:-3}"
BENCH_DIR="${BENCH_DIR:-target/bench-report}"
if [ ! -f "$BENCH_DIR/data/lockstep-store.json" ]; then
    bench/report.sh >/dev/null # builds the 10 M-event store
fi
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"
python3 bench/make_policy.py "$BENCH_DIR/data" "$RULES" >"$BENCH_DIR/policy.xml"
events=$(python3 -c "import json,sys; print(sum(f['rows'] for f in json.load(open(sys.argv[1]))['files']))" "$BENCH_DIR/data/lockstep-store.json")
best=$(for _ in $(seq "$RUNS"); do
    /usr/bin/time -f "%e %M" "$bin" simulate --format json --data "$BENCH_DIR/data" \
        --inventory "$BENCH_DIR/inventory.csv" --policy "$BENCH_DIR/policy.xml" 2>&1 >/dev/null | tail -1
done | sort -n | head -1)
awk -v n="$events" -v r="$RULES" -v t="${best% *}" -v m="${best#* }" 'BEGIN {
    printf "%d events, %d-rule policy: lockstep simulate %.2f s (%.0f events/s), peak RSS %.0f MiB (target < 10 s)\n", n, r, t, n / t, m / 1024 }'
