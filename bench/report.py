#!/usr/bin/python3
"""Turn the benchmarks' JSON lines into the one table bench/run.sh prints.

    report.py RESULTS.jsonl [--command CMD] [--markdown-out FILE]

Every C benchmark and every baseline prints lines like
{"side": "privtrack"|"baseline", "key": "...", "value": N, "unit": "..."}.
The table puts each privtrack figure next to the baseline figure measured in
the same run, with their ratio expressed as privtrack's advantage: how many
times better privtrack is (privtrack / baseline for rates, baseline /
privtrack for latencies, CPU and memory).  A ratio below 1 means the
baseline did better.
"""

import argparse
import datetime
import json
import math
import os
import platform
import statistics
import subprocess
import sys

HIGHER, LOWER = "higher", "lower"


def load(path):
    results = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            results[(r["side"], r["key"])] = r["value"]
    return results


def fmt(v, unit):
    if v is None:
        return "n/a"
    if unit in ("visits/s", "records/s"):
        return "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    if abs(v) >= 10:
        return "{:.1f}".format(v)
    return "{:.2f}".format(v)


def advantage(pt, base, better):
    if pt is None or base is None or pt <= 0 or base <= 0:
        return None
    return pt / base if better == HIGHER else base / pt


def replay_pairs(r):
    """The alternating (normal write, spool replay) pairs of bench/run.sh:
    [(round, write records/s, replay records/s)]."""
    out = []
    rounds = sorted({int(k.split(".")[1]) for (side, k) in r
                     if side == "privtrack" and k.startswith("replaypair.")})
    for n in rounds:
        w = r.get(("privtrack", "replaypair.%d.write.records_per_s" % n))
        p = r.get(("privtrack", "replaypair.%d.replay.records_per_s" % n))
        if w and p:
            out.append((n, w, p))
    return out


def pair_interval(pairs):
    """(n, geometric mean, low, high, pairs >= 1, n): the 95 % interval of
    the replay / normal-write ratio from the pairs' log ratios (Student's
    t), or None for fewer than 2 pairs."""
    logs = [math.log(p / w) for _, w, p in pairs]
    n = len(logs)
    if n < 2:
        return None
    # two-sided 95 % quantiles of Student's t for n - 1 degrees of freedom
    t95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447,
           7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228, 11: 2.201, 12: 2.179,
           13: 2.160, 14: 2.145, 15: 2.131, 16: 2.120, 17: 2.110,
           18: 2.101, 19: 2.093}.get(n - 1, 2.086 if n <= 21 else 1.96)
    mean = statistics.fmean(logs)
    half = t95 * statistics.stdev(logs) / math.sqrt(n)
    return (n, math.exp(mean), math.exp(mean - half), math.exp(mean + half),
            sum(1 for v in logs if v >= 0), n)


