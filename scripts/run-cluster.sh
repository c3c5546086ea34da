#!/usr/bin/env bash
# `make run-cluster` (after the build): three kamea-wss instances on one real RabbitMQ behind
# HAProxy, on 127.0.0.1, as docs/deployment.md describes them.
#   - RabbitMQ, a throwaway node of scripts/rabbitmq.sh in $RUN_LOG_DIR/rabbitmq (free ports,
#     so it never meets the tests' brokers); or the broker(s) of WSS_AMQP_URL when it is set
#   - the Management API stand-in (tools/management-api/)                 :3002  STANDIN_PORT
#   - kamea-wss x3, public listeners (Socket.IO, /doc)               :3010-3012  PUBLIC_PORT_BASE
#                   internal listeners (ingest, /health, /metrics)   :3020-3022  INTERNAL_PORT_BASE
#   - HAProxy (deploy/haproxy/haproxy.cfg): the one entry point           :3000  LB_PORT
#     (round the instances by least connections, sticky cookie for polling, checks on
#     /health/ready of each internal listener; the demo page on the same origin)
#   - the demo page's server (tools/demo/), reached through the balancer  :8080  DEMO_PORT
#   - one telemetry simulator per instance (tools/simulator/): demo-<i> of tenant demo posted to
#     instance <i>'s ingestion every second; the bus takes each to the subscribers of all three
# then prints where to look. Ctrl-C (or SIGTERM) stops everything, in order: the simulators,
# the instances (each drains: its clients see "transport close"), HAProxy and the demo server,
# the stand-in, the broker. Every process logs to $RUN_LOG_DIR (default build/run-cluster/).
#
# Other variables: LB_HOST (default 127.0.0.1: the stand-in allows any allow-… token, so the
# stack stays on loopback unless asked), DEMO_HOST, SIMULATOR_INTERVAL (ms), KAMEA_WSS_BIN,
# CHECK_INTERVAL (HAProxy's health checks, default 1s); every other WSS_* variable reaches the
# three instances as usual, WSS_INGEST_TOKEN the simulators too, and WSS_CORS_ORIGINS is added
# to the demo page's origins. Arguments of this script are passed on to every instance (e.g.
# scripts/run-cluster.sh --log-level debug).
set -euo pipefail
cd "$(dirname "$0")/.."

lb_host=${LB_HOST:-127.0.0.1}
lb_port=${LB_PORT:-3000}
public_base=${PUBLIC_PORT_BASE:-3010}
internal_base=${INTERNAL_PORT_BASE:-3020}
api_port=${STANDIN_PORT:-3002}
demo_host=${DEMO_HOST:-127.0.0.1}
demo_port=${DEMO_PORT:-8080}
interval=${SIMULATOR_INTERVAL:-1000}
check_interval=${CHECK_INTERVAL:-1s}
logs=${RUN_LOG_DIR:-build/run-cluster}
bin=${KAMEA_WSS_BIN:-build/kamea-wss}
instances=3

die() { echo "run-cluster: $*" >&2; exit 1; }
[ -x "$bin" ] || die "$bin is missing: run make build (or make run-cluster)"
[ -f tests/node_modules/socket.io-client/dist/socket.io.min.js ] ||
    die "the socket.io-client bundle is missing: run scripts/install-deps.sh (npm ci in tests/)"
for tool in curl haproxy python3; do
    command -v "$tool" >/dev/null || die "$tool is missing: run scripts/install-deps.sh"
done
[ -n "${WSS_AMQP_URL:-}" ] || [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] ||
    die "rabbitmq-server is missing: run scripts/install-deps.sh (or set WSS_AMQP_URL to a broker)"
ports=("$lb_port" "$api_port" "$demo_port")
for ((i = 0; i < instances; i++)); do
    ports+=($((public_base + i)) $((internal_base + i)))
done
for port in "${ports[@]}"; do
    [[ $port =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] ||
        die "ports must be numbers from 1 to 65535 (got '$port')"
done
[ "$(printf '%s\n' "${ports[@]}" | sort -u | wc -l)" -eq "${#ports[@]}" ] ||
    die "two of the ports are the same: ${ports[*]}"
mkdir -p "$logs"
logs=$(cd "$logs" && pwd)

shown() { # the address a browser uses for a listener's host
    case $1 in
    0.0.0.0) echo 127.0.0.1 ;;
    ::) echo "[::1]" ;;
    *:*) [[ $1 == \[* ]] && echo "$1" || echo "[$1]" ;;
    *) echo "$1" ;;
    esac
}
balancer="http://$(shown "$lb_host"):${lb_port}"
demo="http://$(shown "$demo_host"):${demo_port}"
# The page is served through the balancer (same origin: no CORS, and the browser keeps
# HAProxy's cookie for polling) and directly on its own port (another origin).
cors="${balancer},http://localhost:${lb_port},${demo},http://127.0.0.1:${demo_port},http://localhost:${demo_port}"
[ -n "${WSS_CORS_ORIGINS:-}" ] && cors="${cors},${WSS_CORS_ORIGINS}"

