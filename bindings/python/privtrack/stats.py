"""One date's statistics from its records: the seed's example reports.

Pure (no I/O): ``compute(records, date)`` takes the records ``Tracker.query``
returns and gives what ``privtrack stats --json`` prints, with the same
definitions as the command (cli/cmd_stats.c):

- ``visits``: records;
- ``unique_visitors``: distinct non-empty stored ``client_ip`` values (after
  the policy: a truncated or hashed address counts once per network or
  pseudonym);
- ``files_downloaded``: the sum of ``num_files_downloaded``;
- ``success_rate``: the fraction of visits without errors (``None`` without
  visits);
- ``busiest_hour`` (UTC, from the ``timestamp``) and its visits; the earliest
  hour wins a tie; ``None`` and 0 without visits;
- ``top_titles``: the 10 most downloaded titles, most first, ties in title
  order.
"""

from collections import Counter

TOP_TITLES = 10


def _hour(timestamp):
    # "YYYY-MM-DDTHH:..." — the hour is at [11:13].
    if not isinstance(timestamp, str) or len(timestamp) < 13:
        return None
    h = timestamp[11:13]
    if not h.isdigit() or not h.isascii():
        return None
    h = int(h)
    return h if h < 24 else None


def compute(records, date):
    """Statistics of `records` (dicts in the record's shape) for `date`."""
    visits = 0
    files = 0
    successful = 0
    addresses = set()
    titles = Counter()
    per_hour = [0] * 24
    for r in records:
        visits += 1
        files += int(r.get("num_files_downloaded") or 0)
        successful += not r.get("has_errors", False)
        ip = r.get("client_ip")
        if ip:
            addresses.add(ip)
        titles.update(r.get("titles") or ())
        hour = _hour(r.get("timestamp"))
        if hour is not None:
            per_hour[hour] += 1
    busiest, busiest_visits = None, 0
    for h, n in enumerate(per_hour):
        if n > busiest_visits:
            busiest, busiest_visits = h, n
    # Most first; ties in title order (the command's strcmp order, which is
    # code point order for UTF-8).
    top = sorted(titles.items(), key=lambda tc: (-tc[1], tc[0]))[:TOP_TITLES]
    return {
        "date": date,
        "visits": visits,
        "unique_visitors": len(addresses),
        "files_downloaded": files,
        "success_rate": successful / visits if visits else None,
        "busiest_hour": busiest,
        "busiest_hour_visits": busiest_visits,
        "top_titles": [{"title": t, "count": c} for t, c in top],
    }
