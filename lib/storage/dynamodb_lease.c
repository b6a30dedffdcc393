/*
 * Slot leases: what lets records go out in BatchWriteItem (25 per request,
 * no condition) without ever overwriting another writer's record.
 *
 * Time is cut into slots of one microsecond, the slots into
 * PT__DDB_RESIDUES classes by (µs mod PT__DDB_RESIDUES), and time into
 * windows of PT__DDB_WINDOW_US.  A lease is one class in one window; a
 * backend instance owns it once it has created the lease's item with a
 * conditional PutItem (attribute_not_exists), and nobody else can create it
 * again while the item lives.  The owner keeps a bitmap of the lease's
 * slots it has handed out and never hands one out twice, so every record
 * it writes into its own slots has a key no other record can have: an
 * unconditional write is safe.  Class 0 is never leased: it is where
 * records go with a conditional PutItem when no lease can be had.
 *
 * The lease is keyed by the records' time, not by the clock, so an owner
 * that stalls (a paused process, a long outage) keeps its slots: there is
 * no expiry race.  Lease items live in their own partition
 * (PT__DDB_LEASE_PARTITION), never in a date's, so the seed's queries by
 * date never see them; their ttl is 30 days after their window or claim,
 * and records more than PT__DDB_FRESH_US away from the clock are checked
 * against the table first (dynamodb_write.c), so an expired lease cannot be
 * reused blindly.
 */
#include "storage/dynamodb.h"

#include <sodium.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SLOTS_PER_LEASE (PT__DDB_WINDOW_US / PT__DDB_RESIDUES)
#define WORDS_PER_LEASE ((SLOTS_PER_LEASE + 63) / 64)
#define CLAIM_PROBES    48 /* classes tried per window before giving up */

struct pt__ddb_lease {
    int64_t window; /* window start / PT__DDB_WINDOW_US */
    unsigned int residue;
    uint64_t used;      /* LRU tick */
    int64_t claimed_us; /* wall clock at the claim */
    uint64_t bits[WORDS_PER_LEASE];
};

void
pt__ddb_leases_reset(pt__dynamodb *d)
{
    for (size_t i = 0; i < d->lease_count; i++)
        free(d->leases[i]);
    d->lease_count = 0;
    d->lease_pid = (long)getpid();
    randombytes_buf(d->owner, sizeof(d->owner));
}

void
pt__ddb_leases_check(pt__dynamodb *d, int64_t now_us)
{
    if (d->lease_pid != (long)getpid()) {
        pt__ddb_leases_reset(d);
        /* The parent's connections too: cleaning them up here could send
         * a TLS close_notify down the parent's sockets, so the child only
         * lets go of them (a one-off leak) and opens its own. */
        d->client = NULL;
        return;
    }
    /* A lease item lives PT__DDB_LEASE_TTL_S after its claim at least;
     * a lease held this long (a process stopped for weeks) may be gone
     * from the table and claimed by another writer: forget it. */
    for (size_t i = 0; i < d->lease_count;) {
        if (d->leases[i]->claimed_us < now_us - PT__DDB_LEASE_KEEP_US) {
            free(d->leases[i]);
            d->leases[i] = d->leases[--d->lease_count];
        } else {
            i++;
        }
    }
}

static int64_t
slot_of(const struct pt__ddb_lease *l, size_t k)
{
    return l->window * PT__DDB_WINDOW_US + (int64_t)l->residue +
           (int64_t)k * PT__DDB_RESIDUES;
}

/* First index k >= of slot >= t (may be SLOTS_PER_LEASE). */
static size_t
index_at_or_after(const struct pt__ddb_lease *l, int64_t t)
{
    int64_t base = slot_of(l, 0);
    if (t <= base)
        return 0;
    int64_t k = (t - base + PT__DDB_RESIDUES - 1) / PT__DDB_RESIDUES;
    return k > SLOTS_PER_LEASE ? SLOTS_PER_LEASE : (size_t)k;
}

