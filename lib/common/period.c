/* Key periods: pure arithmetic (see period.h). */
#include "common/period.h"

#include <string.h>

/* Instants outside years 0001-9999 are clamped, so that no product or sum
 * below can overflow; visits are limited to 1970-9999 anyway. */
#define MIN_US INT64_C(-62135596800000000) /* 0001-01-01T00:00:00 */
#define MAX_US INT64_C(253402300799999999) /* 9999-12-31T23:59:59.999999 */

static const char *const rotation_names[] = {"never", "daily", "weekly",
                                             "monthly"};

const char *
pt__rotation_name(pt_rotation rotation)
{
    if ((int)rotation < 0 ||
        (size_t)rotation >= sizeof(rotation_names) / sizeof(rotation_names[0]))
        return NULL;
    return rotation_names[rotation];
}

static int64_t
floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t
floor_mod(int64_t a, int64_t b)
{
    return a - floor_div(a, b) * b;
}

static int64_t
first_of_next_month(int y, unsigned m)
{
    return m == 12 ? pt__days_from_civil(y + 1, 1, 1)
                   : pt__days_from_civil(y, m + 1, 1);
}

pt__period
pt__period_of(pt_rotation rotation, int64_t time_us)
{
    pt__period p = {rotation, INT64_MIN, INT64_MAX};
    int64_t days, start_days, end_days;
    unsigned m, d;
    int y;

    if (time_us < MIN_US)
        time_us = MIN_US;
    if (time_us > MAX_US)
        time_us = MAX_US;
    days = floor_div(time_us, PT__DAY_US);
    switch (rotation) {
    case PT_ROTATE_DAILY:
        start_days = days;
        end_days = days + 1;
        break;
    case PT_ROTATE_WEEKLY:
        /* 1970-01-01 was a Thursday: day 0 is 3 days after a Monday. */
        start_days = days - floor_mod(days + 3, 7);
        end_days = start_days + 7;
        break;
    case PT_ROTATE_MONTHLY:
        pt__civil_from_days(days, &y, &m, &d);
        start_days = pt__days_from_civil(y, m, 1);
        end_days = first_of_next_month(y, m);
        break;
    default:
        p.rotation = PT_ROTATE_NEVER;
        return p;
    }
    p.start_us = start_days * PT__DAY_US;
    p.end_us = end_days * PT__DAY_US;
    return p;
}

pt__period
pt__period_next(const pt__period *p)
{
    if (p->rotation == PT_ROTATE_NEVER)
        return *p;
    return pt__period_of(p->rotation, p->end_us);
}

pt__period
pt__period_prev(const pt__period *p)
{
    if (p->rotation == PT_ROTATE_NEVER)
        return *p;
    return pt__period_of(p->rotation, p->start_us - 1);
}

int64_t
pt__period_destroy_after(const pt__period *p, unsigned int grace_hours)
{
    int64_t grace = (int64_t)grace_hours * PT__HOUR_US;
    if (p->rotation == PT_ROTATE_NEVER || p->end_us > INT64_MAX - grace)
        return INT64_MAX;
    return p->end_us + grace;
}

int
pt__period_live(const pt__period *p, unsigned int grace_hours, int64_t now_us)
{
    return now_us < pt__period_destroy_after(p, grace_hours);
}

int
pt__period_equal(const pt__period *a, const pt__period *b)
{
    return a->rotation == b->rotation && a->start_us == b->start_us &&
           a->end_us == b->end_us;
}

size_t
pt__period_name(const pt__period *p, char *out)
{
    const char *name = pt__rotation_name(p->rotation);
    size_t n;

    out[0] = '\0';
    if (!name || p->rotation == PT_ROTATE_NEVER)
        return 0;
    n = strlen(name);
    memcpy(out, name, n);
    out[n++] = '-';
    pt__format_date(out + n, p->start_us);
    return n + PT_DATE_LEN;
}

