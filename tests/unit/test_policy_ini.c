/* Unit tests for loading and checking policy.ini (lib/policy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "policy/policy_internal.h"

#define MAX_ERRORS 32

typedef struct errors {
    unsigned int count;
    unsigned int last_line;
    char last[384];
    unsigned int line[MAX_ERRORS];
    char message[MAX_ERRORS][384];
    char file[MAX_ERRORS][256];
} errors;

static void
collect(const char *file, unsigned int line, const char *message,
        void *userdata)
{
    errors *e = userdata;
    if (e->count < MAX_ERRORS) {
        e->line[e->count] = line;
        snprintf(e->message[e->count], sizeof(e->message[0]), "%s", message);
        snprintf(e->file[e->count], sizeof(e->file[0]), "%s", file);
    }
    e->last_line = line;
    snprintf(e->last, sizeof(e->last), "%s", message);
    e->count++;
}

static int
check_text(const char *text, errors *e)
{
    memset(e, 0, sizeof(*e));
    return pt_policy_check_buffer(text, strlen(text), "t.ini", collect, e);
}

static pt_policy *
load_ok(const char *text)
{
    pt_policy *p = NULL;
    int rc = pt_policy_load_buffer(&p, text, strlen(text), "t.ini");
    if (rc != PT_OK)
        fprintf(stderr, "unexpected error: %s\n", pt_last_error());
    assert_int_equal(rc, PT_OK);
    assert_non_null(p);
    return p;
}

/* The single error a text produces: its line and a fragment of it. */
static void
expect_one_error(const char *text, unsigned int line, const char *fragment)
{
    errors e;
    pt_policy *p = (pt_policy *)1;
    char expected[64];
    assert_int_equal(check_text(text, &e), PT_EPOLICY);
    if (e.count != 1 || e.line[0] != line || !strstr(e.message[0], fragment))
        fprintf(stderr, "got %u errors; first: line %u: %s\n", e.count,
                e.line[0], e.message[0]);
    assert_int_equal(e.count, 1);
    assert_int_equal(e.line[0], line);
    assert_non_null(strstr(e.message[0], fragment));
    /* Loading fails the same way, with "file:line: message". */
    assert_int_equal(pt_policy_load_buffer(&p, text, strlen(text), "t.ini"),
                     PT_EPOLICY);
    assert_null(p);
    snprintf(expected, sizeof(expected), "t.ini:%u: ", line);
    assert_true(strncmp(pt_last_error(), expected, strlen(expected)) == 0);
}

static char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    *len = (size_t)n;
    return buf;
}

/* ---- loading the shipped policies -------------------------------------- */

static void
test_every_shipped_policy_loads(void **state)
{
    DIR *d = opendir(PT_SOURCE_DIR "/policy");
    struct dirent *ent;
    int loaded = 0;
    (void)state;
    assert_non_null(d);
    while ((ent = readdir(d)) != NULL) {
        char path[1024];
        pt_policy *p = NULL;
        errors e = {0};
        size_t n = strlen(ent->d_name);
        if (n < 5 || strcmp(ent->d_name + n - 4, ".ini") != 0)
            continue;
        snprintf(path, sizeof(path), "%s/policy/%s", PT_SOURCE_DIR,
                 ent->d_name);
        if (pt_policy_load_file(&p, path) != PT_OK)
            fail_msg("%s: %s", path, pt_last_error());
        assert_int_equal(pt_policy_check_file(path, collect, &e), PT_OK);
        assert_int_equal(e.count, 0);
        pt_policy_free(p);
        loaded++;
    }
    closedir(d);
    assert_true(loaded >= 4);
}

static void
test_shipped_policies_say_what_they_promise(void **state)
{
    pt_policy *p;
    (void)state;
    assert_int_equal(
        pt_policy_load_file(&p, PT_SOURCE_DIR "/policy/strict.ini"), PT_OK);
    assert_string_equal(pt_policy_get(p, "fields", "user_agent"), "family");
    assert_string_equal(pt_policy_get(p, "retention", "ttl_days"), "90");
    assert_string_equal(pt_policy_get(p, "retention", "user_agent_days"), "7");
    assert_string_equal(pt_policy_get(p, "retention", "links_days"), "30");
    assert_string_equal(pt_policy_get(p, "retention", "titles_days"), "0");
    assert_int_equal(strncmp(pt_policy_id(p), "strict-", 7), 0);
    pt_policy_free(p);

    assert_int_equal(pt_policy_load_file(&p, PT_SOURCE_DIR "/policy/audit.ini"),
                     PT_OK);
    assert_int_equal(pt__policy_dry_run(p), 1);
    assert_string_equal(pt_policy_get(p, "audit", "show_raw"), "false");
    pt_policy_free(p);

    assert_int_equal(
        pt_policy_load_file(&p, PT_SOURCE_DIR "/policy/keep-everything.ini"),
        PT_OK);
    assert_string_equal(pt_policy_get(p, "ip", "mode"), "keep");
    assert_string_equal(pt_policy_get(p, "optout", "honor_dnt"), "false");
    assert_int_equal(pt__policy_ttl_days(p), 0);
    pt_policy_free(p);
}

