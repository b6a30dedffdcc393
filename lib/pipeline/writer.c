/* The writer: drains the queue in batches into the backend; on failure
 * spools, backs off, and replays the spool in order once the backend is
 * back.  Also the synchronous write-through used without a thread. */
#include "pipeline/pipeline.h"

#include "record/record.h"
#include "storage/storage.h"

#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>

#define BACKOFF_BASE_US 50000   /* first retry after ~50 ms */
#define BACKOFF_CAP_US  5000000 /* never wait more than ~5 s */

/* ---- wake-ups ------------------------------------------------------------ */

void
pt__writer_wake(pt_tracker *t)
{
    pthread_mutex_lock(&t->wake_lock);
    pthread_cond_signal(&t->wake_cond);
    pthread_mutex_unlock(&t->wake_lock);
}

static void
timed_wait(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t wait_us)
{
    struct timespec ts;
    int64_t at = pt__monotonic_us() + (wait_us > 0 ? wait_us : 0);

    ts.tv_sec = at / 1000000;
    ts.tv_nsec = (long)(at % 1000000) * 1000;
    pthread_cond_timedwait(cond, lock, &ts);
}

/* Sleep at most wait_us; producers wake us only past wake_threshold, and
 * flush()/close() always do. */
static void
writer_sleep(pt_tracker *t, int64_t wait_us)
{
    size_t queued;
    int ready;

    pthread_mutex_lock(&t->wake_lock);
    atomic_store(&t->writer_state, PT__WRITER_ASLEEP);
    atomic_thread_fence(memory_order_seq_cst);
    queued = pt__queue_size(&t->queue);
    ready = queued >= t->wake_threshold || atomic_load(&t->stop) ||
            (atomic_load(&t->flush_waiters) && queued + t->held_count > 0);
    if (!ready)
        timed_wait(&t->wake_cond, &t->wake_lock, wait_us);
    atomic_store(&t->writer_state, PT__WRITER_BUSY);
    pthread_mutex_unlock(&t->wake_lock);
}

static void
notify_waiters(pt_tracker *t)
{
    if (atomic_load(&t->flush_waiters) == 0 && !atomic_load(&t->stop))
        return;
    pthread_mutex_lock(&t->wake_lock);
    pthread_cond_broadcast(&t->done_cond);
    pthread_mutex_unlock(&t->wake_lock);
}

/* ---- backend outage state (backend_lock held) ---------------------------- */

static void
schedule_retry(pt_tracker *t)
{
    /* jittered so that many trackers do not retry in step, with a floor
     * so that a store that is down is not probed at once */
    int64_t at = pt__monotonic_us() +
                 (int64_t)pt__backoff(&t->rng, t->attempts + 1, BACKOFF_BASE_US,
                                      BACKOFF_CAP_US, PT__JITTER_HALF);
    if (t->attempts < 64)
        t->attempts++;
    atomic_store(&t->retry_at_us, at);
}

static void
note_failure(pt_tracker *t, int rc)
{
    char detail[256]; /* a copy: setting our error rewrites the thread's */

    pt__snprintf(detail, sizeof(detail), "%s",
                 t->backend->errmsg[0] ? t->backend->errmsg : pt_last_error());
    pt__tracker_set_error(t, rc, "%s: %s", t->backend_label, detail);
    if (!t->backend_down) {
        t->backend_down = 1;
        /* Once per outage, not per record; the seed's words first. */
        pt__log(PT_LOG_WARN, "%s not available: %s (%s); spooling to %s",
                t->backend_label, detail, pt_err_name(rc), t->spool_dir);
    }
    schedule_retry(t);
}

static void
note_success(pt_tracker *t)
{
    if (t->backend_down) {
        t->backend_down = 0;
        pt__log(PT_LOG_INFO, "%s available again", t->backend_label);
    }
    t->attempts = 0;
    atomic_store(&t->retry_at_us, 0);
}

