/*
 * rewrite() on DynamoDB: erasure (a person's records) and removing fields
 * (per-field retention).
 *
 * A range of dates is read with one Query per date, page by page (never a
 * Scan: a table holds every date); every item is handed to the callback,
 * expired ones too (a rewrite is not a read).  The dates go one after the
 * other, one Query in flight (pt__dynamodb_pages): with two dates in flight
 * at once, dynalite spent 20-30 % more CPU on the same pages and the erase
 * was slower in alternated runs (bench/README.md, row 11).
 * Deletions are gathered over the date's pages and sent 25 to a
 * BatchWriteItem (the last, partial one when the date ends), whose
 * UnprocessedItems are sent again with the client's backoff
 * (pt__dynamodb_delete_keys, shared with purge).  Each key the server took
 * is counted, and told to the `deleted` callback, also when the date fails
 * after: what is gone is said.  Removing fields is one UpdateItem ... REMOVE
 * per item, on the condition that the item still exists (UpdateItem would
 * otherwise create it again).  Without a range (purge of fields over the whole
 * store) the table is read with a Scan, as purge does.
 *
 * With the hint only_values (an erase by address: every stored form the
 * address can take), a date's Query carries "#c IN (:v0, ...) OR
 * attribute_not_exists(#c)" on client_ip, so the server sends only the
 * person's items and those storing no address; the others it read are
 * counted (ScannedCount - Count) as skipped.
 *
 * Nothing is held across pages but the counts and at most 24 keys to
 * delete, so memory stays flat.  A
 * rewrite killed midway leaves what it deleted deleted and the rest as it
 * was: running it again finds only what is left, and deletes nothing once
 * done.  Items written meanwhile by other writers are never touched
 * unless the callback asks for them.
 */
#include "storage/dynamodb.h"

#include "record/record.h"

#include <cjson/cJSON.h>

#include <stdlib.h>
#include <string.h>

typedef struct rewriter {
    pt__dynamodb *d;
    const pt_rewrite_options *opts;
    pt_rewrite_fn fn;
    void *userdata;
    const char *date; /* the date being handed over; NULL: a Scan */
    pt_rewrite_day day;
    pt_record_list *scratch;            /* one parsed item at a time */
    int aborted;                        /* the callback failed */
    cJSON *batch[PT__DDB_DELETE_BATCH]; /* keys to delete, not sent yet */
    size_t n_batch;
} rewriter;

/* The values of a usable only_values hint (0: none). */
static size_t
filter_values(const pt_rewrite_options *o)
{
    if (o->version < 3 || o->only_field != PT_FIELD_CLIENT_IP ||
        !o->only_values || o->only_value_count > PT_REWRITE_MAX_VALUES)
        return 0;
    for (size_t i = 0; i < o->only_value_count; i++)
        if (!o->only_values[i] || !*o->only_values[i])
            return 0; /* not a stored value: no filter */
    return o->only_value_count;
}

/* The next page's request from start_key: w->date's Query, or with no
 * date the Scan of the whole table.  pt__dynamodb_pages sends each body
 * once: a date's are its Queries. */
