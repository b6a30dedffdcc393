/*
 * Lines of a visit file with a bounded buffer.
 *
 * getline() keeps a whole line in memory however long it is, and the JSON
 * tree built from it costs about 40 times more: one hostile 100 MB line
 * took 4 GB.  This reader keeps at most `max` bytes of a line; the rest of
 * a longer line is read and thrown away chunk by chunk, so memory stays
 * bounded by `max` whatever the input, and the lines after it are read as
 * usual.
 *
 * It reads the descriptor with read(2) rather than stdio so that a line is
 * handed over as soon as it has arrived on a pipe.
 */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_BYTES (64 * 1024)

int
cli_lines_init(cli_lines *r, int fd, size_t max,
               const volatile sig_atomic_t *stop)
{
    memset(r, 0, sizeof(*r));
    r->fd = fd;
    r->max = max;
    r->stop = stop;
    r->chunk = malloc(CHUNK_BYTES);
    return r->chunk ? 0 : -1;
}

/* Keep `n` more bytes of the current line, or give the line up as too long
 * (it is then only counted). */
static int
keep(cli_lines *r, const char *bytes, size_t n)
{
    if (r->too_long)
        return 0;
    if (n > r->max - r->len) {
        r->too_long = 1;
        r->len = 0;
        /* What was kept of it is no use: give the memory back. */
        free(r->line);
        r->line = NULL;
        r->cap = 0;
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 256;
        char *grown;
        while (cap < r->len + n + 1)
            cap *= 2;
        if (cap > r->max + 1)
            cap = r->max + 1;
        grown = realloc(r->line, cap);
        if (!grown) {
            errno = ENOMEM;
            return -1;
        }
        r->line = grown;
        r->cap = cap;
    }
    memcpy(r->line + r->len, bytes, n);
    r->len += n;
    r->line[r->len] = '\0';
    return 0;
}

/* Refill the chunk.  1: bytes, 0: end of input, -1: error (errno). */
static int
refill(cli_lines *r)
{
    for (;;) {
        ssize_t n = read(r->fd, r->chunk, CHUNK_BYTES);
        if (n > 0) {
            r->pos = 0;
            r->end = (size_t)n;
            return 1;
        }
        if (n == 0)
            return 0;
        if (errno != EINTR || (r->stop && *r->stop))
            return -1;
    }
}

int
cli_lines_next(cli_lines *r)
{
    r->len = 0;
    r->length = 0;
    r->too_long = 0;
    if (r->line)
        r->line[0] = '\0';
    for (;;) {
        const char *start, *nl;
        size_t take;
        int rc;

        if (r->pos == r->end) {
            rc = refill(r);
            if (rc < 0)
                return -1;
            if (rc == 0) /* a last line without its newline counts too */
                return r->length > 0 ? 1 : 0;
        }
        start = r->chunk + r->pos;
        nl = memchr(start, '\n', r->end - r->pos);
        take = nl ? (size_t)(nl - start) : r->end - r->pos;
        if (keep(r, start, take) != 0)
            return -1;
        r->length += take;
        r->pos += take + (nl ? 1 : 0);
        if (nl)
            return 1;
    }
}

void
cli_lines_free(cli_lines *r)
{
    free(r->line);
    free(r->chunk);
    r->line = NULL;
    r->chunk = NULL;
}
