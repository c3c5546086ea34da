#!/usr/bin/env bash
# Benchmarks of kamea-wss and the Node.js socket.io reference, one server after the other on this
# machine, then docs/performance.md. `make bench` runs this; see bench/README.md.
#
# Scenarios (SCENARIOS="idle fanout latency large scaling everyday", in this order; each bounded in time,
# loopback only, the servers of SERVERS one after the other):
#   idle     CONNECTIONS clients join /devices and are held STEADY seconds: connect rate, CPU and
#            RSS per connection.
#   fanout   FANOUT_CONNECTIONS clients each subscribe (with an ack, through the Management API
#            stand-in) to one of FANOUT_DEVICES devices, then kamea-publish posts telemetries at
#            each rate of FANOUT_RATES for FANOUT_STEP seconds: telemetries/s in, messages/s out,
#            server CPU per 100k delivered messages, publish-to-receive latency.
#   latency  the fan-out population, then one publish step of LATENCY_DURATION seconds at
#            LATENCY_RATE telemetries/s (20,000 delivered messages/s with 10 subscribers per
#            device): latency p50/p99/p99.9/max, CPU per message, loss and order.
#   large    LARGE_CONNECTIONS subscribed clients (near the 20000-file limit of the server,
#            several load generator processes) held STEADY seconds: RSS per connection,
#            connect+subscribe rate, open files.
#   scaling  kamea-wss only: the fan-out stepping twice, CPU-pinned with taskset: --threads 1 on
#            core 0 (load generators, publisher and stand-in on core 1), then --threads 2 on
#            cores 0,1 (shared with them): most delivered messages/s per thread count. Needs
#            taskset (util-linux) and cores 0 and 1.
#   everyday bench/everyday.sh (its EVERYDAY_* settings): kamea-wss's default beside --threads 1
#            and bench/floor at 2,000, 4,000 and 20,000 deliveries/s and at saturation, in
#            interleaved rounds (about 15 minutes).
#   bus      bench/bus.sh (its BUS_* settings): kamea-wss over RabbitMQ, 1 and 3 instances,
#            against the HTTP path and three Node.js socket.io servers on Redis or RabbitMQ;
#            binding cost and a killed instance. Not in the default list (about 10 minutes):
#            SCENARIOS=bus make bench, or bench/bus.sh.
# The first five with the defaults take about 11 minutes on a 2-core machine, everyday 15 more.
#
# Settings (environment):
#   SCENARIOS="idle fanout latency large scaling everyday"
#   CONNECTIONS=10000   connections per server (each server must stay under 20000 open files)
#   LOADGEN_PROCS=2     load generator processes (more are used if one would pass ~15000 fds)
#   CONCURRENCY=200     handshakes in flight per load generator process
#   STEADY=30           seconds to hold the connections once all are established (> pingInterval
#                       25 s, so every connection has answered a heartbeat before RSS is read);
#                       idle and large
#   SERVERS="kamea node floor"  which servers, in this order; floor and floor-epoll are the bare
#                       fan-out server of bench/floor (io_uring or one send per recipient), which
#                       gives the floor of CPU per message for fanout and latency (skipped in
#                       idle and large)
#   BUILD=build         CMake build directory (binaries: $BUILD/kamea-wss, $BUILD/bench/kamea-loadgen)
#   OUT=docs/performance.md   the report (plots are drawn beside it);
#                       RESULTS=bench/results/<time> keeps the raw data
# Fan-out (also the population of latency and scaling):
#   FANOUT_CONNECTIONS=10000  subscribed clients per server
#   FANOUT_DEVICES=1000       devices (FANOUT_CONNECTIONS/FANOUT_DEVICES subscribers each)
#   FANOUT_RATES="1000 2000 4000 8000 12000 16000 20000"  telemetries/s published, one step each;
#                             stepping stops early once delivered messages/s grow by less than
#                             10 % from one step to the next, or the publisher sees errors
#                             (the rates of scaling too)
#   FANOUT_STEP=10            seconds per step (then FANOUT_DRAIN=3 s of quiet; scaling too)
#   FANOUT_BATCH=50           telemetries per POST
#   FANOUT_PUB_CONNECTIONS=4  publisher connections; each waits for an answer before its next
#                             request. Batch j goes to connection j mod C, so when
#                             FANOUT_DEVICES/FANOUT_BATCH is a multiple of C every device stays on
#                             one connection and its publish order is kept.
# Latency:
#   LATENCY_RATE=2000         telemetries/s of its one step
#   LATENCY_DURATION=30       seconds of that step
#   LATENCY_BATCH=10          telemetries per POST (a request every 5 ms at 2,000/s, as a
#                             pipeline flushing every few ms sends; the fan-out step at the
#                             same rate shows the load in batches of FANOUT_BATCH)
# Large:
#   LARGE_CONNECTIONS=19000   subscribed clients per server (at most 19500)
#   LARGE_DEVICES=1000        devices they subscribe to
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

