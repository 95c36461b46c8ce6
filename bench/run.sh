#!/usr/bin/env bash
# Benchmark driver: plain Mosquitto against Mosquitto + mosquitto_chat.
#
# Starts every broker it needs on free loopback ports, runs each scenario
# against plain and then the plugin with each store of --stores, alternately
# per round (plain, memory, local-everysec, local-always, plain, ...), for
# --rounds rounds, with a fresh broker and a fresh state directory for every
# run, and prints per scenario and metric the median and min-max of each
# broker, and per store the store/plain ratio per round and its median.
#
#   bench/run.sh                              # all scenarios, 3 rounds, all stores
#   bench/run.sh --stores memory              # plain vs memory store only
#   bench/run.sh --only a,d --rounds 5 --duration 10
#   bench/run.sh --stores redis,redis-x --only a,d   # the cluster store (needs redis-server)
#   BUILD_DIR=/path/to/build bench/run.sh
#
# Scenarios (QoS 1, 100-byte bodies unless said):
#   a  1 -> 1, unlimited rate (window 32)
#   b  10 -> 10 on 10 channels
#   c  1 -> 1,000 subscribers of one group channel
#   d  1 -> 1 at a fixed 2,000 msg/s: latency
#   e  retry storm, 2 -> 2 on one channel, 20% of messages sent again with the
#      same id (plugin: no duplicate may reach a subscriber; plain: the same
#      load without retries)
#   f  reconnect storm: connects per second on 32 parallel connections, a
#      fresh token each (plugin) or anonymous (plain)
#   g  1 -> 1 at a fixed 12,000 msg/s: broker CPU per message at equal load
#      (at unlimited rate the faster broker also batches more per wake-up)
#   s  plugin only (plain Mosquitto has no sync; build/bench/syncbench): one
#      channel preloaded with 10,000 messages, one client syncs the whole
#      history again and again in pages of 1,000 while a pair runs live
#      traffic at 2,000 msg/s on another channel: messages synced per second,
#      live latency during the sync vs a baseline period without it
#
# Stores: memory (plugin_opt_store memory), local-everysec and local-always
# (plugin_opt_store local, plugin_opt_local_fsync everysec|always). The
# local-always store pays one fsync per message, so by default it runs only
# scenarios a and d (--always-only); this keeps the default run under 15 min
# on a 2-core machine (5 s measured + 2 s warm-up per run: about 11 min).
# Not in the default --stores: redis (plugin_opt_store redis, one node:
# publishers and subscribers on it) and redis-x (two nodes on one Redis:
# publishers on node1, subscribers on node2: chatbench --sub-port). Each of
# their runs starts its own redis-server (fresh, AOF with appendfsync always,
# no RDB) and its nodes (plugin_opt_local_fsync everysec), and records Redis'
# INFO (EVALSHA calls, socket reads) and node1's "redis stats" log line
# (waiting up to 11 s for it: it is logged every 10 s). By default they run
# only scenarios a and d (--redis-only); redis-x never runs s (syncbench has
# no --sub-port).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
ROUNDS=3
ONLY="a,b,c,d,e,f,g,s"
STORES="memory,local-everysec,local-always"
ALWAYS_ONLY="a,d"
REDIS_ONLY="a,d"
DURATION=5
WARMUP=2
KID_ALG=es256
OUT=""
KEEP=0
COMMAND="$0 $*"

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
  cat <<'TXT'
options:
  --rounds N        rounds of every scenario [3]
  --only LIST       scenarios to run, e.g. a,c [a,b,c,d,e,f,g,s]
  --stores LIST     plugin stores, each against plain: memory, local-everysec,
                    local-always, redis, redis-x [memory,local-everysec,local-always]
  --always-only L   scenarios the local-always store runs ("all": every one) [a,d]
  --redis-only L    scenarios the redis and redis-x stores run ("all": every one) [a,d]
  --duration S      measured seconds per run (s: the sync period) [5]
  --warmup S        warm-up seconds per run, not measured [2]
  --kid es256|hs256 token algorithm of the plugin runs [es256]
  --out DIR         keep results, configs and logs in DIR [a temp dir, removed]
env: BUILD_DIR (default <repo>/build) holding bench/chatbench, tools/chatctl,
     bench/syncbench, plugin/mosquitto_chat.so (scripts/build.sh builds them);
     REDIS_SERVER, REDIS_CLI (default: redis-server, redis-cli on PATH)
TXT
}

