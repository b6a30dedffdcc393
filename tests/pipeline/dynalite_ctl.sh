#!/usr/bin/env bash
# Start, kill and stop a dynalite whose tables persist on disk (LevelDB under
# STATE_DIR/db), so that a restart on the same port finds what was written
# before the kill — the in-memory server of scripts/dynalite-start.sh would
# forget it.  Loopback only.
#   dynalite_ctl.sh start STATE_DIR [PORT]   (PORT 0 or absent: a free one)
#   dynalite_ctl.sh kill  STATE_DIR          (SIGKILL, as a crash)
#   dynalite_ctl.sh stop  STATE_DIR
# start writes STATE_DIR/pid and STATE_DIR/port.
set -euo pipefail
cmd=${1:?usage: dynalite_ctl.sh start|kill|stop STATE_DIR [PORT]}
state_dir=${2:?usage: dynalite_ctl.sh start|kill|stop STATE_DIR [PORT]}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
mkdir -p "$state_dir"

stop_pid() {
    local signal=$1
    [ -f "$state_dir/pid" ] || return 0
    local pid
    pid=$(cat "$state_dir/pid")
    kill "-$signal" "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$state_dir/pid"
}

case $cmd in
kill) stop_pid KILL; exit 0 ;;
stop) stop_pid TERM; rm -f "$state_dir/port"; exit 0 ;;
start) ;;
*) echo "dynalite_ctl: unknown command $cmd" >&2; exit 1 ;;
esac

port=${3:-0}
if [ ! -f "$root/tests/node_modules/dynalite/package.json" ]; then
    # Installs the pinned dynalite (npm ci) exactly as the other tests do.
    "$root/scripts/dynalite-start.sh" "$state_dir/install" >/dev/null
    "$root/scripts/dynalite-stop.sh" "$state_dir/install"
fi
log="$state_dir/dynalite.log"
: >"$log"
DYNALITE_DIR="$root/tests/node_modules/dynalite" DB_PATH="$state_dir/db" \
PORT="$port" node -e '
const dynalite = require(process.env.DYNALITE_DIR);
const server = dynalite({ path: process.env.DB_PATH, createTableMs: 200,
                          deleteTableMs: 50, updateTableMs: 50 });
server.listen(Number(process.env.PORT), "127.0.0.1", () => {
  console.log("PORT " + server.address().port);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
' >>"$log" 2>&1 &
pid=$!
echo "$pid" >"$state_dir/pid"
for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "dynalite_ctl: dynalite exited:" >&2
        cat "$log" >&2
        exit 1
    fi
    got=$(sed -n 's/^PORT \([0-9]*\)$/\1/p' "$log")
    if [ -n "$got" ] &&
        curl -s -o /dev/null -m 2 -X POST "http://127.0.0.1:$got/" \
            -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
            -H 'Content-Type: application/x-amz-json-1.0' -d '{}'; then
        echo "$got" >"$state_dir/port"
        exit 0
    fi
    sleep 0.1
done
echo "dynalite_ctl: dynalite did not answer within 20 s" >&2
stop_pid KILL
exit 1
