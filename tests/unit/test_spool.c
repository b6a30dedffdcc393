/* Unit tests for lib/pipeline/spool*.c: durable appends, torn tails,
 * orphans, replay order and progress, full disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pipeline/spool.h"
#include "record/record.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_tmpdir.h"

/* ---- fixtures ------------------------------------------------------------ */

typedef struct fixture {
    char root[256];
    char dir[300];
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (pt_test_mkdtemp(f->root, sizeof(f->root), "pt-spool") != 0)
        return -1;
    /* Two levels the spool must create itself. */
    snprintf(f->dir, sizeof(f->dir), "%s/var/spool", f->root);
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

/* Records with a distinguishable session id; strings live in `storage`. */
typedef struct rec_set {
    pt_record records[64];
    const pt_record *ptrs[64];
    char ids[64][24];
} rec_set;

static void
make_records(rec_set *s, size_t count, unsigned first)
{
    static const char *const links[] = {"https://example.org/a"};
    memset(s, 0, sizeof(*s));
    for (size_t i = 0; i < count; i++) {
        pt_record *r = &s->records[i];
        snprintf(s->ids[i], sizeof(s->ids[i]), "1705327800-%08x",
                 first + (unsigned)i);
        r->date = "2025-01-15";
        r->timestamp = "2025-01-15T14:30:00.123456+00:00";
        r->session_id = s->ids[i];
        r->client_ip = "203.0.113.0";
        r->links = links;
        r->link_count = 1;
        r->num_links_submitted = 1;
        r->policy = "test-00000000";
        s->ptrs[i] = r;
    }
}

/* A put callback that records session ids, optionally failing. */
typedef struct sink {
    unsigned ids[4096];
    size_t count;
    int fail_rc;       /* returned when set */
    size_t fail_after; /* records accepted before failing */
    int calls;
} sink;

static unsigned
id_number(const char *session_id)
{
    return (unsigned)strtoul(strchr(session_id, '-') + 1, NULL, 16);
}

static int
sink_put(void *ctx, const pt_record *const *records, size_t count,
         size_t *written)
{
    sink *s = ctx;
    size_t n = count;
    s->calls++;
    if (s->fail_rc && s->fail_after < n)
        n = s->fail_after;
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(records[i]->date, "2025-01-15");
        assert_string_equal(records[i]->links[0], "https://example.org/a");
        s->ids[s->count++] = id_number(records[i]->session_id);
    }
    *written = n;
    if (s->fail_rc && n < count) {
        s->fail_after -= n;
        return s->fail_rc;
    }
    return PT_OK;
}

static size_t
drain(pt__spool *spool, sink *s, size_t step)
{
    size_t total = 0, n = 0;
    int guard = 0;
    while (pt__spool_pending(spool) && guard++ < 10000) {
        assert_int_equal(pt__spool_replay_step(spool, step, sink_put, s, &n),
                         PT_OK);
        total += n;
    }
    assert_false(pt__spool_pending(spool));
    return total;
}

static size_t
count_files(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name), sl = strlen(suffix);
        if (len > sl && strcmp(e->d_name + len - sl, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

static void
segment_path(const char *dir, char *out, size_t size)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    out[0] = '\0';
    assert_non_null(d);
    while ((e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "spool-", 6) == 0 && strstr(e->d_name, ".log") &&
            !strstr(e->d_name, ".off"))
            snprintf(out, size, "%s/%s", dir, e->d_name);
    closedir(d);
    assert_true(out[0] != '\0');
}

/* ---- tests --------------------------------------------------------------- */

/* pt__spool_scan() that must succeed: how many segments it found. */
static size_t
scan(pt__spool *spool)
{
    size_t found = 99;
    assert_int_equal(pt__spool_scan(spool, &found), PT_OK);
    return found;
}

/* A spool directory others can write is refused by the scan (anyone could
 * have put records there), with the fix in the message, and none of its
 * segments is taken; 0700 again, they are. */
static void
test_unsafe_directory_is_an_error_not_empty(void **state)
{
    fixture *f = *state;
    pt__spool *a, *b;
    rec_set recs;
    size_t found = 99;

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 3, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 3, NULL), PT_OK);
    pt__spool_close(a);
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(chmod(f->dir, i ? 0770 : 0777), 0);
        assert_int_equal(pt__spool_scan(b, &found), PT_EACCESS);
        assert_int_equal(found, 0);
        assert_non_null(strstr(pt_last_error(), "chmod 700"));
        assert_false(pt__spool_pending(b));
    }
    assert_int_equal(chmod(f->dir, 0700), 0);
    assert_int_equal(scan(b), 1);
    assert_true(pt__spool_pending(b));
    pt__spool_close(b);
}

