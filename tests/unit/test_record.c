/* Unit tests for lib/record: one-allocation copies, JSON form, parsing,
 * record lists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "record/record.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const links[] = {"https://youtube.com/watch?v=abc123",
                                    "https://soundcloud.com/track/xyz"};
static const char *const titles[] = {"Song Title 1", "Song Title 2"};
static const char *const files[] = {"Song Title 1.m4a", "Song Title 2.m4a"};

static pt_record
full_record(void)
{
    pt_record r;
    memset(&r, 0, sizeof(r));
    r.date = "2025-01-15";
    r.timestamp = "2025-01-15T14:30:00.123456+00:00";
    r.session_id = "1705327800-a1b2c3d4";
    r.client_ip = "203.0.113.0";
    r.user_agent = "Firefox/Linux";
    r.num_links_submitted = 5;
    r.num_files_downloaded = 4;
    r.links = links;
    r.link_count = 2;
    r.titles = titles;
    r.title_count = 2;
    r.filenames = files;
    r.filename_count = 2;
    r.has_errors = 1;
    r.error_count = 1;
    r.ttl = 1713103800;
    r.policy = "default-3fa2c1d0";
    return r;
}

static void
assert_str_eq_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void
assert_list_eq(const char *const *a, size_t na, const char *const *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        assert_string_equal(a[i], b[i]);
}

static void
assert_record_eq(const pt_record *a, const pt_record *b)
{
    assert_str_eq_or_null(a->date, b->date);
    assert_str_eq_or_null(a->timestamp, b->timestamp);
    assert_str_eq_or_null(a->session_id, b->session_id);
    assert_str_eq_or_null(a->client_ip, b->client_ip);
    assert_str_eq_or_null(a->user_agent, b->user_agent);
    assert_str_eq_or_null(a->policy, b->policy);
    assert_int_equal(a->num_links_submitted, b->num_links_submitted);
    assert_int_equal(a->num_files_downloaded, b->num_files_downloaded);
    assert_list_eq(a->links, a->link_count, b->links, b->link_count);
    assert_list_eq(a->titles, a->title_count, b->titles, b->title_count);
    assert_list_eq(a->filenames, a->filename_count, b->filenames,
                   b->filename_count);
    assert_int_equal(a->has_errors, b->has_errors);
    assert_int_equal(a->error_count, b->error_count);
    assert_int_equal(a->ttl, b->ttl);
}

/* True when p lies inside the allocation [base, base + size). */
static int
inside(const void *p, const void *base, size_t size)
{
    const char *c = p, *b = base;
    return c >= b && c < b + size;
}

static char *
to_json(const pt_record *r)
{
    char *s = NULL;
    assert_int_equal(pt_record_to_json(&s, r), PT_OK);
    assert_non_null(s);
    return s;
}

static pt_record *
parse_ok(const char *json)
{
    pt_record *r = NULL;
    int rc = pt__record_parse_json(&r, json, strlen(json));
    if (rc != PT_OK)
        fail_msg("parse failed: %s (%s)", pt_last_error(), json);
    assert_non_null(r);
    return r;
}

static void
parse_fails(const char *json, const char *detail)
{
    pt_record *r = (pt_record *)(uintptr_t)1;
    assert_int_equal(pt__record_parse_json(&r, json, strlen(json)), PT_EPARSE);
    assert_null(r);
    if (!strstr(pt_last_error(), detail))
        fail_msg("error '%s' does not mention '%s'", pt_last_error(), detail);
}

/* ---- dup -------------------------------------------------------------- */

static void
test_dup_copies_everything_into_one_block(void **state)
{
    (void)state;
    pt_record src = full_record(), *r;
    char ua[] = "Firefox/Linux";
    src.user_agent = ua;
    assert_int_equal(pt__record_dup(&r, &src), PT_OK);
    assert_record_eq(r, &src);
    /* Mutating the source afterwards must not change the copy. */
    ua[0] = 'X';
    assert_string_equal(r->user_agent, "Firefox/Linux");
    /* Everything lives after the struct, in the same block. */
    size_t approx = sizeof(pt_record) + 6 * sizeof(char *) + 400;
    assert_true(inside(r->date, r, approx));
    assert_true(inside(r->policy, r, approx));
    assert_true(inside(r->links, r, approx));
    assert_true(inside(r->filenames[1], r, approx));
    assert_ptr_not_equal(r->links, links);
    pt__record_free(r);
    pt__record_free(NULL);
}