CONNECTIONS=${CONNECTIONS:-10000}
LOADGEN_PROCS=${LOADGEN_PROCS:-2}
CONCURRENCY=${CONCURRENCY:-200}
STEADY=${STEADY:-30}
SERVERS=${SERVERS:-"kamea node floor"}
SCENARIOS=${SCENARIOS:-"idle fanout latency large scaling everyday"}
FANOUT_CONNECTIONS=${FANOUT_CONNECTIONS:-10000}
FANOUT_DEVICES=${FANOUT_DEVICES:-1000}
FANOUT_RATES=${FANOUT_RATES:-"1000 2000 4000 8000 12000 16000 20000"}
FANOUT_STEP=${FANOUT_STEP:-10}
FANOUT_DRAIN=${FANOUT_DRAIN:-3}
FANOUT_BATCH=${FANOUT_BATCH:-50}
FANOUT_PUB_CONNECTIONS=${FANOUT_PUB_CONNECTIONS:-4}
LATENCY_RATE=${LATENCY_RATE:-2000}
LATENCY_DURATION=${LATENCY_DURATION:-30}
LATENCY_BATCH=${LATENCY_BATCH:-10}
LARGE_CONNECTIONS=${LARGE_CONNECTIONS:-19000}
LARGE_DEVICES=${LARGE_DEVICES:-1000}
BUILD=${BUILD:-build}
OUT=${OUT:-docs/performance.md}
READY_TIMEOUT=${READY_TIMEOUT:-180}
RESULTS=${RESULTS:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)}

KAMEA=$BUILD/kamea-wss
LOADGEN=$BUILD/bench/kamea-loadgen
PUBLISH=$BUILD/bench/kamea-publish
FLOOR=$BUILD/bench/kamea-floor
REFERENCE=bench/reference
STANDIN=tools/management-api/server.mjs

log() { echo "bench: $*" >&2; }
die() { log "error: $*"; exit 1; }
has_scenario() { case " $SCENARIOS " in *" $1 "*) return 0 ;; esac; return 1; }
has_server() { case " $SERVERS " in *" $1 "*) return 0 ;; esac; return 1; }

# --- preconditions -------------------------------------------------------------------------
for scenario in $SCENARIOS; do
    case $scenario in idle | fanout | latency | large | scaling | everyday | bus) ;; *) die "unknown scenario $scenario (idle fanout latency large scaling everyday bus)" ;; esac
done
for server in $SERVERS; do
    case $server in kamea | node | floor | floor-epoll) ;; *) die "unknown server $server (kamea node floor floor-epoll)" ;; esac
done
[ -x "$KAMEA" ] || die "$KAMEA missing: run 'make build' first"
# The report draws the fan-out plots (docs/perf-fanout-*.png) with gnuplot; without it the page
# is still written and the previous plots are left as they were.
command -v gnuplot >/dev/null || log "warning: gnuplot missing (apt-get install gnuplot-nox): the fan-out plots will not be redrawn"
if [ ! -x "$LOADGEN" ] || [ ! -x "$PUBLISH" ] || [ ! -x "$FLOOR" ]; then
    cmake --build "$BUILD" --target kamea-loadgen kamea-publish kamea-floor
fi
command -v node >/dev/null || die "node is needed for the reference server and the report"
if has_server node && { [ ! -d "$REFERENCE/node_modules" ] ||
    [ "$REFERENCE/package-lock.json" -nt "$REFERENCE/node_modules/.package-lock.json" ]; }; then
    log "installing the reference server's packages (npm ci)"
    (cd "$REFERENCE" && npm ci --no-audit --no-fund --loglevel=error)
