/*
 * Writes: BatchWriteItem, 25 records per request, several requests in
 * flight, and still no record ever overwrites another.
 *
 * BatchWriteItem takes no condition, so what keeps two records off one key
 * (date, timestamp) is where they are put: each record is stored in a slot
 * (a microsecond) that the slot allocator (dynamodb_slots.c) hands out from
 * a lease this instance holds (dynamodb_lease.c), at most PT__DDB_SPAN_US
 * after its own time (before it, at the very end of a day, so the date
 * never changes).  No other writer can hold that slot, so the write needs
 * no condition.
 *
 * Records whose time is more than PT__DDB_FRESH_US from the clock, and
 * every record of a replay (the spool, or a put() after a failure whose
 * records may be stored already), are first looked up: the seconds their
 * spans touch are read (one strongly consistent Query per run of
 * consecutive seconds), once per replay: what was read, and what this
 * instance wrote since, is remembered from one put() to the next
 * (dynamodb_seen.c), so a replay reads each second once instead of once
 * per put.  A record whose exact content (every attribute but the
 * timestamp) is there is stored already: replay is idempotent.  Every
 * item read is a slot taken, so an old window whose lease has expired, or
 * an item another program wrote, is never overwritten either.
 *
 * When no lease can be had (every class tried is taken), a record goes
 * out alone as a conditional PutItem (attribute_not_exists) to a slot of
 * class 0, which is never leased, walking that class's slots of its span on
 * a conflict — the old way, one request per record, correct between any
 * number of writers.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>
#include <sodium.h>

#include <stdlib.h>
#include <string.h>

#define REDRIVE_ROUNDS 20 /* UnprocessedItems re-driven at most this often */

typedef struct pt__ddb_put_job {
    const pt_record *record;
    int64_t base_us; /* the record's own time, when `parsed` */
    int parsed;
    int64_t lo, hi;                /* the slots it may take: [lo, hi) */
    char ts[PT_TIMESTAMP_LEN + 1]; /* the slot it goes to */
    int64_t slot_us;               /* the same, when `parsed` */
    unsigned char digest[16];      /* content without the timestamp */
    int digested;                  /* ... computed (digest_job) */
    long dup_of;     /* the same record earlier in a checked batch */
    int check;       /* look it up in the table first */
    int found;       /* ... and it was there */
    int conditional; /* no lease: a conditional PutItem of its own */
    uint64_t k;      /* conditional: index among class 0's slots */
    int stored;
} put_job;

typedef struct pt__ddb_put_req {
    pt_ddb_request req;
    size_t members[PT__DDB_BATCH_ITEMS]; /* jobs still to be written */
    size_t n;
    unsigned int rounds;
} put_req;

typedef struct put_ctx {
    pt__dynamodb *d;
    put_job *jobs;
    size_t count;
    pt_buf scratch;  /* for content_digest */
    int remember_rc; /* PT_ENOMEM: a record stored was not remembered */
} put_ctx;

/* ---- content ------------------------------------------------------------- */

/* A string as the item holds it, length-prefixed: NULL and "" alike, as
 * the item stores neither (put_s in dynamodb_item.c).  ASCII is taken as
 * it is (its JSON escaping is one-to-one); a string with other bytes as
 * its JSON, which replaces invalid UTF-8 by U+FFFD: two strings the item
 * would store alike digest alike.  The tag keeps the two forms apart. */
static void
digest_string(pt_buf *b, const char *s)
{
    size_t len = s ? strlen(s) : 0;
    unsigned char head[1 + sizeof(uint64_t)] = {0}; /* tag, length */
    uint64_t n = len;

    if (pt__ascii_prefix(s ? s : "", len) == len) {
        memcpy(head + 1, &n, sizeof(n));
        pt_buf_put(b, head, sizeof(head));
        pt_buf_put(b, s ? s : "", len);
        return;
    }
    size_t at;
    head[0] = 1;
    pt_buf_put(b, head, sizeof(head));
    at = b->len - sizeof(n);
    pt_buf_json_string(b, s, len);
    if (b->oom)
        return;
    n = b->len - at - sizeof(n);
    memcpy(b->ptr + at, &n, sizeof(n));
}

static void
digest_i64(pt_buf *b, int64_t v)
{
    pt_buf_put(b, &v, sizeof(v));
}

