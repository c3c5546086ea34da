#!/usr/bin/env bash
# Installs everything kamea-wss needs to build, test and run on Debian 12.
# Idempotent: packages already present are skipped, so CI and `make` can call it every time.
set -euo pipefail

need_root() { if [ "$(id -u)" -ne 0 ]; then echo "sudo"; fi; }
SUDO=$(need_root)

# Build and runtime libraries (all from Debian 12).
packages=(
    build-essential cmake ninja-build pkg-config git
    clang libclang-rt-14-dev            # libFuzzer and the sanitizer runtimes
    clang-format clang-tidy             # make lint
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libssl-dev libspdlog-dev libfmt-dev libcli11-dev
    liburing-dev                       # batched WebSocket sends (src/transport/send_ring.hpp)
    libgtest-dev libgmock-dev
    curl ca-certificates procps openssl
    chromium fonts-liberation          # headless browser tests of /doc and the demo page
    gnuplot-nox                        # make bench plots
    librabbitmq-dev                    # the bus client (rabbitmq-c 0.11, src/bus/)
    rabbitmq-server amqp-tools         # a real broker for the bus tests (started per test run)
    haproxy                            # the load balancer of make run-cluster and its tests
    systemd                            # systemd-analyze: tests/interop/deploy.test.mjs checks deploy/systemd/
    redis-server                       # bench/bus.sh: the Node.js + Redis adapter comparison
    python3-socketio                   # the Python client's interop test (tests/interop/python/)
    python3-requests python3-websocket # its polling and WebSocket transports (only Recommends)
)
# Node.js runs the interop tests with the real socket.io-client; npm installs the test tools.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install-deps: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages, pinned by each package-lock.json: the test tools (socket.io-client), the
# AsyncAPI renderer and parser (asyncapi/), the Node.js reference server of the benchmark.
here=$(cd "$(dirname "$0")/.." && pwd)
for dir in tests asyncapi bench/reference bench/reference-cluster; do
    [ -f "$here/$dir/package-lock.json" ] || continue
    if [ ! -f "$here/$dir/node_modules/.package-lock.json" ] ||
        [ "$here/$dir/package-lock.json" -nt "$here/$dir/node_modules/.package-lock.json" ]; then
        (cd "$here/$dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
