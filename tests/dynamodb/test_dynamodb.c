/*
 * The DynamoDB backend against a real dynalite, started by
 * tests/dynamodb/with-dynalite.sh, which exports PT_TEST_DYNAMODB_ENDPOINT.
 * Without it the test fails: it never skips.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "dynamodb/ddb_fixture.h"

static const int64_t T0 = 1736951400123456LL; /* 2025-01-15T14:30:00.123456 */

static void
test_init_idempotent_and_missing_table(void **state)
{
    pt_storage *s = open_backend("pt-never-created", 0);
    pt_record_list *l = NULL;
    (void)state;
    /* no table: a clear ResourceNotFound naming the table */
    assert_int_equal(s->methods->query(s, &l, "2025-01-15", 10, 0),
                     PT_ENOTFOUND);
    assert_non_null(strstr(s->errmsg, "ResourceNotFoundException"));
    assert_non_null(strstr(s->errmsg, "pt-never-created"));
    assert_non_null(strstr(s->errmsg, "init-storage"));
    s->methods->close(s);

    /* a table with another key schema is refused, never modified */
    s = open_backend("pt-other-schema", 0);
    pt_ddb_client *c = NULL;
    assert_int_equal(pt__dynamodb_client((pt__dynamodb *)(void *)s, &c), PT_OK);
    static const char other[] =
        "{\"TableName\":\"pt-other-schema\",\"AttributeDefinitions\":[{"
        "\"AttributeName\":\"id\",\"AttributeType\":\"S\"}],\"KeySchema\":"
        "[{\"AttributeName\":\"id\",\"KeyType\":\"HASH\"}],\"BillingMode\":"
        "\"PAY_PER_REQUEST\"}";
    assert_int_equal(
        pt_ddb_call(c, "CreateTable", other, strlen(other), NULL, NULL), PT_OK);
    assert_int_equal(s->methods->init(s), PT_EBACKEND);
    assert_non_null(strstr(s->errmsg, "another key schema"));
    s->methods->close(s);

    ddb_warn_log[0] = '\0';
    s = fresh_backend(30); /* CREATING -> ACTIVE, then TTL (unsupported) */
    assert_non_null(strstr(ddb_warn_log, "no TTL API"));
    assert_int_equal(s->methods->init(s), PT_OK); /* idempotent */
    l = query(s, "2025-01-15", 0, 0);
    assert_int_equal(l->count, 0);
    pt_record_list_free(l);
    s->methods->close(s);
}

/* Every record of l is stored in [t, t + span) (or the span before the
 * end of t's day), under t's date. */
static void
assert_within_span(const pt_record_list *l, int64_t t)
{
    int64_t day_end = (t / 86400000000LL + 1) * 86400000000LL;
    int64_t lo = t, hi = t + PT__DDB_SPAN_US;
    char date[PT_DATE_LEN + 1];
    if (hi > day_end) {
        hi = day_end;
        lo = day_end - PT__DDB_SPAN_US;
    }
    pt__format_date(date, t);
    for (size_t i = 0; i < l->count; i++) {
        int64_t us = 0;
        assert_int_equal(pt__parse_iso8601(l->records[i].timestamp, &us),
                         PT_OK);
        if (us < lo || us >= hi)
            fail_msg("%s is outside the record's span",
                     l->records[i].timestamp);
        assert_string_equal(l->records[i].date, date);
    }
}

/* Each record of l (all of batch b's) is stored no earlier than its own
 * time and less than max_shift after it; returns the largest shift. */
static int64_t
assert_shift_below(const pt_record_list *l, const batch *b, int64_t max_shift)
{
    int64_t largest = 0;
    for (size_t i = 0; i < l->count; i++) {
        const pt_record *r = &l->records[i];
        size_t k = 0;
        while (k < b->n && strcmp(b->sids[k], r->session_id) != 0)
            k++;
        assert_true(k < b->n);
        int64_t own = 0, at = 0;
        pt__parse_iso8601(b->records[k].timestamp, &own);
        pt__parse_iso8601(r->timestamp, &at);
        if (at < own || at - own >= max_shift)
            fail_msg("%s stored at %s", b->records[k].timestamp, r->timestamp);
        if (at - own > largest)
            largest = at - own;
    }
    return largest;
}

/* The record of session sid in l. */
static const pt_record *
find_session(const pt_record_list *l, const char *sid)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->records[i].session_id &&
            strcmp(l->records[i].session_id, sid) == 0)
            return &l->records[i];
    fail_msg("session %s not stored", sid);
    return NULL;
}

/* A current time (leases alone keep records apart) or an old one (records
 * are looked up first): microseconds into a second, so that a span never
 * crosses a day at the test's time. */
static int64_t
now_time(void)
{
    int64_t t = pt__now_us();
    if (t % 86400000000LL > 86400000000LL - 5000000LL)
        t -= 10000000LL; /* a few seconds before midnight: stay in the day */
    return t;
}

