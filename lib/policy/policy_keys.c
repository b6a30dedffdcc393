/*
 * The table of policy keys: their sections, types, ranges, defaults, and
 * the parsing of one value.  Table-driven so that a new key is one line
 * here, one enum entry, and the documentation.
 */
#include "policy/policy_internal.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum key_type { T_BOOL, T_UINT, T_ENUM, T_TEXT, T_CIDRS } key_type;

typedef int (*text_check)(const char *value, char *err, size_t errlen);

typedef struct key_spec {
    const char *section;
    const char *name;
    key_type type;
    const char *default_text; /* NULL: derived (name) */
    unsigned int min, max;    /* T_UINT */
    const char *const *names; /* T_ENUM */
    text_check check;         /* T_TEXT: NULL = any non-empty text */
    int in_id;                /* hashed into the policy id (ID_*) */
} key_spec;

static const char *const fsync_names[] = {"always", "batch", "never", NULL};
static const char *const ip_names[] = {"keep", "truncate", "hash", "drop",
                                       NULL};
static const char *const action_names[] = {"drop", "anonymous", NULL};
static const char *const ua_names[] = {"keep", "family", "drop", NULL};
static const char *const link_names[] = {"keep", "strip_query", "origin",
                                         "drop", NULL};
static const char *const list_names[] = {"keep", "drop", NULL};
/* In pt_rotation's order. */
static const char *const rotate_names[] = {"never", "daily", "weekly",
                                           "monthly", NULL};
static const char *const key_store_names[] = {"auto", "file", "backend", NULL};

/* How a key enters the policy id: not at all, always, only when keys
 * rotate (so that the id of every policy written before rotation existed,
 * and of every policy that does not rotate, stays what it was), or only
 * when not 0 (per-field retention: the ids of policies without it stay
 * what they were). */
enum { ID_NO, ID_YES, ID_ROTATING, ID_NONZERO };

static int check_name(const char *v, char *err, size_t errlen);
static int check_backend(const char *v, char *err, size_t errlen);
static int check_table(const char *v, char *err, size_t errlen);
static int check_region(const char *v, char *err, size_t errlen);
static int check_endpoint(const char *v, char *err, size_t errlen);
static int check_cookie(const char *v, char *err, size_t errlen);
static int check_prose(const char *v, char *err, size_t errlen);
static int check_contact(const char *v, char *err, size_t errlen);
static int check_url(const char *v, char *err, size_t errlen);

