/* privtrack subject find|export|erase: a person's records (GDPR Art. 15,
 * 17, 20), through pt_tracker_subject_find() / _erase().  The address given
 * is passed to the library and never printed: the output, the receipt and
 * the errors hold only what the library's result holds. */
#include "cli.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char subject_help[] =
    "Usage: privtrack subject find   --ip ADDR|--session ID [CRITERIA] "
    "[--json]\n"
    "       privtrack subject export --ip ADDR|--session ID [CRITERIA] "
    "[--output FILE]\n"
    "       privtrack subject erase  --ip ADDR|--session ID [CRITERIA] "
    "[--yes] [--json]\n"
    "\n"
    "A person's records: what the store holds about them (find), as one JSON\n"
    "document for them (export), or deleted (erase).  An address is matched\n"
    "as each record's policy stored it: the address itself (ip mode keep),\n"
    "its network (truncate: others on the network look the same), or its\n"
    "keyed pseudonym under the key of the record's date (hash, every key\n"
    "still alive).  Records still in the local spool are found too.  The\n"
    "address is never printed.\n"
    "\n"
    "  --ip ADDR         the person's address (IPv4 or IPv6)\n"
    "  --session ID      one record's session_id\n"
    "  --user-agent UA   only records of this user agent or its browser\n"
    "                    family\n"
    "  --from DATE       first UTC date (default: [retention] ttl_days before\n"
    "                    --to; 366 days without a ttl)\n"
    "  --to DATE         last UTC date (default: today)\n"
    "  --json            find, erase: the JSON document instead of text\n"
    "  --output FILE     export: write to FILE, created 0600 and replaced\n"
    "                    atomically (default: standard output)\n"
    "  --yes             erase: really delete; without it, print what would\n"
    "                    be deleted (counts per date) and exit 1.  Records\n"
    "                    waiting in the spool are replayed first.\n";

typedef struct subject_args {
    const char *verb;
    pt_subject_options opts;
    int json, yes;
    const char *output;
} subject_args;

enum {
    OPT_IP = 0x200,
    OPT_SESSION,
    OPT_USER_AGENT,
    OPT_FROM,
    OPT_TO,
    OPT_JSON,
    OPT_OUTPUT,
    OPT_YES
};

/* Returns CLI_OK, a usage exit code, or -1 after --help. */
static int
parse(int argc, char **argv, cli_common *common, subject_args *a)
{
    static const struct option longopts[] = {
        {"ip", required_argument, NULL, OPT_IP},
        {"session", required_argument, NULL, OPT_SESSION},
        {"user-agent", required_argument, NULL, OPT_USER_AGENT},
        {"from", required_argument, NULL, OPT_FROM},
        {"to", required_argument, NULL, OPT_TO},
        {"json", no_argument, NULL, OPT_JSON},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"yes", no_argument, NULL, OPT_YES},
        CLI_COMMON_LONG_OPTIONS,
        {NULL, 0, NULL, 0}};
    pt_subject_options init = PT_SUBJECT_OPTIONS_INIT;
    int opt;

    memset(a, 0, sizeof(*a));
    a->opts = init;
    if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        fputs(subject_help, argc < 2 ? stderr : stdout);
        fputs(cli_common_help, argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_USAGE : -1;
    }
    a->verb = argv[1];
    if (strcmp(a->verb, "find") != 0 && strcmp(a->verb, "export") != 0 &&
        strcmp(a->verb, "erase") != 0)
        return cli_usage_error("subject", "unknown subject command '%s'",
                               a->verb);
    cli_getopt_reset();
    while ((opt = getopt_long(argc - 1, argv + 1, "+:vh", longopts, NULL)) !=
           -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        switch (opt) {
        case 'h':
            fputs(subject_help, stdout);
            fputs(cli_common_help, stdout);
            return -1;
        case OPT_IP:
            a->opts.ip = optarg;
            break;
        case OPT_SESSION:
            a->opts.session_id = optarg;
            break;
        case OPT_USER_AGENT:
            a->opts.user_agent = optarg;
            break;
        case OPT_FROM:
            a->opts.from = optarg;
            break;
        case OPT_TO:
            a->opts.to = optarg;
            break;
        case OPT_JSON:
            a->json = 1;
            break;
        case OPT_OUTPUT:
            a->output = optarg;
            break;
        case OPT_YES:
            a->yes = 1;
            break;
        default:
            return cli_bad_option("subject", argv + 1, opt);
        }
    }
    if (optind < argc - 1)
        return cli_usage_error("subject", "unexpected argument '%s'",
                               argv[optind + 1]);
    if (!a->opts.ip && !a->opts.session_id)
        return cli_usage_error("subject", "%s: give --ip or --session",
                               a->verb);
    if (a->opts.from && !cli_valid_date(a->opts.from))
        return cli_usage_error("subject",
                               "--from: '%s' is not a date "
                               "(YYYY-MM-DD)",
                               a->opts.from);
    if (a->opts.to && !cli_valid_date(a->opts.to))
        return cli_usage_error("subject",
                               "--to: '%s' is not a date "
                               "(YYYY-MM-DD)",
                               a->opts.to);
    if (a->opts.from && a->opts.to && strcmp(a->opts.from, a->opts.to) > 0)
        return cli_usage_error("subject", "the range %s..%s is reversed",
                               a->opts.from, a->opts.to);
    if (a->output && strcmp(a->verb, "export") != 0)
        return cli_usage_error("subject", "--output is for subject export");
    if (a->yes && strcmp(a->verb, "erase") != 0)
        return cli_usage_error("subject", "--yes is for subject erase");
    return CLI_OK;
}

