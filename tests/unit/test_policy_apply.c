/* Unit tests for pt__policy_apply (lib/policy): one visit in, one record
 * (or a drop) and one audit line out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <dirent.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/policy_internal.h"
#include "policy_fixture.h"
#include "record/record.h"

/* 2025-01-15T14:30:00.123456Z */
#define VISIT_US  INT64_C(1736951400123456)
#define VISIT_SEC INT64_C(1736951400)

static pt_policy *
load(const char *text)
{
    return pt_test_policy("t.ini", "%s", text);
}

static void
test_key(pt__ip_key *key)
{
    memset(key, 0, sizeof(*key));
    for (int i = 0; i < 32; i++)
        key->bytes[i] = (unsigned char)(i * 7 + 1);
    key->len = 32;
}

typedef struct fixture {
    pt_header headers[8];
    const char *links[8];
    const char *files[8];
    pt_visit visit;
} fixture;

static void
fixture_init(fixture *f)
{
    pt_visit v = PT_VISIT_INIT;
    memset(f, 0, sizeof(*f));
    f->headers[0] =
        (pt_header){"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) "
                                  "Gecko/20100101 Firefox/121.0"};
    f->headers[1] = (pt_header){"Accept", "*/*"};
    f->links[0] = "https://www.youtube.com/watch?v=abc&t=10";
    f->links[1] = "https://user:pw@example.com/song#part";
    f->files[0] = "/srv/downloads/alice/Song Title 1.m4a";
    f->files[1] = "C:\\tmp\\Other Song.mp3";
    v.remote_addr = "203.0.113.77";
    v.headers = f->headers;
    v.header_count = 2;
    v.links = f->links;
    v.link_count = 2;
    v.filenames = f->files;
    v.filename_count = 2;
    v.error_count = 1;
    v.time_us = VISIT_US;
    f->visit = v;
}

static pt_record *
apply_ok(const pt_policy *p, const pt__ip_key *key, const pt_visit *v,
         pt_buf *audit)
{
    pt__apply_result r;
    int rc = pt__policy_apply(p, key, v, 0, &r, audit);
    if (rc != PT_OK)
        fail_msg("apply: %s", pt_last_error());
    assert_int_equal(r.dropped, PT_DROP_NONE);
    assert_non_null(r.record);
    return r.record;
}

static void
assert_list(const char *const *got, size_t n, const char *const *want,
            size_t wn)
{
    assert_int_equal(n, wn);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(got[i], want[i]);
}

/* ---- the default policy ----------------------------------------------------
 */

static void
test_default_record(void **state)
{
    pt_policy *p;
    pt__ip_key key;
    fixture f;
    pt_record *r;
    pt__addr a;
    char hash[65];
    static const char *const links[] = {"https://www.youtube.com/watch",
                                        "https://example.com/song"};
    static const char *const files[] = {"Song Title 1.m4a", "Other Song.mp3"};
    static const char *const titles[] = {"Song Title 1", "Other Song"};
    (void)state;
    assert_int_equal(pt_policy_load_default(&p), PT_OK);
    test_key(&key);
    fixture_init(&f);
    r = apply_ok(p, &key, &f.visit, NULL);

    assert_string_equal(r->date, "2025-01-15");
    assert_string_equal(r->timestamp, "2025-01-15T14:30:00.123456+00:00");
    assert_int_equal(strncmp(r->session_id, "1736951400-", 11), 0);
    assert_int_equal(strlen(r->session_id), 19);
    assert_int_equal(strspn(r->session_id + 11, "0123456789abcdef"), 8);
    /* Keyed hash of the /24 network. */
    assert_int_equal(pt__addr_parse(&a, "203.0.113.0", 11), 0);
    assert_int_equal(pt__addr_hash(&a, 24, &key, 16, hash), PT_OK);
    assert_string_equal(r->client_ip, hash);
    assert_string_equal(r->user_agent, "Firefox/Linux");
    assert_int_equal(r->num_links_submitted, 2);
    assert_int_equal(r->num_files_downloaded, 2);
    assert_list(r->links, r->link_count, links, 2);
    assert_list(r->filenames, r->filename_count, files, 2);
    assert_list(r->titles, r->title_count, titles, 2);
    assert_true(r->has_errors);
    assert_int_equal(r->error_count, 1);
    assert_int_equal(r->ttl, VISIT_SEC + 90 * 86400);
    assert_string_equal(r->policy, pt_policy_id(p));
    pt__record_free(r);

    /* Same visit, same network: same pseudonym; another /24: another. */
    f.visit.remote_addr = "203.0.113.1";
    r = apply_ok(p, &key, &f.visit, NULL);
    assert_string_equal(r->client_ip, hash);
    pt__record_free(r);
    f.visit.remote_addr = "203.0.114.1";
    r = apply_ok(p, &key, &f.visit, NULL);
    assert_string_not_equal(r->client_ip, hash);
    pt__record_free(r);
    pt_policy_free(p);
}

