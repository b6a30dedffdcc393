/* Unit tests for the `file` storage backend (lib/storage/file*.c):
 * settings, put/query, damaged files, replay, purge, fsync modes.  The
 * multi-process and disk-full tests are in file_store_stress.c. */
#include "file_store_fixture.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- open / init -------------------------------------------------------- */

static void
test_open_creates_nothing(void **state)
{
    fixture *f = *state;
    struct stat st;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt_record_list *list;
    uint64_t removed = 99;

    list = query(s, DAY, 10, 0);
    assert_int_equal(list->count, 0);
    pt_record_list_free(list);
    assert_int_equal(s->methods->purge(s, 0, &removed), PT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(s->methods->sync(s), PT_OK);
    s->methods->close(s);
    assert_int_equal(stat(f->store, &st), -1);
    assert_int_equal(errno, ENOENT);
}

static void
test_open_from_policy(void **state)
{
    fixture *f = *state;
    pt_policy pol = {f->store, "always"};
    pt_storage *s = NULL;
    const pt_storage_methods *m = &pt__file_storage_methods;
    struct stat st;

    assert_string_equal(m->name, "file");
    assert_int_equal(m->capabilities, PT_STORAGE_CAP_QUERY |
                                          PT_STORAGE_CAP_PURGE |
                                          PT_STORAGE_CAP_IDEMPOTENT);
    assert_int_equal(m->open(&s, &pol, NULL), PT_OK);
    assert_int_equal(((pt__file_store *)(void *)s)->fsync_mode,
                     PT__FILE_FSYNC_ALWAYS);
    assert_string_equal(((pt__file_store *)(void *)s)->dir, f->store);
    m->close(s);
    /* The override wins over [storage] path. */
    pol.fsync = "never";
    assert_int_equal(m->open(&s, &pol, f->dir), PT_OK);
    assert_string_equal(((pt__file_store *)(void *)s)->dir, f->dir);
    assert_int_equal(((pt__file_store *)(void *)s)->fsync_mode,
                     PT__FILE_FSYNC_NEVER);
    m->close(s);
    /* Defaults: ./var, batch. */
    pol.path = NULL;
    pol.fsync = NULL;
    assert_int_equal(m->open(&s, &pol, NULL), PT_OK);
    assert_string_equal(((pt__file_store *)(void *)s)->dir, "./var");
    assert_int_equal(((pt__file_store *)(void *)s)->fsync_mode,
                     PT__FILE_FSYNC_BATCH);
    m->close(s);
    pol.fsync = "sometimes";
    assert_int_equal(m->open(&s, &pol, NULL), PT_EPOLICY);
    assert_null(s);
    assert_non_null(strstr(pt_last_error(), "fsync"));
    assert_int_equal(stat(f->store, &st), -1);
    assert_int_equal(pt__file_storage_open_path(&s, "", 1), PT_EINVAL);
    assert_int_equal(pt__file_storage_open_path(&s, f->store, 7), PT_EINVAL);
}

/* The tracker's writer asks the store how many records to take per
 * fdatasync (group commit); a store that never syncs has no answer. */
static void
test_group_commit_control(void **state)
{
    fixture *f = *state;
    size_t group = 0;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);

    assert_int_equal(
        s->methods->control(s, PT_STORAGE_CTL_GROUP_COMMIT, &group), PT_OK);
    assert_true(group >= 1024);
    assert_int_equal(s->methods->control(s, PT_STORAGE_CTL_GROUP_COMMIT, NULL),
                     PT_EUNSUPPORTED);
    assert_int_equal(s->methods->control(s, 0x12345, &group), PT_EUNSUPPORTED);
    s->methods->close(s);
    s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    group = 0;
    assert_int_equal(
        s->methods->control(s, PT_STORAGE_CTL_GROUP_COMMIT, &group),
        PT_EUNSUPPORTED);
    assert_int_equal(group, 0);
    s->methods->close(s);
}

static void
test_init_creates_private_dir(void **state)
{
    fixture *f = *state;
    char nested[400];
    struct stat st;
    pt_storage *s;

    snprintf(nested, sizeof(nested), "%s/a/b/c", f->store);
    s = open_store(nested, PT__FILE_FSYNC_BATCH);
    assert_int_equal(s->methods->init(s), PT_OK);
    assert_int_equal(s->methods->init(s), PT_OK); /* idempotent */
    assert_int_equal(stat(nested, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 0077, 0);
    s->methods->close(s);
    /* A file in the way is a clear error. */
    append_raw(f, DAY, "x", 1);
    char blocked[600];
    snprintf(blocked, sizeof(blocked), "%s/%s.jsonl/sub", f->store, DAY);
    s = open_store(blocked, PT__FILE_FSYNC_BATCH);
    assert_int_not_equal(s->methods->init(s), PT_OK);
    assert_non_null(strstr(s->errmsg, "file store"));
    s->methods->close(s);
}

/* ---- put and query ------------------------------------------------------ */

static void
test_put_creates_dir_lazily_and_query_orders(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[50];
    char sid[32];
    size_t written = 0;
    struct stat st;
    pt_record_list *all, *top;

    /* Out of order on purpose: 37 is coprime with 50. */
    for (int i = 0; i < 50; i++) {
        int k = (i * 37) % 50;
        snprintf(sid, sizeof(sid), "%d-%08x", 1736899200 + k, (unsigned)k);
        make_rec(&recs[i], DAY, 3600 + k, k * 3, sid, 0);
    }
    assert_int_equal(put(s, recs, 20, 0, &written), PT_OK);
    assert_int_equal(written, 20);
    assert_int_equal(put(s, recs + 20, 30, 0, &written), PT_OK);
    assert_int_equal(written, 30);
    assert_int_equal(s->methods->sync(s), PT_OK);
    assert_int_equal(stat(f->store, &st), 0);
    assert_int_equal(st.st_mode & 0077, 0);

    all = query(s, DAY, 0, 0);
    assert_int_equal(all->count, 50);
    for (size_t i = 1; i < all->count; i++)
        assert_true(strcmp(all->records[i - 1].timestamp,
                           all->records[i].timestamp) > 0);
    assert_string_equal(all->records[0].session_id, "1736899249-00000031");
    assert_string_equal(all->records[49].session_id, "1736899200-00000000");
    assert_string_equal(all->records[3].titles[0], "Song \xC3\xA9");
    assert_string_equal(all->records[3].policy, "test-00000000");

    for (size_t limit = 1; limit <= 60; limit += 7) {
        top = query(s, DAY, limit, 0);
        assert_int_equal(top->count, limit < 50 ? limit : 50);
        for (size_t i = 0; i < top->count; i++)
            assert_string_equal(top->records[i].timestamp,
                                all->records[i].timestamp);
        pt_record_list_free(top);
    }
    pt_record_list_free(all);
    /* Another day is empty, not an error. */
    top = query(s, "2025-01-16", 10, 0);
    assert_int_equal(top->count, 0);
    pt_record_list_free(top);
    s->methods->close(s);
}

static void
test_put_batch_spanning_dates(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_ALWAYS);
    rec_buf recs[5];
    size_t written = 0;
    pt_record_list *a, *b;

    make_rec(&recs[0], "2025-01-14", 86399, 1, "1-a", 0);
    make_rec(&recs[1], "2025-01-14", 86399, 2, "1-b", 0);
    make_rec(&recs[2], "2025-01-15", 0, 1, "1-c", 0);
    make_rec(&recs[3], "2025-01-14", 86399, 3, "1-d", 0);
    make_rec(&recs[4], "2025-01-15", 0, 2, "1-e", 0);
    assert_int_equal(put(s, recs, 5, 0, &written), PT_OK);
    assert_int_equal(written, 5);
    a = query(s, "2025-01-14", 0, 0);
    b = query(s, "2025-01-15", 0, 0);
    assert_int_equal(a->count, 3);
    assert_int_equal(b->count, 2);
    assert_string_equal(a->records[0].session_id, "1-d");
    assert_string_equal(b->records[0].session_id, "1-e");
    pt_record_list_free(a);
    pt_record_list_free(b);
    s->methods->close(s);
}

