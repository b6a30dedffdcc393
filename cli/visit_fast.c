/*
 * The common visit line without a JSON tree.
 *
 * `privtrack record FILE` of a large import spent most of its own time in
 * cJSON: a tree of a dozen nodes per line, each one malloc'd and freed,
 * then a walk of it by name.  Almost every line is the plain shape
 *
 *   {"remote_addr": "...", "headers": {"User-Agent": "..."},
 *    "links": ["..."], "filenames": ["..."], "errors": [], "time": "..."}
 *
 * This reader takes exactly that shape, in a copy of the line inside the
 * cli_visit (its strings are NUL-terminated in place: no allocation), and
 * declines everything else: an escape or a control byte in a string, a
 * null, a number, a value of another type, an unknown or repeated key or
 * header name, more items than its arrays hold, a line longer than its
 * copy, a time pt_time_parse() refuses, whitespace other than space, tab,
 * CR and LF.  A declined line goes to the cJSON reader (visit.c), which
 * accepts it or gives the error it always gave.  So what this reader
 * accepts, the cJSON reader accepts with the same visit (the unit test
 * compares both on valid and mutated lines), and bad input is reported
 * exactly as before.
 */
#include "cli.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct scan {
    char *p;
    char *end;
} scan;

static void
skip_space(scan *s)
{
    while (s->p < s->end &&
           (*s->p == ' ' || *s->p == '\t' || *s->p == '\r' || *s->p == '\n'))
        s->p++;
}

/* Skips spaces, then takes `c` if it is next. */
static int
take(scan *s, char c)
{
    skip_space(s);
    if (s->p < s->end && *s->p == c) {
        s->p++;
        return 1;
    }
    return 0;
}

/* Bytes a string reader must look at: the closing quote, an escape (the
 * cJSON reader decodes those), a control byte (cJSON takes them raw; the
 * cJSON reader decides). */
static int
special(unsigned char c)
{
    return c == '"' || c == '\\' || c < 0x20;
}

/* Where the first special() byte of [p, end) is, or `end`.  Many bytes
 * at a time: this scan was the largest part of reading a visit line (the
 * user agent and the links are most of it).  A word whose mask is not 0
 * holds a special byte (the tests for a zero byte and for a byte below
 * 0x20 can flag bytes after the first real one, never before it): on a
 * little-endian machine its lowest flag is the first special byte; on
 * others the word is looked at byte by byte. */
static char *
find_special(char *p, const char *end)
{
    const uint64_t ones = UINT64_C(0x0101010101010101);
    const uint64_t highs = UINT64_C(0x8080808080808080);

#ifdef __SSE2__
    /* Sixteen at a time where the machine has it (every x86-64): a byte
     * below 0x20 is one that min(byte, 0x1f) leaves unchanged. */
    const __m128i quote16 = _mm_set1_epi8('"');
    const __m128i backslash16 = _mm_set1_epi8('\\');
    const __m128i control16 = _mm_set1_epi8(0x1f);
    while (end - p >= 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i hit =
            _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote16),
                                      _mm_cmpeq_epi8(x, backslash16)),
                         _mm_cmpeq_epi8(_mm_min_epu8(x, control16), x));
        unsigned int mask = (unsigned int)_mm_movemask_epi8(hit);
        if (mask)
            return p + __builtin_ctz(mask);
        p += 16;
    }
#endif

    while (end - p >= 8) {
        uint64_t x, quote, backslash, control;
        memcpy(&x, p, 8);
        quote = x ^ (ones * '"');
        backslash = x ^ (ones * '\\');
        quote = (quote - ones) & ~quote;
        backslash = (backslash - ones) & ~backslash;
        control = (x - ones * 0x20) & ~x;
        x = (quote | backslash | control) & highs;
        if (x) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) &&                            \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            /* the lowest flag is always a real one */
            return p + (__builtin_ctzll(x) >> 3);
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && !special((unsigned char)*p))
        p++;
    return p;
}

/* A string without escapes or control bytes: its text, NUL-terminated
 * where its closing quote was, and its length; NULL to decline. */
static const char *
string_len(scan *s, size_t *len)
{
    char *start;
    skip_space(s);
    if (s->p >= s->end || *s->p != '"')
        return NULL;
    start = ++s->p;
    s->p = find_special(s->p, s->end);
    if (s->p >= s->end || *s->p != '"')
        return NULL;
    *s->p++ = '\0';
    *len = (size_t)(s->p - 1 - start);
    return start;
}

static const char *
string(scan *s)
{
    size_t len;
    return string_len(s, &len);
}

/* [ "..." , ... ]: at most `max` strings into `out`; -1 to decline. */
static int
string_array(scan *s, const char **out, size_t max, size_t *count)
{
    *count = 0;
    if (!take(s, '['))
        return -1;
    if (take(s, ']'))
        return 0;
    do {
        const char *text = string(s);
        if (!text || *count == max)
            return -1;
        out[(*count)++] = text;
    } while (take(s, ','));
    return take(s, ']') ? 0 : -1;
}

