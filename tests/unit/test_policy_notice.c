/* Unit tests for the facts of a policy, the documents made from them (the
 * privacy notice, the record of processing) and the regime rules
 * (lib/policy/facts.c, doc.c, notice.c, processing_record.c, regime.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/facts.h"

static pt_policy *
load(const char *text)
{
    pt_policy *p = NULL;
    int rc = pt_policy_load_buffer(&p, text, strlen(text), "t.ini");
    if (rc != PT_OK)
        fprintf(stderr, "unexpected error: %s\n", pt_last_error());
    assert_int_equal(rc, PT_OK);
    return p;
}

static pt_policy *
load_shipped(const char *name)
{
    char path[512];
    pt_policy *p = NULL;
    snprintf(path, sizeof(path), "%s/policy/%s", PT_SOURCE_DIR, name);
    assert_int_equal(pt_policy_load_file(&p, path), PT_OK);
    return p;
}

static char *
render(const pt__facts *f, int notice, int alt)
{
    pt_buf b = PT_BUF_INIT;
    int rc =
        notice ? pt__notice_render(&b, f, alt) : pt__record_render(&b, f, alt);
    assert_int_equal(rc, PT_OK);
    assert_non_null(b.ptr);
    return pt_buf_detach(&b);
}

static void
assert_contains(const char *text, const char *fragment)
{
    if (!strstr(text, fragment))
        fprintf(stderr, "missing \"%s\" in:\n%s\n", fragment, text);
    assert_non_null(strstr(text, fragment));
}

static void
assert_lacks(const char *text, const char *fragment)
{
    if (strstr(text, fragment))
        fprintf(stderr, "unexpected \"%s\" in:\n%s\n", fragment, text);
    assert_null(strstr(text, fragment));
}

/* ---- facts --------------------------------------------------------------- */

static void
test_facts_of_shipped_policies(void **state)
{
    pt_policy *def = load_shipped("default.ini");
    pt_policy *strict = load_shipped("strict.ini");
    pt_policy *keep = load_shipped("keep-everything.ini");
    pt__facts f, again;
    (void)state;

    pt__facts_from_policy(&f, def);
    assert_int_equal(f.ip.mode, PT_IP_HASH);
    assert_int_equal(f.ip.ipv4_bits, 24);
    assert_int_equal(f.ip.ipv6_bits, 48);
    assert_int_equal(f.ip.hash_bytes, 16);
    assert_int_equal(f.ip.rotation, pt_policy_rotation(def));
    assert_int_equal(f.user_agent, PT_UA_FAMILY);
    assert_int_equal(f.links, PT_LINKS_STRIP_QUERY);
    assert_true(f.honor_dnt && f.honor_gpc);
    assert_string_equal(f.optout_cookie, "");
    assert_int_equal(f.record_days, 90);
    for (int i = 0; i < PT_FACT__FIELDS; i++)
        assert_int_equal(f.field_days[i], 90);
    assert_int_equal(pt__facts_longest_days(&f), 90);
    assert_int_equal(f.store, PT_FACT_STORE_FILE);
    assert_true(f.purpose_is_default);
    assert_string_equal(f.policy_id, pt_policy_id(def));
    /* Pure: the same policy gives the same facts. */
    pt__facts_from_policy(&again, def);
    assert_memory_equal(&f, &again, sizeof(f));

    pt__facts_from_policy(&f, strict);
    assert_int_equal(f.ip.ipv4_bits, 16);
    assert_int_equal(f.ip.ipv6_bits, 32);
    assert_int_equal(f.ip.hash_bytes, 8);
    assert_int_equal(f.user_agent, PT_UA_FAMILY);
    assert_true(pt__fact_stored(&f, PT_FACT_USER_AGENT));
    assert_false(pt__fact_stored(&f, PT_FACT_FILENAMES));
    assert_true(pt__fact_stored(&f, PT_FACT_TITLES));
    assert_string_equal(f.optout_cookie, "privtrack_optout=1");
    /* per-field retention: 7 days of user agent, 30 of links, 90 the rest */
    assert_int_equal(f.record_days, 90);
    assert_int_equal(f.field_days[PT_FACT_USER_AGENT], 7);
    assert_int_equal(f.field_days[PT_FACT_LINKS], 30);
    assert_int_equal(f.field_days[PT_FACT_CLIENT_IP], 90);
    assert_int_equal(f.field_days[PT_FACT_TITLES], 90);
    assert_int_equal(pt__facts_longest_days(&f), 90);

    pt__facts_from_policy(&f, keep);
    assert_int_equal(f.ip.mode, PT_IP_KEEP);
    assert_int_equal(f.ip.ipv4_bits, 32);
    assert_int_equal(f.ip.ipv6_bits, 128);
    assert_false(f.honor_dnt || f.honor_gpc);
    assert_int_equal(f.record_days, 0);
    assert_int_equal(pt__facts_longest_days(&f), 0);
    pt_policy_free(def);
    pt_policy_free(strict);
    pt_policy_free(keep);
}

