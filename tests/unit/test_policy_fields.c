/* Unit tests for field minimisation helpers (lib/policy): user-agent
 * families, URLs, base names and titles, opt-out headers and cookies. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "policy/policy_internal.h"

/* ---- user agents -----------------------------------------------------------
 */

static const struct {
    const char *ua;
    const char *family;
} ua_table[] = {
    {"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
     "Firefox/Linux"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/120.0.0.0 Safari/537.36",
     "Chrome/Windows"},
    {"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.1 Safari/605.1.15",
     "Safari/macOS"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/120.0.0.0 Safari/537.36 Edg/120.0.2210.91",
     "Edge/Windows"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 "
     "Safari/604.1",
     "Safari/iOS"},
    {"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) "
     "AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/120.0.6099.119 "
     "Mobile/15E148 Safari/604.1",
     "Chrome/iOS"},
    {"Mozilla/5.0 (iPad; CPU OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) FxiOS/121.0 Mobile/15E148 Safari/605.1.15",
     "Firefox/iOS"},
    {"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/120.0.6099.144 Mobile Safari/537.36",
     "Chrome/Android"},
    {"Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, "
     "like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
     "Samsung Internet/Android"},
    {"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/120.0.0.0 Safari/537.36 OPR/105.0.0.0",
     "Opera/Windows"},
    {"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, "
     "like Gecko) Chrome/120.0.0.0 Safari/537.36",
     "Chrome/ChromeOS"},
    {"Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko",
     "IE/Windows"},
    {"Mozilla/4.0 (compatible; MSIE 8.0; Windows NT 6.1)", "IE/Windows"},
    {"Mozilla/5.0 (X11; FreeBSD amd64; rv:120.0) Gecko/20100101 "
     "Firefox/120.0",
     "Firefox/FreeBSD"},
    {"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/"
     "bot.html)",
     "Bot/Other"},
    {"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) "
     "AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Mobile "
     "Safari/537.36 (compatible; Googlebot/2.1; "
     "+http://www.google.com/bot.html)",
     "Bot/Android"},
    {"Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
     "Bot/Other"},
    {"curl/8.4.0", "curl/Other"},
    {"Wget/1.21.3", "Wget/Other"},
    {"python-requests/2.31.0", "python-requests/Other"},
    {"Go-http-client/1.1", "Go/Other"},
    {"", "Other/Other"},
    {"something else entirely", "Other/Other"},
    {"Mozilla/5.0", "Other/Other"},
};

static void
test_user_agent_families(void **state)
{
    char out[PT_UA_FAMILY_MAX];
    (void)state;
    for (size_t i = 0; i < sizeof(ua_table) / sizeof(ua_table[0]); i++) {
        size_t n =
            pt__user_agent_family(ua_table[i].ua, strlen(ua_table[i].ua), out);
        assert_int_equal(n, strlen(out));
        if (strcmp(out, ua_table[i].family) != 0)
            fail_msg("'%s' -> '%s', expected '%s'", ua_table[i].ua, out,
                     ua_table[i].family);
        /* No version numbers ever. */
        assert_null(strpbrk(out, "0123456789"));
    }
}

static void
test_user_agent_hostile(void **state)
{
    static char big[100000];
    char out[PT_UA_FAMILY_MAX];
    (void)state;
    memset(big, '/', sizeof(big) - 1);
    assert_string_equal((pt__user_agent_family(big, sizeof(big) - 1, out), out),
                        "Other/Other");
    memset(big, '(', sizeof(big) - 1);
    assert_string_equal((pt__user_agent_family(big, sizeof(big) - 1, out), out),
                        "Other/Other");
    /* Firefox past the scan limit is not seen: bounded work. */
    memset(big, 'x', sizeof(big) - 1);
    memcpy(big + 5000, " Firefox/1", 10);
    pt__user_agent_family(big, sizeof(big) - 1, out);
    assert_string_equal(out, "Other/Other");
    memcpy(big, "Firefox/1 (X11; Linux)", 22);
    pt__user_agent_family(big, sizeof(big) - 1, out);
    assert_string_equal(out, "Firefox/Linux");
}

