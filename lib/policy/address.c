/*
 * Client addresses: parsing what peers and proxies send, truncation,
 * canonical text, CIDR lists, the trusted-proxy walk over
 * X-Forwarded-For, and keyed hashing.
 */
#include "policy/policy_internal.h"

#include <arpa/inet.h>
#include <sodium.h>
#include <stdatomic.h>
#include <string.h>

static const unsigned char mapped_prefix[12] = {0, 0, 0, 0, 0,    0,
                                                0, 0, 0, 0, 0xff, 0xff};

static int
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int
all_digits(const char *s, size_t n)
{
    if (n == 0 || n > 5)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
    }
    return 1;
}

/* Dotted-quad IPv4 exactly as inet_pton(AF_INET) accepts it (four
 * decimal octets, no leading zeros), without the copy it needs: this is
 * the common case on the request path. */
static int
parse_ipv4(unsigned char *out, const char *s, size_t n)
{
    unsigned int octets = 0, value = 0, digits = 0;
    for (size_t i = 0; i <= n; i++) {
        char c = i < n ? s[i] : '.';
        if (c >= '0' && c <= '9') {
            if (digits && value == 0)
                return -1; /* leading zero */
            value = value * 10 + (unsigned)(c - '0');
            if (value > 255 || ++digits > 3)
                return -1;
        } else if (c == '.' && digits && octets < 4) {
            out[octets++] = (unsigned char)value;
            value = digits = 0;
        } else {
            return -1;
        }
    }
    return octets == 4 ? 0 : -1;
}

static int
parse_plain(pt__addr *out, const char *s, size_t n)
{
    char buf[PT_ADDR_TEXT_MAX + 1];
    unsigned char bytes[16];

    if (n == 0 || n > PT_ADDR_TEXT_MAX)
        return -1;
    if (memchr(s, ':', n) == NULL) {
        memset(out->bytes, 0, sizeof(out->bytes));
        if (parse_ipv4(out->bytes, s, n) != 0)
            return -1;
        out->family = 4;
        return 0;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    if (inet_pton(AF_INET6, buf, bytes) != 1)
        return -1;
    if (memcmp(bytes, mapped_prefix, sizeof(mapped_prefix)) == 0) {
        out->family = 4;
        memset(out->bytes, 0, sizeof(out->bytes));
        memcpy(out->bytes, bytes + 12, 4);
        return 0;
    }
    out->family = 6;
    memcpy(out->bytes, bytes, 16);
    return 0;
}

int
pt__addr_parse(pt__addr *out, const char *s, size_t len)
{
    const char *end = s + len, *colon, *zone;
    unsigned char quad[4];

    /* The common case, a bare dotted quad, parses as itself. */
    if (len >= 7 && len <= 15 && parse_ipv4(quad, s, len) == 0) {
        memset(out->bytes, 0, sizeof(out->bytes));
        memcpy(out->bytes, quad, 4);
        out->family = 4;
        return 0;
    }
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (s < end && *s == '[') {
        /* "[v6]" or "[v6]:port" */
        const char *close = memchr(s, ']', (size_t)(end - s));
        if (!close)
            return -1;
        if (close + 1 != end &&
            !(close[1] == ':' &&
              all_digits(close + 2, (size_t)(end - close - 2))))
            return -1;
        s++;
        end = close;
    } else {
        /* "v4:port": exactly one colon after a dotted quad. */
        colon = memchr(s, ':', (size_t)(end - s));
        if (colon && !memchr(colon + 1, ':', (size_t)(end - colon - 1)) &&
            memchr(s, '.', (size_t)(colon - s))) {
            if (!all_digits(colon + 1, (size_t)(end - colon - 1)))
                return -1;
            end = colon;
        }
    }
    zone = memchr(s, '%', (size_t)(end - s));
    if (zone) {
        if (zone + 1 == end || !memchr(s, ':', (size_t)(zone - s)))
            return -1; /* a zone needs a name and an IPv6 address */
        end = zone;
    }
    return parse_plain(out, s, (size_t)(end - s));
}

void
pt__addr_truncate(pt__addr *addr, unsigned int prefix)
{
    unsigned int width = addr->family == 4 ? 32 : 128;
    unsigned int nbytes = width / 8;
    unsigned int first = prefix / 8;
    if (prefix >= width)
        return;
    if (prefix % 8) {
        addr->bytes[first] =
            (unsigned char)(addr->bytes[first] & (0xffu << (8 - prefix % 8)));
        first++;
    }
    for (unsigned int i = first; i < nbytes; i++)
        addr->bytes[i] = 0;
}

size_t
pt__addr_format(const pt__addr *addr, char *out)
{
    if (addr->family == 4) {
        char *o = out;
        for (int i = 0; i < 4; i++) {
            unsigned int v = addr->bytes[i];
            if (i)
                *o++ = '.';
            if (v >= 100)
                *o++ = (char)('0' + v / 100);
            if (v >= 10)
                *o++ = (char)('0' + v / 10 % 10);
            *o++ = (char)('0' + v % 10);
        }
        *o = '\0';
        return (size_t)(o - out);
    }
    if (!inet_ntop(addr->family == 4 ? AF_INET : AF_INET6, addr->bytes, out,
                   PT_ADDR_TEXT_MAX)) {
        out[0] = '\0';
        return 0;
    }
    return strlen(out);
}

int
pt__cidr_parse(pt__cidr *out, const char *s, size_t len, char *err,
               size_t errlen)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    unsigned int prefix = 0, width;
    pt__addr masked;
    char text[PT_ADDR_TEXT_MAX];
    int mapped;

    if (alen > PT_ADDR_TEXT_MAX || parse_plain(&out->addr, s, alen)) {
        pt__snprintf(err, errlen, "'%.*s' is not an IPv4 or IPv6 address",
                     (int)(alen > 46 ? 46 : alen), s);
        return -1;
    }
    /* An IPv4-mapped network is the IPv4 network it maps. */
    mapped = out->addr.family == 4 && memchr(s, ':', alen) != NULL;
    width = out->addr.family == 4 ? 32 : 128;
    if (!slash) {
        prefix = width;
    } else {
        const char *p = slash + 1, *end = s + len;
        if (p == end || end - p > 3)
            prefix = 999;
        for (; p < end && prefix != 999; p++)
            prefix = is_digit(*p) ? prefix * 10 + (unsigned)(*p - '0') : 999;
        if (mapped)
            prefix = prefix >= 96 && prefix <= 128 ? prefix - 96 : 999;
        if (prefix > width) {
            pt__snprintf(err, errlen, "bad prefix length in '%.*s' (0-%u)",
                         (int)(len > 60 ? 60 : len), s, width);
            return -1;
        }
    }
    masked = out->addr;
    pt__addr_truncate(&masked, prefix);
    if (memcmp(masked.bytes, out->addr.bytes, sizeof(masked.bytes)) != 0) {
        pt__addr_format(&masked, text);
        pt__snprintf(err, errlen,
                     "'%.*s' has bits set after the prefix (did you mean "
                     "%s/%u?)",
                     (int)(len > 60 ? 60 : len), s, text, prefix);
        return -1;
    }
    out->prefix = prefix;
    return 0;
}

