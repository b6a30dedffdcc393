# Data-subject requests through the command (file store): find (text and
# JSON), export (one document, 0600, atomic), erase without --yes (counts,
# exit 1, nothing touched) and with --yes (exactly the person's records
# gone, the other lines byte for byte, a receipt without the address), a
# second erase that deletes nothing; records in the spool are found and
# replayed before an erase; bad requests exit 1 and touch nothing.
source "$(dirname "$0")/lib.sh" "$@"

D0="$(days_ago 0)"
D1="$(days_ago 1)"
D2="$(days_ago 2)"
ME=203.0.113.7
write_policy policy.ini '[policy]' 'name = subj' '[ip]' 'mode = hash' 'truncate_before_hash = false' \
    '[retention]' 'ttl_days = 30' '[fields]' 'user_agent = family'
chmod 600 policy.ini
FF='Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0'
for d in "$D0" "$D1" "$D2"; do
    for m in 1 2 3; do
        printf '{"remote_addr": "%s", "headers": {"User-Agent": "%s"}, "time": "%sT10:0%d:00Z"}\n' "$ME" "$FF" "$d" "$m"
        printf '{"remote_addr": "198.51.100.%d", "time": "%sT11:0%d:00Z"}\n' "$m" "$d" "$m"
    done
done >visits.jsonl
printf '{"remote_addr": "203.0.113.8", "time": "%sT12:00:00Z"}\n' "$D1" >>visits.jsonl
run 0 "$PT" record visits.jsonl
expect_count stored 19

# find: nine records of the person, over three dates, as pseudonyms
run 0 "$PT" subject find --ip "$ME"
contains "$OUT" '^9 records found$'
contains "$OUT" "^searched $(days_ago 30)\.\.$D0$"
lacks "$OUT" '203\.0\.113'
run 0 "$PT" subject find --ip "$ME" --json
py '
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["privtrack_subject"] == "find" and doc["found"] == 9, doc["found"]
assert {r["record"]["date"] for r in doc["records"]} == set(sys.argv[2:]), doc["records"]
assert all(r["match"] == ["pseudonym"] and r["source"] == "store" for r in doc["records"])
assert len({r["record"]["client_ip"] for r in doc["records"]}) == 1
assert doc["policies"] == [doc["records"][0]["record"]["policy"]]
dates = {d["date"]: d for d in doc["dates"]}
assert dates[sys.argv[2]]["found"] == 3 and dates[sys.argv[2]]["records"] == 6
' "$OUT" "$D0" "$D1" "$D2"
lacks "$OUT" '203\.0\.113'
# narrowed: by date range, by user agent family, by session
run 0 "$PT" subject find --ip "$ME" --from "$D1" --to "$D1" --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["found"] == 3 and len(d["dates"]) == 1, d' "$OUT"
run 0 "$PT" subject find --ip "$ME" --user-agent 'curl/8.0' --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["found"] == 0, d' "$OUT"
run 0 "$PT" subject find --ip "$ME" --user-agent "$FF" --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["found"] == 9, d' "$OUT"
SID="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["record"]["session_id"])' "$OUT")"
run 0 "$PT" subject find --session "$SID" --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["found"] == 1 and d["records"][0]["match"] == ["session_id"], d' "$OUT"

# export: one document, 0600, replaced atomically (no temporary left)
run 0 "$PT" subject export --ip "$ME" --output me.json
[ "$(stat -c %a me.json)" = 600 ] || fail "subject export mode $(stat -c %a me.json)"
ok
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["found"] == 9 and len(d["records"]) == 9' me.json
lacks me.json '203\.0\.113'
[ "$(ls -A | grep -c '^\.me\.json')" = 0 ] || fail "a temporary file was left"
ok

# bad requests: exit 1, nothing touched, the address never echoed
before="$(snapshot var)"
run 1 "$PT" subject erase --ip 203.0.113.777 --yes
contains "$ERR" 'not an IPv4 or IPv6 address'
lacks "$ERR" '203\.0\.113'
run 1 "$PT" subject erase --ip "$ME" --from "$D0" --to "$D2" --yes
contains "$ERR" 'reversed'
run 1 "$PT" subject erase --yes
contains "$ERR" 'give --ip or --session'
run 1 "$PT" subject find --ip "$ME" --from 2025-02-30
# without --yes: counts per date, exit 1, nothing deleted
run 1 "$PT" subject erase --ip "$ME"
contains "$OUT" "^$D1: would delete 3$"
contains "$OUT" '^would delete 9 records in all$'
contains "$ERR" 'nothing deleted; run again with --yes'
[ "$before" = "$(snapshot var)" ] || fail "a refused or listing erase changed the store"
ok

# with --yes: exactly the person's lines go; the others stay byte for byte
for d in "$D0" "$D1" "$D2"; do
    grep -v "\"client_ip\":\"$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["record"]["client_ip"])' me.json)\"" \
        "var/$d.jsonl" >"expect-$d.jsonl" || true
done
run 0 "$PT" subject erase --ip "$ME" --yes
contains "$OUT" "^$D2: deleted 3$"
contains "$OUT" "^deleted $D0 ${D0}T10:01:00"
contains "$OUT" '^deleted 9 records in all$'
lacks "$OUT" '203\.0\.113'
for d in "$D0" "$D1" "$D2"; do
    cmp -s "var/$d.jsonl" "expect-$d.jsonl" || fail "$d: the day file is not the old one without the person's lines"
    ok
    [ "$(stat -c %a "var/$d.jsonl")" = 600 ] || fail "rewritten day file mode"
    ok
done
run 0 "$PT" query --date "$D1" --json
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 4' "$OUT"
# a second erase deletes nothing
run 0 "$PT" subject erase --ip "$ME" --yes --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["privtrack_subject"] == "erase" and d["deleted"] == 0, d' "$OUT"

# the spool: a record waiting there is found, and replayed before an erase
mkdir -p var/spool && chmod 700 var/spool
PSEUDONYM="$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["records"][0]["record"]["client_ip"])' me.json)"
"$PY" - "$D0" "$PSEUDONYM" <<'PYEOF' >"var/spool/spool-0000000000000001-1-0.log"
import json, sys, zlib
rec = {"date": sys.argv[1], "timestamp": sys.argv[1] + "T13:00:00.000000+00:00",
       "session_id": "1-0000abcd", "client_ip": sys.argv[2],
       "num_links_submitted": 0, "num_files_downloaded": 0, "links": [],
       "titles": [], "filenames": [], "has_errors": False, "error_count": 0}
line = json.dumps(rec, separators=(",", ":"))
print("%08x %s" % (zlib.crc32(line.encode()), line))
PYEOF
chmod 600 var/spool/*.log
run 0 "$PT" subject find --ip "$ME" --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["found"] == 1 and d["in_spool"] == 1 and d["records"][0]["source"] == "spool", d' "$OUT"
run 0 "$PT" subject erase --ip "$ME" --yes
contains "$OUT" '^deleted 1 record in all$'
run 0 "$PT" spool status
contains "$OUT" '(^| )0 records'
run 0 "$PT" subject find --ip "$ME" --json
py 'import json,sys; d=json.load(open(sys.argv[1])); assert d["found"] == 0, d' "$OUT"
finish