static void
test_nothing_on_disk_until_needed(void **state)
{
    fixture *f = *state;
    pt__spool *spool;
    pt_spool_status st;
    struct stat sb;

    assert_int_equal(pt__spool_open(&spool, f->dir), PT_OK);
    assert_int_equal(scan(spool), 0);
    assert_false(pt__spool_pending(spool));
    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 0);
    pt__spool_close(spool);
    assert_int_not_equal(stat(f->dir, &sb), 0); /* never created */
}

static void
test_append_replay_in_order(void **state)
{
    fixture *f = *state;
    pt__spool *spool;
    rec_set recs;
    sink *s = calloc(1, sizeof(*s));
    pt_spool_status st;
    struct stat sb;
    char seg[512];

    assert_int_equal(pt__spool_open(&spool, f->dir), PT_OK);
    for (unsigned b = 0; b < 3; b++) {
        make_records(&recs, 10, b * 10);
        assert_int_equal(pt__spool_append(spool, recs.ptrs, 10, NULL), PT_OK);
    }
    assert_true(pt__spool_pending(spool));
    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 30);
    assert_true(st.pending_bytes > 30 * 50);
    /* Modes: the directory 0700, the segment 0600. */
    assert_int_equal(stat(f->dir, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    segment_path(f->dir, seg, sizeof(seg));
    assert_int_equal(stat(seg, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    assert_int_equal(drain(spool, s, 7), 30);
    for (unsigned i = 0; i < 30; i++)
        assert_int_equal(s->ids[i], i);
    /* Fully replayed: the segment and its progress file are gone. */
    assert_int_equal(count_files(f->dir, ".log"), 0);
    assert_int_equal(count_files(f->dir, ".off"), 0);
    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 0);

    /* Appending again starts a fresh segment. */
    make_records(&recs, 2, 100);
    assert_int_equal(pt__spool_append(spool, recs.ptrs, 2, NULL), PT_OK);
    assert_int_equal(count_files(f->dir, ".log"), 1);
    s->count = 0;
    assert_int_equal(drain(spool, s, 25), 2);
    assert_int_equal(s->ids[0], 100);
    pt__spool_close(spool);
    free(s);
}

/* A spool closed with records left (a process that exited, or crashed:
 * the kernel drops its flock either way) is replayed by the next one. */
static void
test_orphan_replayed_by_next(void **state)
{
    fixture *f = *state;
    pt__spool *a, *b, *c;
    rec_set recs;
    sink *s = calloc(1, sizeof(*s));

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 20, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 20, NULL), PT_OK);

    /* While `a` lives, nobody else takes its segment. */
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    assert_int_equal(scan(b), 0);
    assert_false(pt__spool_pending(b));
    pt__spool_close(b);

    pt__spool_close(a);
    assert_int_equal(count_files(f->dir, ".log"), 1);

    assert_int_equal(pt__spool_open(&c, f->dir), PT_OK);
    assert_int_equal(scan(c), 1);
    assert_int_equal(scan(c), 0); /* known already */
    assert_true(pt__spool_pending(c));
    assert_int_equal(drain(c, s, 8), 20);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(s->ids[i], i);
    assert_int_equal(count_files(f->dir, ".log"), 0);
    pt__spool_close(c);
    free(s);
}

/* A put that fails part-way: progress is persisted after the records that
 * were written, so the next process replays only the rest. */
