#!/usr/bin/python3
"""Baseline side of the privtrack benchmarks.

Each sub-command measures what the seed's design (or a plain Python JSON-lines
writer, for the file store) does for the same work as one C benchmark, and
prints one JSON object per line:

    {"side": "baseline", "key": "...", "value": <number>, "unit": "..."}

bench/run.sh collects these lines next to the C benchmarks' and prints the
table.  Run with Debian's Python (/usr/bin/python3), which has python3-boto3.

The visits are the C benchmarks' visits (bench/bench_common.c): the same
addresses, user agent, links and file names.
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

USER_AGENT = ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
              "Firefox/128.0")
LINKS = ["https://www.youtube.com/watch?v=abc123&list=PL9x&t=42",
         "https://soundcloud.com/artist/track-xyz?utm_source=share"]
FILENAMES = ["Song Title 1.m4a", "Song Title 2.m4a"]
TTL_DAYS = 90


def visit_ip(i):
    """Same formula as pt_bench_visit_ip() in bench_common.c."""
    i &= 0xFFFF
    return "198.51.%d.%d" % (i >> 8, i & 0xFF)


def emit(key, value, unit):
    print(json.dumps({"side": "baseline", "key": key, "value": value,
                      "unit": unit}), flush=True)


def vm_status(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0  # kB -> MiB
    return 0.0


# --------------------------------------------------------------------------
# The "policy" of the seed: what its guide suggests, per ip mode.

def make_policy(mode):
    """Return visit(i) -> record, for one ip mode of the seed's design."""
    import ipaddress

    from visit_record import anonymize_ip, create_visit_record

    def keep(ip):
        return ip

    def truncate(ip):
        net = ipaddress.ip_network(ip + "/24", strict=False)
        return str(net.network_address)

    def drop(ip):
        return None

    ip_fn = {"keep": keep, "truncate": truncate, "hash": anonymize_ip,
             "drop": drop, "default": anonymize_ip}[mode]
    ttl = TTL_DAYS if mode == "default" else None

    def apply(i):
        return create_visit_record(ip_fn(visit_ip(i)), USER_AGENT, LINKS,
                                   FILENAMES, [], ttl_days=ttl)
    return apply


def cmd_policy(args):
    for mode in ("keep", "truncate", "hash", "drop", "default"):
        apply = make_policy(mode)
        apply(0)  # warm up imports and caches
        t0 = time.perf_counter()
        c0 = time.process_time()
        for i in range(args.n):
            apply(i)
        cpu = time.process_time() - c0
        wall = time.perf_counter() - t0
        # One core: visits per CPU second (equal to wall here, single thread).
        emit("policy.%s.visits_per_s" % mode, args.n / max(cpu, wall, 1e-9),
             "visits/s")


# --------------------------------------------------------------------------
# The plain JSON-lines writer (file-store baseline).

def day_path(directory, record):
    return os.path.join(directory, record["date"] + ".jsonl")


def write_line_open_append(directory, record, fsync=False):
    """One open-append-write per record (what a naive module does)."""
    line = json.dumps(record, separators=(",", ":")) + "\n"
    with open(day_path(directory, record), "a") as f:
        f.write(line)
        if fsync:
            f.flush()
            os.fsync(f.fileno())


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    idx = min(len(sorted_values) - 1, int(q * len(sorted_values)))
    return sorted_values[idx]


