/*
 * The DynamoDB backend, internal interface shared by its source files, and
 * the control() operations it answers.
 */
#ifndef PT_STORAGE_DYNAMODB_H
#define PT_STORAGE_DYNAMODB_H

#include "aws/ddb_client.h"
#include "storage/storage.h"

/* control() operations (arg types in brackets).  Unknown ops return
 * PT_EUNSUPPORTED, as the interface requires. */
/* PT_STORAGE_CTL_RETRIES (privtrack.h): HTTP retries since open
 * (throttling, 5xx, network, CRC); the writer reads it after every put. */
/* [const pt_ddb_retry *] the retry policy (tests use short delays) */
#define PT__DYNAMODB_CTL_SET_RETRY 0x10001
/* [const unsigned int *] Query page Limit (0: the server's 1 MB pages) */
#define PT__DYNAMODB_CTL_PAGE_LIMIT 0x202
/* [uint64_t *] timestamps moved by 1 µs to avoid an overwrite */
#define PT__DYNAMODB_CTL_GET_BUMPS 0x203
/* [const char **] the table name (owned by the instance) */
#define PT__DYNAMODB_CTL_TABLE_NAME 0x204

#define PT__DYNAMODB_DEFAULT_TABLE "link-downloader-visits"

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
    uint64_t bumps;
    /* Where the last same-time chain of a fully successful put() ended, so
     * the next batch starts there instead of walking every slot again. */
    char chain_date[16];
    char chain_ts[48];
    uint64_t chain_next_k;
    int chain_valid;
    int probing; /* replay's first pass: a conflict is not walked */
} pt__dynamodb;

/** The client, created on first use; fails with PT_ECREDENTIALS (or the
 *  region's error) and sets the storage errmsg. */
int pt__dynamodb_client(pt__dynamodb *d, pt_ddb_client **out);

/** Copy the thread's last error into the instance's errmsg; returns rc. */
int pt__dynamodb_fail(pt__dynamodb *d, int rc);

int pt__dynamodb_init(pt_storage *s);
int pt__dynamodb_put(pt_storage *s, const pt_record *const *records,
                     size_t count, int replay, size_t *written);
int pt__dynamodb_query(pt_storage *s, pt_record_list **out, const char *date,
                       size_t limit, int64_t now);
int pt__dynamodb_purge(pt_storage *s, int64_t now, uint64_t *removed);

/* ---- items (dynamodb_item.c) --------------------------------------------- */

/** Append the Item map ({"date":{"S":...},...}) of `r`, with `timestamp`
 *  replacing r->timestamp.  Types as DESIGN.md: S, N, L of S, BOOL. */
void pt__dynamodb_item_json(pt_buf *b, const pt_record *r,
                            const char *timestamp);

/** Append the record held in a DynamoDB item (a cJSON object) to `list`.
 *  Tolerates the seed's items (missing attributes, numbers as N or S,
 *  string sets).  PT_EPARSE when date or timestamp is missing. */
struct cJSON;
int pt__dynamodb_item_append(pt_record_list *list, const struct cJSON *item);

/** The item's ttl (0 when none). */
int64_t pt__dynamodb_item_ttl(const struct cJSON *item);

#endif
