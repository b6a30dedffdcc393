#!/usr/bin/env bash
# Build privtrack in Release with the benchmarks, run every C benchmark and
# its Python baseline in the same run (DynamoDB ones against one dynalite
# started here on a free loopback port), and print one table:
#   metric | unit | privtrack | baseline | ratio | target | met?
#
#   bench/run.sh                  full run (about 5-15 minutes on 2 cores)
#   BENCH_QUICK=1 bench/run.sh    smaller sizes (a few minutes)
#   BENCH_ONLY="policy file" bench/run.sh    a subset of:
#                                 policy latency file replay dynamodb memory python
#                                 read (with dynamodb: also the DynamoDB range read)
#                                 import (the bulk-import row of read, alone)
#                                 subject (erasing one person from the file store
#                                 and from DynamoDB)
#
# Sizes (defaults: full / quick): BENCH_POLICY_N, BENCH_LAT_RATE,
# BENCH_LAT_SECONDS, BENCH_FILE_N, BENCH_FILE_ALWAYS_N, BENCH_FILE_SECONDS,
# BENCH_DDB_N, BENCH_REPLAY_N, BENCH_REPLAY_DDB_N, BENCH_REPLAY_ROUNDS, BENCH_MEM_N,
# BENCH_MEM_SECONDS for privtrack; BENCH_PY_POLICY_N, BENCH_PY_LAT_N,
# BENCH_PY_FILE_N, BENCH_PY_FILE_ALWAYS_N, BENCH_PY_DDB_N, BENCH_PY_PUT_N,
# BENCH_PY_MEM_N for the baselines; BENCH_BINDING_N (Tracker.track() calls
# per thread configuration), BENCH_PY_LAT_RATE (their pace, visits/s) and
# BENCH_PY_SYNC_PUT_N (the seed's synchronous put_item) for "python";
# BENCH_READ_N (records of the day read by stats/export/query),
# BENCH_IMPORT_N (visits imported by record FILE), BENCH_IMPORT_ROUNDS
# (alternating runs of each side; the row is their median), BENCH_DDB_READ_N (items
# read back from dynalite) for both sides of the read benchmarks
# (bench/bench_read.py); BENCH_SUBJECT_DAYS, BENCH_SUBJECT_N (file store)
# and BENCH_SUBJECT_DDB_DATES, BENCH_SUBJECT_DDB_N (dynalite) for "subject"
# (bench/bench_subject.py).  BENCH_BUILD_DIR (default build-bench).
# BENCH_FROM_HEAD=1 builds the last commit (git archive HEAD) instead of the
# work tree, e.g. while others are editing it (default dir build-bench-head).
# The table also lands in $BENCH_BUILD_DIR/bench-table.md, the raw results
# in $BENCH_BUILD_DIR/bench-results.jsonl.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ "${BENCH_FROM_HEAD:-0}" = 1 ]; then
    BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench-head}
else
    BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
fi
PY=/usr/bin/python3 # Debian's, with python3-boto3
QUICK=${BENCH_QUICK:-0}
ONLY=${BENCH_ONLY:-policy latency file replay dynamodb memory python read subject}
COMMAND="$(for v in BENCH_QUICK BENCH_ONLY BENCH_FROM_HEAD; do
    if [ -n "${!v:-}" ]; then printf '%s=%q ' "$v" "${!v}"; fi
done)bench/run.sh"

size() { # size NAME FULL QUICK
    local v=${!1:-}
    if [ -n "$v" ]; then echo "$v"; elif [ "$QUICK" = 1 ]; then echo "$3"; else echo "$2"; fi
}
BENCH_POLICY_N=$(size BENCH_POLICY_N 2000000 300000)
BENCH_LAT_RATE=$(size BENCH_LAT_RATE 100000 100000)
BENCH_LAT_SECONDS=$(size BENCH_LAT_SECONDS 3 1)
BENCH_FILE_N=$(size BENCH_FILE_N 2000000 300000)
BENCH_FILE_ALWAYS_N=$(size BENCH_FILE_ALWAYS_N 50000 10000)
BENCH_DDB_N=$(size BENCH_DDB_N 20000 4000)
BENCH_MEM_N=$(size BENCH_MEM_N 1000000 1000000)
BENCH_REPLAY_N=$(size BENCH_REPLAY_N 1000000 100000)
BENCH_REPLAY_DDB_N=$(size BENCH_REPLAY_DDB_N 20000 4000)
BENCH_REPLAY_ROUNDS=$(size BENCH_REPLAY_ROUNDS 9 2)
# Deadlines, so that a slow store cannot make the run endless.
BENCH_FILE_SECONDS=$(size BENCH_FILE_SECONDS 30 10)
BENCH_MEM_SECONDS=$(size BENCH_MEM_SECONDS 120 30)
export BENCH_POLICY_N BENCH_LAT_RATE BENCH_LAT_SECONDS BENCH_FILE_N \
    BENCH_FILE_ALWAYS_N BENCH_DDB_N BENCH_MEM_N BENCH_FILE_SECONDS \
    BENCH_MEM_SECONDS BENCH_REPLAY_N BENCH_REPLAY_DDB_N
