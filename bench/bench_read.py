#!/usr/bin/python3
"""The read side and bulk import, whole process, privtrack beside the Python
it replaces, measured in the same run (bench/run.sh: BENCH_ONLY="read").

    bench_read.py file   --privtrack BIN --dir DIR [-n N] [--import-n N]
    bench_read.py import --privtrack BIN --dir DIR [--import-n N]
    bench_read.py dynamodb --privtrack BIN --dir DIR --endpoint URL [-n N]

Prints one JSON object per line:
    {"side": "privtrack"|"baseline", "key": "...", "value": N, "unit": "..."}

file:
  - a day of N records (1,000,000 by default, ~395 MB) is written straight
    into a file store in privtrack's own JSON-lines form;
  - `privtrack stats` of that day against a plain Python streaming loop
    (json.loads per line, a set and Counters: the same figures), time and
    peak RSS;
  - `privtrack export` of that day (time, peak RSS) against Python reading
    the lines and writing a JSON array as it goes;
  - `privtrack query --limit 100` (the median of 5 runs);
  - bulk import: `privtrack record FILE` of --import-n visits (100,000)
    into a fresh store against the Python equivalent (json.loads, the
    seed's create_visit_record and a JSON-lines append), time and peak RSS;
    the median of --rounds alternating runs of each side (5).
import: the bulk import alone (bench/run.sh: BENCH_ONLY="import").
dynamodb:
  - N visits over 7 dates recorded into dynalite, then read back whole:
    `privtrack export --from --to` (one Query per date, several in flight)
    and `privtrack stats --from --to` (the same Queries asking only for
    the attributes the statistics need) against a boto3 loop (Table.query
    per date, following LastEvaluatedKey), wall time.
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from datetime import date, datetime, timedelta, timezone

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "baseline"))

DAY = (datetime.now(timezone.utc) - timedelta(days=1)).date()
AGENTS = ["Firefox/Linux", "Chrome/Windows", "Safari/iOS", "Chrome/Android",
          "Safari/macOS", "Edge/Windows"]
TITLES = ["Song Title %d" % i for i in range(50)]
UA_RAW = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
          "Firefox/128.0")


def emit(side, key, value, unit):
    print(json.dumps({"side": side, "key": key, "value": value,
                      "unit": unit}), flush=True)


def run(cmd, stdout=subprocess.DEVNULL, env=None):
    """(seconds, peak RSS MiB) of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE,
                            env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit("bench_read: %s exited %d: %s" %
                         (" ".join(cmd), proc.returncode, err[-500:]))
    return wall, usage.ru_maxrss / 1024.0


# ---- data -------------------------------------------------------------------

def write_day(store, n):
    """n records of DAY in privtrack's JSON-lines form (pt__record_json)."""
    os.makedirs(store, mode=0o700, exist_ok=True)
    path = os.path.join(store, "%s.jsonl" % DAY)
    midnight = datetime(DAY.year, DAY.month, DAY.day, tzinfo=timezone.utc)
    ttl = int(time.time()) + 90 * 86400
    with open(path, "w") as f:
        for i in range(n):
            t = midnight + timedelta(microseconds=i * 86400000000 // n)
            a, b = TITLES[(i * 7) % 50 if i % 3 else i % 5], TITLES[i % 50]
            f.write(json.dumps({
                "date": str(DAY),
                "timestamp": t.isoformat(timespec="microseconds"),
                "session_id": "%d-%08x" % (t.timestamp(), i),
                "client_ip": "%032x" % ((i & 0xFFFF) * 2654435761),
                "user_agent": AGENTS[i % 6],
                "num_links_submitted": 2, "num_files_downloaded": 2,
                "links": ["https://www.youtube.com/watch",
                          "https://soundcloud.com/artist/track-xyz"],
                "titles": [a, b], "filenames": [a + ".m4a", b + ".m4a"],
                "has_errors": i % 20 == 0, "error_count": int(i % 20 == 0),
                "ttl": ttl, "policy": "bench-0000abcd"},
                separators=(",", ":")) + "\n")
    os.chmod(path, 0o600)
    return path


def write_visits(path, n):
    """n visit lines for `privtrack record` (times within the last day)."""
    start = datetime.now(timezone.utc) - timedelta(hours=20)
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "remote_addr": peer(i),
                "headers": {"User-Agent": UA_RAW},
                "links": ["https://www.youtube.com/watch?v=abc123&list=PL9x"],
                "filenames": ["Song Title %d.m4a" % (i % 50)],
                "errors": [] if i % 20 else ["Song: HTTP 404"],
                "time": (start + timedelta(microseconds=i * 500)).isoformat()})
                + "\n")


# ---- the Python side --------------------------------------------------------

