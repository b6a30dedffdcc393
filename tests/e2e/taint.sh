# The taint test.  Visits with known raw addresses (IPv4, IPv6, IPv4-mapped,
# zone ids, behind X-Forwarded-For) go through every policy in policy/
# whose ip mode is not keep, and through extra policies for truncate, hash
# (with and without truncate_before_hash) and drop, all with show_raw =
# false.  Every byte written under the working directory (the store, its
# key, the spool), the audit output and stderr (with debug logging on) is
# scanned by taint_scan.py: no raw address, and no unkeyed SHA-256, SHA-1 or
# MD5 hex of one, whole or its first 16 characters.
#
# Positive controls prove the scanner can fail: planted traces in each form
# are detected, and a `mode = keep` policy run the same way is flagged.
#
# Keys that rotate daily are covered (the shipped default and strict
# policies, and t-hash-daily), with their key store under the working
# directory; t-hash-daily-wrapped wraps its keys, and the scan then also
# looks for every one of its period keys (unwrapped here with libsodium)
# and for the wrapping key: as bytes, hex and base64 they must appear
# nowhere.
#
# PT_TAINT_BACKEND=dynamodb (tests/dynamodb/keys.cmake, under
# with-dynalite.sh) runs every policy on DynamoDB instead: each gets a table
# (and its keys table), whose items are dumped with boto3 and scanned too.
source "$(dirname "$0")/lib.sh" "$@"

SCAN="$SRC/tests/e2e/taint_scan.py"
BACKEND="${PT_TAINT_BACKEND:-file}"
if [ "$BACKEND" = dynamodb ]; then
    [ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ] || fail "run me through with-dynalite.sh"
fi
D="$(days_ago 1)"
mkdir input
cat >input/addresses.txt <<'EOF'
203.0.113.77
2001:db8:85a3::8a2e:370:7334
::ffff:192.0.2.44
198.51.100.10
198.51.100.99
203.0.113.88
2001:db8:aaaa::99
fe80::1234:5678%eth0
2001:DB8:BBBB::1
198.51.100.123
EOF
UA='Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0'
cat >input/visits.jsonl <<EOF
{"remote_addr": "203.0.113.77", "headers": {"User-Agent": "$UA"}, "links": ["https://e.example/?ip=1"], "filenames": ["a.mp3"], "time": "${D}T10:00:00Z"}
{"remote_addr": "2001:db8:85a3::8a2e:370:7334", "headers": {"User-Agent": "$UA"}, "filenames": ["b.mp3"], "time": "${D}T10:01:00Z"}
{"client_ip": "::ffff:192.0.2.44", "user_agent": "curl/8.5.0", "filenames": ["c.mp3"], "time": "${D}T10:02:00Z"}
{"remote_addr": "198.51.100.10", "headers": {"X-Forwarded-For": "198.51.100.99, 203.0.113.88", "User-Agent": "$UA"}, "filenames": ["d.mp3"], "time": "${D}T10:03:00Z"}
{"remote_addr": "198.51.100.10", "headers": {"x-forwarded-for": "2001:db8:aaaa::99"}, "filenames": ["e.mp3"], "time": "${D}T10:04:00Z"}
{"remote_addr": "fe80::1234:5678%eth0", "filenames": ["f.mp3"], "time": "${D}T10:05:00Z"}
{"remote_addr": "2001:DB8:BBBB::1", "headers": {"DNT": "1"}, "filenames": ["g.mp3"], "time": "${D}T10:06:00Z"}
{"remote_addr": "198.51.100.123", "headers": {"Cookie": "x=1"}, "filenames": ["h.mp3"], "time": "${D}T10:07:00Z", "oops": 1}
EOF
# (The last line is malformed on purpose: its error must not leak either.)

