/*
 * Reading a day file line by line, in bounded memory: a day can hold far
 * more records than fit in memory at once, and a corrupt file may hold a
 * "line" of any length.
 */
#include "storage/file_store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
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
    scanner sc = {fs, path, NULL, FIRST_BUFFER, 0, 0, 1, 0};
    int rc = PT_OK;

    sc.buf = malloc(sc.cap);
    if (!sc.buf)
        return pt__file_fail(fs, PT_ENOMEM, "out of memory reading %s", path);
    for (;;) {
        ssize_t n;
        if ((rc = make_room(&sc, fn, ctx)) != PT_OK)
            break;
        n = pread(fd, sc.buf + sc.have, sc.cap - sc.have,
                  (off_t)(sc.buf_off + sc.have));
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
