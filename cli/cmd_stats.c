/* privtrack stats: the library's statistics (pt_tracker_stats) of a date
 * or a range, as text or as its JSON. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <string.h>

static const char stats_help[] =
    "Usage: privtrack stats [DATES] [--json] [OPTIONS]\n"
    "\n"
    "Summarise a date or a range: visits, unique visitors (distinct stored\n"
    "client_ip values, so a truncated or hashed address counts once per\n"
    "network or pseudonym; with keys that rotate, a sum of per-period\n"
    "counts over several periods, and labelled so), files downloaded,\n"
    "success rate (visits without errors), the busiest hour (UTC), the top\n"
    "titles and user-agent families, and one row per day for a range.\n"
    "k-anonymity ([report] min_group, default 5): a title, user-agent\n"
    "family, hour or day backed by fewer distinct visitors is not shown but\n"
    "folded into \"other\"; totals stay exact.\n"
    "\n"
    "  --json           the statistics as one JSON object\n";

int
cli_stats_json(const cli_common *common, const cli_read_args *a, char **json)
{
    pt_stats_options o = PT_STATS_OPTIONS_INIT;
    pt_tracker *tracker = NULL;
    int rc = cli_open_tracker(common, 1, NULL, &tracker);
    int prc;

    *json = NULL;
    if (rc != CLI_OK)
        return rc;
    o.from = a->first;
    o.to = a->last;
    prc = pt_tracker_stats(tracker, &o, json);
    if (prc != PT_OK)
        rc = cli_fail(tracker, prc, "cannot read the store");
    pt_tracker_close(tracker, 10000);
    return rc;
}

double
cli_json_num(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

const char *
cli_json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void
percent(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (cJSON_IsNumber(v))
        printf("%.1f%%", 100.0 * v->valuedouble);
    else
        fputs("-", stdout);
}

/* A ranking and its "other" line. */
static void
print_ranking(const cJSON *doc, const char *list, const char *name,
              const char *count, const char *heading, const char *unit)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, list), *e;
    char other_key[64];
    const cJSON *other;
    int i = 0;

    snprintf(other_key, sizeof(other_key), "%s_other", list);
    other = cJSON_GetObjectItemCaseSensitive(doc, other_key);
    if (cJSON_GetArraySize(rows))
        printf("%s\n", heading);
    else
        printf("%-18s-\n", heading);
    cJSON_ArrayForEach(e, rows)
    {
        printf("  %2d. ", ++i);
        cli_term_put(stdout, cli_json_str(e, name));
        printf(" (%.0f)\n", cli_json_num(e, count));
    }
    if (cli_json_num(other, "groups") > 0) {
        printf("      other: %.0f (%.0f %s", cli_json_num(other, count),
               cli_json_num(other, "groups"), unit);
        if (cli_json_num(other, "suppressed_groups") > 0)
            printf(", %.0f of them backed by too few visitors to show",
                   cli_json_num(other, "suppressed_groups"));
        fputs(")\n", stdout);
    }
}

static void
print_days(const cJSON *doc)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "per_day"), *e;
    const cJSON *other = cJSON_GetObjectItemCaseSensitive(doc, "per_day_other");

    printf("per day:%s\n", cJSON_GetArraySize(rows) ? "" : "          -");

    if (cJSON_GetArraySize(rows))
        printf("  %-10s  %8s  %8s  %8s  %8s\n", "DATE", "VISITS", "UNIQUE",
               "FILES", "SUCCESS");
    cJSON_ArrayForEach(e, rows)
    {
        printf("  %-10s  %8.0f  %8.0f  %8.0f  ", cli_json_str(e, "date"),
               cli_json_num(e, "visits"), cli_json_num(e, "unique_visitors"),
               cli_json_num(e, "files_downloaded"));
        percent(e, "success_rate");
        fputc('\n', stdout);
    }
    if (cli_json_num(other, "groups") > 0)
        printf("  other: %.0f days with too few visitors to show (%.0f "
               "visits)\n",
               cli_json_num(other, "groups"), cli_json_num(other, "visits"));
}

/* With rotating keys a person has one pseudonym per key period: say that
 * the count is within one period, or that it is a sum over several. */
static void
unique_visitors(const cJSON *doc)
{
    const char *rotation = cli_json_str(doc, "rotation");
    double periods = cli_json_num(doc, "key_periods");

    printf("unique visitors:  %.0f", cli_json_num(doc, "unique_visitors"));
    if (strcmp(cli_json_str(doc, "unique_visitors_method"), "sum_of_periods") ==
        0)
        printf(" (a sum of %.0f %s counts: keys rotate %s, so one person "
               "counts once per period)",
               periods, rotation, rotation);
    else if (periods == 1 && strcmp(rotation, "never") != 0)
        printf(" (within one %s key period)", rotation);
    fputc('\n', stdout);
}

static void
print_text(const cJSON *doc)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "k_anonymity");
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(doc, "policies"), *e;
    const cJSON *busiest =
        cJSON_GetObjectItemCaseSensitive(doc, "busiest_hour");
    double days = cli_json_num(doc, "days");

    if (days == 1)
        printf("date:             %s\n", cli_json_str(doc, "from"));
    else
        printf("period:           %s to %s (%.0f days)\n",
               cli_json_str(doc, "from"), cli_json_str(doc, "to"), days);
    printf("visits:           %.0f\n", cli_json_num(doc, "visits"));
    unique_visitors(doc);
    printf("files downloaded: %.0f\n", cli_json_num(doc, "files_downloaded"));
    fputs("success rate:     ", stdout);
    percent(doc, "success_rate");
    fputc('\n', stdout);
    if (cJSON_IsNumber(busiest))
        printf("busiest hour:     %02d:00-%02d:59 UTC (%.0f visits)\n",
               busiest->valueint, busiest->valueint,
               cli_json_num(doc, "busiest_hour_visits"));
    else
        printf("busiest hour:     -\n");
    print_ranking(doc, "top_titles", "title", "count", "top titles:", "titles");
    print_ranking(doc, "user_agents", "family", "visits",
                  "user agents:", "families");
    if (days > 1)
        print_days(doc);
    fputs("policies:        ", stdout);
    cJSON_ArrayForEach(e, pol)
    {
        fputc(' ', stdout);
        cli_term_put(stdout, cli_json_str(e, "policy"));
        printf(" (%.0f)", cli_json_num(e, "visits"));
    }
    fputs(cJSON_GetArraySize(pol) ? "\n" : " -\n", stdout);
    printf("k-anonymity:      %s", cli_json_str(k, "rule"));
    if (cli_json_num(k, "suppressed_groups") > 0)
        printf(" (%.0f groups folded)", cli_json_num(k, "suppressed_groups"));
    fputc('\n', stdout);
}

int
cli_cmd_stats(int argc, char **argv, cli_common *common)
{
    cli_read_args a;
    char *json = NULL;
    cJSON *doc;
    int rc = cli_parse_read_args(argc, argv, common, "stats", stats_help,
                                 CLI_READ_JSON, &a);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_setup_logging(common);
    if ((rc = cli_stats_json(common, &a, &json)) != CLI_OK)
        return rc;
    if (a.json) {
        puts(json);
    } else if ((doc = cJSON_Parse(json)) != NULL) {
        print_text(doc);
        cJSON_Delete(doc);
    } else {
        cli_error("stats: out of memory");
        rc = CLI_RUNTIME;
    }
    pt_free(json);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_error("stats: cannot write the output: %s", strerror(errno));
        rc = CLI_RUNTIME;
    }
    return rc;
}
