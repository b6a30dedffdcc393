/*
 * Data-subject requests: the matcher (policy/subject_match.c) against what
 * the policy engine really stores for each [ip] mode, and
 * pt_tracker_subject_find() / _erase() on the file store over several
 * dates: exactly the person's records are found and deleted, the other
 * lines stay byte for byte, a second erase deletes nothing, records in the
 * spool are found (and block an erase), keys destroyed by rotation make
 * their dates unsearchable, and bad requests touch nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "privtrack.h"
#include "test_tmpdir.h"

#include "common/common.h"
#include "policy/policy.h"
#include "policy/subject_match.h"
#include "record/record.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DAY   INT64_C(86400)
#define DATES 5

#define SUBJECT  "203.0.113.7"
#define NEIGHBOR "203.0.113.99" /* same /24 */
#define OTHER    "198.51.100.1"
#define SUBJECT6 "2001:db8:85a3::8a2e:370:7334"

typedef struct fixture {
    char root[256];
    char store[300];
    int64_t now;
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (pt_test_mkdtemp(f->root, sizeof(f->root), "pt-subject") != 0)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/store", f->root);
    f->now = (int64_t)time(NULL);
    unsetenv("PRIVTRACK_IP_KEY");
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    pt_test_rmtree(f->root);
    free(f);
    return 0;
}

static pt_policy *
policy_of(const fixture *f, const char *ip_lines)
{
    char text[1024];
    pt_policy *p = NULL;
    snprintf(text, sizeof(text),
             "[storage]\npath = %s\nfsync = never\n[ip]\n%s\n"
             "[retention]\nttl_days = 30\n[fields]\nuser_agent = family\n",
             f->store, ip_lines);
    if (pt_policy_load_buffer(&p, text, strlen(text), "subject.ini") != PT_OK)
        fail_msg("policy: %s", pt_last_error());
    return p;
}

static pt_tracker *
open_tracker(const fixture *f, const char *ip_lines)
{
    pt_policy *p = policy_of(f, ip_lines);
    pt_tracker *t = NULL;
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    o.synchronous = 1;
    if (pt_tracker_open(&t, p, &o) != PT_OK)
        fail_msg("open: %s", pt_last_error());
    pt_policy_free(p);
    return t;
}

/* ---- the matcher against the policy engine ------------------------------ */

/* What the policy stores for `addr` under `key`. */
static void
stored_for(const pt_policy *p, const pt__ip_key *key, const char *addr,
           char *out, size_t size)
{
    pt_visit v = PT_VISIT_INIT;
    pt__apply_result res;
    v.remote_addr = addr;
    v.time_us = INT64_C(1736899200) * 1000000;
    assert_int_equal(pt__policy_apply(p, key, &v, v.time_us, &res, NULL),
                     PT_OK);
    assert_non_null(res.record);
    snprintf(out, size, "%s",
             res.record->client_ip ? res.record->client_ip : "");
    pt__record_free(res.record);
}

static unsigned int
match_with(const pt_policy *p, const pt__ip_key *key, const char *subject,
           const char *stored)
{
    pt__subject_ip ip;
    pt__subject_pseudonyms ps;
    unsigned int how;
    assert_int_equal(pt__subject_ip_init(&ip, p, subject), PT_OK);
    assert_int_equal(pt__subject_pseudonyms_of(&ip, key, &ps), PT_OK);
    how = pt__subject_ip_match(&ip, &ps, stored);
    pt__subject_ip_wipe(&ip);
    return how;
}

/* For every mode, what the engine stores for the person is matched (and
 * says how), a neighbour on the same network only where the mode stores
 * the network, another address never, and another key's pseudonym never. */
