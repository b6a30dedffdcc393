/*
 * Reading one day, newest first (the backend's query()).
 *
 * Lines are in append order, which is only roughly chronological across
 * processes, so the whole file is read.  With a limit, a bounded heap keeps
 * only the `limit` newest records seen so far: a day of millions of
 * records queried with --limit 10 costs a scan, not a sort of everything.
 */
#include "storage/file_store.h"

#include "record/record.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct query_ctx {
    pt__file_store *fs;
    size_t limit;     /* 0: all */
    pt_record **heap; /* with a limit: heap[0] is the oldest kept */
    size_t count;
    size_t cap;
    pt__file_reader rd;
} query_ctx;

/* Non-zero when a sorts after b (is older, newest-first order). */
static int
older(const pt_record *a, const pt_record *b)
{
    return pt__record_cmp_newest_first(a, b) > 0;
}

static void
sift_up(pt_record **h, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!older(h[i], h[parent]))
            break;
        pt_record *t = h[i];
        h[i] = h[parent];
        h[parent] = t;
        i = parent;
    }
}

static void
sift_down(pt_record **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < n && older(h[l], h[m]))
            m = l;
        if (r < n && older(h[r], h[m]))
            m = r;
        if (m == i)
            return;
        pt_record *t = h[i];
        h[i] = h[m];
        h[m] = t;
        i = m;
    }
}

/* Keep `r` (taking ownership) if it is among the newest `limit`. */
static int
keep(query_ctx *q, pt_record *r)
{
    if (q->limit && q->count == q->limit) {
        if (!older(q->heap[0], r)) {
            pt__record_free(r);
            return PT_OK;
        }
        pt__record_free(q->heap[0]);
        q->heap[0] = r;
        sift_down(q->heap, q->count, 0);
        return PT_OK;
    }
    if (q->count == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        pt_record **h;
        if (q->limit && cap > q->limit)
            cap = q->limit;
        h = realloc(q->heap, cap * sizeof(*h));
        if (!h) {
            pt__record_free(r);
            return pt__file_fail(q->fs, PT_ENOMEM, "out of memory");
        }
        q->heap = h;
        q->cap = cap;
    }
    q->heap[q->count++] = r;
    if (q->limit)
        sift_up(q->heap, q->count - 1);
    return PT_OK;
}

/* A record to keep: copied out of the reader's buffers. */
static int
query_record(const pt_record *r, void *ctx)
{
    query_ctx *q = ctx;
    pt_record *copy;
    int rc;

    if (q->limit && q->count == q->limit && !older(q->heap[0], r))
        return PT_OK; /* older than every record kept: not copied */
    rc = pt__record_dup(&copy, r);
    if (rc != PT_OK)
        return pt__file_fail(q->fs, rc, "out of memory");
    return keep(q, copy);
}

static int
query_line(void *ctx, const char *line, size_t len, uint64_t line_no,
           uint64_t offset, int flags)
{
    query_ctx *q = ctx;
    return pt__file_read_line(&q->rd, line, len, line_no, offset, flags,
                              query_record, q);
}

static int
cmp_ptr_newest_first(const void *a, const void *b)
{
    return pt__record_cmp_newest_first(*(pt_record *const *)a,
                                       *(pt_record *const *)b);
}

/* Move the kept records, newest first, into a new list. */
static int
make_list(query_ctx *q, pt_record_list **out)
{
    pt_record_list *list;
    size_t i = 0;
    int rc = pt_record_list_new(&list);

    if (rc == PT_OK && q->count > 1)
        qsort(q->heap, q->count, sizeof(*q->heap), cmp_ptr_newest_first);
    for (; rc == PT_OK && i < q->count; i++)
        rc = pt__record_list_take(list, q->heap[i]); /* frees on failure */
    for (; i < q->count; i++)
        pt__record_free(q->heap[i]);
    q->count = 0;
    if (rc != PT_OK) {
        pt_record_list_free(list);
        return pt__file_fail(q->fs, rc, "out of memory");
    }
    *out = list;
    return PT_OK;
}

int
pt__file_query(pt_storage *s, pt_record_list **out, const char *date,
               size_t limit, int64_t now)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;
    char path[PT__FILE_PATH_MAX];
    query_ctx q;
    int fd, rc;

    *out = NULL;
    memset(&q, 0, sizeof(q));
    q.fs = fs;
    q.limit = limit;
    rc = pt__file_open_day(fs, date, path, sizeof(path), &fd);
    if (rc != PT_OK)
        return rc;
    pt__file_reader_init(&q.rd, fs, PT_FIELD_ALL,
                         now > 0 ? now : pt__now_us() / 1000000);
    q.rd.path = path;
    if (fd >= 0) {
        rc = pt__file_scan(fs, fd, path, query_line, &q);
        close(fd);
    }
    pt__file_reader_done(&q.rd);
    pt__file_reader_free(&q.rd);
    if (rc == PT_OK)
        rc = make_list(&q, out);
    for (size_t i = 0; i < q.count; i++)
        pt__record_free(q.heap[i]);
    free(q.heap);
    return rc;
}
