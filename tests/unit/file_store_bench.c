/*
 * Throughput of the request-path record work and of the file store:
 * pt__record_dup + pt__record_json, and put() in batches with
 * fsync = batch (sync() after every batch, as the writer thread does).
 * Prints one JSON line; not a ctest test (timings vary by machine).
 *
 *   file_store_bench [records] [batch] [fsync] [batches per sync]
 *
 * fsync is never|batch|always; "batches per sync" models a writer that
 * drains several batches from its queue and syncs once (default 1).
 */
#include "record/record.h"
#include "storage/file_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The backend's policy-based open() is not used here; this keeps the
 * probe independent of the policy engine. */
const char *
pt_policy_get(const pt_policy *policy, const char *section, const char *key)
{
    (void)policy;
    (void)section;
    (void)key;
    return NULL;
}

static double
seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
    size_t total = argc > 1 ? strtoul(argv[1], NULL, 10) : 500000;
    size_t batch = argc > 2 ? strtoul(argv[2], NULL, 10) : 25;
    int mode = pt__file_fsync_mode(argc > 3 ? argv[3] : "batch");
    size_t per_sync = argc > 4 ? strtoul(argv[4], NULL, 10) : 1;
    static const char *const links[] = {"https://youtube.com/watch?v=abc"};
    static const char *const titles[] = {"Song Title 1"};
    static const char *const files[] = {"Song Title 1.m4a"};
    char dir[] = "/tmp/pt_bench_XXXXXX", ts[48], sid[40], cmd[64];
    pt_record src;
    pt_record **recs;
    pt_storage *s;
    pt_buf b = PT_BUF_INIT;
    double t0, t_dup, t_json, t_put, t_query;
    pt_record_list *list;
    size_t written;

    if (batch == 0 || per_sync == 0 || mode < 0 || !mkdtemp(dir))
        return 2;
    recs = malloc(total * sizeof(*recs));
    memset(&src, 0, sizeof(src));
    src.date = "2025-01-15";
    src.timestamp = ts;
    src.session_id = sid;
    src.client_ip = "3fa2c1d0e4b5a6978877665544332211";
    src.user_agent = "Firefox/Linux";
    src.num_links_submitted = 1;
    src.num_files_downloaded = 1;
    src.links = links;
    src.link_count = 1;
    src.titles = titles;
    src.title_count = 1;
    src.filenames = files;
    src.filename_count = 1;
    src.ttl = 1713103800;
    src.policy = "default-3fa2c1d0";

    for (size_t i = 0; i < total; i++) {
        snprintf(ts, sizeof(ts), "2025-01-15T14:%02zu:%02zu.%06zu+00:00",
                 i / 3600000 % 60, i / 1000000 % 60, i % 1000000);
        snprintf(sid, sizeof(sid), "1736950200-%08x", (unsigned)i);
        if (pt__record_dup(&recs[i], &src) != PT_OK)
            return 3;
    }
    /* The copy alone, as the request path makes it (and frees it later). */
    t0 = seconds();
    for (size_t i = 0; i < total; i++) {
        pt_record *copy;
        if (pt__record_dup(&copy, recs[i]) != PT_OK)
            return 3;
        pt__record_free(copy);
    }
    t_dup = seconds() - t0;
    t0 = seconds();
    for (size_t i = 0; i < total; i++) {
        pt_buf_clear(&b);
        pt__record_json(&b, recs[i]);
    }
    t_json = seconds() - t0;

    if (pt__file_storage_open_path(&s, dir, mode) != PT_OK)
        return 4;
    t0 = seconds();
    for (size_t i = 0; i < total; i += batch) {
        size_t n = total - i < batch ? total - i : batch;
        if (s->methods->put(s, (const pt_record *const *)recs + i, n, 0,
                            &written) != PT_OK ||
            written != n ||
            ((i / batch + 1) % per_sync == 0 && s->methods->sync(s) != PT_OK)) {
            fprintf(stderr, "put failed: %s\n", s->errmsg);
            return 5;
        }
    }
    if (s->methods->sync(s) != PT_OK)
        return 5;
    t_put = seconds() - t0;
    /* A newest-first query with a small limit reads the whole day. */
    t0 = seconds();
    if (s->methods->query(s, &list, "2025-01-15", 100, 1) != PT_OK ||
        list->count != (total < 100 ? total : 100))
        return 7;
    t_query = seconds() - t0;
    pt_record_list_free(list);
    s->methods->close(s);

    printf("{\"records\":%zu,\"batch\":%zu,\"fsync\":\"%s\","
           "\"batches_per_sync\":%zu,\"dup_per_s\":%.0f,\"json_per_s\":%.0f,"
           "\"put_per_s\":%.0f,\"query_lines_per_s\":%.0f,"
           "\"line_bytes\":%zu}\n",
           total, batch, argc > 3 ? argv[3] : "batch", per_sync, total / t_dup,
           total / t_json, total / t_put, total / t_query, b.len + 1);
    for (size_t i = 0; i < total; i++)
        pt__record_free(recs[i]);
    free(recs);
    pt_buf_free(&b);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 6;
}
