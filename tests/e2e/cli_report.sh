# privtrack report: one self-contained HTML page, checked in a real browser
# (Debian's chromium, headless, driven by tests/e2e/report_browser.py): no
# request leaves the page, every figure equals `stats --json`, the charts
# are drawn, and it reads at 1280x800 and on a 390 px phone.
source "$(dirname "$0")/lib.sh" "$@"

[ -x /usr/bin/chromium ] || fail "chromium is missing (scripts/install-deps.sh installs it)"
D1="$(days_ago 3)"
D3="$(days_ago 1)"
"$PY" - "$D1" "$D3" >visits.jsonl <<'PY'
import json, sys
from datetime import date, timedelta
d1 = date.fromisoformat(sys.argv[1])
agents = ["Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
          "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"]
titles = ["Song Title 1", "Song Title 2", "Another Song", "Live at Home"]
n = 0
for day in range(3):
    d = d1 + timedelta(days=day)
    for i in range(8 + 4 * day):
        n += 1
        files = [titles[(i + day) % 4] + ".m4a"]
        if n == 7:
            files.append("Rare <b>&amp; \u001b[2J.mp3")  # one visitor: hidden
        print(json.dumps({
            "remote_addr": "198.51.%d.%d" % (day * 20 + i, i % 3 + 1),
            "headers": {"User-Agent": agents[(i + day) % 3]},
            "filenames": files, "errors": 1 if i % 5 == 4 else 0,
            "time": "%sT%02d:%02d:00Z" % (d, 9 + i % 4, i)}))
PY
write_policy policy.ini "[policy]" "name = site" "[ip]" "rotate = never"
run 0 "$PT" record visits.jsonl
expect_count stored 36
run 0 "$PT" report --from "$D1" --to "$D3" --output report.html
contains "$ERR" "report: $D1\\.\\.$D3 written to report\\.html"
[ "$(stat -c %a report.html)" = 600 ] || fail "report.html is not 0600"
ok
run 0 "$PT" stats --from "$D1" --to "$D3" --json
cp "$OUT" stats.json
py '
import json
s = json.load(open("stats.json"))
assert s["visits"] == 36 and s["top_titles"] and s["user_agents"], s
assert s["top_titles_other"]["suppressed_groups"] == 1, s
'
# Self-contained in the file already: no script, nothing it would load.
lacks report.html '<script|<link|<img|<iframe|<object|@import|url\('
lacks report.html '(src|href)='
lacks report.html $'\x1b'
contains report.html "default-src 'none'"
# In the browser.
"$PY" "$SRC/tests/e2e/report_browser.py" --control "$WORK" ||
    fail "the request detector did not see the control page's request"
ok
"$PY" "$SRC/tests/e2e/report_browser.py" report.html stats.json "$WORK" ||
    fail "the report failed in the browser"
ok
# A range with nothing stored is still a page (empty charts say so).
run 0 "$PT" report --date 2001-02-03 --output empty.html
contains empty.html 'Nothing to show'
run 1 "$PT" report --days 3
contains "$ERR" 'report: --output FILE is required'
finish
