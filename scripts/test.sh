#!/usr/bin/env bash
# Runs every test: unit (ctest), the test tools, the AsyncAPI document, interop (node --test
# with the real socket.io-client, a real RabbitMQ), the browser test and, for the normal
# build, a short libFuzzer run of each parser. Every suite runs even when one fails; each
# prints one "N passed, N failed" line, then the total, and the script fails at the end.
# Usage: scripts/test.sh [build-dir]
set -uo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
ulimit -n 20000 2>/dev/null || true

# One broker for the whole run (it takes seconds to start): on free ports, with a node name
# and data directory of its own, stopped at the end whatever happens. Tests read the
# KAMEA_AMQP_URL / KAMEA_RABBITMQ_* variables it writes.
broker_dir=$(mktemp -d /tmp/kamea-rabbitmq.XXXXXX)
stop_broker() { scripts/rabbitmq.sh stop "$broker_dir" >/dev/null 2>&1 || true; rm -rf "$broker_dir"; }
trap stop_broker EXIT
echo "== RabbitMQ (a node of this run's own)"
if scripts/rabbitmq.sh start "$broker_dir"; then
    set -a
    # shellcheck disable=SC1091
    . "$broker_dir/env"
    set +a
else
    echo "test: RabbitMQ did not start: the bus tests will fail"
fi

total_pass=0
total_fail=0
summary=()

# run_suite NAME COMMAND...: runs it, counts its tests from its own closing lines.
run_suite() {
    local name=$1
    shift
    local log
    log=$(mktemp)
    echo "== $name"
    "$@" 2>&1 | tee "$log"
    local rc=${PIPESTATUS[0]}
    local pass fail
    # ctest: "100% tests passed, 0 tests failed out of 83"; node --test: "# pass 12" / "# fail 0".
    if grep -qE "tests passed, [0-9]+ tests? failed out of" "$log"; then
        local line
        line=$(grep -E "tests passed, [0-9]+ tests? failed out of" "$log" | tail -1)
        local out_of
        out_of=$(sed -E 's/.* out of ([0-9]+).*/\1/' <<<"$line")
        fail=$(sed -E 's/.*tests passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
        pass=$((out_of - fail))
    elif grep -qE "^# pass [0-9]+" "$log"; then
        pass=$(grep -E "^# pass [0-9]+" "$log" | awk '{s += $3} END {print s}')
        fail=$(grep -E "^# fail [0-9]+" "$log" | awk '{s += $3} END {print s}')
    else
        # A suite that reports no count (the fuzz pass) counts as one test.
        if [ "$rc" -eq 0 ]; then pass=1; fail=0; else pass=0; fail=1; fi
    fi
    if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
        fail=1 # it failed without saying which test (a crash, a build step)
    fi
    rm -f "$log"
    echo "$name: $pass passed, $fail failed"
    summary+=("$name: $pass passed, $fail failed")
    total_pass=$((total_pass + pass))
    total_fail=$((total_fail + fail))
}

run_suite "unit tests ($build)" bash -c "cd '$build' && ctest --output-on-failure -j $(nproc) --timeout 300"
run_suite "test tools (Management API stand-in)" node --test --test-reporter=tap tools/management-api/
run_suite "AsyncAPI document (/doc)" node --test --test-reporter=tap tests/doc/
export KAMEA_WSS_BIN="$PWD/$build/kamea-wss"
# Every server the interop suite starts leaves its output here, and its tests note the tokens
# they use: the log check reads them afterwards (tests/lib/test-logs.mjs).
KAMEA_TEST_LOG_DIR=$(mktemp -d /tmp/kamea-test-logs.XXXXXX)
export KAMEA_TEST_LOG_DIR
trap 'stop_broker; rm -rf "$KAMEA_TEST_LOG_DIR"' EXIT
# Each file gets a time budget of its own, so one hung file cannot eat CI's 90 minutes.
run_suite "interop tests ($build/kamea-wss)" node --test --test-reporter=tap --test-concurrency=2 \
    --test-timeout=300000 tests/interop/*.test.mjs
run_suite "browser test (the demo page in headless chromium, from another origin)" \
    node --test --test-reporter=tap --test-timeout=300000 tests/browser/
run_suite "logs of the interop suite (documented events, conn, no token)" \
    node --test --test-reporter=tap tests/logs/
if [ -z "${KAMEA_SANITIZED:-}" ]; then
    run_suite "fuzz" env FUZZ_SECONDS="${FUZZ_SECONDS:-10}" scripts/fuzz.sh
fi

echo "== summary"
for line in "${summary[@]}"; do
    echo "  $line"
done
echo "total: $total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
