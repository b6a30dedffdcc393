/* Placeholder until the DynamoDB backend lands (issue 3): selecting it fails
 * cleanly.  Delete when lib/storage/dynamodb*.c arrives. */
#include "storage/storage.h"

static int
dynamodb_open(pt_storage **out, const pt_policy *policy, const char *path)
{
    (void)policy;
    (void)path;
    *out = NULL;
    return pt__fail(PT_EUNSUPPORTED, "the dynamodb backend is not built yet");
}

static void
dynamodb_close(pt_storage *s)
{
    (void)s;
}

const pt_storage_methods pt__dynamodb_storage_methods = {
    PT_STORAGE_METHODS_VERSION,
    "dynamodb",
    0,
    dynamodb_open,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    dynamodb_close};
