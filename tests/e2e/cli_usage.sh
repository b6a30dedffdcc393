# --help on every command; exit 1 for usage and configuration errors, 2 for
# runtime failures; every error is one line that says what and where.
source "$(dirname "$0")/lib.sh" "$@"

commands=(record query stats export purge init-storage policy spool keys version)

# ---- help --------------------------------------------------------------------
run 0 "$PT" --help
for c in "${commands[@]}"; do
    contains "$OUT" "^  $c " "privtrack --help does not list $c"
done
run 0 "$PT" help
for c in "${commands[@]}"; do
    run 0 "$PT" "$c" --help
    contains "$OUT" "^Usage: privtrack $c" "$c --help"
    [ ! -s "$ERR" ] || fail "$c --help wrote to stderr"
    ok
    run 0 "$PT" "$c" -h
done
[ ! -e var ] || fail "--help created the store"
ok

# ---- version -------------------------------------------------------------------
run 0 "$PT" version
contains "$OUT" '^privtrack [0-9]+\.[0-9]+\.[0-9]+$'
v="$(cat "$OUT")"
run 0 "$PT" --version
[ "$(cat "$OUT")" = "$v" ] || fail "--version differs from version"
ok
grep -q "PT_VERSION_STRING \"${v#privtrack }\"" "$SRC/include/privtrack.h" || fail "version is not the header's"
ok

# ---- exit 1: usage ---------------------------------------------------------------
one_line_error() { # the error itself is one line, maybe followed by "Try ..."
    [ "$(grep -vc '^Try ' "$ERR")" = 1 ] || fail "expected one error line: $(cat "$ERR")"
    ok
}
run 1 "$PT"
run 1 "$PT" frobnicate
contains "$ERR" "unknown command 'frobnicate'"
one_line_error
run 1 "$PT" --no-such-option
one_line_error
run 1 "$PT" record --no-such-option
contains "$ERR" "record: unknown option '--no-such-option'"
one_line_error
run 1 "$PT" record --policy
contains "$ERR" "needs a value"
run 1 "$PT" record a.jsonl b.jsonl
# No date: today (as the seed's query_visits.py); a bad range is refused.
run 0 "$PT" query
contains "$OUT" "no records for $(date -u +%F)"
run 1 "$PT" query --from 2025-01-16 --to 2025-01-15
contains "$ERR" 'query: the range 2025-01-16\.\.2025-01-15 is reversed'
one_line_error
for bad in 2025-13-01 2025-02-30 25-01-01 2025-1-1 yesterday "2025-01-15 "; do
    run 1 "$PT" query --date "$bad"
    contains "$ERR" 'is not a date'
done
run 1 "$PT" query --date 2025-01-15 --limit ten
run 1 "$PT" query --date 2025-01-15 --limit -1
run 1 "$PT" stats --date 2025-01-15 --limit 5
run 1 "$PT" export --date 2025-01-15 --json
run 0 "$PT" stats
run 1 "$PT" export --date 2025-01-15 extra
run 1 "$PT" purge extra
run 1 "$PT" spool
run 1 "$PT" spool sideways
run 1 "$PT" spool replay --timeout soon
run 1 "$PT" keys
run 1 "$PT" keys sideways
run 1 "$PT" keys destroy
contains "$ERR" 'keys destroy: --before YYYY-MM-DD is required'
one_line_error
run 1 "$PT" keys destroy --before 2025-02-30
run 1 "$PT" keys status --yes
run 1 "$PT" keys status extra
run 1 "$PT" version extra
run 1 "$PT" record --policy does-not-exist.ini /dev/null
contains "$ERR" 'does-not-exist\.ini'
one_line_error
[ ! -e var ] || fail "a usage error created the store"
ok

# ---- exit 2: runtime failures -------------------------------------------------------
run 2 "$PT" record no-such-input.jsonl
contains "$ERR" 'no-such-input\.jsonl'
one_line_error
run 2 "$PT" export --date 2025-01-15 --output no/such/dir/out.json
contains "$ERR" 'no/such/dir/out\.json'
one_line_error

# A store path that cannot be a directory: the write fails at run time.
D="$(days_ago 1)"
echo '{"remote_addr": "198.51.100.1", "time": "'"$D"'T08:00:00Z"}' >one.jsonl
echo "not a directory" >blocker
write_policy blocked.ini '[storage]' 'path = ./blocker/var'
run 2 "$PT" record --policy blocked.ini one.jsonl
contains "$ERR" 'blocker'
# Without a key to create (ip mode = truncate) the tracker opens, and it is
# the write that fails: still exit 2, and the summary says what happened.
write_policy blocked2.ini '[storage]' 'path = ./blocker/var' '[ip]' 'mode = truncate'
run 2 "$PT" record --policy blocked2.ini one.jsonl
contains "$ERR" '^privtrack: record: read 1, stored 0'
run 2 "$PT" init-storage --policy blocked.ini
contains "$ERR" 'blocker'

finish
