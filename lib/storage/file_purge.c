/*
 * Removing expired records (the backend's purge()).
 *
 * For each day file, under an exclusive flock (appenders wait on their
 * shared one, see file_store.h): a first pass finds the expired lines; if
 * none, nothing is written; if every line is expired, the file is
 * unlinked; otherwise the lines to keep are copied byte for byte to a
 * temporary file in the same directory (pt__fs_temp_at: a random name,
 * O_EXCL, 0600), which is fsync'd and renamed over the day file, and the
 * directory is fsync'd.  Everything is relative to one checked descriptor
 * of the store directory.  A crash at any point leaves
 * either the old file or the new one, never a mix.  Corrupt lines are
 * copied too: purge removes what is expired, not what it cannot read.
 */
#include "storage/file_store.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define COPY_BUFFER (1u << 20)

typedef struct range {
    uint64_t off;
    uint64_t len;
} range;

typedef struct purge_ctx {
    int64_t now;
    range *expired; /* byte ranges of expired lines, in file order */
    size_t n_expired;
    size_t cap;
    uint64_t kept; /* lines kept: live, corrupt or overlong */
} purge_ctx;

/* The line's ttl; 0 when it has none or the line does not parse. */
static int
line_expired(const char *line, size_t len, int64_t now)
{
    cJSON *root = cJSON_ParseWithLength(line, len);
    const cJSON *ttl =
        root ? cJSON_GetObjectItemCaseSensitive(root, "ttl") : NULL;
    int64_t v = 0;
    int expired;

    if (cJSON_IsNumber(ttl) && ttl->valuedouble > 0 &&
        ttl->valuedouble < 9.2e18)
        v = (int64_t)ttl->valuedouble;
    else if (cJSON_IsString(ttl) && ttl->valuestring)
        v = strtoll(ttl->valuestring, NULL, 10);
    /* Only a whole record with a date can be judged expired. */
    expired = root && cJSON_IsObject(root) && v > 0 && v < now &&
              cJSON_IsString(cJSON_GetObjectItemCaseSensitive(root, "date"));
    cJSON_Delete(root);
    return expired;
}

static int
purge_line(void *ctx, const char *line, size_t len, uint64_t line_no,
           uint64_t offset, int flags)
{
    purge_ctx *p = ctx;
    (void)line_no;
    if (!line || !line_expired(line, len, p->now)) {
        p->kept++;
        return PT_OK;
    }
    if (p->n_expired == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 256;
        range *r = realloc(p->expired, cap * sizeof(*r));
        if (!r)
            return PT_ENOMEM;
        p->expired = r;
        p->cap = cap;
    }
    p->expired[p->n_expired].off = offset;
    p->expired[p->n_expired].len = len + ((flags & PT__LINE_TERMINATED) != 0);
    p->n_expired++;
    return PT_OK;
}

/* Copy [from, to) of `src` to `dst`; remembers the last byte copied. */
static int
copy_range(int src, int dst, uint64_t from, uint64_t to, char *buf, char *last)
{
    while (from < to) {
        size_t want =
            to - from < COPY_BUFFER ? (size_t)(to - from) : COPY_BUFFER;
        ssize_t n = pread(src, buf, want, (off_t)from);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        if (pt__write_all(dst, buf, (size_t)n) != 0)
            return -1;
        *last = buf[n - 1];
        from += (uint64_t)n;
    }
    return 0;
}

/* Write everything but the expired ranges to `tmp`. */
static int
copy_kept(int src, int dst, const purge_ctx *p, uint64_t size)
{
    char *buf = malloc(COPY_BUFFER), last = '\n';
    uint64_t pos = 0;
    int rc = 0;

    if (!buf)
        return -1;
    for (size_t i = 0; rc == 0 && i < p->n_expired; i++) {
        rc = copy_range(src, dst, pos, p->expired[i].off, buf, &last);
        pos = p->expired[i].off + p->expired[i].len;
    }
    if (rc == 0)
        rc = copy_range(src, dst, pos, size, buf, &last);
    /* A kept torn last line must not swallow the next append. */
    if (rc == 0 && last != '\n')
        rc = pt__write_all(dst, "\n", 1);
    free(buf);
    return rc;
}

/* Copy the kept lines to a new temporary file (unpredictable name, O_EXCL,
 * 0600) and rename it over the day file. */
