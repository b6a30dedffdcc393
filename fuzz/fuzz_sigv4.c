/*
 * Fuzz target: the SigV4 canonical request (lib/aws/sigv4.c) for any path
 * and query string, and any value of a signed header.
 *
 * Input: the first byte holds flags (bit 0: normalise the path, as for
 * DynamoDB; bit 1: sign a session token; bit 2: add an X-Fuzz header);
 * the rest up to the first newline is the request path with its query
 * ("/a/./b?x=1&y"), what follows it the X-Fuzz header's value.  A NUL ends
 * a string early, as it would in C.
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - signing succeeds: no path, query or header value makes it fail;
 *  - the canonical request has its six parts: method, URI, query, one line
 *    per distinct header, the signed header names, the payload hash;
 *  - the URI starts with '/' (unless a relative path is kept as it is,
 *    not normalised) and holds only unreserved characters, '/' and %XX
 *    escapes (uppercase hex); normalised, it has no empty, "." or ".."
 *    segment;
 *  - the query is "key=value" pairs joined by '&', each with one '=',
 *    encoded the same way and sorted by key, then value;
 *  - header values are trimmed, with no line break, tab or double space;
 *    the signed headers are the sorted, distinct, lowercase names;
 *  - canonicalisation is idempotent: signing the decoded canonical path, or
 *    the canonical query, gives the same canonical URI or query again;
 *  - the string to sign ends with the canonical request's SHA-256;
 *    Authorization names the signed headers and the signature; the key
 *    the client caches signs as a key derived on the spot (checked once:
 *    it depends on nothing the input chooses).
 */
#include "aws/sigv4.h"

#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define AMZ_DATE "20150830T123600Z"

static int
is_unreserved(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

static int
is_upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Only unreserved characters, %XX escapes and the characters of `extra`
 * ("/" in a path, "=&" in a query, where they are the structure). */
static void
check_encoded(const char *s, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            FUZZ_CHECK(i + 2 < len && is_upper_hex(s[i + 1]) &&
                       is_upper_hex(s[i + 2]));
            i += 2;
        } else {
            FUZZ_CHECK(is_unreserved(s[i]) || (s[i] && strchr(extra, s[i])));
        }
    }
}

static int
hex_value(char c)
{
    return c <= '9' ? c - '0' : c - 'A' + 10;
}

/* Percent-decode an encoded string (checked by check_encoded). */
static char *
decode(const char *s, size_t len)
{
    char *out = malloc(len + 1);
    size_t o = 0;
    FUZZ_CHECK(out);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%') {
            out[o++] = (char)(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out[o++] = s[i];
        }
    }
    out[o] = '\0';
    return out;
}

/* The next line of `text` (without its '\n') from *pos; NULL at the end. */
static const char *
next_line(const char *text, size_t len, size_t *pos, size_t *line_len)
{
    const char *start, *nl;
    if (*pos > len)
        return NULL;
    start = text + *pos;
    nl = memchr(start, '\n', len - *pos);
    *line_len = nl ? (size_t)(nl - start) : len - *pos;
    *pos += *line_len + 1;
    return start;
}

/* `rooted`: the path was empty or started with '/' (a relative path is
 * kept as it is when not normalised; requests always have '/'). */
static void
check_uri(const char *uri, size_t len, int normalized, int rooted)
{
    FUZZ_CHECK(len >= 1);
    FUZZ_CHECK(uri[0] == '/' || (!normalized && !rooted));
    check_encoded(uri, len, "/");
    if (!normalized)
        return;
    /* Segments between slashes: none empty (but a trailing '/'), "." or
     * "..". */
    for (size_t i = 1, start = 1; i <= len; i++) {
        if (i < len && uri[i] != '/')
            continue;
        size_t n = i - start;
        FUZZ_CHECK(n > 0 || i == len);
        FUZZ_CHECK(!(n == 1 && uri[start] == '.'));
        FUZZ_CHECK(!(n == 2 && uri[start] == '.' && uri[start + 1] == '.'));
        start = i + 1;
    }
}

/* The order of canonical_query(): key bytes (a prefix first), then the
 * value. */
static int
pair_order(const char *a, size_t alen, const char *b, size_t blen)
{
    const char *aeq = memchr(a, '=', alen), *beq = memchr(b, '=', blen);
    size_t ak = (size_t)(aeq - a), bk = (size_t)(beq - b);
    size_t n = ak < bk ? ak : bk;
    int c = memcmp(a, b, n);
    if (c != 0)
        return c;
    if (ak != bk)
        return ak < bk ? -1 : 1;
    n = alen - ak < blen - bk ? alen - ak : blen - bk;
    c = memcmp(aeq, beq, n);
    if (c != 0)
        return c;
    return alen - ak < blen - bk ? -1 : alen - ak > blen - bk;
}