/* clang-format off */
static const key_spec keys[PT_K__COUNT] = {
    [PT_K_POLICY_NAME] = {"policy", "name", T_TEXT, NULL, 0, 0, NULL, check_name, 0},
    [PT_K_POLICY_DRY_RUN] = {"policy", "dry_run", T_BOOL, "false", 0, 0, NULL, NULL, 0},
    [PT_K_STORAGE_BACKEND] = {"storage", "backend", T_TEXT, "file", 0, 0, NULL, check_backend, 0},
    [PT_K_STORAGE_PATH] = {"storage", "path", T_TEXT, "./var", 0, 0, NULL, NULL, 0},
    [PT_K_STORAGE_FSYNC] = {"storage", "fsync", T_ENUM, "batch", 0, 0, fsync_names, NULL, 0},
    [PT_K_STORAGE_TABLE] = {"storage", "table", T_TEXT, "", 0, 0, NULL, check_table, 0},
    [PT_K_STORAGE_REGION] = {"storage", "region", T_TEXT, "", 0, 0, NULL, check_region, 0},
    [PT_K_STORAGE_ENDPOINT] = {"storage", "endpoint", T_TEXT, "", 0, 0, NULL, check_endpoint, 0},
    [PT_K_STORAGE_CREATE_TABLE] = {"storage", "create_table", T_BOOL, "false", 0, 0, NULL, NULL, 0},
    [PT_K_IP_MODE] = {"ip", "mode", T_ENUM, "hash", 0, 0, ip_names, NULL, 1},
    [PT_K_IP_IPV4_PREFIX] = {"ip", "ipv4_prefix", T_UINT, "24", 0, 32, NULL, NULL, 1},
    [PT_K_IP_IPV6_PREFIX] = {"ip", "ipv6_prefix", T_UINT, "48", 0, 128, NULL, NULL, 1},
    [PT_K_IP_TRUNCATE_BEFORE_HASH] = {"ip", "truncate_before_hash", T_BOOL, "true", 0, 0, NULL, NULL, 1},
    [PT_K_IP_KEY_FILE] = {"ip", "key_file", T_TEXT, "", 0, 0, NULL, NULL, 1},
    [PT_K_IP_HASH_BYTES] = {"ip", "hash_bytes", T_UINT, "16", 8, 32, NULL, NULL, 1},
    [PT_K_IP_TRUSTED_PROXIES] = {"ip", "trusted_proxies", T_CIDRS, "", 0, 0, NULL, NULL, 1},
    [PT_K_IP_ROTATE] = {"ip", "rotate", T_ENUM, "never", 0, 0, rotate_names, NULL, ID_ROTATING},
    [PT_K_IP_KEY_GRACE_HOURS] = {"ip", "key_grace_hours", T_UINT, "48", 0, 8784, NULL, NULL, ID_ROTATING},
    [PT_K_IP_KEY_STORE] = {"ip", "key_store", T_ENUM, "auto", 0, 0, key_store_names, NULL, 0},
    [PT_K_IP_KEY_DIR] = {"ip", "key_dir", T_TEXT, "", 0, 0, NULL, NULL, 0},
    [PT_K_IP_KEY_WRAP_FILE] = {"ip", "key_wrap_file", T_TEXT, "", 0, 0, NULL, NULL, 0},
    [PT_K_OPTOUT_HONOR_DNT] = {"optout", "honor_dnt", T_BOOL, "true", 0, 0, NULL, NULL, 1},
    [PT_K_OPTOUT_HONOR_GPC] = {"optout", "honor_gpc", T_BOOL, "true", 0, 0, NULL, NULL, 1},
    [PT_K_OPTOUT_COOKIE] = {"optout", "cookie", T_TEXT, "", 0, 0, NULL, check_cookie, 1},
    [PT_K_OPTOUT_ACTION] = {"optout", "action", T_ENUM, "drop", 0, 0, action_names, NULL, 1},
    [PT_K_RETENTION_TTL_DAYS] = {"retention", "ttl_days", T_UINT, "90", 0, 36500, NULL, NULL, 1},
    [PT_K_RETENTION_CLIENT_IP_DAYS] = {"retention", "client_ip_days", T_UINT, "0", 0, 36500, NULL, NULL, ID_NONZERO},
    [PT_K_RETENTION_USER_AGENT_DAYS] = {"retention", "user_agent_days", T_UINT, "0", 0, 36500, NULL, NULL, ID_NONZERO},
    [PT_K_RETENTION_LINKS_DAYS] = {"retention", "links_days", T_UINT, "0", 0, 36500, NULL, NULL, ID_NONZERO},
    [PT_K_RETENTION_TITLES_DAYS] = {"retention", "titles_days", T_UINT, "0", 0, 36500, NULL, NULL, ID_NONZERO},
    [PT_K_RETENTION_FILENAMES_DAYS] = {"retention", "filenames_days", T_UINT, "0", 0, 36500, NULL, NULL, ID_NONZERO},
    [PT_K_FIELDS_USER_AGENT] = {"fields", "user_agent", T_ENUM, "family", 0, 0, ua_names, NULL, 1},
    [PT_K_FIELDS_MAX_USER_AGENT] = {"fields", "max_user_agent", T_UINT, "256", 1, 65536, NULL, NULL, 1},
    [PT_K_FIELDS_LINKS] = {"fields", "links", T_ENUM, "strip_query", 0, 0, link_names, NULL, 1},
    [PT_K_FIELDS_TITLES] = {"fields", "titles", T_ENUM, "keep", 0, 0, list_names, NULL, 1},
    [PT_K_FIELDS_FILENAMES] = {"fields", "filenames", T_ENUM, "keep", 0, 0, list_names, NULL, 1},
    [PT_K_FIELDS_MAX_LINKS] = {"fields", "max_links", T_UINT, "100", 1, 100000, NULL, NULL, 1},
    [PT_K_FIELDS_MAX_FILENAMES] = {"fields", "max_filenames", T_UINT, "100", 1, 100000, NULL, NULL, 1},
    [PT_K_FIELDS_MAX_LINK_LENGTH] = {"fields", "max_link_length", T_UINT, "2048", 16, 65536, NULL, NULL, 1},
    [PT_K_FIELDS_MAX_FILENAME_LENGTH] = {"fields", "max_filename_length", T_UINT, "255", 1, 4096, NULL, NULL, 1},
    [PT_K_AUDIT_DRY_RUN] = {"audit", "dry_run", T_BOOL, "false", 0, 0, NULL, NULL, 0},
    [PT_K_AUDIT_OUTPUT] = {"audit", "output", T_TEXT, "-", 0, 0, NULL, NULL, 0},
    [PT_K_AUDIT_SHOW_RAW] = {"audit", "show_raw", T_BOOL, "false", 0, 0, NULL, NULL, 0},
    [PT_K_NOTICE_CONTROLLER] = {"notice", "controller", T_TEXT, "", 0, 0, NULL, check_prose, 0},
    [PT_K_NOTICE_CONTACT] = {"notice", "contact", T_TEXT, "", 0, 0, NULL, check_contact, 0},
    [PT_K_NOTICE_PURPOSE] = {"notice", "purpose", T_TEXT, PT_NOTICE_DEFAULT_PURPOSE, 0, 0, NULL, check_prose, 0},
    [PT_K_NOTICE_URL] = {"notice", "url", T_TEXT, "", 0, 0, NULL, check_url, 0},
    /* k-anonymity of reports (lib/report/stats.h); 1 turns it off */
    [PT_K_REPORT_MIN_GROUP] = {"report", "min_group", T_UINT, "5", 1, 100, NULL, NULL, 0},
};
/* clang-format on */

