/* Unit tests for the packed visit reader (lib/policy/packed_visit.c): a
 * buffer packed by hand reads back as the visit it describes, and every
 * malformed buffer — truncated at any byte, wrong version, flags or
 * reserved field, counts that do not match its strings, random bytes — is
 * refused with PT_EINVAL.  Buffers are allocated at their exact length, so
 * the ASan build catches any read past the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "policy/packed_visit.h"

/* A packed visit in an exactly-sized heap buffer (at `shift` bytes past a
 * malloc'd start, to test unaligned buffers). */
typedef struct packed {
    unsigned char *mem;
    unsigned char *buf;
    size_t len;
} packed;

static packed
pack(const pt_packed_visit *head, const char *const *strings, size_t count,
     size_t shift)
{
    packed p;
    size_t len = sizeof(*head);
    for (size_t i = 0; i < count; i++)
        len += strlen(strings[i]) + 1;
    p.mem = malloc(len + shift);
    assert_non_null(p.mem);
    p.buf = p.mem + shift;
    p.len = len;
    memcpy(p.buf, head, sizeof(*head));
    len = sizeof(*head);
    for (size_t i = 0; i < count; i++) {
        size_t n = strlen(strings[i]) + 1;
        memcpy(p.buf + len, strings[i], n);
        len += n;
    }
    return p;
}

/* The first `len` bytes of `src`, alone in a buffer of that size. */
static unsigned char *
exact_copy(const unsigned char *src, size_t len)
{
    unsigned char *copy = malloc(len ? len : 1);
    assert_non_null(copy);
    memcpy(copy, src, len);
    return copy;
}

static int
read_visit(const void *buf, size_t len, pt_visit *v, pt_header *headers,
           size_t max_headers, const char **lists, size_t max_lists)
{
    pt_packed_visit head;
    int rc = pt__packed_visit_head(buf, len, &head);
    if (rc != PT_OK)
        return rc;
    assert_true(head.header_count <= max_headers);
    assert_true((size_t)head.link_count + head.filename_count <= max_lists);
    return pt__packed_visit_unpack(buf, len, &head, headers, lists, v);
}

static const pt_packed_visit full_head = {
    PT_PACKED_VISIT_VERSION,  PT_PACKED_VISIT_REMOTE_ADDR, 2, 2, 1, 0, 3,
    INT64_C(1736951400123456)};
static const char *const full_strings[] = {"198.51.100.23",
                                           "User-Agent",
                                           "Referer",
                                           "Mozilla/5.0 (X11; Linux x86_64)",
                                           "",
                                           "https://example.org/watch?v=abc",
                                           "",
                                           "Song Title 1.m4a"};

static void
check_full(const pt_visit *v, const packed *p)
{
    assert_int_equal(v->version, PT_VISIT_VERSION);
    assert_string_equal(v->remote_addr, "198.51.100.23");
    assert_ptr_equal(v->remote_addr, p->buf + sizeof(pt_packed_visit));
    assert_int_equal(v->header_count, 2);
    assert_string_equal(v->headers[0].name, "User-Agent");
    assert_string_equal(v->headers[0].value, "Mozilla/5.0 (X11; Linux x86_64)");
    assert_string_equal(v->headers[1].name, "Referer");
    assert_string_equal(v->headers[1].value, "");
    assert_int_equal(v->link_count, 2);
    assert_string_equal(v->links[0], "https://example.org/watch?v=abc");
    assert_string_equal(v->links[1], "");
    assert_int_equal(v->filename_count, 1);
    assert_string_equal(v->filenames[0], "Song Title 1.m4a");
    assert_int_equal(v->error_count, 3);
    assert_true(v->time_us == INT64_C(1736951400123456));
}

static void
test_round_trip_aligned_or_not(void **state)
{
    (void)state;
    for (size_t shift = 0; shift < 8; shift++) {
        packed p = pack(&full_head, full_strings, 8, shift);
        pt_header headers[2];
        const char *lists[3];
        pt_visit v;
        assert_int_equal(read_visit(p.buf, p.len, &v, headers, 2, lists, 3),
                         PT_OK);
        check_full(&v, &p);
        free(p.mem);
    }
}

