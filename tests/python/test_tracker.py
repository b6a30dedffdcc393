"""privtrack.Tracker and privtrack.Policy over the file store: arguments,
types, unicode, caps, errors, closed trackers, query/stats/counters."""

import datetime
import decimal
import json
import logging
import os

import pytest

import privtrack
from conftest import (UA_FIREFOX, at_hour, cli_json, store_lines, today)


def one_record(policy, **visit):
    with privtrack.Tracker(policy, synchronous=True) as t:
        result = t.track(**visit)
        assert result.stored, result
        records = t.query(today(), limit=0)
    assert len(records) == 1
    return records[0]


# ---- what goes in ---------------------------------------------------------


def test_every_argument_reaches_the_record(keep_policy):
    r = one_record(keep_policy, remote_addr="203.0.113.7",
                   headers={"User-Agent": UA_FIREFOX},
                   links=["https://music.example/watch?v=abc"],
                   filenames=["/tmp/x/Song Title 1.m4a", "Two.mp3"],
                   errors=["Song 3: HTTP 404"], time=at_hour(14, 30, 0, 123456))
    assert r["client_ip"] == "203.0.113.7"
    assert r["user_agent"] == UA_FIREFOX
    assert r["links"] == ["https://music.example/watch?v=abc"]
    assert r["filenames"] == ["Song Title 1.m4a", "Two.mp3"]  # base names
    assert r["titles"] == ["Song Title 1", "Two"]
    assert (r["num_links_submitted"], r["num_files_downloaded"]) == (1, 2)
    assert (r["has_errors"], r["error_count"]) == (True, 1)
    assert r["timestamp"] == today() + "T14:30:00.123456+00:00"
    assert r["policy"] == keep_policy.id


@pytest.mark.parametrize("headers", [
    {"User-Agent": UA_FIREFOX, "DNT": None},          # dict, None skipped
    [("user-agent", UA_FIREFOX)],                      # pairs, any case
    (("USER-AGENT", UA_FIREFOX.encode()),),            # tuple, bytes value
    iter([(b"User-Agent", UA_FIREFOX)]),               # an iterator
])
def test_header_forms(keep_policy, headers):
    assert one_record(keep_policy, headers=headers)["user_agent"] == \
        UA_FIREFOX


def test_werkzeug_headers_object_with_repeated_names(keep_policy):
    from werkzeug.datastructures import Headers
    h = Headers()
    h.add("User-Agent", UA_FIREFOX)
    h.add("X-Forwarded-For", "198.51.100.1")
    h.add("X-Forwarded-For", "198.51.100.2")
    r = one_record(keep_policy, remote_addr="203.0.113.7", headers=h)
    assert r["user_agent"] == UA_FIREFOX
    # No trusted proxy in the policy: the peer, not the header.
    assert r["client_ip"] == "203.0.113.7"


@pytest.mark.parametrize("links", [
    ["https://a.example/1", "https://b.example/2"],
    ("https://a.example/1", "https://b.example/2"),
    (l for l in ["https://a.example/1", "https://b.example/2"]),
    [b"https://a.example/1", "https://b.example/2"],
])
def test_list_forms(keep_policy, links):
    assert one_record(keep_policy, links=links)["links"] == [
        "https://a.example/1", "https://b.example/2"]


@pytest.mark.parametrize("errors,count", [
    (None, 0), (0, 0), (3, 3), ([], 0), (["a", "b"], 2), (("x",), 1)])
def test_errors_as_count_or_messages(keep_policy, errors, count):
    r = one_record(keep_policy, errors=errors)
    assert (r["error_count"], r["has_errors"]) == (count, count > 0)


def test_time_forms(keep_policy):
    aware = datetime.datetime.combine(
        datetime.date.fromisoformat(today()), datetime.time(16, 0, 1),
        tzinfo=datetime.timezone(datetime.timedelta(hours=2)))
    naive = aware.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    forms = (aware, naive, aware.isoformat(), naive.isoformat() + "Z",
             aware.timestamp())
    with privtrack.Tracker(keep_policy, synchronous=True) as t:
        for when in forms:
            assert t.track(time=when).stored
        stamps = [r["timestamp"] for r in t.query(today())]
    assert stamps == [today() + "T14:00:01.000000+00:00"] * len(forms)


