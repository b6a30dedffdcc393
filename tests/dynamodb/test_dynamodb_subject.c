/*
 * Data-subject requests on DynamoDB (a real dynalite), through the public
 * API: for keep, truncate and hash, over three dates, find returns exactly
 * the person's records (and, for truncate, the neighbour's as network
 * matches), erase deletes exactly those (Query per date, BatchWriteItem),
 * the other items read back the same, and a second erase deletes nothing;
 * the receipt counts every record read, those the server's filter left
 * out too (hash with daily keys: one pseudonym per date, all filtered
 * for).  A rewrite given the only_values hint is handed only the
 * matching items; an erase is still handed the records stored without an
 * address, and counts them.
 * An erase killed (SIGKILL) midway leaves a table the next erase finishes:
 * afterwards none of the person's records, all of the others, and a third
 * run deletes nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "privtrack.h"
#include "../policy_fixture.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DAY      INT64_C(86400)
#define DATES    3
#define SUBJECT  "203.0.113.7"
#define NEIGHBOR "203.0.113.99"
#define OTHER    "198.51.100.1"

static int table_seq;

static pt_policy *
load_policy(const char *table, const char *ip_lines)
{
    return pt_test_policy(
        "ddb.ini",
        "[storage]\nbackend = dynamodb\ntable = %s\ncreate_table = true\n"
        "endpoint = %s\n[ip]\n%s\n[retention]\nttl_days = 30\n",
        table, getenv("PT_TEST_DYNAMODB_ENDPOINT"), ip_lines);
}

static pt_tracker *
open_tracker(const char *table, const char *ip_lines)
{
    char store[64];
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    /* the spool and a hash key of the test's own */
    snprintf(store, sizeof(store), "/tmp/pt-ddb-subject-%d", (int)getpid());
    o.storage_path = store;
    o.synchronous = 1;
    return pt_test_tracker(load_policy(table, ip_lines), &o);
}

static void
new_table(char *table, size_t size)
{
    snprintf(table, size, "pt-subject-%d-%d", (int)getpid(), ++table_seq);
}

/* A tracker on a new table (its name into `table`), storage created. */
static pt_tracker *
tracker_on_new_table(char *table, size_t size, const char *ip_lines)
{
    pt_tracker *t;
    new_table(table, size);
    t = open_tracker(table, ip_lines);
    assert_int_equal(pt_tracker_init_storage(t), PT_OK);
    return t;
}

/* `per` visits per date and address; the person's session ids kept. */
static size_t
record(pt_tracker *t, int per, char (*mine)[24])
{
    const char *who[] = {SUBJECT, NEIGHBOR, OTHER};
    int64_t now = (int64_t)time(NULL);
    size_t n = 0;
    for (int k = 0; k < DATES; k++)
        for (int j = 0; j < per; j++)
            for (size_t i = 0; i < 3; i++) {
                pt_visit v = PT_VISIT_INIT;
                pt_track_result res;
                v.remote_addr = who[i];
                v.time_us = (now - k * DAY - 120) * 1000000 +
                            (int64_t)(j * 3 + (int)i) * 1000;
                assert_int_equal(pt_track(t, &v, &res), PT_OK);
                assert_int_equal(res.dropped, PT_DROP_NONE);
                if (i == 0 && mine)
                    strcpy(mine[n], res.session_id);
                n += i == 0;
            }
    return n;
}

typedef struct dump {
    char **lines;
    size_t n;
    char (*skip)[24]; /* leave out these sessions */
    size_t nskip;
} dump;

static int
dump_one(const pt_record *r, void *ud)
{
    dump *d = ud;
    char *json = NULL;
    for (size_t i = 0; i < d->nskip; i++)
        if (r->session_id && strcmp(r->session_id, d->skip[i]) == 0)
            return PT_OK;
    assert_int_equal(pt_record_to_json(&json, r), PT_OK);
    d->lines = realloc(d->lines, (d->n + 1) * sizeof(*d->lines));
    d->lines[d->n++] = json;
    return PT_OK;
}

static int
by_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every record of the range as JSON, sorted, without the `skip` ones. */
static dump
read_all(pt_tracker *t, char (*skip)[24], size_t nskip)
{
    pt_scan_options o = PT_SCAN_OPTIONS_INIT;
    char from[11], to[11];
    time_t now = time(NULL), first = now - (DATES + 1) * DAY;
    dump d = {NULL, 0, skip, nskip};
    strftime(from, sizeof(from), "%Y-%m-%d", gmtime(&first));
    strftime(to, sizeof(to), "%Y-%m-%d", gmtime(&now));
    o.from = from;
    o.to = to;
    assert_int_equal(pt_tracker_scan(t, &o, dump_one, &d), PT_OK);
    qsort(d.lines, d.n, sizeof(*d.lines), by_text);
    return d;
}

