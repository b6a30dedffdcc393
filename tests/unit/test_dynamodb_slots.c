/*
 * Unit tests for lib/storage/dynamodb_slots.c, the DynamoDB backend's slot
 * allocator, against its invariants (dynamodb_slots.h).  The module is
 * linked alone, with nothing but libc: it does no I/O.  The table's side
 * of a lease claim — a conditional PutItem that one writer only wins — is
 * played by `table`, a set of (window, class) pairs: what DynamoDB keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "privtrack.h"
#include "storage/dynamodb_slots.h"

#define DAY     PT__DDB_DAY_US
#define T0      (20000 * DAY + 12 * 3600000000LL) /* 2024-10-04 12:00 UTC */
#define WINDOWS 4096

/* The lease items in the table: who owns each (window, class), 0 nobody. */
typedef struct table {
    int64_t first_window;
    unsigned char owned[WINDOWS][PT__DDB_CLASSES];
    unsigned int claims; /* conditional PutItems sent */
} table;

typedef struct writer {
    pt__ddb_slots slots;
    uint32_t rng;
    table *t;
    unsigned char id; /* its owner id in the table (not 0) */
} writer;

#define OTHERS 200 /* the owner id of writers outside the test */

static table *
table_new(int64_t around)
{
    table *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    t->first_window = pt__ddb_window_of(around) - WINDOWS / 2;
    return t;
}

static unsigned char *
owned(table *t, int64_t window, unsigned int cls)
{
    assert_true(window >= t->first_window &&
                window < t->first_window + WINDOWS);
    return &t->owned[window - t->first_window][cls];
}

/* What dynamodb_lease.c does, with the table above for DynamoDB: probe
 * classes from a random start; the first one nobody owns is ours. */
static int
claim(writer *w, int64_t window, int64_t now_us)
{
    w->rng = w->rng * 1103515245u + 12345u;
    uint32_t start = 1 + (w->rng >> 8) % (PT__DDB_CLASSES - 1);
    for (unsigned int probe = 0; probe < PT__DDB_CLAIM_PROBES; probe++) {
        unsigned int cls = pt__ddb_probe_class(start, probe);
        w->t->claims++;
        if (*owned(w->t, window, cls))
            continue;
        *owned(w->t, window, cls) = w->id;
        return pt__ddb_slots_add(&w->slots, window, cls, now_us);
    }
    return PT_EEXIST;
}

/* What dynamodb_write.c's assign() does: follow the search, claiming as
 * asked.  PT__DDB_FOUND with *slot, or PT__DDB_NONE (the fallback). */
static pt__ddb_step
allocate(writer *w, int64_t t, const pt__ddb_taken *taken, int64_t *slot)
{
    pt__ddb_search q;
    pt__ddb_step step;
    int64_t lo, hi;

    pt__ddb_span(t, &lo, &hi);
    pt__ddb_search_init(&q, lo, hi);
    while ((step = pt__ddb_search_next(&w->slots, &q, taken, slot)) ==
           PT__DDB_CLAIM) {
        int rc = claim(w, *slot, T0);
        if (rc == PT_EEXIST)
            pt__ddb_slots_exhaust(&w->slots, *slot);
        else
            assert_int_equal(rc, PT_OK);
    }
    return step;
}

static int64_t
day_of(int64_t t)
{
    return t / DAY - (t % DAY != 0 && t < 0);
}

static int
cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts `slots` and fails on the first one handed out twice. */
static void
assert_unique(int64_t *slots, size_t n)
{
    qsort(slots, n, sizeof(*slots), cmp_i64);
    for (size_t i = 1; i < n; i++)
        assert_true(slots[i] != slots[i - 1]);
}

/* ---- class 0 ------------------------------------------------------------- */

