/*
 * Records to DynamoDB items and back, in the seed's wire shape: S for
 * strings, N for counts and ttl, L of S for lists, BOOL for has_errors.
 * Reading is lenient so that items the seed wrote (no ttl, no policy, maybe
 * numbers as strings or lists as string sets) are still records.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* "name": with the comma before it when needed (names are literals:
 * no escaping, no printf on the write path). */
static void
put_name(pt_buf *b, int *first, const char *name)
{
    if (!*first)
        pt_buf_putc(b, ',');
    *first = 0;
    pt_buf_putc(b, '"');
    pt_buf_puts(b, name);
    pt_buf_puts(b, "\":");
}

static void
put_s(pt_buf *b, int *first, const char *name, const char *value)
{
    if (!value || !*value) /* absent, as in the seed's items */
        return;
    put_name(b, first, name);
    pt_buf_puts(b, "{\"S\":");
    pt_buf_json_string(b, value, strlen(value));
    pt_buf_putc(b, '}');
}

static void
put_n(pt_buf *b, int *first, const char *name, int64_t value)
{
    put_name(b, first, name);
    pt_buf_puts(b, "{\"N\":\"");
    pt_buf_put_i64(b, value);
    pt_buf_puts(b, "\"}");
}

static void
put_list(pt_buf *b, int *first, const char *name, const char *const *items,
         size_t count)
{
    put_name(b, first, name);
    pt_buf_puts(b, "{\"L\":[");
    for (size_t i = 0; i < count; i++) {
        const char *v = items[i] ? items[i] : "";
        pt_buf_puts(b, i ? ",{\"S\":" : "{\"S\":");
        pt_buf_json_string(b, v, strlen(v));
        pt_buf_putc(b, '}');
    }
    pt_buf_puts(b, "]}");
}

void
pt__dynamodb_item_json(pt_buf *b, const pt_record *r, const char *timestamp)
{
    int first = 1;
    pt_buf_putc(b, '{');
    put_s(b, &first, "date", r->date);
    put_s(b, &first, "timestamp", timestamp);
    put_s(b, &first, "session_id", r->session_id);
    put_s(b, &first, "client_ip", r->client_ip);
    put_s(b, &first, "user_agent", r->user_agent);
    put_n(b, &first, "num_links_submitted", r->num_links_submitted);
    put_n(b, &first, "num_files_downloaded", r->num_files_downloaded);
    put_list(b, &first, "links", r->links, r->link_count);
    put_list(b, &first, "titles", r->titles, r->title_count);
    put_list(b, &first, "filenames", r->filenames, r->filename_count);
    put_name(b, &first, "has_errors");
    pt_buf_puts(b, r->has_errors ? "{\"BOOL\":true}" : "{\"BOOL\":false}");
    put_n(b, &first, "error_count", r->error_count);
    if (r->ttl > 0)
        put_n(b, &first, "ttl", r->ttl);
    put_s(b, &first, "policy", r->policy);
    pt_buf_putc(b, '}');
}

/* ---- reading ------------------------------------------------------------- */

static const char *
get_s(const cJSON *item, const char *name)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, name);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(a, "S");
    return cJSON_IsString(s) ? s->valuestring : NULL;
}

static int64_t
parse_int(const char *s)
{
    char *end;
    long long v;
    double f;
    if (!s)
        return 0;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno == ERANGE || (end != s && *end == '\0'))
        return (int64_t)v; /* clamped on overflow */
    f = strtod(s, NULL);   /* "5.0", "1e3": still a count */
    if (!(f > -9.2e18 && f < 9.2e18))
        return 0; /* NaN or out of range: not a count */
    return (int64_t)f;
}

static int64_t
get_n(const cJSON *item, const char *name)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, name);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(a, "N");
    if (!cJSON_IsString(n))
        n = cJSON_GetObjectItemCaseSensitive(a, "S");
    return cJSON_IsString(n) ? parse_int(n->valuestring) : 0;
}

static int
get_bool(const cJSON *item, const char *name)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, name);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(a, "BOOL");
    if (cJSON_IsBool(v))
        return cJSON_IsTrue(v);
    return get_n(item, name) != 0;
}

/* Collect the strings of an L of S (or an SS) into a new array of borrowed
 * pointers.  Returns PT_ENOMEM only. */
static int
get_list(const cJSON *item, const char *name, const char ***out, size_t *count)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(item, name);
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(a, "L");
    const cJSON *e;
    int is_set = 0;
    size_t n = 0;

    *out = NULL;
    *count = 0;
    if (!cJSON_IsArray(l)) {
        l = cJSON_GetObjectItemCaseSensitive(a, "SS");
        is_set = 1;
    }
    if (!cJSON_IsArray(l))
        return PT_OK;
    *out = calloc((size_t)cJSON_GetArraySize(l) + 1, sizeof(char *));
    if (!*out)
        return PT_ENOMEM;
    cJSON_ArrayForEach(e, l)
    {
        const cJSON *s = is_set ? e : cJSON_GetObjectItemCaseSensitive(e, "S");
        if (cJSON_IsString(s))
            (*out)[n++] = s->valuestring;
    }
    *count = n;
    return PT_OK;
}

int64_t
pt__dynamodb_item_ttl(const cJSON *item)
{
    return get_n(item, "ttl");
}

int
pt__dynamodb_item_append(pt_record_list *list, const cJSON *item)
{
    pt_record r;
    const char **links = NULL, **titles = NULL, **filenames = NULL;
    int rc;

    memset(&r, 0, sizeof(r));
    r.date = get_s(item, "date");
    r.timestamp = get_s(item, "timestamp");
    if (!r.date || !r.timestamp)
        return pt__fail(PT_EPARSE, "a DynamoDB item without date or "
                                   "timestamp");
    r.session_id = get_s(item, "session_id");
    r.client_ip = get_s(item, "client_ip");
    r.user_agent = get_s(item, "user_agent");
    r.num_links_submitted = get_n(item, "num_links_submitted");
    r.num_files_downloaded = get_n(item, "num_files_downloaded");
    r.has_errors = get_bool(item, "has_errors");
    r.error_count = get_n(item, "error_count");
    r.ttl = get_n(item, "ttl");
    r.policy = get_s(item, "policy");
    rc = get_list(item, "links", &links, &r.link_count);
    if (rc == PT_OK)
        rc = get_list(item, "titles", &titles, &r.title_count);
    if (rc == PT_OK)
        rc = get_list(item, "filenames", &filenames, &r.filename_count);
    r.links = links;
    r.titles = titles;
    r.filenames = filenames;
    if (rc == PT_OK)
        rc = pt_record_list_append(list, &r);
    else
        rc = pt__fail(PT_ENOMEM, "out of memory");
    free(links);
    free(titles);
    free(filenames);
    return rc;
}