static void
test_default_text_is_default_ini(void **state)
{
    size_t len;
    char *file = slurp(PT_SOURCE_DIR "/policy/default.ini", &len);
    pt_policy *a, *b, *empty;
    const char *id;
    (void)state;

    assert_int_equal(strlen(pt_policy_default_text()), len);
    assert_memory_equal(pt_policy_default_text(), file, len);
    free(file);

    assert_int_equal(pt_policy_load_default(&a), PT_OK);
    assert_int_equal(
        pt_policy_load_file(&b, PT_SOURCE_DIR "/policy/default.ini"), PT_OK);
    assert_string_equal(pt_policy_id(a), pt_policy_id(b));
    id = pt_policy_id(a);
    assert_int_equal(strlen(id), strlen("default-") + 8);
    assert_int_equal(strncmp(id, "default-", 8), 0);
    assert_int_equal(strspn(id + 8, "0123456789abcdef"), 8);

    /* default.ini spells out the built-in defaults but one: it rotates
     * its keys daily, where [ip] rotate defaults to never (policies written
     * before rotation keep their single key).  An empty policy named
     * "default" plus that line has the same effective settings, hence the
     * same id; without it, another id. */
    assert_int_equal(pt_policy_load_buffer(&empty, "[ip]\nrotate = daily\n", 20,
                                           "default.ini"),
                     PT_OK);
    assert_string_equal(pt_policy_id(empty), pt_policy_id(a));
    pt_policy_free(empty);
    assert_int_equal(pt_policy_load_buffer(&empty, "", 0, "default.ini"),
                     PT_OK);
    assert_string_not_equal(pt_policy_id(empty), pt_policy_id(a));
    assert_int_equal(pt_policy_rotation(a), PT_ROTATE_DAILY);
    assert_int_equal(pt_policy_rotation(empty), PT_ROTATE_NEVER);
    pt_policy_free(a);
    pt_policy_free(b);
    pt_policy_free(empty);
}

static void
test_defaults_and_get(void **state)
{
    pt_policy *p = load_ok("");
    (void)state;
    assert_string_equal(pt_policy_get(p, "ip", "mode"), "hash");
    assert_string_equal(pt_policy_get(p, "ip", "ipv4_prefix"), "24");
    assert_string_equal(pt_policy_get(p, "ip", "ipv6_prefix"), "48");
    assert_string_equal(pt_policy_get(p, "ip", "truncate_before_hash"), "true");
    assert_string_equal(pt_policy_get(p, "ip", "hash_bytes"), "16");
    assert_string_equal(pt_policy_get(p, "ip", "key_file"), "");
    assert_string_equal(pt_policy_get(p, "ip", "trusted_proxies"), "");
    assert_string_equal(pt_policy_get(p, "optout", "honor_dnt"), "true");
    assert_string_equal(pt_policy_get(p, "optout", "honor_gpc"), "true");
    assert_string_equal(pt_policy_get(p, "optout", "action"), "drop");
    assert_string_equal(pt_policy_get(p, "retention", "ttl_days"), "90");
    assert_string_equal(pt_policy_get(p, "fields", "user_agent"), "family");
    assert_string_equal(pt_policy_get(p, "fields", "links"), "strip_query");
    assert_string_equal(pt_policy_get(p, "storage", "backend"), "file");
    assert_string_equal(pt_policy_get(p, "storage", "path"), "./var");
    assert_string_equal(pt_policy_get(p, "storage", "fsync"), "batch");
    assert_string_equal(pt_policy_get(p, "storage", "table"), "");
    assert_string_equal(pt_policy_get(p, "storage", "region"), "");
    assert_string_equal(pt_policy_get(p, "storage", "endpoint"), "");
    assert_string_equal(pt_policy_get(p, "storage", "create_table"), "false");
    assert_string_equal(pt_policy_get(p, "audit", "output"), "-");
    assert_string_equal(pt_policy_get(p, "audit", "show_raw"), "false");
    assert_string_equal(pt_policy_get(p, "policy", "name"), "t");
    assert_string_equal(pt_policy_get(p, "notice", "controller"), "");
    assert_string_equal(pt_policy_get(p, "notice", "contact"), "");
    assert_string_equal(pt_policy_get(p, "notice", "purpose"),
                        "audience measurement of the site");
    assert_string_equal(pt_policy_get(p, "notice", "url"), "");
    assert_null(pt_policy_get(p, "ip", "colour"));
    assert_null(pt_policy_get(p, "nope", "mode"));
    assert_null(pt_policy_get(NULL, "ip", "mode"));
    assert_string_equal(pt__policy_backend(p), "file");
    assert_string_equal(pt__policy_storage_path(p), "./var");
    assert_string_equal(pt__policy_audit_output(p), "-");
    assert_int_equal(pt__policy_ttl_days(p), 90);
    assert_int_equal(pt__policy_dry_run(p), 0);
    pt_policy_free(p);
}