static void
page_body(pt_buf *b, const char *start_key, void *ctx)
{
    rewriter *w = ctx;
    const char *date = w->date;
    size_t nv = date ? filter_values(w->opts) : 0;

    if (date) {
        w->d->stats.queries++;
        w->d->stats.query_rounds++;
        if (w->d->stats.query_in_flight < 1)
            w->d->stats.query_in_flight = 1;
    }

    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, w->d->table, strlen(w->d->table));
    pt_buf_puts(b, ",\"ExpressionAttributeNames\":{\"#d\":\"date\"");
    pt_buf_puts(b, nv ? ",\"#c\":\"client_ip\"}" : "}");
    if (date) {
        pt_buf_puts(b, ",\"KeyConditionExpression\":\"#d = :d\"");
        if (nv) {
            pt_buf_puts(b, ",\"FilterExpression\":\"#c IN (");
            for (size_t i = 0; i < nv; i++)
                pt_buf_printf(b, "%s:v%zu", i ? ", " : "", i);
            pt_buf_puts(b, ") OR attribute_not_exists(#c)\"");
        }
        pt_buf_puts(b, ",\"ExpressionAttributeValues\":{\":d\":{\"S\":");
        pt_buf_json_string(b, date, strlen(date));
        pt_buf_putc(b, '}');
        for (size_t i = 0; i < nv; i++) {
            const char *v = w->opts->only_values[i];
            pt_buf_printf(b, ",\":v%zu\":{\"S\":", i);
            pt_buf_json_string(b, v, strlen(v));
            pt_buf_putc(b, '}');
        }
        pt_buf_putc(b, '}');
        if (w->d->page_limit) /* tests: small pages */
            pt_buf_printf(b, ",\"Limit\":%u", w->d->page_limit);
    } else {
        /* a whole-table rewrite never touches slot leases */
        pt_buf_puts(b, ",\"FilterExpression\":\"#d <> :lease\","
                       "\"ExpressionAttributeValues\":{\":lease\":{\"S\":"
                       "\"" PT__DDB_LEASE_PARTITION "\"}}");
    }
    if (start_key) {
        pt_buf_puts(b, ",\"ExclusiveStartKey\":");
        pt_buf_puts(b, start_key);
    }
    pt_buf_putc(b, '}');
}

/* The item's key, as a new object (NULL when out of memory or absent). */
static cJSON *
item_key(const cJSON *item)
{
    cJSON *key = cJSON_CreateObject();
    const cJSON *date = cJSON_GetObjectItemCaseSensitive(item, "date");
    const cJSON *ts = cJSON_GetObjectItemCaseSensitive(item, "timestamp");

    if (!key || !date || !ts ||
        !cJSON_AddItemToObject(key, "date", cJSON_Duplicate(date, 1)) ||
        !cJSON_AddItemToObject(key, "timestamp", cJSON_Duplicate(ts, 1))) {
        cJSON_Delete(key);
        return NULL;
    }
    return key;
}

/* UpdateItem ... REMOVE of the fields in `mask`, if the item still
 * exists. */
static int
remove_fields(rewriter *w, const cJSON *item, unsigned int mask)
{
    static const struct {
        unsigned int field;
        const char *name;
    } names[] = {{PT_FIELD_CLIENT_IP, "client_ip"},
                 {PT_FIELD_USER_AGENT, "user_agent"},
                 {PT_FIELD_LINKS, "links"},
                 {PT_FIELD_TITLES, "titles"},
                 {PT_FIELD_FILENAMES, "filenames"}};
    cJSON *key = item_key(item);
    char *key_text = key ? cJSON_PrintUnformatted(key) : NULL;
    pt_buf b = PT_BUF_INIT, names_b = PT_BUF_INIT, resp = PT_BUF_INIT;
    char type[96] = "";
    int rc, n = 0;

    cJSON_Delete(key);
    if (!key_text)
        return pt__fail(PT_ENOMEM, "out of memory");
    pt_buf_puts(&b, "{\"TableName\":");
    pt_buf_json_string(&b, w->d->table, strlen(w->d->table));
    pt_buf_printf(&b, ",\"Key\":%s,\"UpdateExpression\":\"REMOVE ", key_text);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (mask & names[i].field) {
            pt_buf_printf(&b, "%s#f%zu", n ? ", " : "", i);
            pt_buf_printf(&names_b, ",\"#f%zu\":\"%s\"", i, names[i].name);
            n++;
        }
    pt_buf_puts(&b, "\",\"ConditionExpression\":\"attribute_exists(#d)\","
                    "\"ExpressionAttributeNames\":{\"#d\":\"date\"");
    pt_buf_put(&b, names_b.ptr, names_b.len);
    pt_buf_puts(&b, "}}");
    free(key_text);
    rc = b.oom || names_b.oom ? pt__fail(PT_ENOMEM, "out of memory")
                              : pt_ddb_call(w->d->client, "UpdateItem", b.ptr,
                                            b.len, &resp, type);
    if (rc != PT_OK && strcmp(type, "ConditionalCheckFailedException") == 0)
        rc = 1; /* deleted meanwhile: nothing to change */
    pt_buf_free(&b);
    pt_buf_free(&names_b);
    pt_buf_free(&resp);
    return rc;
}

