#define _GNU_SOURCE /* memmem */
/*
 * Unit tests for rotating keys (lib/keys/, lib/storage/key_store*.c) with
 * the file key store: wrapping, the live table and its lock-free readers,
 * the store's files, the manager across period boundaries (explicit
 * clocks), destruction, dry runs, sixteen processes racing for one key,
 * a store outage across a boundary, and the tracker end to end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "keys/keys.h"
#include "pipeline/pipeline.h"
#include "policy/policy_internal.h"
#include "keys_race.h"
#include "test_tmpdir.h"
#include "policy_fixture.h"

#define WRAP_HEX                                                               \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
#define WRAP_HEX2                                                              \
    "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"

static char dir[512];

static int
setup(void **state)
{
    (void)state;
    unsetenv("PRIVTRACK_KEY_WRAP");
    unsetenv("PRIVTRACK_IP_KEY");
    return pt_test_mkdtemp(dir, sizeof(dir), "pt-keys");
}

static int
teardown(void **state)
{
    (void)state;
    unsetenv("PRIVTRACK_KEY_WRAP");
    return pt_test_rmtree(dir);
}

static int64_t
at(const char *iso)
{
    int64_t us = 0;
    assert_int_equal(pt__parse_iso8601(iso, &us), PT_OK);
    return us;
}

/* A rotating policy whose store is `dir`, plus `extra` INI lines. */
static pt_policy *
policy_with(const char *extra)
{
    return pt_test_policy("keys.ini",
                          "[storage]\npath = %s\n[ip]\nrotate = daily\n%s", dir,
                          extra ? extra : "");
}

static pt__keys *
keys_open(const pt_policy *p, unsigned int flags)
{
    pt__keys *k = NULL;
    if (pt__keys_open(&k, p, NULL, flags) != PT_OK)
        fail_msg("keys: %s", pt_last_error());
    return k;
}

static int
exists(const char *name)
{
    char path[1024];
    struct stat st;
    snprintf(path, sizeof(path), "%s/keys/%s", dir, name);
    return lstat(path, &st) == 0;
}

/* The key bytes stored, unwrapped, in <dir>/keys/<name>.key, read
 * independently of the store's code. */
static void
key_in_file(const char *name, unsigned char *key)
{
    char path[1024], line[512];
    FILE *f;
    int found = 0;
    size_t len = 0;

    snprintf(path, sizeof(path), "%s/keys/%s.key", dir, name);
    f = fopen(path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "key ", 4) == 0) {
            line[strcspn(line, "\n")] = '\0';
            assert_int_equal(sodium_hex2bin(key, 32, line + 4, strlen(line + 4),
                                            NULL, &len, NULL),
                             0);
            found = len == 32;
        }
    }
    fclose(f);
    assert_true(found);
}

/* The pseudonym of `addr` (a /24, 16 bytes, as the policy says) under the
 * raw key `bytes`. */
static void
pseudonym_with(const unsigned char *bytes, const char *addr, char *out)
{
    pt__ip_key k;
    pt__addr a;
    memset(&k, 0, sizeof(k));
    memcpy(k.bytes, bytes, 32);
    k.len = 32;
    assert_int_equal(pt__addr_parse(&a, addr, strlen(addr)), 0);
    pt__addr_truncate(&a, 24);
    assert_int_equal(pt__addr_hash(&a, 24, &k, 16, out), PT_OK);
}

/* The pseudonym the manager gives a visit at `visit_us`, as of `now_us`;
 * "" when the visit's key is missing (*missing says why). */
static void
pseudonym_of(pt__keys *k, const char *addr, int64_t visit_us, int64_t now_us,
             char *out, int *missing)
{
    unsigned int token = pt__keys_enter(k);
    const pt__ip_key *key = pt__keys_find(k, visit_us, now_us);
    pt__addr a;
    *missing = key->missing;
    out[0] = '\0';
    if (!key->missing) {
        assert_int_equal(pt__addr_parse(&a, addr, strlen(addr)), 0);
        pt__addr_truncate(&a, 24);
        assert_int_equal(pt__addr_hash(&a, 24, key, 16, out), PT_OK);
    }
    pt__keys_leave(k, token);
}

/* ---- wrapping ---------------------------------------------------------------
 */