fi
if has_scenario scaling; then
    # The pinned runs need two cores, 0 and 1, that this process may use.
    command -v taskset >/dev/null || die "scaling: taskset missing (Debian: apt-get install util-linux); or leave scaling out of SCENARIOS"
    [ "$(nproc)" -ge 2 ] || die "scaling: needs at least 2 cores, this process may use $(nproc); or leave scaling out of SCENARIOS"
    taskset -c 0,1 true 2>/dev/null || die "scaling: cannot pin to cores 0 and 1 (allowed: $(taskset -pc $$ | sed 's/.*: //'))"
    has_server kamea || log "warning: scaling measures kamea-wss only, and SERVERS=\"$SERVERS\" leaves it out: skipped"
fi
[ "$CONNECTIONS" -le 19500 ] || die "CONNECTIONS=$CONNECTIONS: a server must stay under 20000 open files"
[ "$FANOUT_CONNECTIONS" -le 19000 ] || die "FANOUT_CONNECTIONS=$FANOUT_CONNECTIONS: a server must stay under 20000 open files"
[ "$LARGE_CONNECTIONS" -le 19500 ] || die "LARGE_CONNECTIONS=$LARGE_CONNECTIONS: a server must stay under 20000 open files"
ulimit -n 20000 2>/dev/null || die "cannot raise the open-file limit to 20000 (hard limit: $(ulimit -Hn))"

# Load generator processes for <connections>: LOADGEN_PROCS, or more if one would pass
# per_proc_max connections (each process has the same 20000-file limit).
per_proc_max=15000
procs_for() {
    local p=$LOADGEN_PROCS
    if [ $((($1 + p - 1) / p)) -gt $per_proc_max ]; then p=$((($1 + per_proc_max - 1) / per_proc_max)); fi
    echo "$p"
}
procs=$(procs_for "$CONNECTIONS")
fanout_procs=$(procs_for "$FANOUT_CONNECTIONS")
large_procs=$(procs_for "$LARGE_CONNECTIONS")

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
# the sum of cpu_s over several processes (those gone count 0)
cpu_sum() {
    local p
    for p in "$@"; do cpu_s "$p" 2>/dev/null || echo 0; echo; done |
        awk '{s += $1} END {printf "%.2f", s}'
}
# "<tid>:<utime+stime ticks>" for every thread of a process, space-separated
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        sed 's/^.*) //' "$t/stat" | awk -v id="${t##*/}" '{printf "%s:%d ", id, $12 + $13}'
    done
}
# each thread's share of the process's CPU between two thread_ticks snapshots, in % (threads
# under 2 % left out), e.g. "50/50": how the work spread over the event loops
thread_shares() {
    awk -v a="$1" -v b="$2" 'BEGIN {
        n = split(a, x, " "); for (i = 1; i <= n; i++) { split(x[i], kv, ":"); before[kv[1]] = kv[2] }
        n = split(b, y, " "); total = 0
        for (i = 1; i <= n; i++) { split(y[i], kv, ":"); d[i] = kv[2] - before[kv[1]]; total += d[i] }
        out = ""
        for (i = 1; i <= n; i++) if (total > 0 && d[i] * 50 >= total) out = out (out == "" ? "" : "/") int(100 * d[i] / total + 0.5)
        print (out == "" ? "-" : out)
    }'
}
fd_count() { ls "/proc/$1/fd" 2>/dev/null | wc -l; }
free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
        console.log(s.address().port); s.close(); });'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.1f", b - a}'; }

pids_to_clean=()
cleanup() {
    for p in "${pids_to_clean[@]}"; do
        kill -TERM "$p" 2>/dev/null || true
    done
}
trap cleanup EXIT

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

# --- the pieces of a run -----------------------------------------------------------------------
# These set variables of their caller, which declares them local: bash's scoping is dynamic.

# start_standin <dir> [cpus]: a fresh Management API stand-in on a free port; sets api_port, api_pid.
start_standin() {
    api_port=$(free_port)
    ${2:+taskset -c "$2"} node "$STANDIN" --port "$api_port" --host 127.0.0.1 --quiet >"$1/standin.log" 2>&1 &
    api_pid=$!
    pids_to_clean+=("$api_pid")
    wait_port "$api_pid" "$api_port" "the Management API stand-in" "$1/standin.log"
}

