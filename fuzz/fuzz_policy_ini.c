/*
 * Fuzz target: the policy INI parser (pt_policy_load_buffer), and its
 * agreement with the checker (pt_policy_check_buffer).
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - loading never crashes and never reads past `size` (the input is not
 *    NUL-terminated);
 *  - success gives a policy with a non-empty id; failure gives no policy and
 *    a non-empty pt_last_error();
 *  - the checker accepts exactly what the loader accepts, and reports at
 *    least one problem for what it rejects.
 */
#include <privtrack.h>

#include "fuzz_check.h"

#include <stdint.h>
#include <stdlib.h>

/* Keys every valid policy must answer (defaults applied). */
static const char *const probed[][2] = {
    {"ip", "mode"},          {"storage", "backend"}, {"storage", "path"},
    {"optout", "honor_dnt"}, {"fields", "links"},    {"retention", "ttl_days"},
};

static void
count_problem(const char *file, unsigned int line, const char *message,
              void *userdata)
{
    (void)file;
    (void)line;
    FUZZ_CHECK(message && message[0]);
    ++*(size_t *)userdata;
}

static void
check_loaded(const pt_policy *policy)
{
    const char *id = pt_policy_id(policy);
    FUZZ_CHECK(id && id[0]);
    for (size_t i = 0; i < sizeof(probed) / sizeof(*probed); i++) {
        FUZZ_CHECK(pt_policy_get(policy, probed[i][0], probed[i][1]) != NULL);
    }
    FUZZ_CHECK(pt_policy_get(policy, "no-such-section", "no-such-key") == NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    pt_policy *policy = (pt_policy *)(uintptr_t)1; /* must be overwritten */
    int loaded = pt_policy_load_buffer(&policy, text, size, "fuzz.ini");
    if (loaded == PT_OK) {
        FUZZ_CHECK(policy != NULL);
        check_loaded(policy);
        pt_policy_free(policy);
    } else {
        const char *detail = pt_last_error();
        FUZZ_CHECK(policy == NULL && detail && detail[0]);
    }

    size_t problems = 0;
    int checked = pt_policy_check_buffer(text, size, "fuzz.ini", count_problem,
                                         &problems);
    FUZZ_CHECK((loaded == PT_OK) == (checked == PT_OK));
    FUZZ_CHECK(checked == PT_OK || problems > 0);
    return 0;
}
