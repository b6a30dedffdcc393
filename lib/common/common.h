/*
 * Internal helpers shared by every layer: errors, logging, growable
 * buffers, UTF-8 and time.  Nothing here is exported.
 */
#ifndef PT_COMMON_H
#define PT_COMMON_H

#include "privtrack.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#if defined(__GNUC__)
#define PT__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define PT__PRINTF(f, a)
#endif

/* ---- errors -------------------------------------------------------------- */

/** Set the calling thread's last error detail (pt_last_error()) and return
 *  `code`, so that `return pt__fail(PT_EIO, "...")` reads naturally. */
int pt__fail(int code, const char *fmt, ...) PT__PRINTF(2, 3);

/** Clear the calling thread's last error. */
void pt__clear_error(void);

/** Format into a fixed buffer (always NUL-terminated, truncated if long). */
void pt__snprintf(char *dst, size_t size, const char *fmt, ...)
    PT__PRINTF(3, 4);

/* ---- logging ------------------------------------------------------------- */

/** Non-zero when a line at `level` would be delivered (cheap check). */
int pt__log_enabled(pt_log_level level);

/** Deliver one formatted line to the application's callback, if any. */
void pt__log(pt_log_level level, const char *fmt, ...) PT__PRINTF(2, 3);

/* ---- growable buffer ----------------------------------------------------- */

/** A growable byte buffer, always NUL-terminated when ptr != NULL.  On
 *  allocation failure `oom` is set and later appends are ignored, so callers
 *  check once at the end. */
typedef struct pt_buf {
    char *ptr;
    size_t len;
    size_t cap;
    int oom;
} pt_buf;

#define PT_BUF_INIT                                                            \
    {                                                                          \
        NULL, 0, 0, 0                                                          \
    }

int pt_buf_reserve(pt_buf *b, size_t extra);
void pt_buf_put(pt_buf *b, const void *data, size_t len);
void pt_buf_puts(pt_buf *b, const char *s);
void pt_buf_putc(pt_buf *b, char c);
/** Append v in decimal (no printf: this is on the write path). */
void pt_buf_put_i64(pt_buf *b, int64_t v);
void pt_buf_printf(pt_buf *b, const char *fmt, ...) PT__PRINTF(2, 3);
void pt_buf_vprintf(pt_buf *b, const char *fmt, va_list ap) PT__PRINTF(2, 0);
/** Append a JSON string literal (quotes included) for `len` bytes of `s`;
 *  invalid UTF-8 is replaced by U+FFFD, control characters escaped. */
void pt_buf_json_string(pt_buf *b, const char *s, size_t len);
void pt_buf_clear(pt_buf *b);
void pt_buf_free(pt_buf *b);
/** Hand the buffer's memory to the caller (free with free()); resets b. */
char *pt_buf_detach(pt_buf *b);

/* ---- retry backoff (backoff.c) --------------------------------------------
 */

/** How much of a backoff is random.  FULL: any delay in [0, ceiling], so
 *  many clients retrying at once spread out the most (the DynamoDB
 *  client's retries).  HALF: [ceiling / 2, ceiling], a floor that never
 *  retries at once (the writer probing a store that is down). */
typedef enum pt__jitter { PT__JITTER_FULL, PT__JITTER_HALF } pt__jitter;

/** A jitter state for pt__backoff(), never 0: from the clock, the pid and
 *  the address of its `owner`, so that processes and instances started
 *  together do not draw in step.  Spread, not secrecy. */
uint64_t pt__backoff_seed(const void *owner);

/** The delay before retry `attempt` (1, 2, ...): capped exponential,
 *  ceiling = min(cap, base x 2^(attempt - 1)), jittered as `jitter` says,
 *  in the unit of base and cap.  Advances *state; one state per thread (or
 *  under its owner's lock). */
uint64_t pt__backoff(uint64_t *state, unsigned int attempt, uint64_t base,
                     uint64_t cap, pt__jitter jitter);

