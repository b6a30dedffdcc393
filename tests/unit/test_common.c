/* Unit tests for lib/common: errors, buffers, UTF-8 and time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/common.h"

/* Every retry's delay lies within its ceiling (capped exponential) and its
 * jitter's floor, and the draws spread over the whole range. */
static void
test_backoff(void **state)
{
    static int owner;
    uint64_t rng = pt__backoff_seed(&owner), zero = 0;
    (void)state;
    assert_true(rng != 0);
    for (unsigned int attempt = 0; attempt < 70; attempt++) {
        uint64_t ceiling = 25;
        for (unsigned int i = 1; i < attempt && ceiling < 3000; i++)
            ceiling *= 2;
        if (ceiling > 3000)
            ceiling = 3000;
        uint64_t lo = UINT64_MAX, hi = 0;
        for (int i = 0; i < 4000; i++) {
            uint64_t full =
                pt__backoff(&rng, attempt, 25, 3000, PT__JITTER_FULL);
            uint64_t half =
                pt__backoff(&rng, attempt, 25, 3000, PT__JITTER_HALF);
            assert_true(full <= ceiling);
            assert_true(half >= ceiling / 2 && half <= ceiling);
            lo = full < lo ? full : lo;
            hi = full > hi ? full : hi;
        }
        assert_true(lo <= ceiling / 20);      /* near 0 ... */
        assert_true(hi >= ceiling * 19 / 20); /* ... and near the ceiling */
    }
    /* the cap wins over the base; no overflow at the top of the range */
    assert_true(pt__backoff(&rng, 1, 500, 40, PT__JITTER_FULL) <= 40);
    assert_true(pt__backoff(&rng, 200, UINT64_C(1) << 62, UINT64_MAX,
                            PT__JITTER_HALF) >= UINT64_MAX / 2);
    pt__backoff(&rng, 3, 1, UINT64_MAX, PT__JITTER_FULL);
    /* a zero state still jitters */
    assert_true(pt__backoff(&zero, 1, 1000, 1000, PT__JITTER_FULL) !=
                    pt__backoff(&zero, 1, 1000, 1000, PT__JITTER_FULL) ||
                pt__backoff(&zero, 1, 1000, 1000, PT__JITTER_FULL) !=
                    pt__backoff(&zero, 1, 1000, 1000, PT__JITTER_FULL));
}

static void
test_errors(void **state)
{
    (void)state;
    assert_string_equal(pt_strerror(PT_OK), "success");
    assert_string_equal(pt_strerror(PT_ENOSPACE), "no space left");
    assert_string_equal(pt_strerror(-9999), "unknown error");
    assert_string_equal(pt_err_name(PT_EPOLICY), "PT_EPOLICY");
    assert_int_equal(pt__fail(PT_EIO, "disk %d", 3), PT_EIO);
    assert_string_equal(pt_last_error(), "disk 3");
    /* the detail may quote itself (it is formatted aside first) */
    assert_int_equal(pt__fail(PT_EIO, "outer: %s (%d)", pt_last_error(), 4),
                     PT_EIO);
    assert_string_equal(pt_last_error(), "outer: disk 3 (4)");
    pt__clear_error();
    assert_string_equal(pt_last_error(), "");
    assert_string_equal(pt_version(), PT_VERSION_STRING);
}

static void
test_buf_json_string(void **state)
{
    pt_buf b = PT_BUF_INIT;
    (void)state;
    pt_buf_json_string(&b, "a\"b\\c\n\x01\xc3\xa9", 9);
    assert_string_equal(b.ptr, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\"");
    pt_buf_clear(&b);
    /* Invalid UTF-8 (a lone continuation byte, an overlong, a surrogate) is
     * replaced, never passed through. */
    pt_buf_json_string(&b, "x\x80y\xc0\xafz\xed\xa0\x80", 10);
    assert_true(pt__utf8_valid(b.ptr, b.len));
    assert_non_null(strstr(b.ptr, "\xEF\xBF\xBD"));
    pt_buf_free(&b);
}

