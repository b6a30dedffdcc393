/*
 * privtrack — privacy-preserving visit tracking.
 *
 * One header, the whole public API.  Conventions (see STYLE.md):
 *
 *  - Functions return PT_OK (0) or a negative pt_error code.  The static text
 *    for a code is pt_strerror(); the detail of the last failure (what and
 *    where: file:line, HTTP status, errno text) is pt_tracker_errmsg() for a
 *    tracker and pt_last_error() (thread-local) for everything else.
 *  - Constructors are `int pt_x_open(pt_x **out, ...)`; `pt_x_free(NULL)` and
 *    `pt_x_close(NULL)` are no-ops.
 *  - Options structs start with `unsigned int version`; initialise them with
 *    their PT_X_OPTIONS_INIT macro.  Fields are only ever appended.
 *  - Thread safety is stated on every function.  Unless stated otherwise a
 *    handle must not be used by two threads at the same time.
 *  - The library never writes to stdout or stderr on its own; it logs through
 *    the callback set with pt_set_log().
 *  - No raw client address, hash key or AWS secret appears in a log line, an
 *    error message or a stored record unless the policy explicitly keeps it.
 *  - Signals: the library installs no handler and changes no disposition.
 *    Its file writes cannot be killed by the file-size limit (RLIMIT_FSIZE):
 *    SIGXFSZ is blocked in its writer thread, and around each write it makes
 *    on an application's thread (the signal that write raises is consumed),
 *    so such a write fails with EFBIG, which is handled like a full disk:
 *    records go to the spool, which goes on in a new segment when one
 *    reaches the limit.
 */
#ifndef PRIVTRACK_H
#define PRIVTRACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PT_STATIC)
#define PT_EXTERN
#elif defined(PT_BUILDING)
#define PT_EXTERN __attribute__((visibility("default")))
#else
#define PT_EXTERN
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define PT_VERSION_MAJOR  0
#define PT_VERSION_MINOR  1
#define PT_VERSION_PATCH  0
#define PT_VERSION_STRING "0.1.0"

/** The library's version, "MAJOR.MINOR.PATCH".  Static; any thread. */
PT_EXTERN const char *pt_version(void);

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Codes are only ever appended; a value never changes meaning. */
#define PT_ERRNO_MAP(X)                                                        \
    X(OK, 0, "success")                                                        \
    X(EINVAL, -1, "invalid argument")                                          \
    X(ENOMEM, -2, "out of memory")                                             \
    X(EPOLICY, -3, "invalid policy")                                           \
    X(EIO, -4, "input/output error")                                           \
    X(ENOTFOUND, -5, "not found")                                              \
    X(EBACKEND, -6, "storage backend error")                                   \
    X(ECREDENTIALS, -7, "missing or invalid credentials")                      \
    X(ENETWORK, -8, "network error")                                           \
    X(ETIMEDOUT, -9, "timed out")                                              \
    X(EQUEUEFULL, -10, "queue full")                                           \
    X(ECORRUPT, -11, "corrupt data")                                           \
    X(EUNSUPPORTED, -12, "operation not supported")                            \
    X(ECRYPTO, -13, "cryptographic failure")                                   \
    X(EPARSE, -14, "malformed input")                                          \
    X(ETHROTTLED, -15, "request throttled")                                    \
    X(EACCESS, -16, "access denied")                                           \
    X(EEXIST, -17, "already exists")                                           \
    X(ECLOSED, -18, "handle is closed")                                        \
    X(ENOSPACE, -19, "no space left")

typedef enum pt_error {
#define PT__ERRNO_ENUM(name, value, text) PT_##name = value,
    PT_ERRNO_MAP(PT__ERRNO_ENUM)
#undef PT__ERRNO_ENUM
} pt_error;

/** Static text for an error code ("unknown error" for an unknown code).
 *  Never NULL; owned by the library; any thread. */
PT_EXTERN const char *pt_strerror(int code);

/** Symbolic name of an error code ("PT_EINVAL").  Never NULL; static. */
PT_EXTERN const char *pt_err_name(int code);

/** Detail of the last failure on the calling thread, for failures that have
 *  no handle to report on (pt_policy_load_*, pt_tracker_open, ...).  Never
 *  NULL (empty when there is none); valid until the next privtrack call on
 *  this thread.  Thread-local, so any thread. */
PT_EXTERN const char *pt_last_error(void);

/* ------------------------------------------------------------------------ */
/* Logging                                                                  */
/* ------------------------------------------------------------------------ */

typedef enum pt_log_level {
    PT_LOG_DEBUG = 0,
    PT_LOG_INFO = 1,
    PT_LOG_WARN = 2,
    PT_LOG_ERROR = 3,
    PT_LOG_NONE = 4
} pt_log_level;

/** Receives one log line (no trailing newline).  `message` is valid only for
 *  the duration of the call.  May be called from any thread, including the
 *  tracker's writer thread, concurrently: the callback must be thread-safe.
 *  It must not call back into a tracker (the writer may hold its locks). */
typedef void (*pt_log_fn)(pt_log_level level, const char *message,
                          void *userdata);

/** Set the process-wide log callback and the minimum level delivered.
 *  `fn == NULL` silences the library (the default).  Call it before opening
 *  trackers; changing it while trackers run is safe: once pt_set_log()
 *  returns, no line is being delivered to the old callback (so its userdata
 *  may be freed).  The callback must not call pt_set_log() itself.  Any
 *  thread.  fork(): lines other threads were delivering do not exist in the
 *  child, and the child's log is usable at once (a pthread_atfork handler
 *  resets the lock they held). */
PT_EXTERN void pt_set_log(pt_log_fn fn, void *userdata, pt_log_level min_level);

/** Human-readable level name ("debug", "info", "warning", "error"). Static. */
PT_EXTERN const char *pt_log_level_name(pt_log_level level);

/* ------------------------------------------------------------------------ */
/* Policy                                                                   */
/* ------------------------------------------------------------------------ */

/** A loaded policy.  Immutable once loaded: any number of threads and
 *  trackers may share one.  Reference counted: a tracker keeps its own
 *  reference, so the caller may free its policy right after
 *  pt_tracker_open(). */
typedef struct pt_policy pt_policy;

/** Load and validate a policy from an INI file.  On failure *out is NULL and
 *  pt_last_error() names the file and line of the first error.  A policy
 *  decides what is stored, so a file that others may change is refused
 *  with PT_EACCESS: one writable by others, owned by a user other than root
 *  or the effective user, or reached through a symbolic link such a user
 *  owns; so is anything but a regular file (a FIFO would block).
 *  PT_EIO when the file cannot be read.  The caller owns *out and frees it
 *  with pt_policy_free().  Any thread. */
PT_EXTERN int pt_policy_load_file(pt_policy **out, const char *path);

/** As pt_policy_load_file(), from `len` bytes at `text`.  `name` is used in
 *  error messages and in the policy id (NULL: "<memory>").  The buffer is not
 *  kept.  Any thread. */
PT_EXTERN int pt_policy_load_buffer(pt_policy **out, const char *text,
                                    size_t len, const char *name);

/** The built-in default policy (identical to policy/default.ini).  Any
 *  thread. */
