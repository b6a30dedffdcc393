/*
 * Helpers shared by the C benchmarks: clocks, results as JSON lines, the
 * benchmark's visits (the same as the Python baselines'), policies derived
 * from policy/default.ini, scratch directories.
 *
 * Every benchmark prints one JSON object per result on stdout:
 *   {"side":"privtrack","key":"...","value":N,"unit":"..."}
 * and anything for humans on stderr.  bench/run.sh collects stdout.
 */
#ifndef PT_BENCH_COMMON_H
#define PT_BENCH_COMMON_H

#include "privtrack.h"

#include <stddef.h>
#include <stdint.h>

/** Monotonic clock, nanoseconds. */
uint64_t pt_bench_now_ns(void);

/** CPU time of the whole process (all threads, user + system), µs. */
double pt_bench_cpu_us(void);

/** The same, split: user and system time, µs. */
void pt_bench_cpu_split_us(double *user, double *sys);

/** CPU time (user + system, µs) of the server process BENCH_SERVER_PID
 *  (dynalite, set by bench/run.sh), from /proc; -1 when unknown.  Its
 *  difference over a measured run, against the run's wall time, says how
 *  busy the client kept the server (node's helper threads count too). */
double pt_bench_server_cpu_us(void);

/** A field of /proc/self/status ("VmRSS", "VmHWM"), in MiB; 0 if absent. */
double pt_bench_vm_mb(const char *field);

/** Print one result line on stdout. */
void pt_bench_emit(const char *key, double value, const char *unit);

/** A size from the environment variable `name`, or `fallback`. */
size_t pt_bench_env_size(const char *name, size_t fallback);

/** The benchmark's visits: the i-th visit, its address written to `addr`
 *  (the visit borrows it; the other strings are static).  Same data as
 *  bench_baseline.py: an IPv4 peer address out of 65,536, a Firefox user
 *  agent, two links with query strings, two downloaded files, no error. */
void pt_bench_visit(pt_visit *visit, size_t i, char addr[16]);

/** One override of a policy setting. */
typedef struct pt_bench_setting {
    const char *section;
    const char *key;
    const char *value; /* NULL: remove the key */
} pt_bench_setting;

/** policy/default.ini (the built-in default policy's text) with `count`
 *  settings replaced, added or removed, loaded.  Exits with a message on
 *  failure: a benchmark without its policy has nothing to measure. */
pt_policy *pt_bench_policy(const pt_bench_setting *settings, size_t count);

/** A fresh scratch directory under $PT_BENCH_TMP (or $TMPDIR, or /tmp);
 *  the caller frees the string.  pt_bench_rmtree() removes it. */
char *pt_bench_mkdtemp(const char *prefix);
void pt_bench_rmtree(const char *path);

/** Lines in all regular files directly under `dir` whose name ends in
 *  `suffix` (the file store's day files), to check what reached the disk. */
uint64_t pt_bench_count_lines(const char *dir, const char *suffix);

/** Print a message on stderr and exit(2). */
void pt_bench_die(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/** Open a tracker or die, naming the failure. */
pt_tracker *pt_bench_tracker(const pt_policy *policy,
                             const pt_tracker_options *opts);

#endif
