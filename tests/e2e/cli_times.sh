# Visit times: the command and the library share one parser and one valid
# range (pt_time_parse: after 1970-01-01T00:00:00Z, up to
# 9999-12-31T23:59:59.999999Z UTC).  A time outside it is reported as
# FILE:LINE and the line skipped, never accepted and then silently dropped.
source "$(dirname "$0")/lib.sh" "$@"

write_policy policy.ini '[retention]' 'ttl_days = 0' # old visits stay visible
v() { echo "{\"remote_addr\": \"198.51.100.$1\", \"filenames\": [\"t$1.mp3\"], \"time\": \"$2\"}"; }
{
    v 1 '9999-12-31T23:59:59-01:00'    # 1 after year 9999 in UTC
    v 2 '9999-12-31T23:59:59.999999Z'  # 2 the last microsecond
    v 3 '9999-12-31T22:59:59.9999999-01:00' # 3 more digits: µs kept
    v 4 '1970-01-01T00:00:00Z'         # 4 0 µs would mean "now"
    v 5 '1970-01-01T00:30:00+01:00'    # 5 before the epoch
    v 6 '1970-01-01T00:00:00.000001Z'  # 6 the first microsecond
    v 7 '2025-01-15T09:30-05'          # 7 an offset in hours only
    v 8 '10000-01-01T00:00:00Z'        # 8 a five-digit year
} >visits.jsonl

run 0 "$PT" record visits.jsonl
expect_count read 8
expect_count stored 4
expect_count rejected 4
expect_count dropped 0
for n in 1 4 5 8; do
    contains "$ERR" "^visits\.jsonl:$n: .*time" "line $n not reported"
done
for n in 2 3 6 7; do
    lacks "$ERR" "^visits\.jsonl:$n: " "line $n wrongly reported"
done
contains "$ERR" '^visits\.jsonl:1: .*9999-12-31T23:59:59\.999999Z'
contains "$ERR" '^visits\.jsonl:4: .*1970-01-01T00:00:00Z'
lacks "$ERR" 'dropped as invalid'

run 0 "$PT" query --date 9999-12-31 --json
py '
import json, sys
ts = sorted(r["timestamp"] for r in json.load(open(sys.argv[1])))
assert ts == ["9999-12-31T23:59:59.999999+00:00"] * 2, ts
' "$OUT"
run 0 "$PT" query --date 1970-01-01 --json
py '
import json, sys
ts = [r["timestamp"] for r in json.load(open(sys.argv[1]))]
assert ts == ["1970-01-01T00:00:00.000001+00:00"], ts
' "$OUT"
run 0 "$PT" query --date 2025-01-15 --json
contains "$OUT" '"timestamp":"2025-01-15T14:30:00\.000000\+00:00"'
# Dates outside the range are usage errors, like any bad date.
run 1 "$PT" query --date 1969-12-31
run 1 "$PT" query --date 0000-01-01

finish
