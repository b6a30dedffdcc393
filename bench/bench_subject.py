#!/usr/bin/python3
"""Erasing one data subject on the file store, privtrack beside the hand
recipe it replaces, in the same run (bench/run.sh: BENCH_ONLY="subject").

    bench_subject.py --privtrack BIN --dir DIR [--days D] [-n N]

D day files (30) of N records (100,000) each are written in privtrack's
JSON-lines form under `[ip] mode = keep`, one record in 1,000 the
person's.  Then, on two identical copies:
  - `privtrack subject erase --ip ADDR --yes` over the range (whole
    process: wall time and peak RSS);
  - the hand recipe of PRIVACY.md before this command: a Python loop that
    reads each day file line by line, json.loads each, writes the lines
    that are not the person's to a temporary file and renames it over the
    day file.
Both must leave the same files.  Prints one JSON object per line, as
bench_read.py.  Not measured here: the DynamoDB erase (30 dates of 10,000
items) of issue 10.
"""

import argparse
import filecmp
import json
import os
import shutil
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_read import emit, run  # noqa: E402

ME = "203.0.113.7"


def write_store(store, days, n):
    os.makedirs(store, mode=0o700, exist_ok=True)
    today = datetime.now(timezone.utc).date()
    ttl = int(time.time()) + 90 * 86400
    first = today - timedelta(days=days - 1)
    for d in range(days):
        day = first + timedelta(days=d)
        midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        path = os.path.join(store, "%s.jsonl" % day)
        with open(path, "w") as f:
            for i in range(n):
                t = midnight + timedelta(microseconds=i * 86400000000 // n)
                ip = ME if i % 1000 == 7 else "198.51.%d.%d" % (
                    (i >> 8) & 255, i & 255)
                f.write(json.dumps({
                    "date": str(day),
                    "timestamp": t.isoformat(timespec="microseconds"),
                    "session_id": "%d-%08x" % (t.timestamp(), i),
                    "client_ip": ip, "user_agent": "Firefox/Linux",
                    "num_links_submitted": 1, "num_files_downloaded": 1,
                    "links": ["https://www.youtube.com/watch"],
                    "titles": ["Song Title 1"],
                    "filenames": ["Song Title 1.m4a"],
                    "has_errors": False, "error_count": 0, "ttl": ttl,
                    "policy": "bench-0000abcd"},
                    separators=(",", ":")) + "\n")
        os.chmod(path, 0o600)
    return str(first), str(today)


def py_erase(store):
    """The hand recipe: filter every day file, replace it atomically."""
    deleted = 0
    for name in sorted(os.listdir(store)):
        if not name.endswith(".jsonl"):
            continue
        path = os.path.join(store, name)
        tmp = path + ".tmp"
        with open(path) as src, open(tmp, "w") as dst:
            for line in src:
                if json.loads(line).get("client_ip") == ME:
                    deleted += 1
                else:
                    dst.write(line)
            dst.flush()
            os.fsync(dst.fileno())
        os.rename(tmp, path)
    return deleted


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--privtrack", required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--days", type=int, default=30)
    ap.add_argument("-n", type=int, default=100000)
    ap.add_argument("--py-child", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.py_child:
        print(py_erase(a.py_child))
        return
    shutil.rmtree(a.dir, ignore_errors=True)
    pt_store, py_store = (os.path.join(a.dir, s) for s in ("pt", "py"))
    first, last = write_store(pt_store, a.days, a.n)
    shutil.copytree(pt_store, py_store)
    policy = os.path.join(a.dir, "policy.ini")
    with open(policy, "w") as f:
        f.write("[storage]\npath = %s\nfsync = never\n[ip]\nmode = keep\n"
                "[retention]\nttl_days = 90\n" % pt_store)
    os.chmod(policy, 0o600)
    wall, rss = run([a.privtrack, "--policy", policy, "subject", "erase",
                     "--ip", ME, "--from", first, "--to", last, "--yes"])
    pwall, prss = run([sys.executable, os.path.abspath(__file__),
                       "--privtrack", a.privtrack, "--dir", a.dir,
                       "--py-child", py_store])
    for name in sorted(os.listdir(py_store)):
        if not filecmp.cmp(os.path.join(py_store, name),
                           os.path.join(pt_store, name), shallow=False):
            raise SystemExit("bench_subject: %s differs" % name)
    records = a.days * a.n
    emit("privtrack", "subject.records", records, "records")
    emit("privtrack", "subject.days", a.days, "days")
    emit("privtrack", "subject.erase.seconds", wall, "s")
    emit("baseline", "subject.erase.seconds", pwall, "s")
    emit("privtrack", "subject.erase.rss_mb", rss, "MiB")
    emit("baseline", "subject.erase.rss_mb", prss, "MiB")
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
