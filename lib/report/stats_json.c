/*
 * The statistics as JSON: small groups folded into "other" (k-anonymity),
 * rankings, per-day and per-hour rows.  The format is documented in the
 * README (privtrack stats --json) and is what the HTML report shows.
 */
#include "report/stats_internal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
key(pt_buf *b, int *first, const char *name)
{
    pt_buf_puts(b, *first ? "\"" : ",\"");
    *first = 0;
    pt_buf_puts(b, name);
    pt_buf_puts(b, "\":");
}

static void
put_u64(pt_buf *b, int *first, const char *name, uint64_t v)
{
    key(b, first, name);
    pt_buf_printf(b, "%" PRIu64, v);
}

static void
put_str(pt_buf *b, int *first, const char *name, const char *v)
{
    key(b, first, name);
    pt_buf_json_string(b, v, strlen(v));
}

/* A ratio, or null when there is nothing to divide. */
static void
put_ratio(pt_buf *b, int *first, const char *name, uint64_t part,
          uint64_t whole)
{
    key(b, first, name);
    if (whole)
        pt_buf_printf(b, "%.10g", (double)part / (double)whole);
    else
        pt_buf_puts(b, "null");
}

static int
shown(const pt__stats *s, const pt__kgroup *g)
{
    return g->best >= s->cfg.min_group;
}

