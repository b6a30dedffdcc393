/*
 * The pseudonym cache: digests of recent addresses, per key (policy.h says
 * why and where it lives).
 *
 * Direct-mapped, one cache line a slot.  Any thread may read or write a
 * slot at any time, so each is a sequence lock made of atomics only: a
 * writer makes the count odd (a compare-and-swap: a second writer gives
 * up instead of waiting), stores the words and makes it even again; a
 * reader takes the words only when the count was even and unchanged
 * around them.  A miss costs one hash, so losing a race is harmless.
 */
#include "policy/policy_internal.h"

#include <sched.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#define SLOTS       256 /* a power of two */
#define INPUT_BYTES 24  /* the hash's input: at most 18 bytes */
/* key id, lengths, input (3 words), digest (2 words) */
#define TAG_WORDS  (2 + INPUT_BYTES / 8)
#define SLOT_WORDS (TAG_WORDS + PT__PSEUDONYM_CACHE_DIGEST / 8)

typedef struct slot {
    _Atomic uint64_t seq; /* odd: being written */
    _Atomic uint64_t word[SLOT_WORDS];
} slot;

struct pt__pseudonym_cache {
    slot slots[SLOTS];
};

pt__pseudonym_cache *
pt__pseudonym_cache_new(void)
{
    pt__pseudonym_cache *cache;
    if (sodium_init() < 0 || !(cache = sodium_malloc(sizeof(*cache))))
        return NULL;
    for (size_t i = 0; i < SLOTS; i++) {
        atomic_init(&cache->slots[i].seq, 0);
        for (size_t w = 0; w < SLOT_WORDS; w++)
            atomic_init(&cache->slots[i].word[w], 0);
    }
    return cache;
}

void
pt__pseudonym_cache_free(pt__pseudonym_cache *cache)
{
    sodium_free(cache); /* wipes; NULL is a no-op */
}

/* The words that say what a slot holds; 0 when it cannot be cached. */
static int
make_tag(uint64_t *tag, uint64_t key_id, const unsigned char *input,
         size_t input_len, size_t len)
{
    unsigned char bytes[INPUT_BYTES] = {0};
    if (!key_id || input_len > INPUT_BYTES || !len ||
        len > PT__PSEUDONYM_CACHE_DIGEST)
        return 0;
    memcpy(bytes, input, input_len);
    tag[0] = key_id;
    tag[1] = (uint64_t)input_len | (uint64_t)len << 8;
    memcpy(tag + 2, bytes, sizeof(bytes));
    return 1;
}

static slot *
slot_of(pt__pseudonym_cache *cache, const uint64_t *tag)
{
    uint64_t h = tag[0];
    for (size_t i = 1; i < TAG_WORDS; i++)
        h = (h ^ tag[i]) * UINT64_C(0x9E3779B97F4A7C15);
    return &cache->slots[(h >> 32) & (SLOTS - 1)];
}

int
pt__pseudonym_cache_get(pt__pseudonym_cache *cache, uint64_t key_id,
                        const unsigned char *input, size_t input_len,
                        unsigned char *digest, size_t len)
{
    uint64_t tag[TAG_WORDS], w[SLOT_WORDS], seq;
    slot *s;

    if (!cache || !make_tag(tag, key_id, input, input_len, len))
        return 0;
    s = slot_of(cache, tag);
    seq = atomic_load_explicit(&s->seq, memory_order_acquire);
    if (seq & 1)
        return 0;
    for (size_t i = 0; i < SLOT_WORDS; i++)
        w[i] = atomic_load_explicit(&s->word[i], memory_order_relaxed);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&s->seq, memory_order_relaxed) != seq ||
        memcmp(w, tag, sizeof(tag)) != 0)
        return 0;
    memcpy(digest, w + TAG_WORDS, len);
    sodium_memzero(w, sizeof(w));
    return 1;
}

/* Take a slot for writing: its even count, or 1 when another writer has
 * it (and `wait` is 0). */
static uint64_t
lock_slot(slot *s, int wait)
{
    for (;;) {
        uint64_t seq = atomic_load_explicit(&s->seq, memory_order_relaxed);
        /* Acquire: the last writer's stores (before its release of the
         * even count this reads) happen before ours, so ours come after
         * them in each word's order.  Relaxed, a word could keep the last
         * writer's value under our count: a reader would take a slot that
         * mixes two entries, and a wipe could leave one (C11 allows it; no
         * x86 machine shows it). */
        if (!(seq & 1) && atomic_compare_exchange_strong_explicit(
                              &s->seq, &seq, seq + 1, memory_order_acquire,
                              memory_order_relaxed)) {
            /* the words' stores stay after the odd count */
            atomic_thread_fence(memory_order_release);
            return seq;
        }
        if (!wait)
            return 1;
        sched_yield();
    }
}

static void
write_slot(slot *s, uint64_t seq, const uint64_t *w)
{
    for (size_t i = 0; i < SLOT_WORDS; i++)
        atomic_store_explicit(&s->word[i], w[i], memory_order_relaxed);
    atomic_store_explicit(&s->seq, seq + 2, memory_order_release);
}

void
pt__pseudonym_cache_put(pt__pseudonym_cache *cache, uint64_t key_id,
                        const unsigned char *input, size_t input_len,
                        const unsigned char *digest, size_t len)
{
    uint64_t w[SLOT_WORDS] = {0}, seq;
    slot *s;

    if (!cache || !make_tag(w, key_id, input, input_len, len))
        return;
    memcpy(w + TAG_WORDS, digest, len);
    s = slot_of(cache, w);
    if ((seq = lock_slot(s, 0)) != 1)
        write_slot(s, seq, w);
    sodium_memzero(w, sizeof(w));
}

void
pt__pseudonym_cache_wipe(pt__pseudonym_cache *cache)
{
    static const uint64_t zero[SLOT_WORDS];
    if (!cache)
        return;
    for (size_t i = 0; i < SLOTS; i++) {
        slot *s = &cache->slots[i];
        write_slot(s, lock_slot(s, 1), zero);
    }
}