static void
test_class0_never_leased(void **state)
{
    (void)state;
    /* Every claim, whatever its random start, probes 48 distinct classes
     * and never class 0. */
    for (uint32_t start = 1; start < PT__DDB_CLASSES; start++) {
        unsigned char seen[PT__DDB_CLASSES] = {0};
        for (unsigned int p = 0; p < PT__DDB_CLAIM_PROBES; p++) {
            unsigned int cls = pt__ddb_probe_class(start, p);
            assert_true(cls >= 1 && cls < PT__DDB_CLASSES);
            assert_int_equal(seen[cls], 0);
            seen[cls] = 1;
        }
    }
    /* The allocator refuses to hold one. */
    pt__ddb_slots s = {0};
    int64_t w = pt__ddb_window_of(T0);
    assert_int_equal(pt__ddb_slots_add(&s, w, 0, T0), PT_EINVAL);
    assert_int_equal(pt__ddb_slots_add(&s, w, PT__DDB_CLASSES, T0), PT_EINVAL);
    assert_int_equal(pt__ddb_slots_in(&s, w), 0);

    /* So no slot it hands out is one of class 0: a busy writer, every
     * lease it can hold, thousands of records in one second. */
    table *t = table_new(T0);
    writer wr = {.t = t, .rng = 7, .id = 1};
    for (int i = 0; i < 60000; i++) {
        int64_t slot;
        if (allocate(&wr, T0 + (i % 977) * 1000, NULL, &slot) != PT__DDB_FOUND)
            continue;
        assert_int_not_equal(slot % PT__DDB_CLASSES, 0);
    }
    assert_true(wr.slots.count > PT__DDB_NEAR_LEASES);
    pt__ddb_slots_clear(&wr.slots);
    free(t);
}

/* ---- lease life ---------------------------------------------------------- */

static void
test_lease_ttl_outlives_memory(void **state)
{
    const int64_t windows[] = {
        pt__ddb_window_of(T0),                   /* current */
        pt__ddb_window_of(T0 - 400 * DAY),       /* a replay of last year */
        pt__ddb_window_of(T0 + 3600000000LL),    /* a clock an hour ahead */
        pt__ddb_window_of(T0 - 26 * DAY),        /* older than kept */
        pt__ddb_window_of(978307200000000LL),    /* 2001-01-01 */
        pt__ddb_window_of(-86400000000LL * 400), /* before 1970 */
    };
    const int64_t claims[] = {T0, T0 + 999999, T0 - 1, T0 + 59999999};
    (void)state;

    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        for (size_t c = 0; c < sizeof(claims) / sizeof(claims[0]); c++) {
            int64_t w = windows[i], at = claims[c];
            int64_t ttl = pt__ddb_lease_ttl(w, at);
            pt__ddb_slots s = {0};

            /* DynamoDB may delete an item once ttl < now (seconds): the
             * lease must be forgotten strictly before. */
            assert_true(ttl * 1000000 > at + PT__DDB_LEASE_KEEP_US);
            assert_true(ttl * 1000000 >= (w + 1) * PT__DDB_WINDOW_US +
                                             PT__DDB_LEASE_TTL_S * 1000000);
            assert_int_equal(pt__ddb_slots_add(&s, w, 17, at), PT_OK);
            pt__ddb_slots_expire(&s, at + PT__DDB_LEASE_KEEP_US);
            assert_int_equal(pt__ddb_slots_in(&s, w), 1);
            pt__ddb_slots_expire(&s, at + PT__DDB_LEASE_KEEP_US + 1);
            assert_int_equal(pt__ddb_slots_in(&s, w), 0);
            pt__ddb_slots_clear(&s);
        }
    }
}

static void
test_fresh_records_need_no_lookup(void **state)
{
    (void)state;
    /* A record near the clock is written on its lease alone, which is only
     * safe if no lease item of its window can have expired: every such
     * item, whenever it was claimed, lives past the clock. */
    for (int64_t d = -PT__DDB_FRESH_US; d <= PT__DDB_FRESH_US;
         d += PT__DDB_FRESH_US / 64) {
        int64_t t = T0 + d;
        assert_false(pt__ddb_needs_lookup(t, T0, 0));
        assert_true(pt__ddb_needs_lookup(t, T0, 1)); /* a replay: always */
        assert_true(pt__ddb_lease_ttl(pt__ddb_window_of(t), 0) * 1000000 > T0);
    }
    assert_true(pt__ddb_needs_lookup(T0 - PT__DDB_FRESH_US - 1, T0, 0));
    assert_true(pt__ddb_needs_lookup(T0 + PT__DDB_FRESH_US + 1, T0, 0));
}

/* ---- uniqueness ---------------------------------------------------------- */

