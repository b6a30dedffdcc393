"""privtrack.wsgi.TrackingMiddleware: one visit per request, after the
response, never failing it; ProxyFix and trusted_proxies."""

import os
import socket
import time

import pytest
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client
from werkzeug.wrappers import Response

import privtrack
from privtrack.wsgi import TrackingMiddleware, visit_from_environ
from conftest import UA_FIREFOX, store_lines, today


def get(app, path="/", **kwargs):
    """A request through werkzeug's test client, its response read and
    closed (close() is when the middleware records: PEP 3333 servers call
    it after sending the body)."""
    return Client(app).get(path, buffered=True, **kwargs)


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def keep(store, extra=""):
    return privtrack.Policy.from_text(
        "[storage]\npath = %s\n[ip]\nmode = keep\n%s\n[fields]\n"
        "user_agent = keep\n" % (store, extra), "keep.ini")


def test_one_visit_per_request_after_the_response(store):
    app = TrackingMiddleware(hello, keep(store), synchronous=True)
    assert not os.path.exists(store)  # lazy: nothing opened yet
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/", "wsgi.input": None,
               "REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": UA_FIREFOX,
               "HTTP_DNT": "0"}
    statuses = []
    body = app(environ, lambda status, headers: statuses.append(status))
    assert b"".join(body) == b"hello" and statuses == ["200 OK"]
    assert not os.path.exists(store)  # the body is out, not yet closed
    body.close()
    body.close()  # a second close records nothing more
    records = store_lines(store)
    assert len(records) == 1
    assert records[0]["client_ip"] == "203.0.113.7"
    assert records[0]["user_agent"] == UA_FIREFOX
    app.close()


def test_many_requests_through_a_test_client(store):
    app = TrackingMiddleware(hello, keep(store))
    for i in range(200):
        r = get(app, "/x", environ_base={"REMOTE_ADDR": "10.0.0.%d" % i},
                       headers={"DNT": "1" if i % 4 == 0 else "0"})
        assert r.status_code == 200
    app.tracker.flush(10.0)
    c = app.tracker.counters()
    app.close()
    assert c["accepted"] == 150 and c["dropped"]["dnt"] == 50
    assert len(store_lines(store)) == 150


def test_a_failing_application_is_still_recorded(store):
    def broken(environ, start_response):
        raise RuntimeError("boom")

    app = TrackingMiddleware(broken, keep(store), synchronous=True)
    with pytest.raises(RuntimeError, match="boom"):
        app({"REMOTE_ADDR": "203.0.113.8"}, None)
    app.close()
    assert [r["client_ip"] for r in store_lines(store)] == ["203.0.113.8"]


def test_the_response_iterable_is_closed(store):
    closed = []

    class Body:
        def __iter__(self):
            return iter([b"a", b"b"])

        def close(self):
            closed.append(True)

    def app_with_body(environ, start_response):
        start_response("200 OK", [])
        return Body()

    app = TrackingMiddleware(app_with_body, keep(store), synchronous=True)
    body = app({"REMOTE_ADDR": "203.0.113.9"}, lambda *a: None)
    assert list(body) == [b"a", b"b"]
    body.close()
    app.close()
    assert closed == [True] and len(store_lines(store)) == 1