PT_EXTERN int pt_policy_load_default(pt_policy **out);

/** The text of the built-in default policy.  Static; any thread. */
PT_EXTERN const char *pt_policy_default_text(void);

/** Called once per problem found by pt_policy_check_*(), in line order;
 *  `line` is 1-based, 0 when the problem is not tied to a line (those come
 *  first; a contradiction between keys names the line of the later key). */
typedef void (*pt_policy_error_fn)(const char *file, unsigned int line,
                                   const char *message, void *userdata);

/** Validate a policy file and report *every* error through `cb` (not only
 *  the first, however many there are; memory does not grow with their
 *  number), including (line 0) what would make pt_policy_load_file()
 *  refuse the file: who may change it, or that it is not a regular file.
 *  Returns PT_OK when the policy is valid, PT_EPOLICY when at least one
 *  error was reported, PT_EIO when the file cannot be read.  Any thread. */
PT_EXTERN int pt_policy_check_file(const char *path, pt_policy_error_fn cb,
                                   void *userdata);

/** As pt_policy_check_file() for a buffer. */
PT_EXTERN int pt_policy_check_buffer(const char *text, size_t len,
                                     const char *name, pt_policy_error_fn cb,
                                     void *userdata);

/** The policy's id: its name plus a short hash of its effective settings,
 *  e.g. "default-3fa2c1d0".  Stored in every record.  Owned by the policy;
 *  any thread. */
PT_EXTERN const char *pt_policy_id(const pt_policy *policy);

/** A setting of the policy as text ("ip", "mode" → "hash"), after defaults
 *  were applied; NULL for an unknown key.  Lets backends and tools read
 *  their section.  Owned by the policy; any thread. */
PT_EXTERN const char *pt_policy_get(const pt_policy *policy,
                                    const char *section, const char *key);

/** Drop a reference.  NULL is a no-op.  Any thread. */
PT_EXTERN void pt_policy_free(pt_policy *policy);

/** Documents that pt_policy_describe() writes from a policy's settings. */
typedef enum pt_policy_document {
    /** The privacy notice for the site's visitors: what is collected and
     *  from where, each transformation in plain words, retention, the
     *  opt-out signals honoured, rights, storage ([notice] names the
     *  controller, contact, purpose and opt-out page). */
    PT_DOC_NOTICE_MARKDOWN = 1,
    /** The same notice as one self-contained HTML page (inline style, a
     *  Content-Security-Policy that loads nothing, all text escaped). */
    PT_DOC_NOTICE_HTML = 2,
    /** The record of processing activities in the shape of GDPR Art. 30(1):
     *  controller, purposes, data subjects, personal data per field as
     *  stored, recipients, transfers, retention, security measures. */
    PT_DOC_RECORD_MARKDOWN = 3,
    /** The same record as one JSON object. */
    PT_DOC_RECORD_JSON = 4
} pt_policy_document;

/** Write `document` for `policy` into *out (NUL-terminated UTF-8; the
 *  caller frees it with pt_free()).  Every statement is derived from the
 *  policy's settings alone; each document says in one line that it is not
 *  legal advice.  Missing [notice] controller or contact (and a DynamoDB
 *  region, for where records are kept) is logged as a warning.  PT_EINVAL
 *  for an unknown document, PT_ENOMEM.  Any thread. */
PT_EXTERN int pt_policy_describe(char **out, const pt_policy *policy,
                                 pt_policy_document document);

/** Check a loaded policy against the rules of a named regime
 *  (pt_policy_regime_name()): every rule that fails is reported through
 *  `cb` as (the file the policy came from, the line of the key to blame or
 *  0 when it was left at its default, "REGIME: message (source)"), where
 *  source cites the published text the rule comes from.  Returns PT_OK when
 *  every rule passes, PT_EPOLICY when at least one failed, PT_EINVAL for an
 *  unknown regime.  The checks test settings against published rules; they
 *  are not legal advice.  Any thread. */
PT_EXTERN int pt_policy_check_regime(const pt_policy *policy,
                                     const char *regime, pt_policy_error_fn cb,
                                     void *userdata);

/** The name of the `index`-th regime pt_policy_check_regime() knows
 *  ("gdpr-baseline", "cnil-exempt", "ccpa"), or NULL past the last one.
 *  Static; any thread. */
PT_EXTERN const char *pt_policy_regime_name(unsigned int index);

/* ------------------------------------------------------------------------ */
/* Key periods                                                              */
/* ------------------------------------------------------------------------ */

/** How often the keys of address pseudonyms rotate ([ip] rotate).  With a
 *  rotation, one visitor has one pseudonym per period: distinct client_ip
 *  values count unique visitors within a period, and counts of several
 *  periods add up to a sum of per-period counts, not to one count. */
typedef enum pt_rotation {
    PT_ROTATE_NEVER = 0,  /* one key for ever */
    PT_ROTATE_DAILY = 1,  /* UTC days */
    PT_ROTATE_WEEKLY = 2, /* weeks from Monday 00:00 UTC */
    PT_ROTATE_MONTHLY = 3 /* calendar months, UTC */
} pt_rotation;

/** "never", "daily", "weekly" or "monthly" ("unknown" otherwise).  Static;
 *  any thread. */
PT_EXTERN const char *pt_rotation_name(pt_rotation rotation);

/** The policy's rotation: PT_ROTATE_NEVER unless [ip] mode = hash rotates
 *  its keys.  Any thread. */
PT_EXTERN pt_rotation pt_policy_rotation(const pt_policy *policy);

/** One key period: the span of time in which one key makes pseudonyms. */
typedef struct pt_key_period {
    pt_rotation rotation;
    int64_t start;       /* first second (Unix time, UTC); INT64_MIN for
                            never */
    int64_t end;         /* first second after it; INT64_MAX for never */
    char first_date[11]; /* its first UTC date, "YYYY-MM-DD" ("" for
                            never) */
    char last_date[11];  /* its last UTC date ("" for never) */
    char name[24];       /* the key's name: rotation and first date,
                            "daily-2025-01-15", "weekly-2025-01-13",
                            "monthly-2025-01-01" ("" for never) */
} pt_key_period;

/** The period of `rotation` that holds `time` (Unix seconds, 1970 to
 *  9999).  A period includes its start and excludes its end: a visit at
 *  23:59:59.999999 belongs to its own day.  PT_EINVAL for a time outside
 *  that range or an unknown rotation.  Pure; any thread. */
PT_EXTERN int pt_key_period_of(pt_rotation rotation, int64_t time,
                               pt_key_period *out);

/* ------------------------------------------------------------------------ */
/* Visits and records                                                       */
/* ------------------------------------------------------------------------ */

typedef struct pt_header {
    const char *name; /* case-insensitive, e.g. "User-Agent" */
    const char *value;
} pt_header;

#define PT_VISIT_VERSION 1

/* The visit times a record can hold, in µs since the Unix epoch (UTC): from
 * just after the epoch (0 in pt_visit.time_us means "now") to the last
 * microsecond of year 9999 (a record's date has a four-digit year).  A visit
 * with a time outside this range is dropped as PT_DROP_INVALID. */