static void
digest_list(pt_buf *b, const char *const *items, size_t count)
{
    digest_i64(b, (int64_t)count);
    for (size_t i = 0; i < count; i++)
        digest_string(b, items[i]);
}

/* A digest of everything stored but the timestamp: how a replay knows an
 * item is this very record.  It hashes the values the item holds
 * (pt__dynamodb_item_json), each length-prefixed, rather than the item's
 * JSON: the same equality (absent and empty strings alike, a list entry
 * NULL as "", a ttl of 0 or less as none), without escaping every string
 * on every record of a replay.  Only ever compared within one process
 * (dynamodb_seen.h): nothing stores it. */
static int
content_digest(const pt_record *r, unsigned char out[16], pt_buf *scratch)
{
    pt_buf_clear(scratch);
    digest_string(scratch, r->date);
    digest_string(scratch, r->session_id);
    digest_string(scratch, r->client_ip);
    digest_string(scratch, r->user_agent);
    digest_i64(scratch, r->num_links_submitted);
    digest_i64(scratch, r->num_files_downloaded);
    digest_list(scratch, r->links, r->link_count);
    digest_list(scratch, r->titles, r->title_count);
    digest_list(scratch, r->filenames, r->filename_count);
    digest_i64(scratch, r->has_errors != 0);
    digest_i64(scratch, r->error_count);
    digest_i64(scratch, r->ttl > 0 ? r->ttl : 0);
    digest_string(scratch, r->policy);
    if (scratch->oom)
        return pt__fail(PT_ENOMEM, "out of memory");
    crypto_generichash(out, 16, (const unsigned char *)scratch->ptr,
                       scratch->len, NULL, 0);
    return PT_OK;
}

/* A record's digest, computed once: before the writes only where it can
 * match (pt__ddb_seen_may_match) or the same time is twice in the batch;
 * for the others as their request's body is written, while the earlier
 * requests are in flight (note_stored needs it). */
static int
digest_job(put_ctx *c, put_job *j)
{
    if (j->digested)
        return PT_OK;
    int rc = content_digest(j->record, j->digest, &c->scratch);
    j->digested = rc == PT_OK;
    return rc;
}

/* ---- looking records up before writing ----------------------------------- */

/* Take one Query page's items into what the instance has seen: their slot
 * (when the timestamp is in privtrack's canonical form: only then can it
 * be one of our slots) and their content. */
static int
take_items(pt__dynamodb *d, const cJSON *items, pt_buf *scratch)
{
    pt_record_list *page = NULL;
    const cJSON *it;
    int rc = pt_record_list_new(&page);

    cJSON_ArrayForEach(it, items)
    {
        if (rc != PT_OK)
            break;
        d->stats.items_read++;
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "timestamp"), "S");
        char canon[PT_TIMESTAMP_LEN + 1];
        unsigned char digest[16];
        int64_t us;
        if (!cJSON_IsString(ts) ||
            pt__parse_iso8601(ts->valuestring, &us) != PT_OK)
            continue;
        pt__format_timestamp(canon, us);
        if (strcmp(canon, ts->valuestring) != 0)
            continue; /* another key than any slot */
        size_t before = page->count;
        int readable = pt__dynamodb_item_append(page, it) == PT_OK &&
                       page->count == before + 1;
        if (readable)
            rc = content_digest(&page->records[before], digest, scratch);
        if (rc == PT_OK &&
            pt__ddb_seen_add(&d->seen, us, readable ? digest : NULL,
                             PT__DDB_SET_EMPTY) != PT_OK)
            rc = pt__fail(PT_ENOMEM, "out of memory");
    }
    pt_record_list_free(page);
    return rc;
}

typedef struct span_ctx {
    pt__dynamodb *d;
    const char *date;
    char from[PT_TIMESTAMP_LEN + 1], to[PT_TIMESTAMP_LEN + 1];
    pt_buf scratch;
} span_ctx;