static int
rewrite(pt__file_store *fs, int dirfd, int fd, const char *path,
        const char *name, const purge_ctx *p, uint64_t size)
{
    char tmp[64], prefix[32];
    int out, rc;

    /* A dot name: never mistaken for a day file by readers or purge. */
    snprintf(prefix, sizeof(prefix), ".%s.purge-", name);
    rc = pt__fs_temp_at(&out, dirfd, fs->dir, prefix, tmp, sizeof(tmp));
    if (rc != PT_OK)
        return pt__file_fail(fs, rc, "file store: %s", pt_last_error());
    if (copy_kept(fd, out, p, size) != 0)
        rc = pt__file_fail_errno(fs, errno ? errno : EIO, "cannot rewrite",
                                 path);
    else if (fsync(out) != 0)
        rc =
            pt__file_fail_errno(fs, errno, "cannot fsync the rewrite of", path);
    close(out);
    if (rc == PT_OK && (rc = pt__fs_replace_at(dirfd, fs->dir, tmp, name)))
        rc = pt__file_fail(fs, rc, "file store: %s", pt_last_error());
    if (rc != PT_OK)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

static int
purge_day(pt__file_store *fs, int dirfd, const char *date, int64_t now,
          uint64_t *removed)
{
    char path[PT__FILE_PATH_MAX], name[PT_DATE_LEN + 8];
    purge_ctx p;
    struct stat st;
    int fd, rc;

    memcpy(name, date, PT_DATE_LEN);
    memcpy(name + PT_DATE_LEN, ".jsonl", 7);
    if ((rc = pt__file_path(fs, path, sizeof(path), name)) != PT_OK)
        return rc;
    rc = pt__file_open_at(fs, dirfd, name, O_RDWR, &fd);
    if (rc != PT_OK)
        return rc == PT_ENOTFOUND ? PT_OK : rc;
    memset(&p, 0, sizeof(p));
    p.now = now;
    if (pt__file_flock(fd, LOCK_EX) != 0)
        rc = pt__file_fail_errno(fs, errno, "cannot lock", path);
    else if (fstat(fd, &st) != 0)
        rc = pt__file_fail_errno(fs, errno, "cannot stat", path);
    else if (st.st_nlink == 0)
        rc = PT_OK; /* another purge replaced it meanwhile */
    else if ((rc = pt__file_scan(fs, fd, path, purge_line, &p)) == PT_ENOMEM)
        rc = pt__file_fail(fs, PT_ENOMEM, "out of memory purging %s", path);
    if (rc == PT_OK && st.st_nlink > 0 && p.n_expired > 0) {
        if (p.kept == 0) {
            if (unlinkat(dirfd, name, 0) != 0)
                rc = pt__file_fail_errno(fs, errno, "cannot remove", path);
            else if ((rc = pt__fs_sync_dir(dirfd, fs->dir)) != PT_OK)
                rc = pt__file_fail(fs, rc, "file store: %s", pt_last_error());
        } else {
            rc = rewrite(fs, dirfd, fd, path, name, &p, (uint64_t)st.st_size);
        }
        if (rc == PT_OK)
            *removed += p.n_expired;
    }
    /* Appenders blocked on the old inode see st_nlink == 0 and reopen. */
    pt__file_flock(fd, LOCK_UN);
    close(fd);
    free(p.expired);
    return rc;
}

static int
is_day_file(const char *name)
{
    char date[PT_DATE_LEN + 1];
    if (strlen(name) != PT_DATE_LEN + 6 ||
        strcmp(name + PT_DATE_LEN, ".jsonl") != 0)
        return 0;
    memcpy(date, name, PT_DATE_LEN);
    date[PT_DATE_LEN] = '\0';
    return pt__valid_date(date);
}

/* The dates of the day files, collected first: purge renames entries
 * while it works, which readdir() does not promise to survive. */
static int
list_days(pt__file_store *fs, int dirfd, char **dates, size_t *count)
{
    int listfd = dup(dirfd);
    DIR *d = listfd >= 0 ? fdopendir(listfd) : NULL;
    struct dirent *e;
    size_t cap = 0;
    char *list = NULL;

    *dates = NULL;
    *count = 0;
    if (!d) {
        int err = errno;
        if (listfd >= 0)
            close(listfd);
        return pt__file_fail_errno(fs, err, "cannot list", fs->dir);
    }
    while ((e = readdir(d)) != NULL) {
        if (!is_day_file(e->d_name))
            continue;
        if (*count == cap) {
            char *bigger;
            cap = cap ? cap * 2 : 64;
            bigger = realloc(list, cap * (PT_DATE_LEN + 1));
            if (!bigger) {
                free(list);
                closedir(d);
                return pt__file_fail(fs, PT_ENOMEM, "out of memory");
            }
            list = bigger;
        }
        memcpy(list + *count * (PT_DATE_LEN + 1), e->d_name, PT_DATE_LEN);
        list[*count * (PT_DATE_LEN + 1) + PT_DATE_LEN] = '\0';
        (*count)++;
    }
    closedir(d);
    *dates = list;
    return PT_OK;
}

int
pt__file_purge(pt_storage *s, int64_t now, uint64_t *removed)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;
    char *dates;
    size_t count;
    uint64_t ignored;
    int dirfd, rc, first_error = PT_OK;
    char first_msg[sizeof(fs->base.errmsg)];

    if (!removed)
        removed = &ignored;
    *removed = 0;
    if (now <= 0)
        now = pt__now_us() / 1000000;
    if ((rc = pt__file_open_dir(fs, 0, &dirfd)) != PT_OK)
        return rc == PT_ENOTFOUND ? PT_OK : rc; /* no store: nothing */
    if ((rc = list_days(fs, dirfd, &dates, &count)) != PT_OK) {
        close(dirfd);
        return rc;
    }
    /* One bad file does not stop the purge of the others. */
    for (size_t i = 0; i < count; i++) {
        rc = purge_day(fs, dirfd, dates + i * (PT_DATE_LEN + 1), now, removed);
        if (rc != PT_OK && first_error == PT_OK) {
            first_error = rc;
            memcpy(first_msg, fs->base.errmsg, sizeof(first_msg));
        }
    }
    free(dates);
    close(dirfd);
    if (first_error != PT_OK)
        return pt__file_fail(fs, first_error, "%s", first_msg);
    return PT_OK;
}
