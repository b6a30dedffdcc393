/* privtrack policy check|show|notice|record, and privtrack version. */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char policy_help[] =
    "Usage: privtrack policy check [--regime NAME]... FILE...\n"
    "       privtrack policy show [--policy FILE]\n"
    "       privtrack policy notice [--format md|html] [--output FILE]\n"
    "       privtrack policy record [--format md|json] [--output FILE]\n"
    "\n"
    "  check FILE...    validate policy files; print every problem (the\n"
    "                   first 100 per file, in line order) as\n"
    "                   FILE:LINE: message, then their number, and exit 1\n"
    "                   when there is one\n"
    "    --regime NAME  also check each file against a regime's rules:\n"
    "                   gdpr-baseline, cnil-exempt, ccpa (repeat it, or\n"
    "                   give a comma-separated list; 'all' for every one);\n"
    "                   each failed rule is FILE:LINE: regime: message\n"
    "                   (source)\n"
    "  show             print the effective policy's id (stored in every\n"
    "                   record), where it comes from and its settings\n"
    "                   after defaults\n"
    "  notice           the privacy notice for the site's visitors, from\n"
    "                   the effective policy and its [notice] section\n"
    "                   (--format md, the default, or html: one\n"
    "                   self-contained page)\n"
    "  record           the record of processing activities, GDPR Art.\n"
    "                   30(1) (--format md, the default, or json)\n"
    "  --output FILE    write the notice or record to FILE (replaced\n"
    "                   atomically, mode 0600) instead of standard output\n"
    "\n"
    "Generated documents and regime checks are not legal advice.\n";

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
    {"ip", "rotate"},
    {"ip", "key_grace_hours"},
    {"ip", "key_store"},
    {"ip", "key_dir"},
    {"ip", "key_wrap_file"},
    {"optout", "honor_dnt"},
    {"optout", "honor_gpc"},
    {"optout", "cookie"},
    {"optout", "action"},
    {"retention", "ttl_days"},
    {"retention", "client_ip_days"},
    {"retention", "user_agent_days"},
    {"retention", "links_days"},
    {"retention", "titles_days"},
    {"retention", "filenames_days"},
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
    {"report", "min_group"},
};

/* The library reports every problem, in line order; a screen of them is
 * enough to start fixing, the rest are counted. */
#define PROBLEMS_SHOWN 100

/* The regimes a --regime value names ("all", or a comma-separated list),
 * appended to `names`.  -1 for an unknown one. */
static int
add_regimes(const char *value, const char **names, size_t *count, size_t max)
{
    const char *p = value;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (unsigned int i = 0; pt_policy_regime_name(i); i++) {
            const char *name = pt_policy_regime_name(i);
            int all = len == 3 && strncmp(p, "all", 3) == 0;
            if (!all && (strlen(name) != len || strncmp(p, name, len) != 0))
                continue;
            found = 1;
            for (size_t j = 0; j < *count; j++)
                if (names[j] == name)
                    name = NULL;
            if (name && *count < max)
                names[(*count)++] = name;
        }
        if (!found)
            return -1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}

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

/* A valid policy whose rotating keys would be stored as they are: whoever
 * reads the key directory or table can then link pseudonyms to addresses
 * (not an error: a warning on stderr). */
static void
warn_unwrapped(const char *path)
{
    pt_policy *policy = NULL;
    const char *wrap, *env = getenv("PRIVTRACK_KEY_WRAP");

    if (pt_policy_load_file(&policy, path) != PT_OK)
        return;
    wrap = pt_policy_get(policy, "ip", "key_wrap_file");
    if (pt_policy_rotation(policy) != PT_ROTATE_NEVER && !(wrap && *wrap) &&
        !(env && *env))
        fprintf(stderr,
                "%s: warning: [ip] rotate = %s without key_wrap_file (or "
                "PRIVTRACK_KEY_WRAP): period keys are stored unencrypted in "
                "the key store, so whoever can read it can link pseudonyms "
                "to addresses\n",
                path, pt_rotation_name(pt_policy_rotation(policy)));
    pt_policy_free(policy);
}

/* One file against the regimes: its problems, or its rule failures. */
static int
check_regimes(const char *path, const char *const *regimes, size_t count)
{
    pt_policy *policy = NULL;
    unsigned int failed = 0;
    int rc = pt_policy_load_file(&policy, path);

    if (rc != PT_OK) {
        cli_error("policy check %s: %s", path,
                  *pt_last_error() ? pt_last_error() : pt_strerror(rc));
        return CLI_USAGE;
    }
    for (size_t i = 0; i < count; i++) {
        unsigned int before = failed;
        pt_policy_check_regime(policy, regimes[i], report_problem, &failed);
        if (failed == before)
            printf("%s: ok (%s)\n", path, regimes[i]);
    }
    pt_policy_free(policy);
    return failed ? CLI_USAGE : CLI_OK;
}

