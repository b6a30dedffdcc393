/*
 * Capped exponential backoff with jitter, for every retry loop of the
 * library: the DynamoDB client's requests and UnprocessedItems re-drives,
 * and the writer's probes of a store that is down.
 */
#include "common/common.h"

#include <unistd.h>

uint64_t
pt__backoff_seed(const void *owner)
{
    uint64_t seed = (uint64_t)pt__monotonic_us() ^ ((uint64_t)getpid() << 32) ^
                    (uint64_t)(uintptr_t)owner;
    return seed ? seed : 0x9e3779b97f4a7c15ULL; /* xorshift stays at 0 */
}

/* xorshift64*: jitter needs spread, not secrecy. */
static uint64_t
next_random(uint64_t *state)
{
    if (!*state)
        *state = 0x9e3779b97f4a7c15ULL;
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 0x2545f4914f6cdd1dULL;
}

uint64_t
pt__backoff(uint64_t *state, unsigned int attempt, uint64_t base, uint64_t cap,
            pt__jitter jitter)
{
    uint64_t ceiling = base < cap ? base : cap;
    for (unsigned int i = 1; i < attempt && ceiling < cap; i++)
        ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
    uint64_t floor = jitter == PT__JITTER_HALF ? ceiling / 2 : 0;
    uint64_t spread = ceiling - floor, r = next_random(state);
    return floor + (spread == UINT64_MAX ? r : r % (spread + 1));
}
