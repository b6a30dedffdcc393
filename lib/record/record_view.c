/*
 * Reading a record's JSON line fast, for scans over millions of lines.
 *
 * pt__record_parse_json() builds a cJSON tree and copies the record into
 * one allocation: about 2 µs for a typical 400-byte line, which is most of
 * the cost of a report over a million records.  This reader makes one pass
 * over the line and decodes the strings into a scratch buffer it reuses: no
 * allocation per line once the buffers have grown.
 *
 * It handles the shape privtrack writes (pt__record_json(): one flat
 * object of strings, integers, booleans, nulls and lists of strings) and
 * *declines* anything else — nested values, numbers that are not plain
 * non-negative integers, escapes in keys, raw control characters, a
 * repeated attribute, "\u0000", a surrogate escape that is not a pair.  A
 * declined line goes to pt__record_parse_json(), which decides.  So the
 * rule that keeps the two readers in agreement is one-sided: whatever this
 * reader accepts, pt__record_parse_json() accepts too and reads as the same
 * record (tests/unit/test_record.c and the fuzz target record_view check
 * exactly that).
 */
#include "record/record.h"

#include <stdlib.h>
#include <string.h>

#define PT__F_UNKNOWN PT__F__COUNT

/* The PT_FIELD_* bit that asks for each attribute (0: always read). */
static const unsigned int field_bit[PT__F__COUNT] = {
    [PT__F_DATE] = 0,
    [PT__F_TIMESTAMP] = 0,
    [PT__F_SESSION_ID] = PT_FIELD_SESSION_ID,
    [PT__F_CLIENT_IP] = PT_FIELD_CLIENT_IP,
    [PT__F_USER_AGENT] = PT_FIELD_USER_AGENT,
    [PT__F_NUM_LINKS] = PT_FIELD_COUNTS,
    [PT__F_NUM_FILES] = PT_FIELD_COUNTS,
    [PT__F_LINKS] = PT_FIELD_LINKS,
    [PT__F_TITLES] = PT_FIELD_TITLES,
    [PT__F_FILENAMES] = PT_FIELD_FILENAMES,
    [PT__F_HAS_ERRORS] = PT_FIELD_COUNTS,
    [PT__F_ERROR_COUNT] = PT_FIELD_COUNTS,
    [PT__F_TTL] = 0,
    [PT__F_POLICY] = PT_FIELD_POLICY,
};

#define KEY_IS(k, n, lit)                                                      \
    ((n) == sizeof(lit) - 1 && memcmp((k), (lit), sizeof(lit) - 1) == 0)

static enum pt__record_field
field_of(const char *k, size_t n)
{
    switch (k[0]) {
    case 'd':
        return KEY_IS(k, n, "date") ? PT__F_DATE : PT__F_UNKNOWN;
    case 't':
        if (KEY_IS(k, n, "timestamp"))
            return PT__F_TIMESTAMP;
        if (KEY_IS(k, n, "titles"))
            return PT__F_TITLES;
        return KEY_IS(k, n, "ttl") ? PT__F_TTL : PT__F_UNKNOWN;
    case 's':
        return KEY_IS(k, n, "session_id") ? PT__F_SESSION_ID : PT__F_UNKNOWN;
    case 'c':
        return KEY_IS(k, n, "client_ip") ? PT__F_CLIENT_IP : PT__F_UNKNOWN;
    case 'u':
        return KEY_IS(k, n, "user_agent") ? PT__F_USER_AGENT : PT__F_UNKNOWN;
    case 'n':
        if (KEY_IS(k, n, "num_links_submitted"))
            return PT__F_NUM_LINKS;
        return KEY_IS(k, n, "num_files_downloaded") ? PT__F_NUM_FILES
                                                    : PT__F_UNKNOWN;
    case 'l':
        return KEY_IS(k, n, "links") ? PT__F_LINKS : PT__F_UNKNOWN;
    case 'f':
        return KEY_IS(k, n, "filenames") ? PT__F_FILENAMES : PT__F_UNKNOWN;
    case 'h':
        return KEY_IS(k, n, "has_errors") ? PT__F_HAS_ERRORS : PT__F_UNKNOWN;
    case 'e':
        return KEY_IS(k, n, "error_count") ? PT__F_ERROR_COUNT : PT__F_UNKNOWN;
    case 'p':
        return KEY_IS(k, n, "policy") ? PT__F_POLICY : PT__F_UNKNOWN;
    default:
        return PT__F_UNKNOWN;
    }
}

