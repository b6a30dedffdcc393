/*
 * Unit tests for lib/storage/dynamodb_seen.c: what a DynamoDB backend
 * instance remembers of the table from one replayed put() to the next
 * (dynamodb_seen.h).  Pure: no server, no clock.  Digests are made up
 * here; the module only compares them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "privtrack.h"
#include "storage/dynamodb_seen.h"

#define SEC  PT__DDB_SECOND_US
#define T0   (20000 * PT__DDB_DAY_US + 12 * 3600 * SEC) /* 2024-10-04 12:00 */
#define NONE PT__DDB_SET_EMPTY

/* A digest per content number; `low` sets its first 8 bytes (the part
 * that picks the cell) apart from the rest, to make cells collide. */
static void
digest_of(unsigned char d[16], uint64_t content, uint64_t low)
{
    memcpy(d, &low, 8);
    memcpy(d + 8, &content, 8);
}

static void
digest(unsigned char d[16], uint64_t content)
{
    digest_of(d, content, content * UINT64_C(0x9e3779b97f4a7c15));
}

static void
test_second_of(void **state)
{
    (void)state;
    assert_int_equal(pt__ddb_second_of(0), 0);
    assert_int_equal(pt__ddb_second_of(SEC - 1), 0);
    assert_int_equal(pt__ddb_second_of(SEC), 1);
    assert_int_equal(pt__ddb_second_of(-1), -1); /* 1969-12-31T23:59:59 */
    assert_int_equal(pt__ddb_second_of(-SEC), -1);
    assert_int_equal(pt__ddb_second_of(-SEC - 1), -2);
}

/* An item read from the table is one record: the record whose span holds
 * it and whose content it has matches it, once; the same record again
 * (time and content) matches it again; another record of the same content
 * at another time does not (two identical visits are two items). */
static void
test_one_item_one_record(void **state)
{
    pt__ddb_seen seen = {0};
    unsigned char a[16], b[16];
    (void)state;

    digest(a, 1);
    digest(b, 2);
    pt__ddb_seen_begin(&seen, T0);
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 300, a, NONE), PT_OK);
    /* another content, or out of the span: no */
    assert_false(pt__ddb_seen_match(&seen, b, T0, T0 + SEC, T0));
    assert_false(pt__ddb_seen_match(&seen, a, T0 + 301, T0 + 301 + SEC, T0));
    assert_false(pt__ddb_seen_match(&seen, a, T0 - SEC, T0 + 300, T0));
    /* the record of time T0 with content a: yes, and again (replayed
     * twice) */
    assert_true(pt__ddb_seen_match(&seen, a, T0, T0 + SEC, T0));
    assert_true(pt__ddb_seen_match(&seen, a, T0, T0 + SEC, T0));
    /* an identical visit 10 µs later is another record: not stored */
    assert_false(pt__ddb_seen_match(&seen, a, T0 + 10, T0 + 10 + SEC, T0 + 10));
    /* once it has its own item, both are found */
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 700, a, T0 + 10), PT_OK);
    assert_true(pt__ddb_seen_match(&seen, a, T0 + 10, T0 + 10 + SEC, T0 + 10));
    assert_true(pt__ddb_seen_match(&seen, a, T0, T0 + SEC, T0));
    pt__ddb_seen_clear(&seen);
}

/* Several free items of one content in a span: the earliest goes to the
 * first record, so the next one (later in time) still finds its own. */
static void
test_earliest_free_item_first(void **state)
{
    pt__ddb_seen seen = {0};
    unsigned char a[16];
    (void)state;

    digest(a, 7);
    pt__ddb_seen_begin(&seen, T0);
    /* stored by an earlier run: records at T0 and T0 + 500 ms, in slots
     * T0 + 400 ms and T0 + 900 ms; given in reverse order */
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 900000, a, NONE), PT_OK);
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 400000, a, NONE), PT_OK);
    assert_true(pt__ddb_seen_match(&seen, a, T0, T0 + SEC, T0));
    assert_true(pt__ddb_seen_match(&seen, a, T0 + 500000, T0 + 500000 + SEC,
                                   T0 + 500000));
    /* a third identical visit has no item left */
    assert_false(pt__ddb_seen_match(&seen, a, T0 + 1, T0 + 1 + SEC, T0 + 1));
    pt__ddb_seen_clear(&seen);
}

/* Every item's slot is taken, readable or not; the same item read twice
 * (a second read after the memory was cleared, or a record's own write
 * read back) is one item. */
