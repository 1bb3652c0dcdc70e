#!/usr/bin/env bash
# The local engine against Ballista with 1 and 2 executors on this machine (issue: Ballista),
# on the store of bench/report.sh (10 M events by default; made first if missing) with the
# 500-rule candidate of bench/simulate.sh.
#
#   bench/ballista.sh                  # report and simulate, best of RUNS each
#   QUESTIONS="report" bench/ballista.sh
# Prints each question's best wall time per engine (the whole lockstep process) and the ratio
# to local, and checks that every engine printed the same JSON. Scheduler and executors are
# the stock binaries, built from this workspace's lockfile; their logs go to BENCH_DIR/logs.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${EVENTS:-10000000}"
RUNS="${RUNS:-3}"
QUESTIONS="${QUESTIONS:-report simulate}"
BENCH_DIR="${BENCH_DIR:-target/bench-report}"
PROFILE="${PROFILE:-release}"   # PROFILE=dev tries the script quickly on a small store
cargo build --profile "$PROFILE" -q -p lockstep -p ballista-scheduler -p ballista-executor \
    --features lockstep/ballista-cluster --bin lockstep --bin ballista-scheduler --bin ballista-executor
out="${CARGO_TARGET_DIR:-target}/$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")"
if [ ! -f "$BENCH_DIR/data/lockstep-store.json" ] || [ "$(cat "$BENCH_DIR/events" 2>/dev/null)" != "$EVENTS" ]; then
    EVENTS="$EVENTS" RUNS=1 bash bench/report.sh >/dev/null
fi
[ -f "$BENCH_DIR/policy.xml" ] || python3 bench/make_policy.py "$BENCH_DIR/data" 500 >"$BENCH_DIR/policy.xml"
data=$(realpath "$BENCH_DIR/data")
logs="$BENCH_DIR/logs"
mkdir -p "$logs"

pids=()
stop_cluster() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    pids=()
}
trap stop_cluster EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# A scheduler and N executors with their default settings (each offers every core).
start_cluster() {
    local executors=$1 port
    port=$(free_port)
    "$out/ballista-scheduler" --bind-host 127.0.0.1 --external-host 127.0.0.1 --bind-port "$port" \
        --min-ready-executors "$executors" >"$logs/scheduler.log" 2>&1 &
    pids+=($!)
    for i in $(seq "$executors"); do
        "$out/ballista-executor" --bind-host 127.0.0.1 --external-host 127.0.0.1 \
            --scheduler-host 127.0.0.1 --scheduler-port "$port" --scheduler-connect-timeout-seconds 60 \
            --bind-port "$(free_port)" --bind-grpc-port "$(free_port)" --bind-health-port "$(free_port)" \
            --work-dir "$(mktemp -d)" >"$logs/executor-$i.log" 2>&1 &
        pids+=($!)
    done
    for _ in $(seq 600); do
        curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && { echo "ballista://127.0.0.1:$port"; return; }
        sleep 0.2
    done
    echo "the cluster did not start: see $logs" >&2
    exit 1
}

question_args() {
    case "$1" in
        report) echo "report --format json" ;;
        simulate) echo "simulate --format json --policy $BENCH_DIR/policy.xml" ;;
        readiness) echo "readiness --format json" ;;
        *) echo "unknown question $1" >&2; exit 1 ;;
    esac
}

# Best wall time of RUNS runs of a question on an engine; its JSON goes to $logs/Q-LABEL.json.
time_question() {
    local q=$1 engine=$2 label=$3 best=""
    for _ in $(seq "$RUNS"); do
        # shellcheck disable=SC2046
        /usr/bin/time -f "%e" -o "$logs/time" "$out/lockstep" $(question_args "$q") --data "$data" \
            --inventory "$BENCH_DIR/inventory.csv" --engine "$engine" >"$logs/$q-$label.json" 2>"$logs/$q-$label.err" \
            || { echo "$q on $engine failed:" >&2; cat "$logs/$q-$label.err" >&2; exit 1; }
        best=$(printf '%s\n%s\n' "$best" "$(tail -1 "$logs/time")" | grep . | sort -n | head -1)
    done
    echo "$best"
}

declare -A seconds
for q in $QUESTIONS; do seconds[$q-local]=$(time_question "$q" local local); done
for executors in 1 2; do
    engine=$(start_cluster "$executors")
    for q in $QUESTIONS; do seconds[$q-$executors]=$(time_question "$q" "$engine" "ballista-$executors"); done
    stop_cluster
done

printf '%s events, best of %s (s)\n%-10s %8s %12s %12s\n' "$EVENTS" "$RUNS" question local "1 executor" "2 executors"
for q in $QUESTIONS; do
    l=${seconds[$q-local]} one=${seconds[$q-1]} two=${seconds[$q-2]}
    awk -v q="$q" -v l="$l" -v a="$one" -v b="$two" 'BEGIN {
        printf "%-10s %8.2f %6.2f (%4.1fx) %6.2f (%4.1fx)\n", q, l, a, a / l, b, b / l }'
    for label in ballista-1 ballista-2; do
        cmp -s "$logs/$q-local.json" "$logs/$q-$label.json" || { echo "$q: $label printed a different answer" >&2; exit 1; }
    done
done
echo "answers identical on every engine"
