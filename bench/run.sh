#!/usr/bin/env bash
# Idle-connection benchmark: kamea-wss and the Node.js socket.io reference, one after the other
# on this machine, then docs/performance.md. `make bench` runs this; see bench/README.md.
#
# Settings (environment):
#   CONNECTIONS=10000   connections per server (each server must stay under 20000 open files)
#   LOADGEN_PROCS=2     load generator processes (more are used if one would pass ~15000 fds)
#   CONCURRENCY=200     handshakes in flight per load generator process
#   STEADY=30           seconds to hold the connections once all are established (> pingInterval
#                       25 s, so every connection has answered a heartbeat before RSS is read)
#   SERVERS="kamea node"  which servers, in this order
#   BUILD=build         CMake build directory (binaries: $BUILD/kamea-wss, $BUILD/bench/kamea-loadgen)
#   OUT=docs/performance.md   the report; RESULTS=bench/results/<time> keeps the raw data
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

CONNECTIONS=${CONNECTIONS:-10000}
LOADGEN_PROCS=${LOADGEN_PROCS:-2}
CONCURRENCY=${CONCURRENCY:-200}
STEADY=${STEADY:-30}
SERVERS=${SERVERS:-"kamea node"}
BUILD=${BUILD:-build}
OUT=${OUT:-docs/performance.md}
READY_TIMEOUT=${READY_TIMEOUT:-180}
RESULTS=${RESULTS:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}

KAMEA=$BUILD/kamea-wss
LOADGEN=$BUILD/bench/kamea-loadgen
REFERENCE=bench/reference

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- preconditions -------------------------------------------------------------------------
[ -x "$KAMEA" ] || die "$KAMEA missing: run 'make build' first"
if [ ! -x "$LOADGEN" ]; then
    cmake --build "$BUILD" --target kamea-loadgen
fi
command -v node >/dev/null || die "node is needed for the reference server and the report"
if [ ! -d "$REFERENCE/node_modules" ] ||
    [ "$REFERENCE/package-lock.json" -nt "$REFERENCE/node_modules/.package-lock.json" ]; then
    log "installing the reference server's packages (npm ci)"
    (cd "$REFERENCE" && npm ci --no-audit --no-fund --loglevel=error)
fi
[ "$CONNECTIONS" -le 19500 ] || die "CONNECTIONS=$CONNECTIONS: a server must stay under 20000 open files"
ulimit -n 20000 2>/dev/null || die "cannot raise the open-file limit to 20000 (hard limit: $(ulimit -Hn))"
per_proc_max=15000
procs=$LOADGEN_PROCS
if [ $(((CONNECTIONS + procs - 1) / procs)) -gt $per_proc_max ]; then
    procs=$(((CONNECTIONS + per_proc_max - 1) / per_proc_max))
fi

mkdir -p "$RESULTS"
log "raw results in $RESULTS"

clk_tck=$(getconf CLK_TCK)
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
# utime + stime in seconds (fields 14 and 15 of /proc/<pid>/stat, counted after the command name)
cpu_s() { sed 's/^.*) //' "/proc/$1/stat" | awk -v t="$clk_tck" '{printf "%.2f", ($12 + $13) / t}'; }
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
        console.log(s.address().port); s.close(); });'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pids_to_clean=()