static void
test_invalid_dates_rejected(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt_record_list *list = NULL;
    rec_buf recs[2];
    size_t written = 99;
    struct stat st;

    assert_int_equal(s->methods->query(s, &list, "../../etc/passwd", 1, 0),
                     PT_EINVAL);
    assert_null(list);
    assert_int_equal(s->methods->query(s, &list, "2025-02-30", 1, 0),
                     PT_EINVAL);
    assert_int_equal(s->methods->query(s, &list, NULL, 1, 0), PT_EINVAL);
    make_rec(&recs[0], DAY, 1, 1, "1-a", 0);
    make_rec(&recs[1], DAY, 1, 2, "1-b", 0);
    snprintf(recs[1].date, sizeof(recs[1].date), "../x");
    assert_int_equal(put(s, recs, 2, 0, &written), PT_EINVAL);
    assert_int_equal(written, 1);
    assert_non_null(strstr(s->errmsg, "record 1"));
    s->methods->close(s);
    snprintf(recs[0].date, sizeof(recs[0].date), "../x");
    s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_EINVAL);
    s->methods->close(s);
    assert_int_equal(stat(f->dir, &st), 0);
    char escaped[400];
    snprintf(escaped, sizeof(escaped), "%s/x.jsonl", f->dir);
    assert_int_equal(stat(escaped, &st), -1);
}

static void
test_ttl_filtering(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    rec_buf recs[4];
    pt_record_list *list;
    size_t written;

    make_rec(&recs[0], DAY, 10, 0, "1-expired", 1000);
    make_rec(&recs[1], DAY, 11, 0, "1-boundary", 2000);
    make_rec(&recs[2], DAY, 12, 0, "1-later", 3000);
    make_rec(&recs[3], DAY, 13, 0, "1-forever", 0);
    assert_int_equal(put(s, recs, 4, 0, &written), PT_OK);
    /* ttl < now is expired; ttl == now is not yet. */
    list = query(s, DAY, 0, 2000);
    assert_int_equal(list->count, 3);
    assert_string_equal(list->records[0].session_id, "1-forever");
    assert_string_equal(list->records[2].session_id, "1-boundary");
    assert_int_equal(list->records[1].ttl, 3000);
    pt_record_list_free(list);
    list = query(s, DAY, 1, 5000);
    assert_int_equal(list->count, 1);
    assert_string_equal(list->records[0].session_id, "1-forever");
    pt_record_list_free(list);
    s->methods->close(s);
}

/* ---- damage ------------------------------------------------------------- */

static void
test_torn_last_line_skipped_and_isolated(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[3];
    pt_record_list *list;
    size_t written;
    char path[512], *json, *data;

    make_rec(&recs[0], DAY, 1, 0, "1-a", 0);
    make_rec(&recs[1], DAY, 2, 0, "1-b", 0);
    make_rec(&recs[2], DAY, 3, 0, "1-c", 0);
    assert_int_equal(put(s, recs, 2, 0, &written), PT_OK);
    /* A crash mid-write: half of a record, no newline. */
    assert_int_equal(pt_record_to_json(&json, &recs[2].r), PT_OK);
    append_raw(f, DAY, json, strlen(json) / 2);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 2);
    pt_record_list_free(list);
    assert_non_null(strstr(logged, DAY ".jsonl:3: torn last line"));
    /* The warning names file and line, never the content. */
    assert_null(strstr(logged, "203.0.113.0"));
    assert_null(strstr(logged, "1-c"));

    /* The next append starts on a fresh line. */
    assert_int_equal(put(s, recs + 2, 1, 0, &written), PT_OK);
    assert_int_equal(written, 1);
    logged[0] = '\0';
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 3);
    assert_string_equal(list->records[0].session_id, "1-c");
    pt_record_list_free(list);
    assert_non_null(strstr(logged, DAY ".jsonl:3: corrupt record"));
    day_path(f, DAY, path, sizeof(path));
    data = slurp(path, NULL);
    assert_int_equal(count_substr(data, "\n"), 4);
    free(data);
    pt_free(json);
    s->methods->close(s);
}

static void
test_complete_last_line_without_newline_is_kept(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[2];
    pt_record_list *list;
    size_t written;
    char *json;

    make_rec(&recs[0], DAY, 1, 0, "1-a", 0);
    make_rec(&recs[1], DAY, 2, 0, "1-b", 0);
    assert_int_equal(s->methods->init(s), PT_OK);
    assert_int_equal(pt_record_to_json(&json, &recs[0].r), PT_OK);
    append_raw(f, DAY, json, strlen(json)); /* cut right before '\n' */
    pt_free(json);
    assert_int_equal(put(s, recs + 1, 1, 0, &written), PT_OK);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 2);
    pt_record_list_free(list);
    assert_string_equal(logged, "");
    s->methods->close(s);
}