def test_no_arguments_is_a_visit_now(keep_policy):
    before = datetime.datetime.now(datetime.timezone.utc)
    r = one_record(keep_policy)
    stamp = datetime.datetime.fromisoformat(r["timestamp"])
    assert abs((stamp - before).total_seconds()) < 60
    assert "client_ip" not in r and r["links"] == []


# ---- bad types ------------------------------------------------------------


@pytest.mark.parametrize("visit,error,words", [
    (dict(remote_addr=203), TypeError, "remote_addr must be str or bytes"),
    (dict(headers="User-Agent: x"), TypeError, "headers must be"),
    (dict(headers=[("a",)]), TypeError, "headers must be"),
    (dict(headers=[1, 2]), TypeError, "headers must be"),
    (dict(headers={"DNT": 1}), TypeError, "header names and values"),
    (dict(links="https://a.example/"), TypeError, "links must be a list"),
    (dict(links=5), TypeError, "links must be a list"),
    (dict(links=["ok", None]), TypeError, "links items must be str"),
    (dict(filenames=[1.5]), TypeError, "filenames items must be str"),
    (dict(errors=True), TypeError, "errors must be a count"),
    (dict(errors="boom"), TypeError, "errors must be a count"),
    (dict(errors=object()), TypeError, "errors must be a count"),
    (dict(errors=-1), ValueError, "errors must be a count"),
    (dict(errors=10**12), ValueError, "errors must be a count"),
    (dict(time="yesterday"), ValueError, "ISO-8601"),
    (dict(time=object()), TypeError, "time must be"),
    (dict(time=True), TypeError, "time must be"),
])
def test_bad_types_are_clear_errors(keep_policy, visit, error, words):
    with privtrack.Tracker(keep_policy, synchronous=True) as t:
        with pytest.raises(error, match=words):
            t.track(**visit)
        assert t.counters()["accepted"] == 0


def test_bad_options_and_query_arguments(keep_policy):
    with pytest.raises(TypeError):
        privtrack.Tracker(keep_policy, queue_capacity=-1)
    with pytest.raises(TypeError):
        privtrack.Tracker(keep_policy, no_such_option=1)
    with pytest.raises(TypeError):
        privtrack.Tracker(keep_policy, audit="not callable")
    with pytest.raises(TypeError):
        privtrack.Tracker(42)
    with privtrack.Tracker(keep_policy, synchronous=True) as t:
        with pytest.raises(privtrack.InvalidArgumentError) as e:
            t.query("2025-13-45")
        assert e.value.code == -1 and e.value.name == "PT_EINVAL"
        assert "2025-13-45" in str(e.value)
        with pytest.raises(TypeError):
            t.query(20250115)
        with pytest.raises(TypeError):
            t.query(datetime.datetime.now())
        with pytest.raises(TypeError):
            t.query(today(), limit=-1)


# ---- unicode --------------------------------------------------------------


def test_unicode_round_trip(keep_policy):
    links = ["https://musique.example/chanson/été", "https://例え.jp/曲",
             "https://e.example/🎵"]
    files = ["Éléonore – Ça va.m4a", "日本語の歌.mp3", "🎶 emoji.ogg"]
    r = one_record(keep_policy, links=links, filenames=files,
                   headers={"User-Agent": "Ünïcødé/1.0"})
    assert r["links"] == links and r["filenames"] == files
    assert r["titles"] == ["Éléonore – Ça va", "日本語の歌", "🎶 emoji"]
    assert r["user_agent"] == "Ünïcødé/1.0"


def test_invalid_text_is_replaced_not_passed_through(keep_policy, store):
    r = one_record(keep_policy,
                   filenames=["lone \ud800 surrogate.m4a",
                              b"latin1 \xe9t\xe9.m4a"])
    # Each byte of the surrogate's (invalid) UTF-8 form is replaced.
    assert r["filenames"][0] == "lone \ufffd\ufffd\ufffd surrogate.m4a"
    assert r["filenames"][1] == "latin1 \ufffdt\ufffd.m4a"
    with open(os.path.join(store, today() + ".jsonl"), "rb") as f:
        f.read().decode("utf-8")  # the store holds valid UTF-8 only


FAST = {"remote_addr": "198.51.100.1", "headers": {"User-Agent": "x"},
        "links": ["https://a.example/"], "filenames": ["a.m4a"]}


