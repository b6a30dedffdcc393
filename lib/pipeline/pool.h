/*
 * Record buffers recycled between the producers and the writer.
 *
 * Why: pt__policy_apply() malloc()s each record in the producer's thread
 * and the writer thread freed it.  glibc then grows and trims the
 * producer's arena as the queue fills and drains, and the request path
 * pays for fresh pages (about 2 % of pt_track() calls page-faulted, the
 * p99 tail).  Instead the producer copies each record into a fixed-size
 * slot of a per-tracker slab and frees the policy's copy at once, in its
 * own thread (glibc's thread cache hands the same chunk back on the next
 * call); the writer returns slots to a lock-free LIFO free list.
 *
 * Memory: the slab is reserved with mmap() and only slots that have held a
 * record are resident (mapped 64 KiB at a time, never as huge pages:
 * pool.c says why).  The
 * free list is LIFO, so the resident part is the peak number of records
 * in flight, not the slab size.  A record that does
 * not fit a slot, or arrives when every slot is in flight, stays in its
 * malloc()ed buffer: pt__pool_release() tells the two apart by address.
 */
#ifndef PT_PIPELINE_POOL_H
#define PT_PIPELINE_POOL_H

#include "common/common.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Slot sizes: a typical record (struct, a few links and file names, the
 * user-agent family) takes 400-500 bytes; long URLs need more.  Larger
 * records keep their malloc()ed buffer. */
#define PT__POOL_CLASSES  3
#define PT__POOL_SMALLEST 512 /* then 1024, 2048 */

typedef struct pt__pool_class {
    unsigned char *slab; /* count * slot_size bytes */
    size_t slot_size;
    uint32_t count;
    _Atomic uint32_t *next; /* free-list links, one per slot */
    /* Producers pop and the writer pushes: on a line of its own. */
    _Alignas(64) _Atomic uint64_t head; /* (tag << 32) | (slot + 1); 0 empty */
    _Atomic uint32_t fresh;             /* slots never used so far */
    char pad[64 - sizeof(uint64_t) - sizeof(uint32_t)];
} pt__pool_class;

typedef struct pt__pool {
    unsigned char *base; /* one mapping for every class; NULL: no pool */
    size_t bytes;
    pt__pool_class cls[PT__POOL_CLASSES];
} pt__pool;

/** Reserve `count` slots of each size class (address space only).  With
 *  count == 0 the pool is disabled: adopt() keeps records as they are.
 *  PT_ENOMEM / PT_EINVAL on failure. */
int pt__pool_init(pt__pool *p, size_t count);

/** Unmap the slab.  No record from it may be in use. */
void pt__pool_destroy(pt__pool *p);

/** Move `record` (from pt__record_dup()) into a free slot and free it;
 *  returns the copy, or `record` itself when it does not fit or no slot is
 *  free.  Either way the result is released with pt__pool_release().
 *  Lock-free; any number of threads. */
pt_record *pt__pool_adopt(pt__pool *p, pt_record *record);

/** Release a record returned by pt__pool_adopt() (NULL is a no-op).
 *  Lock-free; any number of threads. */
void pt__pool_release(pt__pool *p, pt_record *record);

/** pt__pool_release() for `count` records (NULLs skipped), returning the
 *  slots with one atomic operation per size class.  Lock-free. */
void pt__pool_release_many(pt__pool *p, pt_record *const *records,
                           size_t count);

/** Non-zero when `record` lives in the pool's slab (tests). */
int pt__pool_owns(const pt__pool *p, const pt_record *record);

#endif
