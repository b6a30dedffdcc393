/*
 * Data-subject requests: pt_tracker_subject_find(), _erase() and the
 * result's JSON document.
 *
 * Which stored value is whose is decided by policy/subject_match.c (pure);
 * this file walks the dates: it looks up the hash key of each date (one
 * lookup per key period), reads the store on a backend instance of its
 * own (find: scan(); erase: rewrite(), which deletes under the store's
 * rules), reads the spool, and keeps per-date counts.  The address and
 * its pseudonyms live in one heap block that is wiped before it is freed;
 * nothing here logs them or copies them into the result.
 */
#include "pipeline/pipeline.h"

#include "common/period.h"
#include "policy/subject_match.h"
#include "record/record.h"
#include "storage/storage.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Default range without a ttl: a year back. */
#define DEFAULT_DAYS_WITHOUT_TTL 366
#define MAX_RANGE_DAYS           36600

typedef struct subject_query {
    pt_tracker *t;
    const pt_subject_options *opts;
    pt_subject_result *res;
    int64_t first_day; /* days since the epoch of res->from */
    int64_t now;       /* Unix seconds */
    int have_ip;
    int spool_pass; /* reading the spool: count no date's records */
    /* wiped before free: the address and, per date, its pseudonyms */
    struct secret {
        pt__subject_ip ip;
        pt__subject_pseudonyms ps[];
    } * secret;
    size_t secret_size;
    unsigned char *have_ps; /* per date: ps[i] is usable */
    size_t spool_matches;   /* erase: the person's records in the spool */
    int failed;             /* an allocation failed in a callback */
} subject_query;

const char *
pt_subject_address_name(pt_subject_address status)
{
    switch (status) {
    case PT_SUBJECT_ADDRESS_SEARCHED:
        return "searched";
    case PT_SUBJECT_ADDRESS_KEY_DESTROYED:
        return "key destroyed";
    case PT_SUBJECT_ADDRESS_KEY_UNAVAILABLE:
        return "key unavailable";
    case PT_SUBJECT_ADDRESS_DROPPED:
        return "no address stored (ip mode drop)";
    }
    return "unknown";
}

void
pt_subject_result_free(pt_subject_result *r)
{
    if (!r)
        return;
    free(r->dates);
    pt_record_list_free(r->records);
    free(r->match);
    free(r);
}

/* ---- setting up ----------------------------------------------------------
 */

static int
check_options(const pt_subject_options *o)
{
    if (!o)
        return pt__fail(PT_EINVAL, "subject: options are NULL");
    if (o->version < 1 || o->version > PT_SUBJECT_OPTIONS_VERSION)
        return pt__fail(PT_EINVAL,
                        "subject: options version %u; this library knows "
                        "1..%u",
                        o->version, PT_SUBJECT_OPTIONS_VERSION);
    if ((!o->ip || !*o->ip) && (!o->session_id || !*o->session_id))
        return pt__fail(PT_EINVAL, "subject: give an address or a session "
                                   "id (a user agent alone is not one "
                                   "person)");
    return PT_OK;
}

/* The range: given, or the retention period up to today. */
static int
resolve_range(subject_query *q)
{
    const pt_subject_options *o = q->opts;
    pt_subject_result *r = q->res;
    unsigned int ttl = pt__policy_ttl_days(q->t->policy);
    int64_t first, last;

    if (o->to) {
        if (pt__date_days(o->to, &last) != 0)
            return pt__fail(PT_EINVAL,
                            "subject: the end of the range is not a date "
                            "(YYYY-MM-DD)");
    } else {
        last = q->now / 86400;
    }
    if (o->from) {
        if (pt__date_days(o->from, &first) != 0)
            return pt__fail(PT_EINVAL,
                            "subject: the start of the range is not a date "
                            "(YYYY-MM-DD)");
    } else {
        first = last - (ttl ? ttl : DEFAULT_DAYS_WITHOUT_TTL);
    }
    pt__format_date(r->from, first * 86400 * INT64_C(1000000));
    pt__format_date(r->to, last * 86400 * INT64_C(1000000));
    if (first > last)
        return pt__fail(PT_EINVAL, "subject: the range %s..%s is reversed",
                        r->from, r->to);
    if (last - first >= MAX_RANGE_DAYS)
        return pt__fail(PT_EINVAL,
                        "subject: the range %s..%s is longer than %d days",
                        r->from, r->to, MAX_RANGE_DAYS);
    q->first_day = first;
    r->date_count = (size_t)(last - first + 1);
    r->dates = calloc(r->date_count, sizeof(*r->dates));
    if (!r->dates)
        return pt__fail(PT_ENOMEM, "out of memory");
    for (size_t i = 0; i < r->date_count; i++)
        pt__format_date(r->dates[i].date,
                        (first + (int64_t)i) * 86400 * INT64_C(1000000));
    return PT_OK;
}

