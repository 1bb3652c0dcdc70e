#!/usr/bin/env bash
# Ingest of the same generated events as EVTX, event XML and Winlogbeat NDJSON, in the
# same run (issue: collectors, "Speed"): events/s and peak RSS for each form, and each text
# form's ratio to EVTX (target: at least 150,000 events/s on 2 threads, at most 512 MiB).
#
#   bench/forms.sh                  # 1 M events
#   EVENTS=200000 bench/forms.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-1000000}"
THREADS="${THREADS:-2}"
BENCH_DIR="${BENCH_DIR:-target/bench-forms}"
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"

rm -rf "$BENCH_DIR"
for form in evtx xml winlogbeat; do
    "$bin" -q generate --out "$BENCH_DIR/$form" --hosts 200 --groups 10 --days 14 \
        --forwarded 4 --events "$EVENTS" --format "$form" >/dev/null
done
evtx_rate=""
for form in evtx xml winlogbeat; do
    out=$( { /usr/bin/time -f "%e %M" "$bin" -q ingest --threads "$THREADS" \
        --data "$BENCH_DIR/data-$form" "$BENCH_DIR/$form" >/dev/null; } 2>&1 | tail -1)
    read -r seconds kib <<<"$out"
    rate=$(awk -v n="$EVENTS" -v s="$seconds" 'BEGIN { printf "%.0f", n / s }')
    [ -z "$evtx_rate" ] && evtx_rate=$rate
    awk -v f="$form" -v r="$rate" -v e="$evtx_rate" -v m="$kib" 'BEGIN {
        printf "%-10s %10d events/s  %6.0f MiB peak  %.2fx EVTX\n", f, r, m / 1024, r / e }'
done
rm -rf "$BENCH_DIR"
