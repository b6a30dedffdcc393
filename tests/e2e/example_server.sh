#!/usr/bin/env bash
# Smoke test of examples/microhttpd_server.c (privtrack-httpd): start it on
# an ephemeral loopback port with a temporary policy and store, send visits
# with curl (direct, through trusted proxies, opted out, hostile), stop it
# with SIGTERM, then read the records back with the CLI.
#
#   $1 = privtrack CLI, $2 = source dir, $3 = build dir;
#   PT_EXAMPLE_SERVER = the server binary (set by tests/e2e/example.cmake).
set -euo pipefail

cli=$1
build=$3
server=${PT_EXAMPLE_SERVER:-$build/examples/privtrack-httpd}

work=$(mktemp -d "${TMPDIR:-/tmp}/pt-example-server.XXXXXX")
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
        kill -KILL "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    for f in "$work"/server.out "$work"/server.err; do
        [[ -f $f ]] && { echo "--- $f" >&2; cat "$f" >&2; }
    done
    exit 1
}

# 127.0.0.1 (the peer curl connects from) and 10.0.0.0/8 are trusted
# proxies, so X-Forwarded-For is honoured and its rightmost untrusted
# element is the client.  Truncation to /24 makes the expected client_ip
# predictable; the raw addresses must never be stored.
cat >"$work/policy.ini" <<INI
[policy]
name = example-smoke
[storage]
backend = file
path = $work/store
[ip]
mode = truncate
ipv4_prefix = 24
trusted_proxies = 127.0.0.1/32, 10.0.0.0/8
[optout]
honor_dnt = true
honor_gpc = true
action = drop
[fields]
user_agent = keep
links = keep
INI

"$server" --policy "$work/policy.ini" --port 0 --close-timeout 5000 \
    >"$work/server.out" 2>"$work/server.err" &
server_pid=$!

port=
for _ in $(seq 1 100); do
    port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\)/$|\1|p' \
        "$work/server.out")
    [[ -n $port ]] && break
    kill -0 "$server_pid" 2>/dev/null || fail "server exited before listening"
    sleep 0.1
done
[[ -n $port ]] || fail "server did not print its port"
base="http://127.0.0.1:$port"
date_before=$(date -u +%F)

# Every request must be answered 204 at once.
visit() {
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 5 "$@") ||
        fail "curl $*"
    [[ $code == 204 ]] || fail "status $code for curl $*"
}

# 1. A direct visit: the peer (127.0.0.1) is the client.
visit -A "SmokeAgent/1.0" \
    "$base/?link=https%3A%2F%2Fexample.com%2Fsong%3Fid%3D1&file=Song%20One.m4a"
# 2. Through a trusted proxy: X-Forwarded-For names the client.
visit -A "SmokeAgent/2.0" -H "X-Forwarded-For: 198.51.100.77" \
    "$base/?file=a%2Fb%2FTrack%20Two.mp3&file=Three.ogg&errors=1"
# 3. Two hops; 10.0.0.1 is trusted, so the client is 203.0.113.9.
visit -A "SmokeAgent/3.0" -H "X-Forwarded-For: 203.0.113.9, 10.0.0.1" \
    "$base/download"
# 4. DNT: 1 — dropped, nothing of it stored.
visit -A "SmokeAgent/DNT" -H "DNT: 1" -H "X-Forwarded-For: 192.0.2.55" \
    "$base/?link=https%3A%2F%2Fdnt.example%2F"
# 5. Sec-GPC: 1 — dropped.
visit -A "SmokeAgent/GPC" -H "Sec-GPC: 1" -H "X-Forwarded-For: 192.0.2.66" \
    "$base/"

# 6. Hostile input: invalid UTF-8 in the user agent, an over-long link.
long_path=$(printf 'x%.0s' $(seq 1 3000))
visit -A $'Bad\xffAgent' "$base/?link=https%3A%2F%2Flong.example%2F$long_path"

