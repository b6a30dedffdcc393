/* The process-wide log callback.  The library never prints on its own. */
#include "common/common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

/* The callback and its userdata change together under a lock, so a logger
 * never pairs one callback with another's userdata.  Readers only take the
 * lock when their level is enabled, which keeps disabled logging to one
 * relaxed atomic load. */
static pthread_rwlock_t sink_lock = PTHREAD_RWLOCK_INITIALIZER;
static pt_log_fn sink_fn;
static void *sink_userdata;
static atomic_int min_level = PT_LOG_NONE;

/* fork(): a thread delivering a line while another thread forks leaves, in
 * the child, a read lock that nobody will ever release (that thread does
 * not exist there), and the child's first pt_set_log() would wait for it
 * forever.  The window is wide with an interpreter's callback: Python's
 * ctypes callback waits for the GIL, which the forking thread holds across
 * os.fork() (privtrack's Python tests hung on this).  A prepare handler
 * taking the write lock would deadlock with such a callback in the parent,
 * so the child handler starts the lock afresh instead, and takes it again
 * for the lines the forking thread itself is delivering (a fork() inside
 * the callback), so that their unlocks stay balanced.  The handler is
 * installed by the first pt_set_log(), before any reader can lock. */
static _Thread_local unsigned int delivering;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void
sink_after_fork_in_child(void)
{
    pthread_rwlock_init(&sink_lock, NULL);
    for (unsigned int i = 0; i < delivering; i++)
        pthread_rwlock_rdlock(&sink_lock);
}

static void
install_atfork(void)
{
    pthread_atfork(NULL, NULL, sink_after_fork_in_child);
}

void
pt_set_log(pt_log_fn fn, void *userdata, pt_log_level level)
{
    pthread_once(&atfork_once, install_atfork);
    pthread_rwlock_wrlock(&sink_lock);
    sink_fn = fn;
    sink_userdata = userdata;
    atomic_store(&min_level, fn ? (int)level : PT_LOG_NONE);
    pthread_rwlock_unlock(&sink_lock);
}

const char *
pt_log_level_name(pt_log_level level)
{
    switch (level) {
    case PT_LOG_DEBUG:
        return "debug";
    case PT_LOG_INFO:
        return "info";
    case PT_LOG_WARN:
        return "warning";
    case PT_LOG_ERROR:
        return "error";
    default:
        return "none";
    }
}

int
pt__log_enabled(pt_log_level level)
{
    return (int)level >= atomic_load_explicit(&min_level, memory_order_relaxed);
}

void
pt__log(pt_log_level level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;

    if (!pt__log_enabled(level))
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_rwlock_rdlock(&sink_lock);
    delivering++;
    if (sink_fn && (int)level >= atomic_load(&min_level))
        sink_fn(level, line, sink_userdata);
    delivering--;
    pthread_rwlock_unlock(&sink_lock);
}
