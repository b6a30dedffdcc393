/* Growable buffers and JSON string escaping. */
#include "common/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
pt_buf_reserve(pt_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return PT_ENOMEM;
    if (extra > SIZE_MAX - b->len - 1) {
        b->oom = 1;
        return PT_ENOMEM;
    }
    need = b->len + extra + 1;
    if (need <= b->cap)
        return PT_OK;
    cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    p = realloc(b->ptr, cap);
    if (!p) {
        b->oom = 1;
        return PT_ENOMEM;
    }
    b->ptr = p;
    b->cap = cap;
    return PT_OK;
}

void
pt_buf_put(pt_buf *b, const void *data, size_t len)
{
    if (pt_buf_reserve(b, len) != PT_OK)
        return;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = '\0';
}

void
pt_buf_puts(pt_buf *b, const char *s)
{
    pt_buf_put(b, s, strlen(s));
}

void
pt_buf_putc(pt_buf *b, char c)
{
    if (pt_buf_reserve(b, 1) != PT_OK)
        return;
    b->ptr[b->len++] = c;
    b->ptr[b->len] = '\0';
}

void
pt_buf_put_i64(pt_buf *b, int64_t v)
{
    char tmp[24];
    char *end = tmp + sizeof(tmp), *p = end;
    /* Work in unsigned so that INT64_MIN does not overflow. */
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    if (v < 0)
        *--p = '-';
    pt_buf_put(b, p, (size_t)(end - p));
}

void
pt_buf_vprintf(pt_buf *b, const char *fmt, va_list ap)
{
    va_list copy;
    int n;
    size_t avail = b->cap > b->len ? b->cap - b->len : 0;

    va_copy(copy, ap);
    n = vsnprintf(avail ? b->ptr + b->len : NULL, avail, fmt, copy);
    va_end(copy);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if ((size_t)n >= avail) {
        if (pt_buf_reserve(b, (size_t)n) != PT_OK)
            return;
        vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    }
    b->len += (size_t)n;
}

void
pt_buf_printf(pt_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pt_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void
pt_buf_json_string(pt_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, run = 0;

    /* Worst case every byte becomes "\u00XX" or U+FFFD (3 bytes). */
    if (pt_buf_reserve(b, len + 2) != PT_OK)
        return;
    pt_buf_putc(b, '"');
    while (i < len) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
            run++;
            i++;
            continue;
        }
        if (run) {
            pt_buf_put(b, p + i - run, run);
            run = 0;
        }
        if (c < 0x80) {
            char esc[7] = {'\\', 0, 0, 0, 0, 0, 0};
            switch (c) {
            case '"':
                esc[1] = '"';
                pt_buf_put(b, esc, 2);
                break;
            case '\\':
                esc[1] = '\\';
                pt_buf_put(b, esc, 2);
                break;
            case '\n':
                esc[1] = 'n';
                pt_buf_put(b, esc, 2);
                break;
            case '\r':
                esc[1] = 'r';
                pt_buf_put(b, esc, 2);
                break;
            case '\t':
                esc[1] = 't';
                pt_buf_put(b, esc, 2);
                break;
            default:
                esc[1] = 'u';
                esc[2] = '0';
                esc[3] = '0';
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                pt_buf_put(b, esc, 6);
            }
            i++;
        } else {
            size_t n = pt__utf8_seq_len(p + i, len - i);
            if (n) {
                pt_buf_put(b, p + i, n);
                i += n;
            } else {
                pt_buf_put(b, "\xEF\xBF\xBD", 3);
                i++;
            }
        }
    }
    if (run)
        pt_buf_put(b, p + i - run, run);
    pt_buf_putc(b, '"');
}

void
pt_buf_clear(pt_buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = '\0';
}

void
pt_buf_free(pt_buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

char *
pt_buf_detach(pt_buf *b)
{
    char *p = b->ptr;
    if (!p) {
        p = malloc(1);
        if (p)
            p[0] = '\0';
    }
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
    return p;
}
