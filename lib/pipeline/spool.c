/* The durable spool: append, scan, replay; see spool.h for the format. */
#include "pipeline/spool.h"

#include "pipeline/spool_file.h"
#include "record/record.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* A segment the spool replays: an orphan (locked when opened), a retired
 * segment of ours, or our current one (the last in the list). */
typedef struct segment {
    char *path;
    int fd;          /* -1 until opened and locked */
    uint64_t offset; /* first byte not yet replayed */
    uint64_t size;   /* bytes written by us (own segments only) */
    int own;
} segment;

/* Read-ahead (see spool.h): while a step's records are being put, a helper
 * thread saves the previous step's progress and reads the step after.  At
 * most one helper runs, only within a step, joined before the step ends;
 * between steps its results wait here, touched by replay steps only. */
typedef struct ahead {
    /* the progress of the last step, not yet saved */
    char *save_path;
    uint64_t save_offset;
    /* the records after the last step, read ahead */
    char *path;     /* the segment, NULL when nothing was read ahead */
    uint64_t from;  /* the offset they were read from */
    size_t max;     /* and how many were asked for */
    int fd;         /* read job: the segment's descriptor */
    uint64_t limit; /* read job: not past this offset */
    int rc;         /* the read's result */
    pt__spool_batch batch;
    pthread_t thread;
    int running;
} ahead;

struct pt__spool {
    pthread_mutex_t lock;
    ahead ahead;
    char *dir;
    segment *segs; /* replay order: orphans by name, then ours */
    size_t count;
    size_t cap;
    segment *current; /* our segment being appended to, or NULL */
};

static atomic_uint segment_counter;

int
pt__spool_open(pt__spool **out, const char *dir)
{
    pt__spool *s = calloc(1, sizeof(*s));

    *out = NULL;
    if (!s || !(s->dir = pt__strdup(dir))) {
        free(s);
        return pt__fail(PT_ENOMEM, "cannot allocate the spool");
    }
    pthread_mutex_init(&s->lock, NULL);
    *out = s;
    return PT_OK;
}

/* ---- read-ahead ---------------------------------------------------------- */

static void
free_records(pt_record **records, size_t count)
{
    for (size_t i = 0; i < count; i++)
        pt__record_free(records[i]);
}

/* Forget the records read ahead. */
static void
ahead_drop_read(ahead *a)
{
    if (a->path && a->rc == PT_OK) {
        free_records(a->batch.records, a->batch.count);
        pt__spool_batch_free(&a->batch);
    }
    free(a->path);
    a->path = NULL;
}

static void
ahead_save(ahead *a)
{
    if (!a->save_path)
        return;
    pt__spool_file_save_offset(a->save_path, a->save_offset);
    free(a->save_path);
    a->save_path = NULL;
}

/* The helper's job: the pending progress first (so that saves stay in
 * order), then the read.  Touches nothing of the spool but `a`, which the
 * step that started it leaves alone until it has joined it. */
static void *
ahead_main(void *arg)
{
    ahead *a = arg;

    ahead_save(a);
    if (a->path)
        a->rc = pt__spool_file_read(a->fd, a->path, a->from, a->limit, a->max,
                                    &a->batch);
    return NULL;
}

/* Run the job on a helper thread (every signal blocked in it: signals are
 * the application's), or here when no thread can be had. */
static void
ahead_start(ahead *a)
{
    sigset_t all, old;

    if (!a->save_path && !a->path)
        return;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    a->running = pthread_create(&a->thread, NULL, ahead_main, a) == 0;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!a->running)
        ahead_main(a);
}

static void
ahead_join(ahead *a)
{
    if (a->running)
        pthread_join(a->thread, NULL);
    a->running = 0;
}

void
pt__spool_save_progress(pt__spool *s)
{
    pthread_mutex_lock(&s->lock);
    ahead_save(&s->ahead);
    pthread_mutex_unlock(&s->lock);
}

static void
segment_release(segment *seg)
{
    if (seg->fd >= 0)
        close(seg->fd); /* also drops the flock */
    free(seg->path);
    seg->fd = -1;
    seg->path = NULL;
}

/* A segment that was fully replayed: remove it (and its progress file)
 * while still holding its lock, so nobody replays it again. */
static void
segment_finish(segment *seg)
{
    pt__spool_file_unlink(seg->path);
    segment_release(seg);
}

static void
remove_segment_at(pt__spool *s, size_t i)
{
    if (s->current == &s->segs[i])
        s->current = NULL;
    memmove(&s->segs[i], &s->segs[i + 1], (s->count - i - 1) * sizeof(segment));
    s->count--;
    if (s->current) /* the current segment is always last */
        s->current = &s->segs[s->count - 1];
}

