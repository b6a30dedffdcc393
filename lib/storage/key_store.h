/*
 * Key stores: where the keys of rotating pseudonyms are kept, one per
 * period, shared by every process (and, for DynamoDB, every host) that
 * records into the same store.
 *
 *  - file (key_store_file.c): one file per period in [ip] key_dir (default
 *    <storage path>/keys, 0700), each 0600, opened through the safe file
 *    helpers; created race-free with a temporary file link()ed into place.
 *  - dynamodb (dynamodb_keys.c): the table <table>-keys, one item per
 *    period (partition key `period`); created with a conditional PutItem,
 *    read with ConsistentRead, deleted with DeleteItem; `expires` carries
 *    the destroy-after time for DynamoDB's TTL, as a backstop.
 *
 * A store holds records exactly as given: the key manager (lib/keys/)
 * decides which periods to create, wraps keys before they get here and
 * unwraps them after.  A record's blob is secret (a key, or a wrapped one):
 * callers wipe records with sodium_memzero when done.
 *
 * Besides keys, a store keeps one "destroyed before" time: `privtrack keys
 * destroy --before D` destroys keys whose grace has not passed yet, and
 * every process must then treat their periods as destroyed rather than
 * make new keys for them.  It only ever moves forward.
 *
 * Threading: an instance is used by one thread at a time.
 */
#ifndef PT_STORAGE_KEY_STORE_H
#define PT_STORAGE_KEY_STORE_H

#include "common/period.h"

#define PT__KEY_BYTES      32
#define PT__KEY_NONCE      24 /* XChaCha20-Poly1305 */
#define PT__KEY_TAG        16
#define PT__KEY_BLOB_MAX   (PT__KEY_NONCE + PT__KEY_BYTES + PT__KEY_TAG)
#define PT__KEY_WRAP_NONE  "none"
#define PT__KEY_WRAP_AEAD  "xchacha20poly1305"
#define PT__KEY_STORE_FILE "file"
#define PT__KEY_STORE_DDB  "dynamodb"

typedef struct pt__key_record {
    char name[PT__PERIOD_NAME_MAX]; /* the period's name (period.h) */
    int64_t created;                /* Unix seconds */
    int64_t expires;                /* Unix seconds: destroy-after, as its
                                       creator computed it (TTL backstop) */
    int wrapped;                    /* blob: 0 the key, 1 nonce||ciphertext */
    unsigned char blob[PT__KEY_BLOB_MAX];
    size_t blob_len;
} pt__key_record;

typedef struct pt__key_store pt__key_store;

typedef struct pt__key_store_methods {
    const char *kind; /* PT__KEY_STORE_FILE or PT__KEY_STORE_DDB */

    /** Create the key directory or table (idempotent). */
    int (*init)(pt__key_store *store);

    /** Every record present, and the "destroyed before" time (µs; 0 when
     *  none), read consistently.  A store that does not exist yet holds
     *  nothing.  *out is freed by pt__key_records_free(). */
    int (*list)(pt__key_store *store, pt__key_record **out, size_t *count,
                int64_t *destroyed_before_us);

    /** One record, read consistently; PT_ENOTFOUND when there is none. */
    int (*get)(pt__key_store *store, const char *name, pt__key_record *out);

    /** Store `record` unless one of that name exists: PT_EEXIST then (the
     *  caller reads the winner's with get()). */
    int (*create)(pt__key_store *store, const pt__key_record *record);

    /** Destroy the record of that name (PT_OK when there is none). */
    int (*remove)(pt__key_store *store, const char *name);

    /** Move the "destroyed before" time forward to `before_us` (never
     *  back). */
    int (*destroyed_before)(pt__key_store *store, int64_t before_us);

    void (*close)(pt__key_store *store);
} pt__key_store_methods;

struct pt__key_store {
    const pt__key_store_methods *methods;
    char where[320]; /* the directory or table, for messages */
};

/** Open the store [ip] key_store names for `policy` (key_dir resolved
 *  against `storage_path`, the tracker's).  Opening touches nothing: not
 *  the disk, not the network.  PT_EUNSUPPORTED for key_store = backend
 *  with a backend that keeps no keys. */
int pt__key_store_open(pt__key_store **out, const pt_policy *policy,
                       const char *storage_path);

/** The file store in `dir` (key_store_file.c). */
int pt__key_store_file_open(pt__key_store **out, const char *dir);

/** The DynamoDB store of `policy`'s table (dynamodb_keys.c). */
int pt__key_store_dynamodb_open(pt__key_store **out, const pt_policy *policy,
                                const char *storage_path);

void pt__key_store_close(pt__key_store *store);

/** Wipe and free records returned by list(). */
void pt__key_records_free(pt__key_record *records, size_t count);

/** Set a record's wrapping and blob from their stored text (`wrap`: "none"
 *  or "xchacha20poly1305"; `hex`: the blob); -1 when they are not what a
 *  record of that wrapping holds. */
int pt__key_record_set_blob(pt__key_record *record, const char *wrap,
                            const char *hex);

/** The stored text of a record's wrapping: "none" or "xchacha20poly1305". */
const char *pt__key_record_wrap_name(const pt__key_record *record);

/** Append a record to a growing array (list()'s helper); -1 when out of
 *  memory. */
int pt__key_records_push(pt__key_record **records, size_t *count, size_t *cap,
                         const pt__key_record *record);

#endif
