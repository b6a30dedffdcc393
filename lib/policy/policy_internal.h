/*
 * The policy engine's private parts: the loaded policy's layout, the key
 * table, and the helpers apply.c is built from (addresses, user agents,
 * URLs, opt-out).  Only lib/policy/ and its tests include this file.
 */
#ifndef PT_POLICY_INTERNAL_H
#define PT_POLICY_INTERNAL_H

#include "policy/policy.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* ---- keys ---------------------------------------------------------------- */

/* Every key of policy.ini, in the order they are documented and hashed. */
typedef enum pt__key {
    PT_K_POLICY_NAME,
    PT_K_POLICY_DRY_RUN,
    PT_K_STORAGE_BACKEND,
    PT_K_STORAGE_PATH,
    PT_K_STORAGE_FSYNC,
    PT_K_STORAGE_TABLE,
    PT_K_STORAGE_REGION,
    PT_K_STORAGE_ENDPOINT,
    PT_K_STORAGE_CREATE_TABLE,
    PT_K_IP_MODE,
    PT_K_IP_IPV4_PREFIX,
    PT_K_IP_IPV6_PREFIX,
    PT_K_IP_TRUNCATE_BEFORE_HASH,
    PT_K_IP_KEY_FILE,
    PT_K_IP_HASH_BYTES,
    PT_K_IP_TRUSTED_PROXIES,
    PT_K_IP_ROTATE,
    PT_K_IP_KEY_GRACE_HOURS,
    PT_K_IP_KEY_STORE,
    PT_K_IP_KEY_DIR,
    PT_K_IP_KEY_WRAP_FILE,
    PT_K_OPTOUT_HONOR_DNT,
    PT_K_OPTOUT_HONOR_GPC,
    PT_K_OPTOUT_COOKIE,
    PT_K_OPTOUT_ACTION,
    PT_K_RETENTION_TTL_DAYS,
    PT_K_RETENTION_CLIENT_IP_DAYS,
    PT_K_RETENTION_USER_AGENT_DAYS,
    PT_K_RETENTION_LINKS_DAYS,
    PT_K_RETENTION_TITLES_DAYS,
    PT_K_RETENTION_FILENAMES_DAYS,
    PT_K_FIELDS_USER_AGENT,
    PT_K_FIELDS_MAX_USER_AGENT,
    PT_K_FIELDS_LINKS,
    PT_K_FIELDS_TITLES,
    PT_K_FIELDS_FILENAMES,
    PT_K_FIELDS_MAX_LINKS,
    PT_K_FIELDS_MAX_FILENAMES,
    PT_K_FIELDS_MAX_LINK_LENGTH,
    PT_K_FIELDS_MAX_FILENAME_LENGTH,
    PT_K_AUDIT_DRY_RUN,
    PT_K_AUDIT_OUTPUT,
    PT_K_AUDIT_SHOW_RAW,
    PT_K_NOTICE_CONTROLLER,
    PT_K_NOTICE_CONTACT,
    PT_K_NOTICE_PURPOSE,
    PT_K_NOTICE_URL,
    PT_K_REPORT_MIN_GROUP,
    PT_K__COUNT
} pt__key;

/* [notice] purpose when the file does not say. */
#define PT_NOTICE_DEFAULT_PURPOSE "audience measurement of the site"

/* Enumerated values: the numbers are indexes into the key's name list. */
enum { PT_FSYNC_ALWAYS, PT_FSYNC_BATCH, PT_FSYNC_NEVER };
enum { PT_IP_KEEP, PT_IP_TRUNCATE, PT_IP_HASH, PT_IP_DROP };
/* [ip] rotate's indexes are pt_rotation's values (privtrack.h); [ip]
 * key_store's are PT_KEY_STORE_* (policy.h). */
enum { PT_OPTOUT_DROP, PT_OPTOUT_ANONYMOUS };
enum { PT_UA_KEEP, PT_UA_FAMILY, PT_UA_DROP };
enum { PT_LINKS_KEEP, PT_LINKS_STRIP_QUERY, PT_LINKS_ORIGIN, PT_LINKS_DROP };
enum { PT_LIST_KEEP, PT_LIST_DROP };

/* ---- addresses ----------------------------------------------------------- */

/** A parsed address: family 4 or 6, network byte order.  IPv4-mapped IPv6
 *  addresses are stored as IPv4. */
typedef struct pt__addr {
    int family;
    unsigned char bytes[16];
} pt__addr;

typedef struct pt__cidr {
    pt__addr addr;
    unsigned int prefix;
} pt__cidr;

#define PT_ADDR_TEXT_MAX 46 /* INET6_ADDRSTRLEN */

/** Parse an address as it appears in a peer address or an X-Forwarded-For
 *  entry: surrounding blanks, "[v6]", "[v6]:port", "v4:port" and "%zone"
 *  are accepted and stripped.  Returns 0 on success, -1 when it does not
 *  parse (nothing else is set). */
