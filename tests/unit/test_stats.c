/* Unit tests for lib/report: statistics over a stream of records and their
 * k-anonymity (stats.h states the rules these check). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "report/stats.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char fixed_key[16] = "0123456789abcdef";

typedef struct feed {
    pt__stats *s;
} feed;

static pt__stats *
stats_new(const char *from, const char *to, unsigned int k, pt_rotation rot)
{
    pt__stats_config c;
    pt__stats *s = NULL;
    memset(&c, 0, sizeof(c));
    c.from = from;
    c.to = to;
    c.min_group = k;
    c.rotation = rot;
    c.fingerprint_key = fixed_key;
    assert_int_equal(pt__stats_new(&s, &c), PT_OK);
    return s;
}

/* One record: `ip` NULL for none; `title` NULL for none. */
static void
add(pt__stats *s, const char *date, int hour, const char *ip, const char *title,
    const char *ua, int errors)
{
    char ts[40];
    const char *titles[1] = {title};
    pt_record r;
    memset(&r, 0, sizeof(r));
    snprintf(ts, sizeof(ts), "%sT%02d:15:00.000000+00:00", date, hour);
    r.date = date;
    r.timestamp = ts;
    r.client_ip = ip;
    r.user_agent = ua;
    r.titles = title ? titles : NULL;
    r.title_count = title ? 1 : 0;
    r.num_files_downloaded = title ? 1 : 0;
    r.num_links_submitted = 1;
    r.has_errors = errors > 0;
    r.error_count = errors;
    r.policy = "test-00000000";
    assert_int_equal(pt__stats_add(s, &r), PT_OK);
}

static cJSON *
finish(pt__stats *s)
{
    pt_buf b = PT_BUF_INIT;
    cJSON *doc;
    assert_int_equal(pt__stats_json(s, &b), PT_OK);
    doc = cJSON_Parse(b.ptr);
    if (!doc)
        fail_msg("not JSON: %s", b.ptr);
    pt_buf_free(&b);
    pt__stats_free(s);
    return doc;
}

static double
num(const cJSON *doc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!cJSON_IsNumber(v))
        fail_msg("no number '%s'", key);
    return v->valuedouble;
}

static const char *
str(const cJSON *doc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!cJSON_IsString(v))
        fail_msg("no string '%s'", key);
    return v->valuestring;
}

/* The count of `name` in ranking `list` (name key `field`), -1 if absent. */
static double
ranked(const cJSON *doc, const char *list, const char *field, const char *name,
       const char *count)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, list))
    {
        if (strcmp(str(e, field), name) == 0)
            return num(e, count);
    }
    return -1;
}

static const cJSON *
obj(const cJSON *doc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    if (!cJSON_IsObject(v))
        fail_msg("no object '%s'", key);
    return v;
}

/* A title downloaded by 4 distinct visitors is hidden at K = 5 and shown
 * at K = 4; totals are exact either way. */
static cJSON *
four_visitors(unsigned int k)
{
    static const char *const ips[] = {"a1", "a2", "a3", "a4", "b1",
                                      "b2", "b3", "b4", "b5"};
    pt__stats *s = stats_new("2025-01-15", "2025-01-15", k, PT_ROTATE_NEVER);
    for (int i = 0; i < 4; i++) {
        add(s, "2025-01-15", 10, ips[i], "Rare Song", "Firefox/Linux", 0);
        add(s, "2025-01-15", 10, ips[i], "Rare Song", "Firefox/Linux", 0);
    }
    for (int i = 4; i < 9; i++)
        add(s, "2025-01-15", 11, ips[i], "Hit", "Firefox/Linux", i == 4);
    return finish(s);
}

