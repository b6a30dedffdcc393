/*
 * Reads and purge.  Query follows LastEvaluatedKey until the limit is met
 * or the date is exhausted: DynamoDB stops a page at 1 MB, and applies
 * Limit before FilterExpression, so one page may hold fewer live records
 * than asked for.  Every expression names its attributes through
 * ExpressionAttributeNames (date, timestamp and ttl are reserved words).
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DELETE_BATCH 25 /* BatchWriteItem's limit */

static void
query_body(pt_buf *b, const pt__dynamodb *d, const char *date, int64_t now,
           size_t limit, const char *start_key)
{
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, d->table, strlen(d->table));
    pt_buf_puts(b, ",\"KeyConditionExpression\":\"#d = :d\","
                   "\"FilterExpression\":\"attribute_not_exists(#t) OR #t >= "
                   ":now\","
                   "\"ExpressionAttributeNames\":{\"#d\":\"date\",\"#t\":"
                   "\"ttl\"},"
                   "\"ExpressionAttributeValues\":{\":d\":{\"S\":");
    pt_buf_json_string(b, date, strlen(date));
    pt_buf_printf(b, "},\":now\":{\"N\":\"%" PRId64 "\"}},", now);
    pt_buf_puts(b, "\"ScanIndexForward\":false");
    if (limit > 0)
        pt_buf_printf(b, ",\"Limit\":%zu", limit);
    if (start_key) {
        pt_buf_puts(b, ",\"ExclusiveStartKey\":");
        pt_buf_puts(b, start_key);
    }
    pt_buf_putc(b, '}');
}

/* Parse one page: append live items to `list`, return the next start key
 * (malloc'd JSON) or NULL at the end. */
static int
take_page(pt_record_list *list, const pt_buf *resp, int64_t now, size_t limit,
          char **next_key)
{
    cJSON *j = cJSON_ParseWithLength(resp->ptr, resp->len);
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(j, "Items");
    const cJSON *last = cJSON_GetObjectItemCaseSensitive(j, "LastEvaluatedKey");
    const cJSON *item;
    int rc = PT_OK;

    *next_key = NULL;
    if (!cJSON_IsArray(items)) {
        cJSON_Delete(j);
        return pt__fail(PT_EPARSE, "DynamoDB Query: answer without Items");
    }
    cJSON_ArrayForEach(item, items)
    {
        int64_t ttl = pt__dynamodb_item_ttl(item);
        if (limit && list->count >= limit)
            break;
        if (ttl > 0 && ttl < now) /* the server's filter, double-checked */
            continue;
        rc = pt__dynamodb_item_append(list, item);
        if (rc == PT_EPARSE) {
            pt__log(PT_LOG_WARN, "dynamodb: skipped an item without date or "
                                 "timestamp");
            rc = PT_OK;
        }
        if (rc != PT_OK)
            break;
    }
    if (rc == PT_OK && cJSON_IsObject(last)) {
        *next_key = cJSON_PrintUnformatted(last);
        if (!*next_key)
            rc = pt__fail(PT_ENOMEM, "out of memory");
    }
    cJSON_Delete(j);
    return rc;
}

