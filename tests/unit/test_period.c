/* Unit tests for lib/common/period.c: the invariants of key periods. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "common/period.h"

static const pt_rotation rotations[] = {PT_ROTATE_DAILY, PT_ROTATE_WEEKLY,
                                        PT_ROTATE_MONTHLY};

static int64_t
at(const char *iso)
{
    int64_t us = 0;
    assert_int_equal(pt__parse_iso8601(iso, &us), PT_OK);
    return us;
}

static int64_t
day_of(int y, unsigned m, unsigned d)
{
    return pt__days_from_civil(y, m, d) * PT__DAY_US;
}

/* A deterministic spread of instants (xorshift), 1970 to 9999-11 (so
 * that the period after any of them is still in 1970-9999). */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static int64_t
random_instant(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int64_t)(rng_state % (uint64_t)INT64_C(253399622400000000));
}

static void
check_contains(pt_rotation r, int64_t t)
{
    pt__period p = pt__period_of(r, t);
    assert_int_equal(p.rotation, r);
    assert_true(p.start_us <= t);
    assert_true(t < p.end_us);
}

/* Every instant belongs to exactly one period: the one that contains it,
 * which is also the period of its own start and of its last microsecond;
 * the microsecond after its end starts the next one. */
static void
test_every_instant_in_one_period(void **state)
{
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        pt_rotation r = rotations[k];
        for (int i = 0; i < 200000; i++) {
            int64_t t = random_instant();
            pt__period p = pt__period_of(r, t), q;
            check_contains(r, t);
            q = pt__period_of(r, p.start_us);
            assert_true(pt__period_equal(&p, &q));
            q = pt__period_of(r, p.end_us - 1);
            assert_true(pt__period_equal(&p, &q));
            q = pt__period_of(r, p.end_us);
            assert_int_equal(q.start_us, p.end_us);
            q = pt__period_of(r, p.start_us - 1);
            assert_int_equal(q.end_us, p.start_us);
        }
    }
}

/* Walking with next() from 1970 to 2200 visits contiguous periods that
 * start at 00:00 UTC, have their rotation's length and start on the right
 * day; prev() undoes next(). */
static void
test_periods_contiguous(void **state)
{
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        pt_rotation r = rotations[k];
        pt__period p = pt__period_of(r, 0);
        int64_t end = day_of(2200, 1, 1);
        int64_t covered_days = 0, first = p.start_us;
        while (p.start_us < end) {
            pt__period n = pt__period_next(&p), back = pt__period_prev(&n);
            int64_t days = (p.end_us - p.start_us) / PT__DAY_US;
            int y;
            unsigned m, d;
            assert_int_equal(p.start_us % PT__DAY_US, 0);
            assert_int_equal(p.end_us % PT__DAY_US, 0);
            assert_int_equal(n.start_us, p.end_us);
            assert_true(pt__period_equal(&back, &p));
            pt__civil_from_days(p.start_us / PT__DAY_US, &y, &m, &d);
            if (r == PT_ROTATE_DAILY) {
                assert_int_equal(days, 1);
            } else if (r == PT_ROTATE_WEEKLY) {
                assert_int_equal(days, 7);
                /* 1970-01-05 was a Monday */
                assert_int_equal(((p.start_us / PT__DAY_US - 4) % 7 + 7) % 7,
                                 0);
            } else {
                assert_int_equal(d, 1);
                assert_true(days >= 28 && days <= 31);
            }
            covered_days += days;
            p = n;
        }
        assert_int_equal(covered_days, (p.start_us - first) / PT__DAY_US);
    }
}

static void
expect_period(pt_rotation r, const char *iso, const char *name,
              const char *first, const char *last)
{
    pt__period p = pt__period_of(r, at(iso));
    char n[PT__PERIOD_NAME_MAX], f[PT_DATE_LEN + 1], l[PT_DATE_LEN + 1];
    pt__period_name(&p, n);
    pt__period_dates(&p, f, l);
    assert_string_equal(n, name);
    assert_string_equal(f, first);
    assert_string_equal(l, last);
}

