/*
 * Appending records to day files (the backend's put()).  See file_store.h
 * for the locking protocol that keeps lines whole across processes.
 */
#include "storage/file_store.h"

#include "record/record.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reusable batch buffer is released when a huge batch grew it. */
#define KEEP_BUFFER_BYTES (8u << 20)

static int
day_file_name(pt__file_store *fs, char *path, size_t size, const char *date)
{
    char name[PT_DATE_LEN + 8];
    memcpy(name, date, PT_DATE_LEN);
    memcpy(name + PT_DATE_LEN, ".jsonl", 7);
    return pt__file_path(fs, path, size, name);
}

/* The directory is created here, lazily, and not only by init(): most
 * applications open a tracker without calling pt_tracker_init_storage(),
 * and an operator may remove an empty store directory.  open() must still
 * create nothing, because dry-run opens the backend too; the first real
 * write is the earliest moment we know the directory is wanted. */
static int
open_day_fd(pt__file_store *fs, const char *date, int *out)
{
    char name[PT_DATE_LEN + 8];
    int dirfd, rc;

    memcpy(name, date, PT_DATE_LEN);
    memcpy(name + PT_DATE_LEN, ".jsonl", 7);
    if ((rc = pt__file_open_dir(fs, 1, &dirfd)) != PT_OK)
        return rc;
    rc = pt__file_open_at(fs, dirfd, name, O_RDWR | O_APPEND, out);
    if (rc == PT_ENOTFOUND) {
        rc =
            pt__file_open_at(fs, dirfd, name, O_RDWR | O_APPEND | O_CREAT, out);
        if (rc == PT_OK)
            fs->dir_dirty = 1;
    }
    close(dirfd);
    return rc;
}

/* The cached descriptor for `date`, opening it (and evicting the least
 * recently used one) when needed. */
static int
get_day(pt__file_store *fs, const char *date, pt__file_day **out)
{
    pt__file_day *slot = NULL;
    int rc;

    for (size_t i = 0; i < PT__FILE_OPEN_DAYS; i++) {
        pt__file_day *d = &fs->days[i];
        if (d->fd >= 0 && memcmp(d->date, date, PT_DATE_LEN) == 0) {
            d->last_use = ++fs->clock;
            *out = d;
            return PT_OK;
        }
        /* Prefer a free slot, else the least recently used one. */
        if (!slot ||
            (slot->fd >= 0 && (d->fd < 0 || d->last_use < slot->last_use)))
            slot = d;
    }
    if (slot->fd >= 0) {
        /* Keep sync()'s promise for the file we stop tracking. */
        if (slot->dirty && fs->fsync_mode != PT__FILE_FSYNC_NEVER &&
            fdatasync(slot->fd) != 0)
            return pt__file_fail_errno(fs, errno, "cannot fsync day",
                                       slot->date);
        close(slot->fd);
        slot->fd = -1;
        pt__file_replay_keys_drop(fs);
    }
    rc = open_day_fd(fs, date, &slot->fd);
    if (rc != PT_OK)
        return rc;
    memcpy(slot->date, date, PT_DATE_LEN);
    slot->date[PT_DATE_LEN] = '\0';
    slot->dirty = 0;
    slot->last_use = ++fs->clock;
    *out = slot;
    return PT_OK;
}

/* Lock the day file; if purge replaced or removed it while we waited,
 * reopen the path so that nothing is written to an unlinked inode. */
static int
lock_day(pt__file_store *fs, pt__file_day *day, const char *path, int op,
         struct stat *st)
{
    for (int attempt = 0; attempt < PT__FILE_MAX_REOPEN; attempt++) {
        int rc;
        if (pt__file_flock(day->fd, op) != 0)
            return pt__file_fail_errno(fs, errno, "cannot lock", path);
        if (fstat(day->fd, st) != 0) {
            int err = errno;
            pt__file_flock(day->fd, LOCK_UN);
            return pt__file_fail_errno(fs, err, "cannot stat", path);
        }
        if (st->st_nlink > 0)
            return PT_OK;
        pt__file_flock(day->fd, LOCK_UN);
        close(day->fd);
        day->fd = -1;
        pt__file_replay_keys_drop(fs);
        rc = open_day_fd(fs, day->date, &day->fd);
        if (rc != PT_OK) {
            /* Leave the slot unused, not half-initialised. */
            day->date[0] = '\0';
            return rc;
        }
    }
    return pt__file_fail(fs, PT_EIO, "file store: %s keeps being replaced",
                         path);
}