#define PT_TIME_MIN_US INT64_C(1)
#define PT_TIME_MAX_US                                                         \
    INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999Z */

/** Parse an ISO-8601 date-time into µs since the Unix epoch, UTC:
 *  "2025-01-15T14:30:00.123456+00:00", "...Z", "+HH:MM", "+HHMM" or "+HH"
 *  offsets, none meaning UTC, a space for the "T", any number of fraction
 *  digits (microseconds kept), or a bare date "2025-01-15" (midnight UTC).
 *  PT_OK; PT_EPARSE when malformed; PT_EINVAL when the time is outside
 *  PT_TIME_MIN_US..PT_TIME_MAX_US (so every time it accepts, pt_track()
 *  accepts too).  The detail is in pt_last_error().  Any thread. */
PT_EXTERN int pt_time_parse(const char *text, int64_t *out_us);

/** A visit's raw facts.  Everything is borrowed for the duration of
 *  pt_track() only: the library copies what the policy lets it keep. */
typedef struct pt_visit {
    unsigned int version;     /* PT_VISIT_VERSION */
    const char *remote_addr;  /* the TCP peer address; may be NULL */
    const pt_header *headers; /* User-Agent, X-Forwarded-For, DNT, ... */
    size_t header_count;
    const char *const *links; /* submitted URLs */
    size_t link_count;
    const char *const *filenames; /* downloaded files (paths are reduced to
                                      base names) */
    size_t filename_count;
    size_t error_count; /* failed downloads; messages never stored */
    int64_t time_us;    /* visit time, µs since the Unix epoch, UTC;
                           0 = now; else PT_TIME_MIN_US..PT_TIME_MAX_US */
} pt_visit;

#define PT_VISIT_INIT                                                          \
    {                                                                          \
        PT_VISIT_VERSION, NULL, NULL, 0, NULL, 0, NULL, 0, 0, 0                \
    }

/** A stored record, as read back from a backend.  Field names and meanings
 *  are the DynamoDB item's (see DESIGN.md).  Absent strings are NULL. */
typedef struct pt_record {
    const char *date;       /* "YYYY-MM-DD" (UTC) */
    const char *timestamp;  /* "YYYY-MM-DDTHH:MM:SS.ffffff+00:00" */
    const char *session_id; /* "<unix seconds>-<8 hex>" */
    const char *client_ip;  /* after the policy; NULL when dropped */
    const char *user_agent; /* after the policy; NULL when dropped */
    int64_t num_links_submitted;
    int64_t num_files_downloaded;
    const char *const *links;
    size_t link_count;
    const char *const *titles;
    size_t title_count;
    const char *const *filenames;
    size_t filename_count;
    int has_errors;
    int64_t error_count;
    int64_t ttl;        /* Unix seconds; 0 = no ttl */
    const char *policy; /* policy id; NULL for records not written by
                           privtrack */
} pt_record;

/** Serialise one record as a single-line JSON object (no newline).  The
 *  caller frees *out with pt_free().  Any thread. */
PT_EXTERN int pt_record_to_json(char **out, const pt_record *record);

/** A list of records returned by a query, newest first. */
typedef struct pt_record_list {
    pt_record *records;
    size_t count;
} pt_record_list;

/** Free a record list and everything it points to.  NULL is a no-op. */
PT_EXTERN void pt_record_list_free(pt_record_list *list);

/** Free memory the library returned (strings from pt_record_to_json(), ...).
 *  NULL is a no-op. */
PT_EXTERN void pt_free(void *ptr);

/* ---- reading records one by one ----------------------------------------- */

/** Receives one record of a scan (pt_tracker_scan(), a backend's scan()).
 *  `record` and everything it points to are borrowed: valid only until the
 *  callback returns (copy what you keep, e.g. with pt_record_list_append()).
 *  Return PT_OK to go on, PT_SCAN_STOP to end the scan early (the scan then
 *  returns PT_OK), or a negative pt_error code to abort it (the scan returns
 *  that code).  Called on the thread that called the scan. */
typedef int (*pt_record_fn)(const pt_record *record, void *userdata);

#define PT_SCAN_STOP 1

/* Which fields a scan's callback reads (pt_scan_options.fields).  `date`,
 * `timestamp` and `ttl` are always filled; a field not asked for is NULL or
 * 0 in the records handed to the callback, and a backend may skip reading
 * it (DynamoDB's ProjectionExpression, the file store's parser). */
#define PT_FIELD_SESSION_ID 0x01u
#define PT_FIELD_CLIENT_IP  0x02u
#define PT_FIELD_USER_AGENT 0x04u
#define PT_FIELD_COUNTS                                                        \
    0x08u /* num_links_submitted, num_files_downloaded,                        \
             has_errors, error_count */
#define PT_FIELD_LINKS     0x10u
#define PT_FIELD_TITLES    0x20u
#define PT_FIELD_FILENAMES 0x40u
#define PT_FIELD_POLICY    0x80u
#define PT_FIELD_ALL       0xFFu

/* pt_scan_options.flags */
/** Dates from `to` down to `from`, each date's records newest first (the
 *  file store: in reverse order of storage, which is time order except for
 *  records stored late, e.g. imported or replayed from the spool; DynamoDB:
 *  by timestamp).  Without it: dates from `from` up to `to`, each date's
 *  records in stored order (file store) or oldest first (DynamoDB). */
#define PT_SCAN_NEWEST_FIRST 0x1u

#define PT_SCAN_OPTIONS_VERSION 1

/** What a scan reads.  Initialise with PT_SCAN_OPTIONS_INIT; fields are only
 *  ever appended. */
typedef struct pt_scan_options {
    unsigned int version; /* PT_SCAN_OPTIONS_VERSION */
    const char *from;     /* first UTC date, "YYYY-MM-DD" (required) */
    const char *to;       /* last UTC date, inclusive; NULL: `from` */
    size_t limit;         /* stop after this many records; 0: all */
    unsigned int flags;   /* PT_SCAN_* */
    unsigned int fields;  /* PT_FIELD_* the callback reads; 0: all */
    int64_t now;          /* Unix seconds: records whose ttl is before it are
                             skipped (never shown); 0: the clock */
} pt_scan_options;

#define PT_SCAN_OPTIONS_INIT                                                   \
    {                                                                          \
        PT_SCAN_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, 0                        \
    }

/* ------------------------------------------------------------------------ */
/* Tracker                                                                  */
/* ------------------------------------------------------------------------ */

/** A tracker: a policy, a storage backend, a bounded queue and the writer
 *  thread that drains it.  pt_track() may be called from any number of
 *  threads at once; the other functions are documented one by one. */
typedef struct pt_tracker pt_tracker;

/** Why a visit was not recorded. */
typedef enum pt_drop_reason {
    PT_DROP_NONE = 0,       /* accepted */
    PT_DROP_DNT = 1,        /* DNT: 1 honoured */
    PT_DROP_GPC = 2,        /* Sec-GPC: 1 honoured */
    PT_DROP_COOKIE = 3,     /* opt-out cookie present */
    PT_DROP_QUEUE_FULL = 4, /* the queue was full */
    PT_DROP_INVALID = 5,    /* the visit itself was unusable */
    PT_DROP__COUNT = 6
} pt_drop_reason;

