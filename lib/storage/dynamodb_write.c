/*
 * Writes: one conditional PutItem per record, several in flight at once.
 *
 * Why not BatchWriteItem: it takes no condition, so a record sharing
 * (date, timestamp) with another would silently replace it — the seed's
 * flaw.  Each PutItem carries
 *     attribute_not_exists(#ts) OR session_id = :sid
 * which succeeds when the slot is free or already holds this very record
 * (a replay, or a retry whose first answer was lost: idempotent), and
 * fails with ConditionalCheckFailed when another record holds it.  Then the
 * timestamp moves one microsecond (later, or earlier at the end of a day)
 * and the write is tried again.  DynamoDB evaluates the condition
 * atomically, so this holds between processes too.
 *
 * Invariant that makes replay idempotent: a record stored k µs after its
 * own time found every slot before it taken by other records when it was
 * written.  Records of one batch with the same timestamp are therefore
 * chained: the second starts after the slot the first obtained, and only
 * once the first is stored.  A replay walks the same slots and finds itself.
 *
 * Shortcut: when a put() stored everything, the instance remembers where
 * its last same-time chain ended; a later put() (not a replay, and only
 * after a fully successful one) whose records share that time starts there,
 * because every slot before it is known to be taken.  Records that follow a
 * failure may have been stored: send them again with replay = 1, which
 * always walks from the record's own time.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

#define MAX_BUMPS 1000000u

typedef struct put_job {
    const pt_record *record;
    pt__dynamodb *d;
    int64_t base_us; /* the record's own time; -1 when unparsable */
    int64_t day_end; /* first µs of the next day */
    uint64_t k;      /* candidate index: 0 is the record's own timestamp */
    long next;       /* next record of this batch with the same key */
    long dup_of;     /* the same record (key and session) earlier in the
                        batch: stored when that one is, never sent */
    int stored;
    int resolved; /* replay: its key's taken slots were read */
    pt_ddb_request req;
} put_job;

/* The k-th candidate slot: T, T+1, ... up to the end of the day, then
 * T-1, T-2, ... so that the date (the partition) never changes. */
static int64_t
candidate_us(const put_job *j, uint64_t k)
{
    int64_t room = j->day_end - 1 - j->base_us;
    if ((int64_t)k <= room)
        return j->base_us + (int64_t)k;
    return j->base_us - ((int64_t)k - room);
}

static int
build_body(put_job *j)
{
    const pt_record *r = j->record;
    char ts[PT_TIMESTAMP_LEN + 1];
    const char *timestamp = r->timestamp;
    pt_buf *b = &j->req.body;

    if (j->k > 0) {
        pt__format_timestamp(ts, candidate_us(j, j->k));
        timestamp = ts;
    }
    pt_buf_clear(b);
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, j->d->table, strlen(j->d->table));
    pt_buf_puts(b, ",\"Item\":");
    pt__dynamodb_item_json(b, r, timestamp);
    pt_buf_puts(b, ",\"ExpressionAttributeNames\":{\"#ts\":\"timestamp\"}");
    if (r->session_id && *r->session_id) {
        pt_buf_puts(b, ",\"ConditionExpression\":\"attribute_not_exists(#ts) "
                       "OR session_id = :sid\","
                       "\"ExpressionAttributeValues\":{\":sid\":{\"S\":");
        pt_buf_json_string(b, r->session_id, strlen(r->session_id));
        pt_buf_puts(b, "}}}");
    } else {
        pt_buf_puts(b, ",\"ConditionExpression\":\"attribute_not_exists(#ts)"
                       "\"}");
    }
    return b->oom ? PT_ENOMEM : PT_OK;
}

static int
on_put_done(pt_ddb_request *req, void *userdata)
{
    put_job *jobs = userdata;
    put_job *j = req->userdata;

    if (req->rc == PT_OK) {
        j->stored = 1;
        if (j->next >= 0) {
            put_job *n = &jobs[j->next];
            n->k = j->k + 1;
            if (build_body(n) == PT_OK)
                n->req.held = 0;
        }
        return 0;
    }
    if (req->rc == PT_EEXIST && j->d->probing)
        return 0; /* replay, first pass: resolved by reading the slots */
    if (req->rc == PT_EEXIST && j->base_us >= 0 && j->k < MAX_BUMPS) {
        j->k++;
        j->d->bumps++;
        return build_body(j) == PT_OK;
    }
    return 0;
}

/* Prepare jobs: parse times, chain records sharing (date, timestamp). */
static int
same_key(const pt_record *r, const char *date, const char *ts)
{
    return strcmp(r->date, date) == 0 && strcmp(r->timestamp, ts) == 0;
}

