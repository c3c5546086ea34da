#!/usr/bin/env bash
# The bus benchmark (`SCENARIOS=bus make bench`, or bench/bus.sh alone): kamea-wss scaled out over
# RabbitMQ, side by side with Node.js socket.io scaled out the usual ways, under the same load,
# on this machine, loopback only, every step bounded in time. See bench/README.md ("bus").
#
# Parts (BUS_PARTS="setups few prefetch bind", in this order):
#   setups    BUS_SUBSCRIBERS subscribers over BUS_DEVICES devices, spread evenly over the
#             instances, and kamea-publish posting BUS_RATE telemetries/s in batches of
#             BUS_BATCH to the FIRST instance for BUS_STEP s, for each setup of BUS_SETUPS:
#               http        one kamea-wss, no broker (the in-process bus): the baseline
#               kamea1      one kamea-wss through RabbitMQ
#               kamea3      three kamea-wss through RabbitMQ
#               node-redis3 three Node.js socket.io servers (bench/reference) on
#                           @socket.io/redis-adapter and a redis-server of their own
#               node-amqp3  three Node.js socket.io servers on the same RabbitMQ through
#                           amqplib, per-device bindings (bench/reference-cluster/amqp.mjs)
#             Delivered messages/s and loss, CPU of every instance and of the broker (/proc),
#             latency (the subscribers measure it), RSS per instance.
#   few       three kamea-wss, BUS_FEW_SUBSCRIBERS subscribers over as many devices (one each):
#             kamea_bus_deliveries_total per instance against the telemetries published.
#   prefetch  kamea1 again with --amqp-prefetch of each of BUS_PREFETCHES (200 is kamea1's),
#             BUS_VARIANT_STEP s each.
#   bind      for each N of BUS_BIND_COUNTS: one kamea-wss, N subscribers to N distinct devices
#             (time to all acks, kamea_bus_bind_duration_seconds), then a publisher on the
#             exchange with confirms and a binder (bench/reference-cluster/confirm-probe.mjs,
#             one message every 10 ms, a bind+unbind every 100 ms) while the instance is killed
#             with SIGKILL: how long the broker's confirms and binds stall (watched at most
#             BUS_KILL_WATCH s). The largest N is also connected
#             without a broker (the handshakes' share of the time to all acks).
#
# Settings (environment): the BUS_* above, with the defaults below; BUILD=build;
# OUT=docs/performance.md (its "Scale-out over RabbitMQ" section is replaced, the rest kept);
# RESULTS=bench/results/<time>/bus (raw data). bench/run.sh calls this with its own RESULTS
# and OUT when SCENARIOS holds `bus`.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

BUS_PARTS=${BUS_PARTS:-"setups few prefetch bind"}
BUS_SETUPS=${BUS_SETUPS:-"http kamea1 kamea3 node-redis3 node-amqp3"}
BUS_SUBSCRIBERS=${BUS_SUBSCRIBERS:-9000}
BUS_DEVICES=${BUS_DEVICES:-1000}
BUS_RATE=${BUS_RATE:-2000}
BUS_BATCH=${BUS_BATCH:-10}
BUS_STEP=${BUS_STEP:-15}
BUS_DRAIN=${BUS_DRAIN:-3}
BUS_PUB_CONNECTIONS=${BUS_PUB_CONNECTIONS:-4}
BUS_LOADGEN_PROCS=${BUS_LOADGEN_PROCS:-3}
BUS_FEW_SUBSCRIBERS=${BUS_FEW_SUBSCRIBERS:-3000}
BUS_PREFETCHES=${BUS_PREFETCHES:-"50 1000"}
BUS_VARIANT_STEP=${BUS_VARIANT_STEP:-10}
BUS_BIND_COUNTS=${BUS_BIND_COUNTS:-"1000 10000 19000"}
BUS_KILL_WATCH=${BUS_KILL_WATCH:-60}
CONCURRENCY=${CONCURRENCY:-200}
READY_TIMEOUT=${READY_TIMEOUT:-180}
BUILD=${BUILD:-build}
OUT=${OUT:-docs/performance.md}
RESULTS=${RESULTS:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)/bus}