static void
test_progress_survives_failure(void **state)
{
    fixture *f = *state;
    pt__spool *a, *b;
    rec_set recs;
    sink *s = calloc(1, sizeof(*s));
    size_t n = 0;

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 12, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 12, NULL), PT_OK);
    s->fail_rc = PT_ENETWORK;
    s->fail_after = 5;
    assert_int_equal(pt__spool_replay_step(a, 10, sink_put, s, &n),
                     PT_ENETWORK);
    assert_int_equal(n, 5);
    assert_true(pt__spool_pending(a));
    assert_int_equal(count_files(f->dir, ".off"), 1);
    pt__spool_close(a); /* "crash" with 7 records left */

    pt_spool_status st;
    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 7);

    s->fail_rc = 0;
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    assert_int_equal(scan(b), 1);
    assert_int_equal(drain(b, s, 100), 7);
    assert_int_equal(s->count, 12);
    for (unsigned i = 0; i < 12; i++)
        assert_int_equal(s->ids[i], i); /* nothing twice, nothing skipped */
    pt__spool_close(b);
    free(s);
}

static void
append_raw(const char *path, const char *bytes)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, strlen(bytes)), (ssize_t)strlen(bytes));
    close(fd);
}

/* A torn tail (crash mid-write) and a line whose CRC does not match are
 * skipped; everything else is replayed. */
static void
test_torn_and_corrupt_lines_skipped(void **state)
{
    fixture *f = *state;
    pt__spool *a, *b;
    rec_set recs;
    sink *s = calloc(1, sizeof(*s));
    char seg[512];
    pt_spool_status st;

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 3, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 3, NULL), PT_OK);
    segment_path(f->dir, seg, sizeof(seg));
    /* A well-formed line with a wrong CRC, then a good batch after it. */
    append_raw(seg, "00000000 {\"date\":\"2025-01-15\",\"timestamp\":\"x\"}\n");
    pt__spool_close(a);
    append_raw(seg, "garbage line\n");
    {
        /* Build a valid line by hand: crc + JSON. */
        char line[512], json[256];
        snprintf(json, sizeof(json),
                 "{\"date\":\"2025-01-15\",\"timestamp\":\"2025-01-15T14:30:00."
                 "123456+00:00\",\"session_id\":\"1705327800-%08x\","
                 "\"links\":[\"https://example.org/a\"]}",
                 3u);
        snprintf(line, sizeof(line), "%08x %s\n",
                 (unsigned)pt__crc32(0, json, strlen(json)), json);
        append_raw(seg, line);
    }
    append_raw(seg, "1234abcd {\"date\":\"2025-01-1"); /* torn: no newline */

    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 6); /* complete lines only */

    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    assert_int_equal(scan(b), 1);
    assert_int_equal(drain(b, s, 2), 4);
    for (unsigned i = 0; i < 4; i++)
        assert_int_equal(s->ids[i], i);
    assert_int_equal(count_files(f->dir, ".log"), 0);
    pt__spool_close(b);
    free(s);
}

/* Warnings logged by the spool, for the tests that expect one. */
static char last_warning[1024];
static int warnings;

static void
capture_log(pt_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    if (level < PT_LOG_WARN)
        return;
    warnings++;
    snprintf(last_warning, sizeof(last_warning), "%s", message);
}

static void
write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

/* A progress file that does not hold an offset of a line start within the
 * segment (a number too big for 64 bits, a negative one, garbage, an offset
 * past the end or inside a line) is reported and taken as "start of the
 * segment": status counts every record, and replay stores them all (it is
 * idempotent: the backend skips what it had), never failing for good. */