#define MAX_PROXIES 1024

const char *
pt__key_section(pt__key key)
{
    return keys[key].section;
}

const char *
pt__key_name(pt__key key)
{
    return keys[key].name;
}

const char *
pt__key_value_name(pt__key key, unsigned int value)
{
    const char *const *names = keys[key].names;
    for (unsigned int i = 0; names && names[i]; i++)
        if (i == value)
            return names[i];
    return NULL;
}

int
pt__key_find(const char *section, const char *name)
{
    for (int i = 0; i < PT_K__COUNT; i++) {
        if (strcmp(keys[i].section, section) == 0 &&
            strcmp(keys[i].name, name) == 0)
            return i;
    }
    return -1;
}

int
pt__section_known(const char *section)
{
    for (int i = 0; i < PT_K__COUNT; i++) {
        if (strcmp(keys[i].section, section) == 0)
            return 1;
    }
    return 0;
}

int
pt__key_is_list(pt__key key)
{
    return keys[key].type == T_CIDRS;
}

/* ---- text checks ---------------------------------------------------------
 */

static int
all_chars(const char *v, const char *extra)
{
    for (const char *p = v; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || strchr(extra, c)))
            return 0;
    }
    return 1;
}

static int
check_name(const char *v, char *err, size_t errlen)
{
    if (strlen(v) > 64 || !all_chars(v, "._-")) {
        pt__snprintf(err, errlen,
                     "a name is 1-64 letters, digits, '.', '_' or '-'");
        return -1;
    }
    return 0;
}

static int
check_backend(const char *v, char *err, size_t errlen)
{
    if (strlen(v) > 32 || !all_chars(v, "_-")) {
        pt__snprintf(err, errlen,
                     "a backend name is 1-32 letters, digits, '_' or '-'");
        return -1;
    }
    return 0;
}

static int
check_table(const char *v, char *err, size_t errlen)
{
    size_t n = strlen(v);
    if (n < 3 || n > 255 || !all_chars(v, "._-")) {
        pt__snprintf(err, errlen,
                     "a DynamoDB table name is 3-255 letters, digits, '.', "
                     "'_' or '-'");
        return -1;
    }
    return 0;
}

static int
check_region(const char *v, char *err, size_t errlen)
{
    if (strlen(v) > 32 || !all_chars(v, "-")) {
        pt__snprintf(err, errlen, "a region looks like 'eu-west-1'");
        return -1;
    }
    return 0;
}

/* An http:// or https:// URL with a host, and nothing that would need
 * quoting in a message, a header or a page. */
