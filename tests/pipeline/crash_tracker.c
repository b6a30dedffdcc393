/* Crashes and full disks: nothing acknowledged is lost.
 *
 * "Acknowledged" = the record was accepted by pt_track() and a later
 * pt_tracker_flush() returned PT_OK (the record was then stored or in the
 * durable spool).  Children report acknowledged session ids through a
 * pipe; the parent checks each is stored exactly once after the next
 * tracker replayed the spool. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "privtrack.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "down_backend.h"
#include "test_tmpdir.h"

#define REPLAY_N     1000
#define REPLAY_BATCH 10 /* a replay step is 16 batches: 160 records */

typedef struct fixture {
    char root[256];
    char store[300];
    char spool[300];
    int64_t base_us; /* visit times: base + i µs, all on one date */
    char date[11];
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    time_t now = time(NULL);
    struct tm tm;

    if (pt_test_mkdtemp(f->root, sizeof(f->root), "pt-crash") != 0)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/store", f->root);
    snprintf(f->spool, sizeof(f->spool), "%s/spool", f->root);
    /* Noon UTC today: a test running at midnight stays on one date. */
    gmtime_r(&now, &tm);
    tm.tm_hour = 12;
    tm.tm_min = tm.tm_sec = 0;
    f->base_us = (int64_t)timegm(&tm) * 1000000;
    strftime(f->date, sizeof(f->date), "%Y-%m-%d", &tm);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    if (pt_test_rmtree(f->root) != 0)
        return -1;
    free(f);
    return 0;
}

static pt_policy *
make_policy(const char *backend, const char *store)
{
    char text[512];
    pt_policy *p = NULL;
    snprintf(text, sizeof(text),
             "[policy]\nname = crash\n[storage]\nbackend = %s\npath = %s\n"
             "[ip]\nmode = truncate\n",
             backend, store);
    if (pt_policy_load_buffer(&p, text, strlen(text), "crash.ini") != PT_OK)
        return NULL;
    return p;
}

static pt_visit
visit_at(int64_t time_us)
{
    static const char *const links[] = {"https://example.org/a"};
    pt_visit v = PT_VISIT_INIT;
    v.remote_addr = "192.0.2.77";
    v.links = links;
    v.link_count = 1;
    v.time_us = time_us;
    return v;
}

/* ---- acknowledgements through a pipe ---------------------------------------
 */

typedef struct acks {
    char (*ids)[80];
    size_t count;
    size_t cap;
} acks;

static void
send_ids(int fd, char (*ids)[24], size_t count)
{
    for (size_t i = 0; i < count; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "%s\n", ids[i]);
        if (write(fd, line, (size_t)n) != n)
            _exit(3);
    }
}

