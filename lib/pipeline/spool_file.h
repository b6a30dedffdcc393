/*
 * File-level helpers of the spool (spool.c keeps the bookkeeping): segment
 * creation under a lock, durable appends that never leave a partial record,
 * reading records back with their CRC checked, progress files.
 */
#ifndef PT_PIPELINE_SPOOL_FILE_H
#define PT_PIPELINE_SPOOL_FILE_H

#include "common/common.h"

/** Records read back from a segment. */
typedef struct pt__spool_batch {
    pt_record **records; /* each freed with pt__record_free() */
    uint64_t *ends;      /* byte offset just after each record's line */
    size_t count;
    uint64_t scan_end; /* offset after the last complete line examined */
    int eof;           /* the read reached the end of the valid data */
} pt__spool_batch;

/** Open `dir` (checked, created 0700 with its parents: pt__fs_open_dir),
 *  create a temporary file `<tmp_prefix><random>` (0600, O_EXCL), lock it
 *  with flock(LOCK_EX) and rename it to `name`, so that no scanner ever sees
 *  an unlocked empty segment.  *path is malloc'd "dir/name".  Every file of
 *  the spool (segments, progress files and their temporaries) is opened
 *  through pt__fs_*: a link, a FIFO or a device is refused, never followed
 *  or read. */
int pt__spool_file_create(const char *dir, const char *tmp_prefix,
                          const char *name, int *fd, char **path);

/* pt__spool_file_append() failure details. */
#define PT__SPOOL_TOO_BIG                                                      \
    0x1                          /* EFBIG: the file-size limit; a new file     \
                                    escapes it */
#define PT__SPOOL_CUT_FAILED 0x2 /* a torn tail may remain: append no more */

/** Append `len` bytes of whole lines at the end (the file is `size` bytes
 *  long) and fdatasync.  *kept receives how many leading bytes (whole
 *  lines) are durably there: `len` on success; on failure the lines
 *  written before it, the rest cut off (*flags says what happened).
 *  PT_ENOSPACE (ENOSPC, EFBIG, EDQUOT) or PT_EIO on failure. */
int pt__spool_file_append(int fd, const char *path, uint64_t size,
                          const char *data, size_t len, size_t *kept,
                          int *flags);

/** Read up to `max` records from `offset`, not past `limit` bytes.  Corrupt
 *  lines are skipped with a warning; a torn last line ends the data. */
int pt__spool_file_read(int fd, const char *path, uint64_t offset,
                        uint64_t limit, size_t max, pt__spool_batch *out);

/** Free the arrays of a batch (not the records). */
void pt__spool_batch_free(pt__spool_batch *batch);

/** Persist replay progress: write `<path>.off` atomically. */
int pt__spool_file_save_offset(const char *path, uint64_t offset);

/** Parse a progress file's text: decimal digits, optionally ending with
 *  '\n'.  0 and *out, or -1 (empty, a sign, anything else, or more than
 *  64 bits).  Pure. */
int pt__spool_offset_parse(const char *text, size_t len, uint64_t *out);

/** Remove a segment and its progress file. */
void pt__spool_file_unlink(const char *path);

/** Names of the segments in `dir` ("spool-*.log"); no directory: none. */
int pt__spool_file_list(const char *dir, char ***names, size_t *count);

/** 1 when a live process holds the segment's lock (or it is gone), 0 when
 *  it is free to replay, or the (negative) error of a segment refused as
 *  unsafe (a link, a FIFO, a device: logged as not replayed). */
int pt__spool_file_locked_by_other(const char *path);

/** Open and lock an orphan segment for replay; *offset from its progress
 *  file (a progress file that does not hold the offset of a line start
 *  within the segment is reported and read as 0).  PT_EEXIST when another
 * tracker holds it, PT_ENOTFOUND when it is gone. */
int pt__spool_file_claim(const char *path, int *fd, uint64_t *offset);

/** Hand every record of segment `name` in `dir` not yet replayed to `fn`
 *  (borrowed for the call), without taking the owner's lock: a reader
 *  only.  A segment gone meanwhile has none. */
int pt__spool_file_each(const char *dir, const char *name, pt_record_fn fn,
                        void *userdata);
/** Add the pending records and bytes of segment `name` in `dir` to *out. */
int pt__spool_file_pending(const char *dir, const char *name,
                           pt_spool_status *out);

#endif
