#!/usr/bin/env bash
# Writes the mosquitto.conf of one cluster node from a template
# (default conf/cluster/node.conf.in) on stdout, replacing every ${CHAT_*}
# placeholder with the environment variable of that name. Refuses a template
# that still has a placeholder it does not know.
#
#   CHAT_NODE_ID=node2 CHAT_PORT=1892 CHAT_DATA_DIR=/srv/node2 \
#     scripts/render-node-conf.sh [TEMPLATE] > node2.conf
#
# variable                 default
# CHAT_PORT                1891
# CHAT_BIND                127.0.0.1
# CHAT_NODE_ID             node1
# CHAT_STORE               redis        (local: a standalone node on its embedded store)
# CHAT_REDIS_URL           redis://127.0.0.1:6390/0   (also unix:///path/redis.sock)
# CHAT_DATA_DIR            required: persistence_location and local_dir (the LMDB outbox)
# CHAT_PLUGIN              required: path of mosquitto_chat.so
# CHAT_JWKS_FILE           required: the public JWKS of the token keys
# CHAT_USER                the current user (mosquitto started as root drops to it)
# CHAT_LOG_DEST            stdout       (or "file /path/mosquitto.log")
# CHAT_LOCAL_FSYNC         everysec
# CHAT_PRESENCE_TIMEOUT_S  30
# CHAT_EXTRA_CONF          empty: more lines, appended after the plugin options
set -euo pipefail
template=${1:-"$(dirname "$0")/../conf/cluster/node.conf.in"}
[ -f "$template" ] || { echo "render-node-conf: no template $template" >&2; exit 2; }

: "${CHAT_PORT:=1891}" "${CHAT_BIND:=127.0.0.1}" "${CHAT_NODE_ID:=node1}" "${CHAT_STORE:=redis}"
: "${CHAT_REDIS_URL:=redis://127.0.0.1:6390/0}" "${CHAT_USER:=$(id -un)}" "${CHAT_LOG_DEST:=stdout}"
: "${CHAT_LOCAL_FSYNC:=everysec}" "${CHAT_PRESENCE_TIMEOUT_S:=30}" "${CHAT_EXTRA_CONF:=}"
for required in CHAT_DATA_DIR CHAT_PLUGIN CHAT_JWKS_FILE; do
  [ -n "${!required:-}" ] || { echo "render-node-conf: $required is not set" >&2; exit 2; }
done

text=$(<"$template")
for var in CHAT_PORT CHAT_BIND CHAT_NODE_ID CHAT_STORE CHAT_REDIS_URL CHAT_DATA_DIR CHAT_PLUGIN \
           CHAT_JWKS_FILE CHAT_USER CHAT_LOG_DEST CHAT_LOCAL_FSYNC CHAT_PRESENCE_TIMEOUT_S CHAT_EXTRA_CONF; do
  placeholder="\${$var}"
  value=${!var}
  text=${text//"$placeholder"/"$value"}
done
# shellcheck disable=SC2016  # a literal ${NAME} pattern
left=$(grep -v '^[[:space:]]*#' <<<"$text" | grep -o '\${[A-Za-z0-9_]*}' | sort -u | tr '\n' ' ' || true)
[ -z "$left" ] || { echo "render-node-conf: unknown placeholder(s) in $template: $left" >&2; exit 2; }
printf '%s\n' "$text"