@pytest.mark.parametrize("visit, what", [
    ({"headers": {"DNT\x00x": "1"}}, "header names and values"),
    ({"headers": [("DNT", "1\x00junk")]}, "header names and values"),
    ({"headers": {"X-Forwarded-For": b"198.51.100.9\x00"}},
     "header names and values"),
    ({"remote_addr": "198.51.100.1\x00evil"}, "remote_addr"),
    ({"remote_addr": b"198.51.100.1\x00"}, "remote_addr"),
    ({"links": ["https://a.example/\x00x"]}, "links"),
    ({"filenames": ("cut\x00 at NUL.m4a",), "links": ["https://b.example/"]},
     "filenames"),
    # datetime.fromisoformat() reads "...Z\0junk" as "...Z".
    ({"time": "2025-01-15T14:30:00Z\x00junk"}, "time"),
    # The fast path's shape (str address, dict, lists): the library finds
    # the NUL, the binding then names the argument.
    (dict(FAST, remote_addr="198.51.100.1\x00evil"), "remote_addr"),
    (dict(FAST, headers={"User-Agent": "x", "DNT\x00x": "1"}),
     "header names and values"),
    (dict(FAST, links=["https://a.example/", "b\x00"]), "links"),
    (dict(FAST, filenames=["x.m4a\x00"]), "filenames"),
])
def test_a_nul_is_rejected_not_cut(keep_policy, visit, what):
    """Issue 14: a NUL cut strings, so a header named "DNT\\u0000x" counted
    as DNT.  The command rejects such a line; the binding, which sees the
    whole string before C does, rejects such a visit: a ValueError naming
    the argument (never its value, which may hold an address), nothing
    recorded."""
    with privtrack.Tracker(keep_policy, synchronous=True) as t:
        with pytest.raises(ValueError, match=what + ".* NUL") as info:
            t.track(**visit)
        assert "198.51" not in str(info.value)
        assert t.counters()["accepted"] == 0


# ---- caps -----------------------------------------------------------------


def test_huge_lists_are_cut_by_the_policy(keep_policy):
    links = ["https://a.example/%d" % i for i in range(10000)]
    files = ["f%d.m4a" % i for i in range(5000)]
    long_link = "https://a.example/" + "x" * 100000
    r = one_record(keep_policy, links=[long_link] + links, filenames=files)
    assert r["num_links_submitted"] == 10001  # counted before the cut
    assert r["num_files_downloaded"] == 5000
    assert len(r["links"]) == 100 and len(r["filenames"]) == 100
    assert len(r["links"][0].encode()) == 2048  # max_link_length
    assert r["links"][1:] == links[:99]


def test_caps_from_the_policy_file(policy_file, store):
    policy = privtrack.Policy(policy_file(
        "[storage]\npath = %s\n[fields]\nmax_links = 3\nlinks = keep\n"
        "max_filenames = 2\nmax_filename_length = 8\n" % store))
    r = one_record(policy, links=["https://a.example/%d" % i
                                  for i in range(50)],
                   filenames=["a-very-long-name.m4a", "b.m4a", "c.m4a"])
    assert len(r["links"]) == 3
    assert len(r["filenames"]) == 2
    assert all(len(f.encode()) <= 8 for f in r["filenames"])


# ---- the policy -----------------------------------------------------------


def test_default_policy_hashes_and_minimises(store):
    with privtrack.Tracker(None, store, synchronous=True) as t:
        assert t.policy.source == "built-in default"
        t.track(remote_addr="198.51.100.23", headers={"User-Agent":
                                                      UA_FIREFOX},
                links=["https://a.example/x?token=secret"])
        r = t.query(today())[0]
    assert r["client_ip"] != "198.51.100.23" and len(r["client_ip"]) == 32
    assert r["user_agent"] == "Firefox/Linux"
    assert r["links"] == ["https://a.example/x"]
    assert r["policy"].startswith("default-")


def test_opt_out_drops_with_the_reason(policy_file, store):
    policy = privtrack.Policy(policy_file(
        "[storage]\npath = %s\n[optout]\ncookie = optout=1\n" % store))
    with privtrack.Tracker(policy, synchronous=True) as t:
        assert t.track(headers={"DNT": "1"}).dropped == "dnt"
        assert t.track(headers={"Sec-GPC": "1"}).dropped == "gpc"
        r = t.track(headers={"Cookie": "a=b; optout=1"})
        assert (r.stored, r.dropped, r.session_id) == (False, "cookie", None)
        assert not r
        ok = t.track(headers={"DNT": "0"})
        assert ok and ok.dropped is None and len(ok.session_id) == 19
        c = t.counters()
    assert c["accepted"] == 1 and c["stored"] == 1
    assert c["dropped"] == {"dnt": 1, "gpc": 1, "cookie": 1, "queue_full": 0,
                            "invalid": 0}


