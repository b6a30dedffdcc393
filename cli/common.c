/* Helpers shared by the commands: errors, logging, policy and tracker. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

const char cli_common_help[] =
    "Common options:\n"
    "  --policy FILE    policy to apply (default: $PRIVTRACK_POLICY, else\n"
    "                   ./policy.ini when present, else the built-in "
    "default)\n"
    "  --storage PATH   store directory, overriding [storage] path\n"
    "  -v, --verbose    show the library's debug and info lines on stderr\n"
    "  -h, --help       show this help\n";

void
cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("privtrack: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int
cli_usage_error(const char *command, const char *fmt, ...)
{
    va_list ap;
    fputs("privtrack: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    if (command && *command)
        fprintf(stderr, "Try 'privtrack %s --help'.\n", command);
    else
        fputs("Try 'privtrack --help'.\n", stderr);
    return CLI_USAGE;
}

/* The library calls this from any thread; one fprintf per line keeps lines
 * whole because stdio locks the stream for the call. */
static void
log_to_stderr(pt_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "privtrack: %s: %s\n", pt_log_level_name(level), message);
}

void
cli_setup_logging(const cli_common *common)
{
    pt_set_log(log_to_stderr, NULL,
               common->verbose ? PT_LOG_DEBUG : PT_LOG_WARN);
}

int
cli_common_option(int opt, const char *arg, cli_common *common)
{
    switch (opt) {
    case CLI_OPT_POLICY:
        common->policy_path = arg;
        return 1;
    case CLI_OPT_STORAGE:
        common->storage_path = arg;
        return 1;
    case 'v':
        common->verbose = 1;
        return 1;
    default:
        return 0;
    }
}

void
cli_getopt_reset(void)
{
    /* glibc: 0 re-initialises its internal state, not just the index.  We
     * print our own one-line messages (cli_bad_option). */
    optind = 0;
    opterr = 0;
}

int
cli_bad_option(const char *command, char **argv, int opt)
{
    char shortopt[3] = {'-', (char)optopt, '\0'};
    const char *name = optopt > 0 && optopt < 128 ? shortopt : argv[optind - 1];
    const char *sep = *command ? ": " : "";
    if (opt == ':')
        return cli_usage_error(command, "%s%soption '%s' needs a value",
                               command, sep, name);
    return cli_usage_error(command, "%s%sunknown option '%s'", command, sep,
                           name);
}

static const char *
env_policy(void)
{
    const char *env = getenv("PRIVTRACK_POLICY");
    return env && *env ? env : NULL;
}

/* ./policy.ini when there is anything by that name (a dangling link too:
 * better an error than the built-in default in its place).  It is loaded
 * with the library's checks, like any policy file: refused when others may
 * write it or another user owns it (see README, "Which policy"). */
static const char *
implicit_policy(void)
{
    struct stat st;
    return lstat("policy.ini", &st) == 0 ? "policy.ini" : NULL;
}

const char *
cli_policy_source(const cli_common *common)
{
    if (common->policy_path)
        return common->policy_path;
    if (env_policy())
        return env_policy();
    if (implicit_policy())
        return "policy.ini";
    return "built-in default";
}

int
cli_load_policy(const cli_common *common, pt_policy **out)
{
    const char *path = common->policy_path ? common->policy_path : env_policy();
    int rc, implicit = 0;

    if (!path && (path = implicit_policy()) != NULL)
        implicit = 1;
    rc = path ? pt_policy_load_file(out, path) : pt_policy_load_default(out);
    if (rc != PT_OK) {
        const char *detail = pt_last_error();
        if (*detail)
            cli_error("policy %s%s", detail,
                      implicit && rc == PT_EACCESS
                          ? " (found in the working directory; or name "
                            "the policy with --policy or PRIVTRACK_POLICY)"
                          : "");
        else
            cli_error("policy %s: %s", path ? path : "(built-in default)",
                      pt_strerror(rc));
        /* A file refused as unsafe is a runtime refusal, like the store's. */
        return rc == PT_EACCESS ? CLI_RUNTIME : CLI_USAGE;
    }
    return CLI_OK;
}

int
cli_exit_code(int pt_code)
{
    switch (pt_code) {
    case PT_OK:
        return CLI_OK;
    case PT_EINVAL:
    case PT_EPOLICY:
    case PT_ECREDENTIALS:
    case PT_EUNSUPPORTED:
    case PT_ECRYPTO: /* a key that does not open with the wrapping key */
        return CLI_USAGE;
    default:
        return CLI_RUNTIME;
    }
}

int
cli_fail(const pt_tracker *tracker, int pt_code, const char *what)
{
    const char *detail = tracker ? pt_tracker_errmsg(tracker) : "";
    if (!*detail)
        detail = pt_last_error();
    if (*detail)
        cli_error("%s: %s", what, detail);
    else
        cli_error("%s: %s", what, pt_strerror(pt_code));
    return cli_exit_code(pt_code);
}