static void
span_body(pt_buf *b, const char *start_key, void *ctx)
{
    const span_ctx *q = ctx;
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, q->d->table, strlen(q->d->table));
    pt_buf_puts(b, ",\"KeyConditionExpression\":\"#d = :d AND #ts "
                   "BETWEEN :lo AND :hi\",\"ExpressionAttributeNames\":"
                   "{\"#d\":\"date\",\"#ts\":\"timestamp\"},"
                   "\"ExpressionAttributeValues\":{\":d\":{\"S\":");
    pt_buf_json_string(b, q->date, strlen(q->date));
    pt_buf_printf(b,
                  "},\":lo\":{\"S\":\"%s\"},\":hi\":{\"S\":\"%s\"}},"
                  "\"ConsistentRead\":true",
                  q->from, q->to);
    if (start_key) {
        pt_buf_puts(b, ",\"ExclusiveStartKey\":");
        pt_buf_puts(b, start_key);
    }
    pt_buf_putc(b, '}');
}

static int
span_page(cJSON *doc, void *ctx)
{
    span_ctx *q = ctx;
    return take_items(q->d, cJSON_GetObjectItemCaseSensitive(doc, "Items"),
                      &q->scratch);
}

/* Every item of `date` with a timestamp in [lo, hi), into d->seen. */
static int
read_span(pt__dynamodb *d, const char *date, int64_t lo, int64_t hi)
{
    span_ctx q = {.d = d, .date = date, .scratch = PT_BUF_INIT};
    int rc;

    pt__format_timestamp(q.from, lo);
    pt__format_timestamp(q.to, hi - 1);
    d->stats.lookups++;
    rc = pt__dynamodb_pages(d, "Query", span_body, span_page, &q);
    pt_buf_free(&q.scratch);
    return rc;
}

/* A part of a date to read.  `whole`: whole seconds of the date's own day,
 * remembered once read; otherwise a record whose date is not its time's
 * (never privtrack's, perhaps a hand-made spool), whose span is read
 * every time. */
typedef struct read_range {
    const char *date;
    int64_t lo, hi;
    int whole;
} read_range;

static int
cmp_range(const void *a, const void *b)
{
    const read_range *x = a, *y = b;
    int c = x->whole - y->whole;
    if (c == 0)
        c = strcmp(x->date, y->date);
    if (c)
        return c;
    return (x->lo > y->lo) - (x->lo < y->lo);
}

/* Non-zero when base[0..n) is in order already (a replay's records come
 * in time order): qsort() then has nothing to do but costs n log n. */
static int
sorted(const void *base, size_t n, size_t size,
       int (*cmp)(const void *, const void *))
{
    const char *p = base;
    for (size_t i = 1; i < n; i++)
        if (cmp(p + (i - 1) * size, p + i * size) > 0)
            return 0;
    return 1;
}

/* The parts of the checked records' spans not read yet. */
static int
ranges_to_read(put_ctx *c, read_range **out, size_t *n)
{
    /* a span touches two seconds at most */
    read_range *r = malloc(2 * c->count * sizeof(*r));
    char date[PT_DATE_LEN + 1];

    *n = 0;
    if (!r)
        return pt__fail(PT_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->count; i++) {
        const put_job *j = &c->jobs[i];
        if (!j->check || j->dup_of >= 0 || !j->parsed)
            continue;
        pt__format_date(date, j->lo);
        if (strcmp(date, j->record->date) != 0) {
            r[(*n)++] = (read_range){j->record->date, j->lo, j->hi, 0};
            continue;
        }
        for (int64_t sec = pt__ddb_second_of(j->lo);
             sec <= pt__ddb_second_of(j->hi - 1); sec++) {
            read_range x = {j->record->date, sec * PT__DDB_SECOND_US,
                            (sec + 1) * PT__DDB_SECOND_US, 1};
            /* Records come in time order: most of a second's records
             * would add it (and the next) again right after themselves. */
            if (pt__ddb_seen_covered(&c->d->seen, sec) ||
                (*n > 0 && cmp_range(&r[*n - 1], &x) == 0) ||
                (*n > 1 && cmp_range(&r[*n - 2], &x) == 0))
                continue;
            r[(*n)++] = x;
        }
    }
    if (!sorted(r, *n, sizeof(*r), cmp_range))
        qsort(r, *n, sizeof(*r), cmp_range);
    *out = r;
    return PT_OK;
}

/* Read what the records to check need (runs of consecutive seconds in one
 * Query each), then mark those found stored.  Every item read is kept in
 * d->seen: a slot taken, and a record that may be one of ours. */
