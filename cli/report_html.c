/*
 * The HTML report: one self-contained page drawn from the statistics'
 * JSON (pt_tracker_stats) — inline CSS and inline SVG, no script, no font,
 * image or style from anywhere, and a Content-Security-Policy that forbids
 * fetching anything, so that opening the report tells no third party.
 *
 * Every figure on the page is also an element with a data-fig attribute
 * (data-fig="visits", data-fig="title:Song", ...) holding the number as
 * stats --json has it: the browser test reads them back and compares.
 */
#include "cli.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Text from records, safe in HTML: control characters as \xNN (as on the
 * terminal), then &, <, >, " and ' as entities. */
static void
html(FILE *out, const char *s)
{
    size_t n = cli_term_safe(NULL, 0, s);
    char *safe = malloc(n + 1);
    if (!safe)
        return;
    cli_term_safe(safe, n + 1, s);
    for (const char *p = safe; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", out);
            break;
        case '<':
            fputs("&lt;", out);
            break;
        case '>':
            fputs("&gt;", out);
            break;
        case '"':
            fputs("&quot;", out);
            break;
        case '\'':
            fputs("&#39;", out);
            break;
        default:
            fputc(*p, out);
        }
    }
    free(safe);
}

/* A name cut to what fits left of a bar (24 characters), whole characters
 * only; the full name is in the bar's data-fig and title. */
static void
short_name(FILE *out, const char *s)
{
    size_t n = cli_term_safe(NULL, 0, s), cut = 0, chars = 0;
    char *safe = malloc(n + 1);
    if (!safe)
        return;
    cli_term_safe(safe, n + 1, s);
    while (safe[cut] && chars < 24) {
        cut++;
        while ((safe[cut] & 0xC0) == 0x80)
            cut++;
        chars++;
    }
    if (safe[cut]) {
        safe[cut] = '\0';
        html(out, safe);
        fputs("\u2026", out);
    } else {
        html(out, safe);
    }
    free(safe);
}

static const char style[] =
    ":root{--ink:#1d2430;--mute:#5b6575;--line:#d9dee7;--bar:#3b6fb6;"
    "--ok:#3f8f5a;--bad:#c2553d;--bg:#f6f7f9}"
    "*{box-sizing:border-box}"
    "body{margin:0;background:var(--bg);color:var(--ink);"
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif}"
    "main{max-width:1180px;margin:0 auto;padding:20px 16px 40px}"
    "h1{font-size:1.5em;margin:0 0 4px}"
    "h2{font-size:1.05em;margin:0 0 10px}"
    ".sub{color:var(--mute);margin:0 0 16px}"
    ".cards{display:grid;gap:12px;"
    "grid-template-columns:repeat(auto-fit,minmax(160px,1fr));margin:0 0 16px}"
    ".card,.panel{background:#fff;border:1px solid var(--line);"
    "border-radius:8px;padding:12px 14px;min-width:0}"
    ".card b{display:block;font-size:1.7em;line-height:1.2}"
    ".card span{color:var(--mute);font-size:.9em}"
    ".grid{display:grid;gap:12px;"
    "grid-template-columns:repeat(auto-fit,minmax(340px,1fr))}"
    ".wide{grid-column:1/-1}"
    "svg{display:block;width:100%;height:auto}"
    "svg text{font:12px system-ui,sans-serif;fill:var(--mute)}"
    ".note{color:var(--mute);font-size:.85em;margin:8px 0 0}"
    "table{border-collapse:collapse;width:100%;font-size:.9em}"
    "td,th{text-align:left;padding:3px 6px;border-bottom:1px solid "
    "var(--line)}"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}"
    "footer{color:var(--mute);font-size:.85em;margin-top:16px}"
    ".scroll{overflow-x:auto}"
    "@media (max-width:420px){.grid{grid-template-columns:1fr}"
    ".scroll svg{min-width:640px}"
    "main{padding:12px 8px 30px}.card b{font-size:1.4em}}";

static double
max_of(const cJSON *rows, const char *key)
{
    const cJSON *e;
    double m = 0;
    cJSON_ArrayForEach(e, rows)
    {
        double v = cli_json_num(e, key);
        if (v > m)
            m = v;
    }
    return m;
}

static void
card(FILE *out, const char *fig, const char *label, const char *value)
{
    fprintf(out,
            "<div class=\"card\"><b data-fig=\"%s\">%s</b><span>%s</span>"
            "</div>\n",
            fig, value, label);
}

