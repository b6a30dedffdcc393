/*
 * pt_tracker_scan() through the public API: the file store over a range of
 * dates, a scan that does not hold up the writer, argument checks, and a
 * backend written before scan() existed (methods version 1), read through
 * its query().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "privtrack.h"
#include "test_tmpdir.h"
#include "policy_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fixture {
    pt_test_dirs dirs; /* first: pt_test_dirs_teardown() */
} fixture;
_Static_assert(offsetof(fixture, dirs) == 0, "pt_test_dirs_teardown()");

static int
setup(void **state)
{
    fixture *f = pt_test_dirs_fixture(sizeof(*f), "pt-scan");
    if (!f)
        return -1;
    *state = f;
    return 0;
}

static pt_policy *
make_policy(const char *backend, const char *path, int dry_run)
{
    return pt_test_policy("scan.ini",
                          "[policy]\nname = scan\ndry_run = %s\n"
                          "[storage]\nbackend = %s\npath = %s\n"
                          "[ip]\nmode = truncate\n[retention]\nttl_days = 0\n",
                          dry_run ? "true" : "false", backend, path);
}

/* Session ids in the order the callback saw them. */
typedef struct seen {
    char ids[64][32];
    char dates[64][11];
    size_t count;
    pt_tracker *track_into; /* track and flush from inside the callback */
    int flush_rc;
} seen;

static int
remember(const pt_record *r, void *userdata)
{
    seen *s = userdata;
    assert_true(s->count < 64);
    snprintf(s->ids[s->count], sizeof(s->ids[0]), "%s",
             r->session_id ? r->session_id : "-");
    snprintf(s->dates[s->count], sizeof(s->dates[0]), "%s", r->date);
    s->count++;
    if (s->track_into) {
        pt_visit v = PT_VISIT_INIT;
        v.remote_addr = "192.0.2.1";
        assert_int_equal(pt_track(s->track_into, &v, NULL), PT_OK);
        /* The writer must be able to store it while the scan runs. */
        s->flush_rc = pt_tracker_flush(s->track_into, 5000);
        s->track_into = NULL;
    }
    return PT_OK;
}

static int
scan(pt_tracker *t, const char *from, const char *to, unsigned int flags,
     size_t limit, seen *out)
{
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    o.from = from;
    o.to = to;
    o.flags = flags;
    o.limit = limit;
    return pt_tracker_scan(t, &o, remember, out);
}

static int64_t
day_us(int day, int hour)
{
    /* 2025-01-01T00:00:00Z = 1735689600 */
    return ((int64_t)1735689600 + (int64_t)(day - 1) * 86400 +
            (int64_t)hour * 3600) *
           1000000;
}

static void
test_file_range_through_the_tracker(void **state)
{
    fixture *f = *state;
    pt_policy *p = make_policy("file", f->dirs.store, 0);
    pt_tracker *t;
    seen up = {0}, down = {0}, during = {0};
    pt_track_result res;
    char ids[5][24];

    assert_int_equal(pt_tracker_open(&t, p, NULL), PT_OK);
    for (int i = 0; i < 5; i++) {
        pt_visit v = PT_VISIT_INIT;
        v.remote_addr = "198.51.100.7";
        v.time_us = day_us(14 + i / 2, i); /* 14th, 14th, 15th, 15th, 16th */
        assert_int_equal(pt_track(t, &v, &res), PT_OK);
        snprintf(ids[i], sizeof(ids[i]), "%s", res.session_id);
    }
    assert_int_equal(pt_tracker_flush(t, 5000), PT_OK);
    assert_int_equal(scan(t, "2025-01-13", "2025-01-16", 0, 0, &up), PT_OK);
    assert_int_equal(up.count, 5);
    for (int i = 0; i < 5; i++)
        assert_string_equal(up.ids[i], ids[i]);
    assert_string_equal(up.dates[4], "2025-01-16");
    assert_int_equal(
        scan(t, "2025-01-14", "2025-01-16", PT_SCAN_NEWEST_FIRST, 3, &down),
        PT_OK);
    assert_int_equal(down.count, 3);
    assert_string_equal(down.ids[0], ids[4]);
    assert_string_equal(down.ids[2], ids[2]);
    /* A scan runs on an instance of its own: the writer stores a visit
     * tracked from inside the callback while the scan is under way. */
    during.track_into = t;
    assert_int_equal(scan(t, "2025-01-14", "2025-01-14", 0, 0, &during), PT_OK);
    assert_int_equal(during.flush_rc, PT_OK);
    assert_int_equal(during.count, 2);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    pt_policy_free(p);
}

