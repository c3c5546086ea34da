#!/usr/bin/env bash
# The everyday-efficiency benchmark (`SCENARIOS=everyday make bench`, or bench/everyday.sh
# alone): kamea-wss with its default settings beside `--threads 1` and bench/floor (a bare
# sender of pre-built frames, the floor of CPU per message) under the same load, in
# interleaved rounds (bench/ab.sh: the machine is noisy, so medians of several rounds), at
# the rates a deployment lives at most of the time, then at saturation. See bench/README.md.
#
#   rates       EVERYDAY_CONNECTIONS subscribers over EVERYDAY_DEVICES devices, kamea-publish
#               at each of EVERYDAY_RATES telemetries/s (batches of EVERYDAY_BATCH) for
#               EVERYDAY_DURATION s: the default, --threads 1 and the floor with one loop,
#               and at the highest rate the floor with two loops too.
#   saturation  the same subscribers, EVERYDAY_SATURATION_RATE telemetries/s offered in batches
#               of 50 (more than one loop can deliver): the default, --threads 1 and the floor
#               with two loops.
#
# Settings (environment), defaults below; BUILD=build; OUT=docs/performance.md (its "Everyday
# efficiency, measured" section is replaced, the rest kept); RESULTS=bench/results/<time>/everyday.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"

EVERYDAY_CONNECTIONS=${EVERYDAY_CONNECTIONS:-10000}
EVERYDAY_DEVICES=${EVERYDAY_DEVICES:-1000}
EVERYDAY_RATES=${EVERYDAY_RATES:-"200 400 2000"}
EVERYDAY_BATCH=${EVERYDAY_BATCH:-10}
EVERYDAY_DURATION=${EVERYDAY_DURATION:-20}
EVERYDAY_ROUNDS=${EVERYDAY_ROUNDS:-3}
EVERYDAY_SATURATION_RATE=${EVERYDAY_SATURATION_RATE:-50000}
EVERYDAY_SATURATION_ROUNDS=${EVERYDAY_SATURATION_ROUNDS:-2}
BUILD=${BUILD:-build}
OUT=${OUT:-docs/performance.md}
RESULTS=${RESULTS:-bench/results/$(date -u +%Y%m%dT%H%M%SZ)/everyday}

log() { echo "everyday: $*" >&2; }
[ -x "$BUILD/kamea-wss" ] || { log "error: $BUILD/kamea-wss missing: run 'make build' first"; exit 1; }
if [ ! -x "$BUILD/bench/kamea-floor" ] || [ ! -x "$BUILD/bench/kamea-loadgen" ]; then
    cmake --build "$BUILD" --target kamea-loadgen kamea-publish kamea-floor
fi
mkdir -p "$RESULTS/bin"
# A copy, as bench/run.sh does: a rebuild in the middle must not change what is measured.
cp "$BUILD/kamea-wss" "$RESULTS/bin/kamea-wss"
git rev-parse --short HEAD >"$RESULTS/commit.txt" 2>/dev/null || echo unknown >"$RESULTS/commit.txt"
date -u +%Y-%m-%dT%H:%M:%SZ >"$RESULTS/date.txt"
uptime >"$RESULTS/load-before.txt"

export KAMEA=$RESULTS/bin/kamea-wss BUILD
highest=$(tr ' ' '\n' <<<"$EVERYDAY_RATES" | sort -n | tail -1)
for rate in $EVERYDAY_RATES; do
    variants=("default|" "one loop|--threads 1" "floor, 1 loop|@floor --threads 1")
    if [ "$rate" = "$highest" ]; then variants+=("floor, 2 loops|@floor --threads 2"); fi
    log "$rate telemetries/s: ${#variants[@]} variants, $EVERYDAY_ROUNDS rounds"
    OUTDIR=$RESULTS/rate-$rate ROUNDS=$EVERYDAY_ROUNDS CONNECTIONS=$EVERYDAY_CONNECTIONS \
        DEVICES=$EVERYDAY_DEVICES RATE=$rate BATCH=$EVERYDAY_BATCH DURATION=$EVERYDAY_DURATION \
        bench/ab.sh "${variants[@]}" | tee "$RESULTS/rate-$rate.txt" >&2
done
log "saturation: $EVERYDAY_SATURATION_RATE telemetries/s offered, $EVERYDAY_SATURATION_ROUNDS rounds"
OUTDIR=$RESULTS/saturation ROUNDS=$EVERYDAY_SATURATION_ROUNDS CONNECTIONS=$EVERYDAY_CONNECTIONS \
    DEVICES=$EVERYDAY_DEVICES RATE=$EVERYDAY_SATURATION_RATE BATCH=50 DURATION=10 \
    bench/ab.sh "default|" "one loop|--threads 1" "floor, 2 loops|@floor --threads 2" |
    tee "$RESULTS/saturation.txt" >&2
uptime >"$RESULTS/load-after.txt"

command="EVERYDAY_CONNECTIONS=$EVERYDAY_CONNECTIONS EVERYDAY_DEVICES=$EVERYDAY_DEVICES EVERYDAY_RATES=\"$EVERYDAY_RATES\""
command+=" EVERYDAY_BATCH=$EVERYDAY_BATCH EVERYDAY_DURATION=$EVERYDAY_DURATION EVERYDAY_ROUNDS=$EVERYDAY_ROUNDS"
command+=" EVERYDAY_SATURATION_RATE=$EVERYDAY_SATURATION_RATE EVERYDAY_SATURATION_ROUNDS=$EVERYDAY_SATURATION_ROUNDS bench/everyday.sh"
node bench/lib/everyday-report.mjs "$RESULTS" "$OUT" "$command"
log "wrote $OUT"