/* Names of enum values come from the key table the file is parsed with:
 * a value loaded by name gives that name back (the audit's rule texts use
 * them). */
static void
test_enum_value_names(void **state)
{
    static const char *const links[] = {"keep", "strip_query", "origin",
                                        "drop"};
    (void)state;
    for (unsigned int i = 0; i < 4; i++) {
        char text[64];
        snprintf(text, sizeof(text), "[fields]\nlinks = %s\n", links[i]);
        pt_policy *p = load_ok(text);
        unsigned int mode = (unsigned int)p->num[PT_K_FIELDS_LINKS];
        assert_string_equal(pt__key_value_name(PT_K_FIELDS_LINKS, mode),
                            links[i]);
        pt_policy_free(p);
    }
    assert_int_equal(PT_LINKS_ORIGIN, 2);
    assert_string_equal(pt__key_value_name(PT_K_FIELDS_LINKS, PT_LINKS_ORIGIN),
                        "origin");
    assert_string_equal(pt__key_value_name(PT_K_IP_MODE, PT_IP_HASH), "hash");
    assert_null(pt__key_value_name(PT_K_FIELDS_LINKS, 4));
    assert_null(pt__key_value_name(PT_K_STORAGE_TABLE, 0)); /* not an enum */
    assert_string_equal(pt_drop_reason_name(PT_DROP_GPC), "gpc");
}

static void
test_values_are_canonical(void **state)
{
    pt_policy *p = load_ok("[policy]\ndry_run = YES\n"
                           "[storage]\nbackend = dynamodb\ntable = visits\n"
                           "region = eu-west-1\n"
                           "endpoint = http://127.0.0.1:8000\n"
                           "create_table = on\n"
                           "[ip]\nmode = truncate ; inline comment\n"
                           "ipv4_prefix = 16\n"
                           "trusted_proxies = 10.0.0.0/8,  192.168.1.1 "
                           "::1\n"
                           "  2001:db8::/32\n"
                           "[optout]\ncookie = optout=1\n");
    (void)state;
    assert_int_equal(pt__policy_dry_run(p), 1);
    assert_string_equal(pt_policy_get(p, "audit", "dry_run"), "true");
    assert_string_equal(pt_policy_get(p, "storage", "create_table"), "true");
    assert_string_equal(pt_policy_get(p, "storage", "table"), "visits");
    assert_string_equal(pt_policy_get(p, "storage", "endpoint"),
                        "http://127.0.0.1:8000");
    assert_string_equal(pt_policy_get(p, "ip", "mode"), "truncate");
    assert_string_equal(pt_policy_get(p, "ip", "trusted_proxies"),
                        "10.0.0.0/8, 192.168.1.1/32, ::1/128, "
                        "2001:db8::/32");
    assert_int_equal(p->proxy_count, 4);
    assert_string_equal(pt_policy_get(p, "optout", "cookie"), "optout=1");
    assert_int_equal(p->cookie_name_len, 6);
    assert_memory_equal(p->cookie_value, "1", 2);
    pt_policy_free(p);
}

static void
test_id_follows_settings(void **state)
{
    pt_policy *a = load_ok("[ip]\nmode = truncate\n");
    pt_policy *b = load_ok("; a comment\n\n[ip]\n  mode=truncate\n");
    pt_policy *c = load_ok("[ip]\nmode = truncate\nipv4_prefix = 16\n");
    pt_policy *d = load_ok("[policy]\nname = site\n[ip]\nmode = truncate\n");
    pt_policy *e = load_ok("[storage]\npath = /srv/visits\n[ip]\n"
                           "mode = truncate\n");
    (void)state;
    assert_string_equal(pt_policy_id(a), pt_policy_id(b));
    assert_string_not_equal(pt_policy_id(a), pt_policy_id(c));
    assert_string_equal(pt_policy_id(d) + 5, pt_policy_id(a) + 2);
    assert_int_equal(strncmp(pt_policy_id(d), "site-", 5), 0);
    /* Where records are stored does not change what a record contains. */
    assert_string_equal(pt_policy_id(a), pt_policy_id(e));
    pt_policy_free(a);
    pt_policy_free(b);
    pt_policy_free(c);
    pt_policy_free(d);
    pt_policy_free(e);
}

