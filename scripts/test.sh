#!/usr/bin/env bash
# Runs every test (CMocka unit tests and integration tests against a real
# mosquitto with the built plugin) under ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
[ -f "$BUILD_DIR/plugin/mosquitto_chat.so" ] || scripts/build.sh
ctest --test-dir "$BUILD_DIR" --output-on-failure "$@"