def py_stats(path):
    """The statistics of privtrack stats, as a plain streaming loop."""
    now = time.time()
    visits = files = ok = 0
    ips, hours, titles, agents = set(), Counter(), Counter(), Counter()
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            if r.get("ttl") and r["ttl"] < now:
                continue
            visits += 1
            files += r.get("num_files_downloaded", 0)
            ok += not r.get("has_errors")
            if r.get("client_ip"):
                ips.add(r["client_ip"])
            hours[r["timestamp"][11:13]] += 1
            titles.update(r.get("titles", []))
            agents[r.get("user_agent")] += 1
    print(json.dumps({"visits": visits, "unique_visitors": len(ips),
                      "files_downloaded": files,
                      "top_titles": titles.most_common(10),
                      "user_agents": agents.most_common(10),
                      "busiest_hour": hours.most_common(1)}))


def py_export(path, out):
    """Lines to a JSON array, as they are read."""
    with open(path) as f, open(out, "w") as o:
        o.write("[")
        for i, line in enumerate(f):
            o.write(",\n" if i else "\n")
            json.dump(json.loads(line), o, separators=(",", ":"))
        o.write("\n]\n")


def py_import(path, store):
    """json.loads + the seed's create_visit_record + a JSON-lines append."""
    from visit_record import anonymize_ip, create_visit_record
    os.makedirs(store, exist_ok=True)
    with open(path) as f, open(os.path.join(store, "visits.jsonl"), "a") as o:
        for line in f:
            v = json.loads(line)
            rec = create_visit_record(
                anonymize_ip(v["remote_addr"]),
                v.get("headers", {}).get("User-Agent"), v.get("links", []),
                v.get("filenames", []), v.get("errors", []), ttl_days=90)
            o.write(json.dumps(rec, separators=(",", ":")) + "\n")


# ---- benchmarks -------------------------------------------------------------

def cmd_file(args):
    store = os.path.join(args.dir, "store")
    day = write_day(store, args.n)
    policy = os.path.join(args.dir, "read.ini")
    with open(policy, "w") as f:
        f.write("[storage]\npath = %s\n[report]\nmin_group = 5\n" % store)
    pt = [args.privtrack, "--policy", policy]
    me = [sys.executable, os.path.abspath(__file__)]
    emit("privtrack", "read.records", args.n, "records")
    # Warm the page cache for both sides alike.
    run(["cat", day])
    t, rss = run(pt + ["stats", "--date", str(DAY), "--json"])
    emit("privtrack", "read.stats.seconds", t, "s")
    emit("privtrack", "read.stats.rss_mb", rss, "MiB")
    t, rss = run(me + ["py-stats", day])
    emit("baseline", "read.stats.seconds", t, "s")
    emit("baseline", "read.stats.rss_mb", rss, "MiB")
    out = os.path.join(args.dir, "export.json")
    t, rss = run(pt + ["export", "--date", str(DAY), "--output", out])
    emit("privtrack", "read.export.seconds", t, "s")
    emit("privtrack", "read.export.rss_mb", rss, "MiB")
    os.unlink(out)
    t, rss = run(me + ["py-export", day, out])
    emit("baseline", "read.export.seconds", t, "s")
    emit("baseline", "read.export.rss_mb", rss, "MiB")
    os.unlink(out)
    times = sorted(run(pt + ["query", "--date", str(DAY), "--limit", "100"])[0]
                   for _ in range(5))
    emit("privtrack", "read.query_limit100.ms", times[2] * 1000, "ms")
    os.unlink(day)
    cmd_import(args)


def cmd_import(args):
    """Bulk import: whole process, into fresh stores.  Each side runs
    --rounds times, alternating which goes first; the row is the median of
    each side (a 0.1-0.3 s process on a shared machine varies by 2x from
    one run to the next) and the highest peak RSS."""
    policy = os.path.join(args.dir, "import.ini")
    pt = [args.privtrack, "--policy", policy]
    me = [sys.executable, os.path.abspath(__file__)]
    visits = os.path.join(args.dir, "visits.jsonl")
    write_visits(visits, args.import_n)
    istore = os.path.join(args.dir, "import")
    pystore = os.path.join(args.dir, "py")
    with open(policy, "w") as f:
        f.write("[storage]\npath = %s\n[ip]\nrotate = never\n" % istore)
    env = dict(os.environ, PRIVTRACK_IP_KEY="00" * 32)
    sides = {
        "privtrack": lambda: run(pt + ["record", visits], env=env),
        "baseline": lambda: run(me + ["py-import", visits, pystore]),
    }
    times = {side: [] for side in sides}
    rss = {side: 0.0 for side in sides}
    for r in range(max(1, args.rounds)):
        order = ["privtrack", "baseline"]
        if r % 2:
            order.reverse()
        for side in order:
            for d in (istore, pystore):
                shutil.rmtree(d, ignore_errors=True)
            t, m = sides[side]()
            times[side].append(t)
            rss[side] = max(rss[side], m)
    emit("privtrack", "import.visits", args.import_n, "visits")
    emit("privtrack", "import.rounds", len(times["privtrack"]), "rounds")
    for side in sides:
        t = statistics.median(times[side])
        emit(side, "import.visits_per_s", args.import_n / t, "visits/s")
        emit(side, "import.rss_mb", rss[side], "MiB")


def peer(i):
    """The address of visit i: one of 65,536 in 198.51.0.0/16."""
    return "198.51.%d.%d" % ((i >> 8) & 255, i & 255)


