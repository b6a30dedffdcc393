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

/* ---- pages ----------------------------------------------------------------
 * Every Query and Scan here follows LastEvaluatedKey the same way, and
 * refuses a key the server repeats (it would page forever). */
int
pt__dynamodb_pages(pt__dynamodb *d, const char *op, pt__ddb_page_body_fn body,
                   pt__ddb_page_take_fn take, void *ctx)
{
    char *start_key = NULL, *prev_key = NULL;
    int rc = PT_OK, more = 1;

    while (rc == PT_OK && more) {
        pt_buf req = PT_BUF_INIT, resp = PT_BUF_INIT;
        cJSON *doc = NULL;
        body(&req, start_key, ctx);
        rc = req.oom
                 ? pt__fail(PT_ENOMEM, "out of memory")
                 : pt_ddb_call(d->client, op, req.ptr, req.len, &resp, NULL);
        pt_buf_free(&req);
        free(prev_key);
        prev_key = start_key;
        start_key = NULL;
        more = 0;
        if (rc == PT_OK)
            rc = pt__ddb_page_parse(resp.ptr, resp.len, op, &doc, &start_key);
        pt_buf_free(&resp);
        if (rc == PT_OK) {
            int taken = take(doc, ctx);
            if (taken < 0)
                rc = taken;
            else
                more = taken == 0 && start_key != NULL;
        }
        if (rc == PT_OK && more && prev_key && strcmp(start_key, prev_key) == 0)
            rc = pt__fail(PT_ECORRUPT,
                          "DynamoDB %s: the server returned the same "
                          "LastEvaluatedKey twice",
                          op);
        cJSON_Delete(doc);
    }
    free(start_key);
    free(prev_key);
    return rc;
}

/* ---- query ----------------------------------------------------------------
 * One date newest first, through the range scan (dynamodb_scan.c): the same
 * Query, paging, filter and projection, into a list. */

static int
append_record(const pt_record *r, void *list)
{
    return pt_record_list_append(list, r);
}

int
pt__dynamodb_query(pt_storage *s, pt_record_list **out, const char *date,
                   size_t limit, int64_t now)
{
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    pt_record_list *list = NULL;
    int rc;

    *out = NULL;
    if (!date || !pt__valid_date(date))
        return pt__storage_fail(s, PT_EINVAL,
                                "invalid date (want "
                                "YYYY-MM-DD)");
    if ((rc = pt_record_list_new(&list)) != PT_OK)
        return rc;
    o.from = o.to = date;
    o.limit = limit;
    o.flags = PT_SCAN_NEWEST_FIRST;
    o.fields = PT_FIELD_ALL;
    o.now = now;
    rc = pt__dynamodb_scan(s, &o, append_record, list);
    if (rc != PT_OK) {
        pt_record_list_free(list);
        return rc;
    }
    *out = list;
    return PT_OK;
}

/* ---- purge --------------------------------------------------------------- */

typedef struct purge_ctx {
    pt__dynamodb *d;
    int64_t now;      /* what the caller calls now */
    int64_t real_now; /* the clock, for slot leases */
    uint64_t removed; /* records (not leases) deleted */
} purge_ctx;

/* A Scan page of expired keys. */
static void
scan_body(pt_buf *b, const char *start_key, void *ctx)
{
    const purge_ctx *p = ctx;
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, p->d->table, strlen(p->d->table));
    pt_buf_printf(b,
                  ",\"FilterExpression\":\"#t < :now AND #t > :zero\","
                  "\"ProjectionExpression\":\"#d, #ts, #t\","
                  "\"ExpressionAttributeNames\":{\"#t\":\"ttl\",\"#d\":"
                  "\"date\",\"#ts\":\"timestamp\"},"
                  "\"ExpressionAttributeValues\":{\":now\":{\"N\":\"%" PRId64
                  "\"},\":zero\":{\"N\":\"0\"}}",
                  p->now);
    if (start_key) {
        pt_buf_puts(b, ",\"ExclusiveStartKey\":");
        pt_buf_puts(b, start_key);
    }
    pt_buf_putc(b, '}');
}

typedef struct delete_req {
    pt_ddb_request req;
    pt__dynamodb *d;
    unsigned int rounds;
    const char *ts[PT__DDB_DELETE_BATCH]; /* the keys' timestamps */
    size_t pending[PT__DDB_DELETE_BATCH]; /* the keys sent last */
    size_t n_pending;
    unsigned char *done;
} delete_req;

/* The keys sent that the answer does not list as unprocessed are deleted
 * (done); the others stay pending.  -1 when the answer is not JSON
 * (nothing is counted as done then). */