/* Non-zero when the file does not end with '\n': a crash cut a line, and
 * our first record must not be glued to it. */
static int
needs_lead_newline(int fd, const struct stat *st)
{
    char c;
    if (st->st_size <= 0)
        return 0;
    return pread(fd, &c, 1, st->st_size - 1) == 1 && c != '\n';
}

/* Length of a chunk of `data` to give to one write(): everything when it
 * fits, else whole lines up to PT__FILE_MAX_WRITE (or one long line). */
static size_t
chunk_len(const char *data, size_t len)
{
    const char *nl;
    if (len <= PT__FILE_MAX_WRITE)
        return len;
    for (size_t i = PT__FILE_MAX_WRITE; i > 0; i--)
        if (data[i - 1] == '\n')
            return i;
    nl = memchr(data + PT__FILE_MAX_WRITE, '\n', len - PT__FILE_MAX_WRITE);
    return nl ? (size_t)(nl - data) + 1 : len;
}

/* Bytes of `data` up to and including its last '\n' (0: none). */
static size_t
whole_lines(const char *data, size_t len)
{
    while (len > 0 && data[len - 1] != '\n')
        len--;
    return len;
}

/* A short write left `torn` bytes of a partial line at the end of the
 * file.  Cut them off when nobody appended after us, else end them with a
 * '\n' so that the next line starts clean.  Returns PT_OK when we may go
 * on writing to this descriptor. */
static int
isolate_torn(pt__file_store *fs, int fd, int lock_op, size_t torn,
             const char *path)
{
    off_t end = lseek(fd, 0, SEEK_CUR); /* O_APPEND: the end of our data */
    struct stat st;
    ssize_t w;
    int rc = PT_OK;

    /* Converting the lock may let a purge in: checked below. */
    pt__file_flock(fd, LOCK_EX);
    if (fstat(fd, &st) != 0 || st.st_nlink == 0) {
        rc = pt__file_fail(fs, PT_EIO,
                           "file store: %s was replaced during a short write",
                           path);
    } else if (end >= (off_t)torn && st.st_size == end &&
               ftruncate(fd, end - (off_t)torn) == 0) {
        pt__log(PT_LOG_WARN,
                "file store: short write to %s; partial line "
                "removed",
                path);
    } else {
        do
            w = pt__write(fd, "\n", 1);
        while (w < 0 && errno == EINTR);
        pt__log(PT_LOG_WARN,
                "file store: short write to %s; partial line "
                "left as a corrupt line",
                path);
    }
    if (lock_op != LOCK_EX)
        pt__file_flock(fd, lock_op);
    return rc;
}

/* Write `len` bytes of whole lines.  *done receives how many leading bytes
 * are stored as whole lines, even on failure. */
static int
write_lines(pt__file_store *fs, int fd, int lock_op, const char *data,
            size_t len, const char *path, size_t *done)
{
    size_t off = 0;
    int stalls = 0;

    *done = 0;
    while (off < len) {
        size_t chunk = chunk_len(data + off, len - off), keep;
        ssize_t n = pt__write(fd, data + off, chunk);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return pt__file_fail_errno(fs, errno, "cannot append to", path);
        }
        if ((size_t)n == chunk) {
            off += chunk;
            *done = off;
            continue;
        }
        /* Short write: disk full or file size limit, most likely. */
        keep = whole_lines(data + off, (size_t)n);
        if ((size_t)n > keep) {
            int rc = isolate_torn(fs, fd, lock_op, (size_t)n - keep, path);
            if (rc != PT_OK) {
                *done = off + keep;
                return rc;
            }
        }
        off += keep;
        *done = off;
        stalls = keep ? 0 : stalls + 1;
        if (stalls >= 2)
            return pt__file_fail(fs, PT_ENOSPACE,
                                 "file store: cannot append to %s: only %zd "
                                 "of %zu bytes accepted (no space left or "
                                 "file size limit)",
                                 path, n, chunk);
    }
    return PT_OK;
}