static void
test_dup_nulls_and_empty_lists(void **state)
{
    (void)state;
    pt_record src, *r;
    const char *const with_null[] = {"a", NULL, "c"};
    memset(&src, 0, sizeof(src));
    src.date = "2025-01-15";
    src.timestamp = "2025-01-15T00:00:00.000000+00:00";
    src.link_count = 7; /* count without an array: treated as empty */
    src.filenames = with_null;
    src.filename_count = 3;
    assert_int_equal(pt__record_dup(&r, &src), PT_OK);
    assert_null(r->session_id);
    assert_null(r->client_ip);
    assert_null(r->user_agent);
    assert_null(r->policy);
    assert_null(r->links);
    assert_int_equal(r->link_count, 0);
    assert_int_equal(r->filename_count, 3);
    assert_string_equal(r->filenames[1], "");
    assert_string_equal(r->filenames[2], "c");
    pt__record_free(r);
}

/* ---- JSON ------------------------------------------------------------- */

static void
test_json_exact_form(void **state)
{
    (void)state;
    pt_record r = full_record();
    char *s = to_json(&r);
    assert_string_equal(
        s, "{\"date\":\"2025-01-15\",\"timestamp\":\"2025-01-15T14:30:00."
           "123456+00:00\",\"session_id\":\"1705327800-a1b2c3d4\","
           "\"client_ip\":\"203.0.113.0\",\"user_agent\":\"Firefox/Linux\","
           "\"num_links_submitted\":5,\"num_files_downloaded\":4,\"links\":["
           "\"https://youtube.com/watch?v=abc123\",\"https://soundcloud.com/"
           "track/xyz\"],\"titles\":[\"Song Title 1\",\"Song Title 2\"],"
           "\"filenames\":[\"Song Title 1.m4a\",\"Song Title 2.m4a\"],"
           "\"has_errors\":true,\"error_count\":1,\"ttl\":1713103800,"
           "\"policy\":\"default-3fa2c1d0\"}");
    pt_free(s);
}

static void
test_json_round_trip_every_field(void **state)
{
    (void)state;
    pt_record r = full_record(), *back;
    char *s = to_json(&r), *again;
    back = parse_ok(s);
    assert_record_eq(back, &r);
    again = to_json(back);
    assert_string_equal(s, again);
    pt_free(s);
    pt_free(again);
    pt__record_free(back);
}

static void
test_json_omits_absent(void **state)
{
    (void)state;
    pt_record r = full_record(), *back;
    char *s;
    r.client_ip = NULL;
    r.user_agent = NULL;
    r.session_id = NULL;
    r.policy = NULL;
    r.ttl = 0;
    r.links = NULL;
    r.link_count = 0;
    r.has_errors = 0;
    r.error_count = 0;
    s = to_json(&r);
    assert_null(strstr(s, "client_ip"));
    assert_null(strstr(s, "user_agent"));
    assert_null(strstr(s, "session_id"));
    assert_null(strstr(s, "policy"));
    assert_null(strstr(s, "ttl"));
    assert_non_null(strstr(s, "\"links\":[]"));
    assert_non_null(strstr(s, "\"has_errors\":false"));
    assert_null(strchr(s, '\n'));
    back = parse_ok(s);
    assert_record_eq(back, &r);
    pt__record_free(back);
    pt_free(s);
}

static void
test_json_unicode_and_control_chars(void **state)
{
    (void)state;
    pt_record r = full_record(), *back;
    const char *const odd[] = {"Caf\xC3\xA9 \xE2\x80\x93 \xE6\x97\xA5 "
                               "\xF0\x9F\x8E\xB5",
                               "line\nbreak\ttab\x01\x1f\"quote\"\\slash\r"};
    char *s;
    r.titles = odd;
    r.title_count = 2;
    r.user_agent = "\x7f del";
    s = to_json(&r);
    /* One line, control characters escaped, UTF-8 kept as is. */
    assert_null(strchr(s, '\n'));
    assert_null(strchr(s, '\r'));
    assert_null(strchr(s, '\t'));
    assert_non_null(strstr(s, "\\u0001"));
    assert_non_null(strstr(s, "\\u001f"));
    assert_non_null(strstr(s, "\\\"quote\\\""));
    assert_non_null(strstr(s, "\xF0\x9F\x8E\xB5"));
    back = parse_ok(s);
    assert_record_eq(back, &r);
    pt__record_free(back);
    pt_free(s);
}

