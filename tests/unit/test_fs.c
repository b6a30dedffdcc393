/* Unit tests for the safe file access of lib/common/fs.c: directories
 * checked component by component, files that are never links, FIFOs,
 * devices or hard links, temporary files and atomic replacement.  Tests
 * that need another user's files (chown) run only as root and are skipped,
 * with a message, otherwise. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/common.h"
#include "test_tmpdir.h"

static char root[512];

static int
setup(void **state)
{
    (void)state;
    /* A FIFO open that blocks must fail the test, not hang it. */
    alarm(60);
    return pt_test_mkdtemp(root, sizeof(root), "pt-fs");
}

static int
teardown(void **state)
{
    (void)state;
    chmod(root, 0700);
    return pt_test_rmtree(root);
}

static void
path_of(char *out, size_t size, const char *name)
{
    snprintf(out, size, "%s/%s", root, name);
}

static void
write_text(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static off_t
size_of(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static uid_t
nobody_or_skip(void)
{
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw) {
        print_message("skipped: needs root and a 'nobody' user to plant "
                      "another user's files\n");
        skip();
    }
    return pw->pw_uid;
}

static void
expect_refused(int rc, const char *needle)
{
    assert_int_equal(rc, PT_EACCESS);
    if (!strstr(pt_last_error(), needle))
        fail_msg("message '%s' lacks '%s'", pt_last_error(), needle);
}

/* ---- directories --------------------------------------------------------- */

static void
test_dir_created_private(void **state)
{
    char path[600], mid[600];
    struct stat st;
    mode_t old = umask(0);
    int fd;
    (void)state;

    path_of(path, sizeof(path), "a/b/c");
    path_of(mid, sizeof(mid), "a/b");
    assert_int_equal(pt__fs_open_dir(&fd, path, 0), PT_ENOTFOUND);
    assert_int_equal(fd, -1);
    assert_int_equal(pt__fs_open_dir(&fd, path, PT_FS_MKDIR), PT_OK);
    umask(old);
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(stat(mid, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    /* Readable: the caller may list it and fsync it. */
    assert_int_equal(fsync(fd), 0);
    close(fd);
    /* Again, now that it exists; trailing and doubled slashes, dots. */
    strcat(path, "//./");
    assert_int_equal(pt__fs_open_dir(&fd, path, 0), PT_OK);
    close(fd);
}

static void
test_dir_relative(void **state)
{
    char cwd[600], made[600];
    struct stat st;
    int fd;
    (void)state;

    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(root), 0);
    assert_int_equal(pt__fs_open_dir(&fd, "rel/x", PT_FS_MKDIR), PT_OK);
    close(fd);
    assert_int_equal(chdir(cwd), 0);
    path_of(made, sizeof(made), "rel/x");
    assert_int_equal(stat(made, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
}

static void
test_dir_writable_refused(void **state)
{
    char w[600], inner[600];
    int fd;
    (void)state;

    path_of(w, sizeof(w), "w");
    path_of(inner, sizeof(inner), "w/inner");
    assert_int_equal(mkdir(w, 0700), 0);
    assert_int_equal(mkdir(inner, 0700), 0);

    assert_int_equal(chmod(w, 0777), 0);
    expect_refused(pt__fs_open_dir(&fd, w, 0), "chmod 700");
    assert_non_null(strstr(pt_last_error(), w));
    assert_non_null(strstr(pt_last_error(), "others"));
    assert_int_equal(fd, -1);
    assert_int_equal(chmod(w, 0770), 0);
    expect_refused(pt__fs_open_dir(&fd, w, 0), "its group");
    /* The directory asked for gets no sticky excuse... */
    assert_int_equal(chmod(w, 01777), 0);
    expect_refused(pt__fs_open_dir(&fd, w, 0), "mode 1777");
    /* ...a directory on the way does, like /tmp. */
    assert_int_equal(pt__fs_open_dir(&fd, inner, 0), PT_OK);
    close(fd);
    /* Not without the sticky bit: others could swap `inner`. */
    assert_int_equal(chmod(w, 0777), 0);
    expect_refused(pt__fs_open_dir(&fd, inner, 0), "chmod go-w");
    /* Nor is anything created below a refused directory. */
    path_of(inner, sizeof(inner), "w/new");
    expect_refused(pt__fs_open_dir(&fd, inner, PT_FS_MKDIR), "chmod go-w");
    assert_int_not_equal(access(inner, F_OK), 0);
    /* PT_FS_ANY_DIR: an output directory the operator chose, unchecked. */
    assert_int_equal(pt__fs_open_dir(&fd, w, PT_FS_ANY_DIR), PT_OK);
    close(fd);
}

static void
test_dir_symlink(void **state)
{
    char real[600], link[600], through[600];
    struct stat a, b;
    uid_t nobody;
    int fd;
    (void)state;

    path_of(real, sizeof(real), "real");
    path_of(link, sizeof(link), "link");
    path_of(through, sizeof(through), "link/sub");
    assert_int_equal(mkdir(real, 0700), 0);
    assert_int_equal(symlink(real, link), 0);
    /* Our own link is followed, and the directory it leads to checked. */
    assert_int_equal(pt__fs_open_dir(&fd, link, 0), PT_OK);
    assert_int_equal(fstat(fd, &a), 0);
    assert_int_equal(stat(real, &b), 0);
    assert_int_equal(a.st_ino, b.st_ino);
    close(fd);
    assert_int_equal(pt__fs_open_dir(&fd, through, PT_FS_MKDIR), PT_OK);
    close(fd);
    assert_int_equal(chmod(real, 0777), 0);
    expect_refused(pt__fs_open_dir(&fd, link, 0), "chmod 700");
    assert_int_equal(chmod(real, 0700), 0);

    /* Another user's link is not. */
    nobody = nobody_or_skip();
    assert_int_equal(lchown(link, nobody, (gid_t)-1), 0);
    expect_refused(pt__fs_open_dir(&fd, link, 0), "symbolic link owned by uid");
    expect_refused(pt__fs_open_dir(&fd, through, 0),
                   "symbolic link owned by uid");
}

static void
test_dir_owner(void **state)
{
    char other[600], inner[600];
    uid_t nobody = nobody_or_skip();
    int fd;
    (void)state;

    path_of(other, sizeof(other), "other");
    path_of(inner, sizeof(inner), "other/inner");
    assert_int_equal(mkdir(other, 0700), 0);
    assert_int_equal(mkdir(inner, 0700), 0);
    assert_int_equal(chown(other, nobody, (gid_t)-1), 0);
    expect_refused(pt__fs_open_dir(&fd, other, 0), "owned by uid");
    assert_non_null(strstr(pt_last_error(), "chown 0"));
    /* On the way too: its owner could replace `inner`. */
    expect_refused(pt__fs_open_dir(&fd, inner, 0), "owned by uid");
}

static void
test_dir_not_a_directory(void **state)
{
    char file[600], below[600];
    int fd;
    (void)state;

    path_of(file, sizeof(file), "plain");
    path_of(below, sizeof(below), "plain/x");
    write_text(file, "x", 0600);
    assert_int_equal(pt__fs_open_dir(&fd, file, 0), PT_EIO);
    assert_non_null(strstr(pt_last_error(), "it is a regular file"));
    assert_int_not_equal(pt__fs_open_dir(&fd, below, PT_FS_MKDIR), PT_OK);
    assert_int_equal(fd, -1);
}

/* ---- files --------------------------------------------------------------- */

static int
root_fd(void)
{
    int fd;
    assert_int_equal(pt__fs_open_dir(&fd, root, 0), PT_OK);
    return fd;
}

static void
test_file_created_0600(void **state)
{
    char path[600];
    struct stat st;
    mode_t old = umask(0);
    int dirfd = root_fd(), fd, fl;
    (void)state;

    path_of(path, sizeof(path), "new.jsonl");
    assert_int_equal(pt__fs_open_at(&fd, dirfd, root, "new.jsonl",
                                    O_RDWR | O_APPEND | O_CREAT, 0),
                     PT_OK);
    umask(old);
    assert_int_equal(fstat(fd, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    fl = fcntl(fd, F_GETFL);
    assert_int_equal(fl & O_NONBLOCK, 0);
    assert_int_not_equal(fl & O_APPEND, 0);
    assert_int_not_equal(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    /* O_TRUNC truncates (after the checks). */
    assert_int_equal(
        pt__fs_open_at(&fd, dirfd, root, "new.jsonl", O_WRONLY | O_TRUNC, 0),
        PT_OK);
    close(fd);
    assert_int_equal(size_of(path), 0);
    /* Missing, not created: not found. */
    assert_int_equal(pt__fs_open_at(&fd, dirfd, root, "missing", O_RDONLY, 0),
                     PT_ENOTFOUND);
    assert_int_equal(fd, -1);
    /* O_EXCL on an existing file. */
    assert_int_equal(pt__fs_open_at(&fd, dirfd, root, "new.jsonl",
                                    O_WRONLY | O_CREAT | O_EXCL, 0),
                     PT_EEXIST);
    /* A name, not a path. */
    assert_int_equal(pt__fs_open_at(&fd, dirfd, root, "a/b", O_RDONLY, 0),
                     PT_EINVAL);
    close(dirfd);
}

static void
test_file_symlinks_refused(void **state)
{
    char victim[600], link[600], dangling[600], gone[600];
    int dirfd = root_fd(), fd;
    (void)state;

    path_of(victim, sizeof(victim), "victim");
    path_of(link, sizeof(link), "day.jsonl");
    path_of(dangling, sizeof(dangling), "dangling.jsonl");
    path_of(gone, sizeof(gone), "created-through-link");
    write_text(victim, "precious\n", 0600);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(symlink(gone, dangling), 0);

    expect_refused(pt__fs_open_at(&fd, dirfd, root, "day.jsonl",
                                  O_RDWR | O_APPEND | O_CREAT, 0),
                   "symbolic link");
    assert_non_null(strstr(pt_last_error(), link));
    assert_int_equal(fd, -1);
    expect_refused(
        pt__fs_open_at(&fd, dirfd, root, "day.jsonl", O_WRONLY | O_TRUNC, 0),
        "symbolic link");
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "day.jsonl", O_RDONLY, 0),
                   "symbolic link");
    assert_int_equal(size_of(victim), 9);
    /* O_CREAT through a dangling link creates nothing. */
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "dangling.jsonl",
                                  O_WRONLY | O_CREAT, 0),
                   "symbolic link");
    assert_int_not_equal(access(gone, F_OK), 0);
    /* /dev/zero behind a link: refused, not read forever. */
    assert_int_equal(unlink(dangling), 0);
    assert_int_equal(symlink("/dev/zero", dangling), 0);
    expect_refused(
        pt__fs_open_at(&fd, dirfd, root, "dangling.jsonl", O_RDONLY, 0),
        "symbolic link");
    /* Writing never follows, even with PT_FS_FOLLOW_OWNED. */
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "day.jsonl", O_WRONLY,
                                  PT_FS_FOLLOW_OWNED),
                   "symbolic link");
    close(dirfd);
}

static void
test_file_follow_owned(void **state)
{
    char victim[600], link[600];
    uid_t nobody;
    int dirfd = root_fd(), fd;
    (void)state;

    path_of(victim, sizeof(victim), "target.key");
    path_of(link, sizeof(link), "configured.key");
    write_text(victim, "key\n", 0600);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(pt__fs_open_at(&fd, dirfd, root, "configured.key",
                                    O_RDONLY, PT_FS_FOLLOW_OWNED),
                     PT_OK);
    close(fd);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink("/dev/zero", link), 0);
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "configured.key", O_RDONLY,
                                  PT_FS_FOLLOW_OWNED),
                   "character device");
    nobody = nobody_or_skip();
    assert_int_equal(unlink(link), 0);
    assert_int_equal(symlink(victim, link), 0);
    assert_int_equal(lchown(link, nobody, (gid_t)-1), 0);
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "configured.key", O_RDONLY,
                                  PT_FS_FOLLOW_OWNED),
                   "symbolic link");
    close(dirfd);
}

