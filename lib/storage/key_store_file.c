/*
 * The file key store: <key_dir>/<period>.key, one file per period, and
 * <key_dir>/destroyed-before.
 *
 * A key file is a few lines of text (never longer than 1 KiB):
 *
 *     privtrack-key 1
 *     created 1736899203
 *     expires 1737072000
 *     wrap xchacha20poly1305          (or: none)
 *     key <hex of the blob>
 *
 * Creation is race-free between processes: the record is written to a
 * private temporary file (O_EXCL, unpredictable name), fsync'd, then
 * link()ed to its name — which fails with EEXIST when another process got
 * there first, so two processes starting at once end with one key, and no
 * reader ever sees a half-written one.  Every file is opened relative to
 * the directory's descriptor, without following links, and must be a
 * regular file of ours that nobody else may read.
 */
#include "storage/key_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define KEY_SUFFIX       ".key"
#define DESTROYED_BEFORE "destroyed-before"
#define TEMP_PREFIX      ".key-tmp-"
#define MAGIC            "privtrack-key 1\n"
#define MAX_FILE         1024
/* A temporary file older than this was left by a process that died
 * between writing and linking it: it holds a key, so it goes. */
#define STALE_TEMP_S 600

typedef struct file_store {
    pt__key_store base;
    char dir[4096];
} file_store;

static file_store *
store_of(pt__key_store *s)
{
    return (file_store *)(void *)s;
}

/* ---- the directory ------------------------------------------------------- */

/* PT_ENOTFOUND when the directory does not exist and `create` is 0. */
static int
open_dir(file_store *f, int create, int *dirfd)
{
    return pt__fs_open_dir(dirfd, f->dir, create ? PT_FS_MKDIR : 0);
}

static int
file_init(pt__key_store *s)
{
    int dirfd, rc = open_dir(store_of(s), 1, &dirfd);
    if (rc == PT_OK)
        close(dirfd);
    return rc;
}

/* ---- reading ------------------------------------------------------------- */

static int
read_small(int fd, char *buf, size_t size, size_t *len, const char *path)
{
    size_t n = 0;
    if (pt__read_all(fd, buf, size, &n) != 0)
        return pt__fail(PT_EIO, "key file %s: %s", path, strerror(errno));
    if (n == size)
        return pt__fail(PT_ECORRUPT, "key file %s is longer than %zu bytes",
                        path, size - 1);
    buf[n] = '\0';
    *len = n;
    return PT_OK;
}

/* The value of "<field> <value>\n" at *p, advancing past the line. */
static const char *
field(char **p, const char *name)
{
    size_t n = strlen(name);
    char *line = *p, *end;
    if (strncmp(line, name, n) != 0 || line[n] != ' ')
        return NULL;
    end = strchr(line, '\n');
    if (!end)
        return NULL;
    *end = '\0';
    *p = end + 1;
    return line + n + 1;
}

static int
parse_seconds(const char *s, int64_t *out)
{
    int64_t v = 0;
    if (!s || !*s)
        return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    *out = v;
    return 0;
}

static int
parse_record(char *text, pt__key_record *rec)
{
    char *p = text;
    const char *created, *expires, *wrap, *hex;

    if (strncmp(p, MAGIC, strlen(MAGIC)) != 0)
        return -1;
    p += strlen(MAGIC);
    created = field(&p, "created");
    expires = field(&p, "expires");
    wrap = field(&p, "wrap");
    hex = field(&p, "key");
    if (!created || !expires || !wrap || !hex || *p != '\0' ||
        parse_seconds(created, &rec->created) ||
        parse_seconds(expires, &rec->expires))
        return -1;
    return pt__key_record_set_blob(rec, wrap, hex);
}

