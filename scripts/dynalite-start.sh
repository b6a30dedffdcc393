#!/usr/bin/env bash
# Start dynalite (the pinned version in tests/package.json) in memory on a
# free loopback port.  Usage: scripts/dynalite-start.sh STATE_DIR
# Prints DYNALITE_PORT=<port> and DYNALITE_PID=<pid>, and writes them to
# STATE_DIR/port and STATE_DIR/pid for scripts/dynalite-stop.sh.
# Fails (never skips) when node, npm or dynalite cannot be had.
set -euo pipefail

state_dir=${1:?usage: dynalite-start.sh STATE_DIR}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$state_dir"

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "dynalite-start: '$tool' is not installed (Debian: apt-get install nodejs npm)" >&2
        exit 1
    fi
done

# Install exactly what the lockfile says, once.  A lock protects against two
# tests installing at the same time.
if [ ! -f "$root/tests/node_modules/dynalite/package.json" ]; then
    (
        flock 9
        if [ ! -f "$root/tests/node_modules/dynalite/package.json" ]; then
            echo "dynalite-start: npm ci --prefix tests" >&2
            npm ci --prefix "$root/tests" --no-audit --no-fund >&2
        fi
    ) 9>"${TMPDIR:-/tmp}/privtrack-npm-$(printf %s "$root" | md5sum | cut -c1-12).lock"
fi
if [ ! -f "$root/tests/node_modules/dynalite/package.json" ]; then
    echo "dynalite-start: dynalite is missing after npm ci" >&2
    exit 1
fi

# Port 0 lets the kernel pick a free port; the server reports it.
log="$state_dir/dynalite.log"
: >"$log"
DYNALITE_DIR="$root/tests/node_modules/dynalite" node -e '
const dynalite = require(process.env.DYNALITE_DIR);
const server = dynalite({ createTableMs: 200, deleteTableMs: 50, updateTableMs: 50 });
server.listen(0, "127.0.0.1", () => {
  console.log("PORT " + server.address().port);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
' >"$log" 2>&1 &
pid=$!
echo "$pid" >"$state_dir/pid"

port=""
for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "dynalite-start: dynalite exited:" >&2
        cat "$log" >&2
        exit 1
    fi
    port=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$log")
    if [ -n "$port" ] &&
        curl -s -o /dev/null -m 2 -X POST "http://127.0.0.1:$port/" \
            -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
            -H 'Content-Type: application/x-amz-json-1.0' -d '{}'; then
        break
    fi
    port=""
    sleep 0.1
done
if [ -z "$port" ]; then
    echo "dynalite-start: dynalite did not answer within 20 s" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
fi
echo "$port" >"$state_dir/port"
echo "DYNALITE_PORT=$port"
echo "DYNALITE_PID=$pid"
