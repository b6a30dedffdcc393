/* privtrack stats: the seed's example reports, for one date. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char stats_help[] =
    "Usage: privtrack stats --date YYYY-MM-DD [--json] [OPTIONS]\n"
    "\n"
    "Summarise one UTC date: visits, unique visitors (distinct client_ip\n"
    "values: after the policy, so a truncated or hashed address counts once\n"
    "per network or pseudonym), files downloaded, success rate (visits "
    "without\n"
    "errors), the 10 most downloaded titles and the busiest hour (UTC).\n"
    "\n"
    "  --date DATE      the UTC date to summarise (required)\n"
    "  --json           one JSON object instead of text\n";

#define TOP_TITLES 10

typedef struct title_count {
    const char *title;
    size_t count;
} title_count;

typedef struct day_stats {
    size_t visits;
    size_t unique_visitors;
    long long files;
    size_t successful;
    int busiest_hour; /* -1: no visits */
    size_t busiest_hour_visits;
    title_count *titles; /* distinct titles, most downloaded first */
    size_t title_count;
} day_stats;

static int
cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Most downloaded first; ties in title order, so output is stable. */
static int
cmp_title_count(const void *a, const void *b)
{
    const title_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->title, y->title);
}

/* Sort `items` and count each distinct string's run. */
static size_t
count_distinct(const char **items, size_t n, title_count *runs)
{
    size_t distinct = 0;
    qsort(items, n, sizeof(*items), cmp_str);
    for (size_t i = 0; i < n; i++) {
        if (distinct && strcmp(runs[distinct - 1].title, items[i]) == 0) {
            runs[distinct - 1].count++;
            continue;
        }
        runs[distinct].title = items[i];
        runs[distinct].count = 1;
        distinct++;
    }
    return distinct;
}

static void
busiest_hour(const pt_record_list *list, day_stats *s)
{
    size_t per_hour[24] = {0};
    s->busiest_hour = -1;
    for (size_t i = 0; i < list->count; i++) {
        const char *ts = list->records[i].timestamp;
        if (!ts || strlen(ts) < 13 || ts[11] < '0' || ts[11] > '2' ||
            ts[12] < '0' || ts[12] > '9')
            continue;
        int hour = (ts[11] - '0') * 10 + (ts[12] - '0');
        if (hour < 24)
            per_hour[hour]++;
    }
    for (int h = 0; h < 24; h++) {
        if (per_hour[h] > s->busiest_hour_visits) {
            s->busiest_hour = h;
            s->busiest_hour_visits = per_hour[h];
        }
    }
}

static int
compute(const pt_record_list *list, day_stats *s)
{
    size_t n_titles = 0, n_ips = 0;
    const char **ips, **titles;
    title_count *ip_runs;

    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < list->count; i++)
        n_titles += list->records[i].title_count;
    ips = calloc(list->count + 1, sizeof(*ips));
    ip_runs = calloc(list->count + 1, sizeof(*ip_runs));
    titles = calloc(n_titles + 1, sizeof(*titles));
    s->titles = calloc(n_titles + 1, sizeof(*s->titles));
    if (!ips || !ip_runs || !titles || !s->titles) {
        free(ips);
        free(ip_runs);
        free(titles);
        free(s->titles);
        s->titles = NULL;
        return -1;
    }
    n_titles = 0;
    for (size_t i = 0; i < list->count; i++) {
        const pt_record *r = &list->records[i];
        s->visits++;
        s->files += r->num_files_downloaded;
        s->successful += !r->has_errors;
        if (r->client_ip && *r->client_ip)
            ips[n_ips++] = r->client_ip;
        for (size_t t = 0; t < r->title_count; t++)
            titles[n_titles++] = r->titles[t];
    }
    s->unique_visitors = count_distinct(ips, n_ips, ip_runs);
    s->title_count = count_distinct(titles, n_titles, s->titles);
    qsort(s->titles, s->title_count, sizeof(*s->titles), cmp_title_count);
    busiest_hour(list, s);
    free(ips);
    free(ip_runs);
    free(titles);
    return 0;
}

static void
print_text(const char *date, const day_stats *s)
{
    printf("date:             %s\n", date);
    printf("visits:           %zu\n", s->visits);
    printf("unique visitors:  %zu\n", s->unique_visitors);
    printf("files downloaded: %lld\n", s->files);
    if (s->visits)
        printf("success rate:     %.1f%%\n",
               100.0 * (double)s->successful / (double)s->visits);
    else
        printf("success rate:     -\n");
    if (s->busiest_hour >= 0)
        printf("busiest hour:     %02d:00-%02d:59 UTC (%zu visits)\n",
               s->busiest_hour, s->busiest_hour, s->busiest_hour_visits);
    else
        printf("busiest hour:     -\n");
    printf("top titles:%s\n", s->title_count ? "" : "       -");
    for (size_t i = 0; i < s->title_count && i < TOP_TITLES; i++)
        printf("  %2zu. %s (%zu)\n", i + 1, s->titles[i].title,
               s->titles[i].count);
}

static int
print_json(const char *date, const day_stats *s)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *top = cJSON_AddArrayToObject(root, "top_titles");
    char *text;
    int rc;

    cJSON_AddStringToObject(root, "date", date);
    cJSON_AddNumberToObject(root, "visits", (double)s->visits);
    cJSON_AddNumberToObject(root, "unique_visitors",
                            (double)s->unique_visitors);
    cJSON_AddNumberToObject(root, "files_downloaded", (double)s->files);
    if (s->visits)
        cJSON_AddNumberToObject(root, "success_rate",
                                (double)s->successful / (double)s->visits);
    else
        cJSON_AddNullToObject(root, "success_rate");
    if (s->busiest_hour >= 0) {
        cJSON_AddNumberToObject(root, "busiest_hour", s->busiest_hour);
        cJSON_AddNumberToObject(root, "busiest_hour_visits",
                                (double)s->busiest_hour_visits);
    } else {
        cJSON_AddNullToObject(root, "busiest_hour");
        cJSON_AddNumberToObject(root, "busiest_hour_visits", 0);
    }
    for (size_t i = 0; i < s->title_count && i < TOP_TITLES; i++) {
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "title", s->titles[i].title);
        cJSON_AddNumberToObject(t, "count", (double)s->titles[i].count);
        cJSON_AddItemToArray(top, t);
    }
    text = cJSON_PrintUnformatted(root);
    rc = text && puts(text) != EOF ? 0 : -1;
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}

int
cli_cmd_stats(int argc, char **argv, cli_common *common)
{
    const char *date = NULL;
    int json = 0;
    pt_record_list *list = NULL;
    day_stats s;
    int rc = cli_parse_read_args(argc, argv, common, "stats", stats_help, &date,
                                 &json);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_setup_logging(common);
    rc = cli_read_date(common, date, 0, &list);
    if (rc != CLI_OK)
        return rc;
    if (compute(list, &s) != 0) {
        pt_record_list_free(list);
        cli_error("stats: out of memory");
        return CLI_RUNTIME;
    }
    if (json)
        rc = print_json(date, &s) == 0 ? CLI_OK : CLI_RUNTIME;
    else
        print_text(date, &s);
    free(s.titles);
    pt_record_list_free(list);
    if (fflush(stdout) != 0 || rc != CLI_OK) {
        cli_error("stats: cannot write the output: %s", strerror(errno));
        return CLI_RUNTIME;
    }
    return CLI_OK;
}