static void
test_matcher_follows_the_engine(void **state)
{
    static const struct {
        const char *lines;
        unsigned int self, neighbor;
    } modes[] = {
        {"mode = keep", PT_SUBJECT_MATCH_ADDRESS, 0},
        {"mode = truncate", PT_SUBJECT_MATCH_NETWORK, PT_SUBJECT_MATCH_NETWORK},
        {"mode = hash\ntruncate_before_hash = false",
         PT_SUBJECT_MATCH_PSEUDONYM, 0},
        {"mode = hash\ntruncate_before_hash = true",
         PT_SUBJECT_MATCH_NETWORK_PSEUDONYM,
         PT_SUBJECT_MATCH_NETWORK_PSEUDONYM},
    };
    static const struct {
        const char *subject, *neighbor, *other;
    } addrs[] = {
        {SUBJECT, NEIGHBOR, OTHER},
        {"[" SUBJECT6 "]:443", "2001:db8:85a3::1", "2001:db8:1::1"},
        {"::ffff:" SUBJECT, NEIGHBOR ":8080", OTHER},
    };
    fixture *f = *state;
    pt__ip_key key, other_key;
    char stored[200];

    memset(&key, 0, sizeof(key));
    memset(&other_key, 0, sizeof(other_key));
    key.len = other_key.len = 32;
    for (int i = 0; i < 32; i++) {
        key.bytes[i] = (unsigned char)(i * 7 + 1);
        other_key.bytes[i] = (unsigned char)(i * 7 + 2);
    }
    for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
        pt_policy *p = policy_of(f, modes[m].lines);
        for (size_t a = 0; a < sizeof(addrs) / sizeof(addrs[0]); a++) {
            unsigned int how;
            stored_for(p, &key, addrs[a].subject, stored, sizeof(stored));
            assert_true(stored[0] != '\0');
            how = match_with(p, &key, addrs[a].subject, stored);
            if (!(how & modes[m].self))
                fail_msg("mode %zu addr %zu: 0x%x", m, a, how);
            assert_int_equal(how & ~(modes[m].self | PT_SUBJECT_MATCH_ADDRESS),
                             0);
            stored_for(p, &key, addrs[a].neighbor, stored, sizeof(stored));
            assert_int_equal(match_with(p, &key, addrs[a].subject, stored),
                             modes[m].neighbor);
            stored_for(p, &key, addrs[a].other, stored, sizeof(stored));
            assert_int_equal(match_with(p, &key, addrs[a].subject, stored), 0);
            if (m >= 2) { /* another key: never */
                stored_for(p, &other_key, addrs[a].subject, stored,
                           sizeof(stored));
                assert_int_equal(match_with(p, &key, addrs[a].subject, stored),
                                 0);
            }
        }
        pt_policy_free(p);
    }
}

/* A second erase deletes nothing, and the person is not found. */
static void
assert_erased(pt_tracker *t, const pt_subject_options *o)
{
    pt_subject_result *r;
    assert_int_equal(pt_tracker_subject_erase(t, o, &r), PT_OK);
    assert_int_equal(r->deleted, 0);
    pt_subject_result_free(r);
    assert_int_equal(pt_tracker_subject_find(t, o, &r), PT_OK);
    assert_int_equal(r->found, 0);
    pt_subject_result_free(r);
}

static void
test_matcher_refuses_non_addresses(void **state)
{
    fixture *f = *state;
    pt_policy *p = policy_of(f, "mode = keep");
    pt__subject_ip ip;
    const char *bad[] = {"", "203.0.113", "secret-host.example",
                         "203.0.113.7.1", "::g"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(pt__subject_ip_init(&ip, p, bad[i]), PT_EINVAL);
        if (bad[i][0])
            assert_null(strstr(pt_last_error(), bad[i]));
    }
    /* user agents: the same string, the same family, or nothing */
    {
        char fam[64];
        const char *ff = "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) "
                         "Gecko/20100101 Firefox/120.0";
        pt__subject_ua_family(ff, fam);
        assert_string_equal(fam, "Firefox/Linux");
        assert_true(pt__subject_ua_match(ff, fam, ff));
        assert_true(pt__subject_ua_match(ff, fam, "Firefox/Linux"));
        assert_false(pt__subject_ua_match(ff, fam, "Chrome/Windows"));
        assert_false(pt__subject_ua_match(ff, fam, NULL));
    }
    pt_policy_free(p);
}

/* ---- find and erase on the file store ------------------------------------ */

static const char *const firefox =
    "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0";
static const char *const chrome =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/120.0 Safari/537.36";