/* { "Name": "value", ... } with no name given twice (compared as the cJSON
 * reader compares them, case-sensitively). */
static int
headers(scan *s, pt_header *out, size_t max, size_t *count)
{
    *count = 0;
    if (!take(s, '{'))
        return -1;
    if (take(s, '}'))
        return 0;
    do {
        const char *name = string(s), *value;
        if (!name || *count == max || !take(s, ':') || !(value = string(s)))
            return -1;
        for (size_t i = 0; i < *count; i++)
            if (strcmp(out[i].name, name) == 0)
                return -1;
        out[*count].name = name;
        out[*count].value = value;
        (*count)++;
    } while (take(s, ','));
    return take(s, '}') ? 0 : -1;
}

enum key {
    K_REMOTE_ADDR,
    K_CLIENT_IP,
    K_HEADERS,
    K_USER_AGENT,
    K_LINKS,
    K_FILENAMES,
    K_ERRORS,
    K_TIME,
    K__COUNT
};

static const char *const key_names[K__COUNT] = {
    "remote_addr", "client_ip", "headers", "user_agent",
    "links",       "filenames", "errors",  "time"};

static int
key_of(const char *name, size_t len)
{
    for (int k = 0; k < K__COUNT; k++)
        if (name[0] == key_names[k][0] && strlen(key_names[k]) == len &&
            memcmp(name, key_names[k], len) == 0)
            return k;
    return -1;
}

/* One member's value into the visit; -1 to decline. */
static int
member(cli_visit *v, scan *s, int key, const char **user_agent)
{
    const char *text;
    size_t n;

    switch (key) {
    case K_REMOTE_ADDR:
    case K_CLIENT_IP:
        if (v->visit.remote_addr) /* both given: the cJSON reader says so */
            return -1;
        return (v->visit.remote_addr = string(s)) ? 0 : -1;
    case K_USER_AGENT:
        return (*user_agent = string(s)) ? 0 : -1;
    case K_TIME:
        text = string(s);
        return text && pt_time_parse(text, &v->visit.time_us) == PT_OK ? 0 : -1;
    case K_HEADERS:
        if (headers(s, v->fast_headers, CLI_VISIT_FAST_ITEMS, &n) != 0)
            return -1;
        v->visit.header_count = n;
        return 0;
    case K_LINKS:
        if (string_array(s, v->fast_links, CLI_VISIT_FAST_ITEMS, &n) != 0)
            return -1;
        v->visit.links = n ? v->fast_links : NULL;
        v->visit.link_count = n;
        return 0;
    case K_FILENAMES:
        if (string_array(s, v->fast_filenames, CLI_VISIT_FAST_ITEMS, &n) != 0)
            return -1;
        v->visit.filenames = n ? v->fast_filenames : NULL;
        v->visit.filename_count = n;
        return 0;
    default: /* K_ERRORS: only their number is used */
        if (string_array(s, v->fast_errors, CLI_VISIT_FAST_ITEMS, &n) != 0)
            return -1;
        v->visit.error_count = n;
        return 0;
    }
}

/* The "user_agent" shorthand goes after the headers, as the cJSON reader
 * puts it; with a User-Agent header too, that reader reports the clash. */
static int
add_user_agent(cli_visit *v, const char *user_agent)
{
    size_t n = v->visit.header_count;
    if (!user_agent)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(v->fast_headers[i].name, "User-Agent") == 0)
            return -1;
    v->fast_headers[n].name = "User-Agent";
    v->fast_headers[n].value = user_agent;
    v->visit.header_count = n + 1;
    return 0;
}

int
cli_visit_parse_fast(cli_visit *out, const char *line, size_t len)
{
    pt_visit init = PT_VISIT_INIT;
    const char *user_agent = NULL;
    unsigned int seen = 0;
    scan s;

    out->visit = init;
    out->root = NULL;
    out->headers = NULL;
    out->links = NULL;
    out->filenames = NULL;
    if (len >= sizeof(out->fast_text))
        return -1;
    memcpy(out->fast_text, line, len);
    out->fast_text[len] = '\0';
    s.p = out->fast_text;
    s.end = out->fast_text + len;
    out->visit.headers = out->fast_headers;
    if (!take(&s, '{'))
        goto decline;
    if (!take(&s, '}')) {
        do {
            size_t name_len = 0;
            const char *name = string_len(&s, &name_len);
            int key = name ? key_of(name, name_len) : -1;
            if (key < 0 || (seen & (1u << key)) || !take(&s, ':') ||
                member(out, &s, key, &user_agent) != 0)
                goto decline;
            seen |= 1u << key;
        } while (take(&s, ','));
        if (!take(&s, '}'))
            goto decline;
    }
    skip_space(&s);
    if (s.p != s.end || add_user_agent(out, user_agent) != 0)
        goto decline;
    return 0;
decline:
    out->visit = init;
    return -1;
}
