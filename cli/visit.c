/*
 * One visit per JSON line, as `privtrack record` reads them:
 *
 *   {"remote_addr": "...", "headers": {"User-Agent": "...", ...},
 *    "links": [...], "filenames": [...], "errors": [...],
 *    "time": "<ISO-8601, optional>"}
 *
 * with "client_ip" accepted for "remote_addr" and "user_agent" for the
 * User-Agent header.  Unknown keys are errors: a misspelt "remote_adr"
 * would otherwise silently record visits without an address.  So are what
 * a JSON parser resolves one way and a reader of the line another: a key
 * given twice in one object (cJSON keeps the first, others the last), and
 * a NUL in a string (C strings end there: "DNT\u0000x" would read as DNT).
 *
 * Error messages never quote the line: it may hold a raw address.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* A key or header name, quoted in an error only when it cannot be personal
 * data (letters, digits, '-' and '_'): an address is never echoed. */
static const char *
safe_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 40 ||
        strspn(name, "abcdefghijklmnopqrstuvwxyz"
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ_-") != n)
        return "(name not shown)";
    return name;
}

/* An array of strings, borrowed from the tree.  NULL or JSON null: none. */
static int
string_array(const cJSON *item, const char *key, const char ***out,
             size_t *count, char *err, size_t errlen)
{
    size_t n = 0;
    const cJSON *el;

    *out = NULL;
    *count = 0;
    if (!item || cJSON_IsNull(item))
        return 0;
    if (!cJSON_IsArray(item))
        return fail(err, errlen, "\"%s\" must be an array of strings", key);
    n = (size_t)cJSON_GetArraySize(item);
    if (n == 0)
        return 0;
    *out = calloc(n, sizeof(**out));
    if (!*out)
        return fail(err, errlen, "out of memory");
    cJSON_ArrayForEach(el, item)
    {
        if (!cJSON_IsString(el))
            return fail(err, errlen, "\"%s\"[%zu] must be a string", key,
                        *count);
        (*out)[(*count)++] = el->valuestring;
    }
    return 0;
}

/* "errors": an array of messages (only their number is used) or a count. */
static int
error_count(const cJSON *item, size_t *out, char *err, size_t errlen)
{
    *out = 0;
    if (!item || cJSON_IsNull(item))
        return 0;
    if (cJSON_IsArray(item)) {
        *out = (size_t)cJSON_GetArraySize(item);
        return 0;
    }
    if (cJSON_IsNumber(item) && item->valuedouble >= 0 &&
        item->valuedouble <= 1e9 &&
        item->valuedouble == (double)(size_t)item->valuedouble) {
        *out = (size_t)item->valuedouble;
        return 0;
    }
    return fail(err, errlen,
                "\"errors\" must be an array or a non-negative integer");
}

static int
compare_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name given twice in one object.  Sorting keeps this O(n log n) for an
 * object with many members. */
static int
check_duplicates(const cJSON *object, const char *what, char *err,
                 size_t errlen)
{
    size_t n = (size_t)cJSON_GetArraySize(object), i = 0;
    const char **names;
    const cJSON *item;
    int rc = 0;

    if (n < 2)
        return 0;
    names = malloc(n * sizeof(*names));
    if (!names)
        return fail(err, errlen, "out of memory");
    cJSON_ArrayForEach(item, object)
    {
        names[i++] = item->string;
    }
    qsort(names, n, sizeof(*names), compare_names);
    for (i = 1; i < n && rc == 0; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = fail(err, errlen, "%s \"%s\" given twice", what,
                      safe_name(names[i]));
    free(names);
    return rc;
}

/* A NUL anywhere in the line: a raw byte, or the escape \u0000 in a
 * string.  The line is valid JSON here, so a quote outside a string opens
 * one and an escape inside one is well formed. */
static int
has_nul(const char *line, size_t len)
{
    int in_string = 0;
    if (memchr(line, '\0', len))
        return 1;
    for (size_t i = 0; i < len; i++) {
        if (line[i] == '"') {
            in_string = !in_string;
        } else if (in_string && line[i] == '\\') {
            if (i + 5 < len && line[i + 1] == 'u' &&
                memcmp(line + i + 2, "0000", 4) == 0)
                return 1;
            i++; /* the escaped character, a quote or backslash included */
        }
    }
    return 0;
}

static int
has_header(const pt_header *headers, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++)
        if (strcasecmp(headers[i].name, name) == 0)
            return 1;
    return 0;
}

/* "headers" object plus the "user_agent" shorthand. */
static int
parse_headers(cli_visit *v, const cJSON *headers, const cJSON *user_agent,
              char *err, size_t errlen)
{
    size_t n = 0;
    const cJSON *h;

    if (headers && !cJSON_IsNull(headers) && !cJSON_IsObject(headers))
        return fail(err, errlen, "\"headers\" must be an object");
    if (user_agent && !cJSON_IsNull(user_agent) && !cJSON_IsString(user_agent))
        return fail(err, errlen, "\"user_agent\" must be a string");
    if (cJSON_IsObject(headers)) {
        if (check_duplicates(headers, "header", err, errlen))
            return -1;
        n = (size_t)cJSON_GetArraySize(headers);
    }
    v->headers = calloc(n + 1, sizeof(*v->headers));
    if (!v->headers)
        return fail(err, errlen, "out of memory");
    n = 0;
    if (cJSON_IsObject(headers)) {
        cJSON_ArrayForEach(h, headers)
        {
            if (cJSON_IsNull(h))
                continue;
            if (!cJSON_IsString(h))
                return fail(err, errlen, "header \"%s\" must be a string",
                            safe_name(h->string));
            v->headers[n].name = h->string;
            v->headers[n].value = h->valuestring;
            n++;
        }
    }
    if (cJSON_IsString(user_agent)) {
        if (has_header(v->headers, n, "User-Agent"))
            return fail(err, errlen,
                        "\"user_agent\" and a User-Agent header both given");
        v->headers[n].name = "User-Agent";
        v->headers[n].value = user_agent->valuestring;
        n++;
    }
    v->visit.headers = v->headers;
    v->visit.header_count = n;
    return 0;
}

