/*
 * A cursor over one line of JSON, for the readers that take the common
 * shape of a line without building a cJSON tree: the visit reader of the
 * bulk import (cli/visit_fast.c) and the record reader of scans
 * (lib/record/record_view.c).  Both *decline* what they do not take (the
 * cJSON reader then decides), so every function here answers "taken" or
 * "declined" (-1) and never "wrong": it reads no byte at or past `end`,
 * needs no NUL terminator, allocates nothing and does no I/O.
 *
 * What the cursor agrees with cJSON on, and its tests check
 * (tests/unit/test_json_cursor.c):
 * - blanks are space, tab, CR and LF;
 * - a string holds no raw control byte (below 0x20): such a string is
 *   declined; bytes from 0x80 up pass through as they are, valid UTF-8 or
 *   not, as cJSON passes them;
 * - escapes are \" \\ \/ \b \f \n \r \t and \uXXXX; a \u escape is written
 *   as UTF-8, a surrogate pair as one code point; \u0000 (it would cut a C
 *   string) and a surrogate that is not part of a pair are declined;
 * - an escape is never shorter than what it decodes to, so a string
 *   decodes into a buffer as long as its span in the line;
 * - numbers follow JSON's grammar, and a value ends at a blank, a comma,
 *   a closing bracket or the end of the line (`tru`, `1.`, `01` are
 *   declined).
 * Nesting is the caller's: pt__json_open() and pt__json_next() walk one
 * array or object, and a reader calls them again for one inside it.
 *
 * Header-only, every function `static inline`: the command links the
 * shared library, which exports no pt__ symbol, and the per-byte loops
 * must inline into both readers (the bulk import spends much of its own
 * time here).
 */
#ifndef PT_JSON_CURSOR_H
#define PT_JSON_CURSOR_H

#include "hex.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/** What pt__json_string() found: a string without escapes, or one whose
 *  escapes pt__json_unescape() decodes. */
#define PT__JSON_PLAIN   0
#define PT__JSON_ESCAPED 1

typedef struct pt__json_cursor {
    const char *p;   /* the next byte */
    const char *end; /* one past the last byte; p never passes it */
} pt__json_cursor;

static inline void
pt__json_init(pt__json_cursor *c, const char *text, size_t len)
{
    c->p = text;
    c->end = text + len;
}

static inline void
pt__json_skip_space(pt__json_cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\r' || *c->p == '\n'))
        c->p++;
}