while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) ROUNDS="$2"; shift 2 ;;
    --only) ONLY="$2"; shift 2 ;;
    --stores) STORES="$2"; shift 2 ;;
    --always-only) ALWAYS_ONLY="$2"; shift 2 ;;
    --redis-only) REDIS_ONLY="$2"; shift 2 ;;
    --duration) DURATION="$2"; shift 2 ;;
    --warmup) WARMUP="$2"; shift 2 ;;
    --kid) KID_ALG="$2"; shift 2 ;;
    --out) OUT="$2"; KEEP=1; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$KID_ALG" in es256|hs256) ;; *) echo "run.sh: --kid must be es256 or hs256" >&2; exit 2 ;; esac

CHATBENCH="$BUILD_DIR/bench/chatbench"
SYNCBENCH="$BUILD_DIR/bench/syncbench"
CHATCTL="$BUILD_DIR/tools/chatctl"
PLUGIN="$BUILD_DIR/plugin/mosquitto_chat.so"
for f in "$CHATBENCH" "$SYNCBENCH" "$CHATCTL" "$PLUGIN"; do
  [ -e "$f" ] || { echo "run.sh: $f is missing; build first: BUILD_DIR=$BUILD_DIR scripts/build.sh" >&2; exit 1; }
done
command -v mosquitto >/dev/null || { echo "run.sh: mosquitto not found (scripts/install-deps.sh)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "run.sh: python3 is needed for the report" >&2; exit 1; }

# 1,000 subscribers take 3 descriptors each in the bench (libmosquitto keeps
# a socket pair per client) and one each in the broker.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 8192 ]; then
  echo "run.sh: warning: ulimit -n is $(ulimit -n); scenario c needs about 4,100 descriptors" >&2
fi

if [ -z "$OUT" ]; then OUT="$(mktemp -d /tmp/chatbench.XXXXXX)"; fi
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
RESULTS="$OUT/results.tsv"
: > "$RESULTS"

# Every server of the current run (brokers, redis-server), in start order;
# stopped by PID in reverse order at the end of the run (nodes before Redis).
SERVER_PIDS=()
BROKER_PID=""   # the broker chatbench measures (node1 of a cluster)
stop_pid() {
  local pid="$1"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_servers() {
  local i
  for (( i = ${#SERVER_PIDS[@]} - 1; i >= 0; i-- )); do stop_pid "${SERVER_PIDS[i]}"; done
  SERVER_PIDS=()
  BROKER_PID=""
}
cleanup() {
  stop_servers
  if [ "$KEEP" = 0 ]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Keys for the plugin runs, fresh for this invocation.
"$CHATCTL" keygen --out-private "$OUT/keys.private.json" --out-public "$OUT/keys.public.json" \
  --kid-prefix bench --force 2>/dev/null
KID="bench-$KID_ALG"

port_in_use() { [ -n "$(ss -Htln "sport = :$1" 2>/dev/null)" ]; }
is_redis() { [ "$1" = redis ] || [ "$1" = redis-x ]; }

# start_redis RUNDIR: a fresh redis-server on a free loopback port, its AOF
# (appendfsync always, as a cluster in production; no RDB) in RUNDIR; sets
# REDIS_PID and REDIS_PORT.
start_redis() {
  local dir="$1" attempt port pid
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + RANDOM % 12000 ))
    port_in_use "$port" && continue
    "$REDIS_SERVER" --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
      --dir "$dir" --logfile "$dir/redis.log" --daemonize no > "$dir/redis.out" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for _ in $(seq 1 100); do
      if [ "$("$REDIS_CLI" -p "$port" ping 2>/dev/null)" = PONG ] && ss -Htlnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"; then
        REDIS_PID=$pid
        REDIS_PORT=$port
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    stop_pid "$pid"
    unset 'SERVER_PIDS[${#SERVER_PIDS[@]}-1]'
  done
  echo "run.sh: could not start redis-server; see $dir/redis.log" >&2
  return 1
}

# start_broker plain|STORE DIR [NODE_ID]: starts a broker on a free port;
# sets STARTED_PID and STARTED_PORT and adds it to SERVER_PIDS. redis and
# redis-x nodes use the redis-server of REDIS_PORT.
start_broker() {
  local kind="$1" dir="$2" node_id="${3:-bench}" attempt port pid
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768-)
    port_in_use "$port" && continue
    {
      echo "listener $port 127.0.0.1"
      echo "persistence false"
      echo "set_tcp_nodelay true"
      # Subscribers that lag must not lose messages to the queue limit.
      echo "max_queued_messages 1000000"
      echo "log_dest file $dir/broker.log"
      echo "log_type error"
      echo "log_type warning"
      if is_redis "$kind"; then
        # The plugin's "redis stats" line (every 10 s) is information.
        echo "log_type notice"
        echo "log_type information"
      fi
      echo "connection_messages false"
      echo "user $(id -un)"
      if [ "$kind" = plain ]; then
        echo "allow_anonymous true"
      else
        echo "allow_anonymous false"
        echo "plugin $PLUGIN"
        case "$kind" in
          memory) echo "plugin_opt_store memory" ;;
          local-everysec|local-always)
            echo "plugin_opt_store local"
            echo "plugin_opt_local_fsync ${kind#local-}" ;;
          redis|redis-x)
            echo "plugin_opt_store redis"
            echo "plugin_opt_redis_url redis://127.0.0.1:$REDIS_PORT/0"
            echo "plugin_opt_local_fsync everysec" ;;
        esac
        echo "plugin_opt_jwks_file $OUT/keys.public.json"
        echo "plugin_opt_local_dir $dir"
        echo "plugin_opt_node_id $node_id"
      fi
    } > "$dir/mosquitto.conf"
    mosquitto -c "$dir/mosquitto.conf" > "$dir/broker.out" 2>&1 &
    pid=$!
    SERVER_PIDS+=("$pid")
    for _ in $(seq 1 100); do
      if ss -Htlnp "sport = :$port" 2>/dev/null | grep -q "pid=$pid,"; then
        STARTED_PID=$pid
        STARTED_PORT=$port
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    stop_pid "$pid"  # did not come up (port taken meanwhile?): another port
    unset 'SERVER_PIDS[${#SERVER_PIDS[@]}-1]'
  done
  echo "run.sh: could not start a $kind broker; see $dir/broker.out" >&2
  return 1
}

