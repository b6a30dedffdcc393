/*
 * lib/common/json_cursor.h: the JSON cursor of the fast visit and record
 * readers.  Its invariants: it never reads at or past the end it is given
 * (every input here sits in a heap block of exactly its length, so ASan
 * sees an over-read), it takes only what cJSON reads the same way, and it
 * declines the rest: broken or lone surrogates, \u0000, unknown escapes,
 * raw control bytes, truncated input, numbers outside JSON's grammar.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "common/json_cursor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `len` bytes of `text` in a block of exactly that size (no NUL after). */
static char *
exact(const char *text, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    memcpy(p, text, len);
    return p;
}

/* The string at the start of `json`, decoded into `out` (as many bytes as
 * the input, plus a NUL added here); its length, or -1 when declined.
 * Both the plain and the escaped path; the skip-only call must agree with
 * the decoding one and end at the same place. */
static long
decode(const char *json, size_t len, char *out)
{
    char *in = exact(json, len);
    pt__json_cursor c, skip;
    const char *text;
    size_t n = 0;
    int kind, rc;

    pt__json_init(&c, in, len);
    kind = pt__json_string(&c, &text, &n);
    skip = c;
    if (kind == PT__JSON_PLAIN) {
        memcpy(out, text, n);
        rc = 0;
    } else if (kind == PT__JSON_ESCAPED) {
        rc = pt__json_unescape(&c, text, out, &n);
        assert_int_equal(pt__json_unescape(&skip, text, NULL, NULL), rc);
        if (rc == 0)
            assert_ptr_equal(skip.p, c.p);
    } else {
        rc = -1;
    }
    assert_true(c.p <= c.end);
    if (rc == 0) {
        assert_int_equal(c.p[-1], '"');
        assert_true(n + 2 <= (size_t)(c.p - in)); /* never longer */
        out[n] = '\0';
    }
    free(in);
    return rc == 0 ? (long)n : -1;
}

static void
check_decodes(const char *json, const char *want, size_t want_len)
{
    char out[256];
    long n = decode(json, strlen(json), out);
    if (n != (long)want_len || memcmp(out, want, want_len) != 0)
        fail_msg("%s: got %ld bytes", json, n);
}

static void
check_declined(const char *json, size_t len)
{
    char out[256];
    if (decode(json, len, out) != -1)
        fail_msg("taken, should be declined: %.*s", (int)len, json);
}

#define DECODES(json, want) check_decodes(json, want, sizeof(want) - 1)
#define DECLINED(json)      check_declined(json, sizeof(json) - 1)

static void
test_plain_strings(void **state)
{
    (void)state;
    DECODES("\"\"", "");
    DECODES("  \t\r\n\"abc\" rest", "abc");
    /* UTF-8, valid or not, passes through byte for byte, as in cJSON */
    DECODES("\"caf\xc3\xa9 \xf0\x9f\x8e\xb5\"", "caf\xc3\xa9 \xf0\x9f\x8e\xb5");
    DECODES("\"\xff\xfe\xc3\x28\x80\xed\xa0\x80\"",
            "\xff\xfe\xc3\x28\x80\xed\xa0\x80");
    DECODES("\"\x7f\x20\"", "\x7f\x20");
    /* not a string, or not closed */
    DECLINED("abc");
    DECLINED("'abc'");
    DECLINED("\f\"abc\""); /* form feed is not a JSON blank */
    DECLINED("\"abc");
    DECLINED("");
    /* a raw control byte, NUL included */
    DECLINED("\"a\x01\"");
    DECLINED("\"a\x1f\"");
    DECLINED("\"a\tb\"");
    DECLINED("\"a\0b\"");
}

static void
test_escapes(void **state)
{
    (void)state;
    DECODES("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t");
    DECODES("\"a\\nb\\\"c\"", "a\nb\"c");
    DECODES("\"\\u0041\\u00e9\\u20AC\\u07ff\\uffff\"",
            "A\xc3\xa9\xe2\x82\xac\xdf\xbf\xef\xbf\xbf");
    /* escapes around invalid UTF-8: the raw bytes are kept */
    DECODES("\"\\n\xff\\t\xc3\"", "\n\xff\t\xc3");
    DECLINED("\"\\x\"");
    DECLINED("\"\\U0041\"");
    DECLINED("\"\\u00g1\"");
    DECLINED("\"\\u041\"");
    DECLINED("\"\\\"");
    /* a raw control byte after an escape */
    DECLINED("\"\\n\x01\"");
    /* \u0000 would cut the C string */
    DECLINED("\"a\\u0000b\"");
}