static int
ip_mode_is(const pt_policy *policy, const char *mode)
{
    const char *v = pt_policy_get(policy, "ip", "mode");
    return v && strcmp(v, mode) == 0;
}

/* The pseudonyms of every date, one key lookup per key period; dates
 * without a key say why. */
static int
date_keys(subject_query *q)
{
    pt_subject_result *r = q->res;
    pt_rotation rotation = pt_policy_rotation(q->t->policy);
    pt__period last_period = {rotation, 0, 0};
    pt__ip_key key;
    int have_period = 0, missing = PT__KEY_UNAVAILABLE, key_rc = PT_ENOTFOUND;

    if (ip_mode_is(q->t->policy, "drop")) {
        for (size_t i = 0; i < r->date_count; i++)
            r->dates[i].address = PT_SUBJECT_ADDRESS_DROPPED;
        return PT_OK;
    }
    if (!ip_mode_is(q->t->policy, "hash"))
        return PT_OK; /* keep, truncate: no key needed */
    memset(&key, 0, sizeof(key));
    for (size_t i = 0; i < r->date_count; i++) {
        int64_t t_us = (q->first_day + (int64_t)i) * PT__DAY_US;
        pt__period p = pt__period_of(rotation, t_us);
        if (!have_period || !pt__period_equal(&p, &last_period)) {
            pt__ip_key_wipe(&key);
            key_rc = pt__tracker_key_for_time(q->t, t_us, &key, &missing);
            if (key_rc != PT_OK && key_rc != PT_ENOTFOUND) {
                pt__ip_key_wipe(&key);
                return key_rc;
            }
            last_period = p;
            have_period = 1;
        }
        if (key_rc == PT_OK &&
            pt__subject_pseudonyms_of(&q->secret->ip, &key,
                                      &q->secret->ps[i]) == PT_OK) {
            q->have_ps[i] = 1;
        } else {
            r->dates[i].address = missing == PT__KEY_EXPIRED
                                      ? PT_SUBJECT_ADDRESS_KEY_DESTROYED
                                      : PT_SUBJECT_ADDRESS_KEY_UNAVAILABLE;
        }
    }
    pt__ip_key_wipe(&key);
    return PT_OK;
}

static int
query_start(subject_query *q, pt_tracker *t, const pt_subject_options *opts,
            int erase, pt_subject_result **out)
{
    int rc;

    memset(q, 0, sizeof(*q));
    q->t = t;
    q->opts = opts;
    q->now = opts->now > 0 ? opts->now : pt__now_us() / 1000000;
    q->res = calloc(1, sizeof(*q->res));
    if (!q->res)
        return pt__fail(PT_ENOMEM, "out of memory");
    q->res->erase = erase;
    q->res->time = q->now;
    if ((rc = pt_record_list_new(&q->res->records)) != PT_OK ||
        (rc = resolve_range(q)) != PT_OK)
        return rc;
    q->secret_size = sizeof(*q->secret) +
                     q->res->date_count * sizeof(pt__subject_pseudonyms);
    q->secret = calloc(1, q->secret_size);
    q->have_ps = calloc(q->res->date_count, 1);
    if (!q->secret || !q->have_ps)
        return pt__fail(PT_ENOMEM, "out of memory");
    if (opts->ip && *opts->ip) {
        if ((rc = pt__subject_ip_init(&q->secret->ip, t->policy, opts->ip)) !=
            PT_OK)
            return rc;
        q->have_ip = 1;
        q->res->criteria |= PT_SUBJECT_MATCH_ADDRESS;
        if ((rc = date_keys(q)) != PT_OK)
            return rc;
    }
    if (opts->session_id && *opts->session_id)
        q->res->criteria |= PT_SUBJECT_MATCH_SESSION;
    if (opts->user_agent && *opts->user_agent) {
        pt__subject_ua_family(opts->user_agent, q->res->user_agent_family);
        q->res->criteria |= PT_SUBJECT_CRITERION_USER_AGENT;
    }
    *out = q->res;
    return PT_OK;
}

static void
query_end(subject_query *q)
{
    if (q->secret) {
        sodium_memzero(q->secret, q->secret_size);
        free(q->secret);
    }
    free(q->have_ps);
}

/* ---- matching --------------------------------------------------------------
 */