void
pt__spool_close(pt__spool *s)
{
    if (!s)
        return;
    pt__spool_save_progress(s);
    ahead_drop_read(&s->ahead);
    for (size_t i = 0; i < s->count; i++) {
        segment *seg = &s->segs[i];
        if (seg->own && seg->fd >= 0 && seg->offset >= seg->size)
            segment_finish(seg);
        else
            segment_release(seg);
    }
    free(s->segs);
    pthread_mutex_destroy(&s->lock);
    free(s->dir);
    free(s);
}

static int
push_segment(pt__spool *s, const segment *seg)
{
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        int had_current = s->current != NULL;
        segment *grown = realloc(s->segs, cap * sizeof(*grown));
        if (!grown)
            return pt__fail(PT_ENOMEM, "cannot grow the spool segment list");
        s->segs = grown;
        s->cap = cap;
        if (had_current)
            s->current = &s->segs[s->count - 1];
    }
    if (s->current) {
        /* Keep our current segment last: new entries go before it. */
        size_t at = s->count - 1;
        s->segs[s->count] = s->segs[at];
        s->segs[at] = *seg;
        s->count++;
        s->current = &s->segs[s->count - 1];
    } else {
        s->segs[s->count++] = *seg;
    }
    return PT_OK;
}

/* ---- appending ----------------------------------------------------------- */

static int
start_segment(pt__spool *s)
{
    char name[96], tmp[112];
    segment seg = {NULL, -1, 0, 0, 1};
    unsigned int n = atomic_fetch_add(&segment_counter, 1);
    int rc;

    pt__snprintf(name, sizeof(name), "spool-%016lld-%ld-%u.log",
                 (long long)pt__now_us(), (long)getpid(), n);
    pt__snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
    rc = pt__spool_file_create(s->dir, tmp, name, &seg.fd, &seg.path);
    if (rc != PT_OK)
        return rc;
    rc = push_segment(s, &seg);
    if (rc != PT_OK) {
        segment_finish(&seg);
        return rc;
    }
    s->current = &s->segs[s->count - 1];
    return PT_OK;
}

static int
format_lines(pt_buf *out, const pt_record *const *records, size_t count)
{
    pt_buf json = PT_BUF_INIT;

    for (size_t i = 0; i < count; i++) {
        pt_buf_clear(&json);
        pt__record_json(&json, records[i]);
        if (json.oom)
            break;
        pt_buf_printf(out, "%08x ", (unsigned)pt__crc32(0, json.ptr, json.len));
        pt_buf_put(out, json.ptr, json.len);
        pt_buf_putc(out, '\n');
    }
    pt_buf_free(&json);
    return out->oom || json.oom
               ? pt__fail(PT_ENOMEM, "cannot format records for the spool")
               : PT_OK;
}

static size_t
count_lines(const char *data, size_t len)
{
    size_t n = 0;
    for (const char *p = data, *end = data + len;
         (p = memchr(p, '\n', (size_t)(end - p))) != NULL; p++)
        n++;
    return n;
}

int
pt__spool_append(pt__spool *s, const pt_record *const *records, size_t count,
                 size_t *appended)
{
    pt_buf lines = PT_BUF_INIT;
    size_t off = 0;
    int rc;

    if (appended)
        *appended = 0;
    if (count == 0)
        return PT_OK;
    rc = format_lines(&lines, records, count);
    pthread_mutex_lock(&s->lock);
    while (rc == PT_OK && off < lines.len) {
        size_t kept = 0;
        int flags = 0, fresh;
        if (!s->current && (rc = start_segment(s)) != PT_OK)
            break;
        fresh = s->current->size == 0;
        rc = pt__spool_file_append(s->current->fd, s->current->path,
                                   s->current->size, lines.ptr + off,
                                   lines.len - off, &kept, &flags);
        s->current->size += kept;
        off += kept;
        if (rc == PT_OK)
            break;
        if (flags & PT__SPOOL_CUT_FAILED) {
            /* A torn tail we could not cut stays in a retired segment (its
             * CRC makes replay skip it); never append after it. */
            s->current = NULL;
            break;
        }
        /* The file-size limit: what did not fit goes to a new segment.  A
         * fresh segment that takes no line at all means the limit is below
         * one record: give up rather than loop. */
        if (!(flags & PT__SPOOL_TOO_BIG))
            break;
        if (fresh && kept == 0) {
            rc = pt__fail(PT_ENOSPACE,
                          "spool: cannot append to %s: the file-size limit "
                          "(ulimit -f) is smaller than one record",
                          s->current->path);
            break;
        }
        pt__log(PT_LOG_INFO,
                "spool %s reached the file-size limit; continuing in a new "
                "segment",
                s->current->path);
        s->current = NULL;
        rc = PT_OK;
    }
    pthread_mutex_unlock(&s->lock);
    if (appended)
        *appended = rc == PT_OK ? count : count_lines(lines.ptr, off);
    pt_buf_free(&lines);
    return rc;
}