# ---- positive controls on the scanner itself ----------------------------------
control() { # control NAME CONTENT: the scanner must flag a planted trace
    mkdir -p control
    printf '%s' "$2" >"control/$1"
    if "$PY" "$SCAN" input/addresses.txt "control/$1" >control.out; then
        fail "scanner missed a planted $1"
    fi
    ok
    rm -f "control/$1"
}
sha() { printf '%s' "$2" | "$1" | cut -d' ' -f1; }
control raw-v4 '{"client_ip":"203.0.113.77"}'
control raw-v6-exploded '2001:0db8:85a3:0000:0000:8a2e:0370:7334'
control mapped-v4 'x 192.0.2.44 y'
control zone-less 'FE80::1234:5678'
control sha256-16 "{\"client_ip\":\"$(sha sha256sum 203.0.113.77 | cut -c1-16)\"}"
control sha256 "$(sha sha256sum 2001:db8:85a3::8a2e:370:7334)"
control md5 "$(sha md5sum 198.51.100.99 | tr a-f A-F)"
control md5-16 "$(sha md5sum 203.0.113.88 | cut -c1-16)"
control packed-hex 'cb00714d'
"$PY" "$SCAN" input/addresses.txt input/addresses.txt >/dev/null && fail "scanner missed the address list itself"
ok
mkdir clean && echo '{"client_ip":"203.0.113.0","x":"198.51.100.0"}' >clean/ok.json
"$PY" "$SCAN" input/addresses.txt clean >/dev/null || fail "scanner flagged truncated addresses"
ok
rm -rf clean control control.out

