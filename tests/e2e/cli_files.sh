# Hostile files where privtrack reads and writes (it often runs as root):
# links, FIFOs, devices and hard links planted in the store, the spool and
# the key locations; directories others can write; files another user owns;
# the modes of what privtrack creates.  Each one is refused with a message
# naming the path and what to fix (exit 2), and nothing outside the store
# changes.  Every command runs under `timeout`, so a FIFO that blocks fails
# the test instead of hanging it.  Checks that need another user's files
# (chown nobody) run only as root and say so when skipped.
source "$(dirname "$0")/lib.sh" "$@"

# Refusals are immediate; the bound only turns a hang into a failure, and
# must leave room for sanitizer builds on a loaded machine.
T="timeout 60"
D="$(days_ago 1)"
for i in 1 2 3; do
    printf '{"remote_addr": "198.51.100.%d", "filenames": ["f-%d.mp3"], "time": "%sT08:0%d:00Z"}\n' "$i" "$i" "$D" "$i"
done >visits.jsonl
AS_ROOT=0
NOBODY=
if [ "$(id -u)" = 0 ] && id nobody >/dev/null 2>&1; then
    AS_ROOT=1
    NOBODY="$(id -u nobody)"
else
    echo "$TEST_NAME: not root (or no 'nobody' user): the checks of files owned by another user are skipped" >&2
fi

# refused EXIT WHAT REGEX CMD...: the command exits EXIT (2: refused) in
# time, and stderr says REGEX about WHAT.
refused() {
    local code="$1" what="$2" regex="$3"
    shift 3
    run "$code" $T "$PT" "$@"
    contains "$ERR" "$regex" "$* on $what: stderr lacks /$regex/"
}

# A victim outside the store that must never change.
printf 'precious\n' >victim
chmod 600 victim
victim_intact() {
    [ "$(cat victim)" = precious ] || fail "victim changed: $(head -c 200 victim)"
    [ "$(stat -c %a victim)" = 600 ] || fail "victim mode $(stat -c %a victim)"
    ok
}

# ---- the store ------------------------------------------------------------

run 0 "$PT" init-storage
[ "$(stat -c %a var)" = 700 ] || fail "store mode $(stat -c %a var)"
ok

# A day file that is a link to a file outside the store: not appended to,
# not read; the records are spooled (exit 2) and the path is named.
ln -s "$WORK/victim" "var/$D.jsonl"
refused 2 "a symlinked day file" "var/$D\.jsonl: it is a symbolic link" record visits.jsonl
expect_count spooled 3
victim_intact
refused 2 "a symlinked day file" "symbolic link" query --date "$D"
refused 2 "a symlinked day file" "symbolic link" stats --date "$D"
refused 2 "a symlinked day file" "symbolic link" export --date "$D"
refused 2 "a symlinked day file" "symbolic link" purge
victim_intact

# A day file that is a FIFO: nothing hangs.
rm "var/$D.jsonl"
mkfifo "var/$D.jsonl"
refused 2 "a FIFO day file" "var/$D\.jsonl: it is a FIFO" record visits.jsonl
expect_count spooled 3
refused 2 "a FIFO day file" "it is a FIFO" query --date "$D"
refused 2 "a FIFO day file" "it is a FIFO" stats --date "$D" --json
refused 2 "a FIFO day file" "it is a FIFO" export --date "$D"
refused 2 "a FIFO day file" "it is a FIFO" purge

# A day file that is a link to /dev/zero: nothing spins.
rm "var/$D.jsonl"
ln -s /dev/zero "var/$D.jsonl"
refused 2 "a /dev/zero day file" "symbolic link" query --date "$D"
refused 2 "a /dev/zero day file" "symbolic link" record visits.jsonl
expect_count spooled 3

# A day file that is a hard link to a file outside the store.
rm "var/$D.jsonl"
ln victim "var/$D.jsonl"
refused 2 "a hard-linked day file" "2 hard links" record visits.jsonl
expect_count spooled 3
refused 2 "a hard-linked day file" "2 hard links" purge
victim_intact
rm "var/$D.jsonl"