static void
test_wrap(void **state)
{
    unsigned char key[32], back[32];
    pt__wrap_key *w1 = NULL, *w2 = NULL, *w3 = NULL;
    pt__key_record rec;
    pt_policy *p;
    char path[600];
    FILE *f;
    (void)state;

    randombytes_buf(key, sizeof(key));
    p = policy_with(NULL);
    assert_int_equal(pt__wrap_key_load(&w1, p), PT_OK);
    assert_null(w1); /* none configured */
    setenv("PRIVTRACK_KEY_WRAP", WRAP_HEX, 1);
    assert_int_equal(pt__wrap_key_load(&w1, p), PT_OK);
    assert_non_null(w1);
    setenv("PRIVTRACK_KEY_WRAP", WRAP_HEX2, 1);
    assert_int_equal(pt__wrap_key_load(&w2, p), PT_OK);
    setenv("PRIVTRACK_KEY_WRAP", "0011", 1);
    assert_int_equal(pt__wrap_key_load(&w3, p), PT_EPOLICY);
    assert_null(strstr(pt_last_error(), "0011"));
    pt_policy_free(p);

    memset(&rec, 0, sizeof(rec));
    strcpy(rec.name, "daily-2025-01-15");
    pt__key_wrap(w1, key, &rec);
    assert_int_equal(rec.wrapped, 1);
    assert_int_equal(rec.blob_len, PT__KEY_BLOB_MAX);
    assert_null(memmem(rec.blob, rec.blob_len, key, 8));
    assert_int_equal(pt__key_unwrap(w1, &rec, "t", back), PT_OK);
    assert_memory_equal(back, key, 32);
    /* another wrapping key, no wrapping key, another period's name */
    assert_int_equal(pt__key_unwrap(w2, &rec, "t", back), PT_ECRYPTO);
    assert_int_equal(pt__key_unwrap(NULL, &rec, "t", back), PT_EPOLICY);
    strcpy(rec.name, "daily-2025-01-16");
    assert_int_equal(pt__key_unwrap(w1, &rec, "t", back), PT_ECRYPTO);
    /* unwrapped: stored as it is */
    pt__key_wrap(NULL, key, &rec);
    assert_int_equal(rec.wrapped, 0);
    assert_int_equal(pt__key_unwrap(w1, &rec, "t", back), PT_OK);
    assert_memory_equal(back, key, 32);

    /* key_wrap_file: the same key from a file; refused when others may
     * read it */
    unsetenv("PRIVTRACK_KEY_WRAP");
    snprintf(path, sizeof(path), "%s/wrap.key", dir);
    f = fopen(path, "w");
    fprintf(f, "%s\n", WRAP_HEX);
    fclose(f);
    chmod(path, 0644);
    {
        char line[700];
        snprintf(line, sizeof(line), "key_wrap_file = %s\n", path);
        p = policy_with(line);
    }
    assert_int_equal(pt__wrap_key_load(&w3, p), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "wrap.key"));
    chmod(path, 0600);
    assert_int_equal(pt__wrap_key_load(&w3, p), PT_OK);
    pt__key_wrap(w3, key, &rec);
    strcpy(rec.name, "daily-2025-01-16");
    pt__key_wrap(w3, key, &rec);
    assert_int_equal(pt__key_unwrap(w1, &rec, "t", back), PT_OK);
    assert_memory_equal(back, key, 32);
    pt_policy_free(p);
    pt__wrap_key_free(w1);
    pt__wrap_key_free(w2);
    pt__wrap_key_free(w3);
}

/* ---- the live table ---------------------------------------------------------
 */

static void
test_ring_find(void **state)
{
    pt__key_ring *ring = pt__key_ring_new(2);
    int64_t day1 = at("2025-01-15T00:00:00Z"), now;
    const pt__ip_key *k;
    (void)state;

    assert_non_null(ring);
    for (int i = 0; i < 2; i++) {
        ring->entries[i].period =
            pt__period_of(PT_ROTATE_DAILY, day1 + i * PT__DAY_US);
        memset(ring->entries[i].key.bytes, 0x10 + i, 32);
        ring->entries[i].key.len = 32;
    }
    now = at("2025-01-16T00:00:01Z");
    /* by the visit's time, to the microsecond */
    k = pt__key_ring_find(ring, PT_ROTATE_DAILY, 48,
                          at("2025-01-15T23:59:59.999999Z"), now);
    assert_ptr_equal(k, &ring->entries[0].key);
    k = pt__key_ring_find(ring, PT_ROTATE_DAILY, 48, at("2025-01-16T00:00:00Z"),
                          now);
    assert_ptr_equal(k, &ring->entries[1].key);
    /* a live period the table does not hold: unavailable, never a
     * neighbour's key */
    k = pt__key_ring_find(ring, PT_ROTATE_DAILY, 48, at("2025-01-14T12:00:00Z"),
                          now);
    assert_ptr_equal(k, &pt__ip_key_unavailable);
    k = pt__key_ring_find(ring, PT_ROTATE_DAILY, 48, at("2025-01-18T12:00:00Z"),
                          now);
    assert_ptr_equal(k, &pt__ip_key_unavailable);
    /* past its grace: expired even while still in the table */
    k = pt__key_ring_find(ring, PT_ROTATE_DAILY, 48, day1,
                          at("2025-01-18T00:00:00Z"));
    assert_ptr_equal(k, &pt__ip_key_expired);
    k = pt__key_ring_find(ring, PT_ROTATE_DAILY, 48, day1,
                          at("2025-01-17T23:59:59.999999Z"));
    assert_ptr_equal(k, &ring->entries[0].key);
    /* before the store's "destroyed before" */
    ring->destroyed_before_us = at("2025-01-16T00:00:00Z");
    k = pt__key_ring_find(ring, PT_ROTATE_DAILY, 48, day1, now);
    assert_ptr_equal(k, &pt__ip_key_expired);
    k = pt__key_ring_find(NULL, PT_ROTATE_DAILY, 48, day1, now);
    assert_ptr_equal(k, &pt__ip_key_unavailable);
    pt__key_ring_free(ring);
}