/* ---- the user-agent cache ------------------------------------------------
 */

static uint64_t
cache_hits(const pt__ua_cache *c)
{
    uint64_t hits, misses;
    pt__ua_cache_stats(c, &hits, &misses);
    return hits;
}

static uint64_t
cache_misses(const pt__ua_cache *c)
{
    uint64_t hits, misses;
    pt__ua_cache_stats(c, &hits, &misses);
    return misses;
}

/* A hit gives exactly what classifying the string again would. */
static void
test_ua_cache_same_result(void **state)
{
    char want[PT_UA_FAMILY_MAX], got[PT_UA_FAMILY_MAX];
    pt__ua_cache *c = pt__ua_cache_new();
    (void)state;
    assert_non_null(c);
    for (size_t i = 0; i < sizeof(ua_table) / sizeof(ua_table[0]); i++) {
        const char *ua = ua_table[i].ua;
        size_t len = strlen(ua), n = pt__user_agent_family(ua, len, want);
        uint64_t hits = cache_hits(c), misses = cache_misses(c);
        for (int round = 0; round < 2; round++) {
            memset(got, 'x', sizeof(got));
            assert_int_equal(pt__user_agent_family_cached(c, ua, len, got), n);
            assert_string_equal(got, want);
        }
        if (len == 0) /* nothing to remember */
            continue;
        assert_int_equal(cache_misses(c), misses + 1);
        assert_int_equal(cache_hits(c), hits + 1);
    }
    /* No cache: the same answer, classified each time. */
    assert_int_equal(pt__user_agent_family_cached(NULL, "curl/8", 6, got), 10);
    assert_string_equal(got, "curl/Other");
    pt__ua_cache_free(c);
    pt__ua_cache_free(NULL);
}

/* Two user agents that share an entry evict each other and each still
 * gets its own family; a string differing in one byte is not a hit. */
static void
test_ua_cache_collisions(void **state)
{
    const char *a = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/1";
    char b[64], out[PT_UA_FAMILY_MAX];
    pt__ua_cache *c = pt__ua_cache_new();
    int found = 0;
    (void)state;
    assert_non_null(c);
    for (int i = 0; i < 100000 && !found; i++) {
        uint64_t misses;
        snprintf(b, sizeof(b), "curl/%d", i);
        pt__user_agent_family_cached(c, a, strlen(a), out);
        assert_string_equal(out, "Firefox/Linux");
        pt__user_agent_family_cached(c, b, strlen(b), out);
        assert_string_equal(out, "curl/Other");
        misses = cache_misses(c);
        pt__user_agent_family_cached(c, a, strlen(a), out);
        assert_string_equal(out, "Firefox/Linux");
        found = cache_misses(c) == misses + 1; /* b had taken a's entry */
    }
    assert_true(found);
    /* Alternating between the two: every call a miss, every answer right. */
    for (int i = 0; i < 4; i++) {
        uint64_t misses = cache_misses(c);
        pt__user_agent_family_cached(c, b, strlen(b), out);
        assert_string_equal(out, "curl/Other");
        pt__user_agent_family_cached(c, a, strlen(a), out);
        assert_string_equal(out, "Firefox/Linux");
        assert_int_equal(cache_misses(c), misses + 2);
    }
    /* Same length, one byte changed: a different string, a miss. */
    {
        char a2[80];
        uint64_t misses = cache_misses(c);
        strcpy(a2, a);
        memcpy(strstr(a2, "Linux"), "Lynux", 5);
        pt__user_agent_family_cached(c, a2, strlen(a2), out);
        assert_string_equal(out, "Firefox/Other");
        assert_int_equal(cache_misses(c), misses + 1);
    }
    pt__ua_cache_free(c);
}

