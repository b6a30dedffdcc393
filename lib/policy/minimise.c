/*
 * Minimisation of submitted URLs and downloaded file names.
 *
 * URLs: credentials (user:pass@) are always removed; then the URL is kept,
 * cut before its query and fragment, or reduced to its origin.  File
 * names: only base names are kept (no directories, which name people:
 * /home/alice/...), and a title is the base name without its extension.
 */
#include "policy/policy_internal.h"

#include <stdint.h>
#include <string.h>

static int
is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_scheme_char(char c)
{
    return is_alpha(c) || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
           c == '.';
}

static char
lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c + 32) : c;
}

typedef struct url_parts {
    size_t scheme_len; /* 0: no scheme */
    size_t auth_start; /* 0: no authority */
    size_t host_start; /* after any userinfo */
    size_t auth_end;
} url_parts;

static void
split_url(const char *u, size_t len, url_parts *p)
{
    size_t i = 0;
    memset(p, 0, sizeof(*p));
    if (len && is_alpha(u[0])) {
        while (i < len && is_scheme_char(u[i]))
            i++;
        if (i < len && u[i] == ':')
            p->scheme_len = i;
        else
            i = 0;
    }
    i = p->scheme_len ? p->scheme_len + 1 : 0;
    if (len - i >= 2 && u[i] == '/' && u[i + 1] == '/') {
        size_t j = i + 2;
        p->auth_start = p->host_start = j;
        /* Browsers treat '\' like '/' here, so it ends the authority.
         * The host starts after the last '@'.  One pass. */
        for (; j < len; j++) {
            char c = u[j];
            if (c == '/' || c == '?' || c == '#' || c == '\\')
                break;
            if (c == '@')
                p->host_start = j + 1;
        }
        p->auth_end = j;
    }
}

int
pt__url_minimise(pt_buf *b, const char *url, size_t len, int mode)
{
    url_parts p;
    size_t end = len, start;
    int flags;

    split_url(url, len, &p);
    flags = p.host_start > p.auth_start ? PT_URL_CREDENTIALS : 0;
    if (mode == PT_LINKS_ORIGIN) {
        if (!p.auth_start || p.host_start == p.auth_end)
            return -1;
        for (size_t i = 0; i < p.scheme_len; i++)
            pt_buf_putc(b, lower(url[i]));
        pt_buf_puts(b, p.scheme_len ? "://" : "//");
        for (size_t i = p.host_start; i < p.auth_end; i++)
            pt_buf_putc(b, lower(url[i]));
        return flags | (p.auth_end < len ? PT_URL_REDUCED : 0);
    }
    if (mode == PT_LINKS_STRIP_QUERY) {
        const char *q = memchr(url + p.auth_end, '?', len - p.auth_end);
        const char *f;
        end = q ? (size_t)(q - url) : len;
        f = memchr(url + p.auth_end, '#', end - p.auth_end);
        if (f)
            end = (size_t)(f - url);
        if (end < len)
            flags |= PT_URL_REDUCED;
    }
    /* Everything before the authority, then from the host on: the
     * userinfo is skipped whatever the mode.  One reservation, two
     * copies. */
    start = p.auth_start ? p.auth_start : 0;
    if (pt_buf_reserve(b, start + end - p.host_start) != PT_OK)
        return flags;
    memcpy(b->ptr + b->len, url, start);
    memcpy(b->ptr + b->len + start, url + p.host_start, end - p.host_start);
    b->len += start + end - p.host_start;
    b->ptr[b->len] = '\0';
    return flags;
}

const char *
pt__base_name(const char *path, size_t len, size_t *out_len)
{
    size_t i = len;
    /* Most names come without directories: two memchr() say so. */
    if (!memchr(path, '/', len) && !memchr(path, '\\', len)) {
        *out_len = len;
        return path;
    }
    while (i > 0 && path[i - 1] != '/' && path[i - 1] != '\\')
        i--;
    *out_len = len - i;
    return path + i;
}

size_t
pt__title_len(const char *base, size_t len)
{
    const char *dot = NULL;
    for (size_t i = len; i > 0; i--) {
        if (base[i - 1] == '.') {
            dot = base + i - 1;
            break;
        }
    }
    /* ".bashrc" is a name, not an extension. */
    if (!dot || dot == base)
        return len;
    return (size_t)(dot - base);
}

/* ---- text ---------------------------------------------------------------- */

/* Valid text (nearly all of it) is copied in one go; only invalid text
 * goes through the byte-by-byte repair. */
int
pt__put_text(pt_buf *b, const char *s, size_t len, size_t cap)
{
    size_t start = b->len, ascii = pt__ascii_prefix(s, len);
    int flags = 0;
    if (ascii == len) { /* the common case: cut anywhere */
        size_t n = cap && len > cap ? cap : len;
        pt_buf_put(b, s, n);
        return n < len ? PT_CH_CUT : 0;
    }
    if (pt__utf8_valid(s + ascii, len - ascii)) {
        pt_buf_put(b, s, cap && len > cap ? cap + 1 : len);
    } else {
        pt__utf8_sanitize(b, s, len, 0);
        flags |= PT_CH_UTF8;
    }
    if (b->oom || !b->ptr)
        return flags;
    if (cap && b->len - start > cap) {
        size_t n = cap;
        while (n > 0 && ((unsigned char)b->ptr[start + n] & 0xC0) == 0x80)
            n--;
        b->len = start + n;
        b->ptr[b->len] = '\0';
        flags |= PT_CH_CUT;
    }
    return flags;
}

int
pt__fix_text(pt_buf *b, size_t start, size_t cap, pt_buf *tmp)
{
    const char *s;
    size_t len, ascii;

    if (b->oom || !b->ptr || start > b->len)
        return 0;
    s = b->ptr + start;
    len = b->len - start;
    ascii = pt__ascii_prefix(s, len);
    if (ascii == len || pt__utf8_valid(s + ascii, len - ascii)) {
        size_t n = cap;
        if (!cap || len <= cap)
            return 0;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
        b->len = start + n;
        b->ptr[b->len] = '\0';
        return PT_CH_CUT;
    }
    /* Rare: move it out and repair it back in. */
    pt_buf_clear(tmp);
    pt_buf_put(tmp, s, len);
    b->len = start;
    b->ptr[start] = '\0';
    if (tmp->oom) {
        b->oom = 1;
        return 0;
    }
    return pt__put_text(b, tmp->ptr, tmp->len, cap);
}
