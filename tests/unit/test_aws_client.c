/*
 * The DynamoDB HTTP client against a fault-injecting HTTP server that runs
 * inside this test on 127.0.0.1 (ephemeral port, one thread per
 * connection): throttling answers, 500s, dropped connections, bad
 * x-amz-crc32, a slow server, non-retryable errors.  The server also
 * checks the protocol headers and the SigV4 signature of every request.
 */
#include "aws/ddb_client.h"

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

enum fault {
    FAULT_OK,
    FAULT_THROTTLE, /* 400 ThrottlingException */
    FAULT_PTEE,     /* 400 ProvisionedThroughputExceededException */
    FAULT_500,
    FAULT_DROP,   /* close without answering */
    FAULT_BADCRC, /* 200 with a wrong x-amz-crc32 */
    FAULT_SLOW,   /* answer after 1.5 s */
    FAULT_VALIDATION,
    FAULT_NOTFOUND,
    FAULT_ACCESS,
    FAULT_UNRECOGNIZED,
};

typedef struct server {
    int fd;
    int port;
    pthread_t thread;
    pthread_t conns[256];
    int nconns;
    int stop;
    pthread_mutex_t lock;
    enum fault fault; /* applied to the first `faulty` requests */
    int faulty;       /* -1: every request */
    int requests;     /* requests seen */
    int connections;  /* connections accepted */
    int bad_requests; /* protocol or signature problems seen */
    char last_target[128];
} server;

static server srv;

static const char ok_body[] = "{\"Count\":0,\"Items\":[]}";

static void
send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void
respond(int fd, int status, const char *type, const char *body, int bad_crc)
{
    char head[512];
    uint32_t crc = pt_aws_crc32(body, strlen(body));
    (void)type;
    snprintf(head, sizeof(head),
             "HTTP/1.1 %d X\r\nContent-Type: application/x-amz-json-1.0\r\n"
             "x-amz-crc32: %u\r\nContent-Length: %zu\r\n\r\n",
             status, bad_crc ? crc ^ 1u : crc, strlen(body));
    send_all(fd, head, strlen(head));
    send_all(fd, body, strlen(body));
}

static void
error_body(char *out, size_t size, const char *type)
{
    snprintf(out, size,
             "{\"__type\":\"com.amazonaws.dynamodb.v20120810#%s\","
             "\"message\":\"injected %s\"}",
             type, type);
}

static const char *
header_value(const char *head, const char *name)
{
    static __thread char value[1024];
    size_t nlen = strlen(name);
    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nlen) == 0 && line[nlen] == ':') {
            const char *v = line + nlen + 1, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(value, sizeof(value), "%.*s", (int)(e - v), v);
            return value;
        }
    }
    return NULL;
}

/* Recompute the signature with the test's credentials and compare. */
static int
signature_ok(const char *head, const char *body, size_t body_len)
{
    const char *names[] = {"Host", "Content-Type", "X-Amz-Date",
                           "X-Amz-Target"};
    char values[4][256], want[1100];
    pt_sigv4_header h[4];
    pt_aws_credentials creds = {"AKIDTEST", "secret/TEST", NULL, "test"};
    pt_sigv4_result res;
    const char *auth = header_value(head, "Authorization");
    int ok;

    if (!auth)
        return 0;
    snprintf(want, sizeof(want), "%s", auth);
    for (int i = 0; i < 4; i++) {
        const char *v = header_value(head, names[i]);
        if (!v)
            return 0;
        snprintf(values[i], sizeof(values[i]), "%s", v);
        h[i] = (pt_sigv4_header){names[i], values[i]};
    }
    pt_sigv4_request r = {"POST",
                          "/",
                          h,
                          4,
                          (const unsigned char *)body,
                          body_len,
                          "eu-west-3",
                          "dynamodb",
                          values[2]};
    if (pt_sigv4_sign(&res, &r, &creds) != PT_OK)
        return 0;
    ok = strcmp(res.authorization.ptr, want) == 0;
    pt_sigv4_result_free(&res);
    return ok;
}

/* Read one request; returns 0 at EOF/stop.  Body goes to body[]. */
static int
read_request(int fd, char *buf, size_t size, char **body, size_t *body_len)
{
    size_t have = 0;
    char *end = NULL;
    while (!end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (__atomic_load_n(&srv.stop, __ATOMIC_ACQUIRE))
            return 0;
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = recv(fd, buf + have, size - have - 1, 0);
        if (n <= 0)
            return 0;
        have += (size_t)n;
        buf[have] = '\0';
        end = strstr(buf, "\r\n\r\n");
        if (!end && have >= size - 1)
            return 0;
    }
    const char *cl = header_value(buf, "Content-Length");
    size_t want = cl ? (size_t)atol(cl) : 0;
    size_t head_len = (size_t)(end + 4 - buf);
    while (have < head_len + want && have < size - 1) {
        ssize_t n = recv(fd, buf + have, size - have - 1, 0);
        if (n <= 0)
            return 0;
        have += (size_t)n;
    }
    buf[have] = '\0';
    end[2] = '\0'; /* terminate the header block after its last CRLF */
    *body = end + 4;
    *body_len = want;
    return 1;
}

