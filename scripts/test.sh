#!/usr/bin/env bash
# The README's second command, and what CI runs (.ci/run): install what is
# missing, build with the tests, and run every test (all ctest labels: unit,
# e2e, install, dynamodb, ...); then an AddressSanitizer + UBSan build runs
# the unit and end-to-end tests again.
#
#   PT_TEST_JOBS=N   parallel test jobs (default 2)
#   PT_SKIP_ASAN=1   skip the sanitizer pass (local iterations only)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
jobs="${PT_TEST_JOBS:-2}"
start=$SECONDS

step() { printf '\n== %s (%ds)\n' "$*" "$((SECONDS - start))"; }

step "Dependencies"
scripts/install-deps.sh

status=0
if [ "${PT_SKIP_ASAN:-0}" != 1 ]; then
    step "AddressSanitizer + UndefinedBehaviorSanitizer build (build-asan/)"
    cmake --preset asan >/dev/null
    cmake --build --preset asan
    step "Unit and end-to-end tests under ASan+UBSan"
    ctest --preset asan -j "$jobs" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "test.sh: the sanitizer pass FAILED (exit $status); the full suite runs anyway" >&2
    fi
fi

step "Debug build with tests and examples (build-dev/)"
cmake --preset dev >/dev/null
cmake --build --preset dev

step "Every test (all labels)"
# Last, so that the output ends with ctest's summary of the whole suite.
ctest --preset dev -j "$jobs" || status=$?
exit "$status"