/** Name of a drop reason: "none", "dnt", "gpc", "cookie", "queue_full",
 *  "invalid".  Static. */
PT_EXTERN const char *pt_drop_reason_name(pt_drop_reason reason);

/** Receives one audit line (a JSON object, no newline) per visit in dry-run
 *  mode.  Called on the thread that called pt_track(); must be thread-safe
 *  when several threads track. */
typedef void (*pt_audit_fn)(const char *json_line, void *userdata);

#define PT_TRACKER_OPTIONS_VERSION 1

typedef struct pt_tracker_options {
    unsigned int version;     /* PT_TRACKER_OPTIONS_VERSION */
    int dry_run;              /* -1: as the policy says; 0: off; 1: on */
    const char *storage_path; /* overrides [storage] path; NULL: policy */
    pt_audit_fn audit;        /* dry-run sink; NULL: [audit] output (a
                                 file is opened by pt_tracker_open(), which
                                 fails with PT_EACCESS when it is a link,
                                 not a regular file, or another user's;
                                 created 0600) */
    void *audit_userdata;
    size_t queue_capacity;       /* records queued at most; 0: 8192 */
    size_t batch_size;           /* records per backend write; 0: what the
                                    backend asks for (threaded trackers),
                                    else 25 */
    unsigned int batch_delay_ms; /* longest wait to fill a batch; 0: 50 */
    unsigned int block_us;       /* queue full: wait up to this long; 0: never
                                    block (drop, reason queue_full) */
    const char *spool_dir;       /* durable spool; NULL: <storage path>/spool
                                    (storage_path, else [storage] path, else
                                    ./var: also for backends that do not
                                    store in that directory, e.g. DynamoDB) */
    int synchronous;             /* 1: no writer thread; pt_track() writes
                                    through (used by the CLI and tests) */
    int read_only;               /* 1: for query, stats and purge only: no
                                    hash key is loaded or created, no spool
                                    or writer, nothing created on disk;
                                    pt_track(), init and spool replay fail
                                    with PT_EUNSUPPORTED */
} pt_tracker_options;

#define PT_TRACKER_OPTIONS_INIT                                                \
    {                                                                          \
        PT_TRACKER_OPTIONS_VERSION, -1, NULL, NULL, NULL, 0, 0, 0, 0, NULL, 0, \
            0                                                                  \
    }

/** Initialise an options struct (for languages without the macro). */
PT_EXTERN void pt_tracker_options_init(pt_tracker_options *opts);

/** Open a tracker.  Takes its own reference to `policy`.  `opts` may be NULL
 *  (defaults).  Opens the backend named by [storage] backend; in dry-run
 *  mode nothing is created on disk.  The caller owns *out and releases it
 *  with pt_tracker_close().  Any thread; in a pre-forking server open
 *  trackers in the child processes, after fork(). */
PT_EXTERN int pt_tracker_open(pt_tracker **out, const pt_policy *policy,
                              const pt_tracker_options *opts);

/** The outcome of one pt_track() call. */
typedef struct pt_track_result {
    pt_drop_reason dropped; /* PT_DROP_NONE when accepted */
    char session_id[24];    /* the record's session id when accepted */
} pt_track_result;

/** Apply the policy to `visit` and queue the resulting record.  Never blocks
 *  (unless block_us is set) and never fails the caller's request: returns
 *  PT_OK when the visit was accepted *or* dropped by policy or a full queue
 *  (see `result`, optional), a negative code only for a NULL argument or a
 *  closed tracker.  Any number of threads at once. */
PT_EXTERN int pt_track(pt_tracker *tracker, const pt_visit *visit,
                       pt_track_result *result);

/* A visit packed into one buffer, for callers to whom every pointer and
 * every argument of a foreign call is costly (Python's ctypes, other FFIs):
 * a pt_packed_visit, then the visit's strings, each NUL-terminated, in this
 * order: remote_addr (when PT_PACKED_VISIT_REMOTE_ADDR is set), the header
 * names, the header values (in the names' order), the links, the file
 * names.  The buffer ends
 * with the last string's NUL.  All in native byte order; the buffer need
 * not be aligned. */
#define PT_PACKED_VISIT_VERSION     1
#define PT_PACKED_VISIT_REMOTE_ADDR 0x1u /* flags: remote_addr comes first */

typedef struct pt_packed_visit {
    uint32_t version;        /* PT_PACKED_VISIT_VERSION */
    uint32_t flags;          /* PT_PACKED_VISIT_REMOTE_ADDR or 0 */
    uint32_t header_count;   /* name/value pairs */
    uint32_t link_count;     /* links */
    uint32_t filename_count; /* file names */
    uint32_t reserved;       /* 0 */
    uint64_t error_count;    /* as pt_visit.error_count */
    int64_t time_us;         /* as pt_visit.time_us (0 = now) */
} pt_packed_visit;           /* 40 bytes, no padding */

/** pt_track() of the visit packed in `buf` (`len` bytes, the header
 *  included).  The strings are read in place and borrowed for the duration
 *  of the call only; nothing at or past buf + len is read.  PT_EINVAL (the
 *  detail in pt_last_error(); nothing is tracked or counted) when `buf` is
 *  NULL or shorter than the header, the version is not
 *  PT_PACKED_VISIT_VERSION, an unknown flag or a non-zero reserved field is
 *  set, an error count does not fit a size_t, or the strings do not match
 *  the counts exactly: one not terminated before `len`, a NUL inside one
 *  (an extra string), bytes after the last.  Otherwise as pt_track(),
 *  including its other return codes.  Any number of threads at once. */
PT_EXTERN int pt_track_packed(pt_tracker *tracker, const void *buf, size_t len,
                              pt_track_result *result);

/** Wait until every record accepted before the call is written to the
 *  backend or the spool, at most `timeout_ms`.  PT_OK means every such
 *  record is stored or durably spooled ("acknowledged").  PT_ETIMEDOUT when
 *  the deadline passed first; PT_ENOSPACE or PT_EIO when records could be
 *  neither stored nor spooled (they stay in memory and are retried; the
 *  detail is in pt_tracker_errmsg()).  Any thread. */
PT_EXTERN int pt_tracker_flush(pt_tracker *tracker, unsigned int timeout_ms);

/** Flush (bounded by `timeout_ms`), stop the writer, close the backend and
 *  free the tracker.  Records not written by the deadline are spooled, to be
 *  replayed by the next tracker that opens the same spool directory.
 *  Returns PT_OK, PT_ETIMEDOUT when the backend hung past the deadline (the
 *  tracker is still released; a writer stuck in the backend frees it when
 *  the call returns), or PT_ENOSPACE / PT_EIO when records could be neither
 *  stored nor spooled (they are counted as failures).  NULL is a no-op.
 *  Must not race with other calls on the same tracker. */
PT_EXTERN int pt_tracker_close(pt_tracker *tracker, unsigned int timeout_ms);

/** Detail of the tracker's last failure ("" when none).  Owned by the
 *  tracker, valid until its next failure.  Any thread. */
PT_EXTERN const char *pt_tracker_errmsg(const pt_tracker *tracker);

