/*
 * The key manager: which period keys a process holds, creating, fetching
 * and destroying them, and the thread that keeps the table current.  See
 * keys.h for the model; storage/key_store.h for where keys live.
 */
#include "keys/keys.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_WANTED 400 /* a year of daily keys and its grace fit */
#define MAX_WAIT_US                                                            \
    (10 * 60 * INT64_C(1000000)) /* refresh at least this often */
#define RETRY_MIN_US (5 * INT64_C(1000000))
#define RETRY_MAX_US (60 * INT64_C(1000000))

struct pt__keys {
    pt_policy *policy;
    pt_rotation rotation;
    unsigned int grace_hours;
    unsigned int hash_bytes;
    unsigned int flags;
    pt__key_store *store;
    pt__wrap_key *wrap;
    pt__key_rcu rcu;
    /* the pseudonyms of the table's keys: wiped whenever a table is
     * replaced, once its readers are gone (NULL: out of memory, every
     * address is hashed) */
    pt__pseudonym_cache *pseudonyms;
    /* refresh, status, destroy and init share the store instance, which
     * is single-threaded */
    pthread_mutex_t store_lock;

    pthread_t thread;
    int has_thread;
    pthread_mutex_t wake_lock;
    pthread_cond_t wake;
    int stop; /* under wake_lock */
};

/* ---- opening and closing ---------------------------------------------------
 */

int
pt__keys_open(pt__keys **out, const pt_policy *policy, const char *storage_path,
              unsigned int flags)
{
    pt__keys *k;
    pthread_condattr_t attr;
    int rc;

    *out = NULL;
    if (pt_policy_rotation(policy) == PT_ROTATE_NEVER)
        return pt__fail(PT_EINVAL, "pt__keys_open: the policy does not rotate "
                                   "its keys");
    if (sodium_init() < 0)
        return pt__fail(PT_ECRYPTO, "libsodium failed to initialise");
    k = calloc(1, sizeof(*k));
    if (!k)
        return pt__fail(PT_ENOMEM, "out of memory");
    k->policy = pt__policy_ref(policy);
    k->rotation = pt_policy_rotation(policy);
    k->grace_hours = pt__policy_key_grace_hours(policy);
    k->hash_bytes = (unsigned int)strtoul(
        pt_policy_get(policy, "ip", "hash_bytes"), NULL, 10);
    k->flags = flags;
    pt__key_rcu_init(&k->rcu);
    k->pseudonyms = pt__pseudonym_cache_new();
    pthread_mutex_init(&k->store_lock, NULL);
    pthread_mutex_init(&k->wake_lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&k->wake, &attr);
    pthread_condattr_destroy(&attr);
    rc = pt__wrap_key_load(&k->wrap, policy);
    if (rc == PT_OK)
        rc = pt__key_store_open(&k->store, policy, storage_path);
    if (rc != PT_OK) {
        pt__keys_close(k);
        return rc;
    }
    *out = k;
    return PT_OK;
}

void
pt__keys_close(pt__keys *k)
{
    if (!k)
        return;
    if (k->has_thread) {
        pthread_mutex_lock(&k->wake_lock);
        k->stop = 1;
        pthread_cond_signal(&k->wake);
        pthread_mutex_unlock(&k->wake_lock);
        pthread_join(k->thread, NULL);
    }
    pt__key_rcu_destroy(&k->rcu);
    pt__pseudonym_cache_free(k->pseudonyms);
    pt__key_store_close(k->store);
    pt__wrap_key_free(k->wrap);
    pt_policy_free(k->policy);
    pthread_mutex_destroy(&k->store_lock);
    pthread_mutex_destroy(&k->wake_lock);
    pthread_cond_destroy(&k->wake);
    free(k);
}

/* ---- the read side ----------------------------------------------------------
 */

unsigned int
pt__keys_enter(pt__keys *k)
{
    return pt__key_rcu_enter(&k->rcu);
}

const pt__ip_key *
pt__keys_find(pt__keys *k, int64_t visit_us, int64_t now_us)
{
    return pt__key_ring_find(pt__key_rcu_read(&k->rcu), k->rotation,
                             k->grace_hours, visit_us, now_us);
}

void
pt__keys_leave(pt__keys *k, unsigned int token)
{
    pt__key_rcu_leave(&k->rcu, token);
}