def rows(r):
    """(metric, unit, privtrack, baseline, better, target text, met)."""
    def pt(key):
        return r.get(("privtrack", key))

    def bl(key):
        return r.get(("baseline", key))

    def diff(a, b):
        return None if a is None or b is None else a - b

    out = []

    def add(metric, unit, p, b, better, target="", check=None):
        ratio = advantage(p, b, better)
        met = ""
        if check is not None:
            ok = check(p, ratio)
            met = "n/a" if ok is None else ("yes" if ok else "**NO**")
        out.append((metric, unit, p, b, ratio, target, met))

    def at_least(limit, on="value"):
        def check(p, ratio):
            v = p if on == "value" else ratio
            return None if v is None else v >= limit
        return check

    def at_most(limit):
        def check(p, ratio):
            return None if p is None else p <= limit
        return check

    def both(first, second):
        def check(p, ratio):
            a, b = first(p, ratio), second(p, ratio)
            return None if a is None or b is None else a and b
        return check

    # 1. policy cost
    add("policy cost, policy/default.ini: hash of the /24, rotate = daily "
        "(1 core)", "visits/s",
        pt("policy.default.visits_per_s"), bl("policy.default.visits_per_s"),
        HIGHER, "≥ 1,000,000", at_least(1e6))
    add("policy cost, policy/default.ini with rotate = never (1 core)",
        "visits/s", pt("policy.default_never.visits_per_s"),
        bl("policy.default.visits_per_s"), HIGHER)
    for mode in ("keep", "truncate", "hash", "drop"):
        label = {"hash": "hash (whole address)",
                 "truncate": "truncate (/24)"}.get(mode, mode)
        add("policy cost, ip mode = %s (1 core)" % label, "visits/s",
            pt("policy.%s.visits_per_s" % mode),
            bl("policy.%s.visits_per_s" % mode), HIGHER)
    # 2. request-path latency: default.ini (rotate = daily), then the same
    # with one key
    for prefix, what in (("latency", "rotate = daily"),
                         ("latency.never", "rotate = never")):
        for t in (1, 2, 4):
            for q, name in (("p50", "p50"), ("p99", "p99"),
                            ("p999", "p99.9")):
                key = "%s.t%d.%s_us" % (prefix, t, q)
                label = "request path (pt_track) %s, %d thread%s, %s" % (
                    name, t, "s" if t > 1 else "", what)
                base = bl("latency.t%d.%s_us" % (t, q))
                if q == "p99":
                    add(label, "µs", pt(key), base, LOWER, "≤ 5",
                        at_most(5.0))
                else:
                    add(label, "µs", pt(key), base, LOWER)
    # 3. file store
    add("file store, fsync = batch", "records/s",
        pt("file.batch.records_per_s"), bl("file.batch.records_per_s"),
        HIGHER, "≥ 200,000", at_least(2e5))
    add("file store, fsync = always", "records/s",
        pt("file.always.records_per_s"), bl("file.always.records_per_s"),
        HIGHER)
    # 4. DynamoDB (dynalite), vs both baselines
    for base, label in (("batch_writer", "boto3 batch_writer"),
                        ("put_item", "seed put_item/thread")):
        add("DynamoDB records/s vs %s" % label, "records/s",
            pt("dynamodb.privtrack.records_per_s"),
            bl("dynamodb.%s.records_per_s" % base), HIGHER,
            "ratio ≥ 1" if base == "batch_writer" else "",
            at_least(1.0, on="ratio") if base == "batch_writer" else None)
        add("DynamoDB client CPU/record vs %s" % label, "µs",
            pt("dynamodb.privtrack.cpu_us_per_record"),
            bl("dynamodb.%s.cpu_us_per_record" % base), LOWER,
            "ratio ≥ 20" if base == "batch_writer" else "",
            at_least(20.0, on="ratio") if base == "batch_writer" else None)
    # 5. spool replay (no Python baseline: the seed had no spool; the
    # DynamoDB row's baseline column is privtrack's own normal write rate
    # against the same dynalite in the same run)
    n = pt("replay.file.records")
    add("spool replay, %s records into the file store" %
        ("{:,.0f}".format(n) if n else "n/a"), "s",
        pt("replay.file.seconds"), None, LOWER,
        "≤ 10 (1,000,000)" if n == 1e6 else "", at_most(10.0) if n == 1e6
        else None)
    add("spool replay into the file store", "records/s",
        pt("replay.file.records_per_s"), None, HIGHER)
    pairs = replay_pairs(r)
    if pairs:
        # Geometric means: their ratio is the geometric mean of the
        # per-pair ratios, which cancels the server's drift from one pair
        # to the next (each pair runs back to back on one server).
        add("spool replay into DynamoDB vs its normal write rate (geometric "
            "means of %d alternating pairs)" % len(pairs), "records/s",
            statistics.geometric_mean(p for _, _, p in pairs),
            statistics.geometric_mean(w for _, w, _ in pairs), HIGHER,
            "ratio ≥ 1", at_least(1.0, on="ratio"))
        add("spool replay into DynamoDB vs the DynamoDB row above (one run "
            "each)", "records/s", pt("replay.dynamodb.records_per_s"),
            pt("dynamodb.privtrack.records_per_s"), HIGHER)
    else:
        add("spool replay into DynamoDB vs its normal write rate",
            "records/s", pt("replay.dynamodb.records_per_s"),
            pt("dynamodb.privtrack.records_per_s"), HIGHER, "ratio ≥ 1",
            at_least(1.0, on="ratio"))
    add("spool replay into the file store: peak memory above its start",
        "bytes/record", pt("replay.file.peak_bytes_per_record"), None, LOWER)
    add("spool replay into DynamoDB: peak memory above its start",
        "bytes/record", pt("replay.dynamodb.peak_bytes_per_record"), None,
        LOWER)
    # 6. Python: Tracker.track() vs the seed's synchronous put_item
    for t in (1, 4):
        for q, name in (("p50", "p50"), ("p99", "p99"), ("p999", "p99.9")):
            key = "python.track.t%d.%s_us" % (t, q)
            metric = ("Python Tracker.track() %s, %d thread%s (baseline: "
                      "seed's synchronous put_item)" %
                      (name, t, "s" if t > 1 else ""))
            if t == 1 and q == "p99":
                add(metric, "µs", pt(key), bl(key), LOWER,
                    "≤ 20, ratio ≥ 50", both(at_most(20.0),
                                             at_least(50.0, on="ratio")))
            elif t == 1 and q == "p50":
                add(metric, "µs", pt(key), bl(key), LOWER, "ratio ≥ 50",
                    at_least(50.0, on="ratio"))
            else:
                add(metric, "µs", pt(key), bl(key), LOWER)
    # 7. the read side (issue 11), whole processes, same day file
    n = pt("read.records")
    day = "{:,.0f} records of one day".format(n) if n else "one day"
    full = n is not None and n >= 1e6
    add("stats of %s" % day, "s", pt("read.stats.seconds"),
        bl("read.stats.seconds"), LOWER, "ratio ≥ 10",
        at_least(10.0, on="ratio"))
    add("stats of %s, peak RSS" % day, "MiB", pt("read.stats.rss_mb"),
        bl("read.stats.rss_mb"), LOWER, "≤ 32 (1,000,000)" if full else "",
        at_most(32.0) if full else None)
    add("export of %s" % day, "s", pt("read.export.seconds"),
        bl("read.export.seconds"), LOWER)
    add("export of %s, peak RSS" % day, "MiB", pt("read.export.rss_mb"),
        bl("read.export.rss_mb"), LOWER, "≤ 32 (1,000,000)" if full else "",
        at_most(32.0) if full else None)
    add("query --limit 100 of %s (median of 5)" % day, "ms",
        pt("read.query_limit100.ms"), None, LOWER,
        "≤ 50 (1,000,000)" if full else "", at_most(50.0) if full else None)
    n = pt("import.visits")
    k = pt("import.rounds")
    add("bulk import, record FILE of %s visits%s" %
        ("{:,.0f}".format(n) if n else "n/a",
         " (median of %d runs each)" % k if k else ""), "visits/s",
        pt("import.visits_per_s"), bl("import.visits_per_s"), HIGHER,
        "ratio ≥ 10", at_least(10.0, on="ratio"))
    add("bulk import, peak RSS", "MiB", pt("import.rss_mb"),
        bl("import.rss_mb"), LOWER)
    n = pt("dynamodb_read.items")
    add("DynamoDB range read, %s items over 7 dates (export vs boto3 loop)" %
        ("{:,.0f}".format(n) if n else "n/a"), "items/s",
        pt("dynamodb_read.items_per_s"), bl("dynamodb_read.items_per_s"),
        HIGHER)
    add("DynamoDB range read for stats (ProjectionExpression) vs boto3 loop",
        "items/s", pt("dynamodb_read.stats_items_per_s"),
        bl("dynamodb_read.items_per_s"), HIGHER)
    # 7b. data-subject erasure on the file store (issue 10)
    n, days = pt("subject.records"), pt("subject.days")
    what = ("{:,.0f} records over {:.0f} day files".format(n, days)
            if n and days else "n/a")
    add("subject erase of one person, %s" % what, "s",
        pt("subject.erase.seconds"), bl("subject.erase.seconds"), LOWER,
        "ratio ≥ 1", at_least(1.0, on="ratio"))
    add("subject erase, peak RSS", "MiB", pt("subject.erase.rss_mb"),
        bl("subject.erase.rss_mb"), LOWER)
    n, days = pt("subject_ddb.items"), pt("subject_ddb.dates")
    what = ("{:,.0f} items over {:.0f} dates".format(n, days)
            if n and days else "n/a")
    add("subject erase of one person on DynamoDB, %s, vs boto3 loop" % what,
        "s", pt("subject_ddb.erase.seconds"), bl("subject_ddb.erase.seconds"),
        LOWER, "ratio ≥ 1", at_least(1.0, on="ratio"))
    add("subject erase on DynamoDB, peak RSS", "MiB",
        pt("subject_ddb.erase.rss_mb"), bl("subject_ddb.erase.rss_mb"), LOWER)
    # 8. memory
    empty_c = pt("memory.empty_c.hwm_mb")
    empty_py = bl("memory.python_empty.hwm_mb")
    add("peak RSS above empty program, tracking 1M visits (file)", "MiB",
        diff(pt("memory.track.hwm_mb"), empty_c),
        diff(bl("memory.track.hwm_mb"), empty_py), LOWER, "≤ 16",
        at_most(16.0))
    add("RSS growth from 50 % to 100 % of the visits", "MiB",
        pt("memory.track.growth_half_mb"), bl("memory.track.growth_half_mb"),
        LOWER, "flat (≤ 1)", at_most(1.0))
    add("RSS growth from 10 % to 100 % (queue filling to its bound)", "MiB",
        pt("memory.track.growth_mb"), bl("memory.track.growth_mb"), LOWER)
    add("peak RSS above empty program, idle tracker", "MiB",
        diff(pt("memory.idle.hwm_mb"), empty_c),
        diff(bl("memory.idle.hwm_mb"), empty_py), LOWER)
    return out


