/*
 * Fuzz target: the record JSON parser (pt_record_list_append_json), used for
 * file store lines, the spool and the CLI's --json output.
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - parsing never crashes and never reads past `size` (the input is not
 *    NUL-terminated); failure appends nothing;
 *  - a parsed record serialises (pt_record_to_json) to valid JSON in valid
 *    UTF-8, which parses again to a record that serialises to the same
 *    text: what privtrack writes, privtrack reads back unchanged.
 */
#include <privtrack.h>

#include "fuzz_check.h"

#include "common/common.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char *
serialise(const pt_record *record)
{
    char *json = NULL;
    FUZZ_CHECK(pt_record_to_json(&json, record) == PT_OK && json);
    size_t len = strlen(json);
    FUZZ_CHECK(pt__utf8_valid(json, len));
    cJSON *doc = cJSON_ParseWithLength(json, len);
    FUZZ_CHECK(doc && cJSON_IsObject(doc));
    cJSON_Delete(doc);
    return json;
}

static void
check_round_trip(const pt_record *record)
{
    char *first = serialise(record);
    pt_record_list *again = NULL;
    FUZZ_CHECK(pt_record_list_new(&again) == PT_OK);
    FUZZ_CHECK(pt_record_list_append_json(again, first, strlen(first)) ==
               PT_OK);
    FUZZ_CHECK(again->count == 1);
    char *second = serialise(&again->records[0]);
    FUZZ_CHECK(strcmp(first, second) == 0);
    pt_free(second);
    pt_free(first);
    pt_record_list_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pt_record_list *list = NULL;
    FUZZ_CHECK(pt_record_list_new(&list) == PT_OK);
    int rc = pt_record_list_append_json(list, (const char *)data, size);
    FUZZ_CHECK(list->count == (rc == PT_OK ? 1u : 0u));
    if (rc == PT_OK)
        check_round_trip(&list->records[0]);
    pt_record_list_free(list);
    return 0;
}