/** Counters since the tracker opened.  Any thread; read atomically field by
 *  field. */
typedef struct pt_counters {
    uint64_t accepted;
    uint64_t dropped[PT_DROP__COUNT]; /* indexed by pt_drop_reason */
    uint64_t stored;
    uint64_t spooled;
    uint64_t replayed;
    uint64_t retries;
    uint64_t failures;
    /* Visits recorded without client_ip because their period had no key
     * ([ip] rotate): it was destroyed (older than every live key), or it
     * could not be had (the key store unreachable, a future date).  Never
     * stored raw or hashed with another period's key. */
    uint64_t ip_key_expired;
    uint64_t ip_key_unavailable;
} pt_counters;

PT_EXTERN int pt_tracker_counters(const pt_tracker *tracker, pt_counters *out);

/** Records of one UTC date ("YYYY-MM-DD"), newest first, at most `limit`
 *  (0: no limit).  Expired records (ttl < now) are not returned, nor a
 *  field past its own retention ([retention] <field>_days of the tracker's
 *  policy, counted from the visit): it reads as absent.  The
 *  caller frees *out with pt_record_list_free().  Must not race with
 *  pt_tracker_close(); otherwise any thread. */
PT_EXTERN int pt_tracker_query(pt_tracker *tracker, pt_record_list **out,
                               const char *date, size_t limit);

/** Hand every record of the dates `opts->from`..`opts->to` to `fn`, one at a
 *  time, in the order `opts->flags` asks for, skipping expired records and
 *  leaving out every field past its own retention (as pt_tracker_query()).
 *  Memory does not grow with the number of records read: the file store
 *  reads day files line by line (a torn or corrupt line is skipped and
 *  logged with its place, never its content); DynamoDB runs one Query per
 *  date, several dates in flight, reading only the attributes in
 *  `opts->fields`.  A backend without a scan() of its own (methods version
 *  1) is read one date at a time through its query().
 *
 *  The scan runs on a backend instance of its own, opened for the call: it
 *  never holds up the tracker's writer, and records stored while it runs
 *  may or may not be seen.  Returns PT_OK, PT_EINVAL (a date that is not
 *  one, or `from` after `to`), the callback's negative code, or the
 *  backend's error (detail in pt_tracker_errmsg()).  Any thread, several at
 *  once; must not race with pt_tracker_close(), and `fn` must not close the
 *  tracker. */
PT_EXTERN int pt_tracker_scan(pt_tracker *tracker, const pt_scan_options *opts,
                              pt_record_fn fn, void *userdata);

#define PT_STATS_OPTIONS_VERSION 1

/** What pt_tracker_stats() summarises.  Initialise with
 *  PT_STATS_OPTIONS_INIT; fields are only ever appended. */
typedef struct pt_stats_options {
    unsigned int version;   /* PT_STATS_OPTIONS_VERSION */
    const char *from;       /* first UTC date, "YYYY-MM-DD" (required) */
    const char *to;         /* last UTC date, inclusive; NULL: `from` */
    unsigned int min_group; /* k-anonymity: groups backed by fewer distinct
                               visitors are folded into "other"; 0: the
                               policy's [report] min_group; 1: off */
    unsigned int top;       /* rows of each ranking; 0: 10 */
    int64_t now; /* Unix seconds for the expiry of records; 0: the clock */
} pt_stats_options;

#define PT_STATS_OPTIONS_INIT                                                  \
    {                                                                          \
        PT_STATS_OPTIONS_VERSION, NULL, NULL, 0, 0, 0                          \
    }

/** Statistics of the records of opts->from..opts->to as one JSON object
 *  (the format of `privtrack stats --json`, described in the README):
 *  visits, unique visitors (exact distinct stored client_ip values within
 *  one key period; over several periods of rotating keys a sum of
 *  per-period counts, and "unique_visitors_method" says which), files,
 *  success rate, visits per hour and per day, top titles, user-agent
 *  families and the policy ids of the records.  Every group a person
 *  could be singled out by (a title, a user-agent family, an hour, a day)
 *  is shown only when at least `min_group` distinct visitors back it; the
 *  others are folded into "..._other", and the output says so.  Totals are
 *  exact.  Reads the range once, streaming (pt_tracker_scan()): memory
 *  grows with distinct values (visitors of one key period, titles,
 *  families), not with records.  The caller frees *json with pt_free().
 *  Returns as pt_tracker_scan().  Any thread, several at once; must not
 *  race with pt_tracker_close(). */
PT_EXTERN int pt_tracker_stats(pt_tracker *tracker,
                               const pt_stats_options *opts, char **json);

/** Remove records whose ttl is before `now` (Unix seconds; 0: now), remove
 *  from the records that stay every field past its own retention
 *  ([retention] <field>_days; a backend without rewrite() keeps them
 *  stored, hidden from reads, and a warning is logged), and, when keys
 *  rotate, destroy the keys whose period and grace have passed (as of the
 *  clock).  Records and fields stored meanwhile by running trackers are
 *  never lost.  `removed` (optional) receives how many records.
 *  Any thread. */
PT_EXTERN int pt_tracker_purge(pt_tracker *tracker, int64_t now,
                               uint64_t *removed);

/** Create what the backend needs (directory and key for the file store; the
 *  table, waited until ACTIVE, and TTL for DynamoDB) and, when keys rotate,
 *  the key store (the key directory, or the table <table>-keys with TTL on
 *  `expires`) with the current period's key.  Idempotent.  Any thread. */
PT_EXTERN int pt_tracker_init_storage(pt_tracker *tracker);

/* ---- data-subject requests (GDPR Art. 15, 17, 20) ----------------------- */

#define PT_SUBJECT_OPTIONS_VERSION 1

/* pt_subject_options.flags */
/** Erase: find and count what would be deleted, delete nothing. */
#define PT_SUBJECT_LIST_ONLY 0x1u

/** Who is asked about: the records of one person.  At least `ip` or
 *  `session_id`; the criteria given must all hold.  Initialise with
 *  PT_SUBJECT_OPTIONS_INIT; fields are only ever appended.  The strings are
 *  borrowed for the call. */
typedef struct pt_subject_options {
    unsigned int version;   /* PT_SUBJECT_OPTIONS_VERSION */
    const char *ip;         /* the person's address as the site saw it
                               (IPv4 or IPv6; a port or brackets are
                               ignored); NULL: not by address */
    const char *session_id; /* one record's session_id; NULL: any */
    const char *user_agent; /* narrows to records whose stored user agent
                               is this one or of its browser family (a
                               record without one is left out); NULL:
                               any */
    const char *from;       /* first UTC date; NULL: [retention] ttl_days
                               before `to` (366 days without a ttl) */
    const char *to;         /* last UTC date, inclusive; NULL: today */
    unsigned int flags;     /* PT_SUBJECT_* */
    int64_t now;            /* Unix seconds: "today", expiry; 0: the clock */
} pt_subject_options;

#define PT_SUBJECT_OPTIONS_INIT                                                \
    {                                                                          \
        PT_SUBJECT_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, 0, 0         \
    }

