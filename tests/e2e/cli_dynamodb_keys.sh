# Rotating keys on DynamoDB, through the command, checked with boto3: the
# keys table made by init-storage; two hosts (separate working directories)
# sharing one table get the same pseudonyms; sixteen racing processes leave
# one key item per period; keys status; destroy deletes the item and no
# host remakes it; a dry run of that day makes none; purge destroys what
# is due; wrapped items never hold the key's bytes.
source "$(dirname "$0")/lib.sh" "$@"

[ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ] || fail "run me through with-dynalite.sh"
export TODAY="$(date -u +%F)" # the boto snippets read it
D1="$(days_ago 1)"
TABLE=pt-e2e-keys
write_policy ddb.ini '[storage]' 'backend = dynamodb' "table = $TABLE" \
    '[ip]' 'rotate = daily'
boto() { # python code using `t` (the keys table) and `r` (the records')
    "$PY" -c '
import boto3, os, sys
db = boto3.resource("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
t = db.Table(sys.argv[1] + "-keys")
r = db.Table(sys.argv[1])
def items():
    return [i for i in t.scan(ConsistentRead=True)["Items"] if i["period"] != "destroyed-before"]
'"$1" "${2:-$TABLE}"
}
pseudonyms() { # DATE: the client_ip values stored that day
    "$PT" query --policy "$WORK/ddb.ini" --date "$1" --json |
        "$PY" -c 'import json,sys; [print(r.get("client_ip", "-")) for r in json.load(sys.stdin)]' | sort -u
}
visit() { echo '{"remote_addr": "'"$1"'", "time": "'"$2"'"}'; }

# ---- init-storage: the keys table, keyed by period, and today's key -----------
run 0 "$PT" init-storage --policy ddb.ini
boto '
d = t.meta.client.describe_table(TableName=t.name)["Table"]
assert d["KeySchema"] == [{"AttributeName": "period", "KeyType": "HASH"}], d
names = [i["period"] for i in items()]
assert "daily-" + os.environ["TODAY"] in names, names
' || fail "init-storage: no keys table, or no key for today"
ok

# ---- two hosts, two working directories, one table ----------------------------
mkdir -p host1 host2
visit 203.0.113.7 "${TODAY}T00:00:30Z" >host1/v.jsonl
visit 203.0.113.99 "${TODAY}T00:00:40Z" >host2/v.jsonl # the same /24
visit 203.0.113.7 "${D1}T12:00:00Z" >>host1/v.jsonl
(cd host1 && run 0 "$PT" record --policy "$WORK/ddb.ini" v.jsonl)
(cd host2 && run 0 "$PT" record --policy "$WORK/ddb.ini" v.jsonl)
[ "$(pseudonyms "$TODAY" | wc -l)" = 1 ] || fail "two hosts, one network, one day: $(pseudonyms "$TODAY")"
ok
p_today="$(pseudonyms "$TODAY")"
p_d1="$(pseudonyms "$D1")"
[ "$p_today" != "-" ] && [ "$p_d1" != "-" ] && [ "$p_today" != "$p_d1" ] || fail "two days gave '$p_today' and '$p_d1'"
ok
[ ! -e host1/var/keys ] && [ ! -e host2/var/keys ] || fail "keys were made on a host"
ok
# the pseudonym is BLAKE2b of the /24 under the item's key (unwrapped)
P="$p_today" boto '
import hashlib, ipaddress
key = [i for i in items() if i["period"] == "daily-" + os.environ["TODAY"]][0]
assert key["wrap"] == "none", key["wrap"]
msg = bytes([4, 24]) + ipaddress.ip_address("203.0.113.0").packed
got = hashlib.blake2b(msg, key=bytes.fromhex(key["key"]), digest_size=16).hexdigest()
assert got == os.environ["P"], (got, os.environ["P"])
' || fail "the stored pseudonym is not the item's key's"
ok

# ---- sixteen racing processes on a fresh table ------------------------------------
write_policy race.ini '[storage]' 'backend = dynamodb' 'table = pt-e2e-race' \
    'create_table = true' '[ip]' 'rotate = daily'
run 0 "$PT" init-storage --policy race.ini
# (init-storage made today's key: remove it, so that the racers make it)
boto 't.delete_item(Key={"period": "daily-" + os.environ["TODAY"]})' pt-e2e-race
for i in $(seq 1 16); do
    mkdir -p "race/$i"
    visit "198.51.100.$i" "${TODAY}T08:00:00Z" >"race/$i/v.jsonl"
done
for i in $(seq 1 16); do
    (cd "race/$i" && exec "$PT" record --policy "$WORK/race.ini" v.jsonl 2>err) &
done
wait
for i in $(seq 1 16); do
    grep -q '^privtrack: record: read 1, stored 1, dropped 0, rejected 0$' "race/$i/err" || fail "racer $i: $(cat "race/$i/err")"
done
ok
run 0 "$PT" query --policy race.ini --date "$TODAY" --json
py '
import json, sys
ips = {r.get("client_ip") for r in json.load(open(sys.argv[1]))}
assert len(ips) == 1 and None not in ips, ips
' "$OUT"
boto '
names = [i["period"] for i in items()]
assert names.count("daily-" + os.environ["TODAY"]) == 1, names
assert len(names) == len(set(names)), names
' pt-e2e-race || fail "not one item per period after the race"
ok

# ---- keys status ----------------------------------------------------------------
run 0 "$PT" keys status --json --policy ddb.ini
py '
import json, sys
keys = json.load(open(sys.argv[1]))
assert all(k["store"] == "dynamodb" and k["location"] == "pt-e2e-keys-keys" for k in keys), keys
assert "daily-" + sys.argv[2] in [k["period"] for k in keys], keys
' "$OUT" "$TODAY"
key_today="$(boto 'print([i["key"] for i in items() if i["period"] == "daily-" + os.environ["TODAY"]][0])')"
lacks "$OUT" "$key_today"

# ---- purge destroys what is due; destroy deletes; nobody remakes --------------------
boto 't.put_item(Item={"period": "daily-2020-01-01", "created": 1, "expires": 2, "wrap": "none", "key": "00" * 32})'
run 0 "$PT" purge --policy ddb.ini
contains "$OUT" '^destroyed the key of daily-2020-01-01 '
boto 'assert "Item" not in t.get_item(Key={"period": "daily-2020-01-01"}, ConsistentRead=True)' || fail "purge left the item"
ok
TOMORROW="$(date -u -d tomorrow +%F)"
run 1 "$PT" keys destroy --before "$TOMORROW" --policy ddb.ini
contains "$OUT" "^would destroy daily-$TODAY "
run 0 "$PT" keys destroy --before "$TOMORROW" --yes --policy ddb.ini
contains "$OUT" "^destroyed daily-$TODAY "
boto '
assert "Item" not in t.get_item(Key={"period": "daily-" + os.environ["TODAY"]}, ConsistentRead=True)
' || fail "keys destroy left today's item"
ok
run 0 "$PT" keys status --policy ddb.ini
lacks "$OUT" "daily-$TODAY"
count="$(boto 'print(len(items()))')"
visit 203.0.113.7 "${TODAY}T09:00:00Z" >dry.jsonl
run 0 "$PT" record --dry-run --policy ddb.ini dry.jsonl
contains "$OUT" "no key exists for daily-$TODAY"
expect_count ip_key_expired 1
(cd host1 && run 0 "$PT" record --policy "$WORK/ddb.ini" ../dry.jsonl)
expect_count ip_key_expired 1
[ "$(boto 'print(len(items()))')" = "$count" ] || fail "a key item was made for a destroyed day"
ok

# ---- wrapped items ---------------------------------------------------------------------
W=$(printf '5a%.0s' $(seq 32))
write_policy wrapped.ini '[storage]' 'backend = dynamodb' 'table = pt-e2e-wrap' \
    'create_table = true' '[ip]' 'rotate = daily'
PRIVTRACK_KEY_WRAP=$W run 0 "$PT" init-storage --policy wrapped.ini
visit 203.0.113.7 "${TODAY}T10:00:00Z" >w.jsonl
PRIVTRACK_KEY_WRAP=$W run 0 "$PT" -v record --policy wrapped.ini w.jsonl
cp "$ERR" wrapped.log
boto '
import json
print(json.dumps(items(), default=str))
' pt-e2e-wrap >items.json
py '
import json, sys
items = json.load(open(sys.argv[1]))
assert items and all(i["wrap"] == "xchacha20poly1305" for i in items), items
' items.json
key_hex="$(W="$W" boto '
import ctypes, ctypes.util
i = [i for i in items() if i["period"] == "daily-" + os.environ["TODAY"]][0]
blob, wrap, ad = bytes.fromhex(i["key"]), bytes.fromhex(os.environ["W"]), i["period"].encode()
s = ctypes.CDLL(ctypes.util.find_library("sodium"))
out, n = ctypes.create_string_buffer(32), ctypes.c_ulonglong(0)
assert s.crypto_aead_xchacha20poly1305_ietf_decrypt(out, ctypes.byref(n), None,
    blob[24:], ctypes.c_ulonglong(len(blob) - 24), ad, ctypes.c_ulonglong(len(ad)),
    blob[:24], wrap) == 0
print(out.raw.hex())
' pt-e2e-wrap)" || fail "the wrapped item does not open with the wrapping key"
ok
"$PT" query --policy wrapped.ini --date "$TODAY" --json >records.json
boto 'import json; print(json.dumps(r.scan()["Items"], default=str))' pt-e2e-wrap >table.json
for needle in "$key_hex" "$("$PY" -c 'import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$key_hex")" "${key_hex:0:16}"; do
    ! grep -qF -- "$needle" items.json records.json table.json wrapped.log || fail "key material found: $needle"
    ok
done
# A wrong wrapping key, or none: the tracker refuses to open (exit 1, the
# key's period and table named, never the wrapping key), and the item is
# neither replaced nor joined by another: no host silently makes a new key.
item_of_today() {
    boto 'print([i["key"] for i in items() if i["period"] == "daily-" + os.environ["TODAY"]])' pt-e2e-wrap
}
before="$(item_of_today)"
W2=$(printf 'a5%.0s' $(seq 32))
PRIVTRACK_KEY_WRAP=$W2 run 1 "$PT" record --policy wrapped.ini w.jsonl
contains "$ERR" "the key of daily-[0-9-]+ in pt-e2e-wrap-keys does not open"
contains "$ERR" 'wrapping key'
lacks "$ERR" "$W2"
run 1 "$PT" record --policy wrapped.ini w.jsonl
contains "$ERR" 'PRIVTRACK_KEY_WRAP'
[ "$before" = "$(item_of_today)" ] || fail "a wrong or missing wrapping key changed today's item: $(item_of_today)"
ok
finish
