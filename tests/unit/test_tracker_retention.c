/*
 * Per-field retention through the public API: records dated across 100
 * days show each field only within its retention — through
 * pt_tracker_query(), pt_tracker_scan() — before and after
 * pt_tracker_purge(), which removes the expired fields from the day files
 * themselves.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "privtrack.h"
#include "test_tmpdir.h"
#include "policy_fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define DAYS 100
#define DAY  INT64_C(86400)

typedef struct fixture {
    pt_test_dirs dirs; /* first: pt_test_dirs_teardown() */
    int64_t now;
} fixture;
_Static_assert(offsetof(fixture, dirs) == 0, "pt_test_dirs_teardown()");

static int
setup(void **state)
{
    fixture *f = pt_test_dirs_fixture(sizeof(*f), "pt-ret");
    if (!f)
        return -1;
    f->now = (int64_t)time(NULL);
    *state = f;
    return 0;
}

/* Each field's own retention, in days (0: as long as the record). */
static const struct {
    const char *name;
    unsigned int field;
    int days;
} fields[] = {
    {"client_ip", PT_FIELD_CLIENT_IP, 90},
    {"user_agent", PT_FIELD_USER_AGENT, 7},
    {"links", PT_FIELD_LINKS, 30},
    {"titles", PT_FIELD_TITLES, 60},
    {"filenames", PT_FIELD_FILENAMES, 0},
};

static pt_tracker *
open_tracker(fixture *f)
{
    return pt_test_tracker(
        pt_test_policy("ret.ini",
                       "[storage]\npath = %s\nfsync = never\n"
                       "[ip]\nmode = keep\n"
                       "[retention]\nttl_days = 120\nclient_ip_days = 90\n"
                       "user_agent_days = 7\nlinks_days = 30\n"
                       "titles_days = 60\n"
                       "[fields]\nuser_agent = keep\nlinks = keep\n",
                       f->dirs.store),
        NULL);
}

/* One visit per day, 1 hour past a whole number of days ago: a field of
 * D days is shown for the visits of the D most recent days (k < D). */
static void
record_days(fixture *f, pt_tracker *t)
{
    const pt_header ua[] = {{"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; "
                                           "rv:121.0) Gecko Firefox/121.0"},
                            {"DNT", "0"}};
    const char *links[] = {"https://music.example/watch?v=abc"};
    const char *files[] = {"Song Title 1.m4a"};

    for (int k = 0; k < DAYS; k++) {
        pt_visit v = PT_VISIT_INIT;
        pt_track_result res;
        v.remote_addr = "203.0.113.7";
        v.headers = ua;
        v.header_count = 2;
        v.links = links;
        v.link_count = 1;
        v.filenames = files;
        v.filename_count = 1;
        v.time_us = (f->now - k * DAY - 3600) * 1000000;
        assert_int_equal(pt_track(t, &v, &res), PT_OK);
        assert_int_equal(res.dropped, PT_DROP_NONE);
    }
    assert_int_equal(pt_tracker_flush(t, 5000), PT_OK);
}

static unsigned int
present(const pt_record *r)
{
    unsigned int m = 0;
    m |= r->client_ip ? PT_FIELD_CLIENT_IP : 0;
    m |= r->user_agent ? PT_FIELD_USER_AGENT : 0;
    m |= r->link_count ? PT_FIELD_LINKS : 0;
    m |= r->title_count ? PT_FIELD_TITLES : 0;
    m |= r->filename_count ? PT_FIELD_FILENAMES : 0;
    return m;
}

/* What a record `k` days old must show. */
static unsigned int
expected(int k)
{
    unsigned int m = 0;
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (fields[i].days == 0 || k < fields[i].days)
            m |= fields[i].field;
    return m;
}

