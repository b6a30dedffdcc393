/*
 * The privtrack command: shared declarations between the command files.
 *
 * The CLI is a thin user of the public API (privtrack.h) and nothing else:
 * it must stay a faithful example of what an application linking the
 * library can do, so it never includes the library's internal headers.
 *
 * Exit codes, for every command: CLI_OK (0) success, CLI_USAGE (1) usage or
 * configuration error, CLI_RUNTIME (2) runtime failure.  Errors are one line
 * on stderr that says what and where.
 */
#ifndef PT_CLI_H
#define PT_CLI_H

#include <privtrack.h>

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum { CLI_OK = 0, CLI_USAGE = 1, CLI_RUNTIME = 2 };

/** Options shared by the commands that load a policy or open a tracker. */
typedef struct cli_common {
    const char *policy_path;  /* --policy; NULL: environment, ./policy.ini,
                                 built-in */
    const char *storage_path; /* --storage; NULL: [storage] path */
    int verbose;              /* --verbose: library debug lines on stderr */
} cli_common;

/** A command: name, one-line summary, entry point and help text. */
typedef struct cli_command {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv, cli_common *common);
} cli_command;

/* ---- commands (one file each, cmd_*.c) ---------------------------------- */
int cli_cmd_record(int argc, char **argv, cli_common *common);
int cli_cmd_query(int argc, char **argv, cli_common *common);
int cli_cmd_stats(int argc, char **argv, cli_common *common);
int cli_cmd_export(int argc, char **argv, cli_common *common);
int cli_cmd_report(int argc, char **argv, cli_common *common);
int cli_cmd_purge(int argc, char **argv, cli_common *common);
int cli_cmd_init_storage(int argc, char **argv, cli_common *common);
int cli_cmd_policy(int argc, char **argv, cli_common *common);
int cli_cmd_spool(int argc, char **argv, cli_common *common);
int cli_cmd_keys(int argc, char **argv, cli_common *common);
int cli_cmd_subject(int argc, char **argv, cli_common *common);
int cli_cmd_version(int argc, char **argv, cli_common *common);

/* ---- shared helpers (common.c) ------------------------------------------ */

/** Print "privtrack: <message>" on stderr, one line. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/** Print "privtrack: <message>" on stderr and "Try 'privtrack CMD --help'."
 *  and return CLI_USAGE. */
int cli_usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** Install the stderr log callback: warnings and errors by default, debug
 *  and info too with --verbose. */
void cli_setup_logging(const cli_common *common);

/** Handle an option shared by every command (--policy, --storage,
 *  --verbose) in getopt_long's loop.  Returns 1 when `opt` was one of
 *  them. */
int cli_common_option(int opt, const char *arg, cli_common *common);

/* getopt_long codes of the shared options, and their table entries. */
enum { CLI_OPT_POLICY = 0x100, CLI_OPT_STORAGE };
/* clang-format off */
#define CLI_COMMON_LONG_OPTIONS                                                \
    {"policy", required_argument, NULL, CLI_OPT_POLICY},                       \
    {"storage", required_argument, NULL, CLI_OPT_STORAGE},                     \
    {"verbose", no_argument, NULL, 'v'},                                       \
    {"help", no_argument, NULL, 'h'}
/* clang-format on */

/** The help text shared by the commands that take the common options. */
extern const char cli_common_help[];

/** Report an option getopt_long rejected ('?' or ':') and return
 *  CLI_USAGE. */
int cli_bad_option(const char *command, char **argv, int opt);

/** Reset getopt so that a command can parse its own argv. */
void cli_getopt_reset(void);

/** Where the policy comes from, for messages: the path, or "built-in
 *  default". */
const char *cli_policy_source(const cli_common *common);

/** Load the policy: --policy, else $PRIVTRACK_POLICY, else ./policy.ini
 *  when it exists, else the built-in default.  On failure prints the error
 *  and returns CLI_USAGE (a bad policy is a configuration error). */
int cli_load_policy(const cli_common *common, pt_policy **out);

/** Open a tracker for reading or administration: synchronous, never
 *  dry-run (reads must see the store even under an audit policy).
 *  `read_only` (query, stats, export, purge) creates nothing on disk: no
 *  hash key, no spool.  Prints the error and returns the exit code on
 *  failure. */
