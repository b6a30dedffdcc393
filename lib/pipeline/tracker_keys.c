/*
 * A tracker's rotating keys ([ip] rotate): opening them, and the calls
 * that administer them (status, destroy, purge, init_storage).
 *
 * A tracker that records (or dry-runs) holds a key manager with its thread
 * for its whole life.  A read-only tracker (query, stats, purge, the
 * `keys` commands) holds none: the calls below open one for the time of
 * the call, which reads the store and creates nothing but what they are
 * asked to change.
 */
#include "pipeline/pipeline.h"

#include <stdlib.h>
#include <string.h>

/* Errors that say the keys are wrong or unsafe, rather than out of reach:
 * they fail the tracker's open instead of being retried. */
static int
is_fatal(int rc)
{
    return rc == PT_EPOLICY || rc == PT_ECRYPTO || rc == PT_EACCESS ||
           rc == PT_ECORRUPT || rc == PT_ENOMEM || rc == PT_EINVAL ||
           rc == PT_EUNSUPPORTED;
}

int
pt__tracker_keys_open(pt_tracker *t)
{
    unsigned int flags = t->dry_run ? PT__KEYS_DRY_RUN : PT__KEYS_CREATE;
    const char *env = getenv("PRIVTRACK_IP_KEY"), *create;
    int rc;

    if (env && *env)
        /* whoever set it expects it used (say, by every host): better an
         * error than keys of another origin */
        return pt__fail(PT_EPOLICY,
                        "PRIVTRACK_IP_KEY is set, but the policy's keys "
                        "rotate ([ip] rotate = %s): unset it, or set [ip] "
                        "rotate = never to keep one key",
                        pt_rotation_name(pt_policy_rotation(t->policy)));
    rc = pt__keys_open(&t->keys, t->policy, t->storage_path, flags);
    if (rc != PT_OK)
        return rc;
    create = pt_policy_get(t->policy, "storage", "create_table");
    if (!t->dry_run && create && strcmp(create, "true") == 0 &&
        pt__keys_init_store(t->keys) != PT_OK)
        /* [storage] create_table: the keys table too, on first use; if it
         * cannot be made now, the refresh below says why */
        pt__log(PT_LOG_DEBUG, "keys: %s", pt_last_error());
    rc = pt__keys_refresh(t->keys, pt__now_us());
    if (rc != PT_OK && is_fatal(rc))
        return rc;
    if (rc != PT_OK)
        /* a store that does not exist yet (init-storage is about to make
         * it, or was forgotten: the counters will say) is no news */
        pt__log(rc == PT_ENOTFOUND ? PT_LOG_INFO : PT_LOG_WARN,
                "keys: %s; visits are recorded without client_ip until "
                "their key can be had (retrying in the background)",
                pt_last_error());
    return pt__keys_start(t->keys);
}

/* The tracker's manager, or one for this call (*temp, closed by the
 * caller). */
static int
keys_for_call(pt_tracker *t, const char *what, pt__keys **keys, pt__keys **temp)
{
    int rc;

    *temp = NULL;
    if (!t)
        return pt__fail(PT_EINVAL, "%s: tracker is NULL", what);
    if (pt__tracker_forked(t))
        return pt__fail(PT_ECLOSED, "%s: tracker opened before fork()", what);
    if (pt_policy_rotation(t->policy) == PT_ROTATE_NEVER) {
        pt__tracker_set_error(t, PT_EUNSUPPORTED,
                              "%s: the policy's keys do not rotate ([ip] "
                              "rotate = never, or mode is not hash)",
                              what);
        return PT_EUNSUPPORTED;
    }
    if (t->keys) {
        *keys = t->keys;
        return PT_OK;
    }
    rc = pt__keys_open(temp, t->policy, t->storage_path, 0);
    if (rc != PT_OK) {
        pt__tracker_set_error(t, rc, "%s: %s", what, pt_last_error());
        return rc;
    }
    *keys = *temp;
    return PT_OK;
}

