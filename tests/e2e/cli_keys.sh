# Rotating keys on the file store (PRIVACY.md "Key lifecycle"): shared by
# processes of separate working directories through one key directory;
# one pseudonym per visitor per day; sixteen processes racing for the same
# day's key; keys status and destroy; what purge destroys; a dry run of a
# destroyed day creates nothing; wrapped keys never show their bytes, and a
# wrong wrapping key is an error, never a new key; a key store out of reach
# leaves client_ip out (ip_key_unavailable).
source "$(dirname "$0")/lib.sh" "$@"

TODAY="$(date -u +%F)"
D1="$(days_ago 1)"
KD="$WORK/shared-keys"
write_policy daily.ini '[ip]' 'rotate = daily' "key_dir = $KD"
pseudonyms() { # STORE DATE: the client_ip values stored that day, one a line
    "$PT" query --policy "$WORK/daily.ini" --storage "$1" --date "$2" --json |
        "$PY" -c 'import json,sys; [print(r.get("client_ip", "-")) for r in json.load(sys.stdin)]'
}
visit() { # ADDRESS TIME
    echo '{"remote_addr": "'"$1"'", "time": "'"$2"'"}'
}

# ---- two processes, two working directories, one key directory -----------
mkdir -p host1 host2
visit 203.0.113.7 "${TODAY}T00:00:30Z" >host1/v.jsonl
visit 203.0.113.99 "${TODAY}T00:00:40Z" >host2/v.jsonl # same /24
visit 203.0.113.7 "${D1}T12:00:00Z" >>host1/v.jsonl
(cd host1 && run 0 "$PT" record --policy "$WORK/daily.ini" v.jsonl)
(cd host2 && run 0 "$PT" record --policy "$WORK/daily.ini" v.jsonl)
p1="$(pseudonyms host1/var "$TODAY")"
p2="$(pseudonyms host2/var "$TODAY")"
[ -n "$p1" ] && [ "$p1" = "$p2" ] || fail "same network, same day, two hosts: '$p1' vs '$p2'"
ok
y1="$(pseudonyms host1/var "$D1")"
[ -n "$y1" ] && [ "$y1" != "-" ] && [ "$y1" != "$p1" ] || fail "two days gave one pseudonym ($y1)"
ok
# the directory is 0700, each key 0600, one file per period
[ "$(stat -c %a "$KD")" = 700 ] || fail "key directory mode $(stat -c %a "$KD")"
ok
[ "$(stat -c %a "$KD/daily-$TODAY.key")" = 600 ] || fail "key mode"
ok
[ ! -e host1/var/ip.key ] && [ ! -e host1/var/keys ] || fail "a key was made beside the data"
ok
# the pseudonym is the keyed BLAKE2b of the /24 under that day's key, as a
# second implementation computes it from the key file
[ "$(blake "$(key_in "$KD/daily-$TODAY.key")")" = "$p1" ] || fail "the pseudonym is not BLAKE2b under today's key"
ok
[ "$(blake "$(key_in "$KD/daily-$D1.key")")" = "$y1" ] || fail "yesterday's visit was not hashed with yesterday's key"
ok

# ---- sixteen processes race for the same day's key -------------------------
rm -rf "$KD" race && mkdir race
for i in $(seq 1 16); do
    mkdir "race/$i"
    visit 198.51.100.$i "${TODAY}T08:00:00Z" >"race/$i/v.jsonl"
done
for i in $(seq 1 16); do
    (cd "race/$i" && exec "$PT" record --policy "$WORK/daily.ini" v.jsonl 2>err) &
done
wait
for i in $(seq 1 16); do
    [ ! -s "race/$i/err" ] || grep -q '^privtrack: record: read 1, stored 1' "race/$i/err" || fail "racer $i: $(cat "race/$i/err")"
done
ok
all="$(for i in $(seq 1 16); do pseudonyms "race/$i/var" "$TODAY"; done | sort -u)"
[ "$(echo "$all" | wc -l)" = 1 ] && [ "$all" != "-" ] || fail "16 racers, pseudonyms: $all"
ok
[ "$(ls "$KD" | grep -c "^daily-$TODAY\.key$")" = 1 ] || fail "not exactly one key for today: $(ls -a "$KD")"
ok
[ -z "$(ls -A "$KD" | grep -v '^daily-[0-9-]*\.key$')" ] || fail "left in the key directory: $(ls -A "$KD")"
ok