static void
cards(FILE *out, const cJSON *doc)
{
    char v[64];
    const cJSON *rate = cJSON_GetObjectItemCaseSensitive(doc, "success_rate");

    fputs("<section class=\"cards\">\n", out);
    snprintf(v, sizeof(v), "%.0f", cli_json_num(doc, "visits"));
    card(out, "visits", "visits", v);
    snprintf(v, sizeof(v), "%.0f", cli_json_num(doc, "unique_visitors"));
    card(out, "unique_visitors",
         strcmp(cli_json_str(doc, "unique_visitors_method"),
                "sum_of_periods") == 0
             ? "unique visitors (a sum of per-period counts: keys rotate)"
             : "unique visitors",
         v);
    snprintf(v, sizeof(v), "%.0f", cli_json_num(doc, "files_downloaded"));
    card(out, "files_downloaded", "files downloaded", v);
    if (cJSON_IsNumber(rate))
        snprintf(v, sizeof(v), "%.1f%%", 100.0 * rate->valuedouble);
    else
        snprintf(v, sizeof(v), "-");
    card(out, "success_rate", "visits without errors", v);
    fputs("</section>\n", out);
}

/* One bar of a column chart: its key in data-fig, its label, its value
 * (hidden: no bar — not shown for k-anonymity, or nothing that day). */
typedef struct slot {
    char key[16];
    char label[8];
    double value;
    int shown;
} slot;

/* Vertical bars, one per slot, labelled below (one label in so many when
 * there are many). */
static void
columns(FILE *out, const slot *slots, int n, double w, const char *fig_prefix,
        const char *title)
{
    double max = 0, h = 130, top = 16, bw = n ? (w - 20) / n : 0;
    /* a label needs about 34 units: one bar in `every` gets one */
    int every = bw > 0 && bw < 34 ? (int)(34 / bw) + 1 : 1;

    for (int i = 0; i < n; i++)
        if (slots[i].shown && slots[i].value > max)
            max = slots[i].value;
    fprintf(out,
            "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s\">", w,
            h + top + 22, title);
    fprintf(out,
            "<line x1=\"10\" y1=\"%.0f\" x2=\"%.0f\" y2=\"%.0f\" "
            "stroke=\"#d9dee7\"/>",
            h + top, w - 10, h + top);
    for (int i = 0; i < n; i++) {
        double x = 10 + i * bw, v = slots[i].value;
        double bh = slots[i].shown && max > 0 ? v / max * h : 0;
        if (slots[i].shown && v > 0)
            fprintf(out,
                    "<rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" "
                    "height=\"%.1f\" fill=\"#3b6fb6\" data-fig=\"%s:%s\" "
                    "data-value=\"%.0f\"><title>%s: %.0f</title></rect>",
                    x + bw * 0.1, h + top - bh, bw * 0.8, bh, fig_prefix,
                    slots[i].key, v, slots[i].key, v);
        if (i % every == 0)
            fprintf(out,
                    "<text x=\"%.1f\" y=\"%.0f\" text-anchor=\"middle\">%s"
                    "</text>",
                    x + bw / 2, h + top + 16, slots[i].label);
    }
    if (max > 0)
        fprintf(out, "<text x=\"12\" y=\"11\">%.0f</text>", max);
    fputs("</svg>\n", out);
}

/* Every date of the range, with the visits of those shown. */
static void
day_chart(FILE *out, const cJSON *doc)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "per_day");
    int64_t first, last;
    slot *slots;
    int n;

    cli_date_days(cli_json_str(doc, "from"), &first);
    cli_date_days(cli_json_str(doc, "to"), &last);
    n = (int)(last - first + 1);
    if (n < 1 || !(slots = calloc((size_t)n, sizeof(*slots))))
        return;
    for (int i = 0; i < n; i++) {
        time_t t = (time_t)((first + i) * 86400);
        struct tm tm;
        const cJSON *e;
        gmtime_r(&t, &tm);
        strftime(slots[i].key, sizeof(slots[i].key), "%Y-%m-%d", &tm);
        strftime(slots[i].label, sizeof(slots[i].label), "%m-%d", &tm);
        cJSON_ArrayForEach(e, rows)
        {
            if (strcmp(cli_json_str(e, "date"), slots[i].key) == 0) {
                slots[i].value = cli_json_num(e, "visits");
                slots[i].shown = 1;
            }
        }
    }
    columns(out, slots, n, 1000, "day_bar", "visits per day");
    free(slots);
}