/* Read whole lines; returns 0 at EOF. */
static int
read_acks(int fd, acks *a, size_t want)
{
    static char buf[4096];
    static size_t have;
    while (a->count < want) {
        char *nl;
        while ((nl = memchr(buf, '\n', have)) != NULL) {
            size_t len = (size_t)(nl - buf);
            if (a->count == a->cap) {
                a->cap = a->cap ? a->cap * 2 : 1024;
                a->ids = realloc(a->ids, a->cap * sizeof(*a->ids));
                assert_non_null(a->ids);
            }
            snprintf(a->ids[a->count++], sizeof(a->ids[0]), "%.*s", (int)len,
                     buf);
            memmove(buf, nl + 1, have - len - 1);
            have -= len + 1;
        }
        if (a->count >= want)
            break;
        ssize_t n = read(fd, buf + have, sizeof(buf) - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return 0;
        have += (size_t)n;
    }
    return 1;
}

/* ---- checking the store ----------------------------------------------------
 */

static int
by_id(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Replay the spool into the file store with a fresh tracker; return the
 * stored session ids, sorted, checking none is there twice. */
static char (*replay_into_store(fixture *f, size_t *count,
                                uint64_t *replayed))[24]
{
    pt_policy *p = make_policy("file", f->store);
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *t;
    pt_record_list *list;
    pt_spool_status st;
    char(*stored)[24];

    assert_non_null(p);
    o.spool_dir = f->spool;
    o.synchronous = 1;
    assert_int_equal(pt_tracker_open(&t, p, &o), PT_OK);
    assert_int_equal(pt_tracker_spool_replay(t, 60000, replayed), PT_OK);
    assert_int_equal(pt_tracker_spool_status(t, &st), PT_OK);
    assert_int_equal(st.pending_records, 0);
    assert_int_equal(pt_tracker_query(t, &list, f->date, 0), PT_OK);
    assert_int_equal(pt_tracker_close(t, 5000), PT_OK);
    pt_policy_free(p);

    stored = calloc(list->count + 1, sizeof(*stored));
    for (size_t i = 0; i < list->count; i++)
        snprintf(stored[i], 24, "%s", list->records[i].session_id);
    qsort(stored, list->count, sizeof(*stored), by_id);
    for (size_t i = 1; i < list->count; i++)
        if (strcmp(stored[i - 1], stored[i]) == 0)
            fail_msg("session %s stored twice", stored[i]);
    *count = list->count;
    pt_record_list_free(list);
    return stored;
}

/* Every acknowledged id is stored exactly once. */
static size_t
replay_and_check(fixture *f, acks *a)
{
    uint64_t replayed = 0;
    size_t count;
    char(*stored)[24] = replay_into_store(f, &count, &replayed);

    for (size_t i = 0; i < a->count; i++)
        if (!bsearch(a->ids[i], stored, count, sizeof(*stored), by_id))
            fail_msg("acknowledged session %s lost", a->ids[i]);
    free(stored);
    print_message("replayed %llu, stored %zu, acknowledged %zu\n",
                  (unsigned long long)replayed, count, a->count);
    return count;
}

/* After a replay killed midway (its backend logged to `log_path`): every
 * acknowledged id is in the log or the store, and what the next replay
 * sent again is at most two replay steps (16 batches each): a step's
 * progress is saved while the next step is being put, so a kill before
 * that save sends the step again, and what the next one had stored. */
static size_t
replay_and_check_subset(fixture *f, acks *a, const char *log_path)
{
    uint64_t replayed = 0;
    size_t count, logged = 0, overlap = 0;
    char(*stored)[24] = replay_into_store(f, &count, &replayed);
    char(*log)[24] = calloc(a->count + 1, sizeof(*log));
    FILE *fp = fopen(log_path, "r");
    char line[64];

    assert_non_null(fp);
    while (logged < a->count && fgets(line, sizeof(line), fp)) {
        line[strcspn(line, "\n")] = '\0';
        snprintf(log[logged++], 24, "%.23s", line);
    }
    fclose(fp);
    qsort(log, logged, sizeof(*log), by_id);
    for (size_t i = 1; i < logged; i++)
        if (strcmp(log[i - 1], log[i]) == 0)
            fail_msg("session %s replayed twice before the kill", log[i]);
    for (size_t i = 0; i < a->count; i++) {
        int in_store =
            bsearch(a->ids[i], stored, count, sizeof(*stored), by_id) != NULL;
        int in_log =
            bsearch(a->ids[i], log, logged, sizeof(*log), by_id) != NULL;
        if (!in_store && !in_log)
            fail_msg("acknowledged session %s lost", a->ids[i]);
        overlap += in_store && in_log;
    }
    print_message("sent again after the kill: %zu (one step: %d)\n", overlap,
                  16 * REPLAY_BATCH);
    assert_true(overlap <= 2 * 16 * REPLAY_BATCH);
    free(stored);
    free(log);
    return count;
}

/* ---- SIGKILL mid-stream ----------------------------------------------------
 */

#define ACK_EVERY 50

static void
child_spooling_forever(fixture *f, int fd)
{
    pt_policy *p;
    pt_tracker *t;
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    char pending[ACK_EVERY][24];
    size_t n = 0;

    pt_test_down_register();
    p = make_policy("down", f->store);
    o.spool_dir = f->spool;
    o.batch_size = 10;
    o.batch_delay_ms = 1;
    if (!p || pt_tracker_open(&t, p, &o) != PT_OK)
        _exit(2);
    for (int64_t i = 0;; i++) {
        pt_visit v = visit_at(f->base_us + i);
        pt_track_result r;
        if (pt_track(t, &v, &r) != PT_OK || r.dropped != PT_DROP_NONE)
            continue; /* never acknowledged */
        snprintf(pending[n++], 24, "%s", r.session_id);
        if (n == ACK_EVERY) {
            if (pt_tracker_flush(t, 10000) == PT_OK)
                send_ids(fd, pending, n);
            n = 0;
        }
    }
}

static void
test_sigkill_mid_stream(void **state)
{
    fixture *f = *state;
    int fds[2];
    acks a = {NULL, 0, 0};
    pid_t pid;
    int status;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_spooling_forever(f, fds[1]);
    }
    close(fds[1]);
    /* Kill while the child is busy writing the spool. */
    assert_true(read_acks(fds[0], &a, 2000));
    /* A few hundred µs more so the kill lands at an arbitrary point of a
     * batch, a spool write or an fsync. */
    struct timespec pause = {0, (long)(getpid() % 7) * 150000};
    nanosleep(&pause, NULL);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    read_acks(fds[0], &a, SIZE_MAX); /* acks sent before the kill */
    close(fds[0]);

    assert_true(replay_and_check(f, &a) >= a.count);
    free(a.ids);
}

/* ---- full disk
 * --------------------------------------------------------------- */

static void
child_full_disk(fixture *f, int fd)
{
    pt_policy *p = make_policy("file", f->store);
    pt_tracker *t;
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    char ids[200][24];
    struct rlimit lim;
    int rc, close_rc;
    char report[700];

    signal(SIGXFSZ, SIG_IGN); /* EFBIG instead of death */
    o.spool_dir = f->spool;
    o.batch_size = 10;
    if (!p || pt_tracker_open(&t, p, &o) != PT_OK)
        _exit(2);
    for (int i = 0; i < 100; i++) {
        pt_visit v = visit_at(f->base_us + i);
        pt_track_result r;
        pt_track(t, &v, &r);
        snprintf(ids[i], 24, "%s", r.session_id);
    }
    if (pt_tracker_flush(t, 10000) != PT_OK)
        _exit(4);
    send_ids(fd, ids, 100);

    /* The disk fills.  Simulated with a file-size limit below one record:
     * a limit alone the spool escapes in new segments (test_tracker's
     * file-size tests), so the limit must be too small even for a fresh
     * segment to stand for a disk with no room at all. */
    lim.rlim_cur = lim.rlim_max = 100;
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        _exit(5);
    for (int i = 100; i < 1100; i++) {
        pt_visit v = visit_at(f->base_us + i);
        pt_track(t, &v, NULL);
    }
    rc = pt_tracker_flush(t, 10000);
    snprintf(report, sizeof(report), "#flush %d %s\n", rc,
             pt_tracker_errmsg(t));
    close_rc = pt_tracker_close(t, 2000);
    if (write(fd, report, strlen(report)) < 0)
        _exit(6);
    snprintf(report, sizeof(report), "#close %d\n", close_rc);
    if (write(fd, report, strlen(report)) < 0)
        _exit(6);
    _exit(0);
}

static void
check_lines_complete(const char *path)
{
    FILE *fp = fopen(path, "r");
    int last = '\n', c;
    if (!fp)
        return;
    while ((c = getc(fp)) != EOF)
        last = c;
    fclose(fp);
    assert_int_equal(last, '\n');
}

static void
test_full_disk(void **state)
{
    fixture *f = *state;
    int fds[2];
    acks a = {NULL, 0, 0};
    pid_t pid;
    int status;
    char path[400];

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_full_disk(f, fds[1]);
    }
    close(fds[1]);
    read_acks(fds[0], &a, SIZE_MAX);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* The last two lines are the child's report, not ids. */
    assert_true(a.count == 102);
    int flush_rc = atoi(a.ids[100] + 7);
    assert_true(strncmp(a.ids[100], "#flush ", 7) == 0);
    assert_true(flush_rc == PT_ENOSPACE || flush_rc == PT_EIO);
    assert_true(strncmp(a.ids[101], "#close ", 7) == 0);
    assert_int_not_equal(atoi(a.ids[101] + 7), PT_OK);
    print_message("child: %s\n", a.ids[100]);
    a.count = 100;

    /* No file ends in a partial line. */
    snprintf(path, sizeof(path), "%s/%s.jsonl", f->store, f->date);
    check_lines_complete(path);

    /* Room again: the next tracker replays the spool; the 100
     * acknowledged records are there once each. */
    size_t stored = replay_and_check(f, &a);
    assert_true(stored >= 100 && stored < 1100);
    free(a.ids);
}