static void
test_corrupt_progress_file_means_start(void **state)
{
    fixture *f = *state;
    static const char *const bad[] = {
        "99999999999999999999\n", "-5\n", "garbage", "", "12x\n",
        "18446744073709551615",   "past", "inside"};

    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        pt__spool *a, *b;
        rec_set recs;
        sink *s = calloc(1, sizeof(*s));
        char seg[512], off[600], text[64];
        pt_spool_status st;
        struct stat sb;
        size_t n = 0;

        assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
        make_records(&recs, 20, 0);
        assert_int_equal(pt__spool_append(a, recs.ptrs, 20, NULL), PT_OK);
        /* Some progress, so that a .off file exists, then "crash". */
        assert_int_equal(pt__spool_replay_step(a, 5, sink_put, s, &n), PT_OK);
        assert_int_equal(n, 5);
        pt__spool_close(a);
        segment_path(f->dir, seg, sizeof(seg));
        snprintf(off, sizeof(off), "%s.off", seg);
        assert_int_equal(stat(seg, &sb), 0);
        if (strcmp(bad[k], "past") == 0)
            snprintf(text, sizeof(text), "%lld\n", (long long)sb.st_size + 100);
        else if (strcmp(bad[k], "inside") == 0)
            snprintf(text, sizeof(text), "%d\n", 7); /* mid first line */
        else
            snprintf(text, sizeof(text), "%s", bad[k]);
        write_file(off, text);

        warnings = 0;
        pt_set_log(capture_log, NULL, PT_LOG_WARN);
        assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
        assert_int_equal(st.pending_records, 20);
        assert_int_equal(st.pending_bytes, (uint64_t)sb.st_size);
        assert_true(warnings >= 1);
        assert_non_null(strstr(last_warning, ".off"));
        assert_non_null(strstr(last_warning, "start"));

        s->count = 0;
        warnings = 0;
        assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
        assert_int_equal(scan(b), 1);
        assert_int_equal(drain(b, s, 8), 20);
        assert_true(warnings >= 1);
        pt_set_log(NULL, NULL, PT_LOG_WARN);
        for (unsigned i = 0; i < 20; i++)
            assert_int_equal(s->ids[i], i);
        assert_int_equal(count_files(f->dir, ".log"), 0);
        assert_int_equal(count_files(f->dir, ".off"), 0);
        pt__spool_close(b);
        free(s);
    }
}

/* An orphan whose progress file says it was wholly replayed, and one
 * without a progress file: nothing is replayed twice by the first, all of
 * the second is. */
static void
test_valid_progress_file_respected(void **state)
{
    fixture *f = *state;
    pt__spool *a, *b;
    rec_set recs;
    sink *s = calloc(1, sizeof(*s));
    pt_spool_status st;
    size_t n = 0;

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 10, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 10, NULL), PT_OK);
    assert_int_equal(pt__spool_replay_step(a, 4, sink_put, s, &n), PT_OK);
    pt__spool_close(a);
    warnings = 0;
    pt_set_log(capture_log, NULL, PT_LOG_WARN);
    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 6);
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    assert_int_equal(scan(b), 1);
    assert_int_equal(drain(b, s, 8), 6);
    assert_int_equal(warnings, 0);
    pt_set_log(NULL, NULL, PT_LOG_WARN);
    assert_int_equal(s->count, 10);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(s->ids[i], i);
    pt__spool_close(b);
    free(s);
}

/* Lowers this process's file-size limit (a child's: tests fork). */
static int
limit_file_size(rlim_t bytes)
{
    struct rlimit lim;
    if (getrlimit(RLIMIT_FSIZE, &lim) != 0)
        return 0;
    lim.rlim_cur = bytes;
    return setrlimit(RLIMIT_FSIZE, &lim) == 0;
}

/* The file-size limit (RLIMIT_FSIZE in a child, SIGXFSZ left at its
 * default action, which kills): the spool keeps the whole records that fit,
 * goes on in a new segment for the rest, and no segment holds a partial
 * record.  Every record is replayed once, in order. */
static void
test_file_size_limit_new_segment(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        pt__spool *spool;
        rec_set recs;
        char seg[512];
        struct stat before;
        size_t appended = 0;
        int ok = 1;

        signal(SIGXFSZ, SIG_DFL);
        make_records(&recs, 2, 0);
        ok &= pt__spool_open(&spool, f->dir) == PT_OK;
        ok &= pt__spool_append(spool, recs.ptrs, 2, NULL) == PT_OK;
        segment_path(f->dir, seg, sizeof(seg));
        ok &= stat(seg, &before) == 0;
        /* Room for a record and a half in the first segment. */
        ok &= limit_file_size((rlim_t)before.st_size * 5 / 4);
        make_records(&recs, 20, 100);
        ok &= pt__spool_append(spool, recs.ptrs, 20, &appended) == PT_OK;
        ok &= appended == 20;
        make_records(&recs, 1, 200);
        ok &= pt__spool_append(spool, recs.ptrs, 1, &appended) == PT_OK;
        ok &= count_files(f->dir, ".log") >= 3;
        pt__spool_close(spool);
        if (!ok)
            fprintf(stderr, "child: %s\n", pt_last_error());
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    /* Everything acknowledged is there, in order, nothing else. */
    pt__spool *b;
    pt_spool_status st;
    sink *s = calloc(1, sizeof(*s));
    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 23);
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    assert_true(scan(b) >= 3);
    assert_int_equal(drain(b, s, 7), 23);
    assert_int_equal(s->ids[0], 0);
    assert_int_equal(s->ids[1], 1);
    for (unsigned i = 0; i < 20; i++)
        assert_int_equal(s->ids[2 + i], 100 + i);
    assert_int_equal(s->ids[22], 200);
    assert_int_equal(count_files(f->dir, ".log"), 0);
    pt__spool_close(b);
    free(s);
}