# start_server <name> <dir> <internal port|""> <Management API url|""> <threads|""> <cpus|"">:
# starts the server on a free public port and waits until it accepts (and its internal port);
# sets port, pid and cmd (the command, as an array).
start_server() {
    local name=$1 dir=$2 internal=$3 api_url=$4 threads=$5 cpus=$6
    port=$(free_port)
    cmd=(${cpus:+taskset -c "$cpus"})
    case $name in
    kamea)
        # The listening line is logged at info, so with warn we pass free ports ourselves.
        cmd+=("$KAMEA_RUN" --public-port "$port" --public-host 127.0.0.1 --internal-port "${internal:-0}")
        [ -z "$api_url" ] || cmd+=(--management-api-url "$api_url")
        [ -z "$threads" ] || cmd+=(--threads "$threads")
        cmd+=(--log-level warn)
        ;;
    node)
        cmd+=(node "$REFERENCE/server.mjs" --port "$port" --host 127.0.0.1)
        [ -z "$internal" ] || cmd+=(--internal-port "$internal")
        [ -z "$api_url" ] || cmd+=(--management-api-url "$api_url")
        ;;
    floor | floor-epoll)
        # No Management API: it acks every subscription itself.
        cmd+=("$FLOOR" --port "$port" --host 127.0.0.1 --send "$([ "$name" = floor ] && echo uring || echo epoll)")
        [ -z "$internal" ] || cmd+=(--internal-port "$internal")
        ;;
    *) die "unknown server $name" ;;
    esac
    log "$name: ${cmd[*]}"
    "${cmd[@]}" >"$dir/server.log" 2>&1 &
    pid=$!
    pids_to_clean+=("$pid")
    wait_port "$pid" "$port" "$name" "$dir/server.log"
    [ -z "$internal" ] || wait_port "$pid" "$internal" "$name (internal)" "$dir/server.log"
    sleep 2 # let it settle (JIT warm-up, lazy allocations) before the idle sample
    # Idle RSS: the median of three samples half a second apart.
    local s
    idle_rss=$(for s in 1 2 3; do rss_kib "$pid"; sleep 0.5; done | sort -n | sed -n 2p)
    idle_cpu=$(cpu_s "$pid")
    idle_fds=$(fd_count "$pid")
    log "$name: pid $pid port $port idle RSS ${idle_rss} KiB, CPU ${idle_cpu} s"
}

