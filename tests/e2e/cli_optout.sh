# Opt-out: DNT, GPC and the opt-out cookie show up in the summary as drops
# by reason; action = anonymous keeps only counts; honor_* = false ignores
# the signal.
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
v() { # v N HEADERS-JSON: a visit at minute N
    printf '{"remote_addr": "198.51.100.%d", "headers": %s, "links": ["https://e.example/?q=1"], "filenames": ["Song %d.mp3"], "time": "%sT10:%02d:00Z"}\n' "$1" "$2" "$1" "$D" "$1"
}
{
    v 1 '{"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}'
    v 2 '{"DNT": "1"}'
    v 3 '{"dnt": "1"}'
    v 4 '{"DNT": "0"}'
    v 5 '{"Sec-GPC": "1"}'
    v 6 '{"SEC-GPC": "1", "DNT": "1"}'
    v 7 '{"Cookie": "theme=dark; pt_optout=1; lang=fr"}'
    v 8 '{"cookie": "pt_optout=0"}'
    v 9 '{"Cookie": "xpt_optout=1"}'
} >visits.jsonl

write_policy optout.ini '[policy]' 'name = optout-test' '[optout]' 'honor_dnt = true' 'honor_gpc = true' 'cookie = pt_optout=1' 'action = drop'
run 0 "$PT" record --policy optout.ini visits.jsonl
expect_count read 9
expect_count stored 4
expect_count dropped 5
expect_count cookie 1
# Visit 6 carries both DNT and GPC: dropped once, under one of the two.
[ $(($(summary_count dnt) + $(summary_count gpc))) = 4 ] || fail "dnt + gpc != 4: $(grep record: "$ERR")"
ok
[ "$(summary_count gpc)" -ge 1 ] && [ "$(summary_count dnt)" -ge 2 ] || fail "dnt/gpc split"
ok
contains "$ERR" 'dropped 5 \((dnt|gpc) [0-9]+, (gpc|cookie) [0-9]+'
run 0 "$PT" query --policy optout.ini --date "$D" --json
py '
import json, sys
recs = json.load(open(sys.argv[1]))
minutes = sorted(int(r["timestamp"][14:16]) for r in recs)
# 1 plain, 4 DNT: 0, 8 cookie value differs, 9 cookie name differs; 6 has
# both DNT and GPC and is dropped (counted under one reason).
assert minutes == [1, 4, 8, 9], minutes
' "$OUT"
# Nothing of a dropped visit is stored anywhere.
! grep -rq 'Song [23567]' var || fail "a dropped visit left a trace in the store"
ok

# ---- action = anonymous: counted visits, no personal data ---------------------
write_policy anon.ini '[policy]' 'name = anon-test' '[storage]' 'path = ./anon' '[optout]' 'cookie = pt_optout=1' 'action = anonymous'
run 0 "$PT" record --policy anon.ini visits.jsonl
expect_count read 9
expect_count stored 9
run 0 "$PT" query --policy anon.ini --date "$D" --json
py '
import json, sys
recs = {int(r["timestamp"][14:16]): r for r in json.load(open(sys.argv[1]))}
assert sorted(recs) == list(range(1, 10)), sorted(recs)
for m in (2, 3, 5, 6, 7):
    r = recs[m]
    for k in ("client_ip", "user_agent", "links", "titles", "filenames"):
        assert not r.get(k), (m, k, r)
    assert r["num_links_submitted"] == 1 and r["num_files_downloaded"] == 1, r
    assert r["date"] and r["timestamp"] and r["policy"].startswith("anon-test-")
for m in (1, 4, 8, 9):
    assert recs[m].get("client_ip") and recs[m].get("titles"), recs[m]
' "$OUT"

# ---- honor_dnt = false / honor_gpc = false ---------------------------------------
write_policy ignore.ini '[policy]' 'name = ignore-test' '[storage]' 'path = ./ignore' '[optout]' 'honor_dnt = false' 'honor_gpc = false'
run 0 "$PT" record --policy ignore.ini visits.jsonl
expect_count stored 9
expect_count dropped 0

finish