/* ---- UTF-8 ----------------------------------------------------------------
 */

/** Length of the valid UTF-8 sequence starting at s[0] (1-4), or 0 when the
 *  bytes there are not valid UTF-8 (overlongs, surrogates, > U+10FFFF,
 *  truncated sequences all count as invalid). */
size_t pt__utf8_seq_len(const unsigned char *s, size_t avail);

/** Length of the leading ASCII run of `len` bytes at `s` (eight bytes at
 *  a time). */
size_t pt__ascii_prefix(const char *s, size_t len);

/** Non-zero when `len` bytes at `s` are valid UTF-8. */
int pt__utf8_valid(const char *s, size_t len);

/** Append `len` bytes of `s` to `b`, replacing each invalid byte with U+FFFD
 *  and stopping before `max_bytes` output bytes (0: no limit) at a character
 *  boundary.  Returns non-zero when the input was changed (replaced or
 *  cut). */
int pt__utf8_sanitize(pt_buf *b, const char *s, size_t len, size_t max_bytes);

/* ---- strings ---------------------------------------------------------------
 */

int pt__strcasecmp(const char *a, const char *b);
int pt__strncasecmp(const char *a, const char *b, size_t n);
char *pt__strdup(const char *s);
char *pt__strndup(const char *s, size_t n);

/* ---- files ----------------------------------------------------------------
 */

/* ---- safe file access (fs.c) ----------------------------------------------
 *
 * privtrack often runs as root in directories other users can reach.  Every
 * file the library or the CLI creates, writes or appends to, and every file
 * it reads from a store, spool or key location, is opened through these
 * helpers; plain open()/fopen()/mkdir()/rename() on such paths is a bug.
 *
 * Directories (pt__fs_open_dir) are opened one component at a time from
 * "/" (a relative path is taken from the working directory, getcwd()), and
 * every directory passed through is checked:
 *  - its owner is root or the effective user;
 *  - it is not writable by group or others, except that a directory on the
 *    way (not the last one) may be if it is sticky, like /tmp: others cannot
 *    replace what they do not own there.  The last directory (the store,
 *    spool or key directory itself) gets no sticky excuse;
 *  - a symbolic link on the way is followed only when root or the effective
 *    user owns it (it sits in a directory that passed, so nobody else could
 *    have put it there); the directory it leads to is checked, the
 *    directories its target passes through are not.
 * With PT_FS_MKDIR missing directories are created 0700.  PT_FS_ANY_DIR
 * skips the checks and opens the directory as the system resolves it: for
 * the directory of a file the operator named (an export, the audit output,
 * a policy), which may well be a shared one; the file itself is still
 * opened by pt__fs_open_at's rules.
 *
 * Files (pt__fs_open_at and the conveniences built on it) are opened
 * relative to a directory descriptor, by a name without '/':
 *  - never through a symbolic link (O_NOFOLLOW; PT_FS_FOLLOW_OWNED allows a
 *    link owned by root or the effective user, for read-only files the
 *    operator configured, such as key_file);
 *  - never anything but a regular file: the name is lstat'ed first so that a
 *    device is not even opened, the open is O_NONBLOCK so that a FIFO
 *    cannot hang it, and the descriptor is fstat'ed again; O_NONBLOCK is
 *    cleared before it is returned;
 *  - when opened for writing, the file has one link (a planted hard link to
 *    another file is refused), and O_TRUNC is applied only after the checks;
 *  - created 0600 (with O_CREAT; O_EXCL as the caller asks), close-on-exec.
 * Temporary files (pt__fs_temp_at) get unpredictable names (getrandom) and
 * O_EXCL; pt__fs_replace_at renames one over its target and fsyncs the
 * directory, so readers see the old file or the new one.
 *
 * Recipes.  Append to a file of a store: pt__fs_open_in(&fd, store, name,
 * O_RDWR | O_APPEND | O_CREAT, PT_FS_MKDIR).  Read one: pt__fs_open_in(&fd,
 * store, name, O_RDONLY, 0) (PT_ENOTFOUND: none).  Write one atomically:
 * pt__fs_open_dir(&dirfd, store, PT_FS_MKDIR), pt__fs_temp_at(&fd, dirfd,
 * store, ".name.tmp-", tmp, sizeof(tmp)), write and fsync(fd), then
 * pt__fs_replace_at(dirfd, store, tmp, name), or unlinkat(dirfd, tmp, 0)
 * on failure.  Read a file the operator configured (a key): pt__fs_open_path
 * (&fd, path, O_RDONLY, PT_FS_FOLLOW_OWNED), then pt__fs_check_owner.
 *
 * Every helper returns PT_OK; PT_ENOTFOUND when the path does not exist
 * (and is not to be created); PT_EACCESS when it is refused as unsafe, with
 * a message naming the path, what is wrong and what to run to fix it;
 * PT_ENOSPACE or PT_EIO for other errors (the errno text); PT_EINVAL for a
 * path too long.  The message is the thread's pt_last_error(); helpers never
 * log.  They keep no state: any thread may call them. */

