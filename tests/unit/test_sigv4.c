/*
 * SigV4 against AWS's signing test suite (tests/data/sigv4/, copied from
 * aws-c-auth under Apache-2.0: see its README.txt, LICENSE and NOTICE): every
 * case directory becomes one cmocka test comparing the canonical request,
 * the string to sign, the signature and the Authorization header byte for
 * byte.  A missing or empty suite is a failure, not a skip.
 */
#include "aws/sigv4.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#define SUITE_DIR PT_SOURCE_DIR "/tests/data/sigv4"

static char *
read_file(const char *dir, const char *name, size_t *len_out)
{
    char path[1024];
    FILE *f;
    pt_buf b = PT_BUF_INIT;
    char chunk[4096];
    size_t n;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "rb");
    if (!f)
        return NULL;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        pt_buf_put(&b, chunk, n);
    fclose(f);
    if (!b.ptr)
        pt_buf_puts(&b, "");
    if (len_out)
        *len_out = b.len;
    return pt_buf_detach(&b);
}

typedef struct parsed_request {
    char *text; /* owns the strings below */
    char *method;
    char *path;
    pt_sigv4_header headers[32];
    size_t header_count;
    const char *body;
    size_t body_len;
    pt_buf folded[32]; /* values of headers with continuation lines */
} parsed_request;

/* Parse request.txt: "METHOD PATH HTTP/1.1", "Name:value" lines (a line
 * starting with whitespace continues the previous value), blank line,
 * body. */
static void
parse_request(parsed_request *r, char *text, size_t len)
{
    char *line = text, *end = text + len, *http;

    memset(r, 0, sizeof(*r));
    r->text = text;
    char *nl = strchr(line, '\n');
    assert_non_null(nl);
    *nl = '\0';
    r->method = line;
    char *sp = strchr(line, ' ');
    assert_non_null(sp);
    *sp = '\0';
    r->path = sp + 1;
    http = strstr(r->path, " HTTP/");
    assert_non_null(http);
    *http = '\0';
    line = nl + 1;
    while (line < end) {
        nl = memchr(line, '\n', (size_t)(end - line));
        char *eol = nl ? nl : end;
        if (eol == line) { /* blank line: the body follows */
            r->body = nl ? nl + 1 : end;
            r->body_len = (size_t)(end - r->body);
            break;
        }
        *eol = '\0';
        if ((line[0] == ' ' || line[0] == '\t') && r->header_count > 0) {
            pt_buf *f = &r->folded[r->header_count - 1];
            if (!f->ptr)
                pt_buf_puts(f, r->headers[r->header_count - 1].value);
            pt_buf_putc(f, '\n');
            pt_buf_puts(f, line);
            r->headers[r->header_count - 1].value = f->ptr;
        } else {
            char *colon = strchr(line, ':');
            assert_non_null(colon);
            assert_true(r->header_count < 30);
            *colon = '\0';
            r->headers[r->header_count].name = line;
            r->headers[r->header_count++].value = colon + 1;
        }
        line = eol + 1;
    }
}

static void
free_request(parsed_request *r)
{
    for (size_t i = 0; i < 32; i++)
        pt_buf_free(&r->folded[i]);
    free(r->text);
}

static const char *
json_str(const cJSON *obj, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int
json_bool(const cJSON *obj, const char *key)
{
    return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(obj, key));
}

/* "2015-08-30T12:36:00Z" -> "20150830T123600Z" */
static void
amz_date_from_iso(char out[17], const char *iso)
{
    size_t n = 0;
    for (const char *p = iso; *p && n < 16; p++)
        if (*p != '-' && *p != ':')
            out[n++] = *p;
    out[n] = '\0';
}

static void
expect_file_equals(const char *dir, const char *name, const char *actual,
                   size_t actual_len, int trim)
{
    size_t len;
    char *expected = read_file(dir, name, &len);
    if (!expected)
        fail_msg("%s/%s is missing", dir, name);
    while (trim && len > 0 &&
           (expected[len - 1] == '\n' || expected[len - 1] == '\r'))
        expected[--len] = '\0';
    if (len != actual_len || memcmp(expected, actual, len) != 0) {
        print_error("%s differs.\n--- expected\n%s\n--- actual\n%.*s\n", name,
                    expected, (int)actual_len, actual);
        free(expected);
        fail();
    }
    free(expected);
}

/* The value of the "Authorization:" line of header-signed-request.txt. */
static char *
expected_authorization(const char *dir)
{
    char *text = read_file(dir, "header-signed-request.txt", NULL);
    char *line, *out = NULL;
    if (!text)
        return NULL;
    line = strstr(text, "\nAuthorization:");
    if (line) {
        line += strlen("\nAuthorization:");
        size_t n = strcspn(line, "\r\n");
        out = pt__strndup(line, n);
    }
    free(text);
    return out;
}

