#!/usr/bin/env bash
# Runs the benchmark scenarios of docs/benchmarks.md, the edge, the floor and the peers (Pushpin,
# nats-server's WebSocket listener) side by side in one run: the server under test pinned to
# core 0; nats-server with JetStream, the load generator (which publishes), and the peers'
# helpers (adic-peer-bridge, adic-peer-origin) to core 1.
#
#   PRESET=comparison loadgen/bench.sh   # the full comparison, every scenario and server once (~1 h)
#   loadgen/bench.sh                 # everything, default durations, three runs (hours)
#   SCENARIOS="idle fanout" STEP=10s RUNS=1 loadgen/bench.sh
#   SCENARIOS=burst SERVERS="edge pushpin nats-ws" loadgen/bench.sh
#   SCENARIOS="storm storm-old" SERVERS="edge nats-ws" RUNS=1 loadgen/bench.sh   # reconnect storms (ws)
#   SCENARIOS=filter RUNS=1 loadgen/bench.sh   # filtered vs unfiltered fan-out (edge and peers)
#
# Reports (one JSON per load run) and a summary go to $OUT (target/bench/<time>/).
set -euo pipefail
cd "$(dirname "$0")/.."

# PRESET=comparison: every scenario, every server, one run, sized to finish in about an hour on
# this two-core machine (fan-out at 5,000 clients stepping 1k to 160k deliveries/s, 15 s a step).
# Any variable set explicitly still wins.
if [ "${PRESET:-}" = comparison ]; then
  : "${RUNS:=1}" "${FANOUT_CLIENTS:=5000}" "${RATES:=0.2 0.5 1 2 4 8 16 24 32}" "${STEP:=15s}"
  : "${IDLE_STEPS:=2000 6000 10000}" "${HOLD_CLIENTS:=10000}" "${HOLD_FOR:=60s}"
  : "${BURST_WAIT:=60s}" "${FILTER_FOR:=20s}"
elif [ -n "${PRESET:-}" ]; then
  echo "unknown PRESET=$PRESET (known: comparison)" >&2; exit 2
fi
SCENARIOS=${SCENARIOS:-"idle fanout hold burst storm storm-old filter"}
SERVERS=${SERVERS:-"edge floor pushpin nats-ws"}
TRANSPORTS=${TRANSPORTS:-"ws sse"}
RUNS=${RUNS:-3}
IDLE_STEPS=${IDLE_STEPS:-"5000 10000 19000"}
FANOUT_CLIENTS=${FANOUT_CLIENTS:-10000}
RATES=${RATES:-"10 20 40 80 160 320 640"}
# 0: run every rate step even after one fails (p99 > 100 ms or loss), to compare servers at the
# same load beyond the point where one of them stops being sustainable.
STOP_AT_FAILURE=${STOP_AT_FAILURE:-1}
STEP=${STEP:-30s}
HOLD_CLIENTS=${HOLD_CLIENTS:-19000}
HOLD_FOR=${HOLD_FOR:-300s}
BURST_CLIENTS=${BURST_CLIENTS:-1000}
BURST_EVENTS=${BURST_EVENTS:-5000}
BURST_WAIT=${BURST_WAIT:-120s}
# Reconnect storms (the edge only, WebSocket): every client resumes at once with ?since=<cursor>.
STORM_CLIENTS=${STORM_CLIENTS:-10000}
STORM_BACK=${STORM_BACK:-100}          # cursor this many events back from the newest (in the ring)
STORM_PREFILL=${STORM_PREFILL:-1000}   # events published before the storm
STORM_OLD_CLIENTS=${STORM_OLD_CLIENTS:-1000}
STORM_OLD_RING=${STORM_OLD_RING:-1000} # the edge's --ring-events for storm-old
STORM_OLD_BACK=${STORM_OLD_BACK:-4000} # older than that ring: replayed from JetStream
STORM_OLD_PREFILL=${STORM_OLD_PREFILL:-5000}
STORM_RATE=${STORM_RATE:-10}           # events/s published during a storm
STORM_WAIT=${STORM_WAIT:-60s}          # at most this long for everyone to catch up
# Filtered fan-out (the edge and the peers; the floor has no filters): the same clients, first
# everyone taking every event at FILTER_RATE, then everyone at FILTER_RATE / FILTER_SPREAD (about
# the filtered run's deliveries/s), then each client one kind (?events=<kind>) out of the
# FILTER_SPREAD kinds the run publishes most, at FILTER_RATE. The peers get each event on its
# kind's channel or subject for that run (the bridge's --per-kind): they filter by channel.
FILTER_CLIENTS=${FILTER_CLIENTS:-10000}
FILTER_RATE=${FILTER_RATE:-8}          # events/s, sustainable for everyone-gets-all
FILTER_SPREAD=${FILTER_SPREAD:-8}      # kinds the clients are spread over
FILTER_FOR=${FILTER_FOR:-30s}
OUT=${OUT:-target/bench/$(date +%Y%m%d-%H%M%S)}