int
pt__keys_for_time(pt__keys *k, int64_t time_us, int64_t now_us, pt__ip_key *out,
                  int *missing)
{
    unsigned int token = pt__keys_enter(k);
    const pt__ip_key *key = pt__keys_find(k, time_us, now_us);
    int rc = PT_OK;

    *missing = key->missing;
    if (key->missing)
        rc = PT_ENOTFOUND;
    else
        *out = *key;
    out->cache = NULL; /* the copy may outlive the table */
    pt__keys_leave(k, token);
    return rc;
}

/* ---- refreshing -------------------------------------------------------------
 */

/* Due for destruction at `now_us`: its grace has passed, or it ends
 * before the store's "destroyed before". */
static int
is_due(const pt__keys *k, const pt__period *p, int64_t now_us,
       int64_t destroyed_before_us)
{
    return !pt__period_live(p, k->grace_hours, now_us) ||
           p->end_us <= destroyed_before_us;
}

/* A new table; the old one's readers have left when this returns, so
 * the digests of keys it dropped can go with it. */
static void
publish(pt__keys *k, pt__key_ring *ring)
{
    pt__key_rcu_publish(&k->rcu, ring);
    pt__pseudonym_cache_wipe(k->pseudonyms);
}

static void
entry_from_key(pt__keys *k, pt__key_entry *e, const pt__period *p,
               const unsigned char *key, int64_t created, int wrapped)
{
    e->period = *p;
    memcpy(e->key.bytes, key, PT__KEY_BYTES);
    e->key.len = PT__KEY_BYTES;
    e->key.ephemeral = created == 0;
    pt__ip_key_prepare(&e->key, k->hash_bytes);
    e->key.cache = k->pseudonyms;
    e->created = created;
    e->wrapped = wrapped;
}

static const pt__key_entry *
old_entry(const pt__key_ring *old, const pt__period *p)
{
    for (size_t i = 0; old && i < old->count; i++)
        if (pt__period_equal(&old->entries[i].period, p))
            return &old->entries[i];
    return NULL;
}

/* Make a key for `p` and store it; PT_EEXIST when another process was
 * first (the caller reads theirs). */
static int
create_key(pt__keys *k, const pt__period *p, const char *name, int64_t now_us,
           unsigned char *key, pt__key_record *rec)
{
    int rc;

    randombytes_buf(key, PT__KEY_BYTES);
    memset(rec, 0, sizeof(*rec));
    pt__snprintf(rec->name, sizeof(rec->name), "%s", name);
    rec->created = now_us / 1000000;
    rec->expires = pt__period_destroy_after(p, k->grace_hours) / 1000000;
    pt__key_wrap(k->wrap, key, rec);
    rc = k->store->methods->create(k->store, rec);
    if (rc == PT_OK)
        pt__log(PT_LOG_INFO, "keys: created the key of %s in %s%s", name,
                k->store->where, k->wrap ? " (wrapped)" : "");
    return rc;
}

/* The key of a wanted period that the store did not list: created (or
 * the winner's read), an ephemeral one for a dry run, or none. */
static int
fill_missing(pt__keys *k, pt__key_entry *e, const pt__period *p,
             const pt__key_ring *old, int64_t now_us, int *filled)
{
    char name[PT__PERIOD_NAME_MAX];
    unsigned char key[PT__KEY_BYTES];
    pt__key_record rec;
    int rc = PT_OK;

    *filled = 0;
    pt__period_name(p, name);
    if (k->flags & PT__KEYS_DRY_RUN) {
        const pt__key_entry *prev = old_entry(old, p);
        if (prev) {
            *e = *prev; /* the same throw-away key for the whole run */
        } else {
            randombytes_buf(key, sizeof(key));
            entry_from_key(k, e, p, key, 0, 0);
            pt__log(PT_LOG_INFO,
                    "keys: no key for %s in %s: a dry run hashes with an "
                    "ephemeral key (pseudonyms will not match stored ones)",
                    name, k->store->where);
        }
        *filled = 1;
    } else if ((k->flags & PT__KEYS_CREATE) &&
               pt__period_live(p, k->grace_hours,
                               now_us + PT__KEY_CREATE_MARGIN_US)) {
        rc = create_key(k, p, name, now_us, key, &rec);
        if (rc == PT_EEXIST) {
            sodium_memzero(&rec, sizeof(rec));
            rc = k->store->methods->get(k->store, name, &rec);
            if (rc == PT_OK)
                rc = pt__key_unwrap(k->wrap, &rec, k->store->where, key);
        }
        if (rc == PT_OK) {
            entry_from_key(k, e, p, key, rec.created, rec.wrapped);
            *filled = 1;
        }
    }
    sodium_memzero(key, sizeof(key));
    sodium_memzero(&rec, sizeof(rec));
    return rc;
}