/* A file-size limit below one record: the append fails (PT_ENOSPACE, the
 * limit named), nothing partial is left, the process lives, and once the
 * limit is raised the spool works again. */
static void
test_file_size_limit_below_one_record(void **state)
{
    fixture *f = *state;
    pid_t pid = fork();
    int status;

    assert_true(pid >= 0);
    if (pid == 0) {
        pt__spool *spool;
        rec_set recs;
        size_t appended = 99;
        int ok = 1;

        signal(SIGXFSZ, SIG_DFL);
        make_records(&recs, 3, 0);
        ok &= pt__spool_open(&spool, f->dir) == PT_OK;
        ok &= limit_file_size(50);
        ok &= pt__spool_append(spool, recs.ptrs, 3, &appended) == PT_ENOSPACE;
        ok &= appended == 0;
        ok &= strstr(pt_last_error(), "file-size limit") != NULL;
        ok &= limit_file_size(RLIM_INFINITY);
        ok &= pt__spool_append(spool, recs.ptrs, 3, &appended) == PT_OK;
        ok &= appended == 3;
        pt__spool_close(spool);
        if (!ok)
            fprintf(stderr, "child: %s\n", pt_last_error());
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    pt__spool *b;
    sink *s = calloc(1, sizeof(*s));
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    scan(b);
    assert_int_equal(drain(b, s, 10), 3);
    for (unsigned i = 0; i < 3; i++)
        assert_int_equal(s->ids[i], i);
    pt__spool_close(b);
    free(s);
}

/* A segment cut anywhere inside its last record (a crash mid-write) still
 * gives every record before the cut: status counts them, replay stores
 * them, the torn tail is reported, never the reason to lose the rest. */
static void
test_torn_tail_hides_nothing(void **state)
{
    fixture *f = *state;
    pt__spool *a;
    rec_set recs;
    char seg[512];
    struct stat st;
    off_t full, last_start;

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 4, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 3, NULL), PT_OK);
    segment_path(f->dir, seg, sizeof(seg));
    assert_int_equal(stat(seg, &st), 0);
    last_start = st.st_size;
    assert_int_equal(pt__spool_append(a, recs.ptrs + 3, 1, NULL), PT_OK);
    assert_int_equal(stat(seg, &st), 0);
    full = st.st_size;
    pt__spool_close(a);

    char *copy = malloc((size_t)full);
    int fd = open(seg, O_RDONLY);
    assert_int_equal(read(fd, copy, (size_t)full), (ssize_t)full);
    close(fd);
    for (off_t cut = last_start; cut < full; cut += 7) {
        pt__spool *b;
        pt_spool_status status;
        sink *s = calloc(1, sizeof(*s));
        fd = open(seg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        assert_int_equal(write(fd, copy, (size_t)cut), (ssize_t)cut);
        close(fd);
        assert_int_equal(pt__spool_status(f->dir, &status), PT_OK);
        assert_int_equal(status.pending_records, 3);
        assert_int_equal(status.pending_bytes, (uint64_t)last_start);
        assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
        assert_int_equal(scan(b), 1);
        assert_int_equal(drain(b, s, 2), 3);
        for (unsigned i = 0; i < 3; i++)
            assert_int_equal(s->ids[i], i);
        pt__spool_close(b);
        assert_int_equal(count_files(f->dir, ".log"), 0);
        free(s);
    }
    free(copy);
}

/* Orphans are replayed oldest first, before our own newer records. */
static void
test_orphans_before_own_records(void **state)
{
    fixture *f = *state;
    pt__spool *a, *b;
    rec_set recs;
    sink *s = calloc(1, sizeof(*s));

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 5, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 5, NULL), PT_OK);
    pt__spool_close(a);

    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    make_records(&recs, 5, 5);
    assert_int_equal(pt__spool_append(b, recs.ptrs, 5, NULL), PT_OK);
    assert_int_equal(scan(b), 1);
    assert_int_equal(drain(b, s, 3), 10);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(s->ids[i], i);
    pt__spool_close(b);
    assert_int_equal(count_files(f->dir, ".log"), 0);
    free(s);
}

