/* Spool segments on disk: see spool_file.h. */
#include "pipeline/spool_file.h"

#include "pipeline/spool.h"
#include "record/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK     65536
#define MAX_LINE       (16u * 1024u * 1024u) /* longer: corrupt, skipped */
#define SEGMENT_PREFIX "spool-"
#define SEGMENT_SUFFIX ".log"

/* ---- creation and appends ------------------------------------------------ */

static int
io_error(int err, const char *what, const char *path)
{
    return pt__fail(pt__errno_code(err), "spool: cannot %s %s: %s", what, path,
                    strerror(err));
}

/* The message of the pt__fs_* failure that returned `rc`, as a spool
 * error. */
static int
fs_error(int rc)
{
    return pt__fail(rc, "spool: %s", pt_last_error());
}

int
pt__spool_file_create(const char *dir, const char *tmp_prefix, const char *name,
                      int *fd_out, char **path_out)
{
    pt_buf path = PT_BUF_INIT;
    char tmp[160];
    int dirfd = -1, fd = -1, rc;

    *fd_out = -1;
    *path_out = NULL;
    pt_buf_printf(&path, "%s/%s", dir, name);
    if (path.oom)
        return pt__fail(PT_ENOMEM, "out of memory");
    /* A checked directory, a temporary no one could predict, locked before
     * it gets its name, so that no scanner ever sees an unlocked empty
     * segment; the rename is fsync'd: the new name must survive a crash. */
    rc = pt__fs_open_dir(&dirfd, dir, PT_FS_MKDIR);
    if (rc == PT_OK)
        rc = pt__fs_temp_at(&fd, dirfd, dir, tmp_prefix, tmp, sizeof(tmp));
    if (rc != PT_OK)
        rc = fs_error(rc);
    else if (fcntl(fd, F_SETFL, O_APPEND) != 0) /* appends only */
        rc = io_error(errno, "set up a new segment in", dir);
    else if (flock(fd, LOCK_EX | LOCK_NB) != 0)
        rc = io_error(errno, "lock a new segment in", dir);
    else if ((rc = pt__fs_replace_at(dirfd, dir, tmp, name)) != PT_OK)
        rc = fs_error(rc);
    if (rc != PT_OK) {
        if (fd >= 0) {
            unlinkat(dirfd, tmp, 0);
            close(fd);
        }
        pt_buf_free(&path);
    } else {
        *fd_out = fd;
        *path_out = pt_buf_detach(&path);
    }
    if (dirfd >= 0)
        close(dirfd);
    return rc;
}