static void
test_arguments(void **state)
{
    fixture *f = *state;
    pt_policy *p = make_policy("file", f->dirs.store, 0);
    pt_policy *dry = make_policy("file", f->dirs.store, 1);
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    pt_tracker *t, *d;
    seen s = {0};

    assert_int_equal(pt_tracker_open(&t, p, NULL), PT_OK);
    assert_int_equal(scan(t, "2025-01-16", "2025-01-14", 0, 0, &s), PT_EINVAL);
    assert_non_null(strstr(pt_tracker_errmsg(t), "reversed"));
    assert_int_equal(scan(t, "2025-02-30", NULL, 0, 0, &s), PT_EINVAL);
    assert_int_equal(scan(t, NULL, NULL, 0, 0, &s), PT_EINVAL);
    assert_int_equal(scan(t, "1900-01-01", "2025-01-01", 0, 0, &s), PT_EINVAL);
    o.from = "2025-01-01";
    assert_int_equal(pt_tracker_scan(t, &o, NULL, NULL), PT_EINVAL);
    o.version = 99;
    assert_int_equal(pt_tracker_scan(t, &o, remember, &s), PT_EINVAL);
    assert_non_null(strstr(pt_tracker_errmsg(t), "version"));
    assert_int_equal(pt_tracker_scan(NULL, &o, remember, &s), PT_EINVAL);
    /* `to` defaults to `from`; a date with nothing stored is no error. */
    assert_int_equal(scan(t, "2025-01-01", NULL, 0, 0, &s), PT_OK);
    assert_int_equal(s.count, 0);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    assert_int_equal(pt_tracker_open(&d, dry, NULL), PT_OK);
    assert_int_equal(scan(d, "2025-01-01", NULL, 0, 0, &s), PT_EUNSUPPORTED);
    assert_int_equal(pt_tracker_close(d, 5000), PT_OK);
    pt_policy_free(p);
    pt_policy_free(dry);
}

/* ---- a version-1 backend: query() only ----------------------------------
 * Two dates of three records each; the one at 02:00 on the 15th expired. */

static int old_queries;

static int
old_open(pt_storage **out, const pt_policy *policy, const char *path)
{
    (void)policy;
    (void)path;
    *out = calloc(1, sizeof(pt_storage));
    return *out ? PT_OK : PT_ENOMEM;
}

static int
old_query(pt_storage *s, pt_record_list **out, const char *date, size_t limit,
          int64_t now)
{
    (void)s;
    old_queries++;
    assert_int_equal(pt_record_list_new(out), PT_OK);
    if (strcmp(date, "2025-01-14") != 0 && strcmp(date, "2025-01-15") != 0)
        return PT_OK;
    for (int hour = 3; hour >= 1; hour--) { /* newest first */
        char ts[40], sid[32];
        pt_record r;
        if (limit && (*out)->count == limit)
            break;
        memset(&r, 0, sizeof(r));
        snprintf(ts, sizeof(ts), "%sT0%d:00:00.000000+00:00", date, hour);
        snprintf(sid, sizeof(sid), "%c%d", date[9], hour);
        r.date = date;
        r.timestamp = ts;
        r.session_id = sid;
        /* An old backend that forgets to filter: the library still
         * never shows an expired record. */
        r.ttl = date[9] == '5' && hour == 2 ? now - 1 : 0;
        assert_int_equal(pt_record_list_append(*out, &r), PT_OK);
    }
    return PT_OK;
}

static void
old_close(pt_storage *s)
{
    free(s);
}

/* A table laid out as version 1 ends at close(); the field after it is
 * zero here, and the library must not read it for a version-1 table. */
static const pt_storage_methods old_methods = {
    1,         "old-v1",  PT_STORAGE_CAP_QUERY,
    old_open,  NULL,      NULL,
    old_query, NULL,      NULL,
    NULL,      old_close, NULL,
    NULL,
};

static void
test_version_1_backend_read_through_query(void **state)
{
    fixture *f = *state;
    pt_policy *p = make_policy("old-v1", f->dirs.store, 0);
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *t;
    seen up = {0}, down = {0};
    static const char *const up_ids[] = {"41", "42", "43", "51", "53"};
    static const char *const down_ids[] = {"53", "51", "43"};

    assert_int_equal(pt_storage_register(&old_methods), PT_OK);
    o.read_only = 1;
    assert_int_equal(pt_tracker_open(&t, p, &o), PT_OK);
    old_queries = 0;
    assert_int_equal(scan(t, "2025-01-13", "2025-01-16", 0, 0, &up), PT_OK);
    assert_int_equal(old_queries, 4); /* one query() per date */
    assert_int_equal(up.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(up.ids[i], up_ids[i]);
    assert_int_equal(
        scan(t, "2025-01-13", "2025-01-16", PT_SCAN_NEWEST_FIRST, 3, &down),
        PT_OK);
    assert_int_equal(down.count, 3);
    for (size_t i = 0; i < 3; i++)
        assert_string_equal(down.ids[i], down_ids[i]);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    pt_policy_free(p);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, pt_test_dirs_teardown)
    const struct CMUnitTest tests[] = {
        T(test_file_range_through_the_tracker),
        T(test_arguments),
        T(test_version_1_backend_read_through_query),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
