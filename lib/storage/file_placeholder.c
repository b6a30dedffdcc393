/* Placeholder until the file store lands; delete when lib/storage/file*.c
 * arrives. */
#include "storage/storage.h"

static int
file_open(pt_storage **out, const pt_policy *policy, const char *path)
{
    (void)policy;
    (void)path;
    *out = NULL;
    return pt__fail(PT_EUNSUPPORTED, "the file backend is not built yet");
}

static void
file_close(pt_storage *s)
{
    (void)s;
}

const pt_storage_methods pt__file_storage_methods = {PT_STORAGE_METHODS_VERSION,
                                                     "file",
                                                     0,
                                                     file_open,
                                                     NULL,
                                                     NULL,
                                                     NULL,
                                                     NULL,
                                                     NULL,
                                                     NULL,
                                                     file_close};
