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

#include "storage/storage.h"

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
    int rc;

    *out = NULL;
    if (!t)
        return pt__fail(PT_EINVAL, "%s: tracker is NULL", what);
    if (pt__tracker_forked(t))
        return pt__fail(PT_ECLOSED, "%s: tracker opened before fork()", what);
    if (!t->backend) {
        pt__tracker_set_error(t, PT_EUNSUPPORTED,
                              "%s: a dry-run tracker has no storage backend",
                              what);
        return PT_EUNSUPPORTED;
    }
    rc = pt__storage_open(out, t->policy, t->storage_path);
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s: %s", what, pt_last_error());
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
    rc = pt__storage_scan(s, &o, fn, userdata);
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s",
                              s->errmsg[0] ? s->errmsg : pt_last_error());
    pt__storage_close(s);
    return rc;
}
