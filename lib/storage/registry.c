/* The registry of storage backends, selected by `[storage] backend`. */
#include "storage/storage.h"

#include "policy/policy.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define MAX_BACKENDS 16

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const pt_storage_methods *registry[MAX_BACKENDS];
static size_t registry_count;
static int builtins_done;

/* Called with the lock held. */
static int
register_locked(const pt_storage_methods *methods)
{
    for (size_t i = 0; i < registry_count; i++) {
        if (strcmp(registry[i]->name, methods->name) == 0) {
            registry[i] = methods;
            return PT_OK;
        }
    }
    if (registry_count == MAX_BACKENDS)
        return pt__fail(PT_ENOMEM, "storage registry is full (%d backends)",
                        MAX_BACKENDS);
    registry[registry_count++] = methods;
    return PT_OK;
}

static void
register_builtins_locked(void)
{
    if (builtins_done)
        return;
    builtins_done = 1;
    register_locked(&pt__file_storage_methods);
    register_locked(&pt__dynamodb_storage_methods);
}

int
pt_storage_register(const pt_storage_methods *methods)
{
    int rc;
    if (!methods || !methods->name || !methods->open || !methods->close)
        return pt__fail(PT_EINVAL,
                        "a backend needs a name, open() and close()");
    if (methods->version < 1 || methods->version > PT_STORAGE_METHODS_VERSION)
        return pt__fail(PT_EUNSUPPORTED,
                        "backend '%s' has methods version %u; this library "
                        "knows 1..%u",
                        methods->name, methods->version,
                        PT_STORAGE_METHODS_VERSION);
    pthread_mutex_lock(&registry_lock);
    register_builtins_locked();
    rc = register_locked(methods);
    pthread_mutex_unlock(&registry_lock);
    return rc;
}

const pt_storage_methods *
pt_storage_find(const char *name)
{
    const pt_storage_methods *found = NULL;
    if (!name)
        return NULL;
    pthread_mutex_lock(&registry_lock);
    register_builtins_locked();
    for (size_t i = 0; i < registry_count; i++) {
        if (strcmp(registry[i]->name, name) == 0) {
            found = registry[i];
            break;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    return found;
}

int
pt__storage_open(pt_storage **out, const pt_policy *policy,
                 const char *path_override)
{
    const char *name = pt__policy_backend(policy);
    const pt_storage_methods *m = pt_storage_find(name);
    int rc;

    *out = NULL;
    if (!m)
        return pt__fail(PT_EPOLICY, "unknown storage backend '%s'", name);
    rc = m->open(out, policy, path_override);
    if (rc == PT_OK && *out)
        (*out)->methods = m;
    return rc;
}

int
pt__storage_fail(pt_storage *s, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->errmsg, sizeof(s->errmsg), fmt, ap);
    va_end(ap);
    return pt__fail(code, "%s", s->errmsg);
}

#define UNSUPPORTED(s, what)                                                   \
    pt__storage_fail((s), PT_EUNSUPPORTED, "the %s backend has no %s",         \
                     (s)->methods->name, what)

int
pt__storage_init(pt_storage *s)
{
    return s->methods->init ? s->methods->init(s) : PT_OK;
}

int
pt__storage_put(pt_storage *s, const pt_record *const *records, size_t count,
                int replay, size_t *written)
{
    size_t ignored;
    if (!written)
        written = &ignored;
    *written = 0;
    if (!s->methods->put)
        return UNSUPPORTED(s, "put");
    return s->methods->put(s, records, count, replay, written);
}

int
pt__storage_query(pt_storage *s, pt_record_list **out, const char *date,
                  size_t limit, int64_t now)
{
    *out = NULL;
    if (!s->methods->query ||
        !(s->methods->capabilities & PT_STORAGE_CAP_QUERY))
        return UNSUPPORTED(s, "query");
    return s->methods->query(s, out, date, limit, now);
}

/* A version-1 backend has no scan(): read it date by date through query(),
 * holding one date's records at a time. */
static int
scan_by_query(pt_storage *s, const pt_scan_options *opts, pt_record_fn fn,
              void *userdata)
{
    int newest_first = (opts->flags & PT_SCAN_NEWEST_FIRST) != 0;
    int64_t first, last, step = newest_first ? -1 : 1;
    size_t delivered = 0;
    int rc = PT_OK;

    if (pt__date_days(opts->from, &first) || pt__date_days(opts->to, &last))
        return pt__storage_fail(s, PT_EINVAL, "invalid date range");
    if (newest_first) {
        int64_t t = first;
        first = last;
        last = t;
    }
    for (int64_t day = first; rc == PT_OK; day += step) {
        char date[PT_DATE_LEN + 1];
        pt_record_list *list = NULL;
        size_t limit = opts->limit ? opts->limit - delivered : 0;

        pt__format_date(date, day * 86400 * (int64_t)1000000);
        rc = pt__storage_query(s, &list, date, newest_first ? limit : 0,
                               opts->now);
        for (size_t i = 0; rc == PT_OK && list && i < list->count; i++) {
            /* query() is newest first; oldest first reads it backwards. */
            const pt_record *r =
                &list->records[newest_first ? i : list->count - 1 - i];
            if (r->ttl != 0 && r->ttl < opts->now)
                continue;
            rc = fn(r, userdata);
            if (rc == PT_OK && opts->limit && ++delivered >= opts->limit)
                rc = PT_SCAN_STOP;
        }
        pt_record_list_free(list);
        if (day == last)
            break;
    }
    return rc == PT_SCAN_STOP ? PT_OK : rc;
}

int
pt__storage_scan(pt_storage *s, const pt_scan_options *opts, pt_record_fn fn,
                 void *userdata)
{
    /* The table of a version-1 backend ends before scan: not read. */
    if (s->methods->version >= 2 && s->methods->scan) {
        int rc = s->methods->scan(s, opts, fn, userdata);
        return rc == PT_SCAN_STOP ? PT_OK : rc;
    }
    return scan_by_query(s, opts, fn, userdata);
}

int
pt__storage_rewrite(pt_storage *s, const pt_rewrite_options *opts,
                    pt_rewrite_fn fn, pt_rewrite_day_fn day, void *userdata)
{
    /* The table of a version-1 or 2 backend ends before rewrite. */
    if (s->methods->version < 3 || !s->methods->rewrite)
        return UNSUPPORTED(s, "rewrite (erasing records, removing fields)");
    return s->methods->rewrite(s, opts, fn, day, userdata);
}

int
pt__storage_purge(pt_storage *s, int64_t now, uint64_t *removed)
{
    uint64_t ignored;
    if (!removed)
        removed = &ignored;
    *removed = 0;
    if (!s->methods->purge ||
        !(s->methods->capabilities & PT_STORAGE_CAP_PURGE))
        return UNSUPPORTED(s, "purge");
    return s->methods->purge(s, now, removed);
}

int
pt__storage_sync(pt_storage *s)
{
    return s->methods->sync ? s->methods->sync(s) : PT_OK;
}

void
pt__storage_close(pt_storage *s)
{
    if (s)
        s->methods->close(s);
}