static void
poll_backend_retries(pt_tracker *t)
{
    uint64_t retries = 0;
    if (t->backend->methods->control &&
        t->backend->methods->control(t->backend, PT_STORAGE_CTL_RETRIES,
                                     &retries) == PT_OK)
        atomic_store(&t->written.backend_retries, retries);
}

static void
log_saved(pt_tracker *t, pt_record *const *records, size_t count)
{
    if (!pt__log_enabled(PT_LOG_DEBUG))
        return;
    for (size_t i = 0; i < count; i++)
        pt__log(PT_LOG_DEBUG, "Saved visit record to %s: %s", t->backend_label,
                records[i]->session_id ? records[i]->session_id : "");
}

/* One put per batch_size records (25, or what the backend asked for). */
static int
put_batches(pt_tracker *t, pt_record *const *records, size_t count, int replay,
            size_t *written)
{
    size_t done = 0, batch = replay ? t->replay_batch : t->batch_size;
    int rc = PT_OK;

    while (done < count) {
        size_t n = count - done < batch ? count - done : batch;
        size_t w = 0;
        rc = pt__storage_put(t->backend,
                             (const pt_record *const *)records + done, n,
                             replay, &w);
        if (rc == PT_OK || w > n)
            w = n;
        done += w;
        if (rc != PT_OK)
            break;
    }
    *written = done;
    return rc;
}

/* put (+ one sync for all): *written is how many of the first records are
 * stored, and durable when `sync`. */
static int
store_batch(pt_tracker *t, pt_record *const *records, size_t count, int replay,
            int sync, size_t *written)
{
    int rc;

    if (t->backend_down)
        atomic_fetch_add(&t->written.retries, 1);
    t->backend->errmsg[0] = '\0';
    rc = put_batches(t, records, count, replay, written);
    if (sync && *written > 0) {
        int sync_rc = pt__storage_sync(t->backend);
        if (sync_rc != PT_OK) {
            *written = 0; /* not durable: replay takes care of it */
            rc = sync_rc;
        }
    }
    poll_backend_retries(t);
    log_saved(t, records, *written);
    if (rc == PT_OK)
        note_success(t);
    else
        note_failure(t, rc);
    return rc;
}

static int
backend_due(pt_tracker *t)
{
    return pt__monotonic_us() >= atomic_load(&t->retry_at_us);
}

/* ---- store or spool (backend_lock held) ---------------------------------- */

/* Every record ends up stored, or spooled, or (both failing) left to the
 * caller with the error: *persisted counts the first records that made
 * it. */
static int
persist(pt_tracker *t, pt_record *const *records, size_t count, int replay,
        int sync, size_t *persisted)
{
    size_t written = 0, spooled = 0;
    int rc;

    /* While the spool holds records, newer ones queue up behind them. */
    if (!pt__spool_pending(t->spool) && backend_due(t)) {
        rc = store_batch(t, records, count, replay, sync, &written);
        atomic_fetch_add(&t->written.stored, written);
        if (rc == PT_OK) {
            *persisted = count;
            return PT_OK;
        }
    }
    rc = pt__spool_append(t->spool, (const pt_record *const *)records + written,
                          count - written, &spooled);
    atomic_fetch_add(&t->written.spooled, spooled);
    *persisted = written + spooled;
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s", pt_last_error());
    return rc;
}

static int
replay_put(void *ctx, const pt_record *const *records, size_t count,
           size_t *written)
{
    pt_tracker *t = ctx;
    return store_batch(t, (pt_record *const *)records, count, 1, 1, written);
}

static int
replay_step(pt_tracker *t)
{
    size_t n = 0;
    int rc = pt__spool_replay_step(t->spool, t->replay_step, replay_put, t, &n);
    atomic_fetch_add(&t->written.replayed, n);
    if (rc != PT_OK && backend_due(t))
        /* A spool read error, not the backend's (a failed put has already
         * scheduled its retry): back off all the same. */
        schedule_retry(t);
    return rc;
}