static void
test_slots_taken_and_items_once(void **state)
{
    pt__ddb_seen seen = {0};
    unsigned char a[16];
    (void)state;

    digest(a, 3);
    pt__ddb_seen_begin(&seen, T0);
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 5, NULL, NONE), PT_OK);
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 9, a, T0), PT_OK);
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 9, a, NONE), PT_OK);
    assert_int_equal(seen.count, 1);
    assert_true(pt__ddb_set_has(pt__ddb_seen_taken(&seen), T0 + 5));
    assert_true(pt__ddb_set_has(pt__ddb_seen_taken(&seen), T0 + 9));
    assert_false(pt__ddb_set_has(pt__ddb_seen_taken(&seen), T0 + 6));
    /* read back, it is still the record's (written for T0) */
    assert_false(pt__ddb_seen_match(&seen, a, T0 + 1, T0 + SEC, T0 + 1));
    assert_true(pt__ddb_seen_match(&seen, a, T0, T0 + SEC, T0));
    assert_int_equal(pt__ddb_seen_add(&seen, NONE, a, NONE), PT_EINVAL);
    pt__ddb_seen_clear(&seen);
}

/* Many items, and digests whose cell bits collide: each is found by its
 * own record and by no other; the table grows and stays under 3/4. */
static void
test_many_items_and_collisions(void **state)
{
    pt__ddb_seen seen = {0};
    unsigned char d[16];
    const uint64_t n = 50000;
    (void)state;

    pt__ddb_seen_begin(&seen, T0);
    for (uint64_t i = 0; i < n; i++) {
        /* one in 10 shares its cell bits with 99 others */
        if (i % 10 == 0)
            digest_of(d, i, 42);
        else
            digest(d, i);
        assert_int_equal(pt__ddb_seen_add(&seen, T0 + (int64_t)i * 20, d, NONE),
                         PT_OK);
    }
    assert_int_equal(seen.count, n);
    assert_true(4 * seen.count <= 3 * seen.cap);
    for (uint64_t i = 0; i < n; i++) {
        int64_t t = T0 + (int64_t)i * 20 - 3;
        if (i % 10 == 0)
            digest_of(d, i, 42);
        else
            digest(d, i);
        assert_true(pt__ddb_seen_match(&seen, d, t, t + SEC, t));
        d[15] ^= 1; /* one bit of content off: never */
        assert_false(pt__ddb_seen_match(&seen, d, t, t + SEC, t));
    }
    pt__ddb_seen_clear(&seen);
}

static void
test_seconds_read(void **state)
{
    pt__ddb_seen seen = {0};
    (void)state;

    pt__ddb_seen_begin(&seen, T0);
    assert_false(pt__ddb_seen_covered(&seen, T0 / SEC));
    assert_int_equal(pt__ddb_seen_cover(&seen, T0 / SEC), PT_OK);
    assert_true(pt__ddb_seen_covered(&seen, T0 / SEC));
    assert_false(pt__ddb_seen_covered(&seen, T0 / SEC + 1));
    assert_false(pt__ddb_seen_covered(&seen, T0 / SEC - 1));
    assert_int_equal(pt__ddb_seen_cover(&seen, -1), PT_OK); /* 1969 */
    assert_true(pt__ddb_seen_covered(&seen, -1));
    pt__ddb_seen_clear(&seen);
    assert_false(pt__ddb_seen_covered(&seen, T0 / SEC));
}

/* The memory is forgotten when it is old, when the clock went back, and
 * when it is full; kept otherwise.  Forgotten means everything: no second
 * stays read whose items are gone. */
