/*
 * The DynamoDB HTTP client against a fault-injecting HTTP server that runs
 * inside this test on 127.0.0.1 (ephemeral port, one thread per
 * connection): throttling answers, 500s, dropped connections, bad
 * x-amz-crc32, a slow server, non-retryable errors.  The server also
 * checks the protocol headers and the SigV4 signature of every request.
 */
#include "test_aws_fault_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

/* A client of the fault server; parallel 0 is the client's default. */
static pt_ddb_client *
make_client_parallel(unsigned int attempts, unsigned int timeout_ms,
                     unsigned int parallel)
{
    pt_ddb_client_config cfg;
    pt_aws_credentials creds = {NULL, NULL, NULL, "test"};
    pt_ddb_client *c = NULL;
    char url[64];

    memset(&cfg, 0, sizeof(cfg));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    assert_int_equal(pt_aws_endpoint_resolve(&cfg.endpoint, url, NULL), PT_OK);
    snprintf(cfg.region, sizeof(cfg.region), "eu-west-3");
    cfg.retry = (pt_ddb_retry){attempts, 1, 8};
    cfg.request_timeout_ms = timeout_ms;
    cfg.connect_timeout_ms = 1000;
    cfg.parallel = parallel;
    creds.access_key_id = strdup("AKIDTEST");
    creds.secret_access_key = strdup("secret/TEST");
    assert_int_equal(pt_ddb_client_new(&c, &cfg, &creds), PT_OK);
    return c;
}

static pt_ddb_client *
make_client(unsigned int attempts, unsigned int timeout_ms)
{
    return make_client_parallel(attempts, timeout_ms, 0);
}

static int
call(pt_ddb_client *c, char *type)
{
    pt_buf resp = PT_BUF_INIT;
    int rc = pt_ddb_call(c, "Query", "{\"TableName\":\"t\"}", 17, &resp, type);
    if (rc == PT_OK)
        assert_string_equal(resp.ptr, ok_body);
    pt_buf_free(&resp);
    return rc;
}

static void
test_ok_keepalive_and_signature(void **state)
{
    pt_ddb_client *c = make_client(3, 2000);
    (void)state;
    set_fault(FAULT_OK, 0);
    for (int i = 0; i < 5; i++)
        assert_int_equal(call(c, NULL), PT_OK);
    assert_int_equal(requests_seen(), 5);
    assert_int_equal(srv.connections, 1); /* one kept-alive connection */
    assert_int_equal(__atomic_load_n(&srv.bad_requests, __ATOMIC_SEQ_CST), 0);
    assert_string_equal(srv.last_target, "DynamoDB_20120810.Query");
    assert_int_equal(pt_ddb_client_retries(c), 0);
    pt_ddb_client_free(c);
}

/* A fault on the first `count` requests is retried, then succeeds. */
static void
expect_recovery(enum fault f, int count)
{
    pt_ddb_client *c = make_client(5, 500);
    set_fault(f, count);
    assert_int_equal(call(c, NULL), PT_OK);
    assert_int_equal(requests_seen(), count + 1);
    assert_int_equal(pt_ddb_client_retries(c), (uint64_t)count);
    pt_ddb_client_free(c);
}

/* A fault on every request: bounded attempts, then `want` with a clear
 * message mentioning `text`. */
static void
expect_give_up(enum fault f, int want, const char *text, int attempts)
{
    pt_ddb_client *c = make_client((unsigned)attempts, 500);
    char type[96];
    set_fault(f, -1);
    assert_int_equal(call(c, type), want);
    assert_int_equal(requests_seen(), attempts);
    assert_int_equal(pt_ddb_client_retries(c), (uint64_t)attempts - 1);
    if (!strstr(pt_last_error(), text))
        fail_msg("'%s' not in '%s'", text, pt_last_error());
    assert_non_null(strstr(pt_last_error(), "DynamoDB Query"));
    assert_null(strstr(pt_last_error(), "secret"));
    pt_ddb_client_free(c);
}

static void
test_throttling(void **state)
{
    (void)state;
    expect_recovery(FAULT_THROTTLE, 3);
    expect_recovery(FAULT_PTEE, 2);
    expect_give_up(FAULT_THROTTLE, PT_ETHROTTLED,
                   "HTTP 400 ThrottlingException", 4);
}

static void
test_server_errors(void **state)
{
    (void)state;
    expect_recovery(FAULT_500, 2);
    expect_give_up(FAULT_500, PT_EBACKEND, "HTTP 500", 3);
}

static void
test_dropped_connections(void **state)
{
    (void)state;
    expect_recovery(FAULT_DROP, 2);
    expect_give_up(FAULT_DROP, PT_ENETWORK, "DynamoDB Query", 3);
}

