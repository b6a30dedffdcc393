/* privtrack report: the statistics of a range as one self-contained HTML
 * page (report_html.c). */
#include "cli.h"

#include <cjson/cJSON.h>
#include <string.h>
#include <time.h>

static const char report_help[] =
    "Usage: privtrack report [DATES] --output FILE [OPTIONS]\n"
    "\n"
    "Write the statistics of a date or a range (those of privtrack stats,\n"
    "with the same k-anonymity) as one HTML page: inline CSS and SVG\n"
    "charts of visits per day and per hour, top titles, browser families\n"
    "and the success rate, and a header with the period, the policy ids of\n"
    "the records and the k-anonymity rule.  The page loads nothing from\n"
    "anywhere (no script, font, image or style; a Content-Security-Policy\n"
    "forbids it), so opening it tells no third party.\n"
    "\n"
    "  --output FILE    the page, created 0600 and replaced atomically "
    "(\"-\":\n"
    "                   standard output)\n";

int
cli_cmd_report(int argc, char **argv, cli_common *common)
{
    cli_read_args a;
    cli_output out;
    char *json = NULL, generated[32];
    time_t now = time(NULL);
    struct tm tm;
    cJSON *doc;
    int rc = cli_parse_read_args(argc, argv, common, "report", report_help,
                                 CLI_READ_OUTPUT, &a);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (!a.output)
        return cli_usage_error("report",
                               "report: --output FILE is required (\"-\" for "
                               "standard output)");
    cli_setup_logging(common);
    if ((rc = cli_stats_json(common, &a, &json)) != CLI_OK)
        return rc;
    doc = cJSON_Parse(json);
    pt_free(json);
    if (!doc) {
        cli_error("report: out of memory");
        return CLI_RUNTIME;
    }
    gmtime_r(&now, &tm);
    strftime(generated, sizeof(generated), "%Y-%m-%d %H:%M UTC", &tm);
    if ((rc = cli_output_open(&out, a.output, "report")) == CLI_OK) {
        int ok = cli_report_html(out.fp, doc, generated) == 0;
        rc = cli_output_close(&out, ok);
    }
    cJSON_Delete(doc);
    if (rc == CLI_OK && out.path)
        fprintf(stderr, "privtrack: report: %s..%s written to %s\n", a.first,
                a.last, a.output);
    return rc;
}
