/*
 * Fuzz target: DynamoDB answers, as privtrack reads them from a server it
 * does not control.  Every input is handed, whole, to each reader:
 *  - pt__ddb_error_parse() (lib/aws/ddb_client.c), an error answer;
 *  - pt__ddb_page_parse() (lib/storage/dynamodb_answer.c), a Query or Scan
 *    page, then pt__dynamodb_item_append() and pt__dynamodb_item_ttl()
 *    (dynamodb_item.c) for each of its Items;
 *  - pt__ddb_unprocessed_puts(), _deletes() and pt__ddb_unprocessed_all()
 *    (dynamodb_answer.c), a BatchWriteItem answer, for a batch of three
 *    writes and for purge's deletes.
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - no crash, no read past the input (it is not NUL-terminated);
 *  - the error type and message are NUL-terminated within their buffers,
 *    printable ASCII only; the type is what follows the last '#' of
 *    "__type", the message "message" (else "Message"), cut to fit;
 *  - a page parses exactly when the answer is JSON with an Items array;
 *    then the next key is there exactly when LastEvaluatedKey is an object,
 *    as compact JSON that parses back to that object; a failure returns
 *    nothing;
 *  - an item is read exactly when its date and timestamp are S strings;
 *    the record keeps them and the item's ttl; it serialises
 *    (pt_record_to_json) to JSON in valid UTF-8;
 *  - UnprocessedItems: -1 exactly when the answer is not JSON; a write is
 *    left exactly when a PutRequest for the table names its timestamp, and
 *    the count is theirs; purge counts every request of every table, and
 *    sends again {"RequestItems": <UnprocessedItems>} (valid JSON),
 *    nothing when none.
 */
#include "aws/ddb_client.h"
#include "storage/dynamodb.h"

#include "fuzz_check.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int
printable(const char *s, size_t size)
{
    size_t n = strnlen(s, size);
    if (n == size)
        return 0; /* not terminated */
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return 0;
    return 1;
}

/* What copy_sanitized() makes of `src` in `size` bytes. */
static int
same_sanitized(const char *got, const char *src, size_t size)
{
    size_t n = 0;
    for (; src && src[n] && n + 1 < size; n++) {
        unsigned char c = (unsigned char)src[n];
        char want = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        if (got[n] != want)
            return 0;
    }
    return got[n] == '\0';
}

static void
check_error(const char *body, size_t len, const cJSON *doc)
{
    char type[96], message[256];
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(doc, "__type");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(doc, "message");

    memset(type, 'x', sizeof(type));
    memset(message, 'x', sizeof(message));
    pt__ddb_error_parse(body, len, type, sizeof(type), message,
                        sizeof(message));
    FUZZ_CHECK(printable(type, sizeof(type)));
    FUZZ_CHECK(printable(message, sizeof(message)));
    if (cJSON_IsString(t)) {
        const char *hash = strrchr(t->valuestring, '#');
        FUZZ_CHECK(same_sanitized(type, hash ? hash + 1 : t->valuestring,
                                  sizeof(type)));
    } else {
        FUZZ_CHECK(type[0] == '\0');
    }
    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(doc, "Message");
    FUZZ_CHECK(same_sanitized(message, cJSON_IsString(m) ? m->valuestring : "",
                              sizeof(message)));
}

static const char *
attribute_s(const cJSON *item, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(item, name), "S");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static void
check_item(const cJSON *item)
{
    pt_record_list *list = NULL;
    const char *date = attribute_s(item, "date");
    const char *ts = attribute_s(item, "timestamp");
    int64_t ttl = pt__dynamodb_item_ttl(item);
    char *json = NULL;
    int rc;

    FUZZ_CHECK(pt_record_list_new(&list) == PT_OK);
    rc = pt__dynamodb_item_append(list, item);
    FUZZ_CHECK(rc == PT_OK || rc == PT_EPARSE);
    FUZZ_CHECK((rc == PT_OK) == (date && ts));
    FUZZ_CHECK(list->count == (rc == PT_OK ? 1u : 0u));
    if (rc == PT_OK) {
        const pt_record *r = &list->records[0];
        FUZZ_CHECK(strcmp(r->date, date) == 0);
        FUZZ_CHECK(strcmp(r->timestamp, ts) == 0);
        FUZZ_CHECK(r->ttl == ttl);
        FUZZ_CHECK(pt_record_to_json(&json, r) == PT_OK && json);
        FUZZ_CHECK(pt__utf8_valid(json, strlen(json)));
        cJSON *back = cJSON_Parse(json);
        FUZZ_CHECK(cJSON_IsObject(back));
        cJSON_Delete(back);
        pt_free(json);
    }
    pt_record_list_free(list);
}