/* Plain text is copied many bytes at a time: a byte that needs escaping
 * (a quote, a backslash, a control byte) or starts UTF-8 at every offset
 * of strings up to 40 bytes, amid plain bytes next to the ones tested
 * (space, '!', '[', ']', '~', DEL), comes back the same. */
static void
test_json_special_at_every_offset(void **state)
{
    static const char fillers[] = " ![]~\x7f";
    static const char *const specials[] = {"\"",   "\\",       "\n", "\x01",
                                           "\x1f", "\xC3\xA9", "x"};
    (void)state;
    for (size_t f = 0; f < sizeof(fillers) - 1; f++)
        for (size_t len = 0; len <= 40; len++)
            for (size_t at = 0; at < len; at++)
                for (size_t k = 0; k < sizeof(specials) / sizeof(*specials);
                     k++) {
                    pt_record r = full_record(), *back;
                    char ua[64], *s;
                    size_t sl = strlen(specials[k]);
                    memset(ua, fillers[f], len);
                    memcpy(ua + at, specials[k], sl);
                    ua[at + sl > len ? at + sl : len] = '\0';
                    r.user_agent = ua;
                    s = to_json(&r);
                    assert_null(strchr(s, '\n'));
                    back = parse_ok(s);
                    assert_string_equal(back->user_agent, ua);
                    pt__record_free(back);
                    pt_free(s);
                }
}

static void
test_json_invalid_utf8_replaced(void **state)
{
    (void)state;
    pt_record r = full_record(), *back;
    const char *const bad_names[] = {"ab\xff", "\xc3", "\xed\xa0\x80x",
                                     "\xc0\xaf"};
    char *s;
    r.filenames = bad_names;
    r.filename_count = 4;
    r.client_ip = "1.2.3.\xfe";
    s = to_json(&r);
    /* The output is valid UTF-8 whatever went in. */
    assert_true(pt__utf8_valid(s, strlen(s)));
    back = parse_ok(s);
    assert_string_equal(back->filenames[0], "ab\xEF\xBF\xBD");
    assert_string_equal(back->filenames[1], "\xEF\xBF\xBD");
    assert_string_equal(back->filenames[2],
                        "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBDx");
    assert_string_equal(back->filenames[3], "\xEF\xBF\xBD\xEF\xBF\xBD");
    assert_string_equal(back->client_ip, "1.2.3.\xEF\xBF\xBD");
    pt__record_free(back);
    pt_free(s);
}

static void
test_json_extreme_numbers(void **state)
{
    (void)state;
    pt_record r = full_record(), *back;
    char *s;
    r.num_links_submitted = 0;
    r.error_count = 9007199254740992LL; /* 2^53: still exact */
    r.ttl = 253402300799LL;             /* 9999-12-31T23:59:59Z */
    s = to_json(&r);
    assert_non_null(strstr(s, "\"num_links_submitted\":0,"));
    assert_non_null(strstr(s, "\"error_count\":9007199254740992"));
    back = parse_ok(s);
    assert_int_equal(back->error_count, 9007199254740992LL);
    assert_int_equal(back->ttl, 253402300799LL);
    pt__record_free(back);
    pt_free(s);
    /* Negative values are never produced by the library but must not
     * crash the writer. */
    r.num_files_downloaded = INT64_MIN;
    s = to_json(&r);
    assert_non_null(strstr(s, "-9223372036854775808"));
    pt_free(s);
}

static void
test_to_json_null_arguments(void **state)
{
    (void)state;
    char *s = NULL;
    pt_record r = full_record();
    assert_int_equal(pt_record_to_json(NULL, &r), PT_EINVAL);
    assert_int_equal(pt_record_to_json(&s, NULL), PT_EINVAL);
    assert_null(s);
}

/* ---- parsing ------------------------------------------------------------ */

