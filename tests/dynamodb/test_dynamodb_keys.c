/*
 * Rotating keys in DynamoDB (<table>-keys) against a real dynalite that the
 * test can kill and restart (tests/pipeline/dynamodb_restart.sh runs it):
 * the table made by init, two hosts agreeing, sixteen processes racing for
 * one period's key, destruction by DeleteItem, wrapped items, and a store
 * outage across a period boundary.  Clocks are explicit.
 */
#include "keys/keys.h"
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>
#include <sodium.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "keys_race.h"
#include "policy_fixture.h"

#define WRAP_HEX                                                               \
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static const char *endpoint;
static int table_seq;

static int64_t
at(const char *iso)
{
    int64_t us = 0;
    assert_int_equal(pt__parse_iso8601(iso, &us), PT_OK);
    return us;
}

/* A rotating policy on a fresh table; `name` gets the table's name. */
static pt_policy *
policy_for(char *name, size_t size)
{
    snprintf(name, size, "keys-%d-%d", (int)getpid(), ++table_seq);
    return pt_test_policy(
        "keys.ini",
        "[storage]\nbackend = dynamodb\ntable = %s\nregion = eu-west-3\n"
        "endpoint = %s\n[ip]\nrotate = daily\n",
        name, endpoint);
}

static pt__keys *
keys_open(const pt_policy *p, unsigned int flags)
{
    pt__keys *k = NULL;
    if (pt__keys_open(&k, p, NULL, flags) != PT_OK)
        fail_msg("keys: %s", pt_last_error());
    return k;
}

/* A request to the server, independent of the key store's code. */
static cJSON *
ddb(const pt_policy *p, const char *op, const char *body)
{
    pt_storage *s = NULL;
    pt_ddb_client *c;
    pt_buf resp = PT_BUF_INIT;
    cJSON *doc = NULL;
    assert_int_equal(pt__dynamodb_storage_methods.open(&s, p, NULL), PT_OK);
    s->methods = &pt__dynamodb_storage_methods;
    assert_int_equal(pt__dynamodb_client((pt__dynamodb *)(void *)s, &c), PT_OK);
    if (pt_ddb_call(c, op, body, strlen(body), &resp, NULL) == PT_OK)
        doc = cJSON_ParseWithLength(resp.ptr, resp.len);
    pt_buf_free(&resp);
    s->methods->close(s);
    return doc;
}

/* The items of the keys table: their count, and the `key` attribute of
 * `period` (hex) into `hex` when asked. */
static int
scan_keys(const pt_policy *p, const char *table, const char *period, char *hex,
          size_t size)
{
    char body[512];
    cJSON *doc, *item;
    int n = 0;
    snprintf(body, sizeof(body),
             "{\"TableName\":\"%s-keys\",\"ConsistentRead\":true}", table);
    doc = ddb(p, "Scan", body);
    assert_non_null(doc);
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(doc, "Items"))
    {
        const char *name =
            cJSON_GetObjectItem(cJSON_GetObjectItem(item, "period"), "S")
                ->valuestring;
        if (strcmp(name, "destroyed-before") == 0)
            continue;
        n++;
        if (period && hex && strcmp(name, period) == 0)
            snprintf(hex, size, "%s",
                     cJSON_GetObjectItem(cJSON_GetObjectItem(item, "key"), "S")
                         ->valuestring);
    }
    cJSON_Delete(doc);
    return n;
}

static void
hex_of(pt__keys *k, int64_t t, int64_t now, char *hex)
{
    pt__ip_key key;
    int missing;
    assert_int_equal(pt__keys_for_time(k, t, now, &key, &missing), PT_OK);
    sodium_bin2hex(hex, 65, key.bytes, 32);
    pt__ip_key_wipe(&key);
}

/* ---- tests ------------------------------------------------------------------
 */