static int
check_stored(put_ctx *c)
{
    pt__dynamodb *d = c->d;
    read_range *r = NULL;
    size_t n = 0;
    int rc;

    rc = ranges_to_read(c, &r, &n);
    for (size_t i = 0; i < n && rc == PT_OK;) {
        int64_t hi = r[i].hi;
        size_t e = i + 1;
        while (e < n && r[e].whole == r[i].whole &&
               strcmp(r[e].date, r[i].date) == 0 && r[e].lo <= hi) {
            if (r[e].hi > hi)
                hi = r[e].hi;
            e++;
        }
        rc = read_span(d, r[i].date, r[i].lo, hi);
        for (int64_t us = r[i].lo; rc == PT_OK && r[i].whole && us < hi;
             us += PT__DDB_SECOND_US)
            if (pt__ddb_seen_cover(&d->seen, pt__ddb_second_of(us)) != PT_OK)
                rc = pt__fail(PT_ENOMEM, "out of memory");
        i = e;
    }
    free(r);
    for (size_t i = 0; rc == PT_OK && i < c->count; i++) {
        put_job *j = &c->jobs[i];
        if (!j->check || j->dup_of >= 0 || !j->parsed)
            continue;
        d->stats.checked++;
        if (!pt__ddb_seen_may_match(&d->seen, j->base_us))
            continue;
        if (!j->digested) {
            d->stats.digested_early++;
            if ((rc = digest_job(c, j)) != PT_OK)
                break;
        }
        if (pt__ddb_seen_match(&d->seen, j->digest, j->lo, j->hi, j->base_us)) {
            j->stored = j->found = 1;
            d->stats.found++;
        }
    }
    return rc;
}

/* A record just stored.  One that was looked up is an item of seconds
 * read, and the same record if replayed again: remembered now, as its
 * answer comes in while other requests are in flight, not after the
 * put's last answer (nothing in flight then).  Should that fail, the
 * put fails, which forgets what was seen. */
static void
note_stored(put_ctx *c, put_job *j)
{
    j->stored = 1;
    if (!j->check || !j->parsed || c->remember_rc != PT_OK)
        return;
    if (digest_job(c, j) != PT_OK || /* digested as it was built */
        pt__ddb_seen_add(&c->d->seen, j->slot_us, j->digest, j->base_us) !=
            PT_OK)
        c->remember_rc = pt__fail(PT_ENOMEM, "out of memory");
}

/* ---- choosing slots ------------------------------------------------------ */

/* The conditional path's next candidate: class 0's slots of the span, from
 * index j->k, skipping those seen taken.  PT_EEXIST when none is left. */
static int
conditional_slot(put_ctx *c, put_job *j)
{
    int64_t slot;

    if (!j->parsed) { /* unparsable: its own timestamp or nothing */
        if (j->k > 0)
            return pt__fail(PT_EEXIST,
                            "DynamoDB: a record with the "
                            "unparsable timestamp %.40s is "
                            "already there",
                            j->record->timestamp);
        pt__snprintf(j->ts, sizeof(j->ts), "%s", j->record->timestamp);
        return PT_OK;
    }
    if (pt__ddb_class0_slot(j->lo, j->hi, &j->k,
                            pt__ddb_seen_taken(&c->d->seen), &slot) != PT_OK)
        return pt__fail(PT_EEXIST,
                        "DynamoDB: every free slot within %lld ms of "
                        "%.40s is taken",
                        (long long)(PT__DDB_SPAN_US / 1000),
                        j->record->timestamp);
    j->slot_us = slot;
    pt__format_timestamp(j->ts, slot);
    return PT_OK;
}

/* A leased slot for j, claiming leases as the allocator asks; the
 * conditional path when no class is left. */
static int
assign(put_ctx *c, put_job *j)
{
    pt__dynamodb *d = c->d;
    pt__ddb_search q;
    pt__ddb_step step;
    int64_t found;

    if (!j->parsed) {
        j->conditional = 1;
        return conditional_slot(c, j);
    }
    pt__ddb_search_init(&q, j->lo, j->hi);
    while ((step = pt__ddb_search_next(&d->slots, &q,
                                       pt__ddb_seen_taken(&d->seen), &found)) ==
           PT__DDB_CLAIM) {
        int rc = pt__ddb_lease_claim(d, found);
        if (rc == PT_EEXIST) {
            /* remembered, so that later records do not probe that minute
             * again */
            pt__ddb_slots_exhaust(&d->slots, found);
            pt__log(PT_LOG_WARN,
                    "dynamodb: no slot lease left for a minute of %s; "
                    "writing its records one by one, with a condition",
                    j->record->date);
        } else if (rc != PT_OK) {
            return rc;
        }
    }
    if (step == PT__DDB_FOUND) {
        j->slot_us = found;
        pt__format_timestamp(j->ts, found);
        return PT_OK;
    }
    /* Records of this batch with the same span start on different slots
     * of class 0 instead of all racing for the first one. */
    j->conditional = 1;
    for (put_job *p = c->jobs; p < j; p++)
        if (p->conditional && p->parsed && p->lo == j->lo)
            j->k++;
    return conditional_slot(c, j);
}

