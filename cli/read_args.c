/* The options of the reading commands (query, stats, export, report): a
 * date or a range of dates, and what each command adds. */
#include "cli.h"

#include <getopt.h>
#include <string.h>
#include <time.h>

/* A range longer than this needs --yes: reading years of records by
 * mistake (a typo in a year) costs hours on a big store. */
#define RANGE_WITHOUT_YES 366

const char cli_range_help[] =
    "Dates (UTC; default: today):\n"
    "  --date DATE      one date, YYYY-MM-DD\n"
    "  --from DATE      the first date of a range (--to defaults to today)\n"
    "  --to DATE        the last date of a range (needs --from)\n"
    "  --days N         the N days ending today\n"
    "  --yes            allow a range of more than 366 days\n";

static void
format_days(int64_t days, char out[11])
{
    time_t t = (time_t)(days * 86400);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

static int64_t
today_days(void)
{
    return (int64_t)time(NULL) / 86400;
}

/* The range the options name, checked.  Messages say what to change. */
static int
resolve(const char *command, cli_read_args *a)
{
    int64_t from, to;

    if (a->date && (a->from || a->to || a->have_days))
        return cli_usage_error(command,
                               "%s: --date names one date; it cannot be "
                               "combined with --from, --to or --days",
                               command);
    if (a->have_days && (a->from || a->to))
        return cli_usage_error(command,
                               "%s: --days N is the N days ending today; "
                               "use it without --from and --to",
                               command);
    if (a->to && !a->from)
        return cli_usage_error(command, "%s: --to needs --from", command);
    for (int i = 0; i < 3; i++) {
        const char *d = i == 0 ? a->date : i == 1 ? a->from : a->to;
        const char *opt = i == 0 ? "date" : i == 1 ? "from" : "to";
        if (d && !cli_valid_date(d))
            return cli_usage_error(command,
                                   "%s: --%s '%s' is not a date (YYYY-MM-DD)",
                                   command, opt, d);
    }
    if (a->date) {
        cli_date_days(a->date, &from);
        to = from;
    } else if (a->from) {
        cli_date_days(a->from, &from);
        if (a->to)
            cli_date_days(a->to, &to);
        else
            to = today_days();
    } else if (a->have_days) {
        if (a->days == 0)
            return cli_usage_error(command, "%s: --days must be at least 1",
                                   command);
        to = today_days();
        from = to - (int64_t)a->days + 1;
    } else {
        from = to = today_days(); /* as the seed's query_visits.py did */
    }
    format_days(from, a->first);
    format_days(to, a->last);
    if (from > to)
        return cli_usage_error(command,
                               "%s: the range %s..%s is reversed (--from must "
                               "not be after --to)",
                               command, a->first, a->last);
    if (from < 0)
        return cli_usage_error(command, "%s: dates start in 1970", command);
    a->range_days = (uint64_t)(to - from + 1);
    if (a->range_days > RANGE_WITHOUT_YES && !a->yes)
        return cli_usage_error(command,
                               "%s: %s..%s is %llu days; add --yes to read "
                               "more than %d days at once",
                               command, a->first, a->last,
                               (unsigned long long)a->range_days,
                               RANGE_WITHOUT_YES);
    return CLI_OK;
}

enum {
    OPT_DATE = 0x200,
    OPT_FROM,
    OPT_TO,
    OPT_DAYS,
    OPT_YES,
    OPT_LIMIT,
    OPT_JSON,
};

int
cli_parse_read_args(int argc, char **argv, cli_common *common,
                    const char *command, const char *help, unsigned int accept,
                    cli_read_args *a)
{
    static const struct option longopts[] = {
        {"date", required_argument, NULL, OPT_DATE},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"days", required_argument, NULL, OPT_DAYS},
        {"yes", no_argument, NULL, OPT_YES},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"json", no_argument, NULL, OPT_JSON},
        {"output", required_argument, NULL, 'o'},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    int opt;

    memset(a, 0, sizeof(*a));
    a->limit = 100;
    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":vho:", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'h') {
            printf("%s\n%s\n%s", help, cli_range_help, cli_common_help);
            return -1;
        } else if (opt == OPT_DATE) {
            a->date = optarg;
        } else if (opt == OPT_FROM) {
            a->from = optarg;
        } else if (opt == OPT_TO) {
            a->to = optarg;
        } else if (opt == OPT_DAYS) {
            if (cli_parse_uint(optarg, 1000000, &a->days))
                return cli_usage_error(command,
                                       "%s: --days must be a number, not '%s'",
                                       command, optarg);
            a->have_days = 1;
        } else if (opt == OPT_YES) {
            a->yes = 1;
        } else if (opt == OPT_LIMIT && (accept & CLI_READ_LIMIT)) {
            if (cli_parse_uint(optarg, 1000000000, &a->limit))
                return cli_usage_error(command,
                                       "%s: --limit must be a number, not "
                                       "'%s'",
                                       command, optarg);
        } else if (opt == OPT_JSON && (accept & CLI_READ_JSON)) {
            a->json = 1;
        } else if (opt == 'o' && (accept & CLI_READ_OUTPUT)) {
            a->output = optarg;
        } else {
            if (opt != '?' && opt != ':')
                opt = '?';
            return cli_bad_option(command, argv, opt);
        }
    }
    if (optind < argc)
        return cli_usage_error(command, "%s: unexpected argument '%s'", command,
                               argv[optind]);
    return resolve(command, a);
}
