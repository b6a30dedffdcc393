/* Small file-system and text helpers that several layers need. */
#include "common/common.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int
pt__mkdirs(const char *dir, char *failed, size_t failed_size)
{
    char *path = pt__strdup(dir);
    int err = 0;

    if (!path)
        return ENOMEM;
    /* Create each missing component; what we store is personal, so 0700. */
    for (char *p = path + 1; err == 0; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(path, 0700) != 0 && errno != EEXIST) {
            err = errno;
            if (failed)
                pt__snprintf(failed, failed_size, "%s", path);
        }
        *p = c;
        if (c == '\0')
            break;
    }
    free(path);
    return err;
}

int
pt__write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
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

int
pt__hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}