/* Read <name> in the directory into `rec`.  PT_ENOTFOUND when absent. */
static int
read_record(file_store *f, int dirfd, const char *name, pt__key_record *rec)
{
    char buf[MAX_FILE], path[4200];
    size_t len = 0;
    int fd, rc;

    pt__snprintf(path, sizeof(path), "%s/%s", f->dir, name);
    rc = pt__fs_open_at(&fd, dirfd, f->dir, name, O_RDONLY, 0);
    if (rc != PT_OK)
        return rc;
    rc = pt__fs_check_owner(fd, "key file", path, 077);
    if (rc == PT_OK)
        rc = read_small(fd, buf, sizeof(buf), &len, path);
    close(fd);
    memset(rec, 0, sizeof(*rec));
    if (rc == PT_OK && parse_record(buf, rec) != 0)
        rc = pt__fail(PT_ECORRUPT,
                      "key file %s is not a privtrack period key (remove it "
                      "if it is left from something else)",
                      path);
    sodium_memzero(buf, sizeof(buf));
    if (rc == PT_OK)
        pt__snprintf(rec->name, sizeof(rec->name), "%.*s",
                     (int)(strlen(name) - strlen(KEY_SUFFIX)), name);
    else
        sodium_memzero(rec, sizeof(*rec));
    return rc;
}

static int
read_destroyed_before(file_store *f, int dirfd, int64_t *out)
{
    char buf[64], path[4200];
    size_t len = 0;
    int fd, rc;
    int64_t seconds;

    *out = 0;
    rc = pt__fs_open_at(&fd, dirfd, f->dir, DESTROYED_BEFORE, O_RDONLY, 0);
    if (rc == PT_ENOTFOUND)
        return PT_OK;
    if (rc != PT_OK)
        return rc;
    pt__snprintf(path, sizeof(path), "%s/%s", f->dir, DESTROYED_BEFORE);
    rc = pt__fs_check_owner(fd, "file", path, 022);
    if (rc == PT_OK)
        rc = read_small(fd, buf, sizeof(buf), &len, path);
    close(fd);
    if (rc != PT_OK)
        return rc;
    if (len && buf[len - 1] == '\n')
        buf[--len] = '\0';
    if (parse_seconds(buf, &seconds) != 0 || seconds > INT64_MAX / 1000000)
        return pt__fail(PT_ECORRUPT, "%s: expected Unix seconds", path);
    *out = seconds * 1000000;
    return PT_OK;
}

static int
is_key_name(const char *name, size_t *stem)
{
    size_t n = strlen(name), s = strlen(KEY_SUFFIX);
    pt__period p;
    if (n <= s || strcmp(name + n - s, KEY_SUFFIX) != 0)
        return 0;
    *stem = n - s;
    return pt__period_parse(name, n - s, &p) == 0;
}

/* A dead process's temporary file: it holds a key, so it is removed. */
static void
remove_stale_temp(file_store *f, int dirfd, const char *name)
{
    struct stat st;
    if (strncmp(name, TEMP_PREFIX, strlen(TEMP_PREFIX)) != 0 ||
        fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        st.st_mtime > time(NULL) - STALE_TEMP_S)
        return;
    if (unlinkat(dirfd, name, 0) == 0)
        pt__log(PT_LOG_INFO,
                "key store %s: removed %s, left by a process "
                "that died while creating a key",
                f->dir, name);
}

