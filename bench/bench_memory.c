/*
 * Memory: peak RSS (VmHWM) of a process that tracks N visits into the file
 * store (policy/default.ini), the growth of its RSS between 10 % of the
 * visits and the end (flat means ~0), and the peak RSS of an idle tracker.
 * Compare with bench_empty (an empty C program): run.sh prints the
 * differences.
 *
 *   bench_memory track   (BENCH_MEM_N visits, default 1,000,000, but
 *                        stopping after BENCH_MEM_SECONDS, default 120)
 *   bench_memory idle
 * BENCH_MEM_QUEUE overrides the tracker's queue_capacity, to diagnose a miss.
 */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void
track(size_t n, double max_seconds)
{
    pt_policy *policy = NULL;
    char *dir = pt_bench_mkdtemp("pt-bench-memory");
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *tracker;
    pt_visit visit;
    char addr[16];
    pt_counters c;
    double rss_at_10 = 0, rss_at_50 = 0, rss_end;
    uint64_t t0 = pt_bench_now_ns();

    if (pt_policy_load_default(&policy) != PT_OK)
        pt_bench_die("default policy: %s", pt_last_error());
    opts.storage_path = dir;
    opts.block_us = 10000000; /* every visit stored: none dropped */
    /* 0: the library's default; set only to diagnose (see run.sh). */
    opts.queue_capacity = pt_bench_env_size("BENCH_MEM_QUEUE", 0);
    tracker = pt_bench_tracker(policy, &opts);
    pt_policy_free(policy);
    for (size_t i = 0; i < n; i++) {
        pt_bench_visit(&visit, i, addr);
        pt_track(tracker, &visit, NULL);
        if (i + 1 == n / 10)
            rss_at_10 = pt_bench_vm_mb("VmRSS");
        if (i + 1 == n / 2)
            rss_at_50 = pt_bench_vm_mb("VmRSS");
        /* A slow store must not make the run endless (the number tracked
         * is reported). */
        if ((i & 1023) == 1023 && rss_at_10 > 0 &&
            (double)(pt_bench_now_ns() - t0) / 1e9 > max_seconds)
            break;
    }
    /* Growth while tracking, before the flush drains the queue. */
    /* From 10 %: includes the queue filling up to its bound; from 50 %: a
     * steady state, where any growth is per visit. */
    rss_end = pt_bench_vm_mb("VmRSS");
    pt_bench_emit("memory.track.growth_mb", rss_end - rss_at_10, "MiB");
    if (rss_at_50 > 0)
        pt_bench_emit("memory.track.growth_half_mb", rss_end - rss_at_50,
                      "MiB");
    if (pt_tracker_flush(tracker, 600000) != PT_OK)
        pt_bench_die("flush: %s", pt_tracker_errmsg(tracker));
    pt_tracker_counters(tracker, &c);
    pt_tracker_close(tracker, 60000);
    pt_bench_emit("memory.track.hwm_mb", pt_bench_vm_mb("VmHWM"), "MiB");
    pt_bench_emit("memory.track.stored", (double)c.stored, "records");
    pt_bench_emit("memory.track.accepted", (double)c.accepted, "records");
    pt_bench_rmtree(dir);
    free(dir);
}

static void
idle(void)
{
    pt_policy *policy = NULL;
    char *dir = pt_bench_mkdtemp("pt-bench-idle");
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *tracker;

    if (pt_policy_load_default(&policy) != PT_OK)
        pt_bench_die("default policy: %s", pt_last_error());
    opts.storage_path = dir;
    tracker = pt_bench_tracker(policy, &opts);
    pt_policy_free(policy);
    usleep(200000); /* let the writer thread start and settle */
    pt_bench_emit("memory.idle.hwm_mb", pt_bench_vm_mb("VmHWM"), "MiB");
    pt_tracker_close(tracker, 60000);
    pt_bench_rmtree(dir);
    free(dir);
}

int
main(int argc, char **argv)
{
    if (argc == 2 && strcmp(argv[1], "track") == 0)
        track(pt_bench_env_size("BENCH_MEM_N", 1000000),
              (double)pt_bench_env_size("BENCH_MEM_SECONDS", 120));
    else if (argc == 2 && strcmp(argv[1], "idle") == 0)
        idle();
    else
        pt_bench_die("usage: bench_memory track|idle");
    return 0;
}