static void
test_init_and_two_hosts(void **state)
{
    char table[64], a[65], b[65], stored[200] = "", body[512];
    pt_policy *p = policy_for(table, sizeof(table));
    pt__keys *k1 = keys_open(p, PT__KEYS_CREATE), *k2;
    int64_t now = at("2025-01-15T12:00:00Z");
    cJSON *doc;
    (void)state;

    /* before init: the table is missing, and the error says what to do */
    assert_int_equal(pt__keys_refresh(k1, now), PT_ENOTFOUND);
    assert_non_null(strstr(pt_last_error(), "init-storage"));
    assert_int_equal(pt__keys_init_store(k1), PT_OK);
    assert_int_equal(pt__keys_init_store(k1), PT_OK); /* idempotent */
    snprintf(body, sizeof(body), "{\"TableName\":\"%s-keys\"}", table);
    doc = ddb(p, "DescribeTable", body);
    assert_non_null(doc);
    assert_string_equal(
        cJSON_GetObjectItem(
            cJSON_GetArrayItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(doc, "Table"),
                                    "KeySchema"),
                0),
            "AttributeName")
            ->valuestring,
        "period");
    cJSON_Delete(doc);

    assert_int_equal(pt__keys_refresh(k1, now), PT_OK);
    assert_int_equal(
        scan_keys(p, table, "daily-2025-01-15", stored, sizeof(stored)), 3);
    /* a second host reads the same keys rather than making its own */
    k2 = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(k2, now + 60000000), PT_OK);
    assert_int_equal(scan_keys(p, table, NULL, NULL, 0), 3);
    hex_of(k1, now, now, a);
    hex_of(k2, now, now, b);
    assert_string_equal(a, b);
    assert_string_equal(a, stored); /* unwrapped: stored as it is */
    hex_of(k2, at("2025-01-14T12:00:00Z"), now, b);
    assert_string_not_equal(a, b);
    pt__keys_close(k1);
    pt__keys_close(k2);
    pt_policy_free(p);
}

/* Sixteen processes, one period: one item, one key for all. */
static void
test_race_16(void **state)
{
    char table[64], first[65] = "", stored[200] = "";
    pt_policy *p = policy_for(table, sizeof(table));
    pt__keys *init = keys_open(p, PT__KEYS_CREATE);
    int64_t now = at("2025-03-10T09:00:00Z");
    (void)state;

    assert_int_equal(pt__keys_init_store(init), PT_OK);
    pt__keys_close(init);
    pt_test_race_keys(p, now, first);
    /* 03-08 (its grace runs to 03-11), 03-09 and 03-10: one item each */
    assert_int_equal(
        scan_keys(p, table, "daily-2025-03-10", stored, sizeof(stored)), 3);
    assert_string_equal(stored, first);
    pt_policy_free(p);
}

/* Destruction deletes the item (not only TTL); a dry run of that day then
 * finds no key and makes none; keys destroy --before deletes early and no
 * host remakes those keys. */
static void
test_destroy(void **state)
{
    char table[64], body[512];
    pt_policy *p = policy_for(table, sizeof(table));
    pt__keys *k = keys_open(p, PT__KEYS_CREATE), *dry;
    int64_t now = at("2025-01-15T12:00:00Z");
    pt__ip_key key;
    int missing;
    uint64_t n = 0;
    cJSON *doc;
    (void)state;

    assert_int_equal(pt__keys_init_store(k), PT_OK);
    assert_int_equal(pt__keys_refresh(k, now), PT_OK);
    assert_int_equal(scan_keys(p, table, NULL, NULL, 0), 3);
    /* a day later 01-13's grace is over: its item is deleted */
    assert_int_equal(pt__keys_refresh(k, at("2025-01-16T12:00:00Z")), PT_OK);
    snprintf(body, sizeof(body),
             "{\"TableName\":\"%s-keys\",\"Key\":{\"period\":{\"S\":"
             "\"daily-2025-01-13\"}},\"ConsistentRead\":true}",
             table);
    doc = ddb(p, "GetItem", body);
    assert_non_null(doc);
    assert_null(cJSON_GetObjectItem(doc, "Item"));
    cJSON_Delete(doc);
    assert_int_equal(scan_keys(p, table, NULL, NULL, 0), 3); /* 14, 15, 16 */
    /* a dry run of a visit of 01-13: no key, and none made */
    dry = keys_open(p, PT__KEYS_DRY_RUN);
    assert_int_equal(pt__keys_refresh(dry, at("2025-01-16T12:00:00Z")), PT_OK);
    assert_int_equal(pt__keys_for_time(dry, at("2025-01-13T10:00:00Z"),
                                       at("2025-01-16T12:00:00Z"), &key,
                                       &missing),
                     PT_ENOTFOUND);
    assert_int_equal(missing, PT__KEY_EXPIRED);
    assert_int_equal(scan_keys(p, table, NULL, NULL, 0), 3);
    pt__keys_close(dry);
    /* forget everyone before 01-16 */
    assert_int_equal(pt__keys_destroy(k, at("2025-01-16T00:00:00Z") / 1000000,
                                      0, at("2025-01-16T12:00:00Z"), NULL, NULL,
                                      &n),
                     PT_OK);
    assert_int_equal(n, 2);
    assert_int_equal(scan_keys(p, table, NULL, NULL, 0), 1);
    pt__keys_close(k);
    k = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(k, at("2025-01-16T12:00:00Z")), PT_OK);
    assert_int_equal(scan_keys(p, table, NULL, NULL, 0), 1);
    assert_int_equal(pt__keys_for_time(k, at("2025-01-15T10:00:00Z"),
                                       at("2025-01-16T12:00:00Z"), &key,
                                       &missing),
                     PT_ENOTFOUND);
    assert_int_equal(missing, PT__KEY_EXPIRED);
    pt__keys_close(k);
    pt_policy_free(p);
}

