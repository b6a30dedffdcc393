/*
 * Rewriting day files (the backend's rewrite()), and purge built on it.
 *
 * For each day file, under an exclusive flock (appenders wait on their
 * shared one, see file_store.h), one pass reads the lines and hands each
 * record to the caller's callback.  Nothing is written while it keeps
 * every record.  At the first record it deletes or changes, a temporary
 * file is made in the store directory (pt__fs_temp_at: a random name
 * ".<date>.jsonl.rewrite-...", O_EXCL, 0600) and everything before that
 * line is copied into it; from then on the bytes of kept lines are copied
 * as they are (ranges read back with pread: corrupt, torn and overlong
 * lines included, so nothing the store cannot read is lost and the kept
 * records stay byte for byte the same), a deleted line is left out, and a
 * changed one is written as the record without the removed fields.  The
 * temporary file is fsync'd and renamed over the day file (a day file left
 * without a line is removed), and the directory fsync'd.  A crash at any
 * point leaves the old file or the new one, never a mix; a temporary file
 * left by a crash is removed by the next rewrite of that date, under its
 * lock (only the lock holder writes one).
 *
 * Appenders blocked on the old inode see st_nlink == 0 once they get their
 * lock and reopen the path (file_append.c), so no record appended while a
 * rewrite runs is lost.  A rewrite that finds its own descriptor unlinked
 * after taking the lock (another rewrite replaced the file meanwhile)
 * reopens the path the same way.
 *
 * Memory does not grow with the size of a day: a 1 MiB copy buffer, the
 * line reader's buffer and one record.
 */
#include "storage/file_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUFFER (1u << 20)

typedef struct rewriter {
    pt__file_store *fs;
    const pt_rewrite_options *opts;
    pt_rewrite_fn fn;
    pt_rewrite_day_fn day_fn;
    void *userdata;
    int dirfd;
    pt__file_reader rd;
    char *copy;  /* COPY_BUFFER bytes */
    pt_buf line; /* a changed record's new line */

    /* the day in progress */
    const char *name; /* "<date>.jsonl" */
    int fd;           /* the day file */
    int out;          /* the temporary file, -1 until the first change */
    char tmp[64];
    uint64_t pending; /* the day file's bytes from here on are not yet
                         copied */
    char last;        /* the last byte written to `out` */
    unsigned int action;
    int aborted; /* the callback failed: stop everything */
    pt_rewrite_day day;
} rewriter;

/* ---- the callback --------------------------------------------------------
 */

/* One record: ask the callback, count, and prepare a changed line. */
static int
decide(const pt_record *record, void *ctx)
{
    rewriter *w = ctx;
    unsigned int action = PT_REWRITE_KEEP, remove;
    int rc;

    w->day.seen++;
    if ((rc = w->fn(record, &action, w->userdata)) != PT_OK) {
        w->aborted = 1;
        return rc < 0 ? rc : PT_EINVAL;
    }
    if (action & PT_REWRITE_DELETE) {
        w->action = PT_REWRITE_DELETE;
        return PT_OK;
    }
    remove = action & PT__RECORD_REMOVABLE_FIELDS &
             pt__record_fields_present(record);
    if (!remove)
        return PT_OK;
    w->action = remove;
    if (!(w->opts->flags & PT_REWRITE_LIST_ONLY)) {
        pt_record changed = *record;
        pt__record_clear_fields(&changed, remove);
        pt_buf_clear(&w->line);
        pt__record_json(&w->line, &changed);
        pt_buf_putc(&w->line, '\n');
        if (w->line.oom)
            return pt__file_fail(w->fs, PT_ENOMEM,
                                 "out of memory rewriting "
                                 "a record");
    }
    return PT_OK;
}

/* ---- copying -------------------------------------------------------------
 */

static int
put(rewriter *w, const char *data, size_t len)
{
    if (len == 0)
        return PT_OK;
    if (pt__write_all(w->out, data, len) != 0)
        return pt__file_fail_errno(w->fs, errno, "cannot write the rewrite of",
                                   w->name);
    w->last = data[len - 1];
    return PT_OK;
}

/* Copy the day file's bytes [w->pending, to) into the temporary file. */
static int
copy_to(rewriter *w, uint64_t to)
{
    while (w->pending < to) {
        size_t want = to - w->pending < COPY_BUFFER ? (size_t)(to - w->pending)
                                                    : COPY_BUFFER;
        ssize_t n = pread(w->fd, w->copy, want, (off_t)w->pending);
        int rc;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return pt__file_fail_errno(w->fs, n < 0 ? errno : EIO,
                                       "cannot read", w->name);
        if ((rc = put(w, w->copy, (size_t)n)) != PT_OK)
            return rc;
        w->pending += (uint64_t)n;
    }
    return PT_OK;
}

