/*
 * Policy cost per visit, on one core: pt__policy_apply() (opt-out, address,
 * user agent, links, titles, ttl, session id) and freeing the record it
 * returns, for each [ip] mode and for policy/default.ini as shipped.  The
 * default rotates its keys daily: its row also pays what pt_track() pays to
 * choose the visit's key (a read section and a lookup in the table of live
 * keys); "default_never" is the same policy with one key for ever.
 *
 * Internal API on purpose: this isolates the policy from the queue and the
 * store, which the other benchmarks measure through the public API.
 *
 * Env: BENCH_POLICY_N visits per mode (default 1,000,000);
 * BENCH_POLICY_MODES, a subset such as "default" (for profiling).
 */
#include "bench_common.h"
#include "keys/keys.h"
#include "policy/policy.h"
#include "record/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One visit through the policy, with the key pt_track() would use: the
 * single key, or (keys != NULL) the visit's period's key, looked up in a
 * read section exactly as pt_track() does. */
static int
apply_one(const pt_policy *policy, const pt__ip_key *single, pt__keys *keys,
          const pt_visit *visit, int64_t now_us, pt__apply_result *r)
{
    const pt__ip_key *key = single;
    unsigned int token = 0;
    int rc;
    if (keys) {
        token = pt__keys_enter(keys);
        key = pt__keys_find(keys, visit->time_us ? visit->time_us : now_us,
                            now_us);
    }
    rc = pt__policy_apply(policy, key, visit, now_us, r, NULL);
    if (keys)
        pt__keys_leave(keys, token);
    if (rc == PT_OK && r->key_missing)
        pt_bench_die("no key for the visit's period");
    return rc;
}

static double
visits_per_second(const pt_policy *policy, const char *store_dir, size_t n)
{
    pt__ip_key key;
    pt__keys *keys = NULL;
    pt_visit visit;
    char addr[16];
    int64_t now_us;
    uint64_t t0;
    double c0, cpu_s, wall_s;
    int rc;

    now_us = (int64_t)time(NULL) * 1000000;
    memset(&key, 0, sizeof(key));
    if (pt_policy_rotation(policy) != PT_ROTATE_NEVER) {
        rc = pt__keys_open(&keys, policy, store_dir, PT__KEYS_CREATE);
        if (rc == PT_OK)
            rc = pt__keys_refresh(keys, now_us);
    } else {
        rc = pt__ip_key_load(&key, policy, store_dir, 1);
    }
    if (rc != PT_OK)
        pt_bench_die("ip key: %s: %s", pt_strerror(rc), pt_last_error());

    /* Warm caches and the allocator before the clock starts. */
    for (size_t i = 0; i < 1000; i++) {
        pt__apply_result r = {0};
        pt_bench_visit(&visit, i, addr);
        apply_one(policy, &key, keys, &visit, now_us, &r);
        pt__record_free(r.record);
    }

    t0 = pt_bench_now_ns();
    c0 = pt_bench_cpu_us();
    for (size_t i = 0; i < n; i++) {
        pt__apply_result r = {0};
        pt_bench_visit(&visit, i, addr);
        rc = apply_one(policy, &key, keys, &visit, now_us, &r);
        if (rc != PT_OK || r.dropped != PT_DROP_NONE || !r.record)
            pt_bench_die("visit %zu not recorded: %s (%s)", i, pt_strerror(rc),
                         pt_drop_reason_name(r.dropped));
        pt__record_free(r.record);
    }
    cpu_s = (pt_bench_cpu_us() - c0) / 1e6;
    wall_s = (double)(pt_bench_now_ns() - t0) / 1e9;
    pt__ip_key_wipe(&key);
    pt__keys_close(keys);
    /* One thread: its CPU time is the cost on one core.  Wall time would
     * add the time other processes held the core (2 shared cores here);
     * it is printed for comparison. */
    fprintf(stderr, "policy: %zu visits, %.3f s CPU, %.3f s wall\n", n, cpu_s,
            wall_s);
    return (double)n / cpu_s;
}

int
main(void)
{
    static const char *const modes[] = {"keep", "truncate", "hash", "drop"};
    size_t n = pt_bench_env_size("BENCH_POLICY_N", 1000000);
    const char *only = getenv("BENCH_POLICY_MODES"); /* e.g. "default" */
    char *dir = pt_bench_mkdtemp("pt-bench-policy");
    char key[64];

    for (size_t m = 0; m < sizeof modes / sizeof modes[0]; m++) {
        /* default.ini with another mode; keys that only make sense for the
         * default's mode are removed (the policy engine rejects them).
         * "hash" hashes the whole address (default.ini truncates to /24
         * first, so the default row is the other variant). */
        int hashing = strcmp(modes[m], "hash") == 0;
        int prefixes = strcmp(modes[m], "truncate") == 0;
        pt_bench_setting s[] = {
            {"ip", "mode", modes[m]},
            {"ip", "truncate_before_hash", hashing ? "false" : NULL},
            {"ip", "hash_bytes", hashing ? "16" : NULL},
            {"ip", "ipv4_prefix", prefixes ? "24" : NULL},
            {"ip", "ipv6_prefix", prefixes ? "48" : NULL},
            /* one key: rotation is the default row's */
            {"ip", "rotate", NULL},
            {"ip", "key_grace_hours", NULL},
            {"ip", "key_store", NULL},
        };
        if (only && !strstr(only, modes[m]))
            continue;
        pt_policy *policy = pt_bench_policy(s, sizeof s / sizeof s[0]);
        snprintf(key, sizeof key, "policy.%s.visits_per_s", modes[m]);
        pt_bench_emit(key, visits_per_second(policy, dir, n), "visits/s");
        pt_policy_free(policy);
    }
    if (!only || strstr(only, "default")) {
        pt_policy *policy = NULL;
        int rc = pt_policy_load_default(&policy);
        if (rc != PT_OK)
            pt_bench_die("default policy: %s", pt_last_error());
        pt_bench_emit("policy.default.visits_per_s",
                      visits_per_second(policy, dir, n), "visits/s");
        pt_policy_free(policy);
    }
    if (!only || strstr(only, "default_never")) {
        pt_bench_setting never[] = {{"ip", "rotate", "never"},
                                    {"ip", "key_grace_hours", NULL},
                                    {"ip", "key_store", NULL}};
        pt_policy *policy = pt_bench_policy(never, 3);
        pt_bench_emit("policy.default_never.visits_per_s",
                      visits_per_second(policy, dir, n), "visits/s");
        pt_policy_free(policy);
    }
    pt_bench_rmtree(dir);
    free(dir);
    return 0;
}
