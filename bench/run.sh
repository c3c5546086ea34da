#!/usr/bin/env bash
# Benchmarks of kamea-wss and the Node.js socket.io reference, one server after the other on this
# machine, then docs/performance.md. `make bench` runs this; see bench/README.md.
#
# Scenarios (SCENARIOS="idle fanout", in this order):
#   idle    CONNECTIONS clients join /devices and are held STEADY seconds: connect rate, CPU and
#           RSS per connection.
#   fanout  FANOUT_CONNECTIONS clients each subscribe (with an ack, through the Management API
#           stand-in) to one of FANOUT_DEVICES devices, then kamea-publish posts telemetries at
#           each rate of FANOUT_RATES for FANOUT_STEP seconds: telemetries/s in, messages/s out,
#           server CPU per 100k delivered messages, publish-to-receive latency.
#
# Settings (environment):
#   SCENARIOS="idle fanout"
#   CONNECTIONS=10000   connections per server (each server must stay under 20000 open files)
#   LOADGEN_PROCS=2     load generator processes (more are used if one would pass ~15000 fds)
#   CONCURRENCY=200     handshakes in flight per load generator process
#   STEADY=30           seconds to hold the connections once all are established (> pingInterval
#                       25 s, so every connection has answered a heartbeat before RSS is read)
#   SERVERS="kamea node"  which servers, in this order
#   BUILD=build         CMake build directory (binaries: $BUILD/kamea-wss, $BUILD/bench/kamea-loadgen)
#   OUT=docs/performance.md   the report; RESULTS=bench/results/<time> keeps the raw data
# Fan-out:
#   FANOUT_CONNECTIONS=10000  subscribed clients per server
#   FANOUT_DEVICES=1000       devices (FANOUT_CONNECTIONS/FANOUT_DEVICES subscribers each)
#   FANOUT_RATES="1000 2000 4000 8000 12000 16000"  telemetries/s published, one step each;
#                             stepping stops early once delivered messages/s grow by less than
#                             10 % from one step to the next, or the publisher sees errors
#   FANOUT_STEP=10            seconds per step (then FANOUT_DRAIN=3 s of quiet)
#   FANOUT_BATCH=50           telemetries per POST
#   FANOUT_PUB_CONNECTIONS=4  publisher connections; each waits for an answer before its next
#                             request. Batch j goes to connection j mod C, so when
#                             FANOUT_DEVICES/FANOUT_BATCH is a multiple of C every device stays on
#                             one connection and its publish order is kept.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

CONNECTIONS=${CONNECTIONS:-10000}
LOADGEN_PROCS=${LOADGEN_PROCS:-2}
CONCURRENCY=${CONCURRENCY:-200}
STEADY=${STEADY:-30}
SERVERS=${SERVERS:-"kamea node"}
SCENARIOS=${SCENARIOS:-"idle fanout"}
FANOUT_CONNECTIONS=${FANOUT_CONNECTIONS:-10000}
FANOUT_DEVICES=${FANOUT_DEVICES:-1000}
FANOUT_RATES=${FANOUT_RATES:-"1000 2000 4000 8000 12000 16000"}
FANOUT_STEP=${FANOUT_STEP:-10}
FANOUT_DRAIN=${FANOUT_DRAIN:-3}
FANOUT_BATCH=${FANOUT_BATCH:-50}
FANOUT_PUB_CONNECTIONS=${FANOUT_PUB_CONNECTIONS:-4}
BUILD=${BUILD:-build}
OUT=${OUT:-docs/performance.md}
READY_TIMEOUT=${READY_TIMEOUT:-180}
RESULTS=${RESULTS:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}

KAMEA=$BUILD/kamea-wss
LOADGEN=$BUILD/bench/kamea-loadgen
PUBLISH=$BUILD/bench/kamea-publish
REFERENCE=bench/reference
STANDIN=tools/management-api/server.mjs

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

