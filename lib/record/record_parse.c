/*
 * Parsing a record's JSON object (file store lines, spool lines, the CLI's
 * --json output, and items exported by the seed).
 *
 * Tolerant where the seed's items differ from ours: any attribute but
 * `date` and `timestamp` may be missing or null, and numbers may be
 * decimal strings (the seed exports DynamoDB's Decimals with
 * `json.dump(default=str)`).  Strict otherwise: a value of the wrong type
 * is PT_EPARSE naming the attribute, never guessed at.  Unknown attributes
 * are ignored so that later versions can add some.
 */
#include "record/record.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

/* Integers beyond 2^53 cannot come through a double exactly. */
#define MAX_EXACT_DOUBLE 9007199254740992.0

const char *const pt__record_field_names[PT__F__COUNT] = {
    "date",
    "timestamp",
    "session_id",
    "client_ip",
    "user_agent",
    "num_links_submitted",
    "num_files_downloaded",
    "links",
    "titles",
    "filenames",
    "has_errors",
    "error_count",
    "ttl",
    "policy"};

static int
field_of(const char *name)
{
    /* The first byte rules out most names without a strcmp. */
    for (int i = 0; i < PT__F__COUNT; i++)
        if (name[0] == pt__record_field_names[i][0] &&
            strcmp(name, pt__record_field_names[i]) == 0)
            return i;
    return -1;
}

static int
bad(const char *field, const char *what)
{
    return pt__fail(PT_EPARSE, "record JSON: '%s' %s", field, what);
}

static int
get_string(const cJSON *item, const char *field, const char **out)
{
    *out = NULL;
    if (!item || cJSON_IsNull(item))
        return PT_OK;
    if (!cJSON_IsString(item) || !item->valuestring)
        return bad(field, "must be a string");
    *out = item->valuestring;
    return PT_OK;
}