static void
test_facts_of_settings(void **state)
{
    pt_policy *p = load("[ip]\nmode = hash\ntruncate_before_hash = false\n"
                        "key_file = /etc/privtrack/ip.key\n"
                        "trusted_proxies = 10.0.0.0/8\n"
                        "[storage]\nbackend = dynamodb\nregion = eu-west-3\n"
                        "table = visits\n"
                        "[optout]\naction = anonymous\n"
                        "[notice]\ncontroller = Example SAS\n"
                        "purpose = counting downloads\n");
    pt__facts f;
    (void)state;
    pt__facts_from_policy(&f, p);
    /* A hash of the whole address is a pseudonym of the host. */
    assert_int_equal(f.ip.ipv4_bits, 32);
    assert_int_equal(f.ip.ipv6_bits, 128);
    assert_true(f.ip.key_file);
    assert_string_equal(f.ip.key_path, "/etc/privtrack/ip.key");
    assert_true(f.ip.trusted_proxies);
    assert_int_equal(f.store, PT_FACT_STORE_DYNAMODB);
    assert_string_equal(f.region, "eu-west-3");
    assert_string_equal(f.table, "visits");
    assert_int_equal(f.optout_action, PT_OPTOUT_ANONYMOUS);
    assert_string_equal(f.controller, "Example SAS");
    assert_false(f.purpose_is_default);
    assert_string_equal(f.source, "t.ini");
    pt_policy_free(p);

    p = load("[ip]\nmode = truncate\nipv4_prefix = 20\n[storage]\n"
             "backend = custom\n");
    pt__facts_from_policy(&f, p);
    assert_int_equal(f.ip.ipv4_bits, 20);
    assert_int_equal(f.ip.ipv6_bits, 48);
    assert_int_equal(f.ip.hash_bytes, 0);
    assert_false(f.ip.key_file);
    assert_int_equal(f.store, PT_FACT_STORE_OTHER);
    pt_policy_free(p);
}

/* The longest anything is kept: per-field retention counts only for the
 * fields stored, and one field without expiry means no bound at all. */
static void
test_longest_days(void **state)
{
    pt_policy *p = load("[fields]\nuser_agent = drop\n[retention]\n"
                        "ttl_days = 30\n");
    pt__facts f;
    (void)state;
    pt__facts_from_policy(&f, p);
    assert_int_equal(pt__facts_longest_days(&f), 30);
    f.field_days[PT_FACT_LINKS] = 7;
    assert_int_equal(pt__facts_longest_days(&f), 30);
    f.field_days[PT_FACT_USER_AGENT] = 900; /* not stored: no effect */
    assert_int_equal(pt__facts_longest_days(&f), 30);
    f.field_days[PT_FACT_TITLES] = 800;
    assert_int_equal(pt__facts_longest_days(&f), 800);
    f.field_days[PT_FACT_TITLES] = 0;
    assert_int_equal(pt__facts_longest_days(&f), 0);
    f.record_days = 0;
    f.field_days[PT_FACT_TITLES] = 30;
    assert_int_equal(pt__facts_longest_days(&f), 0);
    pt_policy_free(p);
}

/* ---- the notice ---------------------------------------------------------- */