static void
same_time_case(int64_t when, int current)
{
    pt_storage *s = fresh_backend(0);
    batch b;
    size_t written = 0, total = 0;
    struct rusage r0, r1;
    make_batch(&b, 1000, when, "a", 0);
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = pt__monotonic_us();
    for (size_t off = 0; off < b.n; off += 100) {
        assert_int_equal(s->methods->put(s, b.ptrs + off, 100, 0, &written),
                         PT_OK);
        assert_int_equal(written, 100);
        total += written;
    }
    assert_int_equal(total, 1000);
    int64_t t1 = pt__monotonic_us();
    getrusage(RUSAGE_SELF, &r1);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
                 (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                 (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    print_message("1000 same-time records: %.1f ms wall, %.1f us CPU/record "
                  "(dynalite on the same cores)\n",
                  (double)(t1 - t0) / 1000.0, cpu / 1000.0);

    pt_record_list *l = query(s, b.date, 0, 0);
    assert_int_equal(l->count, 1000); /* > 1 MB: several server pages */
    assert_newest_first_unique(l);
    assert_within_span(l, when);
    for (size_t i = 0; i < b.n; i += 97)
        assert_int_equal(count_session(l, b.sids[i]), 1);
    /* records have their fields */
    const pt_record *first = find_session(l, b.sids[0]);
    assert_int_equal(first->link_count, 2);
    assert_string_equal(first->titles[1], "Song Title 2");
    assert_string_equal(first->policy, "test-0123abcd");
    pt_record_list_free(l);

    pt__dynamodb_stats st = stats_of(s);
    assert_int_equal(st.conditional, 0);
    assert_int_equal(st.batched, 1000);
    assert_int_equal(st.batch_requests, 40); /* 25 per request */
    assert_true(st.lease_claims >= 1);
    /* current records go out on their leases alone; old ones are looked up
     * first (and none is found) */
    assert_int_equal(st.checked, current ? 0 : 1000);
    assert_int_equal(st.found, 0);
    /* replay (also in another batch shape): nothing is stored twice */
    assert_int_equal(s->methods->put(s, b.ptrs, 1000, 1, &written), PT_OK);
    assert_int_equal(written, 1000);
    assert_int_equal(s->methods->put(s, b.ptrs + 500, 1, 1, &written), PT_OK);
    assert_int_equal(s->methods->put(s, b.ptrs + 999, 1, 1, &written), PT_OK);
    /* the same record twice in one batch is still stored once */
    const pt_record *twice[] = {b.ptrs[7], b.ptrs[7], b.ptrs[8], b.ptrs[7]};
    assert_int_equal(s->methods->put(s, twice, 4, 1, &written), PT_OK);
    assert_int_equal(written, 4);
    /* replay in another order, mixed with records never stored */
    batch fresh;
    make_batch(&fresh, 5, when, "n", 0);
    const pt_record *mixed[105];
    for (size_t i = 0; i < 100; i++)
        mixed[i] = b.ptrs[999 - i * 3];
    for (size_t i = 0; i < 5; i++)
        mixed[100 + i] = fresh.ptrs[i];
    assert_int_equal(s->methods->put(s, mixed, 105, 1, &written), PT_OK);
    assert_int_equal(written, 105);
    l = query(s, b.date, 0, 0);
    assert_int_equal(l->count, 1005);
    assert_newest_first_unique(l);
    for (size_t i = 0; i < b.n; i += 37)
        assert_int_equal(count_session(l, b.sids[i]), 1);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(count_session(l, fresh.sids[i]), 1);
    assert_within_span(l, when);
    pt_record_list_free(l);
    st = stats_of(s);
    assert_int_equal(st.found, 1000 + 1 + 1 + 2 + 100);
    assert_int_equal(st.conditional, 0);
    free_batch(&fresh);
    free_batch(&b);
    s->methods->close(s);
}

static void
test_same_time_no_loss_and_replay(void **state)
{
    (void)state;
    same_time_case(T0, 0);
    same_time_case(now_time(), 1);
}

/* Distinct times, batches of 25 (the pipeline's default): the common path.
 * Prints the client's CPU per record for the record. */
static void
test_distinct_times_cpu(void **state)
{
    pt_storage *s = fresh_backend(0);
    batch b;
    size_t w;
    struct rusage r0, r1;
    (void)state;
    int64_t when = now_time() - 20000; /* the last record's span fits */
    make_batch(&b, 2000, when, "d", 0);
    char(*ts)[PT_TIMESTAMP_LEN + 1] = calloc(b.n, sizeof(*ts));
    for (size_t i = 0; i < b.n; i++) {
        pt__format_timestamp(ts[i], when + (int64_t)i * 7);
        b.records[i].timestamp = ts[i];
    }
    getrusage(RUSAGE_SELF, &r0);
    int64_t t0 = pt__monotonic_us();
    for (size_t off = 0; off < b.n; off += 25) {
        assert_int_equal(s->methods->put(s, b.ptrs + off, 25, 0, &w), PT_OK);
        assert_int_equal(w, 25);
    }
    int64_t t1 = pt__monotonic_us();
    getrusage(RUSAGE_SELF, &r1);
    double cpu = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
                 (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
                 (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                 (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    double user = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
                  (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec);
    print_message("2000 records, batches of 25: %.1f ms wall (%.0f/s), %.1f "
                  "us client CPU/record (%.1f user)\n",
                  (double)(t1 - t0) / 1000.0, 2000.0 * 1e6 / (double)(t1 - t0),
                  cpu / 2000.0, user / 2000.0);
    pt__dynamodb_stats st = stats_of(s);
    assert_int_equal(st.batch_requests, 80); /* one per put of 25 */
    assert_int_equal(st.checked, 0);
    assert_int_equal(st.conditional, 0);
    assert_int_equal(st.unprocessed, 0);
    pt_record_list *l = query(s, b.date, 0, 0);
    assert_int_equal(l->count, 2000);
    assert_newest_first_unique(l);
    /* 2000 records in 14 ms from one process: it leases a few more slot
     * classes to keep them near their time, but not one per burst, so
     * they move by tens of ms, always within their span */
    int64_t shift = assert_shift_below(l, &b, PT__DDB_SPAN_US);
    assert_true(st.lease_claims <= 2 * PT__DDB_NEAR_LEASES);
    print_message("largest shift %lld us, %llu leases\n", (long long)shift,
                  (unsigned long long)st.lease_claims);
    pt_record_list_free(l);
    free(ts);
    free_batch(&b);
    s->methods->close(s);
}

static void
two_processes_case(int64_t when)
{
    pt_storage *s = fresh_backend(0);
    const char *table = NULL;
    pid_t pids[2];
    s->methods->control(s, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    for (int p = 0; p < 2; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            pt_storage *c = open_backend(table, 0);
            batch b;
            size_t w = 0;
            int ok = 1;
            make_batch(&b, 300, when, p ? "q" : "p", 0);
            for (size_t off = 0; off < b.n && ok; off += 25)
                ok = c->methods->put(c, b.ptrs + off, 25, 0, &w) == PT_OK &&
                     w == 25;
            c->methods->close(c);
            free_batch(&b);
            _exit(ok ? 0 : 1);
        }
    }
    for (int p = 0; p < 2; p++) {
        int st = 0;
        waitpid(pids[p], &st, 0);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    char date[PT_DATE_LEN + 1];
    pt__format_date(date, when);
    pt_record_list *l = query(s, date, 0, 0);
    assert_int_equal(l->count, 600);
    assert_newest_first_unique(l);
    assert_within_span(l, when);
    pt_record_list_free(l);
    s->methods->close(s);
}

static void
test_two_processes(void **state)
{
    (void)state;
    two_processes_case(T0);
    two_processes_case(now_time());
}

/* A backend used on both sides of a fork(): the child must not reuse the
 * parent's leases, or both would hand out the same slots. */
static void
test_fork_keeps_slots_apart(void **state)
{
    pt_storage *s = fresh_backend(0);
    int64_t when = now_time();
    batch parent, child;
    size_t w = 0;
    (void)state;
    make_batch(&parent, 50, when, "P", 0);
    make_batch(&child, 50, when, "C", 0);
    assert_int_equal(s->methods->put(s, parent.ptrs, 25, 0, &w), PT_OK);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = s->methods->put(s, child.ptrs, 50, 0, &w) == PT_OK && w == 50;
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(s->methods->put(s, parent.ptrs + 25, 25, 0, &w), PT_OK);
    pt_record_list *l = query(s, parent.date, 0, 0);
    assert_int_equal(l->count, 100);
    assert_newest_first_unique(l);
    pt_record_list_free(l);
    free_batch(&parent);
    free_batch(&child);
    s->methods->close(s);
}

/* Write items straight into the table, as another program would: item(k,
 * out) writes the k-th Item map (JSON) into out; 25 per BatchWriteItem. */
static void
write_raw_items(pt_storage *s, int first, int end,
                void (*item)(int k, pt_buf *out, const void *arg),
                const void *arg)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *c = NULL;
    assert_int_equal(pt__dynamodb_client(d, &c), PT_OK);
    for (int k = first; k < end; k += 25) {
        pt_buf body = PT_BUF_INIT;
        pt_buf_printf(&body, "{\"RequestItems\":{\"%s\":[", d->table);
        for (int i = k; i < k + 25 && i < end; i++) {
            pt_buf_puts(&body, i == k ? "{\"PutRequest\":{\"Item\":"
                                      : ",{\"PutRequest\":{\"Item\":");
            item(i, &body, arg);
            pt_buf_puts(&body, "}}");
        }
        pt_buf_puts(&body, "]}}");
        assert_int_equal(
            pt_ddb_call(c, "BatchWriteItem", body.ptr, body.len, NULL, NULL),
            PT_OK);
        pt_buf_free(&body);
    }
}

/* Class k of the minute starting at `arg` (a timestamp), leased by
 * another writer. */
static void
foreign_lease(int k, pt_buf *out, const void *arg)
{
    pt_buf_printf(out,
                  "{\"date\":{\"S\":\"" PT__DDB_LEASE_PARTITION
                  "\"},\"timestamp\":{\"S\":\"%s/%04d\"},\"owner\":{\"S\":"
                  "\"other\"}}",
                  (const char *)arg, k);
}

/* A seed-shaped item at T0 + k µs. */
static void
seed_item(int k, pt_buf *out, const void *arg)
{
    char ts[PT_TIMESTAMP_LEN + 1];
    (void)arg;
    pt__format_timestamp(ts, T0 + k);
    pt_buf_printf(out,
                  "{\"date\":{\"S\":\"2025-01-15\"},\"timestamp\":{\"S\":"
                  "\"%s\"}}",
                  ts);
}

/* Every slot class of the minute leased by someone else: records go out
 * one by one as conditional PutItems to class 0, and nothing is lost. */
static void
test_no_lease_left(void **state)
{
    pt_storage *s = fresh_backend(0);
    int64_t when = now_time();
    int64_t window = when / PT__DDB_WINDOW_US;
    char start[PT_TIMESTAMP_LEN + 1];
    batch b;
    size_t w = 0;
    (void)state;
    /* the span of `when` must stay in its minute for this test */
    if (when + PT__DDB_SPAN_US > (window + 1) * PT__DDB_WINDOW_US) {
        when -= 2 * PT__DDB_SPAN_US;
        window = when / PT__DDB_WINDOW_US;
    }
    pt__format_timestamp(start, window * PT__DDB_WINDOW_US);
    write_raw_items(s, 1, PT__DDB_CLASSES, foreign_lease, start);
    ddb_warn_log[0] = '\0';
    make_batch(&b, 30, when, "x", 0);
    assert_int_equal(s->methods->put(s, b.ptrs, 30, 0, &w), PT_OK);
    assert_int_equal(w, 30);
    assert_non_null(strstr(ddb_warn_log, "no slot lease left"));
    pt__dynamodb_stats st = stats_of(s);
    assert_int_equal(st.conditional, 30);
    assert_int_equal(st.batched, 0);
    assert_int_equal(st.conflicts, 0); /* spread over class 0's slots */
    /* a later batch at the same time walks past them, one conflict each */
    batch more;
    make_batch(&more, 5, when, "y", 0);
    assert_int_equal(s->methods->put(s, more.ptrs, 5, 0, &w), PT_OK);
    assert_int_equal(w, 5);
    assert_true(stats_of(s).conflicts >= 30);
    /* replayed: found, not written again */
    assert_int_equal(s->methods->put(s, b.ptrs, 30, 1, &w), PT_OK);
    assert_int_equal(stats_of(s).found, 30);
    pt_record_list *l = query(s, b.date, 0, 0);
    assert_int_equal(l->count, 35);
    assert_newest_first_unique(l);
    assert_within_span(l, when);
    for (size_t i = 0; i < l->count; i++) {
        int64_t us = 0;
        pt__parse_iso8601(l->records[i].timestamp, &us);
        assert_int_equal(us % PT__DDB_CLASSES, 0); /* class 0 only */
    }
    pt_record_list_free(l);
    free_batch(&more);
    free_batch(&b);
    s->methods->close(s);
}

/* The lease items in the table, and their smallest ttl. */
static size_t
lease_items(pt_storage *s, int64_t *min_ttl)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *c = NULL;
    pt_buf body = PT_BUF_INIT, resp = PT_BUF_INIT;
    size_t n = 0;
    assert_int_equal(pt__dynamodb_client(d, &c), PT_OK);
    pt_buf_printf(&body,
                  "{\"TableName\":\"%s\",\"KeyConditionExpression\":\"#d = "
                  ":d\",\"ExpressionAttributeNames\":{\"#d\":\"date\"},"
                  "\"ExpressionAttributeValues\":{\":d\":{\"S\":"
                  "\"" PT__DDB_LEASE_PARTITION "\"}},\"ConsistentRead\":true}",
                  d->table);
    assert_int_equal(pt_ddb_call(c, "Query", body.ptr, body.len, &resp, NULL),
                     PT_OK);
    cJSON *doc = cJSON_ParseWithLength(resp.ptr, resp.len);
    const cJSON *it;
    *min_ttl = INT64_MAX;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(doc, "Items"))
    {
        int64_t ttl = pt__dynamodb_item_ttl(it);
        if (ttl < *min_ttl)
            *min_ttl = ttl;
        n++;
    }
    cJSON_Delete(doc);
    pt_buf_free(&body);
    pt_buf_free(&resp);
    return n;
}

static void
test_limit_pagination_ttl_purge(void **state)
{
    pt_storage *s = fresh_backend(0);
    batch live, old;
    size_t w;
    unsigned int page = 7;
    int64_t now = T0 / 1000000 + 100;
    uint64_t removed = 0;
    (void)state;
    make_batch(&live, 40, T0, "l", now + 86400);
    make_batch(&old, 30, T0 + 5000, "o", now - 10); /* newer, but expired */
    assert_int_equal(s->methods->put(s, live.ptrs, 40, 0, &w), PT_OK);
    assert_int_equal(s->methods->put(s, old.ptrs, 30, 0, &w), PT_OK);
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_PAGE_LIMIT, &page),
                     PT_OK);
    /* small pages force LastEvaluatedKey; expired records are skipped even
     * though they sort first */
    pt_record_list *l = query(s, live.date, 15, now);
    assert_int_equal(l->count, 15);
    assert_newest_first_unique(l);
    for (size_t i = 0; i < l->count; i++)
        assert_true(l->records[i].ttl == now + 86400);
    pt_record_list_free(l);
    l = query(s, live.date, 0, now);
    assert_int_equal(l->count, 40);
    pt_record_list_free(l);
    l = query(s, live.date, 0, now - 100); /* before expiry: all */
    assert_int_equal(l->count, 70);
    pt_record_list_free(l);

    assert_int_equal(s->methods->purge(s, now, &removed), PT_OK);
    assert_int_equal(removed, 30);
    l = query(s, live.date, 0, now - 100);
    assert_int_equal(l->count, 40);
    pt_record_list_free(l);
    assert_int_equal(s->methods->purge(s, now, &removed), PT_OK);
    assert_int_equal(removed, 0);
    /* the leases of those 2025 minutes were claimed today: they live a
     * month from now, not from their window (they would be born expired) */
    int64_t min_ttl = 0;
    assert_true(lease_items(s, &min_ttl) >= 1);
    assert_true(min_ttl >= pt__now_us() / 1000000 + 29 * 86400);
    /* a purge with a later `now` removes the records, never a lease the
     * clock says is alive (a writer may hold it) */
    size_t leases = lease_items(s, &min_ttl);
    assert_int_equal(s->methods->purge(s, min_ttl + 40 * 86400, &removed),
                     PT_OK);
    assert_int_equal(removed, 40);
    assert_int_equal(lease_items(s, &min_ttl), leases);
    /* an expired one goes, and is not counted as a record */
    pt_ddb_client *c = NULL;
    pt_buf body = PT_BUF_INIT;
    assert_int_equal(pt__dynamodb_client((pt__dynamodb *)(void *)s, &c), PT_OK);
    pt_buf_printf(&body,
                  "{\"TableName\":\"%s\",\"Item\":{\"date\":{\"S\":"
                  "\"" PT__DDB_LEASE_PARTITION
                  "\"},\"timestamp\":{\"S\":\"2020-01-01T00:00:00.000000+00:"
                  "00/0007\"},\"ttl\":{\"N\":\"1600000000\"}}}",
                  ((pt__dynamodb *)(void *)s)->table);
    assert_int_equal(pt_ddb_call(c, "PutItem", body.ptr, body.len, NULL, NULL),
                     PT_OK);
    pt_buf_free(&body);
    assert_int_equal(lease_items(s, &min_ttl), leases + 1);
    assert_int_equal(s->methods->purge(s, pt__now_us() / 1000000, &removed),
                     PT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(lease_items(s, &min_ttl), leases);
    free_batch(&live);
    free_batch(&old);
    s->methods->close(s);
}

/* A record DynamoDB refuses (over 400 KB) in the middle of a batch: the
 * BatchWriteItem is refused as a whole, so nothing is stored and *written
 * says so. */
static void
test_partial_failure_written(void **state)
{
    pt_storage *s = fresh_backend(0);
    batch b;
    size_t w = 99;
    char *huge = malloc(500 * 1024);
    (void)state;
    memset(huge, 'x', 500 * 1024 - 1);
    huge[500 * 1024 - 1] = '\0';
    make_batch(&b, 10, T0, "f", 0);
    for (size_t i = 0; i < b.n; i++)
        b.records[i].timestamp = NULL; /* distinct times below */
    char ts[10][PT_TIMESTAMP_LEN + 1];
    for (size_t i = 0; i < b.n; i++) {
        pt__format_timestamp(ts[i], T0 + (int64_t)i);
        b.records[i].timestamp = ts[i];
    }
    b.records[3].user_agent = huge;
    assert_int_equal(s->methods->put(s, b.ptrs, b.n, 0, &w), PT_EBACKEND);
    assert_int_equal(w, 0);
    assert_non_null(strstr(s->errmsg, "ValidationException"));
    uint64_t retries = 99;
    s->methods->control(s, PT_STORAGE_CTL_RETRIES, &retries);
    assert_int_equal(retries, 0); /* validation errors are never retried */
    pt_record_list *l = query(s, b.date, 0, 0);
    assert_int_equal(l->count, 0);
    pt_record_list_free(l);
    assert_int_equal(s->methods->control(s, 0x7777, NULL), PT_EUNSUPPORTED);
    free(huge);
    free_batch(&b);
    s->methods->close(s);
}

/* An item in the seed's shape (no session_id, ttl or policy), written
 * straight through the API, is read back; a privtrack record with the same
 * key does not overwrite it. */
static void
test_seed_item_and_conflict(void **state)
{
    pt_storage *s = fresh_backend(0);
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *c;
    const char *table = NULL;
    pt_buf body = PT_BUF_INIT;
    batch b;
    size_t w;
    (void)state;
    s->methods->control(s, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    assert_int_equal(pt__dynamodb_client(d, &c), PT_OK);
    pt_buf_printf(&body,
                  "{\"TableName\":\"%s\",\"Item\":{\"date\":{\"S\":"
                  "\"2025-01-15\"},\"timestamp\":{\"S\":"
                  "\"2025-01-15T14:30:00.123456+00:00\"},\"client_ip\":{\"S\":"
                  "\"192.0.2.1\"},\"num_files_downloaded\":{\"N\":\"4\"},"
                  "\"titles\":{\"L\":[{\"S\":\"A\"}]},\"has_errors\":{"
                  "\"BOOL\":true}}}",
                  table);
    assert_int_equal(pt_ddb_call(c, "PutItem", body.ptr, body.len, NULL, NULL),
                     PT_OK);
    /* more of its items on the next 249 microseconds: every slot class
     * has a taken slot right at the record's time, whichever it leases */
    pt_buf_free(&body);
    write_raw_items(s, 1, PT__DDB_CLASSES, seed_item, NULL);
    make_batch(&b, 1, T0, "s", 0);
    assert_int_equal(s->methods->put(s, b.ptrs, 1, 0, &w), PT_OK);
    pt_record_list *l = query(s, "2025-01-15", 0, 0);
    assert_int_equal(l->count, 1 + PT__DDB_CLASSES);
    const pt_record *seed = &l->records[l->count - 1];
    assert_string_equal(seed->timestamp, "2025-01-15T14:30:00.123456+00:00");
    assert_null(seed->session_id);
    assert_null(seed->policy);
    assert_string_equal(seed->client_ip, "192.0.2.1");
    assert_int_equal(seed->num_files_downloaded, 4);
    assert_int_equal(seed->title_count, 1);
    assert_true(seed->has_errors);
    /* the record went past all of them, within its span */
    const pt_record *own = find_session(l, b.sids[0]);
    int64_t at = 0;
    pt__parse_iso8601(own->timestamp, &at);
    assert_true(at >= T0 + PT__DDB_CLASSES && at < T0 + PT__DDB_SPAN_US);
    pt_record_list_free(l);
    free_batch(&b);
    s->methods->close(s);
}

/* At the last microsecond of a day, spans move back in time so the
 * date never changes; a replay still finds every record. */
static void
test_day_end(void **state)
{
    pt_storage *s = fresh_backend(0);
    batch b;
    size_t w;
    const int64_t last_us = 1736985599999999LL; /* 2025-01-15T23:59:59.999999 */
    (void)state;
    make_batch(&b, 3, last_us, "e", 0);
    assert_int_equal(s->methods->put(s, b.ptrs, 3, 0, &w), PT_OK);
    assert_int_equal(s->methods->put(s, b.ptrs, 3, 1, &w), PT_OK);
    const pt_record *rev[] = {b.ptrs[2], b.ptrs[1]};
    assert_int_equal(s->methods->put(s, rev, 2, 1, &w), PT_OK);
    pt_record_list *l = query(s, "2025-01-15", 0, 0);
    assert_int_equal(l->count, 3);
    assert_newest_first_unique(l);
    assert_within_span(l, last_us); /* the last second of the day */
    for (size_t i = 0; i < 3; i++)
        assert_int_equal(count_session(l, b.sids[i]), 1);
    pt_record_list_free(l);
    l = query(s, "2025-01-16", 0, 0);
    assert_int_equal(l->count, 0);
    pt_record_list_free(l);
    free_batch(&b);
    s->methods->close(s);
}

static void
test_credentials_missing(void **state)
{
    char *saved_id = strdup(getenv("AWS_ACCESS_KEY_ID"));
    char *saved_home = strdup(getenv("HOME") ? getenv("HOME") : "/");
    pt_storage *s;
    pt_record_list *l = NULL;
    (void)state;
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("HOME", "/nonexistent-pt", 1);
    setenv("AWS_PROFILE", "pt-none", 1);
    s = open_backend("pt-creds", 0); /* open needs no credentials */
    assert_int_equal(s->methods->query(s, &l, "2025-01-15", 1, 0),
                     PT_ECREDENTIALS);
    assert_non_null(strstr(s->errmsg, "AWS_ACCESS_KEY_ID"));
    assert_null(strstr(s->errmsg, getenv("AWS_SECRET_ACCESS_KEY")));
    s->methods->close(s);
    setenv("AWS_ACCESS_KEY_ID", saved_id, 1);
    setenv("HOME", saved_home, 1);
    unsetenv("AWS_PROFILE");
    free(saved_id);
    free(saved_home);
}

/* ---- scan(): a range of dates, several Queries in flight ---------------- */

typedef struct scanned {
    char keys[256][80]; /* "date timestamp" in delivery order */
    size_t count;
    unsigned int fields;
} scanned;

static int
scanned_add(const pt_record *r, void *userdata)
{
    scanned *sc = userdata;
    assert_true(sc->count < 256);
    snprintf(sc->keys[sc->count++], sizeof(sc->keys[0]), "%s %s", r->date,
             r->timestamp);
    if (sc->fields == PT_FIELD_CLIENT_IP) {
        /* ProjectionExpression: only what was asked for came back */
        assert_string_equal(r->client_ip, "203.0.113.0");
        assert_null(r->session_id);
        assert_null(r->user_agent);
        assert_null(r->titles);
        assert_null(r->policy);
        assert_int_equal(r->num_files_downloaded, 0);
    } else {
        assert_non_null(r->session_id);
        assert_int_equal(r->title_count, 2);
    }
    return PT_OK;
}

static int
scan_range(pt_storage *s, const char *from, const char *to, unsigned int flags,
           size_t limit, int64_t now, scanned *out)
{
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    o.from = from;
    o.to = to;
    o.flags = flags;
    o.limit = limit;
    o.now = now;
    o.fields = out->fields ? out->fields : PT_FIELD_ALL;
    return s->methods->scan(s, &o, scanned_add, out);
}

static void
test_scan_range(void **state)
{
    pt_storage *s = fresh_backend(0);
    const int per_day[7] = {5, 0, 3, 9, 1, 4, 6}; /* 2025-01-15 .. 21 */
    int64_t now = T0 / 1000000 + 100;
    unsigned int page = 2;
    scanned *up = calloc(1, sizeof(*up)), *down = calloc(1, sizeof(*down));
    scanned *few = calloc(1, sizeof(*few)), *ip = calloc(1, sizeof(*ip));
    scanned *again = calloc(1, sizeof(*again));
    pt__dynamodb_stats before, after;
    batch b[7], dead;
    size_t w, total = 0;
    (void)state;

    for (int d = 0; d < 7; d++) {
        make_batch(&b[d], (size_t)per_day[d] + 1, T0 + d * 86400000000LL, "s",
                   now + 1000);
        if (per_day[d])
            assert_int_equal(
                s->methods->put(s, b[d].ptrs, (size_t)per_day[d], 0, &w),
                PT_OK);
        total += (size_t)per_day[d];
    }
    make_batch(&dead, 2, T0 + 3 * 86400000000LL + 7, "x", now - 1);
    assert_int_equal(s->methods->put(s, dead.ptrs, 2, 0, &w), PT_OK);
    /* Pages of 2 items: every date but the smallest needs LastEvaluatedKey,
     * while four dates are in flight. */
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_PAGE_LIMIT, &page),
                     PT_OK);
    assert_int_equal(scan_range(s, "2025-01-13", "2025-01-23", 0, 0, now, up),
                     PT_OK);
    assert_int_equal(up->count, total); /* the expired two are not there */
    for (size_t i = 1; i < up->count; i++)
        if (strcmp(up->keys[i - 1], up->keys[i]) >= 0)
            fail_msg("not oldest first at %zu: %s then %s", i, up->keys[i - 1],
                     up->keys[i]);
    assert_int_equal(scan_range(s, "2025-01-13", "2025-01-23",
                                PT_SCAN_NEWEST_FIRST, 0, now, down),
                     PT_OK);
    assert_int_equal(down->count, total);
    for (size_t i = 0; i < total; i++)
        assert_string_equal(down->keys[i], up->keys[total - 1 - i]);
    /* A limit stops across dates, newest first. */
    assert_int_equal(scan_range(s, "2025-01-15", "2025-01-21",
                                PT_SCAN_NEWEST_FIRST, 8, now, few),
                     PT_OK);
    assert_int_equal(few->count, 8);
    for (size_t i = 0; i < 8; i++)
        assert_string_equal(few->keys[i], down->keys[i]);
    ip->fields = PT_FIELD_CLIENT_IP;
    assert_int_equal(scan_range(s, "2025-01-15", "2025-01-21", 0, 0, now, ip),
                     PT_OK);
    assert_int_equal(ip->count, total);
    /* One Query per date (each fits one page now), SCAN_DATES (4) of them
     * in flight at once: 11 dates are 11 Queries in 3 rounds, not 11. */
    page = 0;
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_PAGE_LIMIT, &page),
                     PT_OK);
    assert_int_equal(
        s->methods->control(s, PT__DYNAMODB_CTL_GET_STATS, &before), PT_OK);
    assert_int_equal(
        scan_range(s, "2025-01-13", "2025-01-23", 0, 0, now, again), PT_OK);
    assert_int_equal(again->count, total);
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_GET_STATS, &after),
                     PT_OK);
    assert_int_equal(after.queries - before.queries, 11);
    assert_int_equal(after.query_rounds - before.query_rounds, 3);
    assert_int_equal(after.query_in_flight, 4);
    for (int d = 0; d < 7; d++)
        free_batch(&b[d]);
    free_batch(&dead);
    free(up);
    free(down);
    free(few);
    free(ip);
    free(again);
    s->methods->close(s);
}

