/* Unit tests for lib/pipeline/pool.c: record slots recycled between the
 * producers (pt_track) and the writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "pipeline/pool.h"
#include "pipeline/queue.h"
#include "record/record.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A record made like the policy makes it (pt__record_dup), with a link of
 * `link_len` bytes so that its size can be chosen. */
static pt_record *
make_record(unsigned int n, size_t link_len)
{
    static const char *const titles[] = {"report"};
    static const char *const files[] = {"report.pdf"};
    char session[32], ts[40], *link = malloc(link_len + 1);
    const char *links[2];
    pt_record r, *out = NULL;

    assert_non_null(link);
    memset(link, 'a' + (char)(n % 26), link_len);
    link[link_len] = '\0';
    links[0] = link;
    links[1] = NULL; /* copied as "" */
    snprintf(session, sizeof(session), "1700000000-%08x", n);
    snprintf(ts, sizeof(ts), "2026-11-25T13:00:00.%06u+00:00", n % 1000000);
    memset(&r, 0, sizeof(r));
    r.date = "2026-11-25";
    r.timestamp = ts;
    r.session_id = session;
    r.client_ip = "198.51.100.0";
    r.user_agent = n % 2 ? "Firefox" : NULL;
    r.links = links;
    r.link_count = 2;
    r.titles = titles;
    r.title_count = 1;
    r.filenames = files;
    r.filename_count = 1;
    r.num_links_submitted = n;
    r.error_count = 3;
    r.has_errors = 1;
    r.ttl = 1800000000;
    r.policy = "default";
    assert_int_equal(pt__record_dup(&out, &r), PT_OK);
    free(link);
    return out;
}

/* The JSON form covers every field: equal JSON, equal records. */
static char *
json_of(const pt_record *r)
{
    pt_buf b = PT_BUF_INIT;
    pt__record_json(&b, r);
    assert_false(b.oom);
    return pt_buf_detach(&b);
}

/* Every pointer of the copy lies in [copy, copy + size). */
static void
assert_inside(const pt_record *r, size_t size)
{
    const char *lo = (const char *)r, *hi = lo + size;
    const char *ptrs[] = {r->date,      r->timestamp, r->session_id,
                          r->client_ip, r->policy,    r->links[0],
                          r->links[1],  r->titles[0], r->filenames[0]};
    for (size_t i = 0; i < sizeof(ptrs) / sizeof(ptrs[0]); i++)
        assert_true(ptrs[i] >= lo && ptrs[i] + strlen(ptrs[i]) < hi);
    if (r->user_agent)
        assert_true(r->user_agent >= lo && r->user_agent < hi);
}

static void
test_disabled_pool_keeps_records(void **state)
{
    pt__pool p;
    pt_record *r = make_record(1, 10);
    (void)state;

    assert_int_equal(pt__pool_init(&p, 0), PT_OK);
    assert_ptr_equal(pt__pool_adopt(&p, r), r);
    assert_false(pt__pool_owns(&p, r));
    pt__pool_release(&p, r); /* free(): ASan checks */
    pt__pool_release(&p, NULL);
    pt__pool_destroy(&p);
}

static void
test_adopt_copies_whole_record(void **state)
{
    pt__pool p;
    (void)state;

    assert_int_equal(pt__pool_init(&p, 4), PT_OK);
    for (unsigned int n = 0; n < 2; n++) {
        pt_record *orig = make_record(n, 40);
        char *want = json_of(orig);
        pt_record *copy = pt__pool_adopt(&p, orig); /* frees orig */
        char *got = json_of(copy);

        assert_true(pt__pool_owns(&p, copy));
        assert_string_equal(got, want);
        assert_int_equal(copy->link_count, 2);
        assert_string_equal(copy->links[1], "");
        assert_int_equal(copy->num_links_submitted, n);
        assert_int_equal(copy->ttl, 1800000000);
        assert_inside(copy, PT__POOL_SMALLEST);
        pt__pool_release(&p, copy);
        free(want);
        free(got);
    }
    pt__pool_destroy(&p);
}

/* Records go to the smallest class they fit; larger ones stay malloc()ed;
 * exhausted classes fall back to malloc() too. */
