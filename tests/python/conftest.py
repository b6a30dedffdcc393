"""Shared fixtures of the Python binding's tests (ctest label "python").

ctest runs them with Debian's /usr/bin/python3 -m pytest, with
PRIVTRACK_LIBRARY set to the build's libprivtrack, PYTHONPATH to
bindings/python and PRIVTRACK_CLI to the build's privtrack command
(tests/python/python.cmake).  Run by hand from a dev build:

    PRIVTRACK_LIBRARY=build-dev/lib/libprivtrack.so.0 \
    PRIVTRACK_CLI=build-dev/cli/privtrack PYTHONPATH=bindings/python \
    /usr/bin/python3 -m pytest -p no:cacheprovider tests/python
"""

import datetime
import faulthandler
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "bindings", "python"))

import privtrack  # noqa: E402

UA_FIREFOX = ("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
              "Firefox/121.0")


def cli_path():
    path = os.environ.get("PRIVTRACK_CLI")
    if not path:
        for build in ("build-dev", "build"):
            candidate = os.path.join(ROOT, build, "cli", "privtrack")
            if os.path.exists(candidate):
                return candidate
        pytest.fail("PRIVTRACK_CLI is not set and no build has the command")
    return path


def run_cli(*args, **kwargs):
    """Run the privtrack command; its stdout (exit status checked)."""
    proc = subprocess.run([cli_path(), *args], capture_output=True, text=True,
                          **kwargs)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def cli_json(*args, **kwargs):
    return json.loads(run_cli(*args, **kwargs))


def today():
    """Today's UTC date: records of older dates may have expired (ttl)."""
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def at_hour(hour, minute=0, second=0, microsecond=0):
    """A time of today (UTC)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(hour=hour, minute=minute, second=second,
                       microsecond=microsecond)


def store_lines(store):
    """Every record line of a file store, parsed."""
    out = []
    for name in sorted(os.listdir(store)):
        if name.endswith(".jsonl"):
            with open(os.path.join(store, name)) as f:
                out.extend(json.loads(line) for line in f if line.strip())
    return out


@pytest.fixture
def store(tmp_path):
    return str(tmp_path / "store")


@pytest.fixture
def policy_file(tmp_path):
    """policy_file(text, name="policy.ini") -> path of a policy file."""
    def make(text, name="policy.ini"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return make


@pytest.fixture
def keep_policy(policy_file, store):
    """Addresses, user agents and links kept as given: what goes in is
    what is stored, so that marshalling can be checked exactly."""
    return privtrack.Policy(policy_file(
        "[storage]\npath = %s\n[ip]\nmode = keep\n[fields]\n"
        "user_agent = keep\nlinks = keep\n" % store, "keep.ini"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "time_limit(seconds): this test's own limit (default "
        "%d s)" % DEFAULT_TIME_LIMIT)


DEFAULT_TIME_LIMIT = 300


@pytest.fixture(autouse=True)
def _time_limit(request):
    """A test still running after its limit (the time_limit mark, else
    DEFAULT_TIME_LIMIT seconds) prints every thread's traceback and ends
    the run with status 1: a hang fails with the place it hangs, long
    before ctest's TIMEOUT."""
    mark = request.node.get_closest_marker("time_limit")
    faulthandler.dump_traceback_later(
        mark.args[0] if mark else DEFAULT_TIME_LIMIT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch):
    # A developer's own policy or key must not leak into the tests.
    for name in ("PRIVTRACK_POLICY", "PRIVTRACK_IP_KEY",
                 "DYNAMODB_TABLE_NAME"):
        monkeypatch.delenv(name, raising=False)
