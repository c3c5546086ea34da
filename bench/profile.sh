#!/usr/bin/env bash
# Profiles kamea-wss under a short fan-out load (loopback only, bounded).
#
#   bench/profile.sh                      perf record -g over one publish step
#   PROFILER=stat bench/profile.sh        perf stat instead (counters only)
#   PROFILER=strace bench/profile.sh      strace -c: syscall counts over the publish window
#   PROFILER=callgrind bench/profile.sh   valgrind --tool=callgrind (much slower: lower RATE),
#                                         counting only while the publisher runs (instructions
#                                         per delivered message: callgrind_annotate callgrind.out)
#
# Settings (environment): CONNECTIONS (2000), DEVICES (200), RATE telemetries/s (4000),
# DURATION s (10), BATCH (50), PUB_CONNECTIONS (4), FREQ perf sampling Hz (999),
# CALL_GRAPH (fp; e.g. dwarf,16384), BUILD (build), OUTDIR (bench/results/profile-<time>),
# SERVER_ARGS extra kamea-wss flags (e.g. "--threads 1", to set one loop beside the default),
# SERVER (kamea; floor: bench/floor's bare server instead, SERVER_ARGS then being its flags,
# e.g. "--threads 1"; it acks subscriptions itself and has no /metrics).
# Output in OUTDIR: perf.data, report-self.txt (flat, by symbol), report-dso.txt,
# report-children.txt (with callers), the loadgen/publisher reports, server.log, metrics.txt
# (the server's /metrics after the publisher's window).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

CONNECTIONS=${CONNECTIONS:-2000}
DEVICES=${DEVICES:-200}
RATE=${RATE:-4000}
DURATION=${DURATION:-10}
BATCH=${BATCH:-50}
PUB_CONNECTIONS=${PUB_CONNECTIONS:-4}
FREQ=${FREQ:-999}
CALL_GRAPH=${CALL_GRAPH:-fp}
PROFILER=${PROFILER:-record}
BUILD=${BUILD:-build}
OUTDIR=${OUTDIR:-bench/results/profile-$(date -u +%Y%m%dT%H%M%SZ)}

KAMEA=${KAMEA:-$BUILD/kamea-wss} # another build of it, to compare two
SERVER=${SERVER:-kamea}
LOADGEN=$BUILD/bench/kamea-loadgen
PUBLISH=$BUILD/bench/kamea-publish
STANDIN=tools/management-api/server.mjs

log() { echo "profile: $*" >&2; }
die() { log "error: $*"; exit 1; }
[ -x "$KAMEA" ] && [ -x "$LOADGEN" ] && [ -x "$PUBLISH" ] || die "build kamea-wss and the bench tools first"
ulimit -n 20000 2>/dev/null || true
mkdir -p "$OUTDIR"
cp "$KAMEA" "$OUTDIR/kamea-wss"

free_port() {
    node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => {
        console.log(s.address().port); s.close(); });'
}
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { for _ in $(seq 100); do port_open "$1" && return 0; sleep 0.1; done; die "nothing on port $1"; }

pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; }
trap cleanup EXIT

api_port=$(free_port)
node "$STANDIN" --port "$api_port" --host 127.0.0.1 --quiet >"$OUTDIR/standin.log" 2>&1 &
pids+=($!)
wait_port "$api_port"

port=$(free_port)
iport=$(free_port)
server=("$OUTDIR/kamea-wss" --public-port "$port" --public-host 127.0.0.1 --internal-port "$iport"
    --management-api-url "http://127.0.0.1:$api_port" --log-level warn ${SERVER_ARGS:-})
if [ "$SERVER" = floor ]; then
    server=("$BUILD/bench/kamea-floor" --port "$port" --host 127.0.0.1 --internal-port "$iport" --send uring
        ${SERVER_ARGS:-})
fi
if [ "$PROFILER" = callgrind ]; then
    # Start-up and the subscribers' handshakes are left out: instrumentation is switched on
    # for the publishing window only (callgrind_control below).
    server=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUTDIR/callgrind.out"
        "${server[@]}")