int
pt__period_parse(const char *name, size_t len, pt__period *out)
{
    char date[PT_DATE_LEN + 1];
    const char *dash = memchr(name, '-', len);
    size_t rlen;
    int64_t days;
    unsigned m, d;
    int y, rotation = -1;

    if (!dash || len - (size_t)(dash - name) - 1 != PT_DATE_LEN)
        return -1;
    rlen = (size_t)(dash - name);
    for (int r = PT_ROTATE_DAILY; r <= PT_ROTATE_MONTHLY; r++) {
        const char *rn = rotation_names[r];
        if (strlen(rn) == rlen && memcmp(rn, name, rlen) == 0)
            rotation = r;
    }
    memcpy(date, dash + 1, PT_DATE_LEN);
    date[PT_DATE_LEN] = '\0';
    if (rotation < 0 || !pt__valid_date(date))
        return -1;
    y = (date[0] - '0') * 1000 + (date[1] - '0') * 100 + (date[2] - '0') * 10 +
        (date[3] - '0');
    m = (unsigned)((date[5] - '0') * 10 + (date[6] - '0'));
    d = (unsigned)((date[8] - '0') * 10 + (date[9] - '0'));
    days = pt__days_from_civil(y, m, d);
    *out = pt__period_of((pt_rotation)rotation, days * PT__DAY_US);
    /* Only a period's own first day names it. */
    return out->start_us == days * PT__DAY_US ? 0 : -1;
}

void
pt__period_dates(const pt__period *p, char *first, char *last)
{
    if (p->rotation == PT_ROTATE_NEVER) {
        first[0] = last[0] = '\0';
        return;
    }
    pt__format_date(first, p->start_us);
    pt__format_date(last, p->end_us - 1);
}

/* The oldest live period, walking back from the current one, and how many
 * there are from it to the current one included. */
static pt__period
oldest_live(const pt__period *current, unsigned int grace_hours, int64_t now_us,
            size_t *count)
{
    pt__period p = *current;
    *count = 1;
    for (;;) {
        pt__period prev = pt__period_prev(&p);
        if (prev.start_us >= p.start_us ||
            !pt__period_live(&prev, grace_hours, now_us))
            return p;
        p = prev;
        (*count)++;
    }
}

size_t
pt__periods_wanted(pt_rotation rotation, unsigned int grace_hours,
                   int64_t now_us, int64_t lookahead_us, pt__period *out,
                   size_t max)
{
    pt__period current, p;
    size_t count, skip, written = 0;

    if (rotation == PT_ROTATE_NEVER || !pt__rotation_name(rotation))
        return 0;
    current = pt__period_of(rotation, now_us);
    p = oldest_live(&current, grace_hours, now_us, &count);
    if (now_us >= current.end_us - lookahead_us)
        count++; /* the next one, ahead of the boundary */
    skip = count > max ? count - max : 0;
    for (size_t i = 0; i < count; i++) {
        if (i >= skip)
            out[written++] = p;
        p = pt__period_next(&p);
    }
    return count;
}

int64_t
pt__periods_next_change(pt_rotation rotation, unsigned int grace_hours,
                        int64_t now_us, int64_t lookahead_us)
{
    pt__period current, oldest;
    int64_t next, destroy;
    size_t count;

    if (rotation == PT_ROTATE_NEVER || !pt__rotation_name(rotation))
        return INT64_MAX;
    current = pt__period_of(rotation, now_us);
    next = current.end_us - lookahead_us;
    if (next <= now_us) {
        /* the next period is already fetched ahead: what changes next is
         * the one after it */
        pt__period following = pt__period_next(&current);
        next = following.end_us - lookahead_us;
    }
    oldest = oldest_live(&current, grace_hours, now_us, &count);
    destroy = pt__period_destroy_after(&oldest, grace_hours);
    return destroy < next ? destroy : next;
}

/* ---- public API ---------------------------------------------------------- */

const char *
pt_rotation_name(pt_rotation rotation)
{
    const char *name = pt__rotation_name(rotation);
    return name ? name : "unknown";
}

#define MAX_SECONDS INT64_C(253402300799) /* 9999-12-31T23:59:59 */

int
pt_key_period_of(pt_rotation rotation, int64_t time, pt_key_period *out)
{
    pt__period p;

    if (!out)
        return pt__fail(PT_EINVAL, "pt_key_period_of: out is NULL");
    memset(out, 0, sizeof(*out));
    if (!pt__rotation_name(rotation))
        return pt__fail(PT_EINVAL, "pt_key_period_of: unknown rotation %d",
                        (int)rotation);
    if (time < 0 || time > MAX_SECONDS)
        return pt__fail(PT_EINVAL,
                        "pt_key_period_of: time %lld is outside 1970-9999",
                        (long long)time);
    p = pt__period_of(rotation, time * 1000000);
    out->rotation = rotation;
    out->start = p.rotation == PT_ROTATE_NEVER ? INT64_MIN
                                               : floor_div(p.start_us, 1000000);
    out->end = p.rotation == PT_ROTATE_NEVER ? INT64_MAX
                                             : floor_div(p.end_us, 1000000);
    pt__period_dates(&p, out->first_date, out->last_date);
    pt__period_name(&p, out->name);
    return PT_OK;
}