/* Readers never see a ring being freed or half-written: each ring's key
 * bytes all equal its generation, which the readers check, while the
 * publisher replaces the ring as fast as it can.  (Under ASan a freed
 * ring would be a use-after-free; under TSan a race.) */
typedef struct rcu_arg {
    pt__key_rcu *rcu;
    atomic_int *stop;
    long checked;
    int bad;
} rcu_arg;

static void *
rcu_reader(void *p)
{
    rcu_arg *a = p;
    while (!atomic_load(a->stop)) {
        unsigned int token = pt__key_rcu_enter(a->rcu);
        const pt__key_ring *ring = pt__key_rcu_read(a->rcu);
        if (ring) {
            unsigned char g = (unsigned char)ring->entries[0].created;
            for (int i = 0; i < 32; i++)
                if (ring->entries[0].key.bytes[i] != g)
                    a->bad = 1;
            a->checked++;
        }
        pt__key_rcu_leave(a->rcu, token);
    }
    return NULL;
}

static void
test_rcu_readers(void **state)
{
    pt__key_rcu rcu;
    atomic_int stop = 0;
    pthread_t threads[4];
    rcu_arg args[4];
    (void)state;

    pt__key_rcu_init(&rcu);
    for (int i = 0; i < 4; i++) {
        args[i] = (rcu_arg){&rcu, &stop, 0, 0};
        pthread_create(&threads[i], NULL, rcu_reader, &args[i]);
    }
    for (int g = 1; g <= 3000; g++) {
        pt__key_ring *ring = pt__key_ring_new(1);
        assert_non_null(ring);
        ring->entries[0].created = g;
        memset(ring->entries[0].key.bytes, (unsigned char)g, 32);
        pt__key_rcu_publish(&rcu, ring);
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 4; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(args[i].bad, 0);
        assert_true(args[i].checked > 0);
    }
    pt__key_rcu_destroy(&rcu);
}

/* ---- the file store ---------------------------------------------------------
 */

