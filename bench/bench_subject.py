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
bench_read.py.

    bench_subject.py --privtrack BIN --dir DIR --endpoint URL [--days D] [-n N]

The same on DynamoDB (dynalite at URL): D dates (30) of N items (10,000)
each are recorded by `privtrack record` (bench_read.ddb_load) twice, into
two tables, under `[ip] mode = keep`, one visit in 1,000 the person's.
Then `privtrack subject erase --ip ADDR --yes` on the first table, and on
the second the hand recipe: a boto3 loop that Queries each date (a
FilterExpression on client_ip, only the key attributes projected) and
deletes what comes back with batch_writer.  Both tables are then Scanned:
they must hold the same items, none of them the person's, all the others.
"""

import argparse
import filecmp
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_read import DAY, ddb_load, ddb_pages, emit, peer, run  # noqa: E402

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
                ip = person_or_peer(i)
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


def person_or_peer(i):
    """The address of record i: one in 1,000 the person's."""
    return ME if i % 1000 == 7 else peer(i)


def py_ddb_erase(endpoint, table, first, days):
    """The hand recipe on DynamoDB: Query each date, delete the person's."""
    import boto3
    from boto3.dynamodb.conditions import Attr
    t = boto3.resource("dynamodb", endpoint_url=endpoint).Table(table)
    deleted = 0
    with t.batch_writer() as bw:
        for page in ddb_pages(t, first, days,
                              FilterExpression=Attr("client_ip").eq(ME),
                              ProjectionExpression="#d, #t",
                              ExpressionAttributeNames={"#d": "date",
                                                        "#t": "timestamp"}):
            for item in page["Items"]:
                bw.delete_item(Key=item)
                deleted += 1
    return deleted


def ddb_items(endpoint, table):
    """The table's visit records (not privtrack's lease items) in time
    order, as (date, client_ip, filenames): a record's timestamp is its
    visit's moved to a free slot of its writer's lease (docs/dynamodb.md),
    so two tables loaded alike differ in timestamps, never in this."""
    import boto3
    t = boto3.resource("dynamodb", endpoint_url=endpoint).Table(table)
    out, kw = [], {}
    while True:
        page = t.scan(**kw)
        out += [(i["date"], i["timestamp"], i.get("client_ip"),
                 tuple(i.get("filenames", ())))
                for i in page["Items"]
                if not i["date"].startswith("privtrack#")]
        if "LastEvaluatedKey" not in page:
            break
        kw["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return [(d, ip, f) for d, _, ip, f in sorted(out)]


def ddb_digest(endpoint, table):
    """What a table holds, for the check: its records, the person's among
    them, and SHA-256 digests of all its records and of the others', in a
    child process so that the measured ones fork from a small parent (a
    child's peak RSS counts its parent's before exec)."""
    import hashlib
    items = ddb_items(endpoint, table)
    others = [x for x in items if x[1] != ME]
    return {"records": len(items), "mine": len(items) - len(others),
            "all": hashlib.sha256(repr(items).encode()).hexdigest(),
            "others": hashlib.sha256(repr(others).encode()).hexdigest()}


def ddb_bench(a):
    """Erasing the person from two identically loaded dynalite tables."""
    first = DAY - timedelta(days=a.days - 1)
    total = a.days * a.n
    tables = ["bench-subject-%s-%d" % (s, os.getpid()) for s in ("pt", "py")]
    os.makedirs(a.dir, mode=0o700, exist_ok=True)
    keep = "mode = keep\n[retention]\nttl_days = 90\n"
    pt, env = ddb_load(a, tables[0], first, a.days, total, person_or_peer,
                       keep)
    ddb_load(a, tables[1], first, a.days, total, person_or_peer, keep)
    me = [sys.executable, os.path.abspath(__file__), "--privtrack",
          a.privtrack, "--dir", a.dir, "--endpoint", a.endpoint]

    def digest(table):
        out = subprocess.run(me + ["--py-ddb-digest", table], check=True,
                             stdout=subprocess.PIPE).stdout
        return json.loads(out)

    before = [digest(t) for t in tables]
    if before[0] != before[1] or before[0]["records"] != total:
        raise SystemExit("bench_subject: the tables differ before: %s" %
                         before)
    wall, rss = run(pt + ["subject", "erase", "--ip", ME, "--from",
                          str(first), "--to", str(DAY), "--yes"], env=env)
    pwall, prss = run(me + ["--days", str(a.days),
                            "--py-ddb-child", tables[1], str(first)])
    after = [digest(t) for t in tables]
    want = {"records": total - before[0]["mine"], "mine": 0,
            "all": before[0]["others"], "others": before[0]["others"]}
    if after[0] != want or after[1] != want:
        raise SystemExit("bench_subject: the erase left %s (privtrack), %s "
                         "(boto3), not %s" % (after[0], after[1], want))
    subprocess.run(me + ["--py-ddb-drop"] + tables, check=True)
    emit("privtrack", "subject_ddb.items", total, "items")
    emit("privtrack", "subject_ddb.dates", a.days, "dates")
    emit("privtrack", "subject_ddb.erased", before[0]["mine"], "items")
    emit("privtrack", "subject_ddb.erase.seconds", wall, "s")
    emit("baseline", "subject_ddb.erase.seconds", pwall, "s")
    emit("privtrack", "subject_ddb.erase.rss_mb", rss, "MiB")
    emit("baseline", "subject_ddb.erase.rss_mb", prss, "MiB")
    shutil.rmtree(a.dir, ignore_errors=True)


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
    ap.add_argument("--endpoint", help="dynalite: the DynamoDB erase")
    ap.add_argument("--py-child", help=argparse.SUPPRESS)
    ap.add_argument("--py-ddb-child", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--py-ddb-digest", help=argparse.SUPPRESS)
    ap.add_argument("--py-ddb-drop", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.py_child:
        print(py_erase(a.py_child))
        return
    if a.py_ddb_child:
        print(py_ddb_erase(a.endpoint, a.py_ddb_child[0],
                           a.py_ddb_child[1], a.days))
        return
    if a.py_ddb_digest:
        print(json.dumps(ddb_digest(a.endpoint, a.py_ddb_digest)))
        return
    if a.py_ddb_drop:
        import boto3
        client = boto3.client("dynamodb", endpoint_url=a.endpoint)
        for t in a.py_ddb_drop:
            client.delete_table(TableName=t)
        return
    if a.endpoint:
        ddb_bench(a)
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
