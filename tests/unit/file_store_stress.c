/* Stress tests for the `file` storage backend: a full disk
 * (RLIMIT_FSIZE), 4 processes x 5,000 records appended at once, purge
 * racing appenders, and erases racing appenders and each other. */
#include "file_store_fixture.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- disk full ---------------------------------------------------------- */

/* In a child: fill the day file up to RLIMIT_FSIZE in batches.  Reports the
 * records acknowledged and the final code through `fd`. */
static void
fill_until_full(const char *store, int fd, size_t batch)
{
    struct rlimit lim = {20000, 20000};
    pt_storage *s = NULL;
    rec_buf recs[25];
    size_t total = 0, written = 0;
    int rc = PT_OK;
    char sid[32];
    long result[2];

    signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
        _exit(3);
    if (pt__file_storage_open_path(&s, store, PT__FILE_FSYNC_BATCH) != PT_OK)
        _exit(4);
    for (int round = 0; round < 1000 && rc == PT_OK; round++) {
        const pt_record *ptrs[25];
        for (size_t i = 0; i < batch; i++) {
            snprintf(sid, sizeof(sid), "%d-%zu", round, i);
            make_rec(&recs[i], DAY, round, (int)i, sid, 0);
            ptrs[i] = &recs[i].r;
        }
        rc = s->methods->put(s, ptrs, batch, 0, &written);
        total += written;
    }
    result[0] = (long)total;
    result[1] = rc;
    if (rc == PT_ENOSPACE && !strstr(s->errmsg, DAY ".jsonl"))
        _exit(5);
    s->methods->close(s);
    if (write(fd, result, sizeof(result)) != (ssize_t)sizeof(result))
        _exit(6);
    _exit(0);
}

static void
check_full_disk(fixture *f, size_t batch)
{
    int fds[2], status;
    long result[2] = {0, 0};
    pid_t pid;
    char path[512], *data, *line, *next;
    size_t len, lines = 0;
    struct stat st;

    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        fill_until_full(f->store, fds[1], batch);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], result, sizeof(result)),
                     (ssize_t)sizeof(result));
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(result[1], PT_ENOSPACE);
    assert_true(result[0] > 10);

    /* Every acknowledged record is there, and nothing else: no torn or
     * corrupt line. */
    day_path(f, DAY, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size <= 20000);
    data = slurp(path, &len);
    assert_true(len > 0);
    assert_int_equal(data[len - 1], '\n');
    for (line = data; *line; line = next) {
        next = strchr(line, '\n');
        assert_non_null(next);
        *next++ = '\0';
        cJSON *j = cJSON_Parse(line);
        if (!j)
            fail_msg("corrupt line %zu after disk full", lines + 1);
        cJSON_Delete(j);
        lines++;
    }
    assert_int_equal(lines, (size_t)result[0]);
    free(data);
}

static void
test_disk_full_single_records(void **state)
{
    check_full_disk(*state, 1);
}