static void
test_corrupt_lines_skipped(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[2];
    pt_record_list *list;
    size_t written;
    static const char junk[] =
        "{\"date\":\"2025-01-15\",\"timest\n" /* 2: torn mid-file */
        "\n\n"                                /* blank: ignored */
        "\x00\x00\x00\x00\n"                  /* 5: NULs (ext4 crash) */
        "{\"date\":\"2025-01-15\"}\n"         /* 6: no timestamp */
        "[1,2,3]\n"                           /* 7 */
        "{\"date\":\"2025-01-15\",\"timestamp\":\"x\",\"links\":5}\n" /* 8 */
        "\xff\xfe garbage \x01\n";                                    /* 9 */

    make_rec(&recs[0], DAY, 1, 0, "1-a", 0);
    make_rec(&recs[1], DAY, 2, 0, "1-b", 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    append_raw(f, DAY, junk, sizeof(junk) - 1);
    assert_int_equal(put(s, recs + 1, 1, 0, &written), PT_OK);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 2);
    assert_string_equal(list->records[0].session_id, "1-b");
    pt_record_list_free(list);
    assert_int_equal(count_substr(logged, "corrupt record"), 6);
    assert_non_null(strstr(logged, ":2: corrupt"));
    assert_non_null(strstr(logged, ":9: corrupt"));
    assert_null(strstr(logged, ":3:"));
    assert_null(strstr(logged, "garbage"));
    s->methods->close(s);
}

static void
test_many_corrupt_lines_logged_bounded(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt_record_list *list;
    assert_int_equal(s->methods->init(s), PT_OK);
    for (int i = 0; i < 100; i++)
        append_raw(f, DAY, "oops\n", 5);
    list = query(s, DAY, 5, 0);
    assert_int_equal(list->count, 0);
    pt_record_list_free(list);
    assert_int_equal(count_substr(logged, "line skipped"), 10);
    assert_non_null(strstr(logged, "100 corrupt or torn lines"));
    s->methods->close(s);
}

static void
test_long_line_and_huge_file_bounded(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    pt_record_list *list;
    rec_buf recs[1];
    size_t written, n = 3u << 20;
    char *big = malloc(n + 1);
    const char *long_links[1];

    /* A 3 MiB user agent: longer than the first read buffer. */
    make_rec(&recs[0], DAY, 5, 0, "1-long", 0);
    memset(big, 'a', n);
    big[n] = '\0';
    long_links[0] = big;
    recs[0].r.links = long_links;
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 1);
    assert_int_equal(strlen(list->records[0].links[0]), n);
    pt_record_list_free(list);
    free(big);
    s->methods->close(s);
}

