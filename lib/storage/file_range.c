/*
 * Reading records from day files: the line reader shared by query() and
 * scan(), and scan() itself — a range of dates streamed through a callback,
 * one line at a time, in bounded memory.
 *
 * A line is read by the fast reader (record_view.c) and, when it declines,
 * by the cJSON one; a line neither can read is skipped and counted, and
 * logged with its place in the file — never its content, which may be
 * personal data.
 */
#include "storage/file_store.h"

#include "record/record.h"
#include "storage/storage.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int
pt__file_open_day(pt__file_store *fs, const char *date, char *path,
                  size_t path_size, int *fd_out)
{
    char name[PT_DATE_LEN + 8];
    int rc;

    *fd_out = -1;
    /* The date becomes a file name: only a real date, never a path. */
    if (!date || !pt__valid_date(date))
        return pt__file_fail(fs, PT_EINVAL,
                             "file store: invalid date (expected YYYY-MM-DD)");
    memcpy(name, date, PT_DATE_LEN);
    memcpy(name + PT_DATE_LEN, ".jsonl", 7);
    if ((rc = pt__file_path(fs, path, path_size, name)) != PT_OK)
        return rc;
    /* A regular file or nothing: a FIFO would block the reader, a device
     * never end, a link lead out of the store (common/fs.c). */
    rc = pt__fs_open_in(fd_out, fs->dir, name, O_RDONLY, 0);
    if (rc == PT_ENOTFOUND)
        return PT_OK; /* nothing stored that day, or no store yet */
    if (rc != PT_OK)
        return pt__file_fail(fs, rc, "file store: %s", pt_last_error());
    return PT_OK;
}

void
pt__file_reader_init(pt__file_reader *rd, pt__file_store *fs,
                     unsigned int fields, int64_t now)
{
    memset(rd, 0, sizeof(*rd));
    rd->fs = fs;
    rd->fields = fields ? fields : PT_FIELD_ALL;
    rd->now = now;
}

static void
report_corrupt(pt__file_reader *rd, uint64_t line_no, uint64_t offset,
               const char *why)
{
    rd->corrupt++;
    if (rd->corrupt > PT__FILE_LOG_CORRUPT)
        return;
    if (line_no)
        pt__log(PT_LOG_WARN, "file store: %s:%llu: %s, line skipped", rd->path,
                (unsigned long long)line_no, why);
    else
        pt__log(PT_LOG_WARN, "file store: %s: line at byte %llu: %s, skipped",
                rd->path, (unsigned long long)offset, why);
}

void
pt__file_reader_done(pt__file_reader *rd)
{
    if (rd->corrupt > PT__FILE_LOG_CORRUPT)
        pt__log(PT_LOG_WARN,
                "file store: %s: %llu corrupt or torn lines skipped in all",
                rd->path, (unsigned long long)rd->corrupt);
    rd->corrupt = 0;
}

void
pt__file_reader_free(pt__file_reader *rd)
{
    pt__record_reader_free(&rd->reader);
}

int
pt__file_read_line(pt__file_reader *rd, const char *line, size_t len,
                   uint64_t line_no, uint64_t offset, int flags,
                   pt_record_fn fn, void *userdata)
{
    pt_record *slow = NULL;
    const pt_record *r;
    int rc;

    if (flags & PT__LINE_OVERLONG) {
        report_corrupt(rd, line_no, offset, "line too long");
        return PT_OK;
    }
    rc = pt__record_read_fast(&rd->reader, line, len, rd->fields);
    if (rc == PT_OK) {
        r = &rd->reader.record;
    } else if (rc == PT__RECORD_DECLINED &&
               pt__record_parse_json(&slow, line, len) == PT_OK) {
        r = slow;
    } else if (rc == PT__RECORD_DECLINED) {
        report_corrupt(rd, line_no, offset,
                       flags & PT__LINE_TERMINATED
                           ? "corrupt record"
                           : "torn last line (crash or write in progress)");
        return PT_OK;
    } else {
        return pt__file_fail(rd->fs, rc, "out of memory reading %s", rd->path);
    }
    rc = r->ttl != 0 && r->ttl < rd->now ? PT_OK : fn(r, userdata);
    pt__record_free(slow);
    return rc;
}

/* ---- scan ----------------------------------------------------------------
 */

typedef struct scan_ctx {
    pt__file_reader rd;
    const pt_scan_options *opts;
    pt_record_fn fn;
    void *userdata;
    size_t delivered;
} scan_ctx;

/* The caller's callback, and the limit. */
static int
deliver(const pt_record *r, void *ctx)
{
    scan_ctx *s = ctx;
    int rc = s->fn(r, s->userdata);
    if (rc == PT_OK && s->opts->limit && ++s->delivered >= s->opts->limit)
        rc = PT_SCAN_STOP;
    return rc;
}

static int
scan_line(void *ctx, const char *line, size_t len, uint64_t line_no,
          uint64_t offset, int flags)
{
    scan_ctx *s = ctx;
    return pt__file_read_line(&s->rd, line, len, line_no, offset, flags,
                              deliver, s);
}

static int
scan_day(scan_ctx *s, const char *date)
{
    char path[PT__FILE_PATH_MAX];
    int fd, rc = pt__file_open_day(s->rd.fs, date, path, sizeof(path), &fd);

    if (rc != PT_OK || fd < 0)
        return rc;
    s->rd.path = path;
    if (s->opts->flags & PT_SCAN_NEWEST_FIRST)
        rc = pt__file_scan_reverse(s->rd.fs, fd, path, scan_line, s);
    else
        rc = pt__file_scan(s->rd.fs, fd, path, scan_line, s);
    close(fd);
    pt__file_reader_done(&s->rd);
    s->rd.path = NULL;
    return rc;
}