# Each stage of the stack is a group, stopped in this order by stop().
groups=(producers instances frontends standin)
declare -A group_pids=()
pids=()
names=()
start() { # start <group> <name> <command...>: runs it in the background and remembers it
    local group=$1 name=$2
    shift 2
    # In a process group of its own (set -m), so that Ctrl-C reaches this script only and the
    # stack stops in order, through the trap below, rather than all at once.
    set -m
    "$@" &
    local pid=$!
    set +m
    pids+=("$pid")
    names+=("$name")
    group_pids[$group]="${group_pids[$group]:-} $pid"
}

broker_dir=
stop_group() { # stop_group <tenths of a second> <pid...>: SIGTERM, wait, then SIGKILL
    local tenths=$1 i pid alive
    shift
    [ $# -eq 0 ] && return 0
    for pid in "$@"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for ((i = 0; i < tenths; i++)); do
        alive=
        for pid in "$@"; do
            kill -0 "$pid" 2>/dev/null && alive=1
        done
        [ -z "$alive" ] && return 0
        sleep 0.1
    done
    for pid in "$@"; do
        kill -KILL "$pid" 2>/dev/null || true
    done
}

stopping=
stop() {
    [ -n "$stopping" ] && return
    stopping=1
    trap '' INT TERM
    local group
    for group in "${groups[@]}"; do
        # kamea-wss drains for at most its --shutdown-grace (10 s by default); then no mercy.
        # shellcheck disable=SC2086 # a list of pids
        stop_group 150 ${group_pids[$group]:-}
    done
    wait 2>/dev/null || true
    if [ -n "$broker_dir" ]; then
        scripts/rabbitmq.sh stop "$broker_dir" >/dev/null 2>&1 || true
    fi
}
trap stop EXIT
trap 'echo; echo "run-cluster: stopping"; stop; exit 0' INT TERM

# Fails (and says which) if a process of the stack has exited.
check_alive() {
    local i
    for i in "${!pids[@]}"; do
        if ! kill -0 "${pids[i]}" 2>/dev/null; then
            echo "run-cluster: ${names[i]} exited${1:+ $1}; see ${logs}/${names[i]}.log" >&2
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
    echo "run-cluster: $1 did not answer at $2" >&2
    return 1
}

servers_up() { # how many kamea-wss servers HAProxy's checks see UP (its admin socket)
    python3 - "$1" <<'PY' 2>/dev/null || echo 0
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(2)
s.connect(sys.argv[1])
s.sendall(b"show stat\n")
data = b""
while chunk := s.recv(65536):
    data += chunk
rows = [r.split(",") for r in data.decode().splitlines() if r and not r.startswith("#")]
print(sum(1 for r in rows if r[0] == "kamea-wss" and r[1] not in ("FRONTEND", "BACKEND") and r[17] == "UP"))
PY
}

# The bus: the brokers of WSS_AMQP_URL, or a node of our own.
if [ -n "${WSS_AMQP_URL:-}" ]; then
    amqp_url=$WSS_AMQP_URL
    broker_shown="WSS_AMQP_URL (yours)"
else
    broker_dir=$logs/rabbitmq
    echo "run-cluster: starting RabbitMQ (about 15 s; its files in ${broker_dir}/)"
    scripts/rabbitmq.sh start "$broker_dir" >"$logs/rabbitmq.log" 2>&1 ||
        { cat "$logs/rabbitmq.log" >&2; broker_dir=; die "RabbitMQ did not start"; }
    amqp_url=$(sed -n 's/^KAMEA_AMQP_URL=//p' "$broker_dir/env")
    broker_node=$(sed -n 's/^KAMEA_RABBITMQ_NODE=//p' "$broker_dir/env")
    broker_shown="${amqp_url}  (node ${broker_node}; rabbitmqctl: HOME=${broker_dir} /usr/lib/rabbitmq/bin/rabbitmqctl -n ${broker_node} list_bindings)"
fi

start standin management-api node tools/management-api/server.mjs --port "$api_port" --quiet \
    >"$logs/management-api.log" 2>&1
extra_args=("$@")
start_instance() { # start_instance <i>: instance i (0-based) on its ports, logging to its file
    local i=$1
    start instances "kamea-wss-$((i + 1))" "$bin" \
        --public-host 127.0.0.1 --public-port $((public_base + i)) \
        --internal-host 127.0.0.1 --internal-port $((internal_base + i)) \
        --amqp-url "$amqp_url" \
        --management-api-url "http://127.0.0.1:${api_port}" \
        --cors-origins "$cors" \
        "${extra_args[@]}" >>"$logs/kamea-wss-$((i + 1)).log" 2>&1
}
for ((i = 0; i < instances; i++)); do
    : >"$logs/kamea-wss-$((i + 1)).log"
    start_instance "$i"
done
start frontends demo-server node tools/demo/serve.mjs --host "$demo_host" --port "$demo_port" \
    --service "$balancer" >"$logs/demo-server.log" 2>&1

wait_for "the Management API stand-in" "http://127.0.0.1:${api_port}/_control/stats" || exit 1
for ((i = 0; i < instances; i++)); do
    wait_for "kamea-wss $((i + 1))" "http://127.0.0.1:$((internal_base + i))/health/ready" || exit 1
done
wait_for "the demo server" "${demo}/config.json" || exit 1

stats_socket=$logs/haproxy.sock
lb_env=(KAMEA_LB_HOST="$lb_host" KAMEA_LB_PORT="$lb_port" KAMEA_LB_STATS_SOCKET="$stats_socket"
    KAMEA_LB_CHECK_INTER="$check_interval" KAMEA_LB_APP="127.0.0.1:${demo_port}")
for ((i = 0; i < instances; i++)); do
    lb_env+=("KAMEA_WSS$((i + 1))_HOST=127.0.0.1" "KAMEA_WSS$((i + 1))_PORT=$((public_base + i))"
        "KAMEA_WSS$((i + 1))_INTERNAL_PORT=$((internal_base + i))")
done
start frontends haproxy env "${lb_env[@]}" haproxy -db -f deploy/haproxy/haproxy.cfg \
    >"$logs/haproxy.log" 2>&1
wait_for "HAProxy" "${balancer}/socket.io/?EIO=4&transport=polling" || exit 1
for ((i = 0; i < 100; i++)); do
    [ "$(servers_up "$stats_socket")" -ge "$instances" ] && break
    sleep 0.2
done
[ "$(servers_up "$stats_socket")" -ge "$instances" ] ||
    echo "run-cluster: HAProxy does not see every instance up yet (${logs}/haproxy.log)" >&2

for ((i = 0; i < instances; i++)); do
    start producers "simulator-$((i + 1))" node tools/simulator/simulator.mjs \
        --url "http://127.0.0.1:$((internal_base + i))" --devices "demo-$((i + 1))" --interval "$interval" \
        >"$logs/simulator-$((i + 1)).log" 2>&1
done

last_public=$((public_base + instances - 1))
last_internal=$((internal_base + instances - 1))
cat <<MSG

kamea-wss cluster is up: 3 instances, one RabbitMQ, HAProxy in front (Ctrl-C stops everything)
  Demo page     ${balancer}/   (served through the balancer: same origin, so polling
                keeps HAProxy's sticky cookie); try ?transport=polling or ?transport=websocket.
                Also ${demo}/?transport=websocket (another origin: the page does not ask for
                credentials, so polling there would lose the cookie and its session)
  Socket.IO     ${balancer}/socket.io/  namespace /devices, io(url, {auth: {token: "allow-…"}})
                (a Node.js client needs withCredentials: true to keep the cookie over polling)
  AsyncAPI doc  ${balancer}/doc
  Instances     public 127.0.0.1:${public_base}-${last_public}, internal 127.0.0.1:${internal_base}-${last_internal}
                (/health/ready, /metrics: kamea_bus_connected, kamea_bus_bindings, ...)
  Ingest        curl -XPOST -H 'Content-Type: application/json' \\
                  -d '{"deviceId":"demo-1","tenantId":"demo","temperature":30}' \\
                  http://127.0.0.1:${internal_base}/internal/v1/telemetries   (any instance)
  Simulators    demo-<i> posted to instance <i> every ${interval} ms
  Broker        ${broker_shown}
  HAProxy       show stat: python3 -c 'import socket;s=socket.socket(socket.AF_UNIX);s.connect("${stats_socket}");s.sendall(b"show stat\\n");print(s.makefile().read())'
  Restart one   kill -TERM <pid>: it drains and exits, its clients reconnect to the others
                by themselves, and this script starts it again (a rolling restart by hand)
                pids: $(for i in "${!names[@]}"; do [[ ${names[i]} == kamea-wss-* ]] && printf '%s=%s ' "${names[i]}" "${pids[i]}"; done)
  Logs          ${logs}/*.log

MSG

# Until Ctrl-C. An instance that exits 0 (SIGTERM: a rolling restart by hand) is started
# again on its ports; any other process that stops, or an instance that fails, stops it all.
set +e
while :; do
    done_pid=
    wait -n -p done_pid "${pids[@]}"
    rc=$?
    [ -n "$stopping" ] && exit 0
    for i in "${!pids[@]}"; do
        [ "${pids[i]}" = "$done_pid" ] || continue
        if [[ ${names[i]} == kamea-wss-* ]] && [ "$rc" -eq 0 ]; then
            n=${names[i]#kamea-wss-}
            echo "run-cluster: ${names[i]} exited 0 (drained); starting it again"
            unset 'pids[i]' 'names[i]'
            pids=("${pids[@]}")
            names=("${names[@]}")
            group_pids[instances]=$(for j in "${!names[@]}"; do [[ ${names[j]} == kamea-wss-* ]] && echo "${pids[j]}"; done | tr '\n' ' ')
            start_instance $((n - 1))
            continue 2
        fi
        echo "run-cluster: ${names[i]} exited unexpectedly (status $rc); see ${logs}/${names[i]}.log" >&2
        exit 1
    done
done
