#!/usr/bin/env bash
# Stop the dynalite started by scripts/dynalite-start.sh STATE_DIR.
set -euo pipefail
state_dir=${1:?usage: dynalite-stop.sh STATE_DIR}
[ -f "$state_dir/pid" ] || exit 0
pid=$(cat "$state_dir/pid")
if kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
fi
rm -f "$state_dir/pid" "$state_dir/port"