static void
test_surrogates(void **state)
{
    (void)state;
    /* a pair is one code point, four bytes of UTF-8 */
    DECODES("\"\\ud83c\\udfb5\"", "\xf0\x9f\x8e\xb5");
    DECODES("\"\\uD800\\uDC00\\uDBFF\\uDFFF\"",
            "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
    DECLINED("\"\\ud800\"");        /* a lone high surrogate */
    DECLINED("\"\\ud800x\"");       /* followed by text */
    DECLINED("\"\\ud800\\n\"");     /* followed by another escape */
    DECLINED("\"\\ud800\\u0041\""); /* followed by a non-surrogate */
    DECLINED("\"\\ud800\\ud800\""); /* followed by another high one */
    DECLINED("\"\\udc00\"");        /* a lone low surrogate */
    DECLINED("\"\\udfff\\ud800\""); /* a pair the wrong way round */
    DECLINED("\"\\ud800\\udc0\"");  /* a cut low half */
}

/* Every proper prefix of a string is declined, and is read without going
 * past its end (the heap block ends there). */
static void
test_truncated(void **state)
{
    static const char *const whole[] = {
        "\"plain text of some length, past sixteen bytes\"",
        "\"a\\u00e9\\ud83c\\udfb5\\n\\\"tail of more than 16 bytes\"",
        "\"\xc3\xa9\xc3\"",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(whole) / sizeof(*whole); i++) {
        size_t len = strlen(whole[i]);
        char out[256];
        assert_true(decode(whole[i], len, out) >= 0);
        for (size_t cut = 0; cut < len; cut++)
            check_declined(whole[i], cut);
    }
}

/* The byte-at-a-time answer pt__json_find_special() must give. */
static size_t
first_special(const unsigned char *p, size_t len)
{
    size_t i = 0;
    while (i < len && !(p[i] == '"' || p[i] == '\\' || p[i] < 0x20))
        i++;
    return i;
}

/* Every length (the 16-, 8- and 1-byte paths), every place of every kind
 * of special byte, on backgrounds of plain ASCII and of high bytes, and
 * random bytes. */
static void
test_find_special(void **state)
{
    static const unsigned char specials[] = {'"', '\\', 0x00, 0x01, 0x1f};
    static const unsigned char plain[] = {'a', 0x20, 0x7f, 0x80, 0x9f, 0xff};
    unsigned int seed = 12345;
    (void)state;

    for (size_t len = 0; len <= 48; len++) {
        for (size_t b = 0; b < sizeof(plain); b++) {
            unsigned char buf[48];
            memset(buf, plain[b], len);
            for (size_t at = 0; at <= len; at++) {
                for (size_t s = 0; s < sizeof(specials); s++) {
                    char *in;
                    if (at < len)
                        buf[at] = specials[s];
                    in = exact((const char *)buf, len);
                    assert_int_equal(
                        pt__json_find_special(in, in + len) - in,
                        first_special((const unsigned char *)in, len));
                    free(in);
                    if (at < len)
                        buf[at] = plain[b];
                }
            }
        }
    }
    for (int round = 0; round < 20000; round++) {
        unsigned char buf[64];
        size_t len = (size_t)(rand_r(&seed) % 64);
        char *in;
        for (size_t i = 0; i < len; i++) {
            /* mostly plain bytes, so that specials come late too */
            int r = rand_r(&seed);
            buf[i] = (unsigned char)(r % 40 ? 0x20 + r % 0xe0 : r % 0x20);
        }
        in = exact((const char *)buf, len);
        assert_int_equal(pt__json_find_special(in, in + len) - in,
                         first_special(buf, len));
        free(in);
    }
}

/* A value of any JSON type skipped with the cursor, arrays and objects by
 * the caller's recursion (as a reader nests): 0 or -1. */
static int
skip_value(pt__json_cursor *c, int depth)
{
    const char *name;
    size_t n;
    int more;

    if (depth > 16)
        return -1;
    pt__json_skip_space(c);
    if (c->p < c->end && *c->p == '[') {
        more = pt__json_open(c, '[', ']');
        while (more > 0 && skip_value(c, depth + 1) == 0)
            more = pt__json_next(c, ']');
        return more > 0 ? -1 : more;
    }
    if (c->p < c->end && *c->p == '{') {
        more = pt__json_open(c, '{', '}');
        while (more > 0 && pt__json_string(c, &name, &n) == PT__JSON_PLAIN &&
               pt__json_take(c, ':') && skip_value(c, depth + 1) == 0)
            more = pt__json_next(c, '}');
        return more > 0 ? -1 : more;
    }
    return pt__json_skip_scalar(c);
}

/* 1 when `json` is one whole value by skip_value(), 0 when declined;
 * every proper prefix of a taken value is declined. */
static int
whole_value(const char *json)
{
    size_t len = strlen(json);
    int taken = 0;
    for (size_t cut = len + 1; cut-- > 0;) {
        char *in = exact(json, cut);
        pt__json_cursor c;
        int ok;
        pt__json_init(&c, in, cut);
        ok = skip_value(&c, 0) == 0 && pt__json_at_end(&c);
        assert_true(c.p <= c.end);
        free(in);
        if (cut == len)
            taken = ok;
        else if (ok && taken && strspn(json + cut, " \t\r\n") != len - cut)
            fail_msg("prefix %zu of %s taken", cut, json);
    }
    return taken;
}

static void
test_nesting(void **state)
{
    static const char *const taken[] = {
        "{}",
        "[]",
        " [ ] ",
        "{\"a\":[[\"x\"],[],{\"b\":{\"c\":{}}}],\"d\":[1,-2.5e3,true,null]}",
        "[[[[[[[[[[\"deep\"]]]]]]]]]]",
        "{ \"h\" : { \"User-Agent\" : \"x\" } , \"l\" : [ \"a\" , \"b\" ] }",
    };
    static const char *const declined[] = {
        "[}",     "{]",    "[1,]",      "{\"a\":1,}", "[,1]",
        "{,}",    "[1 2]", "{\"a\" 1}", "{1:2}",      "[\"a\"",
        "{\"a\"", "[[]",   "{\"a\":{}", "[]]",        "{\"\\u0061\":1}x",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(taken) / sizeof(*taken); i++)
        if (!whole_value(taken[i]))
            fail_msg("declined: %s", taken[i]);
    for (size_t i = 0; i < sizeof(declined) / sizeof(*declined); i++)
        if (whole_value(declined[i]))
            fail_msg("taken: %s", declined[i]);
}

/* pt__json_open()/pt__json_next() answers, one by one. */
static void
test_open_next(void **state)
{
    static const char x[] = "x";
    pt__json_cursor c;
    (void)state;
    pt__json_init(&c, x, 1);
    assert_int_equal(pt__json_open(&c, '[', ']'), -1);
    assert_ptr_equal(c.p, x); /* nothing taken */
    pt__json_init(&c, " [ ] ,", 6);
    assert_int_equal(pt__json_open(&c, '[', ']'), 0);
    assert_int_equal(pt__json_next(&c, ']'), 1); /* the comma */
    pt__json_init(&c, "[ \"a\" ]", 7);
    assert_int_equal(pt__json_open(&c, '[', ']'), 1);
    assert_int_equal(*c.p, '"');
    c.p += 3;
    assert_int_equal(pt__json_next(&c, ']'), 0);
    assert_true(pt__json_at_end(&c));
    pt__json_init(&c, "}", 1);
    assert_int_equal(pt__json_next(&c, ']'), -1);
}

/* A cursor over an exact copy of `json` (see exact()). */
typedef struct on_copy {
    pt__json_cursor c;
    char *in;
} on_copy;

static pt__json_cursor *
copy_of(on_copy *o, const char *json)
{
    size_t len = strlen(json);
    o->in = exact(json, len);
    pt__json_init(&o->c, o->in, len);
    return &o->c;
}

/* `rc`, once the cursor is checked to be within its input and freed. */
static int
done(on_copy *o, int rc)
{
    assert_true(o->c.p <= o->c.end);
    free(o->in);
    return rc;
}

static int
count_of(const char *json, int64_t *out)
{
    on_copy o;
    return done(&o, pt__json_count(copy_of(&o, json), out));
}

static int
number_skips(const char *json)
{
    on_copy o;
    return done(&o, pt__json_skip_number(copy_of(&o, json)));
}

static int
bool_of(const char *json, int *out)
{
    on_copy o;
    return done(&o, pt__json_bool(copy_of(&o, json), out));
}

static int
null_of(const char *json)
{
    on_copy o;
    return done(&o, pt__json_null(copy_of(&o, json)));
}

static void
test_numbers(void **state)
{
    static const char *const numbers[] = {
        "0",    "-0",        "7",  "123", "-123", "0.5", "-0.0e0", "1e9",
        "1E+9", "1.25e-300", "0,", "5]",  "5}",   "5 ",  "12\n",   "1e5\t",
    };
    static const char *const not_numbers[] = {
        "",     "-",  "+1",  "01",  "00", "1.",  ".5",       "1e",    "1e+",
        "1.e5", "1x", "0x1", "--1", "1-", "NaN", "Infinity", "1.5.5", "\"1\"",
    };
    static const char *const not_counts[] = {
        "-1", "1.0", "1e3", "01", "1234567890123456", "", "x", "1x", "+1",
    };
    int64_t v = -1;
    (void)state;

    for (size_t i = 0; i < sizeof(numbers) / sizeof(*numbers); i++)
        if (number_skips(numbers[i]) != 0)
            fail_msg("declined: %s", numbers[i]);
    for (size_t i = 0; i < sizeof(not_numbers) / sizeof(*not_numbers); i++)
        if (number_skips(not_numbers[i]) == 0)
            fail_msg("taken: %s", not_numbers[i]);
    assert_int_equal(count_of("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(count_of("123456789012345", &v), 0); /* 15 digits */
    assert_int_equal(v, INT64_C(123456789012345));
    assert_int_equal(count_of("42,", &v), 0);
    assert_int_equal(v, 42);
    for (size_t i = 0; i < sizeof(not_counts) / sizeof(*not_counts); i++)
        if (count_of(not_counts[i], &v) == 0)
            fail_msg("count taken: %s", not_counts[i]);
}

static void
test_literals(void **state)
{
    int b = -1;
    (void)state;
    assert_int_equal(bool_of("true", &b), 0);
    assert_int_equal(b, 1);
    assert_int_equal(bool_of("false}", &b), 0);
    assert_int_equal(b, 0);
    b = 7;
    /* a word must end at a delimiter; a failed one leaves *out alone */
    assert_int_equal(bool_of("truefalse", &b), -1);
    assert_int_equal(bool_of("falsetrue", &b), -1);
    assert_int_equal(bool_of("tru", &b), -1);
    assert_int_equal(bool_of("True", &b), -1);
    assert_int_equal(bool_of("", &b), -1);
    assert_int_equal(b, 7);
    assert_int_equal(null_of(" null"), 1);
    assert_int_equal(null_of("null,"), 1);
    assert_int_equal(null_of("nul"), -1);
    assert_int_equal(null_of("nullx"), -1);
    assert_int_equal(null_of("\"null\""), 0);
    assert_int_equal(null_of(""), 0);
}

static int
scalar_skips(const char *json)
{
    on_copy o;
    return done(&o, pt__json_skip_scalar(copy_of(&o, json)));
}

/* What a reader skips for an attribute it does not know: any value but
 * an array or an object (it declines those). */
static void
test_skip_scalar(void **state)
{
    (void)state;
    assert_int_equal(scalar_skips(" \"a\\u00e9\\n\""), 0);
    assert_int_equal(scalar_skips("-1.5e+3,"), 0);
    assert_int_equal(scalar_skips("true"), 0);
    assert_int_equal(scalar_skips("null}"), 0);
    assert_int_equal(scalar_skips("\"a\\ud800\""), -1);
    assert_int_equal(scalar_skips("\"a\x01\""), -1);
    assert_int_equal(scalar_skips("[1]"), -1);
    assert_int_equal(scalar_skips("{}"), -1);
    assert_int_equal(scalar_skips("nulls"), -1);
    assert_int_equal(scalar_skips(""), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_strings),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_surrogates),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_find_special),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_open_next),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_literals),
        cmocka_unit_test(test_skip_scalar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
