/* The fast visit-line reader (cli/visit_fast.c) against the cJSON reader
 * (cli/visit.c): a line the fast reader takes must be one the cJSON reader
 * takes, with the same visit; every other line must be declined, so that
 * the cJSON reader's answer (and error message) stays the only one.
 * Checked on the common shapes, on lines built to be declined, and on
 * deterministic mutations (bytes replaced, removed, inserted) of both. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static cli_visit fast_visit, json_visit;

static int
same_string(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

static int
same_strings(const char *const *a, const char *const *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!same_string(a[i], b[i]))
            return 0;
    return 1;
}

/* Everything pt_track() reads from the visit. */
static void
assert_same_visit(const pt_visit *a, const pt_visit *b, const char *line)
{
    int same = a->version == b->version &&
               same_string(a->remote_addr, b->remote_addr) &&
               a->header_count == b->header_count &&
               a->link_count == b->link_count &&
               a->filename_count == b->filename_count &&
               a->error_count == b->error_count && a->time_us == b->time_us &&
               same_strings(a->links, b->links, a->link_count) &&
               same_strings(a->filenames, b->filenames, a->filename_count) &&
               (a->link_count || (!a->links && !b->links)) &&
               (a->filename_count || (!a->filenames && !b->filenames));
    for (size_t i = 0; same && i < a->header_count; i++)
        same = same_string(a->headers[i].name, b->headers[i].name) &&
               same_string(a->headers[i].value, b->headers[i].value);
    if (!same)
        fail_msg("the readers disagree on: %s", line);
}

/* 1 when the fast reader took the line (and agreed with cJSON). */
static int
compare(const char *line, size_t len)
{
    char err[160];
    int fast = cli_visit_parse_fast(&fast_visit, line, len);
    int json = cli_visit_parse_json(&json_visit, line, len, err, sizeof(err));

    if (fast == 0) {
        if (json != 0)
            fail_msg("fast reader took a line cJSON refuses (%s): %.*s", err,
                     (int)len, line);
        assert_same_visit(&fast_visit.visit, &json_visit.visit, line);
    }
    if (json == 0)
        cli_visit_free(&json_visit);
    cli_visit_free(&fast_visit);
    return fast == 0;
}

static const char *const taken[] = {
    "{}",
    " {\t} \r\n",
    "{\"remote_addr\": \"198.51.0.7\", \"headers\": {\"User-Agent\": "
    "\"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 "
    "Firefox/128.0\"}, \"links\": "
    "[\"https://www.youtube.com/watch?v=abc123&list=PL9x\"], \"filenames\": "
    "[\"Song Title 7.m4a\"], \"errors\": [], \"time\": "
    "\"2026-12-04T15:26:00.000500+00:00\"}",
    "{\"client_ip\":\"2001:db8::1\",\"user_agent\":\"curl/8\",\"headers\":{"
    "\"DNT\":\"1\",\"Sec-GPC\":\"1\",\"X-Forwarded-For\":\"203.0.113.9, "
    "10.0.0.1\",\"Cookie\":\"a=b\"},\"errors\":[\"HTTP 404\",\"x\"],"
    "\"links\":[],\"filenames\":[\"a.m4a\",\"\",\"b c.mp3\"]}",
    "{\"time\": \"2025-01-15\", \"remote_addr\": \"\"}",
    "{\"links\": [\"caf\xc3\xa9\", \"\xff\"]}",
    "{\"headers\": {\"user-agent\": \"a\", \"User-Agent\": \"b\"}}",
    "{\"headers\": {}, \"links\": [ ], \"filenames\" : [\"x\" ] }",
};

static const char *const declined[] = {
    /* what cJSON takes, but the fast reader leaves to it */
    "{\"links\": [\"a\\\"b\"]}",
    "{\"remote_addr\": \"203.0.113.9\\u0041\"}",
    "{\"remote_addr\": null}",
    "{\"headers\": {\"DNT\": null}}",
    "{\"errors\": 3}",
    "{\"errors\": [1, {}]}",
    "{\"links\": [\"a\tb\"]}",
    "{\f}",
    "{\"remote_addr\": \"203.0.113.9\"}\v",
    "{\"links\": [\"1\",\"2\",\"3\",\"4\",\"5\",\"6\",\"7\",\"8\",\"9\",\"10\","
    "\"11\",\"12\",\"13\",\"14\",\"15\",\"16\",\"17\"]}",
    /* what cJSON refuses, with its own message */
    "",
    "{",
    "[]",
    "{\"remote_adr\": \"203.0.113.9\"}",
    "{\"time\": \"now\"}",
    "{\"time\": \"9999-12-31T23:59:59.999999-01:00\"}",
    "{\"remote_addr\": \"a\", \"client_ip\": \"b\"}",
    "{\"user_agent\": \"a\", \"headers\": {\"user-agent\": \"b\"}}",
    "{\"links\": [], \"links\": []}",
    "{\"headers\": {\"DNT\": \"0\", \"DNT\": \"1\"}}",
    "{\"links\": [\"a\",]}",
    "{\"links\": [\"a\"] \"time\": \"2025-01-15\"}",
    "{\"remote_addr\": \"203.0.113.9\"} x",
    "{\"remote_addr\": \"203.0.113.9\"}}",
    "{\"links\": \"a\"}",
    "{\"headers\": []}",
};

