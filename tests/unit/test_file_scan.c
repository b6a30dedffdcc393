/* Unit tests for the file store's scan(): ranges of dates read through a
 * callback, forwards and backwards, in bounded memory, with damaged and
 * hostile day files. */
#include "file_store_fixture.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* What a scan handed over: "date|timestamp|session" per record. */
typedef struct seen {
    char **keys;
    size_t count, cap;
    size_t stop_after; /* PT_SCAN_STOP after this many (0: never) */
    int fail_after;    /* return -42 after this many (0: never) */
    unsigned int fields;
    int checked_fields;
} seen;

static int
remember(const pt_record *r, void *userdata)
{
    seen *s = userdata;
    char key[128];

    if (s->count == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->keys = realloc(s->keys, s->cap * sizeof(*s->keys));
        assert_non_null(s->keys);
    }
    assert_non_null(r->date);
    assert_non_null(r->timestamp);
    snprintf(key, sizeof(key), "%s|%s|%s", r->date, r->timestamp,
             r->session_id ? r->session_id : "-");
    s->keys[s->count++] = strdup(key);
    if (s->fields == PT_FIELD_CLIENT_IP) {
        /* Only what was asked for (and date, timestamp, ttl). */
        assert_null(r->session_id);
        assert_null(r->user_agent);
        assert_null(r->policy);
        assert_null(r->titles);
        assert_int_equal(r->title_count, 0);
        assert_int_equal(r->link_count, 0);
        assert_int_equal(r->num_files_downloaded, 0);
        assert_string_equal(r->client_ip, "203.0.113.0");
        s->checked_fields++;
    }
    if (s->fail_after && s->count == (size_t)s->fail_after)
        return -42;
    if (s->stop_after && s->count == s->stop_after)
        return PT_SCAN_STOP;
    return PT_OK;
}

static void
seen_free(seen *s)
{
    for (size_t i = 0; i < s->count; i++)
        free(s->keys[i]);
    free(s->keys);
    memset(s, 0, sizeof(*s));
}

static int
scan(pt_storage *st, const char *from, const char *to, unsigned int flags,
     size_t limit, int64_t now, seen *out)
{
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    o.from = from;
    o.to = to;
    o.flags = flags;
    o.limit = limit;
    o.fields = out->fields ? out->fields : PT_FIELD_ALL;
    o.now = now ? now : 1700000000;
    return st->methods->scan(st, &o, remember, out);
}

/* Records on the 14th, 15th and 17th (none on the 16th), stored in an
 * order that is not time order on the 15th. */
static pt_storage *
three_days(fixture *f)
{
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    rec_buf r[6];
    size_t written;

    make_rec(&r[0], "2025-01-14", 100, 0, "1-a", 0);
    make_rec(&r[1], "2025-01-15", 300, 0, "2-b", 0);
    make_rec(&r[2], "2025-01-15", 200, 0, "3-c", 0); /* stored late */
    make_rec(&r[3], "2025-01-15", 400, 0, "4-d", 0);
    make_rec(&r[4], "2025-01-17", 50, 0, "5-e", 0);
    make_rec(&r[5], "2025-01-17", 60, 0, "6-f", 0);
    assert_int_equal(put(s, r, 6, 0, &written), PT_OK);
    assert_int_equal(written, 6);
    return s;
}

static void
test_range_in_both_directions(void **state)
{
    fixture *f = *state;
    pt_storage *s = three_days(f);
    seen fwd = {0}, back = {0};

    assert_int_equal(scan(s, "2025-01-13", "2025-01-18", 0, 0, 0, &fwd), PT_OK);
    assert_int_equal(fwd.count, 6);
    /* Dates in order; a date's records in stored order. */
    assert_string_equal(fwd.keys[0], "2025-01-14|2025-01-14T00:01:40.000000"
                                     "+00:00|1-a");
    assert_non_null(strstr(fwd.keys[1], "|2-b"));
    assert_non_null(strstr(fwd.keys[2], "|3-c"));
    assert_non_null(strstr(fwd.keys[3], "|4-d"));
    assert_non_null(strstr(fwd.keys[5], "|6-f"));
    /* Newest first: the same records exactly reversed. */
    assert_int_equal(
        scan(s, "2025-01-13", "2025-01-18", PT_SCAN_NEWEST_FIRST, 0, 0, &back),
        PT_OK);
    assert_int_equal(back.count, 6);
    for (size_t i = 0; i < 6; i++)
        assert_string_equal(back.keys[i], fwd.keys[5 - i]);
    seen_free(&fwd);
    seen_free(&back);
    s->methods->close(s);
}