/* ---- requests ------------------------------------------------------------ */

static int
build_batch(put_ctx *c, put_req *q)
{
    pt_buf *b = &q->req.body;
    pt_buf_clear(b);
    pt_buf_reserve(b, q->n * 1024); /* grown once, not by doubling */
    pt_buf_puts(b, "{\"RequestItems\":{");
    pt_buf_json_string(b, c->d->table, strlen(c->d->table));
    pt_buf_puts(b, ":[");
    for (size_t i = 0; i < q->n; i++) {
        put_job *j = &c->jobs[q->members[i]];
        if (j->check && j->parsed && digest_job(c, j) != PT_OK)
            return PT_ENOMEM;
        pt_buf_puts(b, i ? ",{\"PutRequest\":{\"Item\":"
                         : "{\"PutRequest\":{\"Item\":");
        pt__dynamodb_item_json(b, j->record, j->ts);
        pt_buf_puts(b, "}}");
    }
    pt_buf_puts(b, "]}}");
    return b->oom ? PT_ENOMEM : PT_OK;
}

static int
build_conditional(put_ctx *c, put_req *q)
{
    put_job *j = &c->jobs[q->members[0]];
    pt_buf *b = &q->req.body;
    if (j->check && j->parsed && digest_job(c, j) != PT_OK)
        return PT_ENOMEM;
    pt_buf_clear(b);
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, c->d->table, strlen(c->d->table));
    pt_buf_puts(b, ",\"Item\":");
    pt__dynamodb_item_json(b, j->record, j->ts);
    pt_buf_puts(b, ",\"ConditionExpression\":\"attribute_not_exists(#ts)\","
                   "\"ExpressionAttributeNames\":{\"#ts\":\"timestamp\"}}");
    return b->oom ? PT_ENOMEM : PT_OK;
}

/* A request's body, as its first attempt starts (pt_ddb_request.build). */
static int
build_first(pt_ddb_request *req, void *userdata)
{
    put_ctx *c = userdata;
    put_req *q = req->userdata;

    if (c->jobs[q->members[0]].conditional)
        return build_conditional(c, q) == PT_OK ? 0 : -1;
    return build_batch(c, q) == PT_OK ? 0 : -1;
}

int
pt__dynamodb_redrive(pt__dynamodb *d, pt_ddb_request *req, unsigned int *rounds,
                     long left)
{
    if (left == 0)
        return 0;
    if (left < 0) {
        req->rc = PT_EPARSE;
        pt__snprintf(req->message, sizeof(req->message),
                     "an answer that is not JSON");
        return 0;
    }
    d->stats.unprocessed += (uint64_t)left;
    if (++*rounds > REDRIVE_ROUNDS) {
        req->rc = PT_ETHROTTLED;
        pt__snprintf(req->message, sizeof(req->message),
                     "%ld items still unprocessed after %d rounds", left,
                     REDRIVE_ROUNDS);
        return 0;
    }
    req->ready_at_us =
        pt__monotonic_us() +
        (int64_t)pt_ddb_client_backoff_ms(d->client, *rounds) * 1000;
    return 1;
}

/* The members the answer lists in UnprocessedItems stay; the rest are
 * stored.  Returns how many stay, or -1 for an answer that makes no
 * sense. */
static long
take_processed(put_ctx *c, put_req *q)
{
    const char *ts[PT__DDB_BATCH_ITEMS];
    unsigned char left[PT__DDB_BATCH_ITEMS];
    size_t keep = 0;

    for (size_t i = 0; i < q->n; i++)
        ts[i] = c->jobs[q->members[i]].ts;
    if (pt__ddb_unprocessed_puts(q->req.response.ptr, q->req.response.len,
                                 c->d->table, ts, q->n, left) < 0)
        return -1;
    for (size_t i = 0; i < q->n; i++) {
        if (left[i])
            q->members[keep++] = q->members[i];
        else
            note_stored(c, &c->jobs[q->members[i]]);
    }
    q->n = keep;
    return (long)keep;
}

