# The file-size limit (ulimit -f) is a full disk, not a crash: `record`
# is not killed by SIGXFSZ; what the store cannot take goes to the spool,
# which goes on in new segments when one reaches the limit; the summary
# and the exit status say so; once the limit is lifted, a replay stores
# every record.  A limit too small even for the spool is reported, with
# every record accounted for.
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
"$PY" -c '
import sys
d = sys.argv[1]
for i in range(1000):
    print("{\"remote_addr\": \"198.51.100.%d\", \"filenames\": [\"song-%04d.mp3\"], \"time\": \"%sT08:%02d:%02d.%06dZ\"}"
          % (i % 250, i, d, (i // 60) % 60, i % 60, i))
' "$D" >visits.jsonl
run 0 "$PT" init-storage

# 40 KiB per file: about 110 records in the day file, as many per segment.
run 2 bash -c 'ulimit -f 40; exec "$0" record visits.jsonl' "$PT"
expect_count read 1000
stored="$(summary_count stored)"
spooled="$(summary_count spooled)"
[ "$((stored + spooled))" = 1000 ] || fail "stored $stored + spooled $spooled != 1000"
ok
[ "$spooled" -gt 0 ] && [ "$stored" -gt 0 ] || fail "stored $stored, spooled $spooled"
ok
expect_count failures 0
contains "$ERR" 'wait in the spool'
segments="$(ls var/spool/spool-*.log | wc -l)"
[ "$segments" -ge 2 ] || fail "the spool did not go on in new segments ($segments)"
ok
for f in var/*.jsonl var/spool/spool-*.log; do
    [ "$(stat -c %s "$f")" -le 40960 ] || fail "$f is over the limit"
done
ok

run 0 "$PT" spool status
contains "$OUT" "^spool: $spooled records pending"
run 0 "$PT" spool replay
contains "$OUT" "^spool: replayed $spooled records$"
run 0 "$PT" query --date "$D" --limit 0 --json
py '
import json, sys
recs = json.load(open(sys.argv[1]))
titles = sorted(r["titles"][0] for r in recs)
assert titles == ["song-%04d" % i for i in range(1000)], (len(titles), titles[:3])
assert len({r["session_id"] for r in recs}) == 1000
' "$OUT"

# A limit below one record: neither the store nor the spool can take a
# record.  Not killed either; exit 2, the limit named, and the summary
# accounts for every record (none stored, none spooled, all failures).
# Its stderr goes through a pipe to a reader outside the limit (a file
# would be limited too).  ThreadSanitizer's runtime cannot even start under
# a zero limit (it dies before main), so that build skips this part.
if ! bash -c 'ulimit -f 0; exec "$0" version' "$PT" >/dev/null 2>&1; then
    echo "$TEST_NAME: this build cannot start under ulimit -f 0; skipping that part"
    finish
    exit 0
fi
head -20 visits.jsonl | sed 's/song-/late-/' >late.jsonl
{
    rc=0
    bash -c 'ulimit -f 0; exec "$0" record late.jsonl' "$PT" 2>&1 >/dev/null || rc=$?
    echo "exit status $rc"
} | cat >"$ERR"
contains "$ERR" '^exit status 2$'
expect_count read 20
expect_count stored 0
expect_count spooled 0
contains "$ERR" 'file-size limit'
contains "$ERR" '20 records could not be stored nor spooled'
run 0 "$PT" spool status
contains "$OUT" '^spool: 0 records pending'

finish
