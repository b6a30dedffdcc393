/* The bounded MPMC ring behind pt_track(); see queue.h for why. */
#include "pipeline/queue.h"

#include "common/common.h"

#include <stdlib.h>

int
pt__queue_init(pt__queue *q, size_t capacity)
{
    size_t cap = 2;

    if (capacity > ((size_t)1 << 30))
        return pt__fail(PT_EINVAL, "queue capacity %zu is too large (max %zu)",
                        capacity, (size_t)1 << 30);
    while (cap < capacity)
        cap <<= 1;
    q->cells = calloc(cap, sizeof(*q->cells));
    if (!q->cells)
        return pt__fail(PT_ENOMEM, "cannot allocate a queue of %zu records",
                        cap);
    for (size_t i = 0; i < cap; i++)
        atomic_init(&q->cells[i].sequence, i);
    q->mask = cap - 1;
    atomic_init(&q->tail, 0);
    atomic_init(&q->head, 0);
    return PT_OK;
}

void
pt__queue_destroy(pt__queue *q)
{
    free(q->cells);
    q->cells = NULL;
}

int
pt__queue_push(pt__queue *q, void *item)
{
    size_t pos = atomic_load_explicit(&q->tail, memory_order_relaxed);

    for (;;) {
        pt__queue_cell *cell = &q->cells[pos & q->mask];
        size_t seq =
            atomic_load_explicit(&cell->sequence, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)pos;

        if (diff == 0) {
            /* The cell is free for ticket `pos`: claim the ticket. */
            if (atomic_compare_exchange_weak_explicit(&q->tail, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                cell->item = item;
                atomic_store_explicit(&cell->sequence, pos + 1,
                                      memory_order_release);
                return 1;
            }
            /* CAS failure reloaded `pos`; try again. */
        } else if (diff < 0) {
            /* The cell still holds the item from one lap ago: full. */
            return 0;
        } else {
            pos = atomic_load_explicit(&q->tail, memory_order_relaxed);
        }
    }
}

void *
pt__queue_pop(pt__queue *q)
{
    size_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);

    for (;;) {
        pt__queue_cell *cell = &q->cells[pos & q->mask];
        size_t seq =
            atomic_load_explicit(&cell->sequence, memory_order_acquire);
        intptr_t diff = (intptr_t)seq - (intptr_t)(pos + 1);

        if (diff == 0) {
            if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + 1,
                                                      memory_order_relaxed,
                                                      memory_order_relaxed)) {
                void *item = cell->item;
                /* Free the cell for the producer one lap ahead. */
                atomic_store_explicit(&cell->sequence, pos + q->mask + 1,
                                      memory_order_release);
                return item;
            }
        } else if (diff < 0) {
            return NULL; /* not published yet: empty */
        } else {
            pos = atomic_load_explicit(&q->head, memory_order_relaxed);
        }
    }
}

size_t
pt__queue_pushed(pt__queue *q)
{
    return atomic_load_explicit(&q->tail, memory_order_acquire);
}

size_t
pt__queue_size(pt__queue *q)
{
    size_t tail = atomic_load_explicit(&q->tail, memory_order_relaxed);
    size_t head = atomic_load_explicit(&q->head, memory_order_relaxed);
    return tail >= head ? tail - head : 0;
}

size_t
pt__queue_capacity(const pt__queue *q)
{
    return q->mask + 1;
}