/* A scan that finds an orphan while a replay step is inside put() (the
 * tracker's spool_replay call racing the writer): the step's progress goes
 * to its own segment, not to the orphan now listed before it. */
typedef struct scanning_sink {
    sink base;
    pt__spool *spool;
    int scanned;
} scanning_sink;

static int
scanning_put(void *ctx, const pt_record *const *records, size_t count,
             size_t *written)
{
    scanning_sink *s = ctx;
    if (!s->scanned) {
        s->scanned = 1;
        assert_int_equal(scan(s->spool), 1);
    }
    return sink_put(&s->base, records, count, written);
}

static void
test_scan_during_replay_step(void **state)
{
    fixture *f = *state;
    pt__spool *own, *other;
    rec_set recs;
    scanning_sink *s = calloc(1, sizeof(*s));
    size_t n = 0;

    assert_int_equal(pt__spool_open(&own, f->dir), PT_OK);
    make_records(&recs, 10, 0);
    assert_int_equal(pt__spool_append(own, recs.ptrs, 10, NULL), PT_OK);
    assert_int_equal(pt__spool_open(&other, f->dir), PT_OK);
    make_records(&recs, 5, 100);
    assert_int_equal(pt__spool_append(other, recs.ptrs, 5, NULL), PT_OK);
    pt__spool_close(other); /* an orphan, not yet known to `own` */

    s->spool = own;
    assert_int_equal(pt__spool_replay_step(own, 50, scanning_put, s, &n),
                     PT_OK);
    assert_int_equal(n, 10);
    assert_int_equal(drain(own, &s->base, 50), 5);
    assert_int_equal(s->base.count, 15);
    for (unsigned i = 0; i < 10; i++)
        assert_int_equal(s->base.ids[i], i);
    for (unsigned i = 0; i < 5; i++)
        assert_int_equal(s->base.ids[10 + i], 100 + i);
    assert_int_equal(count_files(f->dir, ".log"), 0);
    pt__spool_close(own);
    free(s);
}

/* ---- read-ahead and the progress saved during the next step ------------ */

static atomic_int ahead_warnings;

static void
count_warnings(pt_log_level level, const char *message, void *userdata)
{
    (void)message;
    (void)userdata;
    if (level >= PT_LOG_WARN)
        atomic_fetch_add(&ahead_warnings, 1);
}

typedef struct ordering_sink {
    sink base;
    char off_path[600];
    uint64_t line_len; /* every test line is as long */
    int fail_call;     /* this put() stores 4 records, then fails */
    int waited_save;   /* puts that saw the last step's progress saved */
    int saw_warning;   /* the put during which the corrupt line was read */
} ordering_sink;

static uint64_t
saved_offset(const char *off_path)
{
    char text[32] = "";
    FILE *fp = fopen(off_path, "r");
    if (!fp)
        return 0;
    if (!fgets(text, sizeof(text), fp))
        text[0] = '\0';
    fclose(fp);
    return strtoull(text, NULL, 10);
}

/* Within each put(): the saved progress never points past the first record
 * handed in (nothing not yet stored is ever skipped by a crash), and the
 * previous step's progress gets saved while this put() runs. */
static int
ordering_put(void *ctx, const pt_record *const *records, size_t count,
             size_t *written)
{
    ordering_sink *s = ctx;
    int call = s->base.calls;
    uint64_t first = id_number(records[0]->session_id) * s->line_len;

    assert_true(saved_offset(s->off_path) <= first);
    if (call > 0 && call != s->fail_call + 1) {
        for (int i = 0; i < 5000 && saved_offset(s->off_path) != first; i++)
            usleep(1000);
        assert_int_equal(saved_offset(s->off_path), first);
        s->waited_save++;
    }
    /* Step 2's records hold the corrupt line: it is read (and reported)
     * by the helper while step 1 is being put. */
    if (call == 1) {
        for (int i = 0; i < 5000 && atomic_load(&ahead_warnings) == 0; i++)
            usleep(1000);
        s->saw_warning = atomic_load(&ahead_warnings) == 1;
    }
    if (call == s->fail_call) {
        s->base.fail_rc = PT_ENETWORK;
        s->base.fail_after = 4;
    } else {
        s->base.fail_rc = 0;
    }
    return sink_put(&s->base, records, count, written);
}

