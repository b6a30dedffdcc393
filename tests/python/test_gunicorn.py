"""A real gunicorn, 4 pre-forked sync workers on a free loopback port: 2,000
requests, SIGTERM, exactly 2,000 records — none lost at worker shutdown."""

import http.client
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from conftest import store_lines

HERE = os.path.dirname(os.path.abspath(__file__))
REQUESTS = 2000
WORKERS = 4


def start_gunicorn(tmp_path, env):
    log = open(tmp_path / "gunicorn.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", str(WORKERS),
         "-b", "127.0.0.1:0",  # the kernel picks a free port
         "--chdir", HERE, "--graceful-timeout", "60", "--log-level", "info",
         "gunicorn_app:app"],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 60
    port = None
    booted = set()
    while time.monotonic() < deadline:
        text = (tmp_path / "gunicorn.log").read_text()
        m = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", text)
        port = int(m.group(1)) if m else None
        booted = set(re.findall(r"Booting worker with pid: (\d+)", text))
        if port and len(booted) == WORKERS:
            return proc, port, log
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise AssertionError("gunicorn did not start:\n" +
                         (tmp_path / "gunicorn.log").read_text())


def test_4_workers_2000_requests_2000_records(tmp_path):
    store = tmp_path / "store"
    policy = tmp_path / "policy.ini"
    policy.write_text("[storage]\npath = %s\n" % store)
    env = dict(os.environ, PRIVTRACK_POLICY=str(policy))
    # The test's own Python path first: gunicorn_app imports privtrack.
    env["PYTHONPATH"] = os.pathsep.join(
        [p for p in (env.get("PYTHONPATH"), HERE) if p])
    proc, port, log = start_gunicorn(tmp_path, env)
    pids = []
    local = threading.local()

    def request(n):
        conn = getattr(local, "conn", None)
        for attempt in range(3):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", port,
                                                      timeout=30)
                conn.request("GET", "/visit?n=%d" % n)
                resp = conn.getresponse()
                body = resp.read()
                if resp.will_close:
                    conn.close()
                    conn = None
                local.conn = conn
                assert resp.status == 200, (resp.status, body)
                return int(body)
            except (ConnectionError, http.client.HTTPException):
                conn = None
                if attempt == 2:
                    raise
        return None

    try:
        with ThreadPoolExecutor(8) as pool:
            pids = list(pool.map(request, range(REQUESTS)))
        # The workers hold their records (a minute's batch delay): what
        # is on disk now is not all of them.
        before = len(store_lines(store)) if store.exists() else 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
        log.close()
    output = (tmp_path / "gunicorn.log").read_text()
    assert proc.returncode == 0, output
    assert len(pids) == REQUESTS and len(set(pids)) == WORKERS, set(pids)
    assert before < REQUESTS, "records were written before the workers exited"
    records = store_lines(store)
    assert len(records) == REQUESTS, output
    assert sorted(int(r["filenames"][0][:-4]) for r in records) == \
        list(range(REQUESTS))
    assert "Traceback" not in output
