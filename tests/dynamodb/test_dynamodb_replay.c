/*
 * What a replay reads of the table, against a real dynalite (started by
 * with-dynalite.sh): each second once per replay, not once per put()
 * (which made replay quadratic in a dense spool), and never less than
 * idempotence needs — a second not read yet is read, and a put() that
 * failed forgets what was seen.  The unit test of the memory itself is
 * tests/unit/test_dynamodb_seen.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dynamodb/ddb_fixture.h"
#include "pipeline/pipeline.h"
#include "down_backend.h"
#include "test_tmpdir.h"
#include "policy_fixture.h"

#include <time.h>

/* 2025-01-15T14:30:00.123456: old, so every record is looked up */
static const int64_t T0 = 1736951400123456LL;
#define SEC   1000000LL
#define PUT   400 /* records per put(), as the pipeline's replay */
#define DENSE 4000

static void
put_all(pt_storage *s, const batch *b, int replay)
{
    for (size_t off = 0; off < b->n; off += PUT) {
        size_t n = b->n - off < PUT ? b->n - off : PUT, w = 0;
        int rc = s->methods->put(s, b->ptrs + off, n, replay, &w);
        if (rc != PT_OK)
            fail_msg("put at %zu: %s", off, s->errmsg);
        assert_int_equal(w, n);
    }
}

/* Every record of b is in the table once, and nothing else is. */
static void
assert_stored_once(pt_storage *s, const batch *b, size_t total)
{
    pt_record_list *l = query(s, b->date, 0, 0);
    assert_int_equal(l->count, total);
    assert_newest_first_unique(l);
    for (size_t i = 0; i < b->n; i++)
        if (count_session(l, b->sids[i]) != 1)
            fail_msg("session %s stored %d times", b->sids[i],
                     count_session(l, b->sids[i]));
    pt_record_list_free(l);
}

static void
set_max_items(pt_storage *s, size_t max)
{
    ((pt__dynamodb *)(void *)s)->seen.max_items = max;
}

/* A dense spool (4,000 records in one second, 10 puts) replayed twice:
 * into an empty table, then by a new instance (a process restarted after
 * a crash) into the table that has them all.  The second finds every
 * record and reads each item once: the seconds its spans touch, each
 * once.  Reading each put's spans again (the quadratic replay) reads
 * about 10 times as many. */