static int
is_url(const char *v)
{
    const char *host;
    if (strncmp(v, "http://", 7) == 0)
        host = v + 7;
    else if (strncmp(v, "https://", 8) == 0)
        host = v + 8;
    else
        return 0;
    if (!*host || *host == '/')
        return 0;
    for (const char *p = v; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f ||
            strchr("\"'<>\\`", *p))
            return 0;
    return 1;
}

static int
check_endpoint(const char *v, char *err, size_t errlen)
{
    if (!is_url(v)) {
        pt__snprintf(err, errlen, "an endpoint is an http:// or https:// URL");
        return -1;
    }
    return 0;
}

static int
check_url(const char *v, char *err, size_t errlen)
{
    if (!is_url(v)) {
        pt__snprintf(err, errlen,
                     "expected the http:// or https:// URL of a page");
        return -1;
    }
    return 0;
}

/* Text shown to visitors ([notice] controller, purpose): one line of at
 * most 160 bytes, no control characters (the loader checked UTF-8). */
static int
check_prose(const char *v, char *err, size_t errlen)
{
    int ok = strlen(v) <= 160;
    for (const char *p = v; ok && *p; p++)
        ok = (unsigned char)*p >= 0x20 && *p != 0x7f;
    if (!ok) {
        pt__snprintf(err, errlen,
                     "expected one line of text of at most 160 bytes");
        return -1;
    }
    return 0;
}

/* An e-mail address (local@domain.tld, without blanks or quotes) or the
 * URL of a contact page. */
static int
check_contact(const char *v, char *err, size_t errlen)
{
    const char *at = strchr(v, '@');
    const char *dot = at ? strchr(at + 1, '.') : NULL;
    int ok = at && at != v && !strchr(at + 1, '@') && dot && dot != at + 1 &&
             dot[1] != '\0' && strlen(v) <= 160;
    for (const char *p = v; ok && *p; p++)
        ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
             !strchr("\"'<>()[]\\,;:`", *p);
    if (!ok && !is_url(v)) {
        pt__snprintf(err, errlen,
                     "expected an e-mail address or the http:// or "
                     "https:// URL of a contact page");
        return -1;
    }
    return 0;
}

/* RFC 6265 cookie-name is a token; cookie-value excludes blanks, quotes,
 * commas, semicolons and backslashes. */
static int
check_cookie(const char *v, char *err, size_t errlen)
{
    const char *eq = strchr(v, '=');
    int ok = eq && eq != v && eq[1] != '\0';
    for (const char *p = v; ok && p < eq; p++)
        ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
             !strchr("()<>@,;:\\\"/[]?={}", *p);
    for (const char *p = eq ? eq + 1 : v; ok && *p; p++)
        ok = (unsigned char)*p > 0x20 && (unsigned char)*p < 0x7f &&
             !strchr("\",;\\", *p);
    if (!ok) {
        pt__snprintf(err, errlen,
                     "expected NAME=VALUE (a cookie name and value, without "
                     "blanks, quotes, ',' or ';')");
        return -1;
    }
    return 0;
}

/* ---- value parsing -------------------------------------------------------
 */

