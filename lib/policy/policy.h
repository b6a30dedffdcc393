/*
 * The policy engine, internal interface.  The public half (loading, ids,
 * pt_policy_get) is in privtrack.h.
 */
#ifndef PT_POLICY_H
#define PT_POLICY_H

#include "common/common.h"

/* [ip] key_store: where rotating keys live. */
enum { PT_KEY_STORE_AUTO, PT_KEY_STORE_FILE, PT_KEY_STORE_BACKEND };

/* Why a visit has no key to be hashed with (pt__ip_key.missing). */
enum {
    PT__KEY_PRESENT = 0,
    PT__KEY_EXPIRED = 1,    /* its period's key was destroyed (or is due) */
    PT__KEY_UNAVAILABLE = 2 /* its period's key could not be had */
};

/** The secret key used for keyed hashing of addresses. */
typedef struct pt__ip_key {
    unsigned char bytes[64];
    size_t len;    /* 0: no key (only valid when [ip] mode is not hash, or
                      with `missing` set) */
    int ephemeral; /* 1: random, in memory only (dry-run without a key) */
    int missing;   /* PT__KEY_EXPIRED / PT__KEY_UNAVAILABLE: no key for the
                      visit's period; client_ip is left out, never stored
                      raw or hashed with another key */
    /* BLAKE2b state with the key already absorbed, for digests of
     * `prepared_bytes` bytes (0: none; pt__addr_hash then starts from the
     * key).  As secret as the key, and wiped with it. */
    unsigned int prepared_bytes;
    unsigned char prepared[384]; /* a crypto_generichash_state */
    /* Set by pt__ip_key_prepare(), never reused by another key (0: none):
     * what the pseudonym cache knows the key by.  Copies of a prepared key
     * share it, and give the same digests. */
    uint64_t id;
    /* The pseudonyms of recent addresses, or NULL.  Not owned: the key's
     * holder (the tracker, its table of keys) attaches, wipes and frees
     * it; a copy of the key that may outlive the holder must clear it. */
    struct pt__pseudonym_cache *cache;
} pt__ip_key;

/** Find the hash key the policy asks for: `key_file`, else the environment
 *  variable PRIVTRACK_IP_KEY (hex, 32-128 hex digits), else
 * `<store_dir>/ip.key`. When that file does not exist and `create` is non-zero,
 * a random 32-byte key is written there with mode 0600 (directory created
 * 0700).  When `create` is zero and no key exists, an ephemeral key is
 * generated and key->ephemeral set (dry-run must not touch the disk).  A key
 * file that is readable or writable by group or others is refused (PT_EPOLICY,
 * detail names the file, never the key).  When [ip] mode is not hash, succeeds
 *  with key->len == 0 without touching anything. */
int pt__ip_key_load(pt__ip_key *key, const pt_policy *policy,
                    const char *store_dir, int create);

/** Absorb the key into a BLAKE2b state once, for digests of `hash_bytes`
 *  bytes, so that each pt__addr_hash() starts from a copy of it instead of
 *  from the key (pt__ip_key_load() does this for the policy's hash_bytes).
 *  The digests are the same either way.  Not thread-safe on `key`: call it
 *  before the key is shared. */
void pt__ip_key_prepare(pt__ip_key *key, unsigned int hash_bytes);

/** Wipe a key (sodium_memzero). */
void pt__ip_key_wipe(pt__ip_key *key);

/* ---- the pseudonym cache (pseudonym_cache.c) ------------------------------
 *
 * Real traffic repeats addresses (and a /24 prefix far more so), and the
 * keyed BLAKE2b of pt__addr_hash() was the largest single cost of a visit
 * with the default policy (a quarter of `privtrack record`'s reading
 * thread).  A cache of digests, shared by the threads that hash with the
 * keys of one holder (a tracker's key, or its table of rotating keys),
 * gives the same digest without the hash.  Each entry holds the hash's
 * input (the address as hashed: its network when the policy truncates
 * before hashing, else the whole address) and its digest, and the cache
 * lives where the keys live:
 * locked in memory and out of core dumps (sodium_malloc), wiped when a
 * table of keys is replaced (after its readers drained, so no entry of a
 * destroyed key outlives it) and when it is freed.  Entries are tagged
 * with the key's id, the family, the prefix and the digest length, so a
 * hit is the digest a hash would give. */
typedef struct pt__pseudonym_cache pt__pseudonym_cache;

/** A zeroed cache (sodium_malloc), or NULL when out of memory. */
pt__pseudonym_cache *pt__pseudonym_cache_new(void);

/** Wipe every entry.  Safe while other threads look up and insert (an
 *  entry being written at the time may stay: call it once no thread uses
 *  the keys whose entries must go). */
