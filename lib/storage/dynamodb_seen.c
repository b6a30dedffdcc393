/*
 * What a backend instance has seen of the table during a replay
 * (dynamodb_seen.h): the seconds read, a hash table of the items found
 * there by content digest, and the set of their slots.
 */
#include "storage/dynamodb_seen.h"

#include "privtrack.h"

#include <stdlib.h>
#include <string.h>

int64_t
pt__ddb_second_of(int64_t us)
{
    return us / PT__DDB_SECOND_US - (us % PT__DDB_SECOND_US != 0 && us < 0);
}

void
pt__ddb_seen_clear(pt__ddb_seen *seen)
{
    free(seen->items);
    seen->items = NULL;
    seen->cap = seen->count = 0;
    pt__ddb_set_free(&seen->taken);
    pt__ddb_set_free(&seen->seconds);
    pt__ddb_set_free(&seen->record_times);
    seen->free_items = 0;
    seen->times_lost = 0;
    seen->since_us = 0;
}

static int
seen_empty(const pt__ddb_seen *seen)
{
    return seen->count == 0 && seen->taken.count == 0 &&
           seen->seconds.count == 0;
}

void
pt__ddb_seen_begin(pt__ddb_seen *seen, int64_t now_us)
{
    size_t max = seen->max_items ? seen->max_items : PT__DDB_SEEN_MAX_ITEMS;

    if (!seen_empty(seen) && (now_us < seen->since_us ||
                              now_us - seen->since_us > PT__DDB_SEEN_KEEP_US ||
                              seen->count >= max || seen->taken.count >= max))
        pt__ddb_seen_clear(seen);
    if (seen_empty(seen))
        seen->since_us = now_us;
}

int
pt__ddb_seen_covered(const pt__ddb_seen *seen, int64_t second)
{
    return pt__ddb_set_has(&seen->seconds, second);
}

int
pt__ddb_seen_cover(pt__ddb_seen *seen, int64_t second)
{
    return pt__ddb_set_add(&seen->seconds, second);
}

const pt__ddb_taken *
pt__ddb_seen_taken(const pt__ddb_seen *seen)
{
    return &seen->taken;
}

/* The digest is BLAKE2b output: any 8 of its bytes are a uniform hash. */
static size_t
item_cell(const unsigned char digest[16], size_t cap)
{
    uint64_t h;
    memcpy(&h, digest, sizeof(h));
    return (size_t)h & (cap - 1);
}

static int
grow_items(pt__ddb_seen *seen)
{
    size_t cap = seen->cap ? 2 * seen->cap : 256;
    pt__ddb_seen_item *items = malloc(cap * sizeof(*items));

    if (!items)
        return PT_ENOMEM;
    for (size_t i = 0; i < cap; i++)
        items[i].us = PT__DDB_SET_EMPTY;
    for (size_t i = 0; i < seen->cap; i++) {
        const pt__ddb_seen_item *old = &seen->items[i];
        if (old->us == PT__DDB_SET_EMPTY)
            continue;
        size_t c = item_cell(old->digest, cap);
        while (items[c].us != PT__DDB_SET_EMPTY)
            c = (c + 1) & (cap - 1);
        items[c] = *old;
    }
    free(seen->items);
    seen->items = items;
    seen->cap = cap;
    return PT_OK;
}

/* Item `it` is now the record of time `record_us`'s. */
static int
take_item(pt__ddb_seen *seen, pt__ddb_seen_item *it, int64_t record_us)
{
    it->record_us = record_us;
    seen->free_items--;
    if (pt__ddb_set_add(&seen->record_times, record_us) == PT_OK)
        return PT_OK;
    seen->times_lost = 1;
    return PT_ENOMEM;
}

int
pt__ddb_seen_add(pt__ddb_seen *seen, int64_t us, const unsigned char *digest,
                 int64_t record_us)
{
    int rc = pt__ddb_set_add(&seen->taken, us);

    if (rc != PT_OK || !digest)
        return rc;
    if (4 * (seen->count + 1) > 3 * seen->cap && grow_items(seen) != PT_OK)
        return PT_ENOMEM;
    size_t c = item_cell(digest, seen->cap);
    for (; seen->items[c].us != PT__DDB_SET_EMPTY;
         c = (c + 1) & (seen->cap - 1)) {
        pt__ddb_seen_item *it = &seen->items[c];
        if (it->us == us && memcmp(it->digest, digest, 16) == 0) {
            /* the same item, read again */
            if (it->record_us == PT__DDB_SET_EMPTY &&
                record_us != PT__DDB_SET_EMPTY)
                return take_item(seen, it, record_us);
            return PT_OK;
        }
    }
    seen->items[c].us = us;
    seen->items[c].record_us = PT__DDB_SET_EMPTY;
    memcpy(seen->items[c].digest, digest, 16);
    seen->count++;
    seen->free_items++;
    if (record_us != PT__DDB_SET_EMPTY)
        return take_item(seen, &seen->items[c], record_us);
    return PT_OK;
}

int
pt__ddb_seen_may_match(const pt__ddb_seen *seen, int64_t record_us)
{
    return seen->free_items > 0 || seen->times_lost ||
           pt__ddb_set_has(&seen->record_times, record_us);
}

int
pt__ddb_seen_match(pt__ddb_seen *seen, const unsigned char digest[16],
                   int64_t lo, int64_t hi, int64_t record_us)
{
    pt__ddb_seen_item *free_item = NULL;

    if (seen->cap == 0)
        return 0;
    /* Items of equal digest share one run of the table (the run ends at a
     * free cell; nothing is ever deleted from it). */
    for (size_t c = item_cell(digest, seen->cap);
         seen->items[c].us != PT__DDB_SET_EMPTY;
         c = (c + 1) & (seen->cap - 1)) {
        pt__ddb_seen_item *it = &seen->items[c];
        if (it->us < lo || it->us >= hi || memcmp(it->digest, digest, 16) != 0)
            continue;
        if (it->record_us == record_us)
            return 1; /* this very record, matched or written before */
        /* Of several free ones, the earliest: records come roughly in time
         * order, so a later one of the same content finds a later item. */
        if (it->record_us == PT__DDB_SET_EMPTY &&
            (!free_item || it->us < free_item->us))
            free_item = it;
    }
    if (!free_item)
        return 0;
    take_item(seen, free_item, record_us); /* out of memory: times_lost */
    return 1;
}