static void
test_rare_title_hidden_at_k5_shown_at_k4(void **state)
{
    (void)state;
    cJSON *k5 = four_visitors(5), *k4 = four_visitors(4);

    assert_true(ranked(k5, "top_titles", "title", "Rare Song", "count") < 0);
    assert_int_equal(ranked(k5, "top_titles", "title", "Hit", "count"), 5);
    assert_int_equal(num(obj(k5, "top_titles_other"), "suppressed_groups"), 1);
    assert_int_equal(num(obj(k5, "top_titles_other"), "suppressed_count"), 8);
    assert_int_equal(ranked(k4, "top_titles", "title", "Rare Song", "count"),
                     8);
    assert_int_equal(num(obj(k4, "top_titles_other"), "suppressed_groups"), 0);
    /* The 10:00 hour has 4 visitors: hidden at 5, shown at 4. */
    assert_int_equal(num(k5, "busiest_hour"), 11);
    assert_int_equal(num(obj(k5, "hours_other"), "visits"), 8);
    assert_int_equal(num(k4, "busiest_hour"), 10);
    assert_int_equal(num(k4, "busiest_hour_visits"), 8);
    /* Totals: exact at any K. */
    for (int i = 0; i < 2; i++) {
        cJSON *d = i ? k4 : k5;
        assert_int_equal(num(d, "visits"), 13);
        assert_int_equal(num(d, "unique_visitors"), 9);
        assert_string_equal(str(d, "unique_visitors_method"), "distinct");
        assert_int_equal(num(d, "files_downloaded"), 13);
        assert_int_equal(num(d, "links_submitted"), 13);
        assert_int_equal(num(d, "visits_with_errors"), 1);
        assert_true(num(d, "success_rate") > 12.0 / 13 - 1e-9 &&
                    num(d, "success_rate") < 12.0 / 13 + 1e-9);
        assert_string_equal(str(d, "date"), "2025-01-15");
        /* 9 visitors that day: the day row shows at 4 and 5 */
        assert_int_equal(
            cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(d, "per_day")),
            1);
    }
    assert_int_equal(num(obj(k5, "k_anonymity"), "min_group"), 5);
    assert_true(num(obj(k5, "k_anonymity"), "suppressed_groups") >= 2);
    cJSON_Delete(k5);
    cJSON_Delete(k4);
}

/* Where no address is stored, a record is its own visitor: K records. */
static void
test_no_address_counts_records(void **state)
{
    (void)state;
    pt__stats *s = stats_new("2025-01-15", "2025-01-15", 5, PT_ROTATE_NEVER);
    cJSON *d;
    for (int i = 0; i < 5; i++)
        add(s, "2025-01-15", 3, NULL, "Five", NULL, 0);
    for (int i = 0; i < 4; i++)
        add(s, "2025-01-15", 3, NULL, "Four", NULL, 0);
    d = finish(s);
    assert_int_equal(ranked(d, "top_titles", "title", "Five", "count"), 5);
    assert_true(ranked(d, "top_titles", "title", "Four", "count") < 0);
    assert_int_equal(num(d, "unique_visitors"), 0);
    assert_int_equal(num(d, "visits_without_address"), 9);
    assert_int_equal(
        ranked(d, "user_agents", "family", "(not stored)", "visits"), 9);
    cJSON_Delete(d);
}

/* With daily keys a person has a new pseudonym every day: unique visitors
 * over three days is a sum of daily counts (and says so), and a group
 * needs K visitors within one day, not K pseudonyms over the range. */
static void
test_rotation_sums_and_groups_per_period(void **state)
{
    static const char *const days[] = {"2025-01-13", "2025-01-14",
                                       "2025-01-15"};
    (void)state;
    for (int rotate = 0; rotate < 2; rotate++) {
        pt__stats *s = stats_new("2025-01-13", "2025-01-15", 3,
                                 rotate ? PT_ROTATE_DAILY : PT_ROTATE_NEVER);
        cJSON *d;
        for (int day = 0; day < 3; day++) {
            char ip[16];
            for (int v = 0; v < 2; v++) {
                snprintf(ip, sizeof(ip), "p%d-%d", day, v);
                add(s, days[day], 8, ip, "Song", "Firefox/Linux", 0);
            }
            add(s, days[day], 8, "same", "Other", "Firefox/Linux", 0);
        }
        d = finish(s);
        assert_int_equal(num(d, "visits"), 9);
        if (rotate) {
            /* 3 a day, counted per day and added up */
            assert_int_equal(num(d, "unique_visitors"), 9);
            assert_string_equal(str(d, "unique_visitors_method"),
                                "sum_of_periods");
            assert_int_equal(num(d, "key_periods"), 3);
            assert_true(ranked(d, "top_titles", "title", "Song", "count") < 0);
        } else {
            assert_int_equal(num(d, "unique_visitors"), 7); /* "same" once */
            assert_string_equal(str(d, "unique_visitors_method"), "distinct");
            assert_int_equal(num(d, "key_periods"), 1);
            assert_int_equal(ranked(d, "top_titles", "title", "Song", "count"),
                             6);
        }
        /* "same" is one visitor however the keys rotate */
        assert_true(ranked(d, "top_titles", "title", "Other", "count") < 0);
        cJSON_Delete(d);
    }
}

