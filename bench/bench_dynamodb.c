/*
 * DynamoDB backend: records/s and client CPU per record against a
 * DynamoDB-compatible server (dynalite, started by bench/run.sh), through
 * policy/default.ini with [storage] backend = dynamodb.
 *
 * The clock and getrusage(RUSAGE_SELF) run from the first pt_track() until
 * pt_tracker_flush() returns: policy, queue, item JSON, SigV4, HTTP and
 * response parsing of every thread of this process — and nothing of the
 * server, which is another process.  The table is then queried to check
 * that every visit was stored.
 *
 * Env: BENCH_DDB_ENDPOINT (required, http://127.0.0.1:PORT),
 * BENCH_DDB_TABLE (default bench-privtrack), BENCH_DDB_N (default 20,000),
 * BENCH_DDB_QUEUE (the tracker's queue_capacity; default BENCH_DDB_N).
 */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int
main(void)
{
    const char *endpoint = getenv("BENCH_DDB_ENDPOINT");
    const char *table = getenv("BENCH_DDB_TABLE");
    size_t n = pt_bench_env_size("BENCH_DDB_N", 20000);
    char *spool = pt_bench_mkdtemp("pt-bench-ddb-spool");
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *tracker;
    pt_policy *policy;
    pt_visit visit;
    char addr[16];
    pt_counters c;
    pt_record_list *list = NULL;
    uint64_t t0, elapsed;
    double cpu0, cpu, user0, sys0, user1, sys1, srv0, srv1;
    char date[16];
    time_t now = time(NULL);
    int rc;

    if (!endpoint)
        pt_bench_die("BENCH_DDB_ENDPOINT is not set");
    if (!table)
        table = "bench-privtrack";
    {
        pt_bench_setting s[] = {
            {"storage", "backend", "dynamodb"},
            {"storage", "endpoint", endpoint},
            {"storage", "table", table},
            {"storage", "region", "us-east-1"},
            {"storage", "path", spool},
        };
        policy = pt_bench_policy(s, sizeof s / sizeof s[0]);
    }
    opts.spool_dir = spool;
    /* What is measured is the backend's cost, as for boto3's batch_writer:
     * the queue holds every visit, so the producer never waits in
     * pt_track's queue-full path (BENCH_DDB_QUEUE overrides it to measure
     * that path too).  Should it fill anyway, wait rather than drop (a
     * drop would show in the counters below). */
    opts.queue_capacity = pt_bench_env_size("BENCH_DDB_QUEUE", n);
    opts.block_us = 10000000;
    tracker = pt_bench_tracker(policy, &opts);
    pt_policy_free(policy);
    rc = pt_tracker_init_storage(tracker);
    if (rc != PT_OK)
        pt_bench_die("init storage: %s: %s", pt_strerror(rc),
                     pt_tracker_errmsg(tracker));

    srv0 = pt_bench_server_cpu_us();
    t0 = pt_bench_now_ns();
    cpu0 = pt_bench_cpu_us();
    pt_bench_cpu_split_us(&user0, &sys0);
    for (size_t i = 0; i < n; i++) {
        pt_bench_visit(&visit, i, addr);
        pt_track(tracker, &visit, NULL);
    }
    if (pt_tracker_flush(tracker, 600000) != PT_OK)
        pt_bench_die("flush: %s", pt_tracker_errmsg(tracker));
    elapsed = pt_bench_now_ns() - t0;
    cpu = pt_bench_cpu_us() - cpu0;
    srv1 = pt_bench_server_cpu_us();
    pt_bench_cpu_split_us(&user1, &sys1);
    pt_tracker_counters(tracker, &c);

    pt_bench_emit("dynamodb.privtrack.records_per_s",
                  (double)c.stored / ((double)elapsed / 1e9), "records/s");
    pt_bench_emit("dynamodb.privtrack.cpu_us_per_record", cpu / (double)n,
                  "us/record");
    pt_bench_emit("dynamodb.privtrack.user_us_per_record",
                  (user1 - user0) / (double)n, "us/record");
    pt_bench_emit("dynamodb.privtrack.sys_us_per_record",
                  (sys1 - sys0) / (double)n, "us/record");
    if (srv0 >= 0 && srv1 >= 0) {
        pt_bench_emit("dynamodb.privtrack.server_cpu_us_per_record",
                      (srv1 - srv0) / (double)n, "us/record");
        pt_bench_emit("dynamodb.privtrack.server_cpu_per_wall",
                      (srv1 - srv0) / ((double)elapsed / 1e3), "fraction");
    }

    /* Every visit must be in the table (today's date, UTC). */
    strftime(date, sizeof date, "%Y-%m-%d", gmtime(&now));
    rc = pt_tracker_query(tracker, &list, date, 0);
    if (rc == PT_OK)
        pt_bench_emit("dynamodb.privtrack.items_stored", (double)list->count,
                      "items");
    else
        fprintf(stderr, "query: %s\n", pt_tracker_errmsg(tracker));
    pt_bench_emit("dynamodb.privtrack.dropped",
                  (double)(n - (c.accepted < n ? c.accepted : n)), "visits");
    fprintf(stderr,
            "dynamodb: %zu tracked, accepted %llu, dropped (queue_full) %llu, "
            "stored %llu, spooled %llu, retries %llu, failures %llu, %.2f s, "
            "%.0f us CPU\n",
            n, (unsigned long long)c.accepted,
            (unsigned long long)c.dropped[PT_DROP_QUEUE_FULL],
            (unsigned long long)c.stored, (unsigned long long)c.spooled,
            (unsigned long long)c.retries, (unsigned long long)c.failures,
            (double)elapsed / 1e9, cpu);
    pt_record_list_free(list);
    pt_tracker_close(tracker, 60000);
    pt_bench_rmtree(spool);
    free(spool);
    return 0;
}
