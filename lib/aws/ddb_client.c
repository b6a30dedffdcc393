/*
 * The DynamoDB JSON-protocol client: signs each attempt, keeps connections
 * alive in one curl multi handle, runs several requests at once and retries
 * what DynamoDB says may be retried.
 */
#include "aws/ddb_client.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RESPONSE_MAX     (32u << 20) /* DynamoDB answers are <= 16 MB */
#define TARGET_PREFIX    "DynamoDB_20120810."
#define CONTENT_TYPE     "application/x-amz-json-1.0"
#define DEFAULT_PARALLEL 8u

typedef struct slot {
    CURL *easy;
    pt_ddb_request *req;
    struct curl_slist *headers;
    char crc[16]; /* x-amz-crc32 as received, "" when absent */
    char errbuf[CURL_ERROR_SIZE];
} slot;

struct pt_ddb_client {
    pt_ddb_client_config cfg;
    pt_aws_credentials creds;
    CURLM *multi;
    slot *slots;
    unsigned int nslots;
    uint64_t retries;
    uint64_t rng; /* jitter state (pt__backoff) */
    char key_date[9];
    unsigned char key[32];
    /* curl's sockets and timer (multi_socket API): polling only what curl
     * asked for, and telling it what is ready, spares it a poll() per
     * transfer per wakeup. */
    struct pollfd *pfds;
    size_t npfds, pfds_cap;
    int64_t timer_at_us; /* -1: no curl timer */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void
global_init(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- curl's socket and timer callbacks ----------------------------------- */

static int
on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    pt_ddb_client *c = userp;
    size_t i;
    (void)easy;
    (void)socketp;
    for (i = 0; i < c->npfds && c->pfds[i].fd != fd; i++)
        ;
    if (what == CURL_POLL_REMOVE) {
        if (i < c->npfds)
            c->pfds[i] = c->pfds[--c->npfds];
        return 0;
    }
    if (i == c->npfds) {
        if (c->npfds == c->pfds_cap) {
            size_t cap = c->pfds_cap ? c->pfds_cap * 2 : 16;
            struct pollfd *n = realloc(c->pfds, cap * sizeof(*n));
            if (!n)
                return -1;
            c->pfds = n;
            c->pfds_cap = cap;
        }
        c->pfds[c->npfds++].fd = fd;
    }
    c->pfds[i].events = (short)(((what & CURL_POLL_IN) ? POLLIN : 0) |
                                ((what & CURL_POLL_OUT) ? POLLOUT : 0));
    c->pfds[i].revents = 0;
    return 0;
}

static int
on_timer(CURLM *multi, long timeout_ms, void *userp)
{
    pt_ddb_client *c = userp;
    (void)multi;
    c->timer_at_us =
        timeout_ms < 0 ? -1 : pt__monotonic_us() + (int64_t)timeout_ms * 1000;
    return 0;
}

/* ---- small helpers ------------------------------------------------------- */

unsigned int
pt_ddb_client_backoff_ms(pt_ddb_client *c, unsigned int attempt)
{
    return (unsigned int)pt__backoff(&c->rng, attempt, c->cfg.retry.base_ms,
                                     c->cfg.retry.cap_ms, PT__JITTER_FULL);
}

static void
amz_date_now(char out[17])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

/* Keep only printable ASCII of a server-supplied string, bounded. */
static void
copy_sanitized(char *dst, size_t size, const char *src)
{
    size_t n = 0;
    for (; src && *src && n + 1 < size; src++) {
        unsigned char ch = (unsigned char)*src;
        dst[n++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    dst[n] = '\0';
}

static int
is_throttling(const char *type)
{
    return strcmp(type, "ProvisionedThroughputExceededException") == 0 ||
           strcmp(type, "ThrottlingException") == 0 ||
           strcmp(type, "RequestLimitExceeded") == 0;
}

/* Map a non-retryable DynamoDB error type to a privtrack code. */
static int
error_code_for(const char *type)
{
    if (strcmp(type, "ResourceNotFoundException") == 0)
        return PT_ENOTFOUND;
    if (strcmp(type, "ConditionalCheckFailedException") == 0 ||
        strcmp(type, "ResourceInUseException") == 0)
        return PT_EEXIST;
    if (strcmp(type, "AccessDeniedException") == 0)
        return PT_EACCESS;
    if (strcmp(type, "UnrecognizedClientException") == 0 ||
        strcmp(type, "InvalidSignatureException") == 0 ||
        strcmp(type, "MissingAuthenticationTokenException") == 0 ||
        strcmp(type, "ExpiredTokenException") == 0 ||
        strcmp(type, "IncompleteSignatureException") == 0)
        return PT_ECREDENTIALS;
    if (strcmp(type, "UnknownOperationException") == 0)
        return PT_EUNSUPPORTED;
    return PT_EBACKEND;
}

void
pt__ddb_error_parse(const char *body, size_t len, char *type, size_t type_size,
                    char *message, size_t message_size)
{
    cJSON *j = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "__type");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(j, "message");

    if (!cJSON_IsString(m))
        m = cJSON_GetObjectItemCaseSensitive(j, "Message");
    if (cJSON_IsString(t)) {
        const char *hash = strrchr(t->valuestring, '#');
        copy_sanitized(type, type_size, hash ? hash + 1 : t->valuestring);
    } else {
        type[0] = '\0';
    }
    copy_sanitized(message, message_size,
                   cJSON_IsString(m) ? m->valuestring : "");
    cJSON_Delete(j);
}

/* ---- curl callbacks ------------------------------------------------------ */

static size_t
on_body(char *data, size_t size, size_t nmemb, void *userdata)
{
    pt_ddb_request *req = userdata;
    size_t n = size * nmemb;
    if (req->response.len + n > RESPONSE_MAX)
        return 0; /* abort: a hostile or broken server */
    pt_buf_put(&req->response, data, n);
    return req->response.oom ? 0 : n;
}

static size_t
on_header(char *data, size_t size, size_t nmemb, void *userdata)
{
    slot *s = userdata;
    size_t n = size * nmemb;
    static const char name[] = "x-amz-crc32:";
    if (n > sizeof(name) - 1 &&
        pt__strncasecmp(data, name, sizeof(name) - 1) == 0) {
        size_t i = sizeof(name) - 1, k = 0;
        while (i < n && (data[i] == ' ' || data[i] == '\t'))
            i++;
        while (i < n && data[i] >= '0' && data[i] <= '9' &&
               k + 1 < sizeof(s->crc))
            s->crc[k++] = data[i++];
        s->crc[k] = '\0';
    }
    return n;
}

/* ---- client -------------------------------------------------------------- */

int
pt_ddb_client_new(pt_ddb_client **out, const pt_ddb_client_config *cfg,
                  pt_aws_credentials *creds)
{
    pt_ddb_client *c;

    *out = NULL;
    pthread_once(&curl_once, global_init);
    if (curl_init_rc != CURLE_OK)
        return pt__fail(PT_ENETWORK, "curl_global_init failed: %s",
                        curl_easy_strerror(curl_init_rc));
    c = calloc(1, sizeof(*c));
    if (!c)
        return pt__fail(PT_ENOMEM, "out of memory");
    c->cfg = *cfg;
    if (c->cfg.retry.max_attempts == 0)
        c->cfg.retry.max_attempts = 1;
    if (!c->cfg.connect_timeout_ms)
        c->cfg.connect_timeout_ms = 3000;
    if (!c->cfg.request_timeout_ms)
        c->cfg.request_timeout_ms = 10000;
    c->nslots = c->cfg.parallel ? c->cfg.parallel : DEFAULT_PARALLEL;
    if (c->nslots > 64)
        c->nslots = 64;
    c->slots = calloc(c->nslots, sizeof(*c->slots));
    c->multi = curl_multi_init();
    if (!c->slots || !c->multi) {
        pt_ddb_client_free(c);
        return pt__fail(PT_ENOMEM, "out of memory creating the HTTP client");
    }
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)c->nslots);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, (long)c->nslots);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    c->timer_at_us = -1;
    c->rng = pt__backoff_seed(c);
    c->creds = *creds;
    memset(creds, 0, sizeof(*creds));
    *out = c;
    return PT_OK;
}