/* Weekly keys: a range inside one week is exact, across two it is not. */
static void
test_weekly_periods(void **state)
{
    (void)state;
    pt__stats *s = stats_new("2025-01-13", "2025-01-20", 1, PT_ROTATE_WEEKLY);
    cJSON *d;
    add(s, "2025-01-13", 1, "x", NULL, NULL, 0); /* Monday */
    add(s, "2025-01-19", 1, "x", NULL, NULL, 0); /* Sunday, same week */
    d = finish(s);
    assert_int_equal(num(d, "unique_visitors"), 1);
    assert_string_equal(str(d, "unique_visitors_method"), "distinct");
    cJSON_Delete(d);
    s = stats_new("2025-01-13", "2025-01-20", 1, PT_ROTATE_WEEKLY);
    add(s, "2025-01-19", 1, "x", NULL, NULL, 0);
    add(s, "2025-01-20", 1, "x", NULL, NULL, 0); /* the next Monday */
    d = finish(s);
    assert_int_equal(num(d, "unique_visitors"), 2);
    assert_string_equal(str(d, "unique_visitors_method"), "sum_of_periods");
    cJSON_Delete(d);
}

/* Per-day rows oldest first whatever the order of the records; a day with
 * fewer than K visitors is folded; dates must come grouped. */
static void
test_days_order_and_folding(void **state)
{
    (void)state;
    pt__stats *s = stats_new("2025-01-10", "2025-01-20", 2, PT_ROTATE_NEVER);
    const cJSON *rows, *first;
    cJSON *d;
    pt_record r;

    add(s, "2025-01-17", 5, "a", "T", "Firefox/Linux", 0);
    add(s, "2025-01-17", 5, "b", "T", "Firefox/Linux", 1);
    add(s, "2025-01-12", 5, "a", "T", "Firefox/Linux", 0); /* alone */
    add(s, "2025-01-11", 6, "c", "T", "Firefox/Linux", 0);
    add(s, "2025-01-11", 6, "d", "T", "Firefox/Linux", 0);
    /* the 17th again, after other dates: refused */
    memset(&r, 0, sizeof(r));
    r.date = "2025-01-17";
    r.timestamp = "2025-01-17T01:00:00+00:00";
    assert_int_equal(pt__stats_add(s, &r), PT_EINVAL);
    d = finish(s);
    rows = cJSON_GetObjectItemCaseSensitive(d, "per_day");
    assert_int_equal(cJSON_GetArraySize(rows), 2);
    first = cJSON_GetArrayItem(rows, 0);
    assert_string_equal(str(first, "date"), "2025-01-11");
    assert_string_equal(str(cJSON_GetArrayItem(rows, 1), "date"), "2025-01-17");
    assert_true(num(cJSON_GetArrayItem(rows, 1), "success_rate") == 0.5);
    assert_int_equal(num(obj(d, "per_day_other"), "groups"), 1);
    assert_int_equal(num(obj(d, "per_day_other"), "visits"), 1);
    assert_int_equal(num(d, "days"), 11);
    assert_int_equal(num(d, "days_with_records"), 3);
    assert_int_equal(num(d, "unique_visitors"), 4);
    cJSON_Delete(d);
}

/* Full user agents (a `keep` policy) are reduced to families; families
 * stored by the policy are kept; names are JSON-escaped. */
