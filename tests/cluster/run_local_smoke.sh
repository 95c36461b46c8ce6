#!/usr/bin/env bash
# The cluster smoke test on this machine, no containers: scripts/cluster.sh
# starts a redis-server and three nodes (from $BUILD_DIR, default build),
# tests/cluster/smoke_test.py runs against them, and the cluster is always
# stopped afterwards (by the PIDs cluster.sh recorded). Arguments go to
# smoke_test.py.
#
#   tests/cluster/run_local_smoke.sh
#   CHAT_STORE=local SMOKE_PORTS=1891,1891,1891 tests/cluster/run_local_smoke.sh  # one standalone node
#
# Environment: CHAT_STORE (redis), BASE_PORT (1891), REDIS_PORT (6390),
# CLUSTER_DIR (run/cluster-smoke-<store>), SMOKE_PORTS (the three node ports), BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD_DIR=${BUILD_DIR:-build}
STORE=${CHAT_STORE:-redis}
BASE_PORT=${BASE_PORT:-1891}
REDIS_PORT=${REDIS_PORT:-6390}
DIR=${CLUSTER_DIR:-run/cluster-smoke-$STORE}
PORTS=${SMOKE_PORTS:-$BASE_PORT,$((BASE_PORT + 1)),$((BASE_PORT + 2))}
CHATCTL=$BUILD_DIR/tools/chatctl
[ -x "$CHATCTL" ] || { echo "run_local_smoke: no $CHATCTL: build first (scripts/build.sh)" >&2; exit 1; }

trap 'scripts/cluster.sh stop --dir "$DIR"' EXIT
ms() { echo $(( $(date +%s%N) / 1000000 )); }
start=$(ms)
scripts/cluster.sh start --nodes 3 --base-port "$BASE_PORT" --redis-port "$REDIS_PORT" --dir "$DIR" --store "$STORE"
echo "run_local_smoke: cluster up in $(( $(ms) - start )) ms"
rc=0
/usr/bin/python3 tests/cluster/smoke_test.py --ports "$PORTS" --chatctl "$CHATCTL" \
  --jwks-private conf/jwks.private.json "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
  for log in "$DIR"/node*/mosquitto.log; do
    echo "---- tail of $log"
    tail -n 15 "$log"
  done
fi
exit "$rc"