int
pt__dynamodb_query(pt_storage *s, pt_record_list **out, const char *date,
                   size_t limit, int64_t now)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *c;
    pt_record_list *list = NULL;
    char *start_key = NULL;
    int rc;

    *out = NULL;
    if (!date || !pt__valid_date(date))
        return pt__storage_fail(s, PT_EINVAL,
                                "invalid date (want "
                                "YYYY-MM-DD)");
    rc = pt__dynamodb_client(d, &c);
    if (rc != PT_OK)
        return rc;
    rc = pt_record_list_new(&list);
    while (rc == PT_OK) {
        pt_buf body = PT_BUF_INIT, resp = PT_BUF_INIT;
        size_t page = limit ? limit - list->count : 0;
        if (d->page_limit && (page == 0 || page > d->page_limit))
            page = d->page_limit;
        if (page > 1000000) /* Limit is a 32-bit Integer; pages are 1 MB */
            page = 1000000;
        char *prev_key = start_key;
        query_body(&body, d, date, now, page, start_key);
        start_key = NULL;
        rc = body.oom
                 ? pt__fail(PT_ENOMEM, "out of memory")
                 : pt_ddb_call(c, "Query", body.ptr, body.len, &resp, NULL);
        if (rc == PT_OK)
            rc = take_page(list, &resp, now, limit, &start_key);
        /* A server repeating a key would keep us paging forever. */
        if (rc == PT_OK && start_key && prev_key &&
            strcmp(start_key, prev_key) == 0)
            rc = pt__fail(PT_ECORRUPT, "DynamoDB Query: the server returned "
                                       "the same LastEvaluatedKey twice");
        free(prev_key);
        pt_buf_free(&body);
        pt_buf_free(&resp);
        if (!start_key || (limit && list->count >= limit))
            break;
    }
    free(start_key);
    if (rc != PT_OK) {
        pt_record_list_free(list);
        return pt__dynamodb_fail(d, rc);
    }
    *out = list;
    return PT_OK;
}

/* ---- purge --------------------------------------------------------------- */

/* One Scan page of expired keys, as DeleteRequest JSON objects. */
static int
scan_expired(pt__dynamodb *d, int64_t now, char **start_key, cJSON **keys)
{
    pt_buf body = PT_BUF_INIT, resp = PT_BUF_INIT;
    cJSON *j = NULL;
    int rc;

    pt_buf_puts(&body, "{\"TableName\":");
    pt_buf_json_string(&body, d->table, strlen(d->table));
    pt_buf_printf(&body,
                  ",\"FilterExpression\":\"#t < :now AND #t > :zero\","
                  "\"ProjectionExpression\":\"#d, #ts, #t\","
                  "\"ExpressionAttributeNames\":{\"#t\":\"ttl\",\"#d\":"
                  "\"date\",\"#ts\":\"timestamp\"},"
                  "\"ExpressionAttributeValues\":{\":now\":{\"N\":\"%" PRId64
                  "\"},\":zero\":{\"N\":\"0\"}}",
                  now);
    if (*start_key) {
        pt_buf_puts(&body, ",\"ExclusiveStartKey\":");
        pt_buf_puts(&body, *start_key);
        free(*start_key);
        *start_key = NULL;
    }
    pt_buf_putc(&body, '}');
    rc = pt_ddb_call(d->client, "Scan", body.ptr, body.len, &resp, NULL);
    pt_buf_free(&body);
    if (rc == PT_OK) {
        j = cJSON_ParseWithLength(resp.ptr, resp.len);
        cJSON *items = cJSON_DetachItemFromObjectCaseSensitive(j, "Items");
        const cJSON *last =
            cJSON_GetObjectItemCaseSensitive(j, "LastEvaluatedKey");
        if (!cJSON_IsArray(items)) {
            cJSON_Delete(items);
            rc = pt__fail(PT_EPARSE, "DynamoDB Scan: answer without Items");
        } else {
            *keys = items;
            if (cJSON_IsObject(last))
                *start_key = cJSON_PrintUnformatted(last);
        }
        cJSON_Delete(j);
    }
    pt_buf_free(&resp);
    return rc;
}

