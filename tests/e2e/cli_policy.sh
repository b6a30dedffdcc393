# policy check / policy show, where the policy comes from, and what a bad
# policy does to the other commands.
source "$(dirname "$0")/lib.sh" "$@"

# ---- every shipped policy is valid -----------------------------------------
for f in "$SRC"/policy/*.ini; do
    run 0 "$PT" policy check "$f"
    contains "$OUT" ": ok$"
done

# ---- every error, with its line, and exit 1 --------------------------------
cat >bad.ini <<'EOF'
[policy]
name = bad
[ip]
mode = scramble
ipv4_prefix = 33
[nosuchsection]
x = 1
[fields]
colour = blue
[optout]
honor_dnt = perhaps
EOF
run 1 "$PT" policy check bad.ini
contains "$ERR" '^bad\.ini:4: .*mode'
contains "$ERR" '^bad\.ini:5: .*ipv4_prefix'
contains "$ERR" '^bad\.ini:6: .*nosuchsection'
contains "$ERR" '^bad\.ini:9: .*colour'
contains "$ERR" '^bad\.ini:11: .*honor_dnt'
lacks "$OUT" 'ok$'

# Valid and invalid files together: each judged, exit 1.
run 1 "$PT" policy check "$SRC/policy/default.ini" bad.ini
contains "$OUT" 'default\.ini: ok$'
contains "$ERR" '^bad\.ini:4: '

# A file that does not exist: one line naming it, exit 1 (configuration).
run 1 "$PT" policy check missing.ini
contains "$ERR" 'missing\.ini'
[ "$(wc -l <"$ERR")" -le 2 ] || fail "more than one line for a missing file"
ok
run 1 "$PT" policy check
run 1 "$PT" policy frobnicate

# Many problems: the first 100 in line order, how many were not shown, and
# the right total.
{
    echo '[fields]'
    echo 'max_user_agent = 10' # line 2: a contradiction found after reading
    echo '[ip]'
    for i in $(seq 1 499); do echo "bad$i = 1"; done
} >many.ini
run 1 "$PT" policy check many.ini
[ "$(grep -c '^many\.ini:[0-9]*: ' "$ERR")" = 100 ] || fail "not 100 problems shown"
ok
contains "$ERR" '^many\.ini:2: .*max_user_agent'
contains "$ERR" '^many\.ini:102: unknown key .bad99.'
lacks "$ERR" '^many\.ini:103: '
contains "$ERR" '^many\.ini: 400 more problems not shown$'
contains "$ERR" '^many\.ini: 500 problems$'
head -n 100 "$ERR" | cut -d: -f2 | sort -n -c || fail "problems out of line order"
ok

# ---- a bad policy stops every command with exit 1 and file:line ------------
run 1 "$PT" record --policy bad.ini /dev/null
contains "$ERR" 'bad\.ini:4'
run 1 "$PT" query --policy bad.ini --date 2025-01-15
run 1 "$PT" policy show --policy bad.ini
[ ! -e var ] || fail "a rejected policy still created the store"
ok

# ---- policy show and the policy's source ------------------------------------
run 0 "$PT" policy show
default_id="$(head -1 "$OUT")"
[[ "$default_id" =~ ^default-[0-9a-f]{4,}$ ]] || fail "default id '$default_id'"
ok
contains "$OUT" 'source: built-in default'
contains "$OUT" '^\[ip\]$'
contains "$OUT" '^mode = hash$'
# The built-in default is policy/default.ini, byte for byte in effect.
run 0 "$PT" policy show --policy "$SRC/policy/default.ini"
[ "$(head -1 "$OUT")" = "$default_id" ] || fail "policy/default.ini id differs from the built-in"
ok

# README.md documents every key the policy engine knows.
run 0 "$PT" policy show
while read -r key _; do
    grep -q "\`$key\`" "$SRC/README.md" || fail "README.md does not document the policy key '$key'"
    ok
done < <(grep -E '^[a-z0-9_]+ =' "$OUT")
# ...and `policy show` shows every key of the engine's table.
keys_src="$SRC/lib/policy/policy_keys.c"
if [ -f "$keys_src" ]; then
    n=0
    while read -r section key; do
        awk -v s="[$section]" -v k="$key" '
            /^\[/ { cur = $0 } cur == s && $1 == k { found = 1 } END { exit !found }' "$OUT" ||
            fail "policy show does not show [$section] $key"
        n=$((n + 1))
    done < <(grep -oE '\{"[a-z]+", "[a-z0-9_]+", T_' "$keys_src" | tr -d '{",' | awk '{print $1, $2}')
    [ "$n" -ge 30 ] || fail "found only $n keys in $keys_src"
    ok
fi

write_policy cwd.ini '[policy]' 'name = from-cwd' '[ip]' 'mode = drop'
write_policy env.ini '[policy]' 'name = from-env' '[ip]' 'mode = truncate'
write_policy flag.ini '[policy]' 'name = from-flag' '[ip]' 'mode = drop'
cp cwd.ini policy.ini
run 0 "$PT" policy show
contains "$OUT" '^from-cwd-'
PRIVTRACK_POLICY=env.ini run 0 "$PT" policy show
contains "$OUT" '^from-env-'
PRIVTRACK_POLICY=env.ini run 0 "$PT" policy show --policy flag.ini
contains "$OUT" '^from-flag-'
# Global options may also come before the command.
PRIVTRACK_POLICY=env.ini run 0 "$PT" --policy flag.ini policy show
contains "$OUT" '^from-flag-'
# An empty $PRIVTRACK_POLICY is unset, not "the file named ''".
PRIVTRACK_POLICY= run 0 "$PT" policy show
contains "$OUT" '^from-cwd-'
rm policy.ini
PRIVTRACK_POLICY=missing.ini run 1 "$PT" policy show
contains "$ERR" 'missing\.ini'

# The policy id is what the records carry.
D="$(days_ago 2)"
echo '{"remote_addr": "198.51.100.1", "time": "'"$D"'T08:00:00Z"}' >one.jsonl
run 0 "$PT" record --policy env.ini one.jsonl
run 0 "$PT" policy show --policy env.ini
env_id="$(head -1 "$OUT")"
run 0 "$PT" query --policy env.ini --date "$D" --json
py '
import json, sys
r = json.load(open(sys.argv[1]))[0]
assert r["policy"] == sys.argv[2], (r["policy"], sys.argv[2])
assert r["client_ip"] == "198.51.100.0", r["client_ip"]
' "$OUT" "$env_id"

finish
