/*
 * AWS Signature Version 4 (header variant), with OpenSSL's EVP/HMAC.
 */
#ifndef PT_AWS_SIGV4_H
#define PT_AWS_SIGV4_H

#include "common/common.h"

typedef struct pt_aws_credentials {
    char *access_key_id;
    char *secret_access_key; /* wiped on free; never logged */
    char *session_token;     /* NULL when not session credentials */
    char source[128];        /* where they came from, e.g. "environment" or
                                "shared credentials file ~/.aws/credentials,
                                profile default" (no secrets) */
} pt_aws_credentials;

/** The SDKs' chain: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY /
 *  AWS_SESSION_TOKEN, then the shared credentials file
 *  (AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials) for AWS_PROFILE (or
 *  "default").  PT_ECREDENTIALS with a detail naming what was looked for. */
int pt_aws_credentials_load(pt_aws_credentials *out);
void pt_aws_credentials_free(pt_aws_credentials *creds);

/** Region: `configured` when not NULL/empty, else AWS_REGION, else
 *  AWS_DEFAULT_REGION, else the profile's `region` in AWS_CONFIG_FILE or
 *  ~/.aws/config ("[profile NAME]" or "[default]").  Writes into `out`. */
int pt_aws_region_resolve(char *out, size_t size, const char *configured);

typedef struct pt_sigv4_header {
    const char *name;
    const char *value;
} pt_sigv4_header;

typedef struct pt_sigv4_request {
    const char *method;             /* "POST" */
    const char *path;               /* "/" (may contain a query after '?') */
    const pt_sigv4_header *headers; /* must include Host and X-Amz-Date */
    size_t header_count;
    const unsigned char *body;
    size_t body_len;
    const char *region;
    const char *service;  /* "dynamodb" */
    const char *amz_date; /* "20150830T123600Z" */
} pt_sigv4_request;

typedef struct pt_sigv4_result {
    pt_buf canonical_request;
    pt_buf string_to_sign;
    char signature[65];   /* lowercase hex */
    pt_buf authorization; /* the Authorization header's value */
} pt_sigv4_result;

/** Sign a request.  Fills every part of `out` (so tests can compare the
 *  canonical request and the string to sign byte for byte).  Free with
 *  pt_sigv4_result_free(). */
int pt_sigv4_sign(pt_sigv4_result *out, const pt_sigv4_request *req,
                  const pt_aws_credentials *creds);
void pt_sigv4_result_free(pt_sigv4_result *r);

/** Lowercase hex SHA-256 of data into out[65]. */
void pt_sha256_hex(char out[65], const void *data, size_t len);

/* ---- additions (aws layer) ---------------------------------------------- */

typedef struct pt_sigv4_options {
    int normalize_path;     /* 1 (default): remove ".", ".." and empty
                               segments, as for every service but S3 */
    int sign_session_token; /* 1 (default): add creds->session_token as a
                               signed X-Amz-Security-Token header (unless the
                               request already carries one) */
    const unsigned char *signing_key; /* NULL: derive; else the 32-byte key
                                         from pt_sigv4_derive_key() for the
                                         same date, region and service */
} pt_sigv4_options;

/** Defaults: normalise, sign the session token, derive the key. */
void pt_sigv4_options_init(pt_sigv4_options *opts);

/** pt_sigv4_sign() with options.  On failure `out` holds nothing to free. */
int pt_sigv4_sign_ex(pt_sigv4_result *out, const pt_sigv4_request *req,
                     const pt_aws_credentials *creds,
                     const pt_sigv4_options *opts);

/** The derived signing key kSigning for `date8` ("YYYYMMDD"), region and
 *  service, so a client can cache it for the day.  The caller wipes it. */
int pt_sigv4_derive_key(unsigned char out[32], const pt_aws_credentials *creds,
                        const char *date8, const char *region,
                        const char *service);

#endif