static void
test_refcount(void **state)
{
    pt_policy *p = load_ok("");
    (void)state;
    assert_ptr_equal(pt__policy_ref(p), p);
    assert_int_equal(atomic_load(&p->refs), 2);
    pt_policy_free(p);
    assert_int_equal(atomic_load(&p->refs), 1);
    assert_string_equal(pt_policy_get(p, "ip", "mode"), "hash");
    pt_policy_free(p);
    pt_policy_free(NULL);
}

/* ---- errors, one at a time -------------------------------------------- */

static void
test_single_errors(void **state)
{
    (void)state;
    expect_one_error("[ip]\n[nope]\nmode = hash\n", 2, "unknown section");
    expect_one_error("[ip]\nmode = hash\ncolour = red\n", 3,
                     "unknown key 'colour' in [ip]");
    expect_one_error("[ip]\nmode = scramble\n", 2,
                     "keep, truncate, hash or "
                     "drop");
    expect_one_error("[ip]\nipv4_prefix = 33\n", 2, "0 to 32");
    expect_one_error("[ip]\nipv6_prefix = 129\n", 2, "0 to 128");
    expect_one_error("[ip]\nipv6_prefix = 12x\n", 2, "whole number");
    expect_one_error("[ip]\nhash_bytes = 7\n", 2, "8 to 32");
    expect_one_error("[ip]\nhash_bytes = 99999999999\n", 2, "8 to 32");
    expect_one_error("[retention]\nttl_days = 36501\n", 2, "0 to 36500");
    expect_one_error("[optout]\nhonor_dnt = perhaps\n", 2, "true or false");
    expect_one_error("[optout]\ncookie = novalue\n", 2, "NAME=VALUE");
    expect_one_error("[optout]\ncookie = a b=c\n", 2, "NAME=VALUE");
    expect_one_error("[storage]\nfsync = sometimes\n", 2,
                     "always, batch or "
                     "never");
    expect_one_error("[storage]\nbackend = my backend\n", 2, "backend name");
    expect_one_error("[storage]\nbackend = dynamodb\nendpoint = ftp://x\n", 3,
                     "http");
    expect_one_error("[storage]\nbackend = dynamodb\ntable = a\n", 3,
                     "table name");
    expect_one_error("[policy]\nname = has space\n", 2, "name");
    expect_one_error("[storage]\npath =\n", 2, "empty value");
    expect_one_error("mode = hash\n[ip]\n", 1, "before any [section]");
    expect_one_error("[ip]\n[fields\nmode = hash\n", 2, "closing ']'");
    expect_one_error("[ip] extra\n", 1, "after the section header");
    expect_one_error("[ip]\njust some words\n", 2, "key = value");
    expect_one_error("[ip]\nmode = hash\nmode = hash\n", 3,
                     "first set on line 2");
    expect_one_error("[ip]\ntrusted_proxies = 10.0.0.1/8\n", 2,
                     "did you mean 10.0.0.0/8");
    expect_one_error("[ip]\ntrusted_proxies = 10.0.0.0/33\n", 2, "bad prefix");
    expect_one_error("[ip]\ntrusted_proxies = 10.0.0.0/8, proxy.local\n", 2,
                     "not an IPv4 or IPv6");
    expect_one_error("[ip]\nmode = hash\n  truncate\n", 3, "not a list");
    /* inih strips " ;" comments: a value cannot contain one. */
    expect_one_error("[ip]\nmode = ;hash\n", 2, "empty value");
    expect_one_error("[notice]\ncontact = nobody\n", 2, "e-mail address");
    expect_one_error("[notice]\ncontact = a b@c.org\n", 2, "e-mail address");
    expect_one_error("[notice]\ncontact = a@b\n", 2, "e-mail address");
    expect_one_error("[notice]\ncontact = a@b@c.org\n", 2, "e-mail address");
    expect_one_error("[notice]\ncontact = <a@b.org>\n", 2, "e-mail address");
    expect_one_error("[notice]\ncontact = mailto:a@b.org\n", 2,
                     "e-mail address");
    expect_one_error("[optout]\ncookie = o=1\n[notice]\nurl = /optout\n", 4,
                     "URL of a page");
    expect_one_error("[optout]\ncookie = o=1\n[notice]\n"
                     "url = https://x.example/\"><script>\n",
                     4, "URL of a page");
    expect_one_error("[notice]\ncontroller = tab\there\n", 2, "one line");
    expect_one_error("[notice]\npurpose = "
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
                     "\n",
                     2, "at most 160 bytes");
}

