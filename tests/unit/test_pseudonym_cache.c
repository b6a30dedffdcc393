/* The pseudonym cache (lib/policy/pseudonym_cache.c) behind pt__addr_hash:
 * a hit is always the digest the hash gives, for that key, family, prefix
 * and length; keys sharing a cache never see each other's digests; a
 * wiped cache holds nothing; threads hashing through one cache at once
 * (ThreadSanitizer build included) all get the hash's answer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

#define ADDRESSES 600 /* more than the cache's slots: entries are evicted */
#define THREADS   4

static void
make_key(pt__ip_key *key, unsigned char seed, pt__pseudonym_cache *cache)
{
    memset(key, 0, sizeof(*key));
    for (int i = 0; i < 32; i++)
        key->bytes[i] = (unsigned char)(i * 7 + seed);
    key->len = 32;
    pt__ip_key_prepare(key, 16);
    key->cache = cache;
}

/* Address i: IPv4 for even i, IPv6 for odd, in few networks. */
static void
address(pt__addr *a, unsigned int i)
{
    char text[64];
    int n = i % 2
                ? snprintf(text, sizeof(text), "2001:db8:%x::%x", i % 7, i / 2)
                : snprintf(text, sizeof(text), "198.51.%u.%u", i % 5,
                           (i / 2) % 256);
    assert_int_equal(pt__addr_parse(a, text, (size_t)n), 0);
}

/* The hash without any cache. */
static void
uncached(const pt__addr *a, unsigned int prefix, const pt__ip_key *key,
         unsigned int hash_bytes, char *out)
{
    pt__ip_key copy = *key;
    copy.cache = NULL;
    assert_int_equal(pt__addr_hash(a, prefix, &copy, hash_bytes, out), PT_OK);
    pt__ip_key_wipe(&copy);
}

static const unsigned int prefixes[] = {24, 32, 48, 128};
static const unsigned int lengths[] = {8, 16};

static void
test_hits_are_the_hash(void **state)
{
    pt__pseudonym_cache *cache = pt__pseudonym_cache_new();
    pt__ip_key key;
    (void)state;
    assert_non_null(cache);
    make_key(&key, 1, cache);
    assert_true(key.id != 0);
    /* three rounds: the first fills, the later ones hit or refill */
    for (int round = 0; round < 3; round++)
        for (unsigned int i = 0; i < ADDRESSES; i++)
            for (size_t p = 0; p < 4; p++)
                for (size_t l = 0; l < 2; l++) {
                    pt__addr a;
                    char got[65], want[65];
                    address(&a, i);
                    assert_int_equal(
                        pt__addr_hash(&a, prefixes[p], &key, lengths[l], got),
                        PT_OK);
                    uncached(&a, prefixes[p], &key, lengths[l], want);
                    assert_string_equal(got, want);
                }
    pt__ip_key_wipe(&key);
    pt__pseudonym_cache_free(cache);
}

/* What the cache holds for address 0 at /24, 16 bytes, under `key`. */
static int
cached(pt__pseudonym_cache *cache, const pt__ip_key *key, unsigned char *d)
{
    pt__addr a;
    unsigned char input[18];
    address(&a, 0);
    input[0] = (unsigned char)a.family;
    input[1] = 24;
    memcpy(input + 2, a.bytes, 4);
    return pt__pseudonym_cache_get(cache, key->id, input, 6, d, 16);
}

static void
test_keys_apart_and_wipe(void **state)
{
    pt__pseudonym_cache *cache = pt__pseudonym_cache_new();
    pt__ip_key one, two, again;
    unsigned char digest[16];
    char h1[65], h2[65], want[65];
    pt__addr a;
    (void)state;
    assert_non_null(cache);
    make_key(&one, 1, cache);
    make_key(&two, 2, cache);
    /* the same bytes prepared again are another key to the cache */
    make_key(&again, 1, cache);
    assert_true(one.id != two.id && one.id != again.id);
    address(&a, 0);
    assert_int_equal(cached(cache, &one, digest), 0);
    assert_int_equal(pt__addr_hash(&a, 24, &one, 16, h1), PT_OK);
    assert_int_equal(cached(cache, &one, digest), 1);
    assert_int_equal(cached(cache, &two, digest), 0);
    assert_int_equal(pt__addr_hash(&a, 24, &two, 16, h2), PT_OK);
    assert_string_not_equal(h1, h2);
    uncached(&a, 24, &two, 16, want);
    assert_string_equal(h2, want);
    assert_int_equal(cached(cache, &again, digest), 0);
    /* wiped: nothing left for either key */
    pt__pseudonym_cache_wipe(cache);
    assert_int_equal(cached(cache, &one, digest), 0);
    assert_int_equal(cached(cache, &two, digest), 0);
    assert_int_equal(pt__addr_hash(&a, 24, &one, 16, h2), PT_OK);
    assert_string_equal(h1, h2);
    /* a key that is not prepared (id 0) is never cached */
    assert_int_equal(pt__pseudonym_cache_get(
                         cache, 0, (const unsigned char *)"x", 1, digest, 16),
                     0);
    pt__ip_key_wipe(&one);
    pt__ip_key_wipe(&two);
    pt__ip_key_wipe(&again);
    pt__pseudonym_cache_free(cache);
}

typedef struct job {
    const pt__ip_key *keys; /* two */
    char (*want)[2][65];    /* per address, per key */
    unsigned int start;
    int wrong;
} job;

static void *
hash_many(void *arg)
{
    job *j = arg;
    for (unsigned int n = 0; n < 20000; n++) {
        unsigned int i = (j->start + n * 7) % ADDRESSES, k = n % 2;
        pt__addr a;
        char got[65];
        address(&a, i);
        if (pt__addr_hash(&a, 24, &j->keys[k], 16, got) != PT_OK ||
            strcmp(got, j->want[i][k]) != 0)
            j->wrong++;
    }
    return NULL;
}

static void
test_threads(void **state)
{
    static char want[ADDRESSES][2][65];
    pt__pseudonym_cache *cache = pt__pseudonym_cache_new();
    pt__ip_key keys[2];
    pthread_t threads[THREADS];
    job jobs[THREADS];
    (void)state;
    assert_non_null(cache);
    make_key(&keys[0], 1, cache);
    make_key(&keys[1], 2, cache);
    for (unsigned int i = 0; i < ADDRESSES; i++) {
        pt__addr a;
        address(&a, i);
        uncached(&a, 24, &keys[0], 16, want[i][0]);
        uncached(&a, 24, &keys[1], 16, want[i][1]);
    }
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job){keys, want, (unsigned int)t * 97u, 0};
        assert_int_equal(pthread_create(&threads[t], NULL, hash_many, &jobs[t]),
                         0);
    }
    /* wiped while they run: they miss and hash again, never go wrong */
    for (int w = 0; w < 50; w++)
        pt__pseudonym_cache_wipe(cache);
    for (int t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
        assert_int_equal(jobs[t].wrong, 0);
    }
    pt__ip_key_wipe(&keys[0]);
    pt__ip_key_wipe(&keys[1]);
    pt__pseudonym_cache_free(cache);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hits_are_the_hash),
        cmocka_unit_test(test_keys_apart_and_wipe),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
