/*
 * The DynamoDB backend against the fault-injecting server: retries seen
 * through control(), exact *written on failure, hostile Query answers
 * (a LastEvaluatedKey that never ends, garbage, malformed items), and the
 * loopback-only rule for plain http.
 */
#include "keys/keys.h"
#include "storage/dynamodb.h"
#include "test_aws_fault_server.h"
#include "test_tmpdir.h"

#include <cjson/cJSON.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static int
open_with(pt_storage **out, const char *endpoint)
{
    char text[512];
    pt_policy *policy = NULL;
    int rc;
    snprintf(text, sizeof(text),
             "[storage]\nbackend = dynamodb\ntable = faults\nregion = "
             "eu-west-3\nendpoint = %s\n",
             endpoint);
    rc = pt_policy_load_buffer(&policy, text, strlen(text), "faults.ini");
    if (rc != PT_OK)
        fail_msg("policy: %s", pt_last_error());
    rc = pt__dynamodb_storage_methods.open(out, policy, NULL);
    pt_policy_free(policy);
    if (rc == PT_OK)
        (*out)->methods = &pt__dynamodb_storage_methods;
    return rc;
}

static pt_storage *
backend(unsigned int attempts)
{
    char url[64];
    pt_storage *s = NULL;
    pt_ddb_retry r = {attempts, 1, 4};
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    assert_int_equal(open_with(&s, url), PT_OK);
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_SET_RETRY, &r),
                     PT_OK);
    return s;
}

static pt_record recs[40];
static const pt_record *ptrs[40];
static char ts[40][PT_TIMESTAMP_LEN + 1];

static char date[PT_DATE_LEN + 1];

/* n records a microsecond apart from `start` (0: now, so that leases alone
 * vouch for them and nothing is looked up first). */
static void
make_records_at(size_t n, int64_t start)
{
    if (!start)
        start = pt__now_us() / 60000000 * 60000000 + 1000; /* mid-minute */
    pt__format_date(date, start);
    for (size_t i = 0; i < n; i++) {
        memset(&recs[i], 0, sizeof(recs[i]));
        pt__format_timestamp(ts[i], start + (int64_t)i);
        recs[i].date = date;
        recs[i].timestamp = ts[i];
        recs[i].session_id = "1736951400-0000abcd";
        ptrs[i] = &recs[i];
    }
}

static void
make_records(size_t n)
{
    make_records_at(n, 1736951400000000LL);
}

static uint64_t
retries_of(pt_storage *s)
{
    uint64_t n = 999;
    assert_int_equal(s->methods->control(s, PT_STORAGE_CTL_RETRIES, &n), PT_OK);
    return n;
}

static void
test_throttled_puts_are_retried(void **state)
{
    pt_storage *s = backend(6);
    size_t w = 0;
    (void)state;
    make_records_at(30, 0);
    set_fault(FAULT_THROTTLE, 5);
    assert_int_equal(s->methods->put(s, ptrs, 30, 0, &w), PT_OK);
    assert_int_equal(w, 30);
    /* one lease claim, two BatchWriteItems (25 + 5), five retries */
    assert_int_equal(requests_seen(), 3 + 5);
    assert_int_equal(retries_of(s), 5);
    assert_string_equal(srv.last_target, "DynamoDB_20120810.BatchWriteItem");
    /* a replay: one Query for the span, then the lease already held */
    set_fault(FAULT_OK, 0);
    assert_int_equal(s->methods->put(s, ptrs, 30, 1, &w), PT_OK);
    assert_int_equal(w, 30);
    assert_int_equal(requests_seen(), 1 + 2);
    assert_string_equal(srv.last_target, "DynamoDB_20120810.BatchWriteItem");
    s->methods->close(s);
}

/* UnprocessedItems are written again (after a backoff) until none is
 * left, and a server that never takes them ends in PT_ETHROTTLED. */
