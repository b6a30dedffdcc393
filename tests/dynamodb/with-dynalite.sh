#!/usr/bin/env bash
# Run a command against a fresh in-memory dynalite on a free loopback port.
# Usage: with-dynalite.sh STATE_DIR COMMAND [ARGS...]
# Exports PT_TEST_DYNAMODB_ENDPOINT, AWS_ENDPOINT_URL_DYNAMODB, fake
# credentials and a region; stops dynalite however the command ends.
# Never skips: a missing node/npm/dynalite is a failure.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
state_dir=${1:?usage: with-dynalite.sh STATE_DIR COMMAND...}
shift
rm -rf "$state_dir"
mkdir -p "$state_dir"
trap '"$root/scripts/dynalite-stop.sh" "$state_dir"' EXIT
"$root/scripts/dynalite-start.sh" "$state_dir" >"$state_dir/start.out"
port=$(cat "$state_dir/port")
export PT_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL_DYNAMODB="$PT_TEST_DYNAMODB_ENDPOINT"
export AWS_ACCESS_KEY_ID=fake AWS_SECRET_ACCESS_KEY=fakesecret
export AWS_REGION=eu-west-3 AWS_DEFAULT_REGION=eu-west-3
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL
export AWS_CONFIG_FILE="$state_dir/aws-config" AWS_SHARED_CREDENTIALS_FILE="$state_dir/aws-credentials"
"$@"
