#!/usr/bin/env bash
# Write-rate and memory benchmark of `lockstep generate` (issue: workspace and sample-logs).
#
# Generates EVENTS AppLocker events (default 10 M) twice, as per-host files and as one
# Windows Event Forwarding collector file, and prints events/s, MB/s, peak RSS and CPU use
# (user+sys / wall: ~2.0 means both cores busy). Needs about 1.3 KB of disk per event
# (13 GB for 10 M) under BENCH_DIR (default: target/bench-generate, removed afterwards).
#
#   bench/generate.sh            # 10 M events
#   EVENTS=1000000 bench/generate.sh
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-10000000}"
BENCH_DIR="${BENCH_DIR:-target/bench-generate}"
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"
trap 'rm -rf "$BENCH_DIR"' EXIT

run() {
    local name="$1"; shift
    rm -rf "$BENCH_DIR"
    local stats; stats=$(mktemp)
    /usr/bin/time -f "%e %U %S %M" -o "$stats" "$bin" -q generate --out "$BENCH_DIR" --events "$EVENTS" "$@" >/dev/null
    read -r wall user sys rss_kb <"$stats"
    local bytes; bytes=$(du -sb "$BENCH_DIR" | cut -f1)
    awk -v n="$name" -v e="$EVENTS" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss_kb" -v b="$bytes" 'BEGIN {
        printf "%-22s %10d events %8.1f s %10.0f events/s %7.1f MB/s  peak RSS %6.1f MiB  CPU %.2f cores  (%.1f GB)\n",
            n, e, w, e / w, b / 1e6 / w, r / 1024, (u + s) / w, b / 1e9 }'
    rm -f "$stats"
}

run "per-host files" --hosts 2000 --groups 10 --days 30
run "one collector file" --hosts 2000 --groups 10 --days 30 --forwarded 1
