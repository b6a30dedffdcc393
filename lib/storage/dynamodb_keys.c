/*
 * The DynamoDB key store: the table <table>-keys, one item per period.
 *
 *     period   S  "daily-2025-01-15" (partition key)
 *     created  N  Unix seconds
 *     expires  N  destroy-after, Unix seconds (the table's TTL attribute:
 *                 a backstop; privtrack deletes the item itself)
 *     wrap     S  "none" or "xchacha20poly1305"
 *     key      S  hex of the key, or of nonce || ciphertext when wrapped
 *
 * and one item `period = "destroyed-before"` with `before` (N, Unix
 * seconds), written by `privtrack keys destroy`.
 *
 * Every host that needs a period's key first reads the table (a
 * consistent Scan: the table holds a few live periods); the first to find
 * a period missing creates its key with a conditional PutItem
 * (attribute_not_exists), and a host that loses that race reads the
 * winner's item with a consistent GetItem, so every host computes the same
 * pseudonyms.  The instance has its own DynamoDB client (its own
 * connections), so key traffic never waits for the records' writer.
 */
#include "storage/dynamodb.h"
#include "storage/key_store.h"

#include <cjson/cJSON.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define TOMBSTONE "destroyed-before"
/* Keys wait for nobody: a few quick tries, then the key manager retries on
 * its own schedule (the next period's key is fetched an hour ahead). */
#define KEY_RETRY_ATTEMPTS 4
#define KEY_RETRY_BASE_MS  50
#define KEY_RETRY_CAP_MS   1000

typedef struct ddb_store {
    pt__key_store base;
    pt_storage *storage; /* a DynamoDB backend instance of our own */
    char table[300];
} ddb_store;

static ddb_store *
store_of(pt__key_store *s)
{
    return (ddb_store *)(void *)s;
}

static pt__dynamodb *
ddb_of(ddb_store *k)
{
    return (pt__dynamodb *)(void *)k->storage;
}

/* The client, or the instance's error (credentials, region) as the
 * thread's last error. */
static int
client(ddb_store *k, pt_ddb_client **out)
{
    int rc = pt__dynamodb_client(ddb_of(k), out);
    if (rc != PT_OK)
        pt__fail(rc, "%s", k->storage->errmsg);
    return rc;
}

static void
table_json(pt_buf *b, const ddb_store *k)
{
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, k->table, strlen(k->table));
}

static void
key_json(pt_buf *b, const char *name)
{
    pt_buf_puts(b, ",\"Key\":{\"period\":{\"S\":");
    pt_buf_json_string(b, name, strlen(name));
    pt_buf_puts(b, "}}");
}

static int
call(ddb_store *k, const char *op, pt_buf *body, pt_buf *resp)
{
    pt_ddb_client *c;
    int rc = client(k, &c);
    if (rc == PT_OK)
        rc = body->oom ? pt__fail(PT_ENOMEM, "out of memory")
                       : pt_ddb_call(c, op, body->ptr, body->len, resp, NULL);
    if (rc == PT_ENOTFOUND && strstr(pt_last_error(), "ResourceNotFound"))
        rc = pt__fail(PT_ENOTFOUND,
                      "%.200s (the keys table %.100s: create it with "
                      "`privtrack init-storage`)",
                      pt_last_error(), k->table);
    if (body->ptr)
        sodium_memzero(body->ptr, body->cap); /* it may have held a key */
    pt_buf_free(body);
    return rc;
}

/* ---- items ----------------------------------------------------------------
 */