static void
test_time_and_ttl(void **state)
{
    pt_policy *p = load("[ip]\nmode = drop\n[retention]\nttl_days = 0\n");
    pt_policy *q = load("[ip]\nmode = drop\n[retention]\nttl_days = 1\n");
    pt__apply_result res;
    pt_visit v = PT_VISIT_INIT;
    (void)state;
    /* time 0 = now. */
    assert_int_equal(
        pt__policy_apply(p, NULL, &v, VISIT_US + 86400000000LL, &res, NULL),
        PT_OK);
    assert_string_equal(res.record->date, "2025-01-16");
    assert_int_equal(res.record->ttl, 0);
    assert_null(res.record->client_ip);
    assert_null(res.record->user_agent);
    assert_false(res.record->has_errors);
    assert_int_equal(res.record->link_count, 0);
    pt__record_free(res.record);
    /* The ttl counts from the visit, not from now. */
    v.time_us = VISIT_US;
    assert_int_equal(pt__policy_apply(q, NULL, &v, VISIT_US * 2, &res, NULL),
                     PT_OK);
    assert_int_equal(res.record->ttl, VISIT_SEC + 86400);
    assert_int_equal(strncmp(res.record->session_id, "1736951400-", 11), 0);
    pt__record_free(res.record);
    pt_policy_free(p);
    pt_policy_free(q);
}

/* ---- ip modes ---------------------------------------------------------------
 */

static const char *
ip_after(const pt_policy *p, const pt__ip_key *key, const char *addr, char *out,
         unsigned int *invalid)
{
    pt_visit v = PT_VISIT_INIT;
    pt__apply_result res;
    v.remote_addr = addr;
    v.time_us = VISIT_US;
    assert_int_equal(pt__policy_apply(p, key, &v, 0, &res, NULL), PT_OK);
    strcpy(out, res.record->client_ip ? res.record->client_ip : "-");
    *invalid += res.invalid_addresses;
    pt__record_free(res.record);
    return out;
}

static void
test_ip_modes(void **state)
{
    pt_policy *keep = load("[ip]\nmode = keep\n");
    pt_policy *trunc = load("[ip]\nmode = truncate\nipv6_prefix = 64\n");
    pt_policy *drop = load("[ip]\nmode = drop\n");
    pt_policy *hash = load("[ip]\ntruncate_before_hash = false\n"
                           "hash_bytes = 8\n");
    pt__ip_key key;
    unsigned int invalid = 0;
    char out[80];
    (void)state;
    test_key(&key);
    assert_string_equal(
        ip_after(keep, NULL, "::FFFF:203.0.113.9", out, &invalid),
        "203.0.113.9");
    assert_string_equal(
        ip_after(keep, NULL, "[fe80::1%eth0]:80", out, &invalid), "fe80::1");
    assert_string_equal(ip_after(trunc, NULL, "203.0.113.9", out, &invalid),
                        "203.0.113.0");
    assert_string_equal(ip_after(trunc, NULL,
                                 "2001:db8:85a3:8d3:1319:8a2e:370:7348", out,
                                 &invalid),
                        "2001:db8:85a3:8d3::");
    assert_string_equal(ip_after(drop, NULL, "203.0.113.9", out, &invalid),
                        "-");
    assert_string_equal(
        ip_after(hash, &key, "203.0.113.9", out, &invalid),
        ip_after(hash, &key, "::ffff:203.0.113.9", out + 40, &invalid));
    assert_int_equal(strlen(out), 16);
    assert_int_equal(invalid, 0);
    /* Garbage is never stored, in any mode, and is counted. */
    assert_string_equal(ip_after(keep, NULL, "203.0.113.999", out, &invalid),
                        "-");
    assert_string_equal(ip_after(trunc, NULL, "<script>", out, &invalid), "-");
    assert_string_equal(ip_after(hash, &key, "1.2.3.4.5", out, &invalid), "-");
    assert_int_equal(invalid, 3);
    {
        /* Hashing without a key fails rather than storing anything. */
        pt_visit v = PT_VISIT_INIT;
        pt__apply_result res;
        v.remote_addr = "203.0.113.9";
        assert_int_equal(pt__policy_apply(hash, NULL, &v, VISIT_US, &res, NULL),
                         PT_ECRYPTO);
        assert_null(res.record);
    }
    pt_policy_free(keep);
    pt_policy_free(trunc);
    pt_policy_free(drop);
    pt_policy_free(hash);
}