static void
check_query(const char *q, size_t len)
{
    const char *prev = NULL;
    size_t prev_len = 0;
    if (len == 0)
        return;
    for (size_t start = 0; start <= len;) {
        const char *amp = memchr(q + start, '&', len - start);
        size_t n = amp ? (size_t)(amp - (q + start)) : len - start;
        const char *pair = q + start;
        const char *eq = memchr(pair, '=', n);
        FUZZ_CHECK(eq &&
                   memchr(eq + 1, '=', n - (size_t)(eq - pair) - 1) == NULL);
        if (prev)
            FUZZ_CHECK(pair_order(prev, prev_len, pair, n) <= 0);
        prev = pair;
        prev_len = n;
        start += n + 1;
    }
}

static void
check_header_line(const char *line, size_t len, const char *prev_name,
                  size_t prev_len, size_t *name_len)
{
    const char *colon = memchr(line, ':', len);
    FUZZ_CHECK(colon);
    *name_len = (size_t)(colon - line);
    for (size_t i = 0; i < *name_len; i++)
        FUZZ_CHECK(!(line[i] >= 'A' && line[i] <= 'Z'));
    if (prev_name) {
        size_t n = prev_len < *name_len ? prev_len : *name_len;
        int c = memcmp(prev_name, line, n);
        FUZZ_CHECK(c < 0 || (c == 0 && prev_len < *name_len));
    }
    const char *v = colon + 1, *end = line + len;
    if (v < end) {
        FUZZ_CHECK(v[0] != ' ' && end[-1] != ' ');
    }
    for (const char *p = v; p < end; p++) {
        FUZZ_CHECK(*p != '\t' && *p != '\r' && *p != '\n');
        FUZZ_CHECK(!(*p == ' ' && p + 1 < end && p[1] == ' '));
    }
}

typedef struct parts {
    const char *uri, *query, *signed_headers;
    size_t uri_len, query_len, signed_len;
} parts;

static void
check_canonical(const pt_sigv4_result *r, int normalized, int rooted,
                parts *out)
{
    const char *text = r->canonical_request.ptr, *line, *prev_name = NULL;
    size_t len = r->canonical_request.len, pos = 0, n, prev_len = 0;
    char empty_hash[65], names[4096];
    size_t names_len = 0, headers = 0;

    FUZZ_CHECK(text && strlen(text) == len);
    line = next_line(text, len, &pos, &n);
    FUZZ_CHECK(line && n == 4 && memcmp(line, "POST", 4) == 0);
    out->uri = next_line(text, len, &pos, &out->uri_len);
    FUZZ_CHECK(out->uri);
    check_uri(out->uri, out->uri_len, normalized, rooted);
    out->query = next_line(text, len, &pos, &out->query_len);
    FUZZ_CHECK(out->query);
    check_encoded(out->query, out->query_len, "=&");
    check_query(out->query, out->query_len);
    for (;;) {
        size_t name_len;
        line = next_line(text, len, &pos, &n);
        FUZZ_CHECK(line);
        if (n == 0)
            break;
        check_header_line(line, n, prev_name, prev_len, &name_len);
        FUZZ_CHECK(names_len + name_len + 1 < sizeof(names));
        if (headers++)
            names[names_len++] = ';';
        memcpy(names + names_len, line, name_len);
        names_len += name_len;
        prev_name = line;
        prev_len = name_len;
    }
    out->signed_headers = next_line(text, len, &pos, &out->signed_len);
    FUZZ_CHECK(out->signed_headers && out->signed_len == names_len &&
               memcmp(out->signed_headers, names, names_len) == 0);
    line = next_line(text, len, &pos, &n);
    pt_sha256_hex(empty_hash, "", 0);
    FUZZ_CHECK(line && n == 64 && memcmp(line, empty_hash, 64) == 0);
    FUZZ_CHECK(pos == len + 1); /* nothing after the hash */
}