/* The parse state of one line.  Every helper returns 0 on success and -1
 * to decline; the cursor never passes `end`. */
typedef struct cursor {
    const char *p;
    const char *end;
    char *out; /* next free byte of the scratch buffer */
    pt__record_reader *rd;
    size_t nslots; /* list elements taken so far */
} cursor;

static void
skip_ws(cursor *c)
{
    while (c->p < c->end &&
           (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int
expect(cursor *c, char ch)
{
    skip_ws(c);
    if (c->p >= c->end || *c->p != ch)
        return -1;
    c->p++;
    return 0;
}

static int
hex4(const char *p, unsigned int *out)
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

static char *
put_utf8(char *o, unsigned int cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | cp >> 12);
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | cp >> 18);
        *o++ = (char)(0x80 | (cp >> 12 & 0x3F));
        *o++ = (char)(0x80 | (cp >> 6 & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* One escape after the backslash at c->p[-1]; writes to *o when `o` is not
 * NULL.  An escape is never shorter than what it decodes to, so decoding in
 * a buffer as long as the line cannot overflow it. */
static int
escape(cursor *c, char **o)
{
    unsigned int cp, lo;
    char ch;

    if (c->p >= c->end)
        return -1;
    ch = *c->p++;
    switch (ch) {
    case '"':
    case '\\':
    case '/':
        break;
    case 'b':
        ch = '\b';
        break;
    case 'f':
        ch = '\f';
        break;
    case 'n':
        ch = '\n';
        break;
    case 'r':
        ch = '\r';
        break;
    case 't':
        ch = '\t';
        break;
    case 'u':
        if (c->end - c->p < 4 || hex4(c->p, &cp))
            return -1;
        c->p += 4;
        if (cp == 0 || (cp >= 0xDC00 && cp <= 0xDFFF))
            return -1; /* NUL cuts a C string; a lone low surrogate */
        if (cp >= 0xD800 && cp <= 0xDBFF) {
            if (c->end - c->p < 6 || c->p[0] != '\\' || c->p[1] != 'u' ||
                hex4(c->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF)
                return -1;
            c->p += 6;
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
        }
        if (o)
            *o = put_utf8(*o, cp);
        return 0;
    default:
        return -1;
    }
    if (o)
        *(*o)++ = ch;
    return 0;
}

/* A string at c->p (after skipping blanks); `keep` decodes it into the
 * scratch buffer and returns it in *out (NUL-terminated). */
static int
string(cursor *c, int keep, const char **out)
{
    char *o = keep ? c->out : NULL;
    const char *close;

    if (expect(c, '"'))
        return -1;
    /* Most strings have no escape: find the quote that ends them (SIMD
     * memchr), and copy the span at once. */
    close = memchr(c->p, '"', (size_t)(c->end - c->p));
    if (!close)
        return -1;
    if (!memchr(c->p, '\\', (size_t)(close - c->p))) {
        size_t n = (size_t)(close - c->p);
        if (o) {
            /* Kept strings have no control bytes (a NUL would cut the
             * string short in the cJSON reader); skipped ones may, as the
             * cJSON reader accepts them. */
            for (const char *p = c->p; p < close; p++)
                if ((unsigned char)*p < 0x20)
                    return -1;
            memcpy(o, c->p, n);
            o[n] = '\0';
            *out = o;
            c->out = o + n + 1;
        }
        c->p = close + 1;
        return 0;
    }
    for (;;) {
        const char *start = c->p;
        /* The plain run up to the next quote, backslash or control byte. */
        while (c->p < c->end) {
            unsigned char ch = (unsigned char)*c->p;
            if (ch == '"' || ch == '\\' || ch < 0x20)
                break;
            c->p++;
        }
        if (o) {
            memcpy(o, start, (size_t)(c->p - start));
            o += c->p - start;
        }
        if (c->p >= c->end || (unsigned char)*c->p < 0x20)
            return -1;
        if (*c->p++ == '"')
            break;
        if (escape(c, o ? &o : NULL))
            return -1;
    }
    if (o) {
        *o++ = '\0';
        *out = c->out;
        c->out = o;
    }
    return 0;
}

static int
literal(cursor *c, const char *word, size_t n)
{
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
        return -1;
    c->p += n;
    return 0;
}

/* A value ends at a blank, a comma or a closing bracket. */
static int
at_delimiter(const cursor *c)
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

/* `null`, after blanks: 1 when it is there (consumed), 0 when not. */
static int
null_here(cursor *c)
{
    skip_ws(c);
    if (c->p < c->end && *c->p == 'n') {
        if (literal(c, "null", 4) || !at_delimiter(c))
            return -1;
        return 1;
    }
    return 0;
}

/* A count or ttl: 0 or a non-negative integer of at most 15 digits (so it
 * is exact as a double, as pt__record_parse_json() requires).  Anything
 * else — a sign, a fraction, an exponent, a string — is declined. */
static int
integer(cursor *c, int64_t *out)
{
    int64_t v = 0;
    int digits = 0;
    int n = null_here(c);

    if (n)
        return n < 0 ? -1 : (*out = 0, 0);
    if (c->p < c->end && *c->p == '0') {
        c->p++;
        *out = 0;
        return at_delimiter(c) ? 0 : -1;
    }
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        if (++digits > 15)
            return -1;
        v = v * 10 + (*c->p++ - '0');
    }
    if (!digits || !at_delimiter(c))
        return -1;
    *out = v;
    return 0;
}

static int
boolean(cursor *c, int *out)
{
    int n = null_here(c);
    if (n)
        return n < 0 ? -1 : (*out = 0, 0);
    if (c->p < c->end && *c->p == 't' && literal(c, "true", 4) == 0)
        *out = 1;
    else if (c->p < c->end && *c->p == 'f' && literal(c, "false", 5) == 0)
        *out = 0;
    else
        return -1;
    return at_delimiter(c) ? 0 : -1;
}

static int
nullable_string(cursor *c, int keep, const char **out)
{
    int n = null_here(c);
    *out = NULL;
    if (n)
        return n < 0 ? -1 : 0;
    return string(c, keep, out);
}

static int
grow_slots(pt__record_reader *rd, size_t need)
{
    size_t cap = rd->slots_cap ? rd->slots_cap : 32;
    const char **slots;
    while (cap < need)
        cap *= 2;
    slots = realloc(rd->slots, cap * sizeof(*slots));
    if (!slots)
        return -1;
    rd->slots = slots;
    rd->slots_cap = cap;
    return 0;
}

/* A list of strings; with `keep`, its elements go to the slots from
 * *first on (*count of them).  Lists keep slot indexes, not pointers,
 * until the end: the slot array may move when it grows. */
static int
string_list(cursor *c, int keep, size_t *first, size_t *count)
{
    int n = null_here(c);

    *first = c->nslots;
    *count = 0;
    if (n)
        return n < 0 ? -1 : 0;
    if (expect(c, '['))
        return -1;
    skip_ws(c);
    if (c->p < c->end && *c->p == ']') {
        c->p++;
        return 0;
    }
    for (;;) {
        const char *s = NULL;
        if (string(c, keep, &s))
            return -1;
        if (keep) {
            if (c->nslots == c->rd->slots_cap &&
                grow_slots(c->rd, c->nslots + 1))
                return -2; /* out of memory, not a decline */
            c->rd->slots[c->nslots++] = s;
        }
        (*count)++;
        skip_ws(c);
        if (c->p >= c->end)
            return -1;
        if (*c->p == ']') {
            c->p++;
            return 0;
        }
        if (*c->p++ != ',')
            return -1;
    }
}

/* A value of an attribute this reader does not know: a string, a JSON
 * number, true, false or null (a nested value is declined). */
static int
skip_unknown(cursor *c)
{
    const char *s;
    skip_ws(c);
    if (c->p >= c->end)
        return -1;
    switch (*c->p) {
    case '"':
        return string(c, 0, &s);
    case 't':
        return literal(c, "true", 4) || !at_delimiter(c) ? -1 : 0;
    case 'f':
        return literal(c, "false", 5) || !at_delimiter(c) ? -1 : 0;
    case 'n':
        return literal(c, "null", 4) || !at_delimiter(c) ? -1 : 0;
    default:
        break;
    }
    /* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
    if (*c->p == '-')
        c->p++;
    if (c->p < c->end && *c->p == '0') {
        c->p++;
    } else {
        if (c->p >= c->end || *c->p < '1' || *c->p > '9')
            return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-'))
            c->p++;
        if (c->p >= c->end || *c->p < '0' || *c->p > '9')
            return -1;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
            c->p++;
    }
    return at_delimiter(c) ? 0 : -1;
}

typedef struct lists {
    size_t first[3], count[3]; /* links, titles, filenames */
} lists;

static int
value(cursor *c, enum pt__record_field f, unsigned int fields, pt_record *r,
      lists *l)
{
    int keep =
        f < PT__F__COUNT && (field_bit[f] == 0 || (fields & field_bit[f]));

    switch (f) {
    case PT__F_DATE:
        return nullable_string(c, 1, &r->date);
    case PT__F_TIMESTAMP:
        return nullable_string(c, 1, &r->timestamp);
    case PT__F_SESSION_ID:
        return nullable_string(c, keep, &r->session_id);
    case PT__F_CLIENT_IP:
        return nullable_string(c, keep, &r->client_ip);
    case PT__F_USER_AGENT:
        return nullable_string(c, keep, &r->user_agent);
    case PT__F_POLICY:
        return nullable_string(c, keep, &r->policy);
    case PT__F_NUM_LINKS:
        return integer(c, &r->num_links_submitted);
    case PT__F_NUM_FILES:
        return integer(c, &r->num_files_downloaded);
    case PT__F_ERROR_COUNT:
        return integer(c, &r->error_count);
    case PT__F_TTL:
        return integer(c, &r->ttl);
    case PT__F_HAS_ERRORS:
        return boolean(c, &r->has_errors);
    case PT__F_LINKS:
        return string_list(c, keep, &l->first[0], &l->count[0]);
    case PT__F_TITLES:
        return string_list(c, keep, &l->first[1], &l->count[1]);
    case PT__F_FILENAMES:
        return string_list(c, keep, &l->first[2], &l->count[2]);
    default:
        return skip_unknown(c);
    }
}

/* Counts and the flag that were not asked for are left at 0, as the
 * PT_FIELD_* contract says. */
static void
drop_unasked(pt_record *r, unsigned int fields, lists *l)
{
    if (!(fields & PT_FIELD_COUNTS)) {
        r->num_links_submitted = r->num_files_downloaded = 0;
        r->error_count = 0;
        r->has_errors = 0;
    }
    if (!(fields & PT_FIELD_LINKS))
        l->count[0] = 0;
    if (!(fields & PT_FIELD_TITLES))
        l->count[1] = 0;
    if (!(fields & PT_FIELD_FILENAMES))
        l->count[2] = 0;
}

static const char *const *
list_at(const pt__record_reader *rd, size_t first, size_t count)
{
    return count ? rd->slots + first : NULL;
}

/* The keys as privtrack writes them, quotes included, in the order it
 * writes them (pt__record_json(): the enum's order). */
#define Q(k)                                                                   \
    {                                                                          \
        "\"" k "\"", sizeof(k) + 1                                             \
    }
static const struct {
    const char *text;
    size_t len;
} quoted[PT__F__COUNT] = {
    Q("date"),
    Q("timestamp"),
    Q("session_id"),
    Q("client_ip"),
    Q("user_agent"),
    Q("num_links_submitted"),
    Q("num_files_downloaded"),
    Q("links"),
    Q("titles"),
    Q("filenames"),
    Q("has_errors"),
    Q("error_count"),
    Q("ttl"),
    Q("policy"),
};
#undef Q

/* The key at c->p when it is one of the next few in privtrack's order
 * (absent attributes are skipped): one memcmp instead of a scan. */
static enum pt__record_field
expected_key(cursor *c, int next)
{
    for (int f = next; f < PT__F__COUNT && f < next + 4; f++) {
        if ((size_t)(c->end - c->p) >= quoted[f].len &&
            memcmp(c->p, quoted[f].text, quoted[f].len) == 0) {
            c->p += quoted[f].len;
            return (enum pt__record_field)f;
        }
    }
    return PT__F__COUNT;
}

static int
object(cursor *c, unsigned int fields, pt_record *r, lists *l)
{
    unsigned int seen = 0;
    int next = 0;

    if (expect(c, '{'))
        return -1;
    for (;;) {
        const char *key;
        enum pt__record_field f;
        int rc;

        skip_ws(c);
        if (c->p >= c->end || *c->p != '"')
            return -1; /* also "{}" and a trailing comma */
        f = expected_key(c, next);
        if (f == PT__F__COUNT) {
            key = ++c->p;
            while (c->p < c->end && *c->p != '"' && *c->p != '\\' &&
                   (unsigned char)*c->p >= 0x20)
                c->p++;
            if (c->p >= c->end || *c->p != '"' || c->p == key)
                return -1;
            f = field_of(key, (size_t)(c->p - key));
            c->p++;
        }
        if (f != PT__F_UNKNOWN) {
            next = (int)f + 1;
            if (seen & (1u << f))
                return -1; /* the first one wins in cJSON's reader */
            seen |= 1u << f;
        }
        if (expect(c, ':'))
            return -1;
        if ((rc = value(c, f, fields, r, l)) != 0)
            return rc;
        skip_ws(c);
        if (c->p >= c->end)
            return -1;
        if (*c->p == '}') {
            c->p++;
            break;
        }
        if (*c->p++ != ',')
            return -1;
    }
    skip_ws(c);
    if (c->p != c->end || !r->date || !r->timestamp)
        return -1;
    return 0;
}

int
pt__record_read_fast(pt__record_reader *rd, const char *json, size_t len,
                     unsigned int fields)
{
    pt_record *r = &rd->record;
    lists l;
    cursor c;
    int rc;

    if (len + 1 > rd->scratch_cap) {
        size_t cap = rd->scratch_cap ? rd->scratch_cap : 4096;
        char *scratch;
        while (cap < len + 1)
            cap *= 2;
        scratch = realloc(rd->scratch, cap);
        if (!scratch)
            return pt__fail(PT_ENOMEM, "out of memory reading a record");
        rd->scratch = scratch;
        rd->scratch_cap = cap;
    }
    memset(r, 0, sizeof(*r));
    memset(&l, 0, sizeof(l));
    c.p = json;
    c.end = json + len;
    c.out = rd->scratch;
    c.rd = rd;
    c.nslots = 0;
    rc = object(&c, fields ? fields : PT_FIELD_ALL, r, &l);
    if (rc == -2)
        return pt__fail(PT_ENOMEM, "out of memory reading a record");
    if (rc != 0)
        return PT__RECORD_DECLINED;
    drop_unasked(r, fields ? fields : PT_FIELD_ALL, &l);
    r->links = list_at(rd, l.first[0], l.count[0]);
    r->link_count = l.count[0];
    r->titles = list_at(rd, l.first[1], l.count[1]);
    r->title_count = l.count[1];
    r->filenames = list_at(rd, l.first[2], l.count[2]);
    r->filename_count = l.count[2];
    return PT_OK;
}

void
pt__record_reader_free(pt__record_reader *rd)
{
    if (!rd)
        return;
    free(rd->scratch);
    free(rd->slots);
    memset(rd, 0, sizeof(*rd));
}
