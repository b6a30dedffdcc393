/*
 * The set of records already in a day file, for idempotent replay: a
 * record replayed from the spool after a crash may or may not have reached
 * the file before, and must end up there once.
 *
 * A record is known by its whole line (the JSON the store writes, which a
 * record read back and written again reproduces byte for byte: the
 * record_json fuzz target's round-trip property), not by its timestamp and
 * session id: the session id's random part is 32 bits, so visits of one
 * microsecond (an import whose times have whole seconds) collide often
 * enough (200,000 of one second: about 5 pairs) that a key check took real
 * visits for stored ones and dropped them.
 *
 * A line is kept as its 128-bit BLAKE2b digest, inline in an
 * open-addressing table (16 bytes a cell, at most 3/4 full): 21 to 43
 * bytes a record.  A record wrongly taken for stored would need a 128-bit
 * collision between two lines of one day file (the argument the DynamoDB
 * backend's content digests rest on too).
 */
#include "storage/file_store.h"

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
pt__file_keys_check_add(pt__file_keys *k, const char *line, size_t len)
{
    key_cell key;
    key_cell *cell;

    crypto_generichash(key.digest, DIGEST_LEN, (const unsigned char *)line, len,
                       NULL, 0);
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

static int
load_line(void *ctx, const char *line, size_t len, uint64_t line_no,
          uint64_t offset, int flags)
{
    load_ctx *c = ctx;

    (void)line_no;
    (void)offset;
    (void)flags;
    /* Corrupt lines hold no record (query reports them).  A final line
     * without its newline is known by its bytes like any other: a record
     * cut short matches no whole one, and is stored again. */
    if (!line)
        return PT_OK;
    (*c->lines_read)++;
    return pt__file_keys_check_add(c->keys, line, len) < 0 ? PT_ENOMEM : PT_OK;
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
