/*
 * Unit tests for lib/storage/dynamodb_answer.c: what privtrack reads in
 * DynamoDB's answers (a Query or Scan page, what a BatchWriteItem left
 * unprocessed).  Hostile shapes are the fuzzer's (fuzz/fuzz_ddb_response.c);
 * these pin the answers the backend acts on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "storage/dynamodb.h"

#define TABLE "link-downloader-visits"

static int
page(const char *body, cJSON **doc, char **next_key)
{
    return pt__ddb_page_parse(body, body ? strlen(body) : 0, "Query", doc,
                              next_key);
}

static void
test_page(void **state)
{
    cJSON *doc;
    char *next;
    (void)state;
    assert_int_equal(
        page("{\"Items\":[{\"a\":1}], \"LastEvaluatedKey\": {\"date\": "
             "{\"S\": \"2025-01-15\"}}}",
             &doc, &next),
        PT_OK);
    assert_int_equal(
        cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(doc, "Items")), 1);
    assert_string_equal(next, "{\"date\":{\"S\":\"2025-01-15\"}}");
    free(next);
    cJSON_Delete(doc);
    /* The last page; a LastEvaluatedKey that is not an object ends too. */
    assert_int_equal(page("{\"Items\":[]}", &doc, &next), PT_OK);
    assert_null(next);
    cJSON_Delete(doc);
    assert_int_equal(
        page("{\"Items\":[],\"LastEvaluatedKey\":\"k\"}", &doc, &next), PT_OK);
    assert_null(next);
    cJSON_Delete(doc);
    /* No Items array: an error that names the operation, nothing back. */
    static const char *const bad[] = {"{\"Items\":{}}", "{}", "[]",
                                      "<html>",         "",   NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        doc = (cJSON *)1;
        next = (char *)1;
        assert_int_equal(page(bad[i], &doc, &next), PT_EPARSE);
        assert_null(doc);
        assert_null(next);
        assert_non_null(strstr(pt_last_error(), "DynamoDB Query"));
    }
}

typedef long (*unprocessed_fn)(const char *body, size_t len, const char *table,
                               const char *const *timestamps, size_t n,
                               unsigned char *left);

static const char *const batch[] = {"t1", "t2", "t3"};

/* `fn` on `answer` for the batch t1, t2, t3 of TABLE: one left, the one at
 * `left_at`; then on `broken`, not JSON: -1, and `left` is not touched. */
static void
check_unprocessed(unprocessed_fn fn, const char *answer, size_t left_at,
                  const char *broken)
{
    unsigned char left[3];
    assert_int_equal(fn(answer, strlen(answer), TABLE, batch, 3, left), 1);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(left[i], i == left_at);
    memset(left, 5, sizeof(left));
    assert_int_equal(fn(broken, strlen(broken), TABLE, batch, 3, left), -1);
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(left[i], 5);
}

static void
test_unprocessed_puts(void **state)
{
    unsigned char left[3];
    (void)state;
    /* Only t2 is left: listed twice it is still one write; t9 is not in
     * the batch; a DeleteRequest and another table do not count. */
    check_unprocessed(
        pt__ddb_unprocessed_puts,
        "{\"UnprocessedItems\":{\"" TABLE "\":["
        "{\"PutRequest\":{\"Item\":{\"timestamp\":{\"S\":\"t2\"}}}},"
        "{\"PutRequest\":{\"Item\":{\"timestamp\":{\"S\":\"t2\"}}}},"
        "{\"PutRequest\":{\"Item\":{\"timestamp\":{\"S\":\"t9\"}}}},"
        "{\"DeleteRequest\":{\"Key\":{\"timestamp\":{\"S\":\"t3\"}}}}],"
        "\"other\":[{\"PutRequest\":{\"Item\":{\"timestamp\":{\"S\":\"t1\"}}}}"
        "]}}",
        1, "{\"Unpro");
    /* Nothing left. */
    memset(left, 5, sizeof(left));
    assert_int_equal(pt__ddb_unprocessed_puts("{\"UnprocessedItems\":{}}", 23,
                                              TABLE, batch, 3, left),
                     0);
    assert_int_equal(left[1], 0);
    assert_int_equal(pt__ddb_unprocessed_puts(NULL, 0, TABLE, batch, 3, left),
                     -1);
}

static void
test_unprocessed_deletes(void **state)
{
    (void)state;
    /* Only t3 is left (deleted: t1, t2); t9 is not in the batch; a
     * PutRequest and another table do not count. */
    check_unprocessed(
        pt__ddb_unprocessed_deletes,
        "{\"UnprocessedItems\":{\"" TABLE "\":["
        "{\"DeleteRequest\":{\"Key\":{\"timestamp\":{\"S\":\"t3\"}}}},"
        "{\"DeleteRequest\":{\"Key\":{\"timestamp\":{\"S\":\"t9\"}}}},"
        "{\"PutRequest\":{\"Item\":{\"timestamp\":{\"S\":\"t1\"}}}}],"
        "\"other\":[{\"DeleteRequest\":{\"Key\":{\"timestamp\":{\"S\":"
        "\"t2\"}}}}]}}",
        2, "[1");
}

static void
test_unprocessed_all(void **state)
{
    const char *answer = "{\"UnprocessedItems\":{\"a\":[1,2],\"b\":[{\"x\":"
                         "\"y\"}],\"c\":\"not a list\"}, \"Other\": 1}";
    pt_buf again = PT_BUF_INIT;
    (void)state;
    assert_int_equal(pt__ddb_unprocessed_all(answer, strlen(answer), &again),
                     3);
    assert_string_equal(again.ptr, "{\"RequestItems\":{\"a\":[1,2],\"b\":[{"
                                   "\"x\":\"y\"}],\"c\":\"not a list\"}}");
    pt_buf_clear(&again);
    assert_int_equal(pt__ddb_unprocessed_all(answer, strlen(answer), NULL), 3);
    assert_int_equal(pt__ddb_unprocessed_all(
                         "{\"UnprocessedItems\":{\"a\":[]}}", 29, &again),
                     0);
    assert_int_equal(again.len, 0);
    assert_int_equal(pt__ddb_unprocessed_all("{}", 2, &again), 0);
    assert_int_equal(pt__ddb_unprocessed_all("nope", 4, &again), -1);
    assert_int_equal(again.len, 0);
    pt_buf_free(&again);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_page),
        cmocka_unit_test(test_unprocessed_puts),
        cmocka_unit_test(test_unprocessed_deletes),
        cmocka_unit_test(test_unprocessed_all),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
