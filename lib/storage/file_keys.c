/*
 * The set of (timestamp, session_id) keys already in a day file, for
 * idempotent replay: a record replayed from the spool after a crash may or
 * may not have reached the file before, and must end up there once.
 *
 * Full keys are stored, not only their hashes, so that a hash collision can
 * never make a record look stored when it is not.
 */
#include "storage/file_store.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

typedef struct key_slot {
    uint64_t hash;
    char *key; /* timestamp '\0' session_id; NULL: empty slot */
    size_t len;
} key_slot;

struct pt__file_keys {
    key_slot *slots;
    size_t cap; /* power of two */
    size_t count;
};

static uint64_t
fnv1a(const char *p, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static key_slot *
find_slot(key_slot *slots, size_t cap, uint64_t hash, const char *key,
          size_t len)
{
    size_t i = (size_t)hash & (cap - 1);
    for (;;) {
        key_slot *s = &slots[i];
        if (!s->key ||
            (s->hash == hash && s->len == len && !memcmp(s->key, key, len)))
            return s;
        i = (i + 1) & (cap - 1);
    }
}

static int
grow(pt__file_keys *k)
{
    size_t cap = k->cap ? k->cap * 2 : 1024;
    key_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < k->cap; i++) {
        key_slot *old = &k->slots[i];
        if (old->key)
            *find_slot(slots, cap, old->hash, old->key, old->len) = *old;
    }
    free(k->slots);
    k->slots = slots;
    k->cap = cap;
    return 0;
}

int
pt__file_keys_check_add(pt__file_keys *k, const char *timestamp,
                        const char *session_id)
{
    size_t tl = timestamp ? strlen(timestamp) : 0;
    size_t sl = session_id ? strlen(session_id) : 0;
    size_t len = tl + 1 + sl;
    char stack[128], *key = len <= sizeof(stack) ? stack : malloc(len);
    uint64_t hash;
    key_slot *slot;
    int rc = 0;

    if (!key)
        return -1;
    if (tl)
        memcpy(key, timestamp, tl);
    key[tl] = '\0';
    if (sl)
        memcpy(key + tl + 1, session_id, sl);
    hash = fnv1a(key, len);
    if ((k->count + 1) * 2 > k->cap && grow(k) != 0) {
        rc = -1;
        goto out;
    }
    slot = find_slot(k->slots, k->cap, hash, key, len);
    if (slot->key) {
        rc = 1;
        goto out;
    }
    slot->key = malloc(len);
    if (!slot->key) {
        rc = -1;
        goto out;
    }
    memcpy(slot->key, key, len);
    slot->hash = hash;
    slot->len = len;
    k->count++;
out:
    if (key != stack)
        free(key);
    return rc;
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
    for (size_t i = 0; i < k->cap; i++)
        free(k->slots[i].key);
    free(k->slots);
    free(k);
}
