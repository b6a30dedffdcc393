/*
 * Fuzz target: packed visits (pt_track_packed()'s reader,
 * lib/policy/packed_visit.c) — the buffer a binding hands the library.
 *
 * Input: the buffer itself, as the library receives it (a pt_packed_visit
 * header, then NUL-terminated strings).
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - no crash, no read past the buffer (it is exactly the input's size);
 *  - a failure is PT_EINVAL with a non-empty pt_last_error();
 *  - an accepted buffer has the counts' number of strings, every one
 *    inside the buffer, in order, each starting right after the previous
 *    one's NUL, the last one ending the buffer; the visit's counts, error
 *    count and time are the header's;
 *  - the policy engine takes the visit without a crash.
 */
#include <privtrack.h>

#include "fuzz_check.h"
#include "fuzz_policy.h"

#include "common/common.h"
#include "policy/packed_visit.h"
#include "policy/policy.h"
#include "record/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

FUZZ_POLICY_AND_KEY("[policy]\nname = fuzz-packed\n")

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The next string must start at *at; returns where the one after starts. */
static const char *
check_string(const char *s, const char *at, const char *end)
{
    FUZZ_CHECK(s == at);
    FUZZ_CHECK(s < end);
    return s + strlen(s) + 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_packed_visit head;
    pt_header *headers;
    const char **lists;
    pt_visit v;
    int rc = pt__packed_visit_head(data, size, &head);

    if (rc != PT_OK) {
        FUZZ_CHECK(rc == PT_EINVAL && pt_last_error()[0] != '\0');
        return 0;
    }
    /* Counts are bounded by the size, so these allocations are small. */
    headers = calloc((size_t)head.header_count + 1, sizeof(*headers));
    lists = calloc((size_t)head.link_count + head.filename_count + 1,
                   sizeof(*lists));
    FUZZ_CHECK(headers && lists);
    rc = pt__packed_visit_unpack(data, size, &head, headers, lists, &v);
    if (rc != PT_OK) {
        FUZZ_CHECK(rc == PT_EINVAL && pt_last_error()[0] != '\0');
    } else {
        const char *end = (const char *)data + size;
        const char *at = (const char *)data + sizeof(head);
        FUZZ_CHECK(v.header_count == head.header_count);
        FUZZ_CHECK(v.link_count == head.link_count);
        FUZZ_CHECK(v.filename_count == head.filename_count);
        FUZZ_CHECK(v.error_count == head.error_count);
        FUZZ_CHECK(v.time_us == head.time_us);
        FUZZ_CHECK(!v.remote_addr ==
                   !(head.flags & PT_PACKED_VISIT_REMOTE_ADDR));
        if (v.remote_addr)
            at = check_string(v.remote_addr, at, end);
        for (size_t i = 0; i < v.header_count; i++)
            at = check_string(v.headers[i].name, at, end);
        for (size_t i = 0; i < v.header_count; i++)
            at = check_string(v.headers[i].value, at, end);
        for (size_t i = 0; i < v.link_count; i++)
            at = check_string(v.links[i], at, end);
        for (size_t i = 0; i < v.filename_count; i++)
            at = check_string(v.filenames[i], at, end);
        FUZZ_CHECK(at == end);

        pt__apply_result applied = {PT_DROP_NONE, NULL, 0, 0};
        (void)pt__policy_apply(policy, &key, &v, INT64_C(1736951400000000),
                               &applied, NULL);
        pt__record_free(applied.record);
    }
    free(headers);
    free(lists);
    return 0;
}
