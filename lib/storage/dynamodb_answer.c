/*
 * What DynamoDB's answers say, read without I/O, so that each reader is
 * one function that a fuzzer can drive (fuzz/fuzz_ddb_response.c): a Query
 * or Scan page, its Items and where the next page starts; what a
 * BatchWriteItem left unprocessed.  The answers come from a server
 * privtrack does not control: nothing here trusts their shape.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

int
pt__ddb_page_parse(const char *body, size_t len, const char *op,
                   cJSON **doc_out, char **next_key)
{
    cJSON *doc = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *last;

    *doc_out = NULL;
    *next_key = NULL;
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "Items"))) {
        cJSON_Delete(doc);
        return pt__fail(PT_EPARSE, "DynamoDB %s: answer without Items", op);
    }
    last = cJSON_GetObjectItemCaseSensitive(doc, "LastEvaluatedKey");
    if (cJSON_IsObject(last) && !(*next_key = cJSON_PrintUnformatted(last))) {
        cJSON_Delete(doc);
        return pt__fail(PT_ENOMEM, "out of memory");
    }
    *doc_out = doc;
    return PT_OK;
}

/* The timestamp of a request in an UnprocessedItems list: the Item's of
 * a PutRequest, the Key's of a DeleteRequest. */
static const char *
request_timestamp(const cJSON *request, const char *kind, const char *member)
{
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(request, kind), member),
            "timestamp"),
        "S");
    return cJSON_IsString(ts) ? ts->valuestring : NULL;
}

static long
unprocessed_of(const char *body, size_t len, const char *table,
               const char *kind, const char *member,
               const char *const *timestamps, size_t n, unsigned char *left)
{
    cJSON *doc = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(doc, "UnprocessedItems"), table);
    const cJSON *e;
    long count = 0;

    if (!doc)
        return -1;
    memset(left, 0, n);
    if (!cJSON_IsArray(list))
        list = NULL;
    cJSON_ArrayForEach(e, list)
    {
        const char *ts = request_timestamp(e, kind, member);
        for (size_t i = 0; ts && i < n; i++) {
            if (!left[i] && strcmp(ts, timestamps[i]) == 0) {
                left[i] = 1;
                count++;
                break;
            }
        }
    }
    cJSON_Delete(doc);
    return count;
}

long
pt__ddb_unprocessed_puts(const char *body, size_t len, const char *table,
                         const char *const *timestamps, size_t n,
                         unsigned char *left)
{
    return unprocessed_of(body, len, table, "PutRequest", "Item", timestamps, n,
                          left);
}

long
pt__ddb_unprocessed_deletes(const char *body, size_t len, const char *table,
                            const char *const *timestamps, size_t n,
                            unsigned char *left)
{
    return unprocessed_of(body, len, table, "DeleteRequest", "Key", timestamps,
                          n, left);
}

long
pt__ddb_unprocessed_all(const char *body, size_t len, pt_buf *again)
{
    cJSON *doc = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(doc, "UnprocessedItems");
    const cJSON *table;
    long count = 0;

    if (!doc)
        return -1;
    if (!cJSON_IsObject(un))
        un = NULL;
    cJSON_ArrayForEach(table, un)
    {
        if (cJSON_IsArray(table))
            count += cJSON_GetArraySize(table);
    }
    if (count > 0 && again) {
        char *text = cJSON_PrintUnformatted(un);
        if (!text) {
            again->oom = 1;
        } else {
            pt_buf_puts(again, "{\"RequestItems\":");
            pt_buf_puts(again, text);
            pt_buf_putc(again, '}');
        }
        free(text);
    }
    cJSON_Delete(doc);
    return count;
}