/* The date's index in the range, or -1. */
static long
date_index(const subject_query *q, const char *date)
{
    int64_t days;
    if (!date || pt__date_days(date, &days) != 0 || days < q->first_day ||
        days - q->first_day >= (int64_t)q->res->date_count)
        return -1;
    return (long)(days - q->first_day);
}

/* How `r` matches the person (0: not theirs).  Counts the date's records
 * outside the spool pass. */
static unsigned int
match(subject_query *q, const pt_record *r, long *index)
{
    const pt_subject_options *o = q->opts;
    unsigned int how = 0;
    long i = date_index(q, r->date);

    *index = i;
    if (i < 0)
        return 0;
    if (!q->spool_pass) {
        q->res->dates[i].records++;
        if (!r->client_ip || !*r->client_ip)
            q->res->dates[i].without_address++;
    }
    if (o->session_id && *o->session_id) {
        if (!r->session_id || strcmp(r->session_id, o->session_id) != 0)
            return 0;
        how |= PT_SUBJECT_MATCH_SESSION;
    }
    if (q->have_ip) {
        unsigned int ip = pt__subject_ip_match(
            &q->secret->ip, q->have_ps[i] ? &q->secret->ps[i] : NULL,
            r->client_ip);
        if (!ip)
            return 0;
        how |= ip;
    }
    if (o->user_agent && *o->user_agent &&
        !pt__subject_ua_match(o->user_agent, q->res->user_agent_family,
                              r->user_agent))
        return 0;
    return how;
}

/* Keep a found record (fields past their retention left out, or, for an
 * erase, its keys only). */
static int
keep_found(subject_query *q, const pt_record *r, unsigned int how, long i)
{
    pt_subject_result *res = q->res;
    pt_record shown;
    unsigned int *bigger;

    if (res->erase) {
        memset(&shown, 0, sizeof(shown));
        shown.date = r->date;
        shown.timestamp = r->timestamp;
    } else {
        shown = *r;
        pt__record_clear_fields(
            &shown, pt__retention_hide_mask(&q->t->retention, r, q->now));
    }
    bigger = realloc(res->match, (res->records->count + 1) * sizeof(*bigger));
    if (!bigger)
        return PT_ENOMEM;
    res->match = bigger;
    if (pt_record_list_append(res->records, &shown) != PT_OK)
        return PT_ENOMEM;
    res->match[res->records->count - 1] = how;
    res->matched |= how;
    res->found++;
    res->dates[i].found++;
    if (how & PT_SUBJECT_MATCH_SPOOL)
        res->in_spool++;
    return PT_OK;
}

/* Match a stored record and keep it when it is the person's: 1 when it
 * is, 0 when not, PT_ENOMEM. */
static int
take_stored(subject_query *q, const pt_record *r)
{
    long i;
    unsigned int how = match(q, r, &i);

    if (!how)
        return 0;
    if (keep_found(q, r, how, i) != PT_OK) {
        q->failed = 1;
        return PT_ENOMEM;
    }
    return 1;
}

static int
found_stored(const pt_record *r, void *ctx)
{
    int rc = take_stored(ctx, r);
    return rc < 0 ? rc : PT_OK;
}

static int
found_spooled(const pt_record *r, void *ctx)
{
    subject_query *q = ctx;
    long i;
    unsigned int how;

    /* a spooled record that has expired is not held any more */
    if (r->ttl > 0 && r->ttl < q->now)
        return PT_OK;
    how = match(q, r, &i);
    if (!how)
        return PT_OK;
    if (q->res->erase) {
        q->spool_matches++;
        return PT_OK;
    }
    if (keep_found(q, r, how | PT_SUBJECT_MATCH_SPOOL, i) != PT_OK) {
        q->failed = 1;
        return PT_ENOMEM;
    }
    return PT_OK;
}

static int
read_spool(subject_query *q)
{
    int rc;

    q->spool_pass = 1;
    rc = pt__spool_read(q->t->spool_dir, found_spooled, q);
    q->spool_pass = 0;
    if (rc != PT_OK && !q->failed)
        rc =
            pt__fail(rc, "subject: cannot read the spool: %s", pt_last_error());
    return rc;
}

/* ---- find ------------------------------------------------------------------
 */

static int
report(pt_tracker *t, const char *what, int rc, const pt_storage *s)
{
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s: %s", what,
                              s && s->errmsg[0] ? s->errmsg : pt_last_error());
    return rc;
}