static void
test_empty_visit(void **state)
{
    pt_packed_visit head = {PT_PACKED_VISIT_VERSION, 0, 0, 0, 0, 0, 0, 0};
    packed p = pack(&head, NULL, 0, 0);
    pt_visit v;
    (void)state;
    assert_int_equal(read_visit(p.buf, p.len, &v, NULL, 0, NULL, 0), PT_OK);
    assert_null(v.remote_addr);
    assert_null(v.headers);
    assert_null(v.links);
    assert_null(v.filenames);
    assert_int_equal(v.header_count + v.link_count + v.filename_count, 0);
    assert_int_equal(v.error_count, 0);
    assert_true(v.time_us == 0);
    free(p.mem);
}

/* File names only: they follow the (absent) links. */
static void
test_filenames_without_links(void **state)
{
    pt_packed_visit head = {PT_PACKED_VISIT_VERSION, 0, 0, 0, 2, 0, 0, 0};
    const char *const strings[] = {"a.mp3", "b.mp3"};
    packed p = pack(&head, strings, 2, 0);
    const char *lists[2];
    pt_visit v;
    (void)state;
    assert_int_equal(read_visit(p.buf, p.len, &v, NULL, 0, lists, 2), PT_OK);
    assert_null(v.links);
    assert_int_equal(v.filename_count, 2);
    assert_string_equal(v.filenames[1], "b.mp3");
    free(p.mem);
}

/* Every proper prefix of a valid buffer is refused, read in a buffer of
 * exactly that length. */
static void
test_every_truncation_is_refused(void **state)
{
    packed p = pack(&full_head, full_strings, 8, 0);
    (void)state;
    for (size_t len = 0; len < p.len; len++) {
        unsigned char *copy = exact_copy(p.buf, len);
        pt_header headers[2];
        const char *lists[3];
        pt_visit v;
        assert_int_equal(read_visit(copy, len, &v, headers, 2, lists, 3),
                         PT_EINVAL);
        assert_true(pt_last_error()[0] != '\0');
        free(copy);
    }
    free(p.mem);
}

static int
read_with_head(const pt_packed_visit *head, const char *const *strings,
               size_t count)
{
    packed p = pack(head, strings, count, 0);
    pt_header headers[4];
    const char *lists[4];
    pt_visit v;
    pt_packed_visit h;
    int rc = pt__packed_visit_head(p.buf, p.len, &h);
    if (rc == PT_OK && h.header_count <= 4 &&
        (size_t)h.link_count + h.filename_count <= 4)
        rc = pt__packed_visit_unpack(p.buf, p.len, &h, headers, lists, &v);
    else if (rc == PT_OK)
        rc = PT_EIO; /* counts the arrays cannot hold: fails the test */
    free(p.mem);
    return rc;
}

static void
test_bad_header_fields(void **state)
{
    pt_packed_visit h;
    (void)state;
    assert_int_equal(pt__packed_visit_head(NULL, 40, &h), PT_EINVAL);
    h = full_head;
    h.version = 0;
    assert_int_equal(read_with_head(&h, full_strings, 8), PT_EINVAL);
    h.version = PT_PACKED_VISIT_VERSION + 1;
    assert_int_equal(read_with_head(&h, full_strings, 8), PT_EINVAL);
    h = full_head;
    h.flags |= 0x2u;
    assert_int_equal(read_with_head(&h, full_strings, 8), PT_EINVAL);
    assert_non_null(strstr(pt_last_error(), "flags"));
    h = full_head;
    h.reserved = 1;
    assert_int_equal(read_with_head(&h, full_strings, 8), PT_EINVAL);
#if SIZE_MAX < UINT64_MAX
    h = full_head;
    h.error_count = (uint64_t)SIZE_MAX + 1;
    assert_int_equal(read_with_head(&h, full_strings, 8), PT_EINVAL);
#endif
}

/* Counts that the buffer could never hold are refused before anything is
 * read or allocated. */
static void
test_huge_counts(void **state)
{
    const uint32_t big = UINT32_MAX;
    (void)state;
    for (int field = 0; field < 3; field++) {
        pt_packed_visit h = full_head;
        if (field == 0)
            h.header_count = big;
        else if (field == 1)
            h.link_count = big;
        else
            h.filename_count = big;
        assert_int_equal(read_with_head(&h, full_strings, 8), PT_EINVAL);
        assert_non_null(strstr(pt_last_error(), "cannot fit"));
    }
}

/* Strings and counts that disagree: one string too few, one too many (a
 * NUL inside a string reads as one more), bytes after the last NUL. */
