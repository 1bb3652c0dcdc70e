#!/usr/bin/env bash
# Fleet scale on one machine (issue: fleet scale): a store of SLICES x SLICE_EVENTS events,
# built in slices so the EVTX never needs the disk all at once (each slice generated with its
# own seed and a window after the previous one, ingested, its logs deleted), then every
# question timed as a whole `lockstep` process, beside its peer where one exists (DuckDB over
# the same Parquet for the report, evtx_dump on the same files for ingest), with peak RSS.
#
#   bench/scale.sh                                  # 10 x 10 M = 100 M events
#   SLICES=1 bench/scale.sh                         # 10 M events
#   SLICES=2 SLICE_EVENTS=1000000 bench/scale.sh    # a quick run
#
# Targets at 100 M events (2 cores, 24 GiB): report < 5 s and faster than DuckDB; readiness
# < 10 s; simulate with a 500-rule candidate < 20 s and < 3 GiB; suggest < 10 s; the first
# /api/v1/groups answer after an ingest < 10 s; ingest >= 2x evtx_dump and <= 512 MiB.
# The store is kept under BENCH_DIR for the next run with the same sizes; a slice's EVTX
# needs about 1.3 KB of disk per event while it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
SLICES="${SLICES:-10}"
SLICE_EVENTS="${SLICE_EVENTS:-10000000}"
HOSTS="${HOSTS:-2000}"
GROUP_COUNT="${GROUP_COUNT:-10}"
THREADS="${THREADS:-2}"
BENCH_DIR="${BENCH_DIR:-target/bench-scale}"
# The evtx crate's own CLI (`cargo install evtx --version 0.15.1`), not python-evtx's script
# of the same name that the test tools' virtual environment has.
EVTX_DUMP="${EVTX_DUMP:-$HOME/.cargo/bin/evtx_dump}"
if [ -z "${BIN:-}" ]; then
    cargo build --release -q -p lockstep
    BIN="${CARGO_TARGET_DIR:-target}/release/lockstep"
fi
python3 -c 'import duckdb' || { echo "needs DuckDB: pip install -r .ci/requirements.txt" >&2; exit 1; }
data="$BENCH_DIR/data"
inventory="$BENCH_DIR/inventory.csv"
shape="$SLICES x $SLICE_EVENTS events, $HOSTS hosts, $GROUP_COUNT groups"
total=$((SLICES * SLICE_EVENTS))

