/*
 * scan(): a range of dates, one Query per date, several dates in flight.
 *
 * Records must reach the callback date by date, in order, and memory must
 * not grow with the range.  So the scan goes in rounds: each round sends,
 * at once, the next page of the date being delivered and the first page of
 * the next SCAN_DATES - 1 dates, then delivers what it can in order.  A
 * date ahead keeps at most one page (≤ 1 MB) until its turn; its next page
 * is asked for only then.  Many small dates therefore cost one round trip
 * per SCAN_DATES of them; one big date is read page after page, as any
 * reader must (LastEvaluatedKey is what says where the next page starts).
 *
 * Each Query asks only for the attributes the caller reads
 * (ProjectionExpression), filters expired records on the server (and again
 * here), and stops early with Limit when the caller has a limit.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define SCAN_DATES 4

typedef struct scan_date {
    char date[PT_DATE_LEN + 1];
    char *start_key; /* where the next page starts; NULL: the first page */
    int requested;   /* the next page is in the round being sent */
    int finished;    /* no page left to ask for */
    int has_page;    /* req.response holds a page not delivered yet */
    pt_ddb_request req;
} scan_date;

typedef struct scan_state {
    pt__dynamodb *d;
    const pt_scan_options *opts;
    pt_record_fn fn;
    void *userdata;
    size_t delivered;
    int64_t next_day, last_day, step;
    int days_left;
    scan_date dates[SCAN_DATES]; /* dates[0] is being delivered */
    size_t ndates;
} scan_state;

/* Attribute names by PT_FIELD_* bit; date, timestamp and ttl always. */
static const struct {
    unsigned int bit;
    const char *name;
} projected[] = {
    {0, "date"},
    {0, "timestamp"},
    {0, "ttl"},
    {PT_FIELD_SESSION_ID, "session_id"},
    {PT_FIELD_CLIENT_IP, "client_ip"},
    {PT_FIELD_USER_AGENT, "user_agent"},
    {PT_FIELD_COUNTS, "num_links_submitted"},
    {PT_FIELD_COUNTS, "num_files_downloaded"},
    {PT_FIELD_COUNTS, "has_errors"},
    {PT_FIELD_COUNTS, "error_count"},
    {PT_FIELD_LINKS, "links"},
    {PT_FIELD_TITLES, "titles"},
    {PT_FIELD_FILENAMES, "filenames"},
    {PT_FIELD_POLICY, "policy"},
};
#define N_PROJECTED (sizeof(projected) / sizeof(projected[0]))

/* Every name goes through ExpressionAttributeNames (#p0 ...): date,
 * timestamp and ttl are reserved words, and so may others be one day. */
static void
query_body(pt_buf *b, const scan_state *st, const scan_date *sd)
{
    const pt__dynamodb *d = st->d;
    size_t limit = st->opts->limit ? st->opts->limit - st->delivered : 0;
    int first = 1;

    if (d->page_limit && (limit == 0 || limit > d->page_limit))
        limit = d->page_limit;
    if (limit > 1000000) /* Limit is a 32-bit Integer; pages are 1 MB */
        limit = 1000000;
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, d->table, strlen(d->table));
    pt_buf_puts(b, ",\"KeyConditionExpression\":\"#p0 = :d\","
                   "\"FilterExpression\":\"attribute_not_exists(#p2) OR "
                   "#p2 >= :now\",\"ProjectionExpression\":\"");
    for (size_t i = 0; i < N_PROJECTED; i++) {
        if (projected[i].bit && !(st->opts->fields & projected[i].bit))
            continue;
        pt_buf_printf(b, "%s#p%zu", first ? "" : ",", i);
        first = 0;
    }
    pt_buf_puts(b, "\",\"ExpressionAttributeNames\":{");
    first = 1;
    for (size_t i = 0; i < N_PROJECTED; i++) {
        if (projected[i].bit && !(st->opts->fields & projected[i].bit))
            continue;
        pt_buf_printf(b, "%s\"#p%zu\":\"%s\"", first ? "" : ",", i,
                      projected[i].name);
        first = 0;
    }
    pt_buf_puts(b, "},\"ExpressionAttributeValues\":{\":d\":{\"S\":");
    pt_buf_json_string(b, sd->date, strlen(sd->date));
    pt_buf_printf(b, "},\":now\":{\"N\":\"%" PRId64 "\"}},", st->opts->now);
    pt_buf_puts(b, st->opts->flags & PT_SCAN_NEWEST_FIRST
                       ? "\"ScanIndexForward\":false"
                       : "\"ScanIndexForward\":true");
    if (limit > 0)
        pt_buf_printf(b, ",\"Limit\":%zu", limit);
    if (sd->start_key) {
        pt_buf_puts(b, ",\"ExclusiveStartKey\":");
        pt_buf_puts(b, sd->start_key);
    }
    pt_buf_putc(b, '}');
}

/* Take the next date of the range into the last place, if any is left. */
static void
add_date(scan_state *st)
{
    scan_date *sd;
    if (!st->days_left || st->ndates == SCAN_DATES)
        return;
    sd = &st->dates[st->ndates++];
    memset(sd, 0, sizeof(*sd));
    pt__format_date(sd->date, st->next_day * 86400 * (int64_t)1000000);
    pt_ddb_request_init(&sd->req, "Query");
    st->next_day += st->step;
    st->days_left--;
}