# --- preconditions -------------------------------------------------------------------------
[ -x "$KAMEA" ] || die "$KAMEA missing: run 'make build' first"
# The report draws the fan-out plots (docs/perf-fanout-*.png) with gnuplot; without it the page
# is still written and the previous plots are left as they were.
command -v gnuplot >/dev/null || log "warning: gnuplot missing (apt-get install gnuplot-nox): the fan-out plots will not be redrawn"
if [ ! -x "$LOADGEN" ] || [ ! -x "$PUBLISH" ]; then
    cmake --build "$BUILD" --target kamea-loadgen kamea-publish
fi
command -v node >/dev/null || die "node is needed for the reference server and the report"
if [ ! -d "$REFERENCE/node_modules" ] ||
    [ "$REFERENCE/package-lock.json" -nt "$REFERENCE/node_modules/.package-lock.json" ]; then
    log "installing the reference server's packages (npm ci)"
    (cd "$REFERENCE" && npm ci --no-audit --no-fund --loglevel=error)
fi
[ "$CONNECTIONS" -le 19500 ] && [ "$FANOUT_CONNECTIONS" -le 19000 ] || die "CONNECTIONS=$CONNECTIONS: a server must stay under 20000 open files"
ulimit -n 20000 2>/dev/null || die "cannot raise the open-file limit to 20000 (hard limit: $(ulimit -Hn))"
per_proc_max=15000
procs=$LOADGEN_PROCS
if [ $(((CONNECTIONS + procs - 1) / procs)) -gt $per_proc_max ]; then
    procs=$(((CONNECTIONS + per_proc_max - 1) / per_proc_max))
fi

fanout_procs=$LOADGEN_PROCS
if [ $(((FANOUT_CONNECTIONS + fanout_procs - 1) / fanout_procs)) -gt $per_proc_max ]; then
    fanout_procs=$(((FANOUT_CONNECTIONS + per_proc_max - 1) / per_proc_max))
fi

mkdir -p "$RESULTS/bin"
log "raw results in $RESULTS"
# Run a copy of the server binary: the build directory is shared, and a rebuild in the middle
# of a run must not change what is measured.
cp "$KAMEA" "$RESULTS/bin/kamea-wss"
KAMEA_RUN=$RESULTS/bin/kamea-wss

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

# --- idle: one server -----------------------------------------------------------------------
run_idle() {
    local name=$1 dir=$RESULTS/$1 port cmd pid
    mkdir -p "$dir"
    port=$(free_port)
    case $name in
    kamea)
        # The listening line is logged at info, so with warn we pass a free port ourselves.
        cmd=("$KAMEA_RUN" --public-port "$port" --log-level warn --public-host 127.0.0.1 --internal-port 0)
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

# --- fan-out: one server ---------------------------------------------------------------------
wait_port() { # pid port name log
    for _ in $(seq 100); do
        port_open "$2" && return 0
        kill -0 "$1" 2>/dev/null || die "$3 exited: $(tail -5 "$4")"
        sleep 0.1
    done
    die "$3 is not listening on $2"
}

