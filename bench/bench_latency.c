/*
 * Request-path latency: how long pt_track() holds the caller, with 1, 2 and
 * 4 producer threads, on the file store (policy/default.ini, fsync = batch:
 * keys rotate daily, so every call looks its key up in the table of live
 * keys; "latency.never.*" is the same with one key for ever).
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
 * After each thread count, the same run times a ~1 µs busy loop instead of
 * pt_track() ("latency.floor.*"): what this machine adds by itself.
 * BENCH_LAT_BATCH overrides the tracker's batch_size, to diagnose a miss.
 * BENCH_LAT_DIAG=1 reads getrusage(RUSAGE_THREAD) around every call (outside
 * the timed window) and reports, on stderr, what the calls over 5 µs had in
 * common: a page fault, an involuntary or a voluntary context switch.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD */
#include "bench_common.h"

#include <sys/resource.h>

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
    uint32_t *histogram;   /* BUCKETS */
    uint32_t *after_pause; /* BUCKETS: the first call after each pause */
    unsigned long spin;    /* floor run: busy loop instead of pt_track */
    int diag;              /* BENCH_LAT_DIAG: attribute the slow calls */
    /* calls over SLOW_NS: all, with a minor fault, with an involuntary /
     * a voluntary switch, with none of them; faults in all calls */
    uint64_t slow, slow_flt, slow_ivcsw, slow_vcsw, slow_none, flt;
} producer;

#define SLOW_NS 5000

/* The timing floor: a fixed busy loop, timed exactly like pt_track(), shows
 * what the machine itself adds (preemption, interrupts, a cold core after
 * the pacing sleep).  Tail latencies are only meaningful above it. */
static _Thread_local volatile unsigned long spin_sink;

static void
spin(unsigned long loops)
{
    unsigned long x = 0;
    for (unsigned long i = 0; i < loops; i++)
        x += i ^ (x >> 3);
    spin_sink = x;
}

/* Loops that take about `ns` nanoseconds (median of a few trials). */
static unsigned long
spin_loops_for(uint64_t ns)
{
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < 2000; i++) {
        uint64_t t0 = pt_bench_now_ns();
        spin(10000);
        uint64_t d = pt_bench_now_ns() - t0;
        if (d < best)
            best = d;
    }
    return best ? (unsigned long)(10000 * ns / best) : 1000;
}

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
            struct rusage r0, r1;
            pt_bench_visit(&visit, p->first + done, addr);
            if (p->diag)
                getrusage(RUSAGE_THREAD, &r0);
            uint64_t t0 = pt_bench_now_ns();
            if (p->spin)
                spin(p->spin);
            else
                pt_track(p->tracker, &visit, NULL);
            uint64_t t1 = pt_bench_now_ns();
            p->histogram[bucket_of(t1 - t0)]++;
            if (p->diag) {
                getrusage(RUSAGE_THREAD, &r1);
                long flt = r1.ru_minflt - r0.ru_minflt;
                long iv = r1.ru_nivcsw - r0.ru_nivcsw;
                long vo = r1.ru_nvcsw - r0.ru_nvcsw;
                p->flt += (uint64_t)flt;
                if (t1 - t0 > SLOW_NS) {
                    p->slow++;
                    p->slow_flt += flt > 0;
                    p->slow_ivcsw += iv > 0;
                    p->slow_vcsw += vo > 0;
                    p->slow_none += !flt && !iv && !vo;
                }
            }
            if (k == 0 && p->rate > 0)
                p->after_pause[bucket_of(t1 - t0)]++;
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
emit_percentiles(const char *prefix, int threads, const uint64_t *merged,
                 uint64_t total)
{
    static const struct {
        const char *name;
        double q;
    } qs[] = {{"p50", 0.50}, {"p99", 0.99}, {"p999", 0.999}};
    char key[64];
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        snprintf(key, sizeof key, "%s.t%d.%s_us", prefix, threads, qs[i].name);
        pt_bench_emit(key, percentile_us(merged, total, qs[i].q), "us");
    }
}

