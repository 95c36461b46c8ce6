#!/usr/bin/env bash
# A mosquitto-chat cluster on this machine: one redis-server and N mosquitto
# nodes with the plugin, all on 127.0.0.1. Builds nothing: the plugin comes
# from $BUILD_DIR (default build; run scripts/build.sh first).
#
#   scripts/cluster.sh start  [--nodes 3] [--base-port 1891] [--redis-port 6390]
#                             [--dir run/cluster] [--store redis|local|memory]
#   scripts/cluster.sh status [--dir run/cluster]
#   scripts/cluster.sh stop   [--dir run/cluster]
#
# start: redis-server (only with --store redis) on 127.0.0.1:<redis-port> with
#   AOF, appendfsync always, no RDB snapshots, its files in <dir>/redis/; then
#   node<i> (i = 1..N) on 127.0.0.1:<base-port + i - 1>, node_id node<i>, its
#   config, persistence, local_dir (LMDB outbox) and log in <dir>/node<i>/.
#   The node configs come from conf/cluster/node.conf.in
#   (scripts/render-node-conf.sh). Waits until every port answers and prints
#   one line per process. --store local runs N standalone nodes, no Redis.
# stop: SIGTERM (SIGKILL after 10 s) to exactly the PIDs recorded by start in
#   <dir>/*/*.pid, and only if that PID is still the program start launched.
# status: one line per recorded process; exit status 0 if all run, 3 if not.
#
# Environment: BUILD_DIR (build), JWKS_FILE (conf/jwks.json),
# CHAT_EXTRA_CONF (more plugin_opt lines for every node, see render-node-conf.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

CMD=${1:-}
[ $# -gt 0 ] && shift
NODES=3 BASE_PORT=1891 REDIS_PORT=6390 DIR=run/cluster STORE=redis
while [ $# -gt 0 ]; do
  case "$1" in
    --nodes) NODES=$2; shift 2 ;;
    --nodes=*) NODES=${1#*=}; shift ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    --base-port=*) BASE_PORT=${1#*=}; shift ;;
    --redis-port) REDIS_PORT=$2; shift 2 ;;
    --redis-port=*) REDIS_PORT=${1#*=}; shift ;;
    --dir) DIR=$2; shift 2 ;;
    --dir=*) DIR=${1#*=}; shift ;;
    --store) STORE=$2; shift 2 ;;
    --store=*) STORE=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) echo "cluster: unknown argument $1" >&2; usage ;;
  esac
done
case "$DIR" in /*) ;; *) DIR=$ROOT/$DIR ;; esac
BUILD_DIR=${BUILD_DIR:-build}
case "$BUILD_DIR" in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
PLUGIN=$BUILD_DIR/plugin/mosquitto_chat.so
JWKS_FILE=${JWKS_FILE:-$ROOT/conf/jwks.json}
case "$JWKS_FILE" in /*) ;; *) JWKS_FILE=$ROOT/$JWKS_FILE ;; esac

die() { echo "cluster: $*" >&2; exit 1; }
is_uint() { [[ $1 =~ ^[0-9]+$ ]]; }
port_answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# The PID recorded in a pid file if that process still runs the program we started.
live_pid() {  # pidfile program
  local pid
  [ -s "$1" ] || return 1
  pid=$(<"$1")
  is_uint "$pid" || return 1
  [ -r "/proc/$pid/comm" ] || return 1
  [ "$(<"/proc/$pid/comm")" = "$2" ] || return 1
  echo "$pid"
}

# Runs a program in the background in its own session (so it outlives this
# script and its process group) and writes its PID to pidfile.
launch() {  # pidfile outfile program args...
  local pidfile=$1 out=$2
  shift 2
  rm -f "$pidfile"
  # shellcheck disable=SC2016  # $$ and $@ belong to the inner bash
  setsid bash -c 'echo $$ >"$0"; exec "$@"' "$pidfile" "$@" </dev/null >>"$out" 2>&1 &
  for _ in $(seq 1 100); do [ -s "$pidfile" ] && return 0; sleep 0.02; done
  die "could not start $3"
}

# Every process start recorded: "name program pidfile".
recorded() {
  local f
  for f in "$DIR"/node*/mosquitto.pid; do [ -e "$f" ] && echo "$(basename "$(dirname "$f")") mosquitto $f"; done
  [ -e "$DIR/redis/redis.pid" ] && echo "redis redis-server $DIR/redis/redis.pid"
  return 0
}

stop_one() {  # name program pidfile
  local pid
  if pid=$(live_pid "$3" "$2"); then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do [ -d "/proc/$pid" ] || break; sleep 0.1; done
    if [ -d "/proc/$pid" ]; then
      echo "cluster: $1 (pid $pid) ignored SIGTERM for 10 s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "$1: stopped pid $pid"
  else
    echo "$1: not running"
  fi
  rm -f "$3"
}

do_stop() {
  local name program pidfile
  [ -d "$DIR" ] || { echo "cluster: nothing in $DIR"; return 0; }
  # Nodes first (they may still be committing to Redis), Redis last.
  while read -r name program pidfile; do
    [ -n "$name" ] && stop_one "$name" "$program" "$pidfile"
  done < <(recorded | sort -V -k1,1 | grep -v '^redis '; recorded | grep '^redis ' || true)
  return 0
}