/* Per date k (0 = today): 2 visits of the person (one Firefox, one
 * Chrome), one of a neighbour on the same /24, one of another address, one
 * of the person over IPv6.  The person's session ids go to `sessions`. */
static void
record_visits(const fixture *f, pt_tracker *t, char sessions[][24], size_t *n)
{
    const char *who[] = {SUBJECT, SUBJECT, NEIGHBOR, OTHER, SUBJECT6};
    *n = 0;
    for (int k = 0; k < DATES; k++)
        for (size_t i = 0; i < 5; i++) {
            pt_visit v = PT_VISIT_INIT;
            pt_header h = {"User-Agent", i == 1 ? chrome : firefox};
            pt_track_result res;
            v.remote_addr = who[i];
            v.headers = &h;
            v.header_count = 1;
            v.time_us = (f->now - k * DAY - 60 - (int64_t)i) * 1000000;
            assert_int_equal(pt_track(t, &v, &res), PT_OK);
            assert_int_equal(res.dropped, PT_DROP_NONE);
            if (i < 2)
                strcpy(sessions[(*n)++], res.session_id);
        }
    assert_int_equal(pt_tracker_flush(t, 5000), PT_OK);
}

static int
is_session_of(char sessions[][24], size_t n, const char *sid)
{
    for (size_t i = 0; sid && i < n; i++)
        if (strcmp(sessions[i], sid) == 0)
            return 1;
    return 0;
}

static char *
slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long len;
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)len + 1);
    assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
    buf[len] = '\0';
    fclose(fp);
    return buf;
}

/* The day file `k` days old with the lines holding one of `sids` removed:
 * what an erase must leave. */
static char *
expected_after(const fixture *f, int k, char sids[][24], size_t n, char *date)
{
    char path[512], *all, *line, *save = NULL;
    pt_buf out = PT_BUF_INIT;
    time_t when = (time_t)(f->now - k * DAY - 60);
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, 11, "%Y-%m-%d", &tm);
    snprintf(path, sizeof(path), "%s/%s.jsonl", f->store, date);
    all = slurp(path);
    assert_non_null(all);
    for (line = strtok_r(all, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        int gone = 0;
        for (size_t i = 0; i < n && !gone; i++)
            gone = strstr(line, sids[i]) != NULL;
        if (!gone) {
            pt_buf_puts(&out, line);
            pt_buf_putc(&out, '\n');
        }
    }
    free(all);
    return pt_buf_detach(&out);
}