static void
test_unique_within_batch(void **state)
{
    enum { N = 40000 };
    int64_t *slots = malloc(N * sizeof(*slots));
    table *t = table_new(T0);
    writer wr = {.t = t, .rng = 1, .id = 1};
    size_t n = 0;
    (void)state;
    assert_non_null(slots);

    /* Other writers own a third of the classes of the minutes used. */
    for (int64_t w = pt__ddb_window_of(T0) - 1; w <= pt__ddb_window_of(T0) + 2;
         w++)
        for (unsigned int c = 3; c < PT__DDB_CLASSES; c += 3)
            *owned(t, w, c) = OTHERS;
    /* Bursts on one microsecond, sparse visits, and a minute's edge. */
    for (int i = 0; i < N; i++) {
        int64_t at = i < N / 2 ? T0 : T0 + (int64_t)(i % 5000) * 12345;
        int64_t lo, hi, slot;
        assert_int_equal(allocate(&wr, at, NULL, &slot), PT__DDB_FOUND);
        pt__ddb_span(at, &lo, &hi);
        assert_true(slot >= lo && slot < hi);
        /* only in a class of its own leases */
        assert_int_equal(*owned(t, pt__ddb_window_of(slot),
                                (unsigned int)(slot % PT__DDB_CLASSES)),
                         wr.id);
        slots[n++] = slot;
    }
    assert_unique(slots, n);
    pt__ddb_slots_clear(&wr.slots);
    free(slots);
    free(t);
}

static void
test_two_writers_never_share(void **state)
{
    enum { N = 20000 };
    int64_t *slots = malloc(2 * N * sizeof(*slots));
    table *t = table_new(T0);
    /* the same luck: both try the same classes first */
    writer a = {.t = t, .rng = 5, .id = 1}, b = {.t = t, .rng = 5, .id = 2};
    size_t n = 0;
    (void)state;
    assert_non_null(slots);

    /* Interleaved, same times: each has its own leases, so their slots
     * differ although they would pick the same classes first. */
    for (int i = 0; i < N; i++) {
        int64_t at = T0 + (i / 40) * 997;
        assert_int_equal(allocate(&a, at, NULL, &slots[n]), PT__DDB_FOUND);
        assert_int_equal(*owned(t, pt__ddb_window_of(slots[n]),
                                (unsigned int)(slots[n] % PT__DDB_CLASSES)),
                         a.id);
        n++;
        assert_int_equal(allocate(&b, at, NULL, &slots[n]), PT__DDB_FOUND);
        assert_int_equal(*owned(t, pt__ddb_window_of(slots[n]),
                                (unsigned int)(slots[n] % PT__DDB_CLASSES)),
                         b.id);
        n++;
    }
    assert_unique(slots, n);
    pt__ddb_slots_clear(&a.slots);
    pt__ddb_slots_clear(&b.slots);
    free(slots);
    free(t);
}

static void
test_taken_slots_skipped(void **state)
{
    pt__ddb_taken taken = {0};
    pt__ddb_slots s = {0};
    int64_t w = pt__ddb_window_of(T0), base = w * PT__DDB_WINDOW_US;
    (void)state;

    /* Items another program wrote on the lease's first 300 slots, given
     * in no order. */
    for (int i = 299; i >= 0; i--)
        assert_int_equal(
            pt__ddb_set_add(&taken, base + 9 + (int64_t)i * PT__DDB_CLASSES),
            PT_OK);
    assert_int_equal(pt__ddb_set_add(&taken, base), PT_OK); /* class 0 */
    assert_true(pt__ddb_set_has(&taken, base + 9));
    assert_false(pt__ddb_set_has(&taken, base + 10));
    assert_false(pt__ddb_set_has(NULL, base + 9));

    assert_int_equal(pt__ddb_slots_add(&s, w, 9, T0), PT_OK);
    int64_t slot;
    assert_int_equal(
        pt__ddb_slots_take(&s, base, base + PT__DDB_WINDOW_US, &taken, &slot),
        PT_OK);
    assert_int_equal(slot, base + 9 + 300 * PT__DDB_CLASSES);
    /* a range holding only taken slots has none to give */
    assert_int_equal(
        pt__ddb_slots_take(&s, base, base + 250 * 250, &taken, &slot),
        PT_ENOTFOUND);
    /* the fallback skips them too */
    uint64_t k = 0;
    pt__ddb_set_free(&taken);
    assert_int_equal(pt__ddb_set_add(&taken, base + 250), PT_OK);
    assert_int_equal(
        pt__ddb_class0_slot(base + 1, base + 1000, &k, &taken, &slot), PT_OK);
    assert_int_equal(slot, base + 500);
    assert_int_equal(k, 1);
    pt__ddb_set_free(&taken);
    pt__ddb_slots_clear(&s);
}