static void
test_taken_and_declined(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++)
        if (!compare(taken[i], strlen(taken[i])))
            fail_msg("fast reader declined: %s", taken[i]);
    for (size_t i = 0; i < sizeof(declined) / sizeof(declined[0]); i++)
        if (compare(declined[i], strlen(declined[i])))
            fail_msg("fast reader took: %s", declined[i]);
}

/* A NUL byte and a line longer than the fast reader's copy. */
static void
test_nul_and_long(void **state)
{
    static const char nul[] = "{\"remote_addr\": \"203.0.113.9\0x\"}";
    char *line = malloc(CLI_VISIT_FAST_BYTES + 64);
    size_t n;
    (void)state;
    assert_int_equal(compare(nul, sizeof(nul) - 1), 0);
    assert_non_null(line);
    n = (size_t)snprintf(line, 64, "{\"links\": [\"");
    memset(line + n, 'a', CLI_VISIT_FAST_BYTES);
    memcpy(line + n + CLI_VISIT_FAST_BYTES, "\"]}", 4);
    assert_int_equal(compare(line, strlen(line)), 0);
    /* cJSON takes it all the same */
    {
        char err[160];
        assert_int_equal(
            cli_visit_parse(&json_visit, line, strlen(line), err, sizeof(err)),
            0);
        assert_int_equal(strlen(json_visit.visit.links[0]),
                         CLI_VISIT_FAST_BYTES);
        cli_visit_free(&json_visit);
    }
    free(line);
}

/* The string scan takes sixteen or eight bytes at a time: a quote, a
 * backslash or a control byte at every offset of values of every length
 * up to 40 bytes (both widths, and the bytes left after them), amid bytes on
 * both sides of those the scan tests for (space and
 * '!' around the quote, '[' and ']' around the backslash, 0x20 at the end
 * of the control range, 0x7f, 0x80, 0xdf, 0xe0, 0xff).  A value with one
 * must be declined, a value without one taken, as cJSON reads it. */
static void
test_special_at_every_offset(void **state)
{
    static const char fillers[] = " !#[]\x7f\x80\xdf\xe0\xff";
    static const char specials[] = "\"\\\x01\x1f\n";
    (void)state;
    for (size_t f = 0; f < sizeof(fillers) - 1; f++) {
        for (size_t len = 0; len <= 40; len++) {
            for (size_t at = 0; at <= len; at++) {
                /* k == sizeof(specials) - 1: no special byte at all */
                for (size_t k = 0; k < sizeof(specials); k++) {
                    char value[48], line[128];
                    int n, placed = k < sizeof(specials) - 1 && at < len;
                    memset(value, fillers[f], len);
                    if (placed)
                        value[at] = specials[k];
                    n = snprintf(line, sizeof(line),
                                 "{\"user_agent\": \"%.*s\"}", (int)len, value);
                    if (compare(line, (size_t)n) == placed)
                        fail_msg("filler %#x, length %zu, special %#x at %zu: "
                                 "%s",
                                 (unsigned)(unsigned char)fillers[f], len,
                                 (unsigned)(unsigned char)specials[k], at,
                                 placed ? "taken" : "declined");
                }
            }
        }
    }
}

static uint64_t
next_random(uint64_t *s)
{
    /* splitmix64: a fixed sequence, so a failure replays */
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Bytes that matter to a JSON reader, and some that do not. */
static const char interesting[] = "\"\\{}[]:, \t\r\n\f\v\0a0-nlu\x80\xff";

static void
test_mutations(void **state)
{
    uint64_t seed = 42;
    size_t fast_taken = 0, rounds = 0;
    (void)state;
    for (int round = 0; round < 20000; round++) {
        const char *base =
            round % 2
                ? taken[(size_t)round / 2 % (sizeof(taken) / sizeof(taken[0]))]
                : declined[(size_t)round / 2 %
                           (sizeof(declined) / sizeof(declined[0]))];
        char line[1024];
        size_t len = strlen(base);
        int edits = 1 + (int)(next_random(&seed) % 3);
        memcpy(line, base, len);
        for (int e = 0; e < edits; e++) {
            uint64_t r = next_random(&seed);
            size_t at = len ? (size_t)(r % (len + 1)) : 0;
            char c = interesting[(r >> 20) % (sizeof(interesting) - 1)];
            switch ((r >> 40) % 3) {
            case 0: /* replace */
                if (at < len)
                    line[at] = c;
                break;
            case 1: /* remove */
                if (at < len) {
                    memmove(line + at, line + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: /* insert */
                if (len + 1 < sizeof(line)) {
                    memmove(line + at + 1, line + at, len - at);
                    line[at] = c;
                    len++;
                }
            }
        }
        fast_taken += (size_t)compare(line, len);
        rounds++;
    }
    /* Not a vacuous check: many mutants are still taken by both. */
    if (fast_taken < rounds / 20)
        fail_msg("only %zu of %zu mutants taken", fast_taken, rounds);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_taken_and_declined),
        cmocka_unit_test(test_nul_and_long),
        cmocka_unit_test(test_special_at_every_offset),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