/* Longer than PT_UA_CACHE_MAX_LEN: classified every time, never stored. */
static void
test_ua_cache_long_bypass(void **state)
{
    static char ua[PT_UA_CACHE_MAX_LEN + 2];
    char out[PT_UA_FAMILY_MAX];
    pt__ua_cache *c = pt__ua_cache_new();
    (void)state;
    assert_non_null(c);
    memset(ua, 'x', sizeof(ua) - 1);
    memcpy(ua, "Firefox/1 (X11; Linux)", 22);
    for (int i = 0; i < 3; i++) {
        pt__user_agent_family_cached(c, ua, PT_UA_CACHE_MAX_LEN + 1, out);
        assert_string_equal(out, "Firefox/Linux");
    }
    assert_int_equal(cache_hits(c), 0);
    assert_int_equal(cache_misses(c), 0);
    /* At the limit it is cached. */
    for (int i = 0; i < 2; i++) {
        pt__user_agent_family_cached(c, ua, PT_UA_CACHE_MAX_LEN, out);
        assert_string_equal(out, "Firefox/Linux");
    }
    assert_int_equal(cache_misses(c), 1);
    assert_int_equal(cache_hits(c), 1);
    pt__ua_cache_free(c);
}

/* ---- URLs ---------------------------------------------------------------- */

/* Text checked in place (pt__fix_text) ends up exactly as if it had been
 * copied in with pt__put_text, with the same flags, and what precedes it
 * in the buffer is left alone. */
static void
test_fix_text_matches_put_text(void **state)
{
    static const char *const texts[] = {
        "",
        "https://a.example/0123456789",
        "caf\xc3\xa9 caf\xc3\xa9 au lait",
        "https://x.org/\xff\xfe",
        "bad\xc0\xaf.mp3 and more text after it",
        "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac",
        "UA \xed\xa0\x80 surrogate",
    };
    static const size_t caps[] = {0, 1, 4, 5, 6, 10, 16, 1000};
    pt_buf want = {0}, got = {0}, tmp = {0};
    (void)state;
    for (size_t t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
        for (size_t c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
            size_t len = strlen(texts[t]);
            int want_flags, got_flags;
            pt_buf_clear(&want);
            pt_buf_clear(&got);
            pt_buf_puts(&want, "prefix|");
            pt_buf_puts(&got, "prefix|");
            want_flags = pt__put_text(&want, texts[t], len, caps[c]);
            pt_buf_put(&got, texts[t], len);
            got_flags = pt__fix_text(&got, 7, caps[c], &tmp);
            assert_int_equal(got_flags, want_flags);
            assert_int_equal(got.len, want.len);
            assert_memory_equal(got.ptr, want.ptr, want.len + 1);
            assert_true(pt__utf8_valid(got.ptr, got.len));
            if (caps[c])
                assert_true(got.len - 7 <= caps[c]);
        }
    }
    pt_buf_free(&want);
    pt_buf_free(&got);
    pt_buf_free(&tmp);
}

static const char *
url(const char *in, int mode, pt_buf *b)
{
    pt_buf_clear(b);
    if (pt__url_minimise(b, in, strlen(in), mode) < 0)
        return "<none>";
    return b->ptr ? b->ptr : "";
}