int
cli_open_tracker(const cli_common *common, int read_only,
                 pt_policy **policy_out, pt_tracker **out)
{
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_policy *policy = NULL;
    int rc = cli_load_policy(common, &policy);

    *out = NULL;
    if (rc != CLI_OK)
        return rc;
    opts.dry_run = 0;
    opts.synchronous = 1;
    opts.read_only = read_only;
    opts.storage_path = common->storage_path;
    rc = pt_tracker_open(out, policy, &opts);
    if (rc != PT_OK) {
        pt_policy_free(policy);
        return cli_fail(NULL, rc, "cannot open the store");
    }
    if (policy_out)
        *policy_out = policy;
    else
        pt_policy_free(policy);
    return CLI_OK;
}

int
cli_policy_bool(const pt_policy *policy, const char *section, const char *key)
{
    const char *v = pt_policy_get(policy, section, key);
    if (!v)
        return 0;
    return strcasecmp(v, "true") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "on") == 0 || strcmp(v, "1") == 0;
}

int
cli_parse_uint(const char *text, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;

    if (!text || *text < '0' || *text > '9')
        return -1;
    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || *end || v > max)
        return -1;
    *out = v;
    return 0;
}

int
cli_write(FILE *out, const char *data, size_t len)
{
    return fwrite(data, 1, len, out) == len ? 0 : -1;
}

int
cli_output_open(cli_output *o, const char *path, const char *what)
{
    unsigned char random[8];
    size_t n;
    int fd;

    memset(o, 0, sizeof(*o));
    o->what = what;
    if (!path || strcmp(path, "-") == 0) {
        o->fp = stdout;
        return CLI_OK;
    }
    o->path = path;
    n = strlen(path) + 32;
    o->tmp = malloc(n);
    if (!o->tmp || getentropy(random, sizeof(random)) != 0) {
        cli_error("%s: cannot name a temporary file: %s", what,
                  strerror(errno));
        free(o->tmp);
        o->tmp = NULL;
        return CLI_RUNTIME;
    }
    snprintf(o->tmp, n, "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path,
             random[0], random[1], random[2], random[3], random[4], random[5],
             random[6], random[7]);
    /* A fresh name, never a file or link someone prepared. */
    fd = open(o->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0 || !(o->fp = fdopen(fd, "w"))) {
        cli_error("%s: cannot create %s: %s", what, o->tmp, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(o->tmp);
        }
        free(o->tmp);
        o->tmp = NULL;
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

int
cli_output_close(cli_output *o, int ok)
{
    int rc = ok ? CLI_OK : CLI_RUNTIME;

    if (!o->fp)
        return CLI_RUNTIME;
    /* A write the caller saw fail (a full disk, the file-size limit, a
     * closed pipe) and did not report: say it here, once. */
    if (!ok && !o->reported && ferror(o->fp))
        cli_error("%s: cannot write %s: %s", o->what,
                  o->tmp ? o->path : "the output", strerror(errno));
    if (!o->tmp) { /* standard output */
        if (fflush(stdout) != 0 && rc == CLI_OK) {
            cli_error("%s: cannot write the output: %s", o->what,
                      strerror(errno));
            rc = CLI_RUNTIME;
        }
        o->fp = NULL;
        return rc;
    }
    /* Errors name the file asked for; its temporary name means nothing
     * to the user and is gone when we return. */
    if (rc == CLI_OK && (fflush(o->fp) != 0 || fsync(fileno(o->fp)) != 0)) {
        cli_error("%s: cannot write %s: %s", o->what, o->path, strerror(errno));
        rc = CLI_RUNTIME;
    }
    if (fclose(o->fp) != 0 && rc == CLI_OK) {
        cli_error("%s: cannot write %s: %s", o->what, o->path, strerror(errno));
        rc = CLI_RUNTIME;
    }
    o->fp = NULL;
    if (rc == CLI_OK && rename(o->tmp, o->path) != 0) {
        cli_error("%s: cannot replace %s: %s", o->what, o->path,
                  strerror(errno));
        rc = CLI_RUNTIME;
    }
    if (rc != CLI_OK)
        unlink(o->tmp);
    free(o->tmp);
    o->tmp = NULL;
    return rc;
}

int
cli_write_output(const char *path, const char *data, size_t len,
                 const char *what)
{
    cli_output o;
    int rc = cli_output_open(&o, path, what);
    if (rc != CLI_OK)
        return rc;
    (void)cli_write(o.fp, data, len); /* an error is seen by ferror() */
    return cli_output_close(&o, !ferror(o.fp));
}

/* ---- text for a terminal ---------------------------------------------------
 * Record fields are data from visitors: a file name may hold ESC [2J or an
 * OSC title sequence.  Shown raw, it would clear the operator's screen or
 * worse, so every control character (C0, DEL, C1) and every byte that is
 * not UTF-8 is shown escaped. */

/* Length of the valid UTF-8 sequence at s (1-4), 0 when invalid. */
static size_t
utf8_len(const unsigned char *s)
{
    size_t n;
    unsigned int cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xC2 && s[0] <= 0xDF)
        n = 2, cp = s[0] & 0x1Fu;
    else if (s[0] >= 0xE0 && s[0] <= 0xEF)
        n = 3, cp = s[0] & 0x0Fu;
    else if (s[0] >= 0xF0 && s[0] <= 0xF4)
        n = 4, cp = s[0] & 0x07u;
    else
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (s[i] & 0x3Fu);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return n;
}

/* Non-zero for the code point of a UTF-8 sequence `p` of `n` bytes that
 * reorders text on a terminal (bidirectional marks, embeddings, overrides
 * and isolates: U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069), so
 * that a file name or user agent cannot make what is shown read otherwise
 * than what is stored. */
static int
reorders(const unsigned char *p, size_t n)
{
    if (n == 2)
        return p[0] == 0xD8 && p[1] == 0x9C;
    if (n != 3 || p[0] != 0xE2)
        return 0;
    return (p[1] == 0x80 &&
            (p[2] == 0x8E || p[2] == 0x8F || (p[2] >= 0xAA && p[2] <= 0xAE))) ||
           (p[1] == 0x81 && p[2] >= 0xA6 && p[2] <= 0xA9);
}

/* Append the safe form of `s` to `out` (`size` bytes, NUL-terminated,
 * cut at a character boundary): control characters and the characters
 * that reorder text escaped, invalid UTF-8 shown as \xNN; returns the
 * length it needs. */
size_t
cli_term_safe(char *out, size_t size, const char *s)
{
    const unsigned char *p = (const unsigned char *)(s ? s : "");
    size_t len = 0, written = 0;

    while (*p) {
        char piece[8];
        size_t n = utf8_len(p), k;
        if (n == 1 && *p >= 0x20 && *p != 0x7F) {
            piece[0] = (char)*p;
            k = 1;
        } else if (n == 2 && p[0] == 0xC2 && p[1] < 0xA0) {
            k = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", p[1]);
        } else if (reorders(p, n)) {
            unsigned int cp =
                n == 2 ? 0x61Cu
                       : (0x2000u | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu));
            k = (size_t)snprintf(piece, sizeof(piece), "\\u%04x", cp);
        } else if (n <= 1) {
            k = (size_t)snprintf(piece, sizeof(piece), "\\x%02x", *p);
            n = 1;
        } else {
            memcpy(piece, p, n);
            k = n;
        }
        /* Whole pieces only: never half an escape or a character. */
        if (out && written == len && len + k < size) {
            memcpy(out + len, piece, k);
            written += k;
        }
        len += k;
        p += n;
    }
    if (out && size)
        out[written] = '\0';
    return len;
}