# start_loadgens <dir> <label> <connections> <processes> <devices|""> <cpus|""> [loadgen options…]:
# load generators against port/pid, each with its own pair of loopback source addresses; with
# devices, client k (across processes) subscribes to dev-<k mod devices>. Waits until every one
# has settled all its connections (at most READY_TIMEOUT s). Sets lg_pids, lg_cmds, t0 (start),
# t_ready, ready (1 if all settled), ready_rss, ready_cpu.
start_loadgens() {
    local dir=$1 label=$2 connections=$3 nprocs=$4 devices=$5 cpus=$6 i n share first=0
    shift 6
    t0=$(now)
    for ((i = 0; i < nprocs; i++)); do
        share=$((connections / nprocs + (i < connections % nprocs ? 1 : 0)))
        local lg=(${cpus:+taskset -c "$cpus"} "$LOADGEN" --port "$port")
        [ -z "$devices" ] || lg+=(--scenario subscribe --devices "$devices" --first-index "$first" --token allow-bench)
        lg+=(--connections "$share" --concurrency "$CONCURRENCY"
            --source "127.0.0.$((2 + 2 * i)),127.0.0.$((3 + 2 * i))" --hold 0 "$@"
            --server-pid "$pid" --label "$label-$i")
        first=$((first + share))
        lg_cmds+=("${lg[*]}")
        "${lg[@]}" >"$dir/loadgen-$i.json" 2>"$dir/loadgen-$i.log" &
        lg_pids+=($!)
        pids_to_clean+=($!)
    done
    ready=0
    local deadline=$((SECONDS + READY_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        n=0
        for ((i = 0; i < nprocs; i++)); do
            grep -q '"event":"ready"' "$dir/loadgen-$i.log" 2>/dev/null && n=$((n + 1))
            kill -0 "${lg_pids[$i]}" 2>/dev/null || die "load generator $i exited early: $(tail -3 "$dir/loadgen-$i.log")"
        done
        [ "$n" -eq "$nprocs" ] && ready=1 && break
        sleep 0.1
    done
    t_ready=$(now)
    ready_cpu=$(cpu_s "$pid")
    ready_rss=$(rss_kib "$pid")
    [ "$ready" -eq 1 ] || log "$label: not all connections settled within ${READY_TIMEOUT}s"
    log "$label: connected$([ -z "$devices" ] || echo "+subscribed") in $(elapsed "$t0" "$t_ready") s, RSS ${ready_rss} KiB, CPU ${ready_cpu} s"
}

# stop_run [pid…]: the load generators (SIGINT: they print their reports), then the given
# processes (server, stand-in) in order.
stop_run() {
    local p
    for p in "${lg_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${lg_pids[@]}"; do wait "$p" || true; done
    for p in "$@"; do stop_pid "$p"; done
    pids_to_clean=() # all reaped: never signal a pid that may have been reused
}

# write_json <file> <key> <value> …: one JSON object; numbers stay numbers, and a value holding
# \001 separators (see joined) becomes an array.
write_json() {
    node -e 'const [f, ...kv] = process.argv.slice(1); const o = {};
        for (let i = 0; i < kv.length; i += 2) {
            const v = kv[i + 1];
            o[kv[i]] = v.includes("\u0001") ? v.split("\u0001").filter(Boolean) : v !== "" && !isNaN(Number(v)) ? Number(v) : v;
        }
        require("fs").writeFileSync(f, JSON.stringify(o, null, 2) + "\n");' "$@"
}
joined() { local IFS=$'\001'; echo "$*"$'\001'; } # an array for write_json (even of one element)

# --- idle and large: one server --------------------------------------------------------------
# run_hold <name> <results subdir> <connections> <processes> [devices]: connect (and, with
# devices, subscribe through a stand-in) the population, hold it STEADY seconds sampling the
# server once a second, stop. Writes run.json and steady.tsv for report.mjs.
run_hold() {
    local name=$1 dir=$RESULTS/$2 connections=$3 nprocs=$4 devices=${5:-} api_url=""
    local port pid cmd idle_rss idle_cpu idle_fds api_port api_pid=""
    local lg_pids=() lg_cmds=() t0 t_ready ready ready_rss ready_cpu s
    mkdir -p "$dir"
    if [ -n "$devices" ]; then
        start_standin "$dir"
        api_url=http://127.0.0.1:$api_port
    fi
    start_server "$name" "$dir" "" "$api_url" "" ""
    start_loadgens "$dir" "${2//\//-}" "$connections" "$nprocs" "$devices" ""
    log "$name: holding ${STEADY} s"

    # Steady state: sample once a second.
    echo -e "t_s\trss_kib\tcpu_s\tfds" >"$dir/steady.tsv"
    for ((s = 1; s <= STEADY; s++)); do
        sleep 1
        echo -e "$s\t$(rss_kib "$pid")\t$(cpu_s "$pid")\t$(fd_count "$pid")" >>"$dir/steady.tsv"
    done
    stop_run "$pid" ${api_pid:+"$api_pid"}

    write_json "$dir/run.json" name "$name" pid "$pid" port "$port" devices "$devices" \
        idle_rss_kib "$idle_rss" idle_cpu_s "$idle_cpu" idle_fds "$idle_fds" \
        ready "$ready" ready_rss_kib "$ready_rss" ready_cpu_s "$ready_cpu" \
        t_start "$t0" t_ready "$t_ready" steady_s "$STEADY" \
        server_command "$(joined "${cmd[@]}")" loadgen_commands "$(joined "${lg_cmds[@]}")"
}

# --- fanout, latency, scaling: one server ----------------------------------------------------
# run_fanout <name> <results subdir> <rates> <step s> [threads] [server cpus] [client cpus]:
# FANOUT_CONNECTIONS subscribers over FANOUT_DEVICES devices, then one publish step per rate
# (stopping once delivered msgs/s stop growing). threads: kamea-wss --threads; the cpus pin the
# server, and the load generators, publisher and stand-in, with taskset. Writes fanout-run.json,
# steps.tsv and the publishers' reports for fanout.mjs.
run_fanout() {
    local name=$1 sub=$2 rates=$3 step_s=$4 threads=${5:-} server_cpus=${6:-} client_cpus=${7:-}
    local dir=$RESULTS/$sub port pid cmd idle_rss idle_cpu idle_fds iport api_port api_pid
    local lg_pids=() lg_cmds=() t0 t_ready ready ready_rss ready_cpu
    mkdir -p "$dir"
    start_standin "$dir" "$client_cpus"
    iport=$(free_port)
    start_server "$name" "$dir" "$iport" "http://127.0.0.1:$api_port" "$threads" "$server_cpus"
    start_loadgens "$dir" "${sub//\//-}" "$FANOUT_CONNECTIONS" "$fanout_procs" "$FANOUT_DEVICES" "$client_cpus" \
        --progress-interval 250
    sleep 2

    # Publish at each rate; the publisher samples the server's CPU over its own window, and the
    # load generators' CPU is read around it.
    local step=0 rate pub_cmds=() verdict c0 c1 w0 w1 tt0 tt1
    : >"$dir/steps.tsv"
    for rate in $rates; do
        step=$((step + 1))
        local pub=(${client_cpus:+taskset -c "$client_cpus"} "$PUBLISH" --port "$iport" --rate "$rate" --duration "$step_s"
            --devices "$FANOUT_DEVICES" --batch "$FANOUT_BATCH" --step "$step"
            --connections "$FANOUT_PUB_CONNECTIONS"
            --server-pid "$pid" --timeout $((step_s + 30)))
        pub_cmds+=("${pub[*]}")
        w0=$(now)
        c0=$(cpu_sum "${lg_pids[@]}")
        tt0=$(thread_ticks "$pid")
        "${pub[@]}" >"$dir/publish-$step.json" 2>"$dir/publish-$step.log" ||
            log "$sub: publisher step $step failed: $(tail -2 "$dir/publish-$step.log")"
        c1=$(cpu_sum "${lg_pids[@]}")
        kill -0 "$pid" 2>/dev/null || die "$sub: the server exited during step $step: $(tail -3 "$dir/server.log")"
        tt1=$(thread_ticks "$pid")
        w1=$(now)
        sleep "$FANOUT_DRAIN"
        # step, target rate, server RSS and CPU after the drain, load generators' CPU seconds
        # and wall seconds while the publisher ran, the server threads' shares of its CPU
        echo -e "$step\t$rate\t$(rss_kib "$pid")\t$(cpu_s "$pid")\t$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.2f", b - a}')\t$(elapsed "$w0" "$w1")\t$(thread_shares "$tt0" "$tt1")" >>"$dir/steps.tsv"
        verdict=$(node bench/lib/fanout.mjs step "$dir" "$step")
        log "$sub: step $step: $verdict"
        case $verdict in stop*) break ;; esac
    done
    stop_run "$pid" "$api_pid"

    write_json "$dir/fanout-run.json" name "$name" pid "$pid" port "$port" internal_port "$iport" \
        connections "$FANOUT_CONNECTIONS" devices "$FANOUT_DEVICES" step_s "$step_s" batch "$FANOUT_BATCH" pub_connections "$FANOUT_PUB_CONNECTIONS" \
        threads "$threads" server_cpus "$server_cpus" client_cpus "$client_cpus" \
        idle_rss_kib "$idle_rss" idle_cpu_s "$idle_cpu" ready "$ready" ready_rss_kib "$ready_rss" \
        ready_cpu_s "$ready_cpu" t_start "$t0" t_ready "$t_ready" \
        server_command "$(joined "${cmd[@]}")" \
        loadgen_commands "$(joined "${lg_cmds[@]}")" \
        publish_commands "$(joined "${pub_cmds[@]}")"
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
    case $scenario in
    idle) log "idle: $CONNECTIONS connections per server, $procs load generator processes, steady ${STEADY} s" ;;
    fanout) log "fanout: $FANOUT_CONNECTIONS subscribers over $FANOUT_DEVICES devices, $fanout_procs load generator processes, rates $FANOUT_RATES" ;;
    latency) log "latency: $FANOUT_CONNECTIONS subscribers over $FANOUT_DEVICES devices, $LATENCY_RATE telemetries/s for ${LATENCY_DURATION} s" ;;
    large) log "large: $LARGE_CONNECTIONS subscribed connections per server over $LARGE_DEVICES devices, $large_procs load generator processes, steady ${STEADY} s" ;;
    bus | everyday) continue ;; # bench/bus.sh and bench/everyday.sh, after the report below
    scaling)
        if has_server kamea; then
            log "scaling: kamea-wss pinned, 1 thread on core 0 then 2 threads on cores 0,1; rates $FANOUT_RATES"
            run_fanout kamea scaling/kamea-1t "$FANOUT_RATES" "$FANOUT_STEP" 1 0 1
            run_fanout kamea scaling/kamea-2t "$FANOUT_RATES" "$FANOUT_STEP" 2 0,1 0,1
        fi
        continue
        ;;
    esac
    for server in $SERVERS; do
        case $scenario/$server in idle/floor* | large/floor*) continue ;; esac # it only fans out
        case $scenario in
        idle) run_hold "$server" "$server" "$CONNECTIONS" "$procs" ;;
        fanout) run_fanout "$server" "fanout/$server" "$FANOUT_RATES" "$FANOUT_STEP" ;;
        latency) FANOUT_BATCH=$LATENCY_BATCH run_fanout "$server" "latency/$server" "$LATENCY_RATE" "$LATENCY_DURATION" ;;
        large) run_hold "$server" "large/$server" "$LARGE_CONNECTIONS" "$large_procs" "$LARGE_DEVICES" ;;
        esac
    done