/* ---- SIGKILL mid-replay -------------------------------------------------- */

/* A backend that logs each stored session id (one write per record, so
 * the log survives SIGKILL) and is slow, so a replay can be caught in the
 * middle. */
static int slow_log_fd = -1;

static int
slow_put(pt_storage *s, const pt_record *const *records, size_t count,
         int replay, size_t *written)
{
    (void)s;
    (void)replay;
    *written = 0;
    for (size_t i = 0; i < count; i++) {
        char line[32];
        int n = snprintf(line, sizeof(line), "%s\n", records[i]->session_id);
        struct timespec pause = {0, 300000};
        if (write(slow_log_fd, line, (size_t)n) != n)
            return PT_EIO;
        (*written)++;
        nanosleep(&pause, NULL);
    }
    return PT_OK;
}

static const pt_storage_methods slow_methods = {PT_STORAGE_METHODS_VERSION,
                                                "slow",
                                                0,
                                                pt_test_down_open,
                                                NULL,
                                                slow_put,
                                                NULL,
                                                NULL,
                                                NULL,
                                                NULL,
                                                pt_test_down_close,
                                                NULL,
                                                NULL};

static void
child_fill_spool(fixture *f, int fd)
{
    pt_policy *p;
    pt_tracker *t;
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    char(*ids)[24] = calloc(REPLAY_N, 24);

    pt_test_down_register();
    p = make_policy("down", f->store);
    o.spool_dir = f->spool;
    if (!ids || !p || pt_tracker_open(&t, p, &o) != PT_OK)
        _exit(2);
    for (int i = 0; i < REPLAY_N; i++) {
        pt_visit v = visit_at(f->base_us + i);
        pt_track_result r;
        if (pt_track(t, &v, &r) != PT_OK || r.dropped != PT_DROP_NONE)
            _exit(3);
        snprintf(ids[i], 24, "%s", r.session_id);
    }
    if (pt_tracker_flush(t, 30000) != PT_OK)
        _exit(4);
    send_ids(fd, ids, REPLAY_N);
    pt_tracker_close(t, 5000);
    _exit(0);
}

