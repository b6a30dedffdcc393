/* Flush and close, each bounded by a deadline: they never hang, even when
 * the backend does. */
#include "pipeline/pipeline.h"

#include "record/record.h"
#include "storage/storage.h"

#include <stdlib.h>
#include <time.h>

#define CLOSE_GRACE_US 50000 /* the writer's last chance after the deadline */
#define RESCUE_CHUNK   1024

static void
wait_until(pthread_cond_t *cond, pthread_mutex_t *lock, int64_t deadline_us)
{
    struct timespec ts;
    int64_t at = deadline_us;
    int64_t cap = pt__monotonic_us() + 100000; /* re-check state often */

    if (at > cap)
        at = cap;
    ts.tv_sec = at / 1000000;
    ts.tv_nsec = (long)(at % 1000000) * 1000;
    pthread_cond_timedwait(cond, lock, &ts);
}

/* pt_tracker_flush() with a writer thread: block until the writer has
 * stored or spooled every record accepted before the call, or the deadline.
 * Every record whose push returned before `target` was read has a queue
 * ticket below it, and the writer counts records in ticket order. */
static int
wait_for_writer(pt_tracker *t, unsigned int timeout_ms)
{
    uint64_t target = pt__queue_pushed(&t->queue);
    int64_t deadline = pt__monotonic_us() + (int64_t)timeout_ms * 1000;
    int rc;

    atomic_fetch_add(&t->flush_waiters, 1);
    pthread_mutex_lock(&t->wake_lock);
    pthread_cond_signal(&t->wake_cond); /* stop waiting to fill a batch */
    for (;;) {
        if (atomic_load(&t->done) >= target) {
            rc = PT_OK;
            break;
        }
        if ((rc = atomic_load(&t->stuck_error)) != PT_OK)
            break;
        if (t->writer_exited) {
            rc = PT_ECLOSED;
            break;
        }
        if (pt__monotonic_us() >= deadline) {
            rc = PT_ETIMEDOUT;
            break;
        }
        wait_until(&t->done_cond, &t->wake_lock, deadline);
    }
    pthread_mutex_unlock(&t->wake_lock);
    atomic_fetch_sub(&t->flush_waiters, 1);
    if (rc == PT_ETIMEDOUT)
        pt__tracker_set_error(
            t, rc, "flush: %llu records still in flight after %u ms",
            (unsigned long long)(target - atomic_load(&t->done)), timeout_ms);
    else if (rc != PT_OK)
        pt__tracker_set_error(t, rc,
                              "flush: records can be neither stored nor "
                              "spooled: %s",
                              pt_tracker_errmsg(t));
    return rc;
}

static int
flush_synchronous(pt_tracker *t)
{
    int rc;

    pthread_mutex_lock(&t->backend_lock);
    rc = t->sticky_error;
    t->sticky_error = 0;
    if (t->unsynced) {
        int sync_rc = pt__storage_sync(t->backend);
        t->unsynced = 0;
        if (sync_rc != PT_OK) {
            pt__tracker_set_error(t, sync_rc, "flush: sync failed: %s",
                                  t->backend->errmsg);
            if (rc == PT_OK)
                rc = sync_rc;
        }
    }
    pthread_mutex_unlock(&t->backend_lock);
    if (rc != PT_OK)
        pt__fail(rc, "%s", pt_tracker_errmsg(t));
    return rc;
}

int
pt_tracker_flush(pt_tracker *t, unsigned int timeout_ms)
{
    if (!t)
        return pt__fail(PT_EINVAL, "pt_tracker_flush: tracker is NULL");
    if (pt__tracker_forked(t))
        return pt__fail(PT_ECLOSED, "flush: tracker opened before fork()");
    if (t->dry_run)
        return PT_OK;
    if (!t->has_thread)
        return flush_synchronous(t);
    return wait_for_writer(t, timeout_ms);
}

/* Spool whatever is still queued, from this thread. */
static int
rescue_queue(pt_tracker *t)
{
    pt_record *chunk[RESCUE_CHUNK];
    int rc = PT_OK;
    size_t n;

    do {
        n = 0;
        while (n < RESCUE_CHUNK &&
               (chunk[n] = pt__queue_pop(&t->queue)) != NULL)
            n++;
        int step = pt__rescue(t, chunk, n);
        if (rc == PT_OK)
            rc = step;
        for (size_t i = 0; i < n; i++)
            pt__pool_release(&t->pool, chunk[i]);
    } while (n == RESCUE_CHUNK);
    return rc;
}

static int
wait_writer_exit(pt_tracker *t, int64_t deadline)
{
    int exited;

    pthread_mutex_lock(&t->wake_lock);
    atomic_store(&t->stop, 1);
    pthread_cond_broadcast(&t->wake_cond);
    while (!t->writer_exited && pt__monotonic_us() < deadline)
        wait_until(&t->done_cond, &t->wake_lock, deadline);
    exited = t->writer_exited;
    pthread_mutex_unlock(&t->wake_lock);
    return exited;
}

/* The writer is stuck in a backend call: spool its batch (if the call
 * succeeds after all, replay's idempotence absorbs the copy) and the queue,
 * and let the writer free the tracker when it comes back. */
static int
abandon_writer(pt_tracker *t)
{
    int rc;

    pthread_mutex_lock(&t->held_lock);
    t->abandoned = 1;
    rc = pt__rescue(t, t->held, t->held_count);
    pthread_mutex_unlock(&t->held_lock);
    int queue_rc = rescue_queue(t);
    if (rc == PT_OK)
        rc = queue_rc;
    pthread_detach(t->thread);
    if (rc == PT_OK) {
        pt__tracker_set_error(t, PT_ETIMEDOUT,
                              "close: the %s backend did not return in time; "
                              "pending records were spooled",
                              t->backend_label);
        rc = PT_ETIMEDOUT;
    }
    pt__log(PT_LOG_WARN, "%s", pt_tracker_errmsg(t));
    return rc;
}

int
pt_tracker_close(pt_tracker *t, unsigned int timeout_ms)
{
    int64_t deadline;
    int rc;

    if (!t)
        return PT_OK;
    if (pt__tracker_forked(t))
        /* The parent's writer does not exist here and its locks may be
         * held forever: leak the handle rather than risk a deadlock. */
        return pt__fail(PT_ECLOSED, "close: tracker opened before fork(); "
                                    "its memory is left to the child's exit");
    atomic_store(&t->closing, 1);
    deadline = pt__monotonic_us() + (int64_t)timeout_ms * 1000;
    rc = pt_tracker_flush(t, timeout_ms);
    if (t->has_thread) {
        if (wait_writer_exit(t, deadline > pt__monotonic_us() + CLOSE_GRACE_US
                                    ? deadline
                                    : pt__monotonic_us() + CLOSE_GRACE_US)) {
            pthread_join(t->thread, NULL);
            /* Left by a writer that could neither store nor spool them. */
            rc = pt__rescue(t, t->held, t->held_count);
            if (rc == PT_OK)
                rc = rescue_queue(t);
            /* Everything is stored or spooled now, whatever flush said. */
        } else {
            rc = abandon_writer(t);
        }
    }
    pt__tracker_release(t);
    return rc;
}
