/* privtrack record: visits as JSON lines in, records (or an audit) out. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char record_help[] =
    "Usage: privtrack record [--dry-run] [OPTIONS] [FILE|-]\n"
    "\n"
    "Read visits, one JSON object per line, from FILE (default: standard\n"
    "input), apply the policy and store the records.  A visit looks like:\n"
    "  {\"remote_addr\": \"203.0.113.7\", \"headers\": {\"User-Agent\": "
    "\"...\",\n"
    "   \"X-Forwarded-For\": \"...\", \"DNT\": \"1\", \"Sec-GPC\": \"1\", "
    "\"Cookie\": \"...\"},\n"
    "   \"links\": [\"https://...\"], \"filenames\": [\"Song.m4a\"], "
    "\"errors\": [],\n"
    "   \"time\": \"2025-01-15T14:30:00Z\"}\n"
    "\"client_ip\" and \"user_agent\" are accepted as shorthands; header "
    "names are\n"
    "case-insensitive; \"time\" is optional (default: now).  A malformed "
    "line is\n"
    "reported as FILE:LINE and skipped; the other lines are still "
    "recorded.\n"
    "One summary line ends on stderr: read, stored, dropped by reason,\n"
    "rejected (and replayed, spooled, failures, ip_key_expired and\n"
    "ip_key_unavailable when there are any: visits whose period's key was\n"
    "destroyed, or could not be had, are stored without client_ip).  "
    "Exit 2\n"
    "when records could not be stored (they wait in the spool), or on "
    "SIGTERM\n"
    "or SIGINT (what was read is flushed and summarised first).\n"
    "\n"
    "  --dry-run        apply the policy but store nothing: one audit line "
    "per\n"
    "                   visit on [audit] output (default: standard output)\n"
    "  --max-line BYTES the longest visit line read (default 1048576); a\n"
    "                   longer one is reported as FILE:LINE and skipped\n"
    "                   without being kept in memory\n";

/* How long pt_track() may wait for room in the queue before the record is
 * dropped as queue_full (and the run fails): a store slower than this per
 * record is broken, not slow. */
#define RECORD_BLOCK_US (60u * 1000u * 1000u)

/* The most --max-line may raise the limit to: the parsed line costs about
 * 40 times its length in memory. */
#define MAX_LINE_LIMIT ((uint64_t)1 << 30)

/* Records per write into the file store: a bulk import does not wait for
 * a batch to fill, and each write costs a lock, a look at the file's end
 * and a system call, so 25 at a time (the library's default, for a web
 * application's trickle) made that a third of the writer's work. */
#define RECORD_FILE_BATCH 512u

/* Records queued at most (the library's default is 8,192): the file
 * store's writer takes 4,096 per cycle and then syncs, and a reader that
 * outruns it waited through most syncs for room.  Twice the default keeps
 * it reading during a sync; memory stays bounded by the queue (about 600
 * bytes a record: 10 MB when full). */
#define RECORD_QUEUE 16384u

/* Bounds for writing out what is queued at the end; whatever misses them
 * is in the spool, replayed by the next run. */
#define FLUSH_TIMEOUT_MS 120000u
#define CLOSE_TIMEOUT_MS 30000u

typedef struct record_run {
    const char *input_name; /* for FILE:LINE messages */
    FILE *input;
    FILE *audit; /* stdout or stderr in dry-run; NULL: a file (library) */
    int dry_run;
    size_t max_line; /* --max-line */
    uint64_t read;
    uint64_t rejected;
} record_run;

/* SIGINT/SIGTERM stop reading; what was accepted is still flushed and the
 * summary printed, so an interrupted import says exactly how far it got. */
static volatile sig_atomic_t interrupted;

static void
on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void
catch_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    /* No SA_RESTART: a read blocked on a pipe returns with EINTR. */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Dry-run sink for the standard streams: one audit line per visit.  Called
 * on our thread only (pt_track() runs here). */
static void
write_audit(const char *json_line, void *userdata)
{
    FILE *out = userdata;
    fputs(json_line, out);
    fputc('\n', out);
}

/* [audit] output: "-" or "stdout" (the default) and "stderr" go through
 * our FILE streams; a file the operator named is left to the library,
 * which opens it the safe way (never a link or a FIFO, created 0600) when
 * the tracker opens, and refuses what it must. */
static void
choose_audit(record_run *run, const pt_policy *policy)
{
    const char *out = pt_policy_get(policy, "audit", "output");
    if (!out || !*out || strcmp(out, "-") == 0 ||
        strcasecmp(out, "stdout") == 0)
        run->audit = stdout;
    else if (strcasecmp(out, "stderr") == 0)
        run->audit = stderr;
    else
        run->audit = NULL;
}

/* The default backend; DynamoDB keeps the batches it asks for. */
static int
file_store(const pt_policy *policy)
{
    const char *backend = pt_policy_get(policy, "storage", "backend");
    return !backend || !*backend || strcasecmp(backend, "file") == 0;
}