PY_POLICY_N=$(size BENCH_PY_POLICY_N 200000 50000)
PY_LAT_N=$(size BENCH_PY_LAT_N 40000 10000)
PY_FILE_N=$(size BENCH_PY_FILE_N 200000 50000)
PY_FILE_ALWAYS_N=$(size BENCH_PY_FILE_ALWAYS_N 5000 2000)
PY_DDB_N=$(size BENCH_PY_DDB_N 20000 4000)
PY_PUT_N=$(size BENCH_PY_PUT_N 4000 1000)
PY_MEM_N=$(size BENCH_PY_MEM_N 1000000 200000)
BINDING_N=$(size BENCH_BINDING_N 200000 40000)
PY_SYNC_PUT_N=$(size BENCH_PY_SYNC_PUT_N 2000 400)
READ_N=$(size BENCH_READ_N 1000000 200000)
IMPORT_N=$(size BENCH_IMPORT_N 100000 100000)
IMPORT_ROUNDS=$(size BENCH_IMPORT_ROUNDS 5 3)
DDB_READ_N=$(size BENCH_DDB_READ_N 14000 3500)

log() { printf '\n== %s\n' "$*" >&2; }
want() { [[ " $ONLY " == *" $1 "* ]]; }

for tool in cmake "$PY"; do
    command -v "$tool" >/dev/null || { echo "bench: $tool is missing" >&2; exit 1; }
done
"$PY" -c 'import boto3' 2>/dev/null ||
    { echo "bench: Debian's python3-boto3 is missing (apt-get install python3-boto3)" >&2; exit 1; }

mkdir -p "$BUILD"
SRC=$ROOT
if [ "${BENCH_FROM_HEAD:-0}" = 1 ]; then
    # Measure the committed tree, not edits in progress in the work tree.
    SRC=$BUILD/src
    rm -rf "$SRC"
    mkdir -p "$SRC"
    git -C "$ROOT" archive HEAD | tar -x -C "$SRC"
    log "source: HEAD $(git -C "$ROOT" rev-parse --short HEAD), exported to $SRC"
fi
log "building Release into $BUILD"
cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DPT_BUILD_BENCH=ON \
    -DPT_BUILD_TESTS=OFF >"$BUILD/bench-cmake.log" 2>&1 ||
    { cat "$BUILD/bench-cmake.log" >&2; exit 1; }
cmake --build "$BUILD" -j2 --target bench_policy bench_latency bench_file \
    bench_dynamodb bench_memory bench_empty bench_replay privtrack privtrack_cli >"$BUILD/bench-build.log" 2>&1 ||
    { tail -40 "$BUILD/bench-build.log" >&2; exit 1; }
B=$BUILD/bench
BASE=$ROOT/bench/baseline/bench_baseline.py
READ=$SRC/bench/bench_read.py
PT_CLI=$BUILD/cli/privtrack

RESULTS=$BUILD/bench-results.jsonl
: >"$RESULTS"
# The machine is shared: record how busy it was when the run started.
read -r LOAD1 _ </proc/loadavg
echo "{\"side\":\"env\",\"key\":\"loadavg_start\",\"value\":$LOAD1,\"unit\":\"\"}" >>"$RESULTS"
export PT_BENCH_TMP=$BUILD/bench-tmp
rm -rf "$PT_BENCH_TMP"
mkdir -p "$PT_BENCH_TMP"
# Fake credentials for dynalite (it checks that they are present, not what).
export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret \
    AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB

FAILED=""
step() { # step NAME CMD...: run, collect JSON lines, keep going on failure
    local name=$1
    shift
    log "$name"
    if ! "$@" >>"$RESULTS"; then
        echo "bench: $name failed" >&2
        FAILED="$FAILED $name"
    fi
}

