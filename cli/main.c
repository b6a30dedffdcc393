/*
 * privtrack — the command.  Dispatches to one file per command (cmd_*.c).
 *
 *   privtrack [--policy FILE] [--storage PATH] [-v] COMMAND [ARGS]
 *
 * The shared options may come before the command or among its arguments.
 */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <string.h>

static const cli_command commands[] = {
    {"record", "apply the policy to visits (JSON lines) and store them",
     cli_cmd_record},
    {"query", "show records of a date or range, newest first", cli_cmd_query},
    {"stats", "visits, unique visitors, top titles... of a date or range",
     cli_cmd_stats},
    {"export", "records of a date or range as a JSON array", cli_cmd_export},
    {"report", "statistics of a date or range as an HTML page", cli_cmd_report},
    {"purge", "remove expired records (ttl in the past)", cli_cmd_purge},
    {"init-storage", "create the store (directory or table) and its keys",
     cli_cmd_init_storage},
    {"policy", "check a policy file, or show the effective policy",
     cli_cmd_policy},
    {"spool", "show or replay records waiting in the local spool",
     cli_cmd_spool},
    {"subject",
     "find, export or erase a person's records (data-subject "
     "requests)",
     cli_cmd_subject},
    {"keys", "show or destroy the rotating keys of address pseudonyms",
     cli_cmd_keys},
    {"version", "print the version", cli_cmd_version},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
print_help(FILE *out)
{
    fprintf(out,
            "Usage: privtrack [OPTIONS] COMMAND [ARGS]\n"
            "\n"
            "Record web visits under a privacy policy, and read them back.\n"
            "\n"
            "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-14s %s\n", commands[i].name, commands[i].summary);
    fprintf(out,
            "\n%s\n"
            "'privtrack COMMAND --help' describes a command.\n"
            "Exit status: 0 success, 1 usage or configuration error, 2 "
            "runtime failure.\n",
            cli_common_help);
}

/* Shared options before the command; returns the command's index in argv,
 * or a negative exit code (-1 - code) when the run is over. */
static int
parse_global(int argc, char **argv, cli_common *common)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONG_OPTIONS,
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int opt;

    cli_getopt_reset();
    /* "+": stop at the command, whose own options come after it. */
    while ((opt = getopt_long(argc, argv, "+:vh", longopts, NULL)) != -1) {
        if (cli_common_option(opt, optarg, common))
            continue;
        if (opt == 'h') {
            print_help(stdout);
            return -1 - CLI_OK;
        }
        if (opt == 'V') {
            printf("privtrack %s\n", pt_version());
            return -1 - CLI_OK;
        }
        return -1 - cli_bad_option("", argv, opt);
    }
    return optind;
}

int
main(int argc, char **argv)
{
    cli_common common = {NULL, NULL, 0};
    const char *name;
    int first;

    /* The file-size limit makes a write fail (EFBIG), reported like a full
     * disk, rather than kill the command mid-way: the library's writes are
     * safe either way, this covers the command's own (stdout and stderr
     * redirected to files, exports, the audit file). */
    signal(SIGXFSZ, SIG_IGN);
    first = parse_global(argc, argv, &common);
    if (first < 0)
        return -1 - first;
    if (first >= argc) {
        print_help(stderr);
        return CLI_USAGE;
    }
    name = argv[first];
    if (strcmp(name, "help") == 0) {
        print_help(stdout);
        return CLI_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return commands[i].run(argc - first, argv + first, &common);
    cli_error("unknown command '%s'", name);
    fprintf(stderr, "Try 'privtrack --help'.\n");
    return CLI_USAGE;
}