static int
file_list(pt__key_store *s, pt__key_record **out, size_t *count,
          int64_t *destroyed_before)
{
    file_store *f = store_of(s);
    pt__key_record rec;
    size_t cap = 0;
    struct dirent *e;
    DIR *d;
    int dirfd, listfd, rc;

    *out = NULL;
    *count = 0;
    *destroyed_before = 0;
    rc = open_dir(f, 0, &dirfd);
    if (rc == PT_ENOTFOUND)
        return PT_OK; /* nothing created yet */
    if (rc != PT_OK)
        return rc;
    rc = read_destroyed_before(f, dirfd, destroyed_before);
    listfd = rc == PT_OK ? dup(dirfd) : -1;
    d = listfd >= 0 ? fdopendir(listfd) : NULL;
    if (rc == PT_OK && !d) {
        rc = pt__fail(PT_EIO, "key store %s: %s", f->dir, strerror(errno));
        if (listfd >= 0)
            close(listfd);
    }
    while (rc == PT_OK && (errno = 0, e = readdir(d)) != NULL) {
        size_t stem;
        if (!is_key_name(e->d_name, &stem)) {
            remove_stale_temp(f, dirfd, e->d_name);
            continue;
        }
        rc = read_record(f, dirfd, e->d_name, &rec);
        if (rc == PT_ENOTFOUND) {
            rc = PT_OK; /* destroyed meanwhile */
            continue;
        }
        if (rc == PT_ECORRUPT) {
            /* not ours to remove, nor to use; get() reports it again if
             * its period's key is wanted */
            pt__log(PT_LOG_WARN, "%s", pt_last_error());
            rc = PT_OK;
            continue;
        }
        if (rc == PT_OK && pt__key_records_push(out, count, &cap, &rec) != 0)
            rc = pt__fail(PT_ENOMEM, "out of memory listing keys");
        sodium_memzero(&rec, sizeof(rec));
    }
    if (d)
        closedir(d);
    close(dirfd);
    if (rc != PT_OK) {
        pt__key_records_free(*out, *count);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

static int
file_get(pt__key_store *s, const char *name, pt__key_record *out)
{
    file_store *f = store_of(s);
    char file[PT__PERIOD_NAME_MAX + 8];
    int dirfd, rc = open_dir(f, 0, &dirfd);

    if (rc != PT_OK)
        return rc;
    pt__snprintf(file, sizeof(file), "%s%s", name, KEY_SUFFIX);
    rc = read_record(f, dirfd, file, out);
    close(dirfd);
    return rc;
}

/* ---- writing ------------------------------------------------------------- */

static void
format_record(pt_buf *b, const pt__key_record *rec)
{
    char hex[2 * PT__KEY_BLOB_MAX + 1];
    sodium_bin2hex(hex, sizeof(hex), rec->blob, rec->blob_len);
    pt_buf_puts(b, MAGIC);
    pt_buf_puts(b, "created ");
    pt_buf_put_i64(b, rec->created);
    pt_buf_puts(b, "\nexpires ");
    pt_buf_put_i64(b, rec->expires);
    pt_buf_printf(b, "\nwrap %s\nkey ", pt__key_record_wrap_name(rec));
    pt_buf_puts(b, hex);
    pt_buf_putc(b, '\n');
    sodium_memzero(hex, sizeof(hex));
}

/* Write `len` bytes to a new temporary file of the directory, fsync'd;
 * its name in `tmp`. */
static int
write_temp(file_store *f, int dirfd, const char *data, size_t len, char *tmp,
           size_t tmp_size)
{
    int fd, rc = pt__fs_temp_at(&fd, dirfd, f->dir, TEMP_PREFIX, tmp, tmp_size);
    if (rc != PT_OK)
        return rc;
    if (pt__write_all(fd, data, len) != 0 || fsync(fd) != 0)
        rc = pt__fail(pt__errno_code(errno), "cannot write %s/%s: %s", f->dir,
                      tmp, strerror(errno));
    close(fd);
    if (rc != PT_OK)
        unlinkat(dirfd, tmp, 0);
    return rc;
}

static int
file_create(pt__key_store *s, const pt__key_record *rec)
{
    file_store *f = store_of(s);
    char file[PT__PERIOD_NAME_MAX + 8], tmp[64];
    pt_buf text = PT_BUF_INIT;
    int dirfd, rc, err = 0;

    rc = open_dir(f, 1, &dirfd);
    if (rc != PT_OK)
        return rc;
    format_record(&text, rec);
    rc = text.oom ? pt__fail(PT_ENOMEM, "out of memory")
                  : write_temp(f, dirfd, text.ptr, text.len, tmp, sizeof(tmp));
    if (text.ptr)
        sodium_memzero(text.ptr, text.cap);
    pt_buf_free(&text);
    if (rc == PT_OK) {
        pt__snprintf(file, sizeof(file), "%s%s", rec->name, KEY_SUFFIX);
        if (linkat(dirfd, tmp, dirfd, file, 0) != 0)
            err = errno;
        unlinkat(dirfd, tmp, 0);
        if (err == EEXIST)
            rc = PT_EEXIST;
        else if (err)
            rc = pt__fail(pt__errno_code(err), "cannot create %s/%s: %s",
                          f->dir, file, strerror(err));
        else
            rc = pt__fs_sync_dir(dirfd, f->dir);
    }
    close(dirfd);
    return rc;
}

/* Overwrite the file's bytes before unlinking it.  Best effort: a
 * journalling or copy-on-write file system, or an SSD, may keep old
 * blocks (PRIVACY.md says so; wrapping is the answer). */
static void
overwrite(file_store *f, int dirfd, const char *name)
{
    static const char zeros[MAX_FILE];
    struct stat st;
    int fd;
    if (pt__fs_open_at(&fd, dirfd, f->dir, name, O_WRONLY, 0) != PT_OK)
        return;
    if (fstat(fd, &st) == 0 && st.st_size > 0 && st.st_size <= MAX_FILE &&
        pt__write_all(fd, zeros, (size_t)st.st_size) == 0)
        (void)fsync(fd);
    close(fd);
}

static int
file_remove(pt__key_store *s, const char *name)
{
    file_store *f = store_of(s);
    char file[PT__PERIOD_NAME_MAX + 8];
    int dirfd, rc = open_dir(f, 0, &dirfd);

    if (rc == PT_ENOTFOUND)
        return PT_OK;
    if (rc != PT_OK)
        return rc;
    pt__snprintf(file, sizeof(file), "%s%s", name, KEY_SUFFIX);
    overwrite(f, dirfd, file);
    if (unlinkat(dirfd, file, 0) != 0 && errno != ENOENT)
        rc = pt__fail(pt__errno_code(errno), "cannot remove %s/%s: %s", f->dir,
                      file, strerror(errno));
    else
        rc = pt__fs_sync_dir(dirfd, f->dir);
    close(dirfd);
    return rc;
}

static int
file_destroyed_before(pt__key_store *s, int64_t before_us)
{
    file_store *f = store_of(s);
    int64_t current = 0;
    char text[32], tmp[64];
    int dirfd, rc = open_dir(f, 1, &dirfd);

    if (rc != PT_OK)
        return rc;
    rc = read_destroyed_before(f, dirfd, &current);
    if (rc == PT_OK && before_us > current) {
        pt__snprintf(text, sizeof(text), "%lld\n",
                     (long long)(before_us / 1000000));
        rc = write_temp(f, dirfd, text, strlen(text), tmp, sizeof(tmp));
        if (rc == PT_OK)
            rc = pt__fs_replace_at(dirfd, f->dir, tmp, DESTROYED_BEFORE);
        if (rc != PT_OK)
            unlinkat(dirfd, tmp, 0);
    }
    close(dirfd);
    return rc;
}

static void
file_close(pt__key_store *s)
{
    free(s);
}

static const pt__key_store_methods file_methods = {PT__KEY_STORE_FILE,
                                                   file_init,
                                                   file_list,
                                                   file_get,
                                                   file_create,
                                                   file_remove,
                                                   file_destroyed_before,
                                                   file_close};

int
pt__key_store_file_open(pt__key_store **out, const char *dir)
{
    file_store *f;

    *out = NULL;
    if (strlen(dir) >= sizeof(f->dir))
        return pt__fail(PT_EINVAL, "key directory path too long");
    f = calloc(1, sizeof(*f));
    if (!f)
        return pt__fail(PT_ENOMEM, "out of memory");
    f->base.methods = &file_methods;
    pt__snprintf(f->dir, sizeof(f->dir), "%s", dir);
    pt__snprintf(f->base.where, sizeof(f->base.where), "%s", dir);
    *out = &f->base;
    return PT_OK;
}
