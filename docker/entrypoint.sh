#!/usr/bin/env bash
# Entry point of the mosquitto-chat node image (docker/Dockerfile).
#
#   entrypoint.sh [CONFIG]
#
# CONFIG ending in .in: a template (default conf/cluster/node.conf.in) filled
#   in from the CHAT_* environment by scripts/render-node-conf.sh;
# another existing file: a finished mosquitto.conf, run as it is;
# anything else: a command, run as it is (e.g. chatctl, bash).
#
# For a template: CHAT_LOG_DEST defaults to stderr (for docker logs);
# CHAT_DATA_DIR defaults to /var/lib/mosquitto-chat/$CHAT_NODE_ID and is made
# writable for CHAT_USER; with CHAT_STORE=redis the node first waits
# (CHAT_WAIT_FOR_REDIS_S, default 30 s) until the Redis of CHAT_REDIS_URL
# accepts connections, so that the compose services may start in any order.
set -euo pipefail
APP=/opt/mosquitto-chat
conf=${1:-$APP/conf/cluster/node.conf.in}

if [ ! -f "$conf" ]; then
  exec "$@"
fi

if [[ "$conf" == *.in ]]; then
  export CHAT_NODE_ID=${CHAT_NODE_ID:-node1}
  export CHAT_DATA_DIR=${CHAT_DATA_DIR:-/var/lib/mosquitto-chat/$CHAT_NODE_ID}
  export CHAT_STORE=${CHAT_STORE:-redis}
  export CHAT_REDIS_URL=${CHAT_REDIS_URL:-redis://127.0.0.1:6390/0}
  # stderr: Mosquitto does not flush its stdout log lines, so `docker logs` would lag.
  export CHAT_LOG_DEST=${CHAT_LOG_DEST:-stderr}
  mkdir -p "$CHAT_DATA_DIR"
  if [ "$(id -u)" -eq 0 ] && [ -n "${CHAT_USER:-}" ] && id "$CHAT_USER" >/dev/null 2>&1; then
    chown "$CHAT_USER:" "$CHAT_DATA_DIR"
  fi
  mkdir -p /run/mosquitto-chat
  out=/run/mosquitto-chat/$CHAT_NODE_ID.conf
  "$APP/scripts/render-node-conf.sh" "$conf" >"$out"
  conf=$out

  if [ "$CHAT_STORE" = redis ]; then
    wait_s=${CHAT_WAIT_FOR_REDIS_S:-30}
    case "$CHAT_REDIS_URL" in
      unix://*)
        sock=${CHAT_REDIS_URL#unix://}; sock=${sock%%\?*}
        ready() { [ -S "$sock" ]; } ;;
      redis://*)
        hostport=${CHAT_REDIS_URL#redis://}; hostport=${hostport##*@}; hostport=${hostport%%/*}
        rhost=${hostport%:*}; rport=${hostport##*:}
        [ "$rport" != "$hostport" ] || rport=6379
        ready() { (exec 3<>"/dev/tcp/$rhost/$rport") 2>/dev/null; } ;;
      *) ready() { true; } ;;
    esac
    for _ in $(seq 1 $((wait_s * 5))); do ready && break; sleep 0.2; done
    ready || echo "entrypoint: Redis at $CHAT_REDIS_URL not reachable after $wait_s s; starting anyway" >&2
  fi
  echo "entrypoint: node $CHAT_NODE_ID, port ${CHAT_PORT:-1891}, store $CHAT_STORE, data $CHAT_DATA_DIR" >&2
fi

exec mosquitto -c "$conf"
