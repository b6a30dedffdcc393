/*
 * Reading a day file line by line, in bounded memory: a day can hold far
 * more records than fit in memory at once, and a corrupt file may hold a
 * "line" of any length.
 */
/* memrchr */
#define _GNU_SOURCE
#include "storage/file_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FIRST_BUFFER (1u << 20)

typedef struct scanner {
    pt__file_store *fs;
    const char *path;
    char *buf;
    size_t cap;
    size_t have;      /* bytes in buf */
    uint64_t buf_off; /* file offset of buf[0] */
    uint64_t line_no; /* number of the line starting at buf[0] */
    int skipping;     /* inside an overlong line, already reported */
} scanner;

/* Make room when the buffer is full without a newline in it: grow, or
 * give up on the line (report it once, then drop bytes until its end). */
static int
make_room(scanner *sc, pt__file_line_fn fn, void *ctx)
{
    char *bigger;
    if (sc->have < sc->cap)
        return PT_OK;
    if (sc->cap >= PT__FILE_MAX_LINE) {
        if (!sc->skipping) {
            int rc =
                fn(ctx, NULL, 0, sc->line_no, sc->buf_off, PT__LINE_OVERLONG);
            if (rc)
                return rc;
        }
        sc->skipping = 1;
        sc->buf_off += sc->have;
        sc->have = 0;
        return PT_OK;
    }
    bigger = realloc(sc->buf, sc->cap * 2);
    if (!bigger)
        return pt__file_fail(sc->fs, PT_ENOMEM, "out of memory reading %s",
                             sc->path);
    sc->buf = bigger;
    sc->cap *= 2;
    return PT_OK;
}

/* Hand every complete line in the buffer to `fn`, keep the rest. */
static int
deliver_lines(scanner *sc, pt__file_line_fn fn, void *ctx)
{
    size_t start = 0;
    const char *nl;
    int rc = 0;

    while ((nl = memchr(sc->buf + start, '\n', sc->have - start)) != NULL) {
        size_t len = (size_t)(nl - (sc->buf + start));
        if (sc->skipping)
            sc->skipping = 0; /* the overlong line ends here */
        else if (len > 0)
            rc = fn(ctx, sc->buf + start, len, sc->line_no, sc->buf_off + start,
                    PT__LINE_TERMINATED);
        sc->line_no++;
        start += len + 1;
        if (rc)
            break;
    }
    if (start > 0) {
        memmove(sc->buf, sc->buf + start, sc->have - start);
        sc->have -= start;
        sc->buf_off += start;
    }
    return rc;
}

int
pt__file_scan(pt__file_store *fs, int fd, const char *path, pt__file_line_fn fn,
              void *ctx)
{
    return pt__file_scan_from(fs, fd, path, 0, fn, ctx);
}

int
pt__file_scan_from(pt__file_store *fs, int fd, const char *path,
                   uint64_t offset, pt__file_line_fn fn, void *ctx)
{
    return pt__file_scan_part(fs, fd, path, offset, UINT64_MAX, fn, ctx);
}

int
pt__file_scan_part(pt__file_store *fs, int fd, const char *path,
                   uint64_t offset, uint64_t end, pt__file_line_fn fn,
                   void *ctx)
{
    scanner sc = {fs, path, NULL, FIRST_BUFFER, 0, offset, 1, 0};
    int rc = PT_OK;

    sc.buf = malloc(sc.cap);
    if (!sc.buf)
        return pt__file_fail(fs, PT_ENOMEM, "out of memory reading %s", path);
    for (;;) {
        ssize_t n;
        size_t want;
        if ((rc = make_room(&sc, fn, ctx)) != PT_OK)
            break;
        want = sc.cap - sc.have;
        if (end - (sc.buf_off + sc.have) < want)
            want = (size_t)(end - (sc.buf_off + sc.have));
        if (want == 0)
            break;
        n = pread(fd, sc.buf + sc.have, want, (off_t)(sc.buf_off + sc.have));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = pt__file_fail_errno(fs, errno, "cannot read", path);
            break;
        }
        if (n == 0)
            break;
        sc.have += (size_t)n;
        if ((rc = deliver_lines(&sc, fn, ctx)) != PT_OK)
            break;
    }
    /* A final line without its newline: torn, or still being written. */
    if (rc == PT_OK && sc.have > 0 && !sc.skipping)
        rc = fn(ctx, sc.buf, sc.have, sc.line_no, sc.buf_off, 0);
    free(sc.buf);
    return rc;
}

/* ---- backwards ------------------------------------------------------------
 *
 * The same lines, last first, reading blocks from the end of the file: a
 * query for the newest records of a day reads the end of its file, not all
 * of it.  buf[0..have) holds the file's bytes [pos, pos + have); the line
 * being assembled ends at buf[have] (exclusive), and `terminated` says
 * whether a '\n' followed it.  Lines are numbered from the end (line_no 0:
 * unknown); `offset` is exact. */

