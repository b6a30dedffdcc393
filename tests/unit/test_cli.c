/* The command's own parsers (cli/time.c, cli/visit.c): visit times (through
 * the library), dates, and visit lines, including the errors that must never
 * quote the input; and its bounded line reader (cli/lines.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* The time of a visit line goes through the library's parser: whatever
 * it accepts pt_track() accepts; out of range is reported with the limit. */
static void
test_visit_times(void **state)
{
    cli_visit v;
    char err[160];
    (void)state;

    const char *ok =
        "{\"remote_addr\": \"203.0.113.7\", \"time\": \"9999-12-31T22:59:59."
        "999999-01:00\"}";
    assert_int_equal(cli_visit_parse(&v, ok, strlen(ok), err, sizeof(err)), 0);
    assert_true(v.visit.time_us == PT_TIME_MAX_US);
    cli_visit_free(&v);

    const char *late =
        "{\"remote_addr\": \"203.0.113.7\", \"time\": \"9999-12-31T23:59:59-"
        "01:00\"}";
    assert_int_equal(cli_visit_parse(&v, late, strlen(late), err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "\"time\""));
    assert_non_null(strstr(err, "9999-12-31T23:59:59.999999Z"));
    assert_null(strstr(err, "203.0.113.7"));
    cli_visit_free(&v);

    const char *epoch = "{\"time\": \"1970-01-01T00:00:00Z\"}";
    assert_int_equal(
        cli_visit_parse(&v, epoch, strlen(epoch), err, sizeof(err)), -1);
    assert_non_null(strstr(err, "1970-01-01T00:00:00Z"));
    cli_visit_free(&v);

    const char *bad = "{\"time\": \"yesterday\"}";
    assert_int_equal(cli_visit_parse(&v, bad, strlen(bad), err, sizeof(err)),
                     -1);
    assert_non_null(strstr(err, "ISO-8601"));
    cli_visit_free(&v);
}

static void
test_dates(void **state)
{
    (void)state;
    assert_true(cli_valid_date("2025-01-15"));
    assert_true(cli_valid_date("2000-02-29"));
    assert_false(cli_valid_date("1900-02-29"));
    assert_false(cli_valid_date("2025-01-15 "));
    assert_false(cli_valid_date("2025-00-10"));
    assert_false(cli_valid_date(NULL));
    /* The dates a record can have: the library's range. */
    assert_true(cli_valid_date("1970-01-01"));
    assert_true(cli_valid_date("9999-12-31"));
    assert_false(cli_valid_date("1969-12-31"));
    assert_false(cli_valid_date("0000-01-01"));
}

static void
test_visit_full(void **state)
{
    const char *line =
        "{\"client_ip\": \"203.0.113.7\", \"user_agent\": \"UA\", "
        "\"headers\": {\"dnt\": \"1\", \"X\": null}, \"links\": [\"a\", "
        "\"b\"], \"filenames\": [\"f.mp3\"], \"errors\": 3, "
        "\"time\": \"2025-01-15T14:30:00Z\"}\n";
    cli_visit v;
    char err[160];
    (void)state;
    assert_int_equal(cli_visit_parse(&v, line, strlen(line), err, sizeof(err)),
                     0);
    assert_string_equal(v.visit.remote_addr, "203.0.113.7");
    assert_int_equal(v.visit.header_count, 2);
    assert_string_equal(v.visit.headers[0].name, "dnt");
    assert_string_equal(v.visit.headers[1].name, "User-Agent");
    assert_string_equal(v.visit.headers[1].value, "UA");
    assert_int_equal(v.visit.link_count, 2);
    assert_string_equal(v.visit.links[1], "b");
    assert_int_equal(v.visit.filename_count, 1);
    assert_int_equal(v.visit.error_count, 3);
    assert_true(v.visit.time_us == INT64_C(1736951400000000));
    cli_visit_free(&v);
    cli_visit_free(&v); /* idempotent */
}

/* What looks like a NUL but is not one is accepted; a raw NUL byte is
 * not. */