/* The 24 hours of the day, with the visits of those shown. */
static void
hour_chart(FILE *out, const cJSON *doc)
{
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(doc, "hours"), *e;
    slot slots[24];

    memset(slots, 0, sizeof(slots));
    for (int h = 0; h < 24; h++) {
        snprintf(slots[h].key, sizeof(slots[h].key), "%d", h);
        snprintf(slots[h].label, sizeof(slots[h].label), "%02d", h);
    }
    cJSON_ArrayForEach(e, rows)
    {
        int h = (int)cli_json_num(e, "hour");
        if (h >= 0 && h < 24) {
            slots[h].value = cli_json_num(e, "visits");
            slots[h].shown = 1;
        }
    }
    columns(out, slots, 24, 420, "hour", "visits per hour");
}

/* Horizontal bars with their names: rankings. */
static void
ranking(FILE *out, const cJSON *rows, const char *name_key,
        const char *value_key, const char *fig_prefix, const char *title)
{
    int n = cJSON_GetArraySize(rows), i = 0;
    double max = max_of(rows, value_key), w = 420, row_h = 24;
    const cJSON *e;

    if (n == 0) {
        fputs("<p class=\"note\">Nothing to show.</p>\n", out);
        return;
    }
    fprintf(out,
            "<svg viewBox=\"0 0 %.0f %.0f\" role=\"img\" aria-label=\"%s\">", w,
            n * row_h + 4, title);
    cJSON_ArrayForEach(e, rows)
    {
        double v = cli_json_num(e, value_key);
        double bw = max > 0 ? v / max * (w - 210) : 0, y = 4 + i * row_h;
        fputs("<text x=\"0\" y=\"", out);
        fprintf(out, "%.0f\" style=\"fill:#1d2430\">", y + 15);
        short_name(out, cli_json_str(e, name_key));
        fprintf(out,
                "</text><rect x=\"170\" y=\"%.0f\" width=\"%.1f\" "
                "height=\"17\" rx=\"2\" fill=\"#3b6fb6\"/>"
                "<text x=\"%.1f\" y=\"%.0f\" data-fig=\"%s:",
                y + 2, bw, 175 + bw, y + 15, fig_prefix);
        html(out, cli_json_str(e, name_key));
        fprintf(out, "\">%.0f</text>", v);
        i++;
    }
    fputs("</svg>\n", out);
}

static void
other_note(FILE *out, const cJSON *doc, const char *key, const char *count,
           const char *what)
{
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(doc, key);
    double groups = cli_json_num(o, "groups");
    double hidden = cli_json_num(o, "suppressed_groups");

    if (groups <= 0)
        return;
    fprintf(out,
            "<p class=\"note\">Other: <span data-fig=\"%s\">%.0f</span> "
            "(%.0f %s",
            key, cli_json_num(o, count), groups, what);
    if (hidden > 0)
        fprintf(out, ", %.0f of them backed by too few visitors to be shown",
                hidden);
    fputs(").</p>\n", out);
}

static void
success_bar(FILE *out, const cJSON *doc)
{
    double visits = cli_json_num(doc, "visits");
    double bad = cli_json_num(doc, "visits_with_errors");
    double ok_w = visits > 0 ? (visits - bad) / visits * 420 : 0;

    fputs("<svg viewBox=\"0 0 420 52\" role=\"img\" aria-label=\"success "
          "rate\">",
          out);
    fprintf(out,
            "<rect x=\"0\" y=\"4\" width=\"%.1f\" height=\"26\" "
            "fill=\"#3f8f5a\"/><rect x=\"%.1f\" y=\"4\" width=\"%.1f\" "
            "height=\"26\" fill=\"#c2553d\"/>",
            ok_w, ok_w, visits > 0 ? 420 - ok_w : 0);
    fprintf(out,
            "<text x=\"0\" y=\"48\">without errors: <tspan "
            "data-fig=\"visits_ok\">%.0f</tspan></text>"
            "<text x=\"420\" y=\"48\" text-anchor=\"end\">with errors: <tspan "
            "data-fig=\"visits_with_errors\">%.0f</tspan></text></svg>\n",
            visits - bad, bad);
}