# Repaired: everything spooled meanwhile (4 runs of 3 visits) is stored.
run 0 $T "$PT" spool replay
contains "$OUT" '^spool: replayed 12 records$'
run 0 $T "$PT" query --date "$D" --json
py 'import json,sys; r=json.load(open(sys.argv[1])); assert len(r)==12, len(r)' "$OUT"
[ "$(stat -c %a "var/$D.jsonl")" = 600 ] || fail "day file mode $(stat -c %a "var/$D.jsonl")"
ok

# A store directory others (or the group) can write: refused for writing
# and reading, with the command that fixes it.
chmod 777 var
refused 2 "a world-writable store" "directory $WORK/var: writable by others.*chmod (700|go-w) $WORK/var" record visits.jsonl
refused 2 "a world-writable store" "chmod 700" query --date "$D"
refused 2 "a world-writable store" "chmod (700|go-w)" init-storage
chmod 1777 var # no sticky-bit excuse for the store itself
refused 2 "a sticky world-writable store" "chmod 700" query --date "$D"
chmod 770 var
refused 2 "a group-writable store" "writable by its group" query --date "$D"
chmod 700 var
run 0 $T "$PT" query --date "$D"

# A directory on the way that others can write (not sticky): they could
# replace the store; a sticky one (like /tmp) is fine.
mkdir -m 777 shared
refused 2 "a store under a world-writable directory" "directory $WORK/shared: .*chmod go-w" --storage shared/var record visits.jsonl
[ ! -e shared/var ] || fail "a store was created under a world-writable directory"
ok
chmod 1777 shared
run 0 $T "$PT" --storage shared/var record visits.jsonl
[ "$(stat -c %a shared/var)" = 700 ] || fail "store mode $(stat -c %a shared/var)"
ok

# ---- the spool ------------------------------------------------------------

# A link planted at the progress file's old, predictable temporary name
# (replay opened it with O_TRUNC and overwrote the victim with an offset):
# 5000 spooled visits replay in more than one step, so progress is saved.
awk -v d="$D" 'BEGIN { for (i = 0; i < 5000; i++) printf "{\"remote_addr\": \"192.0.2.%d\", \"time\": \"%sT09:00:00Z\"}\n", i % 250, d }' >many.jsonl
mkdir -p big && chmod 700 big
mkdir "big/$D.jsonl"
run 2 timeout 300 "$PT" --storage big record many.jsonl
expect_count spooled 5000
seg="$(cd big/spool && ls spool-*.log)"
ln -s "$WORK/victim" "big/spool/$seg.off.tmp"
rmdir "big/$D.jsonl"
run 0 timeout 300 "$PT" --storage big spool replay
contains "$OUT" '^spool: replayed 5000 records$'
victim_intact

# Segments that are a FIFO or a link to /dev/zero: status refuses them by
# name, record skips them with a warning, replay (whose job they are)
# replays the rest and fails naming them; nothing hangs or spins.
mkfifo var/spool/spool-0-fifo.log 2>/dev/null || { mkdir -p var/spool && mkfifo var/spool/spool-0-fifo.log; }
refused 2 "a FIFO spool segment" "spool-0-fifo\.log: it is a FIFO" spool status
refused 0 "a FIFO spool segment" "spool-0-fifo\.log: it is a FIFO.*not replayed" record visits.jsonl
refused 2 "a FIFO spool segment" "spool-0-fifo\.log: it is a FIFO.*not replayed" spool replay
rm var/spool/spool-0-fifo.log
ln -s /dev/zero var/spool/spool-0-zero.log
refused 2 "a /dev/zero spool segment" "spool-0-zero\.log: it is a symbolic link" spool status
refused 2 "a /dev/zero spool segment" "spool-0-zero\.log: it is a symbolic link.*not replayed" spool replay
rm var/spool/spool-0-zero.log
run 0 $T "$PT" spool status