static void
test_unprocessed_items_redriven(void **state)
{
    pt_storage *s = backend(3);
    pt__dynamodb_stats st;
    size_t w = 99;
    (void)state;
    make_records_at(30, 0);
    set_fault(FAULT_UNPROCESSED, 3); /* the claim, then both batches */
    assert_int_equal(s->methods->put(s, ptrs, 30, 0, &w), PT_OK);
    assert_int_equal(w, 30);
    assert_int_equal(requests_seen(), 1 + 2 + 2); /* + one re-drive each */
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_GET_STATS, &st),
                     PT_OK);
    assert_int_equal(st.unprocessed, 2);
    assert_int_equal(st.batch_requests, 2);

    set_fault(FAULT_UNPROCESSED, -1);
    assert_int_equal(s->methods->put(s, ptrs, 25, 0, &w), PT_ETHROTTLED);
    assert_int_equal(w, 0); /* the first record never went in */
    assert_non_null(strstr(s->errmsg, "unprocessed"));
    s->methods->close(s);
}

/* Purge's deletes go through the same re-drive: a Scan finds three
 * expired items, the BatchWriteItem's first key comes back unprocessed
 * twice and is sent again alone; a server that never takes it ends in
 * PT_ETHROTTLED. */
static int unprocessed_left;
static int deletes_in_last_batch;

static enum fault
expired_items_then_unprocessed(const char *op, const char *body, size_t len)
{
    (void)len;
    if (strcmp(op, "Scan") == 0)
        return FAULT_BODY;
    if (strcmp(op, "BatchWriteItem") != 0)
        return FAULT_OK;
    deletes_in_last_batch = 0;
    for (const char *p = body; (p = strstr(p, "DeleteRequest")); p++)
        deletes_in_last_batch++;
    if (unprocessed_left == 0)
        return FAULT_OK;
    if (unprocessed_left > 0)
        unprocessed_left--;
    return FAULT_UNPROCESSED;
}

static void
test_purge_unprocessed_redriven(void **state)
{
    pt_storage *s = backend(3);
    pt__dynamodb_stats st;
    uint64_t removed = 99;
    (void)state;
    srv.body = "{\"Count\":3,\"Items\":["
               "{\"date\":{\"S\":\"2025-01-15\"},\"timestamp\":{\"S\":"
               "\"2025-01-15T10:00:00.000001+00:00\"},\"ttl\":{\"N\":\"5\"}},"
               "{\"date\":{\"S\":\"2025-01-15\"},\"timestamp\":{\"S\":"
               "\"2025-01-15T10:00:00.000002+00:00\"},\"ttl\":{\"N\":\"5\"}},"
               "{\"date\":{\"S\":\"2025-01-15\"},\"timestamp\":{\"S\":"
               "\"2025-01-15T10:00:00.000003+00:00\"},\"ttl\":{\"N\":\"5\"}}]}";
    srv.decide = expired_items_then_unprocessed;
    unprocessed_left = 2;
    set_fault(FAULT_DECIDE, -1);
    assert_int_equal(s->methods->purge(s, 1000, &removed), PT_OK);
    assert_int_equal(removed, 3);
    /* the Scan, the batch of 3, then the unprocessed key alone, twice */
    assert_int_equal(requests_seen(), 1 + 1 + 2);
    assert_int_equal(deletes_in_last_batch, 1);
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_GET_STATS, &st),
                     PT_OK);
    assert_int_equal(st.unprocessed, 2);

    unprocessed_left = -1; /* never taken */
    set_fault(FAULT_DECIDE, -1);
    assert_int_equal(s->methods->purge(s, 1000, &removed), PT_ETHROTTLED);
    /* the server took the two others at once: they are gone and counted */
    assert_int_equal(removed, 2);
    assert_non_null(strstr(s->errmsg, "unprocessed"));
    assert_int_equal(requests_seen(), 1 + 1 + 20); /* 20 re-drives at most */
    srv.decide = NULL;
    srv.body = NULL;
    s->methods->close(s);
}

/* A data-subject erase through the tracker: the Query of the date finds
 * four items, three of the person; the BatchWriteItem's first delete
 * comes back in UnprocessedItems twice and is sent again until taken.
 * Every item of the person is deleted (by the server's account: each
 * delete it took), the other never, and the receipt says exactly that. */