static void
test_file_special_refused(void **state)
{
    char fifo[600], sub[600];
    int dirfd = root_fd(), fd;
    (void)state;

    path_of(fifo, sizeof(fifo), "fifo.jsonl");
    path_of(sub, sizeof(sub), "subdir.jsonl");
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    /* Neither blocks (the alarm of setup() would kill a hang). */
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "fifo.jsonl", O_RDONLY, 0),
                   "FIFO");
    assert_non_null(strstr(pt_last_error(), fifo));
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "fifo.jsonl",
                                  O_WRONLY | O_APPEND | O_CREAT, 0),
                   "FIFO");
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "fifo.jsonl", O_RDWR, 0),
                   "FIFO");
    expect_refused(
        pt__fs_open_at(&fd, dirfd, root, "subdir.jsonl", O_RDONLY, 0),
        "a directory");
    close(dirfd);
    /* A device itself, reached through its real directory. */
    assert_int_equal(pt__fs_open_dir(&dirfd, "/dev", PT_FS_ANY_DIR), PT_OK);
    expect_refused(pt__fs_open_at(&fd, dirfd, "/dev", "zero", O_RDONLY, 0),
                   "character device");
    close(dirfd);
}

static void
test_file_hard_link_refused_for_writing(void **state)
{
    char victim[600], linked[600];
    int dirfd = root_fd(), fd;
    (void)state;

    path_of(victim, sizeof(victim), "victim");
    path_of(linked, sizeof(linked), "2025-01-15.jsonl");
    write_text(victim, "precious\n", 0600);
    assert_int_equal(link(victim, linked), 0);
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "2025-01-15.jsonl",
                                  O_WRONLY | O_APPEND, 0),
                   "2 hard links");
    expect_refused(pt__fs_open_at(&fd, dirfd, root, "2025-01-15.jsonl",
                                  O_WRONLY | O_TRUNC, 0),
                   "hard links");
    assert_int_equal(size_of(victim), 9);
    /* Reading is harmless. */
    assert_int_equal(
        pt__fs_open_at(&fd, dirfd, root, "2025-01-15.jsonl", O_RDONLY, 0),
        PT_OK);
    close(fd);
    close(dirfd);
}

