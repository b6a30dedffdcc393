/*
 * The DynamoDB backend, internal interface shared by its source files, and
 * the control() operations it answers.
 */
#ifndef PT_STORAGE_DYNAMODB_H
#define PT_STORAGE_DYNAMODB_H

#include "aws/ddb_client.h"
#include "storage/dynamodb_seen.h"
#include "storage/dynamodb_slots.h"
#include "storage/storage.h"

/* control() operations (arg types in brackets).  Unknown ops return
 * PT_EUNSUPPORTED, as the interface requires.  PT_STORAGE_CTL_RETRIES
 * (privtrack.h): HTTP retries since open (throttling, 5xx, network, CRC);
 * the writer reads it after every put.  The backend's own ops, which the
 * tests use, are numbered from PT_STORAGE_CTL_PRIVATE (privtrack.h). */
/* [const pt_ddb_retry *] the retry policy (tests use short delays) */
#define PT__DYNAMODB_CTL_SET_RETRY (PT_STORAGE_CTL_PRIVATE + 1)
/* [const unsigned int *] Query page Limit (0: the server's 1 MB pages) */
#define PT__DYNAMODB_CTL_PAGE_LIMIT (PT_STORAGE_CTL_PRIVATE + 2)
/* [pt__dynamodb_stats *] what the writes and scans did since open */
#define PT__DYNAMODB_CTL_GET_STATS (PT_STORAGE_CTL_PRIVATE + 3)
/* [const char **] the table name (owned by the instance) */
#define PT__DYNAMODB_CTL_TABLE_NAME (PT_STORAGE_CTL_PRIVATE + 4)

#define PT__DYNAMODB_DEFAULT_TABLE "link-downloader-visits"

/* ---- slot leases (dynamodb_lease.c; the rules: dynamodb_slots.h) --------- */

#define PT__DDB_LEASE_PARTITION "privtrack#lease"
#define PT__DDB_BATCH_ITEMS     25 /* BatchWriteItem's limit */

typedef struct pt__dynamodb_stats {
    uint64_t put_runs;        /* runs of a put()'s writes (each waits for
                                 all its requests: one per put()) */
    uint64_t batch_requests;  /* BatchWriteItem requests sent */
    uint64_t batched;         /* records written in them */
    uint64_t unprocessed;     /* UnprocessedItems re-driven */
    uint64_t conditional;     /* records written with a conditional PutItem */
    uint64_t conflicts;       /* ConditionalCheckFailed on those */
    uint64_t lease_claims;    /* lease PutItems sent */
    uint64_t lease_conflicts; /* ... that found the class taken */
    uint64_t checked;         /* records looked up before writing */
    uint64_t found;           /* ... found already stored */
    uint64_t digested_early;  /* ... whose content digest was needed before
                                 the writes (the others' is computed as
                                 their request is written) */
    uint64_t lookups;         /* Queries of spans for them (each paged) */
    uint64_t items_read;      /* items those Queries returned */
    uint64_t queries;         /* Query requests of scan(), rewrite() */
    uint64_t query_rounds;    /* ... sent in this many rounds, at once */
    uint64_t query_in_flight; /* the most Queries of one round */
} pt__dynamodb_stats;

struct pt__ddb_put_job;
struct pt__ddb_put_req;

typedef struct pt__dynamodb {
    pt_storage base;
    pt_ddb_client *client; /* created on first use (credentials are
                              resolved lazily) */
    char table[256];
    char region[64];
    pt_aws_endpoint endpoint;
    int region_rc; /* != PT_OK: region missing, reported on first use */
    char region_error[256];
    unsigned int ttl_days;
    int create_table; /* [storage] create_table: create on first put */
    int table_ready;  /* init() ran (or create_table tried) */
    pt_ddb_retry retry;
    unsigned int parallel;
    unsigned int page_limit;
    pt__dynamodb_stats stats;
    /* slot leases held (dynamodb_lease.c, dynamodb_slots.c) */
    pt__ddb_slots slots;
    long lease_pid;         /* the process they belong to */
    unsigned char owner[8]; /* random id written into lease items */
    /* what a replay has read of the table and written since
     * (dynamodb_seen.c), kept from one put() to the next */
    pt__ddb_seen seen;
    /* put()'s working memory, kept between calls (dynamodb_write.c): a
     * steady stream of puts then allocates nothing */
    struct pt__ddb_put_job *jobs;
    size_t jobs_cap;
    struct pt__ddb_put_req *reqs;
    pt_ddb_request **req_list;
    size_t reqs_cap;
} pt__dynamodb;