static void
test_bad_crc(void **state)
{
    (void)state;
    expect_recovery(FAULT_BADCRC, 2);
    expect_give_up(FAULT_BADCRC, PT_ECORRUPT, "x-amz-crc32 mismatch", 3);
}

static void
test_slow_server(void **state)
{
    int64_t t0 = pt__monotonic_us();
    (void)state;
    expect_give_up(FAULT_SLOW, PT_ETIMEDOUT, "DynamoDB Query", 2);
    /* two attempts of 500 ms each, not the server's 1.5 s */
    assert_true(pt__monotonic_us() - t0 < 1400000);
}

static void
expect_no_retry(enum fault f, int want, const char *type_name)
{
    pt_ddb_client *c = make_client(5, 500);
    char type[96];
    set_fault(f, -1);
    assert_int_equal(call(c, type), want);
    assert_int_equal(requests_seen(), 1);
    assert_int_equal(pt_ddb_client_retries(c), 0);
    assert_string_equal(type, type_name);
    assert_non_null(strstr(pt_last_error(), type_name));
    assert_non_null(strstr(pt_last_error(), "injected"));
    pt_ddb_client_free(c);
}

static void
test_not_retried(void **state)
{
    (void)state;
    expect_no_retry(FAULT_VALIDATION, PT_EBACKEND, "ValidationException");
    expect_no_retry(FAULT_NOTFOUND, PT_ENOTFOUND, "ResourceNotFoundException");
    expect_no_retry(FAULT_ACCESS, PT_EACCESS, "AccessDeniedException");
    expect_no_retry(FAULT_UNRECOGNIZED, PT_ECREDENTIALS,
                    "UnrecognizedClientException");
}

/* Many requests at once over a few connections; faults are retried per
 * request. */
static void
test_parallel_run(void **state)
{
    enum { N = 40 };
    pt_ddb_client *c = make_client(6, 2000);
    pt_ddb_request reqs[N], *list[N];
    (void)state;
    set_fault(FAULT_THROTTLE, 10);
    for (int i = 0; i < N; i++) {
        pt_ddb_request_init(&reqs[i], "PutItem");
        pt_buf_printf(&reqs[i].body, "{\"n\":%d}", i);
        list[i] = &reqs[i];
    }
    assert_int_equal(pt_ddb_run(c, list, N, NULL, NULL), PT_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(reqs[i].rc, PT_OK);
        assert_string_equal(reqs[i].response.ptr, ok_body);
        pt_ddb_request_free(&reqs[i]);
    }
    assert_int_equal(requests_seen(), N + 10);
    assert_int_equal(pt_ddb_client_retries(c), 10);
    assert_true(srv.connections <= 8);
    pt_ddb_client_free(c);
}

/* Bodies written by the build hook: once per request (a retry sends the
 * same body), and only as a connection frees up for it, so a long run
 * keeps requests in flight while the client writes the later bodies. */
typedef struct build_log {
    int finished;             /* requests done so far */
    int built;                /* build calls */
    int max_running;          /* the most requests in flight at a build */
    int max_unfinished_built; /* the most built and not yet done */
    pt_ddb_request *reqs;
    int n;
} build_log;

static int
build_body(pt_ddb_request *req, void *userdata)
{
    build_log *lg = userdata;
    int running = 0;
    for (int i = 0; i < lg->n; i++)
        running += lg->reqs[i].running;
    lg->built++;
    if (running > lg->max_running)
        lg->max_running = running;
    if (lg->built - lg->finished > lg->max_unfinished_built)
        lg->max_unfinished_built = lg->built - lg->finished;
    pt_buf_printf(&req->body, "{\"n\":%d}", (int)(req - lg->reqs));
    return 0;
}

static int
count_done(pt_ddb_request *req, void *userdata)
{
    (void)req;
    ((build_log *)userdata)->finished++;
    return 0;
}

static void
test_bodies_built_as_connections_free(void **state)
{
    enum { N = 40, PARALLEL = 4 };
    pt_ddb_client *c = make_client_parallel(6, 2000, PARALLEL);
    pt_ddb_request reqs[N], *list[N];
    build_log lg = {0, 0, 0, 0, reqs, N};
    (void)state;
    set_fault(FAULT_THROTTLE, 5);
    for (int i = 0; i < N; i++) {
        pt_ddb_request_init(&reqs[i], "PutItem");
        reqs[i].build = build_body;
        list[i] = &reqs[i];
    }
    assert_int_equal(pt_ddb_run(c, list, N, count_done, &lg), PT_OK);
    assert_int_equal(lg.built, N); /* once each, retries included */
    assert_int_equal(lg.finished, N);
    /* built as a connection was free for it, while others were in
     * flight; never all at once up front */
    assert_true(lg.max_running <= PARALLEL - 1);
    assert_true(lg.max_running >= 1);
    assert_true(lg.max_unfinished_built <= PARALLEL + 5);
    for (int i = 0; i < N; i++) {
        char want[32];
        snprintf(want, sizeof want, "{\"n\":%d}", i);
        assert_int_equal(reqs[i].rc, PT_OK);
        assert_null(reqs[i].build);
        assert_string_equal(reqs[i].body.ptr, want);
        pt_ddb_request_free(&reqs[i]);
    }
    assert_int_equal(requests_seen(), N + 5);
    pt_ddb_client_free(c);
}

