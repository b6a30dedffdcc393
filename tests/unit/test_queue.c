/* Unit tests for lib/pipeline/queue.c: the bounded MPMC ring behind
 * pt_track(). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pipeline/queue.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static void
test_capacity_rounds_up(void **state)
{
    pt__queue q;
    (void)state;
    assert_int_equal(pt__queue_init(&q, 5), 0);
    assert_int_equal(pt__queue_capacity(&q), 8);
    pt__queue_destroy(&q);
    assert_int_equal(pt__queue_init(&q, 0), 0);
    assert_int_equal(pt__queue_capacity(&q), 2);
    pt__queue_destroy(&q);
    assert_int_not_equal(pt__queue_init(&q, (size_t)1 << 31), 0);
}

static void
test_fifo_and_full(void **state)
{
    pt__queue q;
    uintptr_t i;
    (void)state;

    assert_int_equal(pt__queue_init(&q, 4), 0);
    assert_null(pt__queue_pop(&q));
    for (i = 1; i <= 4; i++)
        assert_true(pt__queue_push(&q, (void *)i));
    assert_false(pt__queue_push(&q, (void *)99)); /* full */
    assert_int_equal(pt__queue_size(&q), 4);
    assert_int_equal(pt__queue_pushed(&q), 4);
    for (i = 1; i <= 4; i++)
        assert_ptr_equal(pt__queue_pop(&q), (void *)i);
    assert_null(pt__queue_pop(&q));
    /* Laps around the ring keep FIFO order. */
    for (int lap = 0; lap < 10; lap++) {
        for (i = 1; i <= 3; i++)
            assert_true(pt__queue_push(&q, (void *)(i + 100 * (uintptr_t)lap)));
        for (i = 1; i <= 3; i++)
            assert_ptr_equal(pt__queue_pop(&q),
                             (void *)(i + 100 * (uintptr_t)lap));
    }
    assert_int_equal(pt__queue_pushed(&q), 34);
    assert_int_equal(pt__queue_size(&q), 0);
    pt__queue_destroy(&q);
}

#define PRODUCERS    4
#define PER_PRODUCER 50000

typedef struct producer_arg {
    pt__queue *q;
    uintptr_t id;
    uint64_t full; /* pushes that found the queue full, retried */
} producer_arg;

static void *
producer(void *p)
{
    producer_arg *a = p;
    for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
        /* item = producer id in the high bits, sequence in the low ones,
         * +1 so it is never NULL */
        void *item = (void *)((a->id << 32 | i) + 1);
        while (!pt__queue_push(a->q, item))
            a->full++;
    }
    return NULL;
}

/* Several producers, one consumer, a small ring so it fills often: every
 * item arrives exactly once and each producer's items stay in order. */
static void
test_mpsc_exactly_once_in_order(void **state)
{
    pt__queue q;
    pthread_t threads[PRODUCERS];
    producer_arg args[PRODUCERS];
    uintptr_t next[PRODUCERS] = {0};
    size_t received = 0;
    (void)state;

    assert_int_equal(pt__queue_init(&q, 64), 0);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_arg){&q, (uintptr_t)i, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, producer, &args[i]),
                         0);
    }
    while (received < (size_t)PRODUCERS * PER_PRODUCER) {
        void *item = pt__queue_pop(&q);
        if (!item)
            continue;
        uintptr_t v = (uintptr_t)item - 1;
        uintptr_t id = v >> 32, seq = v & 0xFFFFFFFFu;
        assert_true(id < PRODUCERS);
        assert_int_equal(seq, next[id]);
        next[id]++;
        received++;
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    assert_null(pt__queue_pop(&q));
    for (int i = 0; i < PRODUCERS; i++)
        assert_int_equal(next[i], PER_PRODUCER);
    assert_int_equal(pt__queue_pushed(&q), (size_t)PRODUCERS * PER_PRODUCER);
    pt__queue_destroy(&q);
}

typedef struct consumer_arg {
    pt__queue *q;
    atomic_size_t *remaining;
    unsigned char *seen;
} consumer_arg;

static void *
consumer(void *p)
{
    consumer_arg *a = p;
    while (atomic_load(a->remaining) > 0) {
        void *item = pt__queue_pop(a->q);
        if (!item)
            continue;
        uintptr_t v = (uintptr_t)item - 1;
        size_t index = (size_t)(v >> 32) * PER_PRODUCER + (v & 0xFFFFFFFFu);
        a->seen[index]++; /* each index is popped by exactly one consumer */
        atomic_fetch_sub(a->remaining, 1);
    }
    return NULL;
}

/* Two consumers (the writer and close() rescuing the queue) never get the
 * same item. */
static void
test_mpmc_no_duplicates(void **state)
{
    pt__queue q;
    pthread_t prod[PRODUCERS], cons[2];
    producer_arg args[PRODUCERS];
    atomic_size_t remaining = (size_t)PRODUCERS * PER_PRODUCER;
    unsigned char *seen = calloc((size_t)PRODUCERS * PER_PRODUCER, 1);
    consumer_arg carg = {&q, &remaining, seen};
    (void)state;

    assert_non_null(seen);
    assert_int_equal(pt__queue_init(&q, 128), 0);
    for (int i = 0; i < 2; i++)
        pthread_create(&cons[i], NULL, consumer, &carg);
    for (int i = 0; i < PRODUCERS; i++) {
        args[i] = (producer_arg){&q, (uintptr_t)i, 0};
        pthread_create(&prod[i], NULL, producer, &args[i]);
    }
    for (int i = 0; i < PRODUCERS; i++)
        pthread_join(prod[i], NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(cons[i], NULL);
    for (size_t i = 0; i < (size_t)PRODUCERS * PER_PRODUCER; i++)
        assert_int_equal(seen[i], 1);
    free(seen);
    pt__queue_destroy(&q);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_capacity_rounds_up),
        cmocka_unit_test(test_fifo_and_full),
        cmocka_unit_test(test_mpsc_exactly_once_in_order),
        cmocka_unit_test(test_mpmc_no_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