/* ---- text output ---------------------------------------------------------
 */

static const char *
match_text(unsigned int how)
{
    if (how & PT_SUBJECT_MATCH_NETWORK_PSEUDONYM)
        return "network pseudonym";
    if (how & PT_SUBJECT_MATCH_NETWORK)
        return "network";
    if (how & PT_SUBJECT_MATCH_PSEUDONYM)
        return "pseudonym";
    if (how & PT_SUBJECT_MATCH_ADDRESS)
        return "address";
    return "session_id";
}

/* The caveats of the library's document, one per line. */
static void
print_caveats(FILE *out, const pt_subject_result *r)
{
    char *json = NULL;
    cJSON *doc, *list;
    const cJSON *c;

    if (pt_subject_result_json(&json, r, 0) != PT_OK)
        return;
    doc = cJSON_Parse(json);
    pt_free(json);
    list = doc ? cJSON_GetObjectItemCaseSensitive(doc, "caveats") : NULL;
    cJSON_ArrayForEach(c, list) if (cJSON_IsString(c))
        fprintf(out, "note: %s\n", c->valuestring);
    cJSON_Delete(doc);
}

/* Runs of dates that could not be searched by address, with why. */
static void
print_unsearched(FILE *out, const pt_subject_result *r)
{
    if (!(r->criteria & PT_SUBJECT_MATCH_ADDRESS))
        return;
    for (size_t i = 0; i < r->date_count;) {
        size_t j = i;
        if (r->dates[i].address == PT_SUBJECT_ADDRESS_SEARCHED) {
            i++;
            continue;
        }
        while (j + 1 < r->date_count &&
               r->dates[j + 1].address == r->dates[i].address)
            j++;
        fprintf(out, "not searched by address: %s..%s (%s)\n", r->dates[i].date,
                r->dates[j].date, pt_subject_address_name(r->dates[i].address));
        i = j + 1;
    }
}

static void
print_found(FILE *out, const pt_subject_result *r)
{
    const pt_record_list *l = r->records;

    fprintf(out, "searched %s..%s\n", r->from, r->to);
    print_unsearched(out, r);
    if (l->count)
        fprintf(out, "%-32s  %-20s  %-17s  %-5s  %s\n", "TIMESTAMP", "SESSION",
                "MATCH", "WHERE", "CLIENT");
    for (size_t i = 0; i < l->count; i++) {
        const pt_record *rec = &l->records[i];
        cli_term_put(out, rec->timestamp ? rec->timestamp : "-");
        fputs("  ", out);
        cli_term_put(out, rec->session_id ? rec->session_id : "-");
        fprintf(out, "  %-17s  %-5s  ", match_text(r->match[i]),
                r->match[i] & PT_SUBJECT_MATCH_SPOOL ? "spool" : "store");
        cli_term_put(out, rec->client_ip ? rec->client_ip : "-");
        fputc('\n', out);
    }
    fprintf(out, "%llu record%s found", (unsigned long long)r->found,
            r->found == 1 ? "" : "s");
    if (r->in_spool)
        fprintf(out, " (%llu in the spool)", (unsigned long long)r->in_spool);
    fputc('\n', out);
    print_caveats(out, r);
}

static void
print_erased(FILE *out, const pt_subject_result *r)
{
    const pt_record_list *l = r->records;
    const char *verb = r->erase == 1 ? "deleted" : "would delete";

    fprintf(out, "searched %s..%s\n", r->from, r->to);
    print_unsearched(out, r);
    for (size_t i = 0; i < r->date_count; i++) {
        const pt_subject_date *d = &r->dates[i];
        if (d->rc != PT_OK)
            fprintf(out, "%s: FAILED (%s), %llu deleted before\n", d->date,
                    pt_err_name(d->rc), (unsigned long long)d->deleted);
        else if (d->deleted)
            fprintf(out, "%s: %s %llu\n", d->date, verb,
                    (unsigned long long)d->deleted);
    }
    if (r->erase == 1)
        for (size_t i = 0; i < l->count; i++)
            fprintf(out, "deleted %s %s\n", l->records[i].date,
                    l->records[i].timestamp);
    fprintf(out, "%s %llu record%s in all\n", verb,
            (unsigned long long)r->deleted, r->deleted == 1 ? "" : "s");
    print_caveats(out, r);
}