static void
check_find_and_erase(fixture *f, const char *ip_lines, int shared)
{
    pt_tracker *t = open_tracker(f, ip_lines);
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    char sessions[2 * DATES][24], dates[DATES][11], *expect[DATES];
    size_t n;
    uint64_t mine = 0;

    record_visits(f, t, sessions, &n);
    o.ip = SUBJECT;
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    assert_int_equal(r->date_count, 31); /* ttl_days back to today */
    /* every record of the person, and others only by network */
    for (size_t i = 0; i < r->records->count; i++) {
        const pt_record *rec = &r->records->records[i];
        if (is_session_of(sessions, n, rec->session_id)) {
            mine++;
        } else {
            assert_true(shared);
            assert_true(r->match[i] & PT_SUBJECT_MATCH_SHARED);
        }
    }
    assert_int_equal(mine, n);
    assert_int_equal(r->found, shared ? n + DATES : n);
    assert_int_equal((r->matched & PT_SUBJECT_MATCH_SHARED) != 0, shared);
    pt_subject_result_free(r);

    /* narrowed by user agent: only the Firefox visits */
    o.user_agent = firefox;
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    assert_int_equal(r->found, shared ? 2 * DATES : DATES);
    pt_subject_result_free(r);
    o.user_agent = NULL;

    if (shared) {
        assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
        return;
    }
    /* listing: counts, nothing changes */
    for (int k = 0; k < DATES; k++)
        expect[k] = expected_after(f, k, NULL, 0, dates[k]);
    o.flags = PT_SUBJECT_LIST_ONLY;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    assert_int_equal(r->erase, 2);
    assert_int_equal(r->deleted, n);
    pt_subject_result_free(r);
    for (int k = 0; k < DATES; k++) {
        char date[11], *now = expected_after(f, k, NULL, 0, date);
        assert_string_equal(now, expect[k]);
        free(now);
        free(expect[k]);
    }
    /* erase: exactly the person's lines go, the others stay byte for byte */
    for (int k = 0; k < DATES; k++)
        expect[k] = expected_after(f, k, sessions, n, dates[k]);
    o.flags = 0;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    assert_int_equal(r->erase, 1);
    assert_int_equal(r->deleted, n);
    assert_int_equal(r->records->count, n);
    for (size_t i = 0; i < r->records->count; i++) {
        /* the receipt holds the keys only */
        assert_non_null(r->records->records[i].timestamp);
        assert_null(r->records->records[i].client_ip);
        assert_null(r->records->records[i].session_id);
    }
    {
        char *json = NULL;
        assert_int_equal(pt_subject_result_json(&json, r, 0), PT_OK);
        assert_null(strstr(json, SUBJECT));
        assert_null(strstr(json, "203.0.113"));
        pt_free(json);
    }
    pt_subject_result_free(r);
    for (int k = 0; k < DATES; k++) {
        char path[512], *now;
        snprintf(path, sizeof(path), "%s/%s.jsonl", f->store, dates[k]);
        now = slurp(path);
        assert_string_equal(now, expect[k]);
        free(now);
        free(expect[k]);
    }
    assert_erased(t, &o);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

static void
test_keep(void **state)
{
    check_find_and_erase(*state, "mode = keep", 0);
}

static void
test_truncate(void **state)
{
    check_find_and_erase(*state, "mode = truncate", 1);
}

static void
test_hash(void **state)
{
    check_find_and_erase(*state, "mode = hash\ntruncate_before_hash = false",
                         0);
}

static void
test_hash_network(void **state)
{
    check_find_and_erase(*state, "mode = hash", 1);
}

/* Rotating daily keys with 48 hours of grace: the dates whose key lives
 * are searched and their records found; older dates' keys are destroyed,
 * their visits stored without an address, and the result says so. */
static void
test_rotating_keys(void **state)
{
    fixture *f = *state;
    pt_tracker *t = open_tracker(f, "mode = hash\ntruncate_before_hash = "
                                    "false\nrotate = daily\n");
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    char sessions[2 * DATES][24];
    size_t n, searched = 0, destroyed = 0;
    uint64_t without = 0;

    assert_int_equal(pt_tracker_init_storage(t), PT_OK);
    record_visits(f, t, sessions, &n);
    o.ip = SUBJECT;
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    for (size_t i = 0; i < r->date_count; i++) {
        if (r->dates[i].address == PT_SUBJECT_ADDRESS_SEARCHED)
            searched++;
        else if (r->dates[i].address == PT_SUBJECT_ADDRESS_KEY_DESTROYED)
            destroyed++;
        without += r->dates[i].without_address;
    }
    /* today, yesterday and (within the grace) the day before */
    assert_int_equal(searched, 3);
    assert_int_equal(destroyed, r->date_count - 3);
    assert_int_equal(r->found, 2 * 3);
    assert_int_equal(without, 5 * (DATES - 3));
    for (size_t i = 0; i < r->records->count; i++)
        assert_true(
            is_session_of(sessions, n, r->records->records[i].session_id));
    {
        char *json = NULL;
        assert_int_equal(
            pt_subject_result_json(&json, r, PT_SUBJECT_JSON_RECORDS), PT_OK);
        assert_non_null(strstr(json, "the hash key of their period was "
                                     "destroyed"));
        assert_non_null(strstr(json, "store no address"));
        pt_free(json);
    }
    pt_subject_result_free(r);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

/* The line of `sid` in the day file of `date`, with `date` replaced by
 * `as` (same length) wherever it occurs: the same record moved to
 * another date. */
static char *
line_moved(const fixture *f, const char *date, const char *sid, const char *as)
{
    char path[512], *all, *line, *save = NULL, *out = NULL;
    snprintf(path, sizeof(path), "%s/%s.jsonl", f->store, date);
    all = slurp(path);
    assert_non_null(all);
    for (line = strtok_r(all, "\n", &save); line && !out;
         line = strtok_r(NULL, "\n", &save))
        if (strstr(line, sid))
            out = strdup(line);
    free(all);
    assert_non_null(out);
    for (char *p = out; (p = strstr(p, date)); p += 10)
        memcpy(p, as, 10);
    return out;
}

/* Erase with rotating daily keys: on the dates whose key lives exactly
 * the person's records go, the other lines stay byte for byte; the dates
 * whose key is destroyed are reported as not searched and nothing is
 * deleted there -- not even a record carrying the person's pseudonym
 * under another date's (living) key. */
static void
test_rotating_keys_erase(void **state)
{
    fixture *f = *state;
    pt_tracker *t = open_tracker(f, "mode = hash\ntruncate_before_hash = "
                                    "false\nrotate = daily\n");
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    char sessions[2 * DATES][24], dates[DATES][11], *expect[DATES];
    char path[512], *moved;
    size_t n, searched = 0, destroyed = 0;
    FILE *fp;

    assert_int_equal(pt_tracker_init_storage(t), PT_OK);
    record_visits(f, t, sessions, &n);
    for (int k = 0; k < DATES; k++)
        free(expected_after(f, k, NULL, 0, dates[k]));
    /* today's record of the person (today's pseudonym), moved to a date
     * whose key is destroyed */
    moved = line_moved(f, dates[0], sessions[0], dates[3]);
    snprintf(path, sizeof(path), "%s/%s.jsonl", f->store, dates[3]);
    fp = fopen(path, "a");
    assert_non_null(fp);
    fprintf(fp, "%s\n", moved);
    fclose(fp);
    free(moved);
    for (int k = 0; k < DATES; k++)
        expect[k] = k < 3 ? expected_after(f, k, sessions, n, dates[k])
                          : expected_after(f, k, NULL, 0, dates[k]);

    o.ip = SUBJECT;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    assert_int_equal(r->erase, 1);
    for (size_t i = 0; i < r->date_count; i++) {
        const pt_subject_date *d = &r->dates[i];
        int k = -1;
        for (int j = 0; j < DATES; j++)
            if (strcmp(d->date, dates[j]) == 0)
                k = j;
        assert_int_equal(d->rc, PT_OK);
        if (d->address == PT_SUBJECT_ADDRESS_SEARCHED) {
            searched++;
            assert_true(k >= 0 && k < 3);
            assert_int_equal(d->deleted, 2);
        } else {
            assert_int_equal(d->address, PT_SUBJECT_ADDRESS_KEY_DESTROYED);
            destroyed++;
            assert_int_equal(d->deleted, 0);
            assert_int_equal(d->found, 0);
        }
    }
    assert_int_equal(searched, 3);
    assert_int_equal(destroyed, r->date_count - 3);
    assert_int_equal(r->deleted, 2 * 3);
    assert_int_equal(r->records->count, 2 * 3);
    for (size_t i = 0; i < r->records->count; i++) {
        const pt_record *rec = &r->records->records[i];
        assert_true(strcmp(rec->date, dates[0]) == 0 ||
                    strcmp(rec->date, dates[1]) == 0 ||
                    strcmp(rec->date, dates[2]) == 0);
        assert_int_equal(strncmp(rec->timestamp, rec->date, 10), 0);
    }
    {
        char *json = NULL;
        assert_int_equal(pt_subject_result_json(&json, r, 0), PT_OK);
        assert_non_null(strstr(json, "the hash key of their period was "
                                     "destroyed"));
        pt_free(json);
    }
    pt_subject_result_free(r);
    for (int k = 0; k < DATES; k++) {
        char *now;
        snprintf(path, sizeof(path), "%s/%s.jsonl", f->store, dates[k]);
        now = slurp(path);
        if (strcmp(now, expect[k]) != 0)
            fail_msg("date %d (%s) differs:\n%s\nexpected:\n%s", k, dates[k],
                     now, expect[k]);
        free(now);
        free(expect[k]);
    }
    assert_erased(t, &o);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

/* By session id, alone or with the address; bad requests fail, name no
 * address, and touch nothing. */
static void
test_session_and_bad_requests(void **state)
{
    fixture *f = *state;
    pt_tracker *t = open_tracker(f, "mode = keep");
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    char sessions[2 * DATES][24], date[11], *before;
    size_t n;

    record_visits(f, t, sessions, &n);
    o.session_id = sessions[3];
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    assert_int_equal(r->found, 1);
    assert_string_equal(r->records->records[0].session_id, sessions[3]);
    assert_int_equal(r->match[0], PT_SUBJECT_MATCH_SESSION);
    pt_subject_result_free(r);
    o.ip = OTHER; /* both must hold */
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    assert_int_equal(r->found, 0);
    pt_subject_result_free(r);

    before = expected_after(f, 0, NULL, 0, date);
    o.session_id = NULL;
    o.ip = "203.0.113.777";
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_EINVAL);
    assert_null(r);
    assert_null(strstr(pt_tracker_errmsg(t), "203.0.113"));
    o.ip = SUBJECT;
    o.from = "2025-02-01";
    o.to = "2025-01-01";
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_EINVAL);
    assert_non_null(strstr(pt_tracker_errmsg(t), "reversed"));
    o.from = "2025-13-01";
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_EINVAL);
    o.from = o.to = NULL;
    o.ip = NULL;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_EINVAL);
    {
        char *now = expected_after(f, 0, NULL, 0, date);
        assert_string_equal(now, before);
        free(now);
    }
    free(before);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