typedef struct rewritten {
    char last[80];      /* "date timestamp" of the last record handed */
    char dates[16][11]; /* dates reported, in order */
    uint64_t seen[16];  /* ... and their counts */
    uint64_t deleted[16];
    size_t ndates, handed, asked;
} rewritten;

/* Delete every other record handed over; records come date by date, in
 * key order, and never from a date already reported. */
static int
rewrite_every_other(const pt_record *r, unsigned int *action, void *userdata)
{
    rewritten *rw = userdata;
    char key[80];

    snprintf(key, sizeof(key), "%s %s", r->date, r->timestamp);
    if (strcmp(rw->last, key) >= 0)
        fail_msg("%s handed after %s", key, rw->last);
    if (rw->ndates && strcmp(r->date, rw->dates[rw->ndates - 1]) <= 0)
        fail_msg("%s handed after its date was reported", key);
    strcpy(rw->last, key);
    *action = rw->handed++ % 2 ? PT_REWRITE_KEEP : PT_REWRITE_DELETE;
    rw->asked += *action == PT_REWRITE_DELETE;
    return PT_OK;
}

static void
rewrite_report(const pt_rewrite_day *day, void *userdata)
{
    rewritten *rw = userdata;

    assert_int_equal(day->rc, PT_OK);
    assert_true(rw->ndates < 16);
    snprintf(rw->dates[rw->ndates], sizeof(rw->dates[0]), "%s", day->date);
    rw->seen[rw->ndates] = day->seen;
    rw->deleted[rw->ndates++] = day->deleted;
}

