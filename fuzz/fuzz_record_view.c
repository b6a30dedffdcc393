/*
 * Fuzz target: the fast record reader (pt__record_read_fast), which the
 * file store uses for every line it reads, against the cJSON reader it
 * stands in for.
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - it never crashes and never reads past `size` (the input is not
 *    NUL-terminated) — ASan;
 *  - it answers PT_OK or PT__RECORD_DECLINED, nothing else;
 *  - whatever it accepts, pt__record_parse_json() accepts as the same
 *    record (both serialise to the same JSON);
 *  - asked for fewer fields, it reads the same date, timestamp and ttl.
 */
#include <privtrack.h>

#include "fuzz_check.h"

#include "record/record.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt__record_reader rd;
    pt_record *slow = NULL;
    const char *json = (const char *)data;
    int fast_rc, slow_rc;

    memset(&rd, 0, sizeof(rd));
    fast_rc = pt__record_read_fast(&rd, json, size, 0);
    FUZZ_CHECK(fast_rc == PT_OK || fast_rc == PT__RECORD_DECLINED);
    if (fast_rc == PT_OK) {
        pt_buf a = PT_BUF_INIT, b = PT_BUF_INIT;
        char *date, *ts;
        int64_t ttl = rd.record.ttl;

        slow_rc = pt__record_parse_json(&slow, json, size);
        FUZZ_CHECK(slow_rc == PT_OK);
        pt__record_json(&a, &rd.record);
        pt__record_json(&b, slow);
        FUZZ_CHECK(!a.oom && !b.oom && strcmp(a.ptr, b.ptr) == 0);
        pt_buf_free(&a);
        pt_buf_free(&b);
        date = strdup(rd.record.date);
        ts = strdup(rd.record.timestamp);
        FUZZ_CHECK(date && ts);
        FUZZ_CHECK(pt__record_read_fast(&rd, json, size, PT_FIELD_CLIENT_IP) ==
                   PT_OK);
        FUZZ_CHECK(strcmp(rd.record.date, date) == 0 &&
                   strcmp(rd.record.timestamp, ts) == 0 &&
                   rd.record.ttl == ttl && rd.record.titles == NULL);
        free(date);
        free(ts);
        pt__record_free(slow);
    }
    pt__record_reader_free(&rd);
    return 0;
}
