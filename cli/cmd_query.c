/* privtrack query and export: one date's records, newest first. */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char query_help[] =
    "Usage: privtrack query --date YYYY-MM-DD [--limit N] [--json] "
    "[OPTIONS]\n"
    "\n"
    "Show one UTC date's records, newest first.  Expired records (ttl in "
    "the\n"
    "past) are never shown.\n"
    "\n"
    "  --date DATE      the UTC date to read (required)\n"
    "  --limit N        at most N records (default 100; 0: all)\n"
    "  --json           a JSON array of records instead of a table\n";

static const char export_help[] =
    "Usage: privtrack export --date YYYY-MM-DD [--output FILE] [OPTIONS]\n"
    "\n"
    "Write all of one UTC date's records, newest first, as a JSON array.\n"
    "\n"
    "  --date DATE      the UTC date to export (required)\n"
    "  --output FILE    write to FILE (replaced atomically) instead of "
    "standard\n"
    "                   output (\"-\" is standard output)\n";

/* Arguments of query, stats and export. */
typedef struct read_args {
    const char *date;
    uint64_t limit;
    int json;
    const char *output;
} read_args;

int
cli_read_date(const cli_common *common, const char *date, size_t limit,
              pt_record_list **out)
{
    pt_tracker *tracker = NULL;
    int rc = cli_open_tracker(common, 1, NULL, &tracker);
    int prc;

    *out = NULL;
    if (rc != CLI_OK)
        return rc;
    /* A date with nothing stored is an empty list, not an error; a missing
     * DynamoDB table is PT_ENOTFOUND and is reported. */
    prc = pt_tracker_query(tracker, out, date, limit);
    if (prc != PT_OK)
        rc = cli_fail(tracker, prc, "cannot read the store");
    pt_tracker_close(tracker, 10000);
    return rc;
}

/* Records as a JSON array, one record per line. */
int
cli_write_json_array(FILE *out, const pt_record_list *list)
{
    if (fputs("[", out) == EOF)
        return -1;
    for (size_t i = 0; i < list->count; i++) {
        char *json = NULL;
        if (pt_record_to_json(&json, &list->records[i]) != PT_OK)
            return -1;
        int bad =
            fputs(i ? ",\n" : "\n", out) == EOF || fputs(json, out) == EOF;
        pt_free(json);
        if (bad)
            return -1;
    }
    return fputs(list->count ? "\n]\n" : "]\n", out) == EOF ? -1 : 0;
}

static const char *
or_dash(const char *s)
{
    return s && *s ? s : "-";
}

static int
max_width(int current, const char *s)
{
    int n = (int)strlen(or_dash(s));
    return n > current ? n : current;
}

static void
print_titles(const pt_record *r)
{
    for (size_t t = 0; t < r->title_count; t++)
        printf("%s%s", t ? "; " : "", r->titles[t]);
    if (!r->title_count)
        fputs("-", stdout);
}

/* A readable table; widths follow the widest value of each column. */
static void
print_table(const pt_record_list *list, const char *date)
{
    int w_ts = 9, w_sid = 7, w_ip = 6, w_ua = 10;

    if (list->count == 0) {
        printf("no records for %s\n", date);
        return;
    }
    for (size_t i = 0; i < list->count; i++) {
        const pt_record *r = &list->records[i];
        w_ts = max_width(w_ts, r->timestamp);
        w_sid = max_width(w_sid, r->session_id);
        w_ip = max_width(w_ip, r->client_ip);
        w_ua = max_width(w_ua, r->user_agent);
    }
    printf("%-*s  %-*s  %-*s  %5s  %5s  %6s  %-*s  %s\n", w_ts, "TIMESTAMP",
           w_sid, "SESSION", w_ip, "CLIENT", "LINKS", "FILES", "ERRORS", w_ua,
           "USER AGENT", "TITLES");
    for (size_t i = 0; i < list->count; i++) {
        const pt_record *r = &list->records[i];
        printf("%-*s  %-*s  %-*s  %5lld  %5lld  %6lld  %-*s  ", w_ts,
               or_dash(r->timestamp), w_sid, or_dash(r->session_id), w_ip,
               or_dash(r->client_ip), (long long)r->num_links_submitted,
               (long long)r->num_files_downloaded, (long long)r->error_count,
               w_ua, or_dash(r->user_agent));
        print_titles(r);
        fputc('\n', stdout);
    }
    printf("%zu record%s\n", list->count, list->count == 1 ? "" : "s");
}

/* Options of the reading commands; the command's name selects which of
 * --limit, --json and --output it accepts. */
