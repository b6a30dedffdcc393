# record -> query / stats / export round trip through the file store, with
# the built-in default policy (keyed hash, UA family, links without query).
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
cat >visits.jsonl <<EOF
{"remote_addr": "203.0.113.7", "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}, "links": ["https://music.example/watch?v=abc&list=PL9"], "filenames": ["Song Title 1.m4a"], "errors": [], "time": "${D}T09:12:03.120000Z"}
{"remote_addr": "203.0.113.99", "headers": {"user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"}, "links": ["https://music.example/a?x=1", "https://music.example/b"], "filenames": ["/srv/dl/Song Title 1.m4a", "Other.Song.mp3"], "time": "${D}T16:30:00.123456+02:00"}

{"client_ip": "198.51.100.23", "user_agent": "curl/8.5.0", "filenames": ["README"], "errors": ["x: HTTP 404"], "time": "${D} 14:45:59Z"}
{"remote_addr": "2001:db8:1::5", "links": [], "filenames": ["Song Title 1.m4a"], "time": "${D}T14:50:00Z"}
{"remote_addr": "192.0.2.1", "filenames": ["Other.Song.mp3"], "errors": 2, "time": "${D}T23:59:59.999999Z"}
EOF

# ---- record ----------------------------------------------------------------
run 0 "$PT" record visits.jsonl
expect_count read 5
expect_count stored 5
expect_count rejected 0
expect_count dropped 0
[ -d var ] || fail "the default policy's store ./var was not created"
ok

# A second batch from standard input, a visit without "time" (= now).
echo '{"remote_addr": "203.0.113.50", "filenames": ["Now.ogg"]}' >now.jsonl
run 0 "$PT" record - <now.jsonl
expect_count stored 1

# ---- query --json ----------------------------------------------------------
run 0 "$PT" policy show
policy_id="$(head -1 "$OUT")"
run 0 "$PT" query --date "$D" --json
cp "$OUT" query.json
py '
import json, re, sys
recs = json.load(open("query.json"))
pid = sys.argv[1]
assert len(recs) == 5, len(recs)
ts = [r["timestamp"] for r in recs]
assert ts == sorted(ts, reverse=True), ("not newest first", ts)
assert ts[0] == sys.argv[2] + "T23:59:59.999999+00:00", ts[0]
# 16:30+02:00 is 14:30 UTC, whatever TZ says.
assert sys.argv[2] + "T14:30:00.123456+00:00" in ts, ts
for r in recs:
    assert r["date"] == sys.argv[2]
    assert re.fullmatch(r"\d{10}-[0-9a-f]{8}", r["session_id"]), r["session_id"]
    assert r["policy"] == pid, (r["policy"], pid)
    assert re.fullmatch(r"[0-9a-f]{32}", r["client_ip"]), r["client_ip"]
    assert r["ttl"] > 0
    for l in r.get("links", []):
        assert "?" not in l, l
by_ts = {r["timestamp"][11:19]: r for r in recs}
a, b = by_ts["09:12:03"], by_ts["14:30:00"]
# Same /24 (truncate_before_hash): the same pseudonym.
assert a["client_ip"] == b["client_ip"]
assert by_ts["14:45:59"]["client_ip"] != a["client_ip"]
assert a["user_agent"] == "Firefox/Linux", a["user_agent"]
assert b["num_links_submitted"] == 2 and b["num_files_downloaded"] == 2
assert b["filenames"] == ["Song Title 1.m4a", "Other.Song.mp3"], b["filenames"]
assert b["titles"] == ["Song Title 1", "Other.Song"], b["titles"]
assert b["links"] == ["https://music.example/a", "https://music.example/b"]
c = by_ts["14:45:59"]
assert c["has_errors"] is True and c["error_count"] == 1
assert c["titles"] == ["README"]
assert by_ts["23:59:59"]["error_count"] == 2
assert a["has_errors"] is False and a["error_count"] == 0
' "$policy_id" "$D"

# --limit keeps the newest.
run 0 "$PT" query --date "$D" --json --limit 2
py '
import json, sys
recs = json.load(open(sys.argv[1])); full = json.load(open("query.json"))
assert recs == full[:2], recs
' "$OUT"

# The table: a header, one line per record, a count.
run 0 "$PT" query --date "$D"
contains "$OUT" '^TIMESTAMP +SESSION +CLIENT'
contains "$OUT" '^5 records$'
[ "$(grep -c "^$D" "$OUT")" = 5 ] || fail "table rows"
ok
contains "$OUT" 'Song Title 1; Other.Song'

# A date with nothing stored: empty, not an error.
run 0 "$PT" query --date 2001-02-03 --json
py 'import json,sys; assert json.load(open(sys.argv[1])) == []' "$OUT"
run 0 "$PT" query --date 2001-02-03
contains "$OUT" 'no records for 2001-02-03'

# Today's record went to today's date.
run 0 "$PT" query --date "$(date -u +%F)" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r) >= 1 and r[0]["titles"] == ["Now"], r' "$OUT"

