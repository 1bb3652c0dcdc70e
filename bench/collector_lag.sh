#!/usr/bin/env bash
# Collector lag (issue: collectors, "Speed"): Winlogbeat NDJSON appended at RATE events/s for
# DURATION seconds to a file that `lockstep collect --interval INTERVAL` watches; for each
# tenth of a second appended, how long until the collector has stored it (its committed
# offset in DATA/collector.json passes the bytes written). Target: every append stored
# within the interval + 5 s.
#
#   bench/collector_lag.sh                      # 5,000 events/s for 60 s, --interval 30
#   RATE=5000 DURATION=20 BIN=target/debug/lockstep bench/collector_lag.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RATE="${RATE:-5000}"
DURATION="${DURATION:-60}"
INTERVAL="${INTERVAL:-30}"
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p lockstep
    BIN="${CARGO_TARGET_DIR:-target}/release/lockstep"
fi
work=$(mktemp -d)
collector=""
cleanup() {
    [ -n "$collector" ] && kill -TERM "$collector" 2>/dev/null && wait "$collector" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

"$BIN" -q generate --out "$work/logs" --hosts 50 --groups 5 --days 14 --format winlogbeat \
    --events $((RATE * DURATION)) >/dev/null
mkdir "$work/drop"
"$BIN" -q collect --data "$work/data" --watch "$work/drop" --interval "$INTERVAL" \
    >/dev/null 2>"$work/collect.log" &
collector=$!
python3 bench/append_and_watch.py --logs "$work/logs" --file "$work/drop/stream.ndjson" \
    --status "$work/data/collector.json" --rate "$RATE" --duration "$DURATION" \
    --interval "$INTERVAL" --binary "$BIN"