static void
day_table(FILE *out, const cJSON *rows)
{
    const cJSON *e;
    fputs("<table><tr><th>date</th><th class=\"n\">visits</th>"
          "<th class=\"n\">unique</th><th class=\"n\">files</th>"
          "<th class=\"n\">success</th></tr>\n",
          out);
    cJSON_ArrayForEach(e, rows)
    {
        const cJSON *rate = cJSON_GetObjectItemCaseSensitive(e, "success_rate");
        const char *d = cli_json_str(e, "date");
        fprintf(out,
                "<tr><td>%s</td><td class=\"n\" data-fig=\"day:%s\">%.0f</td>"
                "<td class=\"n\" data-fig=\"day_unique:%s\">%.0f</td>"
                "<td class=\"n\">%.0f</td><td class=\"n\">",
                d, d, cli_json_num(e, "visits"), d,
                cli_json_num(e, "unique_visitors"),
                cli_json_num(e, "files_downloaded"));
        if (cJSON_IsNumber(rate))
            fprintf(out, "%.1f%%", 100.0 * rate->valuedouble);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

int
cli_report_html(FILE *out, const cJSON *doc, const char *generated)
{
    const cJSON *k = cJSON_GetObjectItemCaseSensitive(doc, "k_anonymity");
    const cJSON *days = cJSON_GetObjectItemCaseSensitive(doc, "per_day");
    const cJSON *pol = cJSON_GetObjectItemCaseSensitive(doc, "policies"), *e;
    const char *from = cli_json_str(doc, "from"), *to = cli_json_str(doc, "to");
    int first = 1;

    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, "
          "initial-scale=1\">\n"
          /* Nothing may be fetched: no script, font, image or style. */
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src "
          "'none'; style-src 'unsafe-inline'\">\n"
          "<meta name=\"referrer\" content=\"no-referrer\">\n",
          out);
    fprintf(out,
            "<title>privtrack report %s to %s</title>\n<style>%s</style>"
            "</head>\n<body><main>\n",
            from, to, style);
    fprintf(out,
            "<h1>Visits, <span data-fig=\"from\">%s</span> to "
            "<span data-fig=\"to\">%s</span></h1>\n<p class=\"sub\">"
            "<span data-fig=\"days\">%.0f</span> days (UTC). Policies of the "
            "records:",
            from, to, cli_json_num(doc, "days"));
    cJSON_ArrayForEach(e, pol)
    {
        fputs(first ? " <code data-fig=\"policy\">"
                    : ", <code "
                      "data-fig=\"policy\">",
              out);
        html(out, cli_json_str(e, "policy"));
        fputs("</code>", out);
        first = 0;
    }
    fprintf(out, "%s. k-anonymity: <span data-fig=\"min_group\">%.0f</span> — ",
            first ? " none" : "", cli_json_num(k, "min_group"));
    html(out, cli_json_str(k, "rule"));
    fputs(".</p>\n", out);
    cards(out, doc);
    fputs("<div class=\"grid\">\n<section class=\"panel wide\"><h2>Visits per "
          "day</h2>\n<div class=\"scroll\">",
          out);
    day_chart(out, doc);
    fputs("</div>\n", out);
    other_note(out, doc, "per_day_other", "visits", "days");
    fputs("</section>\n<section class=\"panel\"><h2>Visits per hour of day "
          "(UTC)</h2>\n",
          out);
    hour_chart(out, doc);
    other_note(out, doc, "hours_other", "visits", "hours");
    fputs("</section>\n<section class=\"panel\"><h2>Success rate</h2>\n", out);
    success_bar(out, doc);
    fputs("</section>\n<section class=\"panel\"><h2>Top titles</h2>\n", out);
    ranking(out, cJSON_GetObjectItemCaseSensitive(doc, "top_titles"), "title",
            "count", "title", "top titles");
    other_note(out, doc, "top_titles_other", "count", "titles");
    fputs("</section>\n<section class=\"panel\"><h2>Browsers (user-agent "
          "families)</h2>\n",
          out);
    ranking(out, cJSON_GetObjectItemCaseSensitive(doc, "user_agents"), "family",
            "visits", "agent", "user-agent families");
    other_note(out, doc, "user_agents_other", "visits", "families");
    fputs("</section>\n<section class=\"panel wide\"><h2>Per day</h2>\n", out);
    day_table(out, days);
    fputs("</section>\n</div>\n", out);
    fprintf(out,
            "<footer>Generated by privtrack %s on %s. Totals are exact; groups "
            "are shown only when enough distinct visitors back them.</footer>\n"
            "</main></body></html>\n",
            pt_version(), generated);
    return ferror(out) ? -1 : 0;
}
