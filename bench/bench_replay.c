/*
 * Spool replay: how fast records spooled during an outage reach the store
 * once it is back.
 *
 * A tracker whose backend is down (a backend registered here that refuses
 * every put) spools N visits tracked through policy/default.ini; then a
 * synchronous tracker on the real backend -- what `privtrack spool replay`
 * opens -- replays the spool, and the clock runs around
 * pt_tracker_spool_replay() alone.  The store is checked afterwards: every
 * record there once.
 *
 *   bench_replay file       BENCH_REPLAY_N records (default 1,000,000)
 *                           into the file store (fsync = batch)
 *   bench_replay dynamodb   BENCH_REPLAY_DDB_N records (default 20,000)
 *                           into BENCH_DDB_ENDPOINT (dynalite), table
 *                           BENCH_REPLAY_TABLE (default bench-replay)
 *
 * BENCH_REPLAY_TIMEOUT (seconds, default 600) bounds the replay.  The
 * replay's memory is the peak RSS during it (VmHWM, reset just before it)
 * above the RSS it started from, per record replayed: flat memory gives
 * about 0.
 */
#include "bench_common.h"
#include "../tests/down_backend.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Track n visits into a spool at `spool` while the backend is down (the
 * hash key goes to `dir`). */
static void
fill_spool(const char *dir, const char *spool, size_t n)
{
    pt_bench_setting s[] = {{"storage", "backend", "down"},
                            {"storage", "path", dir}};
    pt_policy *policy = pt_bench_policy(s, sizeof s / sizeof s[0]);
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *t;
    pt_visit visit;
    char addr[16];
    pt_counters c;
    uint64_t t0 = pt_bench_now_ns();

    opts.spool_dir = spool;
    opts.block_us = 10000000; /* wait for the writer, never drop */
    t = pt_bench_tracker(policy, &opts);
    pt_policy_free(policy);
    for (size_t i = 0; i < n; i++) {
        pt_bench_visit(&visit, i, addr);
        pt_track(t, &visit, NULL);
    }
    if (pt_tracker_flush(t, 600000) != PT_OK)
        pt_bench_die("spooling: %s", pt_tracker_errmsg(t));
    pt_tracker_counters(t, &c);
    pt_tracker_close(t, 60000);
    if (c.spooled != n)
        pt_bench_die("spooled %llu of %zu", (unsigned long long)c.spooled, n);
    fprintf(stderr, "replay: %zu records spooled in %.1f s\n", n,
            (double)(pt_bench_now_ns() - t0) / 1e9);
}

/* Reset the peak RSS (VmHWM) to the current RSS and return that RSS (MiB),
 * after handing what the spooling freed back to the system.  -1 when the
 * kernel cannot reset the peak. */
static double
rss_mark(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    int ok;

    malloc_trim(0);
    if (!f)
        return -1;
    ok = fputs("5", f) >= 0;
    ok = fclose(f) == 0 && ok;
    return ok ? pt_bench_vm_mb("VmRSS") : -1;
}

