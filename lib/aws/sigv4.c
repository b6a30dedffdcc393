/*
 * AWS Signature Version 4, header variant.  Follows the rules of AWS's
 * signing test suite (aws-c-auth): non-S3 path normalisation, query
 * parameters decoded then re-encoded and sorted, header names lowercased,
 * values trimmed with inner whitespace runs (folded lines included)
 * collapsed, duplicates joined with ',' in order of appearance.
 */
#include "aws/sigv4.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"

static const char hex_digits[] = "0123456789abcdef";

static void
to_hex(char *out, const unsigned char *in, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hex_digits[in[i] >> 4];
        out[2 * i + 1] = hex_digits[in[i] & 0xf];
    }
    out[2 * len] = '\0';
}

/* OpenSSL 3 looks the algorithm up by name on every one-shot SHA256() call
 * (about 40% of a small digest's cost); fetch it once per process. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
fetch_sha256(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void
pt_sha256_hex(char out[65], const void *data, size_t len)
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    const void *in = data ? data : (const void *)"";

    pthread_once(&sha256_once, fetch_sha256);
    if (!sha256_md || !EVP_Digest(in, len, md, NULL, sha256_md, NULL))
        SHA256(in, len, md); /* the one-shot path still works */
    to_hex(out, md, sizeof(md));
}

static int
hmac_sha256(unsigned char out[32], const void *key, size_t key_len,
            const void *data, size_t len)
{
    unsigned int out_len = 0;
    if (key_len > INT32_MAX)
        return PT_EINVAL;
    if (!HMAC(EVP_sha256(), key, (int)key_len, data, len, out, &out_len) ||
        out_len != 32)
        return pt__fail(PT_ECRYPTO, "HMAC-SHA256 failed");
    return PT_OK;
}

/* ---- URI encoding -------------------------------------------------------- */

static int
is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
           c == '~';
}

static void
uri_encode(pt_buf *b, const char *s, size_t len, int keep_slash)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c) || (keep_slash && c == '/')) {
            pt_buf_putc(b, (char)c);
        } else {
            char esc[4] = {'%', "0123456789ABCDEF"[c >> 4],
                           "0123456789ABCDEF"[c & 0xf], '\0'};
            pt_buf_put(b, esc, 3);
        }
    }
}

/* Percent-decode `len` bytes into `b` (invalid escapes are kept as is). */
static void
uri_decode(pt_buf *b, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '%' && i + 2 < len && pt__hex_value(s[i + 1]) >= 0 &&
            pt__hex_value(s[i + 2]) >= 0) {
            pt_buf_putc(b, (char)(pt__hex_value(s[i + 1]) * 16 +
                                  pt__hex_value(s[i + 2])));
            i += 2;
        } else {
            pt_buf_putc(b, s[i]);
        }
    }
}

/* ---- canonical URI ------------------------------------------------------- */

/* Remove "." and ".." segments and empty segments (RFC 3986 section 5.2.4
 * as the SDKs apply it for every service but S3).  A path ending in '/',
 * "." or ".." names a directory and keeps a trailing '/'. */
static void
normalize_path(pt_buf *out, const char *path, size_t len)
{
    size_t *seg_start = malloc((len + 1) * sizeof(size_t));
    size_t *seg_len = malloc((len + 1) * sizeof(size_t));
    size_t depth = 0, i = 0;
    int directory = 0;

    if (!seg_start || !seg_len) {
        out->oom = 1;
        free(seg_start);
        free(seg_len);
        return;
    }
    while (i < len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t n = j - i;
        directory = j == len ? 0 : 1;
        if (n == 1 && path[i] == '.') {
            directory = 1;
        } else if (n == 2 && path[i] == '.' && path[i + 1] == '.') {
            directory = 1;
            if (depth > 0)
                depth--;
        } else if (n > 0) {
            seg_start[depth] = i;
            seg_len[depth++] = n;
        }
        i = j + 1;
    }
    if (len > 0 && path[len - 1] == '/')
        directory = 1;
    for (size_t d = 0; d < depth; d++) {
        pt_buf_putc(out, '/');
        pt_buf_put(out, path + seg_start[d], seg_len[d]);
    }
    if (depth == 0 || directory)
        pt_buf_putc(out, '/');
    free(seg_start);
    free(seg_len);
}