/* rewrite() over a range, in rounds of Queries (pages of 2 items, so
 * most dates take several), hands the records over date by
 * date in key order, reports each date once its records are done, and
 * deletes exactly what it was asked to (batches spanning pages). */
static void
test_rewrite_range(void **state)
{
    pt_storage *s = fresh_backend(0);
    const int per_day[7] = {5, 0, 3, 9, 1, 4, 6}; /* 2025-01-15 .. 21 */
    int64_t now = T0 / 1000000 + 100;
    unsigned int page = 2;
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
    rewritten *rw = calloc(1, sizeof(*rw));
    scanned *left = calloc(1, sizeof(*left));
    pt__dynamodb_stats st;
    batch b[7];
    size_t w, total = 0;
    uint64_t deleted = 0;
    (void)state;

    for (int d = 0; d < 7; d++) {
        make_batch(&b[d], (size_t)per_day[d] + 1, T0 + d * 86400000000LL, "r",
                   now + 1000);
        spread_batch(&b[d], T0 + d * 86400000000LL, 1000);
        if (per_day[d])
            assert_int_equal(
                s->methods->put(s, b[d].ptrs, (size_t)per_day[d], 0, &w),
                PT_OK);
        total += (size_t)per_day[d];
    }
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_PAGE_LIMIT, &page),
                     PT_OK);
    o.from = "2025-01-13";
    o.to = "2025-01-23";
    assert_int_equal(
        s->methods->rewrite(s, &o, rewrite_every_other, rewrite_report, rw),
        PT_OK);
    assert_int_equal(rw->handed, total);
    assert_int_equal(rw->ndates, 11); /* every date, the empty ones too */
    for (size_t i = 0; i < rw->ndates; i++) {
        int d = (int)i - 2; /* 2025-01-13 is two days before b[0] */
        char want[11];
        snprintf(want, sizeof(want), "2025-01-%02zu", 13 + i);
        assert_string_equal(rw->dates[i], want);
        assert_int_equal(rw->seen[i], d >= 0 && d < 7 ? per_day[d] : 0);
        deleted += rw->deleted[i];
    }
    assert_int_equal(deleted, rw->asked);
    assert_int_equal(deleted, (total + 1) / 2);
    /* every date was queried, most of them page after page */
    st = stats_of(s);
    assert_true(st.queries > 11);
    assert_true(st.query_rounds > 0 && st.query_rounds <= st.queries);
    page = 0;
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_PAGE_LIMIT, &page),
                     PT_OK);
    assert_int_equal(scan_range(s, "2025-01-13", "2025-01-23", 0, 0, now, left),
                     PT_OK);
    assert_int_equal(left->count, total - deleted);
    for (int d = 0; d < 7; d++)
        free_batch(&b[d]);
    free(rw);
    free(left);
    s->methods->close(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_idempotent_and_missing_table),
        cmocka_unit_test(test_same_time_no_loss_and_replay),
        cmocka_unit_test(test_distinct_times_cpu),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_fork_keeps_slots_apart),
        cmocka_unit_test(test_no_lease_left),
        cmocka_unit_test(test_limit_pagination_ttl_purge),
        cmocka_unit_test(test_scan_range),
        cmocka_unit_test(test_rewrite_range),
        cmocka_unit_test(test_partial_failure_written),
        cmocka_unit_test(test_seed_item_and_conflict),
        cmocka_unit_test(test_day_end),
        cmocka_unit_test(test_credentials_missing),
    };
    if (ddb_fixture_init() != 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
