# policy notice, policy record and policy check --regime: every sentence of
# the notice is true of the policy (tests/e2e/notice_truth.py), documents go
# where --output says and nowhere else, and the regime checks report
# FILE:LINE with exit 1.
source "$(dirname "$0")/lib.sh" "$@"

truth() {
    "$PY" "$SRC/tests/e2e/notice_truth.py" "$PT" "$1" || fail "notice of $1 is not true of it"
    ok
}

# ---- every sentence is true: the shipped policies and synthetic ones --------
for f in "$SRC"/policy/*.ini; do
    truth "$f"
done

write_policy t-proxies.ini '[ip]' 'trusted_proxies = 10.0.0.0/8' 'ipv4_prefix = 20' \
    'ipv6_prefix = 56' '[retention]' 'ttl_days = 1' '[notice]' \
    'controller = Société <Exemple> & *Fils* [SARL], 1 rue X' \
    'contact = https://example.org/contact?a=1&b=2' \
    'purpose = audience measurement of music.example'
write_policy t-whole.ini '[ip]' 'truncate_before_hash = false' 'hash_bytes = 8' \
    '[fields]' 'user_agent = keep' 'max_user_agent = 300' 'links = origin' \
    'filenames = drop' '[optout]' 'honor_dnt = false' 'cookie = out=1' \
    'action = anonymous' '[notice]' 'url = https://example.org/opt-out' \
    'contact = privacy@example.org'
write_policy t-truncate.ini '[ip]' 'mode = truncate' 'ipv4_prefix = 8' \
    'ipv6_prefix = 64' '[fields]' 'links = drop' 'titles = drop' \
    '[optout]' 'honor_gpc = false' '[retention]' 'ttl_days = 400'
write_policy t-truncate-bits.ini '[ip]' 'mode = truncate' 'ipv4_prefix = 12' \
    'ipv6_prefix = 0' '[fields]' 'links = keep' 'titles = drop' 'filenames = drop'
write_policy t-drop.ini '[ip]' 'mode = drop' '[fields]' 'user_agent = drop' \
    '[optout]' 'honor_dnt = false' 'honor_gpc = false' \
    '[storage]' 'backend = dynamodb' 'region = eu-west-3' 'table = visits'
write_policy t-dynamodb.ini '[storage]' 'backend = dynamodb' \
    '[audit]' 'show_raw = true' '[policy]' 'dry_run = true'
write_policy t-custom.ini '[storage]' 'backend = my-store' '[optout]' \
    'honor_dnt = false' 'honor_gpc = false' 'cookie = optout=yes' 'action = anonymous'
write_policy t-rotate.ini '[ip]' 'rotate = weekly' 'key_grace_hours = 30'
write_policy t-rotate-0.ini '[ip]' 'rotate = monthly' 'key_grace_hours = 0' \
    'truncate_before_hash = false'
write_policy t-rotate-24.ini '[ip]' 'rotate = daily' 'key_grace_hours = 24' \
    '[storage]' 'backend = dynamodb' 'region = eu-central-1'
write_policy t-never.ini '[ip]' 'rotate = never'
for f in t-*.ini; do
    truth "$f"
done

# The checker itself must fail on a false or unknown sentence: feed it a
# privtrack whose notice lies (ttl 90 said as 30 days, an invented sentence).
cat >lying-privtrack <<EOF
#!/bin/bash
if [ "\$2" = notice ]; then
    "$PT" "\$@" | sed -e 's/expires 90 days/expires 30 days/' \
        -e 's/These records hold nothing else/We sell nothing/'
else
    exec "$PT" "\$@"
fi
EOF
chmod +x lying-privtrack
if "$PY" "$SRC/tests/e2e/notice_truth.py" ./lying-privtrack "$SRC/policy/default.ini" >lies.out; then
    fail "the truth checker accepted a notice that lies"
fi
ok
contains lies.out "false statement: 'Each record expires 30 days"
contains lies.out "unknown statement: 'We sell nothing"
# per-field retention: a wrong number of days, or a sentence left out
cat >lying-fields <<EOF
#!/bin/bash
if [ "\$2" = notice ]; then
    "$PT" "\$@" | sed -e 's/user agent is removed from a record 7 days/user agent is removed from a record 8 days/' \
        -e '/links are removed from a record/d'
else
    exec "$PT" "\$@"
fi
EOF
chmod +x lying-fields
if "$PY" "$SRC/tests/e2e/notice_truth.py" ./lying-fields "$SRC/policy/strict.ini" >lies.out; then
    fail "the truth checker accepted a notice that lies about per-field retention"
fi
ok
contains lies.out "false statement: 'The stored user agent is removed from a record 8 days"
contains lies.out "says nothing like 'The stored links are removed from a record 30 day'"

# ---- the documents ----------------------------------------------------------
run 0 "$PT" policy notice --policy "$SRC/policy/strict.ini"
contains "$OUT" '^# How this site records visits$'
contains "$OUT" 'Not legal advice'
contains "$OUT" 'expires 90 days after your visit'
contains "$OUT" 'The stored user agent is removed from a record 7 days after your visit'
contains "$OUT" 'The stored links are removed from a record 30 days after your visit'
contains "$ERR" 'warning: .*\[notice\] controller is not set'
run 0 "$PT" policy notice --format html --policy t-proxies.ini
contains "$OUT" '^<!DOCTYPE html>$'
contains "$OUT" 'Société &lt;Exemple&gt; &amp; \*Fils\*'
lacks "$OUT" '<Exemple>'
lacks "$ERR" 'controller'
run 0 "$PT" policy record --policy "$SRC/policy/default.ini"
contains "$OUT" '^## \(a\) Controller$'
contains "$OUT" '^## \(g\) Technical and organisational security measures'
contains "$OUT" 'Not legal advice'
run 0 "$PT" policy record --format json --policy t-drop.ini
py '
import json, sys
r = json.load(open(sys.argv[1]))
assert "not legal advice" in r["note"].lower(), r["note"]
rows = {row["fields"]: row for row in r["personal_data"]}
assert rows["client_ip"]["stored_as"] is None, rows["client_ip"]
assert rows["user_agent"]["stored_as"] is None
assert rows["links"]["retention_days"] == 90, rows["links"]
assert any("eu-west-3" in x for x in r["recipients"]), r["recipients"]
for part in ("controller", "purposes", "data_subjects", "recipients",
             "transfers", "retention", "security_measures"):
    assert r[part], part
' "$OUT"
# The effective policy: without --policy, the built-in default.
run 0 "$PT" policy notice
contains "$OUT" 'policy default-'

# --output: a new 0600 file replaces the target; a planted link is replaced,
# never written through.
echo keep >victim
ln -s victim notice.html
run 0 "$PT" policy notice --format html --output notice.html --policy t-proxies.ini
[ -f notice.html ] && [ ! -L notice.html ] || fail "notice.html is not a regular file"
ok
[ "$(cat victim)" = keep ] || fail "--output wrote through a symbolic link"
ok
[ "$(stat -c %a notice.html)" = 600 ] || fail "notice.html mode $(stat -c %a notice.html)"
ok
[ ! -s "$OUT" ] || fail "--output also wrote to standard output"
ok
contains notice.html '</html>'
[ -z "$(ls -a | grep '\.tmp-')" ] || fail "a temporary file was left behind"
ok
run 2 "$PT" policy record --output no-such-dir/record.md
contains "$ERR" 'no-such-dir/record.md'

# Usage errors: exit 1.
run 1 "$PT" policy notice --format json
contains "$ERR" 'md or html'
run 1 "$PT" policy record --format html
contains "$ERR" 'md or json'
run 1 "$PT" policy show --format md
run 1 "$PT" policy notice --regime ccpa
run 1 "$PT" policy notice extra-argument
run 1 "$PT" policy notice --policy "$SRC/tests/data/policy/contradictions.ini"

# ---- regimes ----------------------------------------------------------------
run 0 "$PT" policy check --regime all "$SRC/policy/default.ini" "$SRC/policy/strict.ini"
for p in default strict; do
    for r in gdpr-baseline cnil-exempt ccpa; do
        contains "$OUT" "$p\\.ini: ok \\($r\\)$"
    done
done
contains "$OUT" 'not legal advice'

# keep-everything fails gdpr-baseline at the lines of its four keys, found
# here with grep.
ke="$SRC/policy/keep-everything.ini"
run 1 "$PT" policy check --regime gdpr-baseline "$ke"
[ "$(grep -c 'gdpr-baseline: ' "$ERR")" = 4 ] || fail "expected 4 gdpr-baseline failures"
ok
for key in 'mode = keep' 'ttl_days = 0' 'user_agent = keep' 'links = keep'; do
    line="$(grep -n "^$key\$" "$ke" | cut -d: -f1)"
    contains "$ERR" "^$ke:$line: gdpr-baseline: .*\\(.*GDPR.*Art\\. 5\\(1\\)"
done
lacks "$OUT" 'ok \(gdpr-baseline\)'

# One rule broken: only it, at its line, with its source.
write_policy gpc.ini '[policy]' 'name = gpc' '[optout]' 'honor_gpc = false'
run 1 "$PT" policy check --regime ccpa,gdpr-baseline gpc.ini
contains "$ERR" '^gpc\.ini:4: ccpa: .*honor_gpc = false.*§ 7025\(b\)'
[ "$(wc -l <"$ERR")" = 1 ] || fail "more than the gpc rule failed"
ok
contains "$OUT" '^gpc\.ini: ok \(gdpr-baseline\)$'
write_policy purpose.ini '[notice]' 'purpose = audience measurement and ads'
run 1 "$PT" policy check --regime cnil-exempt purpose.ini
contains "$ERR" '^purpose\.ini:2: cnil-exempt: .*purpose.*CNIL'
run 1 "$PT" policy check --regime cnil-exempt "$SRC/policy/keep-everything.ini"
contains "$ERR" 'cnil-exempt: .*\(CNIL, "Cookies : solutions pour les outils de mesure d.audience", cnil\.fr'

# A policy that does not load is reported as before; unknown regimes are
# usage errors.
run 1 "$PT" policy check --regime ccpa "$SRC/tests/data/policy/contradictions.ini"
lacks "$OUT" 'ok \(ccpa\)'
run 1 "$PT" policy check --regime nope "$SRC/policy/default.ini"
contains "$ERR" "unknown regime 'nope'"
run 1 "$PT" policy check --regime

finish