#define ERASE_SUBJECT "203.0.113.7"
#define ERASE_ITEM(ts, ip)                                                     \
    "{\"date\":{\"S\":\"2025-01-15\"},\"timestamp\":{\"S\":\"" ts              \
    "\"},\"session_id\":{\"S\":\"1736935200-0000abcd\"},\"client_ip\":{"       \
    "\"S\":\"" ip "\"}}"
static const char *const erase_ts[] = {"2025-01-15T10:00:00.000001+00:00",
                                       "2025-01-15T10:00:00.000002+00:00",
                                       "2025-01-15T10:00:00.000004+00:00"};
static char erased[16][40];
static int erased_count, erase_batches;

static enum fault
subject_items_then_unprocessed(const char *op, const char *body, size_t len)
{
    cJSON *doc, *items, *table, *w;
    enum fault f = FAULT_OK;
    int first = 1;

    if (strcmp(op, "Query") == 0)
        return FAULT_BODY;
    if (strcmp(op, "BatchWriteItem") != 0)
        return FAULT_OK;
    erase_batches++;
    if (unprocessed_left != 0) {
        f = FAULT_UNPROCESSED; /* the first write is not taken */
        if (unprocessed_left > 0)
            unprocessed_left--;
    }
    doc = cJSON_ParseWithLength(body, len);
    items = cJSON_GetObjectItemCaseSensitive(doc, "RequestItems");
    table = items ? items->child : NULL;
    cJSON_ArrayForEach(w, table)
    {
        const cJSON *key_ts = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(
                cJSON_GetObjectItemCaseSensitive(
                    cJSON_GetObjectItemCaseSensitive(w, "DeleteRequest"),
                    "Key"),
                "timestamp"),
            "S");
        assert_true(cJSON_IsString(key_ts));
        if (!(first && f == FAULT_UNPROCESSED) && erased_count < 16)
            snprintf(erased[erased_count++], sizeof(erased[0]), "%s",
                     key_ts->valuestring);
        first = 0;
    }
    cJSON_Delete(doc);
    return f;
}

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* A synchronous tracker on the fault server's table "faults", addresses
 * kept as they are, its storage path a new temporary `dir`. */
static pt_tracker *
erase_tracker(char *dir, size_t size)
{
    char text[512], url[64];
    pt_policy *policy = NULL;
    pt_tracker *t = NULL;
    pt_tracker_options to = PT_TRACKER_OPTIONS_INIT;

    assert_int_equal(pt_test_mkdtemp(dir, size, "pt-erase-faults"), 0);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    snprintf(text, sizeof(text),
             "[storage]\nbackend = dynamodb\ntable = faults\nregion = "
             "eu-west-3\nendpoint = %s\n[ip]\nmode = keep\n"
             "[retention]\nttl_days = 30\n",
             url);
    assert_int_equal(
        pt_policy_load_buffer(&policy, text, strlen(text), "erase.ini"), PT_OK);
    to.storage_path = dir;
    to.synchronous = 1;
    if (pt_tracker_open(&t, policy, &to) != PT_OK)
        fail_msg("open: %s", pt_last_error());
    pt_policy_free(policy);
    return t;
}

