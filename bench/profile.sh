#!/usr/bin/env bash
# Profile one benchmark with valgrind's callgrind (instruction counts: the
# same on a busy or an idle machine, unlike time), and print the functions
# that cost the most, inclusive, per visit.
#
#   bench/profile.sh policy      pt__policy_apply() with policy/default.ini
#   bench/profile.sh file        file store: request path + writer thread
#   bench/profile.sh dynamodb    DynamoDB backend against dynalite
#
# Uses the binaries of the last bench/run.sh (BENCH_BUILD_DIR, default
# build-bench); the raw profile is left in $BUILD/callgrind.<what>.
# perf is not used: this machine's perf reports hardware counters as
# "not supported".
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build-bench}
WHAT=${1:?usage: bench/profile.sh policy|file|dynamodb}
N=${PROFILE_N:-20000}
OUT=$BUILD/callgrind.$WHAT
export PT_BENCH_TMP=$BUILD/bench-tmp
mkdir -p "$PT_BENCH_TMP"
command -v valgrind >/dev/null || { echo "profile: valgrind is missing" >&2; exit 1; }
[ -x "$BUILD/bench/bench_policy" ] || { echo "profile: run bench/run.sh first" >&2; exit 1; }

CG=(valgrind --tool=callgrind --callgrind-out-file="$OUT")
case $WHAT in
policy)
    BENCH_POLICY_N=$N BENCH_POLICY_MODES=default "${CG[@]}" \
        "$BUILD/bench/bench_policy" >/dev/null 2>&1
    ;;
file)
    BENCH_FILE_N=$N BENCH_FILE_ALWAYS_N=10 "${CG[@]}" \
        "$BUILD/bench/bench_file" >/dev/null 2>&1
    ;;
dynamodb)
    N=${PROFILE_N:-1000}
    export AWS_ACCESS_KEY_ID=bench AWS_SECRET_ACCESS_KEY=bench-secret AWS_REGION=us-east-1
    state=$BUILD/dynalite-profile
    out=$("$ROOT/scripts/dynalite-start.sh" "$state")
    trap '"$ROOT/scripts/dynalite-stop.sh" "$state"' EXIT
    port=$(sed -n 's/^DYNALITE_PORT=//p' <<<"$out")
    BENCH_DDB_ENDPOINT=http://127.0.0.1:$port BENCH_DDB_N=$N \
        BENCH_DDB_TABLE=bench-profile "${CG[@]}" \
        "$BUILD/bench/bench_dynamodb" >/dev/null 2>&1
    ;;
*)
    echo "profile: unknown benchmark '$WHAT'" >&2
    exit 1
    ;;
esac

# Inclusive cost per visit of the 30 most expensive functions.
VISITS=$N
[ "$WHAT" = policy ] && VISITS=$((N + 1000)) # bench_policy warms up 1,000
callgrind_annotate --inclusive=yes "$OUT" 2>/dev/null | sed 's/( */(/' |
    awk -v n="$VISITS" '
        /^ *[0-9,]+ +\(/ {
            ir = $1; gsub(",", "", ir)
            pct = $2
            fn = $3; sub(/.*:/, "", fn)
            if (fn ~ /^0x/ || fn == "(below" || seen[fn]++) next
            printf "%10.0f instr/visit %9s  %s\n", ir / n, pct, fn
            if (++shown == 30) exit
        }'
echo "(raw profile: $OUT; callgrind_annotate --tree=caller $OUT for callers)"