static void
sign(pt_sigv4_result *r, const char *path, const char *fuzz_value,
     const pt_aws_credentials *creds, const pt_sigv4_options *opts)
{
    pt_sigv4_header h[3] = {{"Host", "dynamodb.us-east-1.amazonaws.com"},
                            {"X-Amz-Date", AMZ_DATE},
                            {"X-Fuzz", fuzz_value}};
    pt_sigv4_request req;
    memset(&req, 0, sizeof(req));
    req.method = "POST";
    req.path = path;
    req.headers = h;
    req.header_count = fuzz_value ? 3 : 2;
    req.region = "us-east-1";
    req.service = "dynamodb";
    req.amz_date = AMZ_DATE;
    FUZZ_CHECK(pt_sigv4_sign_ex(r, &req, creds, opts) == 0);
}

/* The signing key depends on nothing the input chooses: derived once, as
 * the client caches it; that it signs as a key derived on the spot is
 * checked once, here. */
static unsigned char signing_key[32];

static void
fixed_credentials(pt_aws_credentials *creds, int token)
{
    memset(creds, 0, sizeof(*creds));
    creds->access_key_id = "AKIDEXAMPLE";
    creds->secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    creds->session_token = token ? "session token" : NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pt_aws_credentials creds;
    pt_sigv4_options opts;
    pt_sigv4_result derived, cached;
    (void)argc;
    (void)argv;
    fixed_credentials(&creds, 0);
    FUZZ_CHECK(pt_sigv4_derive_key(signing_key, &creds, AMZ_DATE, "us-east-1",
                                   "dynamodb") == 0);
    pt_sigv4_options_init(&opts);
    sign(&derived, "/a/b?c=d", "v", &creds, &opts);
    opts.signing_key = signing_key;
    sign(&cached, "/a/b?c=d", "v", &creds, &opts);
    FUZZ_CHECK(strcmp(derived.signature, cached.signature) == 0);
    pt_sigv4_result_free(&derived);
    pt_sigv4_result_free(&cached);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_aws_credentials creds;
    pt_sigv4_options opts;
    pt_sigv4_result r, again;
    char *path, *value = NULL, *p2, hash[65], *auth_part;
    const char *nl;
    parts first, second;
    unsigned int flags;

    if (size == 0)
        return 0;
    flags = data[0];
    path = malloc(size);
    FUZZ_CHECK(path);
    memcpy(path, data + 1, size - 1);
    path[size - 1] = '\0';
    nl = memchr(path, '\n', size - 1);
    if (nl) {
        path[nl - path] = '\0';
        if (flags & 4)
            value = path + (nl - path) + 1;
    }
    fixed_credentials(&creds, flags & 2);
    pt_sigv4_options_init(&opts);
    opts.normalize_path = flags & 1;
    opts.signing_key = signing_key;

    sign(&r, path, value, &creds, &opts);
    check_canonical(&r, opts.normalize_path,
                    path[0] == '/' || path[0] == '?' || path[0] == '\0',
                    &first);

    /* The string to sign ends with the canonical request's hash. */
    pt_sha256_hex(hash, r.canonical_request.ptr, r.canonical_request.len);
    FUZZ_CHECK(r.string_to_sign.len > 64 &&
               memcmp(r.string_to_sign.ptr + r.string_to_sign.len - 64, hash,
                      64) == 0);
    /* Authorization names the signed headers and the signature. */
    auth_part = strstr(r.authorization.ptr, "SignedHeaders=");
    FUZZ_CHECK(
        auth_part &&
        strncmp(auth_part + 14, first.signed_headers, first.signed_len) == 0 &&
        auth_part[14 + first.signed_len] == ',');
    FUZZ_CHECK(strlen(r.signature) == 64 &&
               strstr(r.authorization.ptr, r.signature));

    /* The decoded canonical path and the canonical query canonicalise to
     * themselves. */
    {
        char *decoded = decode(first.uri, first.uri_len);
        size_t dlen = strlen(decoded);
        p2 = malloc(dlen + first.query_len + 2);
        FUZZ_CHECK(p2);
        memcpy(p2, decoded, dlen);
        p2[dlen] = '?';
        memcpy(p2 + dlen + 1, first.query, first.query_len);
        p2[dlen + 1 + first.query_len] = '\0';
        free(decoded);
    }
    sign(&again, p2, value, &creds, &opts);
    check_canonical(&again, opts.normalize_path, first.uri[0] == '/', &second);
    /* The same canonical request, so the same signature. */
    FUZZ_CHECK(r.canonical_request.len == again.canonical_request.len &&
               memcmp(r.canonical_request.ptr, again.canonical_request.ptr,
                      r.canonical_request.len) == 0);
    FUZZ_CHECK(strcmp(r.signature, again.signature) == 0);
    pt_sigv4_result_free(&again);
    pt_sigv4_result_free(&r);
    free(p2);
    free(path);
    return 0;
}