def test_a_store_that_is_down_does_not_fail_requests(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    policy = privtrack.Policy.from_text(
        "[storage]\npath = %s\n[ip]\nmode = truncate\n" % (blocker / "s"))
    app = TrackingMiddleware(hello, policy,
                             spool_dir=str(tmp_path / "spool"))
    for i in range(100):
        assert get(app, environ_base={
            "REMOTE_ADDR": "203.0.113.%d" % i}).status_code == 200
    app.tracker.flush(10.0)
    c = app.tracker.counters()
    app.close()
    assert c["accepted"] == 100 and c["spooled"] == 100 and c["stored"] == 0


def test_a_store_that_hangs_does_not_slow_requests(tmp_path, monkeypatch):
    """A DynamoDB endpoint that takes connections and never answers: the
    writer waits for it (10 s per attempt), the requests do not; at close
    the visits are spooled, not lost."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL",
                 "AWS_ENDPOINT_URL_DYNAMODB"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes connections; nobody reads
    try:
        policy = privtrack.Policy.from_text(
            "[storage]\nbackend = dynamodb\ntable = visits\n"
            "region = us-east-1\nendpoint = http://127.0.0.1:%d\n"
            "path = %s\n" % (silent.getsockname()[1], tmp_path / "store"))
        spool = tmp_path / "spool"
        app = TrackingMiddleware(hello, policy, spool_dir=str(spool))
        slowest = 0.0
        for i in range(50):
            start = time.monotonic()
            r = get(app, environ_base={"REMOTE_ADDR": "203.0.113.%d" % i})
            slowest = max(slowest, time.monotonic() - start)
            assert r.status_code == 200 and r.data == b"hello"
        # Waiting for the backend even once would take its 10 s timeout.
        assert slowest < 5.0, slowest
        assert app.tracker.counters()["accepted"] == 50
        with pytest.raises(privtrack.TimedOutError):
            app.close(2.0)
    finally:
        silent.close()
    spooled = sum(f.read_text().count("\n") for f in spool.glob("*.log"))
    assert spooled == 50, spooled


def test_a_closed_tracker_does_not_fail_requests(store, caplog):
    app = TrackingMiddleware(hello, keep(store))
    app.close()
    r = get(app, environ_base={"REMOTE_ADDR": "203.0.113.10"})
    assert r.status_code == 200 and r.data == b"hello"
    errors = [rec.getMessage() for rec in caplog.records
              if rec.name == "privtrack"]
    assert any("ClosedError" in m for m in errors), errors
    assert not any("203.0.113.10" in m for m in errors)


def test_a_header_with_a_nul_is_not_recorded_nor_fatal(store, caplog):
    # The binding refuses a NUL (it would cut "1\0..." to "1" for C): the
    # request is served, the visit logged as not recorded, nothing quoted.
    app = TrackingMiddleware(hello, keep(store), synchronous=True)
    r = get(app, environ_base={"REMOTE_ADDR": "203.0.113.11",
                               "HTTP_X_FORWARDED_FOR": "198.51.100.9\x00"})
    assert r.status_code == 200 and r.data == b"hello"
    r = get(app, environ_base={"REMOTE_ADDR": "203.0.113.12"})
    app.close()
    assert [rec["client_ip"] for rec in store_lines(store)] == ["203.0.113.12"]
    errors = [rec.getMessage() for rec in caplog.records
              if rec.name == "privtrack"]
    assert any("ValueError" in m and "NUL" in m for m in errors), errors
    assert not any("203.0.113.11" in m or "198.51" in m for m in errors)


def test_header_names_and_latin1_values():
    remote, headers = visit_from_environ({
        "REMOTE_ADDR": "203.0.113.1", "HTTP_USER_AGENT": "Ünï",
        "HTTP_X_FORWARDED_FOR": "198.51.100.9", "HTTP_SEC_GPC": "1",
        "CONTENT_TYPE": "text/plain", "wsgi.version": (1, 0)})
    assert remote == "203.0.113.1"
    assert dict(headers) == {"USER-AGENT": "Ünï".encode("latin-1"),
                             "X-FORWARDED-FOR": b"198.51.100.9",
                             "SEC-GPC": b"1"}


def test_gpc_and_dnt_headers_from_the_environ_are_honoured(store):
    app = TrackingMiddleware(hello, keep(store))
    get(app, headers={"Sec-GPC": "1"})
    get(app, headers={"DNT": "1"})
    get(app)
    app.tracker.flush()
    c = app.tracker.counters()
    app.close()
    assert (c["dropped"]["gpc"], c["dropped"]["dnt"], c["accepted"]) == \
        (1, 1, 1)


@pytest.mark.parametrize("trusted,expected", [
    ("", "10.1.1.1"),                        # no trusted proxy: the peer
    ("trusted_proxies = 10.1.1.0/24", "198.51.100.77"),
])
@pytest.mark.parametrize("proxy_fix", ["none", "outside", "inside"])
def test_trusted_proxies_decide_not_proxy_fix(store, trusted, expected,
                                              proxy_fix):
    # ProxyFix believes one X-Forwarded-For hop from anyone; privtrack must
    # take the original peer and apply only the policy's trusted_proxies,
    # whether ProxyFix runs before it (outside), after it (inside: it
    # rewrites the same environ) or not at all.
    seen = []

    def app(environ, start_response):
        seen.append(environ["REMOTE_ADDR"])
        return Response("ok")(environ, start_response)

    inner = ProxyFix(app, x_for=1) if proxy_fix == "inside" else app
    tracked = TrackingMiddleware(inner, keep(store, trusted),
                                 synchronous=True)
    wsgi = ProxyFix(tracked, x_for=1) if proxy_fix == "outside" else tracked
    r = get(wsgi, environ_base={"REMOTE_ADDR": "10.1.1.1"},
            headers={"X-Forwarded-For": "198.51.100.77"})
    assert r.status_code == 200
    tracked.close()
    # ProxyFix did rewrite what the application sees...
    assert seen == ["10.1.1.1" if proxy_fix == "none" else "198.51.100.77"]
    # ...but the record follows the policy alone.
    assert [rec["client_ip"] for rec in store_lines(store)] == [expected]


def test_a_bad_policy_fails_at_construction(tmp_path):
    bad = tmp_path / "bad.ini"
    bad.write_text("[ip]\nmode = maybe\n")
    with pytest.raises(privtrack.PolicyError) as e:
        TrackingMiddleware(hello, str(bad))
    assert e.value.line == 2


def test_records_hold_todays_date(store):
    app = TrackingMiddleware(hello, keep(store), synchronous=True)
    get(app)
    app.close()
    assert store_lines(store)[0]["date"] == today()