/* Told of a deletion: the key as a record, to the deleted callback. */
static int
tell_deleted(rewriter *w, const cJSON *key)
{
    int rc;

    if (w->opts->version < 2 || !w->opts->deleted)
        return PT_OK;
    pt__record_list_truncate(w->scratch, 0);
    rc = pt__dynamodb_item_append(w->scratch, key);
    if (rc == PT_OK)
        w->opts->deleted(&w->scratch->records[0], w->userdata);
    return rc == PT_EPARSE ? PT_OK : rc;
}

/* Forget the deletions not sent (the date failed: they are not done). */
static void
drop_batch(rewriter *w)
{
    for (size_t i = 0; i < w->n_batch; i++)
        cJSON_Delete(w->batch[i]);
    w->n_batch = 0;
}

/* Send the gathered deletions; count those the server took (on failure
 * too: they are gone). */
static int
flush_deletes(rewriter *w)
{
    unsigned char done[PT__DDB_DELETE_BATCH];
    int rc = PT_OK;

    if (w->n_batch > 0 && !(w->opts->flags & PT_REWRITE_LIST_ONLY)) {
        rc = pt__dynamodb_delete_keys(w->d, w->batch, w->n_batch, done);
        for (size_t i = 0; i < w->n_batch; i++) {
            int told;
            if (!done[i])
                continue;
            w->day.deleted++;
            if ((told = tell_deleted(w, w->batch[i])) != PT_OK && rc == PT_OK)
                rc = told;
        }
    } else {
        w->day.deleted += w->n_batch;
    }
    drop_batch(w);
    return rc;
}

/* One record: what does the callback ask for? */
static int
decide(rewriter *w, const cJSON *item, unsigned int *action)
{
    int rc;

    *action = PT_REWRITE_KEEP;
    pt__record_list_truncate(w->scratch, 0);
    rc = pt__dynamodb_item_append(w->scratch, item);
    if (rc == PT_EPARSE)
        return PT_OK; /* not a record (no date or timestamp): kept */
    if (rc != PT_OK)
        return rc;
    w->day.seen++;
    rc = w->fn(&w->scratch->records[0], action, w->userdata);
    if (rc != PT_OK) {
        w->aborted = 1;
        return rc < 0 ? rc : PT_EINVAL;
    }
    if (!(*action & PT_REWRITE_DELETE))
        *action &= PT__RECORD_REMOVABLE_FIELDS &
                   pt__record_fields_present(&w->scratch->records[0]);
    return PT_OK;
}

/* One page: decide on each item; deletions wait in w->batch until 25 are
 * gathered or the date (a Scan: the page) ends. */
static int
take_page(cJSON *doc, void *ctx)
{
    rewriter *w = ctx;
    cJSON *item;
    const cJSON *scanned =
        cJSON_GetObjectItemCaseSensitive(doc, "ScannedCount");
    const cJSON *count = cJSON_GetObjectItemCaseSensitive(doc, "Count");
    int rc = PT_OK;

    /* items the filter left out (only_values) */
    if (cJSON_IsNumber(scanned) && cJSON_IsNumber(count) &&
        scanned->valuedouble > count->valuedouble)
        w->day.skipped += (uint64_t)(scanned->valuedouble - count->valuedouble);
    cJSON_ArrayForEach(item, cJSON_GetObjectItemCaseSensitive(doc, "Items"))
    {
        unsigned int action;
        if ((rc = decide(w, item, &action)) != PT_OK)
            break;
        if (action & PT_REWRITE_DELETE) {
            if (!(w->batch[w->n_batch] = item_key(item))) {
                rc = pt__fail(PT_ENOMEM, "out of memory");
                break;
            }
            if (++w->n_batch == PT__DDB_DELETE_BATCH &&
                (rc = flush_deletes(w)) != PT_OK)
                break;
        } else if (action) {
            int changed = 1;
            if (!(w->opts->flags & PT_REWRITE_LIST_ONLY)) {
                changed = remove_fields(w, item, action);
                if (changed < 0) {
                    rc = changed;
                    break;
                }
                changed = changed == PT_OK;
            }
            w->day.changed += (uint64_t)changed;
        }
    }
    if (rc == PT_OK && !w->date)
        rc = flush_deletes(w);
    return rc;
}