# A spool directory others can write.
chmod 777 var/spool
refused 2 "a world-writable spool" "var/spool: writable by others.*chmod 700" spool status
chmod 700 var/spool
# ... holding records: anyone could have put them there, so they are not
# replayed, and neither a replay ("replayed 0 records", exit 0) nor a
# record with a healthy store may pass over them in silence.
mkdir -m 700 ws && mkdir "ws/$D.jsonl"
run 2 $T "$PT" --storage ws record visits.jsonl
expect_count spooled 3
rmdir "ws/$D.jsonl"
chmod 777 ws/spool
refused 2 "a world-writable spool with records" "ws/spool: writable by others.*chmod 700" --storage ws spool replay
lacks "$OUT" "replayed 0 records"
refused 0 "a world-writable spool with records" "ws/spool: writable by others.*chmod 700.*not replayed" --storage ws record visits.jsonl
chmod 770 ws/spool
refused 2 "a group-writable spool with records" "ws/spool: writable by its group.*chmod 700" --storage ws spool replay
chmod 700 ws/spool
run 0 $T "$PT" --storage ws spool replay
contains "$OUT" '^spool: replayed 3 records$'

# ---- the hash key ---------------------------------------------------------

# The single key of [ip] rotate = never (ip.key beside the data, or
# key_file); the rotating keys' directory is checked like the store above.
write_policy never.ini '[ip]' 'rotate = never'
K1=$(printf '11%.0s' $(seq 32))
printf '%s\n' "$K1" >chosen.key
chmod 600 chosen.key
# ip.key linked to a key someone else chose: refused, never used.
mkdir -m 700 k1
ln -s "$WORK/chosen.key" k1/ip.key
refused 2 "a symlinked ip.key" "k1/ip\.key: it is a symbolic link" --policy never.ini --storage k1 record visits.jsonl
lacks "$ERR" "$K1"
[ ! -e "k1/$D.jsonl" ] || fail "records were stored with a planted key"
ok
# ip.key and key_file as FIFOs: refused at once.
mkdir -m 700 k2
mkfifo k2/ip.key
refused 2 "a FIFO ip.key" "k2/ip\.key: it is a FIFO" --policy never.ini --storage k2 record visits.jsonl
run 0 $T "$PT" --policy never.ini --storage k2 query --date "$D"
run 0 $T "$PT" --policy never.ini --storage k2 stats --date "$D"
refused 2 "a FIFO ip.key" "k2/ip\.key: it is a FIFO" --policy never.ini --storage k2 spool status
write_policy fifokey.ini '[ip]' "key_file = $WORK/k2/ip.key"
refused 2 "a FIFO key_file" "k2/ip\.key: it is a FIFO" --policy fifokey.ini record visits.jsonl
# key_file in a directory others can write.
mkdir -m 777 keys
cp -p chosen.key keys/ip.key
write_policy dirkey.ini '[ip]' "key_file = $WORK/keys/ip.key"
refused 2 "a key in a world-writable directory" "keys: writable by others.*chmod 700" --policy dirkey.ini record visits.jsonl
chmod 700 keys
run 0 $T "$PT" --policy dirkey.ini --storage k3 record visits.jsonl
# Our own link to the key is fine (a secret mounted by an orchestrator).
ln -s "$WORK/keys/ip.key" keys/current.key
write_policy linkkey.ini '[ip]' "key_file = $WORK/keys/current.key"
run 0 $T "$PT" --policy linkkey.ini --storage k3 record visits.jsonl

# ---- outputs: export and the audit ------------------------------------------