static void
dump_free(dump *d)
{
    for (size_t i = 0; i < d->n; i++)
        pt_free(d->lines[i]);
    free(d->lines);
}

/* The receipt of an erase of the person's n records out of 3n: every
 * record of the range counted as read (those the server filtered out
 * too), none without an address, n found and deleted. */
static void
check_receipt(const pt_subject_result *r, size_t n)
{
    uint64_t read = 0, without = 0, found = 0, deleted = 0;

    for (size_t i = 0; i < r->date_count; i++) {
        read += r->dates[i].records;
        without += r->dates[i].without_address;
        found += r->dates[i].found;
        deleted += r->dates[i].deleted;
        assert_int_equal(r->dates[i].rc, PT_OK);
    }
    assert_int_equal(read, 3 * n);
    assert_int_equal(without, 0);
    assert_int_equal(found, n);
    assert_int_equal(deleted, n);
    assert_int_equal(r->found, n);
    assert_int_equal(r->deleted, n);
}

static void
check_mode(const char *ip_lines, int shared)
{
    char table[64], mine[DATES * 2][24];
    pt_tracker *t;
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    size_t n;
    dump before, after;

    t = tracker_on_new_table(table, sizeof(table), ip_lines);
    n = record(t, 2, mine);
    o.ip = SUBJECT;
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    assert_int_equal(r->found, shared ? 2 * n : n);
    for (size_t i = 0; i < r->records->count; i++) {
        int is_mine = 0;
        for (size_t j = 0; j < n; j++)
            is_mine |= strcmp(r->records->records[i].session_id, mine[j]) == 0;
        assert_true(is_mine || (r->match[i] & PT_SUBJECT_MATCH_SHARED));
    }
    pt_subject_result_free(r);
    if (shared) {
        assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
        return;
    }
    before = read_all(t, mine, n);
    assert_int_equal(before.n, 2 * n);
    o.flags = PT_SUBJECT_LIST_ONLY;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    check_receipt(r, n);
    pt_subject_result_free(r);
    after = read_all(t, NULL, 0);
    assert_int_equal(after.n, 3 * n); /* listing deleted nothing */
    dump_free(&after);
    o.flags = 0;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    check_receipt(r, n);
    assert_int_equal(r->records->count, n);
    pt_subject_result_free(r);
    after = read_all(t, NULL, 0);
    assert_int_equal(after.n, before.n);
    for (size_t i = 0; i < after.n; i++)
        assert_string_equal(after.lines[i], before.lines[i]);
    dump_free(&after);
    dump_free(&before);
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    assert_int_equal(r->deleted, 0);
    pt_subject_result_free(r);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

static void
test_keep(void **state)
{
    (void)state;
    check_mode("mode = keep", 0);
}

static void
test_truncate(void **state)
{
    (void)state;
    check_mode("mode = truncate", 1);
}

static void
test_hash(void **state)
{
    (void)state;
    check_mode("mode = hash\ntruncate_before_hash = false", 0);
}

/* A pseudonym per day (three keys alive): the erase's filter holds them
 * all. */
static void
test_hash_rotating(void **state)
{
    (void)state;
    check_mode("mode = hash\ntruncate_before_hash = false\nrotate = daily", 0);
}

typedef struct handed {
    size_t records, mine, skipped;
} handed;

static int
count_handed(const pt_record *r, unsigned int *action, void *ud)
{
    handed *h = ud;
    h->records++;
    h->mine += r->client_ip && strcmp(r->client_ip, SUBJECT) == 0;
    *action = PT_REWRITE_KEEP;
    return PT_OK;
}

static void
count_skipped(const pt_rewrite_day *day, void *ud)
{
    ((handed *)ud)->skipped += day->skipped;
}

/* The only_values hint reaches the server: a rewrite given the person's
 * address is handed the person's records only, and is told how many the
 * server left out; without the hint it is handed all. */
static void
test_rewrite_filter(void **state)
{
    char table[64], from[11], to[11];
    time_t now = time(NULL), first = now - (DATES + 1) * DAY;
    const char *values[] = {SUBJECT, "192.0.2.1"};
    pt_rewrite_options ro = PT_REWRITE_OPTIONS_INIT;
    const pt_storage_methods *m = pt_storage_find("dynamodb");
    pt_policy *p;
    pt_storage *s = NULL;
    pt_tracker *t;
    handed h = {0, 0, 0};
    size_t n;

    (void)state;
    t = tracker_on_new_table(table, sizeof(table), "mode = keep");
    n = record(t, 2, NULL);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    assert_non_null(m);
    p = load_policy(table, "mode = keep");
    assert_int_equal(m->open(&s, p, NULL), PT_OK);
    s->methods = m;
    strftime(from, sizeof(from), "%Y-%m-%d", gmtime(&first));
    strftime(to, sizeof(to), "%Y-%m-%d", gmtime(&now));
    ro.from = from;
    ro.to = to;
    ro.flags = PT_REWRITE_LIST_ONLY;
    assert_int_equal(m->rewrite(s, &ro, count_handed, count_skipped, &h),
                     PT_OK);
    assert_int_equal(h.records, 3 * n);
    assert_int_equal(h.skipped, 0);
    memset(&h, 0, sizeof(h));
    ro.only_field = PT_FIELD_CLIENT_IP;
    ro.only_values = values;
    ro.only_value_count = 2;
    assert_int_equal(m->rewrite(s, &ro, count_handed, count_skipped, &h),
                     PT_OK);
    assert_int_equal(h.records, n);
    assert_int_equal(h.mine, n);
    assert_int_equal(h.skipped, 2 * n);
    m->close(s);
    pt_policy_free(p);
}

/* Records stored without an address (written under ip mode drop, the
 * policy turned to keep since) pass the erase's server filter (its
 * "attribute_not_exists" branch): the erase is handed them, so its receipt
 * counts them as read and as without an address, and it deletes the
 * person's records and nothing else. */
static void
test_erase_sees_records_without_address(void **state)
{
    char table[64];
    pt_tracker *t;
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    uint64_t read = 0, without = 0;
    size_t dropped, n;
    dump before, after;

    (void)state;
    t = tracker_on_new_table(table, sizeof(table), "mode = drop");
    dropped = 3 * record(t, 1, NULL); /* 3 addresses a visit round */
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    t = open_tracker(table, "mode = keep");
    n = record(t, 2, NULL);
    before = read_all(t, NULL, 0);
    assert_int_equal(before.n, dropped + 3 * n);
    dump_free(&before);
    o.ip = SUBJECT;
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    for (size_t i = 0; i < r->date_count; i++) {
        read += r->dates[i].records;
        without += r->dates[i].without_address;
        assert_int_equal(r->dates[i].rc, PT_OK);
    }
    assert_int_equal(read, dropped + 3 * n);
    assert_int_equal(without, dropped);
    assert_int_equal(r->found, n);
    assert_int_equal(r->deleted, n);
    pt_subject_result_free(r);
    after = read_all(t, NULL, 0);
    assert_int_equal(after.n, dropped + 2 * n);
    for (size_t i = 0; i < after.n; i++)
        assert_null(strstr(after.lines[i], SUBJECT));
    dump_free(&after);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

/* SIGKILL midway, then again until done. */
static void
test_killed_erase_resumes(void **state)
{
    char table[64];
    pt_tracker *t;
    pt_subject_options o = PT_SUBJECT_OPTIONS_INIT;
    pt_subject_result *r = NULL;
    size_t n;
    uint64_t first_pass;
    pid_t pid;
    int status;
    dump others;

    (void)state;
    /* 12 BatchWriteItems a date: the two dates after the first take long
     * enough for the kill to land before the last is done */
    t = tracker_on_new_table(table, sizeof(table), "mode = keep");
    n = record(t, 300, NULL);
    others = read_all(t, NULL, 0);
    assert_int_equal(others.n, 3 * n);
    dump_free(&others);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pt_tracker *ct = open_tracker(table, "mode = keep");
        pt_subject_options co = PT_SUBJECT_OPTIONS_INIT;
        pt_subject_result *cr = NULL;
        co.ip = SUBJECT;
        _exit(pt_tracker_subject_erase(ct, &co, &cr) == PT_OK ? 0 : 1);
    }
    /* kill it as soon as the oldest date (erased first, its items in key
     * order) has lost its newest records of the person: the later dates
     * are still to do.  Only the date's newest nine items are read each
     * time: reading the whole date took longer than the erase's rest. */
    {
        char oldest[11];
        time_t when = time(NULL) - (DATES - 1) * DAY - 120;
        strftime(oldest, sizeof(oldest), "%Y-%m-%d", gmtime(&when));
        for (int tries = 0; tries < 5000; tries++) {
            pt_record_list *l = NULL;
            size_t left = 0;
            assert_int_equal(pt_tracker_query(t, &l, oldest, 9), PT_OK);
            for (size_t i = 0; i < l->count; i++)
                left += l->records[i].client_ip &&
                        strcmp(l->records[i].client_ip, SUBJECT) == 0;
            pt_record_list_free(l);
            if (left == 0)
                break;
            usleep(1000);
        }
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    o.ip = SUBJECT;
    assert_int_equal(pt_tracker_subject_find(t, &o, &r), PT_OK);
    first_pass = n - r->found;
    printf("# the killed erase deleted %llu of %zu records%s\n",
           (unsigned long long)first_pass, n,
           WIFSIGNALED(status) ? "" : " (it finished before the kill)");
    pt_subject_result_free(r);
    assert_true(WIFSIGNALED(status));
    assert_true(first_pass > 0 && first_pass < n); /* killed midway */
    /* the next run deletes the rest, the one after nothing */
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    assert_int_equal(r->deleted, n - first_pass);
    pt_subject_result_free(r);
    assert_int_equal(pt_tracker_subject_erase(t, &o, &r), PT_OK);
    assert_int_equal(r->deleted, 0);
    pt_subject_result_free(r);
    others = read_all(t, NULL, 0);
    assert_int_equal(others.n, 2 * n);
    for (size_t i = 0; i < others.n; i++)
        assert_null(strstr(others.lines[i], SUBJECT));
    dump_free(&others);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
}

/* Per-field retention on DynamoDB: purge removes the user agent from items
 * older than user_agent_days (UpdateItem REMOVE), read straight from the
 * backend (no read-side hiding), and leaves the younger ones and every
 * other field as they were. */
static void
test_purge_removes_expired_fields(void **state)
{
    char table[64], text[1024];
    const pt_storage_methods *m = pt_storage_find("dynamodb");
    pt_policy *p = NULL;
    pt_storage *s = NULL;
    pt_tracker *t;
    int64_t now = (int64_t)time(NULL);
    uint64_t removed = 9;
    const pt_header ua = {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; "
                                        "rv:120.0) Gecko/20100101 "
                                        "Firefox/120.0"};

    (void)state;
    new_table(table, sizeof(table));
    snprintf(text, sizeof(text),
             "[storage]\nbackend = dynamodb\ntable = %s\ncreate_table = "
             "true\nendpoint = %s\n[ip]\nmode = keep\n[retention]\n"
             "ttl_days = 30\nuser_agent_days = 7\n",
             table, getenv("PT_TEST_DYNAMODB_ENDPOINT"));
    assert_int_equal(pt_policy_load_buffer(&p, text, strlen(text), "f.ini"),
                     PT_OK);
    {
        pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
        o.storage_path = "/tmp/pt-ddb-subject-fields";
        o.synchronous = 1;
        assert_int_equal(pt_tracker_open(&t, p, &o), PT_OK);
    }
    assert_int_equal(pt_tracker_init_storage(t), PT_OK);
    for (int k = 0; k < 12; k += 3) { /* 0, 3, 6, 9 days old */
        pt_visit v = PT_VISIT_INIT;
        v.remote_addr = OTHER;
        v.headers = &ua;
        v.header_count = 1;
        v.time_us = (now - k * DAY - 3600) * 1000000;
        assert_int_equal(pt_track(t, &v, NULL), PT_OK);
    }
    assert_int_equal(pt_tracker_purge(t, 0, &removed), PT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);

    assert_non_null(m);
    assert_int_equal(m->open(&s, p, NULL), PT_OK);
    for (int k = 0; k < 12; k += 3) {
        char date[11];
        time_t when = (time_t)(now - k * DAY - 3600);
        pt_record_list *l = NULL;
        strftime(date, sizeof(date), "%Y-%m-%d", gmtime(&when));
        assert_int_equal(m->query(s, &l, date, 0, now), PT_OK);
        assert_int_equal(l->count, 1);
        assert_non_null(l->records[0].client_ip);
        if (k < 7)
            assert_string_equal(l->records[0].user_agent, "Firefox/Linux");
        else
            assert_null(l->records[0].user_agent);
        pt_record_list_free(l);
    }
    m->close(s);
    pt_policy_free(p);
    if (system("rm -rf /tmp/pt-ddb-subject-fields") != 0)
        fprintf(stderr, "could not remove the test's store\n");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keep),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_hash_rotating),
        cmocka_unit_test(test_rewrite_filter),
        cmocka_unit_test(test_erase_sees_records_without_address),
        cmocka_unit_test(test_killed_erase_resumes),
        cmocka_unit_test(test_purge_removes_expired_fields),
    };
    if (!getenv("PT_TEST_DYNAMODB_ENDPOINT")) {
        fprintf(stderr, "run me through with-dynalite.sh\n");
        return 1;
    }
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[80];
    snprintf(cmd, sizeof(cmd), "rm -rf /tmp/pt-ddb-subject-%d", (int)getpid());
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove the test's store\n");
    return rc;
}