static int
keys_result(pt_tracker *t, const char *what, int rc, pt__keys *temp)
{
    if (rc != PT_OK)
        pt__tracker_set_error(t, rc, "%s: %s", what, pt_last_error());
    pt__keys_close(temp);
    return rc;
}

int
pt_tracker_keys_status(pt_tracker *t, pt_key_info_fn fn, void *userdata)
{
    pt__keys *keys = NULL, *temp = NULL;
    int rc = keys_for_call(t, "keys status", &keys, &temp);

    if (rc != PT_OK)
        return rc;
    rc = pt__keys_status(keys, pt__now_us(), fn, userdata);
    return keys_result(t, "keys status", rc, temp);
}

int
pt_tracker_keys_destroy(pt_tracker *t, int64_t before, unsigned int flags,
                        pt_key_info_fn fn, void *userdata, uint64_t *destroyed)
{
    pt__keys *keys = NULL, *temp = NULL;
    uint64_t n = 0;
    int rc = keys_for_call(t, "keys destroy", &keys, &temp);

    if (destroyed)
        *destroyed = 0;
    if (rc != PT_OK)
        return rc;
    if (t->dry_run && !(flags & PT_KEYS_DESTROY_LIST_ONLY)) {
        pt__keys_close(temp);
        pt__tracker_set_error(t, PT_EUNSUPPORTED,
                              "keys destroy: a dry-run tracker changes "
                              "nothing");
        return PT_EUNSUPPORTED;
    }
    rc = pt__keys_destroy(keys, before, flags, pt__now_us(), fn, userdata, &n);
    if (destroyed)
        *destroyed = n;
    return keys_result(t, "keys destroy", rc, temp);
}

int
pt__tracker_keys_purge(pt_tracker *t)
{
    pt__keys *keys = NULL, *temp = NULL;
    uint64_t n = 0;
    int rc = keys_for_call(t, "purge", &keys, &temp);

    if (rc != PT_OK)
        return rc;
    rc = pt__keys_destroy(keys, 0, PT_KEYS_DESTROY_DUE, pt__now_us(), NULL,
                          NULL, &n);
    return keys_result(t, "purge", rc, temp);
}

int
pt__tracker_keys_init(pt_tracker *t)
{
    int rc = pt__keys_init_store(t->keys);
    if (rc == PT_OK)
        rc = pt__keys_refresh(t->keys, pt__now_us());
    return rc;
}

int
pt__tracker_key_for_time(pt_tracker *t, int64_t time_us, pt__ip_key *out,
                         int *missing)
{
    pt__keys *keys = NULL, *temp = NULL;
    int rc;

    *missing = PT__KEY_UNAVAILABLE;
    memset(out, 0, sizeof(*out));
    if (pt_policy_rotation(t->policy) == PT_ROTATE_NEVER) {
        /* the one key: the tracker's, or the store's as it is (never an
         * ephemeral one, never created) */
        if (t->key.len && !t->key.ephemeral) {
            *out = t->key;
            out->cache = NULL; /* the copy may outlive the tracker */
        } else {
            rc = pt__ip_key_load(out, t->policy, t->storage_path, 0);
            if (rc != PT_OK)
                return rc;
            if (!out->len || out->ephemeral) {
                pt__ip_key_wipe(out);
                return pt__fail(PT_ENOTFOUND, "no hash key exists in %s",
                                t->storage_path);
            }
        }
        *missing = PT__KEY_PRESENT;
        return PT_OK;
    }
    rc = keys_for_call(t, "key lookup", &keys, &temp);
    if (rc == PT_OK && temp)
        rc = pt__keys_refresh(temp, pt__now_us());
    if (rc == PT_OK)
        rc = pt__keys_for_time(keys, time_us, pt__now_us(), out, missing);
    pt__keys_close(temp);
    return rc;
}
