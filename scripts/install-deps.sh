#!/usr/bin/env bash
# Installs everything mosquitto-chat needs to build, run and test, from
# Debian's packages (Debian 12). Run as root (or through sudo).
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  build-essential cmake pkg-config ca-certificates \
  mosquitto mosquitto-clients mosquitto-dev libmosquitto-dev \
  libssl-dev nlohmann-json3-dev libmsgpack-cxx-dev libhiredis-dev liblmdb-dev libcmocka-dev \
  redis-server \
  python3 python3-paho-mqtt python3-msgpack >/dev/null
echo "install-deps: done"
