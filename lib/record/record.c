/*
 * Records in one allocation, and the record lists that queries return.
 *
 * pt__record_dup() is on the request path (every accepted visit is copied
 * once into the queue), so it measures the record, makes one malloc() and
 * copies with memcpy(): no per-string allocation, and one free() releases
 * everything.
 */
#include "record/record.h"

#include <stdlib.h>
#include <string.h>

/* Layout of a duplicated record:
 *   pt_record | links[] titles[] filenames[] (const char *) | strings...
 * sizeof(pt_record) is a multiple of the pointer alignment, so the pointer
 * arrays are aligned; strings need no alignment. */

static size_t
str_size(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Bytes needed by a string list, or SIZE_MAX on overflow.  A NULL element
 * is copied as "" (a list of strings never holds a null). */
static size_t
list_size(const char *const *items, size_t count)
{
    size_t total = 0;
    if (!items)
        return 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = items[i] ? strlen(items[i]) + 1 : 1;
        if (n > SIZE_MAX - total)
            return SIZE_MAX;
        total += n;
    }
    return total;
}

static const char *
copy_str(char **cursor, const char *s)
{
    char *dst;
    size_t n;
    if (!s)
        return NULL;
    n = strlen(s) + 1;
    dst = *cursor;
    memcpy(dst, s, n);
    *cursor += n;
    return dst;
}

static const char *const *
copy_list(const char **slots, char **cursor, const char *const *items,
          size_t count)
{
    if (!items || count == 0)
        return NULL;
    for (size_t i = 0; i < count; i++)
        slots[i] = items[i] ? copy_str(cursor, items[i]) : copy_str(cursor, "");
    return slots;
}

/* Add `n` to `*total`; non-zero on overflow. */
static int
add_size(size_t *total, size_t n)
{
    if (n > SIZE_MAX - *total)
        return 1;
    *total += n;
    return 0;
}

int
pt__record_dup(pt_record **out, const pt_record *src)
{
    size_t nl = src->links ? src->link_count : 0;
    size_t nt = src->titles ? src->title_count : 0;
    size_t nf = src->filenames ? src->filename_count : 0;
    size_t slots, total = sizeof(pt_record);
    pt_record *r;
    const char **ptrs;
    char *cursor;
    int overflow = 0;
    const size_t max_items = SIZE_MAX / (4 * sizeof(char *));

    *out = NULL;
    if (nl > max_items || nt > max_items || nf > max_items)
        return pt__fail(PT_ENOMEM, "record too large");
    slots = nl + nt + nf;
    overflow |= add_size(&total, slots * sizeof(char *));
    overflow |= add_size(&total, str_size(src->date));
    overflow |= add_size(&total, str_size(src->timestamp));
    overflow |= add_size(&total, str_size(src->session_id));
    overflow |= add_size(&total, str_size(src->client_ip));
    overflow |= add_size(&total, str_size(src->user_agent));
    overflow |= add_size(&total, str_size(src->policy));
    overflow |= add_size(&total, list_size(src->links, nl));
    overflow |= add_size(&total, list_size(src->titles, nt));
    overflow |= add_size(&total, list_size(src->filenames, nf));
    if (overflow)
        return pt__fail(PT_ENOMEM, "record too large");

    r = malloc(total);
    if (!r)
        return pt__fail(PT_ENOMEM, "out of memory copying a record");
    *r = *src;
    ptrs = (const char **)(void *)(r + 1);
    cursor = (char *)(ptrs + slots);
    r->date = copy_str(&cursor, src->date);
    r->timestamp = copy_str(&cursor, src->timestamp);
    r->session_id = copy_str(&cursor, src->session_id);
    r->client_ip = copy_str(&cursor, src->client_ip);
    r->user_agent = copy_str(&cursor, src->user_agent);
    r->policy = copy_str(&cursor, src->policy);
    r->links = copy_list(ptrs, &cursor, src->links, nl);
    r->link_count = nl;
    r->titles = copy_list(ptrs + nl, &cursor, src->titles, nt);
    r->title_count = nt;
    r->filenames = copy_list(ptrs + nl + nt, &cursor, src->filenames, nf);
    r->filename_count = nf;
    *out = r;
    return PT_OK;
}

pt_record *
pt__record_alloc(size_t slots, size_t bytes, const char ***slots_out,
                 char **bytes_out)
{
    size_t total = sizeof(pt_record);
    pt_record *r;

    if (slots > (SIZE_MAX - total) / sizeof(char *) ||
        add_size(&total, slots * sizeof(char *)) || add_size(&total, bytes)) {
        pt__fail(PT_ENOMEM, "record too large");
        return NULL;
    }
    r = malloc(total);
    if (!r) {
        pt__fail(PT_ENOMEM, "out of memory building a record");
        return NULL;
    }
    memset(r, 0, sizeof(*r));
    *slots_out = (const char **)(void *)(r + 1);
    *bytes_out = (char *)(*slots_out + slots);
    return r;
}

void
pt__record_free(pt_record *record)
{
    free(record);
}

