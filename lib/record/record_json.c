/*
 * The record's JSON form: one object on one line, the attribute names and
 * order of DESIGN.md.  Used by the file store, the spool and the CLI, so it
 * is written by hand for speed rather than built as a cJSON tree.
 */
#include "record/record.h"

#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PUT_LIT(b, lit) pt_buf_put((b), (lit), sizeof(lit) - 1)

/* The length of the leading run of plain ASCII in s[0, len): 0x20-0x7f
 * but the quote and the backslash.  Sixteen bytes at a time with SSE2
 * (every x86-64), where this byte loop was a fifth of the file store's
 * writer thread during a bulk import: as signed bytes, 0x80-0xff are
 * below 0x20 too. */
static size_t
plain_prefix(const unsigned char *s, size_t len)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(0x20);
    const __m128i quote = _mm_set1_epi8('"');
    const __m128i backslash = _mm_set1_epi8('\\');
    for (; len - i >= 16; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i hit = _mm_or_si128(_mm_cmplt_epi8(x, space),
                                   _mm_or_si128(_mm_cmpeq_epi8(x, quote),
                                                _mm_cmpeq_epi8(x, backslash)));
        unsigned int mask = (unsigned int)_mm_movemask_epi8(hit);
        if (mask)
            return i + (size_t)__builtin_ctz(mask);
    }
#endif
    while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' &&
           s[i] != '\\')
        i++;
    return i;
}

/* Most strings (dates, timestamps, ids, hex hashes, URLs) are plain
 * printable ASCII: copy those in one go and leave escaping, UTF-8
 * validation and U+FFFD replacement to pt_buf_json_string(). */
static void
put_string(pt_buf *b, const char *s)
{
    size_t len = strlen(s), n = plain_prefix((const unsigned char *)s, len);
    if (n != len) {
        pt_buf_json_string(b, s, len);
        return;
    }
    if (pt_buf_reserve(b, n + 2) != PT_OK)
        return;
    b->ptr[b->len] = '"';
    memcpy(b->ptr + b->len + 1, s, n);
    b->ptr[b->len + 1 + n] = '"';
    b->len += n + 2;
    b->ptr[b->len] = '\0';
}

static void
put_list(pt_buf *b, const char *const *items, size_t count)
{
    pt_buf_putc(b, '[');
    if (items) {
        for (size_t i = 0; i < count; i++) {
            if (i)
                pt_buf_putc(b, ',');
            put_string(b, items[i] ? items[i] : "");
        }
    }
    pt_buf_putc(b, ']');
}

/* An optional string attribute: `key` is the literal `,"name":`. */
static void
put_opt(pt_buf *b, const char *key, size_t key_len, const char *value)
{
    if (!value)
        return;
    pt_buf_put(b, key, key_len);
    put_string(b, value);
}

#define PUT_OPT(b, lit, value) put_opt((b), (lit), sizeof(lit) - 1, (value))

void
pt__record_json(pt_buf *b, const pt_record *r)
{
    /* One reservation for the usual record avoids regrowing mid-line. */
    pt_buf_reserve(b, 512);
    PUT_LIT(b, "{\"date\":");
    put_string(b, r->date ? r->date : "");
    PUT_LIT(b, ",\"timestamp\":");
    put_string(b, r->timestamp ? r->timestamp : "");
    PUT_OPT(b, ",\"session_id\":", r->session_id);
    PUT_OPT(b, ",\"client_ip\":", r->client_ip);
    PUT_OPT(b, ",\"user_agent\":", r->user_agent);
    PUT_LIT(b, ",\"num_links_submitted\":");
    pt_buf_put_i64(b, r->num_links_submitted);
    PUT_LIT(b, ",\"num_files_downloaded\":");
    pt_buf_put_i64(b, r->num_files_downloaded);
    PUT_LIT(b, ",\"links\":");
    put_list(b, r->links, r->link_count);
    PUT_LIT(b, ",\"titles\":");
    put_list(b, r->titles, r->title_count);
    PUT_LIT(b, ",\"filenames\":");
    put_list(b, r->filenames, r->filename_count);
    if (r->has_errors)
        PUT_LIT(b, ",\"has_errors\":true,\"error_count\":");
    else
        PUT_LIT(b, ",\"has_errors\":false,\"error_count\":");
    pt_buf_put_i64(b, r->error_count);
    if (r->ttl != 0) {
        PUT_LIT(b, ",\"ttl\":");
        pt_buf_put_i64(b, r->ttl);
    }
    PUT_OPT(b, ",\"policy\":", r->policy);
    pt_buf_putc(b, '}');
}

int
pt_record_to_json(char **out, const pt_record *record)
{
    pt_buf b = PT_BUF_INIT;
    if (!out || !record)
        return pt__fail(PT_EINVAL, "pt_record_to_json: NULL argument");
    *out = NULL;
    pt__record_json(&b, record);
    if (b.oom) {
        pt_buf_free(&b);
        return pt__fail(PT_ENOMEM, "out of memory serialising a record");
    }
    *out = pt_buf_detach(&b);
    return PT_OK;
}