static void
test_file_store(void **state)
{
    pt__key_store *s;
    pt__key_record rec, got, *all = NULL;
    size_t n = 0;
    int64_t before = 0;
    char kdir[600], path[700];
    struct stat st;
    (void)state;

    snprintf(kdir, sizeof(kdir), "%s/keys", dir);
    assert_int_equal(pt__key_store_file_open(&s, kdir), PT_OK);
    /* nothing yet, and reading creates nothing */
    assert_int_equal(s->methods->list(s, &all, &n, &before), PT_OK);
    assert_int_equal(n, 0);
    assert_false(exists(""));
    memset(&rec, 0, sizeof(rec));
    strcpy(rec.name, "daily-2025-01-15");
    rec.created = 1736899203;
    rec.expires = 1737072000;
    memset(rec.blob, 0xab, 32);
    rec.blob_len = 32;
    assert_int_equal(s->methods->create(s, &rec), PT_OK);
    assert_int_equal(stat(kdir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    snprintf(path, sizeof(path), "%s/daily-2025-01-15.key", kdir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* a second create of the same period loses, and changes nothing */
    rec.blob[0] = 0;
    assert_int_equal(s->methods->create(s, &rec), PT_EEXIST);
    assert_int_equal(s->methods->get(s, "daily-2025-01-15", &got), PT_OK);
    assert_int_equal(got.blob[0], 0xab);
    assert_int_equal(got.created, 1736899203);
    assert_int_equal(got.expires, 1737072000);
    assert_int_equal(s->methods->get(s, "daily-2025-01-16", &got),
                     PT_ENOTFOUND);
    /* the "destroyed before" time only moves forward */
    assert_int_equal(s->methods->destroyed_before(s, 2000000000000000), PT_OK);
    assert_int_equal(s->methods->destroyed_before(s, 1000000000000000), PT_OK);
    assert_int_equal(s->methods->list(s, &all, &n, &before), PT_OK);
    assert_int_equal(n, 1);
    assert_string_equal(all[0].name, "daily-2025-01-15");
    assert_int_equal(before, 2000000000000000);
    pt__key_records_free(all, n);

    /* a key file others may read is refused, not used */
    chmod(path, 0640);
    assert_int_equal(s->methods->list(s, &all, &n, &before), PT_EACCESS);
    chmod(path, 0600);
    /* a symbolic link in the key directory is never followed */
    snprintf(path, sizeof(path), "%s/daily-2025-01-17.key", kdir);
    assert_int_equal(symlink("daily-2025-01-15.key", path), 0);
    assert_int_equal(s->methods->get(s, "daily-2025-01-17", &got), PT_EACCESS);
    unlink(path);
    /* a file that is not a key is skipped by list, reported by get */
    snprintf(path, sizeof(path), "%s/daily-2025-01-18.key", kdir);
    {
        FILE *f = fopen(path, "w");
        fputs("hello\n", f);
        fclose(f);
        chmod(path, 0600);
    }
    assert_int_equal(s->methods->list(s, &all, &n, &before), PT_OK);
    assert_int_equal(n, 1);
    pt__key_records_free(all, n);
    assert_int_equal(s->methods->get(s, "daily-2025-01-18", &got), PT_ECORRUPT);
    unlink(path);
    /* removal unlinks; removing what is gone is fine */
    assert_int_equal(s->methods->remove(s, "daily-2025-01-15"), PT_OK);
    assert_false(exists("daily-2025-01-15.key"));
    assert_int_equal(s->methods->remove(s, "daily-2025-01-15"), PT_OK);
    pt__key_store_close(s);
}

/* ---- the manager ------------------------------------------------------------
 */

/* Keys are created for every live period, fetched ahead of the boundary,
 * chosen by the visit's time, and destroyed once their grace passes. */
static void
test_manager_lifecycle(void **state)
{
    pt_policy *p = policy_with(NULL);
    pt__keys *k = keys_open(p, PT__KEYS_CREATE);
    unsigned char k15[32], k16[32];
    char a[80], b[80], expect[80];
    pt__ip_key copy;
    int missing;
    (void)state;

    assert_int_equal(pt__keys_refresh(k, at("2025-01-15T12:00:00Z")), PT_OK);
    /* the day, and the two before it still within their 48 h of grace */
    assert_true(exists("daily-2025-01-13.key"));
    assert_true(exists("daily-2025-01-14.key"));
    assert_true(exists("daily-2025-01-15.key"));
    assert_false(exists("daily-2025-01-12.key"));
    assert_false(exists("daily-2025-01-16.key"));
    /* in the last hour of the day, tomorrow's key is made */
    assert_int_equal(pt__keys_refresh(k, at("2025-01-15T22:59:59Z")), PT_OK);
    assert_false(exists("daily-2025-01-16.key"));
    assert_int_equal(pt__keys_refresh(k, at("2025-01-15T23:00:00Z")), PT_OK);
    assert_true(exists("daily-2025-01-16.key"));

    /* a visit of 23:59:59.999999 stored after midnight: the day's key */
    key_in_file("daily-2025-01-15", k15);
    key_in_file("daily-2025-01-16", k16);
    assert_memory_not_equal(k15, k16, 32);
    pseudonym_of(k, "203.0.113.7", at("2025-01-15T23:59:59.999999Z"),
                 at("2025-01-16T00:00:01Z"), a, &missing);
    pseudonym_with(k15, "203.0.113.7", expect);
    assert_string_equal(a, expect);
    pseudonym_of(k, "203.0.113.7", at("2025-01-16T00:00:00Z"),
                 at("2025-01-16T00:00:01Z"), b, &missing);
    pseudonym_with(k16, "203.0.113.7", expect);
    assert_string_equal(b, expect);
    assert_string_not_equal(a, b);
    /* the same address, the same day: the same pseudonym */
    pseudonym_of(k, "203.0.113.99", at("2025-01-15T08:00:00Z"),
                 at("2025-01-16T00:00:01Z"), b, &missing);
    assert_string_equal(a, b);

    /* 2025-01-13's grace ends at 2025-01-16T00:00: from then on no visit
     * of that day gets a key, even before the next refresh ... */
    pseudonym_of(k, "203.0.113.7", at("2025-01-13T10:00:00Z"),
                 at("2025-01-15T23:59:59Z"), a, &missing);
    assert_int_equal(missing, PT__KEY_PRESENT);
    pseudonym_of(k, "203.0.113.7", at("2025-01-13T10:00:00Z"),
                 at("2025-01-16T00:00:00Z"), a, &missing);
    assert_int_equal(missing, PT__KEY_EXPIRED);
    assert_string_equal(a, "");
    /* ... and the refresh destroys the file */
    assert_int_equal(pt__keys_refresh(k, at("2025-01-16T00:00:00Z")), PT_OK);
    assert_false(exists("daily-2025-01-13.key"));
    assert_true(exists("daily-2025-01-14.key"));
    assert_int_equal(pt__keys_for_time(k, at("2025-01-13T10:00:00Z"),
                                       at("2025-01-16T00:00:00Z"), &copy,
                                       &missing),
                     PT_ENOTFOUND);
    assert_int_equal(missing, PT__KEY_EXPIRED);
    assert_int_equal(pt__keys_for_time(k, at("2025-01-15T10:00:00Z"),
                                       at("2025-01-16T00:00:00Z"), &copy,
                                       &missing),
                     PT_OK);
    assert_memory_equal(copy.bytes, k15, 32);
    pt__ip_key_wipe(&copy);
    /* a visit of the future beyond the one fetched ahead: no key */
    assert_int_equal(pt__keys_for_time(k, at("2025-01-18T10:00:00Z"),
                                       at("2025-01-16T00:00:00Z"), &copy,
                                       &missing),
                     PT_ENOTFOUND);
    assert_int_equal(missing, PT__KEY_UNAVAILABLE);
    pt__keys_close(k);
    pt_policy_free(p);
}

typedef struct status_list {
    char names[16][24];
    int wrapped[16];
    int64_t destroy_after[16];
    size_t n;
} status_list;

static void
collect(const pt_key_info *info, void *userdata)
{
    status_list *l = userdata;
    if (l->n < 16) {
        strcpy(l->names[l->n], info->period.name);
        l->wrapped[l->n] = info->wrapped;
        l->destroy_after[l->n] = info->destroy_after;
        l->n++;
    }
}

/* `keys destroy --before`: the keys go, status no longer lists them, and
 * no process makes new ones for those periods although their grace has
 * not passed. */
static void
test_destroy_before(void **state)
{
    pt_policy *p = policy_with(NULL);
    pt__keys *k = keys_open(p, PT__KEYS_CREATE), *other;
    int64_t now = at("2025-01-15T12:00:00Z");
    status_list l;
    uint64_t n = 0;
    char a[80];
    int missing;
    (void)state;

    assert_int_equal(pt__keys_refresh(k, now), PT_OK);
    memset(&l, 0, sizeof(l));
    assert_int_equal(pt__keys_status(k, now, collect, &l), PT_OK);
    assert_int_equal(l.n, 3);
    assert_string_equal(l.names[0], "daily-2025-01-13");
    assert_string_equal(l.names[2], "daily-2025-01-15");
    assert_int_equal(l.destroy_after[2], at("2025-01-18T00:00:00Z") / 1000000);
    assert_int_equal(l.wrapped[0], 0);

    /* A date after the current period's end would also forbid keys for
     * periods that have not begun (their visits would lose client_ip):
     * refused, listing included; nothing destroyed, nothing remembered.
     * The end itself (tomorrow: forget everyone until now) is accepted. */
    for (unsigned int flags = 0; flags <= PT_KEYS_DESTROY_LIST_ONLY; flags++) {
        assert_int_equal(pt__keys_destroy(k,
                                          at("2025-01-16T00:00:01Z") / 1000000,
                                          flags, now, NULL, NULL, &n),
                         PT_EINVAL);
        assert_non_null(
            strstr(pt_last_error(), "give a date up to 2025-01-16"));
        assert_int_equal(n, 0);
    }
    assert_true(exists("daily-2025-01-15.key"));
    assert_false(exists("destroyed-before"));
    assert_int_equal(pt__keys_destroy(k, at("2025-01-16T00:00:00Z") / 1000000,
                                      PT_KEYS_DESTROY_LIST_ONLY, now, NULL,
                                      NULL, &n),
                     PT_OK);
    assert_int_equal(n, 3);
    /* listing only */
    memset(&l, 0, sizeof(l));
    assert_int_equal(pt__keys_destroy(k, at("2025-01-15T00:00:00Z") / 1000000,
                                      PT_KEYS_DESTROY_LIST_ONLY, now, collect,
                                      &l, &n),
                     PT_OK);
    assert_int_equal(n, 2);
    assert_true(exists("daily-2025-01-13.key"));
    /* now for real */
    memset(&l, 0, sizeof(l));
    assert_int_equal(pt__keys_destroy(k, at("2025-01-15T00:00:00Z") / 1000000,
                                      0, now, collect, &l, &n),
                     PT_OK);
    assert_int_equal(n, 2);
    assert_string_equal(l.names[1], "daily-2025-01-14");
    assert_false(exists("daily-2025-01-13.key"));
    assert_false(exists("daily-2025-01-14.key"));
    assert_true(exists("daily-2025-01-15.key"));
    memset(&l, 0, sizeof(l));
    assert_int_equal(pt__keys_status(k, now, collect, &l), PT_OK);
    assert_int_equal(l.n, 1);
    /* gone from memory at once */
    pseudonym_of(k, "203.0.113.7", at("2025-01-14T10:00:00Z"), now, a,
                 &missing);
    assert_int_equal(missing, PT__KEY_EXPIRED);
    /* another process refreshing does not bring them back */
    other = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(other, now), PT_OK);
    assert_false(exists("daily-2025-01-14.key"));
    pseudonym_of(other, "203.0.113.7", at("2025-01-14T10:00:00Z"), now, a,
                 &missing);
    assert_int_equal(missing, PT__KEY_EXPIRED);
    pseudonym_of(other, "203.0.113.7", at("2025-01-15T10:00:00Z"), now, a,
                 &missing);
    assert_int_equal(missing, PT__KEY_PRESENT);
    /* the due ones: nothing is due yet; after the grace, 01-15 is */
    assert_int_equal(
        pt__keys_destroy(other, 0, PT_KEYS_DESTROY_DUE, now, NULL, NULL, &n),
        PT_OK);
    assert_int_equal(n, 0);
    assert_int_equal(pt__keys_destroy(other, 0, PT_KEYS_DESTROY_DUE,
                                      at("2025-01-18T00:00:00Z"), NULL, NULL,
                                      &n),
                     PT_OK);
    assert_int_equal(n, 1);
    assert_false(exists("daily-2025-01-15.key"));
    pt__keys_close(other);
    pt__keys_close(k);
    pt_policy_free(p);
}

/* A dry run creates nothing: an ephemeral key (the same for the whole run)
 * where the store has none, the store's key where it has one, and none at
 * all for a destroyed period. */
static void
test_dry_run(void **state)
{
    pt_policy *p = policy_with(NULL);
    pt__keys *dry = keys_open(p, PT__KEYS_DRY_RUN), *real;
    int64_t now = at("2025-01-15T12:00:00Z");
    unsigned char k15[32];
    char a[80], b[80], expect[80];
    pt__ip_key copy;
    int missing;
    struct stat st;
    (void)state;

    assert_int_equal(pt__keys_refresh(dry, now), PT_OK);
    assert_int_not_equal(stat(dir, &st), -1);
    assert_false(exists("")); /* no key directory */
    assert_int_equal(pt__keys_for_time(dry, now, now, &copy, &missing), PT_OK);
    assert_int_equal(copy.ephemeral, 1);
    pseudonym_of(dry, "203.0.113.7", now, now, a, &missing);
    assert_int_equal(pt__keys_refresh(dry, now + 1000), PT_OK);
    pseudonym_of(dry, "203.0.113.7", now, now, b, &missing);
    assert_string_equal(a, b);
    assert_false(exists(""));
    /* a destroyed period: none, and nothing made for it */
    assert_int_equal(pt__keys_for_time(dry, at("2025-01-10T10:00:00Z"), now,
                                       &copy, &missing),
                     PT_ENOTFOUND);
    assert_int_equal(missing, PT__KEY_EXPIRED);
    pt__keys_close(dry);

    /* once a real tracker made the keys, a dry run uses them */
    real = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(real, now), PT_OK);
    pt__keys_close(real);
    dry = keys_open(p, PT__KEYS_DRY_RUN);
    assert_int_equal(pt__keys_refresh(dry, now), PT_OK);
    key_in_file("daily-2025-01-15", k15);
    pseudonym_of(dry, "203.0.113.7", now, now, a, &missing);
    pseudonym_with(k15, "203.0.113.7", expect);
    assert_string_equal(a, expect);
    assert_int_equal(pt__keys_for_time(dry, now, now, &copy, &missing), PT_OK);
    assert_int_equal(copy.ephemeral, 0);
    /* and destroys nothing: a dry run long after the grace */
    assert_int_equal(pt__keys_refresh(dry, at("2025-02-15T12:00:00Z")), PT_OK);
    assert_true(exists("daily-2025-01-15.key"));
    pt__keys_close(dry);
    pt_policy_free(p);
}

/* Wrapped keys: the store holds neither the key's hex nor its base64; a
 * wrong wrapping key fails (and replaces nothing), so does none. */
static void
test_wrapped(void **state)
{
    pt_policy *p;
    pt__keys *k;
    int64_t now = at("2025-01-15T12:00:00Z");
    pt__ip_key key;
    int missing;
    char hex[65], b64[64], path[700], file[1024], before[1024];
    FILE *f;
    size_t len;
    status_list l;
    (void)state;

    setenv("PRIVTRACK_KEY_WRAP", WRAP_HEX, 1);
    p = policy_with(NULL);
    k = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(k, now), PT_OK);
    assert_int_equal(pt__keys_for_time(k, now, now, &key, &missing), PT_OK);
    sodium_bin2hex(hex, sizeof(hex), key.bytes, 32);
    sodium_bin2base64(b64, sizeof(b64), key.bytes, 32,
                      sodium_base64_VARIANT_ORIGINAL);
    snprintf(path, sizeof(path), "%s/keys/daily-2025-01-15.key", dir);
    f = fopen(path, "r");
    len = fread(file, 1, sizeof(file) - 1, f);
    fclose(f);
    file[len] = '\0';
    assert_non_null(strstr(file, "wrap xchacha20poly1305\n"));
    assert_null(strstr(file, hex));
    hex[16] = '\0'; /* nor any 8 bytes of it */
    assert_null(strstr(file, hex));
    b64[12] = '\0';
    assert_null(strstr(file, b64));
    memset(&l, 0, sizeof(l));
    assert_int_equal(pt__keys_status(k, now, collect, &l), PT_OK);
    assert_int_equal(l.wrapped[2], 1);
    pt__keys_close(k);
    memcpy(before, file, len + 1);

    /* the wrong wrapping key: an error naming the period, the file kept */
    setenv("PRIVTRACK_KEY_WRAP", WRAP_HEX2, 1);
    k = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(k, now), PT_ECRYPTO);
    assert_non_null(strstr(pt_last_error(), "wrapping key"));
    assert_null(strstr(pt_last_error(), WRAP_HEX2));
    assert_int_equal(pt__keys_for_time(k, now, now, &key, &missing),
                     PT_ENOTFOUND);
    pt__keys_close(k);
    f = fopen(path, "r");
    len = fread(file, 1, sizeof(file) - 1, f);
    fclose(f);
    file[len] = '\0';
    assert_string_equal(file, before);
    /* no wrapping key at all */
    unsetenv("PRIVTRACK_KEY_WRAP");
    k = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(k, now), PT_EPOLICY);
    pt__keys_close(k);
    pt__ip_key_wipe(&key);
    pt_policy_free(p);
}

