/*
 * File-system helpers that several layers need: the safe open, create and
 * replace of files described in common.h (the rules privtrack follows
 * because it often runs as root), write-all, errno mapping.
 */
#define _GNU_SOURCE /* O_PATH */
#include "common/common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef O_PATH
#define O_PATH O_RDONLY /* not Linux: walk with readable descriptors */
#endif

#define FS_PATH_MAX 4096
#define TEMP_TRIES  100

/* ---- messages ------------------------------------------------------------ */

static int
io_fail(int err, const char *what, const char *dir, const char *name)
{
    int code = err == ENOENT   ? PT_ENOTFOUND
               : err == EEXIST ? PT_EEXIST
                               : pt__errno_code(err);
    return pt__fail(code, "cannot %s %s%s%s: %s", what, dir, name ? "/" : "",
                    name ? name : "", strerror(err));
}

static const char *
type_name(mode_t mode)
{
    if (S_ISLNK(mode))
        return "a symbolic link";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISREG(mode))
        return "a regular file";
    return "of an unknown type";
}

static int
trusted_owner(uid_t uid)
{
    return uid == 0 || uid == geteuid();
}

static int
refuse_owner(const char *what, const char *path, uid_t uid)
{
    return pt__fail(PT_EACCESS,
                    "refusing %s %s: owned by uid %u, not by root or uid %u; "
                    "run chown %u %s",
                    what, path, (unsigned)uid, (unsigned)geteuid(),
                    (unsigned)geteuid(), path);
}

/* ---- directories --------------------------------------------------------- */

/* `shown` is the directory's path; `last` is non-zero for the directory
 * asked for (no sticky excuse). */
static int
check_dir(const struct stat *st, const char *shown, int last)
{
    if (!trusted_owner(st->st_uid))
        return refuse_owner("directory", shown, st->st_uid);
    if ((st->st_mode & 022) && (last || !(st->st_mode & S_ISVTX)))
        return pt__fail(PT_EACCESS,
                        "refusing directory %s: writable by %s (mode %04o); "
                        "run chmod %s %s",
                        shown, (st->st_mode & 002) ? "others" : "its group",
                        (unsigned)(st->st_mode & 07777), last ? "700" : "go-w",
                        shown);
    return PT_OK;
}

/* Step from directory `fd` (path `shown`, already checked) into its entry
 * `name`; *next is an O_PATH descriptor. */
static int
step_into(int fd, const char *shown, const char *name, int flags, int *next)
{
    struct stat st;

    *next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (*next < 0 && errno == ENOENT && (flags & PT_FS_MKDIR)) {
        if (mkdirat(fd, name, 0700) != 0 && errno != EEXIST)
            return io_fail(errno, "create directory", shown, name);
        *next = openat(fd, name, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (*next >= 0)
        return PT_OK;
    if (errno != ELOOP && errno != ENOTDIR)
        return io_fail(errno, "open directory", shown, name);
    if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return io_fail(errno, "open directory", shown, name);
    if (!S_ISLNK(st.st_mode))
        return pt__fail(PT_EIO, "cannot open directory %s/%s: it is %s", shown,
                        name, type_name(st.st_mode));
    /* A link in a directory that passed: only root or we could have made
     * it, unless the directory is sticky and someone else owns the link. */
    if (!trusted_owner(st.st_uid))
        return pt__fail(PT_EACCESS,
                        "refusing %s/%s: a symbolic link owned by uid %u, not "
                        "by root or uid %u; remove it",
                        shown, name, (unsigned)st.st_uid, (unsigned)geteuid());
    *next = openat(fd, name, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*next < 0)
        return io_fail(errno, "open directory", shown, name);
    return PT_OK;
}

/* The absolute form of `path` into `abs` (`size` bytes). */
static int
absolute(const char *path, char *abs, size_t size)
{
    size_t len;

    if (path[0] == '/') {
        if (strlen(path) >= size)
            return pt__fail(PT_EINVAL, "path too long: %.64s...", path);
        memcpy(abs, path, strlen(path) + 1);
        return PT_OK;
    }
    if (!getcwd(abs, size))
        return pt__fail(PT_EIO, "cannot resolve %s: the working directory: %s",
                        path, strerror(errno));
    len = strlen(abs);
    if (len + 1 + strlen(path) >= size)
        return pt__fail(PT_EINVAL, "path too long: %.64s...", path);
    if (len > 1)
        abs[len++] = '/';
    memcpy(abs + len, path, strlen(path) + 1);
    return PT_OK;
}

/* Walk `abs` (modified) from "/", checking each directory; *fd is an
 * O_PATH descriptor of the last one. */
static int
walk(char *abs, int flags, int *fd)
{
    char shown[FS_PATH_MAX] = "/", *save = NULL;
    char *name = strtok_r(abs, "/", &save);
    size_t shown_len = 1;
    struct stat st;
    int rc;

    *fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0)
        return io_fail(errno, "open directory", "/", NULL);
    rc = fstat(*fd, &st) != 0 ? io_fail(errno, "stat", "/", NULL)
                              : check_dir(&st, "/", name == NULL);
    while (rc == PT_OK && name) {
        char *following = strtok_r(NULL, "/", &save);
        int next;

        if (strcmp(name, ".") != 0) {
            rc = step_into(*fd, shown_len > 1 ? shown : "", name, flags, &next);
            if (rc != PT_OK)
                break;
            close(*fd);
            *fd = next;
            if (shown_len + 1 + strlen(name) < sizeof(shown))
                shown_len += (size_t)snprintf(shown + shown_len,
                                              sizeof(shown) - shown_len, "%s%s",
                                              shown_len > 1 ? "/" : "", name);
        }
        if (fstat(*fd, &st) != 0)
            rc = io_fail(errno, "stat", shown, NULL);
        else
            rc = check_dir(&st, shown, following == NULL);
        name = following;
    }
    if (rc != PT_OK) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}

int
pt__fs_open_dir(int *out, const char *path, int flags)
{
    char abs[FS_PATH_MAX];
    int fd, rc;

    *out = -1;
    if (!path || !*path)
        return pt__fail(PT_EINVAL, "empty directory name");
    if (flags & PT_FS_ANY_DIR) {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
            return io_fail(errno, "open directory", path, NULL);
        *out = fd;
        return PT_OK;
    }
    if ((rc = absolute(path, abs, sizeof(abs))) != PT_OK ||
        (rc = walk(abs, flags, &fd)) != PT_OK)
        return rc;
    /* The walk holds O_PATH descriptors (no read permission needed on the
     * way); the caller gets a readable one of the same directory. */
    *out = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*out < 0)
        rc = io_fail(errno, "open directory", path, NULL);
    close(fd);
    return rc;
}

