/*
 * What a DynamoDB backend instance has seen of the table while it replays
 * (or imports old records): which seconds it has read, the items it found
 * there, and the records it has written into them since.  Pure: no I/O,
 * no clock (times come in as arguments); dynamodb_write.c makes the Query
 * requests and feeds the answers in.
 *
 * Why.  A replayed record is looked up before it is written: an item with
 * its content in its span means it is stored already.  Reading the span of
 * every put() again re-read, for each put of 400 records, every item of
 * that second already written: quadratic in a dense spool.  With this
 * memory each second is read once per replay, and a record is matched
 * with a hash lookup, not against every item read.
 *
 * Why it is safe to remember.  After a second was read, the only items
 * that can appear in it are (a) the records this instance looks up and
 * writes, which are added here as it writes them, and the new records it
 * writes without a lookup (between a replay's steps), which are not: they
 * take slots of its own leases, which the allocator never hands out twice,
 * and are sent again only after their put() failed (which clears this
 * memory), so no replayed record is one of them; (b) records other
 * writers put in the slots of their own leases, which this instance can
 * never take and which are never one of its records (a record is replayed
 * by the one process that holds its spool segment); (c) conditional
 * PutItems to class 0, which cannot overwrite anything.  What would break
 * it, the caller handles: a put() that fails may have stored records
 * without knowing it (a lost answer), so it clears this memory; so do a
 * fork()ed child and anything that deletes items (purge).
 * And a lease whose item expired and is claimed again (30 days after its
 * first claim; its first owner forgets it after 25): its first owner's
 * items written after our read would be missing here, but they are all
 * written within 25 days of that claim, so a memory younger than 5 days
 * cannot miss them.  PT__DDB_SEEN_KEEP_US is far below.
 *
 * Matching.  An item stands for one record: a record matches an item of
 * its span with its content digest (128-bit BLAKE2b of every attribute but
 * the timestamp, computed by the caller; a false match needs a 128-bit
 * collision, and the digest includes the date, session id and every
 * field) that no other record has matched, or one the same record (same
 * time, same content) matched or wrote before: the same record replayed
 * twice is stored once, two identical visits at different times stay two.
 * So a record can match only while some item read is still free, or when
 * an item was matched to or written for a record of its very time: only
 * then does the caller need its digest before writing it
 * (pt__ddb_seen_may_match); the others' digests are computed while their
 * requests are in flight.
 *
 * Threading: one backend instance, one thread at a time.
 */
#ifndef PT_STORAGE_DYNAMODB_SEEN_H
#define PT_STORAGE_DYNAMODB_SEEN_H

#include "storage/dynamodb_slots.h"

#include <stddef.h>
#include <stdint.h>

/* Items remembered at most (up to 100 bytes each with the hash tables'
 * slack: about 13 MB): past this, the next put() starts over (it reads
 * its seconds again: one Query). */
#define PT__DDB_SEEN_MAX_ITEMS (1u << 17)
/* The memory is forgotten at the first put() this long after its first
 * read (see above: it must stay well under 5 days; short, so that a
 * tracker does not keep it long after its replay is over). */
#define PT__DDB_SEEN_KEEP_US 600000000LL
#define PT__DDB_SECOND_US    1000000LL

typedef struct pt__ddb_seen_item {
    int64_t us; /* its slot; PT__DDB_SET_EMPTY: a free cell */
    /* the time of the record it was matched to or written for;
     * PT__DDB_SET_EMPTY: none yet */
    int64_t record_us;
    unsigned char digest[16];
} pt__ddb_seen_item;

typedef struct pt__ddb_seen {
    pt__ddb_seen_item *items; /* open addressing by digest */
    size_t cap, count;        /* cap: 0 or a power of two */
    pt__ddb_taken taken;      /* every item's slot, digest or not */
    pt__ddb_set seconds;      /* the seconds read (floor(µs / 1 s)) */
    size_t free_items;        /* items read, not matched to a record yet */
    pt__ddb_set record_times; /* the times of the records items were
                                 matched to or written for */
    int times_lost;           /* one of those could not be kept (out of
                                 memory): any record may match */
    int64_t since_us;         /* wall clock when it started */
    size_t max_items;         /* 0: PT__DDB_SEEN_MAX_ITEMS */
} pt__ddb_seen;

/** The second a time belongs to (also before 1970). */
int64_t pt__ddb_second_of(int64_t us);

/** Forget everything (max_items stays). */
void pt__ddb_seen_clear(pt__ddb_seen *seen);

/** Before every put(): forget everything when the
 *  memory is older than PT__DDB_SEEN_KEEP_US at `now_us` (or the clock went
 *  back), or holds max_items items or more.  An empty memory starts at
 *  `now_us`. */
void pt__ddb_seen_begin(pt__ddb_seen *seen, int64_t now_us);

/** Non-zero when `second` has been read. */
int pt__ddb_seen_covered(const pt__ddb_seen *seen, int64_t second);

/** `second` has been read whole (every page) and its items added.
 *  PT_ENOMEM. */
int pt__ddb_seen_cover(pt__ddb_seen *seen, int64_t second);

/** An item in slot `us`: read from the table (`record_us` =
 *  PT__DDB_SET_EMPTY), or written for the record of time `record_us`.
 *  `digest` NULL: an item whose content cannot be read (a slot taken,
 *  never a match).  The same item (slot and digest) twice is kept once.
 *  PT_EINVAL for the slot PT__DDB_SET_EMPTY, PT_ENOMEM. */
int pt__ddb_seen_add(pt__ddb_seen *seen, int64_t us,
                     const unsigned char *digest, int64_t record_us);

/** The record of time `record_us` with content `digest`, whose span is
 *  [lo, hi): non-zero when an item matches it (see above), which is then
 *  its own; 0 when none does. */
int pt__ddb_seen_match(pt__ddb_seen *seen, const unsigned char digest[16],
                       int64_t lo, int64_t hi, int64_t record_us);

/** Zero when no item can match a record of time `record_us`, whatever
 *  its content: every item read is matched already and none was matched
 *  to or written for a record of that time.  Non-zero otherwise (the
 *  caller then needs the record's digest for pt__ddb_seen_match). */
int pt__ddb_seen_may_match(const pt__ddb_seen *seen, int64_t record_us);

/** Every slot seen holding an item (for the slot allocator). */
const pt__ddb_taken *pt__ddb_seen_taken(const pt__ddb_seen *seen);

#endif
