# Retention: expired records (ttl in the past) are hidden from queries and
# removed by `privtrack purge`; wholly expired days disappear from disk;
# records without a ttl are kept.
source "$(dirname "$0")/lib.sh" "$@"

OLD="$(days_ago 10)"
MID="$(days_ago 5)"
visit() { # visit DATE MINUTE TITLE
    printf '{"remote_addr": "198.51.100.%d", "filenames": ["%s.mp3"], "time": "%sT12:%02d:00Z"}\n' "$2" "$3" "$1" "$2"
}
write_policy short.ini '[policy]' 'name = short' '[retention]' 'ttl_days = 1'
write_policy long.ini '[policy]' 'name = long' '[retention]' 'ttl_days = 30'
write_policy forever.ini '[policy]' 'name = forever' '[retention]' 'ttl_days = 0'

{ visit "$OLD" 1 old-a; visit "$OLD" 2 old-b; visit "$OLD" 3 old-c; visit "$MID" 4 mid-short-a; visit "$MID" 5 mid-short-b; } >short.jsonl
{ visit "$MID" 6 mid-long-a; visit "$MID" 7 mid-long-b; } >long.jsonl
run 0 "$PT" record --policy short.ini short.jsonl
expect_count stored 5
run 0 "$PT" record --policy long.ini long.jsonl
expect_count stored 2

# Expired records are not returned, even before a purge.
run 0 "$PT" query --date "$OLD" --json
py 'import json,sys; assert json.load(open(sys.argv[1])) == []' "$OUT"
run 0 "$PT" query --date "$MID" --json
py '
import json, sys, time
recs = json.load(open(sys.argv[1]))
assert sorted(r["titles"][0] for r in recs) == ["mid-long-a", "mid-long-b"], recs
for r in recs:
    assert r["ttl"] > time.time(), r
' "$OUT"
# ...but they are still on disk.
grep -rqs 'old-a' var || fail "expired records were not on disk before purge"
ok
grep -rqs 'mid-short-a' var || fail "expired records were not on disk before purge"
ok
files_before="$(find var -type f | wc -l)"

run 0 "$PT" purge
contains "$OUT" '^purged 5 expired records$'
! grep -rqs 'old-\|mid-short' var || fail "purge left expired records on disk"
ok
grep -rqs "$OLD" var && fail "a wholly expired day left a file or a line"
ok
[ "$(grep -rhs 'mid-long' var | wc -l)" = 2 ] || fail "purge lost live records"
ok
[ "$(find var -type f | wc -l)" -lt "$files_before" ] || fail "the expired day's file is still there"
ok
run 0 "$PT" query --date "$MID" --json
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 2' "$OUT"

# Idempotent.
run 0 "$PT" purge
contains "$OUT" '^purged 0 expired records$'

# No ttl: kept for ever, whatever its age.
visit "$OLD" 8 forever-a >forever.jsonl
run 0 "$PT" record --policy forever.ini forever.jsonl
run 0 "$PT" purge
contains "$OUT" '^purged 0 expired records$'
run 0 "$PT" query --date "$OLD" --json
py '
import json, sys
recs = json.load(open(sys.argv[1]))
assert [r["titles"] for r in recs] == [["forever-a"]], recs
assert "ttl" not in recs[0] or not recs[0]["ttl"], recs[0]
' "$OUT"

# purge on an empty or missing store is not an error.
run 0 "$PT" purge --storage ./empty
contains "$OUT" '^purged 0 expired records$'

finish
