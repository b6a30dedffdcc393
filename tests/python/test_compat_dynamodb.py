"""privtrack.compat.dynamodb_tracker against a real dynalite (started by
tests/dynamodb/with-dynalite.sh): the seed's module interface — save,
query_visits_by_date, and the seed's statistics loop over the result — with
the items also read back by the seed's own boto3 query."""

import collections
import decimal
import importlib
import logging
import os

import pytest


import privtrack
from conftest import UA_FIREFOX, today

ENDPOINT = os.environ.get("PT_TEST_DYNAMODB_ENDPOINT")

SEED_KEYS = {"date", "timestamp", "session_id", "client_ip", "user_agent",
             "num_links_submitted", "num_files_downloaded", "links", "titles",
             "filenames", "has_errors", "error_count"}


@pytest.fixture
def tracker_module(tmp_path, monkeypatch, request):
    """The compat module, fresh, with a DynamoDB policy found as the CLI
    finds it ($PRIVTRACK_POLICY) and the table from $DYNAMODB_TABLE_NAME."""
    if not ENDPOINT:  # never skipped: a missing dynalite is a failure
        pytest.fail("run through tests/dynamodb/with-dynalite.sh "
                    "(ctest --preset dev -R python_compat_dynamodb)")
    table = "compat-" + request.node.name.replace("_", "-")[-40:]
    policy = tmp_path / "policy.ini"
    policy.write_text("[storage]\nbackend = dynamodb\npath = %s\n"
                      "[ip]\nmode = truncate\n" % (tmp_path / "local"))
    monkeypatch.setenv("PRIVTRACK_POLICY", str(policy))
    monkeypatch.setenv("DYNAMODB_TABLE_NAME", table)
    from privtrack.compat import dynamodb_tracker
    module = importlib.reload(dynamodb_tracker)
    yield module
    module.close()


def boto3_items(table, date):
    """The seed's own read: boto3 Table.query, newest first, all pages."""
    import boto3
    from boto3.dynamodb.conditions import Key
    t = boto3.resource("dynamodb", endpoint_url=ENDPOINT).Table(table)
    items, kwargs = [], {}
    while True:
        page = t.query(KeyConditionExpression=Key("date").eq(date),
                       ScanIndexForward=False, **kwargs)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_save_query_and_the_seeds_statistics(tracker_module, caplog):
    dt = tracker_module
    caplog.set_level(logging.INFO, logger="dynamodb_tracker")
    assert dt.DYNAMODB_AVAILABLE is True
    assert dt.TABLE_NAME == os.environ["DYNAMODB_TABLE_NAME"]
    assert dt.create_dynamodb_table_if_not_exists() is True
    assert dt.create_dynamodb_table_if_not_exists() is True  # idempotent
    titles = ["Song A", "Song B", "Song C"]
    saved = []
    for i in range(30):
        files = ["%s.m4a" % titles[j % 3] for j in range(i % 3 + 1)]
        sid = dt.track_visit("198.51.%d.%d" % (i % 4, i + 1), UA_FIREFOX,
                             ["https://music.example/%d?t=%d" % (i, i)],
                             files, ["HTTP 404"] if i % 5 == 0 else [])
        assert sid, "visit %d was not recorded" % i
        saved.append(sid)
    # Opted out: not stored, and the download is not failed for it.
    assert dt.track_visit("198.51.9.9", UA_FIREFOX, [], [],
                          headers={"DNT": "1"}) is None
    dt.flush(30.0)
    logged = [r.getMessage() for r in caplog.records
              if r.name == "dynamodb_tracker"]
    assert ["Saved visit record to DynamoDB: %s" % s for s in saved] == \
        [m for m in logged if m.startswith("Saved visit record")]
    assert not any("198.51." in m for m in logged)

    visits = dt.query_visits_by_date(today(), limit=100)
    assert len(visits) == 30
    stamps = [v["timestamp"] for v in visits]
    assert stamps == sorted(stamps, reverse=True)  # newest first
    assert {v["session_id"] for v in visits} == set(saved)
    assert dt.query_visits_by_date(today(), limit=5) == visits[:5]
    for v in visits:
        assert SEED_KEYS - {"user_agent"} <= set(v) <= SEED_KEYS | {
            "ttl", "policy", "user_agent"}
        for value in v.values():
            assert not isinstance(value, (decimal.Decimal, float))
        assert isinstance(v["num_files_downloaded"], int)
        assert isinstance(v["has_errors"], bool)

    # The seed's statistics loop (its guide's "Example Queries").
    all_titles = []
    for visit in visits:
        all_titles.extend(visit.get("titles", []))
    popular = collections.Counter(all_titles).most_common(10)
    unique_ips = set(visit["client_ip"] for visit in visits)
    total = len(visits)
    successful = sum(1 for v in visits if not v.get("has_errors", False))
    assert popular == [("Song A", 30), ("Song B", 20), ("Song C", 10)]
    assert unique_ips == {"198.51.%d.0" % n for n in range(4)}  # truncated
    assert "%.1f%%" % (successful / total * 100) == "80.0%"

    # The same items, read by the seed's own code.
    items = boto3_items(dt.TABLE_NAME, today())
    assert {i["session_id"] for i in items} == set(saved)
    assert [i["timestamp"] for i in items] == stamps


def test_not_available_is_logged_and_visits_are_spooled(
        tracker_module, monkeypatch, tmp_path, caplog):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                 "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    dt = importlib.reload(tracker_module)
    caplog.set_level(logging.INFO)
    assert dt.DYNAMODB_AVAILABLE is False
    assert dt.create_dynamodb_table_if_not_exists() is False
    assert dt.query_visits_by_date(today()) == []
    # The download goes on; the visit waits in the spool for the store.
    sid = dt.track_visit("203.0.113.1", "ua", ["https://a/x"], ["a.m4a"], [])
    assert sid
    dt.flush(30.0)
    mine = [r for r in caplog.records if r.name == "dynamodb_tracker"]
    warnings = [r.getMessage() for r in mine if r.levelno == logging.WARNING]
    assert warnings and all(w.startswith("DynamoDB not available")
                            for w in warnings)
    assert "Visit record spooled (DynamoDB not available): %s" % sid in [
        r.getMessage() for r in mine]
    library = [r.getMessage() for r in caplog.records
               if r.name == "privtrack" and r.levelno == logging.WARNING]
    assert any(m.startswith("DynamoDB not available") and "spooling" in m
               for m in library), library
    everything = " ".join(r.getMessage() for r in caplog.records)
    assert "203.0.113.1" not in everything


def test_a_bad_policy_makes_it_unavailable(tracker_module, monkeypatch,
                                           tmp_path, caplog):
    bad = tmp_path / "bad.ini"
    bad.write_text("[storage]\nbackend = dynamodb\n[ip]\nmode = sometimes\n")
    monkeypatch.setenv("PRIVTRACK_POLICY", str(bad))
    dt = importlib.reload(tracker_module)
    assert dt.DYNAMODB_AVAILABLE is False
    assert any("bad.ini:4" in r.getMessage() for r in caplog.records
               if r.name == "dynamodb_tracker")


def test_bad_arguments_are_the_callers_errors(tracker_module):
    with pytest.raises(privtrack.InvalidArgumentError) as e:
        tracker_module.query_visits_by_date("15/01/2025")
    assert "15/01/2025" in str(e.value)