static void
test_contradictions(void **state)
{
    (void)state;
    expect_one_error("[ip]\nkey_file = /k\nmode = truncate\n", 3,
                     "key_file has no effect unless [ip] mode = hash");
    expect_one_error("[ip]\nmode = keep\nipv4_prefix = 24\n", 3,
                     "ipv4_prefix has no effect");
    expect_one_error("[ip]\nipv6_prefix = 64\nmode = drop\n", 3,
                     "ipv6_prefix has no effect");
    expect_one_error("[ip]\ntruncate_before_hash = false\nipv4_prefix = 8\n", 3,
                     "when truncate_before_hash = false");
    expect_one_error("[ip]\nmode = truncate\ntruncate_before_hash = true\n", 3,
                     "truncate_before_hash has no effect");
    expect_one_error("[policy]\ndry_run = true\n[audit]\ndry_run = no\n", 4,
                     "disagree");
    expect_one_error("[fields]\nmax_user_agent = 10\n", 2,
                     "unless [fields] user_agent = keep");
    expect_one_error("[fields]\nmax_links = 3\nlinks = drop\n", 3,
                     "links = drop");
    expect_one_error("[fields]\ntitles = drop\nmax_filenames = 3\n"
                     "filenames = drop\n",
                     4, "both titles and filenames");
    expect_one_error("[optout]\nhonor_dnt = false\naction = anonymous\n"
                     "honor_gpc = false\n",
                     4, "no opt-out signal");
    expect_one_error("[storage]\nregion = eu-west-1\n", 2, "backend = file");
    expect_one_error("[notice]\nurl = https://x.example/optout\n", 2,
                     "url has no effect unless [optout] cookie is set");
    /* Truncating to the whole address would store it raw (PRIVACY.md:
     * only mode = keep does that). */
    expect_one_error("[ip]\nmode = truncate\nipv4_prefix = 32\n", 3,
                     "ipv4_prefix = 32 with mode = truncate keeps whole "
                     "addresses");
    expect_one_error("[ip]\nipv6_prefix = 128\n\nmode = truncate\n", 4,
                     "ipv6_prefix = 128 with mode = truncate");
}

/* Per-field retention: a field never outlives its record, a key for a
 * field that is not stored is an error, 0 is "as the record", and the
 * policy id changes only when a field has a retention of its own. */
static void
test_field_retention_keys(void **state)
{
    pt_policy *base, *zero, *ua7, *ua8;
    (void)state;
    expect_one_error("[retention]\nttl_days = 30\nuser_agent_days = 31\n", 3,
                     "user_agent_days = 31 is longer than ttl_days = 30");
    expect_one_error("[retention]\nlinks_days = 91\n", 2,
                     "links_days = 91 is longer than ttl_days = 90");
    /* the later key is blamed, as for every contradiction */
    expect_one_error("[retention]\ntitles_days = 40\nttl_days = 30\n", 3,
                     "titles_days = 40 is longer");
    expect_one_error("[retention]\nfilenames_days = 36501\n", 2, "0 to 36500");
    expect_one_error("[fields]\nuser_agent = drop\n[retention]\n"
                     "user_agent_days = 7\n",
                     4,
                     "user_agent_days has no effect when [fields] "
                     "user_agent = drop");
    expect_one_error("[retention]\nclient_ip_days = 7\n[ip]\nmode = drop\n", 4,
                     "client_ip_days has no effect when [ip] mode = drop");
    expect_one_error("[fields]\nlinks = drop\n[retention]\nlinks_days = 1\n", 4,
                     "links_days has no effect");
    expect_one_error("[fields]\ntitles = drop\n[retention]\ntitles_days = 1\n",
                     4, "titles_days has no effect");
    expect_one_error("[fields]\nfilenames = drop\n[retention]\n"
                     "filenames_days = 1\n",
                     4, "filenames_days has no effect");
    /* no record expiry: any field retention is shorter */
    pt_policy_free(load_ok("[retention]\nttl_days = 0\nlinks_days = 400\n"));
    /* equal to the record's is allowed (and changes nothing) */
    pt_policy_free(load_ok("[retention]\nttl_days = 30\nlinks_days = 30\n"));

    base = load_ok("");
    zero = load_ok("[retention]\nuser_agent_days = 0\n");
    ua7 = load_ok("[retention]\nuser_agent_days = 7\n");
    ua8 = load_ok("[retention]\nuser_agent_days = 8\n");
    assert_string_equal(pt_policy_get(base, "retention", "user_agent_days"),
                        "0");
    assert_string_equal(pt_policy_get(ua7, "retention", "user_agent_days"),
                        "7");
    assert_string_equal(pt_policy_id(base), pt_policy_id(zero));
    assert_string_not_equal(pt_policy_id(base), pt_policy_id(ua7));
    assert_string_not_equal(pt_policy_id(ua7), pt_policy_id(ua8));
    pt_policy_free(base);
    pt_policy_free(zero);
    pt_policy_free(ua7);
    pt_policy_free(ua8);
}

/* [notice] values as written, and the line of every key the file set
 * (the regime checks point at them). */