static void
test_trusted_proxy_visit(void **state)
{
    pt_policy *p = load("[ip]\nmode = keep\ntrusted_proxies = 10.0.0.0/8\n");
    fixture f;
    pt_record *r;
    (void)state;
    fixture_init(&f);
    f.headers[1] = (pt_header){"x-FORWARDED-for", "198.51.100.4, 10.0.0.9"};
    f.visit.remote_addr = "10.0.0.1";
    r = apply_ok(p, NULL, &f.visit, NULL);
    assert_string_equal(r->client_ip, "198.51.100.4");
    pt__record_free(r);
    f.visit.remote_addr = "192.0.2.1"; /* not a proxy: XFF ignored */
    r = apply_ok(p, NULL, &f.visit, NULL);
    assert_string_equal(r->client_ip, "192.0.2.1");
    pt__record_free(r);
    pt_policy_free(p);
}

/* ---- opt-out ----------------------------------------------------------------
 */

static pt_drop_reason
drop_reason(const pt_policy *p, const char *name, const char *value)
{
    fixture f;
    pt__apply_result res;
    pt__ip_key key;
    test_key(&key);
    fixture_init(&f);
    f.headers[1] = (pt_header){name, value};
    assert_int_equal(pt__policy_apply(p, &key, &f.visit, 0, &res, NULL), PT_OK);
    if (res.dropped != PT_DROP_NONE)
        assert_null(res.record);
    pt__record_free(res.record);
    return res.dropped;
}

static void
test_optout_drop(void **state)
{
    pt_policy *p = load("[optout]\ncookie = pt_optout=1\n");
    pt_policy *off = load("[optout]\nhonor_dnt = false\nhonor_gpc = false\n");
    (void)state;
    assert_int_equal(drop_reason(p, "DNT", "1"), PT_DROP_DNT);
    assert_int_equal(drop_reason(p, "dnt", "1"), PT_DROP_DNT);
    assert_int_equal(drop_reason(p, "DNT", "0"), PT_DROP_NONE);
    assert_int_equal(drop_reason(p, "Sec-GPC", "1"), PT_DROP_GPC);
    assert_int_equal(drop_reason(p, "sec-gpc", "1"), PT_DROP_GPC);
    assert_int_equal(drop_reason(p, "Cookie", "a=b; pt_optout=1"),
                     PT_DROP_COOKIE);
    assert_int_equal(drop_reason(p, "COOKIE", "pt_optout=1"), PT_DROP_COOKIE);
    assert_int_equal(drop_reason(p, "Cookie", "pt_optout=0"), PT_DROP_NONE);
    assert_int_equal(drop_reason(off, "DNT", "1"), PT_DROP_NONE);
    assert_int_equal(drop_reason(off, "Sec-GPC", "1"), PT_DROP_NONE);
    assert_int_equal(drop_reason(off, "Cookie", "pt_optout=1"), PT_DROP_NONE);
    pt_policy_free(p);
    pt_policy_free(off);
}

static void
test_optout_anonymous(void **state)
{
    pt_policy *p = load("[optout]\naction = anonymous\n");
    pt__ip_key key;
    fixture f;
    pt_record *r;
    pt_buf audit = PT_BUF_INIT;
    (void)state;
    test_key(&key);
    fixture_init(&f);
    f.headers[1] = (pt_header){"Sec-GPC", "1"};
    r = apply_ok(p, &key, &f.visit, &audit);
    assert_null(r->client_ip);
    assert_null(r->user_agent);
    assert_int_equal(r->link_count, 0);
    assert_int_equal(r->title_count, 0);
    assert_int_equal(r->filename_count, 0);
    /* What stays: date, time, session, counts, errors, ttl, policy. */
    assert_string_equal(r->date, "2025-01-15");
    assert_non_null(r->timestamp);
    assert_non_null(r->session_id);
    assert_int_equal(r->num_links_submitted, 2);
    assert_int_equal(r->num_files_downloaded, 2);
    assert_true(r->has_errors);
    assert_int_equal(r->error_count, 1);
    assert_int_equal(r->ttl, VISIT_SEC + 90 * 86400);
    assert_string_equal(r->policy, pt_policy_id(p));
    assert_non_null(strstr(audit.ptr, "\"optout\":\"gpc\""));
    assert_non_null(strstr(audit.ptr, "optout.action=anonymous(gpc)"));
    assert_null(strstr(audit.ptr, "203.0.113.77"));
    pt__record_free(r);
    pt_buf_free(&audit);
    pt_policy_free(p);
}

/* ---- fields, caps and UTF-8
 * ---------------------------------------------------- */