int pt__addr_parse(pt__addr *out, const char *s, size_t len);

/** Keep the first `prefix` bits (clamped to the family's width). */
void pt__addr_truncate(pt__addr *addr, unsigned int prefix);

/** Canonical text (inet_ntop); `out` has PT_ADDR_TEXT_MAX bytes.  Returns
 *  the length. */
size_t pt__addr_format(const pt__addr *addr, char *out);

/** Parse "addr" or "addr/prefix".  Host bits beyond the prefix are an
 *  error.  On failure writes a message (never longer than `errlen`). */
int pt__cidr_parse(pt__cidr *out, const char *s, size_t len, char *err,
                   size_t errlen);

/** Non-zero when `addr` is inside `cidr`. */
int pt__cidr_contains(const pt__cidr *cidr, const pt__addr *addr);

/* ---- the loaded policy --------------------------------------------------- */

struct pt_policy {
    atomic_uint refs;
    char id[96];
    char *text[PT_K__COUNT];        /* effective value of each key, as text */
    unsigned int num[PT_K__COUNT];  /* booleans, numbers, enum indexes */
    unsigned char set[PT_K__COUNT]; /* the file set this key */
    unsigned int line[PT_K__COUNT]; /* the line that set it (0: default) */
    char *source;                   /* the file (or name) it was loaded from */
    pt__cidr *proxies;              /* [ip] trusted_proxies */
    size_t proxy_count, proxy_cap;
    const char *cookie_name;  /* [optout] cookie, split at '=' (points */
    size_t cookie_name_len;   /* into text[PT_K_OPTOUT_COOKIE]); */
    const char *cookie_value; /* NULL when no cookie is configured */
    size_t cookie_value_len;
};

/** Section and key names of a key (for messages and pt_policy_get). */
const char *pt__key_section(pt__key key);
const char *pt__key_name(pt__key key);
/** The name of value `value` of an enum key ("strip_query" for
 *  PT_K_FIELDS_LINKS, PT_LINKS_STRIP_QUERY): the key table's own, which
 *  the policy file is parsed with.  NULL for another key or value. */
const char *pt__key_value_name(pt__key key, unsigned int value);

/** Look a key up; -1 when unknown. */
int pt__key_find(const char *section, const char *name);

/** Non-zero when `section` is a known section name. */
int pt__section_known(const char *section);

/** Non-zero when the key takes indented continuation lines (lists). */
int pt__key_is_list(pt__key key);

/** Validate and store one value into `policy` (text, num and the derived
 *  fields).  For list keys, `append` adds to an earlier value.  On error
 *  writes a message into `err` and returns -1. */
int pt__key_set(pt_policy *policy, pt__key key, const char *value, int append,
                char *err, size_t errlen);

/** Fill in defaults for every key the file did not set, derive the
 *  parsed forms, and compute the id.  `source_name` gives the id's name
 *  when [policy] name is not set.  Returns PT_OK or PT_ENOMEM. */
int pt__policy_finish(pt_policy *policy, const char *source_name);

/** Free the policy's contents and the policy. */
void pt__policy_destroy(pt_policy *policy);

/* ---- visits -------------------------------------------------------------- */

/** The headers apply.c looks at, found in one pass.  Pointers borrow from
 *  the visit. */
typedef struct pt__visit_headers {
    const char *user_agent;
    int dnt;    /* DNT: 1 */
    int gpc;    /* Sec-GPC: 1 */
    int cookie; /* the opt-out cookie is present */
} pt__visit_headers;

/** Scan the headers once (names case-insensitive) for the opt-out signals
 *  and the user agent. */
void pt__scan_headers(const pt_policy *policy, const pt_visit *visit,
                      pt__visit_headers *out);

/** Non-zero when the Cookie header value `header` contains exactly the
 *  cookie `name`=`value` (RFC 6265 "a=b; c=d", optional quotes). */
int pt__cookie_has(const char *header, const char *name, size_t name_len,
                   const char *value, size_t value_len);

/** Choose the client address: the peer, or, when the peer is a trusted
 *  proxy, the rightmost X-Forwarded-For entry that is not one.  Returns 1
 *  when found, 0 when absent, and counts unparseable addresses in
 *  *invalid.  `raw`/`raw_len` receive the chosen address's raw text (for
 *  the audit's length and show_raw).  When an address was given but none
 *  is usable, `*why` says why in a few static words that never hold the
 *  address (the audit's rule); otherwise it is NULL. */
int pt__client_addr(const pt_policy *policy, const pt_visit *visit,
                    pt__addr *out, const char **raw, size_t *raw_len,
                    unsigned int *invalid, const char **why);

/** Keyed BLAKE2b of the address (domain-separated by family and prefix),
 *  as lowercase hex of `hash_bytes` bytes into `out` (65 bytes). */
