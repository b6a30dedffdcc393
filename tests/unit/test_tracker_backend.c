/* The "mem" test backend; see test_tracker_backend.h. */
#include "test_tracker_backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

mem_state mem = {.lock = PTHREAD_MUTEX_INITIALIZER,
                 .cond = PTHREAD_COND_INITIALIZER};

typedef struct mem_storage {
    pt_storage base;
} mem_storage;

static int
mem_open(pt_storage **out, const pt_policy *policy, const char *path)
{
    mem_storage *s = calloc(1, sizeof(*s));
    (void)policy;
    (void)path;
    if (!s)
        return PT_ENOMEM;
    pthread_mutex_lock(&mem.lock);
    mem.opens++;
    pthread_mutex_unlock(&mem.lock);
    *out = &s->base;
    return PT_OK;
}

static int
stored_locked(const char *id)
{
    for (size_t i = 0; i < mem.count; i++)
        if (strcmp(mem.ids[i], id) == 0)
            return 1;
    return 0;
}

static int
store_locked(const char *id)
{
    if (mem.count == mem.cap) {
        size_t cap = mem.cap ? mem.cap * 2 : 1024;
        void *grown = realloc(mem.ids, cap * sizeof(*mem.ids));
        if (!grown)
            return PT_ENOMEM;
        mem.ids = grown;
        mem.cap = cap;
    }
    snprintf(mem.ids[mem.count++], sizeof(mem.ids[0]), "%s", id ? id : "");
    return PT_OK;
}

static int
mem_put(pt_storage *s, const pt_record *const *records, size_t count,
        int replay, size_t *written)
{
    size_t limit = count;
    int rc = PT_OK;

    pthread_mutex_lock(&mem.lock);
    if (mem.put_delay_ms) {
        struct timespec pause = {mem.put_delay_ms / 1000,
                                 (long)(mem.put_delay_ms % 1000) * 1000000};
        nanosleep(&pause, NULL);
    }
    mem.puts++;
    mem.in_put = 1;
    while (mem.hang)
        pthread_cond_wait(&mem.cond, &mem.lock);
    if (replay)
        mem.replay_puts++;
    if (mem.always_fail || mem.fail_puts > 0) {
        if (mem.fail_puts > 0)
            mem.fail_puts--;
        limit = mem.always_fail            ? 0
                : mem.fail_written < count ? mem.fail_written
                                           : count;
        rc = mem.fail_rc ? mem.fail_rc : PT_ENETWORK;
        snprintf(s->errmsg, sizeof(s->errmsg), "mem: injected failure");
    }
    size_t reported = limit;
    if (rc != PT_OK && !mem.always_fail)
        limit = limit + mem.fail_extra < count ? limit + mem.fail_extra : count;
    *written = 0;
    for (size_t i = 0; i < limit; i++) {
        /* Idempotent replay, as the interface asks. */
        if (replay && stored_locked(records[i]->session_id)) {
            mem.replay_skipped++;
        } else if (store_locked(records[i]->session_id) != PT_OK) {
            rc = PT_ENOMEM;
            break;
        }
        if (*written < reported)
            (*written)++;
    }
    mem.in_put = 0;
    pthread_mutex_unlock(&mem.lock);
    return rc;
}

static void
mem_close(pt_storage *s)
{
    pthread_mutex_lock(&mem.lock);
    mem.closes++;
    pthread_mutex_unlock(&mem.lock);
    free(s);
}

/* Version 1, as a backend written before scan() existed: the library must
 * read it through query() and never look at the scan field. */
static const pt_storage_methods mem_methods = {
    1,        "mem",     PT_STORAGE_CAP_IDEMPOTENT,
    mem_open, NULL,      mem_put,
    NULL,     NULL,      NULL,
    NULL,     mem_close, NULL,
    NULL,
};

void
mem_reset(void)
{
    pt_storage_register(&mem_methods);
    pthread_mutex_lock(&mem.lock);
    free(mem.ids);
    mem.ids = NULL;
    mem.count = mem.cap = 0;
    mem.fail_puts = 0;
    mem.fail_written = 0;
    mem.fail_extra = 0;
    mem.fail_rc = 0;
    mem.always_fail = 0;
    mem.hang = 0;
    mem.put_delay_ms = 0;
    mem.in_put = 0;
    mem.puts = mem.replay_puts = mem.replay_skipped = 0;
    mem.opens = mem.closes = 0;
    pthread_mutex_unlock(&mem.lock);
}

size_t
mem_count(void)
{
    size_t n;
    pthread_mutex_lock(&mem.lock);
    n = mem.count;
    pthread_mutex_unlock(&mem.lock);
    return n;
}

size_t
mem_occurrences(const char *id)
{
    size_t n = 0;
    pthread_mutex_lock(&mem.lock);
    for (size_t i = 0; i < mem.count; i++)
        n += strcmp(mem.ids[i], id) == 0;
    pthread_mutex_unlock(&mem.lock);
    return n;
}

void
mem_set_hang(int hang)
{
    pthread_mutex_lock(&mem.lock);
    mem.hang = hang;
    pthread_cond_broadcast(&mem.cond);
    pthread_mutex_unlock(&mem.lock);
}

void
mem_set_fail(int puts, int always)
{
    pthread_mutex_lock(&mem.lock);
    mem.fail_puts = puts;
    mem.always_fail = always;
    pthread_mutex_unlock(&mem.lock);
}

unsigned
mem_closes(void)
{
    unsigned n;
    pthread_mutex_lock(&mem.lock);
    n = mem.closes;
    pthread_mutex_unlock(&mem.lock);
    return n;
}

int
mem_in_put(void)
{
    int n;
    pthread_mutex_lock(&mem.lock);
    n = mem.in_put;
    pthread_mutex_unlock(&mem.lock);
    return n;
}