static void
test_fields_modes(void **state)
{
    pt_policy *p = load("[ip]\nmode = drop\n[fields]\nuser_agent = keep\n"
                        "links = origin\ntitles = drop\n");
    pt_policy *q = load("[ip]\nmode = drop\n[fields]\nuser_agent = drop\n"
                        "links = drop\nfilenames = drop\n");
    static const char *const origins[] = {"https://www.youtube.com",
                                          "https://example.com"};
    static const char *const titles[] = {"Song Title 1", "Other Song"};
    fixture f;
    pt_record *r;
    (void)state;
    fixture_init(&f);
    r = apply_ok(p, NULL, &f.visit, NULL);
    assert_string_equal(r->user_agent, f.headers[0].value);
    assert_list(r->links, r->link_count, origins, 2);
    assert_int_equal(r->title_count, 0);
    assert_int_equal(r->filename_count, 2);
    pt__record_free(r);
    r = apply_ok(q, NULL, &f.visit, NULL);
    assert_null(r->user_agent);
    assert_int_equal(r->link_count, 0);
    assert_int_equal(r->num_links_submitted, 2);
    assert_int_equal(r->filename_count, 0);
    assert_list(r->titles, r->title_count, titles, 2);
    pt__record_free(r);
    pt_policy_free(p);
    pt_policy_free(q);
}

static void
test_caps(void **state)
{
    pt_policy *p = load("[ip]\nmode = drop\n[fields]\nuser_agent = keep\n"
                        "max_user_agent = 10\nlinks = keep\nmax_links = 2\n"
                        "max_link_length = 16\nmax_filenames = 1\n"
                        "max_filename_length = 4\n");
    const char *links[] = {"https://a.example/0123456789", "short",
                           "third is dropped"};
    const char *files[] = {"d/\xc3\xa9\xc3\xa9\xc3\xa9.mp3", "second.mp3"};
    pt_header ua = {"User-Agent", "caf\xc3\xa9 caf\xc3\xa9 au lait"};
    pt_visit v = PT_VISIT_INIT;
    pt_record *r;
    (void)state;
    v.headers = &ua;
    v.header_count = 1;
    v.links = links;
    v.link_count = 3;
    v.filenames = files;
    v.filename_count = 2;
    v.time_us = VISIT_US;
    r = apply_ok(p, NULL, &v, NULL);
    /* Cut at 10 bytes would split é: the cut backs off to a boundary. */
    assert_string_equal(r->user_agent, "caf\xc3\xa9 caf");
    assert_int_equal(r->link_count, 2);
    assert_string_equal(r->links[0], "https://a.exampl");
    assert_string_equal(r->links[1], "short");
    assert_int_equal(r->num_links_submitted, 3);
    assert_int_equal(r->filename_count, 1);
    assert_string_equal(r->filenames[0], "\xc3\xa9\xc3\xa9");
    assert_string_equal(r->titles[0], "\xc3\xa9\xc3\xa9");
    assert_int_equal(r->num_files_downloaded, 2);
    pt__record_free(r);
    pt_policy_free(p);
}

static void
test_invalid_utf8_replaced(void **state)
{
    pt_policy *p = load("[ip]\nmode = drop\n[fields]\nuser_agent = keep\n"
                        "links = keep\n");
    const char *links[] = {"https://x.org/\xff\xfe", NULL, ""};
    const char *files[] = {"bad\xc0\xaf.mp3", NULL, "dir/"};
    pt_header ua = {"User-Agent", "UA \xed\xa0\x80 surrogate"};
    pt_visit v = PT_VISIT_INIT;
    pt_record *r;
    (void)state;
    v.headers = &ua;
    v.header_count = 1;
    v.links = links;
    v.link_count = 3;
    v.filenames = files;
    v.filename_count = 3;
    r = apply_ok(p, NULL, &v, NULL);
    assert_true(pt__utf8_valid(r->user_agent, strlen(r->user_agent)));
    assert_non_null(strstr(r->user_agent, "\xEF\xBF\xBD"));
    assert_int_equal(r->link_count, 2); /* NULL skipped, "" kept */
    assert_string_equal(r->links[0], "https://x.org/\xEF\xBF\xBD\xEF\xBF\xBD");
    /* NULL and directory-only entries are skipped; counts stay raw. */
    assert_int_equal(r->filename_count, 1);
    assert_int_equal(r->num_files_downloaded, 3);
    assert_true(pt__utf8_valid(r->filenames[0], strlen(r->filenames[0])));
    assert_string_equal(r->titles[0], "bad\xEF\xBF\xBD\xEF\xBF\xBD");
    pt__record_free(r);
    pt_policy_free(p);
}