/* ---- tables (dynamodb.c) --------------------------------------------------
 */

/** A table privtrack creates: the records' or the keys'. */
typedef struct pt__ddb_table_spec {
    const char *name;
    const char *hash;          /* partition key attribute (S) */
    const char *range;         /* sort key attribute (S), or NULL */
    const char *ttl_attribute; /* TTL enabled on it, or NULL */
    const char *ttl_fallback;  /* what removes expired items without TTL */
} pt__ddb_table_spec;

/** Create the table unless it exists (checking its key schema if it
 *  does), wait until it is ACTIVE, and enable TTL.  Idempotent; sets the
 *  thread's last error only (the caller reports it). */
int pt__dynamodb_ensure_table(pt__dynamodb *d, const pt__ddb_table_spec *spec);

/** Forget every lease, and what was seen in the table, and pick a new
 *  owner id (open, and after fork). */
void pt__ddb_leases_reset(pt__dynamodb *d);

/** Once per put(): in a fork()ed child (another pid), which has its
 *  parent's leases in memory — both would hand out the same slots — start
 *  over, with a client of its own; and forget leases held for longer than
 *  PT__DDB_LEASE_KEEP_US, whose items may have expired. */
void pt__ddb_leases_check(pt__dynamodb *d, int64_t now_us);

/** Claim one more class of the window (conditional PutItem of its lease
 *  item, trying PT__DDB_CLAIM_PROBES classes) and hold it in d->slots.
 *  PT_EEXIST when every class tried is taken; other codes are the
 *  server's (pt_last_error() has the detail). */
int pt__ddb_lease_claim(pt__dynamodb *d, int64_t window);

/** The client, created on first use; fails with PT_ECREDENTIALS (or the
 *  region's error) and sets the storage errmsg. */
int pt__dynamodb_client(pt__dynamodb *d, pt_ddb_client **out);

/** Copy the thread's last error into the instance's errmsg; returns rc. */
int pt__dynamodb_fail(pt__dynamodb *d, int rc);

int pt__dynamodb_init(pt_storage *s);
int pt__dynamodb_put(pt_storage *s, const pt_record *const *records,
                     size_t count, int replay, size_t *written);
/** One BatchWriteItem's UnprocessedItems, for writes and purge alike, from
 *  its on_done callback (pt_ddb_run): `left` items came back (-1: the
 *  answer was not JSON).  Returns 1 when the caller is to rewrite the
 *  request's body with them and resubmit it (ready_at_us is set to a
 *  backoff); 0 when it is done: nothing left, or failed (req->rc: at most
 *  20 re-drives, then PT_ETHROTTLED). */
int pt__dynamodb_redrive(pt__dynamodb *d, pt_ddb_request *req,
                         unsigned int *rounds, long left);
#define PT__DDB_DELETE_BATCH 25 /* BatchWriteItem's limit */
struct cJSON;
/** Delete up to 25 items by their keys ({"date":{"S":..},"timestamp":
 *  {"S":..}} objects) in one BatchWriteItem, UnprocessedItems re-driven
 *  with the backoff (pt__dynamodb_redrive).  PT_OK when every one is
 *  deleted (or was already gone).  done[i] is set to 1 for each key the
 *  server took (deleted for certain), 0 for the others: on failure too,
 *  the keys it took before are deleted. */
int pt__dynamodb_delete_keys(pt__dynamodb *d, struct cJSON *const *keys,
                             size_t n, unsigned char *done);
/** rewrite(): erasure and removing fields (dynamodb_rewrite.c). */
int pt__dynamodb_rewrite(pt_storage *s, const pt_rewrite_options *opts,
                         pt_rewrite_fn fn, pt_rewrite_day_fn day,
                         void *userdata);