static void
test_buf_printf_grows(void **state)
{
    pt_buf b = PT_BUF_INIT;
    (void)state;
    for (int i = 0; i < 1000; i++)
        pt_buf_printf(&b, "%04d,", i);
    assert_int_equal(b.len, 5000);
    assert_memory_equal(b.ptr + 4995, "0999,", 5);
    assert_int_equal(b.oom, 0);
    pt_buf_free(&b);
}

static void
test_utf8_sanitize_cut_at_boundary(void **state)
{
    pt_buf b = PT_BUF_INIT;
    (void)state;
    /* "é" is two bytes: a 4-byte cap must not split the second one. */
    assert_true(pt__utf8_sanitize(&b, "ab\xc3\xa9\xc3\xa9", 6, 5));
    assert_string_equal(b.ptr, "ab\xc3\xa9");
    pt_buf_clear(&b);
    assert_false(pt__utf8_sanitize(&b, "plain", 5, 0));
    assert_string_equal(b.ptr, "plain");
    pt_buf_clear(&b);
    assert_true(pt__utf8_sanitize(&b, "\xf4\x90\x80\x80", 4, 0));
    assert_true(pt__utf8_valid(b.ptr, b.len));
    pt_buf_free(&b);
}

static void
test_time_format(void **state)
{
    char ts[PT_TIMESTAMP_LEN + 1], date[PT_DATE_LEN + 1];
    int64_t us;
    (void)state;
    /* 2025-01-15T14:30:00.123456Z */
    us = 1736951400LL * 1000000 + 123456;
    pt__format_timestamp(ts, us);
    assert_string_equal(ts, "2025-01-15T14:30:00.123456+00:00");
    pt__format_date(date, us);
    assert_string_equal(date, "2025-01-15");
    pt__format_timestamp(ts, 0);
    assert_string_equal(ts, "1970-01-01T00:00:00.000000+00:00");
    /* Leap day. */
    pt__format_date(date, 951782400LL * 1000000);
    assert_string_equal(date, "2000-02-29");
}

static void
test_time_parse(void **state)
{
    int64_t us;
    (void)state;
    assert_int_equal(pt__parse_iso8601("2025-01-15T14:30:00.123456+00:00", &us),
                     PT_OK);
    assert_true(us == 1736951400LL * 1000000 + 123456);
    assert_int_equal(pt__parse_iso8601("2025-01-15T15:30:00+01:00", &us),
                     PT_OK);
    assert_true(us == 1736951400LL * 1000000);
    assert_int_equal(pt__parse_iso8601("2025-01-15T14:30Z", &us), PT_OK);
    assert_true(us == 1736951400LL * 1000000);
    assert_int_equal(pt__parse_iso8601("2025-01-15", &us), PT_OK);
    assert_true(us == 1736899200LL * 1000000);
    assert_int_equal(pt__parse_iso8601("2025-02-30", &us), PT_EPARSE);
    assert_int_equal(pt__parse_iso8601("2025-01-15T25:00", &us), PT_EPARSE);
    assert_int_equal(pt__parse_iso8601("2025-01-15T14:30:00junk", &us),
                     PT_EPARSE);
    assert_int_equal(pt__parse_iso8601("", &us), PT_EPARSE);
    assert_true(pt__valid_date("2024-02-29"));
    assert_false(pt__valid_date("2023-02-29"));
    assert_false(pt__valid_date("../etc/pass"));
    assert_false(pt__valid_date("2024-02-290"));
}

/* The public parser of visit times: the formats the command has always
 * taken, and exactly the range pt_track() accepts. */
