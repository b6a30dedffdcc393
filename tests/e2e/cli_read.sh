# The read side over ranges of dates: query, stats and export with --date,
# --from/--to and --days; bad ranges and unreadable stores; k-anonymity in
# stats; control characters from records never reach the terminal raw.
source "$(dirname "$0")/lib.sh" "$@"

D1="$(days_ago 3)"
D2="$(days_ago 2)"
D3="$(days_ago 1)"
TODAY="$(date -u +%F)"

# Three dates: 10 visitors on D1 (4 of them download "Rare Song"), 2 on D2,
# 5 on D3 (one of them twice); one file name carries a screen-clearing escape and an OSC title.
"$PY" - "$D1" "$D2" "$D3" >visits.jsonl <<'PY'
import json, sys
d1, d2, d3 = sys.argv[1:4]
def visit(day, hour, ip, files):
    return {"remote_addr": ip, "filenames": files,
            "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"},
            "time": "%sT%02d:30:00Z" % (day, hour)}
for i in range(4):
    print(json.dumps(visit(d1, 9, "203.0.%d.7" % (110 + i), ["Rare Song.mp3"])))
for i in range(6):
    print(json.dumps(visit(d1, 10, "198.51.%d.1" % i, ["Hit.mp3"])))
print(json.dumps(visit(d2, 11, "192.0.2.1", ["Hit.mp3"])))
print(json.dumps(visit(d2, 11, "192.0.3.1", ["evil\u001b[2J\u001b]0;pwned\u0007\u202egp3.mp3"])))
for i in range(5):
    print(json.dumps(visit(d3, 12, "198.18.%d.1" % i, ["Hit.mp3"])))
print(json.dumps(visit(d3, 13, "198.18.0.9", ["Hit.mp3"])))  # a second visit
PY
# One key for the whole test (the default policy's daily keys are gone
# after two days: older visits would be stored without an address); the
# daily rotation is checked on its own below.
write_policy policy.ini "[ip]" "rotate = never"
run 0 "$PT" record visits.jsonl
expect_count stored 18

# ---- ranges ------------------------------------------------------------------
run 0 "$PT" query --from "$D1" --to "$D3" --json --limit 0
cp "$OUT" range.json
py '
import json, sys
recs = json.load(open("range.json"))
assert len(recs) == 18, len(recs)
dates = [r["date"] for r in recs]
# newest first: the last date first, every date in one run
assert dates == sorted(dates, reverse=True), dates
assert dates[0] == sys.argv[3] and dates[-1] == sys.argv[1]
ts = [r["timestamp"] for r in recs]
assert ts == sorted(ts, reverse=True), ts
' "$D1" "$D2" "$D3"
# --days 4 is D1..today; --from alone runs to today; the same records.
run 0 "$PT" query --days 4 --json --limit 0
py 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open("range.json"))' "$OUT"
run 0 "$PT" query --from "$D1" --json --limit 0
py 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open("range.json"))' "$OUT"
# A limit spans dates.
run 0 "$PT" query --from "$D1" --to "$D3" --json --limit 7
py 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open("range.json"))[:7]' "$OUT"
run 0 "$PT" export --from "$D1" --to "$D3" --output range-export.json
contains "$ERR" "18 records of $D1\\.\\.$D3 written to range-export.json"
py 'import json; assert json.load(open("range-export.json")) == json.load(open("range.json"))'
[ "$(stat -c %a range-export.json)" = 600 ] || fail "export is not 0600"
ok
# No date at all: today.
run 0 "$PT" query
contains "$OUT" "no records for $TODAY"

# ---- stats over the range, k-anonymity ---------------------------------------
run 0 "$PT" stats --from "$D1" --to "$D3" --json
cp "$OUT" stats5.json
py '
import json, sys
s = json.load(open("stats5.json"))
assert s["from"] == sys.argv[1] and s["to"] == sys.argv[3] and "date" not in s
assert s["days"] == 3 and s["days_with_records"] == 3
assert s["visits"] == 18 and s["files_downloaded"] == 18, s
assert s["unique_visitors"] == 17, s       # 17 networks, 18 visits
assert s["unique_visitors_method"] == "distinct"
titles = {t["title"]: t["count"] for t in s["top_titles"]}
# "Rare Song": 4 distinct visitors < 5: not shown; "Hit": 12 visitors
assert "Rare Song" not in titles and titles["Hit"] == 13, s
assert s["top_titles_other"]["suppressed_count"] == 5, s
# D2 has 2 visitors: its day row is folded; the totals are not
days = [d["date"] for d in s["per_day"]]
assert days == [sys.argv[1], sys.argv[3]], days
assert s["per_day_other"] == {"groups": 1, "visits": 2}, s
assert sum(d["visits"] for d in s["per_day"]) + 2 == s["visits"]
assert s["k_anonymity"]["min_group"] == 5
' "$D1" "$D2" "$D3"
write_policy k4.ini "[ip]" "rotate = never" "[report]" "min_group = 4"
run 0 "$PT" stats --policy k4.ini --from "$D1" --to "$D3" --json
py '
import json, sys
s, s5 = json.load(open(sys.argv[1])), json.load(open("stats5.json"))
titles = {t["title"]: t["count"] for t in s["top_titles"]}
assert titles["Rare Song"] == 4, s          # 4 visitors: shown at K = 4
for k in ("visits", "unique_visitors", "files_downloaded", "success_rate"):
    assert s[k] == s5[k], k                  # totals are exact at any K