#define PT_FS_MKDIR        0x1 /* create missing directories, 0700 */
#define PT_FS_ANY_DIR      0x2 /* an operator-named directory: unchecked */
#define PT_FS_FOLLOW_OWNED 0x4 /* the file may be a link owned by root/euid */

/** Open directory `path` (checked as above) as an O_RDONLY|O_DIRECTORY
 *  descriptor in *out, to be closed by the caller.  `flags`: PT_FS_MKDIR,
 *  PT_FS_ANY_DIR. */
int pt__fs_open_dir(int *out, const char *path, int flags);

/** Open `name` (one component) in directory `dirfd` (whose path, `dir`, is
 *  used in messages) with `oflags` (O_RDONLY/O_WRONLY/O_RDWR, O_APPEND,
 *  O_CREAT, O_EXCL, O_TRUNC; O_NOFOLLOW, O_NONBLOCK and O_CLOEXEC are
 *  added).  `flags`: PT_FS_FOLLOW_OWNED.  The descriptor in *out is a
 *  regular file, blocking, close-on-exec. */
int pt__fs_open_at(int *out, int dirfd, const char *dir, const char *name,
                   int oflags, int flags);

/** pt__fs_open_dir(dir, flags) then pt__fs_open_at(name); the directory
 *  descriptor is closed again. */
int pt__fs_open_in(int *out, const char *dir, const char *name, int oflags,
                   int flags);

/** pt__fs_open_in on the directory and last component of `path` (a path
 *  without '/' is in the working directory). */
int pt__fs_open_path(int *out, const char *path, int oflags, int flags);

/** Split `path` into its directory ("." when none) and last component;
 *  PT_EINVAL when it is too long, ends with '/' or has no last component. */
int pt__fs_split(const char *path, char *dir, size_t dir_size, char *name,
                 size_t name_size);

/** Create a new, empty temporary file `<prefix><12 random hex>` in `dirfd`
 *  (O_RDWR, O_EXCL, 0600); its name is copied to `name` (`size` bytes,
 *  at least strlen(prefix) + 13).  Start `prefix` with '.' so that readers
 *  listing the directory skip it. */
int pt__fs_temp_at(int *out, int dirfd, const char *dir, const char *prefix,
                   char *name, size_t size);

/** Rename `from` over `to` in `dirfd` (atomically) and fsync the directory. */
int pt__fs_replace_at(int dirfd, const char *dir, const char *from,
                      const char *to);

/** fsync a directory descriptor (EINVAL, from file systems that cannot, is
 *  not an error). */
int pt__fs_sync_dir(int dirfd, const char *dir);