static void
canonical_uri(pt_buf *b, const char *path, size_t len, int normalize)
{
    pt_buf tmp = PT_BUF_INIT;
    if (len == 0) {
        pt_buf_putc(b, '/');
        return;
    }
    if (normalize) {
        normalize_path(&tmp, path, len);
        if (tmp.oom) {
            b->oom = 1;
        } else {
            uri_encode(b, tmp.ptr, tmp.len, 1);
        }
        pt_buf_free(&tmp);
    } else {
        uri_encode(b, path, len, 1);
    }
}

/* ---- canonical query string ---------------------------------------------- */

typedef struct query_param {
    char *pair; /* "key=value", both encoded */
    size_t key_len;
} query_param;

static int
query_param_cmp(const void *a, const void *b)
{
    const query_param *x = a, *y = b;
    size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
    int c = memcmp(x->pair, y->pair, n);
    if (c != 0)
        return c;
    if (x->key_len != y->key_len)
        return x->key_len < y->key_len ? -1 : 1;
    return strcmp(x->pair + x->key_len, y->pair + y->key_len);
}

static void
encode_component(pt_buf *out, const char *s, size_t len)
{
    pt_buf raw = PT_BUF_INIT;
    uri_decode(&raw, s, len);
    if (raw.oom)
        out->oom = 1;
    else
        uri_encode(out, raw.ptr ? raw.ptr : "", raw.len, 0);
    pt_buf_free(&raw);
}

static int
canonical_query(pt_buf *b, const char *query)
{
    size_t n = 0, count = 1;
    query_param *params;
    const char *p = query;
    int rc = PT_OK;

    if (!query || !*query)
        return PT_OK;
    for (const char *q = query; *q; q++)
        count += *q == '&';
    params = calloc(count, sizeof(*params));
    if (!params)
        return PT_ENOMEM;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > 0) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            pt_buf pair = PT_BUF_INIT;
            encode_component(&pair, p, klen);
            params[n].key_len = pair.len;
            pt_buf_putc(&pair, '=');
            if (eq)
                encode_component(&pair, eq + 1, len - klen - 1);
            if (pair.oom) {
                pt_buf_free(&pair);
                rc = PT_ENOMEM;
                break;
            }
            params[n++].pair = pt_buf_detach(&pair);
        }
        p += len;
        if (*p == '&')
            p++;
    }
    if (rc == PT_OK) {
        qsort(params, n, sizeof(*params), query_param_cmp);
        for (size_t i = 0; i < n; i++) {
            if (i)
                pt_buf_putc(b, '&');
            pt_buf_puts(b, params[i].pair);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(params[i].pair);
    free(params);
    return rc;
}

/* ---- canonical headers --------------------------------------------------- */

typedef struct canon_header {
    char *name; /* lowercase */
    const char *value;
    size_t order; /* position in the request, to keep duplicates in order */
} canon_header;

static int
canon_header_cmp(const void *a, const void *b)
{
    const canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c != 0)
        return c;
    return x->order < y->order ? -1 : x->order > y->order;
}

static int
is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim and collapse every run of whitespace (folded lines too) to one
 * space. */
static void
put_trimmed_value(pt_buf *b, const char *v)
{
    int pending_space = 0;
    while (*v && is_space(*v))
        v++;
    for (; *v; v++) {
        if (is_space(*v)) {
            pending_space = 1;
            continue;
        }
        if (pending_space)
            pt_buf_putc(b, ' ');
        pending_space = 0;
        pt_buf_putc(b, *v);
    }
}

