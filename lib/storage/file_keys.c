/*
 * The set of (timestamp, session_id) keys already in a day file, for
 * idempotent replay: a record replayed from the spool after a crash may or
 * may not have reached the file before, and must end up there once.
 *
 * A key is kept as its 128-bit BLAKE2b digest, inline in an open-addressing
 * table (16 bytes a cell, at most 3/4 full): 21 to 43 bytes a key, where
 * full keys in malloc()ed strings took 110 to 180.  A record wrongly taken
 * for stored would need a 128-bit collision between two keys of one day
 * file (the argument the DynamoDB backend's content digests rest on too).
 */
#include "storage/file_store.h"

#include <cjson/cJSON.h>
#include <sodium.h>

#include <stdlib.h>
#include <string.h>

#define DIGEST_LEN 16

/* The all-zero digest marks a free cell; a key whose digest is all zero
 * (2^-128) is stored as the digest ...01 instead. */
typedef struct key_cell {
    unsigned char digest[DIGEST_LEN];
} key_cell;

struct pt__file_keys {
    key_cell *cells;
    size_t cap; /* power of two */
    size_t count;
};

static int
cell_free(const key_cell *c)
{
    static const unsigned char zero[DIGEST_LEN];
    return memcmp(c->digest, zero, DIGEST_LEN) == 0;
}

/* The digest is BLAKE2b output: any 8 of its bytes are a uniform hash. */
static key_cell *
find_cell(key_cell *cells, size_t cap, const key_cell *key)
{
    uint64_t h;
    memcpy(&h, key->digest, sizeof(h));
    for (size_t i = (size_t)h & (cap - 1);; i = (i + 1) & (cap - 1))
        if (cell_free(&cells[i]) ||
            memcmp(cells[i].digest, key->digest, DIGEST_LEN) == 0)
            return &cells[i];
}

static int
grow(pt__file_keys *k)
{
    size_t cap = k->cap ? k->cap * 2 : 1024;
    key_cell *cells = calloc(cap, sizeof(*cells));
    if (!cells)
        return -1;
    for (size_t i = 0; i < k->cap; i++)
        if (!cell_free(&k->cells[i]))
            *find_cell(cells, cap, &k->cells[i]) = k->cells[i];
    free(k->cells);
    k->cells = cells;
    k->cap = cap;
    return 0;
}

int
pt__file_keys_check_add(pt__file_keys *k, const char *timestamp,
                        const char *session_id)
{
    static const unsigned char nul = 0;
    crypto_generichash_state st;
    key_cell key;
    key_cell *cell;

    /* timestamp '\0' session_id: no two keys give the same bytes */
    crypto_generichash_init(&st, NULL, 0, DIGEST_LEN);
    if (timestamp)
        crypto_generichash_update(&st, (const unsigned char *)timestamp,
                                  strlen(timestamp));
    crypto_generichash_update(&st, &nul, 1);
    if (session_id)
        crypto_generichash_update(&st, (const unsigned char *)session_id,
                                  strlen(session_id));
    crypto_generichash_final(&st, key.digest, DIGEST_LEN);
    if (cell_free(&key))
        key.digest[DIGEST_LEN - 1] = 1;
    if (4 * (k->count + 1) > 3 * k->cap && grow(k) != 0)
        return -1;
    cell = find_cell(k->cells, k->cap, &key);
    if (!cell_free(cell))
        return 1;
    *cell = key;
    k->count++;
    return 0;
}

typedef struct load_ctx {
    pt__file_keys *keys;
    uint64_t *lines_read;
} load_ctx;

static const char *
string_of(const cJSON *obj, const char *name)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

static int
load_line(void *ctx, const char *line, size_t len, uint64_t line_no,
          uint64_t offset, int flags)
{
    load_ctx *c = ctx;
    cJSON *root;
    const char *ts;
    int rc = PT_OK;

    (void)line_no;
    (void)offset;
    (void)flags;
    /* Corrupt lines hold no record (query reports them).  A final line
     * without its newline that still parses is a whole record: a JSON
     * object cannot be cut and remain valid. */
    if (!line)
        return PT_OK;
    (*c->lines_read)++;
    root = cJSON_ParseWithLength(line, len);
    ts = root ? string_of(root, "timestamp") : NULL;
    if (ts &&
        pt__file_keys_check_add(c->keys, ts, string_of(root, "session_id")) < 0)
        rc = PT_ENOMEM;
    cJSON_Delete(root);
    return rc;
}

int
pt__file_keys_scan(pt__file_store *fs, int fd, const char *path,
                   uint64_t offset, pt__file_keys *keys)
{
    load_ctx c = {keys, &fs->keys_lines_read};
    int rc = pt__file_scan_from(fs, fd, path, offset, load_line, &c);
    if (rc == PT_ENOMEM)
        pt__file_fail(fs, PT_ENOMEM, "out of memory loading keys of %s", path);
    return rc;
}

int
pt__file_keys_load(pt__file_store *fs, int fd, const char *path,
                   pt__file_keys **out)
{
    pt__file_keys *keys = calloc(1, sizeof(*keys));
    int rc;

    *out = NULL;
    if (!keys || grow(keys) != 0) {
        free(keys);
        return pt__file_fail(fs, PT_ENOMEM, "out of memory");
    }
    rc = pt__file_keys_scan(fs, fd, path, 0, keys);
    if (rc != PT_OK) {
        pt__file_keys_free(keys);
        return rc;
    }
    *out = keys;
    return PT_OK;
}

void
pt__file_keys_free(pt__file_keys *k)
{
    if (!k)
        return;
    free(k->cells);
    free(k);
}