static void
test_disk_full_batches(void **state)
{
    fixture *f = *state;
    check_full_disk(f, 25);
    /* The store still works once there is room again. */
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[1];
    size_t written;
    make_rec(&recs[0], DAY, 86000, 0, "1-after", 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    pt_record_list *list = query(s, DAY, 1, 0);
    assert_string_equal(list->records[0].session_id, "1-after");
    pt_record_list_free(list);
    s->methods->close(s);
    assert_null(strstr(logged, "corrupt"));
}

/* ---- concurrency -------------------------------------------------------- */

#define PROCS    4
#define PER_PROC 5000

/* One writer process: its own storage instance, batches of 1..25. */
static void
writer_proc(const char *store, int proc, int replay_every)
{
    pt_storage *s = NULL;
    rec_buf *recs = malloc(25 * sizeof(*recs));
    const pt_record *ptrs[25];
    char sid[32];
    int seq = 0, round = 0;

    if (!recs ||
        pt__file_storage_open_path(&s, store, PT__FILE_FSYNC_BATCH) != PT_OK)
        _exit(2);
    while (seq < PER_PROC) {
        int n = 1 + (seq * 7 + proc * 3) % 25;
        size_t written = 0;
        if (n > PER_PROC - seq)
            n = PER_PROC - seq;
        for (int i = 0; i < n; i++) {
            snprintf(sid, sizeof(sid), "p%d-%d", proc, seq + i);
            make_rec(&recs[i], DAY, (seq + i) % 86400, proc, sid, 0);
            ptrs[i] = &recs[i].r;
        }
        int replay = replay_every && ++round % replay_every == 0;
        if (s->methods->put(s, ptrs, (size_t)n, replay, &written) != PT_OK ||
            written != (size_t)n)
            _exit(3);
        if (s->methods->sync(s) != PT_OK)
            _exit(4);
        seq += n;
    }
    s->methods->close(s);
    free(recs);
    _exit(0);
}

static void
test_concurrent_processes_never_interleave(void **state)
{
    fixture *f = *state;
    pid_t pids[PROCS];
    char path[512], *data, *line, *next;
    unsigned char *seen = calloc(PROCS * PER_PROC, 1);
    size_t lines = 0;
    pt_storage *s;
    pt_record_list *list;

    for (int p = 0; p < PROCS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0)
            writer_proc(f->store, p, p == 0 ? 20 : 0);
    }
    for (int p = 0; p < PROCS; p++) {
        int status;
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }

    day_path(f, DAY, path, sizeof(path));
    data = slurp(path, NULL);
    assert_non_null(data);
    for (line = data; *line; line = next) {
        int proc, seq;
        next = strchr(line, '\n');
        assert_non_null(next); /* the file ends with a whole line */
        *next++ = '\0';
        cJSON *j = cJSON_Parse(line);
        if (!j)
            fail_msg("line %zu is not valid JSON: %.300s", lines + 1, line);
        const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "session_id");
        assert_true(cJSON_IsString(sid));
        assert_int_equal(sscanf(sid->valuestring, "p%d-%d", &proc, &seq), 2);
        assert_true(proc >= 0 && proc < PROCS && seq >= 0 && seq < PER_PROC);
        if (seen[proc * PER_PROC + seq]++)
            fail_msg("p%d-%d stored twice", proc, seq);
        cJSON_Delete(j);
        lines++;
    }
    assert_int_equal(lines, PROCS * PER_PROC);
    free(data);
    free(seen);

    s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, PROCS * PER_PROC);
    /* The bounded selection agrees with the full sort. */
    pt_record_list *top = query(s, DAY, 7, 0);
    assert_int_equal(top->count, 7);
    for (size_t i = 0; i < 7; i++) {
        assert_string_equal(top->records[i].timestamp,
                            list->records[i].timestamp);
        assert_string_equal(top->records[i].session_id,
                            list->records[i].session_id);
    }
    pt_record_list_free(top);
    pt_record_list_free(list);
    s->methods->close(s);
    assert_string_equal(logged, "");
}

/* Appenders racing a purger: the purge's rewrite must not lose a single
 * live record appended meanwhile. */
static void
test_purge_races_appenders(void **state)
{
    fixture *f = *state;
    pid_t pids[3];
    int status;
    pt_storage *s;
    pt_record_list *list;

    for (int p = 0; p < 2; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            pt_storage *w = NULL;
            rec_buf recs[10];
            const pt_record *ptrs[10];
            char sid[32];
            size_t written;
            if (pt__file_storage_open_path(&w, f->store,
                                           PT__FILE_FSYNC_NEVER) != PT_OK)
                _exit(2);
            for (int round = 0; round < 300; round++) {
                for (int i = 0; i < 10; i++) {
                    /* Half of them expired already: purge has work. */
                    snprintf(sid, sizeof(sid), "p%d-%d", p, round * 10 + i);
                    make_rec(&recs[i], DAY, round, i, sid, i % 2 ? 0 : 5);
                    ptrs[i] = &recs[i].r;
                }
                if (w->methods->put(w, ptrs, 10, 0, &written) != PT_OK ||
                    written != 10)
                    _exit(3);
            }
            w->methods->close(w);
            _exit(0);
        }
    }
    pids[2] = fork();
    assert_true(pids[2] >= 0);
    if (pids[2] == 0) {
        pt_storage *pu = NULL;
        uint64_t removed;
        if (pt__file_storage_open_path(&pu, f->store, PT__FILE_FSYNC_NEVER) !=
            PT_OK)
            _exit(2);
        for (int i = 0; i < 60; i++) {
            if (pu->methods->purge(pu, 100, &removed) != PT_OK)
                _exit(3);
            usleep(1000);
        }
        pu->methods->close(pu);
        _exit(0);
    }
    for (int p = 0; p < 3; p++) {
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    list = query(s, DAY, 0, 100); /* expired ones are hidden anyway */
    assert_int_equal(list->count, 2 * 300 * 5);
    pt_record_list_free(list);
    s->methods->close(s);
    assert_string_equal(logged, "");
}