stop_pid() { # SIGTERM, then SIGKILL after 15 s
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

run_fanout() {
    local name=$1 dir=$RESULTS/fanout/$1 port iport api_port cmd pid api_pid
    mkdir -p "$dir"
    api_port=$(free_port)
    node "$STANDIN" --port "$api_port" --host 127.0.0.1 --quiet >"$dir/standin.log" 2>&1 &
    api_pid=$!
    pids_to_clean+=("$api_pid")
    wait_port "$api_pid" "$api_port" "the Management API stand-in" "$dir/standin.log"
    port=$(free_port)
    iport=$(free_port)
    case $name in
    kamea)
        cmd=("$KAMEA_RUN" --public-port "$port" --public-host 127.0.0.1 --internal-port "$iport"
            --management-api-url "http://127.0.0.1:$api_port" --log-level warn)
        ;;
    node)
        cmd=(node "$REFERENCE/server.mjs" --port "$port" --host 127.0.0.1 --internal-port "$iport"
            --management-api-url "http://127.0.0.1:$api_port")
        ;;
    *) die "unknown server $name" ;;
    esac
    log "fanout $name: ${cmd[*]}"
    "${cmd[@]}" >"$dir/server.log" 2>&1 &
    pid=$!
    pids_to_clean+=("$pid")
    wait_port "$pid" "$port" "$name" "$dir/server.log"
    wait_port "$pid" "$iport" "$name (internal)" "$dir/server.log"
    sleep 2
    local idle_rss idle_cpu s
    idle_rss=$(for s in 1 2 3; do rss_kib "$pid"; sleep 0.5; done | sort -n | sed -n 2p)
    idle_cpu=$(cpu_s "$pid")

    # Subscribers: client index k (across processes) watches dev-<k mod FANOUT_DEVICES>.
    local i n share first=0 lg_pids=() lg_cmds=() t0
    t0=$(date +%s.%N)
    for ((i = 0; i < fanout_procs; i++)); do
        share=$((FANOUT_CONNECTIONS / fanout_procs + (i < FANOUT_CONNECTIONS % fanout_procs ? 1 : 0)))
        local lg=("$LOADGEN" --port "$port" --scenario subscribe --devices "$FANOUT_DEVICES"
            --first-index "$first" --token allow-bench --connections "$share"
            --concurrency "$CONCURRENCY" --source "127.0.0.$((2 + 2 * i)),127.0.0.$((3 + 2 * i))"
            --hold 0 --progress-interval 250 --server-pid "$pid" --label "fanout-$name-$i")
        first=$((first + share))
        lg_cmds+=("${lg[*]}")
        "${lg[@]}" >"$dir/loadgen-$i.json" 2>"$dir/loadgen-$i.log" &
        lg_pids+=($!)
        pids_to_clean+=($!)
    done
    local ready=0 deadline=$((SECONDS + READY_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        n=0
        for ((i = 0; i < fanout_procs; i++)); do
            grep -q '"event":"ready"' "$dir/loadgen-$i.log" 2>/dev/null && n=$((n + 1))
            kill -0 "${lg_pids[$i]}" 2>/dev/null || die "load generator $i exited early: $(tail -3 "$dir/loadgen-$i.log")"
        done
        [ "$n" -eq "$fanout_procs" ] && ready=1 && break
        sleep 0.1
    done
    local t_ready ready_cpu ready_rss
    t_ready=$(date +%s.%N)
    ready_cpu=$(cpu_s "$pid")
    ready_rss=$(rss_kib "$pid")
    [ "$ready" -eq 1 ] || log "fanout $name: not all subscriptions settled within ${READY_TIMEOUT}s"
    log "fanout $name: connected+subscribed in $(awk -v a="$t0" -v b="$t_ready" 'BEGIN {printf "%.1f", b - a}') s, RSS ${ready_rss} KiB"
    sleep 2

    # Publish at each rate; the publisher samples the server's CPU over its own window.
    local step=0 rate pub_cmds=() verdict
    for rate in $FANOUT_RATES; do
        step=$((step + 1))
        local pub=("$PUBLISH" --port "$iport" --rate "$rate" --duration "$FANOUT_STEP"
            --devices "$FANOUT_DEVICES" --batch "$FANOUT_BATCH" --step "$step"
            --connections "$FANOUT_PUB_CONNECTIONS"
            --server-pid "$pid" --timeout $((FANOUT_STEP + 30)))
        pub_cmds+=("${pub[*]}")
        "${pub[@]}" >"$dir/publish-$step.json" 2>"$dir/publish-$step.log" ||
            log "fanout $name: publisher step $step failed: $(tail -2 "$dir/publish-$step.log")"
        sleep "$FANOUT_DRAIN"
        echo -e "$step\t$rate\t$(rss_kib "$pid")\t$(cpu_s "$pid")" >>"$dir/steps.tsv"
        verdict=$(node bench/lib/fanout.mjs step "$dir" "$step")
        log "fanout $name: step $step: $verdict"
        case $verdict in stop*) break ;; esac
    done

    for p in "${lg_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${lg_pids[@]}"; do wait "$p" || true; done
    stop_pid "$pid"
    stop_pid "$api_pid"
    pids_to_clean=()

    node -e 'const [f, ...kv] = process.argv.slice(1); const o = {};
        for (let i = 0; i < kv.length; i += 2) o[kv[i]] = isNaN(Number(kv[i + 1])) ? kv[i + 1] : Number(kv[i + 1]);
        for (const k of ["server_command", "loadgen_commands", "publish_commands"]) o[k] = o[k].split("\u0001").filter(Boolean);
        require("fs").writeFileSync(f, JSON.stringify(o, null, 2) + "\n");' \
        "$dir/fanout-run.json" name "$name" pid "$pid" port "$port" internal_port "$iport" \
        connections "$FANOUT_CONNECTIONS" devices "$FANOUT_DEVICES" step_s "$FANOUT_STEP" batch "$FANOUT_BATCH" pub_connections "$FANOUT_PUB_CONNECTIONS" \
        idle_rss_kib "$idle_rss" idle_cpu_s "$idle_cpu" ready "$ready" ready_rss_kib "$ready_rss" \
        ready_cpu_s "$ready_cpu" t_start "$t0" t_ready "$t_ready" \
        server_command "$(IFS=$'\001'; echo "${cmd[*]}")" \
        loadgen_commands "$(IFS=$'\001'; echo "${lg_cmds[*]}")" \
        publish_commands "$(IFS=$'\001'; echo "${pub_cmds[*]}")"
}

