/*
 * The DynamoDB backend's slot allocator: which key a record may take, so
 * that BatchWriteItem (which takes no condition) never overwrites another
 * record.  Pure: no I/O, no clock, no randomness.  The backend makes the
 * requests (the lease PutItems in dynamodb_lease.c, the lookups and writes
 * in dynamodb_write.c) and tells the allocator what they found.
 *
 * Words.  A slot is one microsecond of a record's sort key (`timestamp`).
 * Its class is (µs mod PT__DDB_CLASSES); time is cut into windows of
 * PT__DDB_WINDOW_US.  A lease is one class of one window: a backend
 * instance owns it once it has created the lease's item with a
 * conditional PutItem, which DynamoDB grants to one writer only.
 *
 * Invariants (tests/unit/test_dynamodb_slots.c checks each):
 * - Class 0 is never leased: it is the fallback, where records go one by
 *   one with a conditional PutItem when no class of a window is left.
 * - A slot is handed out at most once: within a batch, across batches, and
 *   never one of the `taken` set (items a lookup saw in the table).
 * - A record's slot is in its span: at or less than PT__DDB_SPAN_US after
 *   its time or, in the last second of a day, within that second; never
 *   on another date (the date is the partition key).
 * - A lease is forgotten (PT__DDB_LEASE_KEEP_US after its claim) before
 *   its item's ttl can expire, so nobody else can claim it while it is
 *   still used.
 *
 * Threading: a pt__ddb_slots belongs to one backend instance and is used
 * by one thread at a time; the functions without one are pure.
 */
#ifndef PT_STORAGE_DYNAMODB_SLOTS_H
#define PT_STORAGE_DYNAMODB_SLOTS_H

#include <stddef.h>
#include <stdint.h>

/* Slots fall into PT__DDB_CLASSES classes (µs mod 250); a lease is one
 * class of one PT__DDB_WINDOW_US window. */
#define PT__DDB_CLASSES   250
#define PT__DDB_WINDOW_US 60000000LL
/* A record is stored less than PT__DDB_SPAN_US after its time, and less
 * than PT__DDB_SHIFT_US after it while PT__DDB_NEAR_LEASES leases of a
 * window allow it. */
#define PT__DDB_SPAN_US     1000000LL
#define PT__DDB_SHIFT_US    20000LL
#define PT__DDB_NEAR_LEASES 8
#define PT__DDB_MAX_LEASES  32 /* held at once (30 KB each) */
/* Classes a claim tries for one window before it calls the window
 * exhausted; the last PT__DDB_EXHAUSTED_KEPT such windows are remembered
 * so that later records do not probe them again. */
#define PT__DDB_CLAIM_PROBES   48
#define PT__DDB_EXHAUSTED_KEPT 8
/* Within PT__DDB_FRESH_US of the clock, leases alone vouch for a slot;
 * further, records are looked up first. */
#define PT__DDB_FRESH_US 3600000000LL
/* A lease item's ttl: this long after its window or its claim, whichever
 * is later; a lease is held in memory PT__DDB_LEASE_KEEP_US at most. */
#define PT__DDB_LEASE_TTL_S   (30 * 86400LL)
#define PT__DDB_LEASE_KEEP_US (25 * 86400000000LL)
#define PT__DDB_DAY_US        86400000000LL

typedef struct pt__ddb_lease pt__ddb_lease;

/** The leases one backend instance holds, and the windows it found with
 *  no class left.  Zero-initialised is empty. */
typedef struct pt__ddb_slots {
    pt__ddb_lease *leases[PT__DDB_MAX_LEASES];
    size_t count;
    uint64_t tick;                             /* least-recently-used clock */
    int64_t exhausted[PT__DDB_EXHAUSTED_KEPT]; /* windows, a ring */
    uint64_t exhausted_total; /* ever remembered (the ring's next index) */
} pt__ddb_slots;

/** A set of int64 values (slots, seconds): a hash table with open
 *  addressing, so that membership costs the same however many a replay has
 *  seen.  Zero-initialised is empty; pt__ddb_set_free() empties it. */
typedef struct pt__ddb_set {
    int64_t *values; /* PT__DDB_SET_EMPTY marks a free cell */
    size_t cap;      /* 0 or a power of two */
    size_t count;
} pt__ddb_set;
#define PT__DDB_SET_EMPTY INT64_MIN /* never a time parsed from ISO-8601 */

/** Slots seen holding an item in the table. */
typedef pt__ddb_set pt__ddb_taken;

/* ---- pure rules ---------------------------------------------------------- */

/** floor(t / PT__DDB_WINDOW_US), also for times before 1970. */
int64_t pt__ddb_window_of(int64_t t);

/** The slots a record of time `t` may take: [t, t + PT__DDB_SPAN_US), or
 *  the last PT__DDB_SPAN_US of t's day when that would cross midnight. */