/* How a record was found (pt_subject_result.match[i], bits). */
#define PT_SUBJECT_MATCH_ADDRESS                                               \
    0x1u /* the stored address is the person's                                 \
            ([ip] mode = keep) */
#define PT_SUBJECT_MATCH_NETWORK                                               \
    0x2u /* the stored address is the person's                                 \
            network (truncate): anyone on it                                   \
            looks the same */
#define PT_SUBJECT_MATCH_PSEUDONYM                                             \
    0x4u /* the keyed pseudonym of the                                         \
            address (hash) */
#define PT_SUBJECT_MATCH_NETWORK_PSEUDONYM                                     \
    0x8u /* the pseudonym of the network (hash with truncate_before_hash):     \
            anyone on it looks the same */
#define PT_SUBJECT_MATCH_SESSION 0x10u /* by session_id */
#define PT_SUBJECT_MATCH_SPOOL                                                 \
    0x100u /* waiting in the local spool, not yet in the store */
/* The bits that mean "may be someone else on the same network". */
#define PT_SUBJECT_MATCH_SHARED                                                \
    (PT_SUBJECT_MATCH_NETWORK | PT_SUBJECT_MATCH_NETWORK_PSEUDONYM)

/** Whether a date's records could be searched by address. */
typedef enum pt_subject_address {
    PT_SUBJECT_ADDRESS_SEARCHED = 0,        /* yes (or no address was given) */
    PT_SUBJECT_ADDRESS_KEY_DESTROYED = 1,   /* no: the date's hash key was
                                               destroyed (rotated away); its
                                               pseudonyms cannot be made again
                                               by anyone */
    PT_SUBJECT_ADDRESS_KEY_UNAVAILABLE = 2, /* no: the date's key was never
                                               made or cannot be read now */
    PT_SUBJECT_ADDRESS_DROPPED = 3          /* no: [ip] mode = drop stores no
                                               address */
} pt_subject_address;

/** Static text for a pt_subject_address ("searched", "key destroyed", ...). */
PT_EXTERN const char *pt_subject_address_name(pt_subject_address status);

/** One date of the range. */
typedef struct pt_subject_date {
    char date[11];              /* "YYYY-MM-DD" */
    pt_subject_address address; /* could it be searched by address */
    uint64_t records;           /* records of the date read (live ones for
                                   find; all for erase) */
    uint64_t without_address;   /* of them, records storing no address:
                                   nobody can tell whose they are */
    uint64_t found;             /* the person's records (store and spool) */
    uint64_t deleted;           /* erase: deleted for certain (or, listing,
                                   that would be) */
    int rc;                     /* erase: PT_OK, or why the date failed (its
                                   `deleted` says what was done first) */
} pt_subject_date;

/** What pt_tracker_subject_find() or _erase() did.  Owned by the caller,
 *  freed with pt_subject_result_free(); immutable, so any thread may read
 *  it. */
typedef struct pt_subject_result {
    int erase;     /* 0: find; 1: erase; 2: erase, listing only */
    int64_t time;  /* Unix seconds of the request */
    char from[11]; /* the range searched */
    char to[11];
    unsigned int criteria;      /* PT_SUBJECT_MATCH_ADDRESS (an address was
                                   given), _SESSION, and 0x20 for a user agent */
    char user_agent_family[48]; /* the family narrowed to ("" when none) */
    size_t date_count;
    pt_subject_date *dates; /* every date of the range, oldest first */
    /* find: the records found (stored ones, then those in the spool), with
     * every field past its retention left out like any read; erase: the
     * deleted records' keys only (date and timestamp, nothing else). */
    pt_record_list *records;
    unsigned int *match;  /* per record: PT_SUBJECT_MATCH_* */
    unsigned int matched; /* every record's `match`, or-ed: the caveats */
    uint64_t found;       /* records found in all */
    uint64_t in_spool;    /* of them, in the spool */
    uint64_t deleted;     /* erase: deleted in all */
} pt_subject_result;

#define PT_SUBJECT_CRITERION_USER_AGENT 0x20u

/** Find a person's records (GDPR Art. 15, 20) among the dates
 *  opts->from..opts->to and in the local spool.  By address, the stored
 *  client_ip of each record is compared with what each policy mode makes
 *  of the address: the address (keep), its network (truncate), and its
 *  keyed pseudonyms under the key of the record's date (hash: with
 *  rotating keys the key of that period, every key still alive).  The
 *  result says how each record matched, which dates could not be searched
 *  by address and why, and how many records store no address.  Expired
 *  records are not returned, nor fields past their retention.  The
 *  address is held only for the call and wiped; it is never logged, nor
 *  put in the result.  Reads on a backend instance of its own (the writer
 *  goes on).  Returns PT_OK, PT_EINVAL (no criterion, an address that does
 *  not parse, a bad or reversed range), or the backend's error (detail in
 *  pt_tracker_errmsg()).  Any thread; must not race with
 *  pt_tracker_close(). */
PT_EXTERN int pt_tracker_subject_find(pt_tracker *tracker,
                                      const pt_subject_options *opts,
                                      pt_subject_result **out);

/** Erase a person's records (GDPR Art. 17): exactly the records
 *  pt_tracker_subject_find() would match (expired ones too), from every
 *  date of the range; with PT_SUBJECT_LIST_ONLY, only count them.  The
 *  file store rewrites each affected day file atomically under its lock:
 *  records appended meanwhile by running trackers (other processes too)
 *  are never lost, and a crash leaves each day file whole, old or new.
 *  Records of the person still in the local spool are not erased: the
 *  call fails with PT_EEXIST before deleting anything (replay the spool,
 *  then erase).  A backend without rewrite() fails with PT_EUNSUPPORTED.
 *  One date failing does not stop the others: *out (set whenever the
 *  range was valid) says what each date did, and the first error is
 *  returned.  Any thread; must not race with pt_tracker_close(). */
PT_EXTERN int pt_tracker_subject_erase(pt_tracker *tracker,
                                       const pt_subject_options *opts,
                                       pt_subject_result **out);

/* pt_subject_result_json() flags */
/** The whole records (find, export); without it, an erase's receipt: the
 *  keys (date, timestamp) of the records. */
#define PT_SUBJECT_JSON_RECORDS 0x1u

/** The result as one JSON document (described in the README: "subject"):
 *  a header (kind, time, range, criteria, policy ids of the records,
 *  per-date status and counts, caveats) and the records.  Never holds the
 *  address searched for nor its pseudonyms.  The caller frees *out with
 *  pt_free().  Any thread. */
PT_EXTERN int pt_subject_result_json(char **out,
                                     const pt_subject_result *result,
                                     unsigned int flags);

/** Free a result.  NULL is a no-op. */
PT_EXTERN void pt_subject_result_free(pt_subject_result *result);

/** Spool state: records waiting to be replayed, and the spool's size. */
typedef struct pt_spool_status {
    uint64_t pending_records;
    uint64_t pending_bytes;
} pt_spool_status;

PT_EXTERN int pt_tracker_spool_status(pt_tracker *tracker,
                                      pt_spool_status *out);

/** Replay the spool into the backend now, in order, at most `timeout_ms`.
 *  Idempotent: a record already stored is not stored twice.  `replayed`
 *  (optional) receives how many records were written. */
