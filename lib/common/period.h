/*
 * Key periods: which rotation period an instant belongs to, when a
 * period's key may be destroyed, and which keys a process should hold.
 *
 * Pure arithmetic on microseconds since the Unix epoch (UTC): no clock, no
 * I/O, no allocation, so every rule of key rotation is unit-tested here
 * (tests/unit/test_period.c) and the key store and tracker only ask.
 *
 * Periods are half-open [start, end): a visit at 23:59:59.999999 belongs
 * to the day it happened on, one at 00:00:00.000000 to the next.  Days
 * start at 00:00 UTC, weeks on Monday 00:00 UTC, months on the 1st.
 * `never` is one period covering every instant.
 */
#ifndef PT_COMMON_PERIOD_H
#define PT_COMMON_PERIOD_H

#include "common/common.h"

#define PT__DAY_US  INT64_C(86400000000)
#define PT__HOUR_US INT64_C(3600000000)

/* "monthly-2025-01-01" and its NUL */
#define PT__PERIOD_NAME_MAX 24

typedef struct pt__period {
    pt_rotation rotation;
    int64_t start_us; /* first microsecond (INT64_MIN for never) */
    int64_t end_us;   /* first microsecond after it (INT64_MAX for never) */
} pt__period;

/** "never", "daily", "weekly", "monthly"; NULL for anything else. */
const char *pt__rotation_name(pt_rotation rotation);

/** The period holding `time_us`. */
pt__period pt__period_of(pt_rotation rotation, int64_t time_us);

/** The period right after / before `p` (contiguous with it).  For never,
 *  `p` itself. */
pt__period pt__period_next(const pt__period *p);
pt__period pt__period_prev(const pt__period *p);

/** When the period's key must be gone: its end plus the grace, saturated
 *  (never: INT64_MAX). */
int64_t pt__period_destroy_after(const pt__period *p, unsigned int grace_hours);

/** Non-zero while the period's key may still be used or created: `now_us`
 *  is before destroy_after. */
int pt__period_live(const pt__period *p, unsigned int grace_hours,
                    int64_t now_us);

/** Non-zero when `a` and `b` are the same period. */
int pt__period_equal(const pt__period *a, const pt__period *b);

/** The key's name, e.g. "daily-2025-01-15", "weekly-2025-01-13" (the
 *  Monday), "monthly-2025-01-01": the rotation and the first day, so that
 *  keys of different rotations never share a name.  Writes at most
 *  PT__PERIOD_NAME_MAX bytes; returns the length (0 for never, which has
 *  no per-period key). */
size_t pt__period_name(const pt__period *p, char *out);

/** Parse a name written by pt__period_name().  0 on success; -1 when it is
 *  not exactly such a name (a day that is not a Monday for weekly, not the
 *  1st for monthly, a date that does not exist, trailing text). */
int pt__period_parse(const char *name, size_t len, pt__period *out);

/** The first and last UTC dates of the period ("YYYY-MM-DD", 11 bytes
 *  each). */
void pt__period_dates(const pt__period *p, char *first, char *last);

/** The periods whose keys a process should hold at `now_us`, oldest first:
 *  every period still live (destroy_after after now) that has started,
 *  and the next one once `now_us` is within `lookahead_us` of the current
 *  period's end (fetched ahead, so a store outage at the boundary does not
 *  stop hashing).  Writes at most `max`; returns how many there are in
 *  all (more than `max` means `out` holds the newest `max`).  For never:
 *  0. */
size_t pt__periods_wanted(pt_rotation rotation, unsigned int grace_hours,
                          int64_t now_us, int64_t lookahead_us, pt__period *out,
                          size_t max);

/** When what pt__periods_wanted() answers next changes after `now_us`:
 *  the start of the next lookahead (a period to fetch ahead) or the
 *  destroy_after of the oldest live period (a key to destroy), whichever
 *  comes first.  `lookahead_us` must be shorter than a day.  INT64_MAX for
 *  never. */
int64_t pt__periods_next_change(pt_rotation rotation, unsigned int grace_hours,
                                int64_t now_us, int64_t lookahead_us);

#endif