static void
test_parse_seed_item(void **state)
{
    (void)state;
    /* DESIGN.md / the seed's item, as boto3 + json.dump(default=str)
     * exports it: Decimals as strings, no ttl, no policy. */
    pt_record *r = parse_ok(
        "{\"date\": \"2025-01-15\", \"timestamp\": "
        "\"2025-01-15T14:30:00.123456+00:00\", \"session_id\": "
        "\"1705327800-a1b2c3d4\", \"client_ip\": \"192.168.1.100\", "
        "\"user_agent\": \"Mozilla/5.0...\", \"num_links_submitted\": "
        "\"5\", \"num_files_downloaded\": \"4\", \"links\": "
        "[\"https://youtube.com/watch?v=abc123\", "
        "\"https://soundcloud.com/track/xyz\"], \"titles\": [\"Song Title "
        "1\", \"Song Title 2\"], \"filenames\": [\"Song Title 1.m4a\", "
        "\"Song Title 2.m4a\"], \"has_errors\": false, \"error_count\": "
        "\"0\"}\n");
    assert_string_equal(r->client_ip, "192.168.1.100");
    assert_int_equal(r->num_links_submitted, 5);
    assert_int_equal(r->num_files_downloaded, 4);
    assert_int_equal(r->link_count, 2);
    assert_string_equal(r->titles[1], "Song Title 2");
    assert_int_equal(r->has_errors, 0);
    assert_int_equal(r->ttl, 0);
    assert_null(r->policy);
    pt__record_free(r);
}

static void
test_parse_minimal_and_tolerant(void **state)
{
    (void)state;
    pt_record *r = parse_ok("{\"timestamp\":\"2025-01-15T14:30:00+00:00\","
                            "\"date\":\"2025-01-15\",\"client_ip\":null,"
                            "\"links\":null,\"has_errors\":\"True\","
                            "\"ttl\":1.7e9,\"future\":{\"x\":[1,2]}}");
    assert_string_equal(r->date, "2025-01-15");
    assert_null(r->session_id);
    assert_null(r->client_ip);
    assert_int_equal(r->link_count, 0);
    assert_int_equal(r->has_errors, 1);
    assert_int_equal(r->ttl, 1700000000);
    assert_int_equal(r->num_files_downloaded, 0);
    pt__record_free(r);
}

static void
test_parse_rejects_malformed(void **state)
{
    (void)state;
    const char *ok_head = "{\"date\":\"2025-01-15\",\"timestamp\":\"t\"";
    char buf[256];
    parse_fails("", "empty");
    parse_fails("not json", "invalid JSON");
    parse_fails("[1,2]", "not an object");
    parse_fails("{\"date\":\"2025-01-15\",\"timestamp\":\"2025-01-15T1",
                "invalid JSON");
    parse_fails("{\"timestamp\":\"t\"}", "'date' is missing");
    parse_fails("{\"date\":\"d\"}", "'timestamp' is missing");
    parse_fails("{\"date\":20250115,\"timestamp\":\"t\"}", "'date'");
    parse_fails("{\"date\":\"d\",\"timestamp\":\"t\"} {}", "trailing");
#define WITH(tail) (snprintf(buf, sizeof(buf), "%s,%s}", ok_head, tail), buf)
    parse_fails(WITH("\"links\":\"https://x\""), "'links' must be a list");
    parse_fails(WITH("\"titles\":[\"a\",1]"), "'titles' must be a list");
    parse_fails(WITH("\"filenames\":{}"), "'filenames'");
    parse_fails(WITH("\"num_links_submitted\":\"abc\""),
                "'num_links_submitted' must be an integer");
    parse_fails(WITH("\"num_links_submitted\":\"5x\""), "integer");
    parse_fails(WITH("\"error_count\":1.5"), "'error_count'");
    parse_fails(WITH("\"error_count\":-1"), "negative");
    parse_fails(WITH("\"ttl\":[1]"), "'ttl'");
    parse_fails(WITH("\"ttl\":1e300"), "'ttl'");
    /* Beyond 2^53 a number cannot round-trip through JSON numbers. */
    parse_fails(WITH("\"error_count\":\"9223372036854775807\""),
                "'error_count'");
    parse_fails(WITH("\"ttl\":\"18446744073709551616\""), "'ttl'");
    parse_fails(WITH("\"has_errors\":\"maybe\""), "'has_errors'");
    parse_fails(WITH("\"has_errors\":2"), "'has_errors'");
    parse_fails(WITH("\"session_id\":true"), "'session_id' must be a string");
    parse_fails(WITH("\"policy\":{}"), "'policy'");
#undef WITH
}