/* Wrapped items hold no key bytes; a wrong wrapping key is an error and
 * changes nothing. */
static void
test_wrapped(void **state)
{
    char table[64], hex[65], stored[200] = "", after[200] = "";
    pt_policy *p;
    pt__keys *k;
    int64_t now = at("2025-01-15T12:00:00Z");
    (void)state;

    setenv("PRIVTRACK_KEY_WRAP", WRAP_HEX, 1);
    p = policy_for(table, sizeof(table));
    k = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_init_store(k), PT_OK);
    assert_int_equal(pt__keys_refresh(k, now), PT_OK);
    hex_of(k, now, now, hex);
    pt__keys_close(k);
    scan_keys(p, table, "daily-2025-01-15", stored, sizeof(stored));
    assert_int_equal(strlen(stored), 2 * PT__KEY_BLOB_MAX);
    hex[16] = '\0';
    assert_null(strstr(stored, hex));
    setenv("PRIVTRACK_KEY_WRAP",
           "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
           1);
    k = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(k, now), PT_ECRYPTO);
    pt__keys_close(k);
    scan_keys(p, table, "daily-2025-01-15", after, sizeof(after));
    assert_string_equal(after, stored);
    unsetenv("PRIVTRACK_KEY_WRAP");
    pt_policy_free(p);
}

static void
dynalite(const char *what)
{
    char cmd[2048];
    const char *port = what[0] == 's' ? getenv("PT_DYNALITE_PORT") : "";
    snprintf(cmd, sizeof(cmd), "%s %s %s %s >/dev/null 2>&1",
             getenv("PT_DYNALITE_CTL"), what, getenv("PT_DYNALITE_STATE"),
             port ? port : "");
    assert_int_equal(system(cmd), 0);
}

/* DynamoDB is down from 23:20 to past midnight: the next day's key was
 * fetched at 23:10, so visits after midnight are hashed with it (and with
 * no other); once the server is back, another host reads the same key. */
static void
test_outage_across_boundary(void **state)
{
    char table[64], before_midnight[65], after_midnight[65], other[65];
    pt_policy *p = policy_for(table, sizeof(table));
    pt__keys *k = keys_open(p, PT__KEYS_CREATE), *k2;
    pt__ip_key key;
    int missing;
    (void)state;

    assert_int_equal(pt__keys_init_store(k), PT_OK);
    assert_int_equal(pt__keys_refresh(k, at("2025-01-15T23:10:00Z")), PT_OK);
    dynalite("kill");
    assert_int_not_equal(pt__keys_refresh(k, at("2025-01-16T00:10:00Z")),
                         PT_OK);
    hex_of(k, at("2025-01-15T23:59:59.999999Z"), at("2025-01-16T00:10:00Z"),
           before_midnight);
    hex_of(k, at("2025-01-16T00:00:00Z"), at("2025-01-16T00:10:00Z"),
           after_midnight);
    assert_string_not_equal(before_midnight, after_midnight);
    /* a day not fetched: none, never a neighbour's */
    assert_int_equal(pt__keys_for_time(k, at("2025-01-17T00:05:00Z"),
                                       at("2025-01-16T00:10:00Z"), &key,
                                       &missing),
                     PT_ENOTFOUND);
    assert_int_equal(missing, PT__KEY_UNAVAILABLE);
    dynalite("start");
    k2 = keys_open(p, PT__KEYS_CREATE);
    assert_int_equal(pt__keys_refresh(k2, at("2025-01-16T00:20:00Z")), PT_OK);
    hex_of(k2, at("2025-01-16T08:00:00Z"), at("2025-01-16T00:20:00Z"), other);
    assert_string_equal(other, after_midnight);
    hex_of(k2, at("2025-01-15T08:00:00Z"), at("2025-01-16T00:20:00Z"), other);
    assert_string_equal(other, before_midnight);
    pt__keys_close(k2);
    pt__keys_close(k);
    pt_policy_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_and_two_hosts),
        cmocka_unit_test(test_race_16),
        cmocka_unit_test(test_destroy),
        cmocka_unit_test(test_wrapped),
        cmocka_unit_test(test_outage_across_boundary),
    };
    endpoint = getenv("PT_TEST_DYNAMODB_ENDPOINT");
    if (!endpoint || !getenv("PT_DYNALITE_CTL")) {
        fprintf(stderr, "run me through tests/pipeline/dynamodb_restart.sh\n");
        return 1;
    }
    unsetenv("PRIVTRACK_KEY_WRAP");
    /* restarts come back on the same port */
    setenv("PT_DYNALITE_PORT", strrchr(endpoint, ':') + 1, 1);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