static int
same_session(const pt_record *a, const pt_record *b)
{
    return a->session_id && b->session_id &&
           strcmp(a->session_id, b->session_id) == 0;
}

/* Link record i to the batch's earlier record with the same key: the same
 * session makes it a duplicate (sent once), another session a successor in
 * that key's chain. */
static void
find_predecessor(put_job *jobs, const pt_record *const *records, size_t i)
{
    const pt_record *r = records[i];
    long last = -1;
    for (size_t p = i; p-- > 0;) {
        if (jobs[p].dup_of >= 0 || !same_key(records[p], r->date, r->timestamp))
            continue;
        if (same_session(records[p], r)) {
            jobs[i].dup_of = (long)p;
            jobs[i].req.held = 1;
            return;
        }
        if (last < 0)
            last = (long)p;
    }
    if (last >= 0) {
        while (jobs[last].next >= 0) /* the chain's current tail */
            last = jobs[last].next;
        jobs[last].next = (long)i;
        jobs[i].req.held = 1;
    }
}

static int
prepare(put_job *jobs, pt__dynamodb *d, const pt_record *const *records,
        size_t count, int use_chain)
{
    for (size_t i = 0; i < count; i++) {
        put_job *j = &jobs[i];
        const pt_record *r = records[i];
        if (!r || !r->date || !r->timestamp)
            return pt__storage_fail(&d->base, PT_EINVAL,
                                    "record %zu has no date or timestamp", i);
        j->record = r;
        j->d = d;
        j->next = -1;
        pt_ddb_request_init(&j->req, "PutItem");
        j->req.userdata = j;
        if (pt__parse_iso8601(r->timestamp, &j->base_us) != PT_OK) {
            j->base_us = -1;
        } else {
            int64_t day = j->base_us / 86400000000LL;
            j->day_end = (day + 1) * 86400000000LL;
        }
        j->dup_of = -1;
        find_predecessor(jobs, records, i);
        if (!j->req.held && use_chain && j->base_us >= 0 &&
            same_key(r, d->chain_date, d->chain_ts))
            j->k = d->chain_next_k;
        if (!j->req.held && build_body(j) != PT_OK)
            return pt__storage_fail(&d->base, PT_ENOMEM, "out of memory");
    }
    return PT_OK;
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

static int
run_puts(pt__dynamodb *d, put_job *jobs, size_t count)
{
    pt_ddb_request **list = calloc(count, sizeof(*list));
    int rc;
    if (!list)
        return pt__storage_fail(&d->base, PT_ENOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < count; i++)
        if (jobs[i].dup_of < 0 && !jobs[i].stored)
            list[n++] = &jobs[i].req;
    rc = pt_ddb_run(d->client, list, n, on_put_done, jobs);
    free(list);
    for (size_t i = 0; i < count; i++)
        if (jobs[i].dup_of >= 0)
            jobs[i].stored = jobs[jobs[i].dup_of].stored;
    return rc;
}

static void
remember_chain(pt__dynamodb *d, const put_job *jobs, size_t count, int ok)
{
    const pt_record *last = jobs[count - 1].record;
    uint64_t next = 0;
    d->chain_valid = 0;
    if (!ok || !last || jobs[count - 1].base_us < 0 ||
        strlen(last->date) >= sizeof(d->chain_date) ||
        strlen(last->timestamp) >= sizeof(d->chain_ts))
        return;
    for (size_t i = 0; i < count; i++)
        if (same_key(jobs[i].record, last->date, last->timestamp) &&
            jobs[i].k + 1 > next)
            next = jobs[i].k + 1;
    pt__snprintf(d->chain_date, sizeof(d->chain_date), "%s", last->date);
    pt__snprintf(d->chain_ts, sizeof(d->chain_ts), "%s", last->timestamp);
    d->chain_next_k = next;
    d->chain_valid = 1;
}

/* ---- replay ---------------------------------------------------------------
 *
 * A replayed record may already be stored, k slots after its own time.
 * One strongly consistent Query per key reads the run of taken slots that
 * starts at that time (walking it write by write would cost a round trip
 * per slot); records found in it are done, the others are new and are
 * chained from the first free slot.  Every slot skipped was seen taken, so
 * the invariant above still holds. */

#define RUN_MAX 100000 /* longest run of taken slots read for one key */

typedef struct slot_run {
    char **sessions; /* sessions[k]: who holds slot k ("" when unknown) */
    size_t len;      /* first free slot */
    int complete;    /* 0: gave up (too long, or the day ended) */
} slot_run;

static void
slot_run_free(slot_run *r)
{
    for (size_t i = 0; i < r->len; i++)
        free(r->sessions[i]);
    free(r->sessions);
    memset(r, 0, sizeof(*r));
}

static void
expected_ts(char *out, const put_job *j, size_t k)
{
    if (k == 0)
        pt__snprintf(out, PT_TIMESTAMP_LEN + 1, "%s", j->record->timestamp);
    else
        pt__format_timestamp(out, j->base_us + (int64_t)k);
}

/* Consume one Query page; returns 1 when the run ended (a gap). */
static int
take_run_page(slot_run *run, const put_job *j, const cJSON *items)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, items)
    {
        char want[PT_TIMESTAMP_LEN + 1];
        const cJSON *ts = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "timestamp"), "S");
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(
            cJSON_GetObjectItemCaseSensitive(it, "session_id"), "S");
        if (run->len >= RUN_MAX ||
            j->base_us + (int64_t)run->len >= j->day_end - 1) {
            run->complete = 0;
            return 1;
        }
        expected_ts(want, j, run->len);
        if (!cJSON_IsString(ts) || strcmp(ts->valuestring, want) != 0)
            return 1;
        char **grown =
            realloc(run->sessions, (run->len + 1) * sizeof(*run->sessions));
        if (!grown)
            return -1;
        run->sessions = grown;
        run->sessions[run->len] =
            pt__strdup(cJSON_IsString(sid) ? sid->valuestring : "");
        if (!run->sessions[run->len])
            return -1;
        run->len++;
    }
    return 0;
}