def test_bad_policy_names_file_and_line(policy_file):
    path = policy_file("[policy]\nname = ok\n[ip]\nmode = sometimes\n"
                       "[nope]\nx = 1\n", "bad.ini")
    with pytest.raises(privtrack.PolicyError) as e:
        privtrack.Policy(path)
    err = e.value
    assert isinstance(err, privtrack.Error)
    assert (err.code, err.name) == (-3, "PT_EPOLICY")
    assert (err.file, err.line) == (path, 4)
    assert str(err).startswith(path + ":4: ")
    assert [(f, l) for f, l, _ in err.problems] == [(path, 4), (path, 5)]
    with pytest.raises(privtrack.PolicyError) as e:
        privtrack.Tracker(path)
    assert e.value.line == 4


def test_policy_from_text_and_missing_file(tmp_path):
    with pytest.raises(privtrack.PolicyError) as e:
        privtrack.Policy.from_text("[ip]\nhash_bytes = 99\n", "inline.ini")
    assert (e.value.file, e.value.line) == ("inline.ini", 2)
    p = privtrack.Policy.from_text("[policy]\nname = inline\n")
    assert p.id.startswith("inline-") and p.get("ip", "mode") == "hash"
    assert p.get("ip", "no_such_key") is None
    with pytest.raises(privtrack.StorageIOError) as e:
        privtrack.Policy(str(tmp_path / "missing.ini"))
    assert "missing.ini" in str(e.value) and e.value.code == -4


def test_policy_is_found_as_the_cli_finds_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert privtrack.Policy.find().source == "built-in default"
    (tmp_path / "policy.ini").write_text("[policy]\nname = local\n")
    assert privtrack.Policy.find().id.startswith("local-")
    env = tmp_path / "env.ini"
    env.write_text("[policy]\nname = fromenv\n")
    monkeypatch.setenv("PRIVTRACK_POLICY", str(env))
    assert privtrack.Policy.find().id.startswith("fromenv-")
    assert privtrack.Policy.find(str(tmp_path / "policy.ini")).id.startswith(
        "local-")
    t = privtrack.Tracker(lazy=True)  # nothing opened: no store created
    assert t.policy.id.startswith("fromenv-")
    t.close()
    assert not (tmp_path / "var").exists()


def test_table_name_order(monkeypatch):
    assert privtrack.Policy.default().table == "link-downloader-visits"
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", "from-env")
    assert privtrack.Policy.default().table == "from-env"
    p = privtrack.Policy.from_text(
        "[storage]\nbackend = dynamodb\ntable = from-policy\n")
    assert p.table == "from-policy"


# ---- dry run, read-only ---------------------------------------------------


def test_dry_run_audits_and_creates_nothing(store):
    lines = []
    with privtrack.Tracker(None, store, dry_run=True,
                           audit=lines.append) as t:
        assert t.track(remote_addr="203.0.113.7").stored
        assert t.track(headers={"DNT": "1"}).dropped == "dnt"
        t.flush()
    audits = [json.loads(l) for l in lines]
    assert [a["decision"] for a in audits] == ["stored", "dropped"]
    assert "203.0.113.7" not in "".join(lines)
    assert not os.path.exists(store)


def test_read_only_tracker_reads_and_refuses_to_track(keep_policy, store):
    one_record(keep_policy, remote_addr="203.0.113.9")
    before = sorted(os.listdir(store))
    with privtrack.Tracker(keep_policy, read_only=True) as t:
        assert len(t.query(today())) == 1
        with pytest.raises(privtrack.UnsupportedError):
            t.track()
    assert sorted(os.listdir(store)) == before


# ---- closed trackers ------------------------------------------------------


