/* privtrack keys status|destroy: the rotating keys of the key store. */
#define _GNU_SOURCE /* strptime, timegm */
#include "cli.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <string.h>
#include <time.h>

static const char keys_help[] =
    "Usage: privtrack keys status [--json] [OPTIONS]\n"
    "       privtrack keys destroy --before YYYY-MM-DD [--yes] [OPTIONS]\n"
    "\n"
    "With [ip] rotate = daily, weekly or monthly, addresses are hashed with a\n"
    "key per period, kept in the key store ([ip] key_store: a directory or\n"
    "the DynamoDB table <table>-keys) and destroyed key_grace_hours after\n"
    "the period ends.  Once a key is destroyed, the pseudonyms of its period\n"
    "can no longer be tied to any address, by anyone.\n"
    "\n"
    "  status           every key in the store: its period, where it is,\n"
    "                   whether it is wrapped, when it was created and when\n"
    "                   it is destroyed (never any key material)\n"
    "  --json           the same as a JSON array\n"
    "  destroy          destroy now every key of the periods that end on or\n"
    "                   before --before's date (00:00 UTC): forget everyone\n"
    "                   before it.  No process makes new keys for those\n"
    "                   periods afterwards.  The date can be at most the end\n"
    "                   of the current period (tomorrow, with daily keys).\n"
    "  --before DATE    the first date whose visits stay linkable\n"
    "  --yes            really destroy; without it, print what would be\n"
    "                   destroyed and exit 1\n";

/* The library's message names the command already ("keys destroy: ..."). */
static int
keys_fail(const pt_tracker *tracker, int pt_code)
{
    const char *detail = pt_tracker_errmsg(tracker);
    cli_error("%s", *detail ? detail : pt_strerror(pt_code));
    return cli_exit_code(pt_code);
}