static void
test_notice_states_the_settings(void **state)
{
    pt_policy *p = load("[ip]\nmode = truncate\nipv4_prefix = 16\n"
                        "ipv6_prefix = 56\n"
                        "[retention]\nttl_days = 30\n"
                        "[optout]\nhonor_gpc = false\ncookie = out=yes\n"
                        "[notice]\ncontroller = Example SAS\n"
                        "contact = privacy@example.org\n"
                        "url = https://example.org/opt-out\n");
    pt__facts f;
    char *md;
    (void)state;
    pt__facts_from_policy(&f, p);
    md = render(&f, 1, 0);
    assert_contains(md, "Example SAS");
    assert_contains(md, "<privacy@example.org>");
    assert_contains(md, "first two numbers (198.51.100.7 becomes 198.51.0.0)");
    assert_contains(md, "first 56 of 128 bits");
    assert_lacks(md, "code"); /* truncation, no pseudonym */
    assert_contains(md, "expires 30 days after your visit");
    assert_contains(md, "`DNT: 1`");
    assert_lacks(md, "Sec-GPC");
    assert_contains(md, "Global Privacy Control is not honoured.");
    assert_contains(md, "`out=yes`");
    assert_contains(md, "<https://example.org/opt-out> sets it for you");
    assert_contains(md, "nothing of your visit is recorded");
    assert_contains(md, "Not legal advice");
    free(md);
    pt_policy_free(p);
}

/* Key rotation (issue 9) is a fact the notice already states: "a code that
 * changes every day" and when it can no longer be tied to an address. */
static void
test_notice_states_rotation(void **state)
{
    pt_policy *p = load("[ip]\nrotate = never\n");
    pt__facts f;
    char *md;
    (void)state;
    pt__facts_from_policy(&f, p);
    md = render(&f, 1, 0);
    assert_contains(md, "for as long as the site keeps its key");
    assert_lacks(md, "destroyed");
    free(md);

    f.ip.rotation = PT_ROTATE_DAILY;
    f.ip.key_grace_hours = 48;
    md = render(&f, 1, 0);
    assert_contains(md, "The key, and so the code, changes every day (UTC).");
    assert_contains(md, "Each day's key is destroyed 2 days after the day "
                        "ends: from then on nobody, the site included, can "
                        "tell which address a code of that day stands for, "
                        "unless a copy of that key survives in a backup.");
    assert_contains(md, "Once a day's key is destroyed, the records of that "
                        "day can no longer be found from your address.");
    free(md);
    f.ip.rotation = PT_ROTATE_WEEKLY;
    f.ip.key_grace_hours = 36;
    md = render(&f, 1, 0);
    assert_contains(md, "changes every week");
    assert_contains(md, "destroyed 36 hours after the week ends");
    free(md);
    md = render(&f, 0, 1);
    assert_contains(md, "rotates every week (UTC), one key per period; each "
                        "period's key is destroyed 36 hours after the period "
                        "ends");
    free(md);
    pt_policy_free(p);
}

/* The facts of a policy whose keys rotate, and what the record says of
 * where its keys live. */
static void
test_rotating_keys(void **state)
{
    pt_policy *p = load("[ip]\nrotate = weekly\nkey_grace_hours = 0\n"
                        "key_dir = /srv/keys\nkey_wrap_file = /etc/wrap\n");
    pt_policy *q = load("[storage]\nbackend = dynamodb\ntable = visits\n"
                        "[ip]\nrotate = daily\n");
    pt__facts f;
    char *text;
    (void)state;
    pt__facts_from_policy(&f, p);
    assert_int_equal(f.ip.rotation, PT_ROTATE_WEEKLY);
    assert_int_equal(f.ip.key_grace_hours, 0);
    assert_int_equal(f.ip.key_store, PT_KEY_STORE_FILE);
    assert_string_equal(f.ip.key_dir, "/srv/keys");
    assert_string_equal(f.ip.key_wrap_file, "/etc/wrap");
    assert_false(f.ip.key_file);
    text = render(&f, 1, 0);
    assert_contains(text, "Each week's key is destroyed as soon as the week "
                          "ends: from then on nobody");
    free(text);
    text = render(&f, 0, 0);
    assert_contains(text, "Period keys live in /srv/keys, one 0600 file");
    assert_contains(text, "only encrypted (XChaCha20-Poly1305) with the "
                          "wrapping key in /etc/wrap");
    assert_lacks(text, "ip.key");
    free(text);

    pt__facts_from_policy(&f, q);
    assert_int_equal(f.ip.rotation, PT_ROTATE_DAILY);
    assert_int_equal(f.ip.key_grace_hours, 48);
    assert_int_equal(f.ip.key_store, PT_KEY_STORE_BACKEND);
    text = render(&f, 0, 1);
    assert_contains(text, "Period keys live in the DynamoDB table "
                          "visits-keys, shared by every host.");
    assert_contains(text, "stored unencrypted unless $PRIVTRACK_KEY_WRAP");
    assert_contains(text, "destroyed 48 hours after the period ends");
    free(text);
    text = render(&f, 1, 0);
    assert_contains(text, "Each day's key is destroyed 2 days after the day "
                          "ends");
    free(text);
    pt_policy_free(p);
    pt_policy_free(q);
}

