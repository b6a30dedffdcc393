/*
 * A fault-injecting DynamoDB-like HTTP server for tests: 127.0.0.1 on an
 * ephemeral port, one thread per connection; it checks each request's
 * protocol headers and SigV4 signature (credentials AKIDTEST /
 * secret/TEST, region eu-west-3) and answers as `fault` says for the first
 * `faulty` requests (-1: all), normally otherwise.
 */
#ifndef PT_TEST_AWS_FAULT_SERVER_H
#define PT_TEST_AWS_FAULT_SERVER_H

#include "aws/ddb_client.h"

#include <pthread.h>

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
    FAULT_BODY,        /* 200 with srv.body (valid CRC) */
    FAULT_UNPROCESSED, /* BatchWriteItem: the first item comes back in
                          UnprocessedItems (other requests: answered) */
    FAULT_CONDITIONAL, /* 400 ConditionalCheckFailedException */
    FAULT_DECIDE,      /* srv.decide() chooses, request by request */
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
    const char *body; /* FAULT_BODY answer */
    int tokens_seen;  /* requests carrying X-Amz-Security-Token */
    /* FAULT_DECIDE: given the request's X-Amz-Target ("PutItem", ...) and
     * body, return the fault to answer it with (FAULT_OK: answered). */
    enum fault (*decide)(const char *op, const char *body, size_t len);
} server;

extern server srv;
extern const char ok_body[];

/* cmocka group setup/teardown signatures */
int server_start(void **state);
int server_stop(void **state);
void set_fault(enum fault f, int count);
int requests_seen(void);

#endif