int cli_open_tracker(const cli_common *common, int read_only,
                     pt_policy **policy_out, pt_tracker **out);

/** Exit code for a library error: configuration problems (bad policy,
 *  credentials, unsupported operation, a key that does not open with the
 *  wrapping key) are CLI_USAGE, the rest
 *  CLI_RUNTIME. */
int cli_exit_code(int pt_code);

/** Report a failed library call on `tracker` (NULL: the thread's last
 *  error) and return the matching exit code. */
int cli_fail(const pt_tracker *tracker, int pt_code, const char *what);

/** A policy setting as a boolean ("true", "yes", "on", "1"). */
int cli_policy_bool(const pt_policy *policy, const char *section,
                    const char *key);

/** pt_tracker_spool_replay() within `timeout_ms`, in slices of a few
 *  seconds, with a progress line on stderr ("privtrack: WHAT: N of M spooled
 *  records replayed (R/s)") after each slice while records remain.
 *  *replayed counts them all; returns the last call's code. */
int cli_spool_replay(pt_tracker *tracker, const char *what, uint64_t timeout_ms,
                     uint64_t *replayed);

/** Validate a UTC calendar date "YYYY-MM-DD". */
int cli_valid_date(const char *date);

/** Parse a non-negative decimal integer that fits in `max`. */
int cli_parse_uint(const char *text, uint64_t max, uint64_t *out);

/* What the fast reader (visit_fast.c) holds: longer lines, or more
 * headers or items in an array, go to the cJSON reader. */
#define CLI_VISIT_FAST_BYTES 4096
#define CLI_VISIT_FAST_ITEMS 16

/** A visit parsed from one JSON line.  The pt_visit borrows its strings
 *  from the parsed JSON tree (`root`) or, when the fast reader took the
 *  line, from `fast_text` and the arrays after it: either way they live
 *  until cli_visit_free(), and the struct must not be copied meanwhile. */
typedef struct cli_visit {
    pt_visit visit;
    struct cJSON *root;
    pt_header *headers;
    const char **links;
    const char **filenames;
    char fast_text[CLI_VISIT_FAST_BYTES];
    pt_header fast_headers[CLI_VISIT_FAST_ITEMS + 1]; /* + "user_agent" */
    const char *fast_links[CLI_VISIT_FAST_ITEMS];
    const char *fast_filenames[CLI_VISIT_FAST_ITEMS];
    const char *fast_errors[CLI_VISIT_FAST_ITEMS];
} cli_visit;

/** Parse one visit line (visit.c): the fast reader, else cJSON.  On
 *  failure returns -1 and writes a message to `err` that never quotes the
 *  input (it may hold an address). */
int cli_visit_parse(cli_visit *out, const char *line, size_t len, char *err,
                    size_t errlen);

/** The cJSON reader alone: every line, every error message. */
int cli_visit_parse_json(cli_visit *out, const char *line, size_t len,
                         char *err, size_t errlen);

/** The fast reader alone (visit_fast.c): 0 when it took the line, with
 *  the visit the cJSON reader would give; -1 when it declines (nothing to
 *  free either way, no message: the cJSON reader decides about the line). */
int cli_visit_parse_fast(cli_visit *out, const char *line, size_t len);

/** Release a parsed visit.  Safe on a zeroed or already freed struct. */
void cli_visit_free(cli_visit *v);

/* ---- lines of input with a bounded buffer (lines.c) --------------------- */

/** The longest visit line `record` reads by default (--max-line). */
#define CLI_DEFAULT_MAX_LINE ((size_t)1 << 20)

/** Reads lines from a descriptor keeping at most `max` bytes of each: a
 *  longer line is read to its end and discarded (only counted), so memory
 *  stays bounded whatever the input.  One reader per descriptor; nothing
 *  else may read the descriptor meanwhile. */
typedef struct cli_lines {
    char *line;    /* the current line, NUL-terminated, without its '\n';
                      NULL when it was too long */
    size_t len;    /* bytes of it kept in `line` */
    size_t length; /* its whole length (too_long: more than `max`) */
    int too_long;  /* it was longer than `max` bytes and is not kept */
    /* private */
    int fd;
    size_t max, cap, pos, end;
    char *chunk;
    const volatile sig_atomic_t *stop;
} cli_lines;