int
pt__spool_file_append(int fd, const char *path, uint64_t size, const char *data,
                      size_t len, size_t *kept, int *flags)
{
    size_t done = 0, whole;
    int err = 0;

    *kept = 0;
    *flags = 0;
    while (done < len) {
        ssize_t n = pt__write(fd, data + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    if (!err && fdatasync(fd) != 0)
        err = errno;
    if (!err) {
        *kept = len;
        return PT_OK;
    }
    if (err == EFBIG)
        *flags |= PT__SPOOL_TOO_BIG;
    /* Keep the whole lines that made it (each is checked by its CRC on the
     * way back), cut the rest: never a partial record behind. */
    whole = done;
    while (whole > 0 && data[whole - 1] != '\n')
        whole--;
    if (ftruncate(fd, (off_t)(size + whole)) != 0 || fdatasync(fd) != 0) {
        *flags |= PT__SPOOL_CUT_FAILED;
        whole = 0; /* nothing of this call is certain */
    }
    *kept = whole;
    return io_error(err, "append to", path);
}

/* ---- reading back -------------------------------------------------------- */

static int
batch_push(pt__spool_batch *b, pt_record *record, uint64_t end, size_t max)
{
    if (!b->records) {
        b->records = calloc(max, sizeof(*b->records));
        b->ends = calloc(max, sizeof(*b->ends));
        if (!b->records || !b->ends)
            return pt__fail(PT_ENOMEM, "out of memory");
    }
    b->records[b->count] = record;
    b->ends[b->count] = end;
    b->count++;
    return PT_OK;
}

/* One line without its newline: "<crc hex8> <json>".  NULL when corrupt.
 * The record is read by the fast reader and copied (a quarter of
 * cJSON's cost, which a replay pays for every record before it can write
 * it); cJSON reads what the fast reader declines. */
static pt_record *
parse_line(pt__record_reader *rd, const char *line, size_t len)
{
    uint32_t want = 0;
    pt_record *record = NULL;

    if (len < 10 || line[8] != ' ')
        return NULL;
    for (int i = 0; i < 8; i++) {
        int v = pt__hex_value(line[i]);
        if (v < 0)
            return NULL;
        want = (want << 4) | (uint32_t)v;
    }
    if (pt__crc32(0, line + 9, len - 9) != want)
        return NULL;
    if (pt__record_read_fast(rd, line + 9, len - 9, 0) == PT_OK)
        return pt__record_dup(&record, &rd->record) == PT_OK ? record : NULL;
    if (pt__record_parse_json(&record, line + 9, len - 9) != PT_OK)
        return NULL;
    return record;
}

static int
take_line(pt__spool_batch *out, pt__record_reader *rd, const char *path,
          const char *line, size_t len, uint64_t start, size_t max)
{
    pt_record *record = parse_line(rd, line, len);
    if (!record) {
        pt__log(PT_LOG_WARN,
                "spool %s: corrupt record at byte %" PRIu64 " skipped", path,
                start);
        return PT_OK;
    }
    if (batch_push(out, record, start + len + 1, max) != PT_OK) {
        pt__record_free(record);
        return PT_ENOMEM;
    }
    return PT_OK;
}

int
pt__spool_file_read(int fd, const char *path, uint64_t offset, uint64_t limit,
                    size_t max, pt__spool_batch *out)
{
    char *chunk = malloc(READ_CHUNK);
    pt_buf line = PT_BUF_INIT; /* a line split across chunks */
    pt__record_reader rd;
    uint64_t pos = offset, line_start = offset;
    int rc = chunk ? PT_OK : pt__fail(PT_ENOMEM, "out of memory");

    memset(out, 0, sizeof(*out));
    memset(&rd, 0, sizeof(rd));
    while (rc == PT_OK && out->count < max) {
        size_t want = READ_CHUNK;
        ssize_t n;
        if (limit != UINT64_MAX && limit - pos < want)
            want = (size_t)(limit - pos);
        n = want ? pread(fd, chunk, want, (off_t)pos) : 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = io_error(errno, "read", path);
            break;
        }
        if (n == 0) {
            out->eof = 1;
            break;
        }
        size_t used = 0;
        while (used < (size_t)n && out->count < max && rc == PT_OK) {
            const char *nl = memchr(chunk + used, '\n', (size_t)n - used);
            size_t piece = nl ? (size_t)(nl - chunk) - used : (size_t)n - used;
            if (line.len + piece <= MAX_LINE)
                pt_buf_put(&line, chunk + used, piece);
            used += piece;
            if (!nl)
                break;
            used++; /* the newline */
            rc = take_line(out, &rd, path, line.ptr ? line.ptr : "", line.len,
                           line_start, max);
            line_start = pos + used;
            pt_buf_clear(&line);
        }
        pos += used;
        if (line.oom)
            rc = pt__fail(PT_ENOMEM, "out of memory");
    }
    if (out->eof && pos > line_start)
        pt__log(PT_LOG_WARN,
                "spool %s: torn record at byte %" PRIu64 " ignored", path,
                line_start);
    out->scan_end = line_start;
    pt__record_reader_free(&rd);
    pt_buf_free(&line);
    free(chunk);
    if (rc != PT_OK) {
        for (size_t i = 0; i < out->count; i++)
            pt__record_free(out->records[i]);
        pt__spool_batch_free(out);
    }
    return rc;
}

void
pt__spool_batch_free(pt__spool_batch *b)
{
    free(b->records);
    free(b->ends);
    memset(b, 0, sizeof(*b));
}

/* ---- progress files ------------------------------------------------------ */

int
pt__spool_file_save_offset(const char *path, uint64_t offset)
{
    char dir[4096], name[256], off[272], tmp[300], prefix[280];
    char text[24];
    int dirfd = -1, fd = -1, len, rc;

    len = snprintf(text, sizeof(text), "%" PRIu64 "\n", offset);
    rc = pt__fs_split(path, dir, sizeof(dir), name, sizeof(name));
    if (rc == PT_OK) {
        snprintf(off, sizeof(off), "%s.off", name);
        snprintf(prefix, sizeof(prefix), ".%s.off.tmp-", name);
        rc = pt__fs_open_dir(&dirfd, dir, 0);
    }
    if (rc == PT_OK)
        rc = pt__fs_temp_at(&fd, dirfd, dir, prefix, tmp, sizeof(tmp));
    if (rc != PT_OK) {
        rc = fs_error(rc);
    } else {
        if (pt__write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0)
            rc = io_error(errno ? errno : EIO, "write the progress of", path);
        /* No directory fsync: a rename lost in a crash only means an older
         * offset, and replay is idempotent. */
        else if (renameat(dirfd, tmp, dirfd, off) != 0)
            rc = io_error(errno, "save the progress of", path);
        close(fd);
        if (rc != PT_OK)
            unlinkat(dirfd, tmp, 0);
    }
    if (dirfd >= 0)
        close(dirfd);
    if (rc != PT_OK)
        pt__log(PT_LOG_WARN, "%s", pt_last_error());
    return rc;
}

int
pt__spool_offset_parse(const char *text, size_t len, uint64_t *out)
{
    uint64_t value = 0;
    size_t i = 0;

    if (len > 0 && text[len - 1] == '\n')
        len--;
    if (len == 0)
        return -1;
    for (; i < len; i++) {
        unsigned d = (unsigned)(text[i] - '0');
        if (d > 9 || value > (UINT64_MAX - d) / 10)
            return -1;
        value = value * 10 + d;
    }
    *out = value;
    return 0;
}

/* The offset in `<path>.off`, checked against the segment open on `fd`: a
 * line start within it.  Anything else (unreadable, not a number, past the
 * end, inside a line) is reported and means "from the start": replay is
 * idempotent, so replaying again costs time, never a record, whereas
 * trusting a bad offset would skip records or fail every replay. */
static uint64_t
load_offset(const char *path, int fd)
{
    char text[32];
    pt_buf off = PT_BUF_INIT;
    const char *problem = NULL;
    uint64_t value = 0;
    struct stat st;
    ssize_t n = -1;
    int ofd = -1, rc;

    pt_buf_printf(&off, "%s.off", path);
    /* Never a link, a FIFO or a device (pt__fs_open_path). */
    rc = off.oom ? PT_ENOMEM : pt__fs_open_path(&ofd, off.ptr, O_RDONLY, 0);
    if (rc != PT_OK) {
        if (rc != PT_ENOTFOUND && rc != PT_ENOMEM) {
            pt__log(PT_LOG_WARN, "spool: %s", pt_last_error());
            problem = "cannot be read";
        }
    } else {
        do
            n = read(ofd, text, sizeof(text));
        while (n < 0 && errno == EINTR);
        close(ofd);
        if (n < 0)
            problem = "cannot be read";
        else if ((size_t)n == sizeof(text) ||
                 pt__spool_offset_parse(text, (size_t)n, &value) != 0)
            problem = "does not hold a byte offset";
    }
    if (!problem && value > 0) {
        char c = 0;
        if (fstat(fd, &st) != 0 || value > (uint64_t)st.st_size)
            problem = "points past the end of the segment";
        else if (pread(fd, &c, 1, (off_t)(value - 1)) != 1 || c != '\n')
            problem = "does not point at the start of a record";
    }
    if (problem) {
        pt__log(PT_LOG_WARN,
                "spool %s: the progress file %s; replaying the segment from "
                "its start (replay is idempotent)",
                off.oom ? path : off.ptr, problem);
        value = 0;
    }
    pt_buf_free(&off);
    return value;
}

void
pt__spool_file_unlink(const char *path)
{
    pt_buf off = PT_BUF_INIT;

    unlink(path);
    pt_buf_printf(&off, "%s.off", path);
    if (!off.oom)
        unlink(off.ptr);
    pt_buf_free(&off);
}

/* ---- directory ----------------------------------------------------------- */

static int
is_segment_name(const char *name)
{
    size_t len = strlen(name), plen = strlen(SEGMENT_PREFIX),
           slen = strlen(SEGMENT_SUFFIX);
    return len > plen + slen && strncmp(name, SEGMENT_PREFIX, plen) == 0 &&
           strcmp(name + len - slen, SEGMENT_SUFFIX) == 0;
}

int
pt__spool_file_list(const char *dir, char ***names_out, size_t *count_out)
{
    char **names = NULL;
    size_t count = 0, cap = 0;
    struct dirent *e;
    DIR *d = NULL;
    int fd, rc = pt__fs_open_dir(&fd, dir, 0);

    *names_out = NULL;
    *count_out = 0;
    if (rc != PT_OK)
        return rc == PT_ENOTFOUND ? PT_OK : fs_error(rc);
    if (!(d = fdopendir(fd))) {
        int err = errno;
        close(fd);
        return io_error(err, "open", dir);
    }
    while ((e = readdir(d)) != NULL) {
        if (!is_segment_name(e->d_name))
            continue;
        if (count == cap) {
            char **grown =
                realloc(names, (cap ? cap * 2 : 16) * sizeof(*names));
            if (!grown)
                break;
            names = grown;
            cap = cap ? cap * 2 : 16;
        }
        if ((names[count] = pt__strdup(e->d_name)) != NULL)
            count++;
    }
    closedir(d);
    *names_out = names;
    *count_out = count;
    return PT_OK;
}

/* Open a segment for replay or counting.  A segment that is a link, a
 * FIFO, a device (which would hang or never end) or, for replay, a hard
 * link is refused and reported; one that is gone is not. */
static int
open_segment(const char *path, int oflags, int *fd)
{
    int rc = pt__fs_open_path(fd, path, oflags, 0);
    if (rc != PT_OK && rc != PT_ENOTFOUND) {
        rc = fs_error(rc);
        pt__log(PT_LOG_WARN, "%s; not replayed", pt_last_error());
    }
    return rc;
}

int
pt__spool_file_locked_by_other(const char *path)
{
    int fd, locked, rc = open_segment(path, O_RDONLY, &fd);

    if (rc == PT_ENOTFOUND)
        return 1; /* gone: nothing to replay */
    if (rc != PT_OK)
        return rc; /* refused (reported): not replayed */
    locked = flock(fd, LOCK_SH | LOCK_NB) != 0;
    close(fd);
    return locked;
}

int
pt__spool_file_claim(const char *path, int *fd_out, uint64_t *offset)
{
    struct stat st;
    int fd, rc = open_segment(path, O_RDWR, &fd);

    *fd_out = -1;
    *offset = 0;
    if (rc != PT_OK)
        return rc;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        close(fd);
        return PT_EEXIST;
    }
    /* Replayed and removed by someone else while we waited for the lock. */
    if (fstat(fd, &st) != 0 || st.st_nlink == 0) {
        close(fd);
        return PT_ENOTFOUND;
    }
    *offset = load_offset(path, fd);
    *fd_out = fd;
    return PT_OK;
}