# 7. A burst of concurrent requests: the server's thread pool calls
# pt_track() from several threads at once; every visit must be stored once.
burst=200
burst_args=()
for i in $(seq 1 "$burst"); do
    burst_args+=(-o /dev/null "$base/?file=burst-$i.mp3")
done
curl -sS --fail --parallel --parallel-max 16 --max-time 20 -A "Burst/1" \
    "${burst_args[@]}" || fail "burst of $burst requests"

kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
server_pid=
[[ $status == 0 ]] || fail "server exited with $status after SIGTERM"

counters=$(grep '^counters:' "$work/server.out") || fail "no counters line"
for want in accepted=$((4 + burst)) stored=$((4 + burst)) dropped_dnt=1 dropped_gpc=1 \
    dropped_queue_full=0 dropped_invalid=0; do
    [[ " $counters " == *" $want "* ]] || fail "counters lack $want: $counters"
done

# Read the records back with the CLI (both dates if the test ran over
# midnight UTC).
date_after=$(date -u +%F)
: >"$work/records.json"
for d in $(printf '%s\n' "$date_before" "$date_after" | sort -u); do
    "$cli" query --date "$d" --limit 0 --json --policy "$work/policy.ini" \
        >"$work/query-$d.json" || fail "privtrack query --date $d"
done
python3 - "$burst" "$work"/query-*.json <<'PY' ||
    fail "records differ from the visits"
import json, sys

burst = int(sys.argv[1])
records = []
for path in sys.argv[2:]:
    with open(path) as f:
        records += json.load(f)
burst_files = sorted(r["filenames"][0] for r in records
                     if r.get("user_agent") == "Burst/1")
records = [r for r in records if r.get("user_agent") != "Burst/1"]
by_agent = {r.get("user_agent"): r for r in records}

def check(cond, what):
    if not cond:
        sys.exit(f"{what}; records: {json.dumps(records, indent=1)}")

check(burst_files == sorted(f"burst-{i}.mp3" for i in range(1, burst + 1)),
      f"burst: {len(burst_files)} records, not each of {burst} once")
check(len(records) == 4, f"expected 4 records, got {len(records)}")
check(set(by_agent) == {"SmokeAgent/1.0", "SmokeAgent/2.0", "SmokeAgent/3.0",
                        "Bad\ufffdAgent"}, "unexpected user agents")

direct = by_agent["SmokeAgent/1.0"]
check(direct["client_ip"] == "127.0.0.0", "peer address not truncated")
check(direct["links"] == ["https://example.com/song?id=1"], "link")
check(direct["num_links_submitted"] == 1, "link count")
check(direct["filenames"] == ["Song One.m4a"], "filename")
check(direct["titles"] == ["Song One"], "title")
check(direct["has_errors"] is False and direct["error_count"] == 0, "errors")

proxied = by_agent["SmokeAgent/2.0"]
check(proxied["client_ip"] == "198.51.100.0", "X-Forwarded-For not used")
check(proxied["filenames"] == ["Track Two.mp3", "Three.ogg"], "base names")
check(proxied["titles"] == ["Track Two", "Three"], "titles")
check(proxied["num_files_downloaded"] == 2, "file count")
check(proxied["has_errors"] is True and proxied["error_count"] == 1,
      "error count")

two_hops = by_agent["SmokeAgent/3.0"]
check(two_hops["client_ip"] == "203.0.113.0", "rightmost untrusted hop")

hostile = by_agent["Bad\ufffdAgent"]
link = hostile["links"][0]
check(link.startswith("https://long.example/xxx") and len(link) <= 2048,
      "over-long link not capped")

for r in records:
    check(r["policy"].startswith("example-smoke"), "policy id")
    check(r["date"] in r["timestamp"], "date and timestamp")
PY

# No raw address, and nothing of the opted-out visits, reached the store.
for needle in 198.51.100.77 203.0.113.9 192.0.2 dnt.example SmokeAgent/DNT \
    SmokeAgent/GPC; do
    if grep -rqF -- "$needle" "$work/store"; then
        fail "'$needle' found in the store"
    fi
done
echo "example_server: ok (port $port)"