BASELINES = [
    "baselines: policy = the seed's create_visit_record plus its ip step "
    "(keep; /24 via ipaddress; the guide's sha256(ip)[:16]; none), default = "
    "sha256(ip)[:16] + the guide's 90-day ttl",
    "latency and file store = a plain Python JSON-lines writer: per call "
    "open-append-write (latency), buffered with flush + os.fsync per 25 "
    "records (batch), open-append-write + os.fsync per record (always)",
    "DynamoDB = dynalite on loopback, same server for all; the seed's "
    "put_item from a new thread per write (at most 32 in flight) and boto3's "
    "batch_writer; CPU = the client process's user+system time only",
    "spool replay = records spooled while the backend was down, replayed "
    "by a synchronous tracker (what `privtrack spool replay` opens); the "
    "DynamoDB replay row compares with privtrack's own write rate measured "
    "in the same run",
    "Python = privtrack's binding (bindings/python, ctypes over this "
    "build's libprivtrack.so.0), default.ini, file store, one tracker "
    "shared by the threads, paced in 1 ms slices (BENCH_PY_LAT_RATE, "
    "100,000 visits/s in all); baseline = the seed's record + sha256(ip)[:16] "
    "+ a synchronous boto3 put_item per visit against dynalite, one boto3 "
    "session per thread, same visits",
    "memory = the same Python writer tracking the same visits, above the "
    "same script doing nothing; idle = the seed's module with a boto3 "
    "resource and table loaded",
    "read side = a plain Python streaming loop over the same day file "
    "(json.loads per line, a set and Counters: stats; the lines to a JSON "
    "array as read: export); bulk import = json.loads + the seed's "
    "create_visit_record + a JSON-lines append (no fsync; privtrack "
    "fdatasyncs per group of records); DynamoDB range read = boto3 "
    "Table.query per date following LastEvaluatedKey, same dynalite",
]