KAMEA=$BUILD/kamea-wss
LOADGEN=$BUILD/bench/kamea-loadgen
PUBLISH=$BUILD/bench/kamea-publish
REFERENCE=bench/reference/server.mjs
CLUSTER=bench/reference-cluster
STANDIN=tools/management-api/server.mjs

log() { echo "bus: $*" >&2; }
die() { log "error: $*"; exit 1; }
has() { case " $1 " in *" $2 "*) return 0 ;; esac; return 1; }

# --- preconditions -------------------------------------------------------------------------
for p in $BUS_PARTS; do case $p in setups | few | prefetch | bind) ;; *) die "unknown part $p (setups few prefetch bind)" ;; esac; done
for s in $BUS_SETUPS; do case $s in http | kamea1 | kamea3 | node-redis3 | node-amqp3) ;; *) die "unknown setup $s" ;; esac; done
[ -x "$KAMEA" ] || die "$KAMEA missing: run 'make build' first"
if [ ! -x "$LOADGEN" ] || [ ! -x "$PUBLISH" ]; then cmake --build "$BUILD" --target kamea-loadgen kamea-publish; fi
command -v node >/dev/null || die "node is needed"
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || die "rabbitmq-server missing (scripts/install-deps.sh)"
if has "$BUS_SETUPS" node-redis3 && has "$BUS_PARTS" setups; then
    command -v redis-server >/dev/null || die "redis-server missing (scripts/install-deps.sh; Debian: apt-get install redis-server)"
fi
for d in bench/reference "$CLUSTER"; do
    if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
        log "installing $d's packages (npm ci)"
        (cd "$d" && npm ci --no-audit --no-fund --loglevel=error)
    fi
done
for n in $BUS_BIND_COUNTS; do [ "$n" -le 19000 ] || die "BUS_BIND_COUNTS: $n subscribers would pass a server's 20000 open files"; done
[ "$BUS_SUBSCRIBERS" -le 19000 ] || die "BUS_SUBSCRIBERS: at most 19000 (one server holds them all in the one-instance setups)"
ulimit -n 20000 2>/dev/null || die "cannot raise the open-file limit to 20000 (hard limit: $(ulimit -Hn))"

mkdir -p "$RESULTS/bin"
RESULTS=$(cd "$RESULTS" && pwd)
log "raw results in $RESULTS"
cp "$KAMEA" "$RESULTS/bin/kamea-wss" # a rebuild meanwhile does not change what is measured
KAMEA_RUN=$RESULTS/bin/kamea-wss