static int
read_slot_run(pt__dynamodb *d, const put_job *j, slot_run *run)
{
    char *start_key = NULL;
    int rc = PT_OK, ended = 0;

    memset(run, 0, sizeof(*run));
    run->complete = 1;
    while (rc == PT_OK && !ended) {
        pt_buf body = PT_BUF_INIT, resp = PT_BUF_INIT;
        pt_buf_puts(&body, "{\"TableName\":");
        pt_buf_json_string(&body, d->table, strlen(d->table));
        pt_buf_puts(&body, ",\"KeyConditionExpression\":\"#d = :d AND #ts >= "
                           ":t\",\"ExpressionAttributeNames\":{\"#d\":"
                           "\"date\",\"#ts\":\"timestamp\"},"
                           "\"ExpressionAttributeValues\":{\":d\":{\"S\":");
        pt_buf_json_string(&body, j->record->date, strlen(j->record->date));
        pt_buf_puts(&body, "},\":t\":{\"S\":");
        pt_buf_json_string(&body, j->record->timestamp,
                           strlen(j->record->timestamp));
        pt_buf_puts(&body, "}},\"ProjectionExpression\":\"#ts, session_id\","
                           "\"ConsistentRead\":true");
        if (start_key) {
            pt_buf_puts(&body, ",\"ExclusiveStartKey\":");
            pt_buf_puts(&body, start_key);
            free(start_key);
            start_key = NULL;
        }
        pt_buf_putc(&body, '}');
        rc = pt_ddb_call(d->client, "Query", body.ptr, body.len, &resp, NULL);
        if (rc == PT_OK) {
            cJSON *doc = cJSON_ParseWithLength(resp.ptr, resp.len);
            const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "Items");
            const cJSON *last =
                cJSON_GetObjectItemCaseSensitive(doc, "LastEvaluatedKey");
            if (!cJSON_IsArray(items))
                rc = pt__fail(PT_EPARSE, "DynamoDB Query: no Items");
            else if ((ended = take_run_page(run, j, items)) < 0)
                rc = pt__fail(PT_ENOMEM, "out of memory");
            else if (!ended && cJSON_IsObject(last))
                start_key = cJSON_PrintUnformatted(last);
            else
                ended = 1;
            cJSON_Delete(doc);
        }
        pt_buf_free(&body);
        pt_buf_free(&resp);
    }
    free(start_key);
    return rc;
}

static int
run_holds(const slot_run *run, const pt_record *r)
{
    for (size_t k = 0; r->session_id && k < run->len; k++)
        if (strcmp(run->sessions[k], r->session_id) == 0)
            return 1;
    return 0;
}