def run_threads(threads, target):
    """target(t) on `threads` threads at once; returns when all are done."""
    workers = [threading.Thread(target=target, args=(t,))
               for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def time_calls(threads, per_thread, call):
    """call(thread, i) for i in that thread's share, from `threads` threads
    at once, each call timed; the latencies (ns), sorted."""
    samples = [[] for _ in range(threads)]

    def producer(t):
        out = samples[t]
        clock = time.perf_counter_ns
        base = t * per_thread
        for i in range(per_thread):
            s = clock()
            call(t, base + i)
            out.append(clock() - s)

    run_threads(threads, producer)
    return sorted(v for s in samples for v in s)


def emit_percentiles(prefix, latencies):
    for name, q in (("p50", 0.50), ("p99", 0.99), ("p999", 0.999)):
        emit("%s.%s_us" % (prefix, name), percentile(latencies, q) / 1000.0,
             "us")


def cmd_latency(args):
    """Request-path cost of recording one visit with the plain writer: the
    seed's anonymisation, its record, one JSON line appended, per call."""
    os.makedirs(args.dir, exist_ok=True)
    apply = make_policy("default")
    for threads in (1, 2, 4):
        emit_percentiles("latency.t%d" % threads, time_calls(
            threads, args.n // threads,
            lambda t, i: write_line_open_append(args.dir, apply(i))))
        _clear(args.dir)


def cmd_file(args):
    """Sustained throughput: `batch` = buffered writes, flush + os.fsync per
    batch; `always` = open-append-write + os.fsync per record."""
    os.makedirs(args.dir, exist_ok=True)
    apply = make_policy("default")

    # fsync = batch
    t0 = time.perf_counter()
    f = None
    path = None
    for i in range(args.n):
        rec = apply(i)
        p = day_path(args.dir, rec)
        if p != path:
            if f:
                f.close()
            f = open(p, "a", buffering=1 << 16)
            path = p
        f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        if (i + 1) % args.batch == 0:
            f.flush()
            os.fsync(f.fileno())
    f.flush()
    os.fsync(f.fileno())
    f.close()
    emit("file.batch.records_per_s", args.n / (time.perf_counter() - t0),
         "records/s")
    _clear(args.dir)

    # fsync = always
    n = args.n_always
    t0 = time.perf_counter()
    for i in range(n):
        write_line_open_append(args.dir, apply(i), fsync=True)
    emit("file.always.records_per_s", n / (time.perf_counter() - t0),
         "records/s")
    _clear(args.dir)


def _clear(directory):
    for name in os.listdir(directory):
        os.unlink(os.path.join(directory, name))


# --------------------------------------------------------------------------
# Memory

def cmd_memory(args):
    if args.what == "empty":
        # This script with its imports, doing nothing: the reference.
        make_policy("default")
        emit("memory.python_empty.hwm_mb", vm_status("VmHWM"), "MiB")
        return
    if args.what == "idle":
        # The seed's module at rest: boto3 loaded, a resource and a table.
        import dynamodb_tracker
        res = dynamodb_tracker.get_dynamodb_resource(
            endpoint_url="http://127.0.0.1:9")
        res.Table("link-downloader-visits")
        time.sleep(0.2)
        emit("memory.idle.hwm_mb", vm_status("VmHWM"), "MiB")
        return
    # track N visits with the plain writer (buffered, fsync per batch)
    os.makedirs(args.dir, exist_ok=True)
    apply = make_policy("default")
    f = None
    path = None
    rss_at_10 = rss_at_50 = 0.0
    for i in range(args.n):
        rec = apply(i)
        p = day_path(args.dir, rec)
        if p != path:
            if f:
                f.close()
            f = open(p, "a", buffering=1 << 16)
            path = p
        f.write(json.dumps(rec, separators=(",", ":")) + "\n")
        if (i + 1) % args.batch == 0:
            f.flush()
            os.fsync(f.fileno())
        if i + 1 == args.n // 10:
            rss_at_10 = vm_status("VmRSS")
        if i + 1 == args.n // 2:
            rss_at_50 = vm_status("VmRSS")
    rss_end = vm_status("VmRSS")
    f.close()
    emit("memory.track.hwm_mb", vm_status("VmHWM"), "MiB")
    emit("memory.track.growth_mb", rss_end - rss_at_10, "MiB")
    emit("memory.track.growth_half_mb", rss_end - rss_at_50, "MiB")
    _clear(args.dir)


# --------------------------------------------------------------------------
# DynamoDB: the seed's put_item (thread per write) and boto3's batch_writer

def cmd_dynamodb(args):
    import logging

    import dynamodb_tracker as seed

    logging.getLogger("urllib3").setLevel(logging.ERROR)
    logging.getLogger("botocore").setLevel(logging.ERROR)
    res = seed.get_dynamodb_resource(endpoint_url=args.endpoint)
    apply = make_policy("default")
    table = seed.create_dynamodb_table_if_not_exists(res, args.table)
    name = args.mode

    if args.mode == "put_item":
        # The seed: create_visit_record + put_item, a new thread per write.
        # In-flight threads are capped (as a web server's worker count would
        # cap them) so that thousands of threads do not measure the kernel.
        slots = threading.BoundedSemaphore(args.threads)

        def write(rec):
            try:
                seed.save_visit_record(table, rec)
            finally:
                slots.release()

        threads = []
        t0 = time.perf_counter()
        c0 = time.process_time()
        for i in range(args.n):
            rec = apply(i)
            slots.acquire()
            th = threading.Thread(target=write, args=(rec,), daemon=True)
            th.start()
            threads.append(th)
        for th in threads:
            th.join()
    else:
        # boto3's own batch_writer (BatchWriteItem of 25, unprocessed items
        # re-sent).  overwrite_by_pkeys drops same-key duplicates inside one
        # batch, which DynamoDB would reject.
        t0 = time.perf_counter()
        c0 = time.process_time()
        with table.batch_writer(overwrite_by_pkeys=["date", "timestamp"]) as bw:
            for i in range(args.n):
                bw.put_item(Item=apply(i))
    cpu = time.process_time() - c0
    wall = time.perf_counter() - t0
    if args.mode == "warmup":
        return
    emit("dynamodb.%s.records_per_s" % name, args.n / wall, "records/s")
    emit("dynamodb.%s.cpu_us_per_record" % name, cpu / args.n * 1e6,
         "us/record")
    count = 0
    kwargs = {"TableName": args.table, "Select": "COUNT"}
    while True:  # follow the pages: a count cut at 1 MB would flatter
        page = res.meta.client.scan(**kwargs)
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    emit("dynamodb.%s.items_stored" % name, count, "items")


def cmd_put_latency(args):
    """The request-path cost of the seed's design, as Tracker.track() is
    measured (bench/bench_python.py): per visit, the seed's record with its
    sha256(ip)[:16] and a synchronous boto3 put_item against dynalite; 1
    and 4 threads, each with its own boto3 session (boto3 resources are
    not thread-safe), each call timed."""
    import logging

    import boto3
    import dynamodb_tracker as seed

    logging.getLogger("urllib3").setLevel(logging.ERROR)
    logging.getLogger("botocore").setLevel(logging.ERROR)
    res = seed.get_dynamodb_resource(endpoint_url=args.endpoint)
    seed.create_dynamodb_table_if_not_exists(res, args.table)
    apply = make_policy("default")
    for threads in (1, 4):
        tables = [boto3.session.Session().resource(
            "dynamodb", region_name=seed.AWS_REGION,
            endpoint_url=args.endpoint).Table(args.table)
            for _ in range(threads)]
        for t in tables:  # connect and warm each session
            t.put_item(Item=apply(0))
        emit_percentiles("python.track.t%d" % threads, time_calls(
            threads, args.n // threads,
            lambda t, i: tables[t].put_item(Item=apply(i))))


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("policy")
    p.add_argument("-n", type=int, default=200000)
    p = sub.add_parser("latency")
    p.add_argument("-n", type=int, default=40000)
    p.add_argument("--dir", required=True)
    p = sub.add_parser("file")
    p.add_argument("-n", type=int, default=200000)
    p.add_argument("--n-always", type=int, default=5000)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--dir", required=True)
    p = sub.add_parser("memory")
    p.add_argument("what", choices=["empty", "idle", "track"])
    p.add_argument("-n", type=int, default=1000000)
    p.add_argument("--batch", type=int, default=25)
    p.add_argument("--dir")
    p = sub.add_parser("dynamodb")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--mode", required=True,
                   choices=["put_item", "batch_writer", "warmup"])
    p.add_argument("--table", required=True)
    p.add_argument("-n", type=int, default=5000)
    p.add_argument("--threads", type=int, default=32)
    p = sub.add_parser("put_latency")
    p.add_argument("--endpoint", required=True)
    p.add_argument("--table", required=True)
    p.add_argument("-n", type=int, default=1000)
    args = ap.parse_args()
    {"put_latency": cmd_put_latency, "policy": cmd_policy, "latency": cmd_latency, "file": cmd_file,
     "memory": cmd_memory, "dynamodb": cmd_dynamodb}[args.cmd](args)


if __name__ == "__main__":
    main()