static int
open_input(record_run *run, const char *path)
{
    if (!path || strcmp(path, "-") == 0) {
        run->input = stdin;
        run->input_name = "<stdin>";
        return CLI_OK;
    }
    run->input = fopen(path, "r");
    run->input_name = path;
    if (!run->input) {
        cli_error("cannot read %s: %s", path, strerror(errno));
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

static int
blank(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r' &&
            line[i] != '\n')
            return 0;
    return 1;
}

/* Track every line; malformed ones are reported and skipped. */
static int
track_lines(record_run *run, pt_tracker *tracker)
{
    cli_lines lines;
    size_t lineno = 0;
    int rc = CLI_OK, lrc = 0;

    if (cli_lines_init(&lines, fileno(run->input), run->max_line,
                       &interrupted) != 0) {
        cli_error("record: out of memory");
        return CLI_RUNTIME;
    }
    while (!interrupted && (lrc = cli_lines_next(&lines)) > 0) {
        cli_visit visit;
        pt_track_result result;
        char err[160];
        int trc;

        lineno++;
        if (lines.too_long) {
            run->read++;
            run->rejected++;
            fprintf(stderr,
                    "%s:%zu: line of %zu bytes is longer than --max-line "
                    "%zu; skipped\n",
                    run->input_name, lineno, lines.length, run->max_line);
            continue;
        }
        if (blank(lines.line, lines.len))
            continue;
        run->read++;
        if (cli_visit_parse(&visit, lines.line, lines.len, err, sizeof(err))) {
            fprintf(stderr, "%s:%zu: %s\n", run->input_name, lineno, err);
            run->rejected++;
            continue;
        }
        trc = pt_track(tracker, &visit.visit, &result);
        cli_visit_free(&visit);
        if (trc != PT_OK) {
            rc = cli_fail(tracker, trc, "record");
            break;
        }
        /* The library found the visit unusable: say which line, and why
         * (its detail never quotes an address). */
        if (result.dropped == PT_DROP_INVALID)
            fprintf(stderr, "%s:%zu: visit dropped as invalid: %s\n",
                    run->input_name, lineno, pt_last_error());
    }
    if (rc == CLI_OK && interrupted) {
        cli_error("record: interrupted after line %zu of %s; the records "
                  "read so far are flushed",
                  lineno, run->input_name);
        rc = CLI_RUNTIME;
    } else if (rc == CLI_OK && lrc < 0) {
        cli_error("cannot read %s: %s", run->input_name, strerror(errno));
        rc = CLI_RUNTIME;
    }
    cli_lines_free(&lines);
    return rc;
}

static void
print_summary(const record_run *run, const pt_counters *c)
{
    uint64_t dropped = 0;
    const char *sep = " (";

    for (int r = 1; r < PT_DROP__COUNT; r++)
        dropped += c->dropped[r];
    fprintf(stderr, "privtrack: record: read %llu, stored %llu",
            (unsigned long long)run->read, (unsigned long long)c->stored);
    if (run->dry_run)
        fprintf(stderr, " (dry run: %llu would be stored)",
                (unsigned long long)c->accepted);
    fprintf(stderr, ", dropped %llu", (unsigned long long)dropped);
    for (int r = 1; r < PT_DROP__COUNT; r++) {
        if (!c->dropped[r])
            continue;
        fprintf(stderr, "%s%s %llu", sep,
                pt_drop_reason_name((pt_drop_reason)r),
                (unsigned long long)c->dropped[r]);
        sep = ", ";
    }
    fprintf(stderr, "%s, rejected %llu", dropped ? ")" : "",
            (unsigned long long)run->rejected);
    if (c->replayed)
        fprintf(stderr, ", replayed %llu", (unsigned long long)c->replayed);
    if (c->spooled)
        fprintf(stderr, ", spooled %llu", (unsigned long long)c->spooled);
    if (c->failures)
        fprintf(stderr, ", failures %llu", (unsigned long long)c->failures);
    if (c->ip_key_expired)
        fprintf(stderr, ", ip_key_expired %llu",
                (unsigned long long)c->ip_key_expired);
    if (c->ip_key_unavailable)
        fprintf(stderr, ", ip_key_unavailable %llu",
                (unsigned long long)c->ip_key_unavailable);
    fputc('\n', stderr);
    if (c->ip_key_unavailable)
        cli_error("record: %llu visits stored without client_ip: their "
                  "period's key could not be had (see the warnings above "
                  "and 'privtrack keys status')",
                  (unsigned long long)c->ip_key_unavailable);
}

/* Records that reached neither the store nor the spool were lost; spooled
 * ones are safe but not stored yet.  Both are a runtime failure for a
 * command whose job is to store them. */
static int
outcome(const record_run *run, const pt_counters *c)
{
    if (run->dry_run)
        return CLI_OK;
    int rc = CLI_OK;

    if (c->dropped[PT_DROP_QUEUE_FULL]) {
        cli_error("record: %llu records dropped: the queue was full (the "
                  "store, or the spool, did not take records)",
                  (unsigned long long)c->dropped[PT_DROP_QUEUE_FULL]);
        rc = CLI_RUNTIME;
    }
    if (c->stored + c->spooled < c->accepted) {
        cli_error("record: %llu records could not be stored nor spooled",
                  (unsigned long long)(c->accepted - c->stored - c->spooled));
        rc = CLI_RUNTIME;
    }
    if (rc != CLI_OK)
        return rc;
    if (c->spooled) {
        cli_error("record: the store failed; %llu records wait in the spool "
                  "(see 'privtrack spool status')",
                  (unsigned long long)c->spooled);
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

/* Records a previous run could not store wait in the spool: the first
 * thing a (real) record run does is try them again, in order, so that a
 * store that came back is caught up before new records are added. */
static void
replay_pending(pt_tracker *tracker)
{
    pt_spool_status st;
    uint64_t replayed = 0;
    if (pt_tracker_spool_status(tracker, &st) != PT_OK ||
        st.pending_records == 0)
        return;
    if (cli_spool_replay(tracker, "record: spool replay", 30000, &replayed) !=
        PT_OK)
        cli_error("record: %llu spooled records could not be replayed yet: "
                  "%s",
                  (unsigned long long)st.pending_records,
                  pt_tracker_errmsg(tracker));
}

static int
run_record(record_run *run, const cli_common *common, const char *path)
{
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    pt_policy *policy = NULL;
    pt_tracker *tracker = NULL;
    pt_counters counters;
    int rc, prc;

    if ((rc = cli_load_policy(common, &policy)) != CLI_OK)
        return rc;
    run->dry_run = run->dry_run ||
                   cli_policy_bool(policy, "audit", "dry_run") ||
                   cli_policy_bool(policy, "policy", "dry_run");
    if ((rc = open_input(run, path)) != CLI_OK) {
        pt_policy_free(policy);
        return rc;
    }
    if (run->dry_run)
        choose_audit(run, policy);
    opts.dry_run = run->dry_run ? 1 : -1;
    opts.storage_path = common->storage_path;
    /* Asynchronous, as in a web application: the writer thread batches
     * (one write and fsync per batch, ~10x the throughput of writing each
     * record through).  A batch import must not lose records to a full
     * queue, so pt_track() waits for room instead of dropping. */
    opts.synchronous = 0;
    opts.block_us = RECORD_BLOCK_US;
    opts.queue_capacity = RECORD_QUEUE;
    if (file_store(policy))
        opts.batch_size = RECORD_FILE_BATCH;
    opts.audit = run->dry_run && run->audit ? write_audit : NULL;
    opts.audit_userdata = run->audit;
    prc = pt_tracker_open(&tracker, policy, &opts);
    pt_policy_free(policy);
    if (prc != PT_OK)
        return cli_fail(NULL, prc,
                        run->dry_run ? "cannot start the dry run"
                                     : "cannot open the store");

    if (!run->dry_run)
        replay_pending(tracker);
    catch_signals();
    rc = track_lines(run, tracker);
    prc = pt_tracker_flush(tracker, FLUSH_TIMEOUT_MS);
    if (prc != PT_OK && rc == CLI_OK)
        rc = cli_fail(tracker, prc, "record: flush");
    pt_tracker_counters(tracker, &counters);
    pt_tracker_close(tracker, CLOSE_TIMEOUT_MS);
    print_summary(run, &counters);
    /* The outcome's lines too when something failed already: they say
     * how many records did not make it. */
    prc = outcome(run, &counters);
    return rc != CLI_OK ? rc : prc;
}

int
cli_cmd_record(int argc, char **argv, cli_common *common)
{
    static const struct option longopts[] = {
        {"dry-run", no_argument, NULL, 'n'},
        {"max-line", required_argument, NULL, 'm'},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    record_run run;
    int opt, rc;

    memset(&run, 0, sizeof(run));
    run.max_line = CLI_DEFAULT_MAX_LINE;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'n') {
            run.dry_run = 1;
        } else if (opt == 'm') {
            uint64_t max;
            if (cli_parse_uint(optarg, MAX_LINE_LIMIT, &max) != 0 || max == 0)
                return cli_usage_error("record",
                                       "record: --max-line wants a number "
                                       "of bytes from 1 to %llu",
                                       (unsigned long long)MAX_LINE_LIMIT);
            run.max_line = (size_t)max;
        } else if (opt == 'h') {
            printf("%s\n%s", record_help, cli_common_help);
            return CLI_OK;
        } else {
            return cli_bad_option("record", argv, opt);
        }
    }
    if (argc - optind > 1)
        return cli_usage_error("record", "record: one input file at most");
    cli_setup_logging(common);
    rc = run_record(&run, common, optind < argc ? argv[optind] : NULL);
    if (run.input && run.input != stdin)
        fclose(run.input);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_error("cannot write the audit to standard output: %s",
                  strerror(errno));
        rc = CLI_RUNTIME;
    }
    return rc;
}
