# When the store fails, `record` spools the records (exit 2, "spooled N" in
# the summary); `spool status` shows them; `spool replay` writes them once
# the store is back, and a second replay stores nothing twice.
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
for i in 1 2 3; do
    printf '{"remote_addr": "198.51.100.%d", "filenames": ["spooled-%d.mp3"], "time": "%sT08:0%d:00Z"}\n' "$i" "$i" "$D" "$i"
done >visits.jsonl

run 0 "$PT" init-storage
contains "$OUT" '^storage ready: file'
# The default policy's keys rotate daily: today's key, in var/keys.
KEY="var/keys/daily-$(date -u +%F).key"
[ -d var ] && [ -f "$KEY" ] || fail "init-storage did not create the store and today's key"
ok
[ "$(stat -c %a "$KEY")" = 600 ] || fail "key mode $(stat -c %a "$KEY")"
ok
[ "$(stat -c %a var/keys)" = 700 ] || fail "key directory mode $(stat -c %a var/keys)"
ok
run 0 "$PT" init-storage # idempotent
run 0 "$PT" spool status
contains "$OUT" '^spool: 0 records pending'

# Break the store: the day's file cannot be opened (a directory is in its
# place), so the records go to the spool.
mkdir "var/$D.jsonl"
run 2 "$PT" record visits.jsonl
expect_count read 3
expect_count stored 0
expect_count spooled 3
contains "$ERR" 'spool status'
run 0 "$PT" spool status
contains "$OUT" '^spool: 3 records pending \([1-9][0-9]* bytes\)$'

# Repair and replay.
rmdir "var/$D.jsonl"
run 0 "$PT" spool replay
contains "$OUT" '^spool: replayed 3 records$'
run 0 "$PT" spool status
contains "$OUT" '^spool: 0 records pending'
run 0 "$PT" spool replay
contains "$OUT" '^spool: replayed 0 records$'
run 0 "$PT" query --date "$D" --json
py '
import json, sys
recs = json.load(open(sys.argv[1]))
titles = sorted(r["titles"][0] for r in recs)
assert titles == ["spooled-1", "spooled-2", "spooled-3"], titles
' "$OUT"

# A spool left behind is replayed by the next record run, too.

mkdir "var/$(days_ago 2).jsonl"
printf '{"remote_addr": "198.51.100.9", "filenames": ["late.mp3"], "time": "%sT09:00:00Z"}\n' "$(days_ago 2)" >late.jsonl
run 2 "$PT" record late.jsonl
expect_count spooled 1
rmdir "var/$(days_ago 2).jsonl"
run 0 "$PT" record /dev/null
expect_count replayed 1
run 0 "$PT" spool status
contains "$OUT" '^spool: 0 records pending'
run 0 "$PT" query --date "$(days_ago 2)" --json
py 'import json,sys; assert [r["titles"] for r in json.load(open(sys.argv[1]))] == [["late"]]' "$OUT"

# A corrupt progress file (spool/<segment>.log.off) is reported and means
# "from the start of the segment": status counts every record, replay
# stores each once, and later runs store normally.
D3="$(days_ago 3)"
for i in $(seq 1 20); do
    printf '{"remote_addr": "198.51.100.%d", "filenames": ["p-%02d.mp3"], "time": "%sT10:%02d:00Z"}\n' "$i" "$i" "$D3" "$i"
done >progress.jsonl
for bad in 99999999999999999999 -5 'not a number' 123456789; do
    mkdir "var/$D3.jsonl"
    run 2 "$PT" record progress.jsonl
    expect_count spooled 20
    rmdir "var/$D3.jsonl"
    seg="$(ls var/spool/spool-*.log)"
    printf '%s\n' "$bad" >"$seg.off"
    run 0 "$PT" spool status
    contains "$OUT" '^spool: 20 records pending'
    contains "$ERR" 'progress file .*from its start'
    run 0 "$PT" spool replay
    contains "$OUT" '^spool: replayed 20 records$'
    [ -z "$(ls var/spool)" ] || fail "spool not emptied: $(ls var/spool)"
    ok
    run 0 "$PT" query --date "$D3" --json --limit 0
    py 'import json,sys; t=sorted(r["titles"][0] for r in json.load(open(sys.argv[1]))); assert t == ["p-%02d" % i for i in range(1, 21)], t' "$OUT"
    rm "var/$D3.jsonl"
done
# The store works again at once: nothing is left spooled or stuck.
run 0 "$PT" record progress.jsonl
expect_count stored 20
rm "var/$D3.jsonl"

# The issue's symptom: with such a progress file, every later `record`
# spooled and exited 2 although the store was healthy.  A plain `record`
# (no `spool replay` first) replays the segment from its start and stores.
mkdir "var/$D3.jsonl"
run 2 "$PT" record progress.jsonl
expect_count spooled 20
rmdir "var/$D3.jsonl"
printf '99999999999999999999\n' >"$(ls var/spool/spool-*.log).off"
run 0 "$PT" record progress.jsonl
expect_count replayed 20
expect_count stored 20
expect_count spooled 0
[ -z "$(ls var/spool)" ] || fail "spool not emptied: $(ls var/spool)"
ok
run 0 "$PT" query --date "$D3" --json --limit 0
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 40' "$OUT"

finish