def test_closed_tracker_raises_closed_error(keep_policy):
    t = privtrack.Tracker(keep_policy)
    t.track()
    t.close()
    t.close()  # idempotent
    assert t.closed
    for call in (lambda: t.track(), lambda: t.flush(), t.counters,
                 lambda: t.query(today()), lambda: t.stats(today()),
                 t.init_storage, t.spool_status):
        with pytest.raises(privtrack.ClosedError) as e:
            call()
        assert (e.value.code, e.value.name) == (-18, "PT_ECLOSED")
    with privtrack.Tracker(keep_policy) as t2:
        pass
    with pytest.raises(privtrack.ClosedError):
        t2.track()


def test_close_flushes_what_was_queued(keep_policy, store):
    # A long batch delay: without the flush at close, the records would
    # still be in the queue.
    t = privtrack.Tracker(keep_policy, batch_delay_ms=60000)
    for i in range(500):
        t.track(remote_addr="203.0.113.%d" % (i % 250))
    t.close()
    assert len(store_lines(store)) == 500


def test_exceptions_inside_with_are_not_masked(keep_policy):
    with pytest.raises(KeyError):
        with privtrack.Tracker(keep_policy):
            raise KeyError("mine")


# ---- reading back ---------------------------------------------------------


def fill(policy, visits):
    with privtrack.Tracker(policy, synchronous=True) as t:
        for v in visits:
            t.track(**v)


def test_query_is_plain_python_and_matches_the_cli(keep_policy, store):
    fill(keep_policy, [dict(remote_addr="203.0.113.%d" % i,
                            filenames=["s%d.m4a" % i], errors=i % 2,
                            time=at_hour(10, i)) for i in range(5)])
    with privtrack.Tracker(keep_policy, read_only=True) as t:
        records = t.query(today(), limit=0)
        assert t.query(datetime.date.fromisoformat(today()), 2) == \
            records[:2]
        assert t.query(today(), None) == records
    assert [r["client_ip"] for r in records] == [
        "203.0.113.%d" % i for i in (4, 3, 2, 1, 0)]  # newest first

    def plain(v):
        if isinstance(v, dict):
            return all(isinstance(k, str) and plain(x) for k, x in v.items())
        if isinstance(v, list):
            return all(plain(x) for x in v)
        assert not isinstance(v, (decimal.Decimal, float, bytes)), v
        return isinstance(v, (str, int, bool))
    assert all(plain(r) for r in records)
    assert records == cli_json("query", "--policy", keep_policy.source,
                               "--date", today(), "--limit", "0", "--json")


def test_stats_by_hand_and_against_the_cli(policy_file, store):
    policy = privtrack.Policy(policy_file(
        "[storage]\npath = %s\n[ip]\nmode = truncate\n" % store))
    fill(policy, [
        dict(remote_addr="198.51.100.1", filenames=["A.m4a", "B.m4a"],
             time=at_hour(9)),
        dict(remote_addr="198.51.100.2", filenames=["A.m4a"], errors=1,
             time=at_hour(9, 30)),                   # same /24: one visitor
        dict(remote_addr="203.0.113.5", filenames=["C.m4a", "A.m4a"],
             time=at_hour(15)),
        dict(filenames=["B.m4a"], time=at_hour(23)),  # no address
    ])
    with privtrack.Tracker(policy, read_only=True) as t:
        s = t.stats(today(), min_group=1)  # k-anonymity off: every group
        default = t.stats()                 # today, the policy's min_group
        ranged = t.stats(today(), today(), min_group=1, top=1)
    assert (s["date"], s["visits"], s["unique_visitors"],
            s["files_downloaded"], s["success_rate"], s["busiest_hour"],
            s["busiest_hour_visits"]) == (today(), 4, 2, 6, 0.75, 9, 2)
    assert s["top_titles"] == [{"title": "A", "count": 3},
                               {"title": "B", "count": 2},
                               {"title": "C", "count": 1}]
    assert ranged["top_titles"] == [{"title": "A", "count": 3}]
    # With the default k-anonymity (5), no title has enough visitors.
    assert default["top_titles"] == [] and default["visits"] == 4
    assert default == cli_json("stats", "--policy", policy.source,
                               "--date", today(), "--json")


def test_stats_of_an_empty_day_and_bad_arguments(keep_policy):
    with privtrack.Tracker(keep_policy, read_only=True) as t:
        s = t.stats("2020-01-01")
        assert s["visits"] == 0 and s["success_rate"] is None
        assert s["busiest_hour"] is None and s["top_titles"] == []
        with pytest.raises(privtrack.InvalidArgumentError):
            t.stats(today(), "2020-01-01")  # a reversed range
        with pytest.raises(TypeError):
            t.stats(today(), min_group=-1)


