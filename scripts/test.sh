#!/usr/bin/env bash
# The README's second command, and what CI runs (.ci/run): install what is
# missing, build with the tests, and run every test (all ctest labels: unit,
# e2e, install, dynamodb, ...), after two sanitizer passes over the unit
# and end-to-end tests: AddressSanitizer + UBSan, and ThreadSanitizer (the
# tracker's writer thread, the concurrent tests).
#
#   PT_TEST_JOBS=N     parallel test jobs (default 2)
#   PT_SKIP_SANITIZERS=1   skip both sanitizer passes (local iterations only)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="${PT_TEST_JOBS:-2}"
start=$SECONDS

step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - start))"; }

step "Dependencies"
scripts/install-deps.sh

status=0
sanitizer_pass() { # PRESET DESCRIPTION
    local rc=0
    step "$2 build (build-$1/)"
    cmake --preset "$1" >/dev/null
    cmake --build --preset "$1" || rc=$?
    if [ "$rc" -eq 0 ]; then
        step "Unit and end-to-end tests under $2"
        ctest --preset "$1" -j "$jobs" || rc=$?
    fi
    if [ "$rc" -ne 0 ]; then
        echo "test.sh: the $2 pass FAILED (exit $rc); the other passes run anyway" >&2
        status=$rc
    fi
}
if [ "${PT_SKIP_SANITIZERS:-0}" != 1 ]; then
    sanitizer_pass asan "AddressSanitizer + UndefinedBehaviorSanitizer"
    sanitizer_pass tsan "ThreadSanitizer"
fi

step "Debug build with tests and examples (build-dev/)"
cmake --preset dev >/dev/null
cmake --build --preset dev

step "Every test (all labels)"
# Last, so that the output ends with ctest's summary of the whole suite.
ctest --preset dev -j "$jobs" || status=$?
exit "$status"