static void
child_slow_replay(fixture *f, const char *log_path)
{
    pt_policy *p;
    pt_tracker *t;
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;

    slow_log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0600);
    pt_storage_register(&slow_methods);
    p = make_policy("slow", f->store);
    o.spool_dir = f->spool;
    o.batch_size = REPLAY_BATCH;
    if (slow_log_fd < 0 || !p || pt_tracker_open(&t, p, &o) != PT_OK)
        _exit(2);
    pt_tracker_spool_replay(t, 60000, NULL); /* killed before the end */
    _exit(5);
}

static size_t
count_lines(const char *path)
{
    FILE *fp = fopen(path, "r");
    size_t n = 0;
    int c;
    if (!fp)
        return 0;
    while ((c = getc(fp)) != EOF)
        n += c == '\n';
    fclose(fp);
    return n;
}

static void
test_sigkill_mid_replay(void **state)
{
    fixture *f = *state;
    int fds[2], status;
    acks a = {NULL, 0, 0};
    char log_path[400];
    pid_t pid;

    /* 1. A child spools 1,000 records (its backend is down). */
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        child_fill_spool(f, fds[1]);
    }
    close(fds[1]);
    read_acks(fds[0], &a, SIZE_MAX);
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(a.count, REPLAY_N);

    /* 2. Another replays it into a slow backend and is killed midway. */
    snprintf(log_path, sizeof(log_path), "%s/slow.log", f->root);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        child_slow_replay(f, log_path);
    for (int i = 0; i < 3000 && count_lines(log_path) < 350; i++) {
        struct timespec pause = {0, 2000000};
        nanosleep(&pause, NULL);
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    size_t before_kill = count_lines(log_path);
    assert_true(before_kill >= 350 && before_kill < REPLAY_N);

    /* 3. The next tracker replays the rest into the file store. */
    size_t stored = replay_and_check_subset(f, &a, log_path);
    print_message("killed after %zu, then %zu replayed\n", before_kill, stored);
    free(a.ids);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sigkill_mid_stream, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigkill_mid_replay, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
