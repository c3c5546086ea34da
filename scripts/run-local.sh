#!/usr/bin/env bash
# `make run`: starts the service with working local defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "kamea-wss: Socket.IO on http://127.0.0.1:${WSS_PUBLIC_PORT:-3000}/socket.io/ (namespace /devices)"
exec build/kamea-wss "$@"
