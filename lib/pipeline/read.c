/*
 * Reading ranges of dates: pt_tracker_scan().
 *
 * A scan opens a backend instance of its own for the call instead of
 * borrowing the tracker's under backend_lock: a report over a year of
 * records may take seconds, and the writer thread must not wait for it
 * (its queue would fill and visits be dropped).  An instance costs little
 * to open (the file store opens nothing; DynamoDB connects on first use).
 */
#include "pipeline/pipeline.h"

#include "report/stats.h"
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>

/* Longest range a scan accepts: a century of dates is a mistake, not a
 * report (the CLI asks for --yes past 366 days). */
#define MAX_RANGE_DAYS 36600

int
pt__scan_options_check(const pt_scan_options *in, pt_scan_options *out)
{
    int64_t from, to;

    if (!in)
        return pt__fail(PT_EINVAL, "scan: options are NULL");
    if (in->version < 1 || in->version > PT_SCAN_OPTIONS_VERSION)
        return pt__fail(PT_EINVAL,
                        "scan: options version %u; this library knows 1..%u",
                        in->version, PT_SCAN_OPTIONS_VERSION);
    *out = *in;
    if (!out->to)
        out->to = out->from;
    if (pt__date_days(out->from, &from) != 0)
        return pt__fail(PT_EINVAL, "scan: '%s' is not a date (YYYY-MM-DD)",
                        out->from ? out->from : "(null)");
    if (pt__date_days(out->to, &to) != 0)
        return pt__fail(PT_EINVAL, "scan: '%s' is not a date (YYYY-MM-DD)",
                        out->to);
    if (from > to)
        return pt__fail(PT_EINVAL, "scan: the range %s..%s is reversed",
                        out->from, out->to);
    if (to - from >= MAX_RANGE_DAYS)
        return pt__fail(PT_EINVAL,
                        "scan: the range %s..%s is longer than %d "
                        "days",
                        out->from, out->to, MAX_RANGE_DAYS);
    if (!out->fields)
        out->fields = PT_FIELD_ALL;
    if (out->now <= 0)
        out->now = pt__now_us() / 1000000;
    return PT_OK;
}

int
pt__tracker_open_reader(pt_tracker *t, const char *what, pt_storage **out)
{
    int rc = pt__tracker_backend_usable(t, what);

    *out = NULL;
    if (rc != PT_OK)
        return rc;
    rc = pt__storage_open(out, t->policy, t->storage_path);
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s: %s", what, pt_last_error());
    return rc;
}

/* ---- per-field retention on reads ----------------------------------------
 */

typedef struct hide_ctx {
    const pt__retention *retention;
    int64_t now;
    pt_record_fn fn;
    void *userdata;
} hide_ctx;

static int
hide_expired_fields(const pt_record *record, void *ctx)
{
    const hide_ctx *h = ctx;
    unsigned int mask = pt__retention_hide_mask(h->retention, record, h->now);
    pt_record shown;

    if (!mask)
        return h->fn(record, h->userdata);
    shown = *record;
    pt__record_clear_fields(&shown, mask);
    return h->fn(&shown, h->userdata);
}

int
pt__tracker_storage_scan(pt_tracker *t, pt_storage *s,
                         const pt_scan_options *opts, pt_record_fn fn,
                         void *userdata)
{
    hide_ctx h = {&t->retention, opts->now, fn, userdata};

    if (!pt__retention_fields(&t->retention))
        return pt__storage_scan(s, opts, fn, userdata);
    return pt__storage_scan(s, opts, hide_expired_fields, &h);
}

void
pt__tracker_hide_list(const pt_tracker *t, pt_record_list *list, int64_t now)
{
    for (size_t i = 0; list && i < list->count; i++) {
        pt_record *r = &list->records[i];
        pt__record_clear_fields(r,
                                pt__retention_hide_mask(&t->retention, r, now));
    }
}

typedef struct strip_ctx {
    const pt__retention *retention;
    int64_t now;
    uint64_t changed;
} strip_ctx;

static int
strip_expired_fields(const pt_record *record, unsigned int *action, void *ctx)
{
    const strip_ctx *p = ctx;
    *action = pt__retention_hide_mask(p->retention, record, p->now);
    return PT_OK;
}

static void
count_stripped(const pt_rewrite_day *day, void *ctx)
{
    ((strip_ctx *)ctx)->changed += day->changed;
}

int
pt__tracker_purge_fields(pt_tracker *t, int64_t now)
{
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
    strip_ctx p = {&t->retention, now, 0};
    pt_storage *s = NULL;
    int rc = pt__tracker_open_reader(t, "purge", &s);

    if (rc != PT_OK)
        return rc;
    /* Only records holding such a field, of visits before the newest
     * cutoff, can have one past its retention. */
    o.only_with = pt__retention_fields(&t->retention);
    o.only_before = pt__retention_newest_cutoff(&t->retention, now);
    if (o.only_before <= 0)
        o.only_before = 1; /* nothing can be that old */
    s->errmsg[0] = '\0';
    rc = pt__storage_rewrite(s, &o, strip_expired_fields, count_stripped, &p);
    if (rc == PT_EUNSUPPORTED) {
        /* a backend that cannot change records: reads still hide them */
        pt__log(PT_LOG_WARN,
                "purge: the %s backend cannot remove fields from stored "
                "records; fields past their retention stay stored (reads "
                "never return them) until the record expires",
                s->methods->name);
        rc = PT_OK;
    }
    if (rc == PT_OK && p.changed)
        pt__log(PT_LOG_INFO,
                "purge: removed fields past their retention from %llu "
                "records",
                (unsigned long long)p.changed);
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "purge: %s",
                              s->errmsg[0] ? s->errmsg : pt_last_error());
    pt__storage_close(s);
    return rc;
}