static void
test_notice_keys_and_lines(void **state)
{
    pt_policy *p = load_ok("; a comment\n"
                           "[optout]\n"
                           "cookie = optout=1\n"
                           "[notice]\n"
                           "controller = Société Exemple SARL, 1 rue X\n"
                           "contact = privacy@example.org\n"
                           "purpose = audience measurement of music.example\n"
                           "url = https://music.example/optout?x=1#y\n"
                           "[ip]\n"
                           "\n"
                           "mode = truncate\n");
    pt_policy *q = load_ok("[notice]\ncontact = https://example.org/contact\n");
    (void)state;
    assert_string_equal(pt_policy_get(p, "notice", "controller"),
                        "Société Exemple SARL, 1 rue X");
    assert_string_equal(pt_policy_get(p, "notice", "contact"),
                        "privacy@example.org");
    assert_string_equal(pt_policy_get(p, "notice", "purpose"),
                        "audience measurement of music.example");
    assert_string_equal(pt_policy_get(p, "notice", "url"),
                        "https://music.example/optout?x=1#y");
    assert_string_equal(pt_policy_get(q, "notice", "contact"),
                        "https://example.org/contact");
    assert_int_equal(p->line[PT_K_OPTOUT_COOKIE], 3);
    assert_int_equal(p->line[PT_K_NOTICE_CONTROLLER], 5);
    assert_int_equal(p->line[PT_K_NOTICE_URL], 8);
    assert_int_equal(p->line[PT_K_IP_MODE], 11);
    assert_int_equal(p->line[PT_K_RETENTION_TTL_DAYS], 0);
    assert_string_equal(p->source, "t.ini");
    /* A notice does not change what a record contains, nor its id. */
    {
        pt_policy *plain = load_ok("");
        assert_string_equal(pt_policy_id(q), pt_policy_id(plain));
        pt_policy_free(plain);
    }
    pt_policy_free(p);
    pt_policy_free(q);
}

static void
test_not_contradictions(void **state)
{
    pt_policy *p;
    (void)state;
    /* [audit] dry_run alone is a synonym of [policy] dry_run. */
    p = load_ok("[audit]\ndry_run = true\nshow_raw = true\n[ip]\nmode = "
                "drop\n");
    assert_int_equal(pt__policy_dry_run(p), 1);
    assert_string_equal(pt_policy_get(p, "policy", "dry_run"), "true");
    pt_policy_free(p);
    p = load_ok("[policy]\ndry_run = true\n[audit]\ndry_run = true\n");
    pt_policy_free(p);
    p = load_ok("[optout]\nhonor_dnt = false\nhonor_gpc = false\n"
                "cookie = x=1\naction = anonymous\n");
    pt_policy_free(p);
    p = load_ok("[storage]\nbackend = custom\ntable = t_1\n");
    pt_policy_free(p);
    /* A keyed hash of the whole address is a pseudonym, not the address;
     * a prefix one bit short of it is truncation. */
    p = load_ok("[ip]\nmode = hash\nipv4_prefix = 32\nipv6_prefix = 128\n");
    pt_policy_free(p);
    p = load_ok("[ip]\nmode = truncate\nipv4_prefix = 31\n"
                "ipv6_prefix = 127\n");
    pt_policy_free(p);
}

static void
test_long_lines(void **state)
{
    char text[1024];
    errors e;
    pt_policy *p;
    char name[200];
    (void)state;

    /* The longest line inih can hold whole is accepted... */
    memset(name, 'a', sizeof(name));
    snprintf(text, sizeof(text),
             "[policy]\nname = %.64s\n[storage]\n"
             "path = /%.*s\n",
             name, 198 - 8, name);
    p = load_ok(text);
    assert_int_equal(strlen(pt_policy_get(p, "storage", "path")), 191);
    pt_policy_free(p);
    /* ...one byte more is an error naming the line, and the lines after it
     * keep their numbers (inih would have split the line in two). */
    snprintf(text, sizeof(text), "[storage]\npath = /%.*s\n[ip]\nmode = x\n",
             198 - 7, name);
    assert_int_equal(check_text(text, &e), PT_EPOLICY);
    assert_int_equal(e.count, 2);
    assert_int_equal(e.line[0], 2);
    assert_non_null(strstr(e.message[0], "line too long (199 bytes"));
    assert_int_equal(e.line[1], 4);
    /* A CRLF file counts the same. */
    p = load_ok("[ip]\r\nmode = truncate\r\n");
    assert_string_equal(pt_policy_get(p, "ip", "mode"), "truncate");
    pt_policy_free(p);
    /* The README states the limit the checker enforces. */
    {
        size_t len;
        char *readme = slurp(PT_SOURCE_DIR "/README.md", &len);
        assert_non_null(strstr(readme, "Lines are at most 198 bytes"));
        free(readme);
    }
}

/* ---- every error, from fixture files ----------------------------------- */

