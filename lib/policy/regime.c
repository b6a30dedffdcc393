/*
 * Regime checks: a table of rules, each a predicate over the facts of a
 * policy (facts.h) with its message and the published text it comes from.
 * A failing rule names the key to blame, so that the report points at the
 * line of the policy file that set it.
 *
 * These checks test settings against published rules; they are not legal
 * advice, and passing them does not make a deployment lawful.
 */
#include "policy/facts.h"

#include <string.h>

/* 25 months in days, counted short: 25 calendar months are never fewer
 * than 365 + 365 + 28 days, so a retention of at most 758 days is within
 * 25 months from any start date. */
#define MONTHS_25_DAYS 758

#define PASS (-1)

/* Of two keys to blame, the one set later in the file. */
static int
later(const unsigned int *line, int a, int b)
{
    return line[b] > line[a] ? b : a;
}

/* ---- predicates ---------------------------------------------------------- */

static int
address_not_kept(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return f->ip.mode == PT_IP_KEEP ? PT_K_IP_MODE : PASS;
}

/* Not kept whole, nor as a pseudonym of the whole address. */
static int
address_reduced(const pt__facts *f, const unsigned int *line)
{
    if (f->ip.mode == PT_IP_DROP)
        return PASS;
    if (f->ip.mode == PT_IP_KEEP)
        return PT_K_IP_MODE;
    if (f->ip.mode == PT_IP_HASH && f->ip.ipv4_bits == 32 &&
        f->ip.ipv6_bits == 128 && line[PT_K_IP_TRUNCATE_BEFORE_HASH])
        return PT_K_IP_TRUNCATE_BEFORE_HASH;
    if (f->ip.ipv4_bits >= 32)
        return line[PT_K_IP_IPV4_PREFIX] ? PT_K_IP_IPV4_PREFIX : PT_K_IP_MODE;
    if (f->ip.ipv6_bits >= 128)
        return line[PT_K_IP_IPV6_PREFIX] ? PT_K_IP_IPV6_PREFIX : PT_K_IP_MODE;
    return PASS;
}

static int
has_expiry(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return pt__facts_longest_days(f) == 0 ? PT_K_RETENTION_TTL_DAYS : PASS;
}

/* Within 25 months; no expiry at all is has_expiry's failure. */
static int
within_25_months(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return pt__facts_longest_days(f) > MONTHS_25_DAYS ? PT_K_RETENTION_TTL_DAYS
                                                      : PASS;
}

/* Expiry set and within 25 months. */
static int
expires_within_25_months(const pt__facts *f, const unsigned int *line)
{
    int k = has_expiry(f, line);
    return k != PASS ? k : within_25_months(f, line);
}

static int
user_agent_not_kept(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return f->user_agent == PT_UA_KEEP ? PT_K_FIELDS_USER_AGENT : PASS;
}

static int
links_not_kept(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return f->links == PT_LINKS_KEEP ? PT_K_FIELDS_LINKS : PASS;
}

static int
audit_hides_raw(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return f->show_raw ? PT_K_AUDIT_SHOW_RAW : PASS;
}

/* [notice] purpose is free text: accepted are the default and "audience
 * measurement" (any case) optionally followed by " of ..." naming the
 * site, with no second purpose joined by "and", ",", ";", "&" or "+". */
static int
purpose_is_audience_measurement(const pt__facts *f, const unsigned int *line)
{
    static const char head[] = "audience measurement";
    const char *p = f->purpose, *rest;
    (void)line;
    if (f->purpose_is_default)
        return PASS;
    if (pt__strncasecmp(p, head, sizeof(head) - 1) != 0)
        return PT_K_NOTICE_PURPOSE;
    rest = p + sizeof(head) - 1;
    if (*rest == '\0')
        return PASS;
    if (strncmp(rest, " of ", 4) != 0 || strpbrk(rest, ",;&+") ||
        strstr(rest, " and ") || strstr(rest, " AND "))
        return PT_K_NOTICE_PURPOSE;
    return PASS;
}

/* Nothing stored that another site's data can be joined on: a full user
 * agent (a fingerprint) or links with their query strings (click ids and
 * session tokens of other sites). */
static int
no_cross_site_keys(const pt__facts *f, const unsigned int *line)
{
    int ua = user_agent_not_kept(f, line), links = links_not_kept(f, line);
    if (ua != PASS && links != PASS)
        return later(line, ua, links);
    return ua != PASS ? ua : links;
}

static int
offers_opt_out(const pt__facts *f, const unsigned int *line)
{
    if (f->honor_dnt || f->honor_gpc || *f->optout_cookie)
        return PASS;
    return later(line, PT_K_OPTOUT_HONOR_DNT, PT_K_OPTOUT_HONOR_GPC);
}

static int
honors_gpc(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return f->honor_gpc ? PASS : PT_K_OPTOUT_HONOR_GPC;
}

static int
optout_drops(const pt__facts *f, const unsigned int *line)
{
    (void)line;
    return f->optout_action == PT_OPTOUT_DROP ? PASS : PT_K_OPTOUT_ACTION;
}

/* ---- the table ----------------------------------------------------------- */

#define GDPR "Regulation (EU) 2016/679 (GDPR)"
#define CNIL_PAGE                                                              \
    "CNIL, \"Cookies : solutions pour les outils de mesure d'audience\", "     \
    "cnil.fr, 4 July 2025"
#define CNIL_2020 "CNIL deliberation no. 2020-091 of 17 September 2020, art. 5"
#define CNIL_2013 "CNIL deliberation no. 2013-378 of 5 December 2013, art. 6"
#define CCPA_REGS "Cal. Code Regs. tit. 11"

