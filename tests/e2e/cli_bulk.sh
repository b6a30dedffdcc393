# A bulk import larger than the tracker's queue (65,536 records): `record`
# waits for room instead of dropping (no queue_full), and every visit is
# stored exactly once.
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
N=100000
"$PY" - "$D" "$N" >bulk.jsonl <<'PY'
import json, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    print(json.dumps({"remote_addr": "198.51.%d.%d" % (i // 250 % 256, i % 250 + 1),
                      "filenames": ["Song %d.mp3" % (i % 7)],
                      "time": "%sT%02d:%02d:%02d.%06dZ" % (d, i // 3600 % 24, i // 60 % 60, i % 60, i % 1000000)}))
PY
run 0 "$PT" record bulk.jsonl
expect_count read "$N"
expect_count stored "$N"
expect_count dropped 0
run 0 "$PT" stats --date "$D" --json
py '
import json, sys
s = json.load(open(sys.argv[1]))
assert s["visits"] == int(sys.argv[2]), s
assert s["files_downloaded"] == int(sys.argv[2]), s
assert sum(t["count"] for t in s["top_titles"]) == int(sys.argv[2]), s
' "$OUT" "$N"
run 0 "$PT" export --date "$D" --output all.json
py '
import json, sys
recs = json.load(open("all.json"))
assert len(recs) == int(sys.argv[1]), len(recs)
assert len({(r["timestamp"], r["session_id"]) for r in recs}) == len(recs)
' "$N"
finish
