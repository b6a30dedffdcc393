/*
 * A bounded multi-producer multi-consumer queue of pointers (Dmitry
 * Vyukov's array-based design with per-cell sequence numbers, C11 atomics).
 *
 * Why this design: pt_track() runs on the web request's thread, so a push
 * must cost tens of nanoseconds and never take a lock.  Each push claims a
 * ticket with one CAS on the tail; each cell's sequence number tells a
 * producer whether the cell is free and the consumer whether it is
 * published.  Several consumers are allowed because pt_tracker_close() may
 * drain the queue into the spool while the writer thread is stuck inside a
 * backend call.
 */
#ifndef PT_PIPELINE_QUEUE_H
#define PT_PIPELINE_QUEUE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define PT__CACHE_LINE 64

typedef struct pt__queue_cell {
    atomic_size_t sequence;
    void *item;
} pt__queue_cell;

typedef struct pt__queue {
    pt__queue_cell *cells;
    size_t mask; /* capacity - 1; capacity is a power of two */
    char pad0[PT__CACHE_LINE - sizeof(void *) - sizeof(size_t)];
    /* Producers and the consumer hammer different positions: keep them on
     * different cache lines so they do not invalidate each other. */
    atomic_size_t tail; /* next ticket a producer claims */
    char pad1[PT__CACHE_LINE - sizeof(atomic_size_t)];
    atomic_size_t head; /* next ticket a consumer takes */
    char pad2[PT__CACHE_LINE - sizeof(atomic_size_t)];
} pt__queue;

/** Initialise with room for at least `capacity` items (rounded up to a power
 *  of two, minimum 2).  PT_ENOMEM / PT_EINVAL on failure. */
int pt__queue_init(pt__queue *q, size_t capacity);

/** Release the cells (not the items).  The queue must be unused. */
void pt__queue_destroy(pt__queue *q);

/** Push `item` (not NULL).  Returns 1 on success, 0 when the queue is full.
 *  Lock-free; any number of threads. */
int pt__queue_push(pt__queue *q, void *item);

/** Pop the oldest published item, or NULL when none is ready.  Lock-free;
 *  any number of threads. */
void *pt__queue_pop(pt__queue *q);

/** Tickets claimed so far (= items ever pushed, once their pushes return).
 *  Used by flush: every push that returned before this call has a ticket
 *  below the value returned. */
size_t pt__queue_pushed(pt__queue *q);

/** Approximate number of items queued (exact when quiescent). */
size_t pt__queue_size(pt__queue *q);

/** Capacity after rounding. */
size_t pt__queue_capacity(const pt__queue *q);

#endif
