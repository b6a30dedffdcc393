#!/usr/bin/env bash
# Compatibility with the seed's own tools, against dynalite (run through
# with-dynalite.sh): items privtrack writes are read by `aws dynamodb query`
# and by boto3's Table.query with the right Python types; items boto3
# writes in the seed's shape are read by privtrack.
# Usage: compat.sh DDB_TOOL [PRIVTRACK_CLI]  (with the CLI, `privtrack query`
# is checked too)
# Installs nothing: a missing tool is a failure with a message.
set -euo pipefail
tool=${1:?usage: compat.sh DDB_TOOL}
py=/usr/bin/python3
aws=/usr/bin/aws
ep=${PT_TEST_DYNAMODB_ENDPOINT:?run through with-dynalite.sh}

fail() { echo "compat: FAIL: $*" >&2; exit 1; }
[ -x "$py" ] || fail "$py is missing (Debian: apt-get install python3)"
"$py" -c 'import boto3' 2>/dev/null ||
    fail "boto3 is missing for $py (Debian: apt-get install python3-boto3)"
[ -x "$aws" ] || fail "$aws is missing (Debian: apt-get install awscli)"

export DYNAMODB_TABLE_NAME="compat-$$"
export AWS_PAGER=""
work=$(mktemp -d "${TMPDIR:-/tmp}/pt-compat-XXXXXX")
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
N=12

echo "compat: privtrack creates the table and writes $N records"
"$tool" init
"$tool" write 2025-01-15 $N

echo "compat: aws dynamodb query (with --expression-attribute-names)"
"$aws" dynamodb query --endpoint-url "$ep" --table-name "$DYNAMODB_TABLE_NAME" \
    --key-condition-expression '#d = :d' \
    --expression-attribute-names '{"#d":"date"}' \
    --expression-attribute-values '{":d":{"S":"2025-01-15"}}' \
    --no-scan-index-forward --output json >"$work/cli.json"
"$py" - "$work/cli.json" $N <<'PY'
import json, sys
doc = json.load(open(sys.argv[1])); n = int(sys.argv[2])
items = doc["Items"]
assert doc["Count"] == n == len(items), (doc["Count"], n)
ts = [i["timestamp"]["S"] for i in items]
assert ts == sorted(ts, reverse=True) and len(set(ts)) == n, ts
for i in items:
    assert i["num_links_submitted"] == {"N": "2"}, i
    assert i["num_files_downloaded"] == {"N": "2"}, i
    assert i["error_count"]["N"] in ("0", "1"), i
    assert i["ttl"] == {"N": "4102444800"}, i
    assert list(i["has_errors"]) == ["BOOL"], i
    assert i["links"]["L"][0] == {"S": "https://youtube.com/watch?v=abc123"}, i
    assert i["titles"] == {"L": [{"S": "Song Title 1"}, {"S": "Song Title 2"}]}, i
    assert i["filenames"]["L"][1] == {"S": "Song Title 2.m4a"}, i
    for k in ("date", "timestamp", "session_id", "client_ip", "user_agent", "policy"):
        assert list(i[k]) == ["S"], (k, i[k])
print("compat: aws CLI read %d items with the seed's types" % n)
PY

echo "compat: boto3 Table.query as the seed does"
"$py" - "$ep" $N <<'PY'
import sys, decimal, boto3
from boto3.dynamodb.conditions import Key
import os
ep, n = sys.argv[1], int(sys.argv[2])
table = boto3.resource("dynamodb", endpoint_url=ep).Table(os.environ["DYNAMODB_TABLE_NAME"])
resp = table.query(KeyConditionExpression=Key("date").eq("2025-01-15"), ScanIndexForward=False)
items = resp["Items"]
assert len(items) == n, len(items)
ts = [i["timestamp"] for i in items]
assert ts == sorted(ts, reverse=True) and len(set(ts)) == n
for i in items:
    assert isinstance(i["num_links_submitted"], decimal.Decimal) and i["num_links_submitted"] == 2
    assert isinstance(i["error_count"], decimal.Decimal)
    assert isinstance(i["ttl"], decimal.Decimal) and i["ttl"] == 4102444800
    assert isinstance(i["has_errors"], bool)
    assert isinstance(i["links"], list) and all(isinstance(x, str) for x in i["links"])
    assert i["titles"] == ["Song Title 1", "Song Title 2"]
    assert isinstance(i["session_id"], str) and i["policy"] == "compat-0123abcd"
# the two records written with the same microsecond are both there
sids = {i["session_id"] for i in items}
assert len(sids) == n
print("compat: boto3 read %d items: Decimal, list of str, bool" % n)

# Items in the seed's shape (its create_visit_record), written by boto3.
for k in range(3):
    table.put_item(Item={
        "date": "2025-02-01",
        "timestamp": "2025-02-01T10:00:0%d.000001+00:00" % k,
        "session_id": "1738404000-a1b2c3d%d" % k,
        "client_ip": "192.0.2.%d" % (k + 1),
        "user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "num_links_submitted": 5,
        "num_files_downloaded": 4,
        "links": ["https://youtube.com/watch?v=abc123", "https://soundcloud.com/track/xyz"],
        "titles": ["Song Title 1", "Song Title 2"],
        "filenames": ["Song Title 1.m4a", "Song Title 2.m4a"],
        "has_errors": k == 1,
        "error_count": k,
    })
