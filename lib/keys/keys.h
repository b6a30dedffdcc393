/*
 * Rotating pseudonym keys: one key per period ([ip] rotate), shared through
 * a key store (storage/key_store.h), destroyed once the period plus
 * [ip] key_grace_hours has passed.
 *
 * The manager (pt__keys) owns the key store, the wrapping key and the
 * table of live keys.  The table is an immutable snapshot (pt__key_ring)
 * swapped atomically; pt_track() reads it without a lock inside a read
 * section (pt__keys_enter/leave, a sleepable-RCU scheme: two counters per
 * slot and an epoch), and a snapshot — with the keys in it — is wiped and
 * freed only once no reader can still hold it.  Creating, fetching and
 * destroying keys happen in pt__keys_refresh(), on the manager's own thread
 * (or the caller's, for administration), never on the request path.
 *
 * Time: every function takes `now_us` from its caller (the tracker's
 * clock), so that tests can move across period boundaries.
 */
#ifndef PT_KEYS_H
#define PT_KEYS_H

#include "common/period.h"
#include "policy/policy.h"
#include "storage/key_store.h"

#include <pthread.h>
#include <stdatomic.h>

/* The next period's key is fetched this long before its start. */
#define PT__KEY_LOOKAHEAD_US PT__HOUR_US
/* A key is created only while at least this much of its life is left, so
 * that a host whose clock is behind does not make a new key for a period
 * another host has just destroyed (clocks must agree within it). */
#define PT__KEY_CREATE_MARGIN_US PT__HOUR_US

/* ---- wrapping (key_wrap.c) ------------------------------------------------
 */

/** The 32-byte wrapping key: [ip] key_wrap_file, else PRIVTRACK_KEY_WRAP
 *  (64 hex digits).  Allocated locked and guarded (sodium_malloc). */
typedef struct pt__wrap_key pt__wrap_key;

/** Load the wrapping key the policy asks for; *out is NULL when none is
 *  configured.  PT_EPOLICY / PT_EACCESS for a bad or unsafe one (the
 *  message names the file or variable, never the key). */
int pt__wrap_key_load(pt__wrap_key **out, const pt_policy *policy);

void pt__wrap_key_free(pt__wrap_key *wrap);

/** Encrypt `key` (PT__KEY_BYTES) into rec->blob with XChaCha20-Poly1305,
 *  the period's name (rec->name) as associated data; or store it as it is
 *  when `wrap` is NULL. */
void pt__key_wrap(const pt__wrap_key *wrap, const unsigned char *key,
                  pt__key_record *rec);

/** The reverse: PT_ECRYPTO when the record does not open with `wrap` (a
 *  wrong wrapping key, or a record moved to another period's name);
 *  PT_EPOLICY when it is wrapped and no wrapping key is configured. */
int pt__key_unwrap(const pt__wrap_key *wrap, const pt__key_record *rec,
                   const char *where, unsigned char *key);

/* ---- the table of live keys (key_ring.c) ----------------------------------
 */

typedef struct pt__key_entry {
    pt__period period;
    pt__ip_key key;  /* prepared for the policy's hash_bytes */
    int64_t created; /* Unix seconds; 0: ephemeral */
    int wrapped;
} pt__key_entry;

/** An immutable snapshot, entries sorted by period start. */
typedef struct pt__key_ring {
    size_t count;
    int locked; /* its pages are locked in memory (sodium_malloc) */
    int64_t destroyed_before_us;
    pt__key_entry entries[];
} pt__key_ring;

/** A ring of `count` entries (zeroed, count set), on guarded pages of its
 *  own (sodium_malloc), locked in memory where the system allows it; NULL
 *  when out of memory. */
pt__key_ring *pt__key_ring_new(size_t count);

/** Wipe and free; NULL is a no-op. */
void pt__key_ring_free(pt__key_ring *ring);

/** The key of a visit at `visit_us`, as of `now_us`: its period's entry;
 *  pt__ip_key_expired when the period's destroy-after (or the store's
 *  "destroyed before") has passed; pt__ip_key_unavailable when the ring
 *  has no entry for it.  Never another period's key.  Pure. */
const pt__ip_key *pt__key_ring_find(const pt__key_ring *ring,
                                    pt_rotation rotation,
                                    unsigned int grace_hours, int64_t visit_us,
                                    int64_t now_us);

#define PT__RCU_SLOTS 16