static void
test_subject_erase_unprocessed_redriven(void **state)
{
    char dir[256];
    pt_tracker *t = erase_tracker(dir, sizeof(dir));
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    (void)state;

    srv.body = "{\"Count\":4,\"Items\":[" ERASE_ITEM(
        "2025-01-15T10:00:00.000001+00:00",
        ERASE_SUBJECT) "," ERASE_ITEM("2025-01-15T10:00:00.000002+00:00",
                                      ERASE_SUBJECT) "," ERASE_ITEM("2025-01-"
                                                                    "15T10:00:"
                                                                    "00.000003+"
                                                                    "00:00",
                                                                    "198.51."
                                                                    "100.1") "," ERASE_ITEM("2025-01-15T10:00:00.000004+00:00",
                                                                                            ERASE_SUBJECT) "]}";
    srv.decide = subject_items_then_unprocessed;
    unprocessed_left = 2;
    erased_count = erase_batches = 0;
    set_fault(FAULT_DECIDE, -1);
    o.ip = ERASE_SUBJECT;
    o.from = o.to = "2025-01-15";
    o.now = 1736985600; /* 2025-01-16 */
    if (pt_tracker_subject_erase(t, &o, &r) != PT_OK)
        fail_msg("erase: %s", pt_tracker_errmsg(t));
    assert_int_equal(srv.bad_requests, 0);
    /* the batch of three, then its first delete alone, twice */
    assert_int_equal(erase_batches, 3);
    qsort(erased, (size_t)erased_count, sizeof(erased[0]), cmp_str);
    assert_int_equal(erased_count, 3);
    for (int i = 0; i < 3; i++)
        assert_string_equal(erased[i], erase_ts[i]);
    /* the receipt: exactly those, keys only */
    assert_int_equal(r->erase, 1);
    assert_int_equal(r->date_count, 1);
    assert_int_equal(r->dates[0].rc, PT_OK);
    assert_int_equal(r->dates[0].records, 4);
    assert_int_equal(r->dates[0].found, 3);
    assert_int_equal(r->dates[0].deleted, 3);
    assert_int_equal(r->deleted, 3);
    assert_int_equal(r->records->count, 3);
    for (size_t i = 0; i < 3; i++) {
        assert_string_equal(r->records->records[i].date, "2025-01-15");
        assert_string_equal(r->records->records[i].timestamp, erase_ts[i]);
        assert_null(r->records->records[i].client_ip);
    }
    pt_subject_result_free(r);

    /* a server that never takes the first delete: the erase fails (after
     * 20 re-drives), the date says so, and the receipt counts and lists
     * exactly the two records the server took (they are gone: a re-run
     * would not find them), not the one it never took. */
    unprocessed_left = -1;
    erased_count = erase_batches = 0;
    set_fault(FAULT_DECIDE, -1);
    r = NULL;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_ETHROTTLED);
    assert_non_null(strstr(pt_tracker_errmsg(t), "unprocessed"));
    assert_int_equal(erase_batches, 1 + 20);
    qsort(erased, (size_t)erased_count, sizeof(erased[0]), cmp_str);
    assert_int_equal(erased_count, 2);
    assert_string_equal(erased[0], erase_ts[1]);
    assert_string_equal(erased[1], erase_ts[2]);
    assert_non_null(r);
    assert_int_equal(r->date_count, 1);
    assert_int_equal(r->dates[0].rc, PT_ETHROTTLED);
    assert_int_equal(r->dates[0].deleted, 2);
    assert_int_equal(r->deleted, 2);
    assert_int_equal(r->dates[0].found, 2);
    assert_int_equal(r->found, 2);
    assert_int_equal(r->records->count, 2);
    for (size_t i = 0; i < 2; i++) {
        assert_string_equal(r->records->records[i].date, "2025-01-15");
        assert_string_equal(r->records->records[i].timestamp, erase_ts[i + 1]);
        assert_null(r->records->records[i].client_ip);
        assert_int_equal(r->match[i], PT_SUBJECT_MATCH_ADDRESS);
    }
    pt_subject_result_free(r);
    srv.decide = NULL;
    srv.body = NULL;
    set_fault(FAULT_OK, 0);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    pt_test_rmtree(dir);
}

/* An erase over two dates whose second date fails after the first was
 * erased, with a code that also names failures before anything is
 * deleted (PT_EEXIST: ConditionalCheckFailedException): the receipt
 * still comes back (privtrack.h: set whenever the range was valid) and
 * says what went. */
static enum fault
second_date_fails(const char *op, const char *body, size_t len)
{
    (void)len;
    if (strcmp(op, "Query") == 0)
        return strstr(body, "2025-01-16") ? FAULT_CONDITIONAL : FAULT_BODY;
    return FAULT_OK;
}