# ---- stats -----------------------------------------------------------------
# Five visits from four networks: under the default k-anonymity (5) no
# title, hour or day has enough visitors to be shown; totals are exact.
run 0 "$PT" stats --date "$D" --json
py '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["date"] == sys.argv[2] and s["from"] == s["to"] == sys.argv[2]
assert s["visits"] == 5 and s["unique_visitors"] == 4, s
assert s["files_downloaded"] == 6, s
assert s["top_titles"] == [] and s["busiest_hour"] is None, s
assert s["top_titles_other"]["suppressed_groups"] == 3, s
assert s["k_anonymity"]["min_group"] == 5, s
' "$OUT" "$D"
# The same with k-anonymity off ([report] min_group = 1).
printf '[report]\nmin_group = 1\n' >k1.ini
run 0 "$PT" stats --policy k1.ini --date "$D" --json
py '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["date"] == sys.argv[2]
assert s["visits"] == 5, s
assert s["unique_visitors"] == 4, s   # 203.0.113.0/24 counted once
assert s["unique_visitors_method"] == "distinct", s
assert s["files_downloaded"] == 6, s
assert abs(s["success_rate"] - 0.6) < 1e-9, s
assert s["busiest_hour"] == 14 and s["busiest_hour_visits"] == 3, s
top = s["top_titles"]
assert top[0] == {"title": "Song Title 1", "count": 3}, top
assert top[1] == {"title": "Other.Song", "count": 2}, top
assert {"title": "README", "count": 1} in top
assert {"family": "Firefox/Linux", "visits": 1} in s["user_agents"], s
assert s["per_day"] == [{"date": sys.argv[2], "visits": 5, "unique_visitors": 4,
                         "files_downloaded": 6, "success_rate": 0.6}], s
' "$OUT" "$D"
run 0 "$PT" stats --policy k1.ini --date "$D"
contains "$OUT" '^visits: +5$'
contains "$OUT" '^unique visitors: +4$'
contains "$OUT" '^success rate: +60\.0%$'
contains "$OUT" '^busiest hour: +14:00-14:59 UTC \(3 visits\)$'
contains "$OUT" '^ +1\. Song Title 1 \(3\)$'

# ---- export ----------------------------------------------------------------
run 0 "$PT" export --date "$D" --output export.json
contains "$ERR" '5 records'
run 0 "$PT" query --date "$D" --json --limit 0
py '
import json, sys
assert json.load(open("export.json")) == json.load(open(sys.argv[1]))
' "$OUT"
run 0 "$PT" export --date "$D"
py 'import json,sys; assert json.load(open(sys.argv[1])) == json.load(open("export.json"))' "$OUT"
ls export.json.tmp* >/dev/null 2>&1 && fail "export left a temporary file"
ok

# --storage points every command at another store.
run 0 "$PT" record --storage other visits.jsonl
expect_count stored 5
run 0 "$PT" query --storage other --date "$D" --json --limit 0
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 5' "$OUT"

finish
