#!/usr/bin/env bash
# What connection state recovery costs in memory (issue 13): per waiting session and per kept
# telemetry. The same steps with recovery off, then on, in one run:
#   1. N WebSocket clients (kamea-loadgen) connect and subscribe, over DEVICES devices;
#   2. they are all killed at once (SIGKILL: their TCP connections close), so with recovery on
#      N sessions wait for their clients;
#   3. N new clients connect and subscribe (the memory the killed sockets freed is taken again,
#      so what the waiting sessions hold shows);
#   4. PUBLISH telemetries are posted to their devices (kamea-publish), which recovery keeps.
# The server's RSS after each step; recovery's share is the difference between the two runs.
#
#   BUILD=build N=10000 DEVICES=1000 PUBLISH=100000 bench/recovery-memory.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
N=${N:-10000}
DEVICES=${DEVICES:-1000}
PUBLISH=${PUBLISH:-100000}
RATE=${RATE:-20000}
TMP=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT
[ -z "${KEEP:-}" ] || trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done; echo "kept $TMP" >&2' EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
metric() { curl -s "http://127.0.0.1:$internal/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
wait_for() { # <what> <command…>: until the command succeeds, at most 60 s
    local what=$1 i
    shift
    for ((i = 0; i < 600; i++)); do
        if "$@"; then return 0; fi
        sleep 0.1
    done
    echo "recovery-memory: timed out waiting for $what" >&2
    exit 1
}
no_sockets() { [ "$(metric kamea_namespace_sockets)" = 0 ]; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
settled_rss() { sleep 2; local s; for s in 1 2 3; do rss_kib "$1"; sleep 0.5; done | sort -n | sed -n 2p; }

api=$(free_port)
node tools/management-api/server.mjs --port "$api" --host 127.0.0.1 --quiet >"$TMP/standin.log" 2>&1 &
pids+=($!)
wait_for "the stand-in" port_open "$api"

# clients <label>: N subscribed clients against $public; sets lg.
clients() {
    "$BUILD/bench/kamea-loadgen" --port "$public" --scenario subscribe --connections "$N" --devices "$DEVICES" \
        --token allow-bench --source 127.0.0.2-127.0.0.9 --hold 0 >"$TMP/$1-lg.json" 2>"$TMP/$1-lg.log" &
    lg=$!
    pids+=($lg)
    wait_for "the clients" grep -q '"event":"ready"' "$TMP/$1-lg.log"
}

# run <label> <kamea flags…>: prints "label rss0…rss4 kept_bytes kept_telemetries sessions"
run() {
    local label=$1
    shift
    public=$(free_port)
    internal=$(free_port)
    "$BUILD/kamea-wss" --public-host 127.0.0.1 --public-port "$public" --internal-port "$internal" \
        --management-api-url "http://127.0.0.1:$api" --max-connections-per-ip 0 --log-level warn "$@" \
        >"$TMP/$label.log" 2>&1 &
    local server=$!
    pids+=($server)
    wait_for "kamea-wss" port_open "$internal"
    local rss0 rss1 rss2 rss3 rss4
    rss0=$(settled_rss "$server")
    clients "$label-1"
    rss1=$(settled_rss "$server")
    kill -9 "$lg"
    wait "$lg" 2>/dev/null || true
    wait_for "the sockets to go" no_sockets
    rss2=$(settled_rss "$server")
    clients "$label-2"
    rss3=$(settled_rss "$server")
    "$BUILD/bench/kamea-publish" --port "$internal" --rate "$RATE" --duration "$(awk -v p="$PUBLISH" -v r="$RATE" 'BEGIN {print p / r}')" \
        --devices "$DEVICES" --batch 100 >"$TMP/$label-publish.json"
    rss4=$(settled_rss "$server")
    echo "$label $rss0 $rss1 $rss2 $rss3 $rss4 $(metric kamea_recovery_buffer_bytes) $(metric kamea_recovery_buffer_telemetries) $(metric kamea_recovery_sessions)"
    kill -9 "$lg"
    kill "$server"
    wait "$server" 2>/dev/null || true
}

off=$(run off)
on=$(run on --recovery-window 600)
echo "# N=$N clients over DEVICES=$DEVICES devices, PUBLISH=$PUBLISH telemetries ($(git rev-parse --short HEAD))"
echo "| recovery | idle RSS | subscribed | clients killed | N new clients | after publishing | kept bytes (metric) | kept telemetries | waiting sessions |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for row in "$off" "$on"; do
    read -r label a b c d e f g h <<<"$row"
    echo "| $label | $a KiB | $b KiB | $c KiB | $d KiB | $e KiB | $f | $g | $h |"
done
read -r _ _ _ _ c_off d_off _ <<<"$off"
read -r _ _ _ _ c_on d_on _ <<<"$on"
awk -v n="$N" -v p="$PUBLISH" -v c0="$c_off" -v c1="$c_on" -v d0="$d_off" -v d1="$d_on" 'BEGIN {
    printf "per waiting session: %.0f bytes; per kept telemetry: %.0f bytes\n", (c1 - c0) * 1024 / n, ((d1 - c1) - (d0 - c0)) * 1024 / p
}'