static size_t
count_newlines(const char *data, size_t len)
{
    size_t n = 0;
    const char *p = data, *end = data + len;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        n++;
        p++;
    }
    return n;
}

/* Serialise the run into fs->batch after one reserved byte (for a leading
 * '\n').  With `keys`, records already stored are skipped and line_rec[k]
 * receives the index of the record on line k. */
static int
build_lines(pt__file_store *fs, const pt_record *const *recs, size_t n,
            pt__file_keys *keys, size_t *line_rec, size_t *nlines)
{
    pt_buf *b = &fs->batch;
    size_t k = 0;

    pt_buf_clear(b);
    pt_buf_reserve(b, n * 320 + 1);
    pt_buf_putc(b, '\n');
    for (size_t i = 0; i < n; i++) {
        size_t start = b->len;
        pt__record_json(b, recs[i]);
        if (keys && !b->oom) {
            /* Known by the whole line, as the stored ones are. */
            int seen =
                pt__file_keys_check_add(keys, b->ptr + start, b->len - start);
            if (seen < 0)
                return pt__file_fail(fs, PT_ENOMEM, "out of memory");
            if (seen) {
                b->len = start;
                b->ptr[start] = '\0';
                continue;
            }
            line_rec[k] = i;
        }
        pt_buf_putc(b, '\n');
        k++;
    }
    *nlines = k;
    if (b->oom)
        return pt__file_fail(fs, PT_ENOMEM, "out of memory serialising");
    return PT_OK;
}

void
pt__file_replay_keys_drop(pt__file_store *fs)
{
    pt__file_keys_free(fs->replay_keys.keys);
    fs->replay_keys.keys = NULL;
    fs->replay_keys.date[0] = '\0';
}

/* The keys of the day file open on `fd` (exclusively locked; `st` is its
 * fstat): the cached set when it is this file's, with the lines appended
 * since read now; else a full read.  Owned by the cache. */
static int
replay_keys_get(pt__file_store *fs, const char *date, int fd, const char *path,
                const struct stat *st, pt__file_keys **out)
{
    int rc;

    if (fs->replay_keys.keys &&
        (memcmp(fs->replay_keys.date, date, PT_DATE_LEN) != 0 ||
         fs->replay_keys.dev != st->st_dev ||
         fs->replay_keys.ino != st->st_ino ||
         fs->replay_keys.end > (uint64_t)st->st_size))
        pt__file_replay_keys_drop(fs); /* another day, or purge replaced it */
    if (fs->replay_keys.keys) {
        /* Lines other writers appended since our last replayed write. */
        if (fs->replay_keys.end < (uint64_t)st->st_size) {
            rc = pt__file_keys_scan(fs, fd, path, fs->replay_keys.end,
                                    fs->replay_keys.keys);
            if (rc != PT_OK) {
                pt__file_replay_keys_drop(fs);
                return rc;
            }
        }
    } else {
        rc = pt__file_keys_load(fs, fd, path, &fs->replay_keys.keys);
        if (rc != PT_OK)
            return rc;
        memcpy(fs->replay_keys.date, date, PT_DATE_LEN);
        fs->replay_keys.date[PT_DATE_LEN] = '\0';
        fs->replay_keys.dev = st->st_dev;
        fs->replay_keys.ino = st->st_ino;
    }
    fs->replay_keys.end = (uint64_t)st->st_size;
    *out = fs->replay_keys.keys;
    return PT_OK;
}

/* After a replayed write (the lock still held): the cache now also holds
 * the keys of the lines written, so it covers the file to its new end; a
 * write that failed part-way leaves keys of records that are not there,
 * so the cache goes. */
static void
replay_keys_written(pt__file_store *fs, int fd, int complete)
{
    struct stat st;

    if (!fs->replay_keys.keys)
        return;
    if (!complete || fstat(fd, &st) != 0)
        pt__file_replay_keys_drop(fs);
    else
        fs->replay_keys.end = (uint64_t)st.st_size;
}

