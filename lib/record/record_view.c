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
 * exactly that).  The scanning (blanks, strings and their escapes,
 * numbers, literals) is the JSON cursor's (common/json_cursor.h), which
 * the command's visit reader uses too.
 */
#include "common/json_cursor.h"
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
 * to decline; the cursor never passes the line's end. */
typedef struct cursor {
    pt__json_cursor json;
    char *out; /* next free byte of the scratch buffer */
    pt__record_reader *rd;
    size_t nslots; /* list elements taken so far */
} cursor;

/* A string at the cursor (after skipping blanks); `keep` decodes it into
 * the scratch buffer and returns it in *out (NUL-terminated).  The scratch
 * buffer is as long as the line, and no string decodes longer than it
 * spans there. */
static int
string(cursor *c, int keep, const char **out)
{
    char *o = keep ? c->out : NULL;
    const char *text;
    size_t n;
    int kind = pt__json_string(&c->json, &text, &n);

    if (kind == PT__JSON_ESCAPED) {
        if (pt__json_unescape(&c->json, text, o, &n))
            return -1;
    } else if (kind != PT__JSON_PLAIN) {
        return -1;
    } else if (o) {
        memcpy(o, text, n);
    }
    if (o) {
        o[n] = '\0';
        *out = o;
        c->out = o + n + 1;
    }
    return 0;
}

/* A count or ttl (pt__json_count(): what pt__record_parse_json() reads
 * exactly), or null for 0. */
static int
integer(cursor *c, int64_t *out)
{
    int n = pt__json_null(&c->json);
    if (n)
        return n < 0 ? -1 : (*out = 0, 0);
    return pt__json_count(&c->json, out);
}

static int
boolean(cursor *c, int *out)
{
    int n = pt__json_null(&c->json);
    if (n)
        return n < 0 ? -1 : (*out = 0, 0);
    return pt__json_bool(&c->json, out);
}

static int
nullable_string(cursor *c, int keep, const char **out)
{
    int n = pt__json_null(&c->json);
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
    int more = pt__json_null(&c->json);

    *first = c->nslots;
    *count = 0;
    if (more)
        return more < 0 ? -1 : 0;
    more = pt__json_open(&c->json, '[', ']');
    while (more > 0) {
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
        more = pt__json_next(&c->json, ']');
    }
    return more;
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
        /* an attribute this reader does not know: a nested value is
         * declined */
        return pt__json_skip_scalar(&c->json);
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

/* The key at the cursor when it is one of the next few in privtrack's
 * order (absent attributes are skipped): one memcmp instead of a scan. */
static enum pt__record_field
expected_key(pt__json_cursor *j, int next)
{
    for (int f = next; f < PT__F__COUNT && f < next + 4; f++) {
        if ((size_t)(j->end - j->p) >= quoted[f].len &&
            memcmp(j->p, quoted[f].text, quoted[f].len) == 0) {
            j->p += quoted[f].len;
            return (enum pt__record_field)f;
        }
    }
    return PT__F__COUNT;
}

/* The attribute of the key at the cursor (PT__F_UNKNOWN for one this
 * reader does not know); -1 to decline a key that is empty or has an
 * escape. */
static int
key(pt__json_cursor *j, int next, enum pt__record_field *f)
{
    const char *text;
    size_t n;

    pt__json_skip_space(j);
    if ((*f = expected_key(j, next)) != PT__F__COUNT)
        return 0;
    if (pt__json_string(j, &text, &n) != PT__JSON_PLAIN || n == 0)
        return -1;
    *f = field_of(text, n);
    return 0;
}

static int
object(cursor *c, unsigned int fields, pt_record *r, lists *l)
{
    unsigned int seen = 0;
    int next = 0;
    /* "{}" is declined: a record has a date */
    int more = pt__json_open(&c->json, '{', '}') > 0 ? 1 : -1;

    while (more > 0) {
        enum pt__record_field f;
        int rc;

        if (key(&c->json, next, &f))
            return -1;
        if (f != PT__F_UNKNOWN) {
            next = (int)f + 1;
            if (seen & (1u << f))
                return -1; /* the first one wins in cJSON's reader */
            seen |= 1u << f;
        }
        if (!pt__json_take(&c->json, ':'))
            return -1;
        if ((rc = value(c, f, fields, r, l)) != 0)
            return rc;
        more = pt__json_next(&c->json, '}');
    }
    if (more < 0 || !pt__json_at_end(&c->json) || !r->date || !r->timestamp)
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
    pt__json_init(&c.json, json, len);
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
