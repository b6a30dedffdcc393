/*
 * The tracker's internals, shared by tracker.c (public API, request path),
 * writer.c (the writer thread: batching, backend, spool, replay) and
 * close.c (flush and close with deadlines).
 *
 * Threads and locks:
 *  - pt_track() callers: lock-free; they touch only the queue, the
 *    producer counters and, when the writer sleeps, wake_lock.
 *  - the writer thread: owns `held` (records taken from the queue, not yet
 *    durable) and the backend state.
 *  - backend_lock serialises every call into the backend instance (the
 *    writer's puts and replays, pt_tracker_query/purge/init_storage/
 *    spool_replay): a backend instance is single-threaded by contract.
 *  - held_lock guards changes to `held` and `abandoned`, so that close()
 *    can spool the writer's in-flight batch when the writer is stuck inside
 *    a backend call past the deadline.
 *  - the spool has its own mutex (spool.h) and is never held across a
 *    backend call.
 *  - wake_lock pairs with wake_cond (the writer sleeps) and done_cond
 *    (flush and close wait); writer_exited is read and written under it.
 *  - errmsg_lock guards the two errmsg buffers; audit_lock the dry-run
 *    audit file.
 *
 * Lock order (a thread holding a lock takes only locks further right):
 *     backend_lock -> held_lock -> spool lock -> errmsg_lock
 *     backend_lock -> wake_lock
 * wake_lock, errmsg_lock and audit_lock are leaves: nothing is locked, and
 * no backend or spool call is made, while holding one.  The log callback
 * may run with backend_lock, held_lock, the spool lock or audit_lock held,
 * which is why it must not call back into a tracker (privtrack.h).
 * close() takes held_lock and the spool lock without backend_lock: that is
 * how it rescues a writer stuck inside a backend call, so nothing may wait
 * for backend_lock while holding held_lock.
 *
 * Reference counts (`refs`): the owner holds one from pt_tracker_open();
 * the writer thread holds a second from pthread_create() until it returns.
 * pt__tracker_release() drops one; whoever drops the last frees the tracker
 * (and the records still in `held` and the queue).  pt_tracker_close()
 * normally joins the writer and then drops the owner's reference, freeing
 * everything.  When close() abandons a writer stuck in the backend, it sets
 * `abandoned` (under held_lock), spools copies of what was pending, detaches
 * the thread and drops its own reference: the writer frees the tracker when
 * the backend call returns, and must not touch the queue, the spool or
 * `held` after it sees `abandoned` (it checks under held_lock).  Nothing
 * else takes a reference: a pt_tracker must not be used concurrently with,
 * or after, its pt_tracker_close().
 */
#ifndef PT_PIPELINE_H
#define PT_PIPELINE_H

#include "common/common.h"
#include "keys/keys.h"
#include "pipeline/pool.h"
#include "pipeline/queue.h"
#include "pipeline/spool.h"
#include "policy/policy.h"
#include "policy/retention.h"

#include <pthread.h>
#include <stdatomic.h>

/* Writer states seen by producers.  The writer polls every batch_delay_ms
 * when asleep, so producers wake it (a futex call, microseconds on the
 * request path) only when the queue passes wake_threshold. */
enum { PT__WRITER_BUSY = 0, PT__WRITER_ASLEEP = 1 };

/* Group commit (PT_STORAGE_CTL_GROUP_COMMIT) is bounded by half the queue,
 * so memory stays within ~1.5 x queue_capacity records.  Backends without it
 * get PT__BATCHES_PER_SYNC batches per cycle, so that backend_lock is never
 * held for long. */
/* Without group commit: batches per writer cycle and per replay step. */
#define PT__BATCHES_PER_SYNC 16

typedef struct pt__producer_counters {
    _Atomic uint64_t accepted;
    _Atomic uint64_t dropped[PT_DROP__COUNT];
    _Atomic uint64_t failures; /* pt_track in a forked child, sync losses */
    _Atomic uint64_t ip_key_expired;     /* client_ip left out: key gone */
    _Atomic uint64_t ip_key_unavailable; /* client_ip left out: no key */
} pt__producer_counters;

typedef struct pt__writer_counters {
    _Atomic uint64_t stored;
    _Atomic uint64_t spooled;
    _Atomic uint64_t replayed;
    _Atomic uint64_t retries;
    _Atomic uint64_t backend_retries; /* last value from the backend */
    _Atomic uint64_t failures;
} pt__writer_counters;

struct pt_tracker {
    pt__queue queue; /* padded internally */
    pt__pool pool;   /* record slots recycled by the writer */

    /* Written by every producer: on lines of their own. */
    _Alignas(PT__CACHE_LINE) pt__producer_counters produced;
    _Alignas(PT__CACHE_LINE) atomic_int writer_state;
    atomic_int closing;

    /* Written by the writer. */
    _Alignas(PT__CACHE_LINE) pt__writer_counters written;
    _Atomic uint64_t done;       /* records stored or spooled, queue order */
    atomic_int stuck_error;      /* neither backend nor spool took them */
    _Atomic int64_t retry_at_us; /* backend retry time (monotonic) */

    /* Read-only after open. */
    _Alignas(PT__CACHE_LINE) pt_policy *policy;
    pt__retention retention; /* per-field retention, hidden on every read */
    pt__ip_key key;          /* [ip] rotate = never: the one key */
    pt__pseudonym_cache *pseudonyms; /* key's cache, or NULL */
    pt__keys *keys; /* rotating keys (NULL: none, or read-only) */
    int dry_run;
    int synchronous;
    int read_only; /* no key, no spool, no writer: queries and purge only */
    size_t batch_size;
    size_t held_capacity;  /* batches taken in one writer cycle, one sync */
    size_t replay_batch;   /* records per put() when replaying */
    size_t replay_step;    /* records per replay step (one sync, one
                              progress save) */
    size_t wake_threshold; /* queued records that justify waking the writer */
    unsigned int batch_delay_ms;
    unsigned int block_us;
    unsigned int fork_generation;
    char *storage_path;
    char *spool_dir;
    const char *backend_label; /* "DynamoDB", "file store", or the name */
    pt_audit_fn audit;
    void *audit_userdata;