int
pt__file_scan_range(pt_storage *st, const pt_scan_options *opts,
                    pt_record_fn fn, void *userdata)
{
    pt__file_store *fs = (pt__file_store *)(void *)st;
    int newest_first = (opts->flags & PT_SCAN_NEWEST_FIRST) != 0;
    int64_t first, last, step = newest_first ? -1 : 1;
    scan_ctx s;
    int rc = PT_OK;

    if (pt__date_days(opts->from, &first) || pt__date_days(opts->to, &last))
        return pt__file_fail(fs, PT_EINVAL, "file store: invalid date range");
    if (newest_first) {
        int64_t t = first;
        first = last;
        last = t;
    }
    memset(&s, 0, sizeof(s));
    pt__file_reader_init(&s.rd, fs, opts->fields, opts->now);
    s.opts = opts;
    s.fn = fn;
    s.userdata = userdata;
    for (int64_t day = first; rc == PT_OK; day += step) {
        char date[PT_DATE_LEN + 1];
        pt__format_date(date, day * 86400 * (int64_t)1000000);
        rc = scan_day(&s, date);
        if (day == last)
            break;
    }
    pt__file_reader_free(&s.rd);
    return rc == PT_SCAN_STOP ? PT_OK : rc;
}

/* ---- one big day in two parts at once --------------------------------------
 * `stats` of one day spends its time parsing lines: the two halves of a big
 * day file are read by two threads, each into an aggregate of its own
 * (pt_tracker_stats() merges them).  Both parts read one descriptor with
 * pread(), so they read the same file even if a purge replaces it. */

typedef struct part {
    scan_ctx s;
    int fd;
    uint64_t offset, end;
    int rc;
} part;

/* Line numbers of the second part are not known (the first part is still
 * counting them): its messages give byte offsets instead. */
static int
scan_line_unnumbered(void *ctx, const char *line, size_t len, uint64_t line_no,
                     uint64_t offset, int flags)
{
    (void)line_no;
    return scan_line(ctx, line, len, 0, offset, flags);
}

static void *
scan_second_part(void *arg)
{
    part *p = arg;
    p->rc = pt__file_scan_part(p->s.rd.fs, p->fd, p->s.rd.path, p->offset,
                               p->end, scan_line_unnumbered, &p->s);
    return NULL;
}

/* The start of the first line at or after the middle of [0, size); 0 when
 * there is none. */
static uint64_t
middle_line(int fd, uint64_t size)
{
    char block[4096];
    uint64_t at = size / 2;

    while (at < size) {
        ssize_t n = pread(fd, block, sizeof(block), (off_t)at);
        const char *nl;
        if (n <= 0)
            return 0;
        if ((nl = memchr(block, '\n', (size_t)n)) != NULL)
            return at + (uint64_t)(nl - block) + 1 < size
                       ? at + (uint64_t)(nl - block) + 1
                       : 0;
        at += (uint64_t)n;
    }
    return 0;
}

int
pt__file_scan_split(pt_storage *st, pt_storage *other,
                    const pt_scan_options *opts, uint64_t min_size,
                    pt_record_fn fn[2], void *userdata[2])
{
    pt__file_store *fs = (pt__file_store *)(void *)st;
    char path[PT__FILE_PATH_MAX];
    part first, second;
    pthread_t thread;
    struct stat sb;
    uint64_t middle;
    int fd, rc;

    if (st->methods != &pt__file_storage_methods ||
        other->methods != &pt__file_storage_methods ||
        strcmp(opts->from, opts->to) != 0 || opts->limit ||
        (opts->flags & PT_SCAN_NEWEST_FIRST))
        return PT__SCAN_NOT_SPLIT;
    rc = pt__file_open_day(fs, opts->from, path, sizeof(path), &fd);
    if (rc != PT_OK || fd < 0)
        return rc != PT_OK ? rc : PT__SCAN_NOT_SPLIT;
    if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size < min_size ||
        (middle = middle_line(fd, (uint64_t)sb.st_size)) == 0) {
        close(fd);
        return PT__SCAN_NOT_SPLIT;
    }
    memset(&first, 0, sizeof(first));
    memset(&second, 0, sizeof(second));
    pt__file_reader_init(&first.s.rd, fs, opts->fields, opts->now);
    pt__file_reader_init(&second.s.rd, (pt__file_store *)(void *)other,
                         opts->fields, opts->now);
    first.s.opts = second.s.opts = opts;
    first.s.fn = fn[0];
    first.s.userdata = userdata[0];
    second.s.fn = fn[1];
    second.s.userdata = userdata[1];
    first.s.rd.path = second.s.rd.path = path;
    second.fd = fd;
    second.offset = middle;
    second.end = UINT64_MAX;
    if (pthread_create(&thread, NULL, scan_second_part, &second) != 0) {
        rc = PT__SCAN_NOT_SPLIT;
    } else {
        rc = pt__file_scan_part(fs, fd, path, 0, middle, scan_line, &first.s);
        pthread_join(thread, NULL);
        if (rc == PT_OK && second.rc != PT_OK)
            rc = second.rc == PT_SCAN_STOP
                     ? PT_OK
                     : pt__file_fail(fs, second.rc, "%s", other->errmsg);
        if (rc == PT_SCAN_STOP)
            rc = PT_OK;
    }
    close(fd);
    pt__file_reader_done(&first.s.rd);
    pt__file_reader_done(&second.s.rd);
    pt__file_reader_free(&first.s.rd);
    pt__file_reader_free(&second.s.rd);
    return rc;
}
