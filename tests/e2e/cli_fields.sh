# What the policy does to each field, seen through the command: the client
# behind trusted proxies, IPv4-mapped and zoned addresses, truncation, drop,
# and the [fields] modes.
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
UA='Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36'
v() { # v MINUTE ADDR HEADERS-JSON
    printf '{"remote_addr": "%s", "headers": %s, "links": ["https://u:p@e.example:8443/a/b?q=1#f"], "filenames": ["/home/alice/Music/Song.Title.mp3"], "time": "%sT10:%02d:00Z"}\n' "$2" "$3" "$D" "$1"
}
{
    v 1 198.51.100.10 '{"X-Forwarded-For": "203.0.113.5, 192.0.2.77"}'         # trusted peer: rightmost untrusted
    v 2 198.51.100.11 '{"X-Forwarded-For": "192.0.2.77"}'                       # untrusted peer: header ignored
    v 3 198.51.100.10 '{"X-Forwarded-For": "192.0.2.77, 198.51.100.12"}'        # two trusted hops
    v 4 '::ffff:192.0.2.200' "{\"User-Agent\": \"$UA\"}"
    v 5 'fe80::1:2:3:4%eth0' '{}'
    v 6 'not-an-address' '{}'
    v 7 '2001:db8:abcd:1234::99' '{}'
} >visits.jsonl
minute_field() { # minute_field FILE FIELD: "minute value" lines
    "$PY" -c '
import json, sys
for r in sorted(json.load(open(sys.argv[1])), key=lambda r: r["timestamp"]):
    v = r.get(sys.argv[2])
    print(int(r["timestamp"][14:16]), json.dumps(v) if v is not None else "-")
' "$1" "$2"
}

write_policy trunc.ini '[policy]' 'name = trunc' '[ip]' 'mode = truncate' \
    'trusted_proxies = 198.51.100.10/32, 198.51.100.12/32' \
    '[fields]' 'user_agent = keep' 'links = origin' 'filenames = drop'
run 0 "$PT" record --policy trunc.ini visits.jsonl
expect_count stored 7
run 0 "$PT" query --policy trunc.ini --date "$D" --json
cp "$OUT" trunc.json
minute_field trunc.json client_ip >ips.txt
cat >expected.txt <<'EOF2'
1 "192.0.2.0"
2 "198.51.100.0"
3 "192.0.2.0"
4 "192.0.2.0"
5 "fe80::"
6 -
7 "2001:db8:abcd::"
EOF2
diff -u expected.txt ips.txt || fail "client_ip after trusted proxies / truncation"
ok
py '
import json, sys
recs = sorted(json.load(open("trunc.json")), key=lambda r: r["timestamp"])
r = recs[3]
assert r["user_agent"] == sys.argv[1], r["user_agent"]
for r in recs:
    assert r["links"] == ["https://e.example:8443"], r["links"]
    assert "filenames" not in r or not r["filenames"], r
    assert r["titles"] == ["Song.Title"], r["titles"]
    assert r["num_files_downloaded"] == 1 and r["num_links_submitted"] == 1
' "$UA"

write_policy drop.ini '[policy]' 'name = drop' '[storage]' 'path = ./drop' '[ip]' 'mode = drop' \
    '[fields]' 'user_agent = drop' 'links = drop' 'titles = drop'
run 0 "$PT" record --policy drop.ini visits.jsonl
expect_count stored 7
run 0 "$PT" query --policy drop.ini --date "$D" --json
py '
import json, sys
for r in json.load(open(sys.argv[1])):
    for k in ("client_ip", "user_agent", "links", "titles"):
        assert not r.get(k), (k, r)
    assert r["filenames"] == ["Song.Title.mp3"], r["filenames"]
    assert r["num_links_submitted"] == 1
' "$OUT"
run 0 "$PT" stats --policy drop.ini --date "$D" --json
py 'import json,sys; s=json.load(open(sys.argv[1])); assert s["visits"] == 7 and s["unique_visitors"] == 0, s' "$OUT"
! grep -rq 'alice\|u:p@\|q=1' var drop || fail "a removed part of a field reached the store"
ok
finish