scenario_args() {  # scenario broker
  local common="--qos 1 --payload 100 --duration $DURATION --warmup $WARMUP"
  case "$1" in
    a) echo "$common --publishers 1 --subscribers 1 --window 32" ;;
    b) echo "$common --publishers 10 --subscribers 10 --channels 10 --window 32" ;;
    c) echo "$common --publishers 1 --subscribers 1000 --window 8" ;;
    d) echo "$common --publishers 1 --subscribers 1 --rate 2000" ;;
    e) if [ "$2" = chat ]; then echo "$common --publishers 2 --subscribers 2 --window 32 --retry-ratio 0.2"
       else echo "$common --publishers 2 --subscribers 2 --window 32"; fi ;;
    f) echo "--duration $DURATION --warmup $WARMUP --reconnect-storm --window 32" ;;
    g) echo "$common --publishers 1 --subscribers 1 --rate 12000" ;;
    s) echo "--history 10000 --page 1000 --rate 2000 --payload 100 --warmup 1 --baseline $(( DURATION > 3 ? DURATION - 2 : DURATION )) --duration $DURATION" ;;
    *) return 1 ;;
  esac
}

IFS=',' read -r -a SCENARIOS <<< "$ONLY"
for s in "${SCENARIOS[@]}"; do
  scenario_args "$s" plain >/dev/null || { echo "run.sh: unknown scenario '$s' (a-g, s)" >&2; exit 2; }
done
IFS=',' read -r -a STORE_LIST <<< "$STORES"
NEED_REDIS=0
for st in "${STORE_LIST[@]}"; do
  case "$st" in memory|local-everysec|local-always) ;;
    redis|redis-x) NEED_REDIS=1 ;;
    *) echo "run.sh: unknown store '$st' (memory, local-everysec, local-always, redis, redis-x)" >&2; exit 2 ;; esac
done
REDIS_SERVER="${REDIS_SERVER:-redis-server}"
REDIS_CLI="${REDIS_CLI:-redis-cli}"
if [ "$NEED_REDIS" = 1 ]; then
  for t in "$REDIS_SERVER" "$REDIS_CLI"; do
    command -v "$t" >/dev/null || { echo "run.sh: $t not found (the redis stores need redis-server and redis-cli)" >&2; exit 1; }
  done
fi
# store_runs STORE SCENARIO: whether that store runs that scenario.
store_runs() {
  case "$1" in
    local-always) [ "$ALWAYS_ONLY" = all ] || [[ ",$ALWAYS_ONLY," == *",$2,"* ]] ;;
    redis) [ "$REDIS_ONLY" = all ] || [[ ",$REDIS_ONLY," == *",$2,"* ]] ;;
    # syncbench has no --sub-port: the sync is a one-node measurement.
    redis-x) [ "$2" != s ] && { [ "$REDIS_ONLY" = all ] || [[ ",$REDIS_ONLY," == *",$2,"* ]]; } ;;
    *) true ;;
  esac
}

