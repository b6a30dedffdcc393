/*
 * File store, sustained throughput: one producer tracks N visits as fast as
 * it can through policy/default.ini into the file store, with fsync = batch
 * and fsync = always; the clock runs from the first pt_track() until
 * pt_tracker_flush() returns (everything on disk).  The queue is made to
 * block the producer (block_us) instead of dropping, so the figure is what
 * the writer sustains, and the day files' lines are counted afterwards to
 * check that every visit reached the disk.
 *
 * Env: BENCH_FILE_N (default 1,000,000) for batch, BENCH_FILE_ALWAYS_N
 * (default 50,000) for always, each stopped after BENCH_FILE_SECONDS
 * (default 30) of producing; BENCH_FILE_BATCH overrides the tracker's
 * batch_size (default: the library's) to diagnose a miss.
 */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>

static void
run(const char *fsync_mode, size_t n, double max_seconds)
{
    pt_bench_setting s[] = {{"storage", "fsync", fsync_mode}};
    pt_policy *policy = pt_bench_policy(s, 1);
    char *dir = pt_bench_mkdtemp("pt-bench-file");
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *tracker;
    pt_visit visit;
    char addr[16];
    pt_counters c;
    uint64_t t0, elapsed, lines;
    double cpu0, cpu;
    char key[64];

    opts.storage_path = dir;
    opts.block_us = 10000000; /* sustained: wait for the writer, never drop */
    /* 0: the library's default; set only to diagnose (see run.sh). */
    opts.batch_size = pt_bench_env_size("BENCH_FILE_BATCH", 0);
    tracker = pt_bench_tracker(policy, &opts);
    pt_policy_free(policy);

    t0 = pt_bench_now_ns();
    cpu0 = pt_bench_cpu_us();
    for (size_t i = 0; i < n; i++) {
        pt_bench_visit(&visit, i, addr);
        pt_track(tracker, &visit, NULL);
        /* A slow store must not make the run endless: stop producing at
         * the deadline; the rate is what was stored in the time taken. */
        if ((i & 1023) == 1023 &&
            (double)(pt_bench_now_ns() - t0) / 1e9 > max_seconds) {
            n = i + 1;
            break;
        }
    }
    if (pt_tracker_flush(tracker, 600000) != PT_OK)
        pt_bench_die("flush: %s", pt_tracker_errmsg(tracker));
    elapsed = pt_bench_now_ns() - t0;
    cpu = pt_bench_cpu_us() - cpu0;
    pt_tracker_counters(tracker, &c);
    pt_tracker_close(tracker, 60000);
    lines = pt_bench_count_lines(dir, ".jsonl");

    snprintf(key, sizeof key, "file.%s.records_per_s", fsync_mode);
    pt_bench_emit(key, (double)c.stored / ((double)elapsed / 1e9), "records/s");
    snprintf(key, sizeof key, "file.%s.cpu_us_per_record", fsync_mode);
    pt_bench_emit(key, cpu / (double)n, "us/record");
    snprintf(key, sizeof key, "file.%s.tracked", fsync_mode);
    pt_bench_emit(key, (double)n, "records");
    snprintf(key, sizeof key, "file.%s.lost", fsync_mode);
    pt_bench_emit(key, (double)(n - (lines < n ? lines : n)), "records");
    fprintf(stderr,
            "file fsync=%s: %zu tracked, stored %llu, spooled %llu, dropped "
            "(queue_full) %llu, lines on disk %llu, %.2f s\n",
            fsync_mode, n, (unsigned long long)c.stored,
            (unsigned long long)c.spooled,
            (unsigned long long)c.dropped[PT_DROP_QUEUE_FULL],
            (unsigned long long)lines, (double)elapsed / 1e9);
    pt_bench_rmtree(dir);
    free(dir);
}

int
main(void)
{
    double max_seconds = (double)pt_bench_env_size("BENCH_FILE_SECONDS", 30);
    run("batch", pt_bench_env_size("BENCH_FILE_N", 1000000), max_seconds);
    run("always", pt_bench_env_size("BENCH_FILE_ALWAYS_N", 50000), max_seconds);
    return 0;
}