def test_purge_init_and_spool(policy_file, tmp_path):
    store = str(tmp_path / "s")
    policy = privtrack.Policy(policy_file(
        "[storage]\npath = %s\n[retention]\nttl_days = 1\n" % store))
    with privtrack.Tracker(policy, synchronous=True) as t:
        t.init_storage()
        assert os.path.isfile(os.path.join(store, "ip.key"))
        t.track(time=at_hour(1))
        assert t.purge() == 0
        assert t.purge(now=2**40) == 1
        assert t.query(today()) == []
        assert t.spool_status() == {"pending_records": 0, "pending_bytes": 0}
        assert t.spool_replay(1.0) == 0


# ---- the store is down ----------------------------------------------------


def test_store_down_spools_and_logs(tmp_path, caplog):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    store = str(blocker / "store")  # cannot be created
    # Truncation needs no key (the key would live in the store).
    policy = privtrack.Policy.from_text(
        "[storage]\npath = %s\n[ip]\nmode = truncate\n" % store, "down.ini")
    caplog.set_level(logging.WARNING, logger="privtrack")
    with privtrack.Tracker(policy, spool_dir=str(tmp_path / "spool")) as t:
        for _ in range(10):
            assert t.track(remote_addr="203.0.113.7").stored
        t.flush(5.0)
        c = t.counters()
    assert c["spooled"] == 10 and c["stored"] == 0
    lines = [r.getMessage() for r in caplog.records if r.name == "privtrack"]
    assert any("not available" in l and "spooling" in l for l in lines), lines
    assert not any("203.0.113.7" in l for l in lines)
    # The next tracker on a working store replays the spool.
    good = str(tmp_path / "good")
    with privtrack.Tracker(policy, good, spool_dir=str(tmp_path / "spool"),
                           synchronous=True) as t:
        t.spool_replay(5.0)
    assert len(store_lines(good)) == 10


@pytest.mark.parametrize("visit", [
    {"remote_addr": "203.0.113.7", "headers": {"User-Agent": UA_FIREFOX,
                                               "DNT": "0"},
     "links": ["https://music.example/a"], "filenames": ["Song 1.m4a"]},
    {"remote_addr": "2001:db8::1",
     "headers": [("User-Agent", "Ünïcødé"), ("X-Forwarded-For", "1.2.3.4")],
     "links": ("https://例え.jp/曲",), "filenames": ["Chanson é.m4a", "b"]},
    {"remote_addr": None, "headers": None, "links": [], "filenames": None},
])
def test_the_visit_is_marshalled_into_one_buffer_of_its_own_size(visit):
    """Issue 13: marshalling must not copy more than the visit.  What the
    library reads (pt_track_packed) is one buffer: the pt_packed_visit
    header, then each string's UTF-8 once with its NUL, and nothing else —
    the same bytes from the general path and from track()'s fast path."""
    from privtrack.tracker import _HEAD, make_visit
    packed = make_visit(**visit)
    headers = visit["headers"] or {}
    pairs = list(headers.items()) if isinstance(headers, dict) else headers
    texts = [visit["remote_addr"]] if visit["remote_addr"] else []
    texts += [name for name, _ in pairs] + [value for _, value in pairs] + \
        list(visit["links"] or []) + list(visit["filenames"] or [])
    assert len(packed) == _HEAD.size + sum(len(t.encode()) + 1 for t in texts)
    version, flags, n_headers, n_links, n_files, reserved, errors, when = \
        _HEAD.unpack_from(packed)
    assert (version, reserved, errors, when) == (1, 0, 0, 0)
    assert flags == (1 if visit["remote_addr"] else 0)
    assert n_headers == len(pairs)
    assert n_links == len(visit["links"] or [])
    assert n_files == len(visit["filenames"] or [])
    strings = packed[_HEAD.size:].split(b"\0")
    assert strings.pop() == b""  # after the last NUL
    assert [t.decode() for t in strings] == texts


def test_library_facts():
    assert privtrack.version() == "0.1.0" == privtrack.library_version
    assert os.path.isfile(privtrack.library_path)
    # the library's names, one per pt_drop_reason value
    assert privtrack.DROP_REASONS == ("none", "dnt", "gpc", "cookie",
                                      "queue_full", "invalid")