static void
expect_errors(const char *fixture, const unsigned int *lines, size_t n,
              const char *const *fragments)
{
    char path[1024];
    errors e = {0};
    snprintf(path, sizeof(path), "%s/tests/data/policy/%s", PT_SOURCE_DIR,
             fixture);
    assert_int_equal(pt_policy_check_file(path, collect, &e), PT_EPOLICY);
    for (size_t i = 0; i < e.count && i < MAX_ERRORS; i++)
        fprintf(stderr, "  %s:%u: %s\n", e.file[i], e.line[i], e.message[i]);
    assert_int_equal(e.count, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(e.file[i], path);
        assert_int_equal(e.line[i], lines[i]);
        assert_non_null(strstr(e.message[i], fragments[i]));
    }
}

static void
test_check_reports_every_error(void **state)
{
    static const unsigned int lines[] = {5, 8, 9, 10, 11, 12, 13, 14, 17};
    static const char *const fragments[] = {"unknown section [bogus]",
                                            "'scramble'",
                                            "ipv4_prefix",
                                            "'-1'",
                                            "'maybe'",
                                            "unknown key 'colour'",
                                            "first set on line 8",
                                            "key = value",
                                            "max_user_agent"};
    (void)state;
    expect_errors("many-errors.ini", lines, 9, fragments);
}

static void
test_check_long_line_fixture(void **state)
{
    static const unsigned int lines[] = {4, 6};
    static const char *const fragments[] = {"line too long", "'everything'"};
    (void)state;
    expect_errors("long-line.ini", lines, 2, fragments);
}

static void
test_check_contradiction_fixture(void **state)
{
    static const unsigned int lines[] = {5, 6, 10, 12};
    static const char *const fragments[] = {"key_file", "hash_bytes",
                                            "disagree", "table"};
    (void)state;
    expect_errors("contradictions.ini", lines, 4, fragments);
}

static void
test_check_binary_fixture(void **state)
{
    static const unsigned int lines[] = {2, 4};
    static const char *const fragments[] = {"NUL byte", "invalid UTF-8"};
    (void)state;
    expect_errors("binary.ini", lines, 2, fragments);
}

/* Every problem, however many, in line order: the contradictions found
 * after reading are merged in at their lines. */
typedef struct ordered {
    unsigned int count, last_line, unordered, contradictions;
} ordered;

static void
check_order(const char *file, unsigned int line, const char *message,
            void *userdata)
{
    ordered *o = userdata;
    (void)file;
    if (line < o->last_line)
        o->unordered++;
    if (strstr(message, "has no effect")) {
        o->contradictions++;
        /* max_user_agent (line 2) comes before the first bad key (3). */
        if (line == 2 && o->count != 0)
            o->unordered++;
    }
    o->last_line = line;
    o->count++;
}

static void
test_check_delivers_every_problem(void **state)
{
    pt_buf text = PT_BUF_INIT;
    ordered o = {0};
    pt_policy *p = (pt_policy *)1;
    (void)state;
    pt_buf_puts(&text, "[fields]\nmax_user_agent = 10\n[ip]\n");
    for (int i = 0; i < 500; i++)
        pt_buf_printf(&text, "bad%d = 1\n", i);
    pt_buf_puts(&text, "mode = keep\nipv4_prefix = 24\n");
    assert_int_equal(
        pt_policy_check_buffer(text.ptr, text.len, "t.ini", check_order, &o),
        PT_EPOLICY);
    /* 500 unknown keys, max_user_agent without user_agent = keep (line 2),
     * ipv4_prefix without truncate or hash (the last line). */
    assert_int_equal(o.count, 502);
    assert_int_equal(o.contradictions, 2);
    assert_int_equal(o.unordered, 0);
    assert_int_equal(o.last_line, 505);
    /* Loading names the first one. */
    assert_int_equal(pt_policy_load_buffer(&p, text.ptr, text.len, "t.ini"),
                     PT_EPOLICY);
    assert_null(p);
    assert_non_null(strstr(pt_last_error(), "t.ini:2: "));
    pt_buf_free(&text);
}

static void
test_continuation_lines(void **state)
{
    pt_policy *p = load_ok("[ip]\ntrusted_proxies = 10.0.0.0/8\n"
                           "    172.16.0.0/12, 192.168.0.0/16\n"
                           "\t::1\n"
                           "mode = hash\n");
    (void)state;
    assert_int_equal(p->proxy_count, 4);
    assert_string_equal(pt_policy_get(p, "ip", "mode"), "hash");
    pt_policy_free(p);
}