static int
on_answer(pt_ddb_request *req, void *userdata)
{
    put_ctx *c = userdata;
    put_req *q = req->userdata;

    if (c->jobs[q->members[0]].conditional) {
        put_job *j = &c->jobs[q->members[0]];
        if (req->rc == PT_OK) {
            note_stored(c, j);
            return 0;
        }
        if (req->rc != PT_EEXIST)
            return 0;
        if (req->attempt > 0) {
            /* An earlier attempt may have stored it, its answer lost: the
             * item there could be this record.  Fail; the pipeline sends
             * it again as a replay, which looks it up by content. */
            req->rc = PT_EBACKEND;
            pt__snprintf(req->message, sizeof(req->message),
                         "slot taken after a retry (perhaps by this very "
                         "record); it will be looked up and sent again");
            return 0;
        }
        c->d->stats.conflicts++;
        j->k++;
        if (conditional_slot(c, j) != PT_OK || build_conditional(c, q) != PT_OK)
            return 0; /* the request's own error stands */
        return 1;
    }
    if (req->rc != PT_OK)
        return 0;
    if (!pt__dynamodb_redrive(c->d, req, &q->rounds, take_processed(c, q)))
        return 0;
    if (build_batch(c, q) != PT_OK) { /* of the members still to write */
        req->rc = PT_ENOMEM;
        pt__snprintf(req->message, sizeof(req->message), "out of memory");
        return 0;
    }
    return 1;
}

/* A request done for good: beyond the first `parallel` (those a put of
 * the usual size has), its buffers go, so a long put (a replay step) holds
 * about one connection's worth of bodies at a time, and keeps none. */
static int
on_done(pt_ddb_request *req, void *userdata)
{
    put_ctx *c = userdata;
    put_req *q = req->userdata;

    if (on_answer(req, userdata))
        return 1;
    if ((size_t)(q - c->d->reqs) >= c->d->parallel) {
        pt_buf_free(&req->body);
        pt_buf_free(&req->response);
    }
    return 0;
}

/* Room for `cap` requests in the instance's cache; their buffers stay
 * allocated from one put() to the next. */
static int
reserve_reqs(pt__dynamodb *d, size_t cap)
{
    if (cap <= d->reqs_cap)
        return PT_OK;
    put_req *grown = realloc(d->reqs, cap * sizeof(*grown));
    if (!grown)
        return pt__fail(PT_ENOMEM, "out of memory");
    memset(grown + d->reqs_cap, 0, (cap - d->reqs_cap) * sizeof(*grown));
    d->reqs = grown;
    pt_ddb_request **list = realloc(d->req_list, cap * sizeof(*list));
    if (!list)
        return pt__fail(PT_ENOMEM, "out of memory");
    d->req_list = list;
    d->reqs_cap = cap;
    return PT_OK;
}

static put_req *
reuse_req(put_req *q, const char *op)
{
    pt_buf body = q->req.body, response = q->req.response;
    memset(q, 0, sizeof(*q));
    pt_ddb_request_init(&q->req, op);
    q->req.body = body;
    q->req.response = response;
    pt_buf_clear(&q->req.body);
    pt_buf_clear(&q->req.response);
    q->req.userdata = q;
    return q;
}

void
pt__dynamodb_put_free(pt__dynamodb *d)
{
    for (size_t i = 0; i < d->reqs_cap; i++)
        pt_ddb_request_free(&d->reqs[i].req);
    free(d->reqs);
    free(d->req_list);
    free(d->jobs);
    d->reqs = NULL;
    d->req_list = NULL;
    d->jobs = NULL;
    d->reqs_cap = d->jobs_cap = 0;
}