/* Decimal integer text, optionally signed, nothing else. */
static int
parse_decimal(const char *s, int64_t *out)
{
    char *end;
    long long v;
    const char *p = s;
    if (*p == '-' || *p == '+')
        p++;
    if (*p < '0' || *p > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

static int
get_int(const cJSON *item, const char *field, int64_t *out)
{
    *out = 0;
    if (!item || cJSON_IsNull(item))
        return PT_OK;
    if (cJSON_IsNumber(item)) {
        double d = item->valuedouble;
        /* Range first: the cast is only defined for values that fit. */
        if (!(d >= -MAX_EXACT_DOUBLE && d <= MAX_EXACT_DOUBLE) ||
            (double)(int64_t)d != d)
            return bad(field, "must be an integer");
        *out = (int64_t)d;
    } else if (cJSON_IsString(item) && item->valuestring) {
        /* Same range as numbers, so that what is read can be written
         * back as a JSON number and read again unchanged. */
        if (parse_decimal(item->valuestring, out) != 0 ||
            *out > (int64_t)MAX_EXACT_DOUBLE ||
            *out < -(int64_t)MAX_EXACT_DOUBLE)
            return bad(field, "must be an integer");
    } else {
        return bad(field, "must be an integer");
    }
    if (*out < 0)
        return bad(field, "must not be negative");
    return PT_OK;
}

static int
get_bool(const cJSON *item, const char *field, int *out)
{
    *out = 0;
    if (!item || cJSON_IsNull(item))
        return PT_OK;
    if (cJSON_IsBool(item)) {
        *out = cJSON_IsTrue(item) ? 1 : 0;
        return PT_OK;
    }
    if (cJSON_IsNumber(item) &&
        (item->valuedouble == 0.0 || item->valuedouble == 1.0)) {
        *out = item->valuedouble != 0.0;
        return PT_OK;
    }
    if (cJSON_IsString(item) && item->valuestring) {
        const char *s = item->valuestring;
        if (!pt__strcasecmp(s, "true") || !strcmp(s, "1")) {
            *out = 1;
            return PT_OK;
        }
        if (!pt__strcasecmp(s, "false") || !strcmp(s, "0"))
            return PT_OK;
    }
    return bad(field, "must be a boolean");
}

static int
check_list(const cJSON *item, const char *field, size_t *count)
{
    const cJSON *e;
    *count = 0;
    if (!item || cJSON_IsNull(item))
        return PT_OK;
    if (!cJSON_IsArray(item))
        return bad(field, "must be a list of strings");
    cJSON_ArrayForEach(e, item)
    {
        if (!cJSON_IsString(e) || !e->valuestring)
            return bad(field, "must be a list of strings");
        (*count)++;
    }
    return PT_OK;
}

static const char *const *
fill_list(const char **slots, const cJSON *item, size_t count)
{
    const cJSON *e;
    size_t i = 0;
    if (count == 0)
        return NULL;
    cJSON_ArrayForEach(e, item) slots[i++] = e->valuestring;
    return slots;
}

/* Build `r` from the object's attributes; strings point into `root`. */
static int
extract(pt_record *r, const cJSON *root, const char ***slots_out)
{
    const cJSON *f[PT__F__COUNT] = {0};
    const cJSON *child;
    const char **slots = NULL;
    size_t total;
    int rc = PT_OK;

    cJSON_ArrayForEach(child, root)
    {
        int i = child->string ? field_of(child->string) : -1;
        if (i >= 0 && !f[i])
            f[i] = child;
    }
    if (!f[PT__F_DATE] || cJSON_IsNull(f[PT__F_DATE]))
        return bad("date", "is missing");
    if (!f[PT__F_TIMESTAMP] || cJSON_IsNull(f[PT__F_TIMESTAMP]))
        return bad("timestamp", "is missing");

    if ((rc = get_string(f[PT__F_DATE], "date", &r->date)) ||
        (rc = get_string(f[PT__F_TIMESTAMP], "timestamp", &r->timestamp)) ||
        (rc = get_string(f[PT__F_SESSION_ID], "session_id", &r->session_id)) ||
        (rc = get_string(f[PT__F_CLIENT_IP], "client_ip", &r->client_ip)) ||
        (rc = get_string(f[PT__F_USER_AGENT], "user_agent", &r->user_agent)) ||
        (rc = get_string(f[PT__F_POLICY], "policy", &r->policy)) ||
        (rc = get_int(f[PT__F_NUM_LINKS], "num_links_submitted",
                      &r->num_links_submitted)) ||
        (rc = get_int(f[PT__F_NUM_FILES], "num_files_downloaded",
                      &r->num_files_downloaded)) ||
        (rc = get_int(f[PT__F_ERROR_COUNT], "error_count", &r->error_count)) ||
        (rc = get_int(f[PT__F_TTL], "ttl", &r->ttl)) ||
        (rc = get_bool(f[PT__F_HAS_ERRORS], "has_errors", &r->has_errors)) ||
        (rc = check_list(f[PT__F_LINKS], "links", &r->link_count)) ||
        (rc = check_list(f[PT__F_TITLES], "titles", &r->title_count)) ||
        (rc = check_list(f[PT__F_FILENAMES], "filenames", &r->filename_count)))
        return rc;

    total = r->link_count + r->title_count + r->filename_count;
    if (total == 0) {
        /* No lists: no slots, and no arithmetic on a NULL pointer. */
        r->links = r->titles = r->filenames = NULL;
        *slots_out = NULL;
        return PT_OK;
    }
    slots = malloc(total * sizeof(*slots));
    if (!slots)
        return pt__fail(PT_ENOMEM, "out of memory parsing a record");
    r->links = fill_list(slots, f[PT__F_LINKS], r->link_count);
    r->titles =
        fill_list(slots + r->link_count, f[PT__F_TITLES], r->title_count);
    r->filenames = fill_list(slots + r->link_count + r->title_count,
                             f[PT__F_FILENAMES], r->filename_count);
    *slots_out = slots;
    return PT_OK;
}

int
pt__record_parse_json(pt_record **out, const char *json, size_t len)
{
    const char *end = NULL;
    const char **slots = NULL;
    pt_record r;
    cJSON *root;
    int rc;

    *out = NULL;
    memset(&r, 0, sizeof(r));
    root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root) {
        size_t at = end && end >= json ? (size_t)(end - json) : 0;
        if (len == 0)
            return pt__fail(PT_EPARSE, "record JSON: empty input");
        return pt__fail(PT_EPARSE, "record JSON: invalid JSON near byte %zu",
                        at);
    }
    /* Only whitespace may follow the object. */
    while (end && (size_t)(end - json) < len &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (!cJSON_IsObject(root)) {
        rc = pt__fail(PT_EPARSE, "record JSON: not an object");
    } else if (end && (size_t)(end - json) < len) {
        rc = pt__fail(PT_EPARSE, "record JSON: trailing data at byte %zu",
                      (size_t)(end - json));
    } else {
        rc = extract(&r, root, &slots);
        if (rc == PT_OK)
            rc = pt__record_dup(out, &r);
    }
    free(slots);
    cJSON_Delete(root);
    return rc;
}
