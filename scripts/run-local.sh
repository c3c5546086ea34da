#!/usr/bin/env bash
# `make run` (after the build): a working local stack on 127.0.0.1.
#   - the Management API stand-in (tools/management-api/)               :3002  STANDIN_PORT
#   - kamea-wss, public listener (Socket.IO, /doc)                      :3000  WSS_PUBLIC_PORT
#                internal listener (ingest, /health, /metrics)          :3001  WSS_INTERNAL_PORT
#   - the demo page's server (tools/demo/), another origin than the service :8080  DEMO_PORT
#   - the telemetry simulator (tools/simulator/): demo-1..demo-3 of tenant demo, every second
# then prints where to look. Ctrl-C (or SIGTERM) stops everything. kamea-wss logs to this
# terminal; the other three log to $RUN_LOG_DIR (default build/run-local/).
#
# Other variables: WSS_PUBLIC_HOST (default 127.0.0.1 here: the stand-in allows any allow-…
# token, so the stack stays on loopback unless asked), DEMO_HOST, SIMULATOR_INTERVAL (ms),
# KAMEA_WSS_BIN; every other WSS_* variable reaches kamea-wss as usual, WSS_INGEST_TOKEN the
# simulator too, and WSS_CORS_ORIGINS is added to the demo page's origins. Arguments of this
# script are passed on to kamea-wss (e.g. scripts/run-local.sh --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."

public_host=${WSS_PUBLIC_HOST:-127.0.0.1}
public_port=${WSS_PUBLIC_PORT:-3000}
internal_port=${WSS_INTERNAL_PORT:-3001}
api_port=${STANDIN_PORT:-3002}
demo_host=${DEMO_HOST:-127.0.0.1}
demo_port=${DEMO_PORT:-8080}
interval=${SIMULATOR_INTERVAL:-1000}
logs=${RUN_LOG_DIR:-build/run-local}
bin=${KAMEA_WSS_BIN:-build/kamea-wss}

die() { echo "run-local: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is missing: run make build (or make run)"
[ -f tests/node_modules/socket.io-client/dist/socket.io.min.js ] ||
    die "the socket.io-client bundle is missing: run scripts/install-deps.sh (npm ci in tests/)"
command -v curl >/dev/null || die "curl is missing: run scripts/install-deps.sh"
for port in "$public_port" "$internal_port" "$api_port" "$demo_port"; do
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
        die "ports must be numbers from 1 to 65535 (got '$port')"
done
mkdir -p "$logs"

# Browsers reach a 0.0.0.0 listener through 127.0.0.1.
shown_host=$public_host
[ "$shown_host" = "0.0.0.0" ] && shown_host=127.0.0.1
[ "$shown_host" = "::" ] && shown_host="[::1]"
[[ $shown_host == *:* && $shown_host != \[* ]] && shown_host="[$shown_host]"
service="http://${shown_host}:${public_port}"
internal="http://127.0.0.1:${internal_port}"
demo_shown_host=$demo_host
[ "$demo_shown_host" = "0.0.0.0" ] && demo_shown_host=127.0.0.1
demo="http://${demo_shown_host}:${demo_port}"
cors="http://127.0.0.1:${demo_port},http://localhost:${demo_port}"
[ "$demo_shown_host" != "127.0.0.1" ] && [ "$demo_shown_host" != "localhost" ] && cors="${demo},${cors}"
[ -n "${WSS_CORS_ORIGINS:-}" ] && cors="${cors},${WSS_CORS_ORIGINS}"

pids=()
names=()
start() { # start <name> <command...>: runs it in the background and remembers it
    local name=$1
    shift
    # In a process group of its own (set -m), so that Ctrl-C reaches this script only and the
    # stack stops in order, through the trap below, rather than all at once.
    set -m
    "$@" &
    pids+=($!)
    set +m
    names+=("$name")
}

stopping=
stop() {
    [ -n "$stopping" ] && return
    stopping=1
    trap '' INT TERM
    # Producers first, then the service (it tells its clients and drains), then the stand-in.
    local i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    # kamea-wss drains for at most its --shutdown-grace (10 s by default); then no mercy.
    for ((i = 0; i < 150; i++)); do
        local alive=
        for pid in "${pids[@]}"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
    wait 2>/dev/null || true
}
trap stop EXIT
trap 'echo; echo "run-local: stopping"; stop; exit 0' INT TERM

# Fails (and says which) if a process of the stack has exited.
check_alive() {
    local i
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[i]}" 2>/dev/null; then
            echo "run-local: ${names[i]} exited${1:+ $1}; see its message above or in ${logs}/" >&2
            return 1
        fi
    done
}

wait_for() { # wait_for <what> <url>: until the URL answers 2xx, or a process died
    local i
    for ((i = 0; i < 150; i++)); do
        curl -fsS -o /dev/null --max-time 1 "$2" 2>/dev/null && return 0
        check_alive "before $1 was up" || return 1
        sleep 0.2
    done
    echo "run-local: $1 did not answer at $2" >&2
    return 1
}

start management-api node tools/management-api/server.mjs --port "$api_port" --quiet \
    >"$logs/management-api.log"
start kamea-wss "$bin" \
    --public-host "$public_host" --public-port "$public_port" \
    --internal-port "$internal_port" \
    --management-api-url "http://127.0.0.1:${api_port}" \
    --cors-origins "$cors" \
    "$@"
start demo-server node tools/demo/serve.mjs --host "$demo_host" --port "$demo_port" --service "$service" \
    >"$logs/demo-server.log"

wait_for "the Management API stand-in" "http://127.0.0.1:${api_port}/_control/stats" || exit 1
wait_for "kamea-wss" "${internal}/health/ready" || exit 1
wait_for "the demo server" "${demo}/config.json" || exit 1

start simulator node tools/simulator/simulator.mjs --url "$internal" --interval "$interval" \
    >"$logs/simulator.log"

cat <<MSG

kamea-wss local stack is up (Ctrl-C stops everything)
  Demo page     ${demo}/
                live charts of demo-1..demo-3; try ?transport=websocket or ?transport=polling,
                ?token=deny-me (access_denied) or ?token=e500-x (internal_server_error)
  AsyncAPI doc  ${service}/doc
  Socket.IO     ${service}/socket.io/  namespace /devices, io(url, {auth: {token: "allow-…"}})
                (stand-in tokens: allow-… allowed, deny-… denied; tools/management-api/README.md)
  Metrics       ${internal}/metrics
  Health        ${internal}/health/live  ${internal}/health/ready
  Ingest        curl -XPOST -H 'Content-Type: application/json' \\
                  -d '{"deviceId":"demo-1","tenantId":"demo","temperature":30}' \\
                  ${internal}/internal/v1/telemetries
  Stand-in      http://127.0.0.1:${api_port}  (Management API)
  Logs          kamea-wss here; simulator, demo server, stand-in: ${logs}/*.log

MSG

# Until Ctrl-C, or until one of them stops by itself (then the others are stopped too).
set +e
wait -n "${pids[@]}"
check_alive "unexpectedly"
exit 1