' "$OUT"
run 0 "$PT" stats --from "$D1" --to "$D3"
contains "$OUT" "^period: +$D1 to $D3 \\(3 days\\)$"
contains "$OUT" '^visits: +18$'
contains "$OUT" '^k-anonymity: .*fewer than 5 distinct visitors'
contains "$OUT" "^  $D1 +10 +10 +10 +100\\.0%$"

# ---- terminal escapes (issue 14): shown escaped, never raw -------------------
write_policy k1.ini "[ip]" "rotate = never" "[report]" "min_group = 1"
for cmd in "query --date $D2" "stats --policy k1.ini --date $D2" \
    "stats --policy k1.ini --days 3"; do
    # shellcheck disable=SC2086
    run 0 "$PT" $cmd
    lacks "$OUT" $'\x1b' "'$cmd' printed a raw ESC"
    lacks "$OUT" $'\x07' "'$cmd' printed a raw BEL"
    contains "$OUT" 'evil\\x1b\[2J\\x1b\]0;pwned\\x07'
    # a right-to-left override would show the name as "...3pg.mp3"
    lacks "$OUT" $'\xe2\x80\xae' "'$cmd' printed a raw U+202E"
    contains "$OUT" 'pwned\\x07\\u202egp3'
done
# JSON keeps its own escapes.
run 0 "$PT" query --date "$D2" --json
lacks "$OUT" $'\x1b'
contains "$OUT" 'evil\\u001b\[2J'

# ---- keys that rotate daily: one person, two days, two pseudonyms ----------
write_policy daily.ini "[ip]" "rotate = daily" "[report]" "min_group = 1"
printf '{"remote_addr": "192.0.2.77", "time": "%sT08:00:00Z"}\n{"remote_addr": "192.0.2.77"}\n' \
    "$D3" >person.jsonl
run 0 "$PT" record --policy daily.ini --storage rot person.jsonl
expect_count stored 2
run 0 "$PT" stats --policy daily.ini --storage rot --days 2 --json
py '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["visits"] == 2 and s["rotation"] == "daily", s
assert s["unique_visitors"] == 2, s    # one per day: a sum, not one count
assert s["unique_visitors_method"] == "sum_of_periods" and s["key_periods"] == 2
assert [d["unique_visitors"] for d in s["per_day"]] == [1, 1], s
' "$OUT"
run 0 "$PT" stats --policy daily.ini --storage rot --days 2
contains "$OUT" '^unique visitors: +2 \(a sum of 2 daily counts'
run 0 "$PT" stats --policy daily.ini --storage rot --date "$TODAY" --json
py 'import json,sys; s = json.load(open(sys.argv[1])); assert s["unique_visitors_method"] == "distinct", s' "$OUT"
run 0 "$PT" stats --policy daily.ini --storage rot --date "$TODAY"
contains "$OUT" '^unique visitors: +1 \(within one daily key period\)$'
# one key for ever: nothing to say about periods
write_policy never1.ini "[ip]" "rotate = never" "[report]" "min_group = 1"
run 0 "$PT" stats --policy never1.ini --storage rot --days 2
contains "$OUT" '^unique visitors: +2$'