static int
start_output(rewriter *w)
{
    char prefix[40];
    int rc;

    /* A dot name: never mistaken for a day file by readers or purge. */
    snprintf(prefix, sizeof(prefix), ".%s.rewrite-", w->name);
    rc = pt__fs_temp_at(&w->out, w->dirfd, w->fs->dir, prefix, w->tmp,
                        sizeof(w->tmp));
    if (rc != PT_OK)
        return pt__file_fail(w->fs, rc, "file store: %s", pt_last_error());
    w->last = '\n';
    return PT_OK;
}

static int
rewrite_line(void *ctx, const char *line, size_t len, uint64_t line_no,
             uint64_t offset, int flags)
{
    rewriter *w = ctx;
    int rc;

    w->action = PT_REWRITE_KEEP;
    rc = pt__file_read_line(&w->rd, line, len, line_no, offset, flags, decide,
                            w);
    if (rc != PT_OK)
        return rc;
    if (w->action == PT_REWRITE_KEEP)
        return PT_OK;
    if (w->action == PT_REWRITE_DELETE)
        w->day.deleted++;
    else
        w->day.changed++;
    if (w->opts->flags & PT_REWRITE_LIST_ONLY)
        return PT_OK;
    if (w->out < 0 && (rc = start_output(w)) != PT_OK)
        return rc;
    if ((rc = copy_to(w, offset)) != PT_OK)
        return rc;
    if (w->action != PT_REWRITE_DELETE &&
        (rc = put(w, w->line.ptr, w->line.len)) != PT_OK)
        return rc;
    w->pending = offset + len + ((flags & PT__LINE_TERMINATED) != 0);
    return PT_OK;
}

/* ---- one day -------------------------------------------------------------
 */

/* Temporary files of this day left by a rewrite or purge that crashed:
 * only the holder of the day's lock writes one, and we hold it. */
static void
remove_stale_temporaries(rewriter *w)
{
    char prefix[40];
    size_t plen;
    int listfd = dup(w->dirfd);
    DIR *d = listfd >= 0 ? fdopendir(listfd) : NULL;
    struct dirent *e;

    if (!d) {
        if (listfd >= 0)
            close(listfd);
        return;
    }
    plen = (size_t)snprintf(prefix, sizeof(prefix), ".%s.", w->name);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, prefix, plen) == 0 &&
            unlinkat(w->dirfd, e->d_name, 0) == 0)
            pt__log(PT_LOG_INFO,
                    "file store: removed %s/%s, left by an interrupted "
                    "rewrite",
                    w->fs->dir, e->d_name);
    closedir(d);
}

/* Open the day file and, unless listing, lock it exclusively, reopening
 * when another rewrite replaced it while we waited.  *fd is -1 when there
 * is no day file. */
static int
open_locked(rewriter *w, int list_only, struct stat *st)
{
    for (int attempt = 0; attempt < PT__FILE_MAX_REOPEN; attempt++) {
        int rc = pt__file_open_at(w->fs, w->dirfd, w->name,
                                  list_only ? O_RDONLY : O_RDWR, &w->fd);
        if (rc == PT_ENOTFOUND) {
            w->fd = -1;
            return PT_OK;
        }
        if (rc != PT_OK)
            return rc;
        if (list_only)
            return PT_OK;
        if (pt__file_flock(w->fd, LOCK_EX) != 0 || fstat(w->fd, st) != 0) {
            rc = pt__file_fail_errno(w->fs, errno, "cannot lock", w->name);
            close(w->fd);
            w->fd = -1;
            return rc;
        }
        if (st->st_nlink > 0)
            return PT_OK;
        close(w->fd); /* replaced meanwhile: the path names the new one */
        w->fd = -1;
    }
    return pt__file_fail(w->fs, PT_EIO,
                         "file store: %s/%s keeps being replaced", w->fs->dir,
                         w->name);
}