static void
test_size_classes_and_exhaustion(void **state)
{
    pt__pool p;
    pt_record *small[3], *mid, *big, *huge;
    (void)state;

    assert_int_equal(pt__pool_init(&p, 2), PT_OK);
    mid = pt__pool_adopt(&p, make_record(7, 700));
    big = pt__pool_adopt(&p, make_record(8, 1500));
    huge = pt__pool_adopt(&p, make_record(9, 4000));
    assert_true(pt__pool_owns(&p, mid));
    assert_true(pt__pool_owns(&p, big));
    assert_false(pt__pool_owns(&p, huge));
    assert_inside(mid, 1024);
    assert_inside(big, 2048);
    assert_int_equal(strlen(big->links[0]), 1500);
    assert_int_equal(strlen(huge->links[0]), 4000);
    /* Each class holds its own slots: the 512-byte class is still free. */
    for (int i = 0; i < 3; i++)
        small[i] = pt__pool_adopt(&p, make_record((unsigned)i, 10));
    assert_true(pt__pool_owns(&p, small[0]));
    assert_true(pt__pool_owns(&p, small[1]));
    assert_false(pt__pool_owns(&p, small[2])); /* two slots: exhausted */
    assert_ptr_not_equal(small[0], mid);
    /* LIFO: the slot released last is the next one handed out. */
    pt__pool_release(&p, small[0]);
    pt__pool_release(&p, small[1]);
    small[1] = pt__pool_adopt(&p, make_record(5, 10));
    small[0] = pt__pool_adopt(&p, make_record(6, 10));
    assert_true(pt__pool_owns(&p, small[0]));
    assert_true(pt__pool_owns(&p, small[1]));
    assert_string_equal(small[1]->session_id, "1700000000-00000005");
    for (int i = 0; i < 3; i++)
        pt__pool_release(&p, small[i]);
    pt__pool_release(&p, mid);
    pt__pool_release(&p, big);
    pt__pool_release(&p, huge);
    pt__pool_destroy(&p);
}

/* Releasing many at once: one chain per class, LIFO within it; records
 * outside the slab are freed, NULLs skipped. */
static void
test_release_many(void **state)
{
    pt__pool p;
    pt_record *r[6];
    (void)state;

    assert_int_equal(pt__pool_init(&p, 3), PT_OK);
    r[0] = pt__pool_adopt(&p, make_record(0, 10));
    r[1] = pt__pool_adopt(&p, make_record(1, 700));
    r[2] = NULL;
    r[3] = pt__pool_adopt(&p, make_record(3, 10));
    r[4] = pt__pool_adopt(&p, make_record(4, 5000)); /* malloc()ed */
    r[5] = pt__pool_adopt(&p, make_record(5, 10));
    assert_false(pt__pool_owns(&p, r[4]));
    pt_record *small[3] = {r[0], r[3], r[5]}, *mid = r[1];
    pt__pool_release_many(&p, r, 6);
    /* All three small slots are free again, the last released on top. */
    pt_record *again[4];
    for (int i = 0; i < 4; i++)
        again[i] = pt__pool_adopt(&p, make_record(10 + (unsigned)i, 10));
    assert_ptr_equal(again[0], small[2]);
    assert_ptr_equal(again[1], small[1]);
    assert_ptr_equal(again[2], small[0]);
    assert_false(pt__pool_owns(&p, again[3])); /* class exhausted */
    pt_record *m = pt__pool_adopt(&p, make_record(20, 700));
    assert_ptr_equal(m, mid);
    pt__pool_release_many(&p, again, 4);
    pt__pool_release(&p, m);
    pt__pool_destroy(&p);
}

/* Producers adopt and queue, a consumer checks and releases: every record
 * arrives intact, and no slot is ever handed to two records at once (the
 * consumer would see a record overwritten).  Run under TSan too. */
#define POOL_PRODUCERS    3
#define POOL_PER_PRODUCER 20000
#define POOL_SLOTS        64

typedef struct {
    pt__pool *pool;
    pt__queue *queue;
    unsigned int first;
} producer_arg;

static void *
produce(void *arg)
{
    producer_arg *a = arg;
    for (unsigned int i = 0; i < POOL_PER_PRODUCER; i++) {
        pt_record *r =
            pt__pool_adopt(a->pool, make_record(a->first + i, 1 + i % 900));
        while (!pt__queue_push(a->queue, r))
            sched_yield(); /* full: the consumer frees slots */
    }
    return NULL;
}

