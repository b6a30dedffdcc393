/*
 * Endpoint resolution and validation.  Plain HTTP is refused for anything
 * but loopback so that signed requests (and records) never cross a network
 * unencrypted; TLS peer and host verification are never switched off.
 */
#include "aws/ddb_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static const char *
env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return (v && *v) ? v : NULL;
}

static int
is_loopback_host(const char *host)
{
    struct in_addr a4;
    struct in6_addr a6;
    if (pt__strcasecmp(host, "localhost") == 0)
        return 1;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return 0;
}

/* Split "host[:port]" or "[v6][:port]" into the bare host. */
static int
authority_host(char *host, size_t size, const char *auth, size_t len)
{
    const char *end;
    if (len == 0)
        return -1;
    if (auth[0] == '[') {
        end = memchr(auth, ']', len);
        if (!end)
            return -1;
        if (end + 1 < auth + len && end[1] != ':')
            return -1;
        auth++;
    } else {
        end = memchr(auth, ':', len);
        if (!end)
            end = auth + len;
    }
    if ((size_t)(end - auth) == 0 || (size_t)(end - auth) >= size)
        return -1;
    memcpy(host, auth, (size_t)(end - auth));
    host[end - auth] = '\0';
    return 0;
}

static int
valid_port(const char *auth, size_t len)
{
    const char *colon = NULL;
    const char *p = auth[0] == '[' ? memchr(auth, ']', len) : auth;
    if (!p)
        return 0;
    colon = memchr(p, ':', len - (size_t)(p - auth));
    if (!colon)
        return 1;
    colon++;
    size_t n = len - (size_t)(colon - auth);
    if (n == 0 || n > 5 || strspn(colon, "0123456789") < n)
        return 0;
    return atoi(colon) > 0 && atoi(colon) < 65536;
}

int
pt_aws_endpoint_resolve(pt_aws_endpoint *out, const char *configured,
                        const char *region)
{
    const char *url = (configured && *configured) ? configured : NULL;
    const char *rest, *end;
    char host[256];
    size_t auth_len;
    int tls;

    memset(out, 0, sizeof(*out));
    if (!url)
        url = env_nonempty("AWS_ENDPOINT_URL_DYNAMODB");
    if (!url)
        url = env_nonempty("AWS_ENDPOINT_URL");
    if (!url) {
        if (!region || !*region)
            return pt__fail(PT_EINVAL, "no AWS region for the default "
                                       "DynamoDB endpoint");
        pt__snprintf(out->host, sizeof(out->host), "dynamodb.%s.amazonaws.com",
                     region);
        pt__snprintf(out->url, sizeof(out->url), "https://%s/", out->host);
        out->tls = 1;
        return PT_OK;
    }
    if (pt__strncasecmp(url, "https://", 8) == 0) {
        tls = 1;
        rest = url + 8;
    } else if (pt__strncasecmp(url, "http://", 7) == 0) {
        tls = 0;
        rest = url + 7;
    } else {
        return pt__fail(PT_EPOLICY,
                        "DynamoDB endpoint '%.200s' must start with https:// "
                        "(or http:// for a loopback address)",
                        url);
    }
    end = rest + strcspn(rest, "/?#");
    auth_len = (size_t)(end - rest);
    if ((*end && strcmp(end, "/") != 0) || memchr(rest, '@', auth_len) ||
        authority_host(host, sizeof(host), rest, auth_len) != 0 ||
        !valid_port(rest, auth_len) || auth_len >= sizeof(out->host))
        return pt__fail(PT_EPOLICY,
                        "DynamoDB endpoint '%.200s' is not a URL of the form "
                        "scheme://host[:port][/]",
                        url);
    if (!tls && !is_loopback_host(host))
        return pt__fail(PT_EPOLICY,
                        "DynamoDB endpoint '%.200s': plain http:// is only "
                        "allowed for loopback hosts (127.0.0.0/8, ::1, "
                        "localhost); use https://",
                        url);
    memcpy(out->host, rest, auth_len);
    out->host[auth_len] = '\0';
    pt__snprintf(out->url, sizeof(out->url), "%s://%s/", tls ? "https" : "http",
                 out->host);
    out->tls = tls;
    return PT_OK;
}
