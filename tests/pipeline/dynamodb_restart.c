/* DynamoDB kill/restart: 20,000 visits tracked into dynalite; dynalite is
 * killed (SIGKILL) a third of the way in and restarted on the same port
 * (its tables persist on disk) two thirds in.  Everything is stored once:
 * the tracker spools during the outage and replays when the server is
 * back.  Run through dynamodb_restart.sh, which provides the server. */
#include "privtrack.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define VISITS 20000

#define CHECK(cond)                                                            \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static int unavailable_lines, available_lines;

static void
on_log(pt_log_level level, const char *message, void *userdata)
{
    (void)userdata;
    pthread_mutex_lock(&log_lock);
    if (level == PT_LOG_WARN && strstr(message, "DynamoDB not available"))
        unavailable_lines++;
    if (strstr(message, "DynamoDB available again"))
        available_lines++;
    pthread_mutex_unlock(&log_lock);
    if (level >= PT_LOG_INFO)
        fprintf(stderr, "[%s] %s\n", pt_log_level_name(level), message);
}

static double
seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
ctl(const char *what)
{
    char cmd[1024];
    const char *port = what[0] == 's' ? getenv("PT_DYNALITE_PORT") : "";
    snprintf(cmd, sizeof(cmd), "bash '%s' %s '%s' %s",
             getenv("PT_DYNALITE_CTL"), what, getenv("PT_DYNALITE_STATE"),
             port ? port : "");
    fprintf(stderr, "-- dynalite %s (t=%.2f)\n", what, seconds());
    CHECK(system(cmd) == 0);
}

static int
by_id(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

int
main(void)
{
    const char *endpoint = getenv("PT_TEST_DYNAMODB_ENDPOINT");
    const char *state = getenv("PT_DYNALITE_STATE");
    char text[1024], date[11], port[16];
    /* keys: "<link>|<session_id>": each visit submits a link of its own
     * (a session id alone is random and may repeat among 20,000; times
     * may move into a free slot when stored) */
    static char ids[VISITS][96], found[VISITS][96];
    pt_policy *policy;
    pt_tracker *t;
    pt_counters c;
    pt_spool_status st;
    pt_record_list *list;
    time_t now = time(NULL);
    struct tm tm;
    int64_t base_us;

    CHECK(endpoint && state);
    snprintf(port, sizeof(port), "%s", strrchr(endpoint, ':') + 1);
    setenv("PT_DYNALITE_PORT", port, 1);
    pt_set_log(on_log, NULL, PT_LOG_INFO);
    /* Visits a few seconds old: current, so that they are stored on slot
     * leases alone, while the spooled ones are replayed (looked up first).
     * Near midnight, noon instead: the visits must stay on one date. */
    now -= 5;
    gmtime_r(&now, &tm);
    if (tm.tm_hour == 23 && tm.tm_min == 59) {
        tm.tm_hour = 12;
        tm.tm_min = tm.tm_sec = 0;
    }
    base_us = (int64_t)timegm(&tm) * 1000000;
    strftime(date, sizeof(date), "%Y-%m-%d", &tm);

    snprintf(text, sizeof(text),
             "[policy]\nname = restart\n"
             "[storage]\nbackend = dynamodb\ntable = pt-restart-%d\n"
             "region = eu-west-3\nendpoint = %s\npath = %s/var\n"
             "[ip]\nmode = truncate\n",
             (int)getpid(), endpoint, state);
    CHECK(pt_policy_load_buffer(&policy, text, strlen(text), "restart.ini") ==
          PT_OK);
    /* Default options: while the server is down the writer must move
     * records to the spool fast enough that the default queue (8192) never
     * fills, so that not one of the 20,000 visits is dropped. */
    CHECK(pt_tracker_open(&t, policy, NULL) == PT_OK);
    if (pt_tracker_init_storage(t) != PT_OK) {
        fprintf(stderr, "init: %s\n", pt_tracker_errmsg(t));
        return 1;
    }

    double start = seconds();
    for (int i = 0; i < VISITS; i++) {
        char link[64];
        const char *const links[] = {link};
        pt_visit v = PT_VISIT_INIT;
        pt_track_result r;
        snprintf(link, sizeof(link), "https://example.org/v%d", i);
        v.remote_addr = "203.0.113.9";
        v.links = links;
        v.link_count = 1;
        v.time_us = base_us + i;
        CHECK(pt_track(t, &v, &r) == PT_OK);
        CHECK(r.dropped == PT_DROP_NONE);
        snprintf(ids[i], sizeof(ids[i]), "%s|%s", link, r.session_id);
        if (i == VISITS / 3)
            ctl("kill");
        if (i == 2 * VISITS / 3) {
            /* The backend retries on its own for a few seconds; keep the
             * server down until the tracker gave up and spooled. */
            for (int w = 0; w < 600; w++) {
                CHECK(pt_tracker_counters(t, &c) == PT_OK);
                if (c.spooled > 0)
                    break;
                struct timespec pause = {0, 100000000};
                nanosleep(&pause, NULL);
            }
            ctl("start");
        }
        if (i % 20 == 19) {
            /* ~4,000 visits/s: a stream, not one burst */
            struct timespec pause = {0, 5000000};
            nanosleep(&pause, NULL);
        }
    }
    fprintf(stderr, "-- tracked %d visits in %.1f s\n", VISITS,
            seconds() - start);
    CHECK(pt_tracker_flush(t, 300000) == PT_OK);
    /* Everything is stored or spooled; wait for the replay to finish. */
    for (int i = 0; i < 3000; i++) {
        CHECK(pt_tracker_spool_status(t, &st) == PT_OK);
        CHECK(pt_tracker_counters(t, &c) == PT_OK);
        if (st.pending_records == 0 && c.replayed >= c.spooled)
            break;
        struct timespec pause = {0, 100000000};
        nanosleep(&pause, NULL);
    }
    CHECK(st.pending_records == 0);
    fprintf(stderr,
            "-- accepted %llu stored %llu spooled %llu replayed %llu retries "
            "%llu failures %llu (%.1f s)\n",
            (unsigned long long)c.accepted, (unsigned long long)c.stored,
            (unsigned long long)c.spooled, (unsigned long long)c.replayed,
            (unsigned long long)c.retries, (unsigned long long)c.failures,
            seconds() - start);
    CHECK(c.accepted == VISITS);
    CHECK(c.spooled > 0); /* the outage really happened */
    CHECK(c.stored + c.spooled == VISITS);
    CHECK(unavailable_lines >= 1);
    CHECK(available_lines >= 1);

    CHECK(pt_tracker_query(t, &list, date, 0) == PT_OK);
    fprintf(stderr, "-- query: %zu records\n", list->count);
    CHECK(list->count == VISITS);
    for (size_t i = 0; i < list->count; i++)
        snprintf(found[i], sizeof(found[i]), "%s|%s",
                 list->records[i].link_count ? list->records[i].links[0] : "",
                 list->records[i].session_id ? list->records[i].session_id
                                             : "");
    pt_record_list_free(list);
    qsort(found, VISITS, sizeof(found[0]), by_id);
    for (int i = 1; i < VISITS; i++)
        CHECK(strcmp(found[i - 1], found[i]) != 0); /* none twice */
    for (int i = 0; i < VISITS; i++)
        CHECK(bsearch(ids[i], found, VISITS, sizeof(found[0]), by_id));
    CHECK(pt_tracker_close(t, 10000) == PT_OK);
    pt_policy_free(policy);
    fprintf(stderr, "-- all %d visits stored exactly once\n", VISITS);
    return 0;
}