/* Most first; ties by name, so that output is stable. */
static int
cmp_named(const void *a, const void *b)
{
    const pt__named *x = *(const pt__named *const *)a;
    const pt__named *y = *(const pt__named *const *)b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* "<list>":[{"<name>":...,"<count>":N},...],"<list>_other":{...}: the
 * groups shown, most first, `top` of them at most (0: all); the rest in
 * "other", with how many of those k-anonymity hid.  `fold` = 0 shows every
 * group (policy ids are not about visitors). */
static int
ranking(pt_buf *b, int *first, const pt__stats *s, const pt__namemap *m,
        const char *list, const char *name, const char *count, unsigned int top,
        int fold)
{
    const pt__named **rows = calloc(m->count + 1, sizeof(*rows));
    uint64_t other_groups = 0, other_count = 0, hidden_groups = 0;
    uint64_t hidden_count = 0;
    size_t n = 0;
    char other[64];

    if (!rows)
        return pt__fail(PT_ENOMEM, "out of memory");
    for (size_t i = 0; i < m->cap; i++) {
        const pt__named *g = &m->slot[i];
        if (!g->name)
            continue;
        if (fold && !shown(s, &g->k)) {
            hidden_groups++;
            hidden_count += g->count;
        } else {
            rows[n++] = g;
        }
    }
    qsort(rows, n, sizeof(*rows), cmp_named);
    key(b, first, list);
    pt_buf_putc(b, '[');
    for (size_t i = 0; i < n; i++) {
        int f = 1;
        if (top && i >= top) {
            other_groups++;
            other_count += rows[i]->count;
            continue;
        }
        pt_buf_puts(b, i ? ",{" : "{");
        put_str(b, &f, name, rows[i]->name);
        put_u64(b, &f, count, rows[i]->count);
        pt_buf_putc(b, '}');
    }
    pt_buf_putc(b, ']');
    free(rows);
    if (!fold && !top)
        return PT_OK; /* every group listed: no "other" */
    snprintf(other, sizeof(other), "%s_other", list);
    key(b, first, other);
    {
        int f = 1;
        pt_buf_putc(b, '{');
        put_u64(b, &f, "groups", other_groups + hidden_groups);
        put_u64(b, &f, count, other_count + hidden_count);
        put_u64(b, &f, "suppressed_groups", hidden_groups);
        put_u64(b, &f, "suppressed_count", hidden_count);
        pt_buf_putc(b, '}');
    }
    return PT_OK;
}

/* Hours of the day shown (with their visits), the busiest of them, and
 * the hidden ones in "hours_other". */
static uint64_t
hours(pt_buf *b, int *first, const pt__stats *s)
{
    uint64_t hidden = 0, hidden_visits = 0, best = 0;
    int busiest = -1, row = 0;

    key(b, first, "hours");
    pt_buf_putc(b, '[');
    for (int h = 0; h < 24; h++) {
        int f = 1;
        if (!s->hour_visits[h])
            continue;
        if (!shown(s, &s->hour_k[h])) {
            hidden++;
            hidden_visits += s->hour_visits[h];
            continue;
        }
        pt_buf_puts(b, row++ ? ",{" : "{");
        put_u64(b, &f, "hour", (uint64_t)h);
        put_u64(b, &f, "visits", s->hour_visits[h]);
        pt_buf_putc(b, '}');
        if (s->hour_visits[h] > best) {
            best = s->hour_visits[h];
            busiest = h;
        }
    }
    pt_buf_putc(b, ']');
    key(b, first, "hours_other");
    {
        int f = 1;
        pt_buf_putc(b, '{');
        put_u64(b, &f, "groups", hidden);
        put_u64(b, &f, "visits", hidden_visits);
        pt_buf_putc(b, '}');
    }
    key(b, first, "busiest_hour");
    if (busiest >= 0)
        pt_buf_printf(b, "%d", busiest);
    else
        pt_buf_puts(b, "null");
    put_u64(b, first, "busiest_hour_visits", best);
    return hidden;
}

/* One row per date shown, oldest first, whatever order the records came
 * in; hidden dates in "per_day_other". */
static uint64_t
per_day(pt_buf *b, int *first, const pt__stats *s)
{
    uint64_t hidden = 0, hidden_visits = 0;
    int row = 0;

    key(b, first, "per_day");
    pt_buf_putc(b, '[');
    for (size_t i = 0; i < s->ndays; i++) {
        const pt__day_row *d = &s->days[s->order < 0 ? s->ndays - 1 - i : i];
        int f = 1;
        if (d->unique + d->anonymous < s->cfg.min_group) {
            hidden++;
            hidden_visits += d->visits;
            continue;
        }
        pt_buf_puts(b, row++ ? ",{" : "{");
        put_str(b, &f, "date", d->date);
        put_u64(b, &f, "visits", d->visits);
        put_u64(b, &f, "unique_visitors", d->unique);
        put_u64(b, &f, "files_downloaded", d->files);
        put_ratio(b, &f, "success_rate", d->successful, d->visits);
        pt_buf_putc(b, '}');
    }
    pt_buf_putc(b, ']');
    key(b, first, "per_day_other");
    {
        int f = 1;
        pt_buf_putc(b, '{');
        put_u64(b, &f, "groups", hidden);
        put_u64(b, &f, "visits", hidden_visits);
        pt_buf_putc(b, '}');
    }
    return hidden;
}

static uint64_t
suppressed_named(const pt__stats *s, const pt__namemap *m)
{
    uint64_t n = 0;
    for (size_t i = 0; i < m->cap; i++)
        n += m->slot[i].name && !shown(s, &m->slot[i].k);
    return n;
}

int
pt__stats_json(pt__stats *s, pt_buf *b)
{
    uint64_t unique = 0, hidden = 0;
    int first = 1, rc = pt__stats_finish(s);
    char rule[200];

    if (rc != PT_OK)
        return rc;
    unique = s->unique_sum;
    pt_buf_putc(b, '{');
    put_str(b, &first, "from", s->from);
    put_str(b, &first, "to", s->to);
    if (strcmp(s->from, s->to) == 0)
        put_str(b, &first, "date", s->from);
    put_u64(b, &first, "days", s->range_days);
    put_u64(b, &first, "days_with_records", s->ndays);
    put_u64(b, &first, "visits", s->visits);
    put_u64(b, &first, "unique_visitors", unique);
    /* With rotating keys a person has one pseudonym per key period: over
     * several periods the figure is a sum of per-period counts. */
    put_str(b, &first, "unique_visitors_method",
            s->periods > 1 ? "sum_of_periods" : "distinct");
    put_u64(b, &first, "key_periods", s->periods);
    put_str(b, &first, "rotation", pt_rotation_name(s->cfg.rotation));
    put_u64(b, &first, "visits_without_address", s->anonymous);
    put_u64(b, &first, "files_downloaded", s->files);
    put_u64(b, &first, "links_submitted", s->links);
    put_u64(b, &first, "visits_with_errors", s->with_errors);
    put_u64(b, &first, "errors", s->errors);
    put_ratio(b, &first, "success_rate", s->visits - s->with_errors, s->visits);
    hidden += hours(b, &first, s);
    if ((rc = ranking(b, &first, s, &s->titles, "top_titles", "title", "count",
                      s->cfg.top, 1)) != PT_OK ||
        (rc = ranking(b, &first, s, &s->agents, "user_agents", "family",
                      "visits", s->cfg.top, 1)) != PT_OK ||
        (rc = ranking(b, &first, s, &s->policies, "policies", "policy",
                      "visits", 0, 0)) != PT_OK)
        return rc;
    hidden += suppressed_named(s, &s->titles);
    hidden += suppressed_named(s, &s->agents);
    hidden += per_day(b, &first, s);
    key(b, &first, "k_anonymity");
    {
        int f = 1;
        pt_buf_putc(b, '{');
        put_u64(b, &f, "min_group", s->cfg.min_group);
        if (s->cfg.min_group > 1)
            snprintf(rule, sizeof(rule),
                     "a title, user-agent family, hour or day backed by "
                     "fewer than %u distinct visitors (records, where no "
                     "address is stored) is folded into other",
                     s->cfg.min_group);
        else
            snprintf(rule, sizeof(rule),
                     "off (min_group = 1): every group "
                     "is shown");
        put_str(b, &f, "rule", rule);
        put_u64(b, &f, "suppressed_groups", hidden);
        pt_buf_putc(b, '}');
    }
    if (s->skipped)
        put_u64(b, &first, "records_without_date", s->skipped);
    pt_buf_putc(b, '}');
    return b->oom ? pt__fail(PT_ENOMEM, "out of memory") : PT_OK;
}