static int
policy_check(int argc, char **argv, const char *const *regimes,
             size_t regime_count)
{
    int rc = CLI_OK;
    if (optind >= argc)
        return cli_usage_error("policy", "policy check: which FILE?");
    for (int i = optind; i < argc; i++) {
        unsigned int problems = 0;
        int prc = pt_policy_check_file(argv[i], report_problem, &problems);
        if (prc == PT_OK) {
            if (regime_count == 0)
                printf("%s: ok\n", argv[i]);
            else if (check_regimes(argv[i], regimes, regime_count) != CLI_OK)
                rc = CLI_USAGE;
            warn_unwrapped(argv[i]);
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
    if (regime_count)
        printf("note: these checks compare settings with published rules; "
               "they are not legal advice.\n");
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

/* What `policy notice` and `policy record` write, by --format. */
static int
document_of(const char *action, const char *format, pt_policy_document *out)
{
    int notice = strcmp(action, "notice") == 0;
    if (!format || strcmp(format, "md") == 0)
        *out = notice ? PT_DOC_NOTICE_MARKDOWN : PT_DOC_RECORD_MARKDOWN;
    else if (notice && strcmp(format, "html") == 0)
        *out = PT_DOC_NOTICE_HTML;
    else if (!notice && strcmp(format, "json") == 0)
        *out = PT_DOC_RECORD_JSON;
    else
        return cli_usage_error("policy",
                               "policy %s: unknown --format '%s' (%s)", action,
                               format, notice ? "md or html" : "md or json");
    return CLI_OK;
}

static int
policy_describe(const cli_common *common, const char *action,
                pt_policy_document document, const char *output)
{
    pt_policy *policy = NULL;
    char *text = NULL;
    int rc = cli_load_policy(common, &policy), prc;

    if (rc != CLI_OK)
        return rc;
    prc = pt_policy_describe(&text, policy, document);
    pt_policy_free(policy);
    if (prc != PT_OK)
        return cli_fail(NULL, prc, action);
    rc = cli_write_output(output, text, strlen(text), action);
    pt_free(text);
    return rc;
}

int
cli_cmd_policy(int argc, char **argv, cli_common *common)
{
    enum { OPT_FORMAT = 0x200, OPT_OUTPUT, OPT_REGIME };
    static const struct option longopts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"format", required_argument, NULL, OPT_FORMAT},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"regime", required_argument, NULL, OPT_REGIME},
        {NULL, 0, NULL, 0}};
    const char *action, *format = NULL, *output = NULL;
    const char *regimes[16];
    size_t regime_count = 0;
    int opt, describes;
    pt_policy_document document = PT_DOC_NOTICE_MARKDOWN;

    cli_getopt_reset();
    while ((opt = getopt_long(argc, argv, ":vh", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'h') {
            printf("%s\n%s", policy_help, cli_common_help);
            return CLI_OK;
        }
        if (opt == OPT_FORMAT) {
            format = optarg;
        } else if (opt == OPT_OUTPUT) {
            output = optarg;
        } else if (opt == OPT_REGIME) {
            if (add_regimes(optarg, regimes, &regime_count,
                            sizeof(regimes) / sizeof(regimes[0])) != 0)
                return cli_usage_error("policy",
                                       "policy check: unknown regime '%s' "
                                       "(gdpr-baseline, cnil-exempt, ccpa "
                                       "or all)",
                                       optarg);
        } else {
            return cli_bad_option("policy", argv, opt);
        }
    }
    if (optind >= argc)
        return cli_usage_error("policy",
                               "policy: check, show, notice or record?");
    action = argv[optind++];
    describes = strcmp(action, "notice") == 0 || strcmp(action, "record") == 0;
    if (regime_count && strcmp(action, "check") != 0)
        return cli_usage_error("policy",
                               "policy %s: --regime is for policy "
                               "check",
                               action);
    if ((format || output) && !describes)
        return cli_usage_error("policy",
                               "policy %s: --format and --output are for "
                               "policy notice and policy record",
                               action);
    cli_setup_logging(common);
    if (strcmp(action, "check") == 0)
        return policy_check(argc, argv, regimes, regime_count);
    if (!describes && strcmp(action, "show") != 0)
        return cli_usage_error("policy", "policy: unknown action '%s'", action);
    if (optind < argc)
        return cli_usage_error("policy",
                               "policy %s: unexpected argument '%s' "
                               "(use --policy FILE)",
                               action, argv[optind]);
    if (!describes)
        return policy_show(common);
    if (document_of(action, format, &document) != CLI_OK)
        return CLI_USAGE;
    return policy_describe(common, action, document, output);
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