echo "== chatbench: plain Mosquitto vs Mosquitto + mosquitto_chat ($STORES)"
echo "command:   $COMMAND"
echo "machine:   $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/^Mem:/{print $2}') GiB, kernel $(uname -r)"
echo "mosquitto: $(mosquitto -h 2>/dev/null | head -1)"
BUILD_TYPE="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)"
SANITIZE="$(sed -n 's/^CHAT_SANITIZE:[A-Z]*=//p' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null)"
echo "plugin:    $PLUGIN (build ${BUILD_TYPE:-unknown}, tokens $KID)"
echo "stores:    $STORES; each on a fresh broker and state dir$( [[ ",$STORES," == *",local-always,"* ]] && [ "$ALWAYS_ONLY" != all ] && echo "; local-always (one fsync per message) runs only scenarios $ALWAYS_ONLY (--always-only)")"
if [ "$NEED_REDIS" = 1 ]; then
  echo "redis:     $("$REDIS_SERVER" --version | cut -d' ' -f1-3), a fresh one per run (AOF appendfsync always, no RDB); nodes with plugin_opt_local_fsync everysec; redis: 1 node, redis-x: publishers on node1, subscribers on node2$( [ "$REDIS_ONLY" != all ] && echo "; scenarios $REDIS_ONLY only (--redis-only)")"
fi
case "${SANITIZE^^}" in ON|TRUE|1|YES)
  echo "run.sh: WARNING: $BUILD_DIR is a sanitizer build (CHAT_SANITIZE=$SANITIZE): its numbers say nothing about production" >&2 ;;
esac
case "$BUILD_TYPE" in Debug|"")
  echo "run.sh: WARNING: $BUILD_DIR is not an optimised build (CMAKE_BUILD_TYPE=${BUILD_TYPE:-unset})" >&2 ;;
esac
echo "runs:      scenarios $ONLY, $ROUNDS round(s), ${WARMUP}s warm-up + ${DURATION}s measured per run (s: 1s warm-up, $(( DURATION > 3 ? DURATION - 2 : DURATION ))s live only, ${DURATION}s live + sync)"
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at start"
echo "results:   $OUT$( [ "$KEEP" = 0 ] && echo ' (removed at exit; --out DIR keeps them)')"
echo

# start_servers KIND RUNDIR: the servers of one run. Sets BROKER_PID and
# BROKER_PORT (the broker chatbench measures and publishes to), SUB_PORT (its
# subscribers' broker), EXTRA_PIDS (the other servers: redis-server, node2),
# NODE_DIRS (the brokers' directories).
start_servers() {
  local kind="$1" dir="$2"
  SUB_PORT="" EXTRA_PIDS="" NODE_DIRS=()
  if ! is_redis "$kind"; then
    start_broker "$kind" "$dir" || return 1
    BROKER_PID=$STARTED_PID BROKER_PORT=$STARTED_PORT SUB_PORT=$STARTED_PORT NODE_DIRS=("$dir")
    return 0
  fi
  start_redis "$dir" || return 1
  start_broker "$kind" "$dir/node1" node1 || return 1
  BROKER_PID=$STARTED_PID BROKER_PORT=$STARTED_PORT SUB_PORT=$STARTED_PORT NODE_DIRS=("$dir/node1")
  EXTRA_PIDS=$REDIS_PID
  if [ "$kind" = redis-x ]; then
    start_broker "$kind" "$dir/node2" node2 || return 1
    SUB_PORT=$STARTED_PORT NODE_DIRS+=("$dir/node2")
    EXTRA_PIDS="$EXTRA_PIDS,$STARTED_PID"
  fi
  # A node is ready once it has caught up with the cluster (channel snapshot,
  # presence, token ids loaded after its feed subscription). A channel
  # document saved on a node before that snapshot arrives can be dropped
  # again by it (the snapshot was read from Redis before the save reached
  # it): the subscriber's SUBACK is then 0x80. Wait for it, 10 s at most.
  local nd ok
  for nd in "${NODE_DIRS[@]}"; do
    ok=0
    for _ in $(seq 1 200); do
      if grep -q 'redis: caught up with the cluster' "$nd/broker.log" 2>/dev/null; then ok=1; break; fi
      sleep 0.05
    done
    [ "$ok" = 1 ] || echo "run.sh: $nd: no 'caught up with the cluster' line after 10 s; starting anyway" >&2
  done
}