/* "2025-01-15T00:00:03Z" (21 bytes); "-" when unknown. */
static const char *
utc(char *out, size_t size, int64_t seconds)
{
    struct tm tm;
    time_t t = (time_t)seconds;
    if (seconds <= 0 || !gmtime_r(&t, &tm) ||
        strftime(out, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return "-";
    return out;
}

typedef struct listing {
    int json;
    cJSON *array;
    size_t count;
    const char *verb; /* destroy: "destroyed" or "would destroy" */
} listing;

static void
print_key(const pt_key_info *key, void *userdata)
{
    listing *l = userdata;
    char created[32], destroy[32];
    const char *c = utc(created, sizeof(created), key->created);
    const char *d = utc(destroy, sizeof(destroy), key->destroy_after);

    l->count++;
    if (l->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "period", key->period.name);
        cJSON_AddStringToObject(o, "first_date", key->period.first_date);
        cJSON_AddStringToObject(o, "last_date", key->period.last_date);
        cJSON_AddStringToObject(o, "store", key->store);
        cJSON_AddStringToObject(o, "location", key->location);
        cJSON_AddBoolToObject(o, "wrapped", key->wrapped);
        cJSON_AddStringToObject(o, "created", c);
        cJSON_AddStringToObject(o, "destroy_after", d);
        cJSON_AddBoolToObject(o, "due", key->due);
        cJSON_AddItemToArray(l->array, o);
        return;
    }
    if (l->verb) {
        printf("%s %s (%s to %s)\n", l->verb, key->period.name,
               key->period.first_date, key->period.last_date);
        return;
    }
    if (l->count == 1)
        printf("%-18s %-10s %-10s %-8s %-7s %-20s %s\n", "period", "first",
               "last", "store", "wrapped", "created", "destroy after");
    printf("%-18s %-10s %-10s %-8s %-7s %-20s %s%s\n", key->period.name,
           key->period.first_date, key->period.last_date, key->store,
           key->wrapped ? "yes" : "no", c, d, key->due ? " (due)" : "");
}

static int
keys_status(pt_tracker *tracker, const pt_policy *policy, int json)
{
    listing l = {json, json ? cJSON_CreateArray() : NULL, 0, NULL};
    int prc = pt_tracker_keys_status(tracker, print_key, &l);

    if (prc != PT_OK) {
        cJSON_Delete(l.array);
        return keys_fail(tracker, prc);
    }
    if (json) {
        char *text = cJSON_PrintUnformatted(l.array);
        int ok = text && puts(text) != EOF;
        cJSON_free(text);
        cJSON_Delete(l.array);
        return ok ? CLI_OK : CLI_RUNTIME;
    }
    if (l.count == 0)
        printf("no keys (keys rotate %s; a tracker makes the current "
               "period's key when it starts)\n",
               pt_rotation_name(pt_policy_rotation(policy)));
    return CLI_OK;
}

static int
keys_destroy(pt_tracker *tracker, const char *before, int yes)
{
    listing l = {0, NULL, 0, yes ? "destroyed" : "would destroy"};
    struct tm tm;
    uint64_t n = 0;
    int prc;

    memset(&tm, 0, sizeof(tm));
    if (!before || !cli_valid_date(before) ||
        !strptime(before, "%Y-%m-%d", &tm))
        return cli_usage_error("keys", "keys destroy: --before YYYY-MM-DD is "
                                       "required (a real date)");
    prc = pt_tracker_keys_destroy(tracker, (int64_t)timegm(&tm),
                                  yes ? 0 : PT_KEYS_DESTROY_LIST_ONLY,
                                  print_key, &l, &n);
    if (prc != PT_OK)
        return keys_fail(tracker, prc);
    if (!yes) {
        cli_error("keys destroy: %llu key%s would be destroyed (periods "
                  "ending by %s 00:00 UTC); nothing done without --yes",
                  (unsigned long long)n, n == 1 ? "" : "s", before);
        return CLI_USAGE;
    }
    printf("destroyed %llu key%s; visits before %s can no longer be tied to "
           "an address\n",
           (unsigned long long)n, n == 1 ? "" : "s", before);
    return CLI_OK;
}

int
cli_cmd_keys(int argc, char **argv, cli_common *common)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},
        {"before", required_argument, NULL, 'b'},
        {"yes", no_argument, NULL, 'y'},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    const char *action, *before = NULL;
    pt_policy *policy = NULL;
    pt_tracker *tracker = NULL;
    int opt, json = 0, yes = 0, rc;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'h') {
            printf("%s\n%s", keys_help, cli_common_help);
            return CLI_OK;
        }
        if (opt == 'j')
            json = 1;
        else if (opt == 'b')
            before = optarg;
        else if (opt == 'y')
            yes = 1;
        else
            return cli_bad_option("keys", argv, opt);
    }
    if (optind >= argc)
        return cli_usage_error("keys", "keys: status or destroy?");
    action = argv[optind++];
    if (optind < argc)
        return cli_usage_error("keys", "keys: unexpected argument '%s'",
                               argv[optind]);
    if (strcmp(action, "status") == 0 && (before || yes))
        return cli_usage_error("keys", "keys status: --before and --yes are "
                                       "for keys destroy");
    if (strcmp(action, "destroy") == 0 && json)
        return cli_usage_error("keys", "keys destroy: --json is for keys "
                                       "status");
    if (strcmp(action, "status") != 0 && strcmp(action, "destroy") != 0)
        return cli_usage_error("keys", "keys: unknown action '%s'", action);
    if (strcmp(action, "destroy") == 0 && (!before || !cli_valid_date(before)))
        return cli_usage_error("keys", "keys destroy: --before YYYY-MM-DD is "
                                       "required (a real date)");
    cli_setup_logging(common);
    /* read-only: the store is read (and, for destroy, changed), nothing
     * else is created */
    if ((rc = cli_open_tracker(common, 1, &policy, &tracker)) != CLI_OK)
        return rc;
    rc = strcmp(action, "status") == 0 ? keys_status(tracker, policy, json)
                                       : keys_destroy(tracker, before, yes);
    pt_tracker_close(tracker, 10000);
    pt_policy_free(policy);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_error("keys: cannot write the output");
        rc = CLI_RUNTIME;
    }
    return rc;
}
