/*
 * What DynamoDB's answers say, read without I/O, so that each reader is
 * one function that a fuzzer can drive (fuzz/fuzz_ddb_response.c): a Query
 * or Scan page, its Items and where the next page starts.  The answers
 * come from a server privtrack does not control: nothing here trusts their
 * shape.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>

#include <stdlib.h>

int
pt__ddb_page_parse(const char *body, size_t len, const char *op,
                   cJSON **doc_out, char **next_key)
{
    cJSON *doc = body ? cJSON_ParseWithLength(body, len) : NULL;
    const cJSON *last;

    *doc_out = NULL;
    *next_key = NULL;
    if (!cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(doc, "Items"))) {
        cJSON_Delete(doc);
        return pt__fail(PT_EPARSE, "DynamoDB %s: answer without Items", op);
    }
    last = cJSON_GetObjectItemCaseSensitive(doc, "LastEvaluatedKey");
    if (cJSON_IsObject(last) && !(*next_key = cJSON_PrintUnformatted(last))) {
        cJSON_Delete(doc);
        return pt__fail(PT_ENOMEM, "out of memory");
    }
    *doc_out = doc;
    return PT_OK;
}
