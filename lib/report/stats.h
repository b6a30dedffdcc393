/*
 * Statistics over a stream of records, with k-anonymous groups: what
 * `privtrack stats`, `privtrack report` and pt_tracker_stats() show.
 *
 * Pure and I/O-free: records go in one at a time (pt__stats_add), one JSON
 * object comes out (pt__stats_json).  Memory is bounded by what is
 * distinct, never by the number of records: the distinct visitors of one
 * key period (the whole range when keys do not rotate), one day's distinct
 * visitors, and one small entry per distinct title, user-agent family,
 * policy id and date.
 *
 * Distinct visitors are an exact set of 64-bit keyed fingerprints
 * (SipHash-2-4) of the stored client_ip: 16 bytes per distinct value at
 * most; two values with the same fingerprint would count once (odds below
 * one in a million for up to six million distinct values in one period).
 *
 * k-anonymity (min_group = K): a group — a title, a user-agent family, an
 * hour of the day, a date — is shown only when at least K distinct
 * visitors back it; the others are folded into "other".  A record without
 * a stored address counts as a visitor of its own (the rule is then "K
 * records").  With rotating keys one person has one pseudonym per key
 * period, so a group's visitors are counted within each period and the
 * group needs K in one period: pseudonyms of different periods are never
 * added up as if they were different people.  Totals are exact.
 *
 * Records must arrive grouped by date (as a scan delivers them): a date
 * that comes back after another one is refused.
 */
#ifndef PT_REPORT_STATS_H
#define PT_REPORT_STATS_H

#include "common/common.h"

#define PT__STATS_MAX_MIN_GROUP 100 /* [report] min_group's upper bound */
#define PT__STATS_DEFAULT_TOP   10

typedef struct pt__stats_config {
    const char *from, *to;  /* the range reported ("YYYY-MM-DD") */
    unsigned int min_group; /* K, 1..PT__STATS_MAX_MIN_GROUP; 1: off */
    unsigned int top;       /* rows per ranking; 0: 10 */
    pt_rotation rotation;   /* key periods of the pseudonyms */
    /* 16 bytes keying the fingerprints; NULL: random (tests pass one) */
    const unsigned char *fingerprint_key;
} pt__stats_config;

typedef struct pt__stats pt__stats;

/** A new, empty aggregate.  PT_EINVAL for a bad range or K. */
int pt__stats_new(pt__stats **out, const pt__stats_config *config);

/** Count one record (borrowed for the call).  PT_EINVAL when its date
 *  breaks the grouping; PT_ENOMEM. */
int pt__stats_add(pt__stats *s, const pt_record *record);

/** The statistics as one JSON object (appended to `out`); may be called
 *  once, after the last record. */
int pt__stats_json(pt__stats *s, pt_buf *out);

/** pt__stats_merge()'s answer when it cannot be exact (nothing changed). */
#define PT__STATS_NOT_MERGED 2

/** A new, empty aggregate like `s` (same range, K and fingerprint key). */
int pt__stats_new_like(pt__stats **out, const pt__stats *s);

/** Add `b`'s records to `a`, as if they had come after `a`'s: both
 *  aggregates hold records of one and the same date and come from
 *  pt__stats_new_like() (else PT__STATS_NOT_MERGED, `a` unchanged;
 *  PT_ENOMEM leaves `a` part-merged). */
int pt__stats_merge(pt__stats *a, const pt__stats *b);

/** Forget every record counted (the range, K and key stay). */
void pt__stats_reset(pt__stats *s);

void pt__stats_free(pt__stats *s);

/** The record fields the statistics read (PT_FIELD_*). */
#define PT__STATS_FIELDS                                                       \
    (PT_FIELD_CLIENT_IP | PT_FIELD_USER_AGENT | PT_FIELD_COUNTS |              \
     PT_FIELD_TITLES | PT_FIELD_POLICY)

#endif
