/*
 * The `file` storage backend: one JSON-lines file per UTC date,
 * <dir>/<YYYY-MM-DD>.jsonl, one record per line.
 *
 * Concurrency protocol (threads and processes, on a local file system):
 *  - Appenders open the day file with O_APPEND and write each batch of
 *    lines with a single write() (split only above PT__FILE_MAX_WRITE, at a
 *    line boundary).  Linux serialises O_APPEND writes to a regular file
 *    on the inode lock, so lines of different writers never interleave.
 *  - Appenders hold a shared flock() on the day file around each write;
 *    a rewrite (purge, erasure, removing fields: file_rewrite.c) holds an
 *    exclusive one while it reads the file, writes the replacement and
 *    renames it into place.  After taking its lock an
 *    appender checks that its descriptor still names a linked file
 *    (st_nlink > 0): if purge replaced or removed it meanwhile, the
 *    appender reopens the path and retries, so no line goes to a dead inode.
 *  - A replaying appender (put with replay != 0) takes the lock
 *    exclusively, so that its "already stored?" check and its write are one
 *    step even against other replaying processes.
 *  - Readers (query) take no lock: they read a consistent inode (rename is
 *    atomic) and treat a final line without its newline as torn.
 *  - A torn line is never glued to the next record: a short write is cut
 *    back to the last complete line when nobody appended after it, else
 *    closed with a '\n'; and a writer that finds the file not ending in
 *    '\n' (a crash mid-write) starts its batch with a '\n'.  Blank lines
 *    are ignored by readers.
 * NFS and other network file systems do not give these guarantees.
 * flock() belongs to the open file description, which fork() shares: an
 * instance must not be used on both sides of a fork (open it after).
 * The directory is private (0700) and day files are 0600; both are opened
 * through the checks of common.h (pt__fs_*): a store directory others can
 * write, or a day file that is a link, a FIFO or a device, is refused.
 */
#ifndef PT_FILE_STORE_H
#define PT_FILE_STORE_H

#include "common/common.h"
#include "record/record.h"

#include <sys/types.h>

/** fsync policy ([storage] fsync). */
enum {
    PT__FILE_FSYNC_NEVER = 0,  /* leave it to the kernel */
    PT__FILE_FSYNC_BATCH = 1,  /* in sync(), once per batch (default) */
    PT__FILE_FSYNC_ALWAYS = 2, /* at the end of every put() */
};

/** Open a file store on `dir` without a policy (tests and tools).
 *  Creates nothing.  Free with the methods' close(). */
int pt__file_storage_open_path(pt_storage **out, const char *dir,
                               int fsync_mode);

/* The file store answers PT_STORAGE_CTL_GROUP_COMMIT (privtrack.h) with
 * the records to take per fdatasync; not with fsync = never. */

/** Parse "always" | "batch" | "never"; -1 when unknown. */
int pt__file_fsync_mode(const char *text);

/* ---- shared between the file*.c sources ---------------------------------- */

#define PT__FILE_OPEN_DAYS   4           /* day files kept open */
#define PT__FILE_MAX_WRITE   (4u << 20)  /* bytes per write() */
#define PT__FILE_MAX_LINE    (64u << 20) /* longer lines are corrupt */
#define PT__FILE_LOG_CORRUPT 10          /* lines logged one by one */
/* A day file replaced this many times in a row while an append or a
 * rewrite waited for its lock is an error.  Each replacement is a rewrite
 * (erase, purge) that finished: the waiter is starved, not stuck.  Erases
 * run back to back (a self-service page, a script) replaced one day more
 * than 16 times while a writer waited, which sent its records to the
 * spool (test_subject_stress, about 1 run in 6), or while another erase
 * waited, which failed (test_file_store's
 * test_rewrite_outlasts_replacements).  The bound only ends a loop that
 * others keep feeding. */
#define PT__FILE_MAX_REOPEN 4096

typedef struct pt__file_day {
    char date[PT_DATE_LEN + 1];
    int fd; /* -1: slot unused */
    int dirty;
    uint64_t last_use;
} pt__file_day;

typedef struct pt__file_store {
    pt_storage base;
    char *dir;
    int fsync_mode;
    int dir_dirty; /* a day file was created since the last dir fsync */
    uint64_t clock;
    pt__file_day days[PT__FILE_OPEN_DAYS];
    pt_buf batch; /* reused for the lines of one write */
    /* Replay: the keys of one day file, kept from one put() to the next so
     * that a replay reads each day file once, not once per put (which made
     * replay quadratic).  Valid for the bytes [0, end) of the file with that
     * inode; lines appended since are read before the next check.  Dropped
     * by a failed write, a normal put (the replay is over), purge, close. */
    struct {
        char date[PT_DATE_LEN + 1];
        dev_t dev;
        ino_t ino;
        uint64_t end;
        struct pt__file_keys *keys; /* NULL: none */
    } replay_keys;
    uint64_t keys_lines_read; /* lines parsed for replay keys (tests) */
} pt__file_store;

/** Drop the replay keys cache (also whenever a day file is closed: the
 *  open descriptor is what keeps the cached inode from being reused). */
void pt__file_replay_keys_drop(pt__file_store *fs);

/** Record the failure on the instance and the thread; returns `code`. */
int pt__file_fail(pt__file_store *fs, int code, const char *fmt, ...)
    PT__PRINTF(3, 4);

/** Map an errno from a write path to PT_ENOSPACE or PT_EIO, with the
 *  path and errno text in the message. */
int pt__file_fail_errno(pt__file_store *fs, int err, const char *what,
                        const char *path);

/** "<dir>/<name>" into `out` (`size` bytes); PT_EINVAL when too long. */
int pt__file_path(pt__file_store *fs, char *out, size_t size, const char *name);
#define PT__FILE_PATH_MAX 4096