/* Replay while due, yielding when a batch of new records waits (they are
 * spooled behind, so order holds) so the queue never backs up.  With
 * `lock_each`, backend_lock is taken per step, so pt_tracker_query() and
 * friends wait for one step, not for a whole replay. */
static void
replay_some(pt_tracker *t, int lock_each)
{
    int stepped = 0;

    while (pt__spool_pending(t->spool) && backend_due(t) &&
           !atomic_load(&t->stop)) {
        int rc;
        if (lock_each)
            pthread_mutex_lock(&t->backend_lock);
        rc = replay_step(t);
        if (lock_each)
            pthread_mutex_unlock(&t->backend_lock);
        stepped = 1;
        if (rc != PT_OK || pt__queue_size(&t->queue) >= t->batch_size)
            break;
    }
    /* The last step's progress, saved now rather than by a next step that
     * may be long in coming. */
    if (stepped) {
        if (lock_each)
            pthread_mutex_lock(&t->backend_lock);
        pt__spool_save_progress(t->spool);
        if (lock_each)
            pthread_mutex_unlock(&t->backend_lock);
    }
}

static int
lock_until(pthread_mutex_t *lock, int64_t deadline_us)
{
    /* pthread_mutex_timedlock() takes a CLOCK_REALTIME deadline. */
    int64_t wall = pt__now_us() + (deadline_us - pt__monotonic_us());
    struct timespec ts;

    ts.tv_sec = wall / 1000000;
    ts.tv_nsec = (long)(wall % 1000000) * 1000;
    return pthread_mutex_timedlock(lock, &ts) == 0;
}

/* A long replay says how far it got, every PROGRESS_US. */
#define PROGRESS_US 5000000

int
pt__replay_until(pt_tracker *t, int64_t deadline_us, uint64_t *replayed)
{
    uint64_t before = atomic_load(&t->written.replayed);
    int64_t start = pt__monotonic_us(), next_report = start + PROGRESS_US;
    int rc = PT_OK, had = pt__spool_pending(t->spool);

    while (pt__spool_pending(t->spool)) {
        int64_t now = pt__monotonic_us();
        if (now >= next_report) {
            uint64_t n = atomic_load(&t->written.replayed) - before;
            pt__log(PT_LOG_INFO,
                    "spool replay: %llu records replayed in %lld s (%.0f/s)",
                    (unsigned long long)n, (long long)((now - start) / 1000000),
                    (double)n * 1e6 / (double)(now - start));
            next_report = now + PROGRESS_US;
        }
        if (pt__monotonic_us() >= deadline_us ||
            !lock_until(&t->backend_lock, deadline_us)) {
            rc = pt__fail(PT_ETIMEDOUT, "the spool was not drained in time");
            break;
        }
        rc = replay_step(t);
        pthread_mutex_unlock(&t->backend_lock);
        if (rc != PT_OK)
            break;
    }
    /* The writer thread may be finishing a step that emptied the spool:
     * its counter is bumped just after the spool's progress, under
     * backend_lock.  Wait for that step, so the counters agree; and save
     * the last step's progress (left to a next step: there is none).  Out
     * of time, only if the lock is free: else close() saves it. */
    if (had && lock_until(&t->backend_lock,
                          rc == PT_OK ? deadline_us : pt__monotonic_us())) {
        pt__spool_save_progress(t->spool);
        pthread_mutex_unlock(&t->backend_lock);
    }
    if (replayed)
        *replayed = atomic_load(&t->written.replayed) - before;
    return rc;
}

/* ---- the writer thread ----------------------------------------------------
 */

/* Pop what is queued (up to a chunk) into `held`, under one held_lock;
 * if close() has abandoned us meanwhile, spool the chunk here instead
 * (close() will not see it).  Returns how many were taken, -1 when
 * abandoned. */
#define TAKE_CHUNK 64