/* ---- the commands ----------------------------------------------------------
 */

static int
print_json(FILE *out, const pt_subject_result *r, unsigned int flags)
{
    char *json = NULL;
    int rc = pt_subject_result_json(&json, r, flags);
    if (rc != PT_OK)
        return cli_fail(NULL, rc, "subject");
    fputs(json, out);
    pt_free(json);
    return CLI_OK;
}

static int
run_find(const cli_common *common, subject_args *a)
{
    pt_tracker *tracker = NULL;
    pt_subject_result *r = NULL;
    int rc = cli_open_tracker(common, 1, NULL, &tracker);
    int prc;

    if (rc != CLI_OK)
        return rc;
    prc = pt_tracker_subject_find(tracker, &a->opts, &r);
    if (prc != PT_OK) {
        rc = cli_fail(tracker, prc, "subject");
    } else if (strcmp(a->verb, "export") == 0) {
        char *json = NULL;
        if ((prc = pt_subject_result_json(&json, r, PT_SUBJECT_JSON_RECORDS)) !=
            PT_OK)
            rc = cli_fail(NULL, prc, "subject export");
        else
            rc = cli_write_output(a->output, json, strlen(json),
                                  "subject export");
        if (rc == CLI_OK && a->output && strcmp(a->output, "-") != 0)
            fprintf(stderr,
                    "privtrack: subject export: %llu records of %s..%s "
                    "written to %s\n",
                    (unsigned long long)r->found, r->from, r->to, a->output);
        pt_free(json);
    } else if (a->json) {
        rc = print_json(stdout, r, PT_SUBJECT_JSON_RECORDS);
    } else {
        print_found(stdout, r);
    }
    pt_subject_result_free(r);
    pt_tracker_close(tracker, 10000);
    return rc;
}

/* Records waiting in the spool would come back after the erase: replay
 * them first, with a tracker that may write (opened only when needed). */
static int
replay_spool(const cli_common *common, pt_tracker *reader)
{
    pt_spool_status st;
    pt_tracker *writer = NULL;
    uint64_t replayed = 0;
    int rc;

    if (pt_tracker_spool_status(reader, &st) != PT_OK ||
        st.pending_records == 0)
        return CLI_OK;
    if ((rc = cli_open_tracker(common, 0, NULL, &writer)) != CLI_OK)
        return rc;
    rc = cli_spool_replay(writer, "subject erase", 600000, &replayed);
    if (rc != PT_OK)
        rc = cli_fail(writer, rc, "subject erase: cannot replay the spool");
    pt_tracker_close(writer, 10000);
    return rc;
}

static int
run_erase(const cli_common *common, subject_args *a)
{
    pt_tracker *tracker = NULL;
    pt_subject_result *r = NULL;
    int rc = cli_open_tracker(common, 1, NULL, &tracker);
    int prc;

    if (rc != CLI_OK)
        return rc;
    if (!a->yes)
        a->opts.flags |= PT_SUBJECT_LIST_ONLY;
    else if ((rc = replay_spool(common, tracker)) != CLI_OK) {
        pt_tracker_close(tracker, 10000);
        return rc;
    }
    prc = pt_tracker_subject_erase(tracker, &a->opts, &r);
    if (r) {
        if (a->json)
            print_json(stdout, r, 0);
        else
            print_erased(stdout, r);
    }
    if (prc != PT_OK)
        rc = cli_fail(tracker, prc, "subject erase");
    else if (!a->yes) {
        fprintf(stderr, "privtrack: subject erase: nothing deleted; run "
                        "again with --yes to delete\n");
        rc = CLI_USAGE;
    }
    pt_subject_result_free(r);
    pt_tracker_close(tracker, 10000);
    return rc;
}

int
cli_cmd_subject(int argc, char **argv, cli_common *common)
{
    subject_args a;
    int rc = parse(argc, argv, common, &a);

    if (rc != CLI_OK)
        return rc < 0 ? CLI_OK : rc;
    cli_setup_logging(common);
    rc = strcmp(a.verb, "erase") == 0 ? run_erase(common, &a)
                                      : run_find(common, &a);
    if (fflush(stdout) != 0 && rc == CLI_OK) {
        cli_error("subject: cannot write the output: %s", strerror(errno));
        rc = CLI_RUNTIME;
    }
    return rc;
}