/** Skips blanks, then takes `ch` if it is next: 1 when taken, else 0. */
static inline int
pt__json_take(pt__json_cursor *c, char ch)
{
    pt__json_skip_space(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/** 1 when only blanks are left (they are skipped), else 0. */
static inline int
pt__json_at_end(pt__json_cursor *c)
{
    pt__json_skip_space(c);
    return c->p == c->end;
}

/** The start of an array or object (`open` is '[' or '{', `close` its
 *  pair): 1 when its first member follows, 0 when it is empty (both
 *  brackets taken), -1 when `open` is not next. */
static inline int
pt__json_open(pt__json_cursor *c, char open, char close)
{
    if (!pt__json_take(c, open))
        return -1;
    return pt__json_take(c, close) ? 0 : 1;
}

/** After a member: 1 when a comma follows (another member must), 0 when
 *  `close` ends the array or object, -1 for anything else. */
static inline int
pt__json_next(pt__json_cursor *c, char close)
{
    if (pt__json_take(c, ','))
        return 1;
    return pt__json_take(c, close) ? 0 : -1;
}

/** The bytes a string reader must stop at: the closing quote, an escape,
 *  a control byte. */
static inline int
pt__json_special(unsigned char ch)
{
    return ch == '"' || ch == '\\' || ch < 0x20;
}

/** Where the first special byte of [p, end) is, or `end`.  Many bytes at a
 *  time: this scan is the largest part of reading a visit line (the user
 *  agent and the links are most of it).  A word whose mask is not 0 holds
 *  a special byte (the tests for a zero byte and for a byte below 0x20 can
 *  flag bytes after the first real one, never before it): on a
 *  little-endian machine its lowest flag is the first special byte; on
 *  others the word is looked at byte by byte. */
static inline const char *
pt__json_find_special(const char *p, const char *end)
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
    while (p < end && !pt__json_special((unsigned char)*p))
        p++;
    return p;
}

/** A string, after blanks.  PT__JSON_PLAIN: it has no escape; *text and
 *  *len are its bytes between the quotes, and the cursor is past it.
 *  PT__JSON_ESCAPED: *text is its first byte and the cursor is at its
 *  first backslash; pt__json_unescape() reads the rest.  -1: no string
 *  here, a control byte in it, or no closing quote. */
static inline int
pt__json_string(pt__json_cursor *c, const char **text, size_t *len)
{
    const char *start;
    pt__json_skip_space(c);
    if (c->p >= c->end || *c->p != '"')
        return -1;
    start = ++c->p;
    c->p = pt__json_find_special(c->p, c->end);
    if (c->p >= c->end)
        return -1;
    *text = start;
    if (*c->p == '"') {
        *len = (size_t)(c->p++ - start);
        return PT__JSON_PLAIN;
    }
    return *c->p == '\\' ? PT__JSON_ESCAPED : -1;
}

/** The four hex digits at `p` (the caller checked they are in the line). */
static inline int
pt__json_hex4(const char *p, unsigned int *out)
{
    unsigned int v = 0;
    for (int i = 0; i < 4; i++) {
        int d = pt__hex_value(p[i]);
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned int)d;
    }
    *out = v;
    return 0;
}

