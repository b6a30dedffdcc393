/*
 * User-agent minimisation: the browser family and the operating system,
 * never versions or devices ("Firefox/Linux").
 *
 * This runs on the request path, so the user agent is read once: every
 * "Product/version" token is looked up in a small table (the family with
 * the best rank wins, so Edge beats the Chrome and Safari tokens it also
 * sends), and the OS is looked for only inside the first "(...)" comment.
 */
#include "policy/policy_internal.h"

#include <string.h>

#define SCAN_LIMIT 1024 /* hostile user agents do not cost more than this */
#define MAX_TOKEN  40   /* longer than any product token or bot name */

typedef struct product {
    const char *token;
    unsigned char len;
    unsigned char rank; /* lower wins */
    const char *family;
} product;

#define P(tok, rank, fam)                                                      \
    {                                                                          \
        tok, sizeof(tok) - 1, rank, fam                                        \
    }

static const product products[] = {
    P("Edg", 1, "Edge"),
    P("EdgA", 1, "Edge"),
    P("EdgiOS", 1, "Edge"),
    P("Edge", 1, "Edge"),
    P("OPR", 2, "Opera"),
    P("Opera", 2, "Opera"),
    P("SamsungBrowser", 3, "Samsung Internet"),
    P("YaBrowser", 4, "Yandex"),
    P("Vivaldi", 5, "Vivaldi"),
    P("HeadlessChrome", 6, "HeadlessChrome"),
    P("FxiOS", 7, "Firefox"),
    P("Firefox", 7, "Firefox"),
    P("CriOS", 8, "Chrome"),
    P("Chromium", 9, "Chromium"),
    P("Chrome", 10, "Chrome"),
    P("Trident", 11, "IE"),
    P("Safari", 12, "Safari"),
    P("curl", 13, "curl"),
    P("Wget", 13, "Wget"),
    P("python-requests", 13, "python-requests"),
    P("Python-urllib", 13, "Python"),
    P("aiohttp", 13, "Python"),
    P("Go-http-client", 13, "Go"),
    P("okhttp", 13, "okhttp"),
    P("Java", 13, "Java"),
    P("libwww-perl", 13, "Perl"),
    P("PostmanRuntime", 13, "Postman"),
    P("node-fetch", 13, "Node.js"),
    P("axios", 13, "Node.js"),
};

typedef struct os_pattern {
    const char *needle;
    const char *os;
} os_pattern;

/* First match wins: Android says "Linux", iOS says "like Mac OS X". */
static const os_pattern systems[] = {
    {"Windows Phone", "Windows Phone"},
    {"Windows", "Windows"},
    {"Android", "Android"},
    {"iPhone", "iOS"},
    {"iPad", "iOS"},
    {"iPod", "iOS"},
    {"CrOS", "ChromeOS"},
    {"Macintosh", "macOS"},
    {"Mac OS X", "macOS"},
    {"FreeBSD", "FreeBSD"},
    {"OpenBSD", "OpenBSD"},
    {"Linux", "Linux"},
};

/* memmem() is a GNU extension; the haystacks here are short. */
static const char *
find_bytes(const char *hay, size_t n, const char *needle, size_t k)
{
    if (k == 0 || k > n)
        return NULL;
    for (size_t i = 0; i + k <= n; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
            return hay + i;
    }
    return NULL;
}

static int
lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int
has_lower(const char *t, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && lower(t[i + j]) == needle[j])
            j++;
        if (j == k)
            return 1;
    }
    return 0;
}

/* Crawlers name themselves "...bot", "...spider" or "...crawler". */
static int
is_bot_token(const char *t, size_t n)
{
    return has_lower(t, n, "bot", 3) || has_lower(t, n, "spider", 6) ||
           has_lower(t, n, "crawl", 5);
}

static int
is_token_break(char c)
{
    return c == ' ' || c == '(' || c == ')' || c == ';' || c == ',' ||
           c == '\t';
}

/* The best-ranked product among the "Token/" occurrences. */
static const char *
find_family(const char *ua, size_t len)
{
    int best_rank = 255;
    const char *best = NULL;
    for (size_t i = 0; i < len; i++) {
        size_t start = i, n;
        if (ua[i] != '/')
            continue;
        /* Known tokens are short; a longer run is not one of them, and
         * stopping keeps hostile input linear. */
        while (start > 0 && i - start <= MAX_TOKEN &&
               !is_token_break(ua[start - 1]))
            start--;
        n = i - start;
        if (n == 0 || n > MAX_TOKEN)
            continue;
        if (is_bot_token(ua + start, n))
            return "Bot";
        for (size_t p = 0; p < sizeof(products) / sizeof(products[0]); p++) {
            if (products[p].len == n && products[p].rank < best_rank &&
                memcmp(products[p].token, ua + start, n) == 0) {
                best_rank = products[p].rank;
                best = products[p].family;
            }
        }
    }
    return best;
}

static const char *
find_os(const char *ua, size_t len, const char **family)
{
    const char *open = memchr(ua, '(', len), *close;
    size_t n;
    if (!open)
        return NULL;
    close = memchr(open, ')', len - (size_t)(open - ua));
    n = close ? (size_t)(close - open) : len - (size_t)(open - ua);
    /* Old Internet Explorer has no "Product/" token, only "MSIE n". */
    if (!*family && find_bytes(open, n, "MSIE ", 5))
        *family = "IE";
    if (!*family && is_bot_token(open, n) && find_bytes(open, n, "http", 4))
        *family = "Bot";
    for (size_t i = 0; i < sizeof(systems) / sizeof(systems[0]); i++) {
        if (find_bytes(open, n, systems[i].needle, strlen(systems[i].needle)))
            return systems[i].os;
    }
    return NULL;
}

size_t
pt__user_agent_family(const char *ua, size_t len, char *out)
{
    const char *family, *os;
    size_t fl, ol;
    if (len > SCAN_LIMIT)
        len = SCAN_LIMIT;
    family = find_family(ua, len);
    os = find_os(ua, len, &family);
    if (!family)
        family = "Other";
    if (!os)
        os = "Other";
    fl = strlen(family);
    ol = strlen(os);
    memcpy(out, family, fl);
    out[fl] = '/';
    memcpy(out + fl + 1, os, ol);
    out[fl + 1 + ol] = '\0';
    return fl + 1 + ol;
}