cleanup() {
    for p in "${pids_to_clean[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

# --- one server ----------------------------------------------------------------------------
run_server() {
    local name=$1 dir=$RESULTS/$1 port cmd pid
    mkdir -p "$dir"
    port=$(free_port)
    case $name in
    kamea)
        # The listening line is logged at info, so with warn we pass a free port ourselves.
        cmd=("$KAMEA" --public-port "$port" --log-level warn --public-host 127.0.0.1 --internal-port 0)
        ;;
    node)
        cmd=(node "$REFERENCE/server.mjs" --port "$port" --host 127.0.0.1)
        ;;
    *) die "unknown server $name" ;;
    esac
    log "$name: ${cmd[*]}"
    "${cmd[@]}" >"$dir/server.log" 2>&1 &
    pid=$!
    pids_to_clean+=("$pid")
    for _ in $(seq 100); do
        port_open "$port" && break
        kill -0 "$pid" 2>/dev/null || die "$name exited: $(tail -5 "$dir/server.log")"
        sleep 0.1
    done
    port_open "$port" || die "$name is not listening on $port"
    sleep 2 # let it settle (JIT warm-up, lazy allocations) before the idle sample

    # Idle RSS: the median of three samples half a second apart.
    local idle_rss s
    idle_rss=$(for s in 1 2 3; do rss_kib "$pid"; sleep 0.5; done | sort -n | sed -n 2p)
    local idle_cpu idle_fds
    idle_cpu=$(cpu_s "$pid")
    idle_fds=$(fd_count "$pid")
    log "$name: pid $pid port $port idle RSS ${idle_rss} KiB, CPU ${idle_cpu} s"

    # Load generators: each its own pair of loopback source addresses.
    local i n share lg_pids=() lg_cmds=()
    local t0
    t0=$(date +%s.%N)
    for ((i = 0; i < procs; i++)); do
        share=$((CONNECTIONS / procs + (i < CONNECTIONS % procs ? 1 : 0)))
        local lg=("$LOADGEN" --port "$port" --connections "$share" --concurrency "$CONCURRENCY"
            --source "127.0.0.$((2 + 2 * i)),127.0.0.$((3 + 2 * i))" --hold 0
            --server-pid "$pid" --label "$name-$i")
        lg_cmds+=("${lg[*]}")
        "${lg[@]}" >"$dir/loadgen-$i.json" 2>"$dir/loadgen-$i.log" &
        lg_pids+=($!)
        pids_to_clean+=($!)
    done

    # Wait until every load generator has settled all its connections.
    local ready=0 deadline=$((SECONDS + READY_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        n=0
        for ((i = 0; i < procs; i++)); do
            grep -q '"event":"ready"' "$dir/loadgen-$i.log" 2>/dev/null && n=$((n + 1))
            kill -0 "${lg_pids[$i]}" 2>/dev/null || die "load generator $i exited early: $(tail -3 "$dir/loadgen-$i.log")"
        done
        [ "$n" -eq "$procs" ] && ready=1 && break
        sleep 0.1
    done
    local t_ready ready_cpu ready_rss
    t_ready=$(date +%s.%N)
    ready_cpu=$(cpu_s "$pid")
    ready_rss=$(rss_kib "$pid")
    [ "$ready" -eq 1 ] || log "$name: not all connections settled within ${READY_TIMEOUT}s"
    log "$name: connected in $(awk -v a="$t0" -v b="$t_ready" 'BEGIN {printf "%.1f", b - a}') s, RSS ${ready_rss} KiB, CPU ${ready_cpu} s; holding ${STEADY} s"

    # Steady state: sample once a second.
    echo -e "t_s\trss_kib\tcpu_s\tfds" >"$dir/steady.tsv"
    for ((s = 1; s <= STEADY; s++)); do
        sleep 1
        echo -e "$s\t$(rss_kib "$pid")\t$(cpu_s "$pid")\t$(fd_count "$pid")" >>"$dir/steady.tsv"
    done

    for p in "${lg_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${lg_pids[@]}"; do wait "$p" || true; done
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pids_to_clean=() # all reaped: never signal a pid that may have been reused

    node -e 'const [f, ...kv] = process.argv.slice(1); const o = {};
        for (let i = 0; i < kv.length; i += 2) o[kv[i]] = isNaN(Number(kv[i + 1])) ? kv[i + 1] : Number(kv[i + 1]);
        o.server_command = o.server_command.split("\u0001"); o.loadgen_commands = o.loadgen_commands.split("\u0001").filter(Boolean);
        require("fs").writeFileSync(f, JSON.stringify(o, null, 2) + "\n");' \
        "$dir/run.json" name "$name" pid "$pid" port "$port" \
        idle_rss_kib "$idle_rss" idle_cpu_s "$idle_cpu" idle_fds "$idle_fds" \
        ready "$ready" ready_rss_kib "$ready_rss" ready_cpu_s "$ready_cpu" \
        t_start "$t0" t_ready "$t_ready" steady_s "$STEADY" \
        server_command "$(IFS=$'\001'; echo "${cmd[*]}")" \
        loadgen_commands "$(IFS=$'\001'; echo "${lg_cmds[*]}")"
}

log "$CONNECTIONS connections per server, $procs load generator processes, steady ${STEADY} s"
uptime >"$RESULTS/load-before.txt"
date -u +%Y-%m-%dT%H:%M:%SZ >"$RESULTS/date.txt"
{
    printf '%s' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git status --porcelain -- src 2>/dev/null)" ]; then printf ' (src/ with uncommitted changes)'; fi
    echo
} >"$RESULTS/commit.txt"
for server in $SERVERS; do
    run_server "$server"
done
uptime >"$RESULTS/load-after.txt"

node bench/lib/report.mjs "$RESULTS" "$OUT" \
    "CONNECTIONS=$CONNECTIONS LOADGEN_PROCS=$LOADGEN_PROCS CONCURRENCY=$CONCURRENCY STEADY=$STEADY make bench"
log "wrote $OUT"