/** Prepare to read `fd`.  A read interrupted by a signal is retried unless
 *  `stop` (may be NULL) is set.  -1 when out of memory. */
int cli_lines_init(cli_lines *r, int fd, size_t max,
                   const volatile sig_atomic_t *stop);

/** Read the next line: 1 (a line, maybe too long), 0 (end of input), -1
 *  (read error or out of memory, errno says which). */
int cli_lines_next(cli_lines *r);

/** Release the reader's buffers (not the descriptor). */
void cli_lines_free(cli_lines *r);

/* ---- the reading commands (read_args.c) --------------------------------- */

/* Which of the reading commands' own options a command takes. */
#define CLI_READ_LIMIT  0x1u /* --limit N */
#define CLI_READ_JSON   0x2u /* --json */
#define CLI_READ_OUTPUT 0x4u /* --output FILE */

typedef struct cli_read_args {
    const char *date, *from, *to; /* as given */
    uint64_t days;                /* --days N */
    int have_days;
    int yes; /* --yes: more than 366 days */
    uint64_t limit;
    int json;
    const char *output;
    /* resolved: the range read, "YYYY-MM-DD" */
    char first[11], last[11];
    uint64_t range_days;
} cli_read_args;

/** The help text of the date options. */
extern const char cli_range_help[];

/** Parse a reading command's options: a date or range (--date, --from,
 *  --to, --days; default today), --yes, the common options, and those of
 *  `accept`.  The range is checked (a real date, not reversed, at most 366
 *  days without --yes).  Returns CLI_OK, a usage exit code, or -1 when
 *  --help was printed. */
int cli_parse_read_args(int argc, char **argv, cli_common *common,
                        const char *command, const char *help,
                        unsigned int accept, cli_read_args *args);

/** The statistics of the range as the library's JSON (cmd_stats.c); the
 *  caller frees *json with pt_free().  Prints the error and returns the
 *  exit code. */
int cli_stats_json(const cli_common *common, const cli_read_args *args,
                   char **json);

struct cJSON;
/** A number (0 when absent) or a string ("" when absent) of a JSON
 *  object. */
double cli_json_num(const struct cJSON *obj, const char *key);
const char *cli_json_str(const struct cJSON *obj, const char *key);

/** Write the HTML report of the statistics `doc` (report_html.c); -1 on a
 *  write error. */
int cli_report_html(FILE *out, const struct cJSON *doc, const char *generated);

/** Days since 1970-01-01 of a valid "YYYY-MM-DD" (time.c). */
void cli_date_days(const char *date, int64_t *days);

/** An output file written safely (cli_write_output's rules), or standard
 *  output for NULL or "-": write to `fp`, then cli_output_close(). */
typedef struct cli_output {
    FILE *fp;
    char *tmp; /* NULL: standard output */
    const char *path;
    const char *what;
    int reported; /* the caller printed its write error already */
} cli_output;

/** Open it.  Prints the error and returns the exit code. */
int cli_output_open(cli_output *o, const char *path, const char *what);

/** Finish it: with `ok`, flush, fsync and rename over the path; without,
 *  remove the temporary file (the target stays as it was) and, when a
 *  write to `fp` failed and `reported` is not set, say so naming the
 *  path.  Prints the error and returns the exit code. */
int cli_output_close(cli_output *o, int ok);

/** The form of `s` that is safe on a terminal: control characters (C0,
 *  DEL, C1) and bytes that are not UTF-8 written as \xNN or \u00NN.  Writes
 *  at most `size` bytes (NUL included) to `out` (may be NULL) and returns
 *  the length of the whole safe form. */
size_t cli_term_safe(char *out, size_t size, const char *s);

/** Print `s` in its safe form; returns the bytes printed. */
size_t cli_term_put(FILE *out, const char *s);

/** Write a generated document to `path`, or to standard output when `path`
 *  is NULL or "-": a new file with a random name (O_EXCL, O_NOFOLLOW, mode
 *  0600) is written, fsync'ed and renamed over `path`, so a reader never
 *  sees half of it and no planted file or link is written through.  Prints
 *  the error (prefixed with `what`) and returns the exit code. */
int cli_write_output(const char *path, const char *data, size_t len,
                     const char *what);

/** Write `len` bytes to `out`, returning -1 on a write error. */
int cli_write(FILE *out, const char *data, size_t len);

#endif