/* Per-field retention (issue 10) is stated field by field. */
static void
test_notice_states_field_retention(void **state)
{
    pt_policy *p = load("[retention]\nttl_days = 90\nuser_agent_days = 7\n"
                        "links_days = 1\n");
    pt__facts f;
    char *md, *json;
    cJSON *doc, *rows, *row;
    (void)state;
    pt__facts_from_policy(&f, p);
    assert_int_equal(f.field_days[PT_FACT_USER_AGENT], 7);
    assert_int_equal(f.field_days[PT_FACT_LINKS], 1);
    assert_int_equal(f.field_days[PT_FACT_TITLES], 90);
    md = render(&f, 1, 0);
    assert_contains(md, "The stored user agent is removed from a record 7 "
                        "days after your visit.");
    assert_contains(md, "The stored links are removed from a record 1 day "
                        "after your visit.");
    assert_contains(md, "Each record expires 90 days after your visit");
    free(md);
    json = render(&f, 0, 1);
    doc = cJSON_Parse(json);
    assert_non_null(doc);
    rows = cJSON_GetObjectItem(doc, "personal_data");
    row = cJSON_GetArrayItem(rows, 1);
    assert_string_equal(cJSON_GetObjectItem(row, "fields")->valuestring,
                        "user_agent");
    assert_int_equal(cJSON_GetObjectItem(row, "retention_days")->valueint, 7);
    cJSON_Delete(doc);
    free(json);
    pt_policy_free(p);
}

/* Text from the policy is escaped in both formats; the page fetches
 * nothing. */
static void
test_notice_escapes_and_fetches_nothing(void **state)
{
    pt_policy *p =
        load("[notice]\ncontroller = <script>alert(1)</script> & *Co* [x](y)\n"
             "purpose = audience measurement of <b>us</b>\n"
             "contact = https://example.org/contact?a=1&b=2\n");
    pt__facts f;
    char *md, *html;
    (void)state;
    pt__facts_from_policy(&f, p);
    html = render(&f, 1, 1);
    assert_lacks(html, "<script>");
    assert_lacks(html, "<b>");
    assert_contains(html, "&lt;script&gt;alert(1)&lt;/script&gt; &amp; *Co*");
    assert_contains(html, "href=\"https://example.org/contact?a=1&amp;b=2\"");
    assert_contains(html, "default-src 'none'");
    assert_lacks(html, "src=");
    assert_lacks(html, "<link");
    assert_lacks(html, "<img");
    assert_lacks(html, "@import");
    assert_lacks(html, "url(");
    assert_true(strncmp(html, "<!DOCTYPE html>", 15) == 0);
    assert_contains(html, "</html>\n");
    md = render(&f, 1, 0);
    assert_contains(md, "\\<script\\>alert(1)\\</script\\> \\& \\*Co\\* "
                        "\\[x\\](y)");
    assert_contains(md, "of \\<b\\>us\\</b\\>");
    free(md);
    free(html);
    pt_policy_free(p);
}

/* ---- the record of processing -------------------------------------------- */