/* Session credentials: X-Amz-Security-Token is sent and signed (the
 * server's signature check includes it). */
static void
test_session_token(void **state)
{
    pt_ddb_client_config cfg;
    pt_aws_credentials creds = {strdup("AKIDTEST"), strdup("secret/TEST"),
                                strdup("SESSION+TOKEN/abc=="), "test"};
    pt_ddb_client *c;
    char url[64];
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", srv.port);
    assert_int_equal(pt_aws_endpoint_resolve(&cfg.endpoint, url, NULL), PT_OK);
    snprintf(cfg.region, sizeof(cfg.region), "eu-west-3");
    cfg.retry = (pt_ddb_retry){1, 1, 1};
    assert_int_equal(pt_ddb_client_new(&c, &cfg, &creds), PT_OK);
    set_fault(FAULT_OK, 0);
    int bad_before = __atomic_load_n(&srv.bad_requests, __ATOMIC_SEQ_CST);
    srv.tokens_seen = 0;
    assert_int_equal(call(c, NULL), PT_OK);
    assert_int_equal(srv.tokens_seen, 1);
    assert_int_equal(__atomic_load_n(&srv.bad_requests, __ATOMIC_SEQ_CST),
                     bad_before);
    pt_ddb_client_free(c);
}

/* A host name goes through curl's resolver (driven by the socket/timer
 * callbacks too); the signed Host header keeps the name. */
static void
test_host_name_endpoint(void **state)
{
    pt_ddb_client_config cfg;
    pt_aws_credentials creds = {strdup("AKIDTEST"), strdup("secret/TEST"), NULL,
                                "test"};
    pt_ddb_client *c;
    char url[64];
    (void)state;
    memset(&cfg, 0, sizeof(cfg));
    snprintf(url, sizeof(url), "http://localhost:%d/", srv.port);
    assert_int_equal(pt_aws_endpoint_resolve(&cfg.endpoint, url, NULL), PT_OK);
    snprintf(cfg.region, sizeof(cfg.region), "eu-west-3");
    cfg.retry = (pt_ddb_retry){2, 1, 1};
    assert_int_equal(pt_ddb_client_new(&c, &cfg, &creds), PT_OK);
    set_fault(FAULT_OK, 0);
    int bad_before = __atomic_load_n(&srv.bad_requests, __ATOMIC_SEQ_CST);
    assert_int_equal(call(c, NULL), PT_OK);
    assert_int_equal(call(c, NULL), PT_OK);
    assert_int_equal(__atomic_load_n(&srv.bad_requests, __ATOMIC_SEQ_CST),
                     bad_before);
    pt_ddb_client_free(c);
}

static void
test_connection_refused(void **state)
{
    pt_ddb_client_config cfg;
    pt_aws_credentials creds = {strdup("AKIDTEST"), strdup("secret/TEST"), NULL,
                                "test"};
    pt_ddb_client *c;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    char url[64];
    (void)state;
    /* A port that was free a moment ago: bind, read it, close. */
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    memset(&cfg, 0, sizeof(cfg));
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", ntohs(a.sin_port));
    assert_int_equal(pt_aws_endpoint_resolve(&cfg.endpoint, url, NULL), PT_OK);
    snprintf(cfg.region, sizeof(cfg.region), "eu-west-3");
    cfg.retry = (pt_ddb_retry){3, 1, 4};
    assert_int_equal(pt_ddb_client_new(&c, &cfg, &creds), PT_OK);
    assert_int_equal(pt_ddb_call(c, "Query", "{}", 2, NULL, NULL), PT_ENETWORK);
    /* A refused connection is retried once, not max_attempts - 1 times: the
     * server is down, and the pipeline's spool takes over. */
    assert_int_equal(pt_ddb_client_retries(c), 1);
    pt_ddb_client_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ok_keepalive_and_signature),
        cmocka_unit_test(test_throttling),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_dropped_connections),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_slow_server),
        cmocka_unit_test(test_not_retried),
        cmocka_unit_test(test_parallel_run),
        cmocka_unit_test(test_bodies_built_as_connections_free),
        cmocka_unit_test(test_session_token),
        cmocka_unit_test(test_host_name_endpoint),
        cmocka_unit_test(test_connection_refused),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
