"""Threads, the GIL and fork(): one tracker shared by a process's threads,
the GIL released during library calls, a fresh tracker in a forked child."""

import collections
import ctypes
import datetime
import json
import logging
import os
import signal
import socket
import threading
import time

import pytest

import privtrack
from privtrack import _native
from conftest import store_lines

# Each test takes seconds (the 80,000 visits up to ~25 s on a loaded
# machine): a hang fails here within a minute and a half, with tracebacks.
pytestmark = pytest.mark.time_limit(90)


def test_8_threads_x_10000_visits_on_one_tracker(policy_file, store):
    policy = privtrack.Policy(policy_file(
        "[storage]\npath = %s\n[ip]\nmode = truncate\n" % store))
    threads, per_thread = 8, 10000
    # block_us: a full queue waits for the writer instead of dropping, so
    # every visit must arrive, however slow the machine is.
    tracker = privtrack.Tracker(policy, block_us=2000000)
    sessions = [[] for _ in range(threads)]
    start = threading.Barrier(threads)

    def work(n):
        start.wait()
        out = sessions[n]
        for i in range(per_thread):
            r = tracker.track(remote_addr="10.%d.%d.%d" % (n, i >> 8, i & 255),
                              filenames=["t%d-%d.m4a" % (n, i)])
            out.append(r.session_id)

    workers = [threading.Thread(target=work, args=(n,))
               for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    tracker.flush(60.0)
    c = tracker.counters()
    tracker.close()
    total = threads * per_thread
    assert c["accepted"] == total and c["stored"] == total
    assert sum(c["dropped"].values()) == 0
    ids = [s for out in sessions for s in out]
    # Session ids are the seed's "<seconds>-<8 hex>": 32 random bits, so
    # 80,000 in one second may repeat one by chance; the file names are
    # what tells the visits apart.
    assert len(ids) == total and None not in ids
    records = store_lines(store)
    assert len(records) == total
    assert {r["session_id"] for r in records} == set(ids)
    # Every thread's every visit, with its own facts.
    assert sorted(r["filenames"][0] for r in records) == sorted(
        "t%d-%d.m4a" % (n, i) for n in range(threads)
        for i in range(per_thread))


def test_library_is_loaded_with_cdll_not_pydll():
    # CDLL releases the GIL around every foreign call; PyDLL would not.
    assert type(_native.lib) is ctypes.CDLL
    assert not _native.lib._func_flags_ & ctypes._FUNCFLAG_PYTHONAPI
    # track()'s own prototype of pt_track_packed (CFUNCTYPE) too.
    from privtrack.tracker import _pt_track_packed
    assert not _pt_track_packed._flags_ & ctypes._FUNCFLAG_PYTHONAPI


@pytest.fixture
def stuck_dynamodb(monkeypatch, tmp_path):
    """A policy whose DynamoDB endpoint accepts connections and never
    answers: the tracker's writer blocks in the backend."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    policy = privtrack.Policy.from_text(
        "[storage]\nbackend = dynamodb\nendpoint = http://127.0.0.1:%d\n"
        "path = %s\n" % (server.getsockname()[1], tmp_path / "store"),
        "stuck.ini")
    yield policy
    server.close()


class Spinner:
    """A Python thread noting the time every millisecond, spinning in
    between: it advances only while no other thread holds the GIL."""

    def __init__(self):
        self.ticks = collections.deque(maxlen=100000)
        self._stop = False
        self._thread = threading.Thread(target=self._spin)
        self._thread.start()

    def _spin(self):
        clock, tick = time.monotonic, self.ticks.append
        last = 0.0
        while not self._stop:
            now = clock()
            if now - last >= 0.001:
                tick(now)
                last = now

    def during(self, call):
        """(seconds, ticks in the middle of the call, outcome): the ticks
        more than 100 ms from either end, so that the GIL hand-overs around
        the call do not count."""
        t0 = time.monotonic()
        try:
            outcome = call()
        except privtrack.Error as exc:
            outcome = exc
        t1 = time.monotonic()
        middle = sum(1 for t in list(self.ticks) if t0 + 0.1 < t < t1 - 0.1)
        return t1 - t0, middle, outcome

    def stop(self):
        self._stop = True
        self._thread.join()


def test_the_spinner_sees_a_call_that_holds_the_gil():
    # The control: the same measure, around a call made with PyDLL (GIL
    # held) and with CDLL (GIL released).
    held_sleep = ctypes.PyDLL(None).usleep
    released_sleep = ctypes.CDLL(None).usleep
    spinner = Spinner()
    try:
        held = spinner.during(lambda: held_sleep(500000))
        released = spinner.during(lambda: released_sleep(500000))
    finally:
        spinner.stop()
    # Held: no tick at all is possible; released: at least one, however
    # busy the machine (it usually ticks every millisecond).
    assert held[1] == 0 and released[1] >= 1, (held, released)


def test_the_gil_is_released_while_the_library_blocks(stuck_dynamodb):
    # The writer is stuck in the backend; with a queue of 2, a track() call
    # blocks in pt_track() for block_us, and flush() for its timeout.  Had
    # the GIL been held, the spinner could not tick during those calls.
    tracker = privtrack.Tracker(stuck_dynamodb, queue_capacity=2,
                                batch_size=1, block_us=500000)
    spinner = Spinner()
    try:
        blocked = None
        for _ in range(20):
            seconds, ticks, outcome = spinner.during(
                lambda: tracker.track(remote_addr="198.51.100.1"))
            if seconds >= 0.45:
                blocked = (seconds, ticks, outcome)
                break
        assert blocked, "no track() call blocked on the full queue"
        assert blocked[2].dropped == "queue_full"
        assert blocked[1] >= 1, blocked
        seconds, ticks, outcome = spinner.during(lambda: tracker.flush(0.5))
        assert isinstance(outcome, privtrack.TimedOutError), outcome
        assert seconds >= 0.45 and ticks >= 1, (seconds, ticks)
    finally:
        spinner.stop()
        with pytest.raises(privtrack.TimedOutError):
            tracker.close(0.3)


CHILD_LIMIT = 30  # seconds: a forked child's few calls take milliseconds


def _wait_child(pid):
    """The exit status of the forked child `pid`.  A child still running
    after CHILD_LIMIT seconds hangs: it is killed and the test fails."""
    deadline = time.monotonic() + CHILD_LIMIT
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            pytest.fail("the forked child still ran after %d s: it hangs" %
                        CHILD_LIMIT)
        time.sleep(0.01)


def _child(body):
    """Run body() in a forked child; its exit status (0 = it returned
    True)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if body() else 3
        finally:
            os._exit(code)
    return _wait_child(pid)


def test_a_forked_child_opens_its_own_tracker(keep_policy, store):
    tracker = privtrack.Tracker(keep_policy)
    tracker.track(remote_addr="203.0.113.1")
    tracker.flush()

    def child():
        # The parent's tracker is unusable here (the library says
        # PT_ECLOSED); the binding opens a new one on first use.
        for i in range(50):
            assert tracker.track(remote_addr="203.0.113.2").stored
        c = tracker.counters()
        tracker.close()  # os._exit skips atexit: close by hand
        return c["accepted"] == 50  # this process's tracker only

    assert _child(child) == 0
    assert _child(child) == 0
    tracker.track(remote_addr="203.0.113.3")  # the parent's still works
    assert tracker.counters()["accepted"] == 2
    tracker.close()
    addresses = [r["client_ip"] for r in store_lines(store)]
    assert sorted(addresses) == sorted(
        ["203.0.113.1", "203.0.113.3"] + ["203.0.113.2"] * 100)


def test_a_fork_that_skips_pythons_hooks_is_detected(keep_policy, store):
    # libc's fork() directly: no os.register_at_fork hooks run.  The
    # library's own pthread_atfork detection makes the inherited handle
    # answer PT_ECLOSED, and the binding then opens a tracker in the child.
    # PyDLL: the GIL stays held across fork(), as os.fork() holds it.
    libc = ctypes.PyDLL(None)
    tracker = privtrack.Tracker(keep_policy)
    inherited = tracker._state.handle

    pid = libc.fork()
    if pid == 0:
        code = 1
        try:
            rc = _native.lib.pt_tracker_flush(inherited, 0)
            ok = rc == -18  # PT_ECLOSED
            ok = ok and tracker.track(remote_addr="203.0.113.4").stored
            tracker.close()
            code = 0 if ok else 3
        finally:
            os._exit(code)
    assert _wait_child(pid) == 0
    tracker.close()
    assert [r["client_ip"] for r in store_lines(store)] == ["203.0.113.4"]


def test_a_fork_while_another_thread_logs(keep_policy, store):
    # A library log line is being delivered (by another thread, waiting in
    # a logging handler, with the library's log lock held) when os.fork()
    # runs: the child must still open its own tracker, which sets the log
    # callback.  In CI the abandoned writer of the stuck-DynamoDB test
    # logged while the next test forked, and the child hung in
    # pt_set_log().  Here the line is a query's warning about a torn line.
    tracker = privtrack.Tracker(keep_policy)
    tracker.track(remote_addr="203.0.113.6")
    tracker.flush()
    day = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    with open(os.path.join(store, day + ".jsonl"), "a") as f:
        f.write("{torn\n")
    inside, release = threading.Event(), threading.Event()

    class Holding(logging.Handler):
        def emit(self, record):
            if not inside.is_set():
                inside.set()
                release.wait(2 * CHILD_LIMIT)

    handler = Holding(logging.WARNING)
    logger = logging.getLogger("privtrack")
    logger.addHandler(handler)
    querying = threading.Thread(target=tracker.query, args=(day,))
    try:
        querying.start()
        assert inside.wait(30), "the query logged no warning"

        def child():
            assert tracker.track(remote_addr="203.0.113.7").stored
            tracker.close()
            return True

        status = _child(child)
    finally:
        release.set()
        querying.join()
        logger.removeHandler(handler)
    assert status == 0
    tracker.close()
    with open(os.path.join(store, day + ".jsonl")) as f:
        stored = [json.loads(line)["client_ip"] for line in f
                  if line != "{torn\n"]
    assert sorted(stored) == ["203.0.113.6", "203.0.113.7"]


def test_close_waits_for_calls_in_flight(keep_policy, store):
    # Threads track while another closes: every call either completes
    # (and its record is stored) or raises ClosedError — never a crash.
    tracker = privtrack.Tracker(keep_policy)
    accepted = []
    closed_errors = []

    def work():
        for _ in range(5000):
            try:
                if tracker.track(remote_addr="203.0.113.5").stored:
                    accepted.append(1)
            except privtrack.ClosedError:
                closed_errors.append(1)
                return

    workers = [threading.Thread(target=work) for _ in range(4)]
    for w in workers:
        w.start()
    time.sleep(0.05)
    tracker.close()
    for w in workers:
        w.join()
    assert len(store_lines(store)) == len(accepted)
    assert len(accepted) + len(closed_errors) > 0