/** Code point `cp` (at most 0x10FFFF) as UTF-8 into `o`: its length. */
static inline size_t
pt__json_put_utf8(char *o, unsigned int cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/** One escape, the cursor just past its backslash: its bytes into `o`,
 *  their number into *n; -1 to decline. */
static inline int
pt__json_escape(pt__json_cursor *c, char o[4], size_t *n)
{
    unsigned int cp, lo;
    char ch;

    if (c->p >= c->end)
        return -1;
    ch = *c->p++;
    if (ch != 'u') {
        /* the one-letter escapes, and what each stands for */
        static const char letter[] = "\"\\/bfnrt", means[] = "\"\\/\b\f\n\r\t";
        const char *hit = memchr(letter, ch, sizeof(letter) - 1);
        if (!hit)
            return -1;
        o[0] = means[hit - letter];
        *n = 1;
        return 0;
    }
    if (c->end - c->p < 4 || pt__json_hex4(c->p, &cp))
        return -1;
    c->p += 4;
    if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
        return -1; /* NUL cuts a C string; a lone low surrogate */
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
            pt__json_hex4(c->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
            return -1;
        c->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *n = pt__json_put_utf8(o, cp);
    return 0;
}

/** The rest of a string that pt__json_string() found PT__JSON_ESCAPED,
 *  `text` the *text it gave: decoded into `out` (NULL: only checked and
 *  skipped), which needs room for as many bytes as the string spans in
 *  the line (nothing is NUL-terminated); *len (may be NULL) gets the
 *  decoded length.  0 with the cursor past the closing quote, -1 to
 *  decline. */
static inline int
pt__json_unescape(pt__json_cursor *c, const char *text, char *out, size_t *len)
{
    size_t n = (size_t)(c->p - text);

    if (out)
        memcpy(out, text, n);
    for (;;) {
        const char *run;
        char bytes[4];
        size_t k;

        /* at a special byte: the quote, a backslash, a control byte */
        if (c->p >= c->end || (unsigned char)*c->p < 0x20)
            return -1;
        if (*c->p++ == '"')
            break;
        if (pt__json_escape(c, bytes, &k))
            return -1;
        if (out)
            memcpy(out + n, bytes, k);
        n += k;
        run = c->p;
        c->p = pt__json_find_special(c->p, c->end);
        if (out)
            memcpy(out + n, run, (size_t)(c->p - run));
        n += (size_t)(c->p - run);
    }
    if (len)
        *len = n;
    return 0;
}

/** A value ends at a blank, a comma, a closing bracket or the end. */
static inline int
pt__json_at_delimiter(const pt__json_cursor *c)
{
    if (c->p >= c->end)
        return 1;
    switch (*c->p) {
    case ' ':
    case '\t':
    case '\n':
    case '\r':
    case ',':
    case '}':
    case ']':
        return 1;
    default:
        return 0;
    }
}

/** The word `word` (`n` bytes: true, false, null) ending at a delimiter,
 *  at the cursor: 0 when taken, else -1. */
static inline int
pt__json_word(pt__json_cursor *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return pt__json_at_delimiter(c) ? 0 : -1;
}

/** `null`, after blanks: 1 when it is there (taken), 0 when the next value
 *  does not start with 'n', -1 when it does but is not `null`. */
static inline int
pt__json_null(pt__json_cursor *c)
{
    pt__json_skip_space(c);
    if (c->p < c->end && *c->p == 'n')
        return pt__json_word(c, "null", 4) ? -1 : 1;
    return 0;
}

/** `true` or `false` at the cursor into *out; -1 for anything else. */
static inline int
pt__json_bool(pt__json_cursor *c, int *out)
{
    int value;
    if (c->p < c->end && *c->p == 't')
        value = 1;
    else if (c->p < c->end && *c->p == 'f')
        value = 0;
    else
        return -1;
    if (value ? pt__json_word(c, "true", 4) : pt__json_word(c, "false", 5))
        return -1;
    *out = value;
    return 0;
}

/** A count at the cursor: 0, or a non-negative integer of at most 15
 *  digits without a leading zero (exact as a double, as cJSON holds it).
 *  A sign, a fraction, an exponent are declined. */
static inline int
pt__json_count(pt__json_cursor *c, int64_t *out)
{
    int64_t v = 0;
    int digits = 0;

    if (c->p < c->end && *c->p == '0') {
        c->p++;
        *out = 0;
        return pt__json_at_delimiter(c) ? 0 : -1;
    }
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (++digits > 15)
            return -1;
        v = v * 10 + (*c->p++ - '0');
    }
    if (!digits || !pt__json_at_delimiter(c))
        return -1;
    *out = v;
    return 0;
}

static inline void
pt__json_skip_digits(pt__json_cursor *c)
{
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
        c->p++;
}

/** Any JSON number at the cursor, skipped:
 *  -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ending at a delimiter. */
static inline int
pt__json_skip_number(pt__json_cursor *c)
{
    if (c->p < c->end && *c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0') {
        c->p++;
    } else {
        if (c->p >= c->end || *c->p < '1' || *c->p > '9')
            return -1;
        pt__json_skip_digits(c);
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return -1;
        pt__json_skip_digits(c);
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return -1;
        pt__json_skip_digits(c);
    }
    return pt__json_at_delimiter(c) ? 0 : -1;
}

/** A value that is not an array or object, after blanks, skipped: a
 *  string (escapes checked), true, false, null or a number; -1 for
 *  anything else, '[' and '{' included (nesting is the caller's). */
static inline int
pt__json_skip_scalar(pt__json_cursor *c)
{
    const char *text;
    size_t n;
    int flag;

    pt__json_skip_space(c);
    if (c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '"':
        switch (pt__json_string(c, &text, &n)) {
        case PT__JSON_PLAIN:
            return 0;
        case PT__JSON_ESCAPED:
            return pt__json_unescape(c, text, NULL, NULL);
        default:
            return -1;
        }
    case 't':
    case 'f':
        return pt__json_bool(c, &flag);
    case 'n':
        return pt__json_null(c) == 1 ? 0 : -1;
    default:
        return pt__json_skip_number(c);
    }
}

#endif