int
pt_tracker_subject_find(pt_tracker *t, const pt_subject_options *opts,
                        pt_subject_result **out)
{
    pt_scan_options scan = PT_SCAN_OPTIONS_INIT;
    subject_query q;
    pt_storage *s = NULL;
    pt_subject_result *res = NULL;
    int rc;

    if (!out)
        return pt__fail(PT_EINVAL, "subject find: out is NULL");
    *out = NULL;
    if ((rc = pt__tracker_open_reader(t, "subject find", &s)) != PT_OK)
        return rc;
    rc = check_options(opts);
    if (rc == PT_OK)
        rc = query_start(&q, t, opts, 0, &res);
    else
        memset(&q, 0, sizeof(q));
    if (rc == PT_OK) {
        scan.from = res->from;
        scan.to = res->to;
        scan.now = q.now;
        scan.fields = PT_FIELD_ALL; /* the backend reads only these */
        s->errmsg[0] = '\0';
        rc = pt__storage_scan(s, &scan, found_stored, &q);
        if (rc != PT_OK && q.failed)
            rc = pt__fail(PT_ENOMEM, "out of memory");
    }
    if (rc == PT_OK)
        rc = read_spool(&q);
    query_end(&q);
    rc = report(t, "subject find", rc, s);
    pt__storage_close(s);
    if (rc != PT_OK) {
        pt_subject_result_free(res ? res : q.res);
        return rc;
    }
    *out = res;
    return PT_OK;
}

/* ---- erase -----------------------------------------------------------------
 */

typedef struct erase_ctx {
    subject_query *q;
    int first_rc;
    size_t day_start;     /* records kept before the date in progress */
    pt_record_list *gone; /* keys of the date in progress deleted for
                             certain (the backend's `deleted`) */
    size_t dates_done;    /* dates the backend reported (done or failed) */
} erase_ctx;

static int
erase_decide(const pt_record *r, unsigned int *action, void *ctx)
{
    int rc = take_stored(((erase_ctx *)ctx)->q, r);

    if (rc < 0)
        return rc;
    if (rc == 1)
        *action = PT_REWRITE_DELETE;
    return PT_OK;
}

static void
erase_deleted(const pt_record *r, void *ctx)
{
    erase_ctx *e = ctx;
    pt_record key;

    memset(&key, 0, sizeof(key));
    key.date = r->date;
    key.timestamp = r->timestamp;
    if (pt_record_list_append(e->gone, &key) != PT_OK)
        e->q->failed = 1;
}

/* How the record with `key`'s date and timestamp matched, among the
 * records of the date in progress (0: not one of them). */
static unsigned int
day_match(const erase_ctx *e, const pt_record *key)
{
    const pt_subject_result *res = e->q->res;

    for (size_t j = e->day_start; j < res->records->count; j++) {
        const pt_record *r = &res->records->records[j];
        if (strcmp(r->date, key->date) == 0 &&
            strcmp(r->timestamp, key->timestamp) == 0)
            return res->match[j];
    }
    return 0;
}

/* A failed date: the receipt lists the records deleted before it failed
 * (those the backend told of), and only them. */
static void
keep_only_gone(erase_ctx *e, long i)
{
    subject_query *q = e->q;
    pt_subject_result *res = q->res;
    size_t n = e->gone->count;
    unsigned int *how = n ? calloc(n, sizeof(*how)) : NULL;
    uint64_t dropped = res->records->count - e->day_start;

    if (n && !how) {
        q->failed = 1;
        n = 0;
    }
    for (size_t k = 0; k < n; k++)
        how[k] = day_match(e, &e->gone->records[k]);
    pt__record_list_truncate(res->records, e->day_start);
    res->found -= dropped;
    res->dates[i].found -= dropped;
    for (size_t k = 0; k < n; k++)
        if (how[k] && keep_found(q, &e->gone->records[k], how[k], i) != PT_OK)
            q->failed = 1;
    free(how);
}

/* Add `v` to the set of stored forms unless there or empty; 0 once the
 * set would outgrow PT_REWRITE_MAX_VALUES. */
static int
add_form(const char **set, size_t *n, const char *v)
{
    if (!*v)
        return 1;
    for (size_t i = 0; i < *n; i++)
        if (strcmp(set[i], v) == 0)
            return 1;
    if (*n == PT_REWRITE_MAX_VALUES)
        return 0;
    set[(*n)++] = v;
    return 1;
}

/* The hint of an erase by address: every client_ip that match() could
 * take for the person over the range (the address, its network and, per
 * date with a key, its pseudonyms), into `set` (PT_REWRITE_MAX_VALUES
 * entries, pointing into q->secret).  0: no hint (too many forms). */
