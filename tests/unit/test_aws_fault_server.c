/* The fault-injecting server shared by the aws and dynamodb unit tests. */
#include "test_aws_fault_server.h"

#include <cjson/cJSON.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

server srv;

const char ok_body[] = "{\"Count\":0,\"Items\":[]}";

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
    uint32_t crc = pt__crc32(0, body, strlen(body));
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
    char values[4][256], want[1100], token[256];
    pt_sigv4_header h[4];
    pt_aws_credentials creds = {"AKIDTEST", "secret/TEST", NULL, "test"};
    pt_sigv4_result res;
    const char *auth = header_value(head, "Authorization");
    const char *tok;
    int ok;

    if (!auth)
        return 0;
    snprintf(want, sizeof(want), "%s", auth);
    tok = header_value(head, "X-Amz-Security-Token");
    if (tok) { /* session credentials: the token must be signed too */
        snprintf(token, sizeof(token), "%s", tok);
        creds.session_token = token;
        pthread_mutex_lock(&srv.lock);
        srv.tokens_seen++;
        pthread_mutex_unlock(&srv.lock);
    }
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

/* {"UnprocessedItems":{"<table>":[<the request's first write>]}} */
static void
respond_unprocessed(int fd, const char *body, size_t len)
{
    cJSON *req = cJSON_ParseWithLength(body, len);
    cJSON *items = cJSON_GetObjectItemCaseSensitive(req, "RequestItems");
    cJSON *table = items ? items->child : NULL;
    char *answer = NULL;
    if (cJSON_IsArray(table) && table->child) {
        cJSON *doc = cJSON_CreateObject();
        cJSON *un = cJSON_AddObjectToObject(doc, "UnprocessedItems");
        cJSON *list = cJSON_AddArrayToObject(un, table->string);
        cJSON_AddItemToArray(list, cJSON_Duplicate(table->child, 1));
        answer = cJSON_PrintUnformatted(doc);
        cJSON_Delete(doc);
    }
    respond(fd, 200, NULL, answer ? answer : ok_body, 0);
    free(answer);
    cJSON_Delete(req);
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
        if (f == FAULT_DECIDE) {
            const char *t = strstr(buf, "DynamoDB_20120810.");
            char op[64] = "";
            if (t)
                sscanf(t + 18, "%63[A-Za-z]", op);
            f = srv.decide ? srv.decide(op, body, body_len) : FAULT_OK;
        }
        pthread_mutex_unlock(&srv.lock);
        switch (f) {
        case FAULT_OK:
        case FAULT_DECIDE:
            respond(fd, 200, NULL, ok_body, 0);
            break;
        case FAULT_THROTTLE:
        case FAULT_PTEE:
        case FAULT_VALIDATION:
        case FAULT_NOTFOUND:
        case FAULT_ACCESS:
        case FAULT_UNRECOGNIZED:
        case FAULT_CONDITIONAL: {
            static const char *types[] = {
                [FAULT_CONDITIONAL] = "ConditionalCheckFailedException",
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
        case FAULT_BODY:
            respond(fd, 200, NULL, srv.body ? srv.body : ok_body, 0);
            break;
        case FAULT_UNPROCESSED:
            if (strstr(buf, "DynamoDB_20120810.BatchWriteItem"))
                respond_unprocessed(fd, body, body_len);
            else
                respond(fd, 200, NULL, ok_body, 0);
            break;
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

int
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

int
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

void
set_fault(enum fault f, int count)
{
    pthread_mutex_lock(&srv.lock);
    srv.fault = f;
    srv.faulty = count;
    srv.requests = 0;
    srv.connections = 0;
    pthread_mutex_unlock(&srv.lock);
}

int
requests_seen(void)
{
    pthread_mutex_lock(&srv.lock);
    int n = srv.requests;
    pthread_mutex_unlock(&srv.lock);
    return n;
}
