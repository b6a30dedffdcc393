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
    /* Tokens every browser sends: known, so no bot check is spent on
     * them, and never a family. */
    P("Mozilla", 255, NULL),
    P("AppleWebKit", 255, NULL),
    P("Gecko", 255, NULL),
    P("Version", 255, NULL),
    P("Mobile", 255, NULL),
};

typedef struct os_pattern {
    const char *needle;
    size_t len;
    const char *os;
} os_pattern;

#define OS(needle, os)                                                         \
    {                                                                          \
        needle, sizeof(needle) - 1, os                                         \
    }

/* First match wins: Android says "Linux", iOS says "like Mac OS X". */
static const os_pattern systems[] = {
    OS("Windows Phone", "Windows Phone"),
    OS("Windows", "Windows"),
    OS("Android", "Android"),
    OS("iPhone", "iOS"),
    OS("iPad", "iOS"),
    OS("iPod", "iOS"),
    OS("CrOS", "ChromeOS"),
    OS("Macintosh", "macOS"),
    OS("Mac OS X", "macOS"),
    OS("FreeBSD", "FreeBSD"),
    OS("OpenBSD", "OpenBSD"),
    OS("Linux", "Linux"),
};

static int
lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

static int
at_lower(const char *t, size_t n, size_t i, const char *needle, size_t k)
{
    if (i + k > n)
        return 0;
    for (size_t j = 0; j < k; j++) {
        if (lower(t[i + j]) != needle[j])
            return 0;
    }
    return 1;
}

/* Crawlers name themselves "...bot", "...spider" or "...crawler". */
static int
is_bot_token(const char *t, size_t n)
{
    for (size_t i = 0; i + 3 <= n; i++) {
        switch (lower(t[i])) {
        case 'b':
            if (at_lower(t, n, i, "bot", 3))
                return 1;
            break;
        case 's':
            if (at_lower(t, n, i, "spider", 6))
                return 1;
            break;
        case 'c':
            if (at_lower(t, n, i, "crawl", 5))
                return 1;
            break;
        default:
            break;
        }
    }
    return 0;
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
    const char *best = NULL, *slash = ua, *end = ua + len;
    while ((slash = memchr(slash, '/', (size_t)(end - slash))) != NULL) {
        size_t i = (size_t)(slash - ua), start = i, n;
        slash++;
        /* Known tokens are short; a longer run is not one of them, and
         * stopping keeps hostile input linear. */
        while (start > 0 && i - start <= MAX_TOKEN &&
               !is_token_break(ua[start - 1]))
            start--;
        n = i - start;
        if (n == 0 || n > MAX_TOKEN)
            continue;
        size_t p = 0;
        for (; p < sizeof(products) / sizeof(products[0]); p++) {
            if (products[p].len == n && products[p].token[0] == ua[start] &&
                memcmp(products[p].token, ua + start, n) == 0)
                break;
        }
        if (p == sizeof(products) / sizeof(products[0])) {
            if (is_bot_token(ua + start, n))
                return "Bot";
        } else if (products[p].family && products[p].rank < best_rank) {
            best_rank = products[p].rank;
            best = products[p].family;
        }
    }
    return best;
}

/* The operating system named in the comment `c` (n bytes): one pass,
 * keeping the match that comes first in `systems`. */
static const char *
find_system(const char *c, size_t n)
{
    size_t best = sizeof(systems) / sizeof(systems[0]);
    for (size_t i = 0; i < n; i++) {
        switch (c[i]) {
        case 'W':
        case 'A':
        case 'i':
        case 'C':
        case 'M':
        case 'F':
        case 'O':
        case 'L':
            break;
        default:
            continue;
        }
        for (size_t s = 0; s < best; s++) {
            size_t k = systems[s].len;
            if (systems[s].needle[0] == c[i] && i + k <= n &&
                memcmp(c + i, systems[s].needle, k) == 0) {
                best = s;
                break;
            }
        }
    }
    return best < sizeof(systems) / sizeof(systems[0]) ? systems[best].os
                                                       : NULL;
}

static int
has_bytes(const char *hay, size_t n, const char *needle, size_t k)
{
    for (size_t i = 0; i + k <= n; i++) {
        if (hay[i] == needle[0] && memcmp(hay + i, needle, k) == 0)
            return 1;
    }
    return 0;
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
    if (!*family && has_bytes(open, n, "MSIE ", 5))
        *family = "IE";
    if (!*family && is_bot_token(open, n) && has_bytes(open, n, "http", 4))
        *family = "Bot";
    return find_system(open, n);
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