/* The step after the one being put is read ahead (its corrupt line is
 * reported during the put before it); each step's progress is saved during
 * the next step's put, never ahead of what was stored; a failed put saves
 * its progress at once and discards what was read ahead, the next step
 * going on from the first record not stored; pt__spool_save_progress()
 * saves what a replay that stops has done.  Every record is replayed once,
 * in order. */
static void
test_read_ahead_and_lagging_progress(void **state)
{
    fixture *f = *state;
    pt__spool *a;
    rec_set recs;
    ordering_sink *s = calloc(1, sizeof(*s));
    char seg[512];
    struct stat sb;
    size_t n = 0, total = 0;
    int fd, rc;

    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 40, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 40, NULL), PT_OK);
    segment_path(f->dir, seg, sizeof(seg));
    snprintf(s->off_path, sizeof(s->off_path), "%s.off", seg);
    assert_int_equal(stat(seg, &sb), 0);
    assert_int_equal(sb.st_size % 40, 0);
    s->line_len = (uint64_t)sb.st_size / 40;
    /* Record 25's line made corrupt (its CRC no longer matches). */
    fd = open(seg, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "~", 1, (off_t)(25 * s->line_len + 12)), 1);
    close(fd);

    atomic_store(&ahead_warnings, 0);
    pt_set_log(count_warnings, NULL, PT_LOG_WARN);
    s->fail_call = 3; /* records 31..40 → 31..34 stored, then the error */
    for (int i = 0; i < 3; i++) {
        assert_int_equal(pt__spool_replay_step(a, 10, ordering_put, s, &n),
                         PT_OK);
        total += n;
    }
    rc = pt__spool_replay_step(a, 10, ordering_put, s, &n);
    assert_int_equal(rc, PT_ENETWORK);
    assert_int_equal(n, 4);
    total += n;
    assert_int_equal(saved_offset(s->off_path), 35 * s->line_len);
    assert_int_equal(pt__spool_replay_step(a, 10, ordering_put, s, &n), PT_OK);
    total += n;
    assert_false(pt__spool_pending(a));
    pt_set_log(NULL, NULL, PT_LOG_WARN);
    assert_true(s->saw_warning);
    assert_int_equal(atomic_load(&ahead_warnings), 1);
    assert_int_equal(s->waited_save, 3); /* calls 1, 2 and 3 */
    assert_int_equal(total, 39);
    for (unsigned i = 0, id = 0; i < 39; i++, id++) {
        if (id == 25)
            id++;
        assert_int_equal(s->base.ids[i], id);
    }
    assert_int_equal(count_files(f->dir, ".log"), 0);
    pt__spool_close(a);

    /* A replay that stops part-way: its last step's progress is saved by
     * pt__spool_save_progress() (the next process replays the rest only). */
    memset(s, 0, sizeof(*s));
    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 40, NULL), PT_OK);
    segment_path(f->dir, seg, sizeof(seg));
    snprintf(s->off_path, sizeof(s->off_path), "%s.off", seg);
    s->line_len = (uint64_t)sb.st_size / 40;
    s->fail_call = -2;
    assert_int_equal(pt__spool_replay_step(a, 10, ordering_put, s, &n), PT_OK);
    assert_int_equal(pt__spool_replay_step(a, 10, ordering_put, s, &n), PT_OK);
    assert_true(saved_offset(s->off_path) <= 20 * s->line_len);
    pt__spool_save_progress(a);
    assert_int_equal(saved_offset(s->off_path), 20 * s->line_len);
    pt__spool_close(a);
    free(s);
}

/* Hostile files in the spool directory (privtrack often runs as root):
 * a link planted where the progress file's temporary used to be (a
 * predictable name that replay opened with O_TRUNC) is never followed; a
 * progress file that is a link is not read; a segment that is a FIFO or a
 * link to /dev/zero hangs and spins nothing: status refuses it by name and
 * replay skips it with a warning; a spool directory others can write is
 * refused. */