static void
test_threads_share_slots(void **state)
{
    pt__pool p;
    pt__queue q;
    pthread_t threads[POOL_PRODUCERS];
    producer_arg args[POOL_PRODUCERS];
    size_t received = 0, owned = 0, nbatch = 0;
    pt_record *batch[8];
    (void)state;

    assert_int_equal(pt__pool_init(&p, POOL_SLOTS), PT_OK);
    assert_int_equal(pt__queue_init(&q, POOL_SLOTS / 2), PT_OK);
    for (int i = 0; i < POOL_PRODUCERS; i++) {
        args[i] = (producer_arg){&p, &q, (unsigned)i * 1000000u};
        assert_int_equal(pthread_create(&threads[i], NULL, produce, &args[i]),
                         0);
    }
    while (received < POOL_PRODUCERS * POOL_PER_PRODUCER) {
        pt_record *r = pt__queue_pop(&q);
        unsigned int n;
        if (!r) {
            sched_yield();
            continue;
        }
        /* The session id and the link were written together: a slot
         * reused under our feet would mix two records. */
        assert_int_equal(sscanf(r->session_id, "1700000000-%x", &n), 1);
        assert_int_equal(strlen(r->links[0]), 1 + (n % 1000000) % 900);
        assert_int_equal(r->links[0][0], 'a' + (char)(n % 26));
        assert_int_equal(r->num_links_submitted, n);
        owned += pt__pool_owns(&p, r) ? 1 : 0;
        /* Single releases and chains of 8, as the writer does. */
        if (received % 3 == 0) {
            pt__pool_release(&p, r);
        } else {
            batch[nbatch++] = r;
            if (nbatch == 8) {
                pt__pool_release_many(&p, batch, nbatch);
                nbatch = 0;
            }
        }
        received++;
    }
    pt__pool_release_many(&p, batch, nbatch);
    for (int i = 0; i < POOL_PRODUCERS; i++)
        pthread_join(threads[i], NULL);
    assert_null(pt__queue_pop(&q));
    assert_true(owned > 0);
    pt__queue_destroy(&q);
    pt__pool_destroy(&p);
}

/* Resident pages of the pool's mapping. */
static size_t
resident_pages(const pt__pool *p)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    size_t pages = (p->bytes + page - 1) / page;
    unsigned char *vec = malloc(pages);
    assert_non_null(vec);
    assert_int_equal(mincore(p->base, p->bytes, vec), 0);
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

/* Whether this kernel maps pages on request (MADV_POPULATE_WRITE, Linux
 * 5.14). */
static int
kernel_populates(void)
{
    int populate = 0;
#ifdef MADV_POPULATE_WRITE
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *probe = mmap(NULL, page, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(probe != MAP_FAILED);
    populate = madvise(probe, page, MADV_POPULATE_WRITE) == 0;
    munmap(probe, page);
#endif
    return populate;
}

/* The slab's pages are mapped a stretch of 64 KiB at a time, when the
 * first slot of the stretch is used (one madvise call instead of a page
 * fault per page), and no further: what is resident follows the records
 * in flight. */
static void
test_pages_mapped_by_stretch(void **state)
{
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    const size_t stretch = 64 * 1024 / page, per_stretch = 64 * 1024 / 512;
    pt_record *held[3 * 128];
    size_t before, n = 0;
    int populate = kernel_populates();
    pt__pool p;
    (void)state;

    assert_int_equal(pt__pool_init(&p, 4096), PT_OK);
    before = resident_pages(&p);
    assert_int_equal(before, 0);
    /* one small record: its stretch at most */
    held[n] = pt__pool_adopt(&p, make_record(0, 10));
    assert_true(pt__pool_owns(&p, held[n++]));
    if (populate)
        assert_true(resident_pages(&p) >= stretch - 1);
    assert_true(resident_pages(&p) <= stretch);
    /* two stretches and a bit: three stretches at most */
    while (n < 2 * per_stretch + 1) {
        held[n] = pt__pool_adopt(&p, make_record((unsigned)n, 10));
        assert_true(pt__pool_owns(&p, held[n++]));
    }
    if (populate)
        assert_true(resident_pages(&p) >= 2 * stretch + stretch - 1);
    assert_true(resident_pages(&p) <= 3 * stretch + 1);
    /* slots come back and are reused: nothing more is mapped */
    pt__pool_release_many(&p, held, n);
    for (size_t i = 0; i < n; i++)
        held[i] = pt__pool_adopt(&p, make_record((unsigned)i, 10));
    assert_true(resident_pages(&p) <= 3 * stretch + 1);
    pt__pool_release_many(&p, held, n);
    pt__pool_destroy(&p);
}

/* Resident pages of [from, to). */
static size_t
resident_in(uintptr_t from, uintptr_t to)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), n = 0;
    size_t pages = (to - from + page - 1) / page;
    unsigned char *vec = malloc(pages);
    assert_non_null(vec);
    assert_int_equal(mincore((void *)from, to - from, vec), 0);
    for (size_t i = 0; i < pages; i++)
        n += vec[i] & 1;
    free(vec);
    return n;
}