void
pt_ddb_client_free(pt_ddb_client *c)
{
    if (!c)
        return;
    for (unsigned int i = 0; c->slots && i < c->nslots; i++) {
        if (c->slots[i].easy) {
            if (c->slots[i].req)
                curl_multi_remove_handle(c->multi, c->slots[i].easy);
            curl_easy_cleanup(c->slots[i].easy);
        }
        curl_slist_free_all(c->slots[i].headers);
    }
    if (c->multi)
        curl_multi_cleanup(c->multi);
    free(c->slots);
    free(c->pfds);
    pt_aws_credentials_free(&c->creds);
    OPENSSL_cleanse(c->key, sizeof(c->key));
    free(c);
}

uint64_t
pt_ddb_client_retries(const pt_ddb_client *c)
{
    return c ? c->retries : 0;
}

void
pt_ddb_client_set_retry(pt_ddb_client *c, const pt_ddb_retry *r)
{
    c->cfg.retry = *r;
    if (c->cfg.retry.max_attempts == 0)
        c->cfg.retry.max_attempts = 1;
}

/* ---- requests ------------------------------------------------------------ */

void
pt_ddb_request_init(pt_ddb_request *req, const char *op)
{
    memset(req, 0, sizeof(*req));
    req->op = op;
}

void
pt_ddb_request_reset(pt_ddb_request *req)
{
    req->done = 0;
    req->rc = PT_OK;
    req->status = 0;
    req->error_type[0] = '\0';
    req->message[0] = '\0';
    req->attempt = 0;
    req->ready_at_us = 0;
    pt_buf_clear(&req->response);
}

