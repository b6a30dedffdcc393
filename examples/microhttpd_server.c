/*
 * privtrack-httpd: a small HTTP server (GNU libmicrohttpd) that records one
 * visit per request through privtrack's public API.
 *
 *   privtrack-httpd [--policy FILE] [--port N] [--storage DIR]
 *                   [--close-timeout MS] [--verbose]
 *
 * Every request is answered "204 No Content" at once: pt_track() only applies
 * the policy and queues the record; the tracker's writer thread stores it.
 * What a request carries becomes the visit:
 *
 *   peer address      the TCP peer (MHD_CONNECTION_INFO_CLIENT_ADDRESS)
 *   headers           User-Agent, X-Forwarded-For, DNT, Sec-GPC, Cookie
 *   ?link=URL         a submitted link (repeatable)
 *   ?file=NAME        a downloaded file (repeatable)
 *   ?errors=N         failed downloads
 *
 * The example passes the raw facts and nothing else: which X-Forwarded-For
 * hop to believe (trusted proxies), opt-out, hashing and truncation are the
 * policy's job, so a site changes them in policy.ini, not in code.
 *
 * It listens on 127.0.0.1 only.  SIGINT or SIGTERM stops it: the HTTP
 * server first (no new visits), then the tracker, flushed within
 * --close-timeout (what misses the deadline is in the spool), then the
 * counters are printed on stdout.
 */
#include <privtrack.h>

#include <microhttpd.h>

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

/* Caps per request.  The policy caps lengths and list sizes too; these only
 * bound the example's own stack arrays. */
#define MAX_HEADERS 16
#define MAX_LINKS   64
#define MAX_FILES   64
#define MAX_ERRORS  1000000u

typedef struct server_config {
    const char *policy_path;  /* NULL: $PRIVTRACK_POLICY or built-in */
    const char *storage_path; /* NULL: the policy's [storage] path */
    unsigned int port;        /* 0: ephemeral */
    unsigned int close_timeout_ms;
    int verbose;
} server_config;

typedef struct server {
    pt_tracker *tracker;
    struct MHD_Response *no_content; /* shared by every request */
    int verbose;
} server;

/* The facts of one request, gathered by the MHD iterators.  Pointers are
 * MHD's and stay valid while the request is being handled. */
typedef struct visit_facts {
    pt_header headers[MAX_HEADERS];
    size_t header_count;
    const char *links[MAX_LINKS];
    size_t link_count;
    const char *files[MAX_FILES];
    size_t file_count;
    size_t error_count;
} visit_facts;

/* Only the headers the policy reads are handed over: the library would
 * ignore the rest, and a smaller visit is cheaper to copy. */
static const char *const tracked_headers[] = {
    "User-Agent", "X-Forwarded-For", "DNT", "Sec-GPC", "Cookie",
};

static int
is_tracked_header(const char *name)
{
    for (size_t i = 0; i < sizeof(tracked_headers) / sizeof(*tracked_headers);
         i++) {
        if (strcasecmp(name, tracked_headers[i]) == 0)
            return 1;
    }
    return 0;
}

static enum MHD_Result
collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
               const char *value)
{
    visit_facts *facts = cls;
    (void)kind;
    /* Every occurrence is kept (a request may carry X-Forwarded-For twice);
     * how to combine them is the policy's decision. */
    if (value && is_tracked_header(key) && facts->header_count < MAX_HEADERS) {
        facts->headers[facts->header_count].name = key;
        facts->headers[facts->header_count].value = value;
        facts->header_count++;
    }
    return MHD_YES;
}

static size_t
parse_error_count(const char *text)
{
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-')
        return 0;
    return n > MAX_ERRORS ? MAX_ERRORS : (size_t)n;
}

static enum MHD_Result
collect_argument(void *cls, enum MHD_ValueKind kind, const char *key,
                 const char *value)
{
    visit_facts *facts = cls;
    (void)kind;
    if (!value)
        return MHD_YES;
    if (strcmp(key, "link") == 0 && facts->link_count < MAX_LINKS)
        facts->links[facts->link_count++] = value;
    else if (strcmp(key, "file") == 0 && facts->file_count < MAX_FILES)
        facts->files[facts->file_count++] = value;
    else if (strcmp(key, "errors") == 0)
        facts->error_count = parse_error_count(value);
    return MHD_YES;
}

/* The TCP peer as text, or NULL when MHD cannot say (the policy then
 * counts the visit's address as missing). */
static const char *
peer_address(struct MHD_Connection *connection, char *out, size_t size)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!info || !info->client_addr)
        return NULL;
    const struct sockaddr *sa = info->client_addr;
    const void *raw = NULL;
    if (sa->sa_family == AF_INET)
        raw = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa->sa_family == AF_INET6)
        raw = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (!raw || !inet_ntop(sa->sa_family, raw, out, (socklen_t)size))
        return NULL;
    return out;
}

