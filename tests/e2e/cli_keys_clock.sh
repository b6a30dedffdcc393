# Rotating keys over time, with the clock of a real privtrack process moved
# by libfaketime (the monotonic clock left alone, so the key thread's waits
# take real seconds): a tracker that keeps running across the instant a key
# falls due destroys that key itself (no purge, no keys destroy), and at the
# start of a period's last hour it fetches the next period's key ahead —
# the next day's visits are hashed with the next day's key, and a visit of
# the destroyed day is stored without client_ip.
source "$(dirname "$0")/lib.sh" "$@"

command -v faketime >/dev/null || fail "faketime is missing: run scripts/install-deps.sh"
# ThreadSanitizer cannot see through libfaketime: its wrapper of
# pthread_cond_timedwait calls glibc's directly, so TSan never sees the wait
# release the mutex and reports a "double lock of a mutex" in
# pt__keys_close that is not there.  The key thread's locking is checked
# under TSan without faked clocks (e2e_keys, test_keys); here the clock is
# the subject.
if grep -q libtsan <<<"$(ldd "$PT")"; then
    echo "$TEST_NAME: a ThreadSanitizer build (libfaketime hides pthread_cond_timedwait from it): skipped"
    finish
    exit 0
fi
# clock 'YYYY-MM-DD HH:MM:SS' CMD...: run CMD with its wall clock starting
# then (UTC) and running.  The monotonic clock stays real, and so do the
# key thread's timed waits on it: libfaketime's "monotonic fix" would make
# pthread_cond_timedwait return at once, a busy loop that refreshes the
# keys continuously and so would hide a thread that forgets to wake up.
# ASan wants to be first of the preloaded libraries; libfaketime is
# preloaded ahead of it, which is harmless here.
clock() {
    local start="$1"
    shift
    FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_FORCE_MONOTONIC_FIX=0 TZ=UTC \
        ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" \
        faketime "$start" "$@"
}
# wait_until SECONDS TEST...: poll TEST every 0.2 s; fail after SECONDS.
wait_until() {
    local tries=$(($1 * 5))
    shift
    until "$@"; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || return 1
        sleep 0.2
    done
}
gone() { [ ! -e "$1" ]; }

KD="$WORK/keys"
# A grace of 47 h: the key of 2025-01-15 (which ends 2025-01-16T00:00) is
# due at 2025-01-17T23:00:00, the instant 2025-01-18's key is fetched ahead.
write_policy p.ini '[ip]' 'rotate = daily' 'key_grace_hours = 47' "key_dir = $KD"

# ---- the control: the fake clock reaches privtrack ---------------------------
run 0 clock '2025-01-17 22:59:00' "$PT" init-storage --policy p.ini
# 01-16 and 01-17; not 01-15 (less than an hour of life left), not 01-18
# (not yet within the hour before its day)
[ "$(ls "$KD" | tr '\n' ' ')" = "daily-2025-01-16.key daily-2025-01-17.key " ] ||
    fail "init-storage at 2025-01-17T22:59:00Z made: $(ls "$KD")"
ok
run 0 clock '2025-01-17 22:59:00' "$PT" keys status --json --policy p.ini
py '
import json, sys
keys = json.load(open(sys.argv[1]))
assert all(k["created"].startswith("2025-01-17T22:59:0") for k in keys), keys
' "$OUT"
# A key of 2025-01-15 that another host made before its grace ran short.
cp -p "$KD/daily-2025-01-16.key" "$KD/daily-2025-01-15.key"
K15="$(key_in "$KD/daily-2025-01-15.key")"

# ---- one tracker runs across 23:00:00 ----------------------------------------
# Started 45 s before the instant (under a loaded machine the process may
# take seconds to open); visits are fed through a FIFO so it stays open.
mkfifo feed
clock '2025-01-17 22:59:15' "$PT" -v record --policy p.ini - <feed >rec.out 2>rec.err &
tracker=$!
exec 3>feed
echo '{"remote_addr": "203.0.113.7", "time": "2025-01-17T22:59:14Z"}' >&3
wait_until 60 grep -q 'Saved visit record' rec.err || fail "the tracker stored nothing: $(cat rec.err)"
ok
# It is open and has stored a visit, and 23:00 has not come yet.
[ -e "$KD/daily-2025-01-15.key" ] || fail "the key of 01-15 was destroyed before it was due: $(cat rec.err)"
ok
[ ! -e "$KD/daily-2025-01-18.key" ] || fail "the key of 01-18 was made before its day's last hour"
ok
grep -q 'destroyed' rec.err && fail "destroyed early: $(cat rec.err)"
ok
# At 23:00:00 the running tracker destroys 01-15's key and fetches 01-18's.
wait_until 90 gone "$KD/daily-2025-01-15.key" || fail "the running tracker did not destroy the due key: $(cat rec.err)"
ok
wait_until 30 test -e "$KD/daily-2025-01-18.key" || fail "the running tracker did not fetch the next day's key ahead: $(cat rec.err)"
ok
echo '{"remote_addr": "203.0.113.9", "time": "2025-01-15T12:00:00Z"}' >&3
echo '{"remote_addr": "203.0.113.9", "time": "2025-01-18T00:00:30Z"}' >&3
exec 3>&-
status=0
wait "$tracker" || status=$?
[ "$status" = 0 ] || fail "record exited $status: $(cat rec.err)"
ok
cp rec.err "$ERR"
contains "$ERR" '^privtrack: info: keys: destroyed the key of daily-2025-01-15 in .*47 have passed'
contains "$ERR" '^privtrack: info: keys: created the key of daily-2025-01-18 '
lacks "$ERR" "$K15"
expect_count stored 3
expect_count ip_key_expired 1
# The visit of the destroyed day has no client_ip; the next day's visit,
# stored before that day began, carries the next day's pseudonym.
ips() { # DATE (at the tracker's time: the records expire 90 days after it)
    clock '2025-01-18 01:00:00' "$PT" query --policy p.ini --date "$1" --json |
        "$PY" -c 'import json,sys; [print(r.get("client_ip", "-")) for r in json.load(sys.stdin)]'
}
[ "$(ips 2025-01-15)" = "-" ] || fail "a visit of a destroyed day got client_ip $(ips 2025-01-15)"
ok
[ "$(ips 2025-01-18)" = "$(blake "$(key_in "$KD/daily-2025-01-18.key")")" ] ||
    fail "the 01-18 visit was not hashed with 01-18's key: $(ips 2025-01-18)"
ok
[ "$(ips 2025-01-17)" = "$(blake "$(key_in "$KD/daily-2025-01-17.key")")" ] ||
    fail "the 01-17 visit was not hashed with 01-17's key"
ok
finish