/* ---- files --------------------------------------------------------------- */

static int
refuse_type(const char *dir, const char *name, mode_t mode)
{
    return pt__fail(PT_EACCESS,
                    "refusing %s/%s: it is %s, not a regular file; remove it",
                    dir, name, type_name(mode));
}

int
pt__fs_open_at(int *out, int dirfd, const char *dir, const char *name,
               int oflags, int flags)
{
    int writing = (oflags & O_ACCMODE) != O_RDONLY;
    int follow = 0, fd, fl;
    struct stat st;

    *out = -1;
    if (!name || !*name || strchr(name, '/'))
        return pt__fail(PT_EINVAL, "bad file name in %s", dir);
    /* Look before opening: a device is not even opened. */
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        if (S_ISLNK(st.st_mode) && (flags & PT_FS_FOLLOW_OWNED) && !writing &&
            trusted_owner(st.st_uid))
            follow = 1;
        else if (!S_ISREG(st.st_mode))
            return refuse_type(dir, name, st.st_mode);
    } else if (errno != ENOENT || !(oflags & O_CREAT)) {
        return io_fail(errno, "open", dir, name);
    }
    fd = openat(dirfd, name,
                (oflags & ~O_TRUNC) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC |
                    (follow ? 0 : O_NOFOLLOW),
                0600);
    if (fd < 0) {
        /* Replaced by a link or a FIFO since we looked. */
        if ((errno == ELOOP || errno == ENXIO) &&
            fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
            return refuse_type(dir, name, st.st_mode);
        return io_fail(errno, "open", dir, name);
    }
    if (fstat(fd, &st) != 0) {
        int err = errno;
        close(fd);
        return io_fail(err, "stat", dir, name);
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return refuse_type(dir, name, st.st_mode);
    }
    if (writing && st.st_nlink > 1) {
        close(fd);
        return pt__fail(PT_EACCESS,
                        "refusing %s/%s: it has %lu hard links (writing it "
                        "would change another file); remove the others",
                        dir, name, (unsigned long)st.st_nlink);
    }
    if ((fl = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        ((oflags & O_TRUNC) && writing && ftruncate(fd, 0) != 0)) {
        int err = errno;
        close(fd);
        return io_fail(err, "open", dir, name);
    }
    *out = fd;
    return PT_OK;
}

int
pt__fs_open_in(int *out, const char *dir, const char *name, int oflags,
               int flags)
{
    int dirfd, rc;

    *out = -1;
    rc = pt__fs_open_dir(&dirfd, dir, flags);
    if (rc != PT_OK)
        return rc;
    rc = pt__fs_open_at(out, dirfd, dir, name, oflags, flags);
    close(dirfd);
    return rc;
}

int
pt__fs_split(const char *path, char *dir, size_t dir_size, char *name,
             size_t name_size)
{
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    size_t dir_len = slash ? (size_t)(slash - path) : 1;

    if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
        return pt__fail(PT_EINVAL, "%s: not a file name", path);
    if (strlen(base) >= name_size || dir_len + 1 >= dir_size)
        return pt__fail(PT_EINVAL, "path too long: %.64s...", path);
    if (!slash)
        memcpy(dir, ".", 2);
    else if (slash == path)
        memcpy(dir, "/", 2);
    else {
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
    }
    memcpy(name, base, strlen(base) + 1);
    return PT_OK;
}

int
pt__fs_open_path(int *out, const char *path, int oflags, int flags)
{
    char dir[FS_PATH_MAX], name[256];
    int rc;

    *out = -1;
    if (!path)
        return pt__fail(PT_EINVAL, "no file name");
    rc = pt__fs_split(path, dir, sizeof(dir), name, sizeof(name));
    return rc != PT_OK ? rc : pt__fs_open_in(out, dir, name, oflags, flags);
}

int
pt__fs_temp_at(int *out, int dirfd, const char *dir, const char *prefix,
               char *name, size_t size)
{
    static const char hex[] = "0123456789abcdef";
    size_t plen = strlen(prefix);

    *out = -1;
    if (size < plen + 13)
        return pt__fail(PT_EINVAL, "temporary name too long in %s", dir);
    for (int attempt = 0; attempt < TEMP_TRIES; attempt++) {
        unsigned char rnd[6];
        if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
            return pt__fail(PT_EIO, "getrandom: %s", strerror(errno));
        memcpy(name, prefix, plen);
        for (size_t i = 0; i < sizeof(rnd); i++) {
            name[plen + 2 * i] = hex[rnd[i] >> 4];
            name[plen + 2 * i + 1] = hex[rnd[i] & 15];
        }
        name[plen + 12] = '\0';
        *out = openat(dirfd, name,
                      O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (*out >= 0)
            return PT_OK;
        if (errno != EEXIST)
            return io_fail(errno, "create", dir, name);
    }
    return pt__fail(PT_EIO, "cannot create a temporary file in %s", dir);
}

int
pt__fs_sync_dir(int dirfd, const char *dir)
{
    if (fsync(dirfd) != 0 && errno != EINVAL)
        return io_fail(errno, "fsync directory", dir, NULL);
    return PT_OK;
}

int
pt__fs_replace_at(int dirfd, const char *dir, const char *from, const char *to)
{
    if (renameat(dirfd, from, dirfd, to) != 0)
        return io_fail(errno, "replace", dir, to);
    return pt__fs_sync_dir(dirfd, dir);
}

int
pt__fs_check_owner(int fd, const char *what, const char *path,
                   unsigned int forbidden)
{
    struct stat st;

    if (fstat(fd, &st) != 0)
        return pt__fail(PT_EIO, "cannot stat %s %s: %s", what, path,
                        strerror(errno));
    if (!trusted_owner(st.st_uid))
        return refuse_owner(what, path, st.st_uid);
    if (st.st_mode & forbidden)
        return pt__fail(PT_EACCESS,
                        "refusing %s %s: %s by group or others (mode %04o); "
                        "run chmod %s %s",
                        what, path,
                        (forbidden & 044) ? "accessible" : "writable",
                        (unsigned)(st.st_mode & 07777),
                        (forbidden & 044) ? "600" : "go-w", path);
    return PT_OK;
}

/* ---- the rest ------------------------------------------------------------ */

int
pt__read_all(int fd, void *buf, size_t size, size_t *len)
{
    char *p = buf;
    *len = 0;
    while (*len < size) {
        ssize_t got = read(fd, p + *len, size - *len);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        *len += (size_t)got;
    }
    return 0;
}

int
pt__write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = pt__write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (n == 0)
                errno = EIO;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
pt__errno_code(int err)
{
    /* Out of space is its own code: the writer spools and keeps the records
     * rather than retrying a full disk in a loop. */
    return (err == ENOSPC || err == EFBIG || err == EDQUOT) ? PT_ENOSPACE
                                                            : PT_EIO;
}

static int
is_blank_or_eol(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

size_t
pt__hex_key_decode(const char *s, size_t len, unsigned char *out,
                   size_t min_bytes, size_t max_bytes)
{
    size_t n;

    while (len && is_blank_or_eol(s[len - 1]))
        len--;
    while (len && is_blank_or_eol(*s)) {
        s++;
        len--;
    }
    n = len / 2;
    if (len % 2 || n < min_bytes || n > max_bytes)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int hi = pt__hex_value(s[2 * i]), lo = pt__hex_value(s[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            volatile unsigned char *wipe = out;
            for (size_t k = 0; k < max_bytes; k++)
                wipe[k] = 0;
            return 0;
        }
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return n;
}