/* Month lengths and leap years (1900 and 2100 are not leap years, 2000
 * is); weeks that cross a year's end start on the Monday before it. */
static void
test_calendar(void **state)
{
    (void)state;
    expect_period(PT_ROTATE_MONTHLY, "2024-02-29T12:00:00Z",
                  "monthly-2024-02-01", "2024-02-01", "2024-02-29");
    expect_period(PT_ROTATE_MONTHLY, "2023-02-28T23:59:59.999999Z",
                  "monthly-2023-02-01", "2023-02-01", "2023-02-28");
    expect_period(PT_ROTATE_MONTHLY, "2000-02-15T00:00:00Z",
                  "monthly-2000-02-01", "2000-02-01", "2000-02-29");
    expect_period(PT_ROTATE_MONTHLY, "2100-02-15T00:00:00Z",
                  "monthly-2100-02-01", "2100-02-01", "2100-02-28");
    expect_period(PT_ROTATE_MONTHLY, "2025-04-30T23:59:59Z",
                  "monthly-2025-04-01", "2025-04-01", "2025-04-30");
    expect_period(PT_ROTATE_MONTHLY, "2025-12-31T23:59:59Z",
                  "monthly-2025-12-01", "2025-12-01", "2025-12-31");
    expect_period(PT_ROTATE_MONTHLY, "9999-12-31T23:59:59.999999Z",
                  "monthly-9999-12-01", "9999-12-01", "9999-12-31");
    /* Monday weeks across year ends. */
    expect_period(PT_ROTATE_WEEKLY, "2024-12-31T10:00:00Z", "weekly-2024-12-30",
                  "2024-12-30", "2025-01-05");
    expect_period(PT_ROTATE_WEEKLY, "2026-01-01T10:00:00Z", "weekly-2025-12-29",
                  "2025-12-29", "2026-01-04");
    expect_period(PT_ROTATE_WEEKLY, "2021-01-03T23:59:59.999999Z",
                  "weekly-2020-12-28", "2020-12-28", "2021-01-03");
    expect_period(PT_ROTATE_WEEKLY, "2021-01-04T00:00:00Z", "weekly-2021-01-04",
                  "2021-01-04", "2021-01-10");
    expect_period(PT_ROTATE_WEEKLY, "1970-01-01T00:00:00Z", "weekly-1969-12-29",
                  "1969-12-29", "1970-01-04");
    expect_period(PT_ROTATE_DAILY, "2024-02-29T00:00:00Z", "daily-2024-02-29",
                  "2024-02-29", "2024-02-29");
}

/* Boundaries at 00:00 UTC: the last microsecond of a day is in that day's
 * period, the first of the next day is not, whatever the rotation. */
static void
test_visit_before_midnight(void **state)
{
    (void)state;
    int64_t last = at("2025-01-31T23:59:59.999999Z");
    int64_t next = last + 1;
    pt__period d1 = pt__period_of(PT_ROTATE_DAILY, last);
    pt__period d2 = pt__period_of(PT_ROTATE_DAILY, next);
    pt__period m1 = pt__period_of(PT_ROTATE_MONTHLY, last);
    pt__period m2 = pt__period_of(PT_ROTATE_MONTHLY, next);
    assert_int_equal(next, at("2025-02-01T00:00:00Z"));
    assert_false(pt__period_equal(&d1, &d2));
    assert_int_equal(d1.end_us, next);
    assert_int_equal(d2.start_us, next);
    assert_false(pt__period_equal(&m1, &m2));
    assert_int_equal(m1.end_us, next);
    /* 2025-02-02 is a Sunday */
    assert_int_equal(
        pt__period_of(PT_ROTATE_WEEKLY, at("2025-02-02T23:59:59.999999Z"))
            .end_us,
        at("2025-02-03T00:00:00Z"));
}

