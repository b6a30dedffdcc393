/* Recycled record slots; see pool.h for why. */
#include "pipeline/pool.h"

#include "record/record.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int
pt__pool_init(pt__pool *p, size_t count)
{
    size_t total = 0, size = PT__POOL_SMALLEST;
    void *map;

    memset(p, 0, sizeof(*p));
    if (count == 0)
        return PT_OK;
    /* Every class fits: the largest has 2^(classes-1) x smallest bytes. */
    if (count >= UINT32_MAX ||
        count > SIZE_MAX / (PT__POOL_SMALLEST << PT__POOL_CLASSES))
        return pt__fail(PT_EINVAL, "record pool of %zu slots", count);
    for (int c = 0; c < PT__POOL_CLASSES; c++, size *= 2) {
        pt__pool_class *k = &p->cls[c];
        k->next = calloc(count, sizeof(*k->next));
        if (!k->next) {
            pt__pool_destroy(p);
            return pt__fail(PT_ENOMEM, "cannot allocate a record pool");
        }
        k->slot_size = size;
        k->count = (uint32_t)count;
        total += count * size;
    }
    /* mmap, not malloc: pages are resident only once a slot is used. */
    map = mmap(NULL, total, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (map == MAP_FAILED) {
        pt__pool_destroy(p);
        return pt__fail(PT_ENOMEM, "cannot map a record pool of %zu bytes",
                        total);
    }
    /* Where transparent huge pages are on for every mapping (THP
     * "always"), the first record in a 2 MiB stretch would make all of it
     * resident: the slab's memory would no longer follow the records in
     * flight.  Its pages are mapped 64 KiB at a time instead (below). */
#ifdef MADV_NOHUGEPAGE
    (void)madvise(map, total, MADV_NOHUGEPAGE);
#endif
    p->base = map;
    p->bytes = total;
    total = 0;
    for (int c = 0; c < PT__POOL_CLASSES; c++) {
        p->cls[c].slab = p->base + total;
        total += count * p->cls[c].slot_size;
    }
    return PT_OK;
}

void
pt__pool_destroy(pt__pool *p)
{
    if (p->base)
        munmap(p->base, p->bytes);
    for (int c = 0; c < PT__POOL_CLASSES; c++)
        free((void *)p->cls[c].next);
    memset(p, 0, sizeof(*p));
}

int
pt__pool_owns(const pt__pool *p, const pt_record *record)
{
    uintptr_t a = (uintptr_t)record, base = (uintptr_t)p->base;
    return p->base && a >= base && a - base < p->bytes;
}

/* ---- the free list: a Treiber stack of slot indices ----------------------
 * The head carries a tag bumped by every change, so a pop that read
 * next[] of a slot popped and pushed back meanwhile (ABA) fails its CAS.
 * Indices, not pointers: next[] is never freed while the pool lives, so a
 * stale read is harmless.  LIFO keeps the same few slots (and pages) hot. */

static uint64_t
make_head(uint64_t old, uint32_t link)
{
    return (((old >> 32) + 1) << 32) | link;
}

/* Whether slot_get() took a never-used slot. */
static int64_t
slot_get(pt__pool_class *p, int *fresh_slot)
{
    uint64_t old = atomic_load_explicit(&p->head, memory_order_acquire);
    uint32_t fresh;

    *fresh_slot = 0;
    while ((uint32_t)old != 0) {
        uint32_t slot = (uint32_t)old - 1;
        uint32_t next =
            atomic_load_explicit(&p->next[slot], memory_order_relaxed);
        /* acquire: the slot's last user wrote it before its release. */
        if (atomic_compare_exchange_weak_explicit(
                &p->head, &old, make_head(old, next), memory_order_acquire,
                memory_order_acquire))
            return slot;
    }
    /* Never-used slots, in order, once the free list is empty. */
    fresh = atomic_load_explicit(&p->fresh, memory_order_relaxed);
    while (fresh < p->count) {
        if (atomic_compare_exchange_weak_explicit(&p->fresh, &fresh, fresh + 1,
                                                  memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *fresh_slot = 1;
            return fresh;
        }
    }
    return -1;
}

/* Push the chain first -> ... -> last (already linked through next[]). */
static void
chain_put(pt__pool_class *p, uint32_t first, uint32_t last)
{
    uint64_t old = atomic_load_explicit(&p->head, memory_order_relaxed);
    do
        atomic_store_explicit(&p->next[last], (uint32_t)old,
                              memory_order_relaxed);
    while (!atomic_compare_exchange_weak_explicit(
        &p->head, &old, make_head(old, first + 1), memory_order_release,
        memory_order_relaxed));
}

static void
slot_put(pt__pool_class *p, uint32_t slot)
{
    chain_put(p, slot, slot);
}

/* ---- first use of the slab's pages ---------------------------------------
 * Each page of the slab used to be mapped by a page fault on the first
 * record copied into it; in this virtual machine a fault costs 10-20 us,
 * and a bulk import (privtrack record, its queue full) faulted ~1,000
 * times: ~8 % of its reading thread.  The first slot that starts in a new
 * stretch of POPULATE_BYTES maps the whole stretch (its part in the
 * class's slab) with one call
 * (MADV_POPULATE_WRITE, Linux 5.14; elsewhere or on failure, the pages
 * fault in as before).  Only stretches that slots reach are mapped: the
 * resident memory still follows the records in flight (to within one
 * stretch per class).  Mapping a page another thread is writing to
 * changes nothing in it. */
#define POPULATE_BYTES ((size_t)64 * 1024)

static void
populate_from(const pt__pool_class *k, uint32_t slot)
{
#ifdef MADV_POPULATE_WRITE
    uintptr_t slab = (uintptr_t)k->slab;
    uintptr_t at = slab + (uintptr_t)slot * k->slot_size;
    uintptr_t start = at - at % POPULATE_BYTES;
    uintptr_t slab_end = slab + (uintptr_t)k->count * k->slot_size, end;

    /* not the first slot in its stretch; a slab need not start on a
     * stretch, and its first slot maps the part of the stretch it has */
    if (slot != 0 && at - start >= k->slot_size)
        return;
    if (start < slab) /* madvise() takes whole pages */
        start = slab - slab % (uintptr_t)sysconf(_SC_PAGESIZE);
    end = start - start % POPULATE_BYTES + POPULATE_BYTES;
    if (end > slab_end)
        end = slab_end;
    (void)madvise((void *)start, end - start, MADV_POPULATE_WRITE);
#else
    (void)k;
    (void)slot;
#endif
}

/* ---- copying a record into a slot ---------------------------------------- */

static size_t
str_bytes(const char *s)
{
    return s ? strlen(s) + 1 : 0;
}

/* Bytes the copy needs, or SIZE_MAX when over `limit` (stop early). */
static size_t
record_bytes(const pt_record *r, size_t nl, size_t nt, size_t nf, size_t limit)
{
    const char *const *lists[3] = {r->links, r->titles, r->filenames};
    size_t counts[3] = {nl, nt, nf};
    size_t total = sizeof(pt_record);

    if (nl + nt + nf > limit / sizeof(char *))
        return SIZE_MAX;
    total += (nl + nt + nf) * sizeof(char *);
    total += str_bytes(r->date) + str_bytes(r->timestamp) +
             str_bytes(r->session_id) + str_bytes(r->client_ip) +
             str_bytes(r->user_agent) + str_bytes(r->policy);
    for (int l = 0; l < 3 && total <= limit; l++)
        for (size_t i = 0; i < counts[l] && total <= limit; i++)
            total += lists[l][i] ? strlen(lists[l][i]) + 1 : 1;
    return total <= limit ? total : SIZE_MAX;
}

static const char *
put_str(char **cursor, const char *s)
{
    char *dst = *cursor;
    size_t n;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    memcpy(dst, s, n);
    *cursor += n;
    return dst;
}

static const char *const *
put_list(const char **slots, char **cursor, const char *const *items,
         size_t count)
{
    if (count == 0)
        return NULL;
    for (size_t i = 0; i < count; i++)
        slots[i] = put_str(cursor, items[i] ? items[i] : "");
    return slots;
}

/* The same one-block layout as pt__record_dup(): struct, pointer arrays,
 * strings. */
static void
copy_record(pt_record *dst, const pt_record *src, size_t nl, size_t nt,
            size_t nf)
{
    const char **ptrs = (const char **)(void *)(dst + 1);
    char *cursor = (char *)(ptrs + nl + nt + nf);

    *dst = *src;
    dst->date = put_str(&cursor, src->date);
    dst->timestamp = put_str(&cursor, src->timestamp);
    dst->session_id = put_str(&cursor, src->session_id);
    dst->client_ip = put_str(&cursor, src->client_ip);
    dst->user_agent = put_str(&cursor, src->user_agent);
    dst->policy = put_str(&cursor, src->policy);
    dst->links = put_list(ptrs, &cursor, src->links, nl);
    dst->link_count = nl;
    dst->titles = put_list(ptrs + nl, &cursor, src->titles, nt);
    dst->title_count = nt;
    dst->filenames = put_list(ptrs + nl + nt, &cursor, src->filenames, nf);
    dst->filename_count = nf;
}

pt_record *
pt__pool_adopt(pt__pool *p, pt_record *record)
{
    size_t nl, nt, nf, bytes;
    pt__pool_class *k = NULL;
    int64_t slot;
    int fresh_slot;
    pt_record *copy;

    if (!p->base || !record)
        return record;
    nl = record->links ? record->link_count : 0;
    nt = record->titles ? record->title_count : 0;
    nf = record->filenames ? record->filename_count : 0;
    bytes = record_bytes(record, nl, nt, nf,
                         p->cls[PT__POOL_CLASSES - 1].slot_size);
    for (int c = 0; c < PT__POOL_CLASSES && !k; c++)
        if (bytes <= p->cls[c].slot_size)
            k = &p->cls[c];
    if (!k || (slot = slot_get(k, &fresh_slot)) < 0)
        return record;
    if (fresh_slot)
        populate_from(k, (uint32_t)slot);
    copy = (pt_record *)(void *)(k->slab + (size_t)slot * k->slot_size);
    copy_record(copy, record, nl, nt, nf);
    /* Freed in the thread that allocated it: glibc's per-thread cache
     * serves the next record from this chunk, and the arena stays put. */
    pt__record_free(record);
    return copy;
}

/* The class and slot of a record in the slab. */
static void
locate(const pt__pool *p, const pt_record *record, int *cls, uint32_t *slot)
{
    uintptr_t off = (uintptr_t)record - (uintptr_t)p->base;
    int c = 0;

    while (off >= p->cls[c].count * p->cls[c].slot_size) {
        off -= p->cls[c].count * p->cls[c].slot_size;
        c++;
    }
    *cls = c;
    *slot = (uint32_t)(off / p->cls[c].slot_size);
}

void
pt__pool_release(pt__pool *p, pt_record *record)
{
    int c;
    uint32_t slot;

    if (!record)
        return;
    if (!pt__pool_owns(p, record)) {
        pt__record_free(record);
        return;
    }
    locate(p, record, &c, &slot);
    slot_put(&p->cls[c], slot);
}

void
pt__pool_release_many(pt__pool *p, pt_record *const *records, size_t count)
{
    uint32_t first[PT__POOL_CLASSES] = {0}, last[PT__POOL_CLASSES] = {0};
    int used[PT__POOL_CLASSES] = {0};

    /* One chain per class, pushed with one CAS each: the writer does not
     * fight the producers for the head once per record. */
    for (size_t i = 0; i < count; i++) {
        int c;
        uint32_t slot;
        if (!records[i])
            continue;
        if (!pt__pool_owns(p, records[i])) {
            pt__record_free(records[i]);
            continue;
        }
        locate(p, records[i], &c, &slot);
        if (used[c])
            atomic_store_explicit(&p->cls[c].next[slot], first[c] + 1,
                                  memory_order_relaxed);
        else
            last[c] = slot;
        first[c] = slot;
        used[c] = 1;
    }
    for (int c = 0; c < PT__POOL_CLASSES; c++)
        if (used[c])
            chain_put(&p->cls[c], first[c], last[c]);
}
