/* privtrack query and export: the records of a date or a range of dates,
 * newest first, streamed (pt_tracker_scan): memory does not grow with the
 * number of records. */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char query_help[] =
    "Usage: privtrack query [DATES] [--limit N] [--json] [OPTIONS]\n"
    "\n"
    "Show records, newest first: dates from the last to the first, and\n"
    "within a date the latest first (the file store: the last stored first,\n"
    "which is time order except for imported or replayed records).  Expired\n"
    "records (ttl in the past) are never shown.  Values that could drive a\n"
    "terminal (control characters) are shown escaped, as \\xNN.\n"
    "\n"
    "  --limit N        at most N records (default 100; 0: all)\n"
    "  --json           a JSON array of records instead of a table\n";

static const char export_help[] =
    "Usage: privtrack export [DATES] [--output FILE] [OPTIONS]\n"
    "\n"
    "Write every record of the dates, newest first (as query), as a JSON\n"
    "array.  Memory does not grow with the number of records.\n"
    "\n"
    "  --output FILE    write to FILE, created 0600 and replaced atomically,\n"
    "                   instead of standard output (\"-\")\n";

/* The table's columns follow the widest value of the first rows. */
#define TABLE_SIZING_ROWS 1000

typedef struct printer {
    FILE *out;
    const char *where; /* named in a write error: a path, or NULL (stdout) */
    int json;
    uint64_t count;
    int failed; /* a write or an allocation failed */
    /* table: rows held until the column widths are known */
    pt_record_list *held;
    int sized;
    size_t w_ts, w_sid, w_ip, w_ua;
} printer;

static size_t
width_of(const char *s, size_t current)
{
    size_t n = s && *s ? cli_term_safe(NULL, 0, s) : 1;
    return n > current ? n : current;
}

/* A value, escaped, padded to `width` (0: not padded). */
static void
cell(FILE *out, const char *s, size_t width)
{
    size_t n = s && *s ? cli_term_put(out, s) : (fputc('-', out), 1u);
    for (; n < width; n++)
        fputc(' ', out);
}

static void
table_row(printer *p, const pt_record *r)
{
    FILE *out = p->out;
    cell(out, r->timestamp, p->w_ts + 2);
    cell(out, r->session_id, p->w_sid + 2);
    cell(out, r->client_ip, p->w_ip + 2);
    fprintf(out, "%5lld  %5lld  %6lld  ", (long long)r->num_links_submitted,
            (long long)r->num_files_downloaded, (long long)r->error_count);
    cell(out, r->user_agent, p->w_ua + 2);
    for (size_t t = 0; t < r->title_count; t++) {
        if (t)
            fputs("; ", out);
        cli_term_put(out, r->titles[t]);
    }
    if (!r->title_count)
        fputc('-', out);
    fputc('\n', out);
}

/* Column widths from the rows held, then the header and those rows. */
static void
table_flush(printer *p)
{
    const pt_record_list *l = p->held;
    p->w_ts = 9, p->w_sid = 7, p->w_ip = 6, p->w_ua = 10;
    for (size_t i = 0; l && i < l->count; i++) {
        p->w_ts = width_of(l->records[i].timestamp, p->w_ts);
        p->w_sid = width_of(l->records[i].session_id, p->w_sid);
        p->w_ip = width_of(l->records[i].client_ip, p->w_ip);
        p->w_ua = width_of(l->records[i].user_agent, p->w_ua);
    }
    fprintf(p->out, "%-*s  %-*s  %-*s  %5s  %5s  %6s  %-*s  %s\n", (int)p->w_ts,
            "TIMESTAMP", (int)p->w_sid, "SESSION", (int)p->w_ip, "CLIENT",
            "LINKS", "FILES", "ERRORS", (int)p->w_ua, "USER AGENT", "TITLES");
    for (size_t i = 0; l && i < l->count; i++)
        table_row(p, &l->records[i]);
    pt_record_list_free(p->held);
    p->held = NULL;
    p->sized = 1;
}

