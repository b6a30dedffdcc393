/* Shared fixture of the file store tests; see file_store_fixture.c. */
#ifndef PT_TEST_FILE_STORE_FIXTURE_H
#define PT_TEST_FILE_STORE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "record/record.h"
#include "storage/file_store.h"
#include "storage/storage.h"

#define DAY "2025-01-15"

/* The policy test double: pt_policy_get() answers [storage] path and
 * fsync from these fields. */
struct pt_policy {
    const char *path;
    const char *fsync;
};

/* Log lines captured at warning level and above (cleared by setup()). */
extern char logged[8192];
void capture_log(pt_log_level level, const char *message, void *userdata);
size_t count_substr(const char *hay, const char *needle);

/* A fresh temporary directory per test; `store` is not created. */
typedef struct fixture {
    char dir[256];   /* temp root, removed afterwards */
    char store[300]; /* <dir>/store, not created */
} fixture;
int setup(void **state);
int teardown(void **state);

typedef struct rec_buf {
    char date[16];
    char ts[40];
    char sid[32];
    pt_record r;
} rec_buf;
/* A record on `date` at second `sec` of the day and microsecond `us`. */
void make_rec(rec_buf *b, const char *date, int sec, int us, const char *sid,
              int64_t ttl);
pt_storage *open_store(const char *dir, int mode);
int put(pt_storage *s, rec_buf *recs, size_t n, int replay, size_t *written);
pt_record_list *query(pt_storage *s, const char *date, size_t limit,
                      int64_t now);
void day_path(const fixture *f, const char *date, char *out, size_t size);
void append_raw(const fixture *f, const char *date, const char *bytes,
                size_t len);
/** A whole file, NUL-terminated (free()); NULL when missing. */
char *slurp(const char *path, size_t *len);

#endif
