/*
 * A DynamoDB JSON-protocol client over libcurl: endpoint resolution, SigV4
 * signing, keep-alive connections, several requests in flight at once
 * (curl multi), retries with capped exponential backoff and full jitter,
 * error __type parsing and x-amz-crc32 checks.  No AWS SDK.
 *
 * Threading: a client is used by one thread at a time (the backend
 * instance that owns it); distinct clients are independent.
 */
#ifndef PT_AWS_DDB_CLIENT_H
#define PT_AWS_DDB_CLIENT_H

#include "aws/sigv4.h"

/** Where requests go.  `url` is what curl is given; `host` is the Host
 *  header value that is signed ("127.0.0.1:8000"). */
typedef struct pt_aws_endpoint {
    char url[512];
    char host[300];
    int tls;
} pt_aws_endpoint;

/** Endpoint from `configured` (the policy's [storage] endpoint) when not
 *  NULL/empty, else AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL, else
 *  https://dynamodb.<region>.amazonaws.com.  Plain http:// is accepted only
 *  for loopback hosts (127.0.0.0/8, ::1, localhost); anything else is
 *  PT_EPOLICY. */
int pt_aws_endpoint_resolve(pt_aws_endpoint *out, const char *configured,
                            const char *region);

typedef struct pt_ddb_retry {
    unsigned int max_attempts; /* total tries per request (>= 1) */
    unsigned int base_ms;      /* first backoff ceiling */
    unsigned int cap_ms;       /* largest backoff ceiling */
} pt_ddb_retry;

#define PT_DDB_RETRY_DEFAULT                                                   \
    {                                                                          \
        10, 25, 3000                                                           \
    }

typedef struct pt_ddb_client_config {
    pt_aws_endpoint endpoint;
    char region[64];
    pt_ddb_retry retry;
    unsigned int connect_timeout_ms; /* 0: 3000 */
    unsigned int request_timeout_ms; /* 0: 10000 */
    unsigned int parallel;           /* requests in flight; 0: 8 */
} pt_ddb_client_config;

typedef struct pt_ddb_client pt_ddb_client;

/** Create a client.  Takes ownership of `creds` on success (zeroed in the
 *  caller's struct); on failure the caller still owns them.  No network
 *  traffic happens here. */
int pt_ddb_client_new(pt_ddb_client **out, const pt_ddb_client_config *cfg,
                      pt_aws_credentials *creds);

/** Free the client, its connections and its (wiped) credentials.  NULL is a
 *  no-op. */
void pt_ddb_client_free(pt_ddb_client *client);

/** Retries performed since the client was created. */
uint64_t pt_ddb_client_retries(const pt_ddb_client *client);

/** A backoff for retry `attempt` (1, 2, ...) under the client's policy:
 *  capped exponential with full jitter, a random delay in
 *  [0, min(cap_ms, base_ms x 2^(attempt-1))].  Also for what callers
 *  re-drive themselves (UnprocessedItems). */
unsigned int pt_ddb_client_backoff_ms(pt_ddb_client *client,
                                      unsigned int attempt);

/** Change the retry policy (tests use short delays). */
void pt_ddb_client_set_retry(pt_ddb_client *client, const pt_ddb_retry *r);

struct pt_ddb_request;

/** Writes a request's body just before its first attempt starts (see
 *  `build` below); non-zero: it could not (the run then ends as for any
 *  request it could not prepare). */
typedef int (*pt_ddb_build_fn)(struct pt_ddb_request *req, void *userdata);

/** One logical request (retried as needed).  The caller fills `op`
 *  ("PutItem") and `body`, and owns both buffers. */
typedef struct pt_ddb_request {
    const char *op;
    pt_buf body;
    void *userdata;
    /* Optional: when set, pt_ddb_run() calls it (with the run's userdata)
     * for the body instead, as a connection becomes free for the request's
     * first attempt, and clears it.  A run of many requests then writes
     * each body while the earlier ones are in flight, so the server is
     * never left waiting for the client to write them all. */
    pt_ddb_build_fn build;

    /* results, valid once done */
    int done;
    int rc;              /* PT_OK or a pt_error code */
    long status;         /* last HTTP status, 0 when none */
    char error_type[96]; /* DynamoDB __type without its namespace */
    char message[256];   /* the detail, for error messages */
    pt_buf response;

    /* engine state */
    unsigned int attempt;
    int64_t ready_at_us;
    int running;
} pt_ddb_request;

/** Called when a request finished (success or final error).  Return 1 to
 *  resubmit it (after rewriting its body; attempts restart): at once, or
 *  once pt__monotonic_us() reaches the `ready_at_us` the callback set; 0 to
 *  leave it done. */
typedef int (*pt_ddb_done_fn)(pt_ddb_request *req, void *userdata);

/** Run `n` requests with up to `parallel` in flight, until each is done
 *  (a request the run could not even prepare ends the run: those not
 *  started end with PT_EBACKEND, "not attempted").  Returns PT_OK when
 *  every request succeeded, else the rc of the first failed one (its
 *  detail is also pt_last_error()). */
int pt_ddb_run(pt_ddb_client *client, pt_ddb_request *const *reqs, size_t n,
               pt_ddb_done_fn on_done, void *userdata);

/** One request, synchronously.  `resp` receives the response body (the
 *  caller frees it).  On error pt_last_error() says "DynamoDB <op>: HTTP
 *  <status> <type>: <message>"; `error_type` (optional, 96 bytes) gets the
 *  type. */
int pt_ddb_call(pt_ddb_client *client, const char *op, const char *body,
                size_t len, pt_buf *resp, char *error_type);

/** Read a JSON error answer ("__type":
 *  "com.amazonaws.dynamodb.v20120810#ValidationException", "message" or
 *  "Message"): the type without its namespace into `type`, the message into
 *  `message`, each cut to its size, NUL-terminated and reduced to printable
 *  ASCII (other bytes become '?'), "" when absent.  Any body, JSON or not;
 *  no I/O (fuzzed: fuzz/fuzz_ddb_response.c). */
void pt__ddb_error_parse(const char *body, size_t len, char *type,
                         size_t type_size, char *message, size_t message_size);

/** Set the thread's last error from a finished request's outcome ("DynamoDB
 *  <op>: HTTP <status> <type>: <message>") and return its rc. */
int pt_ddb_request_error(const pt_ddb_request *req);

void pt_ddb_request_init(pt_ddb_request *req, const char *op);
/** Reset the results so the request can run again (keeps the body). */
void pt_ddb_request_reset(pt_ddb_request *req);
void pt_ddb_request_free(pt_ddb_request *req);

#endif