print("compat: boto3 wrote 3 seed-shaped items")
PY

echo "compat: privtrack reads the seed's items"
"$tool" query 2025-02-01 0 >"$work/seed.jsonl"
"$py" - "$work/seed.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
assert len(recs) == 3, recs
assert [r["timestamp"] for r in recs] == ["2025-02-01T10:00:0%d.000001+00:00" % k for k in (2, 1, 0)]
for r in recs:
    k = int(r["timestamp"][18])
    assert r["date"] == "2025-02-01"
    assert r["session_id"] == "1738404000-a1b2c3d%d" % k
    assert r["client_ip"] == "192.0.2.%d" % (k + 1)
    assert r["num_links_submitted"] == 5 and r["num_files_downloaded"] == 4
    assert r["links"][1] == "https://soundcloud.com/track/xyz"
    assert r["titles"] == ["Song Title 1", "Song Title 2"]
    assert r["filenames"] == ["Song Title 1.m4a", "Song Title 2.m4a"]
    assert r["has_errors"] == (k == 1) and r["error_count"] == k
    assert "ttl" not in r or r["ttl"] in (0, None)
print("compat: privtrack read the 3 seed items with every field")
PY
cli=${2:-}
if [ -n "$cli" ]; then
    echo "compat: the privtrack CLI on the same table"
    cat >"$work/policy.ini" <<INI
[storage]
backend = dynamodb
table = $DYNAMODB_TABLE_NAME
region = eu-west-3
endpoint = $ep
INI
    "$cli" --policy "$work/policy.ini" init-storage >/dev/null
    "$cli" --policy "$work/policy.ini" query --date 2025-02-01 --json >"$work/cli-seed.json"
    "$cli" --policy "$work/policy.ini" query --date 2025-01-15 --limit 0 --json >"$work/cli-own.json"
    "$py" - "$work/cli-seed.json" "$work/cli-own.json" $N <<'PY'
import json, sys
seed = json.load(open(sys.argv[1])); own = json.load(open(sys.argv[2])); n = int(sys.argv[3])
assert [r["session_id"] for r in seed] == ["1738404000-a1b2c3d%d" % k for k in (2, 1, 0)], seed
assert seed[0]["num_links_submitted"] == 5 and seed[1]["has_errors"] is True
assert seed[2]["titles"] == ["Song Title 1", "Song Title 2"]
assert len(own) == n and len({r["timestamp"] for r in own}) == n
print("compat: privtrack query read the seed's items and its own")
PY
    echo "compat: privtrack record -> dynamodb (50 visits in one microsecond)"
    cat >>"$work/policy.ini" <<INI
[ip]
mode = truncate
INI
    today=$(date -u +%Y-%m-%d) # recent, so the default 90-day ttl is ahead
    for i in $(seq 1 50); do
        printf '{"remote_addr":"198.51.100.%d","headers":{"User-Agent":"curl/8.0"},"links":["https://example.com/a?x=%d"],"filenames":["Song %d.m4a"],"errors":[],"time":"%sT00:00:00.000001Z"}\n' "$i" "$i" "$i" "$today"
    done >"$work/visits.jsonl"
    "$cli" --policy "$work/policy.ini" --storage "$work/store" record "$work/visits.jsonl" 2>"$work/record.err" ||
        { cat "$work/record.err" >&2; fail "privtrack record"; }
    "$cli" --policy "$work/policy.ini" --storage "$work/store" query --date $today --limit 0 --json >"$work/rec.json"
    "$cli" --policy "$work/policy.ini" --storage "$work/store" export --date $today >"$work/export.json"
    "$cli" --policy "$work/policy.ini" --storage "$work/store" stats --date $today >"$work/stats.txt"
    "$cli" --policy "$work/policy.ini" --storage "$work/store" purge >/dev/null
    "$py" - "$work/rec.json" "$work/export.json" "$today" <<'PY'
import json, sys, time
rec = json.load(open(sys.argv[1])); exp = json.load(open(sys.argv[2])); today = sys.argv[3]
assert len(rec) == 50 == len(exp), (len(rec), len(exp))
ts = [r["timestamp"] for r in rec]
assert len(set(ts)) == 50 and ts == sorted(ts, reverse=True)
# each moved, if at all, into a slot of its own less than a second later
assert all(today + "T00:00:00.000001+00:00" <= t < today + "T00:00:01.000001+00:00" for t in ts), ts
assert all(r["ttl"] > time.time() for r in rec)
assert all(r["client_ip"] == "198.51.100.0" for r in rec), rec[0]
assert {r["session_id"] for r in rec} == {r["session_id"] for r in exp}
print("compat: 50 same-time visits recorded through the CLI, 50 items")
PY
fi
echo "compat: OK"