/* Group the records still to write into requests and run them. */
static int
send_all(put_ctx *c)
{
    size_t nreq = 0, cap = 0, batched = 0;
    put_req *open_batch = NULL;
    int rc = PT_OK;

    for (size_t i = 0; i < c->count; i++) {
        const put_job *j = &c->jobs[i];
        if (!j->stored && j->dup_of < 0)
            j->conditional ? cap++ : batched++;
    }
    cap += (batched + PT__DDB_BATCH_ITEMS - 1) / PT__DDB_BATCH_ITEMS;
    if (cap == 0)
        return PT_OK;
    rc = reserve_reqs(c->d, cap);
    if (rc != PT_OK)
        return rc;
    put_req *reqs = c->d->reqs;
    pt_ddb_request **list = c->d->req_list;
    for (size_t i = 0; i < c->count; i++) {
        put_job *j = &c->jobs[i];
        if (j->stored || j->dup_of >= 0)
            continue;
        if (j->conditional) {
            put_req *q = reuse_req(&reqs[nreq++], "PutItem");
            q->members[q->n++] = i;
            c->d->stats.conditional++;
            continue;
        }
        if (!open_batch || open_batch->n == PT__DDB_BATCH_ITEMS) {
            open_batch = reuse_req(&reqs[nreq++], "BatchWriteItem");
            c->d->stats.batch_requests++;
        }
        open_batch->members[open_batch->n++] = i;
        c->d->stats.batched++;
    }
    /* Bodies are written as connections free up (build_first), not all
     * before the first is sent: a put of a whole replay step keeps the
     * server busy while the client writes the rest. */
    for (size_t i = 0; i < nreq; i++) {
        reqs[i].req.build = build_first;
        list[i] = &reqs[i].req;
    }
    c->d->stats.put_runs++;
    return pt_ddb_run(c->d->client, list, nreq, on_done, c);
}

/* ---- put() --------------------------------------------------------------- */

/* A session id as the item holds it, compared: two records of one time
 * are the same record only with the same one (it is part of the content).
 * ASCII ids are compared as bytes; ids with other bytes (which the item
 * may store alike: invalid UTF-8 as U+FFFD) all compare equal here, after
 * every ASCII id, and are told apart by their digests. */
static int
cmp_session(const pt_record *x, const pt_record *y)
{
    const char *a = x->session_id ? x->session_id : "";
    const char *b = y->session_id ? y->session_id : "";
    size_t na = strlen(a), nb = strlen(b);
    int wide_a = pt__ascii_prefix(a, na) < na;
    int wide_b = pt__ascii_prefix(b, nb) < nb;

    if (wide_a || wide_b)
        return wide_a - wide_b;
    return strcmp(a, b);
}

/* By time, session id, digest (all zero until computed), batch order. */
static int
cmp_same_record(const void *a, const void *b)
{
    const put_job *x = *(const put_job *const *)a;
    const put_job *y = *(const put_job *const *)b;
    int c = (x->base_us > y->base_us) - (x->base_us < y->base_us);
    if (c == 0)
        c = cmp_session(x->record, y->record);
    if (c == 0)
        c = memcmp(x->digest, y->digest, sizeof(x->digest));
    return c ? c : (x > y) - (x < y);
}

/* The same record (time and content) twice in a batch to check is written
 * once: each later copy points to the first (sorted, not compared pair by
 * pair).  Only records that share their time and session id with another
 * are digested (before that, the sort leaves their digests out), and
 * sorted again by them. */
static int
mark_duplicates(put_ctx *c)
{
    put_job **order = malloc(c->count * sizeof(*order));
    size_t n = 0;
    int rc = PT_OK;

    if (!order)
        return pt__fail(PT_ENOMEM, "out of memory");
    for (size_t i = 0; i < c->count; i++)
        if (c->jobs[i].check && c->jobs[i].parsed)
            order[n++] = &c->jobs[i];
    if (!sorted(order, n, sizeof(*order), cmp_same_record))
        qsort(order, n, sizeof(*order), cmp_same_record);
    for (size_t a = 0, e; a < n && rc == PT_OK; a = e) {
        for (e = a + 1; e < n && order[e]->base_us == order[a]->base_us &&
                        cmp_session(order[e]->record, order[a]->record) == 0;
             e++)
            ;
        if (e - a < 2)
            continue;
        for (size_t i = a; i < e && rc == PT_OK; i++) {
            c->d->stats.digested_early += !order[i]->digested;
            rc = digest_job(c, order[i]);
        }
        if (rc != PT_OK)
            break;
        qsort(order + a, e - a, sizeof(*order), cmp_same_record);
        for (size_t i = a + 1, first = a; i < e; i++) {
            if (memcmp(order[i]->digest, order[first]->digest, 16) == 0)
                order[i]->dup_of = (long)(order[first] - c->jobs);
            else
                first = i;
        }
    }
    free(order);
    return rc == PT_OK ? PT_OK : pt__fail(PT_ENOMEM, "out of memory");
}