static int
held_take(pt_tracker *t)
{
    pt_record *chunk[TAKE_CHUNK];
    size_t n = 0, room = t->held_capacity - t->held_count;

    if (room > TAKE_CHUNK)
        room = TAKE_CHUNK;
    while (n < room && (chunk[n] = pt__queue_pop(&t->queue)) != NULL)
        n++;
    if (n == 0)
        return 0;
    pthread_mutex_lock(&t->held_lock);
    if (!t->abandoned) {
        memcpy(t->held + t->held_count, chunk, n * sizeof(*chunk));
        t->held_count += n;
        pthread_mutex_unlock(&t->held_lock);
        return (int)n;
    }
    pthread_mutex_unlock(&t->held_lock);
    pt__rescue(t, chunk, n);
    pt__pool_release_many(&t->pool, chunk, n);
    return -1;
}

/* Take records into `held`: a batch, or more (up to held_capacity, for
 * one sync) when more are already waiting; wait at most batch_delay_ms
 * for a batch to fill. */
static void
fill(pt_tracker *t)
{
    int64_t delay = (int64_t)t->batch_delay_ms * 1000;
    int64_t fill_deadline = 0;

    while (t->held_count < t->held_capacity) {
        int taken = held_take(t);
        int64_t now;

        if (taken < 0)
            return;
        if (taken > 0)
            continue;
        if (t->held_count >= t->batch_size || atomic_load(&t->stop))
            return;
        now = pt__monotonic_us();
        if (t->held_count > 0) {
            if (atomic_load(&t->flush_waiters))
                return;
            if (!fill_deadline)
                fill_deadline = now + delay;
            if (now >= fill_deadline)
                return;
            writer_sleep(t, fill_deadline - now);
        } else {
            /* Idle: poll every batch_delay_ms.  Whatever arrived during the
             * nap has already waited, so it is written without more delay. */
            int64_t wait = delay;
            if (pt__spool_pending(t->spool)) {
                int64_t until_retry = atomic_load(&t->retry_at_us) - now;
                if (until_retry <= 0)
                    return; /* time to replay */
                if (until_retry < wait)
                    wait = until_retry;
            }
            writer_sleep(t, wait);
            fill_deadline = pt__monotonic_us();
        }
    }
}

static void
set_stuck(pt_tracker *t, int rc)
{
    if (rc == PT_OK) {
        if (atomic_exchange(&t->stuck_error, 0) != 0)
            pt__log(PT_LOG_INFO, "records are being stored again");
        return;
    }
    atomic_fetch_add(&t->written.failures, 1);
    if (atomic_exchange(&t->stuck_error, rc) == 0)
        pt__log(PT_LOG_ERROR,
                "%zu records can be neither stored nor spooled (%s); they are "
                "kept in memory and retried, new ones are dropped when the "
                "queue fills",
                t->held_count, pt_tracker_errmsg(t));
}

/* Store or spool the held batch; backend_lock held. */
static int
dispose_held(pt_tracker *t)
{
    size_t persisted = 0;
    int rc = persist(t, t->held, t->held_count, t->held_tried, 1, &persisted);

    pthread_mutex_lock(&t->held_lock);
    if (t->abandoned) {
        /* close() spooled copies; the owner's release frees them. */
        pthread_mutex_unlock(&t->held_lock);
        return rc;
    }
    pt__pool_release_many(&t->pool, t->held, persisted);
    memmove(t->held, t->held + persisted,
            (t->held_count - persisted) * sizeof(*t->held));
    t->held_count -= persisted;
    /* Records left behind may be stored already (a put that failed part
     * way, then a failing spool): the next try is a replay. */
    t->held_tried = t->held_count > 0;
    pthread_mutex_unlock(&t->held_lock);
    atomic_fetch_add(&t->done, persisted);
    set_stuck(t, rc);
    notify_waiters(t);
    return rc;
}