size_t
cli_term_put(FILE *out, const char *s)
{
    char small[512];
    size_t len = cli_term_safe(small, sizeof(small), s);
    if (len < sizeof(small)) {
        fputs(small, out);
    } else {
        char *big = malloc(len + 1);
        if (!big)
            return 0;
        cli_term_safe(big, len + 1, s);
        fputs(big, out);
        free(big);
    }
    return len;
}

/* Replay slices: a progress line after each while records remain. */
#define REPLAY_SLICE_MS 5000u

static uint64_t
monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int
cli_spool_replay(pt_tracker *tracker, const char *what, uint64_t timeout_ms,
                 uint64_t *replayed)
{
    pt_spool_status st = {0, 0};
    uint64_t start = monotonic_ms();
    int prc;

    *replayed = 0;
    (void)pt_tracker_spool_status(tracker, &st); /* the total, to show */
    for (;;) {
        uint64_t elapsed = monotonic_ms() - start, step = 0;
        uint64_t left = elapsed < timeout_ms ? timeout_ms - elapsed : 0;
        uint64_t slice = left < REPLAY_SLICE_MS ? left : REPLAY_SLICE_MS;
        prc = pt_tracker_spool_replay(tracker, (unsigned int)slice, &step);
        *replayed += step;
        if (prc != PT_ETIMEDOUT || slice == left)
            break;
        elapsed = monotonic_ms() - start;
        fprintf(stderr,
                "privtrack: %s: %llu of %llu spooled records replayed "
                "(%.0f/s)\n",
                what, (unsigned long long)*replayed,
                (unsigned long long)st.pending_records,
                elapsed ? (double)*replayed * 1000.0 / (double)elapsed : 0.0);
    }
    return prc;
}
