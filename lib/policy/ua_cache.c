/*
 * A per-thread cache of user agent -> "Family/OS".
 *
 * Real traffic repeats a few hundred user-agent strings over and over, and
 * classifying one costs about 2,000 instructions, a fifth of a visit.  The
 * cache is direct-mapped: a cheap hash of the whole string picks the
 * entry, and a hit is confirmed by comparing the stored copy byte for byte,
 * so a collision (chance or crafted) only costs a miss, never a wrong
 * family.  Strings longer than PT_UA_CACHE_MAX_LEN bypass the cache so
 * a hostile user agent can neither evict much nor cost a large copy.
 *
 * What it holds: raw user-agent strings, in this process's memory only
 * (never logged, stored or written anywhere); no addresses, no keys.  It
 * is safe after fork() (the child just inherits the same entries).  One
 * cache belongs to one thread: apply.c keeps one in its thread-local
 * scratch; no state is shared between threads.
 */
#include "policy/policy_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct ua_entry {
    uint64_t hash;
    uint16_t len;    /* of ua; 0: empty entry */
    uint8_t out_len; /* of family */
    char family[PT_UA_FAMILY_MAX];
    char ua[PT_UA_CACHE_MAX_LEN];
} ua_entry;

struct pt__ua_cache {
    ua_entry entries[PT_UA_CACHE_ENTRIES];
    uint64_t hits, misses;
};

pt__ua_cache *
pt__ua_cache_new(void)
{
    return calloc(1, sizeof(pt__ua_cache));
}

void
pt__ua_cache_free(pt__ua_cache *cache)
{
    free(cache);
}

void
pt__ua_cache_stats(const pt__ua_cache *cache, uint64_t *hits, uint64_t *misses)
{
    *hits = cache ? cache->hits : 0;
    *misses = cache ? cache->misses : 0;
}

/* Eight bytes at a time, multiply and fold: a few instructions per word.
 * Not a defence against chosen collisions; it does not need to be one. */
static uint64_t
ua_hash(const char *s, size_t len)
{
    const uint64_t k = UINT64_C(0x9e3779b97f4a7c15);
    uint64_t h = (uint64_t)len * k, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    if (i < len) {
        w = 0;
        memcpy(&w, s + i, len - i);
        h = (h ^ w) * k;
        h ^= h >> 29;
    }
    return h ^ (h >> 32);
}

size_t
pt__user_agent_family_cached(pt__ua_cache *cache, const char *ua, size_t len,
                             char *out)
{
    ua_entry *e;
    uint64_t h;
    size_t n;

    if (!cache || len == 0 || len > PT_UA_CACHE_MAX_LEN)
        return pt__user_agent_family(ua, len, out);
    h = ua_hash(ua, len);
    e = &cache->entries[h % PT_UA_CACHE_ENTRIES];
    if (e->hash == h && e->len == len && memcmp(e->ua, ua, len) == 0) {
        cache->hits++;
        memcpy(out, e->family, (size_t)e->out_len + 1);
        return e->out_len;
    }
    cache->misses++;
    n = pt__user_agent_family(ua, len, out);
    e->hash = h;
    e->len = (uint16_t)len;
    e->out_len = (uint8_t)n;
    memcpy(e->family, out, n + 1);
    memcpy(e->ua, ua, len);
    return n;
}