static void
drop_first_date(scan_state *st)
{
    scan_date *sd = &st->dates[0];
    free(sd->start_key);
    pt_ddb_request_free(&sd->req);
    memmove(&st->dates[0], &st->dates[1],
            (st->ndates - 1) * sizeof(st->dates[0]));
    st->ndates--;
    add_date(st);
}

/* One round: the next page of every date that has none waiting. */
static int
send_round(scan_state *st)
{
    pt_ddb_request *reqs[SCAN_DATES];
    size_t n = 0;

    for (size_t i = 0; i < st->ndates; i++) {
        scan_date *sd = &st->dates[i];
        if (sd->finished || sd->has_page)
            continue;
        pt_buf_clear(&sd->req.body);
        pt_buf_clear(&sd->req.response);
        pt_ddb_request_reset(&sd->req);
        query_body(&sd->req.body, st, sd);
        if (sd->req.body.oom)
            return pt__fail(PT_ENOMEM, "out of memory");
        sd->requested = 1;
        reqs[n++] = &sd->req;
    }
    if (n == 0)
        return PT_OK;
    st->d->stats.queries += n;
    st->d->stats.query_rounds++;
    if (n > st->d->stats.query_in_flight)
        st->d->stats.query_in_flight = n;
    (void)pt_ddb_run(st->d->client, reqs, n, NULL, NULL);
    for (size_t i = 0; i < st->ndates; i++) {
        scan_date *sd = &st->dates[i];
        if (!sd->requested)
            continue;
        sd->requested = 0;
        if (sd->req.rc != PT_OK)
            return pt_ddb_request_error(&sd->req);
        sd->has_page = 1;
    }
    return PT_OK;
}

/* Hand one page of the first date to the callback; 1 when the caller is
 * done (limit met or PT_SCAN_STOP). */
static int
deliver_page(scan_state *st)
{
    scan_date *sd = &st->dates[0];
    cJSON *doc = NULL;
    pt_record_list *page = NULL;
    char *next_key = NULL;
    const cJSON *item, *todo, *items;
    int rc;

    sd->has_page = 0;
    rc = pt__ddb_page_parse(sd->req.response.ptr, sd->req.response.len, "Query",
                            &doc, &next_key);
    items = cJSON_GetObjectItemCaseSensitive(doc, "Items");
    if (rc == PT_OK && next_key && sd->start_key &&
        strcmp(next_key, sd->start_key) == 0)
        rc = pt__fail(PT_ECORRUPT, "DynamoDB Query: the server returned the "
                                   "same LastEvaluatedKey twice");
    if (rc == PT_OK)
        rc = pt_record_list_new(&page);
    todo = rc == PT_OK ? items : NULL;
    cJSON_ArrayForEach(item, todo)
    {
        int64_t ttl = pt__dynamodb_item_ttl(item);
        if (ttl > 0 && ttl < st->opts->now)
            continue; /* the server's filter, double-checked */
        rc = pt__dynamodb_item_append(page, item);
        if (rc == PT_EPARSE) {
            pt__log(PT_LOG_WARN, "dynamodb: skipped an item without date or "
                                 "timestamp");
            rc = PT_OK;
        }
        if (rc != PT_OK)
            break;
    }
    cJSON_Delete(doc);
    pt_buf_clear(&sd->req.response);
    for (size_t i = 0; rc == PT_OK && page && i < page->count; i++) {
        rc = st->fn(&page->records[i], st->userdata);
        if (rc == PT_OK && st->opts->limit &&
            ++st->delivered >= st->opts->limit)
            rc = PT_SCAN_STOP;
    }
    pt_record_list_free(page);
    free(sd->start_key);
    sd->start_key = next_key;
    sd->finished = next_key == NULL;
    return rc == PT_SCAN_STOP ? 1 : rc;
}

int
pt__dynamodb_scan(pt_storage *s, const pt_scan_options *opts, pt_record_fn fn,
                  void *userdata)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt_ddb_client *client;
    int64_t from, to;
    scan_state st;
    int rc = pt__dynamodb_client(d, &client);

    if (rc != PT_OK)
        return rc;
    if (pt__date_days(opts->from, &from) || pt__date_days(opts->to, &to))
        return pt__storage_fail(s, PT_EINVAL, "invalid date range");
    memset(&st, 0, sizeof(st));
    st.d = d;
    st.opts = opts;
    st.fn = fn;
    st.userdata = userdata;
    st.step = opts->flags & PT_SCAN_NEWEST_FIRST ? -1 : 1;
    st.next_day = st.step > 0 ? from : to;
    st.days_left = (int)(to - from + 1);
    while (st.ndates < SCAN_DATES && st.days_left)
        add_date(&st);
    while (rc == PT_OK && st.ndates > 0) {
        rc = send_round(&st);
        while (rc == PT_OK && st.ndates > 0 && st.dates[0].has_page) {
            rc = deliver_page(&st);
            if (rc == PT_OK && st.dates[0].finished)
                drop_first_date(&st);
        }
    }
    st.days_left = 0;
    while (st.ndates > 0)
        drop_first_date(&st);
    if (rc == 1)
        return PT_OK;
    return rc == PT_OK ? PT_OK : pt__dynamodb_fail(d, rc);
}