/* Erases racing appenders and each other: processes that delete the
 * records of "victims" again and again (one rewrite after the other, as a
 * self-service page does), while writers (one of them replaying, with its
 * exclusive lock and its cache of the file's keys) append records and
 * victims' records.  No writer's record is lost or stored twice, no erase
 * fails, and a last erase leaves no victim. */
#define ERASERS      3
#define ERASE_ROUNDS 60
#define ERASE_WRITES 150

static int
erase_victims(const pt_record *r, unsigned int *action, void *ud)
{
    (void)ud;
    if (r->session_id && r->session_id[0] == 'v')
        *action = PT_REWRITE_DELETE;
    return PT_OK;
}

static void
eraser_proc(const char *store, int rounds)
{
    pt_storage *s = NULL;
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;

    if (pt__file_storage_open_path(&s, store, PT__FILE_FSYNC_BATCH) != PT_OK)
        _exit(2);
    o.from = DAY;
    for (int i = 0; i < rounds; i++)
        if (s->methods->rewrite(s, &o, erase_victims, NULL, NULL) != PT_OK)
            _exit(3);
    s->methods->close(s);
    _exit(0);
}

static void
victim_writer_proc(const char *store, int proc, int replay)
{
    pt_storage *w = NULL;
    rec_buf recs[10];
    const pt_record *ptrs[10];
    char sid[32];
    size_t written;

    if (pt__file_storage_open_path(&w, store, PT__FILE_FSYNC_NEVER) != PT_OK)
        _exit(2);
    for (int round = 0; round < ERASE_WRITES; round++) {
        for (int i = 0; i < 10; i++) {
            /* every third one a victim's */
            snprintf(sid, sizeof(sid), "%c%d-%d", i % 3 ? 'p' : 'v', proc,
                     round * 10 + i);
            make_rec(&recs[i], DAY, round, proc * 10 + i, sid, 0);
            ptrs[i] = &recs[i].r;
        }
        if (w->methods->put(w, ptrs, 10, replay, &written) != PT_OK ||
            written != 10)
            _exit(3);
    }
    w->methods->close(w);
    _exit(0);
}

static void
test_erases_race_appenders(void **state)
{
    fixture *f = *state;
    pid_t pids[3 + ERASERS];
    int status;
    pt_storage *s;
    pt_record_list *list;
    unsigned char *seen = calloc(3 * ERASE_WRITES * 10, 1);
    size_t kept = 0;

    for (int p = 0; p < 3 + ERASERS; p++) {
        pids[p] = fork();
        assert_true(pids[p] >= 0);
        if (pids[p] == 0) {
            if (p < 3)
                victim_writer_proc(f->store, p, p == 0);
            eraser_proc(f->store, ERASE_ROUNDS);
        }
    }
    for (int p = 0; p < 3 + ERASERS; p++) {
        assert_int_equal(waitpid(pids[p], &status, 0), pids[p]);
        assert_true(WIFEXITED(status));
        if (WEXITSTATUS(status) != 0)
            fail_msg("process %d (%s) exited with %d", p,
                     p < 3 ? "writer" : "eraser", WEXITSTATUS(status));
    }
    s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    {
        pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
        o.from = DAY;
        assert_int_equal(s->methods->rewrite(s, &o, erase_victims, NULL, NULL),
                         PT_OK);
    }
    list = query(s, DAY, 0, 0);
    for (size_t i = 0; i < list->count; i++) {
        const char *sid = list->records[i].session_id;
        int proc, n;
        assert_int_equal(sscanf(sid, "p%d-%d", &proc, &n), 2);
        if (seen[proc * ERASE_WRITES * 10 + n]++)
            fail_msg("%s stored twice", sid);
        kept++;
    }
    for (int proc = 0; proc < 3; proc++)
        for (int n = 0; n < ERASE_WRITES * 10; n++)
            if (n % 10 % 3 && !seen[proc * ERASE_WRITES * 10 + n])
                fail_msg("p%d-%d lost", proc, n);
    assert_int_equal(kept, 3 * ERASE_WRITES * 10 - 3 * ERASE_WRITES * 4);
    pt_record_list_free(list);
    s->methods->close(s);
    free(seen);
    assert_string_equal(logged, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_disk_full_single_records),
        T(test_disk_full_batches),
        T(test_concurrent_processes_never_interleave),
        T(test_purge_races_appenders),
        T(test_erases_race_appenders),
#undef T
    };
    /* Once: pt_set_log() keeps every sink it was given (by design). */
    pt_set_log(capture_log, NULL, PT_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
