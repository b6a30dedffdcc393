/* privtrack purge, init-storage, spool status|replay: store maintenance. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char purge_help[] =
    "Usage: privtrack purge [OPTIONS]\n"
    "\n"
    "Remove every record whose retention deadline (ttl) has passed.  The "
    "file\n"
    "store rewrites each day file atomically and deletes the day files "
    "that\n"
    "are wholly expired.  Queries already hide expired records; purge "
    "makes\n"
    "them gone.  When keys rotate ([ip] rotate), purge also destroys the\n"
    "keys whose period and key_grace_hours have passed.\n";

static const char init_help[] =
    "Usage: privtrack init-storage [OPTIONS]\n"
    "\n"
    "Create what the storage backend needs, idempotently: the store "
    "directory\n"
    "and the hash key for the file store; the table (waited for until "
    "ACTIVE)\n"
    "and its TTL setting for DynamoDB.  When keys rotate ([ip] rotate), "
    "also\n"
    "the key store (the key directory, or the table <table>-keys with TTL "
    "on\n"
    "`expires`) and the current period's key.\n";

static const char spool_help[] =
    "Usage: privtrack spool status|replay [--timeout SECONDS] [OPTIONS]\n"
    "\n"
    "Records that could not be written to the store wait in a durable "
    "local\n"
    "spool and are replayed, in order and at most once, by the next "
    "tracker.\n"
    "  status           show how many records and bytes are waiting\n"
    "  replay           write them to the store now\n"
    "  --timeout S      give up replaying after S seconds (default 60)\n";

/* Options of the maintenance commands: the common ones, plus --timeout for
 * spool replay.  Returns CLI_OK, a usage exit code, or -1 after --help. */
static int
parse_admin_args(int argc, char **argv, cli_common *common, const char *command,
                 const char *help, uint64_t *timeout)
{
    static const struct option longopts[] = {
        {"timeout", required_argument, NULL, 't'},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    int opt;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'h') {
            printf("%s\n%s", help, cli_common_help);
            return -1;
        }
        if (opt == 't' && timeout) {
            if (cli_parse_uint(optarg, 86400, timeout))
                return cli_usage_error(command,
                                       "%s: --timeout must be a number of "
                                       "seconds, not '%s'",
                                       command, optarg);
            continue;
        }
        return cli_bad_option(command, argv, opt == 't' ? '?' : opt);
    }
    return CLI_OK;
}

static int
no_arguments(int argc, char **argv, const char *command)
{
    if (optind < argc)
        return cli_usage_error(command, "%s: unexpected argument '%s'", command,
                               argv[optind]);
    return CLI_OK;
}

static void
print_destroyed(const pt_key_info *key, void *userdata)
{
    (void)userdata;
    printf("destroyed the key of %s (%s to %s): its period and "
           "key_grace_hours have passed\n",
           key->period.name, key->period.first_date, key->period.last_date);
}

/* The keys that are due, named as they go (pt_tracker_purge() would
 * destroy them too, silently). */
static int
purge_keys(pt_tracker *tracker)
{
    int prc = pt_tracker_keys_destroy(tracker, 0, PT_KEYS_DESTROY_DUE,
                                      print_destroyed, NULL, NULL);
    return prc == PT_OK ? CLI_OK : cli_fail(tracker, prc, "purge");
}

int
cli_cmd_purge(int argc, char **argv, cli_common *common)
{
    pt_policy *policy = NULL;
    pt_tracker *tracker = NULL;
    uint64_t removed = 0;
    int rc = parse_admin_args(argc, argv, common, "purge", purge_help, NULL);
    int prc;

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = no_arguments(argc, argv, "purge")) != CLI_OK)
        return rc;
    cli_setup_logging(common);
    if ((rc = cli_open_tracker(common, 1, &policy, &tracker)) != CLI_OK)
        return rc;
    if (pt_policy_rotation(policy) != PT_ROTATE_NEVER)
        rc = purge_keys(tracker);
    prc = rc == CLI_OK ? pt_tracker_purge(tracker, 0, &removed) : PT_OK;
    if (prc != PT_OK)
        rc = cli_fail(tracker, prc, "purge");
    else if (rc == CLI_OK)
        printf("purged %llu expired record%s\n", (unsigned long long)removed,
               removed == 1 ? "" : "s");
    pt_tracker_close(tracker, 10000);
    pt_policy_free(policy);
    return rc;
}