static long
take_deleted(delete_req *q)
{
    const char *ts[PT__DDB_DELETE_BATCH];
    unsigned char left[PT__DDB_DELETE_BATCH];
    size_t keep = 0;

    for (size_t i = 0; i < q->n_pending; i++)
        ts[i] = q->ts[q->pending[i]];
    if (pt__ddb_unprocessed_deletes(q->req.response.ptr, q->req.response.len,
                                    q->d->table, ts, q->n_pending, left) < 0)
        return -1;
    for (size_t i = 0; i < q->n_pending; i++) {
        if (left[i])
            q->pending[keep++] = q->pending[i];
        else
            q->done[q->pending[i]] = 1;
    }
    q->n_pending = keep;
    return (long)keep;
}

/* The answer: what UnprocessedItems holds is sent again, after a backoff
 * (pt__dynamodb_redrive). */
static int
delete_done(pt_ddb_request *req, void *userdata)
{
    delete_req *q = userdata;
    pt_buf again = PT_BUF_INIT;
    long left;
    int resend;

    if (req->rc != PT_OK)
        return 0;
    if (take_deleted(q) < 0)
        left = -1;
    else
        left = pt__ddb_unprocessed_all(req->response.ptr, req->response.len,
                                       &again);
    resend = pt__dynamodb_redrive(q->d, req, &q->rounds, left);
    if (resend) {
        pt_buf_clear(&req->body);
        if (!again.oom)
            pt_buf_put(&req->body, again.ptr, again.len);
        if (again.oom || req->body.oom) {
            req->rc = PT_ENOMEM;
            pt__snprintf(req->message, sizeof(req->message), "out of memory");
            resend = 0;
        }
    }
    pt_buf_free(&again);
    return resend;
}

int
pt__dynamodb_delete_keys(pt__dynamodb *d, cJSON *const *keys, size_t n,
                         unsigned char *done)
{
    delete_req q = {.d = d, .done = done, .n_pending = n};
    pt_ddb_request *list[1] = {&q.req};
    pt_buf *body = &q.req.body;
    int rc = PT_OK;

    memset(done, 0, n);
    pt_ddb_request_init(&q.req, "BatchWriteItem");
    pt_buf_puts(body, "{\"RequestItems\":{");
    pt_buf_json_string(body, d->table, strlen(d->table));
    pt_buf_puts(body, ":[");
    for (size_t i = 0; i < n; i++) {
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(keys[i], "timestamp"), "S");
        char *k = cJSON_PrintUnformatted(keys[i]);
        if (!k)
            rc = pt__fail(PT_ENOMEM, "out of memory");
        q.ts[i] = cJSON_IsString(ts) ? ts->valuestring : "";
        q.pending[i] = i;
        pt_buf_printf(body, "%s{\"DeleteRequest\":{\"Key\":%s}}", i ? "," : "",
                      k ? k : "{}");
        free(k);
    }
    pt_buf_puts(body, "]}}");
    if (rc == PT_OK && body->oom)
        rc = pt__fail(PT_ENOMEM, "out of memory");
    if (rc == PT_OK)
        rc = pt_ddb_run(d->client, list, 1, delete_done, &q);
    pt_ddb_request_free(&q.req);
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

/* Delete one page's expired items, 25 per request.  A slot lease goes
 * only once the clock says it expired: a purge with a later `now` must not
 * free a lease a writer holds; and leases are not counted as records. */
/* Delete a batch; what the server took counts, on failure too. */
static int
purge_batch(purge_ctx *p, cJSON *const *batch, size_t n)
{
    unsigned char done[PT__DDB_DELETE_BATCH];
    int rc = pt__dynamodb_delete_keys(p->d, batch, n, done);

    for (size_t i = 0; i < n; i++)
        p->removed += done[i] && !is_lease(batch[i]);
    return rc;
}

static int
purge_page(cJSON *doc, void *ctx)
{
    purge_ctx *p = ctx;
    cJSON *batch[PT__DDB_DELETE_BATCH], *k;
    size_t n = 0;
    int rc = PT_OK;

    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(doc, "Items"))
    {
        if (is_lease(k) && pt__dynamodb_item_ttl(k) >= p->real_now)
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(k, "ttl"); /* the key only */
        batch[n++] = k;
        if (n == PT__DDB_DELETE_BATCH) {
            if ((rc = purge_batch(p, batch, n)) != PT_OK)
                return rc;
            n = 0;
        }
    }
    return n > 0 ? purge_batch(p, batch, n) : rc;
}

int
pt__dynamodb_purge(pt_storage *s, int64_t now, uint64_t *removed)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *c;
    purge_ctx p = {d, now, pt__now_us() / 1000000, 0};
    int rc = pt__dynamodb_client(d, &c);

    /* What a replay has seen may be deleted now (dynamodb_seen.h). */
    pt__ddb_seen_clear(&d->seen);
    if (rc == PT_OK)
        rc = pt__dynamodb_pages(d, "Scan", scan_body, purge_page, &p);
    *removed = p.removed;
    return rc == PT_OK ? PT_OK : pt__dynamodb_fail(d, rc);
}