static void
test_visit_nul(void **state)
{
    /* An escaped backslash followed by the text u0000; a quote escaped in
     * a string does not end it. */
    static const char ok[] =
        "{\"links\": [\"a\\\\u0000\", \"\\\"\\\\u0000\"], \"filenames\": "
        "[\"u0000\"]}";
    static const char raw[] = "{\"remote_addr\": \"203.0.113.9\0x\"}";
    cli_visit v;
    char err[160] = "";
    (void)state;
    assert_int_equal(cli_visit_parse(&v, ok, strlen(ok), err, sizeof(err)), 0);
    assert_int_equal(v.visit.link_count, 2);
    assert_string_equal(v.visit.links[0], "a\\u0000");
    assert_string_equal(v.visit.links[1], "\"\\u0000");
    cli_visit_free(&v);
    assert_int_equal(
        cli_visit_parse(&v, raw, sizeof(raw) - 1, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "NUL"));
    assert_null(strstr(err, "203.0.113"));
    assert_null(v.root);
}

static void
test_visit_empty_object(void **state)
{
    cli_visit v;
    char err[160];
    (void)state;
    assert_int_equal(cli_visit_parse(&v, "{}", 2, err, sizeof(err)), 0);
    assert_null(v.visit.remote_addr);
    assert_int_equal(v.visit.header_count, 0);
    assert_true(v.visit.time_us == 0);
    cli_visit_free(&v);
}