/** The published ring and its readers. */
typedef struct pt__key_rcu {
    _Atomic(pt__key_ring *) current;
    atomic_uint epoch;
    struct {
        _Alignas(64) atomic_long readers[2];
    } slots[PT__RCU_SLOTS];
    pthread_mutex_t publish_lock;
} pt__key_rcu;

void pt__key_rcu_init(pt__key_rcu *rcu);
/** Free the last ring; no reader may be left. */
void pt__key_rcu_destroy(pt__key_rcu *rcu);

/** Enter a read section; returns the token for pt__key_rcu_leave().  Lock
 *  free: two atomic additions on a slot of the calling thread's. */
unsigned int pt__key_rcu_enter(pt__key_rcu *rcu);
void pt__key_rcu_leave(pt__key_rcu *rcu, unsigned int token);

/** The ring to read inside a section (NULL: none yet). */
const pt__key_ring *pt__key_rcu_read(pt__key_rcu *rcu);

/** Publish `ring` (ownership passes) and wipe and free the one it
 *  replaces once every reader that could see it has left.  Serialised;
 *  waits for readers (microseconds), never for the request path's
 *  lock. */
void pt__key_rcu_publish(pt__key_rcu *rcu, pt__key_ring *ring);

/* ---- the manager (keys.c) --------------------------------------------------
 */

/* How the manager may change the store. */
#define PT__KEYS_CREATE  0x1 /* create missing keys, destroy expired ones */
#define PT__KEYS_DRY_RUN 0x2 /* read only; ephemeral keys where none exist */

typedef struct pt__keys pt__keys;

/** A manager for `policy` (which must rotate), its store resolved against
 *  `storage_path`.  Touches nothing until refreshed.  PT_EPOLICY /
 *  PT_EACCESS for a bad wrapping key. */
int pt__keys_open(pt__keys **out, const pt_policy *policy,
                  const char *storage_path, unsigned int flags);

/** Stop the thread (if started), wipe every key, free. NULL: no-op. */
void pt__keys_close(pt__keys *keys);

/** Bring the live table up to date at `now_us`: read the store, destroy
 *  what is due (PT__KEYS_CREATE), create or fetch the keys of every
 *  wanted period (periods.h), unwrap them and publish the table.  Keys
 *  that are due are dropped from memory even when the store cannot be
 *  reached.  Returns the first error (the table keeps what could be had). */
int pt__keys_refresh(pt__keys *keys, int64_t now_us);

/** Start the manager's thread: it refreshes at every change the periods
 *  call for (pt__periods_next_change), at least every 10 minutes, and
 *  sooner after a failure. */
int pt__keys_start(pt__keys *keys);

/** The read side, for pt_track(): enter, find the visit's key (valid until
 *  leave), leave. */
unsigned int pt__keys_enter(pt__keys *keys);
const pt__ip_key *pt__keys_find(pt__keys *keys, int64_t visit_us,
                                int64_t now_us);
void pt__keys_leave(pt__keys *keys, unsigned int token);

/** The key that was (or is) alive for `time_us`, copied into `out` (the
 *  caller wipes it), or why there is none: PT_OK; PT_ENOTFOUND with
 *  *missing = PT__KEY_EXPIRED (destroyed) or PT__KEY_UNAVAILABLE (never
 *  made, or not loaded).  For data-subject requests: a pseudonym can be
 *  computed for a date only with the key of its period. */
int pt__keys_for_time(pt__keys *keys, int64_t time_us, int64_t now_us,
                      pt__ip_key *out, int *missing);

/** Create the store (directory or table). */
int pt__keys_init_store(pt__keys *keys);

/** Call `fn` for every key in the store (read now), oldest first.  No key
 *  material is passed. */
int pt__keys_status(pt__keys *keys, int64_t now_us, pt_key_info_fn fn,
                    void *userdata);

/** Destroy keys: those whose period ends at or before `before` (Unix
 *  seconds), or with PT_KEYS_DESTROY_DUE those whose destroy-after has
 *  passed.  With PT_KEYS_DESTROY_LIST_ONLY nothing is destroyed, `fn` is
 *  told what would be.  The store's "destroyed before" moves with
 *  `before`, so no process makes a new key for those periods. */
int pt__keys_destroy(pt__keys *keys, int64_t before, unsigned int flags,
                     int64_t now_us, pt_key_info_fn fn, void *userdata,
                     uint64_t *destroyed);

#endif