/* A record the store listed: destroyed when due, unwrapped into the
 * wanted period's entry when it is one. */
static int
take_record(pt__keys *k, const pt__key_record *rec, const pt__period *wanted,
            size_t nwanted, pt__key_entry *entries, int *filled, int64_t now_us,
            int64_t destroyed_before_us)
{
    unsigned char key[PT__KEY_BYTES];
    pt__period p;
    int rc = PT_OK;

    if (pt__period_parse(rec->name, strlen(rec->name), &p) != 0)
        return PT_OK;
    if (is_due(k, &p, now_us, destroyed_before_us)) {
        if (!(k->flags & PT__KEYS_CREATE))
            return PT_OK;
        rc = k->store->methods->remove(k->store, rec->name);
        if (rc == PT_OK)
            pt__log(PT_LOG_INFO,
                    "keys: destroyed the key of %s in %s (its period and "
                    "key_grace_hours = %u have passed)",
                    rec->name, k->store->where, k->grace_hours);
        return rc;
    }
    for (size_t i = 0; i < nwanted; i++) {
        if (!pt__period_equal(&wanted[i], &p))
            continue;
        rc = pt__key_unwrap(k->wrap, rec, k->store->where, key);
        if (rc == PT_OK) {
            entry_from_key(k, &entries[i], &p, key, rec->created, rec->wrapped);
            filled[i] = 1;
            if (!rec->wrapped && k->wrap)
                pt__log(PT_LOG_WARN,
                        "keys: the key of %s in %s is stored unwrapped (it "
                        "was made before a wrapping key was configured); it "
                        "stays so until it is destroyed",
                        rec->name, k->store->where);
        }
        sodium_memzero(key, sizeof(key));
        break;
    }
    return rc;
}

/* The ring to publish: the filled entries, in period order. */
static pt__key_ring *
build_ring(const pt__key_entry *entries, const int *filled, size_t n,
           int64_t destroyed_before_us)
{
    size_t count = 0;
    pt__key_ring *ring;

    for (size_t i = 0; i < n; i++)
        count += filled[i] != 0;
    ring = pt__key_ring_new(count);
    if (!ring)
        return NULL;
    count = 0;
    for (size_t i = 0; i < n; i++)
        if (filled[i])
            ring->entries[count++] = entries[i];
    ring->destroyed_before_us = destroyed_before_us;
    return ring;
}

/* The store could not be read: keep the keys already held that are not
 * due, drop (and wipe) the others. */
static void
keep_live(pt__keys *k, int64_t now_us)
{
    const pt__key_ring *old = pt__key_rcu_read(&k->rcu);
    pt__key_ring *ring;
    size_t keep = 0;

    if (!old)
        return;
    for (size_t i = 0; i < old->count; i++)
        keep += !is_due(k, &old->entries[i].period, now_us,
                        old->destroyed_before_us);
    if (keep == old->count || !(ring = pt__key_ring_new(keep)))
        return;
    keep = 0;
    for (size_t i = 0; i < old->count; i++)
        if (!is_due(k, &old->entries[i].period, now_us,
                    old->destroyed_before_us))
            ring->entries[keep++] = old->entries[i];
    ring->destroyed_before_us = old->destroyed_before_us;
    publish(k, ring);
}

/* The first failure of a refresh is the one reported: later ones are
 * often its consequences. */
static void
keep_first(int rc, int *first, char *message, size_t size)
{
    if (rc == PT_OK || *first != PT_OK)
        return;
    *first = rc;
    pt__snprintf(message, size, "%s", pt_last_error());
}

