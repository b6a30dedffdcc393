/* The tracker: opening, the request path (pt_track), counters, and the
 * calls that share the backend with the writer.
 *
 * Rules for applications (also in privtrack.h):
 *  - fork(): open trackers in the process that uses them, after fork().  A
 *    tracker opened before fork() is unusable in the child — its writer
 *    thread does not exist there and its locks may be held forever — so in
 *    the child pt_track(), pt_tracker_flush() and the backend calls return
 *    PT_ECLOSED (and count a failure) instead of deadlocking, and
 *    pt_tracker_close() returns PT_ECLOSED without touching anything (the
 *    handle's memory goes with the child).  Detection is a pthread_atfork()
 *    child handler bumping a generation counter: one relaxed load per call.
 *  - Backend access: pt_tracker_query/purge/init_storage/spool_replay use
 *    the tracker's own backend instance, serialised with the writer by a
 *    mutex (a backend instance is single-threaded by contract); they wait
 *    for at most one writer step.  No second instance is opened.
 *  - Dry-run: nothing on disk — no backend, no spool, no key (an ephemeral
 *    one).  Audit lines go to the callback, else to [audit] output: a file
 *    (opened when the tracker opens, through pt__fs: never a link, a FIFO
 *    or a device, an existing one owned by root or us and not writable by
 *    others; created 0600; appended), or "-" / "stderr": the only writes to
 *    the standard streams the library makes, because the policy asked.
 *  - The writer thread runs as SCHED_BATCH.
 */
#include "pipeline/pipeline.h"
#include "policy/packed_visit.h"

#include "record/record.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* 8192 records of ~600 bytes: ~5 MiB at most queued (issue 5: a tracker
 * stays under 16 MiB however fast the producers are), and at 100,000
 * visits/s still ~80 ms of slack for a slow fsync. */
#define DEFAULT_QUEUE_CAPACITY 8192
#define DEFAULT_BATCH_SIZE     25
/* Record pool slots at most (pool.h): 256 Ki x 3.5 KiB of address space. */
#define POOL_MAX_SLOTS         ((size_t)1 << 18)
#define DEFAULT_BATCH_DELAY_MS 50

/* ---- small public helpers ------------------------------------------------ */

void
pt_tracker_options_init(pt_tracker_options *opts)
{
    const pt_tracker_options init = PT_TRACKER_OPTIONS_INIT;
    if (opts)
        *opts = init;
}

/* ---- fork detection ------------------------------------------------------ */

/* Bumped in every child after fork(): a tracker remembers the generation it
 * was opened in, and one from an earlier generation belongs to the parent
 * (its writer thread does not exist here, its locks may be held). */
static atomic_uint fork_generation;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
on_fork_child(void)
{
    atomic_fetch_add_explicit(&fork_generation, 1, memory_order_relaxed);
}

static void
install_atfork(void)
{
    pthread_atfork(NULL, NULL, on_fork_child);
}

