# record --dry-run leaves the disk untouched (no ./var, no key, no spool, no
# file anywhere under the working directory) and prints one audit line per
# visit; the same holds for a policy that asks for dry-run itself.
source "$(dirname "$0")/lib.sh" "$@"

D="$(days_ago 1)"
cat >visits.jsonl <<EOF
{"remote_addr": "203.0.113.7", "headers": {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"}, "links": ["https://music.example/watch?v=abc&list=PL9"], "filenames": ["Song Title 1.m4a"], "time": "${D}T09:00:00Z"}
{"remote_addr": "198.51.100.23", "headers": {"DNT": "1"}, "filenames": ["x.mp3"], "time": "${D}T09:01:00Z"}
{"remote_addr": "2001:db8::1", "filenames": ["y.mp3"], "time": "${D}T09:02:00Z"}
{broken
EOF

check_audit() { # FILE: three audit lines, as DESIGN.md describes them
    py '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
assert len(lines) == 3, len(lines)
first, dnt = lines[0], lines[1]
assert first["decision"] == "stored", first
assert "record" in first and first["record"]["titles"] == ["Song Title 1"], first
fields = {c["field"] for c in first["changes"]}
assert "client_ip" in fields and "links" in fields, fields
for c in first["changes"]:
    assert "rule" in c and "before" in c and "after" in c, c
assert dnt["decision"] == "dropped" and dnt["reason"] == "dnt", dnt
text = open(sys.argv[1]).read()
for raw in ("203.0.113.7", "198.51.100.23", "2001:db8::1", "Gecko/20100101"):
    assert raw not in text, raw
' "$1"
}

# ---- a fresh directory: nothing may appear --------------------------------
before="$(snapshot "$WORK")"
run 0 "$PT" record --dry-run visits.jsonl
after="$(snapshot "$WORK")"
[ "$before" = "$after" ] || fail "dry-run changed the directory: $(diff <(echo "$before") <(echo "$after") | head)"
ok
[ ! -e var ] || fail "dry-run created the store (key, spool)"
ok
check_audit "$OUT"
expect_count read 4
expect_count stored 0
expect_count rejected 1
expect_count dnt 1
contains "$ERR" 'dry run: 2 would be stored'
contains "$ERR" '^visits\.jsonl:4: '

# Standard input works the same way.
before="$(snapshot "$WORK")"
run 0 "$PT" record --dry-run - <visits.jsonl
[ "$before" = "$(snapshot "$WORK")" ] || fail "dry-run from stdin changed the directory"
ok
check_audit "$OUT"

# ---- a policy that asks for dry-run itself --------------------------------
write_policy audit.ini '[policy]' 'name = audit-test' '[audit]' 'dry_run = true'
before="$(snapshot "$WORK")"
run 0 "$PT" record --policy audit.ini visits.jsonl
[ "$before" = "$(snapshot "$WORK")" ] || fail "[audit] dry_run changed the directory"
ok
check_audit "$OUT"

# ---- an existing store is not touched either ------------------------------
run 0 "$PT" record visits.jsonl
expect_count stored 2
[ -d var ] || fail "no store after a real record"
ok
before="$(snapshot "$WORK")"
run 0 "$PT" record --dry-run visits.jsonl
[ "$before" = "$(snapshot "$WORK")" ] || fail "dry-run changed an existing store"
ok
run 0 "$PT" query --date "$D" --json
py 'import json,sys; assert len(json.load(open(sys.argv[1]))) == 2' "$OUT"
cp "$OUT" stored.json
# PRIVACY.md's data-subject recipe: a dry run with the store's key of the
# day in question prints the pseudonym under which a given address was
# stored that day.  Keys rotate daily (the default policy): the same
# address today has another pseudonym.
echo '{"remote_addr": "203.0.113.7", "time": "'"$D"'T12:00:00Z"}' >subject.jsonl
echo '{"remote_addr": "203.0.113.7"}' >today.jsonl
run 0 "$PT" record --dry-run subject.jsonl
lacks "$OUT" '"ephemeral_key"'
py '
import json, sys
pseudonym = json.loads(open(sys.argv[1]).readline())["record"]["client_ip"]
stored = [r["client_ip"] for r in json.load(open("stored.json"))]
assert pseudonym in stored, (pseudonym, stored)
' "$OUT"
run 0 "$PT" record --dry-run today.jsonl
py '
import json, sys
pseudonym = json.loads(open(sys.argv[1]).readline())["record"]["client_ip"]
stored = [r["client_ip"] for r in json.load(open("stored.json"))]
assert pseudonym and pseudonym not in stored, (pseudonym, stored)
' "$OUT"
rm stored.json subject.jsonl today.jsonl

# ---- [audit] output = FILE: the audit goes there, and only there ----------
write_policy tofile.ini '[audit]' 'dry_run = true' "output = $WORK/audit.jsonl" '[storage]' 'path = ./never'
run 0 "$PT" record --policy tofile.ini visits.jsonl
[ ! -s "$OUT" ] || fail "audit went to stdout despite [audit] output"
ok
[ ! -e never ] || fail "dry-run created [storage] path"
ok
check_audit audit.jsonl


# ---- reading creates nothing either: query, stats, export, purge -----------
mkdir empty && cd empty
run 0 "$PT" query --date "$D"
run 0 "$PT" stats --date "$D"
run 0 "$PT" export --date "$D" --output -
run 0 "$PT" purge
[ -z "$(find . -mindepth 1)" ] || fail "a read created files: $(find . -mindepth 1)"
ok
cd ..

finish