static void
test_agents_and_escaping(void **state)
{
    (void)state;
    pt__stats *s = stats_new("2025-01-15", "2025-01-15", 1, PT_ROTATE_NEVER);
    cJSON *d;
    char bad[] = "evil\x1b[2J\x1b]0;title\x07\"q\"";
    add(s, "2025-01-15", 1, "a", bad,
        "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
        "Firefox/121.0",
        0);
    add(s, "2025-01-15", 1, "b", NULL, "Firefox/Linux", 0);
    add(s, "2025-01-15", 1, "c", NULL, "Samsung Internet/Android", 0);
    d = finish(s);
    assert_int_equal(
        ranked(d, "user_agents", "family", "Firefox/Linux", "visits"), 2);
    assert_int_equal(ranked(d, "user_agents", "family",
                            "Samsung Internet/Android", "visits"),
                     1);
    assert_int_equal(ranked(d, "top_titles", "title", bad, "count"), 1);
    assert_int_equal(ranked(d, "policies", "policy", "test-00000000", "visits"),
                     3);
    cJSON_Delete(d);
}

/* Invariants over a pseudo-random stream: what is shown plus what is
 * folded is the total, for titles, hours and days, at every K. */
static void
test_shown_plus_other_is_total(void **state)
{
    (void)state;
    uint32_t x = 88172645u;
    for (unsigned int k = 1; k <= 7; k += 3) {
        pt__stats *s = stats_new("2025-01-01", "2025-01-09", k,
                                 k == 4 ? PT_ROTATE_DAILY : PT_ROTATE_NEVER);
        uint64_t visits = 0, downloads = 0, shown = 0;
        const cJSON *e;
        cJSON *d;
        for (int day = 1; day <= 9; day++) {
            char date[16];
            snprintf(date, sizeof(date), "2025-01-%02d", day);
            for (int i = 0; i < 300; i++) {
                char ip[16], title[16];
                x ^= x << 13, x ^= x >> 17, x ^= x << 5;
                snprintf(ip, sizeof(ip), "v%u", x % 40);
                snprintf(title, sizeof(title), "t%u", (x >> 8) % 30);
                add(s, date, (int)((x >> 16) % 24), (x >> 4) % 9 ? ip : NULL,
                    (x >> 12) % 5 ? title : NULL, "Firefox/Linux", 0);
                visits++;
                downloads += (x >> 12) % 5 != 0;
            }
        }
        d = finish(s);
        assert_int_equal(num(d, "visits"), visits);
        shown = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "top_titles"))
            shown += (uint64_t)num(e, "count");
        assert_int_equal(shown + num(obj(d, "top_titles_other"), "count"),
                         downloads);
        shown = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "hours"))
            shown += (uint64_t)num(e, "visits");
        assert_int_equal(shown + num(obj(d, "hours_other"), "visits"), visits);
        shown = 0;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(d, "per_day"))
            shown += (uint64_t)num(e, "visits");
        assert_int_equal(shown + num(obj(d, "per_day_other"), "visits"),
                         visits);
        cJSON_Delete(d);
    }
}

static void
test_bad_config(void **state)
{
    pt__stats_config c;
    pt__stats *s = (pt__stats *)1;
    (void)state;
    memset(&c, 0, sizeof(c));
    c.from = "2025-01-02";
    c.to = "2025-01-01";
    c.min_group = 5;
    assert_int_equal(pt__stats_new(&s, &c), PT_EINVAL);
    assert_null(s);
    c.to = "2025-01-03";
    c.min_group = 0;
    assert_int_equal(pt__stats_new(&s, &c), PT_EINVAL);
    c.min_group = PT__STATS_MAX_MIN_GROUP + 1;
    assert_int_equal(pt__stats_new(&s, &c), PT_EINVAL);
}

/* ---- two halves merged: pt__stats_merge() ------------------------------- */

/* Record `i` of a deterministic day: visitors from a small pool (some
 * without an address), titles and hours skewed so that groups sit on
 * either side of K. */