static void
run(int threads, double rate, double seconds, pt_policy *policy,
    unsigned long floor_spin, const char *name)
{
    char *dir = pt_bench_mkdtemp("pt-bench-latency");
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *tracker;
    producer p[4];
    pthread_barrier_t start;
    uint64_t *merged = calloc(BUCKETS, sizeof *merged), total = 0;
    uint64_t *firsts = calloc(BUCKETS, sizeof *firsts), first_total = 0;
    uint64_t slow = 0, slow_flt = 0, slow_iv = 0, slow_vo = 0, slow_none = 0;
    uint64_t faults = 0;
    int diag = (int)pt_bench_env_size("BENCH_LAT_DIAG", 0);
    size_t per_thread =
        rate > 0 ? (size_t)(rate * seconds / threads)
                 : pt_bench_env_size("BENCH_LAT_N", 1000000) / (size_t)threads;
    pt_counters c;
    char key[64];

    opts.storage_path = dir;
    /* 0: the library's default; set only to diagnose (see run.sh). */
    opts.batch_size = pt_bench_env_size("BENCH_LAT_BATCH", 0);
    tracker = pt_bench_tracker(policy, &opts);
    pthread_barrier_init(&start, NULL, (unsigned)threads);
    for (int t = 0; t < threads; t++) {
        p[t] = (producer){0};
        p[t].tracker = tracker;
        p[t].first = (size_t)t * per_thread;
        p[t].count = per_thread;
        p[t].rate = rate / threads;
        p[t].start = &start;
        p[t].spin = floor_spin;
        p[t].diag = diag;
        p[t].histogram = calloc(BUCKETS, sizeof(uint32_t));
        p[t].after_pause = calloc(BUCKETS, sizeof(uint32_t));
        if (!p[t].histogram || !p[t].after_pause || !merged || !firsts)
            pt_bench_die("out of memory");
        pthread_create(&p[t].thread, NULL, produce, &p[t]);
    }
    for (int t = 0; t < threads; t++) {
        pthread_join(p[t].thread, NULL);
        for (size_t b = 0; b < BUCKETS; b++) {
            merged[b] += p[t].histogram[b];
            total += p[t].histogram[b];
            firsts[b] += p[t].after_pause[b];
            first_total += p[t].after_pause[b];
        }
        slow += p[t].slow;
        slow_flt += p[t].slow_flt;
        slow_iv += p[t].slow_ivcsw;
        slow_vo += p[t].slow_vcsw;
        slow_none += p[t].slow_none;
        faults += p[t].flt;
        free(p[t].histogram);
        free(p[t].after_pause);
    }
    if (pt_tracker_flush(tracker, 60000) != PT_OK)
        pt_bench_die("flush: %s", pt_tracker_errmsg(tracker));
    pt_tracker_counters(tracker, &c);

    emit_percentiles(name, threads, merged, total);
    if (first_total > 0) {
        /* The calls right after a pacing pause: a cold core's share of
         * the tail. */
        snprintf(key, sizeof key, "%s.t%d.after_pause_p50_us", name, threads);
        pt_bench_emit(key, percentile_us(firsts, first_total, 0.5), "us");
    }
    if (floor_spin) {
        c.accepted = total; /* nothing was tracked */
    } else {
        snprintf(key, sizeof key, "%s.t%d.dropped", name, threads);
        pt_bench_emit(key, (double)(total - c.accepted), "visits");
    }
    fprintf(stderr,
            "%s: %d thread(s), %llu calls, accepted %llu, stored "
            "%llu, queue_full %llu\n",
            name, threads, (unsigned long long)total,
            (unsigned long long)c.accepted, (unsigned long long)c.stored,
            (unsigned long long)c.dropped[PT_DROP_QUEUE_FULL]);
    if (diag)
        fprintf(stderr,
                "latency%s diag: %d thread(s): %llu calls over %d us: %llu "
                "with a page fault, %llu an involuntary switch, %llu a "
                "voluntary switch, %llu none; %llu page faults in all\n",
                floor_spin ? " (floor)" : "", threads, (unsigned long long)slow,
                SLOW_NS / 1000, (unsigned long long)slow_flt,
                (unsigned long long)slow_iv, (unsigned long long)slow_vo,
                (unsigned long long)slow_none, (unsigned long long)faults);
    pt_tracker_close(tracker, 60000);
    pthread_barrier_destroy(&start);
    free(merged);
    free(firsts);
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
    pt_bench_setting one_key[] = {{"ip", "rotate", "never"},
                                  {"ip", "key_grace_hours", NULL},
                                  {"ip", "key_store", NULL}};
    pt_policy *policy = NULL, *never = pt_bench_policy(one_key, 3);

    if (pt_policy_load_default(&policy) != PT_OK)
        pt_bench_die("default policy: %s", pt_last_error());
    clock_overhead();
    for (int threads = 1; threads <= 4; threads *= 2) {
        run(threads, rate, seconds, policy, 0, "latency");
        run(threads, rate, seconds, never, 0, "latency.never");
        /* The floor: a ~1 µs busy loop (pt_track's median order of
         * magnitude), same threads, same pacing. */
        run(threads, rate, seconds, policy, spin_loops_for(1000),
            "latency.floor");
    }
    pt_policy_free(policy);
    pt_policy_free(never);
    return 0;
}