static const char *const known_keys[] = {
    "remote_addr", "client_ip", "headers", "user_agent", "links",
    "filenames",   "errors",    "time",    NULL};

static int
check_keys(const cJSON *root, char *err, size_t errlen)
{
    const cJSON *item;
    cJSON_ArrayForEach(item, root)
    {
        int known = 0;
        for (size_t i = 0; known_keys[i]; i++)
            known |= strcmp(item->string, known_keys[i]) == 0;
        if (!known)
            return fail(err, errlen, "unknown key \"%s\"",
                        safe_name(item->string));
    }
    return 0;
}

static int
parse_address(cli_visit *v, char *err, size_t errlen)
{
    const cJSON *addr =
        cJSON_GetObjectItemCaseSensitive(v->root, "remote_addr");
    const cJSON *alias = cJSON_GetObjectItemCaseSensitive(v->root, "client_ip");
    if (addr && !cJSON_IsNull(addr) && alias && !cJSON_IsNull(alias))
        return fail(err, errlen,
                    "\"remote_addr\" and \"client_ip\" both "
                    "given");
    if (!addr || cJSON_IsNull(addr))
        addr = alias;
    if (!addr || cJSON_IsNull(addr))
        return 0;
    if (!cJSON_IsString(addr))
        return fail(err, errlen, "\"%s\" must be a string", addr->string);
    v->visit.remote_addr = addr->valuestring;
    return 0;
}

static int
parse_time(cli_visit *v, char *err, size_t errlen)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(v->root, "time");
    if (!t || cJSON_IsNull(t))
        return 0;
    if (!cJSON_IsString(t))
        return fail(err, errlen, "\"time\" must be a string");
    /* The library's parser: what it accepts, pt_track() accepts too. */
    switch (pt_time_parse(t->valuestring, &v->visit.time_us)) {
    case PT_OK:
        return 0;
    case PT_EINVAL: /* out of range; the detail names the limit */
        return fail(err, errlen, "\"time\": %s", pt_last_error());
    default:
        return fail(err, errlen,
                    "\"time\" must be an ISO-8601 date-time such as "
                    "2025-01-15T14:30:00Z");
    }
}

static int
parse_fields(cli_visit *v, char *err, size_t errlen)
{
    const cJSON *root = v->root;
    if (check_keys(root, err, errlen) ||
        check_duplicates(root, "key", err, errlen) ||
        parse_address(v, err, errlen) || parse_time(v, err, errlen) ||
        parse_headers(v, cJSON_GetObjectItemCaseSensitive(root, "headers"),
                      cJSON_GetObjectItemCaseSensitive(root, "user_agent"), err,
                      errlen) ||
        string_array(cJSON_GetObjectItemCaseSensitive(root, "links"), "links",
                     &v->links, &v->visit.link_count, err, errlen) ||
        string_array(cJSON_GetObjectItemCaseSensitive(root, "filenames"),
                     "filenames", &v->filenames, &v->visit.filename_count, err,
                     errlen) ||
        error_count(cJSON_GetObjectItemCaseSensitive(root, "errors"),
                    &v->visit.error_count, err, errlen))
        return -1;
    v->visit.links = v->links;
    v->visit.filenames = v->filenames;
    return 0;
}

int
cli_visit_parse(cli_visit *out, const char *line, size_t len, char *err,
                size_t errlen)
{
    if (cli_visit_parse_fast(out, line, len) == 0)
        return 0;
    return cli_visit_parse_json(out, line, len, err, errlen);
}

int
cli_visit_parse_json(cli_visit *out, const char *line, size_t len, char *err,
                     size_t errlen)
{
    pt_visit init = PT_VISIT_INIT;
    const char *end = NULL;

    /* Not the fast reader's buffers: 4 KiB to clear per line. */
    out->visit = init;
    out->root = NULL;
    out->headers = NULL;
    out->links = NULL;
    out->filenames = NULL;
    out->root = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!out->root) {
        const char *at = cJSON_GetErrorPtr();
        size_t column =
            at && at >= line && at <= line + len ? (size_t)(at - line) + 1 : 1;
        return fail(err, errlen, "malformed JSON (column %zu)", column);
    }
    while (end && end < line + len &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (end && end < line + len) {
        cli_visit_free(out);
        return fail(err, errlen,
                    "unexpected text after the JSON object "
                    "(column %zu)",
                    (size_t)(end - line) + 1);
    }
    if (!cJSON_IsObject(out->root)) {
        cli_visit_free(out);
        return fail(err, errlen, "a visit must be a JSON object");
    }
    if (has_nul(line, len)) {
        cli_visit_free(out);
        return fail(err, errlen,
                    "a NUL character (\\u0000) in the line: strings "
                    "must not contain one");
    }
    if (parse_fields(out, err, errlen) != 0) {
        cli_visit_free(out);
        return -1;
    }
    return 0;
}

void
cli_visit_free(cli_visit *v)
{
    cJSON_Delete(v->root);
    free(v->headers);
    free(v->links);
    free(v->filenames);
    v->root = NULL;
    v->headers = NULL;
    v->links = NULL;
    v->filenames = NULL;
}
