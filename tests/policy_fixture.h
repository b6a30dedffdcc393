/*
 * A policy from INI text, and a tracker over it, for cmocka tests: the
 * set-up that many tests wrote out again (format the text, load it, fail
 * the test with the loader's message, open the tracker, free the policy).
 * Header-only so that any test program can use it without a CMake change;
 * include it after <cmocka.h>.
 */
#ifndef PT_TEST_POLICY_FIXTURE_H
#define PT_TEST_POLICY_FIXTURE_H

#include <privtrack.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
/** The policy of the INI text `fmt` (printf-formatted), named `name` in
 *  its messages; the test fails when the text does not fit or does not
 *  load.  The caller frees it (or hands it to pt_test_tracker()). */
static inline pt_policy *
pt_test_policy(const char *name, const char *fmt, ...)
{
    char text[4096];
    pt_policy *p = NULL;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(text))
        fail_msg("%s: a policy text of %d bytes does not fit", name, n);
    if (pt_policy_load_buffer(&p, text, (size_t)n, name) != PT_OK)
        fail_msg("policy %s: %s", name, pt_last_error());
    return p;
}

/** A tracker over `p`, which it frees, opened with `o` (NULL: the default
 *  options with `synchronous` set); the test fails when it does not open. */
static inline pt_tracker *
pt_test_tracker(pt_policy *p, const pt_tracker_options *o)
{
    pt_tracker_options sync = PT_TRACKER_OPTIONS_INIT;
    pt_tracker *t = NULL;

    sync.synchronous = 1;
    if (pt_tracker_open(&t, p, o ? o : &sync) != PT_OK)
        fail_msg("tracker: %s", pt_last_error());
    pt_policy_free(p);
    return t;
}

#endif