# Both are created 0600 under umask 022: an export is personal data, and an
# audit with show_raw = true holds raw addresses.
umask 022
run 0 $T "$PT" export --date "$D" --output out.json
[ "$(stat -c %a out.json)" = 600 ] || fail "export mode $(stat -c %a out.json)"
ok
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) >= 12' out.json
[ -z "$(ls -A | grep 'json\.tmp-')" ] || fail "export left a temporary file"
ok
write_policy audit.ini '[audit]' 'output = audit.jsonl' 'show_raw = true'
run 0 $T "$PT" record --dry-run --policy audit.ini visits.jsonl
[ "$(stat -c %a audit.jsonl)" = 600 ] || fail "audit mode $(stat -c %a audit.jsonl)"
ok
contains audit.jsonl '198\.51\.100\.1'
# Appended to, not replaced.
run 0 $T "$PT" record --dry-run --policy audit.ini visits.jsonl
[ "$(wc -l <audit.jsonl)" = 6 ] || fail "audit lines: $(wc -l <audit.jsonl)"
ok

# A link, a FIFO or a file others may write, as the audit output: refused at
# once, before anything is read; the victim stays as it was.
rm audit.jsonl
ln -s "$WORK/victim" audit.jsonl
refused 2 "a symlinked audit output" "audit output: refusing \./audit\.jsonl: it is a symbolic link" record --dry-run --policy audit.ini visits.jsonl
victim_intact
rm audit.jsonl
mkfifo audit.jsonl
refused 2 "a FIFO audit output" "audit\.jsonl: it is a FIFO" record --dry-run --policy audit.ini visits.jsonl
rm audit.jsonl
touch audit.jsonl
chmod 666 audit.jsonl
refused 2 "a world-writable audit output" "audit output audit\.jsonl: writable by group or others.*chmod go-w" record --dry-run --policy audit.ini visits.jsonl
lacks audit.jsonl '198\.51\.100'
rm audit.jsonl

# Exporting onto a link or a FIFO: the new file replaces them (rename),
# nothing is written through them and nothing blocks.
ln -s "$WORK/victim" linked.json
run 0 $T "$PT" export --date "$D" --output linked.json
[ -f linked.json ] && [ ! -L linked.json ] || fail "linked.json is not a regular file"
ok
[ "$(stat -c %a linked.json)" = 600 ] || fail "export mode $(stat -c %a linked.json)"
ok
victim_intact
mkfifo fifo.json
run 0 $T "$PT" export --date "$D" --output fifo.json
[ -f fifo.json ] || fail "fifo.json is not a regular file"
ok

# The issue's case: the export's temporary file once had a predictable name
# (FILE.tmp<pid>, opened with fopen "w"), so a link planted there redirected
# the export onto another file.  Links planted at that name and its likes,
# for the very pid the command runs as (exec keeps the shell's pid), are
# neither written through nor in the way.
run 0 $T bash -c 'for n in tmp tmp$$ tmp-$$; do ln -s "$1" "planted.json.$n"; done
    exec "$0" export --date "$2" --output planted.json' "$PT" "$WORK/victim" "$D"
victim_intact
[ -f planted.json ] && [ ! -L planted.json ] || fail "planted.json is not a regular file"
ok
[ "$(stat -c %a planted.json)" = 600 ] || fail "export mode $(stat -c %a planted.json)"
ok
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) >= 12' planted.json
rm planted.json.tmp*

# Replaced atomically: an output that cannot be written completely (here
# the file-size limit, as a full disk would) leaves the file it was to
# replace as it was, no temporary file, and one error naming the file.
# The documents written the same way (policy notice, report) too.
printf 'previous\n' >kept.out
for cmd in "export --date $D" "policy notice" "report --date $D"; do
    run 2 $T bash -c 'ulimit -f 1; exec "$0" $1 --output kept.out' "$PT" "$cmd"
    contains "$ERR" "^privtrack: [a-z]+: cannot write kept\.out: File too large$"
    [ "$(grep -c 'cannot write' "$ERR")" = 1 ] || fail "$cmd: not one error line"
    ok
    [ "$(cat kept.out)" = previous ] || fail "$cmd: kept.out changed"
    ok
    [ -z "$(ls -A | grep 'kept\.out\.tmp')" ] || fail "$cmd: a temporary file was left behind"
    ok