clk_tck=$(getconf CLK_TCK)
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_s() { sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk -v t="$clk_tck" '{printf "%.2f", ($12 + $13) / t}' || echo 0; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
now() { date +%s.%N; }
metrics() { curl -s --max-time 5 "http://127.0.0.1:$1/metrics" || true; }

pids_to_clean=()
broker_dir=""
cleanup() {
    local p
    for p in "${pids_to_clean[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    [ -z "$broker_dir" ] || scripts/rabbitmq.sh stop "$broker_dir" >/dev/null 2>&1 || true
}
trap cleanup EXIT

wait_port() { # pid port name log
    for _ in $(seq 300); do
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
write_json() { # <file> <key> <value>…: numbers stay numbers, values with \001 become arrays
    node -e 'const [f, ...kv] = process.argv.slice(1); const o = {};
        for (let i = 0; i < kv.length; i += 2) {
            const v = kv[i + 1];
            o[kv[i]] = v.includes("\u0001") ? v.split("\u0001").filter(Boolean).map((x) => (x !== "" && !isNaN(Number(x)) ? Number(x) : x))
                : v !== "" && !isNaN(Number(v)) ? Number(v) : v;
        }
        require("fs").writeFileSync(f, JSON.stringify(o, null, 2) + "\n");' "$@"
}
joined() { local IFS=$'\001'; echo "$*"$'\001'; }

# --- the broker: one RabbitMQ for the whole run ----------------------------------------------
need_broker=0
for s in $BUS_SETUPS; do case $s in kamea* | node-amqp*) has "$BUS_PARTS" setups && need_broker=1 ;; esac; done
for p in few prefetch bind; do has "$BUS_PARTS" $p && need_broker=1; done
AMQP_URL="" BROKER_PID=""
if [ "$need_broker" = 1 ]; then
    broker_dir=$RESULTS/rabbitmq
    log "starting RabbitMQ (scripts/rabbitmq.sh start $broker_dir)"
    scripts/rabbitmq.sh start "$broker_dir" >"$RESULTS/rabbitmq.log" 2>&1 || die "RabbitMQ did not start: $(tail -5 "$RESULTS/rabbitmq.log")"
    AMQP_URL=$(sed -n 's/^KAMEA_AMQP_URL=//p' "$broker_dir/env")
    BROKER_PID=$(sed -n 's/^KAMEA_RABBITMQ_PID=//p' "$broker_dir/env")
    dpkg-query -W -f='${Version}' rabbitmq-server >"$RESULTS/rabbitmq-version.txt" 2>/dev/null || true
    log "RabbitMQ $(cat "$RESULTS/rabbitmq-version.txt" 2>/dev/null) at $AMQP_URL, beam.smp pid $BROKER_PID"
fi

# --- one measured run -------------------------------------------------------------------------
# run_setup <dir> <kind> <instances> <subscribers> <devices> <rate> <step s> [kamea options…]
# kind: http | kamea | node-redis | node-amqp. Writes <dir>/setup.json, loadgen-<i>.{json,log},
# publish.json, metrics-<i>-{before,after}.txt (kamea), server-<i>.log.
run_setup() {
    local dir=$1 kind=$2 n=$3 subscribers=$4 devices=$5 rate=$6 step_s=$7
    shift 7
    local extra=("$@") i api_port api_pid redis_port="" redis_pid="" broker_pid=""
    local pids=() ports=() iports=() cmds=() lg_pids=() lg_cmds=() idle_rss=()
    mkdir -p "$dir"
    api_port=$(free_port)
    node "$STANDIN" --port "$api_port" --host 127.0.0.1 --quiet >"$dir/standin.log" 2>&1 &
    api_pid=$!
    pids_to_clean+=("$api_pid")
    wait_port "$api_pid" "$api_port" "the Management API stand-in" "$dir/standin.log"
    case $kind in
    kamea | node-amqp) broker_pid=$BROKER_PID ;;
    node-redis)
        redis_port=$(free_port)
        redis-server --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$dir" >"$dir/redis.log" 2>&1 &
        redis_pid=$!
        pids_to_clean+=("$redis_pid")
        wait_port "$redis_pid" "$redis_port" "redis-server" "$dir/redis.log"
        broker_pid=$redis_pid
        redis-server --version >"$dir/redis-version.txt"
        ;;
    esac
    for ((i = 0; i < n; i++)); do
        local port iport cmd=()
        port=$(free_port)
        iport=$(free_port)
        case $kind in
        http | kamea)
            cmd=("$KAMEA_RUN" --public-port "$port" --public-host 127.0.0.1 --internal-port "$iport"
                --management-api-url "http://127.0.0.1:$api_port" --log-level warn)
            [ "$kind" = http ] || cmd+=(--amqp-url "$AMQP_URL")
            cmd+=("${extra[@]}")
            "${cmd[@]}" >"$dir/server-$i.log" 2>&1 &
            ;;
        node-redis | node-amqp)
            cmd=(node "$REFERENCE" --port "$port" --host 127.0.0.1 --internal-port "$iport"
                --management-api-url "http://127.0.0.1:$api_port" --bus "$CLUSTER/${kind#node-}.mjs")
            if [ "$kind" = node-redis ]; then
                REDIS_URL=redis://127.0.0.1:$redis_port "${cmd[@]}" >"$dir/server-$i.log" 2>&1 &
                cmd=(REDIS_URL=redis://127.0.0.1:$redis_port "${cmd[@]}")
            else
                AMQP_URL=$AMQP_URL AMQP_PREFETCH=200 "${cmd[@]}" >"$dir/server-$i.log" 2>&1 &
                cmd=(AMQP_URL=amqp://…/ AMQP_PREFETCH=200 "${cmd[@]}")
            fi
            ;;
        esac
        pids+=($!)
        pids_to_clean+=($!)
        ports+=("$port")
        iports+=("$iport")
        cmds+=("${cmd[*]}")
    done
    for ((i = 0; i < n; i++)); do
        wait_port "${pids[$i]}" "${ports[$i]}" "instance $i" "$dir/server-$i.log"
        wait_port "${pids[$i]}" "${iports[$i]}" "instance $i (internal)" "$dir/server-$i.log"
    done
    sleep 2
    for ((i = 0; i < n; i++)); do idle_rss+=("$(rss_kib "${pids[$i]}")"); done
    log "$(basename "$dir"): $n × $kind up (pids ${pids[*]}), $subscribers subscribers over $devices devices"

    # Subscribers: BUS_LOADGEN_PROCS processes, process k on instance k mod n; client indices run
    # on across processes, so each instance gets subscribers/n of them, every device alike.
    local nprocs=$BUS_LOADGEN_PROCS first=0 share
    [ "$nprocs" -ge "$n" ] || nprocs=$n
    [ $((subscribers / nprocs)) -le 15000 ] || nprocs=$(((subscribers + 14999) / 15000))
    local t0
    t0=$(now)
    for ((i = 0; i < nprocs; i++)); do
        share=$((subscribers / nprocs + (i < subscribers % nprocs ? 1 : 0)))
        local target=$((i % n))
        local lg=("$LOADGEN" --port "${ports[$target]}" --scenario subscribe --devices "$devices"
            --first-index "$first" --token allow-bench --connections "$share" --concurrency "$CONCURRENCY"
            --source "127.0.0.$((2 + 2 * i)),127.0.0.$((3 + 2 * i))" --hold 0 --progress-interval 250
            --server-pid "${pids[$target]}" --no-count-fds --label "$(basename "$dir")-$i")
        first=$((first + share))
        lg_cmds+=("${lg[*]}")
        "${lg[@]}" >"$dir/loadgen-$i.json" 2>"$dir/loadgen-$i.log" &
        lg_pids+=($!)
        pids_to_clean+=($!)
    done
    local ready=0 deadline=$((SECONDS + READY_TIMEOUT)) k
    while [ $SECONDS -lt $deadline ]; do
        k=0
        for ((i = 0; i < nprocs; i++)); do
            grep -q '"event":"ready"' "$dir/loadgen-$i.log" 2>/dev/null && k=$((k + 1))
            kill -0 "${lg_pids[$i]}" 2>/dev/null || die "load generator $i exited early: $(tail -3 "$dir/loadgen-$i.log")"
        done
        [ "$k" -eq "$nprocs" ] && ready=1 && break
        sleep 0.2
    done
    local t_ready
    t_ready=$(now)
    [ "$ready" = 1 ] || log "$(basename "$dir"): not every subscriber settled within ${READY_TIMEOUT}s"
    # 3 s of quiet: the broker's CPU with no telemetry (heartbeats, its own timers)
    local bq0="" bq1="" q0 q1
    q0=$(now)
    [ -z "$broker_pid" ] || bq0=$(cpu_s "$broker_pid")
    sleep 3
    [ -z "$broker_pid" ] || bq1=$(cpu_s "$broker_pid")
    q1=$(now)

    # The step: CPU of every instance and of the broker around the publisher, kamea's counters.
    local cpu0=() cpu1=() rss1=() b0="" b1="" w0 w1 pub
    for ((i = 0; i < n; i++)); do
        [ "$kind" = http ] || [ "${kind#node}" != "$kind" ] || metrics "${iports[$i]}" >"$dir/metrics-$i-before.txt"
    done
    pub=("$PUBLISH" --port "${iports[0]}" --rate "$rate" --duration "$step_s" --devices "$devices"
        --batch "$BUS_BATCH" --connections "$BUS_PUB_CONNECTIONS" --step 1 --timeout $((step_s + 30)))
    w0=$(now)
    for ((i = 0; i < n; i++)); do cpu0+=("$(cpu_s "${pids[$i]}")"); done
    [ -z "$broker_pid" ] || b0=$(cpu_s "$broker_pid")
    "${pub[@]}" >"$dir/publish.json" 2>"$dir/publish.log" || log "$(basename "$dir"): the publisher failed: $(tail -2 "$dir/publish.log")"
    for ((i = 0; i < n; i++)); do cpu1+=("$(cpu_s "${pids[$i]}")"); rss1+=("$(rss_kib "${pids[$i]}")"); done
    [ -z "$broker_pid" ] || b1=$(cpu_s "$broker_pid")
    w1=$(now)
    sleep "$BUS_DRAIN"
    for ((i = 0; i < n; i++)); do
        kill -0 "${pids[$i]}" 2>/dev/null || die "$(basename "$dir"): instance $i exited: $(tail -3 "$dir/server-$i.log")"
        [ "$kind" = http ] || [ "${kind#node}" != "$kind" ] || metrics "${iports[$i]}" >"$dir/metrics-$i-after.txt"
    done
    for p in "${lg_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${lg_pids[@]}"; do wait "$p" || true; done
    for p in "${pids[@]}"; do stop_pid "$p"; done
    stop_pid "$api_pid"
    [ -z "$redis_pid" ] || stop_pid "$redis_pid"
    pids_to_clean=()

    write_json "$dir/setup.json" kind "$kind" instances "$n" subscribers "$subscribers" devices "$devices" \
        rate "$rate" batch "$BUS_BATCH" step_s "$step_s" pub_connections "$BUS_PUB_CONNECTIONS" \
        pids "$(joined "${pids[@]}")" broker_pid "$broker_pid" \
        idle_rss_kib "$(joined "${idle_rss[@]}")" rss_kib "$(joined "${rss1[@]}")" \
        cpu_before_s "$(joined "${cpu0[@]}")" cpu_after_s "$(joined "${cpu1[@]}")" \
        broker_cpu_before_s "$b0" broker_cpu_after_s "$b1" window_start "$w0" window_end "$w1" \
        broker_quiet_cpu_before_s "$bq0" broker_quiet_cpu_after_s "$bq1" quiet_start "$q0" quiet_end "$q1" \
        t_start "$t0" t_ready "$t_ready" ready "$ready" \
        server_commands "$(joined "${cmds[@]}")" loadgen_commands "$(joined "${lg_cmds[@]}")" \
        publish_command "${pub[*]}"
    log "$(basename "$dir"): $(node bench/lib/bus-report.mjs --one "$dir")"
}

# --- binding cost and a lost instance ---------------------------------------------------------
# run_bind <dir> <N> <with broker 1|0>: one kamea-wss, N subscribers to N devices; with the
# broker, a confirm probe on the exchange, then SIGKILL of the instance and the watch.
run_bind() {
    local dir=$1 count=$2 bus=$3 api_port api_pid port iport pid cmd=() lg_pids=() lg_cmds=()
    mkdir -p "$dir"
    api_port=$(free_port)
    node "$STANDIN" --port "$api_port" --host 127.0.0.1 --quiet >"$dir/standin.log" 2>&1 &
    api_pid=$!
    pids_to_clean+=("$api_pid")
    wait_port "$api_pid" "$api_port" "the Management API stand-in" "$dir/standin.log"
    port=$(free_port)
    iport=$(free_port)
    cmd=("$KAMEA_RUN" --public-port "$port" --public-host 127.0.0.1 --internal-port "$iport"
        --management-api-url "http://127.0.0.1:$api_port" --log-level warn)
    [ "$bus" = 0 ] || cmd+=(--amqp-url "$AMQP_URL")
    "${cmd[@]}" >"$dir/server.log" 2>&1 &
    pid=$!
    pids_to_clean+=("$pid")
    wait_port "$pid" "$port" "kamea-wss" "$dir/server.log"
    wait_port "$pid" "$iport" "kamea-wss (internal)" "$dir/server.log"
    sleep 1
    local nprocs=$(((count + 9999) / 10000)) i share first=0
    for ((i = 0; i < nprocs; i++)); do
        share=$((count / nprocs + (i < count % nprocs ? 1 : 0)))
        local lg=("$LOADGEN" --port "$port" --scenario subscribe --devices "$count" --first-index "$first"
            --token allow-bench --connections "$share" --concurrency "$CONCURRENCY"
            --source "127.0.0.$((2 + 2 * i)),127.0.0.$((3 + 2 * i))" --hold 0 --progress-interval 1000
            --no-count-fds --label "$(basename "$dir")-$i")
        first=$((first + share))
        lg_cmds+=("${lg[*]}")
        "${lg[@]}" >"$dir/loadgen-$i.json" 2>"$dir/loadgen-$i.log" &
        lg_pids+=($!)
        pids_to_clean+=($!)
    done
    local ready=0 deadline=$((SECONDS + READY_TIMEOUT)) k
    while [ $SECONDS -lt $deadline ]; do
        k=0
        for ((i = 0; i < nprocs; i++)); do grep -q '"event":"ready"' "$dir/loadgen-$i.log" 2>/dev/null && k=$((k + 1)); done
        [ "$k" -eq "$nprocs" ] && ready=1 && break
        sleep 0.2
    done
    sleep 1
    metrics "$iport" >"$dir/metrics.txt"
    local rss
    rss=$(rss_kib "$pid")
    local kill_at="" watch_end="" b0="" b1="" bk="" probe_pid="" stalled=""
    if [ "$bus" = 1 ]; then
        node "$CLUSTER/confirm-probe.mjs" --url "$AMQP_URL" --out "$dir/probe.tsv" --bind-out "$dir/probe-bind.tsv" >"$dir/probe.log" 2>"$dir/probe.err" &
        probe_pid=$!
        pids_to_clean+=("$probe_pid")
        sleep 4 # a baseline of confirm latencies, and the broker's CPU rate before the kill
        b0=$(cpu_s "$BROKER_PID")
        local tb0
        tb0=$(now)
        sleep 2
        bk=$(cpu_s "$BROKER_PID")
        kill_at=$(now)
        kill -KILL "$pid"
        wait "$pid" 2>/dev/null || true
        log "$(basename "$dir"): killed the instance holding $count bindings (SIGKILL); watching the broker's confirms"
        # Done once 5 s have passed and the probe's last 3 seconds had no confirm, bind or pending
        # one over 100 ms, or after BUS_KILL_WATCH s.
        local start=$SECONDS
        stalled=1
        while [ $((SECONDS - start)) -lt "$BUS_KILL_WATCH" ]; do
            sleep 0.5
            [ $((SECONDS - start)) -ge 5 ] || continue
            if tail -3 "$dir/probe.log" | node -e 'const l = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse);
                process.exit(l.length === 3 && l.every((s) => s.max_ms < 100 && s.oldest_pending_ms < 100 && s.bind_max_ms < 100 && s.bind_pending_ms < 100) ? 0 : 1)' 2>/dev/null; then
                stalled=0
                break
            fi
        done
        watch_end=$(now)
        b1=$(cpu_s "$BROKER_PID")
        stop_pid "$probe_pid"
        write_json "$dir/kill.json" kill_at "$kill_at" watch_end "$watch_end" broker_cpu_base_start "$b0" \
            base_start "$tb0" broker_cpu_at_kill "$bk" broker_cpu_end "$b1" still_stalled "$stalled" \
            watch_limit_s "$BUS_KILL_WATCH"
    fi
    for p in "${lg_pids[@]}"; do kill -INT "$p" 2>/dev/null || true; done
    for p in "${lg_pids[@]}"; do wait "$p" || true; done
    stop_pid "$pid"
    stop_pid "$api_pid"
    pids_to_clean=()
    write_json "$dir/bind.json" count "$count" bus "$bus" ready "$ready" rss_kib "$rss" \
        server_command "${cmd[*]}" loadgen_commands "$(joined "${lg_cmds[@]}")"
    log "$(basename "$dir"): $(node bench/lib/bus-report.mjs --bind "$dir")"
}

# --- the run --------------------------------------------------------------------------------
uptime >"$RESULTS/load-before.txt"
date -u +%Y-%m-%dT%H:%M:%SZ >"$RESULTS/date.txt"
git rev-parse --short HEAD >"$RESULTS/commit.txt" 2>/dev/null || echo unknown >"$RESULTS/commit.txt"
start_s=$SECONDS
if has "$BUS_PARTS" setups; then
    for s in $BUS_SETUPS; do
        case $s in
        http) run_setup "$RESULTS/setups/http" http 1 "$BUS_SUBSCRIBERS" "$BUS_DEVICES" "$BUS_RATE" "$BUS_STEP" ;;
        kamea1) run_setup "$RESULTS/setups/kamea1" kamea 1 "$BUS_SUBSCRIBERS" "$BUS_DEVICES" "$BUS_RATE" "$BUS_STEP" ;;
        kamea3) run_setup "$RESULTS/setups/kamea3" kamea 3 "$BUS_SUBSCRIBERS" "$BUS_DEVICES" "$BUS_RATE" "$BUS_STEP" ;;
        node-redis3) run_setup "$RESULTS/setups/node-redis3" node-redis 3 "$BUS_SUBSCRIBERS" "$BUS_DEVICES" "$BUS_RATE" "$BUS_STEP" ;;
        node-amqp3) run_setup "$RESULTS/setups/node-amqp3" node-amqp 3 "$BUS_SUBSCRIBERS" "$BUS_DEVICES" "$BUS_RATE" "$BUS_STEP" ;;
        esac
    done