static void
check_protocol(const char *head, const char *body, size_t body_len)
{
    const char *ct = header_value(head, "Content-Type");
    int bad = !ct || strcmp(ct, "application/x-amz-json-1.0") != 0;
    const char *target = header_value(head, "X-Amz-Target");
    pthread_mutex_lock(&srv.lock);
    if (target)
        snprintf(srv.last_target, sizeof(srv.last_target), "%s", target);
    pthread_mutex_unlock(&srv.lock);
    bad |= !target || strncmp(target, "DynamoDB_20120810.", 18) != 0;
    bad |= strncmp(head, "POST / HTTP/1.1", 15) != 0;
    bad |= !signature_ok(head, body, body_len);
    if (bad)
        __atomic_fetch_add(&srv.bad_requests, 1, __ATOMIC_SEQ_CST);
}

static void *
connection_main(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *buf = malloc(1 << 20);
    char *body;
    size_t body_len;
    while (buf && read_request(fd, buf, 1 << 20, &body, &body_len)) {
        char err[256];
        enum fault f = FAULT_OK;
        check_protocol(buf, body, body_len);
        pthread_mutex_lock(&srv.lock);
        int n = srv.requests++;
        if (srv.faulty < 0 || n < srv.faulty)
            f = srv.fault;
        pthread_mutex_unlock(&srv.lock);
        switch (f) {
        case FAULT_OK:
            respond(fd, 200, NULL, ok_body, 0);
            break;
        case FAULT_THROTTLE:
        case FAULT_PTEE:
        case FAULT_VALIDATION:
        case FAULT_NOTFOUND:
        case FAULT_ACCESS:
        case FAULT_UNRECOGNIZED: {
            static const char *types[] = {
                [FAULT_THROTTLE] = "ThrottlingException",
                [FAULT_PTEE] = "ProvisionedThroughputExceededException",
                [FAULT_VALIDATION] = "ValidationException",
                [FAULT_NOTFOUND] = "ResourceNotFoundException",
                [FAULT_ACCESS] = "AccessDeniedException",
                [FAULT_UNRECOGNIZED] = "UnrecognizedClientException"};
            error_body(err, sizeof(err), types[f]);
            respond(fd, 400, types[f], err, 0);
            break;
        }
        case FAULT_500:
            respond(fd, 500, NULL, "{\"__type\":\"InternalServerError\"}", 0);
            break;
        case FAULT_DROP:
            goto out;
        case FAULT_BADCRC:
            respond(fd, 200, NULL, ok_body, 1);
            break;
        case FAULT_SLOW:
            for (int i = 0;
                 i < 30 && !__atomic_load_n(&srv.stop, __ATOMIC_ACQUIRE); i++)
                usleep(50000);
            respond(fd, 200, NULL, ok_body, 0);
            break;
        }
    }
out:
    free(buf);
    close(fd);
    return NULL;
}

static void *
server_main(void *arg)
{
    (void)arg;
    while (!__atomic_load_n(&srv.stop, __ATOMIC_ACQUIRE)) {
        struct pollfd p = {srv.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(srv.fd, NULL, NULL);
        if (c < 0)
            continue;
        pthread_mutex_lock(&srv.lock);
        srv.connections++;
        if (srv.nconns < 256 &&
            pthread_create(&srv.conns[srv.nconns], NULL, connection_main,
                           (void *)(intptr_t)c) == 0)
            srv.nconns++;
        else
            close(c);
        pthread_mutex_unlock(&srv.lock);
    }
    return NULL;
}

static int
server_start(void **state)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    (void)state;
    memset(&srv, 0, sizeof(srv));
    pthread_mutex_init(&srv.lock, NULL);
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(srv.fd, 64) != 0 ||
        getsockname(srv.fd, (struct sockaddr *)&a, &len) != 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    return pthread_create(&srv.thread, NULL, server_main, NULL) == 0 ? 0 : -1;
}

static int
server_stop(void **state)
{
    (void)state;
    __atomic_store_n(&srv.stop, 1, __ATOMIC_RELEASE);
    pthread_join(srv.thread, NULL);
    for (int i = 0; i < srv.nconns; i++)
        pthread_join(srv.conns[i], NULL);
    close(srv.fd);
    pthread_mutex_destroy(&srv.lock);
    return 0;
}

static void
set_fault(enum fault f, int count)
{
    pthread_mutex_lock(&srv.lock);
    srv.fault = f;
    srv.faulty = count;
    srv.requests = 0;
    srv.connections = 0;
    pthread_mutex_unlock(&srv.lock);
}

static int
requests_seen(void)
{
    pthread_mutex_lock(&srv.lock);
    int n = srv.requests;
    pthread_mutex_unlock(&srv.lock);
    return n;
}

static pt_ddb_client *
make_client(unsigned int attempts, unsigned int timeout_ms)
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
    creds.access_key_id = strdup("AKIDTEST");
    creds.secret_access_key = strdup("secret/TEST");
    assert_int_equal(pt_ddb_client_new(&c, &cfg, &creds), PT_OK);
    return c;
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
    assert_int_equal(pt_ddb_client_retries(c), 2);
    pt_ddb_client_free(c);
}

static void
test_crc32(void **state)
{
    (void)state;
    /* Known value: CRC-32 of "123456789" is 0xCBF43926. */
    assert_int_equal(pt_aws_crc32("123456789", 9), 0xCBF43926u);
    assert_int_equal(pt_aws_crc32("", 0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_ok_keepalive_and_signature),
        cmocka_unit_test(test_throttling),
        cmocka_unit_test(test_server_errors),
        cmocka_unit_test(test_dropped_connections),
        cmocka_unit_test(test_bad_crc),
        cmocka_unit_test(test_slow_server),
        cmocka_unit_test(test_not_retried),
        cmocka_unit_test(test_parallel_run),
        cmocka_unit_test(test_connection_refused),
    };
    return cmocka_run_group_tests(tests, server_start, server_stop);
}