# ---- dynalite (the project's pinned one, via its start/stop scripts) -------
DYNALITE_STATE=$BUILD/dynalite
DYNALITE_PORT=""
dynalite_start() {
    local out
    out=$("$ROOT/scripts/dynalite-start.sh" "$DYNALITE_STATE") || return 1
    DYNALITE_PORT=$(sed -n 's/^DYNALITE_PORT=//p' <<<"$out")
    # the benches read the server's CPU time from /proc (how busy they kept it)
    BENCH_SERVER_PID=$(sed -n 's/^DYNALITE_PID=//p' <<<"$out")
    export BENCH_SERVER_PID
    [ -n "$DYNALITE_PORT" ]
}
dynalite_stop() {
    "$ROOT/scripts/dynalite-stop.sh" "$DYNALITE_STATE" || true
    DYNALITE_PORT=""
    unset BENCH_SERVER_PID
}
trap 'dynalite_stop; rm -rf "$PT_BENCH_TMP"' EXIT

# ---- the benchmarks --------------------------------------------------------
if want policy; then
    step "policy cost (privtrack)" "$B/bench_policy"
    step "policy cost (baseline)" "$PY" "$BASE" policy -n "$PY_POLICY_N"
fi
if want latency; then
    step "pt_track latency (privtrack)" "$B/bench_latency"
    step "latency (baseline)" "$PY" "$BASE" latency -n "$PY_LAT_N" \
        --dir "$PT_BENCH_TMP/py-latency"
fi
if want file; then
    step "file store throughput (privtrack)" "$B/bench_file"
    step "file store throughput (baseline)" "$PY" "$BASE" file -n "$PY_FILE_N" \
        --n-always "$PY_FILE_ALWAYS_N" --dir "$PT_BENCH_TMP/py-file"
fi
if want replay; then
    step "spool replay into the file store (privtrack)" "$B/bench_replay" file
fi
if want dynamodb; then
    log "starting dynalite"
    if dynalite_start; then
        EP=http://127.0.0.1:$DYNALITE_PORT
        # Warm the server (node's JIT, the table code paths) before anything
        # is measured, so that neither side pays for it.
        step "dynalite warm-up" "$PY" "$BASE" dynamodb --endpoint "$EP" \
            --mode warmup --table bench-warmup -n 2000
        step "DynamoDB (privtrack)" env BENCH_DDB_ENDPOINT="$EP" \
            BENCH_DDB_TABLE=bench-privtrack "$B/bench_dynamodb"
        step "DynamoDB (boto3 batch_writer)" "$PY" "$BASE" dynamodb \
            --endpoint "$EP" --mode batch_writer --table bench-batch-writer \
            -n "$PY_DDB_N"
        step "DynamoDB (seed put_item, thread per write)" "$PY" "$BASE" \
            dynamodb --endpoint "$EP" --mode put_item --table bench-put-item \
            -n "$PY_PUT_N"
        if want read; then
            step "DynamoDB range read (privtrack export vs boto3 loop)" \
                "$PY" "$READ" dynamodb --privtrack "$PT_CLI" \
                --dir "$PT_BENCH_TMP/ddb-read" --endpoint "$EP" -n "$DDB_READ_N"
        fi
        if want replay; then
            step "spool replay into DynamoDB (privtrack)" env \
                BENCH_DDB_ENDPOINT="$EP" BENCH_REPLAY_TABLE=bench-replay \
                "$B/bench_replay" dynamodb
            # The replay row compares with normal writes measured beside it:
            # BENCH_REPLAY_ROUNDS pairs on the same server, the order
            # alternating (write first, then replay first), so that neither
            # side always meets the garbage the other left; the row takes
            # the geometric means, whose ratio is the geometric mean of the
            # per-pair ratios (dynalite's cost per record varies by a third
            # from one run to the next on a shared machine, but little
            # within a pair), and the notes give its 95 % interval.
            for ((round = 1; round <= BENCH_REPLAY_ROUNDS; round++)); do
                pair_write() {
                    env BENCH_DDB_ENDPOINT="$EP" \
                        BENCH_DDB_TABLE=bench-pair-write-$round \
                        "$B/bench_dynamodb" |
                        sed "s/\"key\":\"dynamodb\.privtrack\./\"key\":\"replaypair.$round.write./"
                }
                pair_replay() {
                    env BENCH_DDB_ENDPOINT="$EP" \
                        BENCH_REPLAY_TABLE=bench-pair-replay-$round \
                        "$B/bench_replay" dynamodb |
                        sed "s/\"key\":\"replay\.dynamodb\./\"key\":\"replaypair.$round.replay./"
                }
                if ((round % 2)); then
                    step "pair $round: normal writes" pair_write
                    step "pair $round: spool replay" pair_replay
                else
                    step "pair $round: spool replay" pair_replay
                    step "pair $round: normal writes" pair_write
                fi
            done
        fi
        dynalite_stop
    else
        FAILED="$FAILED dynalite"
    fi