/* Deterministic xorshift, so a failure reproduces. */
static uint32_t
next_random(uint32_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

static void
test_random_damage_never_crashes(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    pt_buf content = PT_BUF_INIT;
    uint32_t x = 2463534242u;
    size_t valid = 0, written;
    uint64_t removed;
    pt_record_list *list;
    rec_buf recs[1];
    char sid[32], path[512], *before, *after;

    assert_int_equal(s->methods->init(s), PT_OK);
    for (int i = 0; i < 3000; i++) {
        pt_buf line = PT_BUF_INIT;
        snprintf(sid, sizeof(sid), "1-%08x", (unsigned)i);
        make_rec(&recs[0], DAY, i % 86400, i, sid, 0);
        pt__record_json(&line, &recs[0].r);
        switch (next_random(&x) % 4) {
        case 0: /* whole */
            pt_buf_put(&content, line.ptr, line.len);
            valid++;
            break;
        case 1: /* cut anywhere before its end */
            pt_buf_put(&content, line.ptr, next_random(&x) % line.len);
            break;
        case 2: /* random bytes, no newline */
            for (uint32_t n = next_random(&x) % 300; n > 0; n--) {
                char c = (char)(next_random(&x) & 0xff);
                pt_buf_putc(&content, c == '\n' ? ' ' : c);
            }
            break;
        default: /* a byte flipped inside a record */
            line.ptr[next_random(&x) % line.len] ^=
                (char)(1 + next_random(&x) % 255);
            if (memchr(line.ptr, '\n', line.len)) /* stays one line */
                *(char *)memchr(line.ptr, '\n', line.len) = ' ';
            pt_buf_put(&content, line.ptr, line.len);
            /* A flip inside a string can leave valid JSON: count it. */
            pt_record *r;
            if (pt__record_parse_json(&r, line.ptr, line.len) == PT_OK) {
                valid++;
                pt__record_free(r);
            }
        }
        pt_buf_putc(&content, '\n');
        pt_buf_free(&line);
    }
    assert_false(content.oom);
    append_raw(f, DAY, content.ptr, content.len);
    list = query(s, DAY, 0, 1);
    assert_int_equal(list->count, valid);
    pt_record_list_free(list);
    list = query(s, DAY, 10, 1);
    assert_int_equal(list->count, 10);
    pt_record_list_free(list);

    /* Purge with nothing expired leaves the bytes alone. */
    day_path(f, DAY, path, sizeof(path));
    before = slurp(path, NULL);
    assert_int_equal(s->methods->purge(s, 1, &removed), PT_OK);
    assert_int_equal(removed, 0);
    after = slurp(path, NULL);
    assert_string_equal(before, after);
    free(before);
    free(after);
    /* And the store still takes records. */
    make_rec(&recs[0], DAY, 86399, 999999, "9-last", 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    list = query(s, DAY, 0, 1);
    assert_int_equal(list->count, valid + 1);
    /* Flipped timestamps may sort anywhere, so look for it. */
    size_t found = 0;
    for (size_t i = 0; i < list->count; i++)
        found +=
            strcmp(list->records[i].session_id ? list->records[i].session_id
                                               : "",
                   "9-last") == 0;
    assert_int_equal(found, 1);
    pt_record_list_free(list);
    pt_buf_free(&content);
    s->methods->close(s);
}

/* A day file that is not a regular file of its own (a directory, a FIFO,
 * a link to another file or to /dev/zero; a hard link, except for reading)
 * is refused by put, query and purge, naming the file; nothing outside the
 * store changes and nothing blocks (a FIFO open would hang, /dev/zero would
 * never end). */
static void
expect_day_refused(pt_storage *s, const char *why, int reads_refused)
{
    pt_record_list *list = NULL;
    rec_buf recs[1];
    size_t written = 9;
    uint64_t removed;

    make_rec(&recs[0], DAY, 1, 0, "1-a", 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_EACCESS);
    assert_int_equal(written, 0);
    assert_non_null(strstr(s->errmsg, DAY ".jsonl"));
    assert_non_null(strstr(s->errmsg, why));
    if (reads_refused) {
        assert_int_equal(s->methods->query(s, &list, DAY, 0, 0), PT_EACCESS);
        assert_null(list);
        assert_non_null(strstr(s->errmsg, why));
    } else {
        assert_int_equal(s->methods->query(s, &list, DAY, 0, 0), PT_OK);
        pt_record_list_free(list);
    }
    assert_int_equal(s->methods->purge(s, 0, &removed), PT_EACCESS);
    assert_non_null(strstr(s->errmsg, why));
}

static void
test_day_file_not_a_regular_file(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    char path[512], victim[600], *text;
    size_t len;

    alarm(60); /* a FIFO that blocks fails the test instead of hanging it */
    day_path(f, DAY, path, sizeof(path));
    snprintf(victim, sizeof(victim), "%s/victim", f->dir);
    assert_int_equal(s->methods->init(s), PT_OK);

    assert_int_equal(mkdir(path, 0700), 0);
    expect_day_refused(s, "a directory", 1);
    assert_int_equal(rmdir(path), 0);

    assert_int_equal(mkfifo(path, 0600), 0);
    expect_day_refused(s, "a FIFO", 1);
    assert_int_equal(unlink(path), 0);

    assert_int_equal(symlink("/dev/zero", path), 0);
    expect_day_refused(s, "a symbolic link", 1);
    assert_int_equal(unlink(path), 0);

    {
        FILE *out = fopen(victim, "w");
        assert_non_null(out);
        fputs("precious\n", out);
        fclose(out);
    }
    assert_int_equal(symlink(victim, path), 0);
    expect_day_refused(s, "a symbolic link", 1);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(link(victim, path), 0);
    expect_day_refused(s, "hard links", 0);
    assert_int_equal(unlink(path), 0);
    text = slurp(victim, &len);
    assert_int_equal(len, 9);
    free(text);
    alarm(0);
    s->methods->close(s);
}

/* A store directory others can write is refused before anything is
 * written to it or read from it. */
static void
test_store_writable_by_others_refused(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt_record_list *list = NULL;
    rec_buf recs[1];
    size_t written = 9;
    uint64_t removed;
    char path[512];

    assert_int_equal(s->methods->init(s), PT_OK);
    assert_int_equal(chmod(f->store, 0777), 0);
    make_rec(&recs[0], DAY, 1, 0, "1-a", 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_EACCESS);
    assert_non_null(strstr(s->errmsg, "chmod 700"));
    assert_non_null(strstr(s->errmsg, f->store));
    assert_int_equal(s->methods->query(s, &list, DAY, 0, 0), PT_EACCESS);
    assert_int_equal(s->methods->purge(s, 0, &removed), PT_EACCESS);
    assert_int_equal(s->methods->init(s), PT_EACCESS);
    day_path(f, DAY, path, sizeof(path));
    assert_int_not_equal(access(path, F_OK), 0);
    assert_int_equal(chmod(f->store, 0700), 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    s->methods->close(s);
}

/* ---- replay ------------------------------------------------------------- */

static void
test_replay_is_idempotent(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[20];
    pt_record_list *list;
    size_t written;
    char sid[32], path[512], *data;

    for (int i = 0; i < 20; i++) {
        snprintf(sid, sizeof(sid), "1-%08x", (unsigned)i);
        /* Pairs share a timestamp: only the session id tells them apart,
         * the seed's silent-overwrite flaw. */
        make_rec(&recs[i], DAY, 100 + i / 2, 0, sid, 0);
    }
    assert_int_equal(put(s, recs, 10, 0, &written), PT_OK);
    /* Replay the first 10 again plus 10 new, with duplicates inside the
     * batch too. */
    assert_int_equal(put(s, recs, 20, 1, &written), PT_OK);
    assert_int_equal(written, 20);
    assert_int_equal(put(s, recs + 15, 5, 1, &written), PT_OK);
    assert_int_equal(written, 5);
    rec_buf twice[2] = {recs[3], recs[3]};
    twice[0].r.date = twice[0].date;
    twice[0].r.timestamp = twice[0].ts;
    twice[0].r.session_id = twice[0].sid;
    twice[1].r = twice[0].r;
    snprintf(twice[0].sid, sizeof(twice[0].sid), "2-new");
    assert_int_equal(put(s, twice, 2, 1, &written), PT_OK);
    assert_int_equal(written, 2);

    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 21);
    pt_record_list_free(list);
    day_path(f, DAY, path, sizeof(path));
    data = slurp(path, NULL);
    assert_int_equal(count_substr(data, "\n"), 21);
    assert_int_equal(count_substr(data, "\"2-new\""), 1);
    free(data);
    /* Without the replay flag nothing is checked: a plain put appends. */
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 22);
    pt_record_list_free(list);
    s->methods->close(s);
}

/* Two visits of one microsecond whose random session ids collide (32
 * bits: 200,000 visits of an import's one second collide about 5 times)
 * are two records: a replay stores both, in the file already or in one
 * batch, and still stores a record already there only once.  (The check
 * was by timestamp and session id: replaying 200,000 such visits stored
 * 199,994.) */
static void
test_replay_keeps_visits_whose_ids_collide(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[4];
    pt_record_list *list;
    size_t written;

    for (int i = 0; i < 4; i++) {
        make_rec(&recs[i], DAY, 100, 0, "100-0000abcd", 0);
        recs[i].r.user_agent = i % 2 ? "Chrome/Windows" : "Firefox/Linux";
        recs[i].r.num_links_submitted = i / 2 + 1;
    }
    /* 0 is stored, then 0..3 replayed (0 again), then 0..3 once more. */
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    assert_int_equal(put(s, recs, 4, 1, &written), PT_OK);
    assert_int_equal(written, 4);
    assert_int_equal(put(s, recs, 4, 1, &written), PT_OK);
    assert_int_equal(written, 4);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 4);
    pt_record_list_free(list);
    s->methods->close(s);
    /* A new instance reads the file for its check: still 4. */
    s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    assert_int_equal(put(s, recs, 4, 1, &written), PT_OK);
    list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 4);
    pt_record_list_free(list);
    s->methods->close(s);
}