static void
test_visit_errors_never_quote(void **state)
{
    static const struct {
        const char *line;
        const char *expect;
    } cases[] = {
        {"{\"remote_addr\": \"203.0.113.9\"", "malformed JSON"},
        {"[\"203.0.113.9\"]", "JSON object"},
        {"{\"remote_adr\": \"203.0.113.9\"}", "unknown key \"remote_adr\""},
        {"{\"203.0.113.9\": 1}", "(name not shown)"},
        {"{\"remote_addr\": \"203.0.113.9\", \"client_ip\": \"x\"}",
         "both given"},
        {"{\"remote_addr\": 203}", "must be a string"},
        {"{\"remote_addr\": \"203.0.113.9\", \"links\": \"x\"}", "array"},
        {"{\"remote_addr\": \"203.0.113.9\", \"filenames\": [1]}",
         "[0] must be a string"},
        {"{\"remote_addr\": \"203.0.113.9\", \"headers\": []}", "object"},
        {"{\"remote_addr\": \"203.0.113.9\", \"headers\": {\"DNT\": 1}}",
         "header \"DNT\""},
        {"{\"remote_addr\": \"203.0.113.9\", \"errors\": -1}", "errors"},
        {"{\"remote_addr\": \"203.0.113.9\", \"time\": \"now\"}", "ISO-8601"},
        {"{\"user_agent\": \"a\", \"headers\": {\"user-agent\": \"b\"}}",
         "both given"},
        {"{\"remote_addr\": \"203.0.113.9\"} 203.0.113.9", "unexpected text"},
        /* A key given twice: which one counts is up to the parser. */
        {"{\"remote_addr\": null, \"remote_addr\": \"203.0.113.9\"}",
         "key \"remote_addr\" given twice"},
        {"{\"remote_addr\": \"203.0.113.9\", \"time\": null, \"links\": [], "
         "\"time\": \"2025-01-15\"}",
         "key \"time\" given twice"},
        {"{\"remote_addr\": \"203.0.113.9\", \"headers\": {\"DNT\": \"0\", "
         "\"X\": \"y\", \"DNT\": \"1\"}}",
         "header \"DNT\" given twice"},
        {"{\"headers\": {\"203.0.113.9\": \"a\", \"203.0.113.9\": \"b\"}}",
         "header \"(name not shown)\" given twice"},
        /* A NUL would cut a C string: "DNT\u0000x" would read as DNT. */
        {"{\"remote_addr\": \"203.0.113.9\\u0000x\"}", "NUL"},
        {"{\"remote_addr\": \"203.0.113.9\", \"headers\": {\"DNT\\u0000x\": "
         "\"1\"}}",
         "NUL"},
        {"{\"remote_addr\": \"203.0.113.9\", \"links\": [\"a\\\\\\u0000\"]}",
         "NUL"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cli_visit v;
        char err[160] = "";
        const char *line = cases[i].line;
        if (cli_visit_parse(&v, line, strlen(line), err, sizeof(err)) == 0)
            fail_msg("accepted %s", line);
        if (!strstr(err, cases[i].expect))
            fail_msg("'%s': error '%s' lacks '%s'", line, err, cases[i].expect);
        if (strstr(err, "203.0.113"))
            fail_msg("'%s': error '%s' quotes the address", line, err);
        assert_null(v.root);
    }
}

/* A file holding `len` bytes, positioned at its start; its descriptor is
 * what the reader reads. */
static FILE *
file_with(const char *bytes, size_t len)
{
    FILE *f = tmpfile();
    assert_non_null(f);
    assert_int_equal(fwrite(bytes, 1, len, f), len);
    assert_int_equal(fflush(f), 0);
    rewind(f);
    return f;
}

static void
expect_line(cli_lines *r, const char *text, size_t len)
{
    assert_int_equal(cli_lines_next(r), 1);
    assert_false(r->too_long);
    assert_int_equal(r->len, len);
    assert_int_equal(r->length, len);
    assert_memory_equal(r->line, text, len);
    assert_int_equal(r->line[len], '\0');
}

static void
test_lines_short(void **state)
{
    static const char text[] = "a\n\nb\r\nc\0d\nlast";
    FILE *f = file_with(text, sizeof(text) - 1);
    cli_lines r;
    (void)state;
    assert_int_equal(cli_lines_init(&r, fileno(f), 16, NULL), 0);
    expect_line(&r, "a", 1);
    expect_line(&r, "", 0);
    expect_line(&r, "b\r", 2);  /* the caller decides about '\r' */
    expect_line(&r, "c\0d", 3); /* a NUL byte does not end a line */
    expect_line(&r, "last", 4); /* no final newline */
    assert_int_equal(cli_lines_next(&r), 0);
    assert_int_equal(cli_lines_next(&r), 0);
    cli_lines_free(&r);
    cli_lines_free(&r);
    fclose(f);
}

/* Lines longer than the limit are counted, not kept; the buffer never
 * holds more than the limit; the lines around them, and lines exactly at
 * the limit, come through whole, across the reader's 64 KiB chunks. */
static void
test_lines_too_long(void **state)
{
    const size_t max = 100000, big = 1000000;
    const size_t lens[] = {max, max + 1, 5, big, max, 0, big + 7, 3};
    size_t total = 0, o = 0;
    char *text;
    FILE *f;
    cli_lines r;
    (void)state;

    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
        total += lens[i] + 1;
    text = malloc(total);
    assert_non_null(text);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        memset(text + o, 'a' + (int)i, lens[i]);
        o += lens[i];
        text[o++] = '\n';
    }
    f = file_with(text, total - 1); /* the last line without its newline */
    assert_int_equal(cli_lines_init(&r, fileno(f), max, NULL), 0);
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        assert_int_equal(cli_lines_next(&r), 1);
        assert_int_equal(r.length, lens[i]);
        assert_true(r.cap <= max + 1);
        if (lens[i] > max) {
            assert_true(r.too_long);
            assert_null(r.line);
            continue;
        }
        assert_false(r.too_long);
        assert_int_equal(r.len, lens[i]);
        for (size_t k = 0; k < lens[i]; k++)
            if (r.line[k] != 'a' + (int)i)
                fail_msg("line %zu byte %zu", i, k);
    }
    assert_int_equal(cli_lines_next(&r), 0);
    cli_lines_free(&r);
    fclose(f);
    free(text);
}

static void
test_lines_read_error(void **state)
{
    cli_lines r;
    (void)state;
    assert_int_equal(cli_lines_init(&r, -1, 10, NULL), 0);
    assert_int_equal(cli_lines_next(&r), -1);
    cli_lines_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_visit_times),
        cmocka_unit_test(test_dates),
        cmocka_unit_test(test_visit_full),
        cmocka_unit_test(test_visit_empty_object),
        cmocka_unit_test(test_visit_nul),
        cmocka_unit_test(test_visit_errors_never_quote),
        cmocka_unit_test(test_lines_short),
        cmocka_unit_test(test_lines_too_long),
        cmocka_unit_test(test_lines_read_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