void pt__pseudonym_cache_wipe(pt__pseudonym_cache *cache);

/** Wipe and free; NULL is a no-op.  No thread may be using it. */
void pt__pseudonym_cache_free(pt__pseudonym_cache *cache);

/** The digest of `input` (the hash's input: family, prefix, address
 *  bytes; at most 18 bytes) under key `key_id`, `len` bytes (at most 16),
 *  into `digest`: 1 when cached, 0 when not.  Thread-safe. */
int pt__pseudonym_cache_get(pt__pseudonym_cache *cache, uint64_t key_id,
                            const unsigned char *input, size_t input_len,
                            unsigned char *digest, size_t len);

/** Remember a digest (same arguments); may be skipped when another thread
 *  writes the same entry at the time.  Thread-safe. */
void pt__pseudonym_cache_put(pt__pseudonym_cache *cache, uint64_t key_id,
                             const unsigned char *input, size_t input_len,
                             const unsigned char *digest, size_t len);

/** The largest digest the cache holds. */
#define PT__PSEUDONYM_CACHE_DIGEST 16

/** The keys passed to pt__policy_apply() for a visit whose period has no
 *  key: its key was destroyed, or could not be had.  Static. */
extern const pt__ip_key pt__ip_key_expired;
extern const pt__ip_key pt__ip_key_unavailable;

/** The outcome of applying the policy to one visit. */
typedef struct pt__apply_result {
    pt_drop_reason dropped; /* PT_DROP_NONE when a record was produced */
    pt_record *record;      /* one allocation (pt__record_free), or NULL */
    unsigned int invalid_addresses; /* addresses that did not parse */
    int key_missing; /* PT__KEY_EXPIRED / PT__KEY_UNAVAILABLE: an address
                        was left out for want of its period's key */
} pt__apply_result;

/** Apply the policy: opt-out decision, client address (trusted proxies,
 *  X-Forwarded-For), ip mode, user agent, links, file names and titles,
 *  caps, UTF-8 sanitising, ttl, session id and policy id.
 *
 *  `now_us` is the current time, used when visit->time_us is 0; the ttl
 *  and the session id count from the visit's time.  When `audit` is not
 *  NULL, exactly one audit line (a JSON object, no newline) is appended to
 *  it: {"decision":"stored"|"dropped", "reason" (dropped) or "optout"
 *  (anonymised), "policy", "ephemeral_key":true (hashing with a throwaway
 *  key), "changes":[{"field","rule","before","after"}...], "record":{...}
 *  or null} — only changed fields are listed, "rule" names the rules that
 *  changed them, and "before" never shows a raw address or user agent
 *  unless [audit] show_raw = true (it shows {"kind":..., "length":N}
 *  instead; lists show {"count":N}).
 *
 *  Returns PT_OK when a record was produced or the visit was dropped by
 *  opt-out (result->dropped).  PT_EINVAL with result->dropped =
 *  PT_DROP_INVALID for an unusable visit (a count without its array, a
 *  time outside 1970-9999); PT_ECRYPTO when [ip] mode = hash and `key`
 *  holds no key; PT_ENOMEM.  On failure no record and no audit line.
 *
 *  Thread-safe: the policy and key are read-only; the scratch memory is
 *  per thread (freed when the thread exits). */
int pt__policy_apply(const pt_policy *policy, const pt__ip_key *key,
                     const pt_visit *visit, int64_t now_us,
                     pt__apply_result *result, pt_buf *audit);

/** Typed accessors used by the tracker and the CLI. */
int pt__policy_dry_run(const pt_policy *policy);
/** [audit] output: "-" or "stderr" or a path; never NULL. */
const char *pt__policy_audit_output(const pt_policy *policy);
/** [storage] backend name; never NULL ("file" by default). */
const char *pt__policy_backend(const pt_policy *policy);
/** [storage] path; never NULL ("./var" by default). */
const char *pt__policy_storage_path(const pt_policy *policy);
/** [retention] ttl_days (0: none). */
unsigned int pt__policy_ttl_days(const pt_policy *policy);
/** [ip] key_grace_hours. */
unsigned int pt__policy_key_grace_hours(const pt_policy *policy);
/** Where rotating keys live: PT_KEY_STORE_FILE or PT_KEY_STORE_BACKEND
 *  (auto resolved: the backend for dynamodb, files otherwise). */
int pt__policy_key_store(const pt_policy *policy);
/** [ip] key_dir, or NULL for the default (<storage path>/keys). */
const char *pt__policy_key_dir(const pt_policy *policy);
/** [ip] key_wrap_file, or NULL when not set. */
const char *pt__policy_key_wrap_file(const pt_policy *policy);

/** Take another reference (the tracker's). */
pt_policy *pt__policy_ref(const pt_policy *policy);

#endif