void
pt_ddb_request_free(pt_ddb_request *req)
{
    pt_buf_free(&req->body);
    pt_buf_free(&req->response);
}

static int add_header(struct curl_slist **list, const char *fmt, ...)
    PT__PRINTF(2, 3);

static int
add_header(struct curl_slist **list, const char *fmt, ...)
{
    char line[2048];
    struct curl_slist *n;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    n = curl_slist_append(*list, line);
    if (pt__strncasecmp(line, "X-Amz-Security-Token", 20) == 0)
        OPENSSL_cleanse(line, sizeof(line)); /* the only credential here */
    if (!n)
        return PT_ENOMEM;
    *list = n;
    return PT_OK;
}

/* Sign the request for this attempt and build its header list. */
static int
sign_headers(pt_ddb_client *c, slot *s, const pt_ddb_request *req)
{
    char date[17], target[96];
    pt_sigv4_header h[4];
    pt_sigv4_request sr;
    pt_sigv4_options opts;
    pt_sigv4_result res;
    int rc;

    amz_date_now(date);
    if (memcmp(c->key_date, date, 8) != 0) {
        rc = pt_sigv4_derive_key(c->key, &c->creds, date, c->cfg.region,
                                 "dynamodb");
        if (rc != PT_OK)
            return rc;
        memcpy(c->key_date, date, 8);
    }
    pt__snprintf(target, sizeof(target), TARGET_PREFIX "%s", req->op);
    h[0] = (pt_sigv4_header){"Host", c->cfg.endpoint.host};
    h[1] = (pt_sigv4_header){"Content-Type", CONTENT_TYPE};
    h[2] = (pt_sigv4_header){"X-Amz-Date", date};
    h[3] = (pt_sigv4_header){"X-Amz-Target", target};
    sr = (pt_sigv4_request){"POST",
                            "/",
                            h,
                            4,
                            (const unsigned char *)req->body.ptr,
                            req->body.len,
                            c->cfg.region,
                            "dynamodb",
                            date};
    pt_sigv4_options_init(&opts);
    opts.signing_key = c->key;
    rc = pt_sigv4_sign_ex(&res, &sr, &c->creds, &opts);
    if (rc != PT_OK)
        return rc;
    curl_slist_free_all(s->headers);
    s->headers = NULL;
    if (add_header(&s->headers, "Host: %s", c->cfg.endpoint.host) ||
        add_header(&s->headers, "Content-Type: " CONTENT_TYPE) ||
        add_header(&s->headers, "X-Amz-Date: %s", date) ||
        add_header(&s->headers, "X-Amz-Target: %s", target) ||
        add_header(&s->headers, "Authorization: %s", res.authorization.ptr) ||
        (c->creds.session_token &&
         add_header(&s->headers, "X-Amz-Security-Token: %s",
                    c->creds.session_token)) ||
        add_header(&s->headers, "Expect:"))
        rc = PT_ENOMEM;
    pt_sigv4_result_free(&res);
    return rc;
}