static void
test_urls(void **state)
{
    pt_buf b = PT_BUF_INIT;
    const char *u = "https://user:secret@Example.COM:8443/a/b?q=1&r=2#frag";
    (void)state;
    assert_string_equal(url(u, PT_LINKS_KEEP, &b),
                        "https://Example.COM:8443/a/b?q=1&r=2#frag");
    assert_string_equal(url(u, PT_LINKS_STRIP_QUERY, &b),
                        "https://Example.COM:8443/a/b");
    assert_string_equal(url(u, PT_LINKS_ORIGIN, &b),
                        "https://example.com:8443");
    assert_string_equal(url("https://www.youtube.com/watch?v=dQw4w9WgXcQ",
                            PT_LINKS_STRIP_QUERY, &b),
                        "https://www.youtube.com/watch");
    assert_string_equal(
        url("https://x.org/p#frag?not-a-query", PT_LINKS_STRIP_QUERY, &b),
        "https://x.org/p");
    assert_string_equal(url("HTTP://x.org", PT_LINKS_ORIGIN, &b),
                        "http://x.org");
    assert_string_equal(url("https://x.org?q", PT_LINKS_ORIGIN, &b),
                        "https://x.org");
    /* Credentials go even when the rest is kept, and an '@' in the path
     * is not userinfo. */
    assert_string_equal(url("ftp://anon@ftp.x.org/f@g", PT_LINKS_KEEP, &b),
                        "ftp://ftp.x.org/f@g");
    assert_string_equal(url("https://a@b@host/", PT_LINKS_KEEP, &b),
                        "https://host/");
    assert_string_equal(
        url("//user:pw@cdn.x.org/lib.js?v=1", PT_LINKS_STRIP_QUERY, &b),
        "//cdn.x.org/lib.js");
    assert_string_equal(url("https://user:pw@host\\@evil/", PT_LINKS_KEEP, &b),
                        "https://host\\@evil/");
    /* Not a URL: kept or cut as text; it has no origin. */
    assert_string_equal(url("song title?x=1", PT_LINKS_STRIP_QUERY, &b),
                        "song title");
    assert_string_equal(url("song title", PT_LINKS_ORIGIN, &b), "<none>");
    assert_string_equal(url("mailto:a@b.org", PT_LINKS_ORIGIN, &b), "<none>");
    assert_string_equal(url("https://user@/x", PT_LINKS_ORIGIN, &b), "<none>");
    assert_string_equal(url("", PT_LINKS_KEEP, &b), "");
    /* What changed is reported, for the audit's rules. */
    assert_int_equal(pt__url_minimise(&b, u, strlen(u), PT_LINKS_KEEP),
                     PT_URL_CREDENTIALS);
    assert_int_equal(pt__url_minimise(&b, u, strlen(u), PT_LINKS_ORIGIN),
                     PT_URL_CREDENTIALS | PT_URL_REDUCED);
    assert_int_equal(
        pt__url_minimise(&b, "https://x.org/a", 15, PT_LINKS_STRIP_QUERY), 0);
    assert_int_equal(
        pt__url_minimise(&b, "https://x.org/a?", 16, PT_LINKS_STRIP_QUERY),
        PT_URL_REDUCED);
    assert_int_equal(pt__url_minimise(&b, "https://x.org", 13, PT_LINKS_ORIGIN),
                     0);
    pt_buf_free(&b);
}

/* ---- file names and titles -------------------------------------------------
 */

static void
test_names(void **state)
{
    static const struct {
        const char *path, *base, *title;
    } t[] = {
        {"Song Title 1.m4a", "Song Title 1.m4a", "Song Title 1"},
        {"/home/alice/Music/Song.mp3", "Song.mp3", "Song"},
        {"C:\\Users\\bob\\Song.flac", "Song.flac", "Song"},
        {"mixed/dir\\name.tar.gz", "name.tar.gz", "name.tar"},
        {"README", "README", "README"},
        {".bashrc", ".bashrc", ".bashrc"},
        {"dir/.hidden.txt", ".hidden.txt", ".hidden"},
        {"trailing.", "trailing.", "trailing"},
        {"v1.2 final", "v1.2 final", "v1"},
        {"dir/", "", ""},
        {"", "", ""},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        size_t n;
        const char *base = pt__base_name(t[i].path, strlen(t[i].path), &n);
        assert_int_equal(n, strlen(t[i].base));
        assert_memory_equal(base, t[i].base, n);
        assert_int_equal(pt__title_len(base, n), strlen(t[i].title));
        assert_memory_equal(base, t[i].title, strlen(t[i].title));
    }
}

/* ---- opt-out ---------------------------------------------------------------
 */