static void
test_hostile_files_refused(void **state)
{
    fixture *f = *state;
    pt__spool *a, *b;
    rec_set recs;
    sink *s = calloc(1, sizeof(*s));
    char seg[512], tmp[600], off[600], victim[400], fifo[400], zero[400];
    pt_spool_status st;
    struct stat sb;
    size_t n = 0, found;

    alarm(60); /* a FIFO that blocks fails the test instead of hanging */
    snprintf(victim, sizeof(victim), "%s/victim", f->root);
    write_file(victim, "precious\n");
    assert_int_equal(pt__spool_open(&a, f->dir), PT_OK);
    make_records(&recs, 20, 0);
    assert_int_equal(pt__spool_append(a, recs.ptrs, 20, NULL), PT_OK);
    segment_path(f->dir, seg, sizeof(seg));
    snprintf(tmp, sizeof(tmp), "%s.off.tmp", seg);
    snprintf(off, sizeof(off), "%s.off", seg);
    assert_int_equal(symlink(victim, tmp), 0);
    assert_int_equal(pt__spool_replay_step(a, 5, sink_put, s, &n), PT_OK);
    assert_int_equal(n, 5);
    pt__spool_save_progress(a); /* as a replay that stops does */
    assert_int_equal(stat(victim, &sb), 0);
    assert_int_equal(sb.st_size, 9); /* not truncated through the link */
    assert_int_equal(lstat(off, &sb), 0);
    assert_true(S_ISREG(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    pt__spool_close(a); /* 15 records left */

    /* The progress file replaced by a link: not read, reported, and the
     * segment replayed from its start (idempotent). */
    assert_int_equal(unlink(off), 0);
    assert_int_equal(symlink(victim, off), 0);
    warnings = 0;
    pt_set_log(capture_log, NULL, PT_LOG_WARN);
    assert_int_equal(pt__spool_status(f->dir, &st), PT_OK);
    assert_int_equal(st.pending_records, 20);
    assert_true(warnings >= 1);

    /* A FIFO and a link to /dev/zero named like segments. */
    snprintf(fifo, sizeof(fifo), "%s/spool-0-fifo.log", f->dir);
    snprintf(zero, sizeof(zero), "%s/spool-0-zero.log", f->dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(pt__spool_status(f->dir, &st), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), fifo));
    assert_non_null(strstr(pt_last_error(), "FIFO"));
    assert_int_equal(symlink("/dev/zero", zero), 0);
    assert_int_equal(unlink(fifo), 0);
    assert_int_equal(pt__spool_status(f->dir, &st), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "symbolic link"));
    assert_int_equal(mkfifo(fifo, 0600), 0);
    warnings = 0;
    s->count = 0;
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    /* The real segment is found; the scan fails naming the first refused
     * one (a replay must not report "nothing left"), and logs both. */
    found = 99;
    assert_int_equal(pt__spool_scan(b, &found), PT_EACCESS);
    assert_int_equal(found, 1);
    assert_non_null(strstr(pt_last_error(), "spool-0-fifo.log: it is a FIFO"));
    assert_non_null(strstr(pt_last_error(), "not replayed"));
    assert_true(warnings >= 2);
    assert_int_equal(drain(b, s, 8), 20);
    pt__spool_close(b);
    pt_set_log(NULL, NULL, PT_LOG_WARN);
    assert_int_equal(stat(victim, &sb), 0);
    assert_int_equal(sb.st_size, 9);

    /* A spool directory others can write. */
    assert_int_equal(chmod(f->dir, 0777), 0);
    assert_int_equal(pt__spool_open(&b, f->dir), PT_OK);
    assert_int_equal(pt__spool_append(b, recs.ptrs, 1, NULL), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "chmod 700"));
    assert_int_equal(pt__spool_status(f->dir, &st), PT_EACCESS);
    pt__spool_close(b);
    assert_int_equal(chmod(f->dir, 0700), 0);
    alarm(0);
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_on_disk_until_needed,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_append_replay_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_unsafe_directory_is_an_error_not_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_orphan_replayed_by_next, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_progress_survives_failure, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_torn_and_corrupt_lines_skipped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_size_limit_new_segment, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_file_size_limit_below_one_record,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_torn_tail_hides_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_orphans_before_own_records, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_progress_file_means_start,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_valid_progress_file_respected,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_during_replay_step, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hostile_files_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_ahead_and_lagging_progress,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