static void
test_parse_hostile_input(void **state)
{
    (void)state;
    /* Deep nesting, NUL bytes, a torn line: errors, never crashes. */
    size_t n = 100000;
    char *deep = malloc(n + 1);
    pt_record *r = NULL;
    memset(deep, '[', n);
    deep[n] = '\0';
    assert_int_equal(pt__record_parse_json(&r, deep, n), PT_EPARSE);
    memset(deep, 0, 64);
    assert_int_equal(pt__record_parse_json(&r, deep, 64), PT_EPARSE);
    free(deep);
    /* The length bounds the parse, the buffer need not end in NUL. */
    const char *two = "{\"date\":\"d\",\"timestamp\":\"t\"}GARBAGE";
    assert_int_equal(pt__record_parse_json(&r, two, 28), PT_OK);
    assert_string_equal(r->timestamp, "t");
    pt__record_free(r);
    assert_int_equal(pt__record_parse_json(&r, two, strlen(two)), PT_EPARSE);
}

/* ---- lists -------------------------------------------------------------- */

static void
test_list_append_sort_free(void **state)
{
    (void)state;
    pt_record_list *list;
    pt_record r = full_record();
    const char *ts[] = {
        "2025-01-15T10:00:00.000001+00:00", "2025-01-15T12:00:00.000000+00:00",
        "2025-01-15T10:00:00.000001+00:00", "2025-01-15T10:00:00+00:00"};
    const char *sid[] = {"1-aaaaaaaa", "2-bbbbbbbb", "1-cccccccc",
                         "3-dddddddd"};
    char *s;

    assert_int_equal(pt_record_list_new(&list), PT_OK);
    assert_int_equal(list->count, 0);
    for (int i = 0; i < 3; i++) {
        r.timestamp = ts[i];
        r.session_id = sid[i];
        assert_int_equal(pt_record_list_append(list, &r), PT_OK);
    }
    r.timestamp = ts[3];
    r.session_id = sid[3];
    s = to_json(&r);
    assert_int_equal(pt_record_list_append_json(list, s, strlen(s)), PT_OK);
    pt_free(s);
    assert_int_equal(pt_record_list_append_json(list, "{", 1), PT_EPARSE);
    assert_int_equal(list->count, 4);

    pt__record_list_sort_newest_first(list);
    assert_string_equal(list->records[0].session_id, "2-bbbbbbbb");
    assert_string_equal(list->records[1].session_id, "1-cccccccc");
    assert_string_equal(list->records[2].session_id, "1-aaaaaaaa");
    /* The seed's isoformat() drops ".000000": still the oldest. */
    assert_string_equal(list->records[3].session_id, "3-dddddddd");
    assert_string_equal(list->records[3].policy, "default-3fa2c1d0");
    assert_int_equal(list->records[1].link_count, 2);

    /* Shortening the visible list must not leak the rest. */
    list->count = 1;
    pt_record_list_free(list);
    pt_record_list_free(NULL);
}

static void
test_list_many(void **state)
{
    (void)state;
    pt_record_list *list;
    pt_record r = full_record();
    char ts[40];
    assert_int_equal(pt_record_list_new(&list), PT_OK);
    for (int i = 0; i < 1000; i++) {
        snprintf(ts, sizeof(ts), "2025-01-15T10:00:%02d.%06d+00:00", i % 60, i);
        r.timestamp = ts;
        assert_int_equal(pt_record_list_append(list, &r), PT_OK);
    }
    pt__record_list_sort_newest_first(list);
    for (size_t i = 1; i < list->count; i++)
        assert_true(pt__record_cmp_newest_first(&list->records[i - 1],
                                                &list->records[i]) <= 0);
    assert_string_equal(list->records[0].timestamp,
                        "2025-01-15T10:00:59.000959+00:00");
    pt_record_list_free(list);
}

/* ---- the fast reader (record_view.c) -------------------------------------
 * Whatever it accepts, pt__record_parse_json() must accept as the same
 * record; what privtrack itself writes, it must accept (or it is no
 * faster). */

