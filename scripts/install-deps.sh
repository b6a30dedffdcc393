#!/usr/bin/env bash
# Install the Debian 12 packages privtrack needs to build, test and run its
# demo — only those that are missing, so a warm machine never touches the
# network.  Run as root (or with sudo available).
#
#   scripts/install-deps.sh            install what is missing
#   scripts/install-deps.sh --check    only list what is missing (exit 1 if any)
set -euo pipefail

packages=(
    build-essential cmake pkg-config
    libsodium-dev libcurl4-openssl-dev libssl-dev libcjson-dev libinih-dev
    libcmocka-dev libmicrohttpd-dev
    nodejs npm awscli python3-boto3
    python3-pip python3-setuptools python3-venv python3-flask python3-pytest
    gunicorn
    clang libclang-rt-dev
    chromium fonts-dejavu-core
    faketime
)

installed() {
    # Tools that may come from elsewhere than Debian's package of that name
    # (e.g. a nodejs build that bundles npm and conflicts with Debian's npm
    # package) count as present when they work.  Not so the AWS CLI: the
    # tests run /usr/bin/aws (Debian's awscli, on /usr/bin/python3), so an
    # `aws` elsewhere on PATH (a pyenv shim, a pip install) does not count;
    # what counts is exactly what tests/dynamodb/compat.sh runs.
    case "$1" in
    nodejs) command -v node >/dev/null && return 0 ;;
    npm) command -v npm >/dev/null && return 0 ;;
    awscli)
        /usr/bin/aws --version >/dev/null 2>&1 || return 1
        ;;
    python3-boto3) /usr/bin/python3 -c 'import boto3' 2>/dev/null && return 0 ;;
    esac
    # "install ok installed" only: a removed package whose configuration
    # files remain is reported by `dpkg -s` too, but is not usable.
    [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi
if [ "${1:-}" = "--check" ]; then
    echo "install-deps: missing: ${missing[*]}"
    exit 1
fi

echo "install-deps: installing: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || {
        echo "install-deps: not root and no sudo; install: ${missing[*]}" >&2
        exit 1
    }
    sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
for p in "${missing[@]}"; do
    installed "$p" || { echo "install-deps: $p failed to install" >&2; exit 1; }
done
echo "install-deps: done"