static void
test_subject_erase_receipt_after_a_failed_date(void **state)
{
    char dir[256];
    pt_tracker *t = erase_tracker(dir, sizeof(dir));
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    (void)state;

    srv.body = "{\"Count\":2,\"Items\":[" ERASE_ITEM(
        "2025-01-15T10:00:00.000001+00:00",
        ERASE_SUBJECT) "," ERASE_ITEM("2025-01-15T10:00:00.000003+00:00",
                                      "198.51.100.1") "]}";
    srv.decide = second_date_fails;
    set_fault(FAULT_DECIDE, -1);
    o.ip = ERASE_SUBJECT;
    o.from = "2025-01-15";
    o.to = "2025-01-16";
    o.now = 1737072000; /* 2025-01-17 */
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_EEXIST);
    assert_non_null(r);
    assert_int_equal(r->date_count, 2);
    assert_int_equal(r->dates[0].rc, PT_OK);
    assert_int_equal(r->dates[0].deleted, 1);
    assert_int_equal(r->dates[1].rc, PT_EEXIST);
    assert_int_equal(r->dates[1].deleted, 0);
    assert_int_equal(r->deleted, 1);
    assert_int_equal(r->records->count, 1);
    assert_string_equal(r->records->records[0].timestamp,
                        "2025-01-15T10:00:00.000001+00:00");
    pt_subject_result_free(r);
    srv.decide = NULL;
    srv.body = NULL;
    set_fault(FAULT_OK, 0);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    pt_test_rmtree(dir);
}

/* One request of three fails (its records are refused), the two others
 * succeed: *written counts only the leading records stored for certain. */
static enum fault
refuse_marked_batch(const char *op, const char *body, size_t len)
{
    (void)len;
    return strcmp(op, "BatchWriteItem") == 0 && strstr(body, "MARKED")
               ? FAULT_VALIDATION
               : FAULT_OK;
}

static void
test_written_stops_at_the_failed_request(void **state)
{
    pt_storage *s = backend(2);
    pt__dynamodb_stats st;
    size_t w = 99;
    (void)state;
    make_records_at(40, 0);
    recs[30].session_id = "MARKED"; /* in the second request (25..39) */
    srv.decide = refuse_marked_batch;
    set_fault(FAULT_DECIDE, -1);
    assert_int_equal(s->methods->put(s, ptrs, 40, 0, &w), PT_EBACKEND);
    assert_int_equal(w, 25); /* the first request's records, not more */
    assert_non_null(strstr(s->errmsg, "ValidationException"));
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_GET_STATS, &st),
                     PT_OK);
    assert_int_equal(st.batch_requests, 2);
    srv.decide = NULL;
    s->methods->close(s);
}

/* No lease to be had (every class taken), so records go out as
 * conditional PutItems; one lands but its answer is lost (a 500), and the
 * retry meets ConditionalCheckFailed — perhaps its own item: the record is
 * not moved to another slot (it would be stored twice) but fails, to be
 * looked up on replay. */
static int record_puts;

static enum fault
leases_taken_then_lost_answer(const char *op, const char *body, size_t len)
{
    (void)len;
    if (strcmp(op, "PutItem") != 0)
        return FAULT_OK;
    if (strstr(body, PT__DDB_LEASE_PARTITION))
        return FAULT_CONDITIONAL;
    return record_puts++ == 0 ? FAULT_500 : FAULT_CONDITIONAL;
}

static void
test_retried_conflict_is_not_stepped_past(void **state)
{
    pt_storage *s = backend(3);
    pt__dynamodb_stats st;
    size_t w = 99;
    (void)state;
    make_records_at(1, 0);
    record_puts = 0;
    srv.decide = leases_taken_then_lost_answer;
    set_fault(FAULT_DECIDE, -1);
    assert_int_equal(s->methods->put(s, ptrs, 1, 0, &w), PT_EBACKEND);
    assert_int_equal(w, 0);
    assert_non_null(strstr(s->errmsg, "after a retry"));
    assert_int_equal(record_puts, 2); /* the 500, then the conflict */
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_GET_STATS, &st),
                     PT_OK);
    assert_int_equal(st.conditional, 1);
    assert_int_equal(st.conflicts, 0); /* not walked to the next slot */
    srv.decide = NULL;
    s->methods->close(s);
}

