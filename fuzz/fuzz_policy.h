/*
 * Set-up shared by the fuzz targets that run the policy engine: a policy
 * loaded from INI text, and a fixed hash key (hashing must not touch the
 * disk while fuzzing).  Header-only, like fuzz_check.h.
 */
#ifndef PT_FUZZ_POLICY_H
#define PT_FUZZ_POLICY_H

#include "fuzz_check.h"

#include "policy/policy.h"

#include <string.h>

/** The policy of `ini`, named `name` in its messages; the target aborts
 *  when it does not load. */
static inline pt_policy *
fuzz_load_policy(const char *ini, const char *name)
{
    pt_policy *p = NULL;
    FUZZ_CHECK(pt_policy_load_buffer(&p, ini, strlen(ini), name) == PT_OK);
    return p;
}

/** The fixed 32-byte key the targets hash with. */
static inline void
fuzz_fixed_key(pt__ip_key *key)
{
    for (size_t i = 0; i < 32; i++)
        key->bytes[i] = (unsigned char)(i * 7 + 1);
    key->len = 32;
}

/** Defines the target's `policy` (of the INI text `ini`) and `key`, and
 *  the LLVMFuzzerInitialize() that sets them up once. */
#define FUZZ_POLICY_AND_KEY(ini)                                               \
    static pt_policy *policy;                                                  \
    static pt__ip_key key;                                                     \
    int LLVMFuzzerInitialize(int *argc, char ***argv);                         \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                          \
    {                                                                          \
        (void)argc;                                                            \
        (void)argv;                                                            \
        policy = fuzz_load_policy(ini, "fuzz");                                \
        fuzz_fixed_key(&key);                                                  \
        return 0;                                                              \
    }

#endif