/* An easy handle keeps its options between requests (no curl_easy_reset:
 * setting them all again per request costs measurable CPU). */
static int
setup_easy(pt_ddb_client *c, slot *s)
{
    CURL *e = s->easy = curl_easy_init();
    if (!e)
        return PT_ENOMEM;
    curl_easy_setopt(e, CURLOPT_URL, c->cfg.endpoint.url);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                     (long)c->cfg.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->cfg.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    return PT_OK;
}

static int
start_request(pt_ddb_client *c, slot *s, pt_ddb_request *req)
{
    int rc;
    if (!s->easy && setup_easy(c, s) != PT_OK)
        return PT_ENOMEM;
    rc = sign_headers(c, s, req);
    if (rc != PT_OK)
        return rc;
    s->crc[0] = '\0';
    s->errbuf[0] = '\0';
    s->req = req;
    pt_buf_clear(&req->response);
    /* Only what changes per request; the rest was set once. */
    CURL *e = s->easy;
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body.ptr ? req->body.ptr : "");
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body.len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, req);
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        s->req = NULL;
        return PT_ENOMEM;
    }
    req->running = 1;
    return PT_OK;
}

/* Decide what an attempt's outcome means.  Returns 1 when worth retrying. */
static int
classify(slot *s, CURLcode result, pt_ddb_request *req)
{
    req->error_type[0] = '\0';
    req->message[0] = '\0';
    req->status = 0;
    if (result == CURLE_WRITE_ERROR) { /* on_body refused: not retried */
        req->rc = req->response.oom ? PT_ENOMEM : PT_ECORRUPT;
        pt__snprintf(req->message, sizeof(req->message),
                     "response larger than %u MB or out of memory",
                     RESPONSE_MAX >> 20);
        return 0;
    }
    if (result != CURLE_OK) {
        req->rc =
            result == CURLE_OPERATION_TIMEDOUT ? PT_ETIMEDOUT : PT_ENETWORK;
        copy_sanitized(req->message, sizeof(req->message),
                       s->errbuf[0] ? s->errbuf : curl_easy_strerror(result));
        /* A refused connection means the server is down, not busy: retry
         * once, then let the caller's spool take the records instead of
         * holding the writer for the whole backoff schedule while its
         * queue fills. */
        if (result == CURLE_COULDNT_CONNECT && req->attempt >= 1)
            return 0;
        return 1;
    }
    curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &req->status);
    if (req->status == 200) {
        if (s->crc[0]) {
            unsigned long want = strtoul(s->crc, NULL, 10);
            uint32_t got = pt__crc32(0, req->response.ptr, req->response.len);
            if ((uint32_t)want != got) {
                req->rc = PT_ECORRUPT;
                pt__snprintf(req->message, sizeof(req->message),
                             "x-amz-crc32 mismatch (header %lu, body %u)", want,
                             got);
                return 1;
            }
        }
        req->rc = PT_OK;
        return 0;
    }
    pt__ddb_error_parse(req->response.ptr, req->response.len, req->error_type,
                        sizeof(req->error_type), req->message,
                        sizeof(req->message));
    if (req->status >= 500) {
        req->rc = PT_EBACKEND;
        return 1;
    }
    if (is_throttling(req->error_type)) {
        req->rc = PT_ETHROTTLED;
        return 1;
    }
    req->rc = error_code_for(req->error_type);
    return 0;
}