static void
test_failing_puts_written_zero(void **state)
{
    pt_storage *s = backend(3);
    size_t w = 99;
    (void)state;
    make_records(10);
    set_fault(FAULT_500, -1);
    assert_int_equal(s->methods->put(s, ptrs, 10, 0, &w), PT_EBACKEND);
    assert_int_equal(w, 0);
    assert_non_null(strstr(s->errmsg, "HTTP 500"));
    /* old records: the span's Query comes first, and fails 3 times */
    assert_int_equal(requests_seen(), 3);
    assert_int_equal(retries_of(s), 2);
    set_fault(FAULT_VALIDATION, -1);
    assert_int_equal(s->methods->put(s, ptrs, 1, 0, &w), PT_EBACKEND);
    assert_int_equal(requests_seen(), 1); /* never retried */
    assert_non_null(strstr(s->errmsg, "ValidationException"));
    s->methods->close(s);
}

static void
expect_query(const char *body, int want, size_t want_count)
{
    pt_storage *s = backend(2);
    pt_record_list *l = NULL;
    srv.body = body;
    set_fault(FAULT_BODY, -1);
    assert_int_equal(s->methods->query(s, &l, "2025-01-15", 0, 0), want);
    if (want == PT_OK) {
        assert_int_equal(l->count, want_count);
        pt_record_list_free(l);
    } else {
        assert_null(l);
        assert_true(s->errmsg[0] != '\0');
    }
    s->methods->close(s);
}

static void
test_hostile_query_answers(void **state)
{
    (void)state;
    /* the same LastEvaluatedKey again and again: stops after two pages */
    expect_query("{\"Items\":[],\"LastEvaluatedKey\":{\"date\":{\"S\":\"x\"},"
                 "\"timestamp\":{\"S\":\"y\"}}}",
                 PT_ECORRUPT, 0);
    assert_int_equal(requests_seen(), 2);
    /* the same from the lookup before a replay (the write path's Query) */
    {
        pt_storage *s = backend(2);
        size_t w = 99;
        make_records(3);
        set_fault(FAULT_BODY, -1);
        assert_int_equal(s->methods->put(s, ptrs, 3, 1, &w), PT_ECORRUPT);
        assert_int_equal(w, 0);
        assert_int_equal(requests_seen(), 2);
        assert_non_null(strstr(s->errmsg, "LastEvaluatedKey"));
        s->methods->close(s);
    }
    expect_query("<html>not json</html>", PT_EPARSE, 0);
    expect_query("{\"Count\":1}", PT_EPARSE, 0);
    /* junk items are skipped, the good one is read */
    expect_query("{\"Items\":[7,\"x\",{},{\"date\":{\"N\":\"1\"}},"
                 "{\"date\":{\"S\":\"2025-01-15\"},\"timestamp\":{\"S\":"
                 "\"2025-01-15T00:00:00.000001+00:00\"},\"links\":{\"L\":[1,"
                 "{\"S\":\"https://a\"},{\"N\":\"2\"}]},\"num_links_"
                 "submitted\":{\"N\":\"99999999999999999999999\"}}]}",
                 PT_OK, 1);
    srv.body = NULL;
}

/* The backend's own control() operations are numbered from
 * PT_STORAGE_CTL_PRIVATE, apart from the library's, as privtrack.h says;
 * anything else is PT_EUNSUPPORTED. */