# redis_record RUNDIR RESULT_JSON_FILE: after a redis run, Redis' INFO and
# node1's latest "redis stats" log line next to the result. The line is
# logged every 10 s once the count changed: wait (11 s at most) for one that
# covers every message the publishers had acknowledged.
redis_record() {
  local dir="$1" result="$2" want line
  "$REDIS_CLI" -p "$REDIS_PORT" INFO all > "$dir/redis-info.txt" 2>&1 || true
  want=$(python3 -c 'import json,sys; c=json.load(open(sys.argv[1])).get("correctness") or {}; print(max(0, c.get("messages_acked", 0) - c.get("retries_acked", 0)))' "$result" 2>/dev/null || echo 0)
  for _ in $(seq 1 110); do
    line=$(grep -o 'redis stats: [0-9]* messages committed' "$dir/node1/broker.log" 2>/dev/null | tail -1 | grep -o '[0-9][0-9]*' || true)
    if [ "$want" -gt 0 ] && [ -n "$line" ] && [ "$line" -ge "$want" ]; then break; fi
    [ "$want" -gt 0 ] || break
    kill -0 "$BROKER_PID" 2>/dev/null || break
    sleep 0.1
  done
}

run_one() {  # round scenario kind (plain or a store)
  local round="$1" s="$2" kind="$3" dir args json rc bench="$CHATBENCH"
  dir="$OUT/r$round-$s-$kind"
  if ! start_servers "$kind" "$dir"; then
    stop_servers
    printf '%s\t%s\t%s\t%s\n' "$s" "$round" "$kind" '{"ok":false,"errors":{"broker did not start":1}}' >> "$RESULTS"
    return
  fi
  args="$(scenario_args "$s" "$kind") --port $BROKER_PORT --broker-pid $BROKER_PID --json"
  if [ "$s" = s ]; then
    bench="$SYNCBENCH"
    args="$args --keys $OUT/keys.private.json --kid $KID"
  elif [ "$kind" != plain ]; then
    args="$args --mode chat --keys $OUT/keys.private.json --kid $KID"
    if [ "$SUB_PORT" != "$BROKER_PORT" ]; then args="$args --sub-port $SUB_PORT"; fi
    if [ -n "$EXTRA_PIDS" ]; then args="$args --extra-pids $EXTRA_PIDS"; fi
  fi
  echo "$kind: $bench $args" >> "$OUT/commands.txt"
  rc=0
  # shellcheck disable=SC2086
  json="$("$bench" $args 2> "$dir/chatbench.err")" || rc=$?
  local pid
  for pid in "${SERVER_PIDS[@]}"; do
    kill -0 "$pid" 2>/dev/null || echo "run.sh: a $kind server (pid $pid) died during r$round/$s; see the logs in $dir" >&2
  done
  if [ -z "$json" ]; then
    json="{\"ok\":false,\"errors\":{\"chatbench exited $rc without a result\":1}}"
  fi
  if is_redis "$kind"; then
    printf '%s\n' "$json" > "$dir/result.json"
    redis_record "$dir" "$dir/result.json"
    stop_servers
    json="$(python3 "$HERE/report.py" --attach-redis "$dir/result.json" "$dir")" || json="$(cat "$dir/result.json")"
    rm -rf "$dir/appendonlydir"  # the AOF: tens of MB per run
  else
    stop_servers
  fi
  local nd
  for nd in "${NODE_DIRS[@]}"; do rm -rf "$nd/chat.lmdb"; done  # the local store's data: up to ~100 MB per run
  printf '%s\t%s\t%s\t%s\n' "$s" "$round" "$kind" "$json" >> "$RESULTS"
  python3 "$HERE/report.py" --line "$RESULTS" >&2
}

START=$(date +%s)
for round in $(seq 1 "$ROUNDS"); do
  for s in "${SCENARIOS[@]}"; do
    [ "$s" = s ] || run_one "$round" "$s" plain  # plain Mosquitto has no sync
    for st in "${STORE_LIST[@]}"; do
      if store_runs "$st" "$s"; then run_one "$round" "$s" "$st"; fi
    done
  done
done
echo
echo "load:      $(cut -d' ' -f1-3 /proc/loadavg) (1/5/15 min) at end; $(( $(date +%s) - START )) s in all"
echo
python3 "$HERE/report.py" "$RESULTS"
echo
echo "chatbench commands of round 1 (ports and PIDs change every run; all in $OUT/commands.txt):"
awk -v n="$(grep -c . "$OUT/commands.txt")" -v r="$ROUNDS" 'NR <= n / r' "$OUT/commands.txt" | sed 's/^/  /'