static void
test_forgotten_when_old_or_full(void **state)
{
    pt__ddb_seen seen = {.max_items = 100};
    unsigned char a[16];
    (void)state;

    digest(a, 5);
    pt__ddb_seen_begin(&seen, T0);
    assert_int_equal(pt__ddb_seen_cover(&seen, 17), PT_OK);
    assert_int_equal(pt__ddb_seen_add(&seen, 17 * SEC + 3, a, NONE), PT_OK);
    pt__ddb_seen_begin(&seen, T0 + PT__DDB_SEEN_KEEP_US); /* just kept */
    assert_true(pt__ddb_seen_covered(&seen, 17));
    pt__ddb_seen_begin(&seen, T0 + PT__DDB_SEEN_KEEP_US + 1);
    assert_false(pt__ddb_seen_covered(&seen, 17));
    assert_false(pt__ddb_seen_match(&seen, a, 17 * SEC, 18 * SEC, 17 * SEC));
    assert_false(pt__ddb_set_has(pt__ddb_seen_taken(&seen), 17 * SEC + 3));

    /* it started again at that time; a clock that goes back clears it */
    int64_t start = T0 + PT__DDB_SEEN_KEEP_US + 1;
    assert_int_equal(pt__ddb_seen_cover(&seen, 17), PT_OK);
    pt__ddb_seen_begin(&seen, start + 1000);
    assert_true(pt__ddb_seen_covered(&seen, 17));
    pt__ddb_seen_begin(&seen, start - 1);
    assert_false(pt__ddb_seen_covered(&seen, 17));

    /* full: max_items items (or slots) */
    assert_int_equal(pt__ddb_seen_cover(&seen, 17), PT_OK);
    for (int i = 0; i < 99; i++)
        assert_int_equal(pt__ddb_seen_add(&seen, 17 * SEC + i, NULL, NONE),
                         PT_OK);
    pt__ddb_seen_begin(&seen, start);
    assert_true(pt__ddb_seen_covered(&seen, 17));
    assert_int_equal(pt__ddb_seen_add(&seen, 17 * SEC + 99, NULL, NONE), PT_OK);
    pt__ddb_seen_begin(&seen, start);
    assert_false(pt__ddb_seen_covered(&seen, 17));
    assert_int_equal(seen.taken.count, 0);
    assert_int_equal(seen.max_items, 100); /* the setting stays */
    pt__ddb_seen_clear(&seen);
}

/* Only a record that an item can match needs its digest: while an item
 * read is free (any record of its content may take it), or when an item
 * was matched to or written for a record of the same time (the same
 * record again).  Matched, the item no longer counts as free; the same
 * item read again does not free it. */
static void
test_may_match(void **state)
{
    pt__ddb_seen seen = {0};
    unsigned char a[16], b[16];
    (void)state;

    digest(a, 1);
    digest(b, 2);
    pt__ddb_seen_begin(&seen, T0);
    assert_false(pt__ddb_seen_may_match(&seen, T0));
    /* a slot without content matches nothing */
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 1, NULL, NONE), PT_OK);
    assert_false(pt__ddb_seen_may_match(&seen, T0));
    /* an item read: any record may be its own */
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 5, a, NONE), PT_OK);
    assert_true(pt__ddb_seen_may_match(&seen, T0));
    assert_true(pt__ddb_seen_may_match(&seen, T0 + 777));
    assert_true(pt__ddb_seen_match(&seen, a, T0, T0 + SEC, T0));
    assert_false(pt__ddb_seen_may_match(&seen, T0 + 777));
    assert_true(pt__ddb_seen_may_match(&seen, T0)); /* the same again */
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 5, a, NONE), PT_OK);
    assert_false(pt__ddb_seen_may_match(&seen, T0 + 777));
    /* written for a record: that record's time only */
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 9, b, T0 + 3), PT_OK);
    assert_true(pt__ddb_seen_may_match(&seen, T0 + 3));
    assert_false(pt__ddb_seen_may_match(&seen, T0 + 4));
    assert_true(pt__ddb_seen_match(&seen, b, T0 + 3, T0 + SEC, T0 + 3));
    assert_false(pt__ddb_seen_match(&seen, b, T0 + 4, T0 + SEC, T0 + 4));
    /* read free, then written for a record (its answer came first) */
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 11, b, NONE), PT_OK);
    assert_true(pt__ddb_seen_may_match(&seen, T0 + 4));
    assert_int_equal(pt__ddb_seen_add(&seen, T0 + 11, b, T0 + 8), PT_OK);
    assert_false(pt__ddb_seen_may_match(&seen, T0 + 4));
    assert_true(pt__ddb_seen_may_match(&seen, T0 + 8));
    pt__ddb_seen_clear(&seen);
    assert_false(pt__ddb_seen_may_match(&seen, T0));
    assert_false(pt__ddb_seen_may_match(&seen, T0 + 3));
}

/* Why remembering is safe against a lease claimed again after its item
 * expired (dynamodb_seen.h): the memory must be younger than the gap
 * between a lease's last use by its first owner and its item's expiry. */
static void
test_kept_less_than_lease_gap(void **state)
{
    (void)state;
    assert_true(PT__DDB_SEEN_KEEP_US <
                PT__DDB_LEASE_TTL_S * SEC - PT__DDB_LEASE_KEEP_US);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_second_of),
        cmocka_unit_test(test_one_item_one_record),
        cmocka_unit_test(test_earliest_free_item_first),
        cmocka_unit_test(test_slots_taken_and_items_once),
        cmocka_unit_test(test_many_items_and_collisions),
        cmocka_unit_test(test_seconds_read),
        cmocka_unit_test(test_forgotten_when_old_or_full),
        cmocka_unit_test(test_may_match),
        cmocka_unit_test(test_kept_less_than_lease_gap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
