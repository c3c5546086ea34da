#!/usr/bin/env bash
# A/B runs under the same load (docs/performance.md, "Everyday efficiency"): bench/profile.sh
# with PROFILER=stat, ROUNDS times for each variant, the variants interleaved (the machine is
# noisy: compare medians of several rounds, never one run). One line per run: the variant,
# telemetries/s achieved, messages delivered per second of the publisher's window, the server's
# CPU seconds over that window and per delivered message, and whether every subscriber got
# every telemetry. A variant is "name|kamea-wss flags", "name|@floor <flags>" for bench/floor's
# bare server (the floor of CPU per message), or "name|@kamea=<binary> <flags>" for another
# build of kamea-wss (a change against the commit before it):
#
#   bench/ab.sh "default|" "one loop|--threads 1" "spread|--placement spread" "floor|@floor --threads 1"
#   CONNECTIONS=9000 DEVICES=1000 RATE=2000 BATCH=10 bench/ab.sh ...   (issue 15's everyday load)
#
# The load is profile.sh's settings (CONNECTIONS, DEVICES, RATE, BATCH, DURATION; defaults
# here: 9000, 1000, 2000, 10, 10); ROUNDS (3). Each run's files stay in OUTDIR/<variant>-<round>.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
ROUNDS=${ROUNDS:-3}
export CONNECTIONS=${CONNECTIONS:-9000} DEVICES=${DEVICES:-1000} RATE=${RATE:-2000} BATCH=${BATCH:-10}
export DURATION=${DURATION:-10} PROFILER=stat
OUTDIR=${OUTDIR:-bench/results/ab-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUTDIR"
[ $# -gt 0 ] || { echo "usage: bench/ab.sh 'name|flags' ..." >&2; exit 2; }

for ((round = 1; round <= ROUNDS; round++)); do
    for spec in "$@"; do
        name=${spec%%|*}
        flags=${spec#*|}
        dir=$OUTDIR/${name// /-}-$round
        server=kamea
        binary=${KAMEA:-build/kamea-wss}
        if [[ $flags == @floor* ]]; then
            server=floor
            flags=${flags#@floor}
        elif [[ $flags == @kamea=* ]]; then
            flags=${flags#@kamea=}
            binary=${flags%% *}
            [[ $flags == *" "* ]] && flags=${flags#* } || flags=
        fi
        OUTDIR=$dir SERVER=$server KAMEA=$binary SERVER_ARGS="$flags" bench/profile.sh >/dev/null 2>"$dir.log" || true
        node -e '
            const fs = require("fs");
            const [dir, name, connections, devices] = process.argv.slice(1);
            const p = JSON.parse(fs.readFileSync(`${dir}/publish.json`, "utf8"));
            const received = Number(fs.readFileSync(`${dir}/loadgen.json`, "utf8").match(/"received":(\d+)/)[1]);
            const expected = p.accepted * (connections / devices);
            console.log([name, `${p.rate_achieved.toFixed(0)}/s in`, `${(expected / p.window_s).toFixed(0)}/s out`,
                `cpu ${p.server.cpu_s} s`, `${(p.server.cpu_s * 1e6 / expected).toFixed(2)} us/msg`,
                received === expected ? "all delivered" : `DELIVERED ${received} OF ${expected}`].join("  "));
        ' "$dir" "$name" "$CONNECTIONS" "$DEVICES" || echo "$name: run failed ($dir.log)"
    done
done