static int
refresh_locked(pt__keys *k, int64_t now_us)
{
    pt__period wanted[MAX_WANTED];
    pt__key_entry *entries = NULL;
    pt__key_record *recs = NULL;
    const pt__key_ring *old = pt__key_rcu_read(&k->rcu);
    int filled[MAX_WANTED];
    size_t nrecs = 0, nwanted;
    int64_t destroyed_before = 0;
    pt__key_ring *ring;
    int rc, first = PT_OK;
    char first_error[512] = "";

    nwanted = pt__periods_wanted(k->rotation, k->grace_hours, now_us,
                                 PT__KEY_LOOKAHEAD_US, wanted, MAX_WANTED);
    if (nwanted > MAX_WANTED)
        nwanted = MAX_WANTED;
    rc = k->store->methods->list(k->store, &recs, &nrecs, &destroyed_before);
    if (rc != PT_OK) {
        keep_live(k, now_us);
        return rc;
    }
    entries = calloc(nwanted ? nwanted : 1, sizeof(*entries));
    if (!entries) {
        pt__key_records_free(recs, nrecs);
        return pt__fail(PT_ENOMEM, "out of memory refreshing keys");
    }
    memset(filled, 0, sizeof(filled));
    for (size_t i = 0; i < nrecs; i++) {
        rc = take_record(k, &recs[i], wanted, nwanted, entries, filled, now_us,
                         destroyed_before);
        keep_first(rc, &first, first_error, sizeof(first_error));
    }
    pt__key_records_free(recs, nrecs);
    for (size_t i = 0; i < nwanted; i++) {
        if (filled[i] || wanted[i].end_us <= destroyed_before)
            continue;
        rc = fill_missing(k, &entries[i], &wanted[i], old, now_us, &filled[i]);
        keep_first(rc, &first, first_error, sizeof(first_error));
    }
    ring = build_ring(entries, filled, nwanted, destroyed_before);
    sodium_memzero(entries, (nwanted ? nwanted : 1) * sizeof(*entries));
    free(entries);
    if (!ring)
        return pt__fail(PT_ENOMEM, "out of memory refreshing keys");
    publish(k, ring);
    if (first != PT_OK)
        pt__fail(first, "%s", first_error);
    return first;
}

int
pt__keys_refresh(pt__keys *k, int64_t now_us)
{
    int rc;
    pthread_mutex_lock(&k->store_lock);
    rc = refresh_locked(k, now_us);
    pthread_mutex_unlock(&k->store_lock);
    return rc;
}

/* ---- the thread -------------------------------------------------------------
 */

static void *
keys_main(void *arg)
{
    pt__keys *k = arg;
    int64_t retry = RETRY_MIN_US;

    pthread_mutex_lock(&k->wake_lock);
    while (!k->stop) {
        int64_t now, wait, next;
        struct timespec until;
        int rc;

        pthread_mutex_unlock(&k->wake_lock);
        now = pt__now_us();
        rc = pt__keys_refresh(k, now);
        next = pt__periods_next_change(k->rotation, k->grace_hours, now,
                                       PT__KEY_LOOKAHEAD_US);
        wait = next - now < MAX_WAIT_US ? next - now : MAX_WAIT_US;
        if (rc != PT_OK) {
            pt__log(PT_LOG_WARN, "keys: %s (retrying in %lld s)",
                    pt_last_error(), (long long)(retry / 1000000));
            if (retry < wait)
                wait = retry;
            retry = retry * 2 < RETRY_MAX_US ? retry * 2 : RETRY_MAX_US;
        } else {
            retry = RETRY_MIN_US;
        }
        if (wait < 1000)
            wait = 1000;
        wait += pt__monotonic_us();
        until.tv_sec = (time_t)(wait / 1000000);
        until.tv_nsec = (long)(wait % 1000000) * 1000;
        pthread_mutex_lock(&k->wake_lock);
        while (!k->stop &&
               pthread_cond_timedwait(&k->wake, &k->wake_lock, &until) == 0)
            ;
    }
    pthread_mutex_unlock(&k->wake_lock);
    return NULL;
}

int
pt__keys_start(pt__keys *k)
{
    int rc = pthread_create(&k->thread, NULL, keys_main, k);
    if (rc != 0)
        return pt__fail(PT_ENOMEM, "cannot start the key thread: %s",
                        strerror(rc));
    k->has_thread = 1;
    return PT_OK;
}

/* ---- administration ---------------------------------------------------------
 */

int
pt__keys_init_store(pt__keys *k)
{
    int rc;
    pthread_mutex_lock(&k->store_lock);
    rc = k->store->methods->init(k->store);
    pthread_mutex_unlock(&k->store_lock);
    return rc;
}

static void
key_info(const pt__keys *k, const pt__key_record *rec, const pt__period *p,
         int64_t now_us, int64_t destroyed_before_us, pt_key_info *info)
{
    int64_t destroy = pt__period_destroy_after(p, k->grace_hours);

    memset(info, 0, sizeof(*info));
    info->period.rotation = p->rotation;
    info->period.start = p->start_us / 1000000;
    info->period.end = p->end_us / 1000000;
    pt__period_dates(p, info->period.first_date, info->period.last_date);
    pt__period_name(p, info->period.name);
    info->store = k->store->methods->kind;
    info->location = k->store->where;
    info->wrapped = rec->wrapped;
    info->created = rec->created;
    info->destroy_after = destroy / 1000000;
    if (p->end_us <= destroyed_before_us && destroyed_before_us < destroy)
        info->destroy_after = destroyed_before_us / 1000000;
    info->due = is_due(k, p, now_us, destroyed_before_us);
}

