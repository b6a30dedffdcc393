/*
 * What the DynamoDB backend's tests against dynalite share (ddb_fixture.h).
 */
#include "dynamodb/ddb_fixture.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static const char *endpoint;
static int table_seq;
char ddb_warn_log[4096];

static void
capture_log(pt_log_level level, const char *msg, void *ud)
{
    (void)ud;
    if (level >= PT_LOG_WARN &&
        strlen(ddb_warn_log) + strlen(msg) + 2 < sizeof(ddb_warn_log)) {
        strcat(ddb_warn_log, msg);
        strcat(ddb_warn_log, "\n");
    }
}

/* A backend on a fresh table (unique name per test). */
pt_storage *
open_backend(const char *table, unsigned int ttl_days)
{
    char text[1024];
    pt_policy *policy = NULL;
    pt_storage *s = NULL;
    int rc;

    snprintf(text, sizeof(text),
             "[storage]\nbackend = dynamodb\ntable = %s\nregion = "
             "eu-west-3\nendpoint = %s\n[retention]\nttl_days = %u\n",
             table, endpoint, ttl_days);
    rc = pt_policy_load_buffer(&policy, text, strlen(text), "test.ini");
    if (rc != PT_OK)
        fail_msg("policy: %s", pt_last_error());
    rc = pt__dynamodb_storage_methods.open(&s, policy, NULL);
    pt_policy_free(policy);
    if (rc != PT_OK)
        fail_msg("open: %s", pt_last_error());
    s->methods = &pt__dynamodb_storage_methods;
    pt_ddb_retry fast = {6, 5, 100};
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_SET_RETRY, &fast),
                     PT_OK);
    return s;
}

pt_storage *
fresh_backend(unsigned int ttl_days)
{
    char table[64];
    snprintf(table, sizeof(table), "pt-test-%d-%d", (int)getpid(), ++table_seq);
    pt_storage *s = open_backend(table, ttl_days);
    assert_int_equal(s->methods->init(s), PT_OK);
    return s;
}

static const char *links[] = {"https://example.com/watch?v=abc",
                              "https://example.org/track/xyz"};
static const char *titles[] = {"Song Title 1", "Song Title 2"};
static const char *files[] = {"Song Title 1.m4a", "Song Title 2.m4a"};
static char long_ua[1200];

void
make_batch(batch *b, size_t n, int64_t time_us, const char *tag, int64_t ttl)
{
    b->records = calloc(n, sizeof(*b->records));
    b->ptrs = calloc(n, sizeof(*b->ptrs));
    b->sids = calloc(n, sizeof(*b->sids));
    b->times = NULL;
    assert_non_null(b->records);
    pt__format_timestamp(b->ts, time_us);
    pt__format_date(b->date, time_us);
    if (!long_ua[0]) {
        memset(long_ua, 'a', sizeof(long_ua) - 1);
        memcpy(long_ua, "Mozilla/5.0 ", 12);
    }
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        pt_record *r = &b->records[i];
        snprintf(b->sids[i], sizeof(b->sids[i]), "%lld-%08x",
                 (long long)(time_us / 1000000),
                 ((unsigned)(unsigned char)tag[0] << 16) |
                     (unsigned)(i & 0xffff));
        r->date = b->date;
        r->timestamp = b->ts;
        r->session_id = b->sids[i];
        r->client_ip = "203.0.113.0";
        r->user_agent = long_ua; /* ~1.3 KB items: 1,000 exceed 1 MB */
        r->num_links_submitted = 2;
        r->num_files_downloaded = 2;
        r->links = links;
        r->link_count = 2;
        r->titles = titles;
        r->title_count = 2;
        r->filenames = files;
        r->filename_count = 2;
        r->has_errors = (int)(i % 2);
        r->error_count = (int64_t)(i % 2);
        r->ttl = ttl;
        r->policy = "test-0123abcd";
        b->ptrs[i] = r;
    }
}

void
free_batch(batch *b)
{
    free(b->records);
    free(b->ptrs);
    free(b->sids);
    free(b->times);
}

pt_record_list *
query(pt_storage *s, const char *date, size_t limit, int64_t now)
{
    pt_record_list *l = NULL;
    int rc = s->methods->query(s, &l, date, limit, now);
    if (rc != PT_OK)
        fail_msg("query: %s", s->errmsg);
    return l;
}

void
assert_newest_first_unique(const pt_record_list *l)
{
    for (size_t i = 1; i < l->count; i++)
        if (strcmp(l->records[i - 1].timestamp, l->records[i].timestamp) <= 0)
            fail_msg("not newest-first/unique at %zu: %s then %s", i,
                     l->records[i - 1].timestamp, l->records[i].timestamp);
}

int
count_session(const pt_record_list *l, const char *sid)
{
    int n = 0;
    for (size_t i = 0; i < l->count; i++)
        n += l->records[i].session_id &&
             strcmp(l->records[i].session_id, sid) == 0;
    return n;
}

pt__dynamodb_stats
stats_of(pt_storage *s)
{
    pt__dynamodb_stats st;
    memset(&st, 0xff, sizeof(st));
    assert_int_equal(s->methods->control(s, PT__DYNAMODB_CTL_GET_STATS, &st),
                     PT_OK);
    return st;
}

void
spread_batch(batch *b, int64_t start_us, int64_t step_us)
{
    b->times = calloc(b->n, sizeof(*b->times));
    assert_non_null(b->times);
    for (size_t i = 0; i < b->n; i++) {
        pt__format_timestamp(b->times[i], start_us + (int64_t)i * step_us);
        b->records[i].timestamp = b->times[i];
    }
}

int
ddb_fixture_init(void)
{
    endpoint = getenv("PT_TEST_DYNAMODB_ENDPOINT");
    if (!endpoint || !*endpoint) {
        fprintf(stderr, "FAIL: PT_TEST_DYNAMODB_ENDPOINT is not set; run "
                        "through tests/dynamodb/with-dynalite.sh\n");
        return -1;
    }
    pt_set_log(capture_log, NULL, PT_LOG_WARN);
    return 0;
}