int
pt__spool_file_pending(const char *dir, const char *name, pt_spool_status *out)
{
    pt_buf path = PT_BUF_INIT;
    char *chunk = malloc(READ_CHUNK);
    uint64_t offset;
    struct stat st;
    int fd = -1, rc;

    pt_buf_printf(&path, "%s/%s", dir, name);
    if (path.oom || !chunk) {
        pt_buf_free(&path);
        free(chunk);
        return pt__fail(PT_ENOMEM, "out of memory");
    }
    /* A segment that is not a regular file would hang the count (FIFO) or
     * never end it (/dev/zero): refused, and the status says so. */
    rc = pt__fs_open_in(&fd, dir, name, O_RDONLY, 0);
    if (rc != PT_OK && rc != PT_ENOTFOUND) {
        rc = fs_error(rc);
        pt_buf_free(&path);
        free(chunk);
        return rc;
    }
    offset = fd >= 0 ? load_offset(path.ptr, fd) : 0;
    if (fd >= 0 && fstat(fd, &st) == 0 && (uint64_t)st.st_size > offset) {
        /* Complete lines only: a torn tail is not a pending record. */
        uint64_t pos = offset, last_nl = offset;
        ssize_t n;
        while ((n = pread(fd, chunk, READ_CHUNK, (off_t)pos)) > 0) {
            for (ssize_t i = 0; i < n; i++) {
                if (chunk[i] == '\n') {
                    out->pending_records++;
                    last_nl = pos + (uint64_t)i + 1;
                }
            }
            pos += (uint64_t)n;
        }
        out->pending_bytes += last_nl - offset;
    }
    if (fd >= 0)
        close(fd);
    pt_buf_free(&path);
    free(chunk);
    return PT_OK;
}