static const char *
attr_text(const cJSON *item, const char *name, const char *type)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, type);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
attr_seconds(const cJSON *item, const char *name, int64_t *out)
{
    const char *s = attr_text(item, name, "N");
    char *end;
    long long v;
    if (!s)
        return -1;
    v = strtoll(s, &end, 10);
    if (*end || end == s || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* An item's record; -1 when it is not a period key of ours. */
static int
parse_item(const cJSON *item, pt__key_record *rec)
{
    const char *name = attr_text(item, "period", "S");
    const char *wrap = attr_text(item, "wrap", "S");
    const char *hex = attr_text(item, "key", "S");
    pt__period p;

    memset(rec, 0, sizeof(*rec));
    if (!name || !wrap || !hex ||
        pt__period_parse(name, strlen(name), &p) != 0 ||
        attr_seconds(item, "created", &rec->created) != 0 ||
        attr_seconds(item, "expires", &rec->expires) != 0 ||
        pt__key_record_set_blob(rec, wrap, hex) != 0)
        return -1;
    pt__snprintf(rec->name, sizeof(rec->name), "%s", name);
    return 0;
}

static void
item_json(pt_buf *b, const pt__key_record *rec)
{
    char hex[2 * PT__KEY_BLOB_MAX + 1];
    sodium_bin2hex(hex, sizeof(hex), rec->blob, rec->blob_len);
    pt_buf_puts(b, ",\"Item\":{\"period\":{\"S\":");
    pt_buf_json_string(b, rec->name, strlen(rec->name));
    pt_buf_puts(b, "},\"created\":{\"N\":\"");
    pt_buf_put_i64(b, rec->created);
    pt_buf_puts(b, "\"},\"expires\":{\"N\":\"");
    pt_buf_put_i64(b, rec->expires);
    pt_buf_printf(b, "\"},\"wrap\":{\"S\":\"%s\"},\"key\":{\"S\":\"%s\"}}",
                  pt__key_record_wrap_name(rec), hex);
    sodium_memzero(hex, sizeof(hex));
}

/* ---- methods --------------------------------------------------------------
 */

static int
ddb_init(pt__key_store *s)
{
    ddb_store *k = store_of(s);
    pt__ddb_table_spec spec = {k->table, "period", NULL, "expires",
                               "key destruction (trackers, purge, keys "
                               "destroy)"};
    pt_ddb_client *c;
    int rc = client(k, &c);
    return rc == PT_OK ? pt__dynamodb_ensure_table(ddb_of(k), &spec) : rc;
}

typedef struct list_ctx {
    const ddb_store *k;
    pt__key_record *records;
    size_t count, cap;
    int64_t destroyed_before;
} list_ctx;

static void
scan_body(pt_buf *b, const char *start_key, void *ctx)
{
    const list_ctx *l = ctx;
    table_json(b, l->k);
    pt_buf_puts(b, ",\"ConsistentRead\":true");
    if (start_key)
        pt_buf_printf(b, ",\"ExclusiveStartKey\":%s", start_key);
    pt_buf_putc(b, '}');
}

static int
take_page(cJSON *doc, void *ctx)
{
    list_ctx *l = ctx;
    const cJSON *item;
    pt__key_record rec;
    int rc = PT_OK;

    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "Items"))
    {
        const char *name = attr_text(item, "period", "S");
        int64_t before;
        if (name && strcmp(name, TOMBSTONE) == 0) {
            if (attr_seconds(item, "before", &before) == 0 &&
                before < INT64_MAX / 1000000)
                l->destroyed_before = before * 1000000;
            continue;
        }
        if (parse_item(item, &rec) != 0) {
            pt__log(PT_LOG_WARN,
                    "keys table %s: an item that is not a privtrack period "
                    "key (period '%.40s') is ignored",
                    l->k->table, name ? name : "");
            continue;
        }
        if (pt__key_records_push(&l->records, &l->count, &l->cap, &rec) != 0)
            rc = pt__fail(PT_ENOMEM, "out of memory listing keys");
        sodium_memzero(&rec, sizeof(rec));
        if (rc != PT_OK)
            break;
    }
    /* the page's keys are in the records now: wipe the parsed copy */
    {
        cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "Items");
        cJSON_ArrayForEach(item, items)
        {
            cJSON *key = cJSON_GetObjectItemCaseSensitive(item, "key");
            cJSON *v = cJSON_GetObjectItemCaseSensitive(key, "S");
            if (cJSON_IsString(v))
                sodium_memzero(v->valuestring, strlen(v->valuestring));
        }
    }
    return rc;
}

static int
ddb_list(pt__key_store *s, pt__key_record **out, size_t *count,
         int64_t *destroyed_before)
{
    ddb_store *k = store_of(s);
    list_ctx l = {k, NULL, 0, 0, 0};
    pt_ddb_client *c;
    int rc = client(k, &c);

    *out = NULL;
    *count = 0;
    *destroyed_before = 0;
    if (rc == PT_OK)
        rc = pt__dynamodb_pages(ddb_of(k), "Scan", scan_body, take_page, &l);
    if (rc == PT_ENOTFOUND && strstr(pt_last_error(), "ResourceNotFound"))
        rc = pt__fail(PT_ENOTFOUND,
                      "%.200s (the keys table %.100s: create it with "
                      "`privtrack init-storage`)",
                      pt_last_error(), k->table);
    if (rc != PT_OK) {
        pt__key_records_free(l.records, l.count);
        return rc;
    }
    *out = l.records;
    *count = l.count;
    *destroyed_before = l.destroyed_before;
    return PT_OK;
}