# ---- keys status: every key, no key material ---------------------------------
run 0 "$PT" keys status --policy daily.ini
contains "$OUT" "^daily-$TODAY +$TODAY +$TODAY +file +no "
for f in "$KD"/*.key; do
    lacks "$OUT" "$(key_in "$f")"
done
run 0 "$PT" keys status --json --policy daily.ini
py '
import json, sys
keys = json.load(open(sys.argv[1]))
names = [k["period"] for k in keys]
assert "daily-" + sys.argv[2] in names, names
for k in keys:
    assert k["store"] == "file" and k["wrapped"] is False, k
    assert set(k) == {"period", "first_date", "last_date", "store", "location",
                      "wrapped", "created", "destroy_after", "due"}, k
' "$OUT" "$TODAY"

# ---- purge destroys what is due ------------------------------------------------
# A key of a day long gone (as if no tracker ran since): due, so purge
# destroys it and says so.
cp -p "$KD/daily-$TODAY.key" "$KD/daily-2020-01-01.key"
run 0 "$PT" purge --policy daily.ini --storage race/1/var
contains "$OUT" '^destroyed the key of daily-2020-01-01 '
[ ! -e "$KD/daily-2020-01-01.key" ] || fail "purge left a due key"
ok
[ -e "$KD/daily-$TODAY.key" ] || fail "purge destroyed a live key"
ok

# ---- keys destroy --before ------------------------------------------------------
TOMORROW="$(date -u -d tomorrow +%F)"
# A date after today's end would also forbid keys for days that have not
# begun (all their visits without client_ip): refused, nothing changed.
FAR="$(date -u -d '+3 days' +%F)"
listing="$(ls -A "$KD")"
run 1 "$PT" keys destroy --before "$FAR" --yes --policy daily.ini
contains "$ERR" "^privtrack: keys destroy: $FAR is after the end of the current key period \($TOMORROW 00:00 UTC\).*give a date up to $TOMORROW\$"
[ "$listing" = "$(ls -A "$KD")" ] || fail "a refused keys destroy changed the key directory: $(ls -A "$KD")"
ok
run 1 "$PT" keys destroy --before "$TOMORROW" --policy daily.ini
contains "$OUT" "^would destroy daily-$TODAY "
contains "$ERR" 'nothing done without --yes'
[ -e "$KD/daily-$TODAY.key" ] || fail "keys destroy without --yes destroyed"
ok
run 0 "$PT" keys destroy --before "$TOMORROW" --yes --policy daily.ini
contains "$OUT" "^destroyed daily-$TODAY "
[ -z "$(ls "$KD" | grep -E "^daily-($TODAY|$D1)\.key$")" ] || fail "keys left: $(ls "$KD")"
ok
run 0 "$PT" keys status --policy daily.ini
lacks "$OUT" "daily-$TODAY"
# A dry run of a visit of that day says no key exists, and makes none.
visit 203.0.113.7 "${TODAY}T09:00:00Z" >dry.jsonl
before="$(snapshot "$WORK")"
run 0 "$PT" record --dry-run --policy daily.ini dry.jsonl
[ "$before" = "$(snapshot "$WORK")" ] || fail "a dry run changed the disk"
ok
contains "$OUT" "no key exists for daily-$TODAY"
py '
import json, sys
line = json.loads(open(sys.argv[1]).readline())
assert "client_ip" not in line["record"], line
assert "ephemeral_key" not in line, line
' "$OUT"
expect_count ip_key_expired 1
# Nor does a real run: today's visits are recorded without client_ip.
(cd host1 && run 0 "$PT" record --policy "$WORK/daily.ini" ../dry.jsonl)
[ ! -e "$KD/daily-$TODAY.key" ] || fail "a tracker remade a destroyed key"
ok

# ---- wrapped keys ----------------------------------------------------------------
W1=$(printf '5a%.0s' $(seq 32))
W2=$(printf 'a5%.0s' $(seq 32))
WKD="$WORK/wrapped-keys"
write_policy wrapped.ini '[ip]' 'rotate = daily' "key_dir = $WKD" '[storage]' 'path = ./wvar'
visit 203.0.113.7 "${TODAY}T10:00:00Z" >w.jsonl
PRIVTRACK_KEY_WRAP=$W1 run 0 "$PT" -v record --policy wrapped.ini w.jsonl
cp "$ERR" wrapped.log
PRIVTRACK_KEY_WRAP=$W1 run 0 "$PT" record --dry-run --policy wrapped.ini w.jsonl
cp "$OUT" wrapped.audit
# and one that waits in the spool (a directory in the day file's place)
mv "wvar/$TODAY.jsonl" day.jsonl
mkdir "wvar/$TODAY.jsonl"
PRIVTRACK_KEY_WRAP=$W1 run 2 "$PT" record --policy wrapped.ini w.jsonl
expect_count spooled 1
rmdir "wvar/$TODAY.jsonl"
mv day.jsonl "wvar/$TODAY.jsonl"
PRIVTRACK_KEY_WRAP=$W1 run 0 "$PT" keys status --json --policy wrapped.ini
py 'import json,sys; assert all(k["wrapped"] for k in json.load(open(sys.argv[1])))' "$OUT"
contains "$WKD/daily-$TODAY.key" '^wrap xchacha20poly1305$'
# The key itself, unwrapped with the wrapping key by a second implementation
# (the AEAD is libsodium's XChaCha20-Poly1305, the period's name as
# associated data), must appear nowhere: not in the key store, the records,
# the spool, the logs or the audit.
key_hex="$("$PY" - "$WKD/daily-$TODAY.key" "$W1" "daily-$TODAY" <<'EOF'
import ctypes, ctypes.util, sys
blob = bytes.fromhex([l.split()[1] for l in open(sys.argv[1]) if l.startswith("key ")][0])
wrap, ad = bytes.fromhex(sys.argv[2]), sys.argv[3].encode()
sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
out = ctypes.create_string_buffer(32)
n = ctypes.c_ulonglong(0)
rc = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
    out, ctypes.byref(n), None, blob[24:], ctypes.c_ulonglong(len(blob) - 24),
    ad, ctypes.c_ulonglong(len(ad)), blob[:24], wrap)
assert rc == 0 and n.value == 32, rc
print(out.raw.hex())
EOF
)" || fail "the wrapped key does not open with the wrapping key"
ok
[ ${#key_hex} = 64 ] || fail "unwrapped key: '$key_hex'"
ok
# and it is the key the pseudonyms were made with
[ "$(pseudonyms wvar "$TODAY")" = "$(blake "$key_hex")" ] || fail "the wrapped key is not the one that hashed"
ok
# (the spool holds that record, pseudonym and all: it is searched for real)
grep -rqF -- "$(blake "$key_hex")" wvar/spool || fail "no spooled record under wvar/spool: $(find wvar)"
ok
needles="$("$PY" -c '
import base64, sys
k = bytes.fromhex(sys.argv[1])
for s in (k.hex(), k.hex().upper(), base64.b64encode(k).decode(),
          base64.urlsafe_b64encode(k).decode().rstrip("="), k.hex()[:16], k.hex()[-16:]):
    print(s)
' "$key_hex")"
while read -r needle; do
    if grep -rqF -- "$needle" "$WKD" wvar wrapped.log wrapped.audit; then
        fail "key material '$needle' found: $(grep -rlF -- "$needle" "$WKD" wvar wrapped.log wrapped.audit)"
    fi
    ok
done <<<"$needles"
# A wrong wrapping key: a clear error, exit 1, and the key file untouched.
sum="$(sha256sum "$WKD/daily-$TODAY.key")"
PRIVTRACK_KEY_WRAP=$W2 run 1 "$PT" record --policy wrapped.ini w.jsonl
contains "$ERR" 'the key of daily-[0-9-]+ in .*wrapped-keys'
contains "$ERR" 'wrapping key'
lacks "$ERR" "$W2"
[ "$sum" = "$(sha256sum "$WKD/daily-$TODAY.key")" ] || fail "a wrong wrapping key changed the key"
ok
# No wrapping key at all: the same.
run 1 "$PT" record --policy wrapped.ini w.jsonl
contains "$ERR" 'PRIVTRACK_KEY_WRAP'
[ "$sum" = "$(sha256sum "$WKD/daily-$TODAY.key")" ] || fail "a missing wrapping key changed the key"
ok

# ---- no key to be had: the key store out of reach ----------------------------------
# DynamoDB's keys table on a port where nothing listens (no server needed):
# the visit is recorded without client_ip, counted as ip_key_unavailable,
# never stored raw or with an unkeyed hash (here: spooled, the store being
# out of reach too).
port="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
write_policy unreachable.ini '[storage]' 'backend = dynamodb' 'table = visits' \
    'region = eu-west-3' "endpoint = http://127.0.0.1:$port" 'path = ./uvar' \
    '[ip]' 'rotate = daily'
visit 203.0.113.7 "${TODAY}T11:00:00Z" >u.jsonl
AWS_ACCESS_KEY_ID=AKIDTEST AWS_SECRET_ACCESS_KEY=secret/TEST \
    run 2 "$PT" record --policy unreachable.ini u.jsonl
expect_count spooled 1
expect_count ip_key_unavailable 1
contains "$ERR" '1 visits stored without client_ip: their period.s key could not be had'
[ -n "$(find uvar/spool -type f -size +0)" ] || fail "nothing spooled: $(find uvar)"
ok
! grep -rq 'client_ip' uvar || fail "a record without a key has a client_ip: $(cat uvar/spool/*)"
ok
! grep -rqF '203.0.113' uvar "$ERR" || fail "the address was stored or logged"
ok

# ---- init-storage and policy check --------------------------------------------
rm -rf "$KD"
run 0 "$PT" init-storage --policy daily.ini --storage fresh
[ -f "$KD/daily-$TODAY.key" ] || fail "init-storage made no key for today"
ok
run 0 "$PT" policy check daily.ini
contains "$ERR" 'warning: \[ip\] rotate = daily without key_wrap_file'
PRIVTRACK_KEY_WRAP=$W1 run 0 "$PT" policy check daily.ini
lacks "$ERR" 'warning'
finish