static void
test_open_in_and_path(void **state)
{
    char dir[600], path[700], cwd[600];
    int fd;
    (void)state;

    path_of(dir, sizeof(dir), "store");
    snprintf(path, sizeof(path), "%s/ip.key", dir);
    assert_int_equal(pt__fs_open_in(&fd, dir, "ip.key", O_RDONLY, 0),
                     PT_ENOTFOUND);
    assert_int_equal(pt__fs_open_in(&fd, dir, "ip.key",
                                    O_WRONLY | O_CREAT | O_EXCL, PT_FS_MKDIR),
                     PT_OK);
    close(fd);
    assert_int_equal(pt__fs_open_path(&fd, path, O_RDONLY, 0), PT_OK);
    close(fd);
    assert_int_equal(chmod(dir, 0777), 0);
    expect_refused(pt__fs_open_path(&fd, path, O_RDONLY, 0), "chmod 700");
    assert_int_equal(chmod(dir, 0700), 0);
    /* A bare name is in the working directory. */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    assert_int_equal(pt__fs_open_path(&fd, "ip.key", O_RDONLY, 0), PT_OK);
    close(fd);
    assert_int_equal(chdir(cwd), 0);
}

static void
test_split(void **state)
{
    char dir[16], name[8];
    (void)state;

    assert_int_equal(
        pt__fs_split("a/b/c", dir, sizeof(dir), name, sizeof(name)), PT_OK);
    assert_string_equal(dir, "a/b");
    assert_string_equal(name, "c");
    assert_int_equal(pt__fs_split("c", dir, sizeof(dir), name, sizeof(name)),
                     PT_OK);
    assert_string_equal(dir, ".");
    assert_int_equal(pt__fs_split("/etc", dir, sizeof(dir), name, sizeof(name)),
                     PT_OK);
    assert_string_equal(dir, "/");
    assert_string_equal(name, "etc");
    assert_int_equal(pt__fs_split("a/", dir, sizeof(dir), name, sizeof(name)),
                     PT_EINVAL);
    assert_int_equal(pt__fs_split("a/..", dir, sizeof(dir), name, sizeof(name)),
                     PT_EINVAL);
    assert_int_equal(
        pt__fs_split("a/much-too-long", dir, sizeof(dir), name, sizeof(name)),
        PT_EINVAL);
}