static int
prepare(put_ctx *c, const pt_record *const *records, int replay)
{
    int64_t now = pt__now_us();
    int any_check = 0, rc = PT_OK;

    for (size_t i = 0; i < c->count && rc == PT_OK; i++) {
        put_job *j = &c->jobs[i];
        const pt_record *r = records[i];
        if (!r || !r->date || !r->timestamp) {
            rc = pt__fail(PT_EINVAL, "record %zu has no date or timestamp", i);
            break;
        }
        j->record = r;
        j->dup_of = -1;
        if (pt__parse_iso8601(r->timestamp, &j->base_us) != PT_OK)
            continue;
        j->parsed = 1;
        pt__ddb_span(j->base_us, &j->lo, &j->hi);
        j->check = pt__ddb_needs_lookup(j->base_us, now, replay);
        any_check |= j->check;
    }
    /* Every put(), also one with nothing to look up: a tracker's writer
     * puts new records between the steps of a replay, which must not make
     * it read its seconds again; what a replay has seen is dropped once
     * old (or full) instead. */
    pt__ddb_seen_begin(&c->d->seen, now);
    if (rc == PT_OK && any_check)
        rc = mark_duplicates(c);
    if (rc == PT_OK && any_check)
        rc = check_stored(c);
    for (size_t i = 0; i < c->count && rc == PT_OK; i++) {
        put_job *j = &c->jobs[i];
        if (!j->stored && j->dup_of < 0)
            rc = assign(c, j);
    }
    return rc;
}

/* A missing table with [storage] create_table = true: create it once. */
static int
maybe_create_table(pt__dynamodb *d, int rc)
{
    if (rc != PT_ENOTFOUND || !d->create_table || d->table_ready)
        return 0;
    pt__log(PT_LOG_INFO,
            "dynamodb: table %s missing, creating it "
            "(create_table = true)",
            d->table);
    return pt__dynamodb_init(&d->base) == PT_OK;
}

int
pt__dynamodb_put(pt_storage *s, const pt_record *const *records, size_t count,
                 int replay, size_t *written)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *client;
    put_ctx c;
    int rc;

    *written = 0;
    if (count == 0)
        return PT_OK;
    pt__ddb_leases_check(d, pt__now_us()); /* first: may drop the client */
    rc = pt__dynamodb_client(d, &client);
    if (rc != PT_OK)
        return rc;
    memset(&c, 0, sizeof(c));
    c.d = d;
    c.count = count;
    if (count > d->jobs_cap) {
        put_job *grown = realloc(d->jobs, count * sizeof(*grown));
        if (!grown)
            return pt__storage_fail(s, PT_ENOMEM, "out of memory");
        d->jobs = grown;
        d->jobs_cap = count;
    }
    c.jobs = d->jobs;
    memset(c.jobs, 0, count * sizeof(*c.jobs));
    for (int pass = 0; pass < 2; pass++) {
        /* After the table was created (below), a replay: another process
         * may have created it meanwhile and taken some records. */
        rc = prepare(&c, records, replay || pass > 0);
        if (rc == PT_OK)
            rc = send_all(&c);
        if (rc == PT_OK)
            rc = c.remember_rc;
        /* A failed put may have stored records without knowing it (an
         * answer lost): what was seen no longer says what is there. */
        if (rc != PT_OK)
            pt__ddb_seen_clear(&d->seen);
        /* The table was missing: create it and try again. */
        if (rc == PT_OK || pass > 0 || !maybe_create_table(d, rc))
            break;
        memset(c.jobs, 0, count * sizeof(*c.jobs));
    }
    pt_buf_free(&c.scratch);
    if (rc != PT_OK)
        pt__dynamodb_fail(d, rc);
    for (size_t i = 0; i < count; i++)
        if (c.jobs[i].dup_of >= 0)
            c.jobs[i].stored = c.jobs[c.jobs[i].dup_of].stored;
    while (*written < count && c.jobs[*written].stored)
        (*written)++;
    return rc;
}