/* Both readers on `json`; returns 1 when the fast one accepted. */
static int
fast_agrees(const char *json)
{
    pt__record_reader rd;
    pt_record *slow = NULL;
    size_t len = strlen(json);
    int fast_rc, slow_rc;

    memset(&rd, 0, sizeof(rd));
    fast_rc = pt__record_read_fast(&rd, json, len, 0);
    slow_rc = pt__record_parse_json(&slow, json, len);
    assert_true(fast_rc == PT_OK || fast_rc == PT__RECORD_DECLINED);
    if (fast_rc == PT_OK) {
        pt_buf a = PT_BUF_INIT, b = PT_BUF_INIT;
        if (slow_rc != PT_OK)
            fail_msg("fast reader accepted what the cJSON one refuses: %s",
                     json);
        pt__record_json(&a, &rd.record);
        pt__record_json(&b, slow);
        if (strcmp(a.ptr, b.ptr) != 0)
            fail_msg("readers disagree on %s:\n fast %s\n slow %s", json, a.ptr,
                     b.ptr);
        pt_buf_free(&a);
        pt_buf_free(&b);
    }
    pt__record_free(slow);
    pt__record_reader_free(&rd);
    return fast_rc == PT_OK;
}

static void
test_fast_reader_takes_what_privtrack_writes(void **state)
{
    pt_record r = full_record();
    static const char *const odd[] = {"caf\xc3\xa9 \"quoted\" \\ tab\t",
                                      "\xf0\x9f\x8e\xb5 emoji", ""};
    pt_buf b = PT_BUF_INIT;
    (void)state;

    pt__record_json(&b, &r);
    assert_true(fast_agrees(b.ptr));
    pt_buf_clear(&b);
    r.titles = odd;
    r.title_count = 3;
    r.client_ip = NULL;
    r.policy = NULL;
    r.links = NULL;
    r.link_count = 0;
    r.ttl = 0;
    pt__record_json(&b, &r);
    assert_true(fast_agrees(b.ptr));
    pt_buf_free(&b);
}

static void
test_fast_reader_agrees_or_declines(void **state)
{
    /* Accepted: the shapes the seed and other writers produce too. */
    static const char *const accepted[] = {
        "{\"date\":\"2025-01-15\",\"timestamp\":\"t\"}",
        " { \"timestamp\" : \"t\" , \"date\" : \"d\" } \r\n",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"client_ip\":null,"
        "\"titles\":null,\"ttl\":null,\"has_errors\":null}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"extra\":-1.5e+3,\"x\":true,"
        "\"y\":\"\\u00e9\\ud83c\\udfb5\\n\\/\",\"z\":0}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"titles\":[\"a\",\"\\\"b\"],"
        "\"links\":[ ],\"num_files_downloaded\":123456789012345}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"user_agent\":\"\\u20ac\"}",
    };
    /* Declined (the cJSON reader decides): nested values, numbers that are
     * not plain counts, escapes in keys, control bytes, duplicates, NUL,
     * broken surrogates, trailing data, a missing key. */
    static const char *const declined[] = {
        "{\"date\":\"d\",\"timestamp\":\"t\",\"x\":{\"a\":1}}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"x\":[1]}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"ttl\":1.0}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"ttl\":-1}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"ttl\":\"5\"}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"ttl\":0123}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"ttl\":1234567890123456}",
        "{\"d\\u0061te\":\"d\",\"timestamp\":\"t\"}",
        "{\"date\":\"d\x01\",\"timestamp\":\"t\"}",
        "{\"date\":\"d\",\"date\":\"e\",\"timestamp\":\"t\"}",
        "{\"date\":\"d\\u0000x\",\"timestamp\":\"t\"}",
        "{\"date\":\"d\\ud800\",\"timestamp\":\"t\"}",
        "{\"date\":\"d\\udc00\",\"timestamp\":\"t\"}",
        "{\"date\":\"d\\x\",\"timestamp\":\"t\"}",
        "{\"date\":\"d\",\"timestamp\":\"t\"} x",
        "{\"date\":\"d\",\"timestamp\":\"t\",}",
        "{\"date\":\"d\"}",
        "{\"date\":null,\"timestamp\":\"t\"}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"has_errors\":1}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"titles\":[null]}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"titles\":[\"a\",]}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"x\":tru}",
        "{\"date\":\"d\",\"timestamp\":\"t\",\"x\":1.}",
        "{\"date\":\"d\",\"timestamp\":\"t",
        "\xef\xbb\xbf{\"date\":\"d\",\"timestamp\":\"t\"}",
        "[]",
        "{}",
        "",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(accepted) / sizeof(*accepted); i++)
        if (!fast_agrees(accepted[i]))
            fail_msg("fast reader declined %s", accepted[i]);
    for (size_t i = 0; i < sizeof(declined) / sizeof(*declined); i++)
        if (fast_agrees(declined[i]))
            fail_msg("fast reader accepted %s", declined[i]);
}