/* Where the store is, for the message: the directory, or the table (the
 * backend's default order: policy, $DYNAMODB_TABLE_NAME, the seed's
 * name). */
static const char *
storage_location(const cli_common *common, const pt_policy *policy,
                 const char *backend)
{
    const char *where;
    if (backend && strcmp(backend, "dynamodb") == 0) {
        where = pt_policy_get(policy, "storage", "table");
        if (!where || !*where)
            where = getenv("DYNAMODB_TABLE_NAME");
        return where && *where ? where : "link-downloader-visits";
    }
    if (common->storage_path)
        return common->storage_path;
    where = pt_policy_get(policy, "storage", "path");
    return where ? where : "";
}

int
cli_cmd_init_storage(int argc, char **argv, cli_common *common)
{
    pt_policy *policy = NULL;
    pt_tracker *tracker = NULL;
    int rc =
        parse_admin_args(argc, argv, common, "init-storage", init_help, NULL);
    int prc;

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if ((rc = no_arguments(argc, argv, "init-storage")) != CLI_OK)
        return rc;
    cli_setup_logging(common);
    if ((rc = cli_open_tracker(common, 0, &policy, &tracker)) != CLI_OK)
        return rc;
    prc = pt_tracker_init_storage(tracker);
    if (prc != PT_OK) {
        rc = cli_fail(tracker, prc, "init-storage");
    } else {
        const char *backend = pt_policy_get(policy, "storage", "backend");
        printf("storage ready: %s %s\n", backend ? backend : "file",
               storage_location(common, policy, backend));
    }
    pt_tracker_close(tracker, 10000);
    pt_policy_free(policy);
    return rc;
}

static int
spool_status(pt_tracker *tracker)
{
    pt_spool_status st;
    int prc = pt_tracker_spool_status(tracker, &st);
    if (prc != PT_OK)
        return cli_fail(tracker, prc, "spool status");
    printf("spool: %llu record%s pending (%llu bytes)\n",
           (unsigned long long)st.pending_records,
           st.pending_records == 1 ? "" : "s",
           (unsigned long long)st.pending_bytes);
    return CLI_OK;
}

static int
spool_replay(pt_tracker *tracker, uint64_t timeout_s)
{
    uint64_t replayed = 0;
    int prc =
        cli_spool_replay(tracker, "spool replay", timeout_s * 1000, &replayed);
    if (prc != PT_OK) {
        fprintf(stderr,
                "privtrack: spool replay: %llu records replayed "
                "before the failure\n",
                (unsigned long long)replayed);
        return cli_fail(tracker, prc, "spool replay");
    }
    printf("spool: replayed %llu record%s\n", (unsigned long long)replayed,
           replayed == 1 ? "" : "s");
    return CLI_OK;
}

int
cli_cmd_spool(int argc, char **argv, cli_common *common)
{
    pt_tracker *tracker = NULL;
    uint64_t timeout = 60;
    const char *action;
    int rc =
        parse_admin_args(argc, argv, common, "spool", spool_help, &timeout);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    if (optind >= argc)
        return cli_usage_error("spool", "spool: status or replay?");
    action = argv[optind++];
    if (strcmp(action, "status") != 0 && strcmp(action, "replay") != 0)
        return cli_usage_error("spool", "spool: unknown action '%s'", action);
    if ((rc = no_arguments(argc, argv, "spool")) != CLI_OK)
        return rc;
    cli_setup_logging(common);
    if ((rc = cli_open_tracker(common, 0, NULL, &tracker)) != CLI_OK)
        return rc;
    rc = strcmp(action, "status") == 0 ? spool_status(tracker)
                                       : spool_replay(tracker, timeout);
    pt_tracker_close(tracker, 10000);
    return rc;
}
