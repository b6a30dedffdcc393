/*
 * The `file` backend: settings, lifecycle and shared helpers.  Appending
 * is file_append.c, reading file_query.c and file_range.c, rewriting day
 * files (purge, erasure, removing fields) file_rewrite.c; the
 * concurrency protocol is described in file_store.h.
 */
#include "storage/file_store.h"
#include "storage/storage.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_PATH "./var"

int
pt__file_fail(pt__file_store *fs, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(fs->base.errmsg, sizeof(fs->base.errmsg), fmt, ap);
    va_end(ap);
    return pt__fail(code, "%s", fs->base.errmsg);
}

int
pt__file_fail_errno(pt__file_store *fs, int err, const char *what,
                    const char *path)
{
    /* Out of space is its own code: the writer spools and keeps the
     * records rather than retrying a full disk in a loop. */
    return pt__file_fail(fs, pt__errno_code(err), "file store: %s %s: %s", what,
                         path, strerror(err));
}

int
pt__file_path(pt__file_store *fs, char *out, size_t size, const char *name)
{
    int n = snprintf(out, size, "%s/%s", fs->dir, name);
    if (n < 0 || (size_t)n >= size)
        return pt__file_fail(fs, PT_EINVAL, "file store: path too long: %s",
                             fs->dir);
    return PT_OK;
}

int
pt__file_flock(int fd, int op)
{
    int rc;
    do
        rc = flock(fd, op);
    while (rc != 0 && errno == EINTR);
    return rc;
}

int
pt__file_open_dir(pt__file_store *fs, int create, int *dirfd)
{
    int rc = pt__fs_open_dir(dirfd, fs->dir, create ? PT_FS_MKDIR : 0);
    if (rc != PT_OK && rc != PT_ENOTFOUND)
        return pt__file_fail(fs, rc, "file store: %s", pt_last_error());
    return rc;
}

int
pt__file_open_at(pt__file_store *fs, int dirfd, const char *name, int oflags,
                 int *fd)
{
    int rc = pt__fs_open_at(fd, dirfd, fs->dir, name, oflags, 0);
    if (rc != PT_OK && rc != PT_ENOTFOUND)
        return pt__file_fail(fs, rc, "file store: %s", pt_last_error());
    return rc;
}

int
pt__file_sync_dir(pt__file_store *fs)
{
    int fd, rc = pt__file_open_dir(fs, 0, &fd);
    if (rc != PT_OK)
        return rc == PT_ENOTFOUND
                   ? pt__file_fail(fs, PT_EIO, "file store: %s vanished",
                                   fs->dir)
                   : rc;
    rc = pt__fs_sync_dir(fd, fs->dir);
    close(fd);
    return rc == PT_OK
               ? PT_OK
               : pt__file_fail(fs, rc, "file store: %s", pt_last_error());
}

int
pt__file_sync_dirty(pt__file_store *fs)
{
    int rc = PT_OK;
    for (size_t i = 0; i < PT__FILE_OPEN_DAYS; i++) {
        pt__file_day *d = &fs->days[i];
        if (d->fd < 0 || !d->dirty)
            continue;
        if (fdatasync(d->fd) != 0 && rc == PT_OK)
            rc = pt__file_fail_errno(fs, errno, "cannot fsync day", d->date);
        else
            d->dirty = 0;
    }
    /* A new day file is durable only once its directory entry is. */
    if (fs->dir_dirty && rc == PT_OK) {
        rc = pt__file_sync_dir(fs);
        if (rc == PT_OK)
            fs->dir_dirty = 0;
    }
    return rc;
}

void
pt__file_close_days(pt__file_store *fs)
{
    pt__file_replay_keys_drop(fs);
    if (fs->fsync_mode != PT__FILE_FSYNC_NEVER)
        (void)pt__file_sync_dirty(fs);
    for (size_t i = 0; i < PT__FILE_OPEN_DAYS; i++) {
        if (fs->days[i].fd >= 0)
            close(fs->days[i].fd);
        fs->days[i].fd = -1;
        fs->days[i].dirty = 0;
    }
}