static void
check_page(const char *body, size_t len, const cJSON *doc)
{
    cJSON *page = (cJSON *)1;
    char *next_key = (char *)1;
    const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "Items");
    const cJSON *last =
        cJSON_GetObjectItemCaseSensitive(doc, "LastEvaluatedKey");
    const cJSON *item;
    int rc = pt__ddb_page_parse(body, len, "Query", &page, &next_key);

    FUZZ_CHECK(rc == PT_OK || rc == PT_EPARSE);
    FUZZ_CHECK((rc == PT_OK) == cJSON_IsArray(items));
    if (rc != PT_OK) {
        FUZZ_CHECK(page == NULL && next_key == NULL);
        return;
    }
    FUZZ_CHECK(page &&
               cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(page, "Items")));
    FUZZ_CHECK((next_key != NULL) == cJSON_IsObject(last));
    if (next_key) {
        cJSON *again = cJSON_Parse(next_key);
        char *printed;
        FUZZ_CHECK(cJSON_IsObject(again));
        printed = cJSON_PrintUnformatted(again);
        FUZZ_CHECK(printed && strcmp(printed, next_key) == 0);
        cJSON_free(printed);
        cJSON_Delete(again);
    }
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(page, "Items"))
    {
        check_item(item);
    }
    free(next_key);
    cJSON_Delete(page);
}

#define TABLE "link-downloader-visits"

/* A batch of writes, by the timestamps of their slots. */
static const char *const batch[] = {"2025-01-15T14:30:00.123456+00:00",
                                    "2025-01-15T14:30:00.000001+00:00", "x"};
#define BATCH (sizeof(batch) / sizeof(batch[0]))

/* The reference: does the list name a request of `kind` for `ts`? */
static int
listed(const cJSON *list, const char *ts, const char *kind, const char *member)
{
    const cJSON *e;
    if (!cJSON_IsArray(list))
        return 0;
    cJSON_ArrayForEach(e, list)
    {
        const cJSON *s = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(e, kind), member),
                "timestamp"),
            "S");
        if (cJSON_IsString(s) && strcmp(s->valuestring, ts) == 0)
            return 1;
    }
    return 0;
}

static void
check_unprocessed(const char *body, size_t len, const cJSON *doc)
{
    const cJSON *un = cJSON_GetObjectItemCaseSensitive(doc, "UnprocessedItems");
    const cJSON *table;
    unsigned char left[BATCH];
    pt_buf again = PT_BUF_INIT;
    long n, count = 0;

    /* puts, then deletes: the same reading of another request kind */
    for (int del = 0; del < 2; del++) {
        memset(left, 7, sizeof(left));
        n = del ? pt__ddb_unprocessed_deletes(body, len, TABLE, batch, BATCH,
                                              left)
                : pt__ddb_unprocessed_puts(body, len, TABLE, batch, BATCH,
                                           left);
        FUZZ_CHECK((n < 0) == (doc == NULL));
        count = 0;
        for (size_t i = 0; i < BATCH; i++) {
            if (n < 0) {
                FUZZ_CHECK(left[i] == 7);
                continue;
            }
            int want = listed(cJSON_GetObjectItemCaseSensitive(un, TABLE),
                              batch[i], del ? "DeleteRequest" : "PutRequest",
                              del ? "Key" : "Item");
            FUZZ_CHECK(left[i] == want);
            count += want;
        }
        FUZZ_CHECK(n < 0 || n == count);
    }

    n = pt__ddb_unprocessed_all(body, len, &again);
    FUZZ_CHECK((n < 0) == (doc == NULL));
    count = 0;
    if (cJSON_IsObject(un)) {
        cJSON_ArrayForEach(table, un)
        {
            if (cJSON_IsArray(table))
                count += cJSON_GetArraySize(table);
        }
    }
    FUZZ_CHECK(n < 0 || n == count);
    FUZZ_CHECK(!again.oom);
    if (n > 0) {
        /* Valid JSON, and UnprocessedItems as cJSON prints it (numbers
         * it cannot print, such as 1e400, become null: DynamoDB's keys
         * hold none). */
        cJSON *sent = cJSON_ParseWithLength(again.ptr, again.len);
        char *want = cJSON_PrintUnformatted(un);
        FUZZ_CHECK(cJSON_IsObject(sent) && cJSON_GetArraySize(sent) == 1 &&
                   cJSON_IsObject(
                       cJSON_GetObjectItemCaseSensitive(sent, "RequestItems")));
        FUZZ_CHECK(want && again.len == strlen(want) + 17 &&
                   memcmp(again.ptr, "{\"RequestItems\":", 16) == 0 &&
                   memcmp(again.ptr + 16, want, strlen(want)) == 0 &&
                   again.ptr[again.len - 1] == '}');
        cJSON_free(want);
        cJSON_Delete(sent);
    } else {
        FUZZ_CHECK(again.len == 0);
    }
    pt_buf_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    /* The reference reading of the input, against which each reader is
     * checked. */
    cJSON *doc = cJSON_ParseWithLength(body, size);

    check_error(body, size, doc);
    check_page(body, size, doc);
    check_unprocessed(body, size, doc);
    cJSON_Delete(doc);
    return 0;
}