#define REVERSE_BLOCK (256u << 10)

typedef struct rscanner {
    pt__file_store *fs;
    const char *path;
    int fd;
    char *buf;
    size_t cap;
    size_t have;
    uint64_t pos;   /* file offset of buf[0] */
    int terminated; /* the line ending at buf[have] was followed by '\n' */
    int skipping;   /* its start is lost: an overlong line, reported */
} rscanner;

/* Read the block before `pos` in front of what is held. */
static int
read_before(rscanner *sc)
{
    size_t n = sc->pos < REVERSE_BLOCK ? (size_t)sc->pos : REVERSE_BLOCK;
    size_t done = 0;

    if (sc->have + n > sc->cap) {
        size_t cap = sc->cap;
        char *bigger;
        while (cap < sc->have + n)
            cap *= 2;
        bigger = realloc(sc->buf, cap);
        if (!bigger)
            return pt__file_fail(sc->fs, PT_ENOMEM, "out of memory reading %s",
                                 sc->path);
        sc->buf = bigger;
        sc->cap = cap;
    }
    memmove(sc->buf + n, sc->buf, sc->have);
    while (done < n) {
        ssize_t r = pread(sc->fd, sc->buf + done, n - done,
                          (off_t)(sc->pos - n + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return pt__file_fail_errno(sc->fs, errno, "cannot read", sc->path);
        if (r == 0) /* truncated under us (purge replaces, never truncates) */
            return pt__file_fail(sc->fs, PT_EIO, "%s shrank while read",
                                 sc->path);
        done += (size_t)r;
    }
    sc->pos -= n;
    sc->have += n;
    return PT_OK;
}

/* Deliver every line held whose start is known, last first. */
static int
deliver_backwards(rscanner *sc, pt__file_line_fn fn, void *ctx)
{
    for (;;) {
        const char *nl = sc->have ? memrchr(sc->buf, '\n', sc->have) : NULL;
        size_t start = nl ? (size_t)(nl - sc->buf) + 1 : 0;
        int rc = 0;

        if (!nl && sc->pos > 0) {
            if (sc->skipping)
                sc->have = 0; /* still inside the overlong line */
            return PT_OK;     /* the start is in the block before */
        }
        if (sc->skipping) {
            sc->skipping = 0; /* the overlong line starts here */
        } else if (sc->have > start) {
            rc = fn(ctx, sc->buf + start, sc->have - start, 0, sc->pos + start,
                    sc->terminated ? PT__LINE_TERMINATED : 0);
        }
        if (!nl) {
            sc->have = 0;
            return rc; /* the first line of the file */
        }
        sc->have = start - 1; /* drop the line and its '\n' */
        sc->terminated = 1;
        if (rc)
            return rc;
    }
}

int
pt__file_scan_reverse(pt__file_store *fs, int fd, const char *path,
                      pt__file_line_fn fn, void *ctx)
{
    rscanner sc = {fs, path, fd, NULL, REVERSE_BLOCK * 2, 0, 0, 0, 0};
    struct stat st;
    int rc = PT_OK;

    if (fstat(fd, &st) != 0)
        return pt__file_fail_errno(fs, errno, "cannot stat", path);
    sc.pos = (uint64_t)st.st_size;
    sc.buf = malloc(sc.cap);
    if (!sc.buf)
        return pt__file_fail(fs, PT_ENOMEM, "out of memory reading %s", path);
    /* A last line without its '\n' is torn (or being written). */
    if (sc.pos > 0) {
        char last;
        ssize_t r;
        do
            r = pread(fd, &last, 1, (off_t)(sc.pos - 1));
        while (r < 0 && errno == EINTR);
        if (r != 1)
            rc = pt__file_fail_errno(fs, r < 0 ? errno : EIO, "cannot read",
                                     path);
        else if (last == '\n')
            sc.pos--; /* the '\n' ends the last line; it is not a line */
        sc.terminated = last == '\n';
    }
    while (rc == PT_OK && sc.pos > 0) {
        if ((rc = read_before(&sc)) != PT_OK)
            break;
        if ((rc = deliver_backwards(&sc, fn, ctx)) != PT_OK)
            break;
        /* What is left is one line whose start is further back. */
        if (sc.have > PT__FILE_MAX_LINE) {
            if (!sc.skipping &&
                (rc = fn(ctx, NULL, 0, 0, sc.pos, PT__LINE_OVERLONG)) != 0)
                break;
            sc.skipping = 1;
            sc.have = 0;
        }
    }
    if (rc == PT_OK && sc.have > 0)
        rc = deliver_backwards(&sc, fn, ctx);
    free(sc.buf);
    return rc;
}
