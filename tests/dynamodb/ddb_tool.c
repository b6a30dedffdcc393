/*
 * A small driver of the DynamoDB backend for the compatibility test
 * (compat.sh): configuration comes from the environment exactly as a
 * policy without [storage] table/region/endpoint would take it.
 *
 *   ddb_tool init
 *   ddb_tool write DATE COUNT   records of DATE; the last two share a time
 *   ddb_tool query DATE LIMIT   one JSON object per line, newest first
 */
#include "storage/dynamodb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
die(pt_storage *s, const char *what, int rc)
{
    fprintf(stderr, "ddb_tool: %s: %s (%s)\n", what,
            s ? s->errmsg : pt_last_error(), pt_err_name(rc));
    return 1;
}

static int
write_records(pt_storage *s, const char *date, int count)
{
    static const char *links[] = {"https://youtube.com/watch?v=abc123",
                                  "https://soundcloud.com/track/xyz"};
    static const char *titles[] = {"Song Title 1", "Song Title 2"};
    static const char *files[] = {"Song Title 1.m4a", "Song Title 2.m4a"};
    pt_record *r = calloc((size_t)count, sizeof(*r));
    const pt_record **p = calloc((size_t)count, sizeof(*p));
    char(*ts)[PT_TIMESTAMP_LEN + 1] = calloc((size_t)count, sizeof(*ts));
    char(*sid)[32] = calloc((size_t)count, sizeof(*sid));
    int64_t base;
    size_t written = 0;
    int rc;

    if (!r || !p || !ts || !sid || pt__parse_iso8601(date, &base) != PT_OK)
        return 1;
    base += 14LL * 3600 * 1000000 + 123456; /* 14:00:00.123456 */
    for (int i = 0; i < count; i++) {
        /* the last two records share one microsecond */
        int64_t t = base + (int64_t)(i < count - 1 ? i : i - 1) * 1000;
        pt__format_timestamp(ts[i], t);
        snprintf(sid[i], sizeof(sid[i]), "%lld-%08x", (long long)(t / 1000000),
                 0xab000000u + (unsigned)i);
        r[i].date = date;
        r[i].timestamp = ts[i];
        r[i].session_id = sid[i];
        r[i].client_ip = "203.0.113.0";
        r[i].user_agent = "Firefox";
        r[i].num_links_submitted = 2;
        r[i].num_files_downloaded = 2;
        r[i].links = links;
        r[i].link_count = 2;
        r[i].titles = titles;
        r[i].title_count = 2;
        r[i].filenames = files;
        r[i].filename_count = 2;
        r[i].has_errors = i % 2;
        r[i].error_count = i % 2;
        r[i].ttl = 4102444800; /* 2100-01-01 */
        r[i].policy = "compat-0123abcd";
        p[i] = &r[i];
    }
    rc = s->methods->put(s, p, (size_t)count, 0, &written);
    free(r);
    free(p);
    free(ts);
    free(sid);
    if (rc != PT_OK || written != (size_t)count)
        return die(s, "put", rc);
    return 0;
}

static int
query(pt_storage *s, const char *date, size_t limit)
{
    pt_record_list *l = NULL;
    int rc = s->methods->query(s, &l, date, limit, 0);
    if (rc != PT_OK)
        return die(s, "query", rc);
    for (size_t i = 0; i < l->count; i++) {
        char *json = NULL;
        if (pt_record_to_json(&json, &l->records[i]) != PT_OK)
            return die(NULL, "json", PT_ENOMEM);
        printf("%s\n", json);
        pt_free(json);
    }
    pt_record_list_free(l);
    return 0;
}

int
main(int argc, char **argv)
{
    pt_storage *s = NULL;
    int rc, status = 2;

    if (argc < 2)
        return 2;
    rc = pt__dynamodb_storage_methods.open(&s, NULL, NULL);
    if (rc != PT_OK)
        return die(NULL, "open", rc);
    s->methods = &pt__dynamodb_storage_methods;
    if (strcmp(argv[1], "init") == 0) {
        rc = s->methods->init(s);
        status = rc == PT_OK ? 0 : die(s, "init", rc);
    } else if (strcmp(argv[1], "write") == 0 && argc == 4) {
        status = write_records(s, argv[2], atoi(argv[3]));
    } else if (strcmp(argv[1], "query") == 0 && argc == 4) {
        status = query(s, argv[2], (size_t)strtoul(argv[3], NULL, 10));
    }
    s->methods->close(s);
    return status;
}
