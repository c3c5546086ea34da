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
    libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
    libssl-dev libspdlog-dev libfmt-dev libcli11-dev
    libgtest-dev libgmock-dev
    curl ca-certificates procps
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

# JavaScript test tools (socket.io-client, the Node reference server), pinned by package-lock.json.
here=$(cd "$(dirname "$0")/.." && pwd)
if [ -f "$here/tests/package.json" ]; then
    if [ ! -d "$here/tests/node_modules" ] || [ "$here/tests/package-lock.json" -nt "$here/tests/node_modules/.package-lock.json" ]; then
        (cd "$here/tests" && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