/* ---- scanning ------------------------------------------------------------ */

static int
known_segment(const pt__spool *s, const char *path)
{
    for (size_t i = 0; i < s->count; i++)
        if (strcmp(s->segs[i].path, path) == 0)
            return 1;
    return 0;
}

static int
by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int
pt__spool_scan(pt__spool *s, size_t *found_out)
{
    char **names = NULL;
    size_t count = 0, found = 0;
    int rc = pt__spool_file_list(s->dir, &names, &count);
    pt_buf refused = PT_BUF_INIT;

    if (found_out)
        *found_out = 0;
    if (rc != PT_OK) {
        rc = pt__fail(rc, "%s; the records waiting there are not replayed",
                      pt_last_error());
        pt__log(PT_LOG_WARN, "%s", pt_last_error());
        return rc;
    }
    if (count == 0) {
        free(names);
        return PT_OK;
    }
    qsort(names, count, sizeof(*names), by_name);
    pthread_mutex_lock(&s->lock);
    for (size_t i = 0; i < count; i++) {
        pt_buf path = PT_BUF_INIT;
        segment seg = {NULL, -1, 0, 0, 0};
        int other = 1;
        pt_buf_printf(&path, "%s/%s", s->dir, names[i]);
        if (!path.oom && !known_segment(s, path.ptr))
            other = pt__spool_file_locked_by_other(path.ptr);
        if (other == 0) {
            seg.path = pt_buf_detach(&path);
            if (push_segment(s, &seg) == PT_OK)
                found++;
            else
                free(seg.path);
        } else if (other < 0 && rc == PT_OK) {
            /* The first refusal is the answer; the others were logged. */
            rc = other;
            pt_buf_clear(&refused);
            pt_buf_puts(&refused, pt_last_error());
        }
        pt_buf_free(&path);
        free(names[i]);
    }
    pthread_mutex_unlock(&s->lock);
    free(names);
    if (found_out)
        *found_out = found;
    if (rc != PT_OK) {
        rc = pt__fail(rc, "%s; not replayed",
                      refused.oom ? "spool: a segment refused" : refused.ptr);
        pt_buf_free(&refused);
        return rc;
    }
    return PT_OK;
}

int
pt__spool_pending(const pt__spool *s)
{
    int pending = 0;
    pthread_mutex_t *lock = (pthread_mutex_t *)&s->lock;

    pthread_mutex_lock(lock);
    for (size_t i = 0; i < s->count && !pending; i++) {
        const segment *seg = &s->segs[i];
        pending = !seg->own || seg->offset < seg->size;
    }
    pthread_mutex_unlock(lock);
    return pending;
}

/* ---- replay -------------------------------------------------------------- */

/* Make segs[0] ready to read: orphans are opened and locked now; one that
 * another live tracker took first, or that is already gone, is dropped. */
static segment *
first_replayable(pt__spool *s)
{
    while (s->count > 0) {
        segment *seg = &s->segs[0];
        if (seg->own) {
            if (seg->offset < seg->size || seg != s->current)
                return seg;
            return NULL; /* our current segment, fully replayed */
        }
        if (seg->fd >= 0)
            return seg;
        if (pt__spool_file_claim(seg->path, &seg->fd, &seg->offset) == PT_OK)
            return seg;
        segment_release(seg);
        remove_segment_at(s, 0);
    }
    return NULL;
}

/* Record progress after `written` records of segs[index]; drop the
 * segment when it is wholly replayed.  After a step that succeeded the
 * offset is saved by the next step's helper (or pt__spool_save_progress):
 * the saved progress may lag a step behind, never run ahead. */
static void
commit_progress(pt__spool *s, size_t index, const pt__spool_batch *batch,
                size_t written, int complete)
{
    segment *seg = &s->segs[index];
    ahead *a = &s->ahead;
    int is_current = seg == s->current;
    uint64_t offset = complete  ? batch->scan_end
                      : written ? batch->ends[written - 1]
                                : seg->offset;

    if (!complete)
        ahead_drop_read(a);
    if (offset == seg->offset && !complete)
        return;
    seg->offset = offset;
    if ((complete && batch->eof &&
         (!seg->own || (!is_current && seg->offset >= seg->size))) ||
        (complete && is_current && seg->offset >= seg->size)) {
        /* An orphan or a retired segment of ours, read to its end; or our
         * current segment caught up: start afresh next time rather than
         * keep a file of replayed records. */
        ahead_drop_read(a);
        segment_finish(seg);
        remove_segment_at(s, index);
        return;
    }
    if (!complete) { /* a failed put: saved now, as the replay stops */
        pt__spool_file_save_offset(seg->path, seg->offset);
        return;
    }
    free(a->save_path); /* already saved: the step's helper saves first */
    a->save_path = pt__strdup(seg->path);
    a->save_offset = seg->offset;
    if (!a->save_path)
        pt__spool_file_save_offset(seg->path, seg->offset);
}