static void
test_long_visit_is_never_rejected(void **state)
{
    pt_policy *p = load("[ip]\nmode = drop\n[fields]\nuser_agent = keep\n");
    enum { N = 5000 };
    static const char *many[N];
    static char big[200000];
    pt_header ua = {"User-Agent", big};
    pt_visit v = PT_VISIT_INIT;
    pt_record *r;
    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    for (int i = 0; i < N; i++)
        many[i] = big;
    v.headers = &ua;
    v.header_count = 1;
    v.links = many;
    v.link_count = N;
    v.filenames = many;
    v.filename_count = N;
    r = apply_ok(p, NULL, &v, NULL);
    assert_int_equal(strlen(r->user_agent), 256);
    assert_int_equal(r->link_count, 100);
    assert_int_equal(strlen(r->links[99]), 2048);
    assert_int_equal(r->filename_count, 100);
    assert_int_equal(strlen(r->filenames[0]), 255);
    assert_int_equal(r->num_links_submitted, N);
    pt__record_free(r);
    pt_policy_free(p);
}

static void
test_bad_visits(void **state)
{
    pt_policy *p = load("");
    pt__apply_result res;
    pt_visit v = PT_VISIT_INIT;
    (void)state;
    v.link_count = 3; /* without links */
    assert_int_equal(pt__policy_apply(p, NULL, &v, VISIT_US, &res, NULL),
                     PT_EINVAL);
    assert_int_equal(res.dropped, PT_DROP_INVALID);
    assert_null(res.record);
    v.link_count = 0;
    v.version = 0;
    assert_int_equal(pt__policy_apply(p, NULL, &v, VISIT_US, &res, NULL),
                     PT_EINVAL);
    assert_int_equal(pt__policy_apply(p, NULL, NULL, VISIT_US, &res, NULL),
                     PT_EINVAL);
    /* Times a record cannot carry (a four-digit year after 1970). */
    v.version = PT_VISIT_VERSION;
    v.time_us = -1;
    assert_int_equal(pt__policy_apply(p, NULL, &v, VISIT_US, &res, NULL),
                     PT_EINVAL);
    assert_int_equal(res.dropped, PT_DROP_INVALID);
    v.time_us = INT64_C(253402300800000000); /* 10000-01-01 */
    assert_int_equal(pt__policy_apply(p, NULL, &v, VISIT_US, &res, NULL),
                     PT_EINVAL);
    pt_policy_free(p);
    /* Counts beyond what JSON numbers hold exactly are capped. */
    p = load("[ip]\nmode = drop\n");
    v.time_us = INT64_C(253402300799999999);
    v.error_count = SIZE_MAX;
    assert_int_equal(pt__policy_apply(p, NULL, &v, VISIT_US, &res, NULL),
                     PT_OK);
    assert_int_equal(res.record->error_count, (INT64_C(1) << 53) - 1);
    assert_true(res.record->has_errors);
    assert_string_equal(res.record->date, "9999-12-31");
    pt__record_free(res.record);
    pt_policy_free(p);
}

/* ---- the audit line
 * ------------------------------------------------------------ */

static cJSON *
change_of(cJSON *line, const char *field)
{
    cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(line, "changes"))
    {
        cJSON *f = cJSON_GetObjectItem(c, "field");
        if (cJSON_IsString(f) && strcmp(f->valuestring, field) == 0)
            return c;
    }
    return NULL;
}