static void
test_limit_stop_and_errors(void **state)
{
    fixture *f = *state;
    pt_storage *s = three_days(f);
    seen a = {0}, b = {0}, c = {0};

    /* A limit spans dates. */
    assert_int_equal(
        scan(s, "2025-01-14", "2025-01-17", PT_SCAN_NEWEST_FIRST, 3, 0, &a),
        PT_OK);
    assert_int_equal(a.count, 3);
    assert_non_null(strstr(a.keys[2], "|4-d"));
    /* The callback stops it: success, nothing more delivered. */
    b.stop_after = 2;
    assert_int_equal(scan(s, "2025-01-14", "2025-01-17", 0, 0, 0, &b), PT_OK);
    assert_int_equal(b.count, 2);
    /* The callback fails it: its code comes back. */
    c.fail_after = 4;
    assert_int_equal(scan(s, "2025-01-14", "2025-01-17", 0, 0, 0, &c), -42);
    assert_int_equal(c.count, 4);
    seen_free(&a);
    seen_free(&b);
    seen_free(&c);
    s->methods->close(s);
}

static void
test_fields_and_expiry(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    rec_buf r[3];
    size_t written;
    seen only_ip = {0}, live = {0};

    make_rec(&r[0], DAY, 1, 0, "1-a", 0);          /* no ttl */
    make_rec(&r[1], DAY, 2, 0, "2-b", 1000);       /* expired */
    make_rec(&r[2], DAY, 3, 0, "3-c", 2000000000); /* live */
    assert_int_equal(put(s, r, 3, 0, &written), PT_OK);
    only_ip.fields = PT_FIELD_CLIENT_IP;
    assert_int_equal(scan(s, DAY, DAY, 0, 0, 0, &only_ip), PT_OK);
    assert_int_equal(only_ip.count, 2);
    assert_int_equal(only_ip.checked_fields, 2);
    assert_int_equal(scan(s, DAY, DAY, 0, 0, 999, &live), PT_OK);
    assert_int_equal(live.count, 3); /* `now` decides what expired */
    seen_free(&only_ip);
    seen_free(&live);
    s->methods->close(s);
}

/* Deterministic xorshift, so a failure reproduces. */
static uint32_t
next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* Record `i` of DAY (session "<i>-x") with one title: `n` times the
 * letter of `i`, written into `title` (room for n + 1 bytes). */
static void
put_titled(pt_storage *s, int i, char *title, size_t n)
{
    rec_buf r;
    size_t written;
    const char *titles[1] = {title};
    char sid[32];
    memset(title, 'a' + i % 26, n);
    title[n] = '\0';
    snprintf(sid, sizeof(sid), "%d-x", i);
    make_rec(&r, DAY, i, 0, sid, 0);
    r.r.titles = titles;
    assert_int_equal(put(s, &r, 1, 0, &written), PT_OK);
}

/* Lines of every length across many 256 KiB blocks, with blank, corrupt
 * and torn lines: backwards reads exactly the forward lines, reversed. */
