/*
 * The slot allocator (dynamodb_slots.h): lease bitmaps, spans, classes,
 * the taken set and one record's search.  No I/O: what the table says
 * comes in through the arguments.
 *
 * A held lease keeps a bitmap of its slots handed out, one bit per slot of
 * its class in its window (PT__DDB_WINDOW_US / PT__DDB_CLASSES bits), and
 * never hands a slot out twice: every record its owner writes into its own
 * slots has a key no other record can have.
 */
#include "storage/dynamodb_slots.h"

#include "privtrack.h"

#include <stdlib.h>

#define SLOTS_PER_LEASE (PT__DDB_WINDOW_US / PT__DDB_CLASSES)
#define WORDS_PER_LEASE ((SLOTS_PER_LEASE + 63) / 64)

struct pt__ddb_lease {
    int64_t window; /* window start / PT__DDB_WINDOW_US */
    unsigned int cls;
    uint64_t used;      /* LRU tick */
    int64_t claimed_us; /* when its item was created */
    uint64_t bits[WORDS_PER_LEASE];
    /* bit w set: bits[w] is full (every slot of it handed out), so that a
     * dense run of records skips the words it filled 64 at a time */
    uint64_t full[(WORDS_PER_LEASE + 63) / 64];
};

static int64_t
floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

/* ---- pure rules ---------------------------------------------------------- */

int64_t
pt__ddb_window_of(int64_t t)
{
    return floor_div(t, PT__DDB_WINDOW_US);
}

void
pt__ddb_span(int64_t t, int64_t *lo, int64_t *hi)
{
    int64_t day_end = (floor_div(t, PT__DDB_DAY_US) + 1) * PT__DDB_DAY_US;
    *lo = t;
    *hi = t + PT__DDB_SPAN_US;
    if (*hi > day_end) { /* back into the day's last second, not past it */
        *hi = day_end;
        *lo = day_end - PT__DDB_SPAN_US;
    }
}

int
pt__ddb_needs_lookup(int64_t t, int64_t now_us, int replay)
{
    return replay || t < now_us - PT__DDB_FRESH_US ||
           t > now_us + PT__DDB_FRESH_US;
}

unsigned int
pt__ddb_probe_class(uint32_t start, unsigned int probe)
{
    /* Classes 1 .. CLASSES-1 from a random start, in steps of a prime that
     * does not divide CLASSES - 1 (a permutation): writers that start
     * together spread out instead of all colliding on the same one. */
    return 1u + (start - 1u + probe * 7919u) % (PT__DDB_CLASSES - 1u);
}

int64_t
pt__ddb_lease_ttl(int64_t window, int64_t claim_us)
{
    int64_t end_s = (window + 1) * (PT__DDB_WINDOW_US / 1000000);
    int64_t claim_s = floor_div(claim_us, 1000000);
    return (end_s > claim_s ? end_s : claim_s) + PT__DDB_LEASE_TTL_S;
}

/* splitmix64's finaliser: slots of one class are 250 apart, seconds
 * consecutive; the bits that pick a cell must depend on all of them. */
