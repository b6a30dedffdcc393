/* privtrack policy check|show, and privtrack version. */
#include "cli.h"

#include <getopt.h>
#include <string.h>

static const char policy_help[] =
    "Usage: privtrack policy check FILE...\n"
    "       privtrack policy show [--policy FILE]\n"
    "\n"
    "  check FILE...    validate policy files; print every problem (the\n"
    "                   first 100 per file, in line order) as\n"
    "                   FILE:LINE: message, then their number, and exit 1\n"
    "                   when there is one\n"
    "  show             print the effective policy's id (stored in every\n"
    "                   record), where it comes from and its settings\n"
    "                   after defaults\n";

static const char version_help[] = "Usage: privtrack version\n"
                                   "\n"
                                   "Print the library's version.\n";

/* Every key a policy can set, in policy.ini's order, for `policy show`.
 * Keys this build does not know are skipped (pt_policy_get gives NULL). */
static const char *const policy_keys[][2] = {
    {"policy", "name"},
    {"policy", "dry_run"},
    {"storage", "backend"},
    {"storage", "path"},
    {"storage", "fsync"},
    {"storage", "table"},
    {"storage", "region"},
    {"storage", "endpoint"},
    {"storage", "create_table"},
    {"ip", "mode"},
    {"ip", "ipv4_prefix"},
    {"ip", "ipv6_prefix"},
    {"ip", "truncate_before_hash"},
    {"ip", "hash_bytes"},
    {"ip", "key_file"},
    {"ip", "trusted_proxies"},
    {"optout", "honor_dnt"},
    {"optout", "honor_gpc"},
    {"optout", "cookie"},
    {"optout", "action"},
    {"retention", "ttl_days"},
    {"fields", "user_agent"},
    {"fields", "max_user_agent"},
    {"fields", "links"},
    {"fields", "max_links"},
    {"fields", "max_link_length"},
    {"fields", "titles"},
    {"fields", "filenames"},
    {"fields", "max_filenames"},
    {"fields", "max_filename_length"},
    {"audit", "dry_run"},
    {"audit", "output"},
    {"audit", "show_raw"},
    {"notice", "controller"},
    {"notice", "contact"},
    {"notice", "purpose"},
    {"notice", "url"},
};

/* The library reports every problem, in line order; a screen of them is
 * enough to start fixing, the rest are counted. */
#define PROBLEMS_SHOWN 100

static void
report_problem(const char *file, unsigned int line, const char *message,
               void *userdata)
{
    unsigned int *count = userdata;
    if (++*count > PROBLEMS_SHOWN)
        return;
    if (line)
        fprintf(stderr, "%s:%u: %s\n", file, line, message);
    else
        fprintf(stderr, "%s: %s\n", file, message);
}

static int
policy_check(int argc, char **argv)
{
    int rc = CLI_OK;
    if (optind >= argc)
        return cli_usage_error("policy", "policy check: which FILE?");
    for (int i = optind; i < argc; i++) {
        unsigned int problems = 0;
        int prc = pt_policy_check_file(argv[i], report_problem, &problems);
        if (prc == PT_OK) {
            printf("%s: ok\n", argv[i]);
            continue;
        }
        if (problems > PROBLEMS_SHOWN)
            fprintf(stderr, "%s: %u more problem%s not shown\n", argv[i],
                    problems - PROBLEMS_SHOWN,
                    problems - PROBLEMS_SHOWN == 1 ? "" : "s");
        if (problems == 0)
            cli_error("policy check %s: %s", argv[i],
                      *pt_last_error() ? pt_last_error() : pt_strerror(prc));
        else
            fprintf(stderr, "%s: %u problem%s\n", argv[i], problems,
                    problems == 1 ? "" : "s");
        rc = CLI_USAGE;
    }
    return rc;
}

static int
policy_show(const cli_common *common)
{
    pt_policy *policy = NULL;
    const char *section = "";
    int rc = cli_load_policy(common, &policy);

    if (rc != CLI_OK)
        return rc;
    printf("%s\n", pt_policy_id(policy));
    printf("; source: %s\n", cli_policy_source(common));
    for (size_t i = 0; i < sizeof(policy_keys) / sizeof(policy_keys[0]); i++) {
        const char *value =
            pt_policy_get(policy, policy_keys[i][0], policy_keys[i][1]);
        if (!value)
            continue;
        if (strcmp(section, policy_keys[i][0]) != 0) {
            section = policy_keys[i][0];
            printf("[%s]\n", section);
        }
        printf("%s =%s%s\n", policy_keys[i][1], *value ? " " : "", value);
    }
    pt_policy_free(policy);
    return CLI_OK;
}

int
cli_cmd_policy(int argc, char **argv, cli_common *common)
{
    static const struct option longopts[] = {CLI_COMMON_LONG_OPTIONS,
                                             {NULL, 0, NULL, 0}};
    const char *action;
    int opt;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'h') {
            printf("%s\n%s", policy_help, cli_common_help);
            return CLI_OK;
        }
        return cli_bad_option("policy", argv, opt);
    }
    if (optind >= argc)
        return cli_usage_error("policy", "policy: check or show?");
    action = argv[optind++];
    cli_setup_logging(common);
    if (strcmp(action, "check") == 0)
        return policy_check(argc, argv);
    if (strcmp(action, "show") == 0) {
        if (optind < argc)
            return cli_usage_error("policy",
                                   "policy show: unexpected argument '%s' "
                                   "(use --policy FILE)",
                                   argv[optind]);
        return policy_show(common);
    }
    return cli_usage_error("policy", "policy: unknown action '%s'", action);
}

int
cli_cmd_version(int argc, char **argv, cli_common *common)
{
    (void)common;
    if (argc > 1 &&
        (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        fputs(version_help, stdout);
        return CLI_OK;
    }
    if (argc > 1)
        return cli_usage_error("version", "version: unexpected argument '%s'",
                               argv[1]);
    printf("privtrack %s\n", pt_version());
    return CLI_OK;
}