def ddb_load(args, table, first, days, n, ip=peer,
             policy_ip="rotate = never\n"):
    """A fresh dynalite table `table` holding n visits spread evenly over
    `days` dates from `first`, recorded by `privtrack record` (the address
    of visit i is ip(i); policy_ip the policy from its [ip] section on).
    Returns (privtrack command prefix, env)."""
    policy = os.path.join(args.dir, "%s.ini" % table)
    with open(policy, "w") as f:
        f.write("[storage]\nbackend = dynamodb\ntable = %s\n"
                "[ip]\n%s" % (table, policy_ip))
    env = dict(os.environ, AWS_ENDPOINT_URL_DYNAMODB=args.endpoint,
               PRIVTRACK_IP_KEY="00" * 32)
    pt = [args.privtrack, "--policy", policy]
    run(pt + ["init-storage"], env=env)
    visits = os.path.join(args.dir, "%s-visits.jsonl" % table)
    midnight = datetime(first.year, first.month, first.day,
                        tzinfo=timezone.utc)
    with open(visits, "w") as f:
        for i in range(n):
            t = midnight + timedelta(
                microseconds=i * days * 86400000000 // n)
            f.write(json.dumps({
                "remote_addr": ip(i),
                "headers": {"User-Agent": UA_RAW},
                "filenames": ["Song Title %d.m4a" % (i % 50)],
                "time": t.isoformat()}) + "\n")
    run(pt + ["record", visits], env=env)
    os.unlink(visits)
    return pt, env


def ddb_pages(t, first, days, **kw):
    """The Query pages of `days` dates from `first` (YYYY-MM-DD) of the
    boto3 Table t, one date after the other, following LastEvaluatedKey;
    kw is added to every Query."""
    from boto3.dynamodb.conditions import Key
    for d in range(days):
        q = dict(kw, KeyConditionExpression=Key("date").eq(
            str(date.fromisoformat(first) + timedelta(days=d))))
        while True:
            page = t.query(**q)
            yield page
            if "LastEvaluatedKey" not in page:
                break
            q["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def py_ddb_read(endpoint, table, first, days):
    import boto3
    t = boto3.resource("dynamodb", endpoint_url=endpoint).Table(table)
    print(sum(len(p["Items"]) for p in ddb_pages(t, first, days,
                                                 ScanIndexForward=False)))


def cmd_dynamodb(args):
    table = "bench-read-%d" % os.getpid()
    first = DAY - timedelta(days=6)
    pt, env = ddb_load(args, table, first, 7, args.n)
    out = os.path.join(args.dir, "ddb-export.json")
    span = ["--from", str(first), "--to", str(DAY)]
    t, _ = run(pt + ["export"] + span + ["--output", out], env=env)
    with open(out) as f:
        n = len(json.load(f))
    emit("privtrack", "dynamodb_read.items", n, "items")
    emit("privtrack", "dynamodb_read.items_per_s", n / t, "items/s")
    # What a report reads: only the attributes stats needs
    # (ProjectionExpression), same Queries.
    t, _ = run(pt + ["stats"] + span + ["--json"], env=env)
    emit("privtrack", "dynamodb_read.stats_items_per_s", n / t, "items/s")
    t, _ = run([sys.executable, os.path.abspath(__file__), "py-ddb-read",
                args.endpoint, table, str(first), "7"], env=env)
    emit("baseline", "dynamodb_read.items_per_s", n / t, "items/s")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("file")
    p.add_argument("--privtrack", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("-n", type=int, default=1000000)
    p.add_argument("--import-n", type=int, default=100000)
    p.add_argument("--rounds", type=int, default=5)
    p = sub.add_parser("import")
    p.add_argument("--privtrack", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--import-n", type=int, default=100000)
    p.add_argument("--rounds", type=int, default=5)
    p = sub.add_parser("dynamodb")
    p.add_argument("--privtrack", required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("-n", type=int, default=14000)
    p = sub.add_parser("py-stats")
    p.add_argument("path")
    p = sub.add_parser("py-export")
    p.add_argument("path")
    p.add_argument("out")
    p = sub.add_parser("py-import")
    p.add_argument("path")
    p.add_argument("store")
    p = sub.add_parser("py-ddb-read")
    p.add_argument("endpoint")
    p.add_argument("table")
    p.add_argument("first")
    p.add_argument("days", type=int)
    a = ap.parse_args()
    os.makedirs(getattr(a, "dir", ".") or ".", exist_ok=True)
    if a.cmd == "file":
        cmd_file(a)
    elif a.cmd == "import":
        cmd_import(a)
    elif a.cmd == "dynamodb":
        cmd_dynamodb(a)
    elif a.cmd == "py-stats":
        py_stats(a.path)
    elif a.cmd == "py-export":
        py_export(a.path, a.out)
    elif a.cmd == "py-import":
        py_import(a.path, a.store)
    else:
        py_ddb_read(a.endpoint, a.table, a.first, a.days)


if __name__ == "__main__":
    main()