/* Locked memory of this process (VmLck), in kB. */
static long
locked_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmLck: %ld kB", &kb) == 1)
            break;
    fclose(f);
    assert_true(kb >= 0);
    return kb;
}

/* The table of live keys is kept out of swap and core dumps: locked in
 * memory, on pages of its own — mlock does not count, so a table sharing
 * a page with another would be unlocked when that other one is freed. */
static void
test_ring_locked(void **state)
{
    struct rlimit limit;
    pt__key_ring *a, *b;
    long before;
    (void)state;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    skip(); /* the sanitizers make mlock a no-op */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
    skip();
#endif
#endif
    assert_int_equal(getrlimit(RLIMIT_MEMLOCK, &limit), 0);
    if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < 256 * 1024)
        skip(); /* "where allowed": not here */
    before = locked_kb();
    a = pt__key_ring_new(3);
    b = pt__key_ring_new(3);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(a->locked && b->locked);
    assert_true(locked_kb() > before);
    for (size_t i = 0; i < 3; i++)
        memset(a->entries[i].key.bytes, 0x5a, sizeof(a->entries[i].key.bytes));
    pt__key_ring_free(b);
    assert_true(locked_kb() > before); /* a's keys are still locked */
    assert_true(a->entries[2].key.bytes[63] == 0x5a);
    pt__key_ring_free(a);
    assert_int_equal(locked_kb(), before);
}