static void
test_audit_line(void **state)
{
    pt_policy *p;
    pt__ip_key key;
    fixture f;
    pt_record *r;
    pt_buf audit = PT_BUF_INIT, rec = PT_BUF_INIT;
    cJSON *line, *c, *before, *printed;
    char *expected;
    (void)state;
    assert_int_equal(pt_policy_load_default(&p), PT_OK);
    test_key(&key);
    key.ephemeral = 1;
    fixture_init(&f);
    r = apply_ok(p, &key, &f.visit, &audit);
    assert_null(memchr(audit.ptr, '\n', audit.len));
    line = cJSON_Parse(audit.ptr);
    assert_non_null(line);
    assert_string_equal(cJSON_GetObjectItem(line, "decision")->valuestring,
                        "stored");
    assert_string_equal(cJSON_GetObjectItem(line, "policy")->valuestring,
                        pt_policy_id(p));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(line, "ephemeral_key")));

    c = change_of(line, "client_ip");
    assert_non_null(c);
    assert_non_null(strstr(cJSON_GetObjectItem(c, "rule")->valuestring,
                           "ip.mode=hash(/24,16 bytes,ephemeral key)"));
    before = cJSON_GetObjectItem(c, "before");
    assert_string_equal(cJSON_GetObjectItem(before, "kind")->valuestring,
                        "ipv4");
    assert_int_equal(cJSON_GetObjectItem(before, "length")->valueint, 12);
    assert_string_equal(cJSON_GetObjectItem(c, "after")->valuestring,
                        r->client_ip);

    c = change_of(line, "user_agent");
    assert_non_null(c);
    before = cJSON_GetObjectItem(c, "before");
    assert_string_equal(cJSON_GetObjectItem(before, "kind")->valuestring,
                        "user_agent");
    assert_int_equal(cJSON_GetObjectItem(before, "length")->valueint,
                     (int)strlen(f.headers[0].value));
    assert_string_equal(cJSON_GetObjectItem(c, "after")->valuestring,
                        "Firefox/Linux");
    assert_non_null(change_of(line, "links"));
    assert_non_null(change_of(line, "filenames"));
    assert_null(change_of(line, "titles")); /* kept: not a change */

    /* No raw address, user agent, query string or path anywhere. */
    assert_null(strstr(audit.ptr, "203.0.113.77"));
    assert_null(strstr(audit.ptr, "203.0.113."));
    assert_null(strstr(audit.ptr, "Gecko"));
    assert_null(strstr(audit.ptr, "v=abc"));
    assert_null(strstr(audit.ptr, "pw@"));
    assert_null(strstr(audit.ptr, "alice"));

    /* The record is the stored record's JSON. */
    pt__record_json(&rec, r);
    printed = cJSON_GetObjectItem(line, "record");
    expected = cJSON_PrintUnformatted(printed);
    {
        cJSON *re = cJSON_Parse(rec.ptr);
        char *again = cJSON_PrintUnformatted(re);
        assert_string_equal(expected, again);
        free(again);
        cJSON_Delete(re);
    }
    free(expected);
    cJSON_Delete(line);
    pt__record_free(r);
    pt_buf_free(&rec);
    pt_buf_free(&audit);
    pt_policy_free(p);
}

static void
test_audit_show_raw_and_drop(void **state)
{
    pt_policy *raw = load("[ip]\nmode = truncate\n[audit]\nshow_raw = true\n");
    pt_policy *p = load("[ip]\nmode = truncate\n");
    fixture f;
    pt__apply_result res;
    pt_buf audit = PT_BUF_INIT;
    cJSON *line;
    (void)state;
    fixture_init(&f);
    pt__record_free(apply_ok(raw, NULL, &f.visit, &audit));
    assert_non_null(strstr(audit.ptr, "\"before\":\"203.0.113.77\""));
    assert_non_null(strstr(audit.ptr, "Gecko/20100101"));
    assert_non_null(strstr(audit.ptr, "ip.mode=truncate(/24)"));
    pt_buf_clear(&audit);

    f.headers[1] = (pt_header){"DNT", "1"};
    assert_int_equal(pt__policy_apply(p, NULL, &f.visit, 0, &res, &audit),
                     PT_OK);
    assert_int_equal(res.dropped, PT_DROP_DNT);
    line = cJSON_Parse(audit.ptr);
    assert_non_null(line);
    assert_string_equal(cJSON_GetObjectItem(line, "decision")->valuestring,
                        "dropped");
    assert_string_equal(cJSON_GetObjectItem(line, "reason")->valuestring,
                        "dnt");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(line, "record")));
    assert_null(strstr(audit.ptr, "203.0.113"));
    cJSON_Delete(line);

    /* An unparseable address: shown by kind and length only. */
    pt_buf_clear(&audit);
    f.headers[1] = (pt_header){"Accept", "*/*"};
    f.visit.remote_addr = "300.1.2.3";
    pt__record_free(apply_ok(p, NULL, &f.visit, &audit));
    assert_non_null(strstr(audit.ptr, "{\"kind\":\"invalid\",\"length\":9}"));
    assert_null(strstr(audit.ptr, "300.1.2.3"));
    pt_buf_free(&audit);
    pt_policy_free(raw);
    pt_policy_free(p);
}

static const char *
rule_of(cJSON *line, const char *field)
{
    cJSON *c = change_of(line, field);
    return c ? cJSON_GetObjectItem(c, "rule")->valuestring : "<unchanged>";
}

/* A trusted proxy's X-Forwarded-For that ends in ',' names no client: the
 * address is not stored, and the audit says why (it said nothing). */