static void
test_time_parse_public(void **state)
{
    int64_t us = 0;
    (void)state;
    assert_int_equal(pt_time_parse("2025-01-15T14:30:00.123456+00:00", &us),
                     PT_OK);
    assert_true(us == INT64_C(1736951400123456));
    assert_int_equal(pt_time_parse("2025-01-15 16:30:00+02:00", &us), PT_OK);
    assert_true(us == INT64_C(1736951400000000));
    assert_int_equal(pt_time_parse("2025-01-15T09:30-0500", &us), PT_OK);
    assert_true(us == INT64_C(1736951400000000));
    assert_int_equal(pt_time_parse("2025-01-15T09:30-05", &us), PT_OK);
    assert_true(us == INT64_C(1736951400000000));
    assert_int_equal(pt_time_parse("2025-01-15T14:30:00.5", &us), PT_OK);
    assert_true(us == INT64_C(1736951400500000));
    assert_int_equal(pt_time_parse("2025-01-15T14:30:00.1234567891234Z", &us),
                     PT_OK);
    assert_true(us == INT64_C(1736951400123456));
    assert_int_equal(pt_time_parse("2025-01-15", &us), PT_OK);
    assert_true(us == INT64_C(1736899200000000));

    /* The range, at both ends. */
    assert_int_equal(pt_time_parse("9999-12-31T23:59:59.999999Z", &us), PT_OK);
    assert_true(us == PT_TIME_MAX_US);
    assert_int_equal(pt_time_parse("9999-12-31T22:59:59.999999-01:00", &us),
                     PT_OK);
    assert_true(us == PT_TIME_MAX_US);
    assert_int_equal(pt_time_parse("1970-01-01T00:00:00.000001Z", &us), PT_OK);
    assert_true(us == PT_TIME_MIN_US);
    us = 42;
    assert_int_equal(pt_time_parse("9999-12-31T23:59:59-01:00", &us),
                     PT_EINVAL);
    assert_non_null(strstr(pt_last_error(), "9999-12-31T23:59:59.999999Z"));
    assert_true(us == 42); /* untouched on failure */
    assert_int_equal(pt_time_parse("1970-01-01T00:00:00Z", &us), PT_EINVAL);
    assert_int_equal(pt_time_parse("1970-01-01T00:30:00+01:00", &us),
                     PT_EINVAL);
    assert_int_equal(pt_time_parse("0000-01-01T00:00:00Z", &us), PT_EINVAL);

    const char *bad[] = {"",
                         "yesterday",
                         "2025-02-29T00:00:00Z",
                         "2025-13-01",
                         "2025-01-15T24:00:00Z",
                         "2025-01-15T14:60:00Z",
                         "2025-01-15T14:30:00+25:00",
                         "2025-01-15T14:30:00+05:",
                         "2025-01-15T14:30:00+05:3",
                         "2025-01-15T14:30:00+0",
                         "2025-01-15T14:30:00.Z",
                         "2025-01-15T14:30:00Zjunk",
                         "10000-01-01T00:00:00Z",
                         "25-01-15",
                         "2025-1-15"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (pt_time_parse(bad[i], &us) != PT_EPARSE)
            fail_msg("'%s' not refused as malformed", bad[i]);
    assert_int_equal(pt_time_parse(NULL, &us), PT_EPARSE);
    assert_int_equal(pt_time_parse("2025-01-15", NULL), PT_EINVAL);
}

/* pt__write at the file-size limit, SIGXFSZ at its default action (kill):
 * a short write, then EFBIG; the process lives, no SIGXFSZ is left pending
 * and the thread's signal mask is as it was. */
static void
test_write_at_file_size_limit(void **state)
{
    char path[] = "/tmp/pt-common-write-XXXXXX";
    int status, fd = mkstemp(path);
    pid_t pid;

    (void)state;
    assert_true(fd >= 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char buf[150];
        struct rlimit lim;
        sigset_t mask, pending;
        int ok = 1;

        memset(buf, 'x', sizeof(buf));
        signal(SIGXFSZ, SIG_DFL);
        ok &= getrlimit(RLIMIT_FSIZE, &lim) == 0;
        lim.rlim_cur = 100;
        ok &= setrlimit(RLIMIT_FSIZE, &lim) == 0;
        ok &= pt__write(fd, buf, sizeof(buf)) == 100;
        errno = 0;
        ok &= pt__write(fd, buf, 10) == -1 && errno == EFBIG;
        ok &= pt__write_all(fd, buf, 10) == -1 && errno == EFBIG;
        ok &= sigpending(&pending) == 0 && !sigismember(&pending, SIGXFSZ);
        ok &= pthread_sigmask(SIG_BLOCK, NULL, &mask) == 0 &&
              !sigismember(&mask, SIGXFSZ);
        /* A thread that blocks it for good (the writer) writes plainly. */
        pt__sigxfsz_block_thread();
        ok &= pt__write(fd, buf, 10) == -1 && errno == EFBIG;
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    close(fd);
    unlink(path);
    if (WIFSIGNALED(status))
        fail_msg("killed by signal %d", WTERMSIG(status));
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static int log_calls;
static void
capture_log(pt_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    if (level == PT_LOG_WARN && strcmp(message, "hello 42") == 0)
        log_calls++;
}

/* The one CRC-32 of the library (spool lines, x-amz-crc32) is zlib's. */
static void
test_crc32(void **state)
{
    (void)state;
    assert_int_equal(pt__crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(pt__crc32(0, "", 0), 0);
    /* Incremental: the value so far continues the checksum. */
    assert_int_equal(pt__crc32(pt__crc32(0, "1234", 4), "56789", 5),
                     0xCBF43926u);
    /* Every length and alignment against the bit-by-bit definition (the
     * fast path takes eight bytes at a time). */
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (unsigned char)(i * 131u + 7u);
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; len + off <= sizeof(buf); len += 13) {
            uint32_t c = 0xFFFFFFFFu;
            for (size_t i = 0; i < len; i++) {
                c ^= buf[off + i];
                for (int k = 0; k < 8; k++)
                    c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            }
            assert_int_equal(pt__crc32(0, buf + off, len), ~c);
        }
    }
}

static void
test_log_callback(void **state)
{
    (void)state;
    pt__log(PT_LOG_ERROR, "nobody listens");
    pt_set_log(capture_log, NULL, PT_LOG_INFO);
    pt__log(PT_LOG_WARN, "hello %d", 42);
    pt__log(PT_LOG_DEBUG, "hello %d", 42); /* below the minimum level */
    assert_int_equal(log_calls, 1);
    pt_set_log(NULL, NULL, PT_LOG_DEBUG);
    pt__log(PT_LOG_WARN, "hello %d", 42);
    assert_int_equal(log_calls, 1);
}

/* ---- the log callback across fork() --------------------------------------
 * A line being delivered by another thread when a thread forks must not
 * leave the child's log locked (issue: python_concurrency hung 600 s in CI,
 * the child waiting in pt_set_log() for a read lock held by a thread of the
 * parent that was inside the Python callback). */

static pthread_mutex_t held_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t held_cond = PTHREAD_COND_INITIALIZER;
static int held_entered, held_release;

/* Delivers a line and stays inside the callback until released. */
static void
holding_log(pt_log_level level, const char *message, void *userdata)
{
    (void)level;
    (void)message;
    (void)userdata;
    pthread_mutex_lock(&held_lock);
    held_entered = 1;
    pthread_cond_broadcast(&held_cond);
    while (!held_release)
        pthread_cond_wait(&held_cond, &held_lock);
    pthread_mutex_unlock(&held_lock);
}

static void *
log_one_line(void *arg)
{
    (void)arg;
    pt__log(PT_LOG_WARN, "a line delivered across fork()");
    return NULL;
}

static int child_log_calls;

static void
count_child_log(pt_log_level level, const char *message, void *userdata)
{
    (void)level;
    (void)message;
    (void)userdata;
    child_log_calls++;
}

/* In the child: a new callback can be set and receives the child's line;
 * a log that stayed locked hangs, and SIGALRM ends the child. */
static void
child_checks_its_log(void)
{
    alarm(10);
    pt_set_log(count_child_log, NULL, PT_LOG_INFO);
    pt__log(PT_LOG_WARN, "the child's own line");
    pt_set_log(NULL, NULL, PT_LOG_NONE);
    _exit(child_log_calls == 1 ? 0 : 3);
}

static void
assert_child_exited_0(pid_t pid)
{
    int status = 0;

    assert_true(pid > 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_false(WIFSIGNALED(status)); /* SIGALRM: the child's log hung */
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_log_fork_while_another_thread_delivers(void **state)
{
    pthread_t thread;
    pid_t pid;

    (void)state;
    held_entered = held_release = 0;
    pt_set_log(holding_log, NULL, PT_LOG_INFO);
    assert_int_equal(pthread_create(&thread, NULL, log_one_line, NULL), 0);
    pthread_mutex_lock(&held_lock);
    while (!held_entered)
        pthread_cond_wait(&held_cond, &held_lock);
    pthread_mutex_unlock(&held_lock);
    pid = fork(); /* the other thread is inside the callback */
    if (pid == 0)
        child_checks_its_log();
    pthread_mutex_lock(&held_lock);
    held_release = 1;
    pthread_cond_broadcast(&held_cond);
    pthread_mutex_unlock(&held_lock);
    pthread_join(thread, NULL);
    pt_set_log(NULL, NULL, PT_LOG_NONE);
    assert_child_exited_0(pid);
}

static pid_t forked_in_callback = -1;

static void
forking_log(pt_log_level level, const char *message, void *userdata)
{
    (void)level;
    (void)message;
    (void)userdata;
    forked_in_callback = fork();
}

/* A fork() inside the callback: the child returns from the callback and
 * releases the line's read lock once, and then its log works. */
static void
test_log_fork_inside_the_callback(void **state)
{
    (void)state;
    forked_in_callback = -1;
    pt_set_log(forking_log, NULL, PT_LOG_INFO);
    pt__log(PT_LOG_WARN, "fork() from the callback");
    if (forked_in_callback == 0)
        child_checks_its_log();
    pt_set_log(NULL, NULL, PT_LOG_NONE);
    assert_child_exited_0(forked_in_callback);
}

static void
test_hex_key_decode(void **state)
{
    unsigned char out[8];
    (void)state;
    assert_int_equal(pt__hex_key_decode(" 0aFf1020\r\n", 11, out, 2, 8), 4);
    assert_memory_equal(out, "\x0a\xff\x10\x20", 4);
    assert_int_equal(pt__hex_key_decode("0aF", 3, out, 1, 8), 0); /* odd */
    assert_int_equal(pt__hex_key_decode("0a", 2, out, 2, 8), 0);  /* short */
    assert_int_equal(pt__hex_key_decode("00112233445566778899", 20, out, 1, 8),
                     0); /* long */
    memset(out, 0x55, sizeof(out));
    assert_int_equal(pt__hex_key_decode("0a0bzz", 6, out, 1, 8), 0);
    for (size_t i = 0; i < sizeof(out); i++)
        assert_int_equal(out[i], 0); /* what was decoded is wiped */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_hex_key_decode),
        cmocka_unit_test(test_buf_json_string),
        cmocka_unit_test(test_buf_printf_grows),
        cmocka_unit_test(test_utf8_sanitize_cut_at_boundary),
        cmocka_unit_test(test_time_format),
        cmocka_unit_test(test_time_parse),
        cmocka_unit_test(test_time_parse_public),
        cmocka_unit_test(test_crc32),
        cmocka_unit_test(test_write_at_file_size_limit),
        cmocka_unit_test(test_log_callback),
        cmocka_unit_test(test_log_fork_while_another_thread_delivers),
        cmocka_unit_test(test_log_fork_inside_the_callback),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