/* Sixteen processes start at once and race to create the same period's
 * keys: each period ends with exactly one key, and all agree on it. */
static void
test_race_16(void **state)
{
    pt_policy *p = policy_with(NULL);
    int64_t now = at("2025-01-15T23:30:00Z");
    char first[65] = "";
    int files = 0;
    DIR *d;
    struct dirent *e;
    char kdir[600];
    (void)state;

    pt_test_race_keys(p, now, first);
    /* one file per period, no temporaries */
    snprintf(kdir, sizeof(kdir), "%s/keys", dir);
    d = opendir(kdir);
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            files++;
        else
            assert_true(strcmp(e->d_name, ".") == 0 ||
                        strcmp(e->d_name, "..") == 0);
    closedir(d);
    /* 14, 15 and (ahead) 16: not 13, whose grace ends within the hour —
     * a key is made only with an hour of life left, so that a host whose
     * clock is behind never remakes a key another has just destroyed */
    assert_int_equal(files, 3);
    assert_false(exists("daily-2025-01-13.key"));
    {
        unsigned char k15[32];
        char hex[65];
        key_in_file("daily-2025-01-15", k15);
        sodium_bin2hex(hex, sizeof(hex), k15, 32);
        assert_string_equal(hex, first);
    }
    pt_policy_free(p);
}