static int
parse_bool(const char *v, unsigned int *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (pt__strcasecmp(v, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (pt__strcasecmp(v, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

static int
parse_uint(const char *v, unsigned int *out)
{
    unsigned long long n = 0;
    if (!*v)
        return -1;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9')
            return -1;
        n = n * 10 + (unsigned)(*p - '0');
        if (n > 0xffffffffULL)
            return -1;
    }
    *out = (unsigned int)n;
    return 0;
}

static void
enum_expected(const key_spec *spec, char *err, size_t errlen)
{
    pt_buf b = PT_BUF_INIT;
    pt_buf_puts(&b, "expected ");
    for (size_t i = 0; spec->names[i]; i++) {
        if (i)
            pt_buf_puts(&b, spec->names[i + 1] ? ", " : " or ");
        pt_buf_puts(&b, spec->names[i]);
    }
    pt__snprintf(err, errlen, "%s", b.ptr ? b.ptr : "a known value");
    pt_buf_free(&b);
}

/* Split a list value at commas and blanks and parse every CIDR. */
static int
add_cidrs(pt_policy *policy, const char *value, char *err, size_t errlen)
{
    const char *p = value;
    while (*p) {
        const char *start;
        pt__cidr cidr, *grown;
        while (*p == ',' || *p == ' ' || *p == '\t')
            p++;
        if (!*p)
            break;
        start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if (pt__cidr_parse(&cidr, start, (size_t)(p - start), err, errlen))
            return -1;
        if (policy->proxy_count == MAX_PROXIES) {
            pt__snprintf(err, errlen, "more than %d trusted proxies",
                         MAX_PROXIES);
            return -1;
        }
        if (policy->proxy_count == policy->proxy_cap) {
            size_t cap = policy->proxy_cap ? 2 * policy->proxy_cap : 8;
            grown = realloc(policy->proxies, cap * sizeof(*grown));
            if (!grown) {
                pt__snprintf(err, errlen, "out of memory");
                return -1;
            }
            policy->proxies = grown;
            policy->proxy_cap = cap;
        }
        policy->proxies[policy->proxy_count++] = cidr;
    }
    return 0;
}

static int
set_text(pt_policy *policy, pt__key key, const char *value)
{
    char *copy = pt__strdup(value);
    if (!copy)
        return -1;
    free(policy->text[key]);
    policy->text[key] = copy;
    return 0;
}

int
pt__key_set(pt_policy *policy, pt__key key, const char *value, int append,
            char *err, size_t errlen)
{
    const key_spec *spec = &keys[key];
    unsigned int n = 0;

    if (!*value) {
        pt__snprintf(err, errlen,
                     "empty value (leave the key out for the "
                     "default; ' ;' starts a comment)");
        return -1;
    }
    switch (spec->type) {
    case T_BOOL:
        if (parse_bool(value, &n)) {
            pt__snprintf(err, errlen, "expected true or false");
            return -1;
        }
        break;
    case T_UINT:
        if (parse_uint(value, &n) || n < spec->min || n > spec->max) {
            pt__snprintf(err, errlen, "expected a whole number from %u to %u",
                         spec->min, spec->max);
            return -1;
        }
        break;
    case T_ENUM:
        for (n = 0; spec->names[n] && strcmp(spec->names[n], value); n++)
            ;
        if (!spec->names[n]) {
            enum_expected(spec, err, errlen);
            return -1;
        }
        break;
    case T_TEXT:
        if (spec->check && spec->check(value, err, errlen))
            return -1;
        break;
    case T_CIDRS:
        if (!append)
            policy->proxy_count = 0;
        if (add_cidrs(policy, value, err, errlen))
            return -1;
        break;
    }
    policy->num[key] = n;
    if (spec->type == T_TEXT && set_text(policy, key, value)) {
        pt__snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- finishing -----------------------------------------------------------
 */

/* The id's name when the file has none: the source's base name without
 * its extension, reduced to the characters a name may hold. */
static char *
derive_name(const char *source)
{
    size_t len;
    const char *base = pt__base_name(source, strlen(source), &len);
    char *out = malloc(len + 8), *o = out;
    if (!out)
        return NULL;
    len = pt__title_len(base, len);
    for (size_t i = 0; i < len && i < 64; i++) {
        char c = base[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
            (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-')
            *o++ = c;
    }
    if (o == out)
        o += sprintf(out, "policy");
    *o = '\0';
    return out;
}

/* The canonical text of numbers, booleans, enums and lists, so that
 * pt_policy_get() and the id see "true" whether the file said yes or 1. */
static char *
canonical_text(const pt_policy *policy, pt__key key)
{
    const key_spec *spec = &keys[key];
    pt_buf b = PT_BUF_INIT;
    switch (spec->type) {
    case T_BOOL:
        return pt__strdup(policy->num[key] ? "true" : "false");
    case T_UINT:
        pt_buf_printf(&b, "%u", policy->num[key]);
        break;
    case T_ENUM:
        return pt__strdup(spec->names[policy->num[key]]);
    case T_CIDRS:
        pt_buf_puts(&b, "");
        for (size_t i = 0; i < policy->proxy_count; i++) {
            char text[PT_ADDR_TEXT_MAX];
            pt__addr_format(&policy->proxies[i].addr, text);
            pt_buf_printf(&b, "%s%s/%u", i ? ", " : "", text,
                          policy->proxies[i].prefix);
        }
        break;
    case T_TEXT:
        return NULL;
    }
    if (b.oom) {
        pt_buf_free(&b);
        return NULL;
    }
    return pt_buf_detach(&b);
}

static void
compute_id(pt_policy *policy)
{
    crypto_generichash_state st;
    unsigned char digest[crypto_generichash_BYTES_MIN];
    char hex[2 * sizeof(digest) + 1];

    int rotating = policy->num[PT_K_IP_MODE] == PT_IP_HASH &&
                   policy->num[PT_K_IP_ROTATE] != PT_ROTATE_NEVER;

    crypto_generichash_init(&st, NULL, 0, sizeof(digest));
    for (int k = 0; k < PT_K__COUNT; k++) {
        if (keys[k].in_id == ID_NO ||
            (keys[k].in_id == ID_ROTATING && !rotating) ||
            (keys[k].in_id == ID_NONZERO && policy->num[k] == 0))
            continue;
        crypto_generichash_update(&st, (const unsigned char *)keys[k].section,
                                  strlen(keys[k].section));
        crypto_generichash_update(&st, (const unsigned char *)".", 1);
        crypto_generichash_update(&st, (const unsigned char *)keys[k].name,
                                  strlen(keys[k].name));
        crypto_generichash_update(&st, (const unsigned char *)"=", 1);
        crypto_generichash_update(&st, (const unsigned char *)policy->text[k],
                                  strlen(policy->text[k]));
        crypto_generichash_update(&st, (const unsigned char *)"\n", 1);
    }
    crypto_generichash_final(&st, digest, sizeof(digest));
    sodium_bin2hex(hex, sizeof(hex), digest, 4);
    pt__snprintf(policy->id, sizeof(policy->id), "%s-%s",
                 policy->text[PT_K_POLICY_NAME], hex);
}

int
pt__policy_finish(pt_policy *policy, const char *source_name)
{
    char err[128];

    for (int k = 0; k < PT_K__COUNT; k++) {
        /* Text defaults are copied below; the others cannot fail. */
        if (!policy->set[k] && keys[k].type != T_TEXT &&
            keys[k].type != T_CIDRS)
            (void)pt__key_set(policy, (pt__key)k, keys[k].default_text, 0, err,
                              sizeof(err));
    }
    /* [audit] dry_run is a synonym of [policy] dry_run (a conflict between
     * them was reported by the loader). */
    if (!policy->set[PT_K_POLICY_DRY_RUN] && policy->set[PT_K_AUDIT_DRY_RUN])
        policy->num[PT_K_POLICY_DRY_RUN] = policy->num[PT_K_AUDIT_DRY_RUN];
    policy->num[PT_K_AUDIT_DRY_RUN] = policy->num[PT_K_POLICY_DRY_RUN];
    if (!policy->text[PT_K_POLICY_NAME])
        policy->text[PT_K_POLICY_NAME] = derive_name(source_name);
    if (!policy->source && !(policy->source = pt__strdup(source_name)))
        return PT_ENOMEM;
    for (int k = 0; k < PT_K__COUNT; k++) {
        if (keys[k].type != T_TEXT) {
            free(policy->text[k]);
            policy->text[k] = canonical_text(policy, (pt__key)k);
        } else if (!policy->text[k]) {
            /* Text defaults bypass pt__key_set: "" (table, region, ...)
             * means unset and is not a valid value in a file. */
            policy->text[k] = pt__strdup(keys[k].default_text);
        }
        if (!policy->text[k])
            return PT_ENOMEM;
    }
    if (policy->set[PT_K_OPTOUT_COOKIE]) {
        const char *c = policy->text[PT_K_OPTOUT_COOKIE];
        const char *eq = strchr(c, '=');
        policy->cookie_name = c;
        policy->cookie_name_len = (size_t)(eq - c);
        policy->cookie_value = eq + 1;
        policy->cookie_value_len = strlen(eq + 1);
    }
    compute_id(policy);
    return PT_OK;
}

void
pt__policy_destroy(pt_policy *policy)
{
    if (!policy)
        return;
    for (int k = 0; k < PT_K__COUNT; k++)
        free(policy->text[k]);
    free(policy->source);
    free(policy->proxies);
    free(policy);
}
