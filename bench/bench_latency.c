/*
 * Request-path latency: how long pt_track() holds the caller, with 1, 2 and
 * 4 producer threads, on the file store (policy/default.ini, fsync = batch).
 *
 * Each call is timed with two clock_gettime(CLOCK_MONOTONIC) reads (vDSO;
 * their own cost is measured and reported, not subtracted) into a per-thread
 * histogram: 10 ns buckets up to 100 µs, 1 µs buckets up to 100 ms.  No
 * allocation, no lock and no I/O happen between the two reads other than
 * pt_track's own.
 *
 * The producers are paced: together they offer BENCH_LAT_RATE visits/s
 * (default 100,000 — far above what one web server sees) in 1 ms bursts, for
 * BENCH_LAT_SECONDS (default 2) per thread count, so the writer keeps up and
 * what is measured is the request path, not a full queue.  BENCH_LAT_RATE=0
 * runs the producers flat out (queue_full drops are then reported).
 */
#include "bench_common.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FINE_BUCKETS   10000  /* 10 ns each: 0 .. 100 µs */
#define COARSE_BUCKETS 100000 /* 1 µs each: 100 µs .. 100 ms */
#define BUCKETS        (FINE_BUCKETS + COARSE_BUCKETS + 1)

typedef struct producer {
    pthread_t thread;
    pt_tracker *tracker;
    size_t first, count;
    double rate; /* calls/s for this thread; 0: flat out */
    pthread_barrier_t *start;
    uint32_t *histogram; /* BUCKETS */
} producer;

static size_t
bucket_of(uint64_t ns)
{
    if (ns < FINE_BUCKETS * 10)
        return (size_t)(ns / 10);
    ns = (ns - FINE_BUCKETS * 10) / 1000;
    return FINE_BUCKETS + (ns < COARSE_BUCKETS ? (size_t)ns : COARSE_BUCKETS);
}

static double
bucket_upper_us(size_t b)
{
    if (b < FINE_BUCKETS)
        return (double)(b + 1) * 0.01;
    return 100.0 + (double)(b - FINE_BUCKETS + 1);
}

static void
sleep_until(uint64_t ns)
{
    struct timespec ts = {(time_t)(ns / 1000000000u), (long)(ns % 1000000000u)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
        ;
}

static void *
produce(void *arg)
{
    producer *p = arg;
    size_t per_burst = p->rate > 0 ? (size_t)(p->rate / 1000.0) : p->count;
    uint64_t next;
    pt_visit visit;
    char addr[16];

    if (per_burst == 0)
        per_burst = 1;
    pthread_barrier_wait(p->start);
    next = pt_bench_now_ns();
    for (size_t done = 0; done < p->count;) {
        for (size_t k = 0; k < per_burst && done < p->count; k++, done++) {
            pt_bench_visit(&visit, p->first + done, addr);
            uint64_t t0 = pt_bench_now_ns();
            pt_track(p->tracker, &visit, NULL);
            uint64_t t1 = pt_bench_now_ns();
            p->histogram[bucket_of(t1 - t0)]++;
        }
        if (p->rate > 0) {
            next += 1000000; /* the next 1 ms burst */
            sleep_until(next);
        }
    }
    return NULL;
}

static double
percentile_us(const uint64_t *merged, uint64_t total, double q)
{
    uint64_t rank = (uint64_t)((double)total * q), seen = 0;
    for (size_t b = 0; b < BUCKETS; b++) {
        seen += merged[b];
        if (seen > rank)
            return bucket_upper_us(b);
    }
    return bucket_upper_us(BUCKETS - 1);
}

static void
run(int threads, double rate, double seconds, pt_policy *policy)
{
    char *dir = pt_bench_mkdtemp("pt-bench-latency");
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *tracker;
    producer p[4];
    pthread_barrier_t start;
    uint64_t *merged = calloc(BUCKETS, sizeof *merged), total = 0;
    size_t per_thread =
        rate > 0 ? (size_t)(rate * seconds / threads)
                 : pt_bench_env_size("BENCH_LAT_N", 1000000) / (size_t)threads;
    pt_counters c;
    char key[64];

    opts.storage_path = dir;
    tracker = pt_bench_tracker(policy, &opts);
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        p[t] = (producer){0};
        p[t].tracker = tracker;
        p[t].first = (size_t)t * per_thread;
        p[t].count = per_thread;
        p[t].rate = rate / threads;
        p[t].start = &start;
        p[t].histogram = calloc(BUCKETS, sizeof(uint32_t));
        if (!p[t].histogram || !merged)
            pt_bench_die("out of memory");
        pthread_create(&p[t].thread, NULL, produce, &p[t]);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(p[t].thread, NULL);
        for (size_t b = 0; b < BUCKETS; b++) {
            merged[b] += p[t].histogram[b];
            total += p[t].histogram[b];
        }
        free(p[t].histogram);
    }
    if (pt_tracker_flush(tracker, 60000) != PT_OK)
        pt_bench_die("flush: %s", pt_tracker_errmsg(tracker));
    pt_tracker_counters(tracker, &c);

    snprintf(key, sizeof key, "latency.t%d.p50_us", threads);
    pt_bench_emit(key, percentile_us(merged, total, 0.50), "us");
    snprintf(key, sizeof key, "latency.t%d.p99_us", threads);
    pt_bench_emit(key, percentile_us(merged, total, 0.99), "us");
    snprintf(key, sizeof key, "latency.t%d.p999_us", threads);
    pt_bench_emit(key, percentile_us(merged, total, 0.999), "us");
    snprintf(key, sizeof key, "latency.t%d.dropped", threads);
    pt_bench_emit(key, (double)(total - c.accepted), "visits");
    fprintf(stderr,
            "latency: %d thread(s), %llu calls, accepted %llu, stored %llu, "
            "queue_full %llu\n",
            threads, (unsigned long long)total, (unsigned long long)c.accepted,
            (unsigned long long)c.stored,
            (unsigned long long)c.dropped[PT_DROP_QUEUE_FULL]);
    pt_tracker_close(tracker, 60000);
    pthread_barrier_destroy(&start);
    free(merged);
    pt_bench_rmtree(dir);
    free(dir);
}

/* What two back-to-back clock reads cost: the floor under every sample. */
static void
clock_overhead(void)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 100000; i++) {
        uint64_t t0 = pt_bench_now_ns(), t1 = pt_bench_now_ns();
        if (t1 - t0 < best)
            best = t1 - t0;
    }
    pt_bench_emit("latency.clock_overhead_ns", (double)best, "ns");
}

int
main(void)
{
    double rate = (double)pt_bench_env_size("BENCH_LAT_RATE", 100000);
    double seconds = (double)pt_bench_env_size("BENCH_LAT_SECONDS", 2);
    pt_policy *policy = NULL;

    if (pt_policy_load_default(&policy) != PT_OK)
        pt_bench_die("default policy: %s", pt_last_error());
    clock_overhead();
    run(1, rate, seconds, policy);
    run(2, rate, seconds, policy);
    run(4, rate, seconds, policy);
    pt_policy_free(policy);
    return 0;
}