/* The end of a date (or of the whole table): the deletions still
 * gathered go (not when it failed), then the report. */
static int
end_date(rewriter *w, int rc, pt_rewrite_day_fn day_fn)
{
    if (rc == PT_OK)
        rc = flush_deletes(w);
    drop_batch(w);
    w->day.rc = rc;
    if (day_fn)
        day_fn(&w->day, w->userdata);
    return rc;
}

/* One date (or with date NULL the whole table): its pages, then the
 * report. */
static int
rewrite_one(rewriter *w, const char *date, pt_rewrite_day_fn day_fn)
{
    memset(&w->day, 0, sizeof(w->day));
    w->day.date = date;
    w->date = date;
    return end_date(w,
                    pt__dynamodb_pages(w->d, date ? "Query" : "Scan", page_body,
                                       take_page, w),
                    day_fn);
}

/* The dates first..last (days since the epoch), in order. */
static int
rewrite_range(rewriter *w, int64_t first, int64_t last,
              pt_rewrite_day_fn day_fn)
{
    int first_rc = PT_OK;

    for (int64_t day = first; day <= last; day++) {
        char date[PT_DATE_LEN + 1];
        int rc;
        /* dates that start at or after only_before hold nothing to change */
        if (w->opts->only_before > 0 && day * 86400 >= w->opts->only_before)
            continue;
        pt__format_date(date, day * 86400 * INT64_C(1000000));
        rc = rewrite_one(w, date, day_fn);
        if (rc != PT_OK && first_rc == PT_OK) {
            first_rc = rc;
            pt__dynamodb_fail(w->d, rc);
        }
        if (w->aborted || rc == PT_ENOMEM)
            break;
    }
    return first_rc;
}

int
pt__dynamodb_rewrite(pt_storage *s, const pt_rewrite_options *opts,
                     pt_rewrite_fn fn, pt_rewrite_day_fn day_fn, void *userdata)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    rewriter w;
    pt_ddb_client *c;
    int64_t first, last;
    int rc = pt__dynamodb_client(d, &c), first_rc;

    /* What a replay has seen may be deleted now (dynamodb_seen.h). */
    if (!(opts->flags & PT_REWRITE_LIST_ONLY))
        pt__ddb_seen_clear(&d->seen);
    memset(&w, 0, sizeof(w));
    w.d = d;
    w.opts = opts;
    w.fn = fn;
    w.userdata = userdata;
    if (rc == PT_OK)
        rc = pt_record_list_new(&w.scratch);
    if (rc != PT_OK)
        return pt__dynamodb_fail(d, rc);
    if (!opts->from) {
        rc = rewrite_one(&w, NULL, day_fn);
        pt_record_list_free(w.scratch);
        return rc == PT_OK ? PT_OK : pt__dynamodb_fail(d, rc);
    }
    if (pt__date_days(opts->from, &first) ||
        pt__date_days(opts->to ? opts->to : opts->from, &last) ||
        first > last) {
        pt_record_list_free(w.scratch);
        return pt__storage_fail(s, PT_EINVAL, "invalid date range");
    }
    first_rc = rewrite_range(&w, first, last, day_fn);
    pt_record_list_free(w.scratch);
    return first_rc;
}
