/* Shared fixture of the file store tests (test_file_store and
 * test_file_store_stress): temporary directories, records, log capture and
 * a policy test double. */
/* nftw() (test_tmpdir.h) cleans up the temporary directories. */
#define _XOPEN_SOURCE 700
#include "file_store_fixture.h"
#include "test_tmpdir.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- a test double for the policy engine --------------------------------
 * The backend reads its settings through the public pt_policy_get(); this
 * unit test links the backend without the policy engine and answers from a
 * table, so the settings handling is tested on its own. */
const char *
pt_policy_get(const pt_policy *policy, const char *section, const char *key)
{
    if (!policy || strcmp(section, "storage") != 0)
        return NULL;
    if (!strcmp(key, "path"))
        return policy->path;
    if (!strcmp(key, "fsync"))
        return policy->fsync;
    return NULL;
}

/* ---- log capture ------------------------------------------------------- */

char logged[8192];

void
capture_log(pt_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof(logged) - used, "[%s] %s\n",
             pt_log_level_name(level), message);
}

size_t
count_substr(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* ---- fixture: a fresh directory per test ------------------------------- */

int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (pt_test_mkdtemp(f->dir, sizeof(f->dir), "pt_file_store") != 0)
        return -1;
    snprintf(f->store, sizeof(f->store), "%s/store", f->dir);
    logged[0] = '\0';
    *state = f;
    return 0;
}

int
teardown(void **state)
{
    fixture *f = *state;
    pt_test_rmtree(f->dir);
    free(f);
    return 0;
}

/* ---- records ------------------------------------------------------------ */

static const char *const test_links[] = {"https://example.org/a?b=1"};
static const char *const test_titles[] = {"Song \xC3\xA9"};
static const char *const test_files[] = {"Song \xC3\xA9.m4a"};

/* A record on `date` whose time is second `sec` and microsecond `us`. */
void
make_rec(rec_buf *b, const char *date, int sec, int us, const char *sid,
         int64_t ttl)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->date, sizeof(b->date), "%s", date);
    snprintf(b->ts, sizeof(b->ts), "%sT%02d:%02d:%02d.%06d+00:00", date,
             sec / 3600 % 24, sec / 60 % 60, sec % 60, us);
    snprintf(b->sid, sizeof(b->sid), "%s", sid);
    b->r.date = b->date;
    b->r.timestamp = b->ts;
    b->r.session_id = b->sid;
    b->r.client_ip = "203.0.113.0";
    b->r.user_agent = "Firefox/Linux";
    b->r.num_links_submitted = 1;
    b->r.num_files_downloaded = 1;
    b->r.links = test_links;
    b->r.link_count = 1;
    b->r.titles = test_titles;
    b->r.title_count = 1;
    b->r.filenames = test_files;
    b->r.filename_count = 1;
    b->r.ttl = ttl;
    b->r.policy = "test-00000000";
}

pt_storage *
open_store(const char *dir, int mode)
{
    pt_storage *s = NULL;
    assert_int_equal(pt__file_storage_open_path(&s, dir, mode), PT_OK);
    assert_non_null(s);
    assert_ptr_equal(s->methods, &pt__file_storage_methods);
    return s;
}

int
put(pt_storage *s, rec_buf *recs, size_t n, int replay, size_t *written)
{
    const pt_record *ptrs[64];
    assert_true(n <= 64);
    for (size_t i = 0; i < n; i++)
        ptrs[i] = &recs[i].r;
    return s->methods->put(s, ptrs, n, replay, written);
}

pt_record_list *
query(pt_storage *s, const char *date, size_t limit, int64_t now)
{
    pt_record_list *list = NULL;
    int rc = s->methods->query(s, &list, date, limit, now);
    if (rc != PT_OK)
        fail_msg("query failed: %s", pt_last_error());
    assert_non_null(list);
    return list;
}

void
day_path(const fixture *f, const char *date, char *out, size_t size)
{
    snprintf(out, size, "%s/%s.jsonl", f->store, date);
}

void
append_raw(const fixture *f, const char *date, const char *bytes, size_t len)
{
    char path[512];
    int fd;
    day_path(f, date, path, sizeof(path));
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, bytes, len), (ssize_t)len);
    close(fd);
}

/* Read a whole file into memory (NUL-terminated); NULL when missing. */
char *
slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf;
    long n;
    if (!fp)
        return NULL;
    fseek(fp, 0, SEEK_END);
    n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
    buf[n] = '\0';
    fclose(fp);
    if (len)
        *len = (size_t)n;
    return buf;
}