static int
print_record(const pt_record *r, void *userdata)
{
    printer *p = userdata;

    if (p->json) {
        char *json = NULL;
        if (pt_record_to_json(&json, r) != PT_OK) {
            p->failed = 1;
            return PT_ENOMEM;
        }
        fputs(p->count ? ",\n" : "[\n", p->out);
        fputs(json, p->out);
        pt_free(json);
    } else if (p->sized) {
        table_row(p, r);
    } else {
        if ((!p->held && pt_record_list_new(&p->held) != PT_OK) ||
            pt_record_list_append(p->held, r) != PT_OK) {
            p->failed = 1;
            return PT_ENOMEM;
        }
        if (p->held->count == TABLE_SIZING_ROWS)
            table_flush(p);
    }
    p->count++;
    /* A closed pipe or a full disk: stop reading the store. */
    if (ferror(p->out)) {
        p->failed = 1;
        return PT_EIO;
    }
    return PT_OK;
}

static void
print_end(printer *p, const cli_read_args *a)
{
    if (p->json) {
        fputs(p->count ? "\n]\n" : "[]\n", p->out);
        return;
    }
    if (p->count == 0) {
        if (a->range_days == 1)
            fprintf(p->out, "no records for %s\n", a->first);
        else
            fprintf(p->out, "no records from %s to %s\n", a->first, a->last);
        return;
    }
    if (!p->sized)
        table_flush(p);
    fprintf(p->out, "%llu record%s\n", (unsigned long long)p->count,
            p->count == 1 ? "" : "s");
}

/* Scan the range newest first into `p`; prints the error and returns the
 * exit code. */
static int
stream(const cli_common *common, const cli_read_args *a, size_t limit,
       printer *p, const char *what)
{
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    pt_tracker *tracker = NULL;
    int rc = cli_open_tracker(common, 1, NULL, &tracker);
    int prc;

    if (rc != CLI_OK)
        return rc;
    o.from = a->first;
    o.to = a->last;
    o.limit = limit;
    o.flags = PT_SCAN_NEWEST_FIRST;
    /* Nothing stored on a date is no error; a missing DynamoDB table is
     * PT_ENOTFOUND and is reported. */
    prc = pt_tracker_scan(tracker, &o, print_record, p);
    if (prc != PT_OK && p->failed)
        cli_error("%s: cannot write %s: %s", what,
                  p->where ? p->where : "the output",
                  prc == PT_ENOMEM ? "out of memory" : strerror(errno));
    else if (prc != PT_OK)
        cli_fail(tracker, prc, "cannot read the store");
    if (prc != PT_OK)
        rc = p->failed ? CLI_RUNTIME : cli_exit_code(prc);
    pt_tracker_close(tracker, 10000);
    return rc;
}

int
cli_cmd_query(int argc, char **argv, cli_common *common)
{
    cli_read_args a;
    printer p;
    int rc = cli_parse_read_args(argc, argv, common, "query", query_help,
                                 CLI_READ_LIMIT | CLI_READ_JSON, &a);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_setup_logging(common);
    memset(&p, 0, sizeof(p));
    p.out = stdout;
    p.json = a.json;
    rc = stream(common, &a, (size_t)a.limit, &p, "query");
    if (rc == CLI_OK)
        print_end(&p, &a);
    pt_record_list_free(p.held);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_error("query: cannot write the output: %s", strerror(errno));
        rc = CLI_RUNTIME;
    }
    return rc;
}

int
cli_cmd_export(int argc, char **argv, cli_common *common)
{
    cli_read_args a;
    cli_output out;
    printer p;
    int rc = cli_parse_read_args(argc, argv, common, "export", export_help,
                                 CLI_READ_OUTPUT, &a);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_setup_logging(common);
    if ((rc = cli_output_open(&out, a.output, "export")) != CLI_OK)
        return rc;
    memset(&p, 0, sizeof(p));
    p.out = out.fp;
    p.where = out.path;
    p.json = 1;
    rc = stream(common, &a, 0, &p, "export");
    if (rc != CLI_OK) {
        out.reported = 1;          /* stream() said what failed */
        cli_output_close(&out, 0); /* no half export left behind */
        return rc;
    }
    print_end(&p, &a);
    rc = cli_output_close(&out, !ferror(p.out));
    if (rc == CLI_OK && out.path) {
        if (a.range_days == 1)
            fprintf(stderr,
                    "privtrack: export: %llu records of %s written to "
                    "%s\n",
                    (unsigned long long)p.count, a.first, a.output);
        else
            fprintf(stderr,
                    "privtrack: export: %llu records of %s..%s "
                    "written to %s\n",
                    (unsigned long long)p.count, a.first, a.last, a.output);
    }
    return rc;
}
