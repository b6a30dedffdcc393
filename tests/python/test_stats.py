"""privtrack.stats.compute: the pure statistics of one date's records."""

from privtrack.stats import compute


def rec(ts="2025-01-15T10:00:00.000000+00:00", ip=None, titles=(), files=0,
        errors=False):
    r = {"timestamp": ts, "titles": list(titles),
         "num_files_downloaded": files, "has_errors": errors}
    if ip is not None:
        r["client_ip"] = ip
    return r


def test_ties_earliest_hour_and_title_order():
    s = compute([rec("2025-01-15T07:00:00Z"), rec("2025-01-15T03:59:59Z"),
                 rec("2025-01-15T07:30:00Z"), rec("2025-01-15T03:00:00Z")],
                "2025-01-15")
    assert (s["busiest_hour"], s["busiest_hour_visits"]) == (3, 2)
    s = compute([rec(titles=["b", "a", "c"]), rec(titles=["c", "b", "a"])],
                "d")
    assert [t["title"] for t in s["top_titles"]] == ["a", "b", "c"]


def test_top_ten_most_first():
    records = [rec(titles=["t%02d" % i] * (i + 1)) for i in range(15)]
    top = compute(records, "d")["top_titles"]
    assert [t["title"] for t in top] == ["t%02d" % i
                                         for i in range(14, 4, -1)]
    assert top[0]["count"] == 15 and len(top) == 10


def test_unique_visitors_ignore_absent_and_empty_addresses():
    s = compute([rec(ip="a"), rec(ip="a"), rec(ip="b"), rec(ip=""), rec()],
                "d")
    assert s["unique_visitors"] == 2 and s["visits"] == 5


def test_totals_and_success_rate():
    s = compute([rec(files=2), rec(files=3, errors=True), rec(files=0)], "d")
    assert s["files_downloaded"] == 5
    assert abs(s["success_rate"] - 2 / 3) < 1e-12


def test_malformed_timestamps_and_seed_items_are_tolerated():
    # Items written by the seed's own code may lack fields privtrack sets.
    s = compute([{"timestamp": "bad"}, {"timestamp": "2025-01-15T99:00"},
                 {}, {"timestamp": "2025-01-15T٣٣:00"}], "d")
    assert s["visits"] == 4 and s["busiest_hour"] is None
    assert s["files_downloaded"] == 0 and s["success_rate"] == 1.0


def test_empty():
    assert compute([], "2025-01-15") == {
        "date": "2025-01-15", "visits": 0, "unique_visitors": 0,
        "files_downloaded": 0, "success_rate": None, "busiest_hour": None,
        "busiest_hour_visits": 0, "top_titles": []}
