/*
 * The pieces of a dry-run audit line: one entry per changed field, with the
 * rules that changed it and its value before (hidden unless show_raw) and
 * after.
 */
#include "policy/policy_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void
pt__audit_change(pt__audit *a, const char *field, const char *rule)
{
    pt_buf_puts(a->b, a->changes++ ? ",{\"field\":\"" : "{\"field\":\"");
    pt_buf_puts(a->b, field);
    pt_buf_puts(a->b, "\",\"rule\":");
    pt_buf_json_string(a->b, rule, strlen(rule));
}

/* "before" of a value that may not be shown raw. */
void
pt__audit_before_hidden(pt__audit *a, const char *kind, const char *raw,
                        size_t len)
{
    pt_buf_puts(a->b, ",\"before\":");
    if (a->show_raw)
        pt_buf_json_string(a->b, raw, len);
    else
        pt_buf_printf(a->b, "{\"kind\":\"%s\",\"length\":%zu}", kind, len);
}

void
pt__audit_before_list(pt__audit *a, const char *const *raw, size_t count)
{
    pt_buf_puts(a->b, ",\"before\":");
    if (!a->show_raw) {
        pt_buf_printf(a->b, "{\"count\":%zu}", count);
        return;
    }
    pt_buf_putc(a->b, '[');
    for (size_t i = 0; i < count; i++) {
        if (i)
            pt_buf_putc(a->b, ',');
        if (raw[i])
            pt_buf_json_string(a->b, raw[i], strlen(raw[i]));
        else
            pt_buf_puts(a->b, "null");
    }
    pt_buf_putc(a->b, ']');
}

void
pt__audit_after_string(pt__audit *a, const char *s)
{
    pt_buf_puts(a->b, ",\"after\":");
    if (s)
        pt_buf_json_string(a->b, s, strlen(s));
    else
        pt_buf_puts(a->b, "null");
    pt_buf_putc(a->b, '}');
}

/* "after" of a list: the values already in the scratch (`count` items
 * from offset index `first`), or null when the list was removed. */
void
pt__audit_after_list(pt__audit *a, const pt_buf *text, const size_t *offsets,
                     size_t first, size_t count)
{
    pt_buf_puts(a->b, ",\"after\":");
    if (!offsets || text->oom) {
        pt_buf_puts(a->b, "null}");
        return;
    }
    pt_buf_putc(a->b, '[');
    for (size_t i = first; i < first + count; i++) {
        const char *item = text->ptr + offsets[i];
        if (i > first)
            pt_buf_putc(a->b, ',');
        pt_buf_json_string(a->b, item, strlen(item));
    }
    pt_buf_puts(a->b, "]}");
}

/* Rules that do not fit are cut: the audit line stays well-formed. */
void
pt__rule_add(pt__rules *r, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (r->len && r->len + 1 < sizeof(r->text))
        r->text[r->len++] = ',';
    va_start(ap, fmt);
    n = vsnprintf(r->text + r->len, sizeof(r->text) - r->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        r->len += (size_t)n;
    if (r->len >= sizeof(r->text))
        r->len = sizeof(r->text) - 1;
}