/** Open the store directory through pt__fs_open_dir (checked, created 0700
 *  when `create`).  PT_ENOTFOUND, without a message, when it does not exist
 *  and `create` is 0; other failures are recorded on the instance. */
int pt__file_open_dir(pt__file_store *fs, int create, int *dirfd);

/** Open the store file `name` through pt__fs_open_at (never a link, a FIFO,
 *  a device or, for writing, a hard-linked file; created 0600).
 *  PT_ENOTFOUND, without a message, when it does not exist and `oflags` has
 *  no O_CREAT; other failures are recorded on the instance. */
int pt__file_open_at(pt__file_store *fs, int dirfd, const char *name,
                     int oflags, int *fd);

/** fsync the store directory (after creating, renaming or unlinking). */
int pt__file_sync_dir(pt__file_store *fs);

/** fsync every day file written since the last sync, and the directory
 *  when a file was created. */
int pt__file_sync_dirty(pt__file_store *fs);

/** Close every cached day file (fsync first unless fsync = never). */
void pt__file_close_days(pt__file_store *fs);

/** flock() that retries on EINTR. */
int pt__file_flock(int fd, int op);

/* Line scanner: calls `fn` for every non-blank line of the file, in order.
 * `line` is not NUL-terminated.  `flags` has PT__LINE_TERMINATED when the
 * line ended with '\n' (a final line without it is torn or still being
 * written) and PT__LINE_OVERLONG when it exceeded PT__FILE_MAX_LINE (then
 * `line` is NULL and `len` is 0).  A non-zero return from `fn` stops the
 * scan and is returned. */
#define PT__LINE_TERMINATED 0x1
#define PT__LINE_OVERLONG   0x2
typedef int (*pt__file_line_fn)(void *ctx, const char *line, size_t len,
                                uint64_t line_no, uint64_t offset, int flags);

int pt__file_scan(pt__file_store *fs, int fd, const char *path,
                  pt__file_line_fn fn, void *ctx);
/** The same from byte `offset` (a line start; line numbers then count from
 *  there). */
int pt__file_scan_from(pt__file_store *fs, int fd, const char *path,
                       uint64_t offset, pt__file_line_fn fn, void *ctx);

/** The lines of [offset, end) only (`end` a line start, or UINT64_MAX:
 *  the end of the file). */
int pt__file_scan_part(pt__file_store *fs, int fd, const char *path,
                       uint64_t offset, uint64_t end, pt__file_line_fn fn,
                       void *ctx);

/** Read the same lines last first, from the end of the file: line_no is 0
 *  (unknown), `offset` is exact.  Stops and returns when `fn` returns
 *  non-zero. */
int pt__file_scan_reverse(pt__file_store *fs, int fd, const char *path,
                          pt__file_line_fn fn, void *ctx);

/** Open `date`'s day file for reading into *fd (path into `path`): -1 when
 *  there is none (or no store yet).  Refuses (PT_EACCESS) anything but a
 *  regular file, and a store directory others may write (pt__fs_open_in). */
int pt__file_open_day(pt__file_store *fs, const char *date, char *path,
                      size_t path_size, int *fd);

/* Turning lines into records (file_range.c): the fast reader first, the
 * cJSON one when it declines; expired records skipped; corrupt lines
 * counted and logged by place. */
typedef struct pt__file_reader {
    pt__file_store *fs;
    const char *path; /* for messages */
    unsigned int fields;
    int64_t now;
    uint64_t corrupt;
    pt__record_reader reader;
} pt__file_reader;

void pt__file_reader_init(pt__file_reader *rd, pt__file_store *fs,
                          unsigned int fields, int64_t now);
/** Hand the line's record to `fn` (borrowed for the call) unless it is
 *  corrupt or expired.  Returns what `fn` returned. */
int pt__file_read_line(pt__file_reader *rd, const char *line, size_t len,
                       uint64_t line_no, uint64_t offset, int flags,
                       pt_record_fn fn, void *userdata);
/** Log the total of corrupt lines of the file just read (past the ones
 *  logged one by one) and reset it. */
void pt__file_reader_done(pt__file_reader *rd);
void pt__file_reader_free(pt__file_reader *rd);

/** The methods (see file*.c). */
int pt__file_put(pt_storage *s, const pt_record *const *records, size_t count,
                 int replay, size_t *written);
int pt__file_query(pt_storage *s, pt_record_list **out, const char *date,
                   size_t limit, int64_t now);
int pt__file_purge(pt_storage *s, int64_t now, uint64_t *removed);
int pt__file_rewrite(pt_storage *s, const pt_rewrite_options *opts,
                     pt_rewrite_fn fn, pt_rewrite_day_fn day, void *userdata);
int pt__file_scan_range(pt_storage *s, const pt_scan_options *opts,
                        pt_record_fn fn, void *userdata);

/* The records already in a day file, each known by a digest of its whole
 * line, for idempotent replay (file_keys.c says why not by timestamp and
 * session id). */
typedef struct pt__file_keys pt__file_keys;
int pt__file_keys_load(pt__file_store *fs, int fd, const char *path,
                       pt__file_keys **out);
/** Add the lines from byte `offset` (a line start) on. */
int pt__file_keys_scan(pt__file_store *fs, int fd, const char *path,
                       uint64_t offset, pt__file_keys *keys);
/** 1 when the line (`len` bytes, without its newline) is present;
 *  otherwise adds it and returns 0; -1 when out of memory. */
int pt__file_keys_check_add(pt__file_keys *keys, const char *line, size_t len);
void pt__file_keys_free(pt__file_keys *keys);

#endif
