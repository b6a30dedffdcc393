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
    echo '{"remote_addr": null, "remote_addr": "203.0.113.212"}'  # 16 key twice
    echo '{"remote_addr": "198.51.100.5", "headers": {"DNT": "0", "DNT": "1"}}' # 17
    echo '{"remote_addr": "203.0.113.213", "headers": {"DNT\u0000x": "1"}}' # 18 NUL
    echo '{"remote_addr": "203.0.113.214\u0000", "time": "2025-01-15"}' # 19 NUL
    printf '{"remote_addr": "198.51.100.4", "time": "%sT10:00:04Z"}' "$D" # 20, no newline
} >visits.jsonl

run 0 "$PT" record visits.jsonl
expect_count read 19
expect_count stored 4
expect_count rejected 15
for n in 2 4 5 7 8 9 10 11 12 13 14 16 17 18 19; do
    contains "$ERR" "^visits\.jsonl:$n: " "line $n not reported"
done
for n in 1 3 6 15 20; do
    lacks "$ERR" "^visits\.jsonl:$n: " "line $n wrongly reported"
done
contains "$ERR" '^visits\.jsonl:16: key "remote_addr" given twice$'
contains "$ERR" '^visits\.jsonl:17: header "DNT" given twice$'
contains "$ERR" '^visits\.jsonl:18: .*NUL'
contains "$ERR" '^visits\.jsonl:19: .*NUL'
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

# A line over --max-line (1 MiB by default) is reported and skipped; the
# next lines are still read.  --max-line raises the limit.
"$PY" -c 'import sys; sys.stdout.write("{\"remote_addr\": \"198.51.100.10\", \"links\": [\"" + "a" * 3000000 + "\"]}\n{bad\n{}\n")' >long.jsonl
run 0 "$PT" record long.jsonl
expect_count read 3
expect_count stored 1
expect_count rejected 2
contains "$ERR" '^long\.jsonl:1: line of 3000047 bytes is longer than --max-line 1048576; skipped$'
contains "$ERR" '^long\.jsonl:2: malformed JSON'
run 0 "$PT" record --max-line 3000047 long.jsonl
expect_count stored 2
expect_count rejected 1
run 0 "$PT" record --max-line 3000046 long.jsonl
contains "$ERR" '^long\.jsonl:1: line of 3000047 bytes'
for bad in 0 -1 x 1073741825; do
    run 1 "$PT" record --max-line "$bad" long.jsonl
    contains "$ERR" 'max-line wants a number of bytes from 1 to 1073741824'
done

# Memory stays bounded: a 100 MB line, streamed through a pipe between two
# good visits, costs no more memory than a short line (the whole line was
# kept, then parsed at ~40 bytes per byte: 4 GB).  Peak RSS of privtrack
# itself (wait4), so the test holds under the sanitizers too.
peak_rss() { # peak_rss LONG_BYTES: prints "EXIT PEAK_KIB", stderr in rss.err
    "$PY" - "$PT" "$D" "$1" <<'PY'
import os, subprocess, sys
pt, day, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
p = subprocess.Popen([pt, "record"], stdin=subprocess.PIPE,
                     stdout=subprocess.DEVNULL, stderr=open("rss.err", "wb"))
w = p.stdin.write
w(('{"remote_addr": "198.51.100.21", "time": "%sT13:00:00Z"}\n' % day).encode())
w(b'{"links": ["')
chunk = b"a" * (1 << 20)
for _ in range(size >> 20):
    w(chunk)
w(b"a" * (size & ((1 << 20) - 1)) + b'"]}\n')
w(('{"remote_addr": "198.51.100.22", "time": "%sT13:00:01Z"}\n' % day).encode())
p.stdin.close()
_, status, usage = os.wait4(p.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
PY
}
read -r rc small < <(peak_rss 100)
[ "$rc" = 0 ] || fail "record with a short line exited $rc"
read -r rc big < <(peak_rss $((100 * 1024 * 1024)))
[ "$rc" = 0 ] || fail "record with a 100 MB line exited $rc"
cp rss.err "$ERR"
expect_count read 3
expect_count stored 2
expect_count rejected 1
contains "$ERR" '^<stdin>:2: line of 104857615 bytes is longer than --max-line'
echo "peak RSS: ${small} KiB with a short line, ${big} KiB with a 100 MB line"
[ $((big - small)) -lt 16384 ] ||
    fail "a 100 MB line raised the peak RSS from $small to $big KiB"
ok

# Invalid UTF-8 in a field is sanitised by the library, never rejected.
printf '{"remote_addr": "198.51.100.11", "filenames": ["caf\xe9 \xff.mp3"], "time": "%sT12:00:00Z"}\n' "$D" >utf8.jsonl
run 0 "$PT" record utf8.jsonl
expect_count stored 1
run 0 "$PT" query --date "$D" --json --limit 0
py 'import json,sys; json.loads(open(sys.argv[1], "rb").read().decode("utf-8"))' "$OUT"

finish