def notes(r):
    """Checks that make the figures trustworthy, and their context."""
    lines = list(BASELINES)
    clock = r.get(("privtrack", "latency.clock_overhead_ns"))
    if clock is not None:
        lines.append("clock_gettime pair overhead (included in each latency "
                     "sample): %.0f ns" % clock)
    floor = []
    for t in (1, 2, 4):
        vals = [r.get(("privtrack", "latency.floor.t%d.%s_us" % (t, q)))
                for q in ("p50", "p99", "p999")]
        if None not in vals:
            floor.append("%d thread%s %.2f / %.2f / %.1f" %
                         (t, "s" if t > 1 else "", *vals))
    after = [(t, r.get(("privtrack", "latency.t%d.after_pause_p50_us" % t)))
             for t in (1, 2, 4)]
    after = [(t, v) for t, v in after if v is not None]
    if after:
        lines.append("pt_track median of the first call after each 1 ms "
                     "pacing pause (cold core): " +
                     "; ".join("%d thread%s %.2f µs" %
                               (t, "s" if t > 1 else "", v) for t, v in after))
    if floor:
        lines.append("timing floor — a ~1 µs busy loop timed exactly like "
                     "pt_track, same threads and pacing (p50 / p99 / p99.9 "
                     "µs): " + "; ".join(floor) + ". What the machine adds "
                     "by itself; tails below it cannot be measured here")
    for t in (1, 2, 4):
        d = r.get(("privtrack", "latency.t%d.dropped" % t))
        if d:
            lines.append("latency, %d thread(s): %d visits dropped "
                         "(queue full) — those calls were cheaper" % (t, d))
    for mode in ("batch", "always"):
        lost = r.get(("privtrack", "file.%s.lost" % mode))
        tracked = r.get(("privtrack", "file.%s.tracked" % mode))
        if tracked is not None:
            lines.append("file store fsync=%s: %d visits tracked, %d missing "
                         "on disk afterwards" % (mode, tracked, lost or 0))
        if lost:
            lines.append("**file store fsync=%s: %d records missing on "
                         "disk**" % (mode, lost))
    for side, key in (("privtrack", "dynamodb.privtrack.items_stored"),
                      ("baseline", "dynamodb.batch_writer.items_stored"),
                      ("baseline", "dynamodb.put_item.items_stored")):
        v = r.get((side, key))
        if v is not None:
            lines.append("%s: %d items in the table afterwards" %
                         (key.replace(".items_stored", ""), v))
    d = r.get(("privtrack", "dynamodb.privtrack.dropped"))
    if d:
        lines.append("**dynamodb.privtrack: %d visits dropped (queue full "
                     "for 10 s)**" % d)
    u = r.get(("privtrack", "dynamodb.privtrack.user_us_per_record"))
    k = r.get(("privtrack", "dynamodb.privtrack.sys_us_per_record"))
    if u is not None and k is not None:
        lines.append("dynamodb.privtrack CPU per record: %.1f µs user + %.1f "
                     "µs system" % (u, k))
    pairs = replay_pairs(r)
    if pairs:
        lines.append("spool replay into DynamoDB, pairs (replay ÷ normal "
                     "writes, records/s): " + "; ".join(
                         "%d: %.2f× (%.0f / %.0f)" % (n, p / w, p, w)
                         for n, w, p in pairs))
        ci = pair_interval(pairs)
        if ci:
            lines.append("spool replay into DynamoDB ÷ normal writes, "
                         "geometric mean of the %d pairs %.3f×, 95 %% "
                         "interval %.3f–%.3f× (t on the log ratios); %d "
                         "of %d pairs ≥ 1" % ci)
    for key, what in (("dynamodb.privtrack", "normal writes"),
                      ("replay.dynamodb", "spool replay")):
        sc = r.get(("privtrack", key + ".server_cpu_us_per_record"))
        busy = r.get(("privtrack", key + ".server_cpu_per_wall"))
        if sc is not None and busy is not None:
            lines.append("dynalite during the %s: %.0f µs of its CPU per "
                         "record, %.2f s of CPU per second (node has helper "
                         "threads: up to a little over 1)" % (what, sc, busy))
    floor = []
    for t in (1, 4):
        vals = [r.get(("privtrack", "python.floor.t%d.%s_us" % (t, q)))
                for q in ("p50", "p99", "p999")]
        if None not in vals:
            floor.append("%d thread%s %.2f / %.2f / %.1f" %
                         (t, "s" if t > 1 else "", *vals))
    if floor:
        lines.append("Python timing floor — a pure-Python loop as long as "
                     "a median track() call, timed and paced the same way "
                     "(p50 / p99 / p99.9 µs): " + "; ".join(floor))
    after = [(t, r.get(("privtrack", "python.track.t%d.after_pause_p50_us"
                        % t))) for t in (1, 4)]
    after = [(t, v) for t, v in after if v is not None]
    if after:
        lines.append("Python Tracker.track() median of the first call "
                     "after each 1 ms pacing pause (cold core): " +
                     "; ".join("%d thread%s %.2f µs" %
                               (t, "s" if t > 1 else "", v)
                               for t, v in after))
    d = r.get(("privtrack", "python.track.dropped"))
    if d:
        lines.append("**Python Tracker.track(): %d visits dropped (queue "
                     "full) — those calls were cheaper**" % d)
    stored = r.get(("privtrack", "python.track.stored"))
    if stored is not None:
        lines.append("Python Tracker.track(): %d records stored by the "
                     "measured calls" % stored)
    stored = r.get(("privtrack", "memory.track.stored"))
    if stored is not None:
        lines.append("memory run: %d visits tracked and stored (the target "
                     "is stated for 1,000,000)" % stored)
    if empty := r.get(("privtrack", "memory.empty_c.hwm_mb")):
        lines.append("empty C program peak RSS %.1f MiB; empty Python "
                     "(the baseline script's imports) %.1f MiB" %
                     (empty, r.get(("baseline", "memory.python_empty.hwm_mb"),
                                   0.0)))
    return lines


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True,
                             cwd=os.path.dirname(os.path.abspath(__file__))
                             ).stdout.strip()
    except OSError:
        rev = "?"
    return ("%s UTC, %d × %s (nproc %d), Linux %s, commit %s" %
            (datetime.datetime.now(datetime.timezone.utc)
             .strftime("%Y-%m-%d %H:%M"), os.cpu_count() or 0, model,
             len(os.sched_getaffinity(0)), platform.release(), rev))


