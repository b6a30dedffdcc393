/* Stress: 8 threads x 50,000 pt_track() into the file store through one
 * tracker → exactly 400,000 records stored, every line a valid record.
 * Also built and run under TSan (PT_SANITIZE=thread); PT_STRESS_PER_THREAD
 * in the environment lowers the count for slow builds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "privtrack.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 8

static size_t per_thread = 50000;

typedef struct worker {
    pt_tracker *tracker;
    int index;
    size_t dropped;
    int errors;
} worker;

static const pt_header headers[] = {
    {"User-Agent", "Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 "
                   "Firefox/120.0"}};
static const char *const links[] = {"https://example.org/watch?v=abc&t=1"};
static const char *const files[] = {"Song Title 1.m4a", "Song Title 2.m4a"};

static void *
run(void *arg)
{
    worker *w = arg;
    char addr[32];
    for (size_t i = 0; i < per_thread; i++) {
        pt_visit v = PT_VISIT_INIT;
        pt_track_result r;
        snprintf(addr, sizeof(addr), "10.%d.%zu.%zu", w->index, (i >> 8) & 255,
                 i & 255);
        v.remote_addr = addr;
        v.headers = headers;
        v.header_count = 1;
        v.links = links;
        v.link_count = 1;
        v.filenames = files;
        v.filename_count = 2;
        if (pt_track(w->tracker, &v, &r) != PT_OK)
            w->errors++;
        else if (r.dropped != PT_DROP_NONE)
            w->dropped++;
    }
    return NULL;
}

/* Every line of every day file, parsed as a record. */
static size_t
count_valid_records(const char *dir, size_t *invalid)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t valid = 0;
    char *line = NULL;
    size_t cap = 0;

    *invalid = 0;
    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        char path[600];
        size_t len = strlen(e->d_name);
        ssize_t n;
        FILE *fp;
        if (len < 6 || strcmp(e->d_name + len - 6, ".jsonl") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        fp = fopen(path, "r");
        assert_non_null(fp);
        while ((n = getline(&line, &cap, fp)) > 0) {
            pt_record_list *list;
            assert_int_equal(pt_record_list_new(&list), PT_OK);
            if (line[n - 1] == '\n' &&
                pt_record_list_append_json(list, line, (size_t)n - 1) ==
                    PT_OK &&
                list->count == 1)
                valid++;
            else
                (*invalid)++;
            pt_record_list_free(list);
        }
        fclose(fp);
    }
    free(line);
    closedir(d);
    return valid;
}

static void
test_eight_threads(void **state)
{
    char root[256], store[300], text[1024], cmd[400];
    const char *tmp = getenv("TMPDIR");
    pt_policy *policy;
    pt_tracker *tracker;
    pt_tracker_options o = PT_TRACKER_OPTIONS_INIT;
    pthread_t threads[THREADS];
    worker workers[THREADS];
    pt_counters c;
    struct timespec t0, t1;
    size_t invalid = 0;
    (void)state;

    snprintf(root, sizeof(root), "%s/pt-stress-XXXXXX",
             tmp && *tmp ? tmp : "/tmp");
    assert_non_null(mkdtemp(root));
    snprintf(store, sizeof(store), "%s/store", root);
    snprintf(text, sizeof(text),
             "[policy]\nname = stress\n[storage]\nbackend = file\npath = %s\n"
             "fsync = batch\n[ip]\nmode = truncate\n",
             store);
    assert_int_equal(
        pt_policy_load_buffer(&policy, text, strlen(text), "stress.ini"),
        PT_OK);
    /* Producers outrun an fsync'ing writer: let them wait for room rather
     * than drop, since this test counts every record. */
    o.block_us = 30000000;
    o.batch_size = 500;
    assert_int_equal(pt_tracker_open(&tracker, policy, &o), PT_OK);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < THREADS; i++) {
        workers[i] = (worker){tracker, i, 0, 0};
        assert_int_equal(pthread_create(&threads[i], NULL, run, &workers[i]),
                         0);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        assert_int_equal(workers[i].errors, 0);
        assert_int_equal(workers[i].dropped, 0);
    }
    assert_int_equal(pt_tracker_flush(tracker, 120000), PT_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_int_equal(pt_tracker_counters(tracker, &c), PT_OK);
    assert_int_equal(c.accepted, THREADS * per_thread);
    assert_int_equal(c.stored, THREADS * per_thread);
    assert_int_equal(c.spooled, 0);
    assert_int_equal(c.failures, 0);
    assert_int_equal(pt_tracker_close(tracker, 10000), PT_OK);
    print_message("%zu records in %.2f s\n", THREADS * per_thread,
                  (double)(t1.tv_sec - t0.tv_sec) +
                      (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);

    assert_int_equal(count_valid_records(store, &invalid),
                     THREADS * per_thread);
    assert_int_equal(invalid, 0);
    pt_policy_free(policy);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

int
main(void)
{
    const char *env = getenv("PT_STRESS_PER_THREAD");
    if (env && atol(env) > 0)
        per_thread = (size_t)atol(env);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eight_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