static void
test_record_has_every_part_of_art_30(void **state)
{
    pt_policy *p = load("[storage]\nbackend = dynamodb\nregion = us-east-1\n"
                        "[fields]\nlinks = drop\n"
                        "[notice]\ncontroller = Example SAS\n"
                        "contact = dpo@example.org\n");
    static const char *const parts[] = {
        "controller", "purposes",  "data_subjects", "personal_data",
        "recipients", "transfers", "retention",     "security_measures"};
    pt__facts f;
    char *json, *md;
    cJSON *doc, *rows;
    int links_seen = 0;
    (void)state;
    pt__facts_from_policy(&f, p);
    json = render(&f, 0, 1);
    doc = cJSON_Parse(json);
    assert_non_null(doc);
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        cJSON *part = cJSON_GetObjectItem(doc, parts[i]);
        assert_non_null(part);
        assert_true(cJSON_IsArray(part));
        assert_true(cJSON_GetArraySize(part) > 0);
    }
    assert_string_equal(
        cJSON_GetObjectItem(doc, "controller_name")->valuestring,
        "Example SAS");
    assert_string_equal(cJSON_GetObjectItem(doc, "policy")->valuestring,
                        pt_policy_id(p));
    rows = cJSON_GetObjectItem(doc, "personal_data");
    for (int i = 0; i < cJSON_GetArraySize(rows); i++) {
        cJSON *row = cJSON_GetArrayItem(rows, i);
        const char *name = cJSON_GetObjectItem(row, "fields")->valuestring;
        cJSON *stored = cJSON_GetObjectItem(row, "stored_as");
        cJSON *days = cJSON_GetObjectItem(row, "retention_days");
        if (strcmp(name, "links") == 0) {
            links_seen = 1;
            assert_true(cJSON_IsNull(stored));
            assert_true(cJSON_IsNull(days));
        } else {
            assert_true(cJSON_IsString(stored));
            assert_int_equal(days->valueint, 90);
        }
    }
    assert_true(links_seen);
    assert_contains(json, "Amazon Web Services (Amazon DynamoDB), as "
                          "processor");
    assert_contains(json, "us-east-1");
    assert_contains(json, "GDPR Chapter V");
    assert_contains(json, "Not legal advice");
    cJSON_Delete(doc);
    free(json);
    md = render(&f, 0, 0);
    assert_contains(md, "## (a) Controller");
    assert_contains(md, "## (g) Technical and organisational security");
    assert_contains(md, "`links`: from links the visitor submits to the "
                        "application; not stored.");
    free(md);
    pt_policy_free(p);
}

/* ---- regimes ------------------------------------------------------------- */

typedef struct failures {
    int count;
    unsigned int line[16];
    char message[16][640];
} failures;

static void
collect(const char *file, unsigned int line, const char *message,
        void *userdata)
{
    failures *f = userdata;
    assert_string_equal(file, "t.ini");
    if (f->count < 16) {
        f->line[f->count] = line;
        snprintf(f->message[f->count], sizeof(f->message[0]), "%s", message);
    }
    f->count++;
}

static failures
run_regime(const char *text, const char *regime)
{
    failures out;
    pt_policy *p = load(text);
    int rc;
    memset(&out, 0, sizeof(out));
    rc = pt_policy_check_regime(p, regime, collect, &out);
    assert_int_equal(rc, out.count ? PT_EPOLICY : PT_OK);
    pt_policy_free(p);
    return out;
}

/* One policy per case, breaking exactly one rule of its regime at a
 * known line. */
typedef struct breaker {
    const char *regime, *rule, *text;
    unsigned int line;
} breaker;

