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

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct query_ctx {
    pt__file_store *fs;
    const char *path;
    size_t limit; /* 0: all */
    int64_t now;
    pt_record **heap; /* with a limit: heap[0] is the oldest kept */
    size_t count;
    size_t cap;
    uint64_t corrupt;
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

static void
report_corrupt(query_ctx *q, uint64_t line_no, const char *why)
{
    q->corrupt++;
    /* The file and line, never the content: it may be personal data. */
    if (q->corrupt <= PT__FILE_LOG_CORRUPT)
        pt__log(PT_LOG_WARN, "file store: %s:%llu: %s, line skipped", q->path,
                (unsigned long long)line_no, why);
}

static int
query_line(void *ctx, const char *line, size_t len, uint64_t line_no,
           uint64_t offset, int flags)
{
    query_ctx *q = ctx;
    pt_record *r;

    (void)offset;
    if (flags & PT__LINE_OVERLONG) {
        report_corrupt(q, line_no, "line too long");
        return PT_OK;
    }
    if (pt__record_parse_json(&r, line, len) != PT_OK) {
        report_corrupt(q, line_no,
                       flags & PT__LINE_TERMINATED
                           ? "corrupt record"
                           : "torn last line (crash or write in progress)");
        return PT_OK;
    }
    if (r->ttl != 0 && r->ttl < q->now) {
        pt__record_free(r);
        return PT_OK;
    }
    return keep(q, r);
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
    char path[PT__FILE_PATH_MAX], name[PT_DATE_LEN + 8];
    query_ctx q;
    int fd, rc;

    *out = NULL;
    /* The date becomes a file name: only a real date, never a path. */
    if (!date || !pt__valid_date(date))
        return pt__file_fail(fs, PT_EINVAL,
                             "file store: invalid date (expected YYYY-MM-DD)");
    memcpy(name, date, PT_DATE_LEN);
    memcpy(name + PT_DATE_LEN, ".jsonl", 7);
    if ((rc = pt__file_path(fs, path, sizeof(path), name)) != PT_OK)
        return rc;
    memset(&q, 0, sizeof(q));
    q.fs = fs;
    q.path = path;
    q.limit = limit;
    q.now = now > 0 ? now : pt__now_us() / 1000000;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno != ENOENT)
        return pt__file_fail_errno(fs, errno, "cannot open", path);
    if (fd >= 0) {
        rc = pt__file_scan(fs, fd, path, query_line, &q);
        close(fd);
    }
    if (q.corrupt > PT__FILE_LOG_CORRUPT)
        pt__log(PT_LOG_WARN,
                "file store: %s: %llu corrupt or torn lines "
                "skipped in all",
                path, (unsigned long long)q.corrupt);
    if (rc == PT_OK)
        rc = make_list(&q, out);
    for (size_t i = 0; i < q.count; i++)
        pt__record_free(q.heap[i]);
    free(q.heap);
    return rc;
}
