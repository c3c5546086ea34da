#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each briefly.
# FUZZ_SECONDS (default 15) is the time per target.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-15}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKAMEA_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)"
for target in fuzz_websocket_frame fuzz_engineio_payload fuzz_socketio_packet fuzz_socketio_session \
    fuzz_json_array_split fuzz_bus_message fuzz_http_request fuzz_management_api_answer; do
    corpus=build-fuzz/corpus/$target
    mkdir -p "$corpus"
    echo "fuzz: $target for ${seconds}s"
    log=build-fuzz/$target.log
    if ! build-fuzz/tests/fuzz/$target -max_total_time="$seconds" -max_len=4096 \
        -artifact_prefix=build-fuzz/ "$corpus" "tests/fuzz/seeds/$target" >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $target FAILED (input saved as build-fuzz/crash-*)"
        exit 1
    fi
    grep -E "^Done [0-9]+ runs" "$log" || true
done
echo "fuzz: all targets ran without a finding"