fi
# The heap setting kamea-wss would otherwise apply by executing itself again
# (core/huge_page_heap.hpp), given up front: under valgrind /proc/self/exe is valgrind.
GLIBC_TUNABLES=${GLIBC_TUNABLES:-glibc.malloc.hugetlb=1} "${server[@]}" >"$OUTDIR/server.log" 2>&1 &
spid=$!
pids+=($spid)
wait_port "$port"
wait_port "$iport"
# With valgrind the server is valgrind's own process (same pid).
log "server pid $spid, ports $port/$iport"

"$LOADGEN" --port "$port" --scenario subscribe --devices "$DEVICES" --token allow-bench \
    --connections "$CONNECTIONS" --source 127.0.0.2,127.0.0.3 --hold 0 --progress-interval 1000 \
    --server-pid "$spid" --label profile >"$OUTDIR/loadgen.json" 2>"$OUTDIR/loadgen.log" &
lg=$!
pids+=($lg)
for _ in $(seq 1200); do
    grep -q '"event":"ready"' "$OUTDIR/loadgen.log" 2>/dev/null && break
    kill -0 "$lg" 2>/dev/null || die "loadgen exited: $(tail -3 "$OUTDIR/loadgen.log")"
    sleep 0.1
done
grep -q '"event":"ready"' "$OUTDIR/loadgen.log" || die "subscribers not ready"
log "$CONNECTIONS subscribers ready; publishing $RATE/s for $DURATION s"
sleep 1

prof=()
case $PROFILER in
record) prof=(perf record -F "$FREQ" --call-graph "$CALL_GRAPH" -p "$spid" -o "$OUTDIR/perf.data" -- sleep "$DURATION") ;;
stat) prof=(perf stat -d -p "$spid" -o "$OUTDIR/perf-stat.txt" -- sleep "$DURATION") ;;
strace) # syscall counts (strace slows the server: the counts per message, not the times, are what to read)
    prof=(timeout -s INT "$DURATION" strace -c -f -p "$spid" -o "$OUTDIR/strace-c.txt") ;;
callgrind) prof=() ;;
*) die "PROFILER=$PROFILER: record, stat, strace or callgrind" ;;
esac
if [ ${#prof[@]} -gt 0 ]; then
    "${prof[@]}" 2>"$OUTDIR/perf.log" &
    ppid_=$!
fi
if [ "$PROFILER" = callgrind ]; then
    callgrind_control -i on "$spid" >/dev/null
fi
"$PUBLISH" --port "$iport" --rate "$RATE" --duration "$DURATION" --devices "$DEVICES" --batch "$BATCH" \
    --step 1 --connections "$PUB_CONNECTIONS" --server-pid "$spid" --timeout $((DURATION + 60)) \
    >"$OUTDIR/publish.json" 2>"$OUTDIR/publish.log" || log "publisher failed: $(tail -2 "$OUTDIR/publish.log")"
if [ -n "${ppid_:-}" ]; then wait "$ppid_" || true; fi
sleep 2
if [ "$PROFILER" = callgrind ]; then
    callgrind_control -i off "$spid" >/dev/null
fi

node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t), () => {})' \
    "http://127.0.0.1:$iport/metrics" >"$OUTDIR/metrics.txt" 2>/dev/null || true
kill -INT "$lg" 2>/dev/null || true
wait "$lg" || true
kill -TERM "$spid" 2>/dev/null || true
for _ in $(seq 300); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
kill -KILL "$spid" 2>/dev/null || true
wait "$spid" 2>/dev/null || true
pids=("${pids[0]}")

if [ "$PROFILER" = record ]; then
    perf report -i "$OUTDIR/perf.data" --no-children --sort symbol --percent-limit 0.5 --stdio -g none \
        >"$OUTDIR/report-self.txt" 2>/dev/null || true
    perf report -i "$OUTDIR/perf.data" --no-children --sort dso --stdio -g none \
        >"$OUTDIR/report-dso.txt" 2>/dev/null || true
    perf report -i "$OUTDIR/perf.data" --children --sort symbol --percent-limit 3 --stdio -g none \
        >"$OUTDIR/report-children.txt" 2>/dev/null || true
fi
node -e 'const p = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
    console.log(JSON.stringify({rate: p.rate_achieved, accepted: p.accepted, errors: p.errors, server: p.server}));' \
    "$OUTDIR/publish.json" 2>/dev/null || true
log "results in $OUTDIR"
