#!/usr/bin/env bash
# Run the dynalite kill/restart test: DRIVER gets a persistent dynalite on a
# free loopback port and kills/restarts it through dynalite_ctl.sh.
# Usage: dynamodb_restart.sh STATE_DIR DRIVER
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
state_dir=${1:?usage: dynamodb_restart.sh STATE_DIR DRIVER}
driver=${2:?usage: dynamodb_restart.sh STATE_DIR DRIVER}
rm -rf "$state_dir"
mkdir -p "$state_dir"
trap '"$here/dynalite_ctl.sh" stop "$state_dir"; rm -rf "$state_dir/db" "$state_dir/var"' EXIT
"$here/dynalite_ctl.sh" start "$state_dir"
export PT_DYNALITE_CTL="$here/dynalite_ctl.sh" PT_DYNALITE_STATE="$state_dir"
export PT_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$(cat "$state_dir/port")"
export AWS_ACCESS_KEY_ID=fake AWS_SECRET_ACCESS_KEY=fakesecret
export AWS_REGION=eu-west-3 AWS_DEFAULT_REGION=eu-west-3
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_DYNAMODB
export AWS_CONFIG_FILE="$state_dir/aws-config" AWS_SHARED_CREDENTIALS_FILE="$state_dir/aws-credentials"
"$driver"
