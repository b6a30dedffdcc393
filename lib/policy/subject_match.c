/*
 * Data-subject requests: matching stored records (see subject_match.h).
 * Pure.
 */
#include "policy/subject_match.h"

#include "policy/policy_internal.h"

#include <sodium.h>
#include <string.h>

int
pt__subject_ip_init(pt__subject_ip *out, const pt_policy *policy,
                    const char *text)
{
    pt__addr addr, net;

    memset(out, 0, sizeof(*out));
    if (!text || pt__addr_parse(&addr, text, strlen(text)) != 0)
        return pt__fail(PT_EINVAL, "subject: the address given is not an "
                                   "IPv4 or IPv6 address");
    out->family = addr.family;
    memcpy(out->bytes, addr.bytes, sizeof(out->bytes));
    out->width = addr.family == 4 ? 32 : 128;
    out->prefix = addr.family == 4 ? policy->num[PT_K_IP_IPV4_PREFIX]
                                   : policy->num[PT_K_IP_IPV6_PREFIX];
    if (out->prefix > out->width)
        out->prefix = out->width;
    out->hash_bytes = policy->num[PT_K_IP_HASH_BYTES];
    pt__addr_format(&addr, out->address);
    net = addr;
    pt__addr_truncate(&net, out->prefix);
    pt__addr_format(&net, out->network);
    sodium_memzero(&addr, sizeof(addr));
    sodium_memzero(&net, sizeof(net));
    return PT_OK;
}

void
pt__subject_ip_wipe(pt__subject_ip *ip)
{
    sodium_memzero(ip, sizeof(*ip));
}

int
pt__subject_pseudonyms_of(const pt__subject_ip *ip, const pt__ip_key *key,
                          pt__subject_pseudonyms *out)
{
    pt__addr addr;
    int rc;

    memset(out, 0, sizeof(*out));
    addr.family = ip->family;
    memcpy(addr.bytes, ip->bytes, sizeof(addr.bytes));
    /* As apply.c: the whole address, domain-separated by its width... */
    rc = pt__addr_hash(&addr, ip->width, key, ip->hash_bytes, out->host);
    /* ...and, for truncate_before_hash, its network by the prefix. */
    if (rc == PT_OK && ip->prefix < ip->width) {
        pt__addr_truncate(&addr, ip->prefix);
        rc =
            pt__addr_hash(&addr, ip->prefix, key, ip->hash_bytes, out->network);
    }
    sodium_memzero(&addr, sizeof(addr));
    if (rc != PT_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

unsigned int
pt__subject_ip_match(const pt__subject_ip *ip, const pt__subject_pseudonyms *ps,
                     const char *stored)
{
    unsigned int how = 0;

    if (!stored || !*stored)
        return 0;
    if (strcmp(stored, ip->address) == 0)
        how |= PT_SUBJECT_MATCH_ADDRESS;
    if (strcmp(stored, ip->network) == 0)
        how |= PT_SUBJECT_MATCH_NETWORK;
    if (ps && ps->host[0] && strcmp(stored, ps->host) == 0)
        how |= PT_SUBJECT_MATCH_PSEUDONYM;
    if (ps && ps->network[0] && strcmp(stored, ps->network) == 0)
        how |= PT_SUBJECT_MATCH_NETWORK_PSEUDONYM;
    return how;
}

size_t
pt__subject_ua_family(const char *given, char *out)
{
    return pt__user_agent_family(given, strlen(given), out);
}

int
pt__subject_ua_match(const char *given, const char *family, const char *stored)
{
    char stored_family[PT_UA_FAMILY_MAX];

    if (!stored || !*stored)
        return 0;
    if (strcmp(stored, given) == 0 || strcmp(stored, family) == 0)
        return 1;
    pt__user_agent_family(stored, strlen(stored), stored_family);
    return strcmp(stored_family, family) == 0;
}