done
uptime >"$RESULTS/load-after.txt"

command="SCENARIOS=\"$SCENARIOS\" SERVERS=\"$SERVERS\" LOADGEN_PROCS=$LOADGEN_PROCS CONCURRENCY=$CONCURRENCY"
if has_scenario idle; then command+=" CONNECTIONS=$CONNECTIONS"; fi
if has_scenario idle || has_scenario large; then command+=" STEADY=$STEADY"; fi
if has_scenario large; then command+=" LARGE_CONNECTIONS=$LARGE_CONNECTIONS LARGE_DEVICES=$LARGE_DEVICES"; fi
if has_scenario fanout || has_scenario latency || has_scenario scaling; then
    command+=" FANOUT_CONNECTIONS=$FANOUT_CONNECTIONS FANOUT_DEVICES=$FANOUT_DEVICES"
fi
if has_scenario fanout || has_scenario scaling; then command+=" FANOUT_RATES=\"$FANOUT_RATES\" FANOUT_STEP=$FANOUT_STEP"; fi
if has_scenario fanout || has_scenario latency || has_scenario scaling; then
    command+=" FANOUT_DRAIN=$FANOUT_DRAIN FANOUT_BATCH=$FANOUT_BATCH FANOUT_PUB_CONNECTIONS=$FANOUT_PUB_CONNECTIONS"