log "scenarios: $SCENARIOS; servers: $SERVERS"
uptime >"$RESULTS/load-before.txt"
date -u +%Y-%m-%dT%H:%M:%SZ >"$RESULTS/date.txt"
{
    printf '%s' "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    if [ -n "$(git status --porcelain -- src 2>/dev/null)" ]; then printf ' (src/ with uncommitted changes)'; fi
    echo
} >"$RESULTS/commit.txt"
for scenario in $SCENARIOS; do
    for server in $SERVERS; do
        case $scenario in
        idle)
            log "idle: $CONNECTIONS connections per server, $procs load generator processes, steady ${STEADY} s"
            run_idle "$server"
            ;;
        fanout)
            log "fanout: $FANOUT_CONNECTIONS subscribers over $FANOUT_DEVICES devices, $fanout_procs load generator processes, rates $FANOUT_RATES"
            run_fanout "$server"
            ;;
        *) die "unknown scenario $scenario" ;;
        esac
    done
done
uptime >"$RESULTS/load-after.txt"

command="SCENARIOS=\"$SCENARIOS\" SERVERS=\"$SERVERS\" LOADGEN_PROCS=$LOADGEN_PROCS CONCURRENCY=$CONCURRENCY"
case " $SCENARIOS " in *" idle "*) command+=" CONNECTIONS=$CONNECTIONS STEADY=$STEADY" ;; esac
case " $SCENARIOS " in *" fanout "*) command+=" FANOUT_CONNECTIONS=$FANOUT_CONNECTIONS FANOUT_DEVICES=$FANOUT_DEVICES FANOUT_RATES=\"$FANOUT_RATES\" FANOUT_STEP=$FANOUT_STEP FANOUT_BATCH=$FANOUT_BATCH FANOUT_PUB_CONNECTIONS=$FANOUT_PUB_CONNECTIONS" ;; esac
# Also redraws the fan-out plots beside $OUT (perf-fanout-cpu.png, perf-fanout-latency.png) when
# this run measured the fan-out scenario.
node bench/lib/report.mjs "$RESULTS" "$OUT" "$command bench/run.sh"
log "wrote $OUT$(case " $SCENARIOS " in *" fanout "*) echo " and $(dirname "$OUT")/perf-fanout-{cpu,latency}.png" ;; esac)"