/* Split one key's chain (head h) into stored records and new ones. */
static int
resolve_chain(pt__dynamodb *d, put_job *jobs, put_job *h)
{
    slot_run run;
    put_job *first_new = NULL, *prev_new = NULL;
    int rc = read_slot_run(d, h, &run);

    if (rc != PT_OK)
        return rc;
    if (!run.complete) {
        /* Too long a run (or the day's end): each record walks on its own
         * from its time, write by write; chained, a later one could skip
         * its own slot. */
        slot_run_free(&run);
        for (put_job *m = h, *nx; m; m = nx) {
            nx = m->next >= 0 ? &jobs[m->next] : NULL;
            m->resolved = 1;
            m->next = -1;
            m->k = 0;
            m->req.held = 0;
            if (build_body(m) != PT_OK)
                return pt__fail(PT_ENOMEM, "out of memory");
        }
        return PT_OK;
    }
    for (put_job *m = h; m; m = m->next >= 0 ? &jobs[m->next] : NULL) {
        m->resolved = 1;
        if (run_holds(&run, m->record)) {
            m->stored = 1;
            continue;
        }
        if (prev_new)
            prev_new->next = m - jobs;
        else
            first_new = m;
        prev_new = m;
    }
    if (prev_new)
        prev_new->next = -1;
    if (first_new) {
        first_new->req.held = 0;
        first_new->k = run.len;
        rc = build_body(first_new);
    }
    slot_run_free(&run);
    return rc;
}

static int
resolve_replay(pt__dynamodb *d, put_job *jobs, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        put_job *j = &jobs[i];
        if (j->req.held || j->dup_of >= 0 || j->base_us < 0 || j->resolved ||
            j->stored)
            continue; /* only chain heads not yet stored, once */
        int rc = resolve_chain(d, jobs, j);
        if (rc != PT_OK)
            return pt__dynamodb_fail(d, rc);
    }
    return PT_OK;
}

/* Replay: first every record at its own time (one request each: a record
 * already there is rewritten unchanged, a free slot takes it).  Only
 * records that met another record's item there go through resolution. */
static int
replay_puts(pt__dynamodb *d, put_job *jobs, size_t count)
{
    int rc;

    for (size_t i = 0; i < count; i++) {
        put_job *j = &jobs[i];
        if (j->dup_of >= 0)
            continue;
        j->next = -1;
        j->k = 0;
        j->req.held = 0;
        if (build_body(j) != PT_OK)
            return pt__fail(PT_ENOMEM, "out of memory");
    }
    d->probing = 1;
    rc = run_puts(d, jobs, count);
    d->probing = 0;
    if (rc == PT_OK)
        return PT_OK;
    for (size_t i = 0; i < count; i++) {
        put_job *j = &jobs[i];
        if (j->dup_of >= 0 || j->stored)
            continue;
        if (j->req.rc != PT_EEXIST || j->base_us < 0)
            return pt_ddb_request_error(&j->req); /* a real failure */
    }
    /* Chain the collided records per key, then read each key's run. */
    for (size_t i = 0; i < count; i++) {
        put_job *j = &jobs[i];
        if (j->dup_of >= 0 || j->stored)
            continue;
        pt_ddb_request_reset(&j->req);
        for (size_t p = i; p-- > 0;) {
            if (jobs[p].dup_of < 0 && !jobs[p].stored &&
                same_key(jobs[p].record, j->record->date,
                         j->record->timestamp)) {
                jobs[p].next = (long)i; /* p is the tail so far */
                j->req.held = 1;
                break;
            }
        }
    }
    rc = resolve_replay(d, jobs, count);
    return rc == PT_OK ? run_puts(d, jobs, count) : rc;
}

int
pt__dynamodb_put(pt_storage *s, const pt_record *const *records, size_t count,
                 int replay, size_t *written)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *c;
    put_job *jobs;
    int rc;

    *written = 0;
    if (count == 0)
        return PT_OK;
    rc = pt__dynamodb_client(d, &c);
    if (rc != PT_OK)
        return rc;
    jobs = calloc(count, sizeof(*jobs));
    if (!jobs)
        return pt__storage_fail(s, PT_ENOMEM, "out of memory");
    for (int pass = 0; pass < 2; pass++) {
        rc = prepare(jobs, d, records, count,
                     !replay && d->chain_valid && pass == 0);
        if (rc == PT_OK)
            rc =
                replay ? replay_puts(d, jobs, count) : run_puts(d, jobs, count);
        /* The table was missing: nothing was stored; create and redo. */
        if (rc == PT_OK || pass > 0 || !maybe_create_table(d, rc))
            break;
        for (size_t i = 0; i < count; i++)
            pt_ddb_request_free(&jobs[i].req);
        memset(jobs, 0, count * sizeof(*jobs));
    }
    if (rc != PT_OK)
        pt__dynamodb_fail(d, rc);
    remember_chain(d, jobs, count, rc == PT_OK);
    while (*written < count && jobs[*written].stored)
        (*written)++;
    for (size_t i = 0; i < count; i++)
        pt_ddb_request_free(&jobs[i].req);
    free(jobs);
    return rc;
}
