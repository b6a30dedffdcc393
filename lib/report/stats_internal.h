/* The aggregate's state, shared by stats.c (counting) and stats_json.c
 * (folding small groups and writing the JSON). */
#ifndef PT_REPORT_STATS_INTERNAL_H
#define PT_REPORT_STATS_INTERNAL_H

#include "report/stats.h"

#define PT__STATS_MAX_POLICIES 64

typedef struct pt__idset {
    uint64_t *slot;
    size_t cap, count;
} pt__idset;

typedef struct pt__kgroup {
    uint64_t *ids;   /* up to K visitors of `period`; NULL once shown */
    uint32_t period; /* which key period the ids belong to */
    uint32_t n;      /* ids held */
    uint32_t best;   /* most distinct visitors in one period, up to K */
} pt__kgroup;

typedef struct pt__named {
    char *name; /* NULL: free slot */
    size_t len;
    uint64_t hash;
    uint64_t count;
    pt__kgroup k;
} pt__named;

typedef struct pt__namemap {
    pt__named *slot;
    size_t cap, count;
    pt__named *last; /* the entry found last (NULL after a rehash) */
} pt__namemap;

typedef struct pt__day_row {
    char date[PT_DATE_LEN + 1];
    uint64_t visits, files, successful;
    uint64_t unique;    /* distinct stored addresses */
    uint64_t anonymous; /* records without one */
} pt__day_row;

struct pt__stats {
    pt__stats_config cfg;
    char from[PT_DATE_LEN + 1], to[PT_DATE_LEN + 1];
    uint64_t range_days;
    unsigned char key[16];
    /* totals */
    uint64_t visits, files, links, errors, with_errors, anonymous, skipped;
    /* distinct visitors: finished periods, and the current one */
    uint64_t unique_sum;
    pt__idset period_set;
    uint32_t periods; /* key periods seen (the current one's number) */
    int64_t period_start;
    /* days */
    pt__day_row day; /* the current one */
    pt__idset day_set;
    int in_day;
    int order; /* dates so far: 1 ascending, -1 descending, 0 one date */
    pt__day_row *days;
    size_t ndays, days_cap;
    /* groups */
    uint64_t hour_visits[24];
    pt__kgroup hour_k[24];
    pt__namemap titles, agents, policies;
};

uint64_t pt__stats_fingerprint(const pt__stats *s, const char *text,
                               size_t len);
/** Count `visitor` for a group in key period `period` (K = k). */
int pt__kgroup_see(pt__kgroup *g, uint64_t visitor, uint32_t period,
                   unsigned int k);
/** Close the last day and period (before the JSON). */
int pt__stats_finish(pt__stats *s);
void pt__stats_close_period(pt__stats *s);

#endif
