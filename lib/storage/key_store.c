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

int
pt__key_record_set_blob(pt__key_record *rec, const char *wrap, const char *hex)
{
    size_t bin_len = 0;

    if (strcmp(wrap, PT__KEY_WRAP_NONE) == 0)
        rec->wrapped = 0;
    else if (strcmp(wrap, PT__KEY_WRAP_AEAD) == 0)
        rec->wrapped = 1;
    else
        return -1;
    if (sodium_hex2bin(rec->blob, sizeof(rec->blob), hex, strlen(hex), NULL,
                       &bin_len, NULL) != 0 ||
        bin_len != (rec->wrapped ? PT__KEY_BLOB_MAX : PT__KEY_BYTES)) {
        sodium_memzero(rec->blob, sizeof(rec->blob));
        return -1;
    }
    rec->blob_len = bin_len;
    return 0;
}

const char *
pt__key_record_wrap_name(const pt__key_record *rec)
{
    return rec->wrapped ? PT__KEY_WRAP_AEAD : PT__KEY_WRAP_NONE;
}