int pt__addr_hash(const pt__addr *addr, unsigned int prefix,
                  const pt__ip_key *key, unsigned int hash_bytes, char *out);

#define PT_UA_FAMILY_MAX 48

/** The browser family and OS of a user agent, e.g. "Firefox/Linux",
 *  "curl/Other"; "Other/Other" when unknown.  Writes at most
 *  PT_UA_FAMILY_MAX bytes (NUL included) to `out`; returns the length. */
size_t pt__user_agent_family(const char *ua, size_t len, char *out);

/* A per-thread cache of pt__user_agent_family() results (ua_cache.c). */
#define PT_UA_CACHE_ENTRIES 128 /* direct-mapped */
#define PT_UA_CACHE_MAX_LEN 384 /* longer user agents are not cached */

typedef struct pt__ua_cache pt__ua_cache;

/** An empty cache (about 55 KiB), or NULL when out of memory.  Owned by
 *  the caller; use from one thread at a time. */
pt__ua_cache *pt__ua_cache_new(void);

/** Free a cache; NULL is a no-op. */
void pt__ua_cache_free(pt__ua_cache *cache);

/** Hits and misses so far (for tests). */
void pt__ua_cache_stats(const pt__ua_cache *cache, uint64_t *hits,
                        uint64_t *misses);

/** pt__user_agent_family() through `cache` (NULL: no cache): the same
 *  result, from the cache when this exact string was seen recently.
 *  Strings longer than PT_UA_CACHE_MAX_LEN are classified uncached. */
size_t pt__user_agent_family_cached(pt__ua_cache *cache, const char *ua,
                                    size_t len, char *out);

#define PT_URL_CREDENTIALS 1 /* user:pass@ was removed */
#define PT_URL_REDUCED     2 /* the mode removed query, fragment or path */

/** Minimise one URL into `b` (credentials always removed; then keep,
 *  strip_query or origin).  Returns what changed (PT_URL_* flags, 0 for
 *  nothing), or -1 when nothing is left (the origin of something that is
 *  not a URL). */
int pt__url_minimise(pt_buf *b, const char *url, size_t len, int mode);

/** The base name of a path (after the last '/' or '\\'). */
const char *pt__base_name(const char *path, size_t len, size_t *out_len);

/** The title of a base name: without its last extension; dotfiles and
 *  names without an extension stay whole.  Returns the title's length. */
size_t pt__title_len(const char *base, size_t len);

/** "<unix seconds>-<8 lowercase hex>" into `out` (24 bytes). */
void pt__session_id(char *out, int64_t seconds);

/** Append `len` bytes to `b` as valid UTF-8 of at most `cap` bytes (0: no
 *  cap), cut at a character boundary.  Returns PT_CH_* flags. */
#define PT_CH_UTF8 1 /* invalid UTF-8 was replaced */
#define PT_CH_CUT  2 /* cut to its maximum length */
int pt__put_text(pt_buf *b, const char *s, size_t len, size_t cap);

/** The same for text already appended to `b` from `start` on: made valid
 *  UTF-8 of at most `cap` bytes in place (`tmp` is scratch for the rare
 *  repair).  Saves a copy when the text was built in `b`.  Returns
 *  PT_CH_* flags. */
int pt__fix_text(pt_buf *b, size_t start, size_t cap, pt_buf *tmp);

/* ---- audit lines --------------------------------------------------------- */

typedef struct pt__audit {
    pt_buf *b; /* NULL: no audit */
    int show_raw;
    int changes;
} pt__audit;

/** A comma-separated list of the rules that fired, e.g.
 *  "fields.links=strip_query,fields.max_links=100". */
typedef struct pt__rules {
    char text[256];
    size_t len;
} pt__rules;

/* Not "= {0}": clearing 256 bytes per field shows in the profile. */
#define PT_RULES_INIT(r) ((r).len = 0, (r).text[0] = '\0')

void pt__rule_add(pt__rules *r, const char *fmt, ...) PT__PRINTF(2, 3);

/** Open a change entry: {"field":..., "rule":... */
void pt__audit_change(pt__audit *a, const char *field, const char *rule);
/** "before" of a value shown raw only with show_raw (else kind, length). */
void pt__audit_before_hidden(pt__audit *a, const char *kind, const char *raw,
                             size_t len);
/** "before" of a list: raw with show_raw, else its count. */
void pt__audit_before_list(pt__audit *a, const char *const *raw, size_t count);
/** "after" (a string or null) and the entry's closing brace. */
void pt__audit_after_string(pt__audit *a, const char *s);
/** "after" of a list: `count` NUL-terminated items at `offsets[first..]`
 *  in `text`, or null when `offsets` is NULL; closes the entry. */
void pt__audit_after_list(pt__audit *a, const pt_buf *text,
                          const size_t *offsets, size_t first, size_t count);

#endif
