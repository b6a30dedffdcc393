/*
 * What the DynamoDB backend's tests against dynalite share: backends on
 * fresh tables, batches of records, reading the table back.  Failures go
 * through cmocka (fail_msg), so these run inside cmocka tests only.
 */
#ifndef PT_TESTS_DDB_FIXTURE_H
#define PT_TESTS_DDB_FIXTURE_H

#include "storage/dynamodb.h"

/** Warnings logged since the test last emptied it. */
extern char ddb_warn_log[4096];

/** Read PT_TEST_DYNAMODB_ENDPOINT (exported by with-dynalite.sh) and route
 *  warnings into ddb_warn_log; -1 (with a message) when it is not set: the
 *  test fails, never skips. */
int ddb_fixture_init(void);

/** A backend on `table` (fast retries), and one on a fresh table with a
 *  unique name, created. */
pt_storage *open_backend(const char *table, unsigned int ttl_days);
pt_storage *fresh_backend(unsigned int ttl_days);

/** Records that all share one time (or spread_batch()'s); each has its
 *  own session id. */
typedef struct batch {
    pt_record *records;
    const pt_record **ptrs;
    char (*sids)[40];
    char ts[PT_TIMESTAMP_LEN + 1];
    char date[PT_DATE_LEN + 1];
    char (*times)[PT_TIMESTAMP_LEN + 1]; /* spread_batch()'s */
    size_t n;
} batch;

void make_batch(batch *b, size_t n, int64_t time_us, const char *tag,
                int64_t ttl);
/** Record i's time becomes start_us + i * step_us (the date stays: keep
 *  them in one day). */
void spread_batch(batch *b, int64_t start_us, int64_t step_us);
void free_batch(batch *b);

pt_record_list *query(pt_storage *s, const char *date, size_t limit,
                      int64_t now);
void assert_newest_first_unique(const pt_record_list *l);
/** How many records of l have session id sid. */
int count_session(const pt_record_list *l, const char *sid);
pt__dynamodb_stats stats_of(pt_storage *s);

#endif