/* Copy the rest, make it durable, and put it in place of the day file. */
static int
finish_output(rewriter *w, const struct stat *st)
{
    struct stat out_st;
    int rc = copy_to(w, (uint64_t)st->st_size);

    /* A kept torn last line must not swallow the next append. */
    if (rc == PT_OK && w->last != '\n')
        rc = put(w, "\n", 1);
    if (rc == PT_OK && fsync(w->out) != 0)
        rc = pt__file_fail_errno(w->fs, errno, "cannot fsync the rewrite of",
                                 w->name);
    if (rc == PT_OK && fstat(w->out, &out_st) != 0)
        rc = pt__file_fail_errno(w->fs, errno, "cannot stat the rewrite of",
                                 w->name);
    close(w->out);
    w->out = -1;
    if (rc == PT_OK && out_st.st_size == 0) {
        /* nothing left: no day file, rather than an empty one */
        if (unlinkat(w->dirfd, w->name, 0) != 0)
            rc = pt__file_fail_errno(w->fs, errno, "cannot remove", w->name);
        else if ((rc = pt__fs_sync_dir(w->dirfd, w->fs->dir)) != PT_OK)
            rc = pt__file_fail(w->fs, rc, "file store: %s", pt_last_error());
        unlinkat(w->dirfd, w->tmp, 0);
        return rc;
    }
    if (rc == PT_OK && (rc = pt__fs_replace_at(w->dirfd, w->fs->dir, w->tmp,
                                               w->name)) != PT_OK)
        rc = pt__file_fail(w->fs, rc, "file store: %s", pt_last_error());
    if (rc != PT_OK)
        unlinkat(w->dirfd, w->tmp, 0);
    return rc;
}

static int
rewrite_day(rewriter *w, const char *date)
{
    char name[PT_DATE_LEN + 8], path[PT__FILE_PATH_MAX];
    int list_only = (w->opts->flags & PT_REWRITE_LIST_ONLY) != 0;
    struct stat st;
    int rc;

    memcpy(name, date, PT_DATE_LEN);
    memcpy(name + PT_DATE_LEN, ".jsonl", 7);
    memset(&w->day, 0, sizeof(w->day));
    w->day.date = date;
    w->name = name;
    w->out = -1;
    w->pending = 0;
    if ((rc = pt__file_path(w->fs, path, sizeof(path), name)) == PT_OK)
        rc = open_locked(w, list_only, &st);
    if (rc == PT_OK && w->fd >= 0) {
        if (!list_only)
            remove_stale_temporaries(w);
        w->rd.path = path;
        rc = pt__file_scan(w->fs, w->fd, path, rewrite_line, w);
        pt__file_reader_done(&w->rd);
        w->rd.path = NULL;
        if (rc == PT_OK && w->out >= 0)
            rc = finish_output(w, &st);
        if (w->out >= 0) {
            close(w->out);
            unlinkat(w->dirfd, w->tmp, 0);
        }
        /* Appenders blocked on the old inode see st_nlink == 0 and
         * reopen. */
        if (!list_only)
            pt__file_flock(w->fd, LOCK_UN);
        close(w->fd);
    }
    if (rc != PT_OK && !list_only) {
        /* the old file stands: nothing of this day was changed */
        w->day.deleted = w->day.changed = 0;
    }
    w->day.rc = rc;
    if (w->day_fn)
        w->day_fn(&w->day, w->userdata);
    return rc;
}

/* ---- the dates -------------------------------------------------------------
 */

static int
is_day_file(const char *name)
{
    char date[PT_DATE_LEN + 1];
    if (strlen(name) != PT_DATE_LEN + 6 ||
        strcmp(name + PT_DATE_LEN, ".jsonl") != 0)
        return 0;
    memcpy(date, name, PT_DATE_LEN);
    date[PT_DATE_LEN] = '\0';
    return pt__valid_date(date);
}

static int
by_date(const void *a, const void *b)
{
    return memcmp(a, b, PT_DATE_LEN);
}

/* The dates of the day files, collected (and sorted) first: a rewrite
 * renames entries while it works, which readdir() does not promise to
 * survive. */
static int
list_days(pt__file_store *fs, int dirfd, char **dates, size_t *count)
{
    int listfd = dup(dirfd);
    DIR *d = listfd >= 0 ? fdopendir(listfd) : NULL;
    struct dirent *e;
    size_t cap = 0;
    char *list = NULL;

    *dates = NULL;
    *count = 0;
    if (!d) {
        int err = errno;
        if (listfd >= 0)
            close(listfd);
        return pt__file_fail_errno(fs, err, "cannot list", fs->dir);
    }
    while ((e = readdir(d)) != NULL) {
        if (!is_day_file(e->d_name))
            continue;
        if (*count == cap) {
            char *bigger;
            cap = cap ? cap * 2 : 64;
            bigger = realloc(list, cap * (PT_DATE_LEN + 1));
            if (!bigger) {
                free(list);
                closedir(d);
                return pt__file_fail(fs, PT_ENOMEM, "out of memory");
            }
            list = bigger;
        }
        memcpy(list + *count * (PT_DATE_LEN + 1), e->d_name, PT_DATE_LEN);
        list[*count * (PT_DATE_LEN + 1) + PT_DATE_LEN] = '\0';
        (*count)++;
    }
    closedir(d);
    if (*count > 1)
        qsort(list, *count, PT_DATE_LEN + 1, by_date);
    *dates = list;
    return PT_OK;
}