/* A record waiting in the spool is found (source "spool"); an erase
 * refuses while it is there and deletes nothing. */
static void
test_spool(void **state)
{
    fixture *f = *state;
    pt_tracker *t = open_tracker(f, "mode = keep");
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    char sessions[2 * DATES][24], path[600], line[1024], ts[40], date[11];
    char *before;
    size_t n;
    int64_t when = f->now - 30;
    FILE *fp;

    record_visits(f, t, sessions, &n);
    before = expected_after(f, 0, NULL, 0, date);
    snprintf(path, sizeof(path), "%s/spool", f->store);
    assert_int_equal(mkdir(path, 0700), 0);
    snprintf(path, sizeof(path), "%s/spool/spool-%016lld-1-0.log", f->store,
             (long long)(when * 1000000));
    pt__format_timestamp(ts, when * 1000000);
    {
        char json[700];
        snprintf(json, sizeof(json),
                 "{\"date\":\"%.10s\",\"timestamp\":\"%s\",\"session_id\":"
                 "\"%lld-0000abcd\",\"client_ip\":\"%s\","
                 "\"num_links_submitted\":0,\"num_files_downloaded\":0,"
                 "\"links\":[],\"titles\":[],\"filenames\":[],"
                 "\"has_errors\":false,\"error_count\":0}",
                 ts, ts, (long long)when, SUBJECT);
        snprintf(line, sizeof(line), "%08x %s\n",
                 pt__crc32(0, json, strlen(json)), json);
    }
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(line, fp);
    fclose(fp);
    chmod(path, 0600);

    o.ip = SUBJECT;
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    assert_int_equal(r->found, n + 1);
    assert_int_equal(r->in_spool, 1);
    assert_true(r->match[r->found - 1] & PT_SUBJECT_MATCH_SPOOL);
    pt_subject_result_free(r);
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_EEXIST);
    assert_null(r);
    assert_non_null(strstr(pt_tracker_errmsg(t), "spool"));
    assert_null(strstr(pt_tracker_errmsg(t), SUBJECT));
    {
        char *now = expected_after(f, 0, NULL, 0, date);
        assert_string_equal(now, before);
        free(now);
    }
    free(before);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_matcher_follows_the_engine),
        T(test_matcher_refuses_non_addresses),
        T(test_keep),
        T(test_truncate),
        T(test_hash),
        T(test_hash_network),
        T(test_rotating_keys),
        T(test_rotating_keys_erase),
        T(test_session_and_bad_requests),
        T(test_spool),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