/* clang-format off */
static const pt__regime_rule rules[] = {
    {"gdpr-baseline", "address-kept", address_not_kept,
     "[ip] mode = keep stores every visitor's IP address as it is: truncate, hash or drop it",
     GDPR " Art. 5(1)(c), data minimisation; Art. 25(2), data protection by default"},
    {"gdpr-baseline", "no-expiry", has_expiry,
     "records never expire ([retention] ttl_days = 0): set a retention",
     GDPR " Art. 5(1)(e), storage limitation"},
    {"gdpr-baseline", "over-25-months", within_25_months,
     "records are kept longer than 25 months (758 days): lower [retention] ttl_days",
     GDPR " Art. 5(1)(e); 25 months is the longest the CNIL accepts for audience-measurement data, " CNIL_PAGE},
    {"gdpr-baseline", "user-agent-kept", user_agent_not_kept,
     "[fields] user_agent = keep stores the whole user agent, a fingerprinting signal: use family or drop",
     GDPR " Art. 5(1)(c); Art. 25(2)"},
    {"gdpr-baseline", "links-kept", links_not_kept,
     "[fields] links = keep stores query strings, where tokens and e-mail addresses travel: use strip_query, origin or drop",
     GDPR " Art. 5(1)(c); Art. 25(2)"},
    {"gdpr-baseline", "audit-raw", audit_hides_raw,
     "[audit] show_raw = true writes raw addresses and user agents to the audit output",
     GDPR " Art. 5(1)(f), integrity and confidentiality; Art. 32(1)"},

    {"cnil-exempt", "purpose", purpose_is_audience_measurement,
     "[notice] purpose is not audience measurement alone: the exemption covers only measuring the site's audience, for the publisher alone",
     CNIL_PAGE "; " CNIL_2020},
    {"cnil-exempt", "address-whole", address_reduced,
     "the IP address is stored whole, or as a pseudonym of the whole address: truncate it (ipv4_prefix < 32, ipv6_prefix < 128) or drop it",
     CNIL_PAGE ": the trackers must serve to produce anonymous statistical data only"},
    {"cnil-exempt", "retention", expires_within_25_months,
     "records are kept longer than 25 months (758 days), or never expire: lower [retention] ttl_days",
     CNIL_PAGE ": the information collected is kept at most 25 months"},
    {"cnil-exempt", "cross-site", no_cross_site_keys,
     "a whole user agent or links with their query strings let records be linked with other sites' data: use user_agent = family or drop, links = strip_query, origin or drop",
     CNIL_PAGE ": no cross-referencing with other processing, no tracking of the person's browsing across sites or applications"},
    {"cnil-exempt", "opt-out", offers_opt_out,
     "no opt-out is offered: honour DNT or GPC, or set an opt-out cookie",
     CNIL_2013 ": an opposition mechanism easy to use on every terminal and browser; replaced since by the 2020 guidelines, the condition is kept here"},

    {"ccpa", "gpc", honors_gpc,
     "[optout] honor_gpc = false ignores Global Privacy Control, an opt-out preference signal that must be processed as a valid request to opt out of sale/sharing",
     CCPA_REGS ", § 7025(b) and (c)(1), CCPA regulations on opt-out preference signals"},
    {"ccpa", "optout-action", optout_drops,
     "[optout] action = anonymous still records opted-out visits: use drop, so that nothing of an opted-out browser is kept",
     CCPA_REGS ", § 7025(c)(1): the opt-out covers the browser and any profile associated with it, pseudonymous ones included"},
};
/* clang-format on */

static const char *const regimes[] = {"gdpr-baseline", "cnil-exempt", "ccpa"};

const pt__regime_rule *
pt__regime_rules(size_t *count)
{
    *count = sizeof(rules) / sizeof(rules[0]);
    return rules;
}

int
pt__regime_run(const pt__facts *f, const unsigned int *line, const char *file,
               const char *regime, pt_policy_error_fn cb, void *userdata)
{
    int known = 0, failed = 0;
    for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
        const pt__regime_rule *r = &rules[i];
        int key;
        if (strcmp(r->regime, regime) != 0)
            continue;
        known = 1;
        key = r->check(f, line);
        if (key == PASS)
            continue;
        failed++;
        if (cb) {
            pt_buf msg = PT_BUF_INIT;
            pt_buf_printf(&msg, "%s: %s (%s)", r->regime, r->message,
                          r->source);
            cb(file, line[key], msg.ptr && !msg.oom ? msg.ptr : r->message,
               userdata);
            pt_buf_free(&msg);
        }
    }
    return known ? failed : -1;
}

int
pt_policy_check_regime(const pt_policy *policy, const char *regime,
                       pt_policy_error_fn cb, void *userdata)
{
    pt__facts facts;
    int failed;
    if (!policy || !regime)
        return pt__fail(PT_EINVAL, "pt_policy_check_regime: NULL argument");
    pt__facts_from_policy(&facts, policy);
    failed = pt__regime_run(&facts, policy->line, facts.source, regime, cb,
                            userdata);
    if (failed < 0)
        return pt__fail(PT_EINVAL,
                        "unknown regime '%s' (known: gdpr-baseline, "
                        "cnil-exempt, ccpa)",
                        regime);
    return failed ? PT_EPOLICY : PT_OK;
}

const char *
pt_policy_regime_name(unsigned int index)
{
    return index < sizeof(regimes) / sizeof(regimes[0]) ? regimes[index] : NULL;
}