static const breaker breakers[] = {
    {"gdpr-baseline", "address-kept", "[ip]\nmode = keep\n", 2},
    {"gdpr-baseline", "no-expiry", "[retention]\nttl_days = 0\n", 2},
    {"gdpr-baseline", "over-25-months", "[retention]\n\nttl_days = 759\n", 3},
    {"gdpr-baseline", "user-agent-kept", "[fields]\nuser_agent = keep\n", 2},
    {"gdpr-baseline", "links-kept", "[fields]\nlinks = keep\n", 2},
    {"gdpr-baseline", "audit-raw", "[audit]\nshow_raw = true\n", 2},
    {"cnil-exempt", "purpose", "[notice]\npurpose = marketing\n", 2},
    {"cnil-exempt", "purpose",
     "[notice]\npurpose = audience measurement and advertising\n", 2},
    {"cnil-exempt", "purpose",
     "[notice]\npurpose = audience measurement of x, ads\n", 2},
    {"cnil-exempt", "address-whole", "[ip]\nmode = keep\n", 2},
    {"cnil-exempt", "address-whole",
     "[ip]\nmode = hash\ntruncate_before_hash = false\n", 3},
    {"cnil-exempt", "address-whole",
     "[ip]\nhash_bytes = 16\nipv6_prefix = 128\n", 3},
    {"cnil-exempt", "retention", "[retention]\nttl_days = 0\n", 2},
    {"cnil-exempt", "retention", "[retention]\nttl_days = 800\n", 2},
    {"cnil-exempt", "cross-site", "[fields]\nuser_agent = keep\n", 2},
    {"cnil-exempt", "cross-site", "[fields]\nlinks = keep\n", 2},
    {"cnil-exempt", "cross-site", "[fields]\nlinks = keep\nuser_agent = keep\n",
     3},
    {"cnil-exempt", "opt-out",
     "[optout]\nhonor_dnt = false\nhonor_gpc = false\n", 3},
    {"ccpa", "gpc", "[optout]\nhonor_gpc = false\n", 2},
    {"ccpa", "optout-action", "[optout]\naction = anonymous\n", 2},
};

static const pt__regime_rule *
rule_named(const char *regime, const char *id)
{
    size_t n;
    const pt__regime_rule *rules = pt__regime_rules(&n);
    for (size_t i = 0; i < n; i++)
        if (strcmp(rules[i].regime, regime) == 0 &&
            strcmp(rules[i].id, id) == 0)
            return &rules[i];
    fail_msg("no rule %s/%s", regime, id);
    return NULL;
}

static void
test_each_rule_has_a_policy_breaking_only_it(void **state)
{
    size_t n;
    const pt__regime_rule *rules = pt__regime_rules(&n);
    (void)state;
    for (size_t b = 0; b < sizeof(breakers) / sizeof(breakers[0]); b++) {
        const breaker *k = &breakers[b];
        const pt__regime_rule *r = rule_named(k->regime, k->rule);
        failures got = run_regime(k->text, k->regime);
        char expected[640];
        snprintf(expected, sizeof(expected), "%s: %s (%s)", r->regime,
                 r->message, r->source);
        if (got.count != 1 || got.line[0] != k->line ||
            strcmp(got.message[0], expected) != 0)
            fprintf(stderr,
                    "case %zu (%s/%s): %d failures, first line %u: %s\n", b,
                    k->regime, k->rule, got.count, got.line[0], got.message[0]);
        assert_int_equal(got.count, 1);
        assert_int_equal(got.line[0], k->line);
        assert_string_equal(got.message[0], expected);
    }
    /* Every rule of the table is among the cases. */
    for (size_t i = 0; i < n; i++) {
        int found = 0;
        for (size_t b = 0; b < sizeof(breakers) / sizeof(breakers[0]); b++)
            found |= strcmp(breakers[b].regime, rules[i].regime) == 0 &&
                     strcmp(breakers[b].rule, rules[i].id) == 0;
        if (!found)
            fprintf(stderr, "rule %s/%s has no breaking case\n",
                    rules[i].regime, rules[i].id);
        assert_true(found);
        assert_non_null(strchr(rules[i].source, ' '));
    }
}