int
pt__spool_file_each(const char *dir, const char *name, pt_record_fn fn,
                    void *userdata)
{
    pt_buf path = PT_BUF_INIT;
    pt__spool_batch batch;
    uint64_t offset;
    int fd = -1, rc;

    pt_buf_printf(&path, "%s/%s", dir, name);
    if (path.oom)
        return pt__fail(PT_ENOMEM, "out of memory");
    rc = pt__fs_open_in(&fd, dir, name, O_RDONLY, 0);
    if (rc == PT_ENOTFOUND) { /* replayed and removed meanwhile */
        pt_buf_free(&path);
        return PT_OK;
    }
    if (rc != PT_OK) {
        pt_buf_free(&path);
        return fs_error(rc);
    }
    /* Read without the owner's lock: a reader only; the records from the
     * progress offset on are those not yet replayed. */
    offset = load_offset(path.ptr, fd);
    do {
        rc = pt__spool_file_read(fd, path.ptr, offset, UINT64_MAX, 256, &batch);
        for (size_t i = 0; i < batch.count; i++) {
            if (rc == PT_OK && (rc = fn(batch.records[i], userdata)) > 0)
                rc = PT_OK;
            pt__record_free(batch.records[i]);
        }
        offset = batch.scan_end > offset ? batch.scan_end : offset;
        pt__spool_batch_free(&batch);
    } while (rc == PT_OK && !batch.eof && batch.count > 0);
    close(fd);
    pt_buf_free(&path);
    return rc;
}