static void
test_trusted_proxy_empty_entry_audited(void **state)
{
    pt_policy *p =
        load("[ip]\nmode = truncate\ntrusted_proxies = 10.0.0.0/8\n");
    fixture f;
    pt_record *r;
    pt_buf audit = PT_BUF_INIT;
    cJSON *line, *change;
    (void)state;
    fixture_init(&f);
    f.headers[1] = (pt_header){"X-Forwarded-For", "198.51.100.4,"};
    f.visit.remote_addr = "10.0.0.1";
    r = apply_ok(p, NULL, &f.visit, &audit);
    assert_null(r->client_ip);
    pt__record_free(r);
    line = cJSON_Parse(audit.ptr);
    assert_non_null(line);
    change = change_of(line, "client_ip");
    assert_non_null(change);
    assert_string_equal(cJSON_GetObjectItem(change, "rule")->valuestring,
                        "ip.invalid(empty X-Forwarded-For entry from a "
                        "trusted proxy; not stored)");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(change, "after")));
    assert_null(strstr(audit.ptr, "198.51.100"));
    assert_null(strstr(audit.ptr, "10.0.0.1"));
    cJSON_Delete(line);
    pt_buf_free(&audit);
    pt_policy_free(p);
}

static void
test_audit_rules(void **state)
{
    pt_policy *p = load("[ip]\nmode = keep\n[fields]\nuser_agent = keep\n"
                        "max_user_agent = 20\nmax_links = 1\n"
                        "max_filename_length = 8\n");
    fixture f;
    pt_buf audit = PT_BUF_INIT;
    cJSON *line;
    (void)state;
    fixture_init(&f);
    f.links[0] = "https://user:pw@example.com/a?b";
    pt__record_free(apply_ok(p, NULL, &f.visit, &audit));
    line = cJSON_Parse(audit.ptr);
    assert_non_null(line);
    /* Only the rules that changed something are named. */
    assert_null(change_of(line, "client_ip")); /* kept as it came */
    assert_string_equal(rule_of(line, "user_agent"),
                        "fields.max_user_agent=20");
    assert_string_equal(rule_of(line, "links"),
                        "fields.links=strip_query,links.credentials(removed),"
                        "fields.max_links=1");
    assert_string_equal(rule_of(line, "filenames"),
                        "filenames.base_name,fields.max_filename_length=8");
    cJSON_Delete(line);
    pt_buf_clear(&audit);

    /* Nothing to change: no changes at all. */
    f.headers[0].value = "short UA";
    f.visit.link_count = 1;
    f.links[0] = "https://example.com/a";
    f.files[0] = "a.mp3";
    f.visit.filename_count = 1;
    f.visit.remote_addr = "::ffff:192.0.2.1";
    pt__record_free(apply_ok(p, NULL, &f.visit, &audit));
    line = cJSON_Parse(audit.ptr);
    assert_string_equal(rule_of(line, "client_ip"), "ip.mode=keep(normalised)");
    cJSON_DeleteItemFromObject(line, "record");
    cJSON_DeleteItemFromObject(line, "policy");
    {
        char *rest = cJSON_PrintUnformatted(line);
        assert_string_equal(
            rest, "{\"decision\":\"stored\",\"changes\":[{\"field\":"
                  "\"client_ip\",\"rule\":\"ip.mode=keep(normalised)\","
                  "\"before\":{\"kind\":\"ipv4\",\"length\":16},"
                  "\"after\":\"192.0.2.1\"}]}");
        free(rest);
    }
    cJSON_Delete(line);
    pt_buf_free(&audit);
    pt_policy_free(p);
}

/* ---- taint: every shipped policy that does not keep addresses
 * ------------------ */

static void
hex_digest(const EVP_MD *md, const char *s, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, md, NULL);
    sodium_bin2hex(out, 2 * n + 1, d, n);
}

static void
assert_untainted(const char *text, const char *addr)
{
    char sha[129], md5[129];
    assert_null(strstr(text, addr));
    hex_digest(EVP_sha256(), addr, sha);
    hex_digest(EVP_md5(), addr, md5);
    sha[16] = md5[16] = '\0';
    assert_null(strstr(text, sha));
    assert_null(strstr(text, md5));
}

static void
test_no_raw_address_leaks(void **state)
{
    static const char *const addrs[] = {
        "198.51.100.23", "2001:db8:85a3:8d3:1319:8a2e:370:7348",
        "::ffff:192.0.2.200", "fe80::1234%eth0"};
    static const char *const plain[] = {"198.51.100.23",
                                        "2001:db8:85a3:8d3:1319:8a2e:370:7348",
                                        "192.0.2.200", "fe80::1234"};
    DIR *d = opendir(PT_SOURCE_DIR "/policy");
    struct dirent *ent;
    int checked = 0;
    pt__ip_key key;
    (void)state;
    assert_non_null(d);
    test_key(&key);
    while ((ent = readdir(d)) != NULL) {
        char path[1024];
        pt_policy *p;
        if (!strstr(ent->d_name, ".ini"))
            continue;
        snprintf(path, sizeof(path), "%s/policy/%s", PT_SOURCE_DIR,
                 ent->d_name);
        assert_int_equal(pt_policy_load_file(&p, path), PT_OK);
        if (p->num[PT_K_IP_MODE] == PT_IP_KEEP) {
            pt_policy_free(p);
            continue;
        }
        for (size_t i = 0; i < 4; i++) {
            fixture f;
            pt_buf audit = PT_BUF_INIT, rec = PT_BUF_INIT;
            pt_record *r;
            fixture_init(&f);
            f.visit.remote_addr = addrs[i];
            r = apply_ok(p, &key, &f.visit, &audit);
            pt__record_json(&rec, r);
            assert_untainted(rec.ptr, plain[i]);
            assert_untainted(audit.ptr, plain[i]);
            assert_untainted(audit.ptr, addrs[i]);
            pt__record_free(r);
            pt_buf_free(&audit);
            pt_buf_free(&rec);
        }
        pt_policy_free(p);
        checked++;
    }
    closedir(d);
    assert_true(checked >= 3);
}