PT_EXTERN int pt_tracker_spool_replay(pt_tracker *tracker,
                                      unsigned int timeout_ms,
                                      uint64_t *replayed);

/* ------------------------------------------------------------------------ */
/* Rotating keys                                                            */
/* ------------------------------------------------------------------------ */

/** One period key of the key store, as `privtrack keys status` shows it.
 *  Never any key material. */
typedef struct pt_key_info {
    pt_key_period period;
    const char *store;     /* "file" or "dynamodb" */
    const char *location;  /* the key directory or the keys table */
    int wrapped;           /* stored encrypted with the wrapping key */
    int64_t created;       /* Unix seconds */
    int64_t destroy_after; /* Unix seconds: the period's end plus
                              [ip] key_grace_hours (or earlier, after
                              pt_tracker_keys_destroy) */
    int due;               /* destroy_after has passed: the next tracker
                              refresh, purge or keys destroy removes it */
} pt_key_info;

/** Receives one key's description; valid for the call only. */
typedef void (*pt_key_info_fn)(const pt_key_info *key, void *userdata);

/** Call `fn` for every period key in the policy's key store, oldest first
 *  (read from the store now, so keys of other hosts are included).
 *  PT_EUNSUPPORTED when the policy does not rotate keys ([ip] rotate =
 *  never).  Any thread. */
PT_EXTERN int pt_tracker_keys_status(pt_tracker *tracker, pt_key_info_fn fn,
                                     void *userdata);

/* pt_tracker_keys_destroy() flags */
#define PT_KEYS_DESTROY_LIST_ONLY 0x1 /* say what would go; destroy nothing */
#define PT_KEYS_DESTROY_DUE                                                    \
    0x2 /* the keys whose destroy-after passed                                 \
           (`before` is ignored) */

/** Destroy every key whose period ends at or before `before` (Unix
 *  seconds; a date's midnight: "forget everyone before that date"), or
 *  with PT_KEYS_DESTROY_DUE every key that is due.  On disk the key file is
 *  overwritten and unlinked; in DynamoDB the item is deleted.  The store
 *  also remembers `before`, so that no process makes a new key for those
 *  periods: their visits are then recorded without client_ip.  `fn`
 *  (optional) is told about each key destroyed (or, with
 *  PT_KEYS_DESTROY_LIST_ONLY, that would be); `destroyed` (optional) gets
 *  how many.  Keys held in memory by this tracker go at once, by others at
 *  their next refresh (within 10 minutes).  PT_EINVAL, nothing changed,
 *  when `before` is after the end of the current period (it would forbid
 *  keys for periods that have not begun).  Any thread. */
PT_EXTERN int pt_tracker_keys_destroy(pt_tracker *tracker, int64_t before,
                                      unsigned int flags, pt_key_info_fn fn,
                                      void *userdata, uint64_t *destroyed);

/* ------------------------------------------------------------------------ */
/* Storage backends                                                         */
/* ------------------------------------------------------------------------ */

/* A backend is a versioned table of functions, in the spirit of SQLite's
 * sqlite3_io_methods.  A backend "subclasses" pt_storage: its own struct
 * starts with a pt_storage member, and open() returns a pointer to it.
 * A third-party backend is written against this header alone and made
 * selectable with pt_storage_register(); `[storage] backend = NAME` picks it.
 *
 * Threading: the library calls one backend instance from one thread at a
 * time (the writer thread, or the caller of query/purge/init, serialised by
 * the tracker).  Instances of the same backend may run in parallel. */

#define PT_STORAGE_METHODS_VERSION 3

/* Capability flags. */
#define PT_STORAGE_CAP_QUERY 0x1u /* query() works */
#define PT_STORAGE_CAP_PURGE 0x2u /* purge() works */
/* A put() with replay != 0 of a record already stored does not store it
 * again (the file store matches date, timestamp and session_id; DynamoDB
 * the record's content). */
#define PT_STORAGE_CAP_IDEMPOTENT 0x4u

typedef struct pt_storage pt_storage;

/* ---- rewriting stored records (methods version 3) ------------------------
 * Erasure (pt_tracker_subject_erase) and per-field retention
 * (pt_tracker_purge) change records in place: the backend hands each
 * record to a callback that says what to do with it. */

/* What a pt_rewrite_fn asks for one record: keep it, delete it, or remove
 * fields (any of PT_FIELD_CLIENT_IP, _USER_AGENT, _LINKS, _TITLES,
 * _FILENAMES; the other bits are ignored). */
#define PT_REWRITE_KEEP   0u
#define PT_REWRITE_DELETE 0x10000u

/** Receives every stored record of the range (expired ones included: a
 *  rewrite is not a read), borrowed for the call, and sets *action.
 *  Returns PT_OK, or a negative code that aborts the rewrite (the date in
 *  progress is left as it was where the backend can promise it). */
typedef int (*pt_rewrite_fn)(const pt_record *record, unsigned int *action,
                             void *userdata);

/** What a rewrite did to one date (or, for a whole-store rewrite the
 *  backend does not run date by date, the totals with date NULL). */
typedef struct pt_rewrite_day {
    const char *date; /* "YYYY-MM-DD", or NULL for totals */
    uint64_t seen;    /* records handed to the callback */
    uint64_t deleted; /* records deleted, for certain */
    uint64_t changed; /* records whose fields were removed, for certain */
    int rc;           /* PT_OK, or why the date failed: the counts say what
                         was done before (the file store: nothing) */
    uint64_t skipped; /* records read but not handed to the callback,
                         left out by the hints (only_values) */
} pt_rewrite_day;

/** Told about each date once it is done (or failed).  Borrowed for the
 *  call. */
typedef void (*pt_rewrite_day_fn)(const pt_rewrite_day *day, void *userdata);

/* pt_rewrite_options.flags */
/** Call the callback for every record and count what it asks for, but
 *  change nothing (and take no lock that holds up writers). */
#define PT_REWRITE_LIST_ONLY 0x1u

/** Told about one record the rewrite deleted for certain: its date and
 *  timestamp (other fields may be absent), borrowed for the call. */
typedef void (*pt_rewrite_deleted_fn)(const pt_record *record, void *userdata);

#define PT_REWRITE_OPTIONS_VERSION 3

/** Which records a rewrite visits.  Initialise with PT_REWRITE_OPTIONS_INIT;
 *  fields are only ever appended. */