/* Every prefix and every one-byte change of a real line: the fast reader
 * never accepts what the other refuses, never disagrees, never reads past
 * the end (ASan). */
static void
test_fast_reader_mutations(void **state)
{
    pt_record r = full_record();
    pt_buf b = PT_BUF_INIT;
    static const char subst[] = "\"\\{}[],:0-9aentu \x01\x80";
    (void)state;

    pt__record_json(&b, &r);
    for (size_t n = 0; n <= b.len; n++) {
        char *cut = malloc(n + 1);
        memcpy(cut, b.ptr, n);
        cut[n] = '\0';
        (void)fast_agrees(cut);
        free(cut);
    }
    for (size_t i = 0; i < b.len; i++) {
        for (size_t k = 0; k < sizeof(subst) - 1; k++) {
            char saved = b.ptr[i];
            b.ptr[i] = subst[k];
            (void)fast_agrees(b.ptr);
            b.ptr[i] = saved;
        }
    }
    pt_buf_free(&b);
}

static void
test_fast_reader_fields(void **state)
{
    pt_record r = full_record();
    pt__record_reader rd;
    pt_buf b = PT_BUF_INIT;
    (void)state;

    memset(&rd, 0, sizeof(rd));
    pt__record_json(&b, &r);
    assert_int_equal(pt__record_read_fast(&rd, b.ptr, b.len,
                                          PT_FIELD_TITLES | PT_FIELD_COUNTS),
                     PT_OK);
    assert_string_equal(rd.record.date, r.date);
    assert_string_equal(rd.record.timestamp, r.timestamp);
    assert_int_equal(rd.record.ttl, r.ttl);
    assert_int_equal(rd.record.title_count, 2);
    assert_string_equal(rd.record.titles[1], "Song Title 2");
    assert_int_equal(rd.record.num_files_downloaded, 4);
    assert_true(rd.record.has_errors);
    assert_null(rd.record.client_ip);
    assert_null(rd.record.session_id);
    assert_null(rd.record.user_agent);
    assert_null(rd.record.policy);
    assert_null(rd.record.links);
    assert_int_equal(rd.record.link_count, 0);
    assert_null(rd.record.filenames);
    /* The buffers are reused: a second, shorter line reads right. */
    assert_int_equal(pt__record_read_fast(
                         &rd, "{\"date\":\"a\",\"timestamp\":\"b\"}", 28, 0),
                     PT_OK);
    assert_string_equal(rd.record.date, "a");
    assert_int_equal(rd.record.title_count, 0);
    assert_null(rd.record.titles);
    pt__record_reader_free(&rd);
    pt_buf_free(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dup_copies_everything_into_one_block),
        cmocka_unit_test(test_dup_nulls_and_empty_lists),
        cmocka_unit_test(test_json_exact_form),
        cmocka_unit_test(test_json_round_trip_every_field),
        cmocka_unit_test(test_json_omits_absent),
        cmocka_unit_test(test_json_unicode_and_control_chars),
        cmocka_unit_test(test_json_special_at_every_offset),
        cmocka_unit_test(test_json_invalid_utf8_replaced),
        cmocka_unit_test(test_json_extreme_numbers),
        cmocka_unit_test(test_to_json_null_arguments),
        cmocka_unit_test(test_parse_seed_item),
        cmocka_unit_test(test_parse_minimal_and_tolerant),
        cmocka_unit_test(test_parse_rejects_malformed),
        cmocka_unit_test(test_parse_hostile_input),
        cmocka_unit_test(test_list_append_sort_free),
        cmocka_unit_test(test_list_many),
        cmocka_unit_test(test_fast_reader_takes_what_privtrack_writes),
        cmocka_unit_test(test_fast_reader_agrees_or_declines),
        cmocka_unit_test(test_fast_reader_mutations),
        cmocka_unit_test(test_fast_reader_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
