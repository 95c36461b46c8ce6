#!/usr/bin/env bash
# Where the broker's time goes, independent of machine noise: runs plain
# Mosquitto and Mosquitto + mosquitto_chat under valgrind --tool=callgrind
# while chatbench sends a fixed number of messages, then prints user-space
# instructions per message for each and the plugin's hottest functions.
# Instruction counts do not depend on what else runs on the machine (wall
# time under valgrind does); kernel time (syscalls) is not counted, and the
# plugin adds no syscalls per message (compare with strace -c).
#
#   bench/profile.sh                     # 1 -> 1 QoS 1, 20,000 messages
#   bench/profile.sh --count 5000 -- --subscribers 100 --window 4
#   bench/profile.sh --storm             # connects instead (15 s at 4 connections)
#   BUILD_DIR=/path/to/build bench/profile.sh
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
BUILD_DIR="${BUILD_DIR:-$ROOT/build}"
COUNT=20000
STORM=0
KID_ALG=es256
OUT=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --count) COUNT="$2"; shift 2 ;;
    --storm) STORM=1; shift ;;
    --kid) KID_ALG="$2"; shift 2 ;;
    --out) OUT="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "profile.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "profile.sh: valgrind is needed (apt-get install -y valgrind)" >&2; exit 1; }
CHATBENCH="$BUILD_DIR/bench/chatbench"
for f in "$CHATBENCH" "$BUILD_DIR/tools/chatctl" "$BUILD_DIR/plugin/mosquitto_chat.so"; do
  [ -e "$f" ] || { echo "profile.sh: $f is missing; build first (scripts/build.sh)" >&2; exit 1; }
done
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
KEEP=1
if [ -z "$OUT" ]; then OUT="$(mktemp -d /tmp/chatprofile.XXXXXX)"; KEEP=0; fi
mkdir -p "$OUT"
VG_PID=""
cleanup() {
  if [ -n "$VG_PID" ]; then kill "$VG_PID" 2>/dev/null || true; wait "$VG_PID" 2>/dev/null || true; fi
  if [ "$KEEP" = 0 ]; then rm -rf "$OUT"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$BUILD_DIR/tools/chatctl" keygen --out-private "$OUT/keys.private.json" --out-public "$OUT/keys.public.json" \
  --kid-prefix bench --force 2>/dev/null

profile() {  # plain|chat -> prints "instructions units"
  local kind="$1" dir port args
  dir="$OUT/$kind"
  mkdir -p "$dir"
  local attempt up=0
  for attempt in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + RANDOM % 12000 ))  # below the ephemeral range (32768-)
    [ -n "$(ss -Htln "sport = :$port")" ] && continue
    {
      echo "listener $port 127.0.0.1"
      echo "persistence false"
      echo "set_tcp_nodelay true"
      echo "max_queued_messages 1000000"
      echo "log_dest none"
      echo "user $(id -un)"
      if [ "$kind" = plain ]; then
        echo "allow_anonymous true"
      else
        echo "allow_anonymous false"
        echo "plugin $BUILD_DIR/plugin/mosquitto_chat.so"
        echo "plugin_opt_store memory"
        echo "plugin_opt_jwks_file $OUT/keys.public.json"
        echo "plugin_opt_local_dir $dir"
      fi
    } > "$dir/mosquitto.conf"
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$dir/callgrind.out" \
      mosquitto -c "$dir/mosquitto.conf" > "$dir/valgrind.log" 2>&1 &
    VG_PID=$!
    for _ in $(seq 1 300); do
      if ss -Htlnp "sport = :$port" 2>/dev/null | grep -q "pid=$VG_PID,"; then up=1; break; fi
      kill -0 "$VG_PID" 2>/dev/null || break
      sleep 0.1
    done
    [ "$up" = 1 ] && break
    kill "$VG_PID" 2>/dev/null || true; wait "$VG_PID" 2>/dev/null || true; VG_PID=""
  done
  [ "$up" = 1 ] || { echo "profile.sh: the $kind broker did not start; see $dir/valgrind.log" >&2; exit 1; }
  callgrind_control -i on "$VG_PID" > /dev/null
  if [ "$STORM" = 1 ]; then
    args=(--reconnect-storm --window 4 --warmup 0 --duration 15 --storm-tokens 4000)
  else
    args=(--count "$COUNT" --warmup 0 --duration 600 --window 8 "${EXTRA[@]}")
  fi
  [ "$kind" = chat ] && args+=(--mode chat --keys "$OUT/keys.private.json" --kid "bench-$KID_ALG")
  "$CHATBENCH" --port "$port" --json "${args[@]}" > "$dir/result.json"
  callgrind_control -i off "$VG_PID" > /dev/null
  kill "$VG_PID" 2>/dev/null || true; wait "$VG_PID" 2>/dev/null || true; VG_PID=""
  python3 - "$dir/result.json" "$dir/callgrind.out" "$STORM" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
total = 0
for line in open(sys.argv[2]):
    if line.startswith("totals:") or line.startswith("summary:"):
        total = max(total, int(line.split()[1]))
if sys.argv[3] == "1":
    units = r.get("connacks_total", 0)
else:
    units = r.get("correctness", {}).get("messages_acked", 0)
    if r.get("correctness", {}).get("loss") or r.get("correctness", {}).get("duplicates"):
        print("profile.sh: warning: loss or duplicates:", r["correctness"], file=sys.stderr)
print(total, units)
PY
}

read -r P_INSTR P_UNITS < <(profile plain)
read -r C_INSTR C_UNITS < <(profile chat)
UNIT=$([ "$STORM" = 1 ] && echo connect || echo message)
python3 - "$P_INSTR" "$P_UNITS" "$C_INSTR" "$C_UNITS" "$UNIT" <<'PY'
import sys
pi, pu, ci, cu, unit = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
p = pi / max(pu, 1); c = ci / max(cu, 1)
print(f"broker user-space instructions per {unit} (setup included):")
print(f"  plain  {p:12,.0f}  ({pu:,} {unit}s)")
print(f"  plugin {c:12,.0f}  ({cu:,} {unit}s)   {c / p:.2f} x plain, +{c - p:,.0f}")
PY
echo
echo "plugin functions, inclusive instructions (top 25):"
callgrind_annotate --inclusive=yes "$OUT/chat/callgrind.out" 2>/dev/null \
  | grep -E "chat::|chat_plugin::|msgpack|nlohmann|ECDSA|EVP_" | grep -vF '???:' \
  | sed -E 's/\(([^()]|\([^()]*\))*\)//2g' | cut -c1-160 | head -25
echo
echo "callgrind files: $OUT/{plain,chat}/callgrind.out$( [ "$KEEP" = 0 ] && echo ' (removed; --out DIR keeps them)')"