/* A replay in many small puts reads each line of the day file once for
 * its "already stored?" check, not once per put: replaying N records costs
 * O(N), where it cost O(N^2 / batch) (10,000 records in puts of 25 read
 * ~2,000,000 lines; 1,000,000 records could not be replayed in a day). */
static void
test_replay_reads_each_line_once(void **state)
{
    enum { N = 10000, BATCH = 25 };
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt__file_store *fs = (pt__file_store *)(void *)s;
    rec_buf recs[BATCH];
    size_t written;
    char sid[32];
    uint64_t after_first = 0;

    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < N; i += BATCH) {
            for (int k = 0; k < BATCH; k++) {
                snprintf(sid, sizeof(sid), "1-%08x", (unsigned)(i + k));
                make_rec(&recs[k], DAY, (i + k) / 1000, (i + k) % 1000, sid, 0);
            }
            assert_int_equal(put(s, recs, BATCH, 1, &written), PT_OK);
            assert_int_equal(written, BATCH);
        }
        if (round == 0) {
            /* The file was empty: nothing to read but what others add. */
            assert_true(fs->keys_lines_read <= N / 100);
            after_first = fs->keys_lines_read;
        } else {
            /* Everything is there already: found, still without reading
             * the file again. */
            assert_int_equal(fs->keys_lines_read, after_first);
        }
    }
    char path[512], *data;
    day_path(f, DAY, path, sizeof(path));
    data = slurp(path, NULL);
    assert_int_equal(count_substr(data, "\n"), N);
    free(data);

    /* A normal put ends the replay; the next replay reads the file once. */
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    assert_int_equal(put(s, recs, BATCH, 1, &written), PT_OK);
    assert_int_equal(written, BATCH);
    assert_true(fs->keys_lines_read - after_first >= N &&
                fs->keys_lines_read - after_first <= N + 1);
    s->methods->close(s);
}

/* The replay's set of lines (128-bit digests of each whole line): every
 * line added is found afterwards and not before, however many (it grows),
 * and lines that differ in one byte, or are a prefix of another, are
 * different lines. */
static void
test_replay_key_set(void **state)
{
    enum { N = 100000 };
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt__file_store *fs = (pt__file_store *)(void *)s;
    pt__file_keys *keys = NULL;
    char path[512], line[96];
    int fd;

    assert_int_equal(s->methods->init(s), PT_OK);
    snprintf(path, sizeof(path), "%s/empty.jsonl", f->store);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    assert_true(fd >= 0);
    assert_int_equal(pt__file_keys_load(fs, fd, path, &keys), PT_OK);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            int len =
                snprintf(line, sizeof(line),
                         "{\"timestamp\":\"2025-01-15T10:%02d:%02d."
                         "%06dZ\",\"session_id\":\"1-%08x\"}",
                         i / 60000 % 60, i / 1000 % 60, i % 1000, (unsigned)i);
            assert_int_equal(pt__file_keys_check_add(keys, line, (size_t)len),
                             round);
        }
    assert_int_equal(pt__file_keys_check_add(keys, "abc", 3), 0);
    assert_int_equal(pt__file_keys_check_add(keys, "abc", 2), 0);
    assert_int_equal(pt__file_keys_check_add(keys, "abd", 3), 0);
    assert_int_equal(pt__file_keys_check_add(keys, "", 0), 0);
    assert_int_equal(pt__file_keys_check_add(keys, "abc", 3), 1);
    assert_int_equal(pt__file_keys_check_add(keys, "ab", 2), 1);
    assert_int_equal(pt__file_keys_check_add(keys, "", 0), 1);
    pt__file_keys_free(keys);
    close(fd);
    s->methods->close(s);
}

/* The kept keys follow the file: lines another writer appends between two
 * replayed puts are seen, and a file replaced by purge is read anew (a
 * record purged since is stored again, not taken as still there). */