static void
record_visit(server *srv, struct MHD_Connection *connection)
{
    visit_facts facts;
    memset(&facts, 0, sizeof(facts));
    MHD_get_connection_values(connection, MHD_HEADER_KIND, collect_header,
                              &facts);
    MHD_get_connection_values(connection, MHD_GET_ARGUMENT_KIND,
                              collect_argument, &facts);

    char addr[INET6_ADDRSTRLEN];
    pt_visit visit = PT_VISIT_INIT;
    visit.remote_addr = peer_address(connection, addr, sizeof(addr));
    visit.headers = facts.headers;
    visit.header_count = facts.header_count;
    visit.links = facts.links;
    visit.link_count = facts.link_count;
    visit.filenames = facts.files;
    visit.filename_count = facts.file_count;
    visit.error_count = facts.error_count;

    pt_track_result result;
    int rc = pt_track(srv->tracker, &visit, &result);
    if (rc != PT_OK) {
        fprintf(stderr, "privtrack-httpd: pt_track: %s\n", pt_strerror(rc));
        return;
    }
    /* Never the address: the policy decides what of it may be seen. */
    if (srv->verbose && result.dropped == PT_DROP_NONE)
        fprintf(stderr, "privtrack-httpd: recorded %s\n", result.session_id);
    else if (srv->verbose)
        fprintf(stderr, "privtrack-httpd: not recorded (%s)\n",
                pt_drop_reason_name(result.dropped));
}

static enum MHD_Result
handle_request(void *cls, struct MHD_Connection *connection, const char *url,
               const char *method, const char *version, const char *upload_data,
               size_t *upload_data_size, void **request_state)
{
    static int headers_seen;
    server *srv = cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;

    /* MHD calls once when the headers are in, then for each body chunk,
     * then once more: answer on the last call so a body never arrives
     * after the response. */
    if (*request_state == NULL) {
        *request_state = &headers_seen;
        return MHD_YES;
    }
    if (*upload_data_size != 0) {
        *upload_data_size = 0; /* the body is not part of a visit */
        return MHD_YES;
    }
    record_visit(srv, connection);
    return MHD_queue_response(connection, MHD_HTTP_NO_CONTENT, srv->no_content);
}

static void
log_to_stderr(pt_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    fprintf(stderr, "privtrack[%s]: %s\n", pt_log_level_name(level), message);
}

static void
usage(FILE *out)
{
    fputs("usage: privtrack-httpd [--policy FILE] [--port N] [--storage DIR]\n"
          "                       [--close-timeout MS] [--verbose]\n"
          "\n"
          "Records one visit per HTTP request through privtrack and answers\n"
          "204.  Listens on 127.0.0.1; --port 0 (the default) picks a free\n"
          "port and prints it.  The policy is --policy, else "
          "$PRIVTRACK_POLICY,\n"
          "else the built-in default.  SIGINT/SIGTERM stop it and print the\n"
          "tracker's counters.\n",
          out);
}

static int
parse_uint(const char *text, unsigned long max, unsigned int *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long n = strtoul(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || n > max)
        return -1;
    *out = (unsigned int)n;
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error. */
static int
parse_args(int argc, char **argv, server_config *cfg)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 1;
        }
        if (strcmp(arg, "--verbose") == 0) {
            cfg->verbose = 1;
            continue;
        }
        if (!next) {
            fprintf(stderr,
                    "privtrack-httpd: unknown or incomplete option "
                    "'%s'\n",
                    arg);
            return -1;
        }
        i++;
        if (strcmp(arg, "--policy") == 0) {
            cfg->policy_path = next;
        } else if (strcmp(arg, "--storage") == 0) {
            cfg->storage_path = next;
        } else if (strcmp(arg, "--port") == 0) {
            if (parse_uint(next, 65535, &cfg->port) != 0) {
                fprintf(stderr, "privtrack-httpd: bad --port '%s'\n", next);
                return -1;
            }
        } else if (strcmp(arg, "--close-timeout") == 0) {
            if (parse_uint(next, 600000, &cfg->close_timeout_ms) != 0) {
                fprintf(stderr, "privtrack-httpd: bad --close-timeout '%s'\n",
                        next);
                return -1;
            }
        } else {
            fprintf(stderr, "privtrack-httpd: unknown option '%s'\n", arg);
            return -1;
        }
    }
    return 0;
}

static int
load_policy(const server_config *cfg, pt_policy **out)
{
    const char *path = cfg->policy_path;
    if (!path)
        path = getenv("PRIVTRACK_POLICY");
    int rc =
        path ? pt_policy_load_file(out, path) : pt_policy_load_default(out);
    if (rc != PT_OK)
        fprintf(stderr, "privtrack-httpd: policy: %s\n",
                pt_last_error()[0] ? pt_last_error() : pt_strerror(rc));
    return rc;
}

static int
open_tracker(const server_config *cfg, pt_tracker **out)
{
    pt_policy *policy = NULL;
    if (load_policy(cfg, &policy) != PT_OK)
        return -1;
    pt_tracker_options opts = PT_TRACKER_OPTIONS_INIT;
    opts.storage_path = cfg->storage_path;
    /* The default: asynchronous, a full queue drops rather than blocks, so
     * a slow disk or backend never slows a request down.  Storage is not
     * created here: the file store creates its directory on first write,
     * and a DynamoDB table is created once by `privtrack init-storage`, so
     * the server needs no table-management permission. */
    int rc = pt_tracker_open(out, policy, &opts);
    pt_policy_free(policy); /* the tracker keeps its own reference */
    if (rc != PT_OK) {
        fprintf(stderr, "privtrack-httpd: tracker: %s\n",
                pt_last_error()[0] ? pt_last_error() : pt_strerror(rc));
        return -1;
    }
    return 0;
}

