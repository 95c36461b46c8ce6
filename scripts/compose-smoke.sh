#!/usr/bin/env bash
# The docker-compose cluster for real, on a machine with no container daemon
# and no image registry: starts dockerd and makes debian:bookworm with
# shared/tools/docker-local.sh, builds the images, `docker-compose up -d`,
# waits for the three node ports, runs tests/cluster/smoke_test.py, and then
# ALWAYS (even on failure or Ctrl-C) `docker-compose down -v` and
# `docker-local.sh stop`. Prints how long each stage took.
#
#   scripts/compose-smoke.sh
#   CHAT_STORE=local SMOKE_PORTS=1891,1891,1891 scripts/compose-smoke.sh   # standalone nodes, one node's path
#
# Environment:
#   DOCKER_LOCAL   path of docker-local.sh (default: <repo>/../shared/tools/docker-local.sh)
#   CHAT_STORE     store of the nodes (default redis; local: standalone nodes)
#   SMOKE_PORTS    the node1,node2,node3 ports the smoke test uses (default 1891,1892,1893)
#   SMOKE_IN_CONTAINER=1  run the smoke test and chatctl inside node1 even if the host
#                  has $BUILD_DIR/tools/chatctl and python3-paho-mqtt (the default then)
#   WAIT_S         how long to wait for the node ports after `up` (default 120)
#   BUILD_DIR      the host build whose chatctl mints tokens (default build)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DOCKER_LOCAL=${DOCKER_LOCAL:-$(dirname "$ROOT")/shared/tools/docker-local.sh}
if [ ! -f "$DOCKER_LOCAL" ]; then
  echo "compose-smoke: docker-local.sh not found at $DOCKER_LOCAL" >&2
  echo "compose-smoke: set DOCKER_LOCAL to the path of shared/tools/docker-local.sh" >&2
  exit 2
fi
export CHAT_STORE=${CHAT_STORE:-redis}
export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-mosquitto-chat}
# docker-compose 1.29 builds through docker-py (the daemon's classic builder):
# no buildx plugin is needed.
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0
SMOKE_PORTS=${SMOKE_PORTS:-1891,1892,1893}
NODE_PORTS=(1891 1892 1893)   # docker-compose.yml
WAIT_S=${WAIT_S:-120}
BUILD_DIR=${BUILD_DIR:-build}
COMPOSE=(docker-compose -f "$ROOT/docker-compose.yml")

ms() { echo $(( $(date +%s%N) / 1000000 )); }
T0=$(ms)
TIMINGS=()
COMPOSE_USED=0
stage() {  # name command...: runs it and records its duration
  local name=$1 t rc=0
  shift
  echo "==== compose-smoke: $name" >&2
  t=$(ms)
  "$@" || rc=$?
  TIMINGS+=("$(printf '%-22s %7.1f s%s' "$name" "$(( $(ms) - t ))e-3" "$([ $rc -eq 0 ] || echo "  (failed: exit $rc)")")")
  return $rc
}

report() {
  echo "==== compose-smoke: timings (store $CHAT_STORE)"
  local line
  for line in "${TIMINGS[@]}"; do echo "  $line"; done
  printf '  %-22s %7.1f s\n' total "$(( $(ms) - T0 ))e-3"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  if [ "$COMPOSE_USED" = 1 ]; then
    if [ "$rc" -ne 0 ]; then
      echo "==== compose-smoke: failed (exit $rc); container state and logs:" >&2
      "${COMPOSE[@]}" ps >&2
      "${COMPOSE[@]}" logs --no-color --tail 40 >&2
    fi
    stage "compose down" "${COMPOSE[@]}" down -v --remove-orphans
  fi
  stage "docker-local stop" bash "$DOCKER_LOCAL" stop
  report
  [ "$rc" -eq 0 ] && echo "compose-smoke: PASS" || echo "compose-smoke: FAIL (exit $rc)"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_ports() {
  local deadline=$(( $(date +%s) + WAIT_S )) port
  for port in "${NODE_PORTS[@]}"; do
    until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
      if [ "$(date +%s)" -ge "$deadline" ]; then
        echo "compose-smoke: port $port does not answer after $WAIT_S s" >&2
        return 1
      fi
      sleep 0.2
    done
    echo "compose-smoke: port $port answers" >&2
  done
}

smoke() {
  if [ -z "${SMOKE_IN_CONTAINER:-}" ] && [ -x "$BUILD_DIR/tools/chatctl" ] \
     && /usr/bin/python3 -c 'import paho.mqtt.client, msgpack' 2>/dev/null; then
    echo "compose-smoke: smoke test on the host, tokens from $BUILD_DIR/tools/chatctl" >&2
    /usr/bin/python3 tests/cluster/smoke_test.py --ports "$SMOKE_PORTS" \
      --chatctl "$BUILD_DIR/tools/chatctl" --jwks-private conf/jwks.private.json
  else
    echo "compose-smoke: smoke test inside node1 (its python3 and chatctl)" >&2
    "${COMPOSE[@]}" exec -T node1 python3 /opt/mosquitto-chat/tests/cluster/smoke_test.py \
      --ports "$SMOKE_PORTS" --chatctl chatctl --jwks-private /opt/mosquitto-chat/conf/jwks.private.json
  fi
}

stage "docker-local start" bash "$DOCKER_LOCAL" start
stage "docker-local base" bash "$DOCKER_LOCAL" base-image
COMPOSE_USED=1
stage "compose build" "${COMPOSE[@]}" build
stage "compose up" "${COMPOSE[@]}" up -d
stage "ports answer" wait_ports
stage "smoke test" smoke
