"""privtrack.flask: the extension, track() in a view, the example app, and
the taint scan over what 1,000 requests left in the store."""

import importlib.util
import ipaddress
import logging
import os
import subprocess
import sys
from urllib.parse import urlsplit

import flask
import pytest
from werkzeug.middleware.proxy_fix import ProxyFix

import privtrack
from privtrack.flask import Privtrack, track, tracker
from conftest import ROOT, UA_FIREFOX, store_lines, today

TAINT_SCAN = os.path.join(ROOT, "tests", "e2e", "taint_scan.py")


def make_app(every_request=False, **config):
    app = flask.Flask("privtrack-test")
    app.config.update(config)
    app.config["PRIVTRACK_EVERY_REQUEST"] = every_request

    @app.route("/download", methods=["POST"])
    def download():
        links = flask.request.form.getlist("link")
        files = [urlsplit(l).path.rsplit("/", 1)[-1] + ".m4a"
                 for l in links if "fail" not in l]
        result = track(links=links, filenames=files,
                       errors=len(links) - len(files))
        return {"stored": result.stored, "dropped": result.dropped}

    @app.get("/page")
    def page():
        return "page"

    @app.get("/crash")
    def crash():
        raise RuntimeError("view failed")

    return app


def addresses(n):
    """n distinct raw addresses: IPv4, IPv6 and IPv4-mapped IPv6."""
    out = []
    for i in range(n):
        kind = i % 3
        if kind == 0:
            out.append("198.51.%d.%d" % (i // 250, i % 250 + 1))
        elif kind == 1:
            out.append(str(ipaddress.IPv6Address(
                "2001:db8:%x::%x" % (i, i + 1))))
        else:
            out.append("::ffff:203.0.%d.%d" % (i // 250, i % 250 + 1))
    return out


def test_1000_requests_1000_records_and_no_raw_address_on_disk(tmp_path):
    store = str(tmp_path / "store")
    app = make_app(PRIVTRACK_STORAGE=store)
    Privtrack(app)
    client = app.test_client()
    raw = addresses(1000)
    for i, ip in enumerate(raw):
        # Every fourth request also claims a client in X-Forwarded-For
        # (not believed: no trusted proxy in the default policy).
        headers = {"User-Agent": UA_FIREFOX}
        if i % 4 == 0:
            headers["X-Forwarded-For"] = raw[(i + 1) % len(raw)]
        r = client.post("/download", environ_base={"REMOTE_ADDR": ip},
                        headers=headers,
                        data={"link": ["https://music.example/s%d?u=%s" %
                                       (i, ip), "https://x.example/fail"]})
        assert r.status_code == 200 and r.json == {"stored": True,
                                                   "dropped": None}
    t = tracker(app)
    t.flush(30.0)
    counters = t.counters()
    t.close()
    assert counters["accepted"] == 1000 and counters["stored"] == 1000
    records = store_lines(store)
    assert len(records) == 1000
    assert all(r["policy"].startswith("default-") for r in records)
    assert all(r["user_agent"] == "Firefox/Linux" for r in records)
    assert all(r["error_count"] == 1 and r["num_files_downloaded"] == 1
               for r in records)
    assert all("?" not in link for r in records for link in r["links"])
    # The taint scan: no raw address, in any form, anywhere in the store.
    listed = tmp_path / "addresses.txt"
    listed.write_text("\n".join(raw) + "\n")
    scan = subprocess.run([sys.executable, TAINT_SCAN, str(listed), store],
                          capture_output=True, text=True)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    # The scanner's positive control: it does find a planted address.
    planted = tmp_path / "planted"
    planted.mkdir()
    (planted / "leak.jsonl").write_text('{"client_ip":"%s"}\n' % raw[1])
    scan = subprocess.run([sys.executable, TAINT_SCAN, str(listed),
                           str(planted)], capture_output=True, text=True)
    assert scan.returncode == 1, scan.stdout + scan.stderr


def test_init_app_serves_several_applications(tmp_path):
    ext = Privtrack(synchronous=True)
    apps = []
    for name in ("one", "two"):
        app = make_app(PRIVTRACK_STORAGE=str(tmp_path / name))
        ext.init_app(app)
        apps.append(app)
    apps[0].test_client().post("/download", data={"link": "https://a/x"})
    for _ in range(2):
        apps[1].test_client().post("/download", data={"link": "https://b/y"})
    assert tracker(apps[0]) is not tracker(apps[1])
    assert ext.tracker(apps[1]) is tracker(apps[1])
    for app in apps:
        tracker(app).close()
    assert len(store_lines(str(tmp_path / "one"))) == 1
    assert len(store_lines(str(tmp_path / "two"))) == 2


def test_policy_from_the_config_and_a_bad_one_at_start(tmp_path):
    policy = tmp_path / "site.ini"
    policy.write_text("[policy]\nname = site\n[storage]\npath = %s\n"
                      "[ip]\nmode = truncate\n" % (tmp_path / "s"))
    app = make_app(PRIVTRACK_POLICY=str(policy))
    Privtrack(app, synchronous=True)
    app.test_client().post("/download", data={"link": "https://a/x"},
                           environ_base={"REMOTE_ADDR": "203.0.113.77"})
    tracker(app).close()
    (record,) = store_lines(str(tmp_path / "s"))
    assert record["client_ip"] == "203.0.113.0"
    assert record["policy"].startswith("site-")

    bad = tmp_path / "bad.ini"
    bad.write_text("[fields]\nlinks = all\n")
    with pytest.raises(privtrack.PolicyError) as e:
        Privtrack(make_app(PRIVTRACK_POLICY=str(bad)))
    assert (e.value.file, e.value.line) == (str(bad), 2)


def test_policy_from_the_environment(tmp_path, monkeypatch):
    policy = tmp_path / "env.ini"
    policy.write_text("[policy]\nname = fromenv\n[storage]\npath = %s\n"
                      % (tmp_path / "s"))
    monkeypatch.setenv("PRIVTRACK_POLICY", str(policy))
    app = make_app()
    Privtrack(app)
    assert tracker(app).policy.id.startswith("fromenv-")
    tracker(app).close()


def test_every_request_records_once_per_request(tmp_path):
    app = make_app(every_request=True, PRIVTRACK_STORAGE=str(tmp_path / "s"))
    Privtrack(app, synchronous=True)
    client = app.test_client()
    assert client.get("/page").status_code == 200
    assert client.post("/download",
                       data={"link": "https://a/x"}).status_code == 200
    assert client.get("/crash").status_code == 500
    tracker(app).close()
    records = store_lines(str(tmp_path / "s"))
    assert sorted(r["num_links_submitted"] for r in records) == [0, 0, 1]


def test_only_track_records_by_default(tmp_path):
    app = make_app(PRIVTRACK_STORAGE=str(tmp_path / "s"))
    Privtrack(app, synchronous=True)
    client = app.test_client()
    client.get("/page")
    client.post("/download", data={"link": "https://a/x"},
                headers={"DNT": "1"})
    r = client.post("/download", data={"link": "https://a/x"})
    assert r.json == {"stored": True, "dropped": None}
    tracker(app).close()
    assert len(store_lines(str(tmp_path / "s"))) == 1


def test_track_never_fails_the_request(tmp_path, caplog):
    app = make_app(PRIVTRACK_STORAGE=str(tmp_path / "s"))
    Privtrack(app)
    tracker(app).close()
    r = app.test_client().post("/download", data={"link": "https://a/x"},
                               environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert r.status_code == 200
    assert r.json == {"stored": False, "dropped": "error"}
    messages = [m.getMessage() for m in caplog.records
                if m.name == "privtrack" and m.levelno >= logging.ERROR]
    assert messages and "203.0.113.5" not in " ".join(messages)


def test_track_needs_the_extension_and_a_request():
    app = make_app()
    r = app.test_client().post("/download", data={"link": "x"})
    assert r.status_code == 500  # RuntimeError: Privtrack(app) missing
    with pytest.raises(RuntimeError):
        track()


def test_proxy_fix_does_not_decide_the_address(tmp_path):
    app = make_app(PRIVTRACK_POLICY=None)
    policy = tmp_path / "p.ini"
    policy.write_text("[storage]\npath = %s\n[ip]\nmode = keep\n"
                      % (tmp_path / "s"))
    app.config["PRIVTRACK_POLICY"] = str(policy)
    Privtrack(app, synchronous=True)
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1)
    app.test_client().post("/download", data={"link": "https://a/x"},
                           environ_base={"REMOTE_ADDR": "10.9.9.9"},
                           headers={"X-Forwarded-For": "198.51.100.1"})
    tracker(app).close()
    assert store_lines(str(tmp_path / "s"))[0]["client_ip"] == "10.9.9.9"


def load_example(monkeypatch, store):
    monkeypatch.setenv("FLASK_PRIVTRACK_STORAGE", store)
    path = os.path.join(ROOT, "examples", "flask_app.py")
    spec = importlib.util.spec_from_file_location("flask_app_example", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_application(tmp_path, monkeypatch):
    store = str(tmp_path / "store")
    example = load_example(monkeypatch, store)
    client = example.app.test_client()
    assert b"<form" in client.get("/").data
    r = client.post("/download", data={"link": (
        "https://music.example/songs/Song%20Title%201\n"
        "https://music.example/fail?x=1")},
        environ_base={"REMOTE_ADDR": "198.51.100.20"},
        headers={"User-Agent": UA_FIREFOX})
    assert r.json == {"files": ["Song Title 1.m4a"], "errors": 1,
                      "recorded": True}
    r = client.get("/download?link=https://m.example/a", headers={"DNT": "1"})
    assert r.json["recorded"] is False
    t = example.privtrack.tracker(example.app)
    t.close()
    (record,) = store_lines(store)
    assert record["date"] == today()
    assert record["filenames"] == ["Song Title 1.m4a"]
    assert record["titles"] == ["Song Title 1"]
    assert record["links"] == ["https://music.example/songs/Song%20Title%201",
                               "https://music.example/fail"]
    assert (record["num_links_submitted"], record["error_count"]) == (2, 1)
    assert record["client_ip"] != "198.51.100.20"