done

# ---- the policy -----------------------------------------------------------

# ./policy.ini that others may write, with mode = keep (the issue's case:
# raw addresses were stored): refused with the fix, nothing recorded.
mkdir -m 700 pol && cd pol
cp ../visits.jsonl .
write_policy policy.ini '[ip]' 'mode = keep'
chmod 666 policy.ini
refused 2 "a world-writable ./policy.ini" "policy\.ini: writable by group or others.*chmod go-w.*--policy" record visits.jsonl
[ ! -e var ] || fail "a refused policy still created the store"
ok
refused 1 "a world-writable ./policy.ini" "policy\.ini:0?:? ?.*writable by group or others" policy check policy.ini
refused 2 "a world-writable --policy" "writable by group or others" --policy policy.ini policy show
chmod 644 policy.ini
run 0 $T "$PT" policy show
contains "$OUT" 'policy\.ini'
rm policy.ini
mkfifo policy.ini
refused 2 "a FIFO ./policy.ini" "policy\.ini: it is a FIFO" policy show
rm policy.ini
cd "$WORK"

if [ "$AS_ROOT" = 1 ]; then
    # A store owned by another user: they could plant anything in it.
    mkdir -m 700 theirs
    chown nobody theirs
    refused 2 "a store owned by nobody" "directory $WORK/theirs: owned by uid $NOBODY.*chown 0 $WORK/theirs" --storage theirs record visits.jsonl
    refused 2 "a store owned by nobody" "owned by uid $NOBODY" --storage theirs query --date "$D"
    [ -z "$(ls -A theirs)" ] || fail "files were created in another user's directory"
    ok
    # Their symbolic link to our own store, in a sticky directory: refused.
    ln -s "$WORK/var" shared/link
    chown -h nobody shared/link
    refused 2 "a store reached by another user's link" "shared/link: a symbolic link owned by uid $NOBODY" --storage shared/link query --date "$D"
    # A key file another user owns (0600, in our directory), configured or
    # beside the data; their link to our key.
    cp -p keys/ip.key keys/theirs.key
    chown nobody keys/theirs.key
    write_policy theirkey.ini '[ip]' "key_file = $WORK/keys/theirs.key"
    refused 2 "a key_file owned by nobody" "key file $WORK/keys/theirs\.key: owned by uid $NOBODY.*chown 0" --policy theirkey.ini record visits.jsonl
    lacks "$ERR" "$K1"
    mkdir -m 700 k4
    cp -p keys/ip.key k4/ip.key
    chown nobody k4/ip.key
    refused 2 "an ip.key owned by nobody" "owned by uid $NOBODY" --policy never.ini --storage k4 record visits.jsonl
    chown -h nobody keys/current.key
    refused 2 "a key_file linked by nobody" "current\.key: it is a symbolic link" --policy linkkey.ini record visits.jsonl
    # ./policy.ini owned by another user (0644): refused, not applied.
    cd pol
    write_policy policy.ini '[ip]' 'mode = keep'
    chown nobody policy.ini
    refused 2 "a ./policy.ini owned by nobody" "policy\.ini: owned by uid $NOBODY" record visits.jsonl
    [ ! -e var ] || fail "another user's policy was applied"
    ok
    cd "$WORK"
    # An audit output another user created first (in a sticky directory,
    # like /tmp): not appended to, it would hand them the audit.
    touch shared/audit.jsonl
    chown nobody shared/audit.jsonl
    write_policy shared-audit.ini '[audit]' 'output = shared/audit.jsonl'
    refused 2 "an audit output owned by nobody" "audit output shared/audit\.jsonl: owned by uid $NOBODY" record --dry-run --policy shared-audit.ini visits.jsonl
    [ ! -s shared/audit.jsonl ] || fail "the audit went to another user's file"
    ok
fi

finish