void pt__ddb_span(int64_t t, int64_t *lo, int64_t *hi);

/** Non-zero when a record must be looked up in the table before it is
 *  written: every record of a replay, and any whose time is farther than
 *  PT__DDB_FRESH_US from the clock (its window's lease item may be gone). */
int pt__ddb_needs_lookup(int64_t t, int64_t now_us, int replay);

/** The class a claim tries at `probe` (0 .. PT__DDB_CLAIM_PROBES - 1) from
 *  the random `start` (1 .. PT__DDB_CLASSES - 1): never 0, and distinct
 *  for distinct probes of one claim. */
unsigned int pt__ddb_probe_class(uint32_t start, unsigned int probe);

/** The ttl (Unix seconds) of the item of a lease of `window` claimed at
 *  `claim_us`: PT__DDB_LEASE_TTL_S after the window's end or the claim,
 *  whichever is later (a lease of an old window must not be born
 *  expired). */
int64_t pt__ddb_lease_ttl(int64_t window, int64_t claim_us);

/** Add `value` (present already: nothing changes).  PT_EINVAL for
 *  PT__DDB_SET_EMPTY, PT_ENOMEM. */
int pt__ddb_set_add(pt__ddb_set *set, int64_t value);

/** Non-zero when `value` is in the set (NULL: never). */
int pt__ddb_set_has(const pt__ddb_set *set, int64_t value);

/** Empty the set and free its memory. */
void pt__ddb_set_free(pt__ddb_set *set);

/** The fallback: the first slot of class 0 in [lo, hi) at index *k or
 *  later (index 0 is the first class-0 slot at or after lo) that is not
 *  taken; *k becomes its index.  PT_ENOTFOUND when none is left. */
int pt__ddb_class0_slot(int64_t lo, int64_t hi, uint64_t *k,
                        const pt__ddb_taken *taken, int64_t *slot);

/* ---- leases held --------------------------------------------------------- */

/** Forget every lease and every exhausted window. */
void pt__ddb_slots_clear(pt__ddb_slots *s);

/** Forget the leases claimed more than PT__DDB_LEASE_KEEP_US before
 *  `now_us`: their items may be about to expire. */
void pt__ddb_slots_expire(pt__ddb_slots *s, int64_t now_us);

/** Hold a lease just claimed (its item created at `claim_us`), forgetting
 *  the least recently used one when PT__DDB_MAX_LEASES are held (its item
 *  stays, so nobody can own that class again: the slots handed out in it
 *  stay safe).  PT_EINVAL for class 0 or a class out of range, PT_ENOMEM. */
int pt__ddb_slots_add(pt__ddb_slots *s, int64_t window, unsigned int cls,
                      int64_t claim_us);

/** How many leases of `window` are held. */
size_t pt__ddb_slots_in(const pt__ddb_slots *s, int64_t window);

/** Hand out the earliest free slot in [lo, hi) of the leases held that is
 *  not `taken` (may be NULL), and mark it used.  PT_ENOTFOUND when none. */
int pt__ddb_slots_take(pt__ddb_slots *s, int64_t lo, int64_t hi,
                       const pt__ddb_taken *taken, int64_t *slot);

/** Remember that no class of `window` could be claimed. */
void pt__ddb_slots_exhaust(pt__ddb_slots *s, int64_t window);
int pt__ddb_slots_exhausted(const pt__ddb_slots *s, int64_t window);

/* ---- one record's search ------------------------------------------------- */

/** Where the search for one record's slot stands.  The search first keeps
 *  within PT__DDB_SHIFT_US of the record's time, claiming while fewer than
 *  PT__DDB_NEAR_LEASES leases of a window are held; then the whole span,
 *  up to PT__DDB_MAX_LEASES (so a dense burst spreads over the span rather
 *  than leasing every class of a minute). */
typedef struct pt__ddb_search {
    int64_t lo, hi; /* the record's span */
    int stage;      /* 0: near its time, 1: the whole span, 2: done */
    int64_t window; /* the stage's next window to claim in */
    int fresh;      /* the stage's windows are not started yet */
} pt__ddb_search;

typedef enum pt__ddb_step {
    PT__DDB_FOUND = 1, /* *out is the slot, handed out */
    PT__DDB_CLAIM,     /* *out is a window: claim a class of it, then
                          pt__ddb_slots_add() it, or pt__ddb_slots_exhaust()
                          the window when every class tried was taken, and
                          call pt__ddb_search_next() again */
    PT__DDB_NONE       /* no lease: the fallback (pt__ddb_class0_slot) */
} pt__ddb_step;

/** Start a search for the record whose span is [lo, hi). */
void pt__ddb_search_init(pt__ddb_search *q, int64_t lo, int64_t hi);

/** The search's next step. */
pt__ddb_step pt__ddb_search_next(pt__ddb_slots *s, pt__ddb_search *q,
                                 const pt__ddb_taken *taken, int64_t *out);

#endif
