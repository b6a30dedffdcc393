# The single hash key of [ip] rotate = never, as PRIVACY.md describes it:
# created 0600 beside the data on first use; PRIVTRACK_IP_KEY instead (then
# nothing is created); key_file refused (exit 2) when group or others may
# read it; pseudonyms stable for one key, different across keys; the key
# never printed.  (Rotating keys, the default policy's, are cli_keys.sh's.)
source "$(dirname "$0")/lib.sh" "$@"

write_policy never.ini '[ip]' 'rotate = never'
export PRIVTRACK_POLICY="$WORK/never.ini"

D="$(days_ago 1)"
echo '{"remote_addr": "203.0.113.7", "time": "'"$D"'T10:00:00Z"}' >one.jsonl
pseudonym() { # pseudonym STORE: the client_ip of the only record
    "$PT" query --storage "$1" --date "$D" --json "${@:2}" |
        "$PY" -c 'import json,sys; r=json.load(sys.stdin); assert len(r)==1, r; print(r[0]["client_ip"])'
}

# Created on first use, 0600, in a 0700 directory.
run 0 "$PT" record --storage a one.jsonl
[ "$(stat -c %a a/ip.key)" = 600 ] || fail "ip.key mode $(stat -c %a a/ip.key)"
ok
p_a="$(pseudonym a)"
# The same key gives the same pseudonym; another store, another key.
run 0 "$PT" record --storage a2 one.jsonl
rm -rf a3 && mkdir -m 700 a3 && cp -p a/ip.key a3/ip.key
run 0 "$PT" record --storage a3 one.jsonl
[ "$(pseudonym a3)" = "$p_a" ] || fail "same key, different pseudonym"
ok
[ "$(pseudonym a2)" != "$p_a" ] || fail "different keys gave the same pseudonym"
ok

# PRIVTRACK_IP_KEY: used, and no key file is created.
K1=$(printf '11%.0s' $(seq 32))
K2=$(printf '22%.0s' $(seq 32))
PRIVTRACK_IP_KEY=$K1 run 0 "$PT" record --storage e1 one.jsonl
[ ! -e e1/ip.key ] || fail "a key file was created although PRIVTRACK_IP_KEY is set"
ok
PRIVTRACK_IP_KEY=$K1 run 0 "$PT" record --storage e1b one.jsonl
PRIVTRACK_IP_KEY=$K2 run 0 "$PT" record --storage e2 one.jsonl
[ "$(pseudonym e1)" = "$(pseudonym e1b)" ] || fail "PRIVTRACK_IP_KEY: unstable pseudonym"
ok
[ "$(pseudonym e1)" != "$(pseudonym e2)" ] || fail "two env keys, one pseudonym"
ok
! grep -rq "$K1" e1 e1b . 2>/dev/null --exclude=.out --exclude=.err || fail "the key was written out"
ok

# key_file readable by others: refused as unsafe (exit 2), the file and the
# fix named, not the key.
printf '%s\n' "$K2" >shared.key
chmod 644 shared.key
write_policy keyfile.ini '[ip]' "key_file = $WORK/shared.key"
run 2 "$PT" record --policy keyfile.ini --storage k one.jsonl
contains "$ERR" 'shared\.key: accessible by group or others \(mode 0644\); run chmod 600'
lacks "$ERR" "$K2"
chmod 600 shared.key
run 0 "$PT" record --policy keyfile.ini --storage k one.jsonl
[ ! -e k/ip.key ] || fail "key_file set, yet ip.key was created"
ok
# A rotating policy does not take its key from PRIVTRACK_IP_KEY: refused,
# rather than silently giving each host a key of its own.
PRIVTRACK_POLICY= PRIVTRACK_IP_KEY=$K1 run 1 "$PT" record --storage r one.jsonl
contains "$ERR" 'PRIVTRACK_IP_KEY'
lacks "$ERR" "$K1"
[ ! -e r ] || fail "a refused tracker created its store"
ok

# -v shows the library's debug lines, never the key.
run 0 "$PT" -v record --policy keyfile.ini --storage k2 one.jsonl
lacks "$ERR" "$K2"
lacks "$ERR" '203\.0\.113\.7'
finish