fi
if has_scenario latency; then command+=" LATENCY_RATE=$LATENCY_RATE LATENCY_DURATION=$LATENCY_DURATION LATENCY_BATCH=$LATENCY_BATCH"; fi
# Also redraws the fan-out plots beside $OUT (perf-fanout-cpu.png, perf-fanout-latency.png) when
# this run measured the fan-out scenario.
node bench/lib/report.mjs "$RESULTS" "$OUT" "$command bench/run.sh"
log "wrote $OUT$(if has_scenario fanout; then echo " and $(dirname "$OUT")/perf-fanout-{cpu,latency}.png"; fi)"
# The bus scenario (kamea-wss over RabbitMQ against Node.js clusters) has its own script and its
# own section of $OUT, which report.mjs above keeps as it was; see bench/README.md ("bus").
if has_scenario bus; then
    BUILD=$BUILD OUT=$OUT RESULTS=$RESULTS/bus CONCURRENCY=$CONCURRENCY READY_TIMEOUT=$READY_TIMEOUT bench/bus.sh
fi
# The everyday scenario (kamea-wss's default beside --threads 1 and the floor, in interleaved
# rounds) also has its own script and section; see bench/README.md ("everyday").
if has_scenario everyday; then
    BUILD=$BUILD OUT=$OUT RESULTS=$RESULTS/everyday bench/everyday.sh
fi