static void
log_retry(const pt_ddb_request *req, unsigned int max, unsigned int delay)
{
    if (!pt__log_enabled(PT_LOG_INFO))
        return;
    if (req->status)
        pt__log(PT_LOG_INFO,
                "DynamoDB %s: HTTP %ld %s%s%s; retry %u/%u in %u ms", req->op,
                req->status, req->error_type[0] ? req->error_type : "error",
                req->message[0] ? ": " : "", req->message, req->attempt,
                max - 1, delay);
    else
        pt__log(PT_LOG_INFO, "DynamoDB %s: %s; retry %u/%u in %u ms", req->op,
                req->message, req->attempt, max - 1, delay);
}

/* Handle a finished transfer.  Returns 1 when the request is done. */
static int
finish_transfer(pt_ddb_client *c, slot *s, CURLcode result)
{
    pt_ddb_request *req = s->req;
    int retry;

    curl_multi_remove_handle(c->multi, s->easy);
    s->req = NULL;
    req->running = 0;
    retry = classify(s, result, req);
    if (retry && req->attempt + 1 < c->cfg.retry.max_attempts) {
        unsigned int delay = pt_ddb_client_backoff_ms(c, ++req->attempt);
        c->retries++;
        log_retry(req, c->cfg.retry.max_attempts, delay);
        req->ready_at_us = pt__monotonic_us() + (int64_t)delay * 1000;
        return 0;
    }
    req->done = 1;
    return 1;
}

static slot *
free_slot(pt_ddb_client *c)
{
    for (unsigned int i = 0; i < c->nslots; i++)
        if (!c->slots[i].req)
            return &c->slots[i];
    return NULL;
}

/* Start whatever is ready; fills *pending (waiting for a connection or
 * for its backoff) and the earliest ready time among them. */
static int
start_ready(pt_ddb_client *c, pt_ddb_request *const *reqs, size_t n,
            void *userdata, size_t *running, size_t *pending,
            int64_t *next_ready)
{
    int64_t now = pt__monotonic_us();
    int full = 0; /* no free slot left: stop looking for one */
    *running = *pending = 0;
    *next_ready = INT64_MAX;
    for (size_t i = 0; i < n; i++) {
        pt_ddb_request *r = reqs[i];
        if (r->done)
            continue;
        if (!r->running && !full && r->ready_at_us <= now) {
            slot *s = free_slot(c);
            full = s == NULL;
            if (s) {
                pt_ddb_build_fn build = r->build;
                int rc = PT_OK;
                r->build = NULL; /* once: a retry sends the same body */
                if (build && build(r, userdata) != 0)
                    rc = PT_ENOMEM;
                if (rc == PT_OK)
                    rc = start_request(c, s, r);
                if (rc != PT_OK) {
                    r->rc = rc;
                    r->done = 1;
                    pt__snprintf(r->message, sizeof(r->message),
                                 "could not prepare the request");
                    return rc;
                }
            }
        }
        if (r->running) {
            (*running)++;
        } else {
            (*pending)++;
            if (r->ready_at_us < *next_ready)
                *next_ready = r->ready_at_us;
        }
    }
    return PT_OK;
}

static int
drain_messages(pt_ddb_client *c, pt_ddb_done_fn on_done, void *userdata)
{
    CURLMsg *msg;
    int left, finished = 0;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
        slot *s = NULL;
        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        if (!s || !s->req)
            continue;
        pt_ddb_request *req = s->req;
        finished = 1;
        if (finish_transfer(c, s, msg->data.result) && on_done) {
            req->ready_at_us = 0;
            if (on_done(req, userdata)) {
                int64_t at = req->ready_at_us; /* the callback's delay */
                pt_ddb_request_reset(req);
                req->ready_at_us = at;
            }
        }
    }
    return finished;
}

int
pt_ddb_request_error(const pt_ddb_request *r)
{
    if (r->rc == PT_OK)
        return PT_OK;
    if (r->status)
        return pt__fail(r->rc, "DynamoDB %s: HTTP %ld %s%s%s%s", r->op,
                        r->status, r->error_type[0] ? r->error_type : "error",
                        r->message[0] ? ": " : "", r->message,
                        r->attempt ? " (after retries)" : "");
    return pt__fail(r->rc, "DynamoDB %s: %s%s", r->op, r->message,
                    r->attempt ? " (after retries)" : "");
}