/* Replay the spool through a synchronous tracker on `policy`. */
static double
replay(pt_policy *policy, const char *spool, size_t n, const char *what)
{
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    unsigned int timeout_s =
        (unsigned int)pt_bench_env_size("BENCH_REPLAY_TIMEOUT", 600);
    pt_tracker *t;
    uint64_t replayed = 0, t0, elapsed;
    double cpu0, cpu, rss0, peak, srv0, srv1;
    pt_spool_status st;
    char key[64];
    int rc;

    opts.spool_dir = spool;
    opts.synchronous = 1; /* as `privtrack spool replay` */
    t = pt_bench_tracker(policy, &opts);
    if ((rc = pt_tracker_init_storage(t)) != PT_OK)
        pt_bench_die("init storage: %s", pt_tracker_errmsg(t));
    rss0 = rss_mark();
    srv0 = pt_bench_server_cpu_us();
    t0 = pt_bench_now_ns();
    cpu0 = pt_bench_cpu_us();
    rc = pt_tracker_spool_replay(t, timeout_s * 1000u, &replayed);
    elapsed = pt_bench_now_ns() - t0;
    cpu = pt_bench_cpu_us() - cpu0;
    srv1 = pt_bench_server_cpu_us();
    peak = pt_bench_vm_mb("VmHWM");
    if (rc != PT_OK)
        pt_bench_die("replay: %s after %llu records", pt_tracker_errmsg(t),
                     (unsigned long long)replayed);
    if (pt_tracker_spool_status(t, &st) != PT_OK || st.pending_records)
        pt_bench_die("replay left %llu records",
                     (unsigned long long)st.pending_records);
    pt_tracker_close(t, 60000);
    if (replayed != n)
        pt_bench_die("replayed %llu of %zu", (unsigned long long)replayed, n);

    snprintf(key, sizeof key, "replay.%s.records_per_s", what);
    pt_bench_emit(key, (double)n / ((double)elapsed / 1e9), "records/s");
    snprintf(key, sizeof key, "replay.%s.seconds", what);
    pt_bench_emit(key, (double)elapsed / 1e9, "s");
    snprintf(key, sizeof key, "replay.%s.records", what);
    pt_bench_emit(key, (double)n, "records");
    snprintf(key, sizeof key, "replay.%s.cpu_us_per_record", what);
    pt_bench_emit(key, cpu / (double)n, "us/record");
    if (srv0 >= 0 && srv1 >= 0) {
        snprintf(key, sizeof key, "replay.%s.server_cpu_us_per_record", what);
        pt_bench_emit(key, (srv1 - srv0) / (double)n, "us/record");
        snprintf(key, sizeof key, "replay.%s.server_cpu_per_wall", what);
        pt_bench_emit(key, (srv1 - srv0) / ((double)elapsed / 1e3), "fraction");
    }
    if (rss0 >= 0) {
        snprintf(key, sizeof key, "replay.%s.peak_bytes_per_record", what);
        pt_bench_emit(key, (peak - rss0) * 1048576.0 / (double)n,
                      "bytes/record");
    }
    fprintf(stderr, "replay into %s: %zu records in %.2f s (%.0f/s)\n", what, n,
            (double)elapsed / 1e9, (double)n / ((double)elapsed / 1e9));
    return (double)elapsed / 1e9;
}

static void
bench_file(void)
{
    size_t n = pt_bench_env_size("BENCH_REPLAY_N", 1000000);
    char *dir = pt_bench_mkdtemp("pt-bench-replay");
    char spool[4200];
    pt_policy *policy;
    uint64_t lines;

    snprintf(spool, sizeof spool, "%s/spool", dir);
    fill_spool(dir, spool, n);
    {
        pt_bench_setting s[] = {{"storage", "path", dir}};
        policy = pt_bench_policy(s, sizeof s / sizeof s[0]);
    }
    replay(policy, spool, n, "file");
    pt_policy_free(policy);
    lines = pt_bench_count_lines(dir, ".jsonl");
    if (lines != n)
        pt_bench_die("%llu lines in the store, %zu expected",
                     (unsigned long long)lines, n);
    pt_bench_rmtree(dir);
    free(dir);
}

static void
bench_dynamodb(void)
{
    const char *endpoint = getenv("BENCH_DDB_ENDPOINT");
    const char *table = getenv("BENCH_REPLAY_TABLE");
    size_t n = pt_bench_env_size("BENCH_REPLAY_DDB_N", 20000);
    char *dir = pt_bench_mkdtemp("pt-bench-replay-ddb");
    char spool[4200];
    pt_policy *policy;

    if (!endpoint)
        pt_bench_die("BENCH_DDB_ENDPOINT is not set");
    if (!table)
        table = "bench-replay";
    snprintf(spool, sizeof spool, "%s/spool", dir);
    fill_spool(dir, spool, n);
    {
        pt_bench_setting s[] = {
            {"storage", "backend", "dynamodb"},
            {"storage", "endpoint", endpoint},
            {"storage", "table", table},
            {"storage", "region", "us-east-1"},
            {"storage", "path", dir},
        };
        policy = pt_bench_policy(s, sizeof s / sizeof s[0]);
    }
    replay(policy, spool, n, "dynamodb");
    pt_policy_free(policy);
    pt_bench_rmtree(dir);
    free(dir);
}

int
main(int argc, char **argv)
{
    if (pt_test_down_register() != PT_OK)
        pt_bench_die("cannot register the down backend");
    if (argc == 2 && strcmp(argv[1], "file") == 0)
        bench_file();
    else if (argc == 2 && strcmp(argv[1], "dynamodb") == 0)
        bench_dynamodb();
    else
        pt_bench_die("usage: bench_replay file|dynamodb");
    return 0;
}