int
pt__cidr_contains(const pt__cidr *cidr, const pt__addr *addr)
{
    pt__addr masked;
    if (cidr->addr.family != addr->family)
        return 0;
    masked = *addr;
    pt__addr_truncate(&masked, cidr->prefix);
    return memcmp(masked.bytes, cidr->addr.bytes, 16) == 0;
}

static int
trusted(const pt_policy *policy, const pt__addr *addr)
{
    for (size_t i = 0; i < policy->proxy_count; i++) {
        if (pt__cidr_contains(&policy->proxies[i], addr))
            return 1;
    }
    return 0;
}

/* Nothing but the blanks pt__addr_parse() skips. */
static int
blank(const char *s, const char *end)
{
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    return s == end;
}

/* More trusted hops than any real proxy chain: the header is not to be
 * believed, and walking it must not cost the request much. */
#define MAX_HOPS 64

/* Walk X-Forwarded-For headers from the right (the last header's last
 * entry is the one our trusted peer added).  Returns 1 with the client,
 * 0 when an entry does not parse (`why` says how), 2 when every entry was
 * trusted. */
static int
walk_xff(const pt_policy *policy, const pt_visit *visit, pt__addr *out,
         const char **raw, size_t *raw_len, unsigned int *invalid,
         const char **why)
{
    unsigned int hops = 0;
    for (size_t h = visit->header_count; h-- > 0;) {
        const pt_header *hd = &visit->headers[h];
        const char *v, *end;
        if (!hd->name || !hd->value ||
            pt__strcasecmp(hd->name, "X-Forwarded-For") != 0)
            continue;
        v = hd->value;
        end = v + strlen(v);
        /* Every entry, the leftmost and an empty header's one included:
         * "" and ",a" hold an empty entry as "a," does. */
        for (;;) {
            const char *comma = end;
            pt__addr addr;
            while (comma > v && comma[-1] != ',')
                comma--;
            *raw = comma;
            *raw_len = (size_t)(end - comma);
            if (pt__addr_parse(&addr, comma, (size_t)(end - comma)) != 0) {
                /* Nothing to the left can be believed.  An empty entry
                 * ("a, b," or "a,,b") is the usual way a header is broken:
                 * say so. */
                (*invalid)++;
                *why = blank(comma, end) ? "empty X-Forwarded-For entry "
                                           "from a trusted proxy"
                                         : "X-Forwarded-For entry from a "
                                           "trusted proxy is not an address";
                return 0;
            }
            *out = addr;
            if (!trusted(policy, &addr))
                return 1;
            if (++hops > MAX_HOPS) {
                (*invalid)++;
                *why = "more than 64 trusted proxies in X-Forwarded-For";
                return 0;
            }
            if (comma == v)
                break;
            end = comma - 1;
        }
    }
    return 2;
}