static size_t
set_cell(int64_t value, size_t cap)
{
    uint64_t x = (uint64_t)value;
    x = (x ^ (x >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    x = (x ^ (x >> 27)) * UINT64_C(0x94d049bb133111eb);
    x ^= x >> 31;
    return (size_t)x & (cap - 1);
}

static int64_t *
set_find(int64_t *values, size_t cap, int64_t value)
{
    size_t i = set_cell(value, cap);
    while (values[i] != PT__DDB_SET_EMPTY && values[i] != value)
        i = (i + 1) & (cap - 1);
    return &values[i];
}

int
pt__ddb_set_add(pt__ddb_set *set, int64_t value)
{
    if (value == PT__DDB_SET_EMPTY)
        return PT_EINVAL;
    /* grown at 3/4 full: linear probing stays short */
    if (4 * (set->count + 1) > 3 * set->cap) {
        size_t cap = set->cap ? 2 * set->cap : 64;
        int64_t *values = malloc(cap * sizeof(*values));
        if (!values)
            return PT_ENOMEM;
        for (size_t i = 0; i < cap; i++)
            values[i] = PT__DDB_SET_EMPTY;
        for (size_t i = 0; i < set->cap; i++)
            if (set->values[i] != PT__DDB_SET_EMPTY)
                *set_find(values, cap, set->values[i]) = set->values[i];
        free(set->values);
        set->values = values;
        set->cap = cap;
    }
    int64_t *cell = set_find(set->values, set->cap, value);
    if (*cell == PT__DDB_SET_EMPTY) {
        *cell = value;
        set->count++;
    }
    return PT_OK;
}

int
pt__ddb_set_has(const pt__ddb_set *set, int64_t value)
{
    if (!set || set->cap == 0 || value == PT__DDB_SET_EMPTY)
        return 0;
    return *set_find(set->values, set->cap, value) == value;
}

void
pt__ddb_set_free(pt__ddb_set *set)
{
    free(set->values);
    set->values = NULL;
    set->cap = set->count = 0;
}

int
pt__ddb_class0_slot(int64_t lo, int64_t hi, uint64_t *k,
                    const pt__ddb_taken *taken, int64_t *slot)
{
    int64_t first =
        floor_div(lo + PT__DDB_CLASSES - 1, PT__DDB_CLASSES) * PT__DDB_CLASSES;
    for (;; (*k)++) {
        int64_t t = first + (int64_t)*k * PT__DDB_CLASSES;
        if (t >= hi)
            return PT_ENOTFOUND;
        if (!pt__ddb_set_has(taken, t)) {
            *slot = t;
            return PT_OK;
        }
    }
}

/* ---- leases held --------------------------------------------------------- */

void
pt__ddb_slots_clear(pt__ddb_slots *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->leases[i]);
    s->count = 0;
    s->exhausted_total = 0;
}

static void
forget(pt__ddb_slots *s, size_t i)
{
    free(s->leases[i]);
    s->leases[i] = s->leases[--s->count];
}

void
pt__ddb_slots_expire(pt__ddb_slots *s, int64_t now_us)
{
    for (size_t i = 0; i < s->count;) {
        if (s->leases[i]->claimed_us < now_us - PT__DDB_LEASE_KEEP_US)
            forget(s, i);
        else
            i++;
    }
}

int
pt__ddb_slots_add(pt__ddb_slots *s, int64_t window, unsigned int cls,
                  int64_t claim_us)
{
    if (cls == 0 || cls >= PT__DDB_CLASSES)
        return PT_EINVAL;
    pt__ddb_lease *l = calloc(1, sizeof(*l));
    if (!l)
        return PT_ENOMEM;
    if (s->count == PT__DDB_MAX_LEASES) {
        size_t lru = 0;
        for (size_t i = 1; i < s->count; i++)
            if (s->leases[i]->used < s->leases[lru]->used)
                lru = i;
        forget(s, lru);
    }
    l->window = window;
    l->cls = cls;
    l->used = ++s->tick;
    l->claimed_us = claim_us;
    s->leases[s->count++] = l;
    return PT_OK;
}

size_t
pt__ddb_slots_in(const pt__ddb_slots *s, int64_t window)
{
    size_t n = 0;
    for (size_t i = 0; i < s->count; i++)
        n += s->leases[i]->window == window;
    return n;
}

static int64_t
slot_of(const pt__ddb_lease *l, size_t k)
{
    return l->window * PT__DDB_WINDOW_US + (int64_t)l->cls +
           (int64_t)k * PT__DDB_CLASSES;
}

/* First index k of lease l whose slot is >= t (may be SLOTS_PER_LEASE). */
static size_t
index_at_or_after(const pt__ddb_lease *l, int64_t t)
{
    int64_t base = slot_of(l, 0);
    if (t <= base)
        return 0;
    int64_t k = (t - base + PT__DDB_CLASSES - 1) / PT__DDB_CLASSES;
    return k > SLOTS_PER_LEASE ? SLOTS_PER_LEASE : (size_t)k;
}

/* The first word at or after w that is not full (may be
 * WORDS_PER_LEASE or more: none). */
static size_t
next_not_full(const pt__ddb_lease *l, size_t w)
{
    while (w < WORDS_PER_LEASE) {
        uint64_t f = l->full[w / 64] | ((UINT64_C(1) << (w % 64)) - 1);
        if (f != UINT64_MAX)
            return (w / 64) * 64 + (size_t)__builtin_ctzll(~f);
        w = (w / 64 + 1) * 64;
    }
    return WORDS_PER_LEASE;
}

/* First index in [k, end) of lease l neither handed out nor taken, or
 * end. */
static size_t
first_free(const pt__ddb_lease *l, size_t k, size_t end,
           const pt__ddb_taken *taken)
{
    while (k < end) {
        uint64_t word = l->bits[k / 64] | ((UINT64_C(1) << (k % 64)) - 1);
        if (word == UINT64_MAX) { /* every slot of this word from k is used */
            k = next_not_full(l, k / 64 + 1) * 64;
            continue;
        }
        k = (k / 64) * 64 + (size_t)__builtin_ctzll(~word);
        if (k >= end)
            break;
        if (!pt__ddb_set_has(taken, slot_of(l, k)))
            return k;
        k++;
    }
    return end;
}

int
pt__ddb_slots_take(pt__ddb_slots *s, int64_t lo, int64_t hi,
                   const pt__ddb_taken *taken, int64_t *slot)
{
    pt__ddb_lease *best = NULL;
    size_t best_k = 0;

    for (size_t i = 0; i < s->count; i++) {
        pt__ddb_lease *l = s->leases[i];
        size_t k = index_at_or_after(l, lo), end = index_at_or_after(l, hi);
        if (k >= end)
            continue;
        k = first_free(l, k, end, taken);
        if (k < end && (!best || slot_of(l, k) < slot_of(best, best_k))) {
            best = l;
            best_k = k;
        }
    }
    if (!best)
        return PT_ENOTFOUND;
    best->bits[best_k / 64] |= UINT64_C(1) << (best_k % 64);
    if (best->bits[best_k / 64] == UINT64_MAX)
        best->full[best_k / 64 / 64] |= UINT64_C(1) << (best_k / 64 % 64);
    best->used = ++s->tick;
    *slot = slot_of(best, best_k);
    return PT_OK;
}

void
pt__ddb_slots_exhaust(pt__ddb_slots *s, int64_t window)
{
    s->exhausted[s->exhausted_total++ % PT__DDB_EXHAUSTED_KEPT] = window;
}

int
pt__ddb_slots_exhausted(const pt__ddb_slots *s, int64_t window)
{
    /* Only the entries written: every window is a valid value (window -1,
     * the last minute of 1969, too), so none can mean "empty". */
    uint64_t n = s->exhausted_total < PT__DDB_EXHAUSTED_KEPT
                     ? s->exhausted_total
                     : PT__DDB_EXHAUSTED_KEPT;
    for (uint64_t i = 0; i < n; i++)
        if (s->exhausted[i] == window)
            return 1;
    return 0;
}

/* ---- one record's search ------------------------------------------------- */

void
pt__ddb_search_init(pt__ddb_search *q, int64_t lo, int64_t hi)
{
    q->lo = lo;
    q->hi = hi;
    q->stage = 0;
    q->window = 0;
    q->fresh = 1;
}

pt__ddb_step
pt__ddb_search_next(pt__ddb_slots *s, pt__ddb_search *q,
                    const pt__ddb_taken *taken, int64_t *out)
{
    while (q->stage < 2) {
        int64_t near = q->lo + PT__DDB_SHIFT_US;
        int64_t end = q->stage == 0 && near < q->hi ? near : q->hi;
        size_t max = q->stage == 0 ? PT__DDB_NEAR_LEASES : PT__DDB_MAX_LEASES;

        /* From the leases held; again after each claim. */
        if (pt__ddb_slots_take(s, q->lo, end, taken, out) == PT_OK)
            return PT__DDB_FOUND;
        if (q->fresh) {
            q->window = pt__ddb_window_of(q->lo);
            q->fresh = 0;
        }
        /* Else one more lease of a window the range touches, while fewer
         * than `max` of that window are held. */
        while (q->window <= pt__ddb_window_of(end - 1)) {
            int64_t w = q->window++;
            if (pt__ddb_slots_exhausted(s, w) || pt__ddb_slots_in(s, w) >= max)
                continue;
            *out = w;
            return PT__DDB_CLAIM;
        }
        /* The whole span only when it reaches beyond the near part. */
        q->stage = q->stage == 0 && near < q->hi ? 1 : 2;
        q->fresh = 1;
    }
    return PT__DDB_NONE;
}