# Every server gets the hard open-files limit (the edge and the floor also raise it themselves).
ulimit -n "$(ulimit -Hn)"
BUILD=(-p adic-loadgen)
case " $SERVERS " in *" edge "*) BUILD+=(-p adic-edge) ;; esac
cargo build --release -q "${BUILD[@]}"
BIN=target/release
PEERS=loadgen/peers
mkdir -p "$OUT"
WORK=$(mktemp -d)
PIDS=()          # nats-server with JetStream
SERVER_PID=""    # the server under test, while it runs
HELPERS=()       # its helpers (bridge, origin), while they run
cleanup() {
  for pid in "${PIDS[@]}" $SERVER_PID "${HELPERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() { # port
  for _ in $(seq 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  echo "nothing listens on 127.0.0.1:$1" >&2; return 1
}

NATS_PORT=$((20000 + RANDOM % 20000))
taskset -c 1 nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$WORK/nats" >"$OUT/nats.log" 2>&1 &
PIDS+=($!)
NATS="nats://127.0.0.1:$NATS_PORT"
wait_port "$NATS_PORT"

start_helper() { # name args... — a peer's helper, on the load core
  local name=$1; shift
  taskset -c 1 "$BIN/$name" "$@" >>"$OUT/$name.log" 2>&1 &
  HELPERS+=($!)
}
bridges_ready() {
  local n
  n=$(grep -c "bridge ready" "$OUT/adic-peer-bridge.log" 2>/dev/null || true)
  echo "${n:-0}"
}
BRIDGE_ARGS=()   # extra bridge arguments for the next start_server
start_bridge() { # args... — returns once the bridge consumes the stream
  local before
  before=$(bridges_ready)
  start_helper adic-peer-bridge --nats-url "$NATS" "$@" "${BRIDGE_ARGS[@]}"
  for _ in $(seq 200); do
    [ "$(bridges_ready)" -gt "$before" ] && return 0
    sleep 0.1
  done
  echo "adic-peer-bridge did not start" >&2; return 1
}
start_server() { # edge|floor|pushpin|nats-ws [edge args...]
  HELPERS=()
  case $1 in
    edge)
      taskset -c 0 "$BIN/adic-edge" serve --nats-url "$NATS" --listen 127.0.0.1:9121 \
        --no-dashboard "${@:2}" >>"$OUT/edge.log" 2>&1 &
      SERVER_PID=$!
      for _ in $(seq 200); do curl -sf http://127.0.0.1:9121/readyz >/dev/null && break; sleep 0.1; done ;;
    floor)
      taskset -c 0 "$BIN/adic-floor" --nats-url "$NATS" --ws-listen 127.0.0.1:9200 \
        --sse-listen 127.0.0.1:9201 >>"$OUT/floor.log" 2>&1 &
      SERVER_PID=$!
      sleep 1 ;;
    pushpin)
      # Pushpin is a process tree (condure, zurl, pushpin-proxy, pushpin-handler): all of it
      # inherits the core-0 affinity, and the load generator measures the whole tree.
      rm -rf "$WORK/pushpin" && cp -r "$PEERS/pushpin" "$WORK/pushpin"
      (cd "$WORK/pushpin" && exec taskset -c 0 pushpin --config "$WORK/pushpin/pushpin.conf") \
        >>"$OUT/pushpin.log" 2>&1 &
      SERVER_PID=$!
      wait_port 9400 && wait_port 5561
      start_helper adic-peer-origin --listen 127.0.0.1:9301
      wait_port 9301
      start_bridge --pushpin-publish http://127.0.0.1:5561/publish/ ;;
    nats-ws)
      # With NATS_WS_JS (storms), JetStream on, so its clients can resume.
      local js=()
      [ -z "${NATS_WS_JS:-}" ] || { rm -rf "$WORK/nats-ws-js"; js=(-js -sd "$WORK/nats-ws-js"); }
      taskset -c 0 nats-server -c "$PEERS/nats-ws/nats.conf" "${js[@]}" >>"$OUT/nats-ws.log" 2>&1 &
      SERVER_PID=$!
      wait_port 9412 && wait_port 9411
      start_bridge --nats-ws-url nats://127.0.0.1:9412 ;;
  esac
}
stop_server() {
  local tree
  tree=$(pgrep -P "$SERVER_PID" || true)
  for pid in "$SERVER_PID" "${HELPERS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "$SERVER_PID" "${HELPERS[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Pushpin's runner stops its children; any it left behind are ours to end.
  for pid in $tree; do
    case "$(ps -o comm= -p "$pid" 2>/dev/null)" in condure|zurl|pushpin-*) kill "$pid" ;; esac
  done
  SERVER_PID=""
  HELPERS=()
  # Keep Pushpin's own logs (its scratch folder is replaced at the next start).
  if [ -d "$WORK/pushpin/log" ]; then
    for f in "$WORK/pushpin/log"/*.log; do cat "$f" >>"$OUT/pushpin-$(basename "$f")"; done
    rm -rf "$WORK/pushpin/log"
  fi
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/9400) 2>/dev/null || break; sleep 0.1; done
}
supports() { # server transport: whether that server serves that transport
  case "$1/$2" in nats-ws/sse) return 1 ;; *) return 0 ;; esac
}
address() { # server transport
  case "$1/$2" in
    edge/*) echo 127.0.0.1:9121 ;;
    floor/ws) echo 127.0.0.1:9200 ;;
    floor/sse) echo 127.0.0.1:9201 ;;
    pushpin/*) echo 127.0.0.1:9400 ;;
    nats-ws/ws) echo 127.0.0.1:9411 ;;
  esac
}
concurrency() { # server: handshakes in flight
  # Pushpin answers 502 when more than about 100 requests to the origin are in flight (the ZeroMQ
  # high-water mark between pushpin-proxy and zurl); 32 at a time never failed here.
  case $1 in pushpin) echo 32 ;; *) echo 256 ;; esac
}
client() { # server transport: what the load generator's clients speak
  case "$1/$2" in nats-ws/ws) echo nats-ws ;; *) echo "$2" ;; esac
}
load() { # label server transport args...
  local label=$1 server=$2 transport=$3; shift 3
  taskset -c 1 "$BIN/adic-loadgen" --label "$label" --server "$(address "$server" "$transport")" \
    --transport "$(client "$server" "$transport")" --connect-concurrency "$(concurrency "$server")" \
    --nats-url "$NATS" --server-pid "$SERVER_PID" \
    --report "$OUT/$label.json" "$@" >/dev/null 2>>"$OUT/loadgen.log"
  # The edge's own counters (deliveries, conflations, slow closes) beside the client's view.
  if [ "$server" = edge ]; then curl -sf http://127.0.0.1:9121/metrics >"$OUT/$label.metrics" || true; fi
  python3 - "$OUT/$label.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
lat = r["latency"]
burst = f'  last delivery {r["last_delivery_ms"]:.0f} ms' if r.get("last_delivery_ms") is not None else ""
if r["label"].startswith("filter-"):
    us = r["server_cpu_secs"] / r["received"] * 1e6 if r.get("server_cpu_secs") and r["received"] else 0
    burst = f'  filter {r["filter_spread"] or "all"} expected {r["expected"]} wrong kind {r["wrong_kind"]} progress {r.get("progress_markers", 0)} server µs/delivery {us:.2f}'
if r.get("storm_back") is not None:
    burst = (f'  storm back {r["storm_back"]} caught up {r["caught_up"]} in {r["caught_up_ms"] or 0:.0f} ms '
             f'max consumers {r["max_consumers"]} closes {r["closes"]}')
print(f'{r["label"]:<38} conn {r["connected"]:>6}/{r["connections"]:<6} rss/conn {r["server_kib_per_connection"] or 0:7.2f} KiB  '
      f'deliv/s {r["deliveries_per_sec"]:>10.0f}  p50 {lat["p50_ms"]:7.2f}  p99 {lat["p99_ms"]:7.2f} ms  '
      f'lost {r["lost"]} ooo {r["out_of_order"]}  cores {["%.2f" % c for c in r["core_busy"]]}  server {r["server_cpu"]}{burst}')
EOF
}

for run in $(seq "$RUNS"); do
  for scenario in $SCENARIOS; do
    for server in $SERVERS; do
      for transport in $TRANSPORTS; do
        supports "$server" "$transport" || continue
        case $scenario in
          idle)
            for n in $IDLE_STEPS; do
              start_server "$server"
              load "idle-$server-$transport-$n-r$run" "$server" "$transport" --connections "$n" --settle 5s
              stop_server
            done ;;
          fanout)
            for rate in $RATES; do
              start_server "$server"
              label="fanout-$server-$transport-$rate-r$run"
              load "$label" "$server" "$transport" --connections "$FANOUT_CLIENTS" --rate "$rate" --duration "$STEP"
              stop_server
              [ "$STOP_AT_FAILURE" = 0 ] && continue
              python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); sys.exit(0 if r["latency"]["p99_ms"] <= 100 and r["lost"] == 0 else 1)' "$OUT/$label.json" || break
            done ;;
          hold)
            [ "$transport" = ws ] || continue
            start_server "$server"
            load "hold-$server-$transport-$HOLD_CLIENTS-r$run" "$server" "$transport" --connections "$HOLD_CLIENTS" \
              --rate 0.1 --duration "$HOLD_FOR" --drain 5s
            stop_server ;;
          storm|storm-old)
            # Many clients resuming at once: the edge by cursor (from its ring, or JetStream pages
            # for storm-old); nats-ws clients each with a JetStream consumer of their own on that
            # server, as nats.ws resumes. Pushpin and the floor keep no history to resume from.
            [ "$transport" = ws ] || continue
            case $server in edge|nats-ws) ;; *) continue ;; esac
            if [ "$scenario" = storm ]; then
              clients=$STORM_CLIENTS back=$STORM_BACK prefill=$STORM_PREFILL edge_args=()
            else
              clients=$STORM_OLD_CLIENTS back=$STORM_OLD_BACK prefill=$STORM_OLD_PREFILL
              edge_args=(--ring-events "$STORM_OLD_RING")
            fi
            peer_args=()
            if [ "$server" = nats-ws ]; then
              edge_args=() NATS_WS_JS=1 BRIDGE_ARGS=(--nats-ws-stream adic-ws)
              peer_args=(--peer-stream adic-ws --peer-nats-url nats://127.0.0.1:9412)
            fi
            start_server "$server" "${edge_args[@]}"
            load "$scenario-$server-$transport-$clients-r$run" "$server" "$transport" --connections "$clients" \
              --storm-back "$back" --storm-prefill "$prefill" --rate "$STORM_RATE" --drain "$STORM_WAIT" \
              "${peer_args[@]}"
            stop_server
            NATS_WS_JS="" BRIDGE_ARGS=() ;;
          filter)
            [ "$server" = floor ] && continue
            slow_rate=$(python3 -c "print($FILTER_RATE / $FILTER_SPREAD)")
            for leg in all slow one; do
              filter_args=() BRIDGE_ARGS=() rate=$FILTER_RATE
              case $leg in
                all) label="filter-$server-$transport-0-r$run" ;;
                slow) label="filter-slow-$server-$transport-$FILTER_SPREAD-r$run" rate=$slow_rate ;;
                one) label="filter-$server-$transport-$FILTER_SPREAD-r$run" BRIDGE_ARGS=(--per-kind)
                     filter_args=(--filter-spread "$FILTER_SPREAD") ;;
              esac
              start_server "$server"
              load "$label" "$server" "$transport" --connections "$FILTER_CLIENTS" \
                --rate "$rate" --duration "$FILTER_FOR" "${filter_args[@]}"
              stop_server
              BRIDGE_ARGS=()
            done ;;
          burst)
            start_server "$server"
            load "burst-$server-$transport-$BURST_EVENTS-r$run" "$server" "$transport" --connections "$BURST_CLIENTS" \
              --burst "$BURST_EVENTS" --drain "$BURST_WAIT"
            stop_server ;;
        esac
      done
    done
  done
done
python3 loadgen/summarize.py "$OUT" | tee "$OUT/summary.md"