static void
test_never(void **state)
{
    (void)state;
    pt__period p = pt__period_of(PT_ROTATE_NEVER, at("2025-01-15T10:00:00Z"));
    pt__period all[4];
    char name[PT__PERIOD_NAME_MAX];
    assert_int_equal(p.start_us, INT64_MIN);
    assert_int_equal(p.end_us, INT64_MAX);
    assert_int_equal(pt__period_destroy_after(&p, 48), INT64_MAX);
    assert_int_equal(pt__period_name(&p, name), 0);
    assert_int_equal(pt__periods_wanted(PT_ROTATE_NEVER, 48, 0, 0, all, 4), 0);
    assert_int_equal(pt__periods_next_change(PT_ROTATE_NEVER, 48, 0, 0),
                     INT64_MAX);
}

static void
test_names(void **state)
{
    static const char *const bad[] = {
        "daily-2025-02-30",   "weekly-2025-01-14", "monthly-2025-01-02",
        "hourly-2025-01-01",  "daily-2025-01-1",   "daily-2025-01-015",
        "daily_2025-01-15",   "never-2025-01-15",  "-2025-01-15",
        "daily-2025-01-15.x", "Daily-2025-01-15",  ""};
    pt__period p, q;
    char name[PT__PERIOD_NAME_MAX];
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        for (int i = 0; i < 20000; i++) {
            p = pt__period_of(rotations[k], random_instant());
            size_t n = pt__period_name(&p, name);
            assert_int_equal(n, strlen(name));
            assert_true(n < PT__PERIOD_NAME_MAX);
            assert_int_equal(pt__period_parse(name, n, &q), 0);
            assert_true(pt__period_equal(&p, &q));
        }
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(pt__period_parse(bad[i], strlen(bad[i]), &q), -1);
    /* the length bounds the name: no reading past it */
    assert_int_equal(pt__period_parse("daily-2025-01-15", 15, &q), -1);
}

static void
test_destroy_after(void **state)
{
    pt__period p = pt__period_of(PT_ROTATE_DAILY, at("2025-01-15T12:00:00Z"));
    (void)state;
    assert_int_equal(pt__period_destroy_after(&p, 48),
                     at("2025-01-18T00:00:00Z"));
    assert_int_equal(pt__period_destroy_after(&p, 0),
                     at("2025-01-16T00:00:00Z"));
    assert_true(pt__period_live(&p, 48, at("2025-01-17T23:59:59.999999Z")));
    assert_false(pt__period_live(&p, 48, at("2025-01-18T00:00:00Z")));
    assert_false(pt__period_live(&p, 0, at("2025-01-16T00:00:00Z")));
    p.end_us = INT64_MAX - 5; /* saturates, never wraps */
    assert_int_equal(pt__period_destroy_after(&p, 8784), INT64_MAX);
}

/* The wanted set: contiguous, oldest first, every member live, nothing
 * live left out, the current period always in, the next one exactly when
 * within the lookahead of the boundary. */