static int
abandoned(pt_tracker *t)
{
    int gone;
    pthread_mutex_lock(&t->held_lock);
    gone = t->abandoned;
    pthread_mutex_unlock(&t->held_lock);
    return gone;
}

/* The writer is throughput work: as SCHED_BATCH the kernel does not let
 * its wake-ups preempt the application's request threads. */
static void
lower_priority(void)
{
#ifdef SCHED_BATCH
    struct sched_param param = {0};
    (void)pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
#endif
}

void *
pt__writer_main(void *arg)
{
    pt_tracker *t = arg;

    lower_priority();
    /* The file-size limit makes writes fail (EFBIG: spool), not kill us. */
    pt__sigxfsz_block_thread();

    for (;;) {
        int rc = PT_OK, stop;

        fill(t);
        if (abandoned(t))
            break;
        stop = atomic_load(&t->stop);
        if (!stop && pt__spool_pending(t->spool) && backend_due(t))
            replay_some(t, 1);
        if (abandoned(t))
            break;
        pthread_mutex_lock(&t->backend_lock);
        if (t->held_count > 0)
            rc = dispose_held(t);
        pthread_mutex_unlock(&t->backend_lock);
        if (abandoned(t))
            break;
        if (rc != PT_OK) {
            if (stop)
                break; /* close() deals with what is left */
            if (backend_due(t))
                schedule_retry(t); /* spool failure alone: back off too */
            pthread_mutex_lock(&t->wake_lock);
            if (!atomic_load(&t->stop))
                timed_wait(&t->wake_cond, &t->wake_lock,
                           atomic_load(&t->retry_at_us) - pt__monotonic_us());
            pthread_mutex_unlock(&t->wake_lock);
            continue;
        }
        if (stop && t->held_count == 0 && pt__queue_size(&t->queue) == 0)
            break;
    }
    pthread_mutex_lock(&t->wake_lock);
    t->writer_exited = 1;
    pthread_cond_broadcast(&t->done_cond);
    pthread_mutex_unlock(&t->wake_lock);
    pt__tracker_release(t);
    return NULL;
}

/* ---- without a thread -----------------------------------------------------
 */

void
pt__write_through(pt_tracker *t, pt_record *record)
{
    size_t persisted = 0;
    int rc;

    pthread_mutex_lock(&t->backend_lock);
    if (pt__spool_pending(t->spool) && backend_due(t))
        replay_some(t, 0);
    /* No sync per record: the CLI would fsync every line.  flush() and
     * every batch_size records sync instead. */
    rc = persist(t, &record, 1, 0, 0, &persisted);
    if (rc == PT_OK && ++t->unsynced >= t->batch_size) {
        t->unsynced = 0;
        if (pt__storage_sync(t->backend) != PT_OK && !t->sticky_error)
            t->sticky_error = PT_EIO;
    }
    if (rc != PT_OK) {
        atomic_fetch_add(&t->written.failures, 1);
        if (!t->sticky_error)
            t->sticky_error = rc;
        pt__log(PT_LOG_ERROR,
                "a record could be neither stored nor spooled: %s",
                pt_tracker_errmsg(t));
    }
    pthread_mutex_unlock(&t->backend_lock);
    pt__record_free(record);
}

int
pt__rescue(pt_tracker *t, pt_record **records, size_t count)
{
    size_t spooled = 0;
    int rc;

    if (count == 0)
        return PT_OK;
    rc = pt__spool_append(t->spool, (const pt_record *const *)records, count,
                          &spooled);
    atomic_fetch_add(&t->written.spooled, spooled);
    atomic_fetch_add(&t->done, spooled);
    if (rc == PT_OK)
        return PT_OK;
    atomic_fetch_add(&t->written.failures, count - spooled);
    pt__tracker_set_error(t, rc, "%zu accepted records lost at close: %s",
                          count - spooled, pt_last_error());
    pt__log(PT_LOG_ERROR, "%s", pt_tracker_errmsg(t));
    return rc;
}