# ---- query --limit N reads the end of the day file and stops -----------------
# 4,000 records (about 1.5 MB: several of the reader's 256 KiB blocks) after
# a corrupt first line.  --limit 10 returns the last 10 stored lines, last
# first, and never parses the first line (no warning about it); reading the
# whole day does reach it and says so.
"$PY" - "$D1" >tail-visits.jsonl <<'PY'
import json, sys
for i in range(4000):
    print(json.dumps({"remote_addr": "198.51.%d.%d" % (i // 250, i % 250 + 1),
                      "filenames": ["Song %d.mp3" % (i % 9)],
                      "time": "%sT%02d:%02d:%02d.%06dZ" % (sys.argv[1], i // 3600, i // 60 % 60, i % 60, i)}))
PY
run 0 "$PT" record --storage tail tail-visits.jsonl
expect_count stored 4000
{ printf '{"date": "%s", "timestamp": broken\n' "$D1"; cat "tail/$D1.jsonl"; } >tail.tmp
cat tail.tmp >"tail/$D1.jsonl"
[ "$(stat -c %s "tail/$D1.jsonl")" -gt $((4 * 262144)) ] || fail "day file too small"
run 0 "$PT" query --storage tail --date "$D1" --limit 10 --json
lacks "$ERR" 'corrupt|skipped' "query --limit 10 read the first line of the day file"
py '
import json, sys
got = [(r["timestamp"], r["session_id"]) for r in json.load(open(sys.argv[1]))]
lines = [json.loads(l) for l in open(sys.argv[2]).read().splitlines()[1:]]
last = [(r["timestamp"], r["session_id"]) for r in reversed(lines[-10:])]
assert got == last, (got, last)
assert [t for t, _ in got] == sorted((t for t, _ in got), reverse=True)
' "$OUT" "tail/$D1.jsonl"
run 0 "$PT" query --storage tail --date "$D1" --limit 0 --json
contains "$ERR" 'line at byte 0: corrupt record, skipped'
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 4000' "$OUT"

# ---- bad input: one line, exit 1 (usage) or 2 (runtime) ----------------------
one_line() { [ "$(grep -vc '^Try ' "$ERR")" = 1 ] || fail "expected one error line: $(cat "$ERR")"; ok; }
run 1 "$PT" stats --from "$D3" --to "$D1"
contains "$ERR" 'reversed'
one_line
run 1 "$PT" query --from 2020-01-01 --to 2021-06-30
contains "$ERR" '547 days; add --yes'
one_line
run 0 "$PT" stats --from 2020-01-01 --to 2021-06-30 --yes --json
py 'import json,sys; s = json.load(open(sys.argv[1])); assert s["days"] == 547 and s["visits"] == 0' "$OUT"
# ---- a big day: counted in two halves at once, the same figures --------------
# A day file of 16 MiB or more is read by two threads, a half each, and the
# two aggregates merged (lib/pipeline/read.c).  The same day read as part of
# a two-date range (one pass) gives the same figures; a corrupt line in the
# second half is reported by byte offset (its line number is not known
# there), which shows the file was split.
D6="$(days_ago 6)"
D7="$(days_ago 7)"
"$PY" - "$D6" "var/$D6.jsonl" <<'PY'
import json, sys
day, path = sys.argv[1:3]
with open(path, "w") as f:
    for i in range(46000):
        if i == 40000:
            f.write('{"not": a record}\n')
        r = {"date": day, "timestamp": "%sT%02d:%02d:00.000000+00:00" % (day, i * 24 // 46000, i % 60),
             "session_id": "%d-%08x" % (i, i), "user_agent": ["Firefox/Linux", "Chrome/Windows", "Safari/iOS"][i % 3],
             "num_links_submitted": 1, "num_files_downloaded": 2, "links": ["https://example.com/watch"],
             "titles": ["Title %d" % (i % 40), "Rare %d" % (i % 997)], "filenames": ["a.m4a", "b.m4a"],
             "has_errors": i % 17 == 0, "error_count": int(i % 17 == 0), "policy": "e2e-0000abcd" + "x" * 200}
        if i % 11:  # one visit in 11 without an address
            r["client_ip"] = "%032x" % ((i * 7919) % 5000)
        f.write(json.dumps(r, separators=(",", ":")) + "\n")
PY
chmod 600 "var/$D6.jsonl"
[ "$(stat -c %s "var/$D6.jsonl")" -ge $((16 << 20)) ] || fail "the big day is too small to be split"
run 0 "$PT" stats --date "$D6" --json
cp "$OUT" split.json
contains "$ERR" "$D6.jsonl: line at byte [0-9]+: corrupt record"
run 0 "$PT" stats --from "$D7" --to "$D6" --json
contains "$ERR" "$D6.jsonl:40001: corrupt record"
py '
import json, sys
split, whole = json.load(open("split.json")), json.load(open(sys.argv[1]))
assert split["visits"] == 46000, split["visits"]
assert split["visits_without_address"] == 4182, split["visits_without_address"]
for k in ("from", "to", "date", "days", "days_with_records", "per_day", "day_rows"):
    split.pop(k, None); whole.pop(k, None)
assert split == whole, (split, whole)
' "$OUT"
run 1 "$PT" export --date "$D1" --from "$D1"
one_line
run 1 "$PT" query --to "$D1"
contains "$ERR" '--to needs --from'
run 1 "$PT" stats --days 0
run 1 "$PT" stats --days many
run 1 "$PT" query --from 2025-02-30
contains "$ERR" "--from '2025-02-30' is not a date"
# A day file that is not a regular file: refused, not read (a FIFO would
# hang the reader for ever).
mkfifo "var/$TODAY.jsonl"
for cmd in query stats export; do
    run 2 timeout 20 "$PT" "$cmd" --days 2
    contains "$ERR" 'not a regular file'
    one_line
done
rm "var/$TODAY.jsonl"
finish