static void
test_private_control_ops(void **state)
{
    pt_storage *s = backend(1);
    const char *table = NULL;
    uint64_t retries = 99;
    size_t batch = 0;
    (void)state;
    assert_true(PT_STORAGE_CTL_BATCH_SIZE < PT_STORAGE_CTL_PRIVATE);
    assert_true(PT__DYNAMODB_CTL_SET_RETRY > PT_STORAGE_CTL_PRIVATE);
    assert_true(PT__DYNAMODB_CTL_PAGE_LIMIT > PT_STORAGE_CTL_PRIVATE);
    assert_true(PT__DYNAMODB_CTL_GET_STATS > PT_STORAGE_CTL_PRIVATE);
    assert_true(PT__DYNAMODB_CTL_TABLE_NAME > PT_STORAGE_CTL_PRIVATE);
    assert_int_equal(
        s->methods->control(s, PT__DYNAMODB_CTL_TABLE_NAME, &table), PT_OK);
    assert_string_equal(table, "faults");
    assert_int_equal(s->methods->control(s, PT_STORAGE_CTL_RETRIES, &retries),
                     PT_OK);
    assert_int_equal(retries, 0);
    assert_int_equal(s->methods->control(s, PT_STORAGE_CTL_BATCH_SIZE, &batch),
                     PT_OK);
    assert_int_equal(batch, 400);
    /* the numbers below PT_STORAGE_CTL_PRIVATE that it once used, and an
     * unassigned one */
    for (int op = 0x202; op <= 0x204; op++)
        assert_int_equal(s->methods->control(s, op, &table), PT_EUNSUPPORTED);
    assert_int_equal(s->methods->control(s, PT_STORAGE_CTL_PRIVATE, &table),
                     PT_EUNSUPPORTED);
    s->methods->close(s);
}

static void
test_http_only_for_loopback(void **state)
{
    pt_storage *s = NULL;
    (void)state;
    assert_int_equal(open_with(&s, "http://192.0.2.10:8000"), PT_EPOLICY);
    assert_null(s);
    assert_non_null(strstr(pt_last_error(), "loopback"));
    assert_int_equal(open_with(&s, "https://192.0.2.10:8443"), PT_OK);
    s->methods->close(s); /* no network traffic at open */
}

/* ---- tables made by init: the records' and the keys' -----------------------
 * dynalite has no TTL API, so what init asks of a DynamoDB that has one is
 * checked here: a server on which the table does not exist until
 * CreateTable, then is ACTIVE with TTL disabled, and that keeps the bodies
 * of CreateTable and UpdateTimeToLive. */

static char created[1024], ttl_update[1024];
static const char *schema_hash, *schema_range;
static int table_exists;

static void
keep(char *dst, size_t size, const char *body, size_t len)
{
    size_t n = len < size - 1 ? len : size - 1;
    memcpy(dst, body, n);
    dst[n] = '\0';
}

static enum fault
fresh_table_server(const char *op, const char *body, size_t len)
{
    static char answer[512];
    if (strcmp(op, "DescribeTable") == 0) {
        if (!table_exists)
            return FAULT_NOTFOUND;
        snprintf(answer, sizeof(answer),
                 "{\"Table\":{\"TableStatus\":\"ACTIVE\",\"KeySchema\":["
                 "{\"AttributeName\":\"%s\",\"KeyType\":\"HASH\"}%s%s%s]}}",
                 schema_hash, schema_range ? ",{\"AttributeName\":\"" : "",
                 schema_range ? schema_range : "",
                 schema_range ? "\",\"KeyType\":\"RANGE\"}" : "");
        srv.body = answer;
        return FAULT_BODY;
    }
    if (strcmp(op, "CreateTable") == 0) {
        keep(created, sizeof(created), body, len);
        table_exists = 1;
        return FAULT_OK;
    }
    if (strcmp(op, "DescribeTimeToLive") == 0) {
        srv.body = "{\"TimeToLiveDescription\":{\"TimeToLiveStatus\":"
                   "\"DISABLED\"}}";
        return FAULT_BODY;
    }
    if (strcmp(op, "UpdateTimeToLive") == 0)
        keep(ttl_update, sizeof(ttl_update), body, len);
    return FAULT_OK;
}

static void
serve_fresh_table(const char *hash, const char *range)
{
    created[0] = ttl_update[0] = '\0';
    schema_hash = hash;
    schema_range = range;
    table_exists = 0;
    srv.decide = fresh_table_server;
    set_fault(FAULT_DECIDE, -1);
}

