# Helpers for the end-to-end tests of the privtrack command.  Sourced by each
# tests/e2e/*.sh, which ctest runs as:  bash SCRIPT PRIVTRACK SOURCE_DIR BUILD_DIR
#
# Each test runs in a fresh directory under the build tree (removed on exit,
# kept with PT_KEEP_TMP=1), so ./policy.ini and ./var are the test's own.
set -euo pipefail

PT="$(realpath "${1:?usage: $0 PRIVTRACK SOURCE_DIR BUILD_DIR}")"
SRC="$(realpath "${2:?}")"
BUILD="$(realpath "${3:?}")"
PY=/usr/bin/python3 # the system one: it has json; a pyenv shim may not
TEST_NAME="$(basename "$0" .sh)"

mkdir -p "$BUILD/e2e-tmp"
WORK="$(mktemp -d "$BUILD/e2e-tmp/$TEST_NAME.XXXXXX")"
cleanup() {
    if [ "${PT_KEEP_TMP:-0}" = 1 ]; then
        echo "kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
cd "$WORK"
# Nothing from the caller's environment may choose the policy or the key.
unset PRIVTRACK_POLICY PRIVTRACK_IP_KEY
export TZ=Europe/Paris # times must be UTC whatever the local zone

CHECKS=0
fail() {
    echo "FAIL [$TEST_NAME]: $*" >&2
    exit 1
}
ok() {
    CHECKS=$((CHECKS + 1))
}
finish() {
    echo "$TEST_NAME: $CHECKS checks passed"
}

# run EXPECTED_EXIT CMD...: run, keep stdout/stderr in $OUT/$ERR, check exit.
OUT="$WORK/.out"
ERR="$WORK/.err"
run() {
    local expected="$1" rc=0
    shift
    "$@" >"$OUT" 2>"$ERR" || rc=$?
    if [ "$rc" != "$expected" ]; then
        echo "--- stdout" >&2
        head -c 4000 "$OUT" >&2 || true
        echo "--- stderr" >&2
        head -c 4000 "$ERR" >&2 || true
        fail "'$*' exited $rc, expected $expected"
    fi
    ok
}

# contains FILE REGEX [what]: grep -E must find REGEX in FILE.
contains() {
    grep -Eq -- "$2" "$1" || {
        echo "--- $1:" >&2
        head -c 4000 "$1" >&2
        fail "${3:-$1 does not match /$2/}"
    }
    ok
}
lacks() {
    if grep -Eq -- "$2" "$1"; then
        echo "--- $1:" >&2
        grep -En -- "$2" "$1" | head -5 >&2
        fail "${3:-$1 matches /$2/}"
    fi
    ok
}

# py 'python code' ARGS...: a check in Python; it must exit 0.
py() {
    local code="$1"
    shift
    "$PY" -c "$code" "$@" || fail "python check failed: ${code:0:200}"
    ok
}

# The number in the summary line for "WORD N" (e.g. stored, dnt, rejected).
summary_count() {
    local line
    line="$(grep -E '^privtrack: record: read' "$ERR" | tail -1)"
    [ -n "$line" ] || fail "no summary line on stderr"
    echo "$line" | grep -Eo "(^|[ (])$1 [0-9]+" | grep -Eo '[0-9]+$' || echo 0
}
expect_count() {
    local got
    got="$(summary_count "$1")"
    [ "$got" = "$2" ] || fail "summary: $1 is $got, expected $2 ($(grep -E '^privtrack: record' "$ERR"))"
    ok
}

# A date N days before today (UTC), and a visit time on it.
days_ago() { date -u -d "$1 days ago" +%F; }

# write_policy FILE [INI lines...]: a policy whose store is ./var.
write_policy() {
    local file="$1"
    shift
    printf '%s\n' "$@" >"$file"
}

# snapshot DIR: every path, type, size, mode and content hash under DIR.
snapshot() {
    (cd "$1" && find . -path ./.out -prune -o -path ./.err -prune -o \
        -printf '%p %y %s %m\n' | LC_ALL=C sort &&
        find . -type f ! -name .out ! -name .err -print0 | LC_ALL=C sort -z |
        xargs -0 -r sha256sum)
}

# blake HEXKEY: the pseudonym of 203.0.113.0/24 under that key (the default
# policies' keyed BLAKE2b of the /24), computed by a second implementation.
blake() {
    "$PY" -c '
import hashlib, ipaddress, sys
msg = bytes([4, 24]) + ipaddress.ip_address("203.0.113.0").packed
print(hashlib.blake2b(msg, key=bytes.fromhex(sys.argv[1]), digest_size=16).hexdigest())
' "$1"
}
# key_in FILE: the hex key of an unwrapped period key file.
key_in() { awk '/^key /{print $2}' "$1"; }