static void
date_of(const fixture *f, int k, char out[11])
{
    time_t d = (time_t)(f->now - 3600 - k * DAY);
    struct tm tm;
    gmtime_r(&d, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int
age_of(const fixture *f, const pt_record *r)
{
    for (int k = 0; k < DAYS; k++) {
        char date[11];
        date_of(f, k, date);
        if (strcmp(date, r->date) == 0)
            return k;
    }
    fail_msg("a record of %s, which no visit had", r->date);
    return -1;
}

typedef struct scanned {
    const fixture *f;
    int count;
} scanned;

static int
check_one(const pt_record *r, void *userdata)
{
    scanned *s = userdata;
    int k = age_of(s->f, r);
    if (present(r) != expected(k))
        fail_msg("%s (%d days old): fields 0x%x, expected 0x%x", r->date, k,
                 present(r), expected(k));
    /* counts survive every field's retention */
    assert_int_equal(r->num_links_submitted, 1);
    assert_int_equal(r->num_files_downloaded, 1);
    s->count++;
    return PT_OK;
}

static void
check_reads(fixture *f, pt_tracker *t)
{
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    char from[11], to[11];
    scanned s = {f, 0};

    date_of(f, DAYS - 1, from);
    date_of(f, 0, to);
    o.from = from;
    o.to = to;
    assert_int_equal(pt_tracker_scan(t, &o, check_one, &s), PT_OK);
    assert_int_equal(s.count, DAYS);

    {
        /* statistics read the same way: a record past client_ip_days
         * counts as a visit without an address */
        pt_stats_options so = PT_STATS_OPTIONS_INIT;
        char *json = NULL;
        so.from = from;
        so.to = to;
        so.min_group = 1;
        assert_int_equal(pt_tracker_stats(t, &so, &json), PT_OK);
        assert_non_null(strstr(json, "\"visits\":100,"));
        assert_non_null(strstr(json, "\"visits_without_address\":10,"));
        pt_free(json);
    }
    for (int k = 0; k < DAYS; k += 3) {
        pt_record_list *list = NULL;
        char date[11];
        date_of(f, k, date);
        assert_int_equal(pt_tracker_query(t, &list, date, 0), PT_OK);
        assert_int_equal(list->count, 1);
        assert_int_equal(present(&list->records[0]), expected(k));
        pt_record_list_free(list);
    }
}

/* The inode of the day file `k` days old: a rewrite replaces it. */
static ino_t
inode_of(const fixture *f, int k)
{
    char path[512], date[11];
    struct stat st;
    date_of(f, k, date);
    snprintf(path, sizeof(path), "%s/%s.jsonl", f->dirs.store, date);
    assert_int_equal(stat(path, &st), 0);
    return st.st_ino;
}

/* Bytes of every day file: which field names appear in which file. */
static unsigned int
fields_on_disk(const fixture *f, int k)
{
    char path[512], buf[8192], date[11];
    unsigned int m = 0;
    FILE *fp;
    size_t n;

    date_of(f, k, date);
    snprintf(path, sizeof(path), "%s/%s.jsonl", f->dirs.store, date);
    fp = fopen(path, "r");
    assert_non_null(fp);
    n = fread(buf, 1, sizeof(buf) - 1, fp);
    buf[n] = '\0';
    fclose(fp);
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        /* a string, or a list that is not empty */
        char key[32];
        snprintf(key, sizeof(key), "\"%s\":%s\"", fields[i].name,
                 fields[i].field & (PT_FIELD_CLIENT_IP | PT_FIELD_USER_AGENT)
                     ? ""
                     : "[");
        if (strstr(buf, key))
            m |= fields[i].field;
    }
    return m;
}

static void
test_fields_within_retention(void **state)
{
    fixture *f = *state;
    pt_tracker *t = open_tracker(f);
    uint64_t removed = 99;
    ino_t inodes[DAYS];

    record_days(f, t);
    /* before purge: everything is still on disk, reads hide it */
    assert_int_equal(fields_on_disk(f, DAYS - 1),
                     expected(0) | PT_FIELD_CLIENT_IP | PT_FIELD_USER_AGENT);
    check_reads(f, t);

    /* purge: the same fields leave the day files; nothing expires whole */
    assert_int_equal(pt_tracker_purge(t, 0, &removed), PT_OK);
    assert_int_equal(removed, 0);
    for (int k = 0; k < DAYS; k++)
        if (fields_on_disk(f, k) != expected(k))
            fail_msg("day file %d days old holds fields 0x%x, expected 0x%x", k,
                     fields_on_disk(f, k), expected(k));
    check_reads(f, t);
    /* a second purge finds nothing more to remove, and rewrites no file */
    for (int k = 0; k < DAYS; k++)
        inodes[k] = inode_of(f, k);
    assert_int_equal(pt_tracker_purge(t, 0, &removed), PT_OK);
    assert_int_equal(removed, 0);
    for (int k = 0; k < DAYS; k++)
        assert_true(inode_of(f, k) == inodes[k]);
    check_reads(f, t);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fields_within_retention, setup,
                                        pt_test_dirs_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