int
pt__client_addr(const pt_policy *policy, const pt_visit *visit, pt__addr *out,
                const char **raw, size_t *raw_len, unsigned int *invalid,
                const char **why)
{
    const char *peer = visit->remote_addr;
    size_t peer_len = peer ? strlen(peer) : 0;

    *raw = peer;
    *raw_len = peer_len;
    *why = NULL;
    if (!peer || peer_len == 0)
        return 0;
    if (pt__addr_parse(out, peer, peer_len) != 0) {
        (*invalid)++;
        *why = "remote_addr is not an address";
        return 0;
    }
    if (policy->proxy_count == 0 || !trusted(policy, out))
        return 1;
    /* The peer is a trusted proxy: the client is the rightmost forwarded
     * address that is not one (or the leftmost, when all are trusted). */
    return walk_xff(policy, visit, out, raw, raw_len, invalid, why) != 0;
}

_Static_assert(sizeof(crypto_generichash_state) <=
                   sizeof(((pt__ip_key *)0)->prepared),
               "pt__ip_key.prepared holds a crypto_generichash_state");

/* Digest length for `hash_bytes` kept: BLAKE2b's minimum is 16. */
static size_t
digest_len(unsigned int hash_bytes)
{
    return hash_bytes < crypto_generichash_BYTES_MIN
               ? crypto_generichash_BYTES_MIN
               : hash_bytes;
}

/* Never 0, never reused: a cache entry of a wiped key can never match a
 * later key. */
static _Atomic uint64_t next_key_id = 1;

void
pt__ip_key_prepare(pt__ip_key *key, unsigned int hash_bytes)
{
    crypto_generichash_state st;
    key->prepared_bytes = 0;
    key->id = 0;
    if (key->len < crypto_generichash_KEYBYTES_MIN ||
        key->len > crypto_generichash_KEYBYTES_MAX ||
        hash_bytes > crypto_generichash_BYTES_MAX ||
        crypto_generichash_init(&st, key->bytes, key->len,
                                digest_len(hash_bytes)) != 0)
        return;
    memcpy(key->prepared, &st, sizeof(st));
    key->prepared_bytes = (unsigned int)digest_len(hash_bytes);
    key->id = atomic_fetch_add(&next_key_id, 1);
    sodium_memzero(&st, sizeof(st));
}

/* BLAKE2b keyed with `key`: from the prepared state when it was made for
 * this digest length (the keyed init costs about a third of a call). */
static int
keyed_hash(unsigned char *digest, size_t out_len, const unsigned char *in,
           size_t in_len, const pt__ip_key *key)
{
    crypto_generichash_state st;
    int rc;
    if (key->prepared_bytes != out_len)
        return crypto_generichash(digest, out_len, in, in_len, key->bytes,
                                  key->len);
    memcpy(&st, key->prepared, sizeof(st));
    rc = crypto_generichash_update(&st, in, in_len) ||
         crypto_generichash_final(&st, digest, out_len);
    sodium_memzero(&st, sizeof(st));
    return rc;
}

int
pt__addr_hash(const pt__addr *addr, unsigned int prefix, const pt__ip_key *key,
              unsigned int hash_bytes, char *out)
{
    unsigned char input[18], digest[crypto_generichash_BYTES_MAX];
    size_t in_len = addr->family == 4 ? 4 : 16, len = digest_len(hash_bytes);
    int cached;

    if (!key || key->len < crypto_generichash_KEYBYTES_MIN ||
        hash_bytes > crypto_generichash_BYTES_MAX)
        return PT_ECRYPTO;
    /* Domain separation: the family and the prefix the address was cut to
     * are part of the input, so an IPv4 address never collides with an
     * IPv6 one of the same bytes, nor a /24 hash with a /32 one. */
    input[0] = (unsigned char)addr->family;
    input[1] = (unsigned char)prefix;
    memcpy(input + 2, addr->bytes, in_len);
    /* The cache only knows prepared keys (by their id) */
    cached = key->cache && key->id && key->prepared_bytes == len &&
             len <= PT__PSEUDONYM_CACHE_DIGEST;
    if (!cached || !pt__pseudonym_cache_get(key->cache, key->id, input,
                                            in_len + 2, digest, len)) {
        if (keyed_hash(digest, len, input, in_len + 2, key) != 0)
            return PT_ECRYPTO;
        if (cached)
            pt__pseudonym_cache_put(key->cache, key->id, input, in_len + 2,
                                    digest, len);
    }
    /* A pseudonym is not a secret to hide from timing: plain hex. */
    for (unsigned int i = 0; i < hash_bytes; i++) {
        out[2 * i] = "0123456789abcdef"[digest[i] >> 4];
        out[2 * i + 1] = "0123456789abcdef"[digest[i] & 15];
    }
    out[2 * hash_bytes] = '\0';
    sodium_memzero(digest, sizeof(digest));
    return PT_OK;
}