/** Free put()'s working memory (close). */
void pt__dynamodb_put_free(pt__dynamodb *d);
int pt__dynamodb_query(pt_storage *s, pt_record_list **out, const char *date,
                       size_t limit, int64_t now);
int pt__dynamodb_purge(pt_storage *s, int64_t now, uint64_t *removed);
/** A range of dates, several in flight (dynamodb_scan.c). */
int pt__dynamodb_scan(pt_storage *s, const pt_scan_options *opts,
                      pt_record_fn fn, void *userdata);

/* ---- pages (dynamodb_read.c) ----------------------------------------------
 */

struct cJSON;
/** Write a request body; start_key is the previous page's LastEvaluatedKey
 *  (JSON) or NULL for the first page. */
typedef void (*pt__ddb_page_body_fn)(pt_buf *body, const char *start_key,
                                     void *ctx);
/** Consume one answer (Items is an array; the callback may edit it, it is
 *  freed after); PT_OK for the next page, 1 to stop here, a negative code
 *  to fail. */
typedef int (*pt__ddb_page_take_fn)(struct cJSON *doc, void *ctx);

/** Run `op` ("Query", "Scan") page by page until LastEvaluatedKey ends or
 *  `take` stops; a key the server repeats is PT_ECORRUPT.  The client must
 *  exist (pt__dynamodb_client()). */
int pt__dynamodb_pages(pt__dynamodb *d, const char *op,
                       pt__ddb_page_body_fn body, pt__ddb_page_take_fn take,
                       void *ctx);

/* ---- answers (dynamodb_answer.c: no I/O, fuzzed) --------------------------
 */

/** A Query or Scan page `op` answered: the parsed document (*doc, freed by
 *  the caller with cJSON_Delete; its "Items" is an array) and
 *  LastEvaluatedKey as compact JSON (*next_key, malloc'd; NULL on the last
 *  page).  PT_EPARSE when the answer is not JSON with an Items array
 *  (nothing is returned then), PT_ENOMEM. */
int pt__ddb_page_parse(const char *body, size_t len, const char *op,
                       struct cJSON **doc, char **next_key);

/** Which of `n` PutRequests (by their Items' `timestamps`) a
 *  BatchWriteItem answer lists in UnprocessedItems for `table`: left[i] = 1
 *  for each, 0 for the others (stored).  Returns how many are left, -1
 *  when the answer is not JSON (`left` untouched). */
long pt__ddb_unprocessed_puts(const char *body, size_t len, const char *table,
                              const char *const *timestamps, size_t n,
                              unsigned char *left);

/** The same for `n` DeleteRequests, by their Keys' `timestamps`. */
long pt__ddb_unprocessed_deletes(const char *body, size_t len,
                                 const char *table,
                                 const char *const *timestamps, size_t n,
                                 unsigned char *left);

/** How many requests a BatchWriteItem answer lists in UnprocessedItems,
 *  over every table (-1: the answer is not JSON).  When there are any and
 *  `again` is not NULL, the body that sends them again
 *  ({"RequestItems":...}) is appended to it (again->oom when out of
 *  memory). */
long pt__ddb_unprocessed_all(const char *body, size_t len, pt_buf *again);

/* ---- items (dynamodb_item.c) --------------------------------------------- */

/** Append the Item map ({"date":{"S":...},...}) of `r`, with `timestamp`
 *  replacing r->timestamp.  Types as DESIGN.md: S, N, L of S, BOOL. */
void pt__dynamodb_item_json(pt_buf *b, const pt_record *r,
                            const char *timestamp);

/** Append the record held in a DynamoDB item (a cJSON object) to `list`.
 *  Tolerates the seed's items (missing attributes, numbers as N or S,
 *  string sets).  PT_EPARSE when date or timestamp is missing. */
int pt__dynamodb_item_append(pt_record_list *list, const struct cJSON *item);

/** The item's ttl (0 when none). */
int64_t pt__dynamodb_item_ttl(const struct cJSON *item);

#endif