static int
report(pt_ddb_request *const *reqs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (reqs[i]->rc != PT_OK)
            return pt_ddb_request_error(reqs[i]);
    return PT_OK;
}

/* poll() curl's sockets, then hand curl each one that is ready.  The
 * ready list is copied first: curl's callbacks edit c->pfds. */
static void
wait_sockets(pt_ddb_client *c, int64_t wait_us)
{
    curl_socket_t ready[64];
    int bits[64];
    size_t n = 0;
    int still;
    int k = poll(c->pfds, (nfds_t)c->npfds, (int)((wait_us + 999) / 1000));
    for (size_t i = 0; k > 0 && i < c->npfds && n < 64; i++) {
        short re = c->pfds[i].revents;
        if (!re)
            continue;
        ready[n] = c->pfds[i].fd;
        bits[n++] = ((re & (POLLIN | POLLHUP)) ? CURL_CSELECT_IN : 0) |
                    ((re & POLLOUT) ? CURL_CSELECT_OUT : 0) |
                    ((re & (POLLERR | POLLNVAL)) ? CURL_CSELECT_ERR : 0);
    }
    for (size_t i = 0; i < n; i++)
        curl_multi_socket_action(c->multi, ready[i], bits[i], &still);
}

int
pt_ddb_run(pt_ddb_client *c, pt_ddb_request *const *reqs, size_t n,
           pt_ddb_done_fn on_done, void *userdata)
{
    size_t running, pending;
    int64_t next_ready;
    int rc = PT_OK, still;

    for (;;) {
        rc = start_ready(c, reqs, n, userdata, &running, &pending, &next_ready);
        if (rc != PT_OK || (running == 0 && pending == 0))
            break;
        int64_t now = pt__monotonic_us(), wait_us = 100000;
        if (c->timer_at_us >= 0 && c->timer_at_us - now < wait_us)
            wait_us = c->timer_at_us - now;
        /* Waiting requests matter only when a slot is free for them;
         * otherwise a finishing transfer wakes the poll. */
        if (pending && next_ready != INT64_MAX && free_slot(c) &&
            next_ready - now < wait_us)
            wait_us = next_ready - now;
        if (wait_us > 0 || c->npfds > 0)
            wait_sockets(c, wait_us < 0 ? 0 : wait_us);
        if (c->timer_at_us >= 0 && c->timer_at_us <= pt__monotonic_us()) {
            c->timer_at_us = -1;
            curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &still);
        }
        drain_messages(c, on_done, userdata);
    }
    for (unsigned int i = 0; i < c->nslots; i++) {
        if (c->slots[i].req) { /* only after an internal failure */
            curl_multi_remove_handle(c->multi, c->slots[i].easy);
            c->slots[i].req->running = 0;
            c->slots[i].req = NULL;
        }
    }
    for (size_t i = 0; i < n; i++) { /* only after an internal failure */
        if (!reqs[i]->done) {
            reqs[i]->done = 1;
            reqs[i]->rc = PT_EBACKEND;
            pt__snprintf(reqs[i]->message, sizeof(reqs[i]->message),
                         "not attempted");
        }
    }
    return report(reqs, n);
}

int
pt_ddb_call(pt_ddb_client *c, const char *op, const char *body, size_t len,
            pt_buf *resp, char *error_type)
{
    pt_ddb_request req;
    pt_ddb_request *list[1] = {&req};
    int rc;

    pt_ddb_request_init(&req, op);
    pt_buf_put(&req.body, body, len);
    if (req.body.oom) {
        pt_ddb_request_free(&req);
        return pt__fail(PT_ENOMEM, "out of memory");
    }
    rc = pt_ddb_run(c, list, 1, NULL, NULL);
    if (error_type)
        pt__snprintf(error_type, sizeof(req.error_type), "%s", req.error_type);
    if (resp) {
        pt_buf_free(resp);
        *resp = req.response;
        memset(&req.response, 0, sizeof(req.response));
    }
    pt_ddb_request_free(&req);
    return rc;
}
