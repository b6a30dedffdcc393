/*
 * Session ids: "<unix seconds>-<8 lowercase hex>", as the seed wrote them.
 *
 * The random part comes from a per-thread pool of 1 KiB.  The pool is
 * refilled in user space by a ChaCha20 generator (randombytes_buf_
 * deterministic) whose 32-byte seed is replaced, on every refill, by bytes
 * of the same output ("fast key erasure": a later memory dump reveals
 * neither the ids already handed out nor the seeds that made them), and
 * reseeded from the kernel (getrandom) once every RESEED_REFILLS refills.
 *
 * Why not getrandom for every refill: libsodium asks the kernel for at
 * most 256 bytes per call, so a 1 KiB refill was four syscalls, 5-10 µs on
 * this VM, on every 256th pt_track() call: 0.4 % of the calls, a large
 * part of the p99/p99.9 tail (issue 5).  Now one visit in 16,384 makes one
 * 32-byte getrandom call.
 *
 * A forked child must not reuse its parent's pool or seed, or parent and
 * child would hand out the same ids: pthread_atfork bumps a generation
 * counter and a thread whose pool is from an older generation reseeds from
 * the kernel before its next id.
 */
#include "policy/policy_internal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

#define POOL_BYTES     1024
#define RESEED_REFILLS 64 /* 64 KiB of ids (16,384 visits) per seed */

typedef struct random_pool {
    /* bytes[] then the next seed: one generator call fills both. */
    unsigned char bytes[POOL_BYTES + randombytes_SEEDBYTES];
    unsigned char seed[randombytes_SEEDBYTES];
    size_t used;
    unsigned int refills; /* since the last seed from the kernel */
    unsigned int generation;
} random_pool;

static _Thread_local random_pool pool = {{0}, {0}, POOL_BYTES, 0, 0};
static atomic_uint fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
after_fork_in_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void
register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static void
refill(unsigned int gen)
{
    if (pool.generation != gen || pool.refills >= RESEED_REFILLS) {
        if (pool.generation == 0)
            pthread_once(&atfork_once, register_atfork);
        randombytes_buf(pool.seed, sizeof(pool.seed));
        pool.refills = 0;
        pool.generation = gen;
    }
    randombytes_buf_deterministic(pool.bytes, sizeof(pool.bytes), pool.seed);
    /* The old seed is overwritten by the new one, which is then erased
     * from the output: nothing left in memory regenerates these bytes. */
    memcpy(pool.seed, pool.bytes + POOL_BYTES, sizeof(pool.seed));
    sodium_memzero(pool.bytes + POOL_BYTES, sizeof(pool.seed));
    pool.refills++;
    pool.used = 0;
}

static void
take_random(unsigned char *out, size_t n)
{
    unsigned int gen =
        atomic_load_explicit(&fork_generation, memory_order_relaxed);
    if (pool.generation != gen || pool.used + n > POOL_BYTES)
        refill(gen);
    memcpy(out, pool.bytes + pool.used, n);
    /* Used bytes are erased so a later memory dump cannot replay them. */
    memset(pool.bytes + pool.used, 0, n);
    pool.used += n;
}

static _Thread_local int64_t cached_second;
static _Thread_local char cached_text[24]; /* "<seconds>-" */
static _Thread_local size_t cached_len;    /* 0: nothing cached yet */

void
pt__session_id(char *out, int64_t seconds)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[4];
    char digits[24];
    size_t n = 0, o = 0;
    uint64_t s;

    take_random(r, sizeof(r));
    if (seconds != cached_second || cached_len == 0) {
        /* Visits of the same second share the decimal part: each thread
         * keeps the last one. */
        if (seconds < 0) {
            cached_text[o++] = '-';
            s = (uint64_t)(-(seconds + 1)) + 1;
        } else {
            s = (uint64_t)seconds;
        }
        do {
            digits[n++] = (char)('0' + s % 10);
            s /= 10;
        } while (s);
        while (n)
            cached_text[o++] = digits[--n];
        cached_text[o++] = '-';
        cached_len = o;
        cached_second = seconds;
    }
    memcpy(out, cached_text, cached_len);
    o = cached_len;
    for (size_t i = 0; i < sizeof(r); i++) {
        out[o++] = hex[r[i] >> 4];
        out[o++] = hex[r[i] & 15];
    }
    out[o] = '\0';
}
