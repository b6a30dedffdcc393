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

# ---- a long replay says how far it got -------------------------------------
# While records remain, `spool replay` prints a progress line every five
# seconds.  A replay is made long on any machine by stopping the command
# (SIGSTOP) for six seconds once it has stored its first records and while
# its segment is still there, i.e. mid-replay.
D5="$(days_ago 5)"
"$PY" -c '
import sys
for i in range(30000):
    print("{\"filenames\": [\"long-%05d.mp3\"], \"time\": \"%sT12:%02d:%02d.%06dZ\"}"
          % (i, sys.argv[1], i // 3600 % 60, i // 60 % 60, i))
' "$D5" >long.jsonl
mkdir "var/$D5.jsonl"
run 2 "$PT" record long.jsonl
expect_count spooled 30000
rmdir "var/$D5.jsonl"
seg="$(ls var/spool/spool-*.log)"
"$PT" spool replay >"$OUT" 2>"$ERR" &
pid=$!
for _ in $(seq 1 3000); do # up to 30 s for the first records to land
    [ -s "var/$D5.jsonl" ] && break
    sleep 0.01
done
kill -STOP "$pid"
if [ ! -e "$seg" ]; then
    kill -CONT "$pid"
    wait "$pid" || true
    echo "$TEST_NAME: the replay of 30000 records ended before it could be stopped; progress line not checked"
else
    sleep 6
    kill -CONT "$pid"
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" = 0 ] || fail "spool replay exited $rc: $(cat "$ERR")"
    ok
    contains "$OUT" '^spool: replayed 30000 records$'
    contains "$ERR" '^privtrack: spool replay: [0-9]+ of 30000 spooled records replayed \([0-9]+/s\)$'
    py '
import re, sys
n = [int(m.group(1)) for m in re.finditer(r"spool replay: (\d+) of 30000", open(sys.argv[1]).read())]
assert n and all(0 < a <= b < 30000 for a, b in zip(n, n[1:] + [29999])), n
' "$ERR"
fi
run 0 "$PT" query --date "$D5" --limit 0 --json
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 30000' "$OUT"

# ---- replay is linear -------------------------------------------------------
# Measured in bytes, not seconds (the machine may be busy): a replay reads
# the spool and the day file about once, however many records there are.
# The quadratic replay of issue 14 re-read the day file per put of 25: for
# these 30,000 records, some 600 times.  /proc/PID/io's rchar counts every
# byte the command read; it is read while the finished command is a zombie.
D6="$(days_ago 6)"
sed "s/$D5/$D6/" long.jsonl >long6.jsonl
mkdir "var/$D6.jsonl"
run 2 "$PT" record long6.jsonl
expect_count spooled 30000
rmdir "var/$D6.jsonl"
seg="$(ls var/spool/spool-*.log)"
seg_bytes="$(stat -c %s "$seg")"
"$PY" -c '
import os, subprocess, sys
p = subprocess.Popen([sys.argv[1], "spool", "replay"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL)
os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)
io = dict(l.split(": ") for l in open("/proc/%d/io" % p.pid).read().splitlines())
print(p.wait(), io["rchar"])
' "$PT" >rchar.out
read -r rc rchar <rchar.out
[ "$rc" = 0 ] || fail "spool replay exited $rc"
ok
day_bytes="$(stat -c %s "var/$D6.jsonl")"
echo "replay of 30000 records read $rchar bytes (segment $seg_bytes, day file $day_bytes)"
[ "$rchar" -le $((2 * (seg_bytes + day_bytes) + 4194304)) ] ||
    fail "replay read $rchar bytes for a $seg_bytes-byte segment into a $day_bytes-byte day file"
ok

finish