static void
test_replay_reads_each_second_once(void **state)
{
    pt_storage *first = fresh_backend(0), *again, *small;
    const char *table = NULL;
    batch b;
    (void)state;

    first->methods->control(first, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    make_batch(&b, DENSE, T0, "d", 0);
    spread_batch(&b, T0, SEC / DENSE);
    put_all(first, &b, 1);
    pt__dynamodb_stats st = stats_of(first);
    assert_int_equal(st.checked, DENSE);
    assert_int_equal(st.found, 0);
    /* seconds T0's, the next and the one after (the last spans reach it),
     * read before anything was written there */
    assert_true(st.lookups <= 3);
    print_message("first replay: %llu lookups, %llu items read\n",
                  (unsigned long long)st.lookups,
                  (unsigned long long)st.items_read);
    assert_true(st.items_read <= PUT);

    again = open_backend(table, 0);
    put_all(again, &b, 1);
    st = stats_of(again);
    print_message("replay again: %llu lookups, %llu items read\n",
                  (unsigned long long)st.lookups,
                  (unsigned long long)st.items_read);
    assert_int_equal(st.found, DENSE);
    assert_int_equal(st.batched + st.conditional, 0);
    assert_true(st.lookups <= 3);
    assert_int_equal(st.items_read, DENSE); /* each item once */
    assert_stored_once(again, &b, DENSE);

    /* The memory full (here after 1,000 items): forgotten whole, seconds
     * and items alike, and read again: every record still found. */
    small = open_backend(table, 0);
    set_max_items(small, 1000);
    put_all(small, &b, 1);
    st = stats_of(small);
    assert_int_equal(st.found, DENSE);
    assert_int_equal(st.batched + st.conditional, 0);
    assert_true(st.lookups >= DENSE / PUT); /* read again at every put */
    assert_stored_once(small, &b, DENSE);

    small->methods->close(small);
    again->methods->close(again);
    first->methods->close(first);
    free_batch(&b);
}

/* A second not read yet is read: records another instance stored three
 * seconds later, replayed by one that has read only the first seconds,
 * are found. */
static void
test_seconds_not_read_are_read(void **state)
{
    pt_storage *a = fresh_backend(0), *other;
    const char *table = NULL;
    batch early, late;
    (void)state;

    a->methods->control(a, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    make_batch(&early, 50, T0, "e", 0);
    spread_batch(&early, T0, 1000);
    put_all(a, &early, 1);
    other = open_backend(table, 0);
    make_batch(&late, 50, T0 + 3 * SEC, "l", 0);
    spread_batch(&late, T0 + 3 * SEC, 1000);
    put_all(other, &late, 1);

    put_all(a, &late, 1);
    assert_int_equal(stats_of(a).found, 50);
    assert_stored_once(a, &late, 100);
    other->methods->close(other);
    a->methods->close(a);
    free_batch(&early);
    free_batch(&late);
}

/* A put() that fails may have stored records without knowing it (its
 * answer lost).  Stand-in: records that another instance stores in
 * seconds this one has read, then a failed put() on this one.  Replayed
 * next, they are found: the failure made it forget what it had seen and
 * read the table again.  Remembering across the failure would store them
 * twice. */
static void
test_failed_put_forgets_what_was_seen(void **state)
{
    pt_storage *a = fresh_backend(0), *other;
    const char *table = NULL;
    batch read, lost, refused;
    size_t w = 0;
    char *huge = malloc(500 * 1024);
    (void)state;

    assert_non_null(huge);
    memset(huge, 'x', 500 * 1024 - 1);
    huge[500 * 1024 - 1] = '\0';
    a->methods->control(a, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    make_batch(&read, 20, T0, "r", 0);
    spread_batch(&read, T0, 1000);
    put_all(a, &read, 1); /* a has read T0's seconds */
    uint64_t lookups = stats_of(a).lookups;

    other = open_backend(table, 0);
    make_batch(&lost, 20, T0 + 100000, "x", 0);
    spread_batch(&lost, T0 + 100000, 1000);
    put_all(other, &lost, 1); /* in those seconds */

    /* a fails: DynamoDB refuses a record over 400 KB */
    make_batch(&refused, 1, T0 + 5 * SEC, "f", 0);
    refused.records[0].user_agent = huge;
    assert_int_equal(a->methods->put(a, refused.ptrs, 1, 1, &w), PT_EBACKEND);

    put_all(a, &lost, 1);
    pt__dynamodb_stats st = stats_of(a);
    assert_int_equal(st.found, 20);
    assert_true(st.lookups > lookups + 1); /* T0's seconds read again */
    assert_stored_once(a, &lost, 40);
    assert_stored_once(a, &read, 40);

    other->methods->close(other);
    a->methods->close(a);
    free_batch(&read);
    free_batch(&lost);
    free_batch(&refused);
    free(huge);
}

/* Two identical visits (same content, times 10 µs apart) replayed in
 * separate puts are two records; the same record replayed twice is one. */
static void
test_identical_visits_stay_two(void **state)
{
    pt_storage *a = fresh_backend(0);
    batch one, two;
    size_t w = 0;
    (void)state;

    make_batch(&one, 1, T0, "i", 0);
    make_batch(&two, 1, T0 + 10, "i", 0); /* the same session id */
    assert_string_equal(one.sids[0], two.sids[0]);
    assert_int_equal(a->methods->put(a, one.ptrs, 1, 1, &w), PT_OK);
    assert_int_equal(a->methods->put(a, two.ptrs, 1, 1, &w), PT_OK);
    assert_int_equal(a->methods->put(a, one.ptrs, 1, 1, &w), PT_OK);
    assert_int_equal(a->methods->put(a, two.ptrs, 1, 1, &w), PT_OK);
    pt_record_list *l = query(a, one.date, 0, 0);
    assert_int_equal(l->count, 2);
    pt_record_list_free(l);
    assert_int_equal(stats_of(a).found, 2);

    /* and a new instance finds both, one item each */
    const char *table = NULL;
    a->methods->control(a, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    pt_storage *b = open_backend(table, 0);
    const pt_record *both[] = {one.ptrs[0], two.ptrs[0]};
    assert_int_equal(b->methods->put(b, both, 2, 1, &w), PT_OK);
    assert_int_equal(stats_of(b).found, 2);
    l = query(b, one.date, 0, 0);
    assert_int_equal(l->count, 2);
    pt_record_list_free(l);
    b->methods->close(b);
    a->methods->close(a);
    free_batch(&one);
    free_batch(&two);
}

/* Records whose values the item stores otherwise than the record holds
 * them (invalid UTF-8 stored as U+FFFD, an empty string and NULL both
 * absent, a NULL list entry as "", a negative ttl as none) are found by a
 * new instance that reads them back: the content digest sees what the
 * item holds.  And records that differ in one value only are two. */
static void
test_replay_finds_records_the_item_normalises(void **state)
{
    static const char *const odd_titles[] = {"caf\xC3\xA9", NULL};
    pt_storage *a = fresh_backend(0), *b;
    const char *table = NULL;
    batch odd;
    size_t w = 0;
    (void)state;

    make_batch(&odd, 5, T0, "u", 0);
    spread_batch(&odd, T0, 1000);
    odd.records[0].user_agent = "bad \xFF\xC3 utf-8";
    odd.records[1].client_ip = "";
    odd.records[1].policy = NULL;
    odd.records[2].titles = odd_titles;
    odd.records[2].title_count = 2;
    odd.records[3].ttl = -5;
    odd.records[4].user_agent = "bad \xFF\xC3 utf-8 but longer";
    a->methods->control(a, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    assert_int_equal(a->methods->put(a, odd.ptrs, odd.n, 1, &w), PT_OK);
    assert_int_equal(w, odd.n);
    assert_int_equal(stats_of(a).found, 0);

    b = open_backend(table, 0); /* a restart: nothing remembered */
    assert_int_equal(b->methods->put(b, odd.ptrs, odd.n, 1, &w), PT_OK);
    pt__dynamodb_stats st = stats_of(b);
    assert_int_equal(st.found, odd.n);
    assert_int_equal(st.batched + st.conditional, 0);
    assert_stored_once(b, &odd, odd.n);
    b->methods->close(b);
    a->methods->close(a);
    free_batch(&odd);
}

/* Purge deletes items: what a replay had seen of them is forgotten with
 * them (read again), so records replayed after the purge are written
 * again instead of being taken for stored. */
static void
test_purge_forgets_what_was_seen(void **state)
{
    pt_storage *a = fresh_backend(0);
    batch b;
    uint64_t removed = 0;
    (void)state;

    /* expired long ago (ttl in 2025-01-15's past): purge removes them */
    make_batch(&b, 30, T0, "p", T0 / SEC - 3600);
    spread_batch(&b, T0, 1000);
    put_all(a, &b, 1);
    uint64_t lookups = stats_of(a).lookups;
    assert_int_equal(a->methods->purge(a, T0 / SEC, &removed), PT_OK);
    assert_int_equal(removed, 30);

    put_all(a, &b, 1);
    pt__dynamodb_stats st = stats_of(a);
    assert_true(st.lookups > lookups); /* read again */
    assert_int_equal(st.found, 0);
    assert_int_equal(st.batched + st.conditional, 60);
    a->methods->close(a);
    free_batch(&b);
}

/* An erasure (rewrite) deletes items too: forgotten like purge's. */
static int
delete_all(const pt_record *record, unsigned int *action, void *userdata)
{
    (void)record;
    (void)userdata;
    *action = PT_REWRITE_DELETE;
    return PT_OK;
}

static void
test_rewrite_forgets_what_was_seen(void **state)
{
    pt_storage *a = fresh_backend(0);
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
    char date[PT_DATE_LEN + 1];
    batch b;
    (void)state;

    make_batch(&b, 30, T0, "r", 0);
    spread_batch(&b, T0, 1000);
    put_all(a, &b, 1);
    uint64_t lookups = stats_of(a).lookups;
    pt__format_date(date, T0);
    o.from = date;
    assert_int_equal(a->methods->rewrite(a, &o, delete_all, NULL, NULL), PT_OK);

    put_all(a, &b, 1);
    pt__dynamodb_stats st = stats_of(a);
    assert_true(st.lookups > lookups); /* read again */
    assert_int_equal(st.found, 0);     /* and written again */
    a->methods->close(a);
    free_batch(&b);
}

/* A tracker's writer puts new records (no lookup) between the steps of a
 * replay: that must not make the replay read its seconds again (which
 * brought back the quadratic replay for a tracker with live traffic), and
 * the replay stays idempotent. */
static void
test_new_records_between_steps_keep_what_was_seen(void **state)
{
    pt_storage *a = fresh_backend(0);
    batch first, second, live;
    size_t w = 0;
    (void)state;

    make_batch(&first, 400, T0, "a", 0);
    spread_batch(&first, T0, 1000); /* 0.4 s: T0's second and the next */
    make_batch(&second, 100, T0 + 400000, "b", 0);
    spread_batch(&second, T0 + 400000, 1000); /* the same seconds */
    make_batch(&live, 20, pt__now_us(), "n", 0);

    put_all(a, &first, 1);
    uint64_t lookups = stats_of(a).lookups;
    assert_int_equal(a->methods->put(a, live.ptrs, live.n, 0, &w), PT_OK);
    assert_int_equal(w, live.n);
    assert_int_equal(stats_of(a).checked, first.n); /* live: no lookup */
    put_all(a, &second, 1);
    pt__dynamodb_stats st = stats_of(a);
    assert_int_equal(st.lookups, lookups); /* nothing read again */
    assert_int_equal(st.found, 0);
    /* and replayed again, everything is found in what was seen */
    put_all(a, &first, 1);
    put_all(a, &second, 1);
    st = stats_of(a);
    assert_int_equal(st.lookups, lookups);
    assert_int_equal(st.found, first.n + second.n);
    assert_stored_once(a, &first, first.n + second.n);
    assert_stored_once(a, &second, first.n + second.n);
    a->methods->close(a);
    free_batch(&first);
    free_batch(&second);
    free_batch(&live);
}

/* A record's content digest is computed before the writes only where an
 * item could match it; the others' as their requests are written, while
 * earlier ones are in flight (the step's preparation left the server
 * idle).  A fresh replay of distinct times digests none early; the same
 * records again (found by what this instance wrote), records that share
 * their time and session id in a batch (the same record twice is written
 * once, two records of one session id stay two), and a new instance that reads
 * the items back digest each of theirs early — and every record is stored once.
 */
static void
test_digests_only_where_a_match_is_possible(void **state)
{
    pt_storage *a = fresh_backend(0), *again;
    const char *table = NULL;
    batch b, same;
    size_t w = 0;
    (void)state;

    make_batch(&b, 1000, T0, "z", 0);
    spread_batch(&b, T0, 1000);
    put_all(a, &b, 1);
    pt__dynamodb_stats st = stats_of(a);
    assert_int_equal(st.checked, b.n);
    assert_int_equal(st.digested_early, 0);

    put_all(a, &b, 1); /* replayed again: found in what it wrote */
    st = stats_of(a);
    assert_int_equal(st.found, b.n);
    assert_int_equal(st.batched, b.n);
    assert_int_equal(st.digested_early, b.n);

    /* three records of one time (5 s on: seconds not read yet), the
     * first three times over in one batch, and a record with the second's
     * session id but another user agent: only records of one time and
     * one session id are digested early; the same record is written once,
     * the two of one session id stay two */
    make_batch(&same, 3, T0 + 5 * SEC, "y", 0);
    pt_record other = same.records[1];
    other.user_agent = "another agent";
    const pt_record *mixed[] = {same.ptrs[0], same.ptrs[0], same.ptrs[1],
                                same.ptrs[2], same.ptrs[0], &other};
    assert_int_equal(a->methods->put(a, mixed, 6, 1, &w), PT_OK);
    assert_int_equal(w, 6);
    st = stats_of(a);
    assert_int_equal(st.batched, b.n + 4);
    assert_int_equal(st.digested_early, b.n + 5);
    pt_record_list *l = query(a, same.date, 0, 0);
    assert_int_equal(l->count, b.n + 4);
    assert_int_equal(count_session(l, same.sids[0]), 1);
    assert_int_equal(count_session(l, same.sids[1]), 2);
    assert_int_equal(count_session(l, same.sids[2]), 1);
    pt_record_list_free(l);

    /* a new instance reads the items: each record's digest before */
    a->methods->control(a, PT__DYNAMODB_CTL_TABLE_NAME, &table);
    again = open_backend(table, 0);
    put_all(again, &b, 1);
    st = stats_of(again);
    assert_int_equal(st.found, b.n);
    assert_int_equal(st.batched + st.conditional, 0);
    assert_int_equal(st.digested_early, b.n);
    assert_stored_once(again, &b, b.n + 4);
    again->methods->close(again);
    a->methods->close(a);
    free_batch(&b);
    free_batch(&same);
}

/* ---- a tracker's spool replayed (what `privtrack spool replay` runs) ---- */

static pt_tracker *
replay_tracker(const char *backend, const char *table, const char *dir,
               int synchronous)
{
    char spool[600];
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;

    snprintf(spool, sizeof(spool), "%s/spool", dir);
    o.storage_path = dir;
    o.spool_dir = spool;
    o.synchronous = synchronous;
    o.block_us = 10000000; /* never drop */
    return pt_test_tracker(
        pt_test_policy("replay.ini",
                       "[storage]\nbackend = %s\ntable = %s\n"
                       "create_table = true\nregion = eu-west-3\n"
                       "endpoint = %s\n[retention]\nttl_days = 30\n",
                       backend, table, getenv("PT_TEST_DYNAMODB_ENDPOINT")),
        &o);
}

/* The spool's segment files (names only), copied to `to` (NULL: only
 * counted). */
static size_t
copy_segments(const char *from, const char *to)
{
    DIR *d = opendir(from);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        char src[1200], dst[1200], buf[65536];
        if (len < 4 || strcmp(e->d_name + len - 4, ".log") != 0 ||
            e->d_name[0] == '.')
            continue;
        n++;
        if (!to)
            continue;
        snprintf(src, sizeof(src), "%s/%s", from, e->d_name);
        snprintf(dst, sizeof(dst), "%s/%s", to, e->d_name);
        FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
        assert_non_null(in);
        assert_non_null(out);
        size_t k;
        while ((k = fread(buf, 1, sizeof(buf), in)) > 0)
            assert_int_equal(fwrite(buf, 1, k, out), k);
        fclose(in);
        assert_int_equal(fclose(out), 0);
        chmod(dst, 0600);
    }
    closedir(d);
    return n;
}

static pt__dynamodb_stats
tracker_stats(pt_tracker *t)
{
    return stats_of(t->backend);
}

/* A spool of two replay steps (6,400 records and 300) replayed into
 * DynamoDB by a synchronous tracker: each step is one put() — one run of
 * requests kept in flight over the whole step (256 and 12
 * BatchWriteItems), not a put per 400 records that waits for its last
 * request before the next starts (17 runs) — and every record is stored
 * once.  Replayed again from the start (a crash after the writes, before
 * the progress was saved), every record is found and nothing is
 * written. */
static void
test_tracker_replay_one_put_per_step(void **state)
{
    enum { STEP = 6400, N = STEP + 300 };
    char dir[600], spool[700], saved[700], table[64], date[16];
    int64_t at = ((int64_t)time(NULL) - 120) * 1000000;
    time_t day = (time_t)(at / 1000000);
    pt_tracker *t;
    pt_counters c;
    uint64_t replayed = 0;
    pt_record_list *list = NULL;
    struct tm tm;
    (void)state;

    assert_int_equal(pt_test_mkdtemp(dir, sizeof(dir), "pt-ddb-replay"), 0);
    snprintf(spool, sizeof(spool), "%s/spool", dir);
    snprintf(saved, sizeof(saved), "%s/saved", dir);
    assert_int_equal(mkdir(saved, 0700), 0);
    snprintf(table, sizeof(table), "pt-replay-%d", (int)getpid());
    gmtime_r(&day, &tm);
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);

    /* the backend down: every visit spooled */
    t = replay_tracker("down", table, dir, 0);
    for (int i = 0; i < N; i++) {
        pt_visit v = PT_VISIT_INIT;
        char ip[32];
        snprintf(ip, sizeof(ip), "198.51.%d.%d", (i >> 8) & 255, i & 255);
        v.remote_addr = ip;
        v.time_us = at + i * 10; /* 67 ms in all */
        assert_int_equal(pt_track(t, &v, NULL), PT_OK);
    }
    assert_int_equal(pt_tracker_flush(t, 60000), PT_OK);
    pt_tracker_counters(t, &c);
    assert_int_equal(c.spooled, N);
    pt_tracker_close(t, 60000);
    assert_true(copy_segments(spool, saved) >= 1);

    t = replay_tracker("dynamodb", table, dir, 1);
    assert_int_equal(pt_tracker_spool_replay(t, 120000, &replayed), PT_OK);
    assert_int_equal(replayed, N);
    pt__dynamodb_stats st = tracker_stats(t);
    print_message("replay: %llu put runs, %llu BatchWriteItems, %llu "
                  "lookups\n",
                  (unsigned long long)st.put_runs,
                  (unsigned long long)st.batch_requests,
                  (unsigned long long)st.lookups);
    assert_int_equal(st.put_runs, 2);
    assert_int_equal(st.batch_requests, STEP / 25 + 300 / 25);
    assert_int_equal(st.batched, N);
    assert_int_equal(st.checked, N);
    assert_int_equal(st.found, 0);
    assert_int_equal(pt_tracker_query(t, &list, date, 0), PT_OK);
    assert_int_equal(list->count, N);
    assert_newest_first_unique(list);
    pt_record_list_free(list);
    pt_tracker_close(t, 60000);
    assert_int_equal(copy_segments(spool, NULL), 0); /* all replayed */

    /* the same segments again, from their start */
    copy_segments(saved, spool);
    t = replay_tracker("dynamodb", table, dir, 1);
    assert_int_equal(pt_tracker_spool_replay(t, 120000, &replayed), PT_OK);
    assert_int_equal(replayed, N);
    st = tracker_stats(t);
    assert_int_equal(st.found, N);
    assert_int_equal(st.batched + st.conditional, 0);
    list = NULL;
    assert_int_equal(pt_tracker_query(t, &list, date, 0), PT_OK);
    assert_int_equal(list->count, N);
    pt_record_list_free(list);
    pt_tracker_close(t, 60000);
    pt_test_rmtree(dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replay_reads_each_second_once),
        cmocka_unit_test(test_seconds_not_read_are_read),
        cmocka_unit_test(test_failed_put_forgets_what_was_seen),
        cmocka_unit_test(test_identical_visits_stay_two),
        cmocka_unit_test(test_replay_finds_records_the_item_normalises),
        cmocka_unit_test(test_purge_forgets_what_was_seen),
        cmocka_unit_test(test_rewrite_forgets_what_was_seen),
        cmocka_unit_test(test_new_records_between_steps_keep_what_was_seen),
        cmocka_unit_test(test_digests_only_where_a_match_is_possible),
        cmocka_unit_test(test_tracker_replay_one_put_per_step),
    };
    if (ddb_fixture_init() != 0)
        return 1;
    if (pt_test_down_register() != PT_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