static int
taken_contains(const int64_t *taken, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (taken[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && taken[lo] == t;
}

/* First free index in [k, end) of lease l, or end. */
static size_t
first_free(const struct pt__ddb_lease *l, size_t k, size_t end,
           const int64_t *taken, size_t ntaken)
{
    while (k < end) {
        uint64_t word = l->bits[k / 64] | ((UINT64_C(1) << (k % 64)) - 1);
        if (word == UINT64_MAX) { /* every slot of this word from k is used */
            k = (k / 64 + 1) * 64;
            continue;
        }
        k = (k / 64) * 64 + (size_t)__builtin_ctzll(~word);
        if (k >= end)
            break;
        if (!taken_contains(taken, ntaken, slot_of(l, k)))
            return k;
        k++;
    }
    return end;
}

size_t
pt__ddb_leases_in(const pt__dynamodb *d, int64_t window)
{
    size_t n = 0;
    for (size_t i = 0; i < d->lease_count; i++)
        n += d->leases[i]->window == window;
    return n;
}

int
pt__ddb_lease_take(pt__dynamodb *d, int64_t lo, int64_t hi,
                   const int64_t *taken, size_t ntaken, int64_t *slot)
{
    struct pt__ddb_lease *best = NULL;
    size_t best_k = 0;

    for (size_t i = 0; i < d->lease_count; i++) {
        struct pt__ddb_lease *l = d->leases[i];
        size_t k = index_at_or_after(l, lo), end = index_at_or_after(l, hi);
        if (k >= end)
            continue;
        k = first_free(l, k, end, taken, ntaken);
        if (k < end && (!best || slot_of(l, k) < slot_of(best, best_k))) {
            best = l;
            best_k = k;
        }
    }
    if (!best)
        return PT_ENOTFOUND;
    best->bits[best_k / 64] |= UINT64_C(1) << (best_k % 64);
    best->used = ++d->lease_tick;
    *slot = slot_of(best, best_k);
    return PT_OK;
}

/* The lease item's key: "<window start>/<class>" in its own partition. */
static void
lease_item(pt_buf *b, const pt__dynamodb *d, int64_t window,
           unsigned int residue)
{
    char ts[PT_TIMESTAMP_LEN + 1], owner[2 * sizeof(d->owner) + 1];
    int64_t end_s = (int64_t)((window + 1) * (PT__DDB_WINDOW_US / 1000000));
    int64_t now_s = pt__now_us() / 1000000;

    /* Kept a month after its window or after now, whichever is later: a
     * lease of an old window (a replay) must not be born expired. */
    if (end_s < now_s)
        end_s = now_s;

    pt__format_timestamp(ts, window * PT__DDB_WINDOW_US);
    sodium_bin2hex(owner, sizeof(owner), d->owner, sizeof(d->owner));
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, d->table, strlen(d->table));
    pt_buf_printf(b,
                  ",\"Item\":{\"date\":{\"S\":\"" PT__DDB_LEASE_PARTITION
                  "\"},\"timestamp\":{\"S\":\"%s/%04u\"},\"owner\":{\"S\":"
                  "\"%s\"},\"ttl\":{\"N\":\"%" PRId64 "\"}},"
                  "\"ConditionExpression\":\"attribute_not_exists(#ts)\","
                  "\"ExpressionAttributeNames\":{\"#ts\":\"timestamp\"}}",
                  ts, residue, owner, (int64_t)(end_s + PT__DDB_LEASE_TTL_S));
}

/* Make room for one more lease: forget the least recently used one.  Its
 * item stays, so nobody (us included) can own that class again: the slots
 * we handed out in it stay safe. */
static int
make_room(pt__dynamodb *d)
{
    if (d->lease_count < PT__DDB_MAX_LEASES)
        return PT_OK;
    size_t lru = 0;
    for (size_t i = 1; i < d->lease_count; i++)
        if (d->leases[i]->used < d->leases[lru]->used)
            lru = i;
    free(d->leases[lru]);
    d->leases[lru] = d->leases[--d->lease_count];
    return PT_OK;
}

int
pt__ddb_lease_claim(pt__dynamodb *d, int64_t window)
{
    uint32_t start = 1 + randombytes_uniform(PT__DDB_RESIDUES - 1);

    for (unsigned int probe = 0; probe < CLAIM_PROBES; probe++) {
        /* classes 1..RESIDUES-1, from a random start: writers that start
         * together spread out instead of all colliding on the same one */
        unsigned int r =
            1u + (start - 1u + probe * 7919u) % (PT__DDB_RESIDUES - 1u);
        pt_buf body = PT_BUF_INIT;
        int rc;

        lease_item(&body, d, window, r);
        rc = body.oom ? pt__fail(PT_ENOMEM, "out of memory")
                      : pt_ddb_call(d->client, "PutItem", body.ptr, body.len,
                                    NULL, NULL);
        pt_buf_free(&body);
        d->stats.lease_claims++;
        if (rc == PT_EEXIST) {
            d->stats.lease_conflicts++;
            continue; /* another writer's (or one we forgot) */
        }
        if (rc != PT_OK)
            return rc;
        make_room(d);
        struct pt__ddb_lease *l = calloc(1, sizeof(*l));
        if (!l)
            return pt__fail(PT_ENOMEM, "out of memory");
        l->window = window;
        l->residue = r;
        l->used = ++d->lease_tick;
        l->claimed_us = pt__now_us();
        d->leases[d->lease_count++] = l;
        pt__log(PT_LOG_DEBUG,
                "dynamodb: leased slot class %u of the minute "
                "at %" PRId64 " s",
                r, (int64_t)(window * (PT__DDB_WINDOW_US / 1000000)));
        return PT_OK;
    }
    return pt__fail(PT_EEXIST,
                    "no free slot class among %d tried for that minute",
                    CLAIM_PROBES);
}
