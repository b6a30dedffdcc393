/*
 * A packed visit read into a pt_visit (see packed_visit.h): the header
 * copied out (the buffer need not be aligned), then the strings found by
 * their NULs, every search bounded by the buffer's end.
 */
#include "policy/packed_visit.h"

#include <string.h>

/* The layout privtrack.h promises (and bindings pack by hand). */
_Static_assert(sizeof(pt_packed_visit) == 40, "pt_packed_visit has padding");

int
pt__packed_visit_head(const void *buf, size_t len, pt_packed_visit *out)
{
    uint64_t strings;

    if (!buf || !out)
        return pt__fail(PT_EINVAL, "packed visit: NULL argument");
    if (len < sizeof(*out))
        return pt__fail(
            PT_EINVAL, "packed visit: %zu bytes, shorter than its header", len);
    memcpy(out, buf, sizeof(*out));
    if (out->version != PT_PACKED_VISIT_VERSION)
        return pt__fail(PT_EINVAL, "packed visit: version %u, not %d",
                        out->version, PT_PACKED_VISIT_VERSION);
    if (out->flags & ~PT_PACKED_VISIT_REMOTE_ADDR)
        return pt__fail(PT_EINVAL, "packed visit: unknown flags 0x%x",
                        out->flags);
    if (out->reserved != 0)
        return pt__fail(PT_EINVAL, "packed visit: reserved field set");
    if (out->error_count > SIZE_MAX)
        return pt__fail(PT_EINVAL, "packed visit: error count too large");
    /* 64-bit sums of 32-bit counts cannot overflow. */
    strings = (out->flags & PT_PACKED_VISIT_REMOTE_ADDR ? 1u : 0u) +
              2 * (uint64_t)out->header_count + (uint64_t)out->link_count +
              (uint64_t)out->filename_count;
    if (strings > len - sizeof(*out))
        return pt__fail(PT_EINVAL,
                        "packed visit: %llu strings cannot fit in %zu bytes",
                        (unsigned long long)strings, len - sizeof(*out));
    return PT_OK;
}

/* The next NUL-terminated string at *at, before `end`; NULL when none. */
static const char *
next_string(const char **at, const char *end)
{
    const char *s = *at;
    const char *nul = memchr(s, '\0', (size_t)(end - s));

    if (!nul)
        return NULL;
    *at = nul + 1;
    return s;
}

static int
unterminated(void)
{
    return pt__fail(PT_EINVAL, "packed visit: a string is not terminated "
                               "within the buffer (fewer strings than its "
                               "counts)");
}

int
pt__packed_visit_unpack(const void *buf, size_t len,
                        const pt_packed_visit *head, pt_header *headers,
                        const char **lists, pt_visit *visit)
{
    const char *at = (const char *)buf + sizeof(*head);
    const char *end = (const char *)buf + len;
    size_t lists_count = (size_t)head->link_count + head->filename_count;
    pt_visit v = PT_VISIT_INIT;

    if (head->flags & PT_PACKED_VISIT_REMOTE_ADDR) {
        v.remote_addr = next_string(&at, end);
        if (!v.remote_addr)
            return unterminated();
    }
    for (size_t i = 0; i < head->header_count; i++) {
        headers[i].name = next_string(&at, end);
        if (!headers[i].name)
            return unterminated();
    }
    for (size_t i = 0; i < head->header_count; i++) {
        headers[i].value = next_string(&at, end);
        if (!headers[i].value)
            return unterminated();
    }
    for (size_t i = 0; i < lists_count; i++) {
        lists[i] = next_string(&at, end);
        if (!lists[i])
            return unterminated();
    }
    if (at != end)
        return pt__fail(PT_EINVAL,
                        "packed visit: %zu bytes after the last "
                        "string (a NUL inside a string, or more "
                        "strings than its counts)",
                        (size_t)(end - at));
    v.headers = head->header_count ? headers : NULL;
    v.header_count = head->header_count;
    v.links = head->link_count ? lists : NULL;
    v.link_count = head->link_count;
    v.filenames = head->filename_count ? lists + head->link_count : NULL;
    v.filename_count = head->filename_count;
    v.error_count = (size_t)head->error_count;
    v.time_us = head->time_us;
    *visit = v;
    return PT_OK;
}
