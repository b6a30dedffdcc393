/*
 * The table of live keys and how pt_track() reads it without a lock.
 *
 * Read sections (a sleepable-RCU scheme).  A tracker has PT__RCU_SLOTS
 * slots of two counters, each slot on a cache line of its own; a thread
 * always uses the same slot.  A reader loads the epoch, increments the
 * counter of its parity in its slot, loads the current ring, and
 * decrements that counter when done.  The publisher (one at a time) swaps
 * in the new ring, then flips the epoch and waits until the counters of
 * the parity it had are zero — twice.
 *
 * Why that is enough (every operation is a sequentially consistent
 * atomic): a reader still holding the old ring loaded it before the swap,
 * so it incremented before the swap, and its counter is among those the
 * publisher sums after the swap — as long as it counted under a parity the
 * publisher waits for.  Let e be the epoch at the swap.  A reader that
 * loaded e counts under e & 1: the first wait sees it.  One that loaded an
 * older epoch (it was preempted between loading the epoch and
 * incrementing, across an earlier publish) counts under e & 1 or
 * (e + 1) & 1: one of the two waits sees it.  After both, nobody holds the
 * old ring; it is wiped and freed.  Readers never wait; the publisher
 * waits for sections that last about a microsecond.
 */
#include "keys/keys.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- rings -----------------------------------------------------------------
 */

/* sodium_malloc places a block at the end of its pages: a size that is a
 * multiple of this keeps the ring aligned for any member. */
#define RING_ALIGN 64

pt__key_ring *
pt__key_ring_new(size_t count)
{
    size_t size = sizeof(pt__key_ring) + count * sizeof(pt__key_entry);
    pt__key_ring *ring;

    size = (size + RING_ALIGN - 1) / RING_ALIGN * RING_ALIGN;
    /* Pages of its own, between guard pages, locked where the system
     * allows it (out of swap and core dumps).  Not calloc + mlock: locks
     * do not count, and unlocking a table freed later would unlock another
     * table's keys on a shared page. */
    if (sodium_init() < 0 || !(ring = sodium_malloc(size)))
        return NULL;
    memset(ring, 0, size);
    ring->count = count;
    /* whether the lock held (sodium_malloc does not say); a no-op then */
    ring->locked = sodium_mlock(ring, size) == 0;
    return ring;
}

void
pt__key_ring_free(pt__key_ring *ring)
{
    /* sodium_free wipes and unlocks; NULL is a no-op */
    sodium_free(ring);
}

const pt__ip_key *
pt__key_ring_find(const pt__key_ring *ring, pt_rotation rotation,
                  unsigned int grace_hours, int64_t visit_us, int64_t now_us)
{
    pt__period p = pt__period_of(rotation, visit_us);
    size_t lo = 0, hi;

    if (!pt__period_live(&p, grace_hours, now_us) ||
        (ring && p.end_us <= ring->destroyed_before_us))
        return &pt__ip_key_expired;
    if (!ring)
        return &pt__ip_key_unavailable;
    hi = ring->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const pt__key_entry *e = &ring->entries[mid];
        if (e->period.start_us == p.start_us && e->period.end_us == p.end_us)
            return &e->key;
        if (e->period.start_us < p.start_us)
            lo = mid + 1;
        else
            hi = mid;
    }
    return &pt__ip_key_unavailable;
}

/* ---- read sections ---------------------------------------------------------
 */

static atomic_uint next_slot;
static _Thread_local unsigned int my_slot = UINT32_MAX;

void
pt__key_rcu_init(pt__key_rcu *rcu)
{
    memset(rcu, 0, sizeof(*rcu));
    atomic_init(&rcu->current, NULL);
    atomic_init(&rcu->epoch, 0);
    for (size_t i = 0; i < PT__RCU_SLOTS; i++) {
        atomic_init(&rcu->slots[i].readers[0], 0);
        atomic_init(&rcu->slots[i].readers[1], 0);
    }
    pthread_mutex_init(&rcu->publish_lock, NULL);
}

void
pt__key_rcu_destroy(pt__key_rcu *rcu)
{
    pt__key_ring_free(atomic_exchange(&rcu->current, NULL));
    pthread_mutex_destroy(&rcu->publish_lock);
}

unsigned int
pt__key_rcu_enter(pt__key_rcu *rcu)
{
    unsigned int slot = my_slot, parity;
    if (slot == UINT32_MAX)
        slot = my_slot =
            atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) %
            PT__RCU_SLOTS;
    parity = atomic_load(&rcu->epoch) & 1u;
    atomic_fetch_add(&rcu->slots[slot].readers[parity], 1);
    return slot << 1 | parity;
}

void
pt__key_rcu_leave(pt__key_rcu *rcu, unsigned int token)
{
    atomic_fetch_sub(&rcu->slots[token >> 1].readers[token & 1u], 1);
}

const pt__key_ring *
pt__key_rcu_read(pt__key_rcu *rcu)
{
    return atomic_load(&rcu->current);
}

/* Flip the epoch and wait for the readers of the parity it had. */
static void
flip_and_wait(pt__key_rcu *rcu)
{
    unsigned int old = atomic_fetch_add(&rcu->epoch, 1) & 1u;
    struct timespec pause = {0, 50000};
    for (;;) {
        long readers = 0;
        for (size_t i = 0; i < PT__RCU_SLOTS; i++)
            readers += atomic_load(&rcu->slots[i].readers[old]);
        if (readers == 0)
            return;
        nanosleep(&pause, NULL);
    }
}

void
pt__key_rcu_publish(pt__key_rcu *rcu, pt__key_ring *ring)
{
    pt__key_ring *old;

    pthread_mutex_lock(&rcu->publish_lock);
    old = atomic_exchange(&rcu->current, ring);
    flip_and_wait(rcu);
    flip_and_wait(rcu);
    pthread_mutex_unlock(&rcu->publish_lock);
    pt__key_ring_free(old);
}