static void
run_case(void **state)
{
    const char *dir = *state;
    size_t ctx_len, req_len;
    char *ctx_text = read_file(dir, "context.json", &ctx_len);
    char *req_text = read_file(dir, "request.txt", &req_len);
    cJSON *ctx, *creds_json;
    parsed_request r;
    pt_aws_credentials creds;
    pt_sigv4_options opts;
    pt_sigv4_result res;
    pt_sigv4_request req;
    char amz_date[17], body_hash[65];
    char *auth;

    assert_non_null(ctx_text);
    assert_non_null(req_text);
    ctx = cJSON_ParseWithLength(ctx_text, ctx_len);
    assert_non_null(ctx);
    creds_json = cJSON_GetObjectItemCaseSensitive(ctx, "credentials");
    assert_non_null(creds_json);
    parse_request(&r, req_text, req_len);

    memset(&creds, 0, sizeof(creds));
    creds.access_key_id = (char *)json_str(creds_json, "access_key_id");
    creds.secret_access_key = (char *)json_str(creds_json, "secret_access_key");
    creds.session_token = (char *)json_str(creds_json, "token");
    assert_non_null(creds.access_key_id);
    assert_non_null(creds.secret_access_key);
    assert_non_null(json_str(ctx, "timestamp"));
    amz_date_from_iso(amz_date, json_str(ctx, "timestamp"));

    r.headers[r.header_count].name = "X-Amz-Date";
    r.headers[r.header_count++].value = amz_date;
    if (json_bool(ctx, "sign_body")) {
        pt_sha256_hex(body_hash, r.body, r.body_len);
        r.headers[r.header_count].name = "x-amz-content-sha256";
        r.headers[r.header_count++].value = body_hash;
    }
    pt_sigv4_options_init(&opts);
    opts.normalize_path = json_bool(ctx, "normalize");
    opts.sign_session_token = !json_bool(ctx, "omit_session_token");

    memset(&req, 0, sizeof(req));
    req.method = r.method;
    req.path = r.path;
    req.headers = r.headers;
    req.header_count = r.header_count;
    req.body = (const unsigned char *)r.body;
    req.body_len = r.body_len;
    req.region = json_str(ctx, "region");
    req.service = json_str(ctx, "service");
    req.amz_date = amz_date;

    assert_int_equal(pt_sigv4_sign_ex(&res, &req, &creds, &opts), PT_OK);
    expect_file_equals(dir, "header-canonical-request.txt",
                       res.canonical_request.ptr, res.canonical_request.len, 0);
    expect_file_equals(dir, "header-string-to-sign.txt", res.string_to_sign.ptr,
                       res.string_to_sign.len, 0);
    expect_file_equals(dir, "header-signature.txt", res.signature,
                       strlen(res.signature), 1);
    auth = expected_authorization(dir);
    assert_non_null(auth);
    assert_string_equal(res.authorization.ptr, auth);
    free(auth);

    pt_sigv4_result_free(&res);
    free_request(&r);
    cJSON_Delete(ctx);
    free(ctx_text);
}

/* The default pt_sigv4_sign() signs a session token as a header. */
static void
test_default_signs_session_token(void **state)
{
    pt_aws_credentials creds = {"AKID", "secret", "tok", "test"};
    pt_sigv4_header h[] = {{"Host", "localhost"},
                           {"X-Amz-Date", "20150830T123600Z"}};
    pt_sigv4_request req = {"POST",      "/",        h,
                            2,           NULL,       0,
                            "us-east-1", "dynamodb", "20150830T123600Z"};
    pt_sigv4_result res;
    (void)state;
    assert_int_equal(pt_sigv4_sign(&res, &req, &creds), PT_OK);
    assert_non_null(
        strstr(res.canonical_request.ptr, "\nx-amz-security-token:tok\n"));
    assert_non_null(strstr(res.authorization.ptr,
                           "SignedHeaders=host;x-amz-date;x-amz-security-"
                           "token, Signature="));
    assert_null(strstr(res.authorization.ptr, "secret"));
    pt_sigv4_result_free(&res);
    req.amz_date = "2015";
    assert_int_equal(pt_sigv4_sign(&res, &req, &creds), PT_EINVAL);
}

static int
name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
main(void)
{
    DIR *d = opendir(SUITE_DIR);
    struct dirent *e;
    char **dirs = NULL, **names = NULL;
    size_t n = 0, cap = 0;
    struct CMUnitTest *tests;
    int rc;

    if (!d) {
        fprintf(stderr, "FAIL: SigV4 test suite %s is missing\n", SUITE_DIR);
        return 1;
    }
    while ((e = readdir(d)) != NULL) {
        char path[1024], ctx[1100];
        struct stat st;
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", SUITE_DIR, e->d_name);
        snprintf(ctx, sizeof(ctx), "%s/context.json", path);
        if (stat(ctx, &st) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            names = realloc(names, cap * sizeof(*names));
            if (!names)
                return 1;
        }
        names[n++] = strdup(e->d_name);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "FAIL: no SigV4 cases under %s\n", SUITE_DIR);
        return 1;
    }
    qsort(names, n, sizeof(*names), name_cmp);
    dirs = calloc(n, sizeof(*dirs));
    tests = calloc(n + 1, sizeof(*tests));
    if (!dirs || !tests)
        return 1;
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(SUITE_DIR) + strlen(names[i]) + 2;
        dirs[i] = malloc(len);
        if (!dirs[i])
            return 1;
        snprintf(dirs[i], len, "%s/%s", SUITE_DIR, names[i]);
        tests[i].name = names[i];
        tests[i].test_func = run_case;
        tests[i].initial_state = dirs[i];
    }
    tests[n].name = "default_signs_session_token";
    tests[n].test_func = test_default_signs_session_token;
    fprintf(stderr, "%zu SigV4 cases from %s\n", n, SUITE_DIR);
    rc = _cmocka_run_group_tests("sigv4", tests, n + 1, NULL, NULL);
    for (size_t i = 0; i < n; i++) {
        free(dirs[i]);
        free(names[i]);
    }
    free(dirs);
    free(names);
    free(tests);
    return rc;
}