/* Append records that all share one date. */
static int
append_run(pt__file_store *fs, const char *date, const pt_record *const *recs,
           size_t n, int replay, size_t *done)
{
    char path[PT__FILE_PATH_MAX];
    pt__file_day *day = NULL;
    pt__file_keys *keys = NULL;
    size_t *line_rec = NULL, nlines = 0, bytes = 0, lines, lead;
    int lock_op = replay ? LOCK_EX : LOCK_SH, rc;
    struct stat st;
    const char *data;

    *done = 0;
    if ((rc = day_file_name(fs, path, sizeof(path), date)) != PT_OK ||
        (rc = get_day(fs, date, &day)) != PT_OK)
        return rc;
    /* Serialise before locking, so the lock is held only for the write. */
    if (!replay && (rc = build_lines(fs, recs, n, NULL, NULL, &nlines)))
        return rc;
    if ((rc = lock_day(fs, day, path, lock_op, &st)) != PT_OK)
        return rc;
    if (replay) {
        line_rec = malloc(n * sizeof(*line_rec));
        if (!line_rec)
            rc = pt__file_fail(fs, PT_ENOMEM, "out of memory");
        if (rc == PT_OK)
            rc = replay_keys_get(fs, date, day->fd, path, &st, &keys);
        if (rc == PT_OK)
            rc = build_lines(fs, recs, n, keys, line_rec, &nlines);
        if (rc != PT_OK)
            pt__file_replay_keys_drop(fs); /* may hold keys not written */
    } else {
        pt__file_replay_keys_drop(fs); /* normal writing again */
    }
    if (rc == PT_OK && nlines > 0) {
        lead = needs_lead_newline(day->fd, &st) ? 1 : 0;
        /* Under a shared lock the "torn" tail may be another appender's
         * write in progress.  Only the exclusive lock (no appender
         * writing) tells a crash's torn line from that; it is rare, so
         * the conversion costs nothing in the common case. */
        if (lead && lock_op == LOCK_SH) {
            lock_op = LOCK_EX;
            rc = lock_day(fs, day, path, lock_op, &st);
            lead = needs_lead_newline(day->fd, &st) ? 1 : 0;
        }
    }
    if (rc == PT_OK && nlines > 0) {
        data = fs->batch.ptr + 1 - lead;
        rc = write_lines(fs, day->fd, lock_op, data, fs->batch.len - 1 + lead,
                         path, &bytes);
        if (bytes > 0)
            day->dirty = 1;
        lines = count_newlines(data, bytes) - (lead && bytes ? 1 : 0);
        if (replay) {
            *done = lines == nlines ? n : line_rec[lines];
            replay_keys_written(fs, day->fd, rc == PT_OK && lines == nlines);
        } else {
            *done = lines;
        }
    } else if (rc == PT_OK) {
        *done = n; /* all of them were already stored */
    }
    pt__file_flock(day->fd, LOCK_UN);
    free(line_rec);
    if (fs->batch.cap > KEEP_BUFFER_BYTES)
        pt_buf_free(&fs->batch);
    return rc;
}

int
pt__file_put(pt_storage *s, const pt_record *const *records, size_t count,
             int replay, size_t *written)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;
    size_t i = 0, ignored;
    int rc;

    if (!written)
        written = &ignored;
    *written = 0;
    if (count > 0 && !records)
        return pt__file_fail(fs, PT_EINVAL, "file store: no records");
    while (i < count) {
        const pt_record *r = records[i];
        size_t j = i + 1, done = 0;
        /* The date names the file: it must be a real date, never a path. */
        if (!r || !r->date || !pt__valid_date(r->date))
            return pt__file_fail(fs, PT_EINVAL,
                                 "file store: record %zu has no valid date", i);
        while (j < count && records[j] && records[j]->date &&
               strcmp(records[j]->date, r->date) == 0)
            j++;
        rc = append_run(fs, r->date, records + i, j - i, replay, &done);
        *written += done;
        if (rc != PT_OK)
            return rc;
        i = j;
    }
    if (fs->fsync_mode == PT__FILE_FSYNC_ALWAYS) {
        rc = pt__file_sync_dirty(fs);
        if (rc != PT_OK) {
            /* Nothing is certain after a failed fsync; the caller replays
             * (idempotently) what it does not see acknowledged. */
            *written = 0;
            return rc;
        }
    }
    return PT_OK;
}