static char *
lowercase_dup(const char *s)
{
    char *d = pt__strdup(s);
    if (d)
        for (char *p = d; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
    return d;
}

/* Appends the canonical headers block and fills `signed_headers`. */
static int
canonical_headers(pt_buf *b, pt_buf *signed_headers,
                  const pt_sigv4_request *req, const char *session_token)
{
    size_t n = req->header_count + (session_token ? 1 : 0);
    canon_header *h = calloc(n ? n : 1, sizeof(*h));
    size_t count = 0;
    int rc = PT_OK;

    if (!h)
        return PT_ENOMEM;
    for (size_t i = 0; i < req->header_count; i++) {
        h[count].name = lowercase_dup(req->headers[i].name);
        h[count].value = req->headers[i].value ? req->headers[i].value : "";
        h[count].order = i;
        if (!h[count++].name)
            rc = PT_ENOMEM;
        if (session_token && h[count - 1].name &&
            strcmp(h[count - 1].name, "x-amz-security-token") == 0)
            session_token = NULL; /* the caller set it already */
    }
    if (session_token && rc == PT_OK) {
        h[count].name = pt__strdup("x-amz-security-token");
        h[count].value = session_token;
        h[count].order = count;
        if (!h[count++].name)
            rc = PT_ENOMEM;
    }
    if (rc == PT_OK) {
        qsort(h, count, sizeof(*h), canon_header_cmp);
        for (size_t i = 0; i < count; i++) {
            int same = i > 0 && strcmp(h[i].name, h[i - 1].name) == 0;
            if (same) {
                pt_buf_putc(b, ',');
            } else {
                if (i > 0) {
                    pt_buf_putc(b, '\n');
                    pt_buf_putc(signed_headers, ';');
                }
                pt_buf_puts(b, h[i].name);
                pt_buf_putc(b, ':');
                pt_buf_puts(signed_headers, h[i].name);
            }
            put_trimmed_value(b, h[i].value);
        }
        pt_buf_putc(b, '\n');
    }
    for (size_t i = 0; i < count; i++)
        free(h[i].name);
    free(h);
    return rc;
}

/* ---- signing ------------------------------------------------------------- */

static int
build_canonical_request(pt_buf *creq, pt_buf *signed_headers,
                        const pt_sigv4_request *req,
                        const pt_aws_credentials *creds,
                        const pt_sigv4_options *opts)
{
    const char *path = req->path ? req->path : "/";
    const char *q = strchr(path, '?');
    size_t path_len = q ? (size_t)(q - path) : strlen(path);
    char payload_hash[65];
    int rc;

    pt_buf_puts(creq, req->method);
    pt_buf_putc(creq, '\n');
    canonical_uri(creq, path, path_len, opts->normalize_path);
    pt_buf_putc(creq, '\n');
    rc = canonical_query(creq, q ? q + 1 : NULL);
    if (rc != PT_OK)
        return rc;
    pt_buf_putc(creq, '\n');
    rc = canonical_headers(creq, signed_headers, req,
                           opts->sign_session_token ? creds->session_token
                                                    : NULL);
    if (rc != PT_OK)
        return rc;
    pt_buf_putc(creq, '\n');
    pt_buf_put(creq, signed_headers->ptr, signed_headers->len);
    pt_buf_putc(creq, '\n');
    pt_sha256_hex(payload_hash, req->body, req->body_len);
    pt_buf_puts(creq, payload_hash);
    return (creq->oom || signed_headers->oom) ? PT_ENOMEM : PT_OK;
}

int
pt_sigv4_derive_key(unsigned char out[32], const pt_aws_credentials *creds,
                    const char *date8, const char *region, const char *service)
{
    size_t slen = strlen(creds->secret_access_key);
    unsigned char *k = malloc(slen + 4);
    unsigned char a[32], b[32];
    int rc;

    if (!k)
        return PT_ENOMEM;
    memcpy(k, "AWS4", 4);
    memcpy(k + 4, creds->secret_access_key, slen);
    rc = hmac_sha256(a, k, slen + 4, date8, 8);
    OPENSSL_cleanse(k, slen + 4);
    free(k);
    if (rc == PT_OK)
        rc = hmac_sha256(b, a, 32, region, strlen(region));
    if (rc == PT_OK)
        rc = hmac_sha256(a, b, 32, service, strlen(service));
    if (rc == PT_OK)
        rc = hmac_sha256(out, a, 32, "aws4_request", 12);
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    return rc;
}

void
pt_sigv4_options_init(pt_sigv4_options *opts)
{
    opts->normalize_path = 1;
    opts->sign_session_token = 1;
    opts->signing_key = NULL;
}

static int
check_request(const pt_sigv4_request *req, const pt_aws_credentials *creds)
{
    if (!req || !creds || !req->method || !req->region || !req->service ||
        !req->amz_date || strlen(req->amz_date) != 16 ||
        !creds->access_key_id || !creds->secret_access_key)
        return pt__fail(PT_EINVAL, "incomplete SigV4 request or credentials");
    return PT_OK;
}

int
pt_sigv4_sign_ex(pt_sigv4_result *out, const pt_sigv4_request *req,
                 const pt_aws_credentials *creds, const pt_sigv4_options *opts)
{
    pt_buf signed_headers = PT_BUF_INIT;
    char scope[160], creq_hash[65];
    unsigned char key[32], sig[32];
    int rc;

    memset(out, 0, sizeof(*out));
    rc = check_request(req, creds);
    if (rc != PT_OK)
        return rc;
    pt__snprintf(scope, sizeof(scope), "%.8s/%s/%s/aws4_request", req->amz_date,
                 req->region, req->service);
    rc = build_canonical_request(&out->canonical_request, &signed_headers, req,
                                 creds, opts);
    if (rc == PT_OK) {
        pt_sha256_hex(creq_hash, out->canonical_request.ptr,
                      out->canonical_request.len);
        pt_buf_printf(&out->string_to_sign, SIGV4_ALGORITHM "\n%s\n%s\n%s",
                      req->amz_date, scope, creq_hash);
        if (opts->signing_key)
            memcpy(key, opts->signing_key, 32);
        else
            rc = pt_sigv4_derive_key(key, creds, req->amz_date, req->region,
                                     req->service);
    }
    if (rc == PT_OK)
        rc = hmac_sha256(sig, key, 32, out->string_to_sign.ptr,
                         out->string_to_sign.len);
    OPENSSL_cleanse(key, sizeof(key));
    if (rc == PT_OK) {
        to_hex(out->signature, sig, sizeof(sig));
        pt_buf_printf(&out->authorization,
                      SIGV4_ALGORITHM " Credential=%s/%s, SignedHeaders=%s, "
                                      "Signature=%s",
                      creds->access_key_id, scope, signed_headers.ptr,
                      out->signature);
        if (out->string_to_sign.oom || out->authorization.oom)
            rc = PT_ENOMEM;
    }
    pt_buf_free(&signed_headers);
    if (rc != PT_OK) {
        pt_sigv4_result_free(out);
        return rc == PT_ENOMEM ? pt__fail(rc, "out of memory while signing")
                               : rc;
    }
    return PT_OK;
}

int
pt_sigv4_sign(pt_sigv4_result *out, const pt_sigv4_request *req,
              const pt_aws_credentials *creds)
{
    pt_sigv4_options opts;
    pt_sigv4_options_init(&opts);
    return pt_sigv4_sign_ex(out, req, creds, &opts);
}

void
pt_sigv4_result_free(pt_sigv4_result *r)
{
    if (!r)
        return;
    pt_buf_free(&r->canonical_request);
    pt_buf_free(&r->string_to_sign);
    pt_buf_free(&r->authorization);
    memset(r->signature, 0, sizeof(r->signature));
}