/* The store goes away before midnight: the next day's key, fetched an
 * hour ahead, keeps visits after midnight hashed, with that day's key and
 * no other; visits of a day never fetched are left without client_ip. */
static void
test_outage_across_boundary(void **state)
{
    pt_policy *p = policy_with(NULL);
    pt__keys *k = keys_open(p, PT__KEYS_CREATE);
    char kdir[600], moved[600], a[80], b[80], expect[80];
    unsigned char k15[32], k16[32];
    int missing;
    FILE *f;
    (void)state;

    assert_int_equal(pt__keys_refresh(k, at("2025-01-15T23:10:00Z")), PT_OK);
    /* the store breaks: its directory replaced by a file */
    snprintf(kdir, sizeof(kdir), "%s/keys", dir);
    snprintf(moved, sizeof(moved), "%s/keys.away", dir);
    assert_int_equal(rename(kdir, moved), 0);
    f = fopen(kdir, "w");
    fclose(f);
    assert_int_not_equal(pt__keys_refresh(k, at("2025-01-16T00:10:00Z")),
                         PT_OK);
    pseudonym_of(k, "203.0.113.7", at("2025-01-16T00:05:00Z"),
                 at("2025-01-16T00:10:00Z"), a, &missing);
    assert_int_equal(missing, PT__KEY_PRESENT);
    pseudonym_of(k, "203.0.113.7", at("2025-01-15T23:59:00Z"),
                 at("2025-01-16T00:10:00Z"), b, &missing);
    assert_int_equal(missing, PT__KEY_PRESENT);
    pseudonym_of(k, "203.0.113.7", at("2025-01-17T00:05:00Z"),
                 at("2025-01-16T00:10:00Z"), expect, &missing);
    assert_int_equal(missing, PT__KEY_UNAVAILABLE);
    /* and nothing was made while the store was away */
    unlink(kdir);
    assert_int_equal(rename(moved, kdir), 0);
    key_in_file("daily-2025-01-15", k15);
    key_in_file("daily-2025-01-16", k16);
    pseudonym_with(k16, "203.0.113.7", expect);
    assert_string_equal(a, expect);
    pseudonym_with(k15, "203.0.113.7", expect);
    assert_string_equal(b, expect);
    pt__keys_close(k);
    pt_policy_free(p);
}

