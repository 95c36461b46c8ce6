#!/usr/bin/env bash
# Runs Mosquitto with the chat plugin (conf/mosquitto.conf) in the
# foreground, creates the sample channel "general" (alice, bob), and prints
# how to connect. State goes to run/. Ctrl-C stops the broker.
#
#   PORT=1883 scripts/run-broker.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${PORT:-1883}
BUILD_DIR=${BUILD_DIR:-build}
[ -f "$BUILD_DIR/plugin/mosquitto_chat.so" ] || scripts/build.sh
CHATCTL="$BUILD_DIR/tools/chatctl"
mkdir -p run

# The sample configuration with this checkout's paths and the chosen port.
# A broker started as root drops to the user named here, who must own run/.
sed -e "s|^listener 1883 |listener $PORT |" \
    -e "s|^plugin build/|plugin $BUILD_DIR/|" conf/mosquitto.conf > run/mosquitto.conf
echo "user $(id -un)" >> run/mosquitto.conf

mosquitto -c run/mosquitto.conf &
BROKER_PID=$!
trap 'kill "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null' EXIT INT TERM
for _ in $(seq 1 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  kill -0 "$BROKER_PID" 2>/dev/null || { echo "run-broker: mosquitto exited; see the log above" >&2; exit 1; }
  sleep 0.1
done

token() { "$CHATCTL" token --keys conf/jwks.private.json --kid demo1-es256 --ttl 300 --sub "$@"; }
mosquitto_pub -p "$PORT" -u admin -P "$(token admin --admin)" -q 1 -r \
  -t '$chat/admin/channels/general' -m '{"type":"group","members":["alice","bob"]}'

cat <<TXT

mosquitto-chat is running on 127.0.0.1:$PORT (pid $BROKER_PID), channel "general" has alice and bob.
Tokens are single use and live 300 s; mint one per connection:

  $CHATCTL token --keys conf/jwks.private.json --kid demo1-es256 --sub bob
  mosquitto_sub -p $PORT -u bob -P "\$($CHATCTL token --keys conf/jwks.private.json --kid demo1-es256 --sub bob)" -t 'chat/general/msg' -F '%x'

Messages are MessagePack maps {id: bin 8-32 bytes, ts: ms, body: str}; see README.md for a publish example.
Ctrl-C stops the broker.
TXT
wait "$BROKER_PID"