/* Delete up to 25 keys; UnprocessedItems are re-driven with backoff. */
static int
delete_batch(pt__dynamodb *d, cJSON *const *keys, size_t n)
{
    pt_buf body = PT_BUF_INIT;
    int rc = PT_OK;

    pt_buf_puts(&body, "{\"RequestItems\":{");
    pt_buf_json_string(&body, d->table, strlen(d->table));
    pt_buf_puts(&body, ":[");
    for (size_t i = 0; i < n; i++) {
        char *k = cJSON_PrintUnformatted(keys[i]);
        if (!k)
            rc = pt__fail(PT_ENOMEM, "out of memory");
        pt_buf_printf(&body, "%s{\"DeleteRequest\":{\"Key\":%s}}", i ? "," : "",
                      k ? k : "{}");
        free(k);
    }
    pt_buf_puts(&body, "]}}");
    for (unsigned int round = 0; rc == PT_OK; round++) {
        pt_buf resp = PT_BUF_INIT;
        rc = pt_ddb_call(d->client, "BatchWriteItem", body.ptr, body.len, &resp,
                         NULL);
        if (rc != PT_OK) {
            pt_buf_free(&resp);
            break;
        }
        cJSON *j = cJSON_ParseWithLength(resp.ptr, resp.len);
        cJSON *un = cJSON_GetObjectItemCaseSensitive(j, "UnprocessedItems");
        pt_buf_free(&resp);
        if (!cJSON_IsObject(un) || !un->child) {
            cJSON_Delete(j);
            break;
        }
        if (round >= 20) {
            cJSON_Delete(j);
            rc = pt__fail(PT_ETHROTTLED, "DynamoDB BatchWriteItem: items "
                                         "still unprocessed after 20 rounds");
            break;
        }
        char *again = cJSON_PrintUnformatted(un);
        cJSON_Delete(j);
        pt_buf_clear(&body);
        pt_buf_printf(&body, "{\"RequestItems\":%s}", again ? again : "{}");
        free(again);
        usleep((useconds_t)pt_ddb_client_backoff_ms(d->client, round + 1) *
               1000u);
    }
    pt_buf_free(&body);
    return rc;
}

static int
is_lease(const cJSON *key)
{
    const cJSON *date = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(key, "date"), "S");
    return cJSON_IsString(date) &&
           strcmp(date->valuestring, PT__DDB_LEASE_PARTITION) == 0;
}

int
pt__dynamodb_purge(pt_storage *s, int64_t now, uint64_t *removed)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *c;
    char *start_key = NULL;
    int64_t real_now = pt__now_us() / 1000000;
    int rc = pt__dynamodb_client(d, &c);

    *removed = 0;
    while (rc == PT_OK) {
        cJSON *keys = NULL, *k;
        cJSON *batch[DELETE_BATCH];
        size_t n = 0, records = 0;
        char *prev_key = start_key ? pt__strdup(start_key) : NULL;
        rc = scan_expired(d, now, &start_key, &keys);
        if (rc == PT_OK && start_key && prev_key &&
            strcmp(start_key, prev_key) == 0)
            rc = pt__fail(PT_ECORRUPT, "DynamoDB Scan: the server returned "
                                       "the same LastEvaluatedKey twice");
        free(prev_key);
        cJSON_ArrayForEach(k, keys)
        {
            if (rc != PT_OK)
                break;
            /* A slot lease goes only once expired by the clock: a purge
             * with a later `now` must not free a lease a writer holds. */
            if (is_lease(k) && pt__dynamodb_item_ttl(k) >= real_now) {
                if (n > 0 && !k->next) {
                    rc = delete_batch(d, batch, n);
                    if (rc == PT_OK)
                        *removed += records;
                    n = 0;
                    records = 0;
                }
                continue;
            }
            cJSON_DeleteItemFromObjectCaseSensitive(k, "ttl"); /* key only */
            batch[n++] = k;
            /* expired slot leases go too, but are not records */
            if (!is_lease(k))
                records++;
            if (n == DELETE_BATCH || !k->next) {
                rc = delete_batch(d, batch, n);
                if (rc == PT_OK)
                    *removed += records;
                n = 0;
                records = 0;
            }
        }
        cJSON_Delete(keys);
        if (!start_key)
            break;
    }
    free(start_key);
    return rc == PT_OK ? PT_OK : pt__dynamodb_fail(d, rc);
}