/* ---- record lists --------------------------------------------------------
 *
 * The public struct is the first member of a private one.  records[] holds
 * shallow copies of one-allocation records whose memory is listed in
 * owned[]: sorting or shortening records[] never leaks, because
 * pt_record_list_free() frees owned[], not records[].  A list must
 * therefore come from pt_record_list_new(). */

typedef struct record_list {
    pt_record_list pub;
    pt_record **owned;
    size_t owned_count;
    size_t cap;
} record_list;

int
pt_record_list_new(pt_record_list **out)
{
    record_list *l;
    if (!out)
        return pt__fail(PT_EINVAL, "pt_record_list_new: out is NULL");
    *out = NULL;
    l = calloc(1, sizeof(*l));
    if (!l)
        return pt__fail(PT_ENOMEM, "out of memory");
    *out = &l->pub;
    return PT_OK;
}

static int
list_grow(record_list *l)
{
    size_t cap = l->cap ? l->cap * 2 : 16;
    pt_record *records;
    pt_record **owned;

    if (cap > SIZE_MAX / sizeof(pt_record))
        return pt__fail(PT_ENOMEM, "record list too large");
    records = realloc(l->pub.records, cap * sizeof(pt_record));
    if (!records)
        return pt__fail(PT_ENOMEM, "out of memory");
    l->pub.records = records;
    owned = realloc(l->owned, cap * sizeof(pt_record *));
    if (!owned)
        return pt__fail(PT_ENOMEM, "out of memory");
    l->owned = owned;
    l->cap = cap;
    return PT_OK;
}

int
pt__record_list_take(pt_record_list *list, pt_record *record)
{
    record_list *l = (record_list *)(void *)list;
    int rc;

    if (l->owned_count == l->cap || l->pub.count == l->cap) {
        rc = list_grow(l);
        if (rc != PT_OK) {
            pt__record_free(record);
            return rc;
        }
    }
    l->owned[l->owned_count++] = record;
    l->pub.records[l->pub.count++] = *record;
    return PT_OK;
}

int
pt_record_list_append(pt_record_list *list, const pt_record *record)
{
    pt_record *copy;
    int rc;
    if (!list || !record)
        return pt__fail(PT_EINVAL, "pt_record_list_append: NULL argument");
    rc = pt__record_dup(&copy, record);
    if (rc != PT_OK)
        return rc;
    return pt__record_list_take(list, copy);
}

void
pt__record_list_truncate(pt_record_list *list, size_t count)
{
    record_list *l = (record_list *)(void *)list;

    while (l->pub.count > count && l->owned_count > 0) {
        l->pub.count--;
        pt__record_free(l->owned[--l->owned_count]);
    }
}

int
pt_record_list_append_json(pt_record_list *list, const char *json, size_t len)
{
    pt_record *record;
    int rc;
    if (!list || !json)
        return pt__fail(PT_EINVAL, "pt_record_list_append_json: NULL argument");
    rc = pt__record_parse_json(&record, json, len);
    if (rc != PT_OK)
        return rc;
    return pt__record_list_take(list, record);
}

void
pt_record_list_free(pt_record_list *list)
{
    record_list *l = (record_list *)(void *)list;
    if (!l)
        return;
    for (size_t i = 0; i < l->owned_count; i++)
        pt__record_free(l->owned[i]);
    free(l->owned);
    free(l->pub.records);
    free(l);
}

/* ---- ordering ------------------------------------------------------------
 *
 * Timestamps are compared as bytes, which is DynamoDB's sort-key order and
 * chronological for ISO-8601 UTC strings, including the seed's timestamps
 * without microseconds ('+' sorts before '.'). */

static int
cmp_str(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "");
}

int
pt__record_cmp_newest_first(const void *a, const void *b)
{
    const pt_record *ra = a, *rb = b;
    int c = cmp_str(rb->timestamp, ra->timestamp);
    if (c)
        return c;
    return cmp_str(rb->session_id, ra->session_id);
}

void
pt__record_list_sort_newest_first(pt_record_list *list)
{
    if (list && list->count > 1)
        qsort(list->records, list->count, sizeof(pt_record),
              pt__record_cmp_newest_first);
}

/* ---- fields a record may lose ------------------------------------------- */

unsigned int
pt__record_fields_present(const pt_record *r)
{
    unsigned int mask = 0;
    if (r->client_ip)
        mask |= PT_FIELD_CLIENT_IP;
    if (r->user_agent)
        mask |= PT_FIELD_USER_AGENT;
    if (r->link_count)
        mask |= PT_FIELD_LINKS;
    if (r->title_count)
        mask |= PT_FIELD_TITLES;
    if (r->filename_count)
        mask |= PT_FIELD_FILENAMES;
    return mask;
}

void
pt__record_clear_fields(pt_record *r, unsigned int mask)
{
    if (mask & PT_FIELD_CLIENT_IP)
        r->client_ip = NULL;
    if (mask & PT_FIELD_USER_AGENT)
        r->user_agent = NULL;
    if (mask & PT_FIELD_LINKS) {
        r->links = NULL;
        r->link_count = 0;
    }
    if (mask & PT_FIELD_TITLES) {
        r->titles = NULL;
        r->title_count = 0;
    }
    if (mask & PT_FIELD_FILENAMES) {
        r->filenames = NULL;
        r->filename_count = 0;
    }
}