static void
add_nth(pt__stats *s, const char *date, unsigned int i)
{
    static const char *const ips[] = {"a1", "b2", "c3", "d4", "e5",
                                      "f6", "g7", "h8", "i9", NULL};
    static const char *const uas[] = {"Firefox/Linux", "Chrome/Windows",
                                      "Safari/iOS"};
    char title[16];
    unsigned int x = i * 2654435761u;
    snprintf(title, sizeof(title), "t%u", (x >> 7) % 7 * ((x >> 11) % 3));
    add(s, date, (int)((x >> 13) % 5), ips[(x >> 17) % 10],
        (x >> 3) % 9 ? title : NULL, uas[(x >> 21) % 3],
        (int)((x >> 5) % 4 == 0));
}

static char *
json_of(pt__stats *s)
{
    pt_buf b = PT_BUF_INIT;
    assert_int_equal(pt__stats_json(s, &b), PT_OK);
    pt__stats_free(s);
    return pt_buf_detach(&b);
}

/* Counting a day in two halves and merging them gives, byte for byte, the
 * statistics of one pass, wherever the day is cut, for K = 1, 3 and 5. */
static void
test_merge_equals_one_pass(void **state)
{
    static const unsigned int ks[] = {1, 3, 5};
    const unsigned int n = 300;
    (void)state;
    for (size_t ki = 0; ki < sizeof(ks) / sizeof(ks[0]); ki++) {
        pt__stats *whole =
            stats_new("2025-03-01", "2025-03-01", ks[ki], PT_ROTATE_NEVER);
        char *expected;
        for (unsigned int i = 0; i < n; i++)
            add_nth(whole, "2025-03-01", i);
        expected = json_of(whole);
        for (unsigned int cut = 0; cut <= n; cut += 7) {
            pt__stats *a =
                stats_new("2025-03-01", "2025-03-01", ks[ki], PT_ROTATE_NEVER);
            pt__stats *b = NULL;
            char *got;
            assert_int_equal(pt__stats_new_like(&b, a), PT_OK);
            for (unsigned int i = 0; i < n; i++)
                add_nth(i < cut ? a : b, "2025-03-01", i);
            if (cut == 0) {
                /* an empty first half cannot take the second's day */
                assert_int_equal(pt__stats_merge(a, b), PT__STATS_NOT_MERGED);
                pt__stats_free(a);
                pt__stats_free(b);
                continue;
            }
            assert_int_equal(pt__stats_merge(a, b), PT_OK);
            pt__stats_free(b);
            got = json_of(a);
            if (strcmp(got, expected) != 0)
                fail_msg("K=%u cut at %u:\n%s\n!=\n%s", ks[ki], cut, got,
                         expected);
            free(got);
        }
        free(expected);
    }
}

/* Halves of different dates are not merged (nothing changes), and a reset
 * aggregate is an empty one. */
static void
test_merge_refused_and_reset(void **state)
{
    pt__stats *a = stats_new("2025-03-01", "2025-03-02", 5, PT_ROTATE_NEVER);
    pt__stats *b = NULL, *empty = NULL;
    char *before, *after, *fresh;
    (void)state;
    assert_int_equal(pt__stats_new_like(&b, a), PT_OK);
    assert_int_equal(pt__stats_new_like(&empty, a), PT_OK);
    add_nth(a, "2025-03-01", 1);
    add_nth(b, "2025-03-02", 2);
    assert_int_equal(pt__stats_merge(a, b), PT__STATS_NOT_MERGED);
    pt__stats_free(b);
    pt__stats_reset(a);
    fresh = json_of(empty);
    after = json_of(a);
    assert_string_equal(after, fresh);
    b = stats_new("2025-03-01", "2025-03-02", 5, PT_ROTATE_NEVER);
    add_nth(b, "2025-03-01", 1);
    before = json_of(b);
    assert_string_not_equal(before, fresh); /* the reset did something */
    free(before);
    free(after);
    free(fresh);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rare_title_hidden_at_k5_shown_at_k4),
        cmocka_unit_test(test_no_address_counts_records),
        cmocka_unit_test(test_rotation_sums_and_groups_per_period),
        cmocka_unit_test(test_weekly_periods),
        cmocka_unit_test(test_days_order_and_folding),
        cmocka_unit_test(test_agents_and_escaping),
        cmocka_unit_test(test_shown_plus_other_is_total),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_merge_equals_one_pass),
        cmocka_unit_test(test_merge_refused_and_reset),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