static struct MHD_Daemon *
start_http(server *srv, unsigned int port, unsigned int *bound_port)
{
    struct sockaddr_in loopback;
    memset(&loopback, 0, sizeof(loopback));
    loopback.sin_family = AF_INET;
    loopback.sin_port = htons((uint16_t)port);
    loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    /* A small thread pool: several threads call pt_track() at once, which
     * the library allows. */
    struct MHD_Daemon *daemon = MHD_start_daemon(
        MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port, NULL,
        NULL, handle_request, srv, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)&loopback, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned int)2, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
        MHD_OPTION_END);
    if (!daemon)
        return NULL;
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
    *bound_port = info ? info->port : port;
    return daemon;
}

static void
print_counters(const pt_counters *c)
{
    printf("counters: accepted=%" PRIu64 " stored=%" PRIu64 " spooled=%" PRIu64
           " replayed=%" PRIu64 " retries=%" PRIu64 " failures=%" PRIu64,
           c->accepted, c->stored, c->spooled, c->replayed, c->retries,
           c->failures);
    for (int r = 1; r < PT_DROP__COUNT; r++)
        printf(" dropped_%s=%" PRIu64, pt_drop_reason_name((pt_drop_reason)r),
               c->dropped[r]);
    printf("\n");
    fflush(stdout);
}

static unsigned int
remaining_ms(const struct timespec *start, unsigned int budget_ms)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long long spent = (long long)(now.tv_sec - start->tv_sec) * 1000 +
                      (now.tv_nsec - start->tv_nsec) / 1000000;
    return spent >= (long long)budget_ms ? 0
                                         : (unsigned int)(budget_ms - spent);
}

/* Stop in order: no new requests, everything accepted flushed (bounded by
 * the deadline), counters read while the tracker still exists, then
 * closed. */
static int
shut_down(struct MHD_Daemon *daemon, server *srv, unsigned int timeout_ms)
{
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    MHD_stop_daemon(daemon);
    int flushed = pt_tracker_flush(srv->tracker, timeout_ms);
    if (flushed != PT_OK)
        fprintf(stderr, "privtrack-httpd: flush: %s (the rest is spooled)\n",
                pt_strerror(flushed));
    pt_counters counters;
    if (pt_tracker_counters(srv->tracker, &counters) == PT_OK)
        print_counters(&counters);
    /* One deadline for the whole shutdown, not one per step. */
    int closed =
        pt_tracker_close(srv->tracker, remaining_ms(&start, timeout_ms));
    srv->tracker = NULL;
    if (closed != PT_OK)
        fprintf(stderr, "privtrack-httpd: close: %s\n", pt_strerror(closed));
    return flushed == PT_OK && closed == PT_OK ? 0 : 2;
}

static int
wait_for_stop_signal(const sigset_t *stop)
{
    int sig = 0;
    while (sigwait(stop, &sig) != 0) {
    }
    return sig;
}

int
main(int argc, char **argv)
{
    server_config cfg = {NULL, NULL, 0, 5000, 0};
    int parsed = parse_args(argc, argv, &cfg);
    if (parsed != 0)
        return parsed > 0 ? 0 : 1;

    /* Block the stop signals before any thread exists (MHD's, the
     * tracker's writer) so that they all inherit the mask and only
     * sigwait() below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    pt_set_log(log_to_stderr, NULL, cfg.verbose ? PT_LOG_DEBUG : PT_LOG_WARN);

    server srv = {NULL, NULL, cfg.verbose};
    if (open_tracker(&cfg, &srv.tracker) != 0)
        return 1;
    srv.no_content =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!srv.no_content) {
        pt_tracker_close(srv.tracker, cfg.close_timeout_ms);
        return 2;
    }
    MHD_add_response_header(srv.no_content, "Cache-Control", "no-store");

    unsigned int port = 0;
    struct MHD_Daemon *daemon = start_http(&srv, cfg.port, &port);
    if (!daemon) {
        fprintf(stderr, "privtrack-httpd: cannot listen on 127.0.0.1:%u\n",
                cfg.port);
        MHD_destroy_response(srv.no_content);
        pt_tracker_close(srv.tracker, cfg.close_timeout_ms);
        return 2;
    }
    printf("listening on http://127.0.0.1:%u/\n", port);
    fflush(stdout);

    int sig = wait_for_stop_signal(&stop);
    fprintf(stderr, "privtrack-httpd: %s, stopping\n",
            sig == SIGINT ? "SIGINT" : "SIGTERM");
    int rc = shut_down(daemon, &srv, cfg.close_timeout_ms);
    MHD_destroy_response(srv.no_content);
    return rc;
}