static void
test_wanted(void **state)
{
    static const unsigned int graces[] = {0, 1, 24, 48, 200, 8784};
    pt__period out[400];
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        for (size_t g = 0; g < sizeof(graces) / sizeof(graces[0]); g++) {
            for (int i = 0; i < 2000; i++) {
                pt_rotation r = rotations[k];
                int64_t now = random_instant() % day_of(2500, 1, 1);
                pt__period cur = pt__period_of(r, now), before;
                size_t n = pt__periods_wanted(r, graces[g], now, PT__HOUR_US,
                                              out, 400);
                int ahead = now >= cur.end_us - PT__HOUR_US;
                size_t ci = n - 1 - (size_t)ahead;
                assert_true(n >= 1 && n <= 400);
                assert_true(pt__period_equal(&out[ci], &cur));
                for (size_t j = 0; j < n; j++) {
                    assert_true(pt__period_live(&out[j], graces[g], now));
                    if (j)
                        assert_int_equal(out[j].start_us, out[j - 1].end_us);
                }
                if (ahead)
                    assert_int_equal(out[n - 1].start_us, cur.end_us);
                before = pt__period_prev(&out[0]);
                assert_false(pt__period_live(&before, graces[g], now));
            }
        }
    }
    /* More than `max`: the newest are kept. */
    {
        int64_t now = at("2025-01-15T12:00:00Z");
        size_t n =
            pt__periods_wanted(PT_ROTATE_DAILY, 240, now, PT__HOUR_US, out, 3);
        char name[PT__PERIOD_NAME_MAX];
        assert_int_equal(n, 11); /* 10 days of grace + today */
        pt__period_name(&out[2], name);
        assert_string_equal(name, "daily-2025-01-15");
    }
}

static int
same_periods(const pt__period *a, const pt__period *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!pt__period_equal(&a[i], &b[i]))
            return 0;
    return 1;
}

/* The next change: nothing in the answer of pt__periods_wanted() changes
 * strictly before it, and it does change at it. */
static void
test_next_change(void **state)
{
    pt__period a[400], b[400];
    (void)state;
    for (size_t k = 0; k < 3; k++) {
        for (int i = 0; i < 3000; i++) {
            pt_rotation r = rotations[k];
            unsigned int grace = (unsigned int)(i % 100);
            int64_t now = random_instant() % day_of(2500, 1, 1);
            int64_t next = pt__periods_next_change(r, grace, now, PT__HOUR_US);
            size_t na, nb, nc;
            assert_true(next > now);
            na = pt__periods_wanted(r, grace, now, PT__HOUR_US, a, 400);
            nb = pt__periods_wanted(r, grace, next - 1, PT__HOUR_US, b, 400);
            assert_int_equal(na, nb);
            assert_true(same_periods(a, b, na));
            nc = pt__periods_wanted(r, grace, next, PT__HOUR_US, b, 400);
            assert_true(nc != na || !same_periods(a, b, na));
        }
    }
}

static void
test_public_api(void **state)
{
    pt_key_period kp;
    (void)state;
    /* 2025-01-15T23:59:59 */
    assert_int_equal(pt_key_period_of(PT_ROTATE_WEEKLY, 1736985599, &kp),
                     PT_OK);
    assert_string_equal(kp.name, "weekly-2025-01-13");
    assert_string_equal(kp.first_date, "2025-01-13");
    assert_string_equal(kp.last_date, "2025-01-19");
    assert_int_equal(kp.start, 1736726400);
    assert_int_equal(kp.end, 1736726400 + 7 * 86400);
    assert_int_equal(pt_key_period_of(PT_ROTATE_NEVER, 0, &kp), PT_OK);
    assert_string_equal(kp.name, "");
    assert_int_equal(kp.start, INT64_MIN);
    assert_int_equal(pt_key_period_of(PT_ROTATE_DAILY, -1, &kp), PT_EINVAL);
    assert_int_equal(
        pt_key_period_of(PT_ROTATE_DAILY, INT64_C(253402300800), &kp),
        PT_EINVAL);
    assert_int_equal(pt_key_period_of((pt_rotation)7, 0, &kp), PT_EINVAL);
    assert_string_equal(pt_rotation_name(PT_ROTATE_MONTHLY), "monthly");
    assert_string_equal(pt_rotation_name((pt_rotation)9), "unknown");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_instant_in_one_period),
        cmocka_unit_test(test_periods_contiguous),
        cmocka_unit_test(test_calendar),
        cmocka_unit_test(test_visit_before_midnight),
        cmocka_unit_test(test_never),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_destroy_after),
        cmocka_unit_test(test_wanted),
        cmocka_unit_test(test_next_change),
        cmocka_unit_test(test_public_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