/* Dates that start at or after opts->only_before hold no visit before it:
 * nothing there for the callback to change. */
static int
skipped(const pt_rewrite_options *opts, const char *date)
{
    int64_t days;
    return opts->only_before > 0 && pt__date_days(date, &days) == 0 &&
           days * 86400 >= opts->only_before;
}

/* One date after the other; the first error is returned, a callback's
 * error at once. */
static int
each_date(rewriter *w, const char *dates, size_t count, int *first)
{
    char first_msg[sizeof(w->fs->base.errmsg)] = "";

    for (size_t i = 0; i < count; i++) {
        const char *date = dates + i * (PT_DATE_LEN + 1);
        int rc;
        if (skipped(w->opts, date))
            continue;
        rc = rewrite_day(w, date);
        if (rc != PT_OK && *first == PT_OK) {
            *first = rc;
            memcpy(first_msg, w->fs->base.errmsg, sizeof(first_msg));
        }
        if (w->aborted)
            return rc; /* the callback's own code, as it gave it */
        if (rc == PT_ENOMEM)
            break;
    }
    if (*first != PT_OK)
        return pt__file_fail(w->fs, *first, "%s", first_msg);
    return PT_OK;
}

/* The dates from..to, as an array like list_days(). */
static int
range_days(pt__file_store *fs, const pt_rewrite_options *opts, char **dates,
           size_t *count)
{
    int64_t first, last;

    *dates = NULL;
    *count = 0;
    if (pt__date_days(opts->from, &first) ||
        pt__date_days(opts->to ? opts->to : opts->from, &last) || first > last)
        return pt__file_fail(fs, PT_EINVAL, "file store: invalid date range");
    *dates = malloc((size_t)(last - first + 1) * (PT_DATE_LEN + 1));
    if (!*dates)
        return pt__file_fail(fs, PT_ENOMEM, "out of memory");
    for (int64_t day = first; day <= last; day++)
        pt__format_date(*dates + (*count)++ * (PT_DATE_LEN + 1),
                        day * 86400 * (int64_t)1000000);
    return PT_OK;
}

int
pt__file_rewrite(pt_storage *s, const pt_rewrite_options *opts,
                 pt_rewrite_fn fn, pt_rewrite_day_fn day_fn, void *userdata)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;
    rewriter w;
    char *dates = NULL;
    size_t count = 0;
    int rc, first = PT_OK;

    memset(&w, 0, sizeof(w));
    w.fs = fs;
    w.opts = opts;
    w.fn = fn;
    w.day_fn = day_fn;
    w.userdata = userdata;
    rc = pt__file_open_dir(fs, 0, &w.dirfd);
    if (rc == PT_ENOTFOUND)
        return PT_OK; /* no store yet: nothing to rewrite */
    if (rc != PT_OK)
        return rc;
    /* a rewrite sees every record, expired ones too, whole */
    pt__file_reader_init(&w.rd, fs, PT_FIELD_ALL, INT64_MIN);
    w.copy = malloc(COPY_BUFFER);
    if (!w.copy)
        rc = pt__file_fail(fs, PT_ENOMEM, "out of memory");
    else if (opts->from)
        rc = range_days(fs, opts, &dates, &count);
    else
        rc = list_days(fs, w.dirfd, &dates, &count);
    /* the writes of this instance's own appends must not race with ours */
    pt__file_close_days(fs);
    if (rc == PT_OK)
        rc = each_date(&w, dates, count, &first);
    free(dates);
    free(w.copy);
    pt_buf_free(&w.line);
    pt__file_reader_free(&w.rd);
    close(w.dirfd);
    return rc;
}

/* ---- purge ---------------------------------------------------------------
 * Expired records are deleted by a rewrite of every day file. */

typedef struct purge_ctx {
    int64_t now;
    uint64_t removed;
} purge_ctx;

static int
purge_record(const pt_record *r, unsigned int *action, void *ctx)
{
    const purge_ctx *p = ctx;
    if (r->ttl > 0 && r->ttl < p->now)
        *action = PT_REWRITE_DELETE;
    return PT_OK;
}

static void
purge_day(const pt_rewrite_day *day, void *ctx)
{
    ((purge_ctx *)ctx)->removed += day->deleted;
}

int
pt__file_purge(pt_storage *s, int64_t now, uint64_t *removed)
{
    pt_rewrite_options opts = PT_REWRITE_OPTIONS_INIT;
    purge_ctx p = {now > 0 ? now : pt__now_us() / 1000000, 0};
    int rc = pt__file_rewrite(s, &opts, purge_record, purge_day, &p);

    if (removed)
        *removed = p.removed;
    return rc;
}