/* `body` is JSON whose `field` is the string `value`. */
static void
assert_field(const char *body, const char *field, const char *value)
{
    cJSON *doc = cJSON_Parse(body);
    const cJSON *v = NULL;
    char path[64];
    const char *p = field;
    assert_non_null(doc);
    v = doc;
    while (*p) { /* "A.B": nested objects */
        size_t n = strcspn(p, ".");
        snprintf(path, sizeof(path), "%.*s", (int)n, p);
        v = cJSON_GetObjectItemCaseSensitive(v, path);
        p += n + (p[n] == '.');
    }
    if (cJSON_IsBool(v))
        assert_string_equal(cJSON_IsTrue(v) ? "true" : "false", value);
    else if (!cJSON_IsString(v) || strcmp(v->valuestring, value) != 0)
        fail_msg("%s: %s is not '%s'", body, field, value);
    cJSON_Delete(doc);
}

static void
test_init_enables_ttl(void **state)
{
    char text[512];
    pt_policy *policy = NULL;
    pt_storage *s;
    pt__keys *k = NULL;
    (void)state;

    /* the records' table: TTL on `ttl` */
    serve_fresh_table("date", "timestamp");
    s = backend(1);
    assert_int_equal(s->methods->init(s), PT_OK);
    s->methods->close(s);
    assert_field(created, "TableName", "faults");
    assert_field(created, "BillingMode", "PAY_PER_REQUEST");
    assert_field(ttl_update, "TableName", "faults");
    assert_field(ttl_update, "TimeToLiveSpecification.AttributeName", "ttl");
    assert_field(ttl_update, "TimeToLiveSpecification.Enabled", "true");

    /* the keys' table, <table>-keys: keyed by period, TTL on `expires` as a
     * backstop for the destruction privtrack does itself */
    serve_fresh_table("period", NULL);
    snprintf(text, sizeof(text),
             "[storage]\nbackend = dynamodb\ntable = faults\nregion = "
             "eu-west-3\nendpoint = http://127.0.0.1:%d\n[ip]\nrotate = "
             "daily\n",
             srv.port);
    assert_int_equal(
        pt_policy_load_buffer(&policy, text, strlen(text), "keys.ini"), PT_OK);
    assert_int_equal(pt__keys_open(&k, policy, NULL, PT__KEYS_CREATE), PT_OK);
    assert_int_equal(pt__keys_init_store(k), PT_OK);
    pt__keys_close(k);
    pt_policy_free(policy);
    assert_field(created, "TableName", "faults-keys");
    assert_non_null(strstr(created, "\"KeySchema\":[{\"AttributeName\":"
                                    "\"period\",\"KeyType\":\"HASH\"}]"));
    assert_field(created, "BillingMode", "PAY_PER_REQUEST");
    assert_field(ttl_update, "TableName", "faults-keys");
    assert_field(ttl_update, "TimeToLiveSpecification.AttributeName",
                 "expires");
    assert_field(ttl_update, "TimeToLiveSpecification.Enabled", "true");
    srv.decide = NULL;
    srv.body = NULL;
    set_fault(FAULT_OK, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttled_puts_are_retried),
        cmocka_unit_test(test_failing_puts_written_zero),
        cmocka_unit_test(test_unprocessed_items_redriven),
        cmocka_unit_test(test_purge_unprocessed_redriven),
        cmocka_unit_test(test_subject_erase_unprocessed_redriven),
        cmocka_unit_test(test_subject_erase_receipt_after_a_failed_date),
        cmocka_unit_test(test_written_stops_at_the_failed_request),
        cmocka_unit_test(test_retried_conflict_is_not_stepped_past),
        cmocka_unit_test(test_hostile_query_answers),
        cmocka_unit_test(test_private_control_ops),
        cmocka_unit_test(test_http_only_for_loopback),
        cmocka_unit_test(test_init_enables_ttl),
    };
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret/TEST", 1);
    unsetenv("AWS_SESSION_TOKEN");
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
