/* Helpers shared by the commands: errors, logging, policy and tracker. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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

const char *
cli_policy_source(const cli_common *common)
{
    if (common->policy_path)
        return common->policy_path;
    if (env_policy())
        return env_policy();
    if (access("policy.ini", F_OK) == 0)
        return "policy.ini";
    return "built-in default";
}

int
cli_load_policy(const cli_common *common, pt_policy **out)
{
    const char *path = common->policy_path ? common->policy_path : env_policy();
    int rc;

    if (!path && access("policy.ini", F_OK) == 0)
        path = "policy.ini";
    rc = path ? pt_policy_load_file(out, path) : pt_policy_load_default(out);
    if (rc != PT_OK) {
        const char *detail = pt_last_error();
        if (*detail)
            cli_error("policy %s", detail);
        else
            cli_error("policy %s: %s", path ? path : "(built-in default)",
                      pt_strerror(rc));
        return CLI_USAGE;
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
cli_write_output(const char *path, const char *data, size_t len,
                 const char *what)
{
    unsigned char random[8];
    char *tmp;
    size_t n;
    int fd, rc = CLI_OK;

    if (!path || strcmp(path, "-") == 0) {
        if (cli_write(stdout, data, len) != 0 || fflush(stdout) != 0) {
            cli_error("%s: cannot write the output: %s", what, strerror(errno));
            return CLI_RUNTIME;
        }
        return CLI_OK;
    }
    n = strlen(path) + 32;
    tmp = malloc(n);
    if (!tmp || getentropy(random, sizeof(random)) != 0) {
        cli_error("%s: cannot name a temporary file: %s", what,
                  strerror(errno));
        free(tmp);
        return CLI_RUNTIME;
    }
    snprintf(tmp, n, "%s.tmp-%02x%02x%02x%02x%02x%02x%02x%02x", path, random[0],
             random[1], random[2], random[3], random[4], random[5], random[6],
             random[7]);
    /* A fresh name, never a file or link someone prepared. */
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        cli_error("%s: cannot create %s: %s", what, tmp, strerror(errno));
        free(tmp);
        return CLI_RUNTIME;
    }
    for (size_t done = 0; done < len && rc == CLI_OK;) {
        ssize_t w = write(fd, data + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = CLI_RUNTIME;
        else
            done += (size_t)w;
    }
    if (rc != CLI_OK || fsync(fd) != 0)
        rc = CLI_RUNTIME;
    if (close(fd) != 0)
        rc = CLI_RUNTIME;
    if (rc != CLI_OK)
        cli_error("%s: cannot write %s: %s", what, tmp, strerror(errno));
    else if (rename(tmp, path) != 0) {
        cli_error("%s: cannot replace %s: %s", what, path, strerror(errno));
        rc = CLI_RUNTIME;
    }
    if (rc != CLI_OK)
        unlink(tmp);
    free(tmp);
    return rc;
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
