/*
 * A third-party storage backend for the tracker tests, written against the
 * public header alone: it keeps session ids in memory, can fail a number of
 * puts, fail for good, or hang until released.  Registered as "mem".
 */
#ifndef PT_TEST_TRACKER_BACKEND_H
#define PT_TEST_TRACKER_BACKEND_H

#include "privtrack.h"

#include <pthread.h>

typedef struct mem_state {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    char (*ids)[24]; /* stored session ids, in arrival order */
    size_t count;
    size_t cap;
    int fail_puts;       /* the next N puts fail */
    size_t fail_written; /* ... after storing this many of their records */
    size_t fail_extra;   /* ... and this many more, unreported (allowed:
                          *written counts those stored for certain) */
    int fail_rc;         /* with this code (default PT_ENETWORK) */
    int always_fail;
    int hang;              /* put blocks while set */
    unsigned put_delay_ms; /* each put takes at least this long */
    int in_put;
    unsigned puts, replay_puts, replay_skipped, opens, closes;
} mem_state;

extern mem_state mem;

/** Register "mem" (once) and reset its state. */
void mem_reset(void);
/** Under the lock: how many ids stored; occurrences of one id. */
size_t mem_count(void);
size_t mem_occurrences(const char *id);
void mem_set_hang(int hang);
void mem_set_fail(int puts, int always);
unsigned mem_closes(void);
int mem_in_put(void);

#endif