/* ---- threads
 * ---------------------------------------------------------------------- */

typedef struct thread_arg {
    const pt_policy *policy;
    const pt__ip_key *key;
    const char *client_ip; /* what one thread alone gets */
    int failures;
} thread_arg;

/* User agents each thread cycles through: its per-thread family cache
 * sees misses, hits and (with more strings than it has entries)
 * evictions, and every answer must still be right. */
static const struct {
    const char *ua, *family;
} thread_uas[] = {
    {"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
     "Firefox/Linux"},
    {"curl/8.4.0", "curl/Other"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/120.0.0.0 Safari/537.36",
     "Chrome/Windows"},
    {"Wget/1.21.3", "Wget/Other"},
};

static void *
apply_many(void *p)
{
    thread_arg *arg = p;
    fixture f;
    char ua[64];
    fixture_init(&f);
    for (int i = 0; i < 2000; i++) {
        pt__apply_result res;
        pt_buf audit = PT_BUF_INIT;
        size_t k = (size_t)i % 5;
        const char *family = "Firefox/Other";
        if (k < 4) {
            f.headers[0].value = thread_uas[k].ua;
            family = thread_uas[k].family;
        } else { /* a new string each time: evicts */
            snprintf(ua, sizeof(ua), "Firefox/%d", i);
            f.headers[0].value = ua;
        }
        if (pt__policy_apply(arg->policy, arg->key, &f.visit, 0, &res,
                             i % 10 ? NULL : &audit) != PT_OK ||
            !res.record || !res.record->client_ip ||
            strcmp(res.record->client_ip, arg->client_ip) != 0 ||
            !res.record->user_agent ||
            strcmp(res.record->user_agent, family) != 0)
            arg->failures++;
        pt__record_free(res.record);
        pt_buf_free(&audit);
    }
    return NULL;
}

static void
test_shared_across_threads(void **state)
{
    pt_policy *p;
    pt__ip_key key;
    pthread_t t[4];
    thread_arg args[4];
    fixture f;
    pt_record *r;
    char client_ip[80];
    (void)state;
    assert_int_equal(pt_policy_load_default(&p), PT_OK);
    test_key(&key);
    fixture_init(&f);
    r = apply_ok(p, &key, &f.visit, NULL);
    snprintf(client_ip, sizeof(client_ip), "%s", r->client_ip);
    pt__record_free(r);
    /* As pt__ip_key_load leaves it: the key block compressed once, then
     * read by every thread. */
    pt__ip_key_prepare(&key, 16);
    assert_int_equal(key.prepared_bytes, 16);
    for (int i = 0; i < 4; i++) {
        args[i] = (thread_arg){pt__policy_ref(p), &key, client_ip, 0};
        assert_int_equal(pthread_create(&t[i], NULL, apply_many, &args[i]), 0);
    }
    pt_policy_free(p); /* the threads hold their own references */
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(args[i].failures, 0);
        pt_policy_free((pt_policy *)args[i].policy);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_record),
        cmocka_unit_test(test_time_and_ttl),
        cmocka_unit_test(test_ip_modes),
        cmocka_unit_test(test_trusted_proxy_visit),
        cmocka_unit_test(test_trusted_proxy_empty_entry_audited),
        cmocka_unit_test(test_optout_drop),
        cmocka_unit_test(test_optout_anonymous),
        cmocka_unit_test(test_fields_modes),
        cmocka_unit_test(test_caps),
        cmocka_unit_test(test_invalid_utf8_replaced),
        cmocka_unit_test(test_long_visit_is_never_rejected),
        cmocka_unit_test(test_bad_visits),
        cmocka_unit_test(test_audit_line),
        cmocka_unit_test(test_audit_show_raw_and_drop),
        cmocka_unit_test(test_audit_rules),
        cmocka_unit_test(test_no_raw_address_leaks),
        cmocka_unit_test(test_shared_across_threads),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
