# The command on the DynamoDB backend, against dynalite (started by
# tests/dynamodb/with-dynalite.sh, which exports the endpoint, a region and
# fake credentials): init-storage, record, query, stats, export, purge, and
# the exit codes of a missing table (2) and of missing credentials (1).
source "$(dirname "$0")/lib.sh" "$@"

[ -n "${AWS_ENDPOINT_URL_DYNAMODB:-}" ] || fail "run me through with-dynalite.sh"
D="$(days_ago 1)"
OLD="$(days_ago 10)"
ddb_policy() { # ddb_policy FILE NAME TTL_DAYS (k-anonymity off: 4 visits)
    write_policy "$1" '[policy]' "name = $2" '[storage]' 'backend = dynamodb' \
        'table = pt-e2e-cli' '[retention]' "ttl_days = $3" '[report]' \
        'min_group = 1'
}
ddb_policy ddb.ini ddb 30
ddb_policy short.ini short 1

run 0 "$PT" init-storage --policy ddb.ini
contains "$OUT" '^storage ready: dynamodb pt-e2e-cli$'
run 0 "$PT" init-storage --policy ddb.ini # idempotent

cat >visits.jsonl <<EOF
{"remote_addr": "203.0.113.7", "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0", "links": ["https://e.example/a?x=1"], "filenames": ["Song Title 1.m4a"], "time": "${D}T09:00:00Z"}
{"remote_addr": "203.0.113.99", "filenames": ["Song Title 1.m4a", "B.mp3"], "errors": ["x"], "time": "${D}T14:10:00Z"}
{"remote_addr": "198.51.100.23", "headers": {"DNT": "1"}, "filenames": ["C.mp3"], "time": "${D}T14:20:00Z"}
{"remote_addr": "2001:db8:1::5", "filenames": ["B.mp3"], "time": "${D}T14:30:00.000001Z"}
{"remote_addr": "2001:db8:1::5", "filenames": ["B.mp3"], "time": "${D}T14:30:00.000001Z"}
{broken
EOF
run 0 "$PT" record --policy ddb.ini visits.jsonl
expect_count read 6
expect_count stored 4
expect_count dnt 1
expect_count rejected 1
contains "$ERR" '^visits\.jsonl:6: '

run 0 "$PT" query --policy ddb.ini --date "$D" --json
cp "$OUT" query.json
py '
import json, re, sys
recs = json.load(open("query.json"))
# Two visits in the same microsecond are two records, never one.
assert len(recs) == 4, len(recs)
ts = [r["timestamp"] for r in recs]
assert ts == sorted(ts, reverse=True), ts
assert all(re.fullmatch(r"[0-9a-f]{32}", r["client_ip"]) for r in recs)
assert all(r["policy"].startswith("ddb-") and r["ttl"] > 0 for r in recs)
assert recs[-1]["links"] == ["https://e.example/a"], recs[-1]
'
run 0 "$PT" query --policy ddb.ini --date "$D" --json --limit 2
py 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open("query.json"))[:2]' "$OUT"
run 0 "$PT" stats --policy ddb.ini --date "$D" --json
py '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["visits"] == 4 and s["unique_visitors"] == 2, s
assert s["files_downloaded"] == 5 and s["busiest_hour"] == 14, s
assert s["top_titles"][0] == {"title": "B", "count": 3}, s
' "$OUT"
# A range: one Query per date, several in flight (scan).
run 0 "$PT" stats --policy ddb.ini --from "$OLD" --to "$D" --json
py '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["days"] == 10 and s["visits"] == 4, s
assert [d["date"] for d in s["per_day"]] == [sys.argv[2]], s
' "$OUT" "$D"
run 0 "$PT" query --policy ddb.ini --days 3 --json --limit 0
py 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open("query.json"))' "$OUT"
run 0 "$PT" export --policy ddb.ini --date "$D" --output export.json
run 0 "$PT" query --policy ddb.ini --date "$D" --json --limit 0
py 'import json,sys; assert json.load(open("export.json")) == json.load(open(sys.argv[1]))' "$OUT"

# Retention: expired items are hidden at once and removed by purge.
printf '{"remote_addr": "198.51.100.1", "filenames": ["old.mp3"], "time": "%sT08:00:00Z"}\n' "$OLD" >old.jsonl
run 0 "$PT" record --policy short.ini old.jsonl
expect_count stored 1
run 0 "$PT" query --policy short.ini --date "$OLD" --json
py 'import json,sys; assert json.load(open(sys.argv[1])) == []' "$OUT"
run 0 "$PT" purge --policy ddb.ini
contains "$OUT" '^purged 1 expired record$'
run 0 "$PT" query --policy ddb.ini --date "$D" --json --limit 0
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 4' "$OUT"

# Dry run: no item written.
run 0 "$PT" record --dry-run --policy ddb.ini visits.jsonl
run 0 "$PT" query --policy ddb.ini --date "$D" --json --limit 0
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 4' "$OUT"

# A table that does not exist: a runtime failure that says what DynamoDB said.
write_policy missing.ini '[storage]' 'backend = dynamodb' 'table = pt-e2e-missing'
run 2 "$PT" query --policy missing.ini --date "$D"
contains "$ERR" 'ResourceNotFoundException'
[ "$(wc -l <"$ERR")" = 1 ] || fail "one error line expected: $(cat "$ERR")"
ok

# No credentials anywhere: a configuration error naming what was looked for.
rc=0
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY AWS_SHARED_CREDENTIALS_FILE="$WORK/none" \
    AWS_CONFIG_FILE="$WORK/none" "$PT" query --policy ddb.ini --date "$D" >"$OUT" 2>"$ERR" || rc=$?
[ "$rc" = 1 ] || fail "missing credentials: exit $rc, expected 1: $(cat "$ERR")"
ok
contains "$ERR" 'AWS_ACCESS_KEY_ID'
lacks "$ERR" 'fakesecret'

finish