/* What the rules accept: the boundaries and the free-text purpose. */
static void
test_rules_accept(void **state)
{
    static const char *const texts[] = {
        "",
        "[retention]\nttl_days = 758\n",
        "[retention]\nttl_days = 1\n",
        "[notice]\npurpose = Audience measurement\n",
        "[notice]\npurpose = audience measurement of music.example\n",
        "[ip]\nmode = drop\n",
        "[ip]\nmode = truncate\nipv4_prefix = 31\nipv6_prefix = 127\n",
        "[optout]\nhonor_dnt = false\nhonor_gpc = false\ncookie = o=1\n",
        "[fields]\nuser_agent = drop\nlinks = origin\n",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        for (unsigned int r = 0; pt_policy_regime_name(r); r++) {
            failures got = run_regime(texts[i], pt_policy_regime_name(r));
            if (got.count && !(r == 2 && strstr(texts[i], "honor_gpc")))
                fprintf(stderr, "%s: %s\n", texts[i], got.message[0]);
            /* ccpa asks for GPC: the cookie-only policy fails only it. */
            assert_int_equal(got.count,
                             r == 2 && strstr(texts[i], "honor_gpc") ? 1 : 0);
        }
}

static void
test_shipped_policies_and_regimes(void **state)
{
    static const char *const passing[] = {"default.ini", "strict.ini",
                                          "audit.ini"};
    static const char *const keep_rules[] = {"address-kept", "no-expiry",
                                             "user-agent-kept", "links-kept"};
    static const char *const keys[][2] = {{"ip", "mode = keep"},
                                          {"retention", "ttl_days = 0"},
                                          {"fields", "user_agent = keep"},
                                          {"fields", "links = keep"}};
    failures got;
    char path[512], line[256];
    pt_policy *p;
    FILE *f;
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        p = load_shipped(passing[i]);
        for (unsigned int r = 0; pt_policy_regime_name(r); r++)
            assert_int_equal(
                pt_policy_check_regime(p, pt_policy_regime_name(r), NULL, NULL),
                PT_OK);
        pt_policy_free(p);
    }
    /* keep-everything fails gdpr-baseline at the lines of its four keys,
     * found here by reading the file. */
    p = load_shipped("keep-everything.ini");
    snprintf(path, sizeof(path), "%s/policy/keep-everything.ini",
             PT_SOURCE_DIR);
    memset(&got, 0, sizeof(got));
    {
        pt__facts facts;
        pt__facts_from_policy(&facts, p);
        got.count = 0;
        assert_int_equal(pt__regime_run(&facts, p->line, "t.ini",
                                        "gdpr-baseline", collect, &got),
                         4);
    }
    for (int i = 0; i < 4; i++) {
        unsigned int n = 0, want = 0;
        const pt__regime_rule *r = rule_named("gdpr-baseline", keep_rules[i]);
        f = fopen(path, "r");
        assert_non_null(f);
        while (fgets(line, sizeof(line), f)) {
            n++;
            if (strncmp(line, keys[i][1], strlen(keys[i][1])) == 0)
                want = n;
        }
        fclose(f);
        assert_true(want > 0);
        assert_int_equal(got.line[i], want);
        assert_non_null(strstr(got.message[i], r->message));
    }
    assert_int_equal(pt_policy_check_regime(p, "no-such-regime", NULL, NULL),
                     PT_EINVAL);
    assert_non_null(strstr(pt_last_error(), "unknown regime"));
    assert_null(pt_policy_regime_name(3));
    pt_policy_free(p);
}

/* ---- the public entry point ---------------------------------------------- */

static void
test_describe(void **state)
{
    pt_policy *p = load("");
    char *text = NULL;
    (void)state;
    assert_int_equal(pt_policy_describe(&text, p, PT_DOC_NOTICE_HTML), PT_OK);
    assert_non_null(strstr(text, "<!DOCTYPE html>"));
    pt_free(text);
    assert_int_equal(pt_policy_describe(&text, p, PT_DOC_RECORD_JSON), PT_OK);
    assert_non_null(strstr(text, "\"security_measures\""));
    pt_free(text);
    assert_int_equal(pt_policy_describe(&text, p, (pt_policy_document)99),
                     PT_EINVAL);
    assert_null(text);
    assert_int_equal(pt_policy_describe(&text, NULL, PT_DOC_NOTICE_HTML),
                     PT_EINVAL);
    pt_policy_free(p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_facts_of_shipped_policies),
        cmocka_unit_test(test_facts_of_settings),
        cmocka_unit_test(test_longest_days),
        cmocka_unit_test(test_notice_states_the_settings),
        cmocka_unit_test(test_notice_states_rotation),
        cmocka_unit_test(test_rotating_keys),
        cmocka_unit_test(test_notice_states_field_retention),
        cmocka_unit_test(test_notice_escapes_and_fetches_nothing),
        cmocka_unit_test(test_record_has_every_part_of_art_30),
        cmocka_unit_test(test_each_rule_has_a_policy_breaking_only_it),
        cmocka_unit_test(test_rules_accept),
        cmocka_unit_test(test_shipped_policies_and_regimes),
        cmocka_unit_test(test_describe),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