    /* Dry-run audit file ([audit] output = path), opened by
     * pt_tracker_open() when no callback is set. */
    pthread_mutex_t audit_lock;
    int audit_fd;

    /* Backend and its outage state (writer, or holders of backend_lock). */
    pthread_mutex_t backend_lock;
    pt_storage *backend;
    pt__spool *spool;
    int backend_down;
    unsigned int attempts; /* consecutive failures, for the backoff */
    uint64_t rng;          /* jitter state (pt__backoff) */
    size_t unsynced;       /* synchronous mode: puts since the last sync */
    int sticky_error;      /* synchronous mode: a record was lost */

    /* The writer thread and its wake-ups. */
    pthread_t thread;
    int has_thread;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake_cond; /* the writer sleeps here */
    pthread_cond_t done_cond; /* flush() and close() wait here */
    atomic_int stop;
    atomic_int flush_waiters;
    int writer_exited; /* under wake_lock */

    pthread_mutex_t held_lock;
    pt_record **held;
    size_t held_count;
    int held_tried; /* a put of the held records failed and neither it nor
                       the spool took them all: some may be stored, so
                       they are sent again as a replay (writer only) */
    int abandoned;  /* close() gave up on the writer; it frees itself */

    /* Two buffers so a reader never sees one being rewritten. */
    /* Two buffers, so that a reader holding the current message is not
     * overwritten by the next failure; writers (the caller's thread and the
     * writer thread) take errmsg_lock so they never fill the same one. */
    char errmsg[2][512];
    atomic_int errmsg_index;
    pthread_mutex_t errmsg_lock;

    atomic_int refs; /* the owner and the writer thread */
};

/* tracker.c */
void pt__tracker_set_error(pt_tracker *t, int code, const char *fmt, ...)
    PT__PRINTF(3, 4);
void pt__tracker_release(pt_tracker *t);
int pt__tracker_forked(const pt_tracker *t);
/** PT_OK when `t` has a backend to use now: not NULL, not from before a
 *  fork(), not a dry run (which sets the tracker's error). */
int pt__tracker_backend_usable(pt_tracker *t, const char *what);

/* read.c */
/** Check a caller's scan options and complete them into *out (`to`,
 *  `fields` and `now` filled in).  PT_EINVAL with the detail in
 *  pt_last_error(). */
int pt__scan_options_check(const pt_scan_options *in, pt_scan_options *out);
/** A backend instance of the tracker's own kind for one read (scan,
 *  stats), so that the writer never waits for it.  Close it with
 *  pt__storage_close(). */
int pt__tracker_open_reader(pt_tracker *t, const char *what, pt_storage **out);
/** Every read of records goes through these two, which hide the fields
 *  past their retention (policy/retention.h) at `now` / opts->now: the
 *  scan of `s` (a reader of the tracker's) through `fn`, and a list in
 *  place. */
int pt__tracker_storage_scan(pt_tracker *t, pt_storage *s,
                             const pt_scan_options *opts, pt_record_fn fn,
                             void *userdata);
void pt__tracker_hide_list(const pt_tracker *t, pt_record_list *list,
                           int64_t now);
/** purge's part for per-field retention: remove every field past its
 *  retention at `now` from the stored records (a rewrite of the whole
 *  store on a backend instance of its own, so the writer goes on). */
int pt__tracker_purge_fields(pt_tracker *t, int64_t now);

/* writer.c */
void *pt__writer_main(void *arg);
void pt__writer_wake(pt_tracker *t);
/** Synchronous mode: store or spool one record in the caller's thread;
 *  takes ownership of `record`. */
void pt__write_through(pt_tracker *t, pt_record *record);
/** Replay the spool until it is empty, an error, or `deadline_us`
 *  (monotonic), taking backend_lock for each step. */
int pt__replay_until(pt_tracker *t, int64_t deadline_us, uint64_t *replayed);
/** Spool records in the caller's thread (close() rescuing the queue);
 *  counts them, or counts failures and logs the loss. */
int pt__rescue(pt_tracker *t, pt_record **records, size_t count);

/* tracker_keys.c */
/** Open the rotating keys of a tracker that is not read-only, load them
 *  and start their thread.  A key store that cannot be reached is a
 *  warning (visits are recorded without client_ip until it can); a bad or
 *  unsafe key or wrapping key fails the open. */
int pt__tracker_keys_open(pt_tracker *t);
/** purge's part: destroy the keys that are due. */
int pt__tracker_keys_purge(pt_tracker *t);
/** init_storage's part: the key store, and the current period's key. */
int pt__tracker_keys_init(pt_tracker *t);
/** The key that hashed (or hashes) addresses of visits at `time_us`, for
 *  data-subject requests: a copy in `out` (wipe it when done), PT_OK; or
 *  PT_ENOTFOUND with *missing = PT__KEY_EXPIRED (its period's key was
 *  destroyed: nobody can find those visits by address any more) or
 *  PT__KEY_UNAVAILABLE (no key was ever made for it, or the store cannot
 *  be read: the detail is pt_last_error()).  With [ip] rotate = never, the
 *  one key.  Reads the store; creates nothing.  Any thread. */
int pt__tracker_key_for_time(pt_tracker *t, int64_t time_us, pt__ip_key *out,
                             int *missing);

#endif