/** Check who may change the open file `fd` (shown as `what` `path` in
 *  messages): PT_EACCESS unless its owner is root or the effective user and
 *  no bit of `forbidden` (e.g. 077 for a key, 002 for a policy) is set in
 *  its mode. */
int pt__fs_check_owner(int fd, const char *what, const char *path,
                       unsigned int forbidden);

/** write() all `len` bytes, across short writes and EINTR.  0, or -1 with
 *  errno set. */
int pt__write_all(int fd, const void *data, size_t len);

/** read() until end of file or `size` bytes, across short reads and EINTR;
 *  *len gets how many.  0, or -1 with errno set. */
int pt__read_all(int fd, void *buf, size_t size, size_t *len);

/** write(2), except that reaching the file-size limit (RLIMIT_FSIZE) fails
 *  with EFBIG instead of killing the process with SIGXFSZ (write.c).  Every
 *  write the library makes to a file goes through it. */
ssize_t pt__write(int fd, const void *data, size_t len);

/** Block SIGXFSZ on the calling thread for its life (the writer thread),
 *  which makes pt__write() a plain write() there. */
void pt__sigxfsz_block_thread(void);

/** PT_ENOSPACE for ENOSPC, EFBIG and EDQUOT (full disk, file size limit,
 *  quota), PT_EIO for any other errno. */
int pt__errno_code(int err);

/* pt__hex_value(): 0-15 for a hexadecimal digit, else -1. */
#include "hex.h"

/** Decode a key written in hex: `len` bytes at `s`, blanks and line ends
 *  around the digits allowed, into `out` (room for `max_bytes`).  Returns
 *  the number of bytes, or 0 (and `out` wiped) unless the digits are an
 *  even number encoding `min_bytes` to `max_bytes` bytes. */
size_t pt__hex_key_decode(const char *s, size_t len, unsigned char *out,
                          size_t min_bytes, size_t max_bytes);

/** CRC-32 as zlib's crc32(): IEEE 802.3, reflected; `crc` is the value so
 *  far (0 to start).  Spool lines and DynamoDB's x-amz-crc32 header. */
uint32_t pt__crc32(uint32_t crc, const void *data, size_t len);

/* ---- time
 * -------------------------------------------------------------------- */

#define PT_TIMESTAMP_LEN 32 /* "2025-01-15T14:30:00.123456+00:00" */
#define PT_DATE_LEN      10 /* "2025-01-15" */

/** Wall clock, microseconds since the Unix epoch. */
int64_t pt__now_us(void);
/** Monotonic clock in microseconds (for deadlines and backoff). */
int64_t pt__monotonic_us(void);

/** Format a UTC timestamp ("2025-01-15T14:30:00.123456+00:00") into `out`
 *  (PT_TIMESTAMP_LEN + 1 bytes). */
void pt__format_timestamp(char *out, int64_t time_us);
/** Format a UTC date ("2025-01-15") into `out` (PT_DATE_LEN + 1 bytes). */
void pt__format_date(char *out, int64_t time_us);

/** Parse ISO-8601 "YYYY-MM-DD[THH:MM[:SS[.f+]]][Z|±HH:MM|±HHMM|±HH]" (no
 *  offset means UTC) into µs since the epoch, whatever the year (stored
 *  timestamps); pt_time_parse() adds the range of visit times.  PT_EPARSE
 *  when malformed. */
int pt__parse_iso8601(const char *s, int64_t *out_us);

/** Validate "YYYY-MM-DD" (a real calendar date).  Non-zero when valid. */
int pt__valid_date(const char *s);

/** Days since 1970-01-01 of a "YYYY-MM-DD" date: 0, or -1 when it is not
 *  a real calendar date. */
int pt__date_days(const char *s, int64_t *days);

/** Days since 1970-01-01 for a proleptic Gregorian date. */
int64_t pt__days_from_civil(int64_t y, unsigned m, unsigned d);

/** The proleptic Gregorian date of a day number (days since 1970-01-01). */
void pt__civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d);

#endif
