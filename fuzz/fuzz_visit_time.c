/*
 * Fuzz target: visit times (pt_time_parse, the parser the command and any
 * application share) and the library's agreement with it.
 *
 * Input: the text of a "time" value (any bytes; cut at the first NUL, as a
 * C string would be).
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - no crash, no read past the string;
 *  - a failure is PT_EPARSE (malformed) or PT_EINVAL (out of range), with a
 *    non-empty pt_last_error(), and leaves the output untouched;
 *  - an accepted time is within PT_TIME_MIN_US..PT_TIME_MAX_US;
 *  - the library agrees: a visit with that time is accepted by the policy
 *    engine (never dropped as invalid), and its record's timestamp is the
 *    time in canonical form, which parses back to the same microsecond, on
 *    the record's date;
 *  - parsing is deterministic: the canonical form parses to the same time.
 */
#include <privtrack.h>

#include "fuzz_check.h"
#include "fuzz_policy.h"

#include "common/common.h"
#include "policy/policy.h"
#include "record/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define UNTOUCHED INT64_C(0x5a5a5a5a5a5a5a5a)

FUZZ_POLICY_AND_KEY("[policy]\nname = fuzz-time\n")

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_library_agrees(int64_t us)
{
    pt_visit visit = PT_VISIT_INIT;
    pt__apply_result result;
    char canon[PT_TIMESTAMP_LEN + 1], date[PT_DATE_LEN + 1];
    int64_t back = UNTOUCHED;

    visit.remote_addr = "203.0.113.7";
    visit.time_us = us;
    FUZZ_CHECK(pt__policy_apply(policy, &key, &visit, 1, &result, NULL) ==
               PT_OK);
    FUZZ_CHECK(result.dropped == PT_DROP_NONE);
    FUZZ_CHECK(result.record != NULL);
    pt__format_timestamp(canon, us);
    pt__format_date(date, us);
    FUZZ_CHECK(strcmp(result.record->timestamp, canon) == 0);
    FUZZ_CHECK(strcmp(result.record->date, date) == 0);
    FUZZ_CHECK(strncmp(canon, date, PT_DATE_LEN) == 0);
    FUZZ_CHECK(pt_time_parse(canon, &back) == PT_OK && back == us);
    pt__record_free(result.record);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    int64_t us = UNTOUCHED;
    int rc;

    if (!text)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    rc = pt_time_parse(text, &us);
    if (rc != PT_OK) {
        FUZZ_CHECK(rc == PT_EPARSE || rc == PT_EINVAL);
        FUZZ_CHECK(pt_last_error()[0] != '\0');
        FUZZ_CHECK(us == UNTOUCHED);
    } else {
        FUZZ_CHECK(us >= PT_TIME_MIN_US && us <= PT_TIME_MAX_US);
        check_library_agrees(us);
    }
    free(text);
    return 0;
}