/* ---- the tracker ------------------------------------------------------------
 */

static void
test_tracker(void **state)
{
    pt_policy *p = policy_with(NULL);
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *t;
    pt_visit v = PT_VISIT_INIT;
    pt_track_result r;
    pt_counters c;
    pt_record_list *list;
    char today[11], expect[80];
    unsigned char key[32];
    int64_t now = pt__now_us();
    pt__period period = pt__period_of(PT_ROTATE_DAILY, now);
    char name[PT__PERIOD_NAME_MAX];
    (void)state;

    o.synchronous = 1;
    assert_int_equal(pt_tracker_open(&t, p, &o), PT_OK);
    v.remote_addr = "203.0.113.7";
    v.time_us = now;
    assert_int_equal(pt_track(t, &v, &r), PT_OK);
    v.time_us = now - 10 * PT__DAY_US; /* older than every key */
    assert_int_equal(pt_track(t, &v, &r), PT_OK);
    assert_int_equal(r.dropped, PT_DROP_NONE);
    assert_int_equal(pt_tracker_counters(t, &c), PT_OK);
    assert_int_equal(c.accepted, 2);
    assert_int_equal(c.ip_key_expired, 1);
    assert_int_equal(c.ip_key_unavailable, 0);

    pt__format_date(today, now);
    assert_int_equal(pt_tracker_query(t, &list, today, 0), PT_OK);
    assert_int_equal(list->count, 1);
    pt__period_name(&period, name);
    key_in_file(name, key);
    pseudonym_with(key, "203.0.113.7", expect);
    assert_string_equal(list->records[0].client_ip, expect);
    pt_record_list_free(list);
    pt__format_date(today, now - 10 * PT__DAY_US);
    assert_int_equal(pt_tracker_query(t, &list, today, 0), PT_OK);
    assert_int_equal(list->count, 1);
    assert_null(list->records[0].client_ip);
    pt_record_list_free(list);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);

    /* For data-subject requests: the key of a time, or why there is none,
     * from a read-only tracker (nothing made) */
    o.read_only = 1;
    assert_int_equal(pt_tracker_open(&t, p, &o), PT_OK);
    {
        pt__ip_key k;
        int missing;
        assert_int_equal(pt__tracker_key_for_time(t, now, &k, &missing), PT_OK);
        assert_int_equal(missing, PT__KEY_PRESENT);
        assert_memory_equal(k.bytes, key, 32);
        pt__ip_key_wipe(&k);
        assert_int_equal(
            pt__tracker_key_for_time(t, now - 10 * PT__DAY_US, &k, &missing),
            PT_ENOTFOUND);
        assert_int_equal(missing, PT__KEY_EXPIRED);
        assert_int_equal(
            pt__tracker_key_for_time(t, now + 10 * PT__DAY_US, &k, &missing),
            PT_ENOTFOUND);
        assert_int_equal(missing, PT__KEY_UNAVAILABLE);
    }
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    pt_policy_free(p);
    /* rotate = never with no key anywhere: none, and none made */
    {
        char text[600];
        pt__ip_key k;
        int missing;
        snprintf(text, sizeof(text), "[storage]\npath = %s/never\n", dir);
        assert_int_equal(pt_policy_load_buffer(&p, text, strlen(text), "n"),
                         PT_OK);
        assert_int_equal(pt_tracker_open(&t, p, &o), PT_OK);
        assert_int_equal(pt__tracker_key_for_time(t, now, &k, &missing),
                         PT_ENOTFOUND);
        assert_int_equal(missing, PT__KEY_UNAVAILABLE);
        snprintf(text, sizeof(text), "%s/never", dir);
        assert_int_equal(access(text, F_OK), -1); /* nothing made */
        assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
        pt_policy_free(p);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wrap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ring_locked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rcu_readers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_manager_lifecycle, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_destroy_before, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dry_run, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrapped, setup, teardown),
        cmocka_unit_test_setup_teardown(test_race_16, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outage_across_boundary, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tracker, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