static void
test_replay_keys_follow_the_file(void **state)
{
    fixture *f = *state;
    pt_storage *a = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt_storage *b = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[6], expired[1];
    size_t written;
    uint64_t removed = 0;
    char sid[32], path[512], *data;

    for (int i = 0; i < 6; i++) {
        snprintf(sid, sizeof(sid), "1-%08x", (unsigned)i);
        make_rec(&recs[i], DAY, 100 + i, 0, sid, 0);
    }
    make_rec(&expired[0], DAY, 50, 0, "1-expired", 1000);
    assert_int_equal(put(a, recs, 2, 1, &written), PT_OK);
    assert_int_equal(put(a, expired, 1, 1, &written), PT_OK);
    /* Another writer stores record 2 meanwhile. */
    assert_int_equal(put(b, recs + 2, 1, 0, &written), PT_OK);
    assert_int_equal(put(a, recs + 2, 4, 1, &written), PT_OK);
    assert_int_equal(written, 4);
    day_path(f, DAY, path, sizeof(path));
    data = slurp(path, NULL);
    assert_int_equal(count_substr(data, "\n"), 7); /* record 2 once */
    assert_int_equal(count_substr(data, "\"1-00000002\""), 1);
    free(data);

    /* Purge (the other instance) replaces the file without the expired
     * record; replaying it stores it again. */
    assert_int_equal(b->methods->purge(b, 2000, &removed), PT_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(put(a, expired, 1, 1, &written), PT_OK);
    assert_int_equal(put(a, recs, 6, 1, &written), PT_OK);
    assert_int_equal(written, 6);
    data = slurp(path, NULL);
    assert_int_equal(count_substr(data, "\n"), 7);
    assert_int_equal(count_substr(data, "\"1-expired\""), 1);
    free(data);
    a->methods->close(a);
    b->methods->close(b);
}

/* ---- purge -------------------------------------------------------------- */

static void
test_purge_partial_and_whole(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[6];
    pt_record_list *list;
    size_t written;
    uint64_t removed = 0;
    char path[512], *data;
    struct stat before, after;
    DIR *d;

    /* 2025-01-13: nothing expired; 2025-01-14: all expired; 2025-01-15:
     * mixed, with a corrupt line that must survive. */
    make_rec(&recs[0], "2025-01-13", 1, 0, "1-keep13", 0);
    make_rec(&recs[1], "2025-01-14", 1, 0, "1-gone14a", 1000);
    make_rec(&recs[2], "2025-01-14", 2, 0, "1-gone14b", 1500);
    make_rec(&recs[3], DAY, 1, 0, "1-gone15", 1000);
    make_rec(&recs[4], DAY, 2, 0, "1-keep15", 9000);
    make_rec(&recs[5], DAY, 3, 0, "1-keep15b", 0);
    assert_int_equal(put(s, recs, 4, 0, &written), PT_OK);
    append_raw(f, DAY, "corrupt\n", 8);
    assert_int_equal(put(s, recs + 4, 2, 0, &written), PT_OK);
    day_path(f, "2025-01-13", path, sizeof(path));
    assert_int_equal(stat(path, &before), 0);

    assert_int_equal(s->methods->purge(s, 2000, &removed), PT_OK);
    assert_int_equal(removed, 3);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(before.st_ino, after.st_ino); /* untouched */
    day_path(f, "2025-01-14", path, sizeof(path));
    assert_int_equal(stat(path, &after), -1);
    day_path(f, DAY, path, sizeof(path));
    data = slurp(path, NULL);
    assert_null(strstr(data, "1-gone15"));
    assert_non_null(strstr(data, "1-keep15\""));
    assert_memory_equal(data, "corrupt\n", 8); /* first line now */
    assert_int_equal(count_substr(data, "\n"), 3);
    free(data);
    assert_int_equal(stat(path, &after), 0);
    assert_int_equal(after.st_mode & 0077, 0);
    /* No temporary file is left behind. */
    d = opendir(f->store);
    size_t entries = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' || strstr(e->d_name, "purge"))
            entries++;
    closedir(d);
    assert_int_equal(entries, 2);

    /* The instance's cached descriptors follow the rewritten file. */
    make_rec(&recs[0], DAY, 4, 0, "1-after", 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    make_rec(&recs[1], "2025-01-14", 3, 0, "1-new14", 0);
    assert_int_equal(put(s, recs + 1, 1, 0, &written), PT_OK);
    list = query(s, DAY, 0, 2000);
    assert_int_equal(list->count, 3);
    assert_string_equal(list->records[0].session_id, "1-after");
    pt_record_list_free(list);
    list = query(s, "2025-01-14", 0, 0);
    assert_int_equal(list->count, 1);
    pt_record_list_free(list);
    /* Purging again removes nothing more. */
    assert_int_equal(s->methods->purge(s, 2000, &removed), PT_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(s->methods->purge(s, 10000, &removed), PT_OK);
    assert_int_equal(removed, 1);
    s->methods->close(s);
}

static void
test_purge_keeps_torn_line_isolated(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[2];
    size_t written;
    uint64_t removed;
    char path[512], *data;

    make_rec(&recs[0], DAY, 1, 0, "1-old", 10);
    make_rec(&recs[1], DAY, 2, 0, "1-live", 0);
    assert_int_equal(put(s, recs, 1, 0, &written), PT_OK);
    append_raw(f, DAY, "{\"date\":\"20", 11);
    assert_int_equal(s->methods->purge(s, 100, &removed), PT_OK);
    assert_int_equal(removed, 1);
    day_path(f, DAY, path, sizeof(path));
    data = slurp(path, NULL);
    assert_string_equal(data, "{\"date\":\"20\n");
    free(data);
    assert_int_equal(put(s, recs + 1, 1, 0, &written), PT_OK);
    pt_record_list *list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 1);
    pt_record_list_free(list);
    s->methods->close(s);
}

/* ---- rewrite (erasure, removing fields) ---------------------------------- */

typedef struct rw_ask {
    const char *delete_sid; /* delete this session */
    const char *strip_sid;  /* remove the user agent and links of this one */
    size_t seen;
    uint64_t deleted, changed;
    int days;
} rw_ask;

static int
rw_decide(const pt_record *r, unsigned int *action, void *ud)
{
    rw_ask *a = ud;
    a->seen++;
    if (a->delete_sid && r->session_id &&
        strcmp(r->session_id, a->delete_sid) == 0)
        *action = PT_REWRITE_DELETE;
    else if (a->strip_sid && r->session_id &&
             strcmp(r->session_id, a->strip_sid) == 0)
        *action = PT_FIELD_USER_AGENT | PT_FIELD_LINKS;
    return PT_OK;
}

static void
rw_day(const pt_rewrite_day *d, void *ud)
{
    rw_ask *a = ud;
    assert_int_equal(d->rc, PT_OK);
    a->deleted += d->deleted;
    a->changed += d->changed;
    a->days++;
}

/* Only what the callback asks for changes: the other lines — corrupt, torn
 * and expired ones included — stay byte for byte; a listing changes
 * nothing; a temporary file left by a crash is removed; a second run finds
 * nothing to do and rewrites nothing. */
static void
test_rewrite_changes_only_what_is_asked(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
    const char *links[] = {"https://a.example/x"};
    rec_buf recs[4];
    size_t written;
    char path[512], stale[600], *before, *after, *expect;
    struct stat st1, st2;
    rw_ask ask = {"1-gone", "1-strip", 0, 0, 0, 0};
    size_t blen;

    make_rec(&recs[0], DAY, 1, 0, "1-keep", 0);
    make_rec(&recs[1], DAY, 2, 0, "1-gone", 0);
    make_rec(&recs[2], DAY, 3, 0, "1-strip", 0);
    make_rec(&recs[3], DAY, 4, 0, "1-expired", 10);
    recs[2].r.user_agent = "Firefox/Linux";
    recs[2].r.links = links;
    recs[2].r.link_count = 1;
    assert_int_equal(put(s, recs, 2, 0, &written), PT_OK);
    append_raw(f, DAY, "corrupt\n", 8);
    assert_int_equal(put(s, recs + 2, 2, 0, &written), PT_OK);
    append_raw(f, DAY, "{\"torn", 6);
    day_path(f, DAY, path, sizeof(path));
    before = slurp(path, &blen);
    snprintf(stale, sizeof(stale), "%s/.%s.jsonl.rewrite-0123456789ab",
             f->store, DAY);
    append_raw(f, "2025-01-16", "", 0); /* a day without a record */

    /* listing: counts, no change, no lock needed */
    o.from = "2025-01-14";
    o.to = "2025-01-16";
    o.flags = PT_REWRITE_LIST_ONLY;
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(s->methods->rewrite(s, &o, rw_decide, rw_day, &ask),
                     PT_OK);
    assert_int_equal(ask.seen, 4); /* the expired record too */
    assert_int_equal(ask.deleted, 1);
    assert_int_equal(ask.changed, 1);
    assert_int_equal(ask.days, 3); /* every date of the range is reported */
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st1.st_ino == st2.st_ino);
    after = slurp(path, NULL);
    assert_string_equal(after, before);
    free(after);

    /* a temporary file of a rewrite that crashed */
    FILE *fp = fopen(stale, "w");
    assert_non_null(fp);
    fputs("half a copy\n", fp);
    fclose(fp);

    o.flags = 0;
    memset(&ask, 0, sizeof(ask));
    ask.delete_sid = "1-gone";
    ask.strip_sid = "1-strip";
    assert_int_equal(s->methods->rewrite(s, &o, rw_decide, rw_day, &ask),
                     PT_OK);
    assert_int_equal(ask.deleted, 1);
    assert_int_equal(ask.changed, 1);
    assert_int_equal(access(stale, F_OK), -1);
    after = slurp(path, NULL);
    {
        /* the expected file: the old one without the deleted line, the
         * changed line rewritten, the torn tail closed with '\n' */
        char *gone = strstr(before, "1-gone");
        char *strip = strstr(before, "1-strip");
        char *gone_start, *gone_end, *strip_start, *strip_end;
        pt_buf b = PT_BUF_INIT;
        pt_record changed = recs[2].r;
        assert_non_null(gone);
        assert_non_null(strip);
        gone_start = gone;
        while (gone_start > before && gone_start[-1] != '\n')
            gone_start--;
        gone_end = strchr(gone, '\n') + 1;
        strip_start = strip;
        while (strip_start > before && strip_start[-1] != '\n')
            strip_start--;
        strip_end = strchr(strip, '\n') + 1;
        pt_buf_put(&b, before, (size_t)(gone_start - before));
        pt_buf_put(&b, gone_end, (size_t)(strip_start - gone_end));
        changed.user_agent = NULL;
        changed.links = NULL;
        changed.link_count = 0;
        pt__record_json(&b, &changed);
        pt_buf_putc(&b, '\n');
        pt_buf_puts(&b, strip_end);
        pt_buf_putc(&b, '\n');
        expect = pt_buf_detach(&b);
    }
    assert_string_equal(after, expect);
    {
        char *line = strstr(after, "1-strip"), *end = strchr(line, '\n');
        *end = '\0';
        while (line > after && line[-1] != '\n')
            line--;
        assert_null(strstr(line, "user_agent"));
        assert_non_null(strstr(line, "\"links\":[]"));
        *end = '\n';
    }
    assert_non_null(strstr(after, "1-expired")); /* not asked for */
    free(expect);
    free(after);
    assert_int_equal(stat(path, &st1), 0);
    assert_int_equal(st1.st_mode & 0077, 0);

    /* once more: nothing to do, the file is not replaced */
    memset(&ask, 0, sizeof(ask));
    ask.delete_sid = "1-gone";
    assert_int_equal(s->methods->rewrite(s, &o, rw_decide, rw_day, &ask),
                     PT_OK);
    assert_int_equal(ask.deleted + ask.changed, 0);
    assert_int_equal(stat(path, &st2), 0);
    assert_true(st1.st_ino == st2.st_ino);
    free(before);
    s->methods->close(s);
}

/* A callback's error stops the rewrite and leaves the day as it was; a day
 * whose every record is deleted goes away. */
static int
rw_fail_second(const pt_record *r, unsigned int *action, void *ud)
{
    size_t *n = ud;
    (void)r;
    *action = PT_REWRITE_DELETE;
    return ++*n == 2 ? PT_EIO : PT_OK;
}

static int
rw_delete_all(const pt_record *r, unsigned int *action, void *ud)
{
    (void)r;
    (void)ud;
    *action = PT_REWRITE_DELETE;
    return PT_OK;
}

static void
test_rewrite_abort_and_delete_all(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
    rec_buf recs[3];
    size_t written, n = 0;
    char path[512], *before, *after;
    DIR *d;

    make_rec(&recs[0], DAY, 1, 0, "1-a", 0);
    make_rec(&recs[1], DAY, 2, 0, "1-b", 0);
    make_rec(&recs[2], DAY, 3, 0, "1-c", 0);
    assert_int_equal(put(s, recs, 3, 0, &written), PT_OK);
    day_path(f, DAY, path, sizeof(path));
    before = slurp(path, NULL);
    assert_int_equal(s->methods->rewrite(s, &o, rw_fail_second, NULL, &n),
                     PT_EIO);
    after = slurp(path, NULL);
    assert_string_equal(after, before);
    free(after);
    free(before);
    /* no temporary file stays behind */
    d = opendir(f->store);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        assert_true(strcmp(e->d_name, ".") == 0 ||
                    strcmp(e->d_name, "..") == 0 ||
                    strcmp(e->d_name, DAY ".jsonl") == 0);
    closedir(d);

    assert_int_equal(s->methods->rewrite(s, &o, rw_delete_all, NULL, NULL),
                     PT_OK);
    assert_int_equal(access(path, F_OK), -1);
    s->methods->close(s);
}

/* ---- a rewrite waiting while other rewrites replace the day -------------- */

#define REPLACEMENTS 40 /* erases of others that finish while one waits */

static void
chase_day(const pt_rewrite_day *d, void *ud)
{
    *(uint64_t *)ud += d->deleted;
}

static int
chase_decide(const pt_record *r, unsigned int *action, void *ud)
{
    (void)ud;
    if (r->session_id && strcmp(r->session_id, "1-gone") == 0)
        *action = PT_REWRITE_DELETE;
    return PT_OK;
}

/* The erase, in a child process: it writes its code and what it deleted
 * to `out`. */
static void
chase_rewrite(const char *store, int out)
{
    pt_storage *s = open_store(store, PT__FILE_FSYNC_BATCH);
    pt_rewrite_options o = PT_REWRITE_OPTIONS_INIT;
    int64_t answer[2] = {0, 0};
    uint64_t deleted = 0;

    o.from = DAY;
    answer[0] = s->methods->rewrite(s, &o, chase_decide, chase_day, &deleted);
    answer[1] = (int64_t)deleted;
    s->methods->close(s);
    _exit(write(out, answer, sizeof(answer)) == sizeof(answer) ? 0 : 1);
}

/* 1 when process `pid` has the file `st` describes open: it takes (or
 * waits for) its lock on it next. */
static int
has_open(pid_t pid, const struct stat *st)
{
    char dir[64], path[64 + sizeof(((struct dirent *)0)->d_name)];
    DIR *d;
    struct dirent *e;
    int found = 0;

    snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
    if (!(d = opendir(dir)))
        return 0;
    while (!found && (e = readdir(d)) != NULL) {
        struct stat o;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        found = e->d_name[0] != '.' && stat(path, &o) == 0 &&
                o.st_dev == st->st_dev && o.st_ino == st->st_ino;
    }
    closedir(d);
    return found;
}

/* An erase waiting for a day's lock while other erases replace that day
 * again and again (a self-service page, a script: one process per
 * request) follows the file as an appender does, and completes.  Each
 * replacement here happens once the erase has opened the file it
 * replaces, so each costs it one more open and lock. */
static void
test_rewrite_outlasts_replacements(void **state)
{
    fixture *f = *state;
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_BATCH);
    rec_buf recs[2];
    size_t written, len;
    char path[512], next_path[600], *contents, *after;
    int64_t answer[2] = {PT_EIO, 0};
    int pipefd[2], held, status, ended = 0;
    struct stat st;
    pid_t pid;

    make_rec(&recs[0], DAY, 1, 0, "1-keep", 0);
    make_rec(&recs[1], DAY, 2, 0, "1-gone", 0);
    assert_int_equal(put(s, recs, 2, 0, &written), PT_OK);
    s->methods->close(s);
    day_path(f, DAY, path, sizeof(path));
    contents = slurp(path, &len);
    assert_non_null(contents);
    held = open(path, O_RDWR);
    assert_true(held >= 0);
    assert_int_equal(flock(held, LOCK_EX), 0);
    assert_int_equal(pipe(pipefd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(pipefd[0]);
        close(held);
        chase_rewrite(f->store, pipefd[1]);
    }
    close(pipefd[1]);
    for (int i = 0; i < REPLACEMENTS && !ended; i++) {
        int next, polls = 0;
        assert_int_equal(fstat(held, &st), 0);
        /* a rewrite that gave up opens nothing more: it ends */
        while (!has_open(pid, &st) &&
               !(ended = waitpid(pid, &status, WNOHANG) == pid)) {
            assert_true(++polls < 60000); /* 60 s */
            usleep(1000);
        }
        if (ended)
            break;
        /* another erase's result, locked before it is in place */
        snprintf(next_path, sizeof(next_path), "%s/.replacement", f->store);
        next = open(next_path, O_RDWR | O_CREAT | O_EXCL, 0600);
        assert_true(next >= 0);
        assert_int_equal(write(next, contents, len), (ssize_t)len);
        assert_int_equal(flock(next, LOCK_EX), 0);
        assert_int_equal(rename(next_path, path), 0);
        close(held); /* unlocks the replaced file */
        held = next;
    }
    close(held);
    assert_int_equal(read(pipefd[0], answer, sizeof(answer)),
                     (ssize_t)sizeof(answer));
    close(pipefd[0]);
    if (!ended)
        assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(answer[0], PT_OK);
    assert_int_equal(answer[1], 1);
    after = slurp(path, NULL);
    assert_non_null(strstr(after, "1-keep"));
    assert_null(strstr(after, "1-gone"));
    free(after);
    free(contents);
}

/* ---- fsync modes -------------------------------------------------------- */

static void
test_fsync_modes(void **state)
{
    fixture *f = *state;
    static const char *const names[] = {"never", "batch", "always"};
    size_t written;

    for (int mode = 0; mode < 3; mode++) {
        pt_policy pol = {f->store, names[mode]};
        pt_storage *s = NULL;
        rec_buf recs[3];
        pt__file_store *fs;
        char sid[32];

        assert_int_equal(pt__file_fsync_mode(names[mode]), mode);
        assert_int_equal(pt__file_storage_methods.open(&s, &pol, NULL), PT_OK);
        fs = (pt__file_store *)(void *)s;
        for (int i = 0; i < 3; i++) {
            snprintf(sid, sizeof(sid), "%d-%d", mode, i);
            make_rec(&recs[i], DAY, mode * 10 + i, 0, sid, 0);
        }
        assert_int_equal(put(s, recs, 3, 0, &written), PT_OK);
        assert_int_equal(written, 3);
        /* always: synced by put; batch: pending until sync(); never:
         * never tracked. */
        assert_int_equal(fs->days[0].dirty, mode == PT__FILE_FSYNC_NEVER ||
                                                mode == PT__FILE_FSYNC_BATCH);
        assert_int_equal(s->methods->sync(s), PT_OK);
        assert_int_equal(fs->days[0].dirty, mode == PT__FILE_FSYNC_NEVER);
        s->methods->close(s);
    }
    pt_storage *s = open_store(f->store, PT__FILE_FSYNC_NEVER);
    pt_record_list *list = query(s, DAY, 0, 0);
    assert_int_equal(list->count, 9);
    pt_record_list_free(list);
    s->methods->close(s);
    assert_int_equal(pt__file_fsync_mode("Always"), -1);
    assert_int_equal(pt__file_fsync_mode(NULL), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_group_commit_control),
        T(test_open_creates_nothing),
        T(test_open_from_policy),
        T(test_init_creates_private_dir),
        T(test_put_creates_dir_lazily_and_query_orders),
        T(test_put_batch_spanning_dates),
        T(test_invalid_dates_rejected),
        T(test_ttl_filtering),
        T(test_torn_last_line_skipped_and_isolated),
        T(test_complete_last_line_without_newline_is_kept),
        T(test_corrupt_lines_skipped),
        T(test_many_corrupt_lines_logged_bounded),
        T(test_long_line_and_huge_file_bounded),
        T(test_random_damage_never_crashes),
        T(test_day_file_not_a_regular_file),
        T(test_store_writable_by_others_refused),
        T(test_replay_is_idempotent),
        T(test_replay_keeps_visits_whose_ids_collide),
        T(test_replay_reads_each_line_once),
        T(test_replay_keys_follow_the_file),
        T(test_replay_key_set),
        T(test_purge_partial_and_whole),
        T(test_purge_keeps_torn_line_isolated),
        T(test_rewrite_changes_only_what_is_asked),
        T(test_rewrite_abort_and_delete_all),
        T(test_rewrite_outlasts_replacements),
        T(test_fsync_modes),
#undef T
    };
    /* Once: pt_set_log() keeps every sink it was given (by design). */
    pt_set_log(capture_log, NULL, PT_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
