/*
 * Opt-out signals in the request headers: DNT, Sec-GPC and a site's own
 * opt-out cookie.  Header names are case-insensitive (RFC 9110); cookie
 * names and values are compared exactly (RFC 6265).
 */
#include "policy/policy_internal.h"

#include <string.h>

/* HTTP's optional whitespace, and the line end a value copied from a raw
 * header line still carries ("1\r\n"): DNT, Sec-GPC and cookies are all
 * trimmed alike. */
static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* "1", allowing whitespace around it. */
static int
is_one(const char *v)
{
    while (is_space(*v))
        v++;
    if (*v++ != '1')
        return 0;
    while (is_space(*v))
        v++;
    return *v == '\0';
}

int
pt__cookie_has(const char *header, const char *name, size_t name_len,
               const char *value, size_t value_len)
{
    const char *p = header;
    while (*p) {
        const char *start, *end, *eq;
        while (is_space(*p) || *p == ';')
            p++;
        start = p;
        while (*p && *p != ';')
            p++;
        end = p;
        while (end > start && is_space(end[-1]))
            end--;
        eq = memchr(start, '=', (size_t)(end - start));
        if (!eq)
            continue;
        {
            const char *n_end = eq, *v = eq + 1, *v_end = end;
            while (n_end > start && is_space(n_end[-1]))
                n_end--;
            while (v < v_end && is_space(*v))
                v++;
            if (v_end - v >= 2 && *v == '"' && v_end[-1] == '"') {
                v++;
                v_end--;
            }
            if ((size_t)(n_end - start) == name_len &&
                memcmp(start, name, name_len) == 0 &&
                (size_t)(v_end - v) == value_len &&
                memcmp(v, value, value_len) == 0)
                return 1;
        }
    }
    return 0;
}

void
pt__scan_headers(const pt_policy *policy, const pt_visit *visit,
                 pt__visit_headers *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t i = 0; i < visit->header_count; i++) {
        const char *name = visit->headers[i].name;
        const char *value = visit->headers[i].value;
        if (!name || !value)
            continue;
        /* Most headers are none of these: decide on the first letter. */
        switch (name[0] | 0x20) {
        case 'u':
            if (!out->user_agent && pt__strcasecmp(name, "User-Agent") == 0)
                out->user_agent = value;
            break;
        case 'd':
            if (pt__strcasecmp(name, "DNT") == 0)
                out->dnt |= is_one(value);
            break;
        case 's':
            if (pt__strcasecmp(name, "Sec-GPC") == 0)
                out->gpc |= is_one(value);
            break;
        case 'c':
            if (policy->cookie_name && pt__strcasecmp(name, "Cookie") == 0)
                out->cookie |= pt__cookie_has(
                    value, policy->cookie_name, policy->cookie_name_len,
                    policy->cookie_value, policy->cookie_value_len);
            break;
        default:
            break;
        }
    }
}
