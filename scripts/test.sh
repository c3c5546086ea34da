#!/usr/bin/env bash
# Runs every test: unit (ctest), interop (node --test with the real socket.io-client) and,
# for the normal build, a short libFuzzer run of each parser. Usage: scripts/test.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ulimit -n 20000 2>/dev/null || true

echo "== unit tests ($build)"
(cd "$build" && ctest --output-on-failure -j "$(nproc)")

echo "== test tools (Management API stand-in)"
node --test tools/management-api/

echo "== AsyncAPI document (/doc)"
node --test tests/doc/

echo "== interop tests ($build/kamea-wss)"
export KAMEA_WSS_BIN="$PWD/$build/kamea-wss"
node --test --test-concurrency=2 tests/interop/*.test.mjs

echo "== browser test (the demo page in headless chromium, from another origin)"
node --test tests/browser/

if [ -z "${KAMEA_SANITIZED:-}" ]; then
    echo "== fuzz"
    FUZZ_SECONDS=${FUZZ_SECONDS:-10} scripts/fuzz.sh
fi
