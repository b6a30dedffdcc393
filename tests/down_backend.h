/*
 * A storage backend that is always down, registered as "down": every put()
 * fails with PT_ENETWORK and stores nothing, so a tracker spools everything
 * it is given (tests of the spool and of replay, bench_replay).  Header-only
 * so that any test or benchmark program can use it without a CMake change.
 */
#ifndef PT_TEST_DOWN_BACKEND_H
#define PT_TEST_DOWN_BACKEND_H

#include <privtrack.h>
#include <stdio.h>
#include <stdlib.h>

static int
pt_test_down_open(pt_storage **out, const pt_policy *policy, const char *path)
{
    (void)policy;
    (void)path;
    *out = calloc(1, sizeof(pt_storage));
    return *out ? PT_OK : PT_ENOMEM;
}

static int
pt_test_down_put(pt_storage *s, const pt_record *const *records, size_t count,
                 int replay, size_t *written)
{
    (void)records;
    (void)count;
    (void)replay;
    *written = 0;
    snprintf(s->errmsg, sizeof(s->errmsg), "connection refused (test)");
    return PT_ENETWORK;
}

static void
pt_test_down_close(pt_storage *s)
{
    free(s);
}

static const pt_storage_methods pt_test_down_methods = {
    .version = PT_STORAGE_METHODS_VERSION,
    .name = "down",
    .open = pt_test_down_open,
    .put = pt_test_down_put,
    .close = pt_test_down_close,
};

/** Register the "down" backend (registering it again is harmless). */
static inline int
pt_test_down_register(void)
{
    return pt_storage_register(&pt_test_down_methods);
}

#endif