static int
by_start(const void *a, const void *b)
{
    const pt__key_record *x = a, *y = b;
    pt__period px, py;
    pt__period_parse(x->name, strlen(x->name), &px);
    pt__period_parse(y->name, strlen(y->name), &py);
    if (px.start_us != py.start_us)
        return px.start_us < py.start_us ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* The store's records, oldest first, for status and destroy. */
static int
list_sorted(pt__keys *k, pt__key_record **recs, size_t *n, int64_t *before)
{
    int rc = k->store->methods->list(k->store, recs, n, before);
    if (rc == PT_OK && *n > 1)
        qsort(*recs, *n, sizeof(**recs), by_start);
    return rc;
}

int
pt__keys_status(pt__keys *k, int64_t now_us, pt_key_info_fn fn, void *userdata)
{
    pt__key_record *recs = NULL;
    size_t n = 0;
    int64_t before = 0;
    int rc;

    pthread_mutex_lock(&k->store_lock);
    rc = list_sorted(k, &recs, &n, &before);
    pthread_mutex_unlock(&k->store_lock);
    for (size_t i = 0; rc == PT_OK && i < n; i++) {
        pt__period p;
        pt_key_info info;
        if (pt__period_parse(recs[i].name, strlen(recs[i].name), &p) != 0)
            continue;
        key_info(k, &recs[i], &p, now_us, before, &info);
        if (fn)
            fn(&info, userdata);
    }
    pt__key_records_free(recs, n);
    return rc;
}

int
pt__keys_destroy(pt__keys *k, int64_t before, unsigned int flags,
                 int64_t now_us, pt_key_info_fn fn, void *userdata,
                 uint64_t *destroyed)
{
    int due_only = (flags & PT_KEYS_DESTROY_DUE) != 0;
    int list_only = (flags & PT_KEYS_DESTROY_LIST_ONLY) != 0;
    int64_t before_us = before * 1000000, stored_before = 0;
    pt__key_record *recs = NULL;
    size_t n = 0;
    int rc;

    *destroyed = 0;
    if (!due_only && (before < 0 || before > INT64_MAX / 1000000))
        return pt__fail(PT_EINVAL, "bad time %lld", (long long)before);
    if (!due_only) {
        /* Later than the current period's end, the date would also forbid
         * keys for periods that have not begun: there is no one to forget
         * there, and their visits would all lose client_ip until then. */
        pt__period current = pt__period_of(k->rotation, now_us);
        if (before_us > current.end_us) {
            char asked[PT_DATE_LEN + 1], last[PT_DATE_LEN + 1];
            pt__format_date(asked, before_us);
            pt__format_date(last, current.end_us);
            return pt__fail(PT_EINVAL,
                            "%s is after the end of the "
                            "current key period (%s 00:00 UTC): it would "
                            "forbid keys for periods that have not begun, "
                            "and their visits would be stored without "
                            "client_ip; give a date up to %s",
                            asked, last, last);
        }
    }
    pthread_mutex_lock(&k->store_lock);
    rc = list_sorted(k, &recs, &n, &stored_before);
    /* First the marker, then the keys: a process that reads the store in
     * between must not make a new key for a period being destroyed. */
    if (rc == PT_OK && !due_only && !list_only)
        rc = k->store->methods->destroyed_before(k->store, before_us);
    for (size_t i = 0; rc == PT_OK && i < n; i++) {
        pt__period p;
        pt_key_info info;
        if (pt__period_parse(recs[i].name, strlen(recs[i].name), &p) != 0)
            continue;
        if (due_only ? !is_due(k, &p, now_us, stored_before)
                     : p.end_us > before_us)
            continue;
        key_info(k, &recs[i], &p, now_us, stored_before, &info);
        if (!list_only) {
            rc = k->store->methods->remove(k->store, recs[i].name);
            if (rc != PT_OK)
                break;
            pt__log(PT_LOG_INFO, "keys: destroyed the key of %s in %s",
                    recs[i].name, k->store->where);
        }
        (*destroyed)++;
        if (fn)
            fn(&info, userdata);
    }
    pt__key_records_free(recs, n);
    pthread_mutex_unlock(&k->store_lock);
    /* and out of this process's memory now */
    if (rc == PT_OK && !list_only && pt__key_rcu_read(&k->rcu))
        rc = pt__keys_refresh(k, now_us);
    return rc;
}
