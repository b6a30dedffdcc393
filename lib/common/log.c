/* The process-wide log callback.  The library never prints on its own. */
#include "common/common.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct log_sink {
    pt_log_fn fn;
    void *userdata;
} log_sink;

/* The sink is swapped as a whole so a reader never sees a callback paired
 * with another callback's userdata.  Old sinks are leaked on purpose (a
 * handful of bytes per pt_set_log call): a concurrent logger may still be
 * reading one. */
static _Atomic(log_sink *) current_sink;
static atomic_int min_level = PT_LOG_NONE;

void
pt_set_log(pt_log_fn fn, void *userdata, pt_log_level level)
{
    log_sink *sink = NULL;
    if (fn) {
        sink = malloc(sizeof(*sink));
        if (!sink)
            return;
        sink->fn = fn;
        sink->userdata = userdata;
    }
    atomic_store(&current_sink, sink);
    atomic_store(&min_level, fn ? (int)level : PT_LOG_NONE);
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
    log_sink *sink;

    if (!pt__log_enabled(level))
        return;
    sink = atomic_load(&current_sink);
    if (!sink)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    sink->fn(level, line, sink->userdata);
}