/* Dense takes from the middle of one lease, starting at scattered times,
 * with some slots taken by others: every slot handed out is the first one
 * at or after its start that is neither handed out nor taken (a model
 * kept beside it: a flag per slot), also where the allocator skips the
 * words it filled 64 at a time. */
static void
test_dense_takes_match_a_model(void **state)
{
    enum { N = PT__DDB_WINDOW_US / PT__DDB_CLASSES };
    pt__ddb_taken taken = {0};
    pt__ddb_slots s = {0};
    int64_t w = pt__ddb_window_of(T0), base = w * PT__DDB_WINDOW_US;
    unsigned char *used = calloc(N, 1);
    unsigned int seed = 7;
    (void)state;

    assert_non_null(used);
    assert_int_equal(pt__ddb_slots_add(&s, w, 3, T0), PT_OK);
    for (size_t i = 20000; i < 20000 + 640; i += 37) { /* others' items */
        used[i] = 1;
        assert_int_equal(
            pt__ddb_set_add(&taken, base + 3 + (int64_t)i * PT__DDB_CLASSES),
            PT_OK);
    }
    for (int n = 0; n < 30000; n++) {
        /* mostly at one time (a dense spool), sometimes elsewhere */
        seed = seed * 1103515245u + 12345u;
        size_t from = (seed >> 8) % 5 == 0 ? (seed >> 12) % N : 19990;
        int64_t lo = base + 3 + (int64_t)from * PT__DDB_CLASSES, slot;
        size_t want = from;
        while (want < N && used[want])
            want++;
        int rc =
            pt__ddb_slots_take(&s, lo, base + PT__DDB_WINDOW_US, &taken, &slot);
        if (want == N) {
            assert_int_equal(rc, PT_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, PT_OK);
        assert_int_equal(slot, base + 3 + (int64_t)want * PT__DDB_CLASSES);
        used[want] = 1;
    }
    free(used);
    pt__ddb_set_free(&taken);
    pt__ddb_slots_clear(&s);
}

/* The set behind `taken`: every value added is found, no other, however
 * many (it grows), whatever their spacing (slots of one class are 250
 * apart, seconds consecutive), negative times included. */
static void
test_set_membership(void **state)
{
    pt__ddb_set set = {0};
    (void)state;

    assert_false(pt__ddb_set_has(&set, 0)); /* empty: never */
    for (int64_t i = 0; i < 100000; i++) {
        assert_int_equal(pt__ddb_set_add(&set, T0 + i * PT__DDB_CLASSES),
                         PT_OK);
        assert_int_equal(pt__ddb_set_add(&set, -i), PT_OK);
    }
    assert_int_equal(set.count, 2 * 100000);
    assert_true(4 * set.count <= 3 * set.cap);
    /* added twice: counted once */
    assert_int_equal(pt__ddb_set_add(&set, T0), PT_OK);
    assert_int_equal(pt__ddb_set_add(&set, 0), PT_OK);
    assert_int_equal(set.count, 2 * 100000);
    for (int64_t i = 0; i < 100000; i++) {
        assert_true(pt__ddb_set_has(&set, T0 + i * PT__DDB_CLASSES));
        assert_false(pt__ddb_set_has(&set, T0 + i * PT__DDB_CLASSES + 1));
        assert_true(pt__ddb_set_has(&set, -i));
    }
    assert_false(pt__ddb_set_has(&set, INT64_MAX));
    /* the marker of a free cell is refused, and never reported present */
    assert_int_equal(pt__ddb_set_add(&set, PT__DDB_SET_EMPTY), PT_EINVAL);
    assert_false(pt__ddb_set_has(&set, PT__DDB_SET_EMPTY));
    pt__ddb_set_free(&set);
    assert_int_equal(set.count, 0);
    assert_false(pt__ddb_set_has(&set, T0));
    pt__ddb_set_free(&set); /* twice: harmless */
}

/* ---- where a record goes ------------------------------------------------- */

static void
test_time_moves_within_bounds(void **state)
{
    const int64_t offsets[] = {
        0,                /* midnight */
        1,                /* just after */
        DAY - 1,          /* the day's last microsecond */
        DAY - 1000000,    /* the start of its last second */
        DAY - 1000001,    /* just before that second */
        DAY - 250,        /* a class-0 slot near the end */
        59999999,         /* a minute's last microsecond */
        12 * 3600000000LL /* noon */
    };
    /* today, 1970-01-01, 1969-12-31 (its last minute is window -1), a day
     * before 1970, 9999-12-31 */
    const int64_t days[] = {20000, 0, -1, -400, 2932896};
    (void)state;

    for (size_t d = 0; d < sizeof(days) / sizeof(days[0]); d++) {
        for (size_t o = 0; o < sizeof(offsets) / sizeof(offsets[0]); o++) {
            int64_t at = days[d] * DAY + offsets[o];
            int64_t day_end = (day_of(at) + 1) * DAY, lo, hi;
            table *t = table_new(at);
            writer wr = {.t = t, .rng = 3, .id = 1};

            pt__ddb_span(at, &lo, &hi);
            assert_int_equal(hi - lo, PT__DDB_SPAN_US);
            assert_true(hi <= day_end);
            for (int i = 0; i < 3000; i++) {
                int64_t slot;
                assert_int_equal(allocate(&wr, at, NULL, &slot), PT__DDB_FOUND);
                assert_int_equal(day_of(slot), day_of(at)); /* the date */
                if (at + PT__DDB_SPAN_US <= day_end) {
                    assert_true(slot >= at); /* forward only ... */
                    assert_true(slot < at + PT__DDB_SPAN_US);
                } else { /* ... or within the day's last second */
                    assert_true(slot >= day_end - PT__DDB_SPAN_US);
                }
                /* the first records stay near their time */
                if (i < 100 && at + PT__DDB_SPAN_US <= day_end)
                    assert_true(slot - at < PT__DDB_SHIFT_US);
            }
            pt__ddb_slots_clear(&wr.slots);
            free(t);
        }
    }
}

static void
test_burst_spreads_within_lease_limits(void **state)
{
    enum { FULL = PT__DDB_MAX_LEASES * (PT__DDB_SPAN_US / PT__DDB_CLASSES) };
    table *t = table_new(T0);
    writer wr = {.t = t, .rng = 11, .id = 1};
    int64_t w = pt__ddb_window_of(T0), slot;
    int near = 0;
    (void)state;

    /* Visits all in one microsecond: near their time while 8 leases of the
     * minute allow it (80 slots each within 20 ms), then over their second
     * from the leases held (4,000 slots each), one more lease at a time. */
    for (int i = 0; i < 40000; i++) {
        assert_int_equal(allocate(&wr, T0, NULL, &slot), PT__DDB_FOUND);
        near += slot - T0 < PT__DDB_SHIFT_US;
        if (i < PT__DDB_NEAR_LEASES * (PT__DDB_SHIFT_US / PT__DDB_CLASSES))
            assert_true(slot - T0 < PT__DDB_SHIFT_US);
    }
    /* 10 leases for 40,000 records; each one's first 80 slots are near */
    assert_int_equal(pt__ddb_slots_in(&wr.slots, w), 10);
    assert_int_equal(near, 10 * (PT__DDB_SHIFT_US / PT__DDB_CLASSES));
    /* Up to 32 leases: 128,000 records in a second, then the fallback. */
    for (int i = 40000; i < FULL; i++)
        assert_int_equal(allocate(&wr, T0, NULL, &slot), PT__DDB_FOUND);
    assert_int_equal(pt__ddb_slots_in(&wr.slots, w), PT__DDB_MAX_LEASES);
    unsigned int claims = t->claims;
    assert_int_equal(allocate(&wr, T0, NULL, &slot), PT__DDB_NONE);
    assert_int_equal(t->claims, claims); /* no 33rd lease of that minute */
    pt__ddb_slots_clear(&wr.slots);
    free(t);
}

static void
test_oldest_lease_forgotten(void **state)
{
    pt__ddb_slots s = {0};
    int64_t w = pt__ddb_window_of(T0), slot;
    (void)state;

    for (unsigned int c = 1; c <= PT__DDB_MAX_LEASES; c++)
        assert_int_equal(pt__ddb_slots_add(&s, w + c, c, T0), PT_OK);
    /* use every lease but the one of window w + 2 */
    for (unsigned int c = 1; c <= PT__DDB_MAX_LEASES; c++)
        if (c != 2)
            assert_int_equal(pt__ddb_slots_take(&s, (w + c) * PT__DDB_WINDOW_US,
                                                (w + c + 1) * PT__DDB_WINDOW_US,
                                                NULL, &slot),
                             PT_OK);
    assert_int_equal(pt__ddb_slots_add(&s, w + 100, 40, T0), PT_OK);
    assert_int_equal(s.count, PT__DDB_MAX_LEASES);
    assert_int_equal(pt__ddb_slots_in(&s, w + 2), 0); /* the least used */
    assert_int_equal(pt__ddb_slots_in(&s, w + 1), 1);
    assert_int_equal(pt__ddb_slots_in(&s, w + 100), 1);
    pt__ddb_slots_clear(&s);
    assert_int_equal(s.count, 0);
}

/* ---- exhaustion ---------------------------------------------------------- */

static void
test_exhaustion_falls_back_to_class0(void **state)
{
    table *t = table_new(T0);
    writer wr = {.t = t, .rng = 9, .id = 1};
    int64_t w = pt__ddb_window_of(T0), at = w * PT__DDB_WINDOW_US + 1000;
    int64_t lo, hi, slot;
    (void)state;

    /* Every class of the minute is someone else's. */
    for (unsigned int c = 1; c < PT__DDB_CLASSES; c++)
        *owned(t, w, c) = OTHERS;
    assert_int_equal(allocate(&wr, at, NULL, &slot), PT__DDB_NONE);
    assert_int_equal(t->claims, PT__DDB_CLAIM_PROBES); /* one claim tried */
    assert_true(pt__ddb_slots_exhausted(&wr.slots, w));
    /* remembered: the next record of that minute tries no claim */
    assert_int_equal(allocate(&wr, at + 5, NULL, &slot), PT__DDB_NONE);
    assert_int_equal(t->claims, PT__DDB_CLAIM_PROBES);

    /* The fallback: class-0 slots of the span, one after the other. */
    pt__ddb_span(at, &lo, &hi);
    uint64_t k = 0;
    int64_t prev = lo - 1;
    for (int i = 0; i < PT__DDB_SPAN_US / PT__DDB_CLASSES; i++, k++) {
        assert_int_equal(pt__ddb_class0_slot(lo, hi, &k, NULL, &slot), PT_OK);
        assert_int_equal(slot % PT__DDB_CLASSES, 0);
        assert_true(slot > prev && slot >= lo && slot < hi);
        prev = slot;
    }
    /* 4,000 a second, then nothing: put() fails with PT_EEXIST */
    assert_int_equal(pt__ddb_class0_slot(lo, hi, &k, NULL, &slot),
                     PT_ENOTFOUND);

    /* Only 8 windows are remembered: the ninth pushes out the first. */
    for (int64_t i = 1; i <= PT__DDB_EXHAUSTED_KEPT; i++)
        pt__ddb_slots_exhaust(&wr.slots, w + i);
    assert_false(pt__ddb_slots_exhausted(&wr.slots, w));
    assert_true(pt__ddb_slots_exhausted(&wr.slots, w + 1));
    pt__ddb_slots_clear(&wr.slots);
    assert_false(pt__ddb_slots_exhausted(&wr.slots, w + 1));
    free(t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_class0_never_leased),
        cmocka_unit_test(test_lease_ttl_outlives_memory),
        cmocka_unit_test(test_fresh_records_need_no_lookup),
        cmocka_unit_test(test_unique_within_batch),
        cmocka_unit_test(test_two_writers_never_share),
        cmocka_unit_test(test_taken_slots_skipped),
        cmocka_unit_test(test_dense_takes_match_a_model),
        cmocka_unit_test(test_set_membership),
        cmocka_unit_test(test_time_moves_within_bounds),
        cmocka_unit_test(test_burst_spreads_within_lease_limits),
        cmocka_unit_test(test_oldest_lease_forgotten),
        cmocka_unit_test(test_exhaustion_falls_back_to_class0),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
