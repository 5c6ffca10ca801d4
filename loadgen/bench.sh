#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/benchmarks.md, the edge and the floor side by side in one
# run: the server under test pinned to core 0, nats-server and the load generator to core 1.
#
#   loadgen/bench.sh                 # everything, default durations
#   SCENARIOS="idle fanout" STEP=10s loadgen/bench.sh
#
# Reports (one JSON per load run) and a summary go to $OUT (target/bench/<time>/).
set -euo pipefail
cd "$(dirname "$0")/.."

SCENARIOS=${SCENARIOS:-"idle fanout hold"}
SERVERS=${SERVERS:-"edge floor"}
TRANSPORTS=${TRANSPORTS:-"ws sse"}
IDLE_STEPS=${IDLE_STEPS:-"5000 10000 19000"}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-10000}
RATES=${RATES:-"10 20 40 80 160 320 640"}
STEP=${STEP:-30s}
HOLD_CLIENTS=${HOLD_CLIENTS:-19000}
HOLD_FOR=${HOLD_FOR:-300s}
OUT=${OUT:-target/bench/$(date +%Y%m%d-%H%M%S)}

cargo build --release -q -p adic-edge -p adic-loadgen
BIN=target/release
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

NATS_PORT=$((20000 + RANDOM % 20000))
taskset -c 1 nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$WORK/nats" >"$OUT/nats.log" 2>&1 &
PIDS+=($!)
NATS="nats://127.0.0.1:$NATS_PORT"
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$NATS_PORT") 2>/dev/null && break; sleep 0.1; done

SERVER_PID=""
start_server() { # edge|floor
  case $1 in
    edge)
      taskset -c 0 "$BIN/adic-edge" serve --nats-url "$NATS" --listen 127.0.0.1:9121 \
        --no-dashboard >>"$OUT/edge.log" 2>&1 &
      SERVER_PID=$!
      for _ in $(seq 200); do curl -sf http://127.0.0.1:9121/readyz >/dev/null && break; sleep 0.1; done ;;
    floor)
      taskset -c 0 "$BIN/adic-floor" --nats-url "$NATS" --ws-listen 127.0.0.1:9200 \
        --sse-listen 127.0.0.1:9201 >>"$OUT/floor.log" 2>&1 &
      SERVER_PID=$!
      sleep 1 ;;
  esac
  PIDS+=("$SERVER_PID")
}
stop_server() { kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
address() { # server transport
  case "$1/$2" in
    edge/*) echo 127.0.0.1:9121 ;;
    floor/ws) echo 127.0.0.1:9200 ;;
    floor/sse) echo 127.0.0.1:9201 ;;
  esac
}
load() { # label server transport args...
  local label=$1 server=$2 transport=$3; shift 3
  taskset -c 1 "$BIN/adic-loadgen" --label "$label" --server "$(address "$server" "$transport")" \
    --transport "$transport" --nats-url "$NATS" --server-pid "$SERVER_PID" \
    --report "$OUT/$label.json" "$@" >/dev/null 2>>"$OUT/loadgen.log"
  python3 - "$OUT/$label.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency"]
print(f'{r["label"]:<34} conn {r["connected"]:>6}/{r["connections"]:<6} rss/conn {r["server_kib_per_connection"] or 0:7.2f} KiB  '
      f'deliv/s {r["deliveries_per_sec"]:>10.0f}  p50 {lat["p50_ms"]:7.2f}  p99 {lat["p99_ms"]:7.2f} ms  '
      f'lost {r["lost"]} ooo {r["out_of_order"]}  cores {["%.2f" % c for c in r["core_busy"]]}  server {r["server_cpu"]}')
EOF
}

for scenario in $SCENARIOS; do
  for server in $SERVERS; do
    for transport in $TRANSPORTS; do
      case $scenario in
        idle)
          for n in $IDLE_STEPS; do
            start_server "$server"
            load "idle-$server-$transport-$n" "$server" "$transport" --connections "$n" --settle 5s
            stop_server
          done ;;
        fanout)
          for rate in $RATES; do
            start_server "$server"
            label="fanout-$server-$transport-$rate"
            load "$label" "$server" "$transport" --connections "$FANOUT_CLIENTS" --rate "$rate" --duration "$STEP"
            stop_server
            python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["latency"]["p99_ms"] <= 100 and r["lost"] == 0 else 1)' "$OUT/$label.json" || break
          done ;;
        hold)
          [ "$transport" = ws ] || continue
          start_server "$server"
          load "hold-$server-$transport-$HOLD_CLIENTS" "$server" "$transport" --connections "$HOLD_CLIENTS" \
            --rate 0.1 --duration "$HOLD_FOR" --drain 5s
          stop_server ;;
      esac
    done
  done
done
python3 loadgen/summarize.py "$OUT" | tee "$OUT/summary.md"