static int
parse_read_args(int argc, char **argv, cli_common *common, const char *command,
                const char *help, read_args *args)
{
    static const struct option longopts[] = {
        {"date", required_argument, NULL, 'd'},
        {"limit", required_argument, NULL, 'l'},
        {"json", no_argument, NULL, 'j'},
        {"output", required_argument, NULL, 'o'},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    int is_query = strcmp(command, "query") == 0;
    int is_export = strcmp(command, "export") == 0;
    int opt;

    args->limit = 100;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":vho:", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'h') {
            printf("%s\n%s", help, cli_common_help);
            return -1;
        } else if (opt == 'd') {
            args->date = optarg;
        } else if (opt == 'l' && is_query) {
            if (cli_parse_uint(optarg, 1000000000, &args->limit))
                return cli_usage_error(command,
                                       "%s: --limit must be a number, not "
                                       "'%s'",
                                       command, optarg);
        } else if (opt == 'j' && !is_export) {
            args->json = 1;
        } else if (opt == 'o' && is_export) {
            args->output = optarg;
        } else {
            if (opt != '?' && opt != ':')
                opt = '?';
            return cli_bad_option(command, argv, opt);
        }
    }
    if (optind < argc)
        return cli_usage_error(command, "%s: unexpected argument '%s'", command,
                               argv[optind]);
    if (!args->date)
        return cli_usage_error(command, "%s: --date YYYY-MM-DD is required",
                               command);
    if (!cli_valid_date(args->date))
        return cli_usage_error(command,
                               "%s: --date '%s' is not a date (YYYY-MM-DD)",
                               command, args->date);
    return CLI_OK;
}

int
cli_parse_read_args(int argc, char **argv, cli_common *common,
                    const char *command, const char *help, const char **date,
                    int *json)
{
    read_args args = {NULL, 0, 0, NULL};
    int rc = parse_read_args(argc, argv, common, command, help, &args);
    *date = args.date;
    *json = args.json;
    return rc;
}

int
cli_cmd_query(int argc, char **argv, cli_common *common)
{
    read_args args = {NULL, 0, 0, NULL};
    pt_record_list *list = NULL;
    int rc = parse_read_args(argc, argv, common, "query", query_help, &args);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_setup_logging(common);
    rc = cli_read_date(common, args.date, (size_t)args.limit, &list);
    if (rc != CLI_OK)
        return rc;
    if (args.json) {
        if (cli_write_json_array(stdout, list) != 0)
            rc = CLI_RUNTIME;
    } else {
        print_table(list, args.date);
    }
    pt_record_list_free(list);
    if ((fflush(stdout) != 0 || rc != CLI_OK)) {
        cli_error("query: cannot write the output: %s", strerror(errno));
        return CLI_RUNTIME;
    }
    return CLI_OK;
}

/* Write to FILE.tmp then rename, so a reader never sees half an export. */
static int
export_to_file(const char *path, const pt_record_list *list)
{
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    FILE *out;
    int rc = CLI_OK;

    if (!tmp)
        return CLI_RUNTIME;
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    out = fopen(tmp, "w");
    if (!out) {
        cli_error("export: cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        return CLI_RUNTIME;
    }
    if (cli_write_json_array(out, list) != 0 || fflush(out) != 0 ||
        fsync(fileno(out)) != 0) {
        cli_error("export: cannot write %s: %s", tmp, strerror(errno));
        rc = CLI_RUNTIME;
    }
    if (fclose(out) != 0 && rc == CLI_OK) {
        cli_error("export: cannot write %s: %s", tmp, strerror(errno));
        rc = CLI_RUNTIME;
    }
    if (rc == CLI_OK && rename(tmp, path) != 0) {
        cli_error("export: cannot rename %s to %s: %s", tmp, path,
                  strerror(errno));
        rc = CLI_RUNTIME;
    }
    if (rc != CLI_OK)
        unlink(tmp);
    free(tmp);
    return rc;
}

int
cli_cmd_export(int argc, char **argv, cli_common *common)
{
    read_args args = {NULL, 0, 0, NULL};
    pt_record_list *list = NULL;
    int rc = parse_read_args(argc, argv, common, "export", export_help, &args);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_setup_logging(common);
    rc = cli_read_date(common, args.date, 0, &list);
    if (rc != CLI_OK)
        return rc;
    if (args.output && strcmp(args.output, "-") != 0) {
        rc = export_to_file(args.output, list);
        if (rc == CLI_OK)
            fprintf(stderr,
                    "privtrack: export: %zu records of %s written to "
                    "%s\n",
                    list->count, args.date, args.output);
    } else if (cli_write_json_array(stdout, list) != 0 || fflush(stdout) != 0) {
        cli_error("export: cannot write the output: %s", strerror(errno));
        rc = CLI_RUNTIME;
    }
    pt_record_list_free(list);
    return rc;
}