static void
test_backwards_equals_forwards_reversed(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    uint32_t x = 2463534242u;
    char *title = malloc(70000);
    seen fwd = {0}, back = {0};

    assert_non_null(title);
    for (int i = 0; i < 3000; i++) {
        size_t n = next_random(&x) % 600;
        if (i % 500 == 7)
            n = 60000 + next_random(&x) % 5000; /* spans blocks */
        put_titled(s, i, title, n);
        if (i % 700 == 3)
            append_raw(f, DAY, "\n\n{\"not\": a record}\n", 20);
    }
    /* A torn last line: skipped both ways, with a warning. */
    append_raw(f, DAY, "{\"date\":\"2025-01-15\",\"timest", 28);
    logged[0] = '\0';
    assert_int_equal(scan(s, DAY, DAY, 0, 0, 0, &fwd), PT_OK);
    assert_int_equal(fwd.count, 3000);
    assert_non_null(strstr(logged, "torn last line"));
    assert_non_null(strstr(logged, "corrupt record"));
    logged[0] = '\0';
    assert_int_equal(scan(s, DAY, DAY, PT_SCAN_NEWEST_FIRST, 0, 0, &back),
                     PT_OK);
    assert_int_equal(back.count, 3000);
    for (size_t i = 0; i < 3000; i++)
        assert_string_equal(back.keys[i], fwd.keys[2999 - i]);
    /* Backwards, places are byte offsets (line numbers are unknown). */
    assert_non_null(strstr(logged, "torn last line"));
    assert_non_null(strstr(logged, "line at byte "));
    free(title);
    seen_free(&fwd);
    seen_free(&back);
    s->methods->close(s);
}

/* A line longer than PT__FILE_MAX_LINE is skipped and reported once, in
 * either direction, and the lines around it still read. */
static void
test_overlong_line_both_ways(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    size_t n = PT__FILE_MAX_LINE + (1u << 20);
    char *junk = malloc(n + 1);
    rec_buf r[2];
    size_t written;
    seen fwd = {0}, back = {0};

    assert_non_null(junk);
    make_rec(&r[0], DAY, 1, 0, "1-a", 0);
    make_rec(&r[1], DAY, 2, 0, "2-b", 0);
    assert_int_equal(put(s, &r[0], 1, 0, &written), PT_OK);
    memset(junk, 'z', n);
    junk[n] = '\n';
    append_raw(f, DAY, junk, n + 1);
    free(junk);
    assert_int_equal(put(s, &r[1], 1, 0, &written), PT_OK);
    logged[0] = '\0';
    assert_int_equal(scan(s, DAY, DAY, 0, 0, 0, &fwd), PT_OK);
    assert_int_equal(fwd.count, 2);
    assert_int_equal(count_substr(logged, "line too long"), 1);
    logged[0] = '\0';
    assert_int_equal(scan(s, DAY, DAY, PT_SCAN_NEWEST_FIRST, 0, 0, &back),
                     PT_OK);
    assert_int_equal(back.count, 2);
    assert_non_null(strstr(back.keys[0], "|2-b"));
    assert_non_null(strstr(back.keys[1], "|1-a"));
    assert_int_equal(count_substr(logged, "line too long"), 1);
    seen_free(&fwd);
    seen_free(&back);
    s->methods->close(s);
}

/* A FIFO would block a reader for ever, a link lead out of the store:
 * both are refused at once, with the path in the message. */
static void
test_fifo_and_symlink_refused(void **state)
{
    fixture *f = *state;
    pt_storage *s = three_days(f);
    char path[512], target[512];
    seen a = {0}, b = {0};

    day_path(f, "2025-01-16", path, sizeof(path));
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(scan(s, "2025-01-14", "2025-01-17", 0, 0, 0, &a),
                     PT_EACCESS);
    assert_non_null(strstr(s->errmsg, "not a regular file"));
    assert_non_null(strstr(s->errmsg, "2025-01-16.jsonl"));
    assert_int_equal(a.count, 4); /* the 14th and 15th, then the refusal */
    unlink(path);
    day_path(f, "2025-01-14", target, sizeof(target));
    assert_int_equal(symlink(target, path), 0);
    assert_int_equal(scan(s, "2025-01-16", "2025-01-16", 0, 0, 0, &b),
                     PT_EACCESS);
    assert_non_null(strstr(s->errmsg, "link"));
    assert_int_equal(b.count, 0);
    seen_free(&a);
    seen_free(&b);
    s->methods->close(s);
}

/* query() keeps its contract on top of the same reader: exact newest
 * first, whatever the order of storage. */
