/* Key stores: choosing one from the policy, and the records' helpers. */
#include "storage/key_store.h"

#include "policy/policy.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

int
pt__key_store_open(pt__key_store **out, const pt_policy *policy,
                   const char *storage_path)
{
    const char *backend = pt__policy_backend(policy);
    const char *dir = pt__policy_key_dir(policy);
    char path[4096];

    *out = NULL;
    if (pt__policy_key_store(policy) == PT_KEY_STORE_BACKEND &&
        strcmp(backend, "file") != 0) {
        if (strcmp(backend, "dynamodb") == 0)
            return pt__key_store_dynamodb_open(out, policy, storage_path);
        return pt__fail(PT_EUNSUPPORTED,
                        "[ip] key_store = backend: the '%s' backend keeps no "
                        "keys; use key_store = file",
                        backend);
    }
    if (!dir) {
        pt__snprintf(path, sizeof(path), "%s/keys",
                     storage_path ? storage_path
                                  : pt__policy_storage_path(policy));
        dir = path;
    }
    return pt__key_store_file_open(out, dir);
}

void
pt__key_store_close(pt__key_store *store)
{
    if (store)
        store->methods->close(store);
}

void
pt__key_records_free(pt__key_record *records, size_t count)
{
    if (!records)
        return;
    sodium_memzero(records, count * sizeof(*records));
    free(records);
}

int
pt__key_records_push(pt__key_record **records, size_t *count, size_t *cap,
                     const pt__key_record *record)
{
    if (*count == *cap) {
        size_t grown_cap = *cap ? 2 * *cap : 8;
        pt__key_record *grown = calloc(grown_cap, sizeof(*grown));
        if (!grown)
            return -1;
        if (*count)
            memcpy(grown, *records, *count * sizeof(*grown));
        /* realloc() would leave the old copy of the secrets unwiped */
        pt__key_records_free(*records, *count);
        *records = grown;
        *cap = grown_cap;
    }
    (*records)[(*count)++] = *record;
    return 0;
}