static void
test_missing_file(void **state)
{
    pt_policy *p = (pt_policy *)1;
    errors e = {0};
    (void)state;
    assert_int_equal(pt_policy_load_file(&p, "/nonexistent/policy.ini"),
                     PT_EIO);
    assert_null(p);
    assert_non_null(strstr(pt_last_error(), "/nonexistent/policy.ini"));
    assert_int_equal(
        pt_policy_check_file("/nonexistent/policy.ini", collect, &e), PT_EIO);
    assert_int_equal(pt_policy_load_file(NULL, "x"), PT_EINVAL);
}

/* A policy decides what is stored: a file others may write, another
 * user's file, or something that is not a regular file (a FIFO would hang
 * the load) is refused by the loader and reported by the checker. */
static void
test_unsafe_policy_files(void **state)
{
    char dir[] = "/tmp/pt-policy-XXXXXX", path[64], link[64];
    struct passwd *nobody = getpwnam("nobody");
    pt_policy *p = NULL;
    errors e;
    FILE *f;
    (void)state;

    alarm(60); /* a FIFO that blocks fails the test instead of hanging */
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/policy.ini", dir);
    snprintf(link, sizeof(link), "%s/link.ini", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs("[ip]\nmode = keep\n", f);
    fclose(f);

    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(pt_policy_load_file(&p, path), PT_EACCESS);
    assert_null(p);
    assert_non_null(strstr(pt_last_error(), path));
    assert_non_null(strstr(pt_last_error(), "chmod go-w"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(pt_policy_check_file(path, collect, &e), PT_EPOLICY);
    assert_int_equal(e.count, 1);
    assert_int_equal(e.line[0], 0);
    assert_non_null(strstr(e.message[0], "writable by group or others"));
    /* Writable by its group only: a deliberate shared setup, accepted. */
    assert_int_equal(chmod(path, 0664), 0);
    assert_int_equal(pt_policy_load_file(&p, path), PT_OK);
    pt_policy_free(p);
    /* Our own link to it is fine. */
    assert_int_equal(symlink(path, link), 0);
    assert_int_equal(pt_policy_load_file(&p, link), PT_OK);
    pt_policy_free(p);

    if (geteuid() == 0 && nobody) {
        /* Another user's file, or another user's link to ours. */
        assert_int_equal(lchown(link, nobody->pw_uid, (gid_t)-1), 0);
        assert_int_equal(pt_policy_load_file(&p, link), PT_EACCESS);
        assert_non_null(strstr(pt_last_error(), "symbolic link"));
        assert_int_equal(chown(path, nobody->pw_uid, (gid_t)-1), 0);
        assert_int_equal(pt_policy_load_file(&p, path), PT_EACCESS);
        assert_non_null(strstr(pt_last_error(), "owned by uid"));
        memset(&e, 0, sizeof(e));
        assert_int_equal(pt_policy_check_file(path, collect, &e), PT_EPOLICY);
        assert_non_null(strstr(e.message[0], "owned by uid"));
    } else {
        print_message("skipped the checks of another user's files: needs "
                      "root and a 'nobody' user\n");
    }

    assert_int_equal(unlink(path), 0);
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(pt_policy_load_file(&p, path), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "FIFO"));
    memset(&e, 0, sizeof(e));
    assert_int_equal(pt_policy_check_file(path, collect, &e), PT_EPOLICY);
    assert_non_null(strstr(e.message[0], "FIFO"));
    unlink(path);
    unlink(link);
    assert_int_equal(rmdir(dir), 0);
    alarm(0);
}

static void
test_key_file_value_not_echoed(void **state)
{
    errors e;
    (void)state;
    /* A secret pasted into the wrong key must not be echoed back. */
    assert_int_equal(
        check_text("[ip]\nip_key = 00112233445566778899aabbccddeeff\n", &e),
        PT_EPOLICY);
    assert_null(strstr(e.message[0], "00112233"));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_shipped_policy_loads),
        cmocka_unit_test(test_enum_value_names),
        cmocka_unit_test(test_shipped_policies_say_what_they_promise),
        cmocka_unit_test(test_default_text_is_default_ini),
        cmocka_unit_test(test_defaults_and_get),
        cmocka_unit_test(test_values_are_canonical),
        cmocka_unit_test(test_id_follows_settings),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_single_errors),
        cmocka_unit_test(test_contradictions),
        cmocka_unit_test(test_field_retention_keys),
        cmocka_unit_test(test_not_contradictions),
        cmocka_unit_test(test_notice_keys_and_lines),
        cmocka_unit_test(test_long_lines),
        cmocka_unit_test(test_check_reports_every_error),
        cmocka_unit_test(test_check_long_line_fixture),
        cmocka_unit_test(test_check_contradiction_fixture),
        cmocka_unit_test(test_check_binary_fixture),
        cmocka_unit_test(test_check_delivers_every_problem),
        cmocka_unit_test(test_continuation_lines),
        cmocka_unit_test(test_missing_file),
        cmocka_unit_test(test_unsafe_policy_files),
        cmocka_unit_test(test_key_file_value_not_echoed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