def render(r, command):
    out = []
    out.append("Machine: " + machine())
    la0, la1 = r.get(("env", "loadavg_start")), r.get(("env", "loadavg_end"))
    if la0 is not None:
        out.append("Load average (1 min) at the start of the run: %.2f, at "
                   "the end: %s (the machine is shared)" %
                   (la0, "n/a" if la1 is None else "%.2f" % la1))
    if command:
        out.append("Command: `%s`" % command)
    out.append("")
    out.append("| metric | unit | privtrack | baseline | ratio | target | met? |")
    out.append("|---|---|---:|---:|---:|---|---|")
    for metric, unit, p, b, ratio, target, met in rows(r):
        out.append("| %s | %s | %s | %s | %s | %s | %s |" % (
            metric, unit, fmt(p, unit), fmt(b, unit),
            "n/a" if ratio is None else "%.2f×" % ratio, target, met))
    out.append("")
    out.append("ratio = how many times better privtrack is (privtrack ÷ "
               "baseline for rates, baseline ÷ privtrack for latency, CPU "
               "and memory); below 1× the baseline did better.")
    for n in notes(r):
        out.append("- " + n)
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("--command", default="")
    ap.add_argument("--markdown-out")
    args = ap.parse_args()
    text = render(load(args.results), args.command)
    sys.stdout.write(text)
    if args.markdown_out:
        with open(args.markdown_out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