do_status() {
  local name program pidfile pid all=0 port info
  [ -n "$(recorded)" ] || { echo "cluster: nothing recorded in $DIR"; return 3; }
  while read -r name program pidfile; do
    [ -n "$name" ] || continue
    if [ "$name" = redis ]; then
      port=$(cat "$DIR/redis/port" 2>/dev/null || echo "?")
      info="log $DIR/redis/redis.log"
    else
      port=$(awk '$1 == "listener" {print $2; exit}' "$DIR/$name/mosquitto.conf" 2>/dev/null || echo "?")
      info="log $DIR/$name/mosquitto.log"
    fi
    if pid=$(live_pid "$pidfile" "$program"); then
      echo "$name port $port pid $pid running $info"
    else
      echo "$name port $port not running $info"
      all=3
    fi
  done < <(recorded | sort -V -k1,1)
  return $all
}

do_start() {
  local i port node pid program pidfile
  is_uint "$NODES" && [ "$NODES" -ge 1 ] || die "--nodes must be a positive number"
  is_uint "$BASE_PORT" && is_uint "$REDIS_PORT" || die "ports must be numbers"
  case "$STORE" in redis|local|memory) ;; *) die "--store must be redis, local or memory" ;; esac
  [ -f "$PLUGIN" ] || die "no plugin at $PLUGIN: build it first (scripts/build.sh) or set BUILD_DIR"
  [ -f "$JWKS_FILE" ] || die "no JWKS at $JWKS_FILE (set JWKS_FILE)"
  command -v mosquitto >/dev/null || die "mosquitto is not installed (scripts/install-deps.sh)"
  if [ -d "$DIR" ]; then
    while read -r node program pidfile; do
      [ -n "$node" ] || continue
      if pid=$(live_pid "$pidfile" "$program"); then die "$node already runs (pid $pid) from $DIR: stop it first"; fi
    done < <(recorded)
  fi
  for i in $(seq 1 "$NODES"); do
    port=$((BASE_PORT + i - 1))
    port_answers "$port" && die "port $port is already in use"
  done
  mkdir -p "$DIR"
  # From here on, a failure stops whatever this start launched.
  STARTING=1
  trap 'if [ "$STARTING" = 1 ]; then echo "cluster: start failed; stopping what was started" >&2; do_stop >&2; fi' EXIT

  local redis_url="redis://127.0.0.1:$REDIS_PORT/0"
  if [ "$STORE" = redis ]; then
    command -v redis-server >/dev/null || die "redis-server is not installed (scripts/install-deps.sh)"
    port_answers "$REDIS_PORT" && die "redis port $REDIS_PORT is already in use"
    mkdir -p "$DIR/redis"
    echo "$REDIS_PORT" >"$DIR/redis/port"
    launch "$DIR/redis/redis.pid" "$DIR/redis/redis.stdout" \
      redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
        --dir "$DIR/redis" --appendonly yes --appendfsync always --save "" \
        --daemonize no --logfile "$DIR/redis/redis.log"
    for _ in $(seq 1 100); do
      [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] && break
      live_pid "$DIR/redis/redis.pid" redis-server >/dev/null || { tail -n 20 "$DIR/redis/redis.log" >&2; die "redis-server exited at start"; }
      sleep 0.1
    done
    [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" PING 2>/dev/null)" = PONG ] \
      || die "redis did not answer PING within 10 s"
  fi

  for i in $(seq 1 "$NODES"); do
    node=node$i
    port=$((BASE_PORT + i - 1))
    mkdir -p "$DIR/$node"
    CHAT_PORT=$port CHAT_BIND=127.0.0.1 CHAT_NODE_ID=$node CHAT_STORE=$STORE CHAT_REDIS_URL=$redis_url \
      CHAT_DATA_DIR=$DIR/$node CHAT_PLUGIN=$PLUGIN CHAT_JWKS_FILE=$JWKS_FILE CHAT_USER=$(id -un) \
      CHAT_LOG_DEST="file $DIR/$node/mosquitto.log" \
      scripts/render-node-conf.sh conf/cluster/node.conf.in >"$DIR/$node/mosquitto.conf"
    # CHAT_BROKER_PRELOAD: the sanitizer runtimes, for a plugin built with them (as in CI).
    if [ -n "${CHAT_BROKER_PRELOAD:-}" ]; then
      launch "$DIR/$node/mosquitto.pid" "$DIR/$node/mosquitto.stderr" \
        env LD_PRELOAD="$CHAT_BROKER_PRELOAD" mosquitto -c "$DIR/$node/mosquitto.conf"
    else
      launch "$DIR/$node/mosquitto.pid" "$DIR/$node/mosquitto.stderr" mosquitto -c "$DIR/$node/mosquitto.conf"
    fi
  done

  for i in $(seq 1 "$NODES"); do
    node=node$i
    port=$((BASE_PORT + i - 1))
    for _ in $(seq 1 150); do
      port_answers "$port" && break
      if ! live_pid "$DIR/$node/mosquitto.pid" mosquitto >/dev/null; then
        tail -n 20 "$DIR/$node/mosquitto.log" "$DIR/$node/mosquitto.stderr" >&2 2>/dev/null || true
        die "$node exited at start (log above)"
      fi
      sleep 0.1
    done
    port_answers "$port" || die "$node does not listen on $port after 15 s"
  done
  STARTING=0

  [ "$STORE" != redis ] || echo "redis port $REDIS_PORT pid $(<"$DIR/redis/redis.pid") log $DIR/redis/redis.log"
  for i in $(seq 1 "$NODES"); do
    node=node$i
    echo "$node port $((BASE_PORT + i - 1)) pid $(<"$DIR/$node/mosquitto.pid") log $DIR/$node/mosquitto.log"
  done
  echo "cluster: $NODES node(s), store $STORE, in $DIR; stop with: scripts/cluster.sh stop --dir ${DIR#"$ROOT"/}"
}

case "$CMD" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  *) usage ;;
esac
