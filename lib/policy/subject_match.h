/*
 * Data-subject requests: is a stored record this person's?  Pure: no I/O,
 * no clock, no key lookup (the caller hands the key of each date).
 *
 * A record's client_ip is whatever the policy of its day made of the
 * address: the address itself (keep), its network (truncate), a keyed
 * pseudonym of the address or of its network (hash, with or without
 * truncate_before_hash), or nothing (drop, or no key).  The stored text
 * alone says which: an address parses as one, a pseudonym is hex.  So the
 * candidates for one person are computed once (the address and its network
 * under the current policy's prefixes) and per date (the two pseudonyms
 * under that date's key), and a record matches when its stored value
 * equals one of them.  How it matched is reported, because a network (or
 * a network's pseudonym) may be shared with other people.
 */
#ifndef PT_POLICY_SUBJECT_MATCH_H
#define PT_POLICY_SUBJECT_MATCH_H

#include "common/common.h"
#include "policy/policy.h"

/* Longest pseudonym: 64 bytes as hex, and its NUL. */
#define PT__PSEUDONYM_MAX    129
#define PT__SUBJECT_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/** The person's address and what the policy would store of it.  Holds the
 *  address: wipe it (pt__subject_ip_wipe) when done. */
typedef struct pt__subject_ip {
    int family; /* 4 or 6 */
    unsigned char bytes[16];
    unsigned int width;                 /* 32 or 128 */
    unsigned int prefix;                /* [ip] ipv4_prefix / ipv6_prefix */
    unsigned int hash_bytes;            /* [ip] hash_bytes */
    char address[PT__SUBJECT_TEXT_MAX]; /* canonical text */
    char network[PT__SUBJECT_TEXT_MAX]; /* truncated to `prefix` */
} pt__subject_ip;

/** The person's pseudonyms under one key. */
typedef struct pt__subject_pseudonyms {
    char host[PT__PSEUDONYM_MAX];    /* hash of the whole address */
    char network[PT__PSEUDONYM_MAX]; /* hash of its network ("" when the
                                        prefix is the whole width) */
} pt__subject_pseudonyms;

/** Parse the address as the tracker does for a visit (blanks, brackets,
 *  ports and zones stripped) and derive its forms under `policy`.
 *  PT_EINVAL when it is not an address: the message never quotes it. */
int pt__subject_ip_init(pt__subject_ip *out, const pt_policy *policy,
                        const char *text);

void pt__subject_ip_wipe(pt__subject_ip *ip);

/** The pseudonyms of the address under `key`.  PT_ECRYPTO without a
 *  usable key. */
int pt__subject_pseudonyms_of(const pt__subject_ip *ip, const pt__ip_key *key,
                              pt__subject_pseudonyms *out);

/** How a stored client_ip matches the person: PT_SUBJECT_MATCH_* bits of
 *  privtrack.h (ADDRESS, NETWORK, PSEUDONYM, NETWORK_PSEUDONYM), 0 for
 *  none.  `ps` may be NULL (no key for the record's date): pseudonyms then
 *  never match.  A kept address that is its own network (203.0.113.0 with
 *  /24) matches as ADDRESS | NETWORK: others on it look the same. */
unsigned int pt__subject_ip_match(const pt__subject_ip *ip,
                                  const pt__subject_pseudonyms *ps,
                                  const char *stored);

/** Non-zero when a stored user agent fits the given one: equal, or the
 *  same browser family (the stored value may be kept whole, cut, or
 *  reduced to a family).  `family` is pt__user_agent_family(given).  A
 *  record without a user agent never fits. */
int pt__subject_ua_match(const char *given, const char *family,
                         const char *stored);

/** The family of a user agent given by the person (PT_UA_FAMILY_MAX). */
size_t pt__subject_ua_family(const char *given, char *out);

#endif
