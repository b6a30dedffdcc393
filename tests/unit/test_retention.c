/* Unit tests for lib/policy/retention.c: the invariants of per-field
 * retention. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"
#include "policy/retention.h"

#define DAY INT64_C(86400)

static pt__retention
retention_of(const char *text)
{
    pt_policy *p = NULL;
    pt__retention r;
    assert_int_equal(pt_policy_load_buffer(&p, text, strlen(text), "t.ini"),
                     PT_OK);
    pt__retention_from_policy(&r, p);
    pt_policy_free(p);
    return r;
}

static const char strict_text[] = "[retention]\n"
                                  "ttl_days = 90\n"
                                  "user_agent_days = 7\n"
                                  "links_days = 30\n";

static uint64_t rng = 0x2545f4914f6cdd1dull;
static uint64_t
next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Without per-field retention nothing is ever hidden, whatever the
 * times. */
static void
test_none_hides_nothing(void **state)
{
    pt__retention r = retention_of("");
    (void)state;
    assert_int_equal(pt__retention_fields(&r), 0);
    assert_int_equal(pt__retention_newest_cutoff(&r, 1000000000), INT64_MIN);
    for (int i = 0; i < 10000; i++) {
        int64_t visit = (int64_t)(next() % 4000000000u);
        int64_t now = visit + (int64_t)(next() % 4000000000u);
        assert_int_equal(pt__retention_expired(&r, visit, now), 0);
    }
}

/* The boundary is the ttl's: visit + days * 86400 < now.  At exactly that
 * second the field is still shown; one second later it is not. */
static void
test_boundary_matches_ttl(void **state)
{
    pt__retention r = retention_of(strict_text);
    int64_t visit = 1736951400; /* 2025-01-15T14:30:00Z */
    (void)state;
    assert_int_equal(pt__retention_fields(&r),
                     PT_FIELD_USER_AGENT | PT_FIELD_LINKS);
    assert_int_equal(pt__retention_expired(&r, visit, visit + 7 * DAY), 0);
    assert_int_equal(pt__retention_expired(&r, visit, visit + 7 * DAY + 1),
                     PT_FIELD_USER_AGENT);
    assert_int_equal(pt__retention_expired(&r, visit, visit + 30 * DAY),
                     PT_FIELD_USER_AGENT);
    assert_int_equal(pt__retention_expired(&r, visit, visit + 30 * DAY + 1),
                     PT_FIELD_USER_AGENT | PT_FIELD_LINKS);
    /* the rest follows the record's ttl, not a field rule */
    assert_int_equal(pt__retention_expired(&r, visit, visit + 1000 * DAY),
                     PT_FIELD_USER_AGENT | PT_FIELD_LINKS);
}

/* Over random visits and times: a field is expired exactly when the visit
 * is before its cutoff; once expired it stays expired; a field is never
 * expired before its days have passed; nothing at or after the newest
 * cutoff has anything to remove. */
static void
test_invariants(void **state)
{
    pt__retention r = retention_of("[retention]\n"
                                   "ttl_days = 400\n"
                                   "client_ip_days = 3\n"
                                   "user_agent_days = 7\n"
                                   "links_days = 30\n"
                                   "titles_days = 365\n"
                                   "filenames_days = 400\n");
    (void)state;
    for (int i = 0; i < 200000; i++) {
        int64_t visit = 1000000 + (int64_t)(next() % 4000000000u);
        int64_t now = visit - 5 * DAY + (int64_t)(next() % (500 * DAY));
        int64_t later = now + (int64_t)(next() % (100 * DAY));
        unsigned int e = pt__retention_expired(&r, visit, now);
        int64_t newest = pt__retention_newest_cutoff(&r, now);

        assert_int_equal(e & ~PT__RETENTION_FIELDS, 0);
        for (int f = 0; f < PT__RET__COUNT; f++) {
            int64_t cut = pt__retention_cutoff(&r, f, now);
            int expired = (e & r.field[f]) != 0;
            assert_int_equal(expired, visit < cut);
            assert_int_equal(expired, visit + (int64_t)r.days[f] * DAY < now);
            if (expired)
                assert_true(now - visit > (int64_t)r.days[f] * DAY);
        }
        assert_int_equal(e & ~pt__retention_expired(&r, visit, later), 0);
        if (visit >= newest)
            assert_int_equal(e, 0);
    }
}

/* The visit time comes from the timestamp; a record whose timestamp does
 * not parse counts from its date's midnight (earlier: hidden sooner), and
 * one with neither has every field of its own hidden. */
static void
test_visit_time_and_hiding(void **state)
{
    pt__retention r = retention_of(strict_text);
    const char *links[] = {"https://a.example/x"};
    const char *titles[] = {"Song"};
    pt_record rec;
    int64_t visit = 1736951400;
    (void)state;

    memset(&rec, 0, sizeof(rec));
    rec.date = "2025-01-15";
    rec.timestamp = "2025-01-15T14:30:00.999999+00:00";
    rec.user_agent = "Firefox/Linux";
    rec.client_ip = "0123456789abcdef";
    rec.links = links;
    rec.link_count = 1;
    rec.titles = titles;
    rec.title_count = 1;
    assert_int_equal(pt__record_visit_seconds(&rec), visit);
    assert_int_equal(pt__record_fields_present(&rec),
                     PT_FIELD_USER_AGENT | PT_FIELD_CLIENT_IP | PT_FIELD_LINKS |
                         PT_FIELD_TITLES);
    assert_int_equal(pt__retention_hide_mask(&r, &rec, visit + 7 * DAY), 0);
    assert_int_equal(pt__retention_hide_mask(&r, &rec, visit + 8 * DAY),
                     PT_FIELD_USER_AGENT);

    rec.timestamp = "garbage";
    assert_int_equal(pt__record_visit_seconds(&rec), visit - 52200);
    rec.date = "not a date";
    assert_int_equal(pt__record_visit_seconds(&rec), -1);
    assert_int_equal(pt__retention_hide_mask(&r, &rec, visit),
                     PT_FIELD_USER_AGENT | PT_FIELD_LINKS);

    /* hiding clears exactly the mask, and a field absent is never in it */
    pt__record_clear_fields(&rec, PT_FIELD_USER_AGENT | PT_FIELD_LINKS);
    assert_null(rec.user_agent);
    assert_null(rec.links);
    assert_int_equal(rec.link_count, 0);
    assert_string_equal(rec.client_ip, "0123456789abcdef");
    assert_int_equal(rec.title_count, 1);
    assert_int_equal(pt__retention_hide_mask(&r, &rec, visit + 1000 * DAY), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_none_hides_nothing),
        cmocka_unit_test(test_boundary_matches_ttl),
        cmocka_unit_test(test_invariants),
        cmocka_unit_test(test_visit_time_and_hiding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