fi
if has "$BUS_PARTS" few; then
    run_setup "$RESULTS/few/kamea3" kamea 3 "$BUS_FEW_SUBSCRIBERS" "$BUS_FEW_SUBSCRIBERS" "$BUS_RATE" "$BUS_VARIANT_STEP"
fi
if has "$BUS_PARTS" prefetch; then
    for p in $BUS_PREFETCHES; do
        run_setup "$RESULTS/prefetch/$p" kamea 1 "$BUS_SUBSCRIBERS" "$BUS_DEVICES" "$BUS_RATE" "$BUS_VARIANT_STEP" --amqp-prefetch "$p"
    done
fi
if has "$BUS_PARTS" bind; then
    for count in $BUS_BIND_COUNTS; do run_bind "$RESULTS/bind/$count" "$count" 1; done
    largest=$(printf '%s\n' $BUS_BIND_COUNTS | sort -n | tail -1)
    run_bind "$RESULTS/bind/$largest-http" "$largest" 0
fi
uptime >"$RESULTS/load-after.txt"
log "measured in $((SECONDS - start_s)) s"
[ -z "$broker_dir" ] || { scripts/rabbitmq.sh stop "$broker_dir" >/dev/null 2>&1 || true; broker_dir=""; }

command=""
for v in BUS_PARTS BUS_SETUPS BUS_SUBSCRIBERS BUS_DEVICES BUS_RATE BUS_BATCH BUS_STEP BUS_PUB_CONNECTIONS \
    BUS_FEW_SUBSCRIBERS BUS_PREFETCHES BUS_VARIANT_STEP BUS_BIND_COUNTS BUS_KILL_WATCH; do
    command+="$v=\"${!v}\" "
done
command+="bench/bus.sh"
command=${BUS_COMMAND:-$command}
node bench/lib/bus-report.mjs "$RESULTS" "$OUT" "$command"
log "wrote the \"Scale-out over RabbitMQ\" section of $OUT"