int
pt__file_fsync_mode(const char *text)
{
    if (!text)
        return -1;
    if (!strcmp(text, "always"))
        return PT__FILE_FSYNC_ALWAYS;
    if (!strcmp(text, "batch"))
        return PT__FILE_FSYNC_BATCH;
    if (!strcmp(text, "never"))
        return PT__FILE_FSYNC_NEVER;
    return -1;
}

int
pt__file_storage_open_path(pt_storage **out, const char *dir, int fsync_mode)
{
    pt__file_store *fs;

    *out = NULL;
    if (!dir || !*dir)
        return pt__fail(PT_EINVAL, "file store: empty directory name");
    if (strlen(dir) > PT__FILE_PATH_MAX - 64)
        return pt__fail(PT_EINVAL, "file store: directory name too long");
    if (fsync_mode < PT__FILE_FSYNC_NEVER || fsync_mode > PT__FILE_FSYNC_ALWAYS)
        return pt__fail(PT_EINVAL, "file store: bad fsync mode %d", fsync_mode);
    fs = calloc(1, sizeof(*fs));
    if (!fs || !(fs->dir = pt__strdup(dir))) {
        free(fs);
        return pt__fail(PT_ENOMEM, "out of memory");
    }
    fs->base.methods = &pt__file_storage_methods;
    fs->fsync_mode = fsync_mode;
    for (size_t i = 0; i < PT__FILE_OPEN_DAYS; i++)
        fs->days[i].fd = -1;
    /* Nothing is created here: dry-run opens the store too. */
    *out = &fs->base;
    return PT_OK;
}

static int
file_open(pt_storage **out, const pt_policy *policy, const char *path_override)
{
    const char *path = path_override;
    const char *fsync_text =
        policy ? pt_policy_get(policy, "storage", "fsync") : NULL;
    int mode =
        fsync_text ? pt__file_fsync_mode(fsync_text) : PT__FILE_FSYNC_BATCH;

    *out = NULL;
    if (!path && policy)
        path = pt_policy_get(policy, "storage", "path");
    if (!path || !*path)
        path = DEFAULT_PATH;
    if (mode < 0)
        return pt__fail(PT_EPOLICY,
                        "[storage] fsync = %s: expected always, batch or never",
                        fsync_text);
    return pt__file_storage_open_path(out, path, mode);
}

static int
file_init(pt_storage *s)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;
    int fd, rc = pt__file_open_dir(fs, 1, &fd);
    if (rc != PT_OK)
        return rc;
    if (faccessat(fd, ".", W_OK | X_OK, 0) != 0)
        rc = pt__file_fail_errno(fs, errno, "cannot write to", fs->dir);
    close(fd);
    return rc;
}

static int
file_sync(pt_storage *s)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;
    if (fs->fsync_mode == PT__FILE_FSYNC_NEVER)
        return PT_OK;
    return pt__file_sync_dirty(fs);
}

/* Records per fdatasync under load: ~2 MiB of lines, and at 3-10 ms per
 * fdatasync on a busy disk still >= 200,000 records/s. */
#define GROUP_COMMIT_RECORDS 4096

static int
file_control(pt_storage *s, int op, void *arg)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;

    if (op == PT_STORAGE_CTL_GROUP_COMMIT && arg &&
        fs->fsync_mode != PT__FILE_FSYNC_NEVER) {
        *(size_t *)arg = GROUP_COMMIT_RECORDS;
        return PT_OK;
    }
    return PT_EUNSUPPORTED;
}

static void
file_close(pt_storage *s)
{
    pt__file_store *fs = (pt__file_store *)(void *)s;
    if (!fs)
        return;
    pt__file_close_days(fs);
    pt_buf_free(&fs->batch);
    free(fs->dir);
    free(fs);
}

const pt_storage_methods pt__file_storage_methods = {
    PT_STORAGE_METHODS_VERSION,
    "file",
    PT_STORAGE_CAP_QUERY | PT_STORAGE_CAP_PURGE | PT_STORAGE_CAP_IDEMPOTENT,
    file_open,
    file_init,
    pt__file_put,
    pt__file_query,
    pt__file_purge,
    file_sync,
    file_control,
    file_close,
    pt__file_scan_range,
    pt__file_rewrite,
};