static size_t
stored_forms(const subject_query *q, const char **set)
{
    const struct secret *sec = q->secret;
    size_t n = 0;
    int fits = add_form(set, &n, sec->ip.address) &&
               add_form(set, &n, sec->ip.network);

    for (size_t i = 0; fits && i < q->res->date_count; i++)
        if (q->have_ps[i])
            fits = add_form(set, &n, sec->ps[i].host) &&
                   add_form(set, &n, sec->ps[i].network);
    return fits ? n : 0;
}

static void
erase_day(const pt_rewrite_day *day, void *ctx)
{
    erase_ctx *e = ctx;
    subject_query *q = e->q;
    long i = date_index(q, day->date);

    if (i >= 0 && day->rc != PT_OK && q->res->erase == 1)
        keep_only_gone(e, i);
    pt__record_list_truncate(e->gone, 0);
    e->dates_done++;
    if (i < 0)
        return;
    e->day_start = q->res->records->count;
    /* read, though not handed over: they count as read */
    q->res->dates[i].records += day->skipped;
    q->res->dates[i].deleted = day->deleted;
    q->res->dates[i].rc = day->rc;
    q->res->deleted += day->deleted;
    if (day->rc != PT_OK && e->first_rc == PT_OK)
        e->first_rc = day->rc;
}

int
pt_tracker_subject_erase(pt_tracker *t, const pt_subject_options *opts,
                         pt_subject_result **out)
{
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
    const char *forms[PT_REWRITE_MAX_VALUES];
    subject_query q;
    erase_ctx e;
    pt_storage *s = NULL;
    pt_subject_result *res = NULL;
    int rc, list_only;

    if (!out)
        return pt__fail(PT_EINVAL, "subject erase: out is NULL");
    *out = NULL;
    if ((rc = pt__tracker_open_reader(t, "subject erase", &s)) != PT_OK)
        return rc;
    rc = check_options(opts);
    list_only = rc == PT_OK && (opts->flags & PT_SUBJECT_LIST_ONLY);
    if (rc == PT_OK)
        rc = query_start(&q, t, opts, list_only ? 2 : 1, &res);
    else
        memset(&q, 0, sizeof(q));
    /* The spool first: its records would come back after the erase. */
    if (rc == PT_OK)
        rc = read_spool(&q);
    if (rc == PT_OK && q.spool_matches && !list_only)
        rc = pt__fail(PT_EEXIST,
                      "subject erase: %zu of the person's records wait in "
                      "the spool (%s): replay it (privtrack spool replay) "
                      "and erase again; nothing was deleted",
                      q.spool_matches, t->spool_dir);
    e.gone = NULL;
    e.dates_done = 0;
    if (rc == PT_OK)
        rc = pt_record_list_new(&e.gone);
    if (rc == PT_OK) {
        e.q = &q;
        e.first_rc = PT_OK;
        e.day_start = 0;
        o.from = res->from;
        o.to = res->to;
        o.flags = list_only ? PT_REWRITE_LIST_ONLY : 0;
        o.deleted = erase_deleted;
        if (q.have_ip) {
            /* no record is the person's unless its client_ip is one of
             * these: a backend may leave the others on the server */
            o.only_field = PT_FIELD_CLIENT_IP;
            o.only_values = forms;
            o.only_value_count = stored_forms(&q, forms);
        }
        s->errmsg[0] = '\0';
        rc = pt__storage_rewrite(s, &o, erase_decide, erase_day, &e);
        if (rc != PT_OK && q.failed)
            rc = pt__fail(PT_ENOMEM, "out of memory");
        if (rc == PT_OK)
            rc = e.first_rc;
        if (list_only)
            for (size_t i = 0; i < res->date_count; i++)
                res->dates[i].deleted = res->dates[i].found;
        if (list_only)
            res->deleted = res->found;
    }
    pt_record_list_free(e.gone);
    query_end(&q);
    rc = report(t, "subject erase", rc, s);
    pt__storage_close(s);
    /* Those codes name failures before anything was deleted (options, the
     * spool, a backend without rewrite) unless a date was reported: then
     * they are a date's, and the result says what went. */
    if (rc != PT_OK && (!res || !res->dates ||
                        (!e.dates_done && (rc == PT_EINVAL || rc == PT_EEXIST ||
                                           rc == PT_EUNSUPPORTED)))) {
        pt_subject_result_free(res ? res : q.res);
        return rc;
    }
    if (!list_only && res->deleted)
        pt__log(PT_LOG_INFO, "subject erase: %llu records deleted from %s..%s",
                (unsigned long long)res->deleted, res->from, res->to);
    *out = res;
    return rc;
}