static void
test_cookie_parsing(void **state)
{
    (void)state;
    assert_true(pt__cookie_has("optout=1", "optout", 6, "1", 1));
    assert_true(pt__cookie_has("a=b; optout=1; c=d", "optout", 6, "1", 1));
    assert_true(pt__cookie_has("a=b;optout=1", "optout", 6, "1", 1));
    assert_true(pt__cookie_has("optout=\"1\"", "optout", 6, "1", 1));
    assert_true(pt__cookie_has("  optout = 1  ;", "optout", 6, "1", 1));
    assert_false(pt__cookie_has("optout=10", "optout", 6, "1", 1));
    assert_false(pt__cookie_has("xoptout=1", "optout", 6, "1", 1));
    assert_false(pt__cookie_has("optoutx=1", "optout", 6, "1", 1));
    assert_false(pt__cookie_has("OPTOUT=1", "optout", 6, "1", 1));
    assert_false(pt__cookie_has("a=optout=1", "optout", 6, "1", 1));
    assert_false(pt__cookie_has("optout", "optout", 6, "1", 1));
    assert_false(pt__cookie_has("", "optout", 6, "1", 1));
    assert_false(pt__cookie_has(";;;", "optout", 6, "1", 1));
}

static void
test_scan_headers(void **state)
{
    pt_policy *p = NULL;
    const char *text = "[optout]\ncookie = optout=yes\n";
    pt_header h[] = {
        {"user-agent", "UA one"}, {"USER-AGENT", "UA two"},
        {"dnt", " 1 "},           {"SEC-gpc", "1"},
        {"cookie", "x=y"},        {"Cookie", "optout=yes"},
        {NULL, "ignored"},        {"X", NULL},
    };
    pt_visit v = PT_VISIT_INIT;
    pt__visit_headers out;
    (void)state;
    assert_int_equal(pt_policy_load_buffer(&p, text, strlen(text), "t"), PT_OK);
    v.headers = h;
    v.header_count = sizeof(h) / sizeof(h[0]);
    pt__scan_headers(p, &v, &out);
    assert_string_equal(out.user_agent, "UA one");
    assert_true(out.dnt);
    assert_true(out.gpc);
    assert_true(out.cookie);

    h[2].value = "0";
    h[3].value = "true"; /* only "1" means yes */
    h[5].value = "optout=no";
    pt__scan_headers(p, &v, &out);
    assert_false(out.dnt);
    assert_false(out.gpc);
    assert_false(out.cookie);
    pt_policy_free(p);
}

/* DNT and Sec-GPC read "1" the same way, whatever whitespace surrounds it
 * (a value copied with its line end, "1\r\n", is still a yes). */
static void
test_optout_signals_trim_alike(void **state)
{
    static const char *const yes[] = {"1",   " 1 ",   "\t1\t", "1\r\n",
                                      "1\n", "\r\n1", " 1\r\n"};
    static const char *const no[] = {"",   " ",      "0",  "1 1",
                                     "11", "1\r\nx", "\v", "true"};
    pt_policy *p = NULL;
    pt_visit v = PT_VISIT_INIT;
    pt__visit_headers out;
    pt_header h[2];
    (void)state;
    assert_int_equal(pt_policy_load_buffer(&p, "", 0, "t"), PT_OK);
    v.headers = h;
    v.header_count = 2;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        h[0] = (pt_header){"DNT", yes[i]};
        h[1] = (pt_header){"Sec-GPC", yes[i]};
        pt__scan_headers(p, &v, &out);
        if (!out.dnt || !out.gpc)
            fail_msg("value %zu: dnt %d gpc %d", i, out.dnt, out.gpc);
    }
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        h[0] = (pt_header){"DNT", no[i]};
        h[1] = (pt_header){"Sec-GPC", no[i]};
        pt__scan_headers(p, &v, &out);
        if (out.dnt || out.gpc)
            fail_msg("value %zu: dnt %d gpc %d", i, out.dnt, out.gpc);
    }
    pt_policy_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_user_agent_families),
        cmocka_unit_test(test_user_agent_hostile),
        cmocka_unit_test(test_ua_cache_same_result),
        cmocka_unit_test(test_ua_cache_collisions),
        cmocka_unit_test(test_ua_cache_long_bypass),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_fix_text_matches_put_text),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_cookie_parsing),
        cmocka_unit_test(test_scan_headers),
        cmocka_unit_test(test_optout_signals_trim_alike),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
