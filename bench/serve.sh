#!/usr/bin/env bash
# `lockstep serve` under load: wrk (a real HTTP load generator) against a store of EVENTS
# events (default 1 M), on loopback, for a bounded time per endpoint (issue: serve).
#
#   bench/serve.sh                                # 1 M events, 64 connections, 10 s each
#   EVENTS=200000 CONNECTIONS=32 DURATION=5 bench/serve.sh
# For each endpoint: the first (uncached) answer's time, then p50/p99 latency and requests/s
# of cached answers at CONNECTIONS connections. Targets: p99 < 50 ms, >= 2,000 req/s.
# wrk and the server share this machine's cores. Needs wrk (apt-get install wrk) and curl.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-1000000}"
CONNECTIONS="${CONNECTIONS:-64}"
DURATION="${DURATION:-10}"
BENCH_DIR="${BENCH_DIR:-target/bench-serve}"
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
cargo build --release -q -p lockstep
bin="${CARGO_TARGET_DIR:-target}/release/lockstep"

if [ ! -f "$BENCH_DIR/data/lockstep-store.json" ] || [ "$(cat "$BENCH_DIR/events" 2>/dev/null)" != "$EVENTS" ]; then
    rm -rf "$BENCH_DIR"
    "$bin" -q generate --out "$BENCH_DIR/logs" --hosts 400 --groups 8 --days 30 --events "$EVENTS" >/dev/null
    "$bin" -q ingest --data "$BENCH_DIR/data" "$BENCH_DIR/logs" >/dev/null
    cp "$BENCH_DIR/logs/inventory.csv" "$BENCH_DIR/data/inventory.csv"
    rm -rf "$BENCH_DIR/logs"
    echo "$EVENTS" >"$BENCH_DIR/events"
fi

token="bench-token-$(date +%s%N)"
out=$(mktemp)
LOCKSTEP_TOKEN="$token" "$bin" serve --data "$BENCH_DIR/data" --listen 127.0.0.1:0 \
    >"$out" 2>"$BENCH_DIR/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$out"' EXIT
address=$(.ci/served-address "$out" "$server")
auth="Authorization: Bearer $token"
group=$(curl -fsS -H "$auth" "http://$address/api/v1/inventory" | awk -F, 'NR == 2 { print $2 }')

printf '%d events, %d connections, %d s per endpoint, wrk and server on %d cores\n' \
    "$EVENTS" "$CONNECTIONS" "$DURATION" "$(nproc)"
for path in "/api/v1/groups/$group/blocked" "/api/v1/readiness" "/api/v1/groups"; do
    first=$(curl -fsS -o /dev/null -w '%{time_total}' -H "$auth" "http://$address$path")
    report=$(wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -H "$auth" "http://$address$path")
    awk -v path="$path" -v first="$first" '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        $1 == "50%" { p50 = ms($2) }
        $1 == "99%" { p99 = ms($2) }
        $1 == "Requests/sec:" { rps = $2 }
        /Non-2xx/ { bad = $NF }
        END {
            printf "%-34s first %6.0f ms | cached p50 %6.2f ms p99 %6.2f ms %9.0f req/s%s%s\n",
                path, first * 1000, p50, p99, rps,
                (p99 < 50 && rps >= 2000) ? "  (target met)" : "  (target: p99 < 50 ms, >= 2000 req/s)",
                bad ? "  NON-2XX: " bad : "" }' <<<"$report"
done
