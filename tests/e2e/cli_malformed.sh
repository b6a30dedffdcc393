# Malformed visit lines are reported as FILE:LINE and skipped; every other
# line is still recorded; no message quotes the line (it may hold an
# address).
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
good() { echo "{\"remote_addr\": \"198.51.100.$1\", \"filenames\": [\"f$1.mp3\"], \"time\": \"${D}T10:00:0$1Z\"}"; }
{
    good 1                                                        # 1
    echo '{"remote_addr": "203.0.113.201", "filenames": ['        # 2 truncated
    good 2                                                        # 3
    echo 'not json at all 203.0.113.202'                          # 4
    echo '["203.0.113.203"]'                                      # 5 not an object
    echo ''                                                       # 6 blank: ignored
    echo '{"remote_adr": "203.0.113.204"}'                        # 7 unknown key
    echo '{"remote_addr": 203}'                                   # 8 wrong type
    echo '{"remote_addr": "203.0.113.205", "time": "yesterday"}'  # 9 bad time
    echo '{"remote_addr": "203.0.113.206", "links": "x"}'         # 10 not an array
    echo '{"remote_addr": "203.0.113.207", "headers": {"DNT": 1}}' # 11 header not text
    echo '{"remote_addr": "203.0.113.208", "client_ip": "203.0.113.209"}' # 12
    echo '{"remote_addr": "203.0.113.210"} trailing'              # 13
    echo '{"remote_addr": "203.0.113.211", "time": "2025-02-30T00:00:00Z"}' # 14
    good 3                                                        # 15
    printf '{"remote_addr": "198.51.100.4", "time": "%sT10:00:04Z"}' "$D" # 16, no newline
} >visits.jsonl

run 0 "$PT" record visits.jsonl
expect_count read 15
expect_count stored 4
expect_count rejected 11
for n in 2 4 5 7 8 9 10 11 12 13 14; do
    contains "$ERR" "^visits\.jsonl:$n: " "line $n not reported"
done
for n in 1 3 6 15 16; do
    lacks "$ERR" "^visits\.jsonl:$n: " "line $n wrongly reported"
done
contains "$ERR" '^visits\.jsonl:7: .*unknown key "remote_adr"'
contains "$ERR" '^visits\.jsonl:9: .*time'
lacks "$ERR" '203\.0\.113\.' "an error message quoted a raw address"
[ "$(grep -c '^privtrack: record: read' "$ERR")" = 1 ] || fail "one summary line"
ok

run 0 "$PT" query --date "$D" --json
py '
import json, sys
recs = json.load(open(sys.argv[1]))
assert len(recs) == 4, len(recs)
assert sorted(r["timestamp"][11:19] for r in recs) == ["10:00:01", "10:00:02", "10:00:03", "10:00:04"]
' "$OUT"

# Standard input is named <stdin>.
printf '%s\n' '{"remote_addr": "198.51.100.9", "time": "'"$D"'T11:00:00Z"}' '{oops' |
    "$PT" record >"$OUT" 2>"$ERR" || fail "record from a pipe"
contains "$ERR" '^<stdin>:2: malformed JSON'
expect_count stored 1

# A line too long for any sane buffer is still just one line.
"$PY" -c 'import sys; sys.stdout.write("{\"remote_addr\": \"198.51.100.10\", \"links\": [\"" + "a" * 3000000 + "\"]}\n{bad\n")' >long.jsonl
run 0 "$PT" record long.jsonl
expect_count stored 1
contains "$ERR" '^long\.jsonl:2: '

# Invalid UTF-8 in a field is sanitised by the library, never rejected.
printf '{"remote_addr": "198.51.100.11", "filenames": ["caf\xe9 \xff.mp3"], "time": "%sT12:00:00Z"}\n' "$D" >utf8.jsonl
run 0 "$PT" record utf8.jsonl
expect_count stored 1
run 0 "$PT" query --date "$D" --json --limit 0
py 'import json,sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' "$OUT"

finish