# ---- the policies ---------------------------------------------------------------------
mkdir policies
common='[audit]
show_raw = false
[optout]
cookie = x=1
action = anonymous'
proxies='trusted_proxies = 198.51.100.10/32'
cat >policies/t-truncate.ini <<EOF
[policy]
name = t-truncate
[ip]
mode = truncate
$proxies
$common
EOF
cat >policies/t-truncate-wide.ini <<EOF
[policy]
name = t-truncate-wide
[ip]
mode = truncate
ipv4_prefix = 16
ipv6_prefix = 32
$common
EOF
cat >policies/t-hash.ini <<EOF
[policy]
name = t-hash
[ip]
mode = hash
truncate_before_hash = false
$proxies
$common
EOF
cat >policies/t-hash-truncated.ini <<EOF
[policy]
name = t-hash-truncated
[ip]
mode = hash
truncate_before_hash = true
$proxies
[fields]
user_agent = keep
links = keep
$common
EOF
cat >policies/t-hash-daily.ini <<EOF
[policy]
name = t-hash-daily
[ip]
mode = hash
rotate = daily
key_grace_hours = 240
$proxies
$common
EOF
# The wrapping key lives with the input (not scanned: it is meant to be a
# file); the period keys it wraps are what must not leak.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >input/wrap.key
chmod 600 input/wrap.key
cat >policies/t-hash-daily-wrapped.ini <<EOF
[policy]
name = t-hash-daily-wrapped
[ip]
mode = hash
rotate = daily
key_grace_hours = 240
key_wrap_file = $WORK/input/wrap.key
$proxies
$common
EOF
cat >policies/t-drop.ini <<EOF
[policy]
name = t-drop
[ip]
mode = drop
$proxies
$common
EOF
# The shipped policies, made runnable here: the store, key and audit output
# are this test's own (so that they are scanned), everything else as shipped.
shipped=0
for f in "$SRC"/policy/*.ini; do
    name="$(basename "$f" .ini)"
    run 0 "$PT" policy show --policy "$f"
    if grep -q '^mode = keep$' "$OUT"; then
        echo "taint: skipping $name (ip mode = keep: it keeps addresses by design)"
        continue
    fi
    if grep -q '^backend = dynamodb$' "$OUT"; then
        echo "taint: skipping $name (DynamoDB backend: covered by the dynamodb tests)"
        continue
    fi
    grep -Ev '^[[:space:]]*(key_file|output|path)[[:space:]]*=' "$f" >"policies/shipped-$name.ini"
    shipped=$((shipped + 1))
done
[ "$shipped" -ge 1 ] || fail "no shipped policy to test"
ok
# On DynamoDB every policy gets a table of its own (and <table>-keys),
# created on first use.
if [ "$BACKEND" = dynamodb ]; then
    for p in policies/*.ini; do
        name="$(basename "$p" .ini)"
        grep -Ev '^[[:space:]]*(backend|fsync|path)[[:space:]]*=' "$p" >"$p.tmp"
        printf '[storage]\nbackend = dynamodb\ntable = taint-%s\ncreate_table = true\n' "$name" >>"$p.tmp"
        mv "$p.tmp" "$p"
    done
fi
# What is stored in DynamoDB, as boto3 reads it: written into out/NAME/.
dump_tables() { # NAME
    "$PY" - "taint-$1" "out/$1" <<'PYEOF'
import boto3, json, os, sys
db = boto3.resource("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
for suffix, out in (("", "table.json"), ("-keys", "keys.json")):
    try:
        items = db.Table(sys.argv[1] + suffix).scan(ConsistentRead=True)["Items"]
    except db.meta.client.exceptions.ResourceNotFoundException:
        items = []
    with open(os.path.join(sys.argv[2], out), "w") as f:
        json.dump(items, f, default=str)
PYEOF
}

# ---- run every policy: record (real), then record --dry-run ------------------------
policy_runs=0
for p in policies/*.ini; do
    name="$(basename "$p" .ini)"
    mkdir -p "out/$name"
    # A real record, with debug logging, into the policy's own store.
    "$PT" record -v --policy "$p" --storage "store-$name" input/visits.jsonl \
        >"out/$name/record.stdout" 2>"out/$name/record.stderr" || {
        cat "out/$name/record.stderr" >&2
        fail "record with $name failed"
    }
    # The same visits as a dry run: the audit is what we scan.
    "$PT" record -v --dry-run --policy "$p" --storage "store-$name" input/visits.jsonl \
        >"out/$name/audit.jsonl" 2>"out/$name/audit.stderr" || {
        cat "out/$name/audit.stderr" >&2
        fail "dry-run with $name failed"
    }
    # Reading back goes through the same code paths the operator uses (a
    # dry-run policy never made its DynamoDB table: nothing to read).
    if [ "$BACKEND" = file ] || ! grep -q 'would be stored' "out/$name/record.stderr"; then
        "$PT" query --policy "$p" --storage "store-$name" --date "$D" --json \
            >"out/$name/query.json" 2>"out/$name/query.stderr" || {
            cat "out/$name/query.stderr" >&2
            fail "query with $name failed"
        }
        "$PT" export --policy "$p" --storage "store-$name" --date "$D" \
            >"out/$name/export.json" 2>>"out/$name/query.stderr" || {
            cat "out/$name/query.stderr" >&2
            fail "export with $name failed"
        }
        # Data-subject requests: their output, document, receipt and errors
        # are scanned like the rest (the address searched for must appear
        # nowhere).
        sub=(--policy "$p" --storage "store-$name")
        "$PT" subject find "${sub[@]}" --ip 203.0.113.77 --json -v \
            >"out/$name/subject-find.json" 2>"out/$name/subject.stderr" || { cat "out/$name/subject.stderr" >&2; fail "subject find with $name failed"; }
        "$PT" subject find "${sub[@]}" --ip 2001:db8:85a3::8a2e:370:7334 -v \
            >"out/$name/subject-find.txt" 2>>"out/$name/subject.stderr" || fail "subject find (text) with $name failed"
        "$PT" subject export "${sub[@]}" --ip ::ffff:192.0.2.44 -v \
            --output "out/$name/subject-export.json" 2>>"out/$name/subject.stderr" || fail "subject export with $name failed"
        rc=0
        "$PT" subject erase "${sub[@]}" --ip 203.0.113.88 -v \
            >"out/$name/subject-preview.txt" 2>>"out/$name/subject.stderr" || rc=$?
        [ "$rc" = 1 ] || fail "subject erase without --yes with $name exited $rc"
        rc=0
        "$PT" subject find "${sub[@]}" --ip 198.51.100.99x \
            >/dev/null 2>>"out/$name/subject.stderr" || rc=$?
        [ "$rc" = 1 ] || fail "subject find of a bad address with $name exited $rc"
        "$PT" subject erase "${sub[@]}" --ip 2001:db8:85a3::8a2e:370:7334 --yes -v \
            >"out/$name/subject-receipt.txt" 2>>"out/$name/subject.stderr" || fail "subject erase with $name failed"
        # Not vacuous where addresses are stored: the person was found.
        case "$name" in t-truncate | t-hash | t-hash-truncated | t-hash-daily)
            grep -q '"found":[1-9]' "out/$name/subject-find.json" || fail "$name: subject find found nothing"
            ok ;;
        esac
    fi
    [ "$BACKEND" = file ] || dump_tables "$name" || fail "$name: cannot read its tables"
    # Not vacuous: a store was written (unless the policy itself is a dry
    # run), and the audit saw the visits.
    if grep -q 'stored [1-9]' "out/$name/record.stderr"; then
        if [ "$BACKEND" = file ]; then
            [ -n "$(find "store-$name" -type f -size +0 2>/dev/null)" ] || fail "$name: stored records but the store is empty"
        else
            grep -q '"timestamp"' "out/$name/table.json" || fail "$name: stored records but the table is empty"
        fi
    else
        grep -q 'would be stored' "out/$name/record.stderr" || fail "$name stored nothing: the test would be vacuous"
    fi
    ok
    [ -s "out/$name/audit.jsonl" ] || fail "$name: no audit output"
    ok
    policy_runs=$((policy_runs + 1))
done
echo "taint: ran $policy_runs policies ($shipped shipped)"

# Rotating keys were in play, and the wrapped policy's keys are known:
# unwrapped here, independently of privtrack, for the scan.
grep -q '"client_ip":"[0-9a-f]\{32\}"' out/t-hash-daily/audit.jsonl || fail "t-hash-daily hashed nothing"
ok
if [ "$BACKEND" = file ]; then
    key_source=store-t-hash-daily-wrapped/keys
    [ -n "$(ls store-shipped-default/keys 2>/dev/null)" ] || fail "the shipped default made no daily keys"
    ok
else
    key_source=out/t-hash-daily-wrapped/keys.json
    grep -q 'daily-' out/shipped-default/keys.json || fail "the shipped default made no daily keys in DynamoDB"
    ok
fi
"$PY" - "$(cat input/wrap.key)" "$key_source" >input/secrets.txt <<'PYEOF' || fail "cannot unwrap the period keys"
import ctypes, ctypes.util, json, os, sys
wrap = bytes.fromhex(sys.argv[1])
sodium = ctypes.CDLL(ctypes.util.find_library("sodium"))
def unwrap(period, blob_hex, how):
    assert how == "xchacha20poly1305", (period, how)
    blob, ad = bytes.fromhex(blob_hex), period.encode()
    out, n = ctypes.create_string_buffer(32), ctypes.c_ulonglong(0)
    rc = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        out, ctypes.byref(n), None, blob[24:], ctypes.c_ulonglong(len(blob) - 24),
        ad, ctypes.c_ulonglong(len(ad)), blob[:24], wrap)
    assert rc == 0 and n.value == 32, period
    print(out.raw.hex())
src = sys.argv[2]
if os.path.isdir(src):
    for name in sorted(os.listdir(src)):
        if name.endswith(".key"):
            lines = open(os.path.join(src, name)).read().splitlines()[1:]
            fields = dict(l.split(" ", 1) for l in lines)
            unwrap(name[:-4], fields["key"], fields["wrap"])
else:
    for item in json.load(open(src)):
        if item["period"] != "destroyed-before":
            unwrap(item["period"], item["key"], item["wrap"])
PYEOF
[ "$(wc -l <input/secrets.txt)" -ge 1 ] || fail "the wrapped policy made no keys"
ok
printf '%s\n' "$(cat input/wrap.key)" >>input/secrets.txt
# The scanner finds a planted key, in base64 as in hex.
mkdir control
"$PY" -c 'import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' \
    "$(head -1 input/secrets.txt)" >control/b64
if "$PY" "$SCAN" --secrets input/secrets.txt input/addresses.txt control >/dev/null; then
    fail "scanner missed a planted key in base64"
fi
ok
rm -rf control

# Every byte under the working directory except the input itself.
scan_targets=()
for entry in "$WORK"/* "$WORK"/.[!.]*; do
    [ -e "$entry" ] || continue
    case "$(basename "$entry")" in input | policies) continue ;; esac
    scan_targets+=("$entry")
done
"$PY" "$SCAN" --secrets input/secrets.txt input/addresses.txt "${scan_targets[@]}" >scan.out || {
    cat scan.out >&2
    fail "raw addresses (or unkeyed digests of them, or wrapped keys) leaked"
}
ok
cat scan.out

# ---- positive control through the tool: mode = keep is flagged ------------------------
mkdir keep-run
cat >keep-run/keep.ini <<EOF
[policy]
name = t-keep
[ip]
mode = keep
$proxies
EOF
"$PT" record --policy keep-run/keep.ini --storage keep-run/store input/visits.jsonl 2>/dev/null || fail "record with keep"
if "$PY" "$SCAN" input/addresses.txt keep-run/store >keep-run/scan.out; then
    fail "the scanner did not flag a store written with mode = keep"
fi
ok
grep -q 'TAINT: .*203\.0\.113\.77' keep-run/scan.out || fail "keep: 203.0.113.77 not found"
ok

finish
