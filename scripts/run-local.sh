#!/usr/bin/env bash
# `make run`: a working local stack: the Management API stand-in on :3002, then kamea-wss
# (public :3000, internal :3001) pointed at it. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
api_port=${STANDIN_PORT:-3002}
node tools/management-api/server.mjs --port "$api_port" --quiet &
standin=$!
trap 'kill $standin 2>/dev/null || true' EXIT
cat <<MSG
kamea-wss local stack
  Socket.IO  http://127.0.0.1:${WSS_PUBLIC_PORT:-3000}/socket.io/  namespace /devices
             (stand-in tokens: allow-… is allowed, deny-… is denied; see tools/management-api/README.md)
  Ingest     curl -XPOST -H 'Content-Type: application/json' \\
               -d '{"deviceId":"dev-1","tenantId":"t1","temperature":21.5}' \\
               http://127.0.0.1:${WSS_INTERNAL_PORT:-3001}/internal/v1/telemetries
  Management API stand-in  http://127.0.0.1:${api_port}
MSG
build/kamea-wss --management-api-url "http://127.0.0.1:${api_port}" "$@"
