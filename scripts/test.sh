#!/usr/bin/env bash
# The README's second command, and what CI runs (.ci/run): install what is
# missing, build with the tests, and run every test (all ctest labels: unit,
# e2e, install, dynamodb, ...), after two sanitizer passes over the unit
# and end-to-end tests: AddressSanitizer + UBSan, and ThreadSanitizer (the
# tracker's writer thread, the concurrent tests).
#
#   PT_TEST_JOBS=N     parallel test jobs (default 2)
#   PT_SKIP_SANITIZERS=1   skip both sanitizer passes (local iterations only)
#   PT_TEST_REPEAT=N   runs allowed for a failing test (default 2)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="${PT_TEST_JOBS:-2}"
start=$SECONDS

step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - start))"; }

step "Dependencies"
scripts/install-deps.sh

status=0
# A few tests check their own deadlines (flush/close within N ms); on 2 busy
# cores, under sanitizers that slow code 2-15x, one can miss by chance.  A
# failing test gets one more run, and ctest reports it; a test that fails
# twice fails the run.  PT_TEST_REPEAT=1 runs each test once.
repeat=(--repeat "until-pass:${PT_TEST_REPEAT:-2}")
sanitizer_pass() { # PRESET DESCRIPTION [CTEST ARGS...]
    local preset="$1" what="$2" rc=0
    shift 2
    step "$what build (build-$preset/)"
    cmake --preset "$preset" >/dev/null
    cmake --build --preset "$preset" || rc=$?
    if [ "$rc" -eq 0 ]; then
        step "Unit and end-to-end tests under $what"
        ctest --preset "$preset" -j "$jobs" "$@" || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        echo "test.sh: the $what pass FAILED (exit $rc); the other passes run anyway" >&2
        status=$rc
    fi
}
if [ "${PT_SKIP_SANITIZERS:-0}" != 1 ]; then
    sanitizer_pass asan "AddressSanitizer + UndefinedBehaviorSanitizer" "${repeat[@]}"
    sanitizer_pass tsan "ThreadSanitizer" "${repeat[@]}"
fi

step "Debug build with tests and examples (build-dev/)"
cmake --preset dev >/dev/null
cmake --build --preset dev

step "Every test (all labels)"
# Last, so that the output ends with ctest's summary of the whole suite.
ctest --preset dev -j "$jobs" "${repeat[@]}" || status=$?
exit "$status"