int
pt__tracker_forked(const pt_tracker *t)
{
    return t->fork_generation !=
           atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

/* ---- errors -------------------------------------------------------------- */

void
pt__tracker_set_error(pt_tracker *t, int code, const char *fmt, ...)
{
    va_list ap;
    int next;

    pthread_mutex_lock(&t->errmsg_lock);
    next = 1 - atomic_load(&t->errmsg_index);
    va_start(ap, fmt);
    vsnprintf(t->errmsg[next], sizeof(t->errmsg[next]), fmt, ap);
    va_end(ap);
    atomic_store(&t->errmsg_index, next);
    pt__fail(code, "%s", t->errmsg[next]);
    pthread_mutex_unlock(&t->errmsg_lock);
}

const char *
pt_tracker_errmsg(const pt_tracker *t)
{
    if (!t)
        return "";
    return t->errmsg[atomic_load(&((pt_tracker *)t)->errmsg_index)];
}

/* ---- open ---------------------------------------------------------------- */

static const char *
label_for(const char *backend)
{
    if (strcmp(backend, "dynamodb") == 0)
        return "DynamoDB";
    if (strcmp(backend, "file") == 0)
        return "file store";
    return backend;
}

/* Records the writer takes per cycle (one sync) and per replay step:
 * 16 batches, or what a backend asking for group commit wants (`group`,
 * bounded by half the queue); never less than one batch. */
static size_t
held_capacity(size_t batch_size, size_t queue_capacity, size_t group)
{
    size_t cap;

    if (batch_size <= 8192 / PT__BATCHES_PER_SYNC)
        cap = batch_size * PT__BATCHES_PER_SYNC;
    else
        cap = 8192;
    if (group > 0)
        cap = group < queue_capacity / 2 ? group : queue_capacity / 2;
    return cap > batch_size ? cap : batch_size;
}

/* The backend's wish for records per put() (0: none). */
static size_t
backend_batch_size(pt_storage *backend)
{
    size_t n = 0;

    if (!backend->methods->control ||
        backend->methods->control(backend, PT_STORAGE_CTL_BATCH_SIZE, &n) !=
            PT_OK)
        return 0;
    return n;
}

/* A backend that asks for records per put() (`wish`: DynamoDB, to keep
 * its connections busy) gets a whole replay step in one put(): the records
 * are already there, all at once, and one put() keeps its requests flowing
 * over the whole step, where puts of `wish` records each wait for their
 * last request before the next one starts.  Nothing is stored twice for
 * it: *written still says how many of the first records are stored, and a
 * replay looks its records up. */
static void
replay_in_one_put(pt_tracker *t, size_t wish)
{
    if (wish > 0)
        t->replay_batch = t->replay_step;
}

/* The backend's wish for group commit (0: none). */
static size_t
backend_group_commit(pt_storage *backend)
{
    size_t group = 0;

    if (!backend->methods->control ||
        backend->methods->control(backend, PT_STORAGE_CTL_GROUP_COMMIT,
                                  &group) != PT_OK)
        return 0;
    return group;
}

static int
copy_settings(pt_tracker *t, const pt_policy *policy,
              const pt_tracker_options *o)
{
    const char *path =
        o->storage_path ? o->storage_path : pt__policy_storage_path(policy);
    pt_buf spool = PT_BUF_INIT;

    t->dry_run = o->dry_run < 0 ? pt__policy_dry_run(policy) : o->dry_run;
    t->read_only = o->read_only != 0;
    /* A read-only tracker writes nothing, so it needs no writer thread. */
    t->synchronous = o->synchronous != 0 || t->read_only;
    t->batch_size = o->batch_size ? o->batch_size : DEFAULT_BATCH_SIZE;
    /* Replay steps in synchronous mode; open_pipeline() sets it again
     * with the backend's group commit. */
    t->held_capacity = held_capacity(t->batch_size, 0, 0);
    t->replay_batch = t->batch_size;
    t->replay_step = t->held_capacity;
    t->batch_delay_ms =
        o->batch_delay_ms ? o->batch_delay_ms : DEFAULT_BATCH_DELAY_MS;
    t->block_us = o->block_us;
    t->audit = o->audit;
    t->audit_userdata = o->audit_userdata;
    t->backend_label = label_for(pt__policy_backend(policy));
    if (o->spool_dir)
        pt_buf_puts(&spool, o->spool_dir);
    else
        pt_buf_printf(&spool, "%s/spool", path);
    t->storage_path = pt__strdup(path);
    t->spool_dir = pt_buf_detach(&spool);
    if (!t->storage_path || !t->spool_dir)
        return pt__fail(PT_ENOMEM, "out of memory opening a tracker");
    return PT_OK;
}

static pt_tracker *
tracker_alloc(void)
{
    pt_tracker *t;
    /* aligned_alloc: the struct's cache-line alignment is real. */
    size_t size =
        (sizeof(*t) + PT__CACHE_LINE - 1) & ~(size_t)(PT__CACHE_LINE - 1);

    t = aligned_alloc(PT__CACHE_LINE, size);
    if (!t)
        return NULL;
    memset(t, 0, sizeof(*t));
    t->audit_fd = -1;
    pthread_mutex_init(&t->audit_lock, NULL);
    pthread_mutex_init(&t->backend_lock, NULL);
    pthread_mutex_init(&t->wake_lock, NULL);
    pthread_mutex_init(&t->held_lock, NULL);
    pthread_mutex_init(&t->errmsg_lock, NULL);
    /* Deadlines are monotonic: a clock change must not stretch them. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&t->wake_cond, &attr);
    pthread_cond_init(&t->done_cond, &attr);
    pthread_condattr_destroy(&attr);
    atomic_init(&t->refs, 1);
    return t;
}

/* The backend, the spool, and the queue with its writer thread; none of
 * them exists in dry-run mode, so nothing touches the disk. */
static int
open_pipeline(pt_tracker *t, const pt_tracker_options *o)
{
    int rc = pt__storage_open(&t->backend, t->policy, t->storage_path);
    size_t orphans, slots;

    if (rc != PT_OK || t->read_only)
        return rc;
    if ((rc = pt__spool_open(&t->spool, t->spool_dir)) != PT_OK)
        return rc;
    /* A refused spool directory (writable by others: anyone could have put
     * records there) or segment is not replayed: the store may still work,
     * so the open goes on; the scan has logged what it left. */
    if (pt__spool_scan(t->spool, &orphans) == PT_OK && orphans)
        pt__log(PT_LOG_INFO,
                "spool %s: %zu segment(s) left by an earlier process will be "
                "replayed",
                t->spool_dir, orphans);
    t->rng = pt__backoff_seed(t);
    if (t->synchronous) {
        /* A replay (`privtrack spool replay` is synchronous) goes in the
         * backend's batches and group commits, as a writer thread's does:
         * one sync and one progress save per step, not per 400 records. */
        size_t wish = o->batch_size ? 0 : backend_batch_size(t->backend);
        if (wish > DEFAULT_QUEUE_CAPACITY / 2)
            wish = DEFAULT_QUEUE_CAPACITY / 2;
        if (wish > 0)
            t->replay_batch = wish;
        t->replay_step = held_capacity(t->replay_batch, DEFAULT_QUEUE_CAPACITY,
                                       backend_group_commit(t->backend));
        replay_in_one_put(t, wish);
        return PT_OK;
    }
    rc = pt__queue_init(&t->queue, o->queue_capacity ? o->queue_capacity
                                                     : DEFAULT_QUEUE_CAPACITY);
    if (rc != PT_OK)
        return rc;
    if (!o->batch_size) {
        size_t wish = backend_batch_size(t->backend);
        if (wish > pt__queue_capacity(&t->queue) / 2)
            wish = pt__queue_capacity(&t->queue) / 2;
        if (wish > 0)
            t->batch_size = wish;
    }
    t->held_capacity =
        held_capacity(t->batch_size, pt__queue_capacity(&t->queue),
                      backend_group_commit(t->backend));
    t->replay_batch = t->batch_size;
    t->replay_step = t->held_capacity;
    replay_in_one_put(t, o->batch_size ? 0 : backend_batch_size(t->backend));
    t->held = calloc(t->held_capacity, sizeof(*t->held));
    if (!t->held)
        return pt__fail(PT_ENOMEM, "cannot allocate a batch of %zu",
                        t->held_capacity);
    /* A slot for every record that can be in flight (queued or held), up
     * to a bound; beyond it, and without a pool at all (address space
     * refused), records simply stay malloc()ed. */
    slots = pt__queue_capacity(&t->queue) + t->held_capacity;
    if (pt__pool_init(&t->pool,
                      slots < POOL_MAX_SLOTS ? slots : POOL_MAX_SLOTS) != PT_OK)
        pt__log(PT_LOG_DEBUG, "no record pool: %s", pt_last_error());
    /* Wake the writer early only when waiting out batch_delay_ms could
     * overflow the queue, or a whole cycle's worth is already there. */
    t->wake_threshold = pt__queue_capacity(&t->queue) / 4;
    if (t->wake_threshold > t->held_capacity)
        t->wake_threshold = t->held_capacity;
    if (t->wake_threshold == 0)
        t->wake_threshold = 1;
    atomic_store(&t->refs, 2); /* the writer holds one */
    rc = pthread_create(&t->thread, NULL, pt__writer_main, t);
    if (rc != 0) {
        atomic_store(&t->refs, 1);
        return pt__fail(PT_ENOMEM, "cannot start the writer thread: %s",
                        strerror(rc));
    }
    t->has_thread = 1;
    return PT_OK;
}

/* The descriptor for "-" / "stdout" / "stderr"; -1 when [audit] output
 * names a file. */
static int
audit_stream(const char *output)
{
    if (strcmp(output, "-") == 0 || strcmp(output, "stdout") == 0)
        return STDOUT_FILENO;
    if (strcmp(output, "stderr") == 0)
        return STDERR_FILENO;
    return -1;
}

/* A dry run without a callback writing its audit to a file opens it now,
 * so that a file it must refuse (a link, a FIFO, someone else's file)
 * fails pt_tracker_open() instead of losing the audit quietly. */
static int
open_audit_file(pt_tracker *t)
{
    const char *output = pt__policy_audit_output(t->policy);
    int rc;

    if (!t->dry_run || t->audit || audit_stream(output) >= 0)
        return PT_OK;
    rc = pt__fs_open_path(&t->audit_fd, output, O_WRONLY | O_APPEND | O_CREAT,
                          PT_FS_ANY_DIR);
    if (rc == PT_OK)
        rc = pt__fs_check_owner(t->audit_fd, "audit output", output, 022);
    return rc == PT_OK ? PT_OK
                       : pt__fail(rc, "audit output: %s", pt_last_error());
}

/* [ip] rotate = never: the one key, and its pseudonym cache (freed with
 * the tracker, after the key is wiped). */
static int
open_key(pt_tracker *t, const pt_policy *policy)
{
    int rc = pt__ip_key_load(&t->key, policy, t->storage_path, !t->dry_run);
    if (rc == PT_OK && t->key.id) {
        /* Without memory for it, every address is hashed: still right. */
        t->pseudonyms = pt__pseudonym_cache_new();
        t->key.cache = t->pseudonyms;
    }
    return rc;
}

int
pt_tracker_open(pt_tracker **out, const pt_policy *policy,
                const pt_tracker_options *opts)
{
    pt_tracker_options defaults = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *t;
    int rc;

    if (!out)
        return pt__fail(PT_EINVAL, "pt_tracker_open: out is NULL");
    *out = NULL;
    if (!policy)
        return pt__fail(PT_EINVAL, "pt_tracker_open: policy is NULL");
    if (!opts)
        opts = &defaults;
    if (opts->version < 1)
        return pt__fail(PT_EINVAL, "pt_tracker_open: options version %u",
                        opts->version);
    pthread_once(&atfork_once, install_atfork);
    if (!(t = tracker_alloc()))
        return pt__fail(PT_ENOMEM, "out of memory opening a tracker");
    t->fork_generation = atomic_load(&fork_generation);
    t->policy = pt__policy_ref(policy);
    pt__retention_from_policy(&t->retention, policy);
    rc = copy_settings(t, policy, opts);
    /* In dry-run the key is never created on disk: an ephemeral one is. */
    if (rc == PT_OK && !t->read_only)
        rc = pt_policy_rotation(policy) != PT_ROTATE_NEVER
                 ? pt__tracker_keys_open(t)
                 : open_key(t, policy);
    if (rc == PT_OK)
        rc = open_audit_file(t);
    if (rc == PT_OK && !t->dry_run)
        rc = open_pipeline(t, opts);
    if (rc != PT_OK) {
        char detail[512];
        pt__snprintf(detail, sizeof(detail), "%s", pt_last_error());
        pt__tracker_release(t);
        return pt__fail(rc, "%s", detail);
    }
    *out = t;
    return PT_OK;
}

void
pt__tracker_release(pt_tracker *t)
{
    if (atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    for (size_t i = 0; i < t->held_count; i++)
        pt__pool_release(&t->pool, t->held[i]);
    free(t->held);
    if (t->queue.cells) {
        void *item;
        while ((item = pt__queue_pop(&t->queue)) != NULL)
            pt__pool_release(&t->pool, item);
        pt__queue_destroy(&t->queue);
    }
    pt__pool_destroy(&t->pool); /* after every record went back */
    /* The spool first: once the backend is closed (an observable event
     * for a custom backend), the spool's segments are free for others. */
    pt__spool_close(t->spool);
    pt__storage_close(t->backend);
    if (t->audit_fd >= 0)
        close(t->audit_fd);
    pt__ip_key_wipe(&t->key);
    pt__pseudonym_cache_free(t->pseudonyms);
    pt__keys_close(t->keys);
    pt_policy_free(t->policy);
    free(t->storage_path);
    free(t->spool_dir);
    pthread_mutex_destroy(&t->audit_lock);
    pthread_mutex_destroy(&t->backend_lock);
    pthread_mutex_destroy(&t->wake_lock);
    pthread_mutex_destroy(&t->held_lock);
    pthread_mutex_destroy(&t->errmsg_lock);
    pthread_cond_destroy(&t->wake_cond);
    pthread_cond_destroy(&t->done_cond);
    free(t);
}

/* ---- the request path ---------------------------------------------------- */

static void
count_drop(pt_tracker *t, pt_drop_reason reason)
{
    atomic_fetch_add_explicit(&t->produced.dropped[reason], 1,
                              memory_order_relaxed);
}

/* Dry-run: hand the audit line to the callback, else to [audit] output:
 * "-" is stdout and "stderr" stderr — the only writes to those streams the
 * library ever makes, because the policy explicitly asked for them. */
static void
emit_audit(pt_tracker *t, pt_buf *line)
{
    const char *output;
    int fd;

    if (line->oom || !line->ptr)
        return;
    if (t->audit) {
        t->audit(line->ptr, t->audit_userdata);
        return;
    }
    output = pt__policy_audit_output(t->policy);
    pt_buf_putc(line, '\n');
    fd = audit_stream(output);
    if (fd < 0)
        fd = t->audit_fd; /* opened by pt_tracker_open() */
    /* One write per line so lines from several trackers never interleave. */
    pthread_mutex_lock(&t->audit_lock);
    if (fd >= 0 && !line->oom && pt__write(fd, line->ptr, line->len) < 0)
        pt__log(PT_LOG_ERROR, "audit output %s: %s", output, strerror(errno));
    pthread_mutex_unlock(&t->audit_lock);
}

/* Queue full: wait up to block_us (if asked), polling with short sleeps. */
static int
push_blocking(pt_tracker *t, pt_record *record)
{
    int64_t deadline = pt__monotonic_us() + t->block_us;
    struct timespec pause = {0, 20000};

    do {
        pt__writer_wake(t);
        nanosleep(&pause, NULL);
        if (pt__queue_push(&t->queue, record))
            return 1;
        /* Neither the backend nor the spool takes records (a full disk,
         * a file-size limit below one record): waiting cannot make room,
         * and would make every later call wait as long. */
        if (atomic_load(&t->stuck_error) != PT_OK)
            return 0;
    } while (pt__monotonic_us() < deadline);
    return 0;
}

static void
enqueue(pt_tracker *t, pt_record *record, pt_track_result *result)
{
    record = pt__pool_adopt(&t->pool, record);
    if (pt__queue_push(&t->queue, record) ||
        (t->block_us && push_blocking(t, record))) {
        atomic_fetch_add_explicit(&t->produced.accepted, 1,
                                  memory_order_relaxed);
        /* Producers and the writer pair a seq_cst fence with a seq_cst
         * state: either we see the writer asleep, or it sees our item. */
        atomic_thread_fence(memory_order_seq_cst);
        if (atomic_load_explicit(&t->writer_state, memory_order_relaxed) ==
                PT__WRITER_ASLEEP &&
            pt__queue_size(&t->queue) >= t->wake_threshold)
            pt__writer_wake(t);
        return;
    }
    pt__pool_release(&t->pool, record);
    count_drop(t, PT_DROP_QUEUE_FULL);
    if (result) {
        result->dropped = PT_DROP_QUEUE_FULL;
        result->session_id[0] = '\0';
    }
}

/* What pt__snprintf(out, size, "%s", id) gives (cut to fit), without
 * the formatting machinery: that was 3-4 % of a bulk import's reading
 * thread, for a copy of twenty bytes. */
static void
copy_session_id(char *out, size_t size, const char *id)
{
    size_t n = strlen(id);
    if (n >= size)
        n = size - 1;
    memcpy(out, id, n);
    out[n] = '\0';
}

int
pt_track(pt_tracker *t, const pt_visit *visit, pt_track_result *result)
{
    if (t && t->read_only)
        return pt__fail(PT_EUNSUPPORTED, "pt_track: the tracker is read-only");
    pt__apply_result applied = {PT_DROP_NONE, NULL, 0, 0};
    pt_buf audit = PT_BUF_INIT;
    const pt__ip_key *key;
    unsigned int token = 0;
    int64_t now;
    int rc;

    if (!t || !visit)
        return pt__fail(PT_EINVAL, "pt_track: NULL argument");
    if (pt__tracker_forked(t)) {
        atomic_fetch_add(&t->produced.failures, 1);
        return pt__fail(PT_ECLOSED, "this tracker was opened before fork(); "
                                    "open a new one in the child");
    }
    if (atomic_load_explicit(&t->closing, memory_order_relaxed))
        return pt__fail(PT_ECLOSED, "the tracker is closing");
    now = pt__now_us();
    key = &t->key;
    if (t->keys) {
        /* the key of the visit's period, by the visit's time: a table
         * lookup in a read section, nothing more */
        token = pt__keys_enter(t->keys);
        key =
            pt__keys_find(t->keys, visit->time_us ? visit->time_us : now, now);
    }
    rc = pt__policy_apply(t->policy, key, visit, now, &applied,
                          t->dry_run ? &audit : NULL);
    if (t->keys)
        pt__keys_leave(t->keys, token);
    /* A failure leaves no record (nor audit line); success, a record or a
     * drop reason. */
    if (rc != PT_OK)
        applied.dropped = PT_DROP_INVALID;
    if (result) {
        result->dropped = applied.dropped;
        result->session_id[0] = '\0';
        if (applied.record && applied.record->session_id)
            copy_session_id(result->session_id, sizeof(result->session_id),
                            applied.record->session_id);
    }
    if (t->dry_run) {
        emit_audit(t, &audit);
        pt_buf_free(&audit);
    }
    if (applied.dropped != PT_DROP_NONE) {
        pt__record_free(applied.record);
        count_drop(t, applied.dropped);
        return PT_OK;
    }
    if (applied.key_missing)
        atomic_fetch_add_explicit(applied.key_missing == PT__KEY_EXPIRED
                                      ? &t->produced.ip_key_expired
                                      : &t->produced.ip_key_unavailable,
                                  1, memory_order_relaxed);
    if (t->dry_run) {
        pt__record_free(applied.record);
        atomic_fetch_add_explicit(&t->produced.accepted, 1,
                                  memory_order_relaxed);
    } else if (t->synchronous) {
        atomic_fetch_add_explicit(&t->produced.accepted, 1,
                                  memory_order_relaxed);
        pt__write_through(t, applied.record);
    } else {
        enqueue(t, applied.record, result);
    }
    return PT_OK;
}

/* Arrays for this many headers and list entries live on the stack; a
 * bigger visit (the policy cuts long lists, but only after this) takes one
 * allocation. */
enum { PACKED_STACK_HEADERS = 16, PACKED_STACK_LISTS = 32 };

int
pt_track_packed(pt_tracker *t, const void *buf, size_t len,
                pt_track_result *result)
{
    pt_header stack_headers[PACKED_STACK_HEADERS];
    const char *stack_lists[PACKED_STACK_LISTS];
    pt_header *headers = stack_headers;
    const char **lists = stack_lists;
    void *heap = NULL;
    pt_packed_visit head;
    pt_visit visit;
    size_t lists_count;
    int rc;

    rc = pt__packed_visit_head(buf, len, &head);
    if (rc != PT_OK)
        return rc;
    lists_count = (size_t)head.link_count + head.filename_count;
    if (head.header_count > PACKED_STACK_HEADERS ||
        lists_count > PACKED_STACK_LISTS) {
        /* The counts fit in len (pt__packed_visit_head), so the sizes
         * cannot overflow. */
        heap = malloc(head.header_count * sizeof(*headers) +
                      lists_count * sizeof(*lists));
        if (!heap) {
            /* As pt_track() does when the policy runs out of memory: the
             * visit is dropped, the request goes on. */
            if (t)
                count_drop(t, PT_DROP_INVALID);
            if (result) {
                result->dropped = PT_DROP_INVALID;
                result->session_id[0] = '\0';
            }
            return t ? PT_OK : pt__fail(PT_EINVAL, "pt_track: NULL argument");
        }
        headers = heap;
        lists = (const char **)(headers + head.header_count);
    }
    rc = pt__packed_visit_unpack(buf, len, &head, headers, lists, &visit);
    if (rc == PT_OK)
        rc = pt_track(t, &visit, result);
    free(heap);
    return rc;
}

/* ---- counters ------------------------------------------------------------ */

int
pt_tracker_counters(const pt_tracker *tracker, pt_counters *out)
{
    pt_tracker *t = (pt_tracker *)tracker; /* atomics are read, not changed */

    if (!t || !out)
        return pt__fail(PT_EINVAL, "pt_tracker_counters: NULL argument");
    memset(out, 0, sizeof(*out));
    out->accepted = atomic_load(&t->produced.accepted);
    for (int i = 0; i < PT_DROP__COUNT; i++)
        out->dropped[i] = atomic_load(&t->produced.dropped[i]);
    out->stored = atomic_load(&t->written.stored);
    out->spooled = atomic_load(&t->written.spooled);
    out->replayed = atomic_load(&t->written.replayed);
    out->retries = atomic_load(&t->written.retries) +
                   atomic_load(&t->written.backend_retries);
    out->failures =
        atomic_load(&t->written.failures) + atomic_load(&t->produced.failures);
    out->ip_key_expired = atomic_load(&t->produced.ip_key_expired);
    out->ip_key_unavailable = atomic_load(&t->produced.ip_key_unavailable);
    return PT_OK;
}

/* ---- calls sharing the backend with the writer ---------------------------
 * They take backend_lock, so each waits for at most the writer's current
 * batch; a second backend instance would double connections and, for the
 * file store, race with our own appends for no gain. */

int
pt__tracker_backend_usable(pt_tracker *t, const char *what)
{
    if (!t)
        return pt__fail(PT_EINVAL, "%s: tracker is NULL", what);
    if (pt__tracker_forked(t))
        return pt__fail(PT_ECLOSED, "%s: tracker opened before fork()", what);
    if (!t->backend) {
        pt__tracker_set_error(t, PT_EUNSUPPORTED,
                              "%s: a dry-run tracker has no storage backend",
                              what);
        return PT_EUNSUPPORTED;
    }
    return PT_OK;
}

static int
backend_result(pt_tracker *t, int rc)
{
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s",
                              t->backend->errmsg[0] ? t->backend->errmsg
                                                    : pt_last_error());
    return rc;
}

int
pt_tracker_query(pt_tracker *t, pt_record_list **out, const char *date,
                 size_t limit)
{
    int rc = pt__tracker_backend_usable(t, "query");
    int64_t now;

    if (out)
        *out = NULL;
    if (rc != PT_OK)
        return rc;
    if (!out || !date || !pt__valid_date(date)) {
        pt__tracker_set_error(t, PT_EINVAL, "query: invalid date '%s'",
                              date ? date : "(null)");
        return PT_EINVAL;
    }
    now = pt__now_us() / 1000000;
    pthread_mutex_lock(&t->backend_lock);
    t->backend->errmsg[0] = '\0';
    rc = pt__storage_query(t->backend, out, date, limit, now);
    pthread_mutex_unlock(&t->backend_lock);
    if (rc == PT_OK)
        pt__tracker_hide_list(t, *out, now);
    return backend_result(t, rc);
}

int
pt_tracker_purge(pt_tracker *t, int64_t now, uint64_t *removed)
{
    int rc = pt__tracker_backend_usable(t, "purge");

    if (removed)
        *removed = 0;
    if (rc != PT_OK)
        return rc;
    pthread_mutex_lock(&t->backend_lock);
    t->backend->errmsg[0] = '\0';
    rc = pt__storage_purge(t->backend, now ? now : pt__now_us() / 1000000,
                           removed);
    pthread_mutex_unlock(&t->backend_lock);
    rc = backend_result(t, rc);
    if (rc == PT_OK && pt__retention_fields(&t->retention))
        rc = pt__tracker_purge_fields(t, now ? now : pt__now_us() / 1000000);
    if (rc == PT_OK && pt_policy_rotation(t->policy) != PT_ROTATE_NEVER) {
        rc = pt__tracker_keys_purge(t); /* reports its own error */
    }
    return rc;
}

int
pt_tracker_init_storage(pt_tracker *t)
{
    int rc = pt__tracker_backend_usable(t, "init_storage");

    if (rc == PT_OK && t->read_only)
        return pt__fail(PT_EUNSUPPORTED, "init_storage: the tracker is "
                                         "read-only");
    if (rc != PT_OK)
        return rc;
    pthread_mutex_lock(&t->backend_lock);
    t->backend->errmsg[0] = '\0';
    rc = pt__storage_init(t->backend);
    pthread_mutex_unlock(&t->backend_lock);
    rc = backend_result(t, rc);
    if (rc == PT_OK && t->keys) {
        rc = pt__tracker_keys_init(t);
        if (rc != PT_OK)
            pt__tracker_set_error(t, rc, "init_storage: %s", pt_last_error());
    }
    return rc;
}

int
pt_tracker_spool_status(pt_tracker *t, pt_spool_status *out)
{
    int rc;

    if (!t || !out)
        return pt__fail(PT_EINVAL, "spool_status: NULL argument");
    rc = pt__spool_status(t->spool_dir, out);
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s", pt_last_error());
    return rc;
}

int
pt_tracker_spool_replay(pt_tracker *t, unsigned int timeout_ms,
                        uint64_t *replayed)
{
    int64_t deadline;
    int rc = pt__tracker_backend_usable(t, "spool_replay"), refused;
    pt_buf why = PT_BUF_INIT;

    if (replayed)
        *replayed = 0;
    if (rc == PT_OK && t->read_only)
        return pt__fail(PT_EUNSUPPORTED, "spool_replay: the tracker is "
                                         "read-only");
    if (rc != PT_OK)
        return rc;
    deadline = pt__monotonic_us() + (int64_t)timeout_ms * 1000;
    /* Segments of processes gone since open.  What the scan refused (the
     * directory, or a segment) is an error of the replay, once the rest is
     * replayed: never "nothing to replay". */
    refused = pt__spool_scan(t->spool, NULL);
    if (refused != PT_OK)
        pt_buf_puts(&why, pt_last_error());
    /* One step at a time under backend_lock, interleaved with the writer. */
    rc = pt__replay_until(t, deadline, replayed);
    if (rc == PT_OK && refused != PT_OK)
        rc = pt__fail(refused, "%s", why.oom ? "spool refused" : why.ptr);
    pt_buf_free(&why);
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "spool_replay: %s", pt_last_error());
    return rc;
}
