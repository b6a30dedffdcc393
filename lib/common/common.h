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

/* ---- UTF-8 ----------------------------------------------------------------
 */

/** Length of the valid UTF-8 sequence starting at s[0] (1-4), or 0 when the
 *  bytes there are not valid UTF-8 (overlongs, surrogates, > U+10FFFF,
 *  truncated sequences all count as invalid). */
size_t pt__utf8_seq_len(const unsigned char *s, size_t avail);

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

/** mkdir -p, mode 0700 for every directory created (what privtrack stores is
 *  personal).  Returns 0, or the errno of the first failure, with the path
 *  that failed copied into `failed` when it is not NULL. */
int pt__mkdirs(const char *dir, char *failed, size_t failed_size);

/** write() all `len` bytes, across short writes and EINTR.  0, or -1 with
 *  errno set. */
int pt__write_all(int fd, const void *data, size_t len);

/** PT_ENOSPACE for ENOSPC, EFBIG and EDQUOT (full disk, file size limit,
 *  quota), PT_EIO for any other errno. */
int pt__errno_code(int err);

/** 0-15 for a hexadecimal digit of either case, -1 for anything else. */
int pt__hex_value(char c);

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

/** Parse ISO-8601 "YYYY-MM-DD[THH:MM[:SS[.f{1,9}]]][Z|±HH:MM|±HHMM]" (no
 *  offset means UTC) into µs since the epoch.  PT_EPARSE when malformed. */
int pt__parse_iso8601(const char *s, int64_t *out_us);

/** Validate "YYYY-MM-DD" (a real calendar date).  Non-zero when valid. */
int pt__valid_date(const char *s);

/** Days since 1970-01-01 for a proleptic Gregorian date. */
int64_t pt__days_from_civil(int64_t y, unsigned m, unsigned d);

#endif
