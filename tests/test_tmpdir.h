/*
 * Temporary directories for tests: one made under $TMPDIR (or /tmp) per
 * test, removed with everything below it afterwards.  Header-only so that
 * any test program can use it without a CMake change.
 */
#ifndef PT_TEST_TMPDIR_H
#define PT_TEST_TMPDIR_H

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/** Make "$TMPDIR/<prefix>-XXXXXX" into `out`.  0 on success, -1 if not. */
static inline int
pt_test_mkdtemp(char *out, size_t size, const char *prefix)
{
    const char *tmp = getenv("TMPDIR");
    int n =
        snprintf(out, size, "%s/%s-XXXXXX", tmp && *tmp ? tmp : "/tmp", prefix);
    if (n < 0 || (size_t)n >= size)
        return -1;
    return mkdtemp(out) ? 0 : -1;
}

/** Remove `path` and everything below it (rm -rf without a shell or
 *  nftw(), which needs _XOPEN_SOURCE before any include). */
static inline int
pt_test_rmtree(const char *path)
{
    struct stat st;
    DIR *dir;
    struct dirent *e;
    int rc = 0;

    if (lstat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return unlink(path);
    if (!(dir = opendir(path)))
        return -1;
    while ((e = readdir(dir)) != NULL) {
        char child[4096];
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        int n = snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        if (n < 0 || (size_t)n >= sizeof(child) || pt_test_rmtree(child) != 0)
            rc = -1;
    }
    closedir(dir);
    return rmdir(path) != 0 ? -1 : rc;
}

/** The directories of a test that works in a temporary tree: `root`, a
 *  new directory, and `store`, "<root>/store", which the store creates
 *  when it is first used.  A fixture that uses pt_test_dirs_teardown()
 *  puts it first. */
typedef struct pt_test_dirs {
    char root[256];
    char store[300];
} pt_test_dirs;

/** A zeroed fixture of `size` bytes starting with a pt_test_dirs, its
 *  root made under $TMPDIR (`prefix` names it); NULL when either fails. */
static inline void *
pt_test_dirs_fixture(size_t size, const char *prefix)
{
    pt_test_dirs *d = calloc(1, size);
    if (!d)
        return NULL;
    if (pt_test_mkdtemp(d->root, sizeof(d->root), prefix) != 0) {
        free(d);
        return NULL;
    }
    snprintf(d->store, sizeof(d->store), "%s/store", d->root);
    return d;
}

/** The cmocka teardown of a pt_test_dirs_fixture(): its tree removed, the
 *  fixture freed; -1 when the tree could not be removed. */
static inline int
pt_test_dirs_teardown(void **state)
{
    pt_test_dirs *d = *state;
    int rc = pt_test_rmtree(d->root);
    free(d);
    return rc == 0 ? 0 : -1;
}

#endif
