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
 * exactly as before.  The scanning is the library's JSON cursor
 * (lib/common/json_cursor.h), which its record reader uses too.
 */
#include "cli.h"
/* The one internal header the command uses: header-only, as the shared
 * library exports no pt__ symbol for the command to link. */
#include "../lib/common/json_cursor.h"

#include <string.h>
#include <strings.h>

/* The cursor over the line's copy in the cli_visit, and the copy itself:
 * a string is NUL-terminated in place where its closing quote was. */
typedef struct scan {
    pt__json_cursor json;
    char *text;
} scan;

/* A string without escapes or control bytes, NUL-terminated in place;
 * NULL to decline. */
static const char *
string(scan *s)
{
    const char *text;
    size_t len;
    char *own;
    if (pt__json_string(&s->json, &text, &len) != PT__JSON_PLAIN)
        return NULL;
    own = s->text + (text - s->text);
    own[len] = '\0';
    return own;
}

/* [ "..." , ... ]: at most `max` strings into `out`; -1 to decline. */
static int
string_array(scan *s, const char **out, size_t max, size_t *count)
{
    int more = pt__json_open(&s->json, '[', ']');
    *count = 0;
    while (more > 0) {
        const char *text = string(s);
        if (!text || *count == max)
            return -1;
        out[(*count)++] = text;
        more = pt__json_next(&s->json, ']');
    }
    return more;
}

/* { "Name": "value", ... } with no name given twice (compared as the cJSON
 * reader compares them, case-sensitively). */
static int
headers(scan *s, pt_header *out, size_t max, size_t *count)
{
    int more = pt__json_open(&s->json, '{', '}');
    *count = 0;
    while (more > 0) {
        const char *name = string(s), *value;
        if (!name || *count == max || !pt__json_take(&s->json, ':') ||
            !(value = string(s)))
            return -1;
        for (size_t i = 0; i < *count; i++)
            if (strcmp(out[i].name, name) == 0)
                return -1;
        out[*count].name = name;
        out[*count].value = value;
        (*count)++;
        more = pt__json_next(&s->json, '}');
    }
    return more;
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

/* A list member: its strings into `items`, handed to the visit as
 * *`given` (NULL when empty, as the cJSON reader leaves it) and *count. */
static int
list(scan *s, const char **items, const char *const **given, size_t *count)
{
    if (string_array(s, items, CLI_VISIT_FAST_ITEMS, count) != 0)
        return -1;
    if (given)
        *given = *count ? items : NULL;
    return 0;
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
        return list(s, v->fast_links, &v->visit.links, &v->visit.link_count);
    case K_FILENAMES:
        return list(s, v->fast_filenames, &v->visit.filenames,
                    &v->visit.filename_count);
    default: /* K_ERRORS: only their number is used */
        return list(s, v->fast_errors, NULL, &v->visit.error_count);
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
    int more;
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
    pt__json_init(&s.json, out->fast_text, len);
    s.text = out->fast_text;
    out->visit.headers = out->fast_headers;
    more = pt__json_open(&s.json, '{', '}');
    while (more > 0) {
        const char *name;
        size_t name_len;
        int key = -1;
        if (pt__json_string(&s.json, &name, &name_len) == PT__JSON_PLAIN)
            key = key_of(name, name_len);
        if (key < 0 || (seen & (1u << key)) || !pt__json_take(&s.json, ':') ||
            member(out, &s, key, &user_agent) != 0)
            goto decline;
        seen |= 1u << key;
        more = pt__json_next(&s.json, '}');
    }
    if (more < 0 || !pt__json_at_end(&s.json) ||
        add_user_agent(out, user_agent) != 0)
        goto decline;
    return 0;
decline:
    out->visit = init;
    return -1;
}