int
pt_tracker_scan(pt_tracker *t, const pt_scan_options *opts, pt_record_fn fn,
                void *userdata)
{
    pt_scan_options o;
    pt_storage *s = NULL;
    int rc = pt__tracker_open_reader(t, "scan", &s);

    if (rc != PT_OK)
        return rc;
    if (!fn)
        rc = pt__fail(PT_EINVAL, "scan: the callback is NULL");
    else
        rc = pt__scan_options_check(opts, &o);
    if (rc != PT_OK) {
        pt__tracker_set_error(t, rc, "%s", pt_last_error());
        pt__storage_close(s);
        return rc;
    }
    s->errmsg[0] = '\0';
    rc = pt__tracker_storage_scan(t, s, &o, fn, userdata);
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s",
                              s->errmsg[0] ? s->errmsg : pt_last_error());
    pt__storage_close(s);
    return rc;
}

/* ---- statistics ---------------------------------------------------------- */

static int
stats_record(const pt_record *r, void *ctx)
{
    return pt__stats_add(ctx, r);
}

static unsigned int
policy_min_group(const pt_policy *policy)
{
    const char *v = pt_policy_get(policy, "report", "min_group");
    unsigned long k = v ? strtoul(v, NULL, 10) : 0;
    return k ? (unsigned int)k : 5;
}

/* A day file this big is counted by two threads, a half each (the
 * machine's second core then halves the time; smaller files are done
 * before a thread would help much). */
#define STATS_SPLIT_MIN_BYTES (16u << 20)

/* The statistics of one big day of the file store, its two halves counted
 * at once and merged; PT__SCAN_NOT_SPLIT (nothing counted) when the store,
 * the range or the file does not allow it or the halves cannot be merged
 * exactly: the caller then scans as usual. */
static int
stats_in_two_parts(pt_tracker *t, pt_storage *s, const pt_scan_options *o,
                   pt__stats *stats)
{
    pt_storage *other = NULL;
    pt__stats *second = NULL;
    hide_ctx h[2];
    pt_record_fn fn[2] = {stats_record, stats_record};
    void *ud[2];
    int rc;

    if (s->methods != &pt__file_storage_methods || strcmp(o->from, o->to) != 0)
        return PT__SCAN_NOT_SPLIT;
    if (pt__storage_open(&other, t->policy, t->storage_path) != PT_OK)
        return PT__SCAN_NOT_SPLIT;
    if ((rc = pt__stats_new_like(&second, stats)) != PT_OK) {
        pt__storage_close(other);
        return rc;
    }
    ud[0] = stats;
    ud[1] = second;
    if (pt__retention_fields(&t->retention)) {
        for (int i = 0; i < 2; i++) {
            h[i] = (hide_ctx){&t->retention, o->now, stats_record, ud[i]};
            fn[i] = hide_expired_fields;
            ud[i] = &h[i];
        }
    }
    rc = pt__file_scan_split(s, other, o, STATS_SPLIT_MIN_BYTES, fn, ud);
    if (rc == PT_OK) {
        rc = pt__stats_merge(stats, second);
        if (rc == PT__STATS_NOT_MERGED) {
            pt__stats_reset(stats); /* start again, as one scan */
            rc = PT__SCAN_NOT_SPLIT;
        }
    }
    pt__stats_free(second);
    pt__storage_close(other);
    return rc;
}

int
pt_tracker_stats(pt_tracker *t, const pt_stats_options *opts, char **json)
{
    pt__stats_config cfg;
    pt_scan_options scan = PT_SCAN_OPTIONS_INIT, o;
    pt__stats *stats = NULL;
    pt_storage *s = NULL;
    pt_buf out = PT_BUF_INIT;
    int rc;

    if (json)
        *json = NULL;
    if ((rc = pt__tracker_open_reader(t, "stats", &s)) != PT_OK)
        return rc;
    if (!json || !opts)
        rc = pt__fail(PT_EINVAL, "stats: NULL argument");
    else if (opts->version < 1 || opts->version > PT_STATS_OPTIONS_VERSION)
        rc = pt__fail(PT_EINVAL,
                      "stats: options version %u; this library knows 1..%u",
                      opts->version, PT_STATS_OPTIONS_VERSION);
    if (rc == PT_OK) {
        scan.from = opts->from;
        scan.to = opts->to;
        scan.now = opts->now;
        scan.fields = PT__STATS_FIELDS;
        rc = pt__scan_options_check(&scan, &o);
    }
    if (rc == PT_OK) {
        memset(&cfg, 0, sizeof(cfg));
        cfg.from = o.from;
        cfg.to = o.to;
        cfg.min_group =
            opts->min_group ? opts->min_group : policy_min_group(t->policy);
        cfg.top = opts->top;
        cfg.rotation = pt_policy_rotation(t->policy);
        rc = pt__stats_new(&stats, &cfg);
    }
    if (rc == PT_OK) {
        s->errmsg[0] = '\0';
        rc = stats_in_two_parts(t, s, &o, stats);
        if (rc == PT__SCAN_NOT_SPLIT)
            rc = pt__tracker_storage_scan(t, s, &o, stats_record, stats);
        if (rc != PT_OK && s->errmsg[0])
            pt__fail(rc, "%s", s->errmsg);
    }
    if (rc == PT_OK)
        rc = pt__stats_json(stats, &out);
    if (rc == PT_OK)
        *json = pt_buf_detach(&out);
    else
        pt__tracker_set_error(t, rc, "%s", pt_last_error());
    pt_buf_free(&out);
    pt__stats_free(stats);
    pt__storage_close(s);
    return rc;
}
