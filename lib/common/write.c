/*
 * write() that the file-size limit cannot kill.
 *
 * At RLIMIT_FSIZE (`ulimit -f`), write() raises SIGXFSZ, whose default
 * action kills the process: a web server would die mid-request and the
 * records in memory with it.  With the signal blocked, the kernel still
 * makes the write fail with EFBIG, which privtrack treats as a full disk
 * (the writer spools; the spool starts a new segment).  The library does
 * not change the process's disposition of the signal: it blocks it in its
 * own writer thread for the thread's life, and around each write made on
 * an application's thread, consuming the signal that write raised so that
 * unblocking it does not deliver it.
 */
#include "common/common.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

/* Set on threads that block SIGXFSZ for good (the writer thread). */
static _Thread_local int xfsz_blocked;

void
pt__sigxfsz_block_thread(void)
{
    sigset_t set;

    sigemptyset(&set);
    sigaddset(&set, SIGXFSZ);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) == 0)
        xfsz_blocked = 1;
}

ssize_t
pt__write(int fd, const void *data, size_t len)
{
    sigset_t set, old;
    ssize_t n;
    int err;

    if (xfsz_blocked)
        return write(fd, data, len);
    sigemptyset(&set);
    sigaddset(&set, SIGXFSZ);
    if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0)
        return write(fd, data, len);
    n = write(fd, data, len);
    err = errno;
    if (!sigismember(&old, SIGXFSZ)) {
        /* The kernel raises SIGXFSZ exactly when it fails a write with
         * EFBIG: take it off this thread before unblocking. */
        if (n < 0 && err == EFBIG) {
            const struct timespec now = {0, 0};
            while (sigtimedwait(&set, NULL, &now) < 0 && errno == EINTR)
                ;
        }
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    errno = err;
    return n;
}