static int
ddb_get(pt__key_store *s, const char *name, pt__key_record *out)
{
    ddb_store *k = store_of(s);
    pt_buf body = PT_BUF_INIT, resp = PT_BUF_INIT;
    cJSON *doc;
    const cJSON *item;
    int rc;

    table_json(&body, k);
    key_json(&body, name);
    pt_buf_puts(&body, ",\"ConsistentRead\":true}");
    rc = call(k, "GetItem", &body, &resp);
    if (rc != PT_OK) {
        pt_buf_free(&resp);
        return rc;
    }
    doc = cJSON_ParseWithLength(resp.ptr, resp.len);
    item = cJSON_GetObjectItemCaseSensitive(doc, "Item");
    if (!cJSON_IsObject(item))
        rc = pt__fail(PT_ENOTFOUND, "no key for %s in %s", name, k->table);
    else if (parse_item(item, out) != 0)
        rc = pt__fail(PT_ECORRUPT,
                      "keys table %s: the item of %s is not a privtrack "
                      "period key",
                      k->table, name);
    cJSON_Delete(doc);
    if (resp.ptr)
        sodium_memzero(resp.ptr, resp.cap);
    pt_buf_free(&resp);
    return rc;
}

static int
ddb_create(pt__key_store *s, const pt__key_record *rec)
{
    ddb_store *k = store_of(s);
    pt_buf body = PT_BUF_INIT;

    table_json(&body, k);
    item_json(&body, rec);
    pt_buf_puts(&body, ",\"ConditionExpression\":\"attribute_not_exists(#p)\","
                       "\"ExpressionAttributeNames\":{\"#p\":\"period\"}}");
    return call(k, "PutItem", &body, NULL);
}

static int
ddb_remove(pt__key_store *s, const char *name)
{
    ddb_store *k = store_of(s);
    pt_buf body = PT_BUF_INIT;

    table_json(&body, k);
    key_json(&body, name);
    pt_buf_putc(&body, '}');
    return call(k, "DeleteItem", &body, NULL);
}

static int
ddb_destroyed_before(pt__key_store *s, int64_t before_us)
{
    ddb_store *k = store_of(s);
    pt_buf body = PT_BUF_INIT;
    int rc;

    table_json(&body, k);
    key_json(&body, TOMBSTONE);
    pt_buf_puts(&body, ",\"UpdateExpression\":\"SET #b = :b\","
                       "\"ConditionExpression\":\"attribute_not_exists(#b) OR "
                       "#b < :b\",\"ExpressionAttributeNames\":{\"#b\":"
                       "\"before\"},\"ExpressionAttributeValues\":{\":b\":"
                       "{\"N\":\"");
    pt_buf_put_i64(&body, before_us / 1000000);
    pt_buf_puts(&body, "\"}}}");
    rc = call(k, "UpdateItem", &body, NULL);
    return rc == PT_EEXIST ? PT_OK : rc; /* already as far or further */
}

static void
ddb_close(pt__key_store *s)
{
    ddb_store *k = store_of(s);
    pt__storage_close(k->storage);
    free(k);
}

static const pt__key_store_methods ddb_methods = {
    PT__KEY_STORE_DDB,    ddb_init, ddb_list, ddb_get, ddb_create, ddb_remove,
    ddb_destroyed_before, ddb_close};

int
pt__key_store_dynamodb_open(pt__key_store **out, const pt_policy *policy,
                            const char *storage_path)
{
    const pt_ddb_retry retry = {KEY_RETRY_ATTEMPTS, KEY_RETRY_BASE_MS,
                                KEY_RETRY_CAP_MS};
    ddb_store *k;
    int rc;

    *out = NULL;
    k = calloc(1, sizeof(*k));
    if (!k)
        return pt__fail(PT_ENOMEM, "out of memory");
    rc = pt__dynamodb_storage_methods.open(&k->storage, policy, storage_path);
    if (rc != PT_OK) {
        free(k);
        return rc;
    }
    k->storage->methods = &pt__dynamodb_storage_methods; /* as the registry
                                                            does */
    if (strlen(ddb_of(k)->table) > 250) {
        pt__storage_close(k->storage);
        free(k);
        return pt__fail(PT_EPOLICY,
                        "the keys table's name, <table>-keys, would be "
                        "longer than DynamoDB's 255 characters: shorten "
                        "[storage] table");
    }
    pt__snprintf(k->table, sizeof(k->table), "%s-keys", ddb_of(k)->table);
    k->storage->methods->control(k->storage, PT__DYNAMODB_CTL_SET_RETRY,
                                 (void *)&retry);
    k->base.methods = &ddb_methods;
    pt__snprintf(k->base.where, sizeof(k->base.where), "%s", k->table);
    *out = &k->base;
    return PT_OK;
}