fi
if want python; then
    # The Python binding over this Release build's libprivtrack, beside the
    # seed's synchronous put_item per visit against dynalite.
    step "Tracker.track() from Python (privtrack)" env \
        PRIVTRACK_LIBRARY="$BUILD/lib/libprivtrack.so.0" \
        PYTHONPATH="$SRC/bindings/python" PYTHONDONTWRITEBYTECODE=1 \
        "$PY" "$SRC/bench/bench_python.py" -n "$BINDING_N" \
        --dir "$PT_BENCH_TMP/python-binding"
    log "starting dynalite"
    if dynalite_start; then
        EP=http://127.0.0.1:$DYNALITE_PORT
        step "dynalite warm-up" "$PY" "$BASE" dynamodb --endpoint "$EP" \
            --mode warmup --table bench-warmup -n 2000
        step "seed's synchronous put_item per visit (baseline)" "$PY" "$BASE" \
            put_latency --endpoint "$EP" --table bench-put-sync \
            -n "$PY_SYNC_PUT_N"
        dynalite_stop
    else
        FAILED="$FAILED dynalite"
    fi
fi
if want read; then
    # stats/export/query of one day, and bulk import, whole process, each
    # beside its Python equivalent (bench/bench_read.py says which).
    step "read side and bulk import (privtrack vs Python)" "$PY" "$READ" \
        file --privtrack "$PT_CLI" --dir "$PT_BENCH_TMP/read" -n "$READ_N" \
        --import-n "$IMPORT_N" --rounds "$IMPORT_ROUNDS"
fi
if want subject; then
    # Erasing one person from BENCH_SUBJECT_DAYS day files of
    # BENCH_SUBJECT_N records, beside the hand recipe (bench_subject.py).
    step "subject erase on the file store (privtrack vs Python)" "$PY" \
        "$SRC/bench/bench_subject.py" --privtrack "$PT_CLI" \
        --dir "$PT_BENCH_TMP/subject" \
        --days "$(size BENCH_SUBJECT_DAYS 30 5)" -n "$(size BENCH_SUBJECT_N 100000 20000)"
    # The same on DynamoDB: BENCH_SUBJECT_DDB_DATES dates of
    # BENCH_SUBJECT_DDB_N items, two identically loaded dynalite tables.
    log "starting dynalite"
    if dynalite_start; then
        EP=http://127.0.0.1:$DYNALITE_PORT
        step "dynalite warm-up" "$PY" "$BASE" dynamodb --endpoint "$EP" \
            --mode warmup --table bench-warmup -n 2000
        step "subject erase on DynamoDB (privtrack vs boto3 loop)" "$PY" \
            "$SRC/bench/bench_subject.py" --privtrack "$PT_CLI" \
            --dir "$PT_BENCH_TMP/subject-ddb" --endpoint "$EP" \
            --days "$(size BENCH_SUBJECT_DDB_DATES 30 3)" \
            -n "$(size BENCH_SUBJECT_DDB_N 10000 2000)"
        dynalite_stop
    else
        FAILED="$FAILED dynalite"
    fi
fi
if want import && ! want read; then
    # The bulk-import row alone (the read subset includes it).
    step "bulk import (privtrack vs Python)" "$PY" "$READ" import \
        --privtrack "$PT_CLI" --dir "$PT_BENCH_TMP/import" --import-n "$IMPORT_N" \
        --rounds "$IMPORT_ROUNDS"
fi
if want memory; then
    step "memory: empty C program" "$B/bench_empty"
    step "memory: idle tracker" "$B/bench_memory" idle
    step "memory: tracking (privtrack)" "$B/bench_memory" track
    step "memory: empty (baseline)" "$PY" "$BASE" memory empty
    step "memory: idle (baseline)" "$PY" "$BASE" memory idle
    step "memory: tracking (baseline)" "$PY" "$BASE" memory track \
        -n "$PY_MEM_N" --dir "$PT_BENCH_TMP/py-memory"
fi

read -r LOAD1 _ </proc/loadavg
echo "{\"side\":\"env\",\"key\":\"loadavg_end\",\"value\":$LOAD1,\"unit\":\"\"}" >>"$RESULTS"
log "results"
"$PY" "$ROOT/bench/report.py" "$RESULTS" --command "$COMMAND" \
    --markdown-out "$BUILD/bench-table.md"
if [ -n "$FAILED" ]; then
    echo "bench: failed steps:$FAILED" >&2
    exit 1
fi