static void
test_temp_and_replace(void **state)
{
    char names[40][32], target[600];
    int dirfd = root_fd(), fd;
    struct stat st;
    char buf[16];
    (void)state;

    for (int i = 0; i < 40; i++) {
        assert_int_equal(pt__fs_temp_at(&fd, dirfd, root, ".x.tmp-", names[i],
                                        sizeof(names[i])),
                         PT_OK);
        assert_int_equal(strncmp(names[i], ".x.tmp-", 7), 0);
        assert_int_equal(strlen(names[i]), 7 + 12);
        assert_int_equal(fstat(fd, &st), 0);
        assert_int_equal(st.st_mode & 07777, 0600);
        assert_int_equal(st.st_size, 0);
        for (int j = 0; j < i; j++)
            assert_string_not_equal(names[i], names[j]);
        close(fd);
    }
    assert_int_equal(pt__fs_temp_at(&fd, dirfd, root, ".x.tmp-", buf, 12),
                     PT_EINVAL);

    /* Replace: the target is the temporary's inode now, atomically. */
    path_of(target, sizeof(target), "out.json");
    write_text(target, "old", 0644);
    assert_int_equal(pt__fs_replace_at(dirfd, root, names[0], "out.json"),
                     PT_OK);
    assert_int_equal(stat(target, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(st.st_size, 0);
    assert_int_equal(fstatat(dirfd, names[0], &st, 0), -1);
    /* A link planted at the target is replaced, not followed. */
    assert_int_equal(unlink(target), 0);
    assert_int_equal(symlink("/nonexistent/target", target), 0);
    assert_int_equal(pt__fs_replace_at(dirfd, root, names[1], "out.json"),
                     PT_OK);
    assert_int_equal(lstat(target, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(pt__fs_replace_at(dirfd, root, "no-such", "out.json"),
                     PT_ENOTFOUND);
    close(dirfd);
}

static void
test_check_owner(void **state)
{
    char path[600];
    uid_t nobody;
    int fd;
    (void)state;

    path_of(path, sizeof(path), "k");
    write_text(path, "x", 0600);
    fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pt__fs_check_owner(fd, "key file", path, 077), PT_OK);
    assert_int_equal(fchmod(fd, 0640), 0);
    expect_refused(pt__fs_check_owner(fd, "key file", path, 077),
                   "group or others");
    assert_non_null(strstr(pt_last_error(), "chmod 600"));
    assert_non_null(strstr(pt_last_error(), "key file"));
    assert_int_equal(pt__fs_check_owner(fd, "policy", path, 002), PT_OK);
    assert_int_equal(fchmod(fd, 0666), 0);
    expect_refused(pt__fs_check_owner(fd, "policy", path, 002), "chmod go-w");
    nobody = nobody_or_skip();
    assert_int_equal(fchmod(fd, 0600), 0);
    assert_int_equal(fchown(fd, nobody, (gid_t)-1), 0);
    expect_refused(pt__fs_check_owner(fd, "key file", path, 077),
                   "owned by uid");
    close(fd);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_dir_created_private),
        T(test_dir_relative),
        T(test_dir_writable_refused),
        T(test_dir_symlink),
        T(test_dir_owner),
        T(test_dir_not_a_directory),
        T(test_file_created_0600),
        T(test_file_symlinks_refused),
        T(test_file_follow_owned),
        T(test_file_special_refused),
        T(test_file_hard_link_refused_for_writing),
        T(test_open_in_and_path),
        T(test_split),
        T(test_temp_and_replace),
        T(test_check_owner),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