/* A class's slab need not start on a 64 KiB boundary, nor on a page: its
 * first slot still maps the rest of its stretch, and only pages of its own
 * slab (the first one perhaps shared with the class before).  The first
 * slot used to be skipped (its stretch starts before it), so the part of
 * the stretch in the slab faulted page by page. */
static void
check_first_stretches(size_t count, int populate)
{
    const uintptr_t stretch = 64 * 1024,
                    page = (uintptr_t)sysconf(_SC_PAGESIZE);
    static const size_t link_len[PT__POOL_CLASSES] = {10, 700, 1500};
    pt_record *held[PT__POOL_CLASSES];
    pt__pool p;

    assert_int_equal(pt__pool_init(&p, count), PT_OK);
    for (int c = 0; c < PT__POOL_CLASSES; c++) {
        held[c] = pt__pool_adopt(&p, make_record((unsigned)c, link_len[c]));
        assert_ptr_equal(held[c], (void *)p.cls[c].slab);
    }
    for (int c = 0; c < PT__POOL_CLASSES; c++) {
        uintptr_t slab = (uintptr_t)p.cls[c].slab;
        uintptr_t slab_end =
            slab + (uintptr_t)p.cls[c].count * p.cls[c].slot_size;
        uintptr_t first_end = slab - slab % stretch + stretch;
        uintptr_t from = slab - slab % page;
        size_t in_slab;
        if (first_end > slab_end)
            first_end = slab_end;
        first_end += (page - first_end % page) % page;
        in_slab = resident_in(from, first_end + stretch);
        if (populate)
            assert_int_equal(in_slab, (first_end - from) / page);
        assert_true(in_slab <= (first_end - from) / page);
    }
    pt__pool_release_many(&p, held, PT__POOL_CLASSES);
    pt__pool_destroy(&p);
}

static void
test_first_stretch_of_a_class_mapped(void **state)
{
    int populate = kernel_populates();
    (void)state;

    /* 4,104 slots of 512 bytes end 4 KiB past a stretch, so the next
     * class starts there whatever the mapping's alignment; 4,097 end
     * mid-page */
    check_first_stretches(4104, populate);
    check_first_stretches(4097, populate);
}

/* The slab never gets transparent huge pages, whatever the system's
 * default: with THP "always", one record made a whole 2 MiB resident
 * (the bounds of the two tests above failed there).  /proc/self/smaps
 * says so with the "nh" flag of the mapping. */
static void
test_slab_without_huge_pages(void **state)
{
    char line[512];
    unsigned long lo, hi, base;
    int in_slab = 0, flagged = -1;
    FILE *f;
    pt__pool p;
    (void)state;

#ifndef MADV_NOHUGEPAGE
    skip();
#endif
    f = fopen("/proc/self/smaps", "r");
    if (!f)
        skip();
    assert_int_equal(pt__pool_init(&p, 4096), PT_OK);
    base = (unsigned long)(uintptr_t)p.base;
    /* the mapping that holds the slab (it may have merged with others) */
    while (fgets(line, sizeof(line), f)) {
        if (strncmp(line, "VmFlags:", 8) == 0) {
            if (in_slab)
                flagged = strstr(line, " nh") != NULL;
        } else if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
            in_slab = lo <= base && base < hi;
        }
    }
    fclose(f);
    assert_int_equal(flagged, 1);
    pt__pool_destroy(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disabled_pool_keeps_records),
        cmocka_unit_test(test_adopt_copies_whole_record),
        cmocka_unit_test(test_size_classes_and_exhaustion),
        cmocka_unit_test(test_release_many),
        cmocka_unit_test(test_threads_share_slots),
        cmocka_unit_test(test_pages_mapped_by_stretch),
        cmocka_unit_test(test_first_stretch_of_a_class_mapped),
        cmocka_unit_test(test_slab_without_huge_pages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