# "seconds peak-KiB" of a command (its output discarded).
measure() { /usr/bin/time -f "%e %M" "$@" 2>&1 >/dev/null | tail -1; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f MiB", k / 1024 }'; }

ingest_line=""
if [ "$(cat "$BENCH_DIR/shape" 2>/dev/null)" != "$shape" ]; then
    rm -rf "$BENCH_DIR"
    mkdir -p "$BENCH_DIR"
    for i in $(seq 0 $((SLICES - 1))); do
        logs="$BENCH_DIR/logs-$i"
        start=$(date -u -d "2026-01-05 + $((i * 30)) days" +%F)
        "$BIN" -q generate --out "$logs" --hosts "$HOSTS" --groups "$GROUP_COUNT" --days 30 \
            --events "$SLICE_EVENTS" --seed $((100 + i)) --start "$start" --forwarded 4 \
            --wef-coverage 50 >/dev/null
        if [ "$i" = 0 ]; then
            cp "$logs/inventory.csv" "$inventory"
        fi
        # The last slice is timed against evtx_dump on the same files, into a store that
        # already holds the others (ingest must not slow down as the store grows).
        if [ "$i" = $((SLICES - 1)) ]; then
            read -r secs kib <<<"$(measure "$BIN" -q ingest --threads "$THREADS" --data "$data" "$logs")"
            peer="-"
            ratio="-"
            if [ -x "$EVTX_DUMP" ]; then
                started=$(date +%s.%N)
                find "$logs" -name '*.evtx' -print0 | xargs -0 -n1 "$EVTX_DUMP" -o jsonl -t "$THREADS" >/dev/null
                dump_secs=$(awk -v s="$started" -v e="$(date +%s.%N)" 'BEGIN { print e - s }')
                peer=$(awk -v n="$SLICE_EVENTS" -v s="$dump_secs" 'BEGIN { printf "%.0f/s", n / s }')
                ratio=$(awk -v d="$dump_secs" -v s="$secs" 'BEGIN { printf "%.2fx", d / s }')
            fi
            rate=$(awk -v n="$SLICE_EVENTS" -v s="$secs" 'BEGIN { printf "%.0f/s", n / s }')
            ingest_line=$(printf '%-34s %12s %12s %8s %10s' "ingest (the last slice)" "$rate" "$peer" "$ratio" "$(mib "$kib")")
        else
            "$BIN" -q ingest --threads "$THREADS" --data "$data" "$logs" >/dev/null 2>&1
        fi
        rm -rf "$logs"
    done
    echo "$shape" >"$BENCH_DIR/shape"
fi

# A store kept from before the summary table gets it once, at its next ingest or compaction.
if python3 -c "import json,sys; sys.exit(all(f.get('summary') for f in json.load(open(sys.argv[1]))['files']))" "$data/lockstep-store.json"; then
    read -r secs kib <<<"$(measure "$BIN" -q store compact --data "$data")"
    echo "summary table added to the kept store: $secs s, $(mib "$kib")"
fi
events=$(python3 -c "import json,sys; print(sum(f['rows'] for f in json.load(open(sys.argv[1]))['files']))" "$data/lockstep-store.json")
bytes=$(du -sb "$data" | cut -f1)
python3 bench/make_policy.py "$data" 500 >"$BENCH_DIR/policy.xml"
on_store=(--data "$data" --inventory "$inventory")

printf '%s: %d events in the store, %.1f bytes per event (%s), %s\n' "$(date -u +%F)" "$events" \
    "$(awk -v b="$bytes" -v n="$events" 'BEGIN { print b / n }')" "$shape" "$(nproc) cores"
# The summary table ingest keeps beside the events (docs/store.md), in rows.
summary_rows=$(python3 - "$data" <<'PY'
import json, sys, duckdb
root = sys.argv[1]
files = [f"{root}/{f['summary']}" for f in json.load(open(f"{root}/lockstep-store.json"))["files"] if f.get("summary")]
print(duckdb.sql(f"select count(*) from read_parquet({files})").fetchall()[0][0] if files else 0)
PY
)
printf 'summary table: %d rows (%.1f events per row)\n' "$summary_rows" \
    "$(awk -v s="$summary_rows" -v n="$events" 'BEGIN { print (s > 0 ? n / s : 0) }')"
printf '%-34s %12s %12s %8s %10s\n' question lockstep peer ratio "peak RSS"
if [ -n "$ingest_line" ]; then
    echo "$ingest_line"
fi
row() { # name, "secs kib", peer seconds or -
    read -r secs kib <<<"$2"
    local ratio="-" peer="-"
    if [ "$3" != "-" ]; then
        peer=$(printf '%.2f s' "$3")
        ratio=$(awk -v l="$secs" -v p="$3" 'BEGIN { printf "%.2fx", l / p }')
    fi
    printf '%-34s %12s %12s %8s %10s\n' "$1" "$(printf '%.2f s' "$secs")" "$peer" "$ratio" "$(mib "$kib")"
}
duckdb_s=$(python3 bench/report_duckdb.py "$data" "$inventory" | cut -d' ' -f1)
row "report (all groups)" "$(measure "$BIN" report --format json "${on_store[@]}")" "$duckdb_s"
row "readiness (all groups)" "$(measure "$BIN" readiness --format json "${on_store[@]}")" -
row "simulate (500-rule candidate)" \
    "$(measure "$BIN" simulate --format json --policy "$BENCH_DIR/policy.xml" "${on_store[@]}")" -
row "suggest (all groups)" "$(measure "$BIN" suggest --format json "${on_store[@]}")" -

# The first /api/v1/groups answer of a server just started on the store (nothing cached).
token="bench-token-$(date +%s%N)"
out=$(mktemp)
cp "$inventory" "$data/inventory.csv"
LOCKSTEP_TOKEN="$token" "$BIN" serve --data "$data" --listen 127.0.0.1:0 >"$out" 2>"$BENCH_DIR/server.log" &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -f "$out"' EXIT
address=$(.ci/served-address "$out" "$server")
status_and_time=$(curl -sS -o /dev/null -w '%{http_code} %{time_total}' -H "Authorization: Bearer $token" "http://$address/api/v1/groups")
read -r status first <<<"$status_and_time"
server_kib=$(awk '/VmHWM/ { print $2 }' "/proc/$server/status")
if [ "$status" = 200 ]; then
    row "GET /api/v1/groups (first answer)" "$first $server_kib" -
else
    # Said, not fatal: the table above stays, and the server log says why.
    printf '%-34s %12s %12s %8s %10s\n' "GET /api/v1/groups (first answer)" "HTTP $status" - - "$(mib "$server_kib")"
    echo "  (after $first s; the reason is in $BENCH_DIR/server.log)"
fi