/* The entry for `path` (compared by pointer: entries move in the array,
 * their path strings do not). */
static int
find_segment(const pt__spool *s, const char *path, size_t *index)
{
    for (size_t i = 0; i < s->count; i++) {
        if (s->segs[i].path == path) {
            *index = i;
            return 1;
        }
    }
    return 0;
}

/* The records of segs[0] from its progress on: those read ahead when they
 * are these, else read now.  Then plan the next read-ahead, when the
 * segment goes on. */
static int
step_records(pt__spool *s, segment *seg, size_t max, pt__spool_batch *batch)
{
    ahead *a = &s->ahead;
    uint64_t limit = seg->own ? seg->size : UINT64_MAX;
    int rc = PT_OK;

    if (a->path && a->rc == PT_OK && a->from == seg->offset && a->max == max &&
        strcmp(a->path, seg->path) == 0) {
        *batch = a->batch;
        memset(&a->batch, 0, sizeof(a->batch));
        free(a->path);
        a->path = NULL;
    } else {
        ahead_drop_read(a);
        rc = pt__spool_file_read(seg->fd, seg->path, seg->offset, limit, max,
                                 batch);
    }
    if (rc == PT_OK && !batch->eof && batch->count > 0 &&
        (a->path = pt__strdup(seg->path)) != NULL) {
        a->fd = seg->fd;
        a->from = batch->scan_end;
        a->limit = limit;
        a->max = max;
        a->rc = PT_OK;
        memset(&a->batch, 0, sizeof(a->batch));
    }
    return rc;
}

int
pt__spool_replay_step(pt__spool *s, size_t max_records, pt__spool_put_fn put,
                      void *ctx, size_t *replayed)
{
    pt__spool_batch batch;
    segment *seg;
    const char *path;
    size_t written = 0, index = 0;
    int rc;

    *replayed = 0;
    memset(&batch, 0, sizeof(batch));
    pthread_mutex_lock(&s->lock);
    seg = first_replayable(s);
    if (!seg) {
        pthread_mutex_unlock(&s->lock);
        return PT_OK;
    }
    path = seg->path;
    rc = step_records(s, seg, max_records ? max_records : 1, &batch);
    pthread_mutex_unlock(&s->lock);
    if (rc != PT_OK)
        return rc;

    /* While the backend is busy with these records, the helper saves the
     * last step's progress and reads the next step's records.  The
     * backend call runs without the spool lock: close() may append. */
    ahead_start(&s->ahead);
    if (batch.count > 0)
        rc = put(ctx, (const pt_record *const *)batch.records, batch.count,
                 &written);
    if (rc == PT_OK)
        written = batch.count;
    ahead_join(&s->ahead);

    pthread_mutex_lock(&s->lock);
    /* Only replay steps remove entries, and they are serialised by the
     * caller, so the segment is still there; but a scan meanwhile may have
     * inserted orphans before it, so look it up again. */
    if (find_segment(s, path, &index))
        commit_progress(s, index, &batch, written, rc == PT_OK);
    pthread_mutex_unlock(&s->lock);
    *replayed = written;
    free_records(batch.records, batch.count);
    pt__spool_batch_free(&batch);
    return rc;
}

int
pt__spool_status(const char *dir, pt_spool_status *out)
{
    char **names = NULL;
    size_t count = 0;
    int rc;

    memset(out, 0, sizeof(*out));
    rc = pt__spool_file_list(dir, &names, &count);
    for (size_t i = 0; i < count; i++) {
        if (rc == PT_OK)
            rc = pt__spool_file_pending(dir, names[i], out);
        free(names[i]);
    }
    free(names);
    return rc;
}

int
pt__spool_read(const char *dir, pt_record_fn fn, void *userdata)
{
    char **names = NULL;
    size_t count = 0;
    int rc = pt__spool_file_list(dir, &names, &count);

    if (rc == PT_OK && count > 1)
        qsort(names, count, sizeof(*names), by_name);
    for (size_t i = 0; i < count; i++) {
        if (rc == PT_OK)
            rc = pt__spool_file_each(dir, names[i], fn, userdata);
        free(names[i]);
    }
    free(names);
    return rc;
}