static void
test_strings_must_match_counts(void **state)
{
    pt_packed_visit h = full_head;
    const char *const nine[] = {
        "198.51.100.23",        "User-Agent", "Referer", "Mozilla", "",
        "https://example.org/", "",           "a.mp3",   "extra"};
    (void)state;
    assert_int_equal(read_with_head(&full_head, full_strings, 7), PT_EINVAL);
    assert_int_equal(read_with_head(&full_head, nine, 9), PT_EINVAL);
    assert_non_null(strstr(pt_last_error(), "after the last"));
    h.flags = 0; /* the address is then read as a header name */
    assert_int_equal(read_with_head(&h, full_strings, 8), PT_EINVAL);

    /* Trailing bytes without a NUL. */
    packed p = pack(&full_head, full_strings, 8, 0);
    unsigned char *longer = malloc(p.len + 3);
    pt_header headers[2];
    const char *lists[3];
    pt_visit v;
    assert_non_null(longer);
    memcpy(longer, p.buf, p.len);
    memcpy(longer + p.len, "xyz", 3);
    assert_int_equal(read_visit(longer, p.len + 3, &v, headers, 2, lists, 3),
                     PT_EINVAL);
    /* The last NUL replaced: the last string runs to the end unterminated. */
    longer[p.len - 1] = 'x';
    assert_int_equal(read_visit(longer, p.len, &v, headers, 2, lists, 3),
                     PT_EINVAL);
    free(longer);
    free(p.mem);
}

/* Random bytes behind a plausible header, at random exact lengths: either
 * refused, or every string lies inside the buffer and is terminated there. */
static void
test_random_buffers(void **state)
{
    uint64_t x = 0x9e3779b97f4a7c15u;
    (void)state;
    for (int round = 0; round < 20000; round++) {
        size_t len;
        unsigned char *buf;
        pt_packed_visit h = {PT_PACKED_VISIT_VERSION, 0, 0, 0, 0, 0, 0, 0};
        pt_header headers[4];
        const char *lists[8];
        pt_visit v;
        pt_packed_visit got;
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        len = sizeof(h) + (size_t)(x % 48);
        buf = malloc(len);
        assert_non_null(buf);
        h.flags = (uint32_t)(x >> 8) & 1u;
        h.header_count = (uint32_t)(x >> 12) % 5;
        h.link_count = (uint32_t)(x >> 16) % 5;
        h.filename_count = (uint32_t)(x >> 20) % 4;
        if ((x >> 30) % 16 == 0)
            h.version = (uint32_t)(x >> 34);
        memcpy(buf, &h, sizeof(h));
        for (size_t i = sizeof(h); i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            buf[i] = (x % 4 == 0) ? 0 : (unsigned char)('a' + x % 26);
        }
        if (pt__packed_visit_head(buf, len, &got) == PT_OK &&
            got.header_count <= 4 &&
            (size_t)got.link_count + got.filename_count <= 8 &&
            pt__packed_visit_unpack(buf, len, &got, headers, lists, &v) ==
                PT_OK) {
            const char *lo = (const char *)buf + sizeof(h);
            const char *hi = (const char *)buf + len;
            const char *all[1 + 2 * 4 + 8];
            size_t n = 0;
            if (v.remote_addr)
                all[n++] = v.remote_addr;
            for (size_t i = 0; i < v.header_count; i++) {
                all[n++] = v.headers[i].name;
                all[n++] = v.headers[i].value;
            }
            for (size_t i = 0; i < v.link_count; i++)
                all[n++] = v.links[i];
            for (size_t i = 0; i < v.filename_count; i++)
                all[n++] = v.filenames[i];
            for (size_t i = 0; i < n; i++) {
                assert_true(all[i] >= lo && all[i] < hi);
                assert_non_null(memchr(all[i], 0, (size_t)(hi - all[i])));
            }
            /* Nothing left over: the last string ends the buffer. */
            if (n)
                assert_ptr_equal(all[n - 1] + strlen(all[n - 1]) + 1, hi);
            else
                assert_int_equal(len, sizeof(h));
        }
        free(buf);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_aligned_or_not),
        cmocka_unit_test(test_empty_visit),
        cmocka_unit_test(test_filenames_without_links),
        cmocka_unit_test(test_every_truncation_is_refused),
        cmocka_unit_test(test_bad_header_fields),
        cmocka_unit_test(test_huge_counts),
        cmocka_unit_test(test_strings_must_match_counts),
        cmocka_unit_test(test_random_buffers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