typedef struct pt_rewrite_options {
    unsigned int version; /* PT_REWRITE_OPTIONS_VERSION */
    const char *from;     /* first UTC date; NULL: every record the store
                             holds (the file store lists its day files,
                             DynamoDB scans the table) */
    const char *to;       /* last UTC date, inclusive; NULL: `from` */
    unsigned int flags;   /* PT_REWRITE_* */
    /* Hints a backend may use to skip records it would only keep (the
     * callback is still the judge of every record it is handed): the
     * callback changes only records holding one of these PT_FIELD_*
     * fields (0: any record)... */
    unsigned int only_with;
    /* ...and only records of visits before this Unix second (0: any). */
    int64_t only_before;
    /* Version 2.  NULL, or called (with the rewrite's userdata) for each
     * record deleted for certain, before its date is reported, by a
     * backend whose date can fail partway (DynamoDB): so that a failed
     * date says which records went.  A backend that leaves a failed date
     * as it was (the file store) need not call it; none calls it when
     * listing only. */
    pt_rewrite_deleted_fn deleted;
    /* Version 3.  A hint like only_with: when only_value_count > 0, the
     * callback changes no record that stores the field only_field (one
     * PT_FIELD_*; PT_FIELD_CLIENT_IP is the one backends use) with a value
     * other than these only_values[0 .. only_value_count - 1] (borrowed
     * for the call).  A backend may skip such records (DynamoDB filters
     * them on the server, up to PT_REWRITE_MAX_VALUES values, and counts
     * them in pt_rewrite_day.skipped); records without the field are
     * still handed over. */
    unsigned int only_field;
    const char *const *only_values;
    size_t only_value_count;
} pt_rewrite_options;

/** The most only_values a caller should give (DynamoDB's IN limit). */
#define PT_REWRITE_MAX_VALUES 100

#define PT_REWRITE_OPTIONS_INIT                                                \
    {                                                                          \
        PT_REWRITE_OPTIONS_VERSION, NULL, NULL, 0, 0, 0, NULL, 0, NULL, 0      \
    }

typedef struct pt_storage_methods {
    unsigned int version; /* PT_STORAGE_METHODS_VERSION */
    const char *name;     /* "file", "dynamodb", ... */
    unsigned int capabilities;

    /** Open an instance for `policy` (read settings with pt_policy_get()).
     *  `path_override` replaces [storage] path when not NULL.  Must not
     *  create anything on disk or remotely: that is init(). */
    int (*open)(pt_storage **out, const pt_policy *policy,
                const char *path_override);

    /** Create what the backend needs; idempotent. */
    int (*init)(pt_storage *storage);

    /** Store `count` records.  On failure *written says how many of the
     *  first records were stored for certain; the rest will be retried or
     *  spooled by the caller.  `replay` is non-zero when these records may
     *  have been stored before (the backend must then not store twice). */
    int (*put)(pt_storage *storage, const pt_record *const *records,
               size_t count, int replay, size_t *written);

    /** Records of `date`, newest first, at most `limit` (0: all), skipping
     *  records whose ttl is before `now`.  The backend allocates *out. */
    int (*query)(pt_storage *storage, pt_record_list **out, const char *date,
                 size_t limit, int64_t now);

    /** Remove records whose ttl is before `now`. */
    int (*purge)(pt_storage *storage, int64_t now, uint64_t *removed);

    /** Make written records durable (fsync = batch). */
    int (*sync)(pt_storage *storage);

    /** Extension point: `op` is one of PT_STORAGE_CTL_* (or a backend's
     *  own, >= PT_STORAGE_CTL_PRIVATE); unknown ops return
     *  PT_EUNSUPPORTED. */
    int (*control)(pt_storage *storage, int op, void *arg);

    /** Release the instance.  Mandatory. */
    void (*close)(pt_storage *storage);

    /* ---- version 2 (a version-1 table ends above: the library reads the
     * fields below only when `version` >= 2) ---- */

    /** Hand the records of opts->from..opts->to to `fn`, in the order
     *  opts->flags says, skipping records whose ttl is before opts->now, and
     *  stopping after opts->limit records (0: all), as pt_tracker_scan()
     *  describes.  The library fills every option: `to` and `now` are set,
     *  the dates are valid and from <= to, `fields` is not 0.  A non-zero
     *  return from `fn` ends the scan: PT_SCAN_STOP means success (return
     *  PT_OK), a negative code is returned as is.  Memory should not grow
     *  with the records read.  NULL: the library reads date by date through
     *  query(). */
    int (*scan)(pt_storage *storage, const pt_scan_options *opts,
                pt_record_fn fn, void *userdata);

    /* ---- version 3 (read only when `version` >= 3) ---- */

    /** Hand every record of opts->from..opts->to (or of the whole store)
     *  to `fn` and carry out what it asks: delete the record, or remove
     *  fields from it, so that records stored meanwhile by other writers
     *  (other processes included) are never lost, and records the
     *  callback keeps are left byte for byte as they were where the
     *  store allows.  `day` (optional) is told about each date when it is
     *  done; one date failing does not stop the others.  Returns PT_OK,
     *  the first date's error, or the callback's negative code.  The
     *  library fills every option: dates are valid and in order.  NULL:
     *  the backend cannot erase records or purge fields
     *  (PT_EUNSUPPORTED). */
    int (*rewrite)(pt_storage *storage, const pt_rewrite_options *opts,
                   pt_rewrite_fn fn, pt_rewrite_day_fn day, void *userdata);
} pt_storage_methods;

/* control() operations the tracker asks of every backend; a backend that
 * does not implement one returns PT_EUNSUPPORTED and the tracker carries on
 * without it. */

/** [uint64_t *arg] retries the backend made on its own since open
 *  (throttling, 5xx, network, checksum); added to pt_counters.retries. */
#define PT_STORAGE_CTL_RETRIES 0x1
/** [size_t *arg] for a backend whose sync() is expensive (an fsync): how
 *  many records the writer should hand it per sync — one put per batch, one
 *  sync for all — so that a slow sync does not cap throughput (group
 *  commit).  The tracker bounds it by half its queue. */
#define PT_STORAGE_CTL_GROUP_COMMIT 0x2
/** [size_t *arg] how many records the backend would like per put() when
 *  the application leaves pt_tracker_options.batch_size at 0 (DynamoDB:
 *  enough for a BatchWriteItem on every connection).  Asked once, by
 *  pt_tracker_open() on the opening thread, before the writer thread
 *  starts; used for every put of a tracker with a writer thread, and for
 *  the spool replays of a synchronous one; bounded by half the queue.
 *  Without it: 25. */
#define PT_STORAGE_CTL_BATCH_SIZE 0x3
/** A backend's own control() operations are numbered from here up, so
 *  that they never meet the ones the library defines (which stay below). */
#define PT_STORAGE_CTL_PRIVATE 0x10000

/** The base of every backend instance. */
struct pt_storage {
    const pt_storage_methods *methods;
    char errmsg[256]; /* detail of the last failure, set by the backend */
};

/** Make a backend selectable by name.  The methods table must outlive the
 *  process's use of privtrack.  Registering a name twice replaces the
 *  earlier entry.  Thread-safe. */
PT_EXTERN int pt_storage_register(const pt_storage_methods *methods);

/** The backend registered as `name`, or NULL. Thread-safe. */
PT_EXTERN const pt_storage_methods *pt_storage_find(const char *name);

/** Helpers for backends: build a record list (the list owns copies). */
PT_EXTERN int pt_record_list_new(pt_record_list **out);
PT_EXTERN int pt_record_list_append(pt_record_list *list,
                                    const pt_record *record);

/** Parse one JSON object (a file store line, or the CLI's `--json` output)
 *  into a record list entry.  Returns PT_EPARSE for malformed input. */
PT_EXTERN int pt_record_list_append_json(pt_record_list *list, const char *json,
                                         size_t len);

#ifdef __cplusplus
}
#endif

#endif /* PRIVTRACK_H */