static void
test_query_still_exact(void **state)
{
    fixture *f = *state;
    pt_storage *s = three_days(f);
    pt_record_list *list = query(s, "2025-01-15", 2, 0);

    assert_int_equal(list->count, 2);
    assert_string_equal(list->records[0].session_id, "4-d");
    assert_string_equal(list->records[1].session_id, "2-b");
    pt_record_list_free(list);
    s->methods->close(s);
}

/* ---- a big day in two parts at once (pt__file_scan_split) ---------------- */

typedef struct part_seen {
    seen s;
    pthread_t thread; /* who delivered the records */
    int threads;      /* 1: one thread delivered them all */
} part_seen;

static int
remember_part(const pt_record *r, void *userdata)
{
    part_seen *p = userdata;
    if (!p->threads) {
        p->thread = pthread_self();
        p->threads = 1;
    } else if (!pthread_equal(p->thread, pthread_self())) {
        p->threads = 2;
    }
    return remember(r, &p->s);
}

/* The two parts hand over exactly the lines of one scan, in order, cut at
 * a line start near the middle, the second part on a thread of its own;
 * a corrupt line there is reported with its byte offset. */
static void
test_split_equals_one_scan(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    pt_storage *other = open_store(f->store, PT__FILE_FSYNC_NEVER);
    uint32_t x = 88172645u;
    char title[700];
    seen whole = {0};
    part_seen parts[2];
    pt_record_fn fn[2] = {remember_part, remember_part};
    void *ud[2] = {&parts[0], &parts[1]};
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;

    memset(parts, 0, sizeof(parts));
    for (int i = 0; i < 2000; i++) {
        put_titled(s, i, title, next_random(&x) % 600);
        if (i == 1900)
            append_raw(f, DAY, "{\"not\": a record}\n", 19);
    }
    assert_int_equal(scan(s, DAY, DAY, 0, 0, 0, &whole), PT_OK);
    assert_int_equal(whole.count, 2000);
    o.from = o.to = DAY;
    o.now = 1700000000;
    o.fields = PT_FIELD_ALL;
    /* Too small a file, two dates, newest first: not split, nothing read. */
    assert_int_equal(pt__file_scan_split(s, other, &o, 1u << 30, fn, ud),
                     PT__SCAN_NOT_SPLIT);
    o.to = "2025-01-16";
    assert_int_equal(pt__file_scan_split(s, other, &o, 0, fn, ud),
                     PT__SCAN_NOT_SPLIT);
    o.to = DAY;
    o.flags = PT_SCAN_NEWEST_FIRST;
    assert_int_equal(pt__file_scan_split(s, other, &o, 0, fn, ud),
                     PT__SCAN_NOT_SPLIT);
    assert_int_equal(parts[0].s.count + parts[1].s.count, 0);
    o.flags = 0;
    logged[0] = '\0';
    assert_int_equal(pt__file_scan_split(s, other, &o, 0, fn, ud), PT_OK);
    assert_int_equal(parts[0].s.count + parts[1].s.count, 2000);
    assert_true(parts[0].s.count > 700 && parts[1].s.count > 700);
    for (size_t i = 0; i < 2000; i++) {
        const seen *p = i < parts[0].s.count ? &parts[0].s : &parts[1].s;
        size_t j = i < parts[0].s.count ? i : i - parts[0].s.count;
        assert_string_equal(p->keys[j], whole.keys[i]);
    }
    assert_int_equal(parts[0].threads, 1);
    assert_int_equal(parts[1].threads, 1);
    assert_false(pthread_equal(parts[0].thread, parts[1].thread));
    assert_true(pthread_equal(parts[0].thread, pthread_self()));
    assert_non_null(strstr(logged, "line at byte "));
    assert_non_null(strstr(logged, "corrupt record"));
    seen_free(&whole);
    seen_free(&parts[0].s);
    seen_free(&parts[1].s);
    other->methods->close(other);
    s->methods->close(s);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_range_in_both_directions),
        T(test_limit_stop_and_errors),
        T(test_fields_and_expiry),
        T(test_backwards_equals_forwards_reversed),
        T(test_overlong_line_both_ways),
        T(test_fifo_and_symlink_refused),
        T(test_query_still_exact),
        T(test_split_equals_one_scan),
    };
    pt_set_log(capture_log, NULL, PT_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
