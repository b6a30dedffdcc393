/*
 * The privacy notice: what the facts of a policy mean for a visitor, in
 * plain words.  Every sentence is a statement about the facts (facts.h);
 * tests/e2e/notice_truth.py checks each one against the policy's settings,
 * so a sentence added here needs its check there.
 */
#include "policy/facts.h"

#include <stdio.h>
#include <string.h>

static const char *const period_names[] = {"", "day", "week", "month"};
static const char *const period_every[] = {"", "every day", "every week",
                                           "every month"};

static int
is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* ---- who, why ------------------------------------------------------------ */

static void
say_contact(pt__doc *d, const pt__facts *f, const char *intro)
{
    pt__doc_para(d);
    if (!*f->contact) {
        pt__doc_text(d, "No contact is given yet ([notice] contact is not "
                        "set).");
        return;
    }
    pt__doc_text(d, "%s, %s ", intro,
                 is_url(f->contact) ? "go to" : "write to");
    pt__doc_link(d, f->contact);
    pt__doc_text(d, ".");
}

static void
say_who_and_why(pt__doc *d, const pt__facts *f)
{
    pt__doc_heading(d, "Who is responsible");
    pt__doc_para(d);
    if (*f->controller)
        pt__doc_text(d, "The controller responsible for these records is: %s.",
                     f->controller);
    else
        pt__doc_text(d, "The controller responsible for these records is "
                        "not named yet ([notice] controller is not set).");
    say_contact(d, f, "To ask about these records");

    pt__doc_heading(d, "Why visits are recorded");
    pt__doc_para(d);
    pt__doc_text(d, "Visits are recorded for one purpose: %s.", f->purpose);
}

/* ---- the address --------------------------------------------------------- */

static const char *const numbers[] = {"", "one", "two", "three"};

/* How much of an IPv4 / IPv6 address is kept, as a clause. */
static void
say_kept_bits(pt__doc *d, unsigned int bits, int ipv6)
{
    unsigned int width = ipv6 ? 128 : 32;
    const char *name = ipv6 ? "an IPv6 address" : "an IPv4 address";
    static const char *const example[] = {"", "198.0.0.0", "198.51.0.0",
                                          "198.51.100.0"};
    if (bits >= width)
        pt__doc_text(d, "%s is kept whole", name);
    else if (bits == 0)
        pt__doc_text(d, "%s keeps none of its bits", name);
    else if (!ipv6 && bits % 8 == 0)
        pt__doc_text(
            d, "%s keeps its first %s number%s (198.51.100.7 becomes %s)", name,
            numbers[bits / 8], bits == 8 ? "" : "s", example[bits / 8]);
    else
        pt__doc_text(d, "%s keeps its first %u of %u bits", name, bits, width);
}

static void
say_key(pt__doc *d, const pt__facts *f, int whole)
{
    const char *what = whole ? "address" : "network";
    if (f->ip.rotation == PT_ROTATE_NEVER) {
        pt__doc_text(d,
                     " The same %s gets the same code for as long as the "
                     "site keeps its key. Without the key, nobody can tell "
                     "which address a code stands for; the site holds the "
                     "key, so it can compute the code of a given address "
                     "(to answer your requests, for example).",
                     what);
        return;
    }
    pt__doc_text(d,
                 " The key, and so the code, changes %s (UTC). Each %s's "
                 "key is destroyed ",
                 period_every[f->ip.rotation], period_names[f->ip.rotation]);
    if (f->ip.key_grace_hours == 0)
        pt__doc_text(d, "as soon as the %s ends", period_names[f->ip.rotation]);
    else if (f->ip.key_grace_hours % 24 == 0)
        pt__doc_text(d, "%u day%s after the %s ends",
                     f->ip.key_grace_hours / 24,
                     f->ip.key_grace_hours == 24 ? "" : "s",
                     period_names[f->ip.rotation]);
    else
        pt__doc_text(d, "%u hour%s after the %s ends", f->ip.key_grace_hours,
                     f->ip.key_grace_hours == 1 ? "" : "s",
                     period_names[f->ip.rotation]);
    pt__doc_text(d,
                 ": from then on nobody, the site included, can tell which "
                 "address a code of that %s stands for, unless a copy of "
                 "that key survives in a backup.",
                 period_names[f->ip.rotation]);
}

static void
say_address(pt__doc *d, const pt__facts *f)
{
    int whole = f->ip.ipv4_bits >= 32 && f->ip.ipv6_bits >= 128;

    pt__doc_item(d);
    pt__doc_text(d, "Your IP address, from your connection to the site");
    if (f->ip.trusted_proxies)
        pt__doc_text(d, " (or, when you come through the site's own "
                        "proxies, the address they report)");
    pt__doc_text(d, ".");
    switch (f->ip.mode) {
    case PT_IP_KEEP:
        pt__doc_text(d, " It is stored as it is.");
        return;
    case PT_IP_DROP:
        pt__doc_text(d, " It is not stored.");
        return;
    default:
        break;
    }
    if (f->ip.mode == PT_IP_HASH && whole) {
        pt__doc_text(d, " It is replaced by a code computed from it with a "
                        "secret key.");
    } else {
        pt__doc_text(d, f->ip.mode == PT_IP_TRUNCATE
                            ? " It is shortened before it is stored: "
                            : " It is shortened: ");
        say_kept_bits(d, f->ip.ipv4_bits, 0);
        pt__doc_text(d, "; ");
        say_kept_bits(d, f->ip.ipv6_bits, 1);
        pt__doc_text(d, ".");
        if (f->ip.mode == PT_IP_TRUNCATE)
            return;
        pt__doc_text(d, " What is left is then replaced by a code computed "
                        "from it with a secret key.");
    }
    say_key(d, f, whole);
}

/* ---- the other fields ---------------------------------------------------- */

static void
say_user_agent(pt__doc *d, const pt__facts *f)
{
    pt__doc_item(d);
    pt__doc_text(d, "The identification your browser sends (its user agent: "
                    "browser, version, operating system).");
    if (f->user_agent == PT_UA_KEEP)
        pt__doc_text(d, " It is stored as sent, up to %u bytes.",
                     f->max_user_agent);
    else if (f->user_agent == PT_UA_FAMILY)
        pt__doc_text(d, " Only the browser's family and operating system "
                        "are stored, for example \"Firefox/Linux\".");
    else
        pt__doc_text(d, " It is not stored.");
}

static void
say_links(pt__doc *d, const pt__facts *f)
{
    static const char *const how[] = {
        [PT_LINKS_KEEP] = " They are stored whole, except any user name and "
                          "password in them.",
        [PT_LINKS_STRIP_QUERY] = " They are stored without the part after "
                                 "\"?\" or \"#\", and without any user name "
                                 "and password.",
        [PT_LINKS_ORIGIN] = " Only the site each one points to is stored "
                            "(for example https://music.example).",
        [PT_LINKS_DROP] = " They are not stored.",
    };
    pt__doc_item(d);
    pt__doc_text(d,
                 "The links you submit to the site.%s How many you "
                 "submitted is stored.",
                 how[f->links]);
}

static void
say_files(pt__doc *d, const pt__facts *f)
{
    int names = f->filenames == PT_LIST_KEEP,
        titles = f->titles == PT_LIST_KEEP;
    pt__doc_item(d);
    pt__doc_text(d, "The names of the files you download.");
    if (names && titles)
        pt__doc_text(d, " They are stored without folders, and so are "
                        "their titles (the names without their extension).");
    else if (names)
        pt__doc_text(d, " They are stored without folders; their titles "
                        "are not.");
    else if (titles)
        pt__doc_text(d, " Only their titles (the names without their "
                        "extension, without folders) are stored.");
    else
        pt__doc_text(d, " They are not stored, nor are their titles.");
    pt__doc_text(d, " How many files you downloaded is stored.");
}

static void
say_collected(pt__doc *d, const pt__facts *f)
{
    pt__doc_heading(d, "What is recorded");
    if (f->dry_run) {
        pt__doc_para(d);
        pt__doc_text(d, "This site is testing these settings (a dry run): "
                        "no record of your visit is stored. For each visit, "
                        "a report of what would be stored is written to the "
                        "site's audit output; below, \"stored\" means "
                        "written to that report.");
        if (f->show_raw)
            pt__doc_text(d, " That report shows your IP address and user "
                            "agent as they were received.");
    }
    pt__doc_para(d);
    pt__doc_text(d, "For each visit, the site receives the following, and "
                    "keeps only what is said here:");
    say_address(d, f);
    say_user_agent(d, f);
    say_links(d, f);
    say_files(d, f);
    pt__doc_item(d);
    pt__doc_text(d, "Whether your downloads failed. Only whether they "
                    "failed and how many is stored, never the error "
                    "messages.");
    pt__doc_item(d);
    pt__doc_text(d, "The time of your visit. Its date and time are stored, "
                    "to the microsecond (UTC).");
    pt__doc_para(d);
    pt__doc_text(d, "Each record also gets a random identifier, which "
                    "identifies the record, not you or your browser. These "
                    "records hold nothing else about your visit.");
}

/* ---- retention ----------------------------------------------------------- */

static const char *const field_labels[PT_FACT__FIELDS] = {
    [PT_FACT_CLIENT_IP] = "The stored address is",
    [PT_FACT_USER_AGENT] = "The stored user agent is",
    [PT_FACT_LINKS] = "The stored links are",
    [PT_FACT_TITLES] = "The stored titles are",
    [PT_FACT_FILENAMES] = "The stored file names are",
};

static void
say_days(pt__doc *d, unsigned int days)
{
    pt__doc_text(d, "%u day%s", days, days == 1 ? "" : "s");
}

static void
say_retention(pt__doc *d, const pt__facts *f)
{
    pt__doc_heading(d, "How long it is kept");
    if (f->dry_run) {
        pt__doc_para(d);
        pt__doc_text(d, "No record is stored while the site tests its "
                        "settings; the audit report is not deleted "
                        "automatically.");
        return;
    }
    for (int i = 0; i < PT_FACT__FIELDS; i++) {
        if (!pt__fact_stored(f, (pt__fact_field)i) ||
            f->field_days[i] == f->record_days || f->field_days[i] == 0)
            continue;
        pt__doc_para(d);
        pt__doc_text(d, "%s removed from a record ", field_labels[i]);
        say_days(d, f->field_days[i]);
        pt__doc_text(d, " after your visit.");
    }
    pt__doc_para(d);
    if (f->record_days == 0) {
        pt__doc_text(d, "Records have no expiry date: they are kept until "
                        "the site deletes them.");
        return;
    }
    pt__doc_text(d, "Each record expires ");
    say_days(d, f->record_days);
    pt__doc_text(d, " after your visit: it is no longer used after that, "
                    "and it is deleted from storage.");
    if (f->store == PT_FACT_STORE_DYNAMODB)
        pt__doc_text(d, " Amazon DynamoDB deletes expired records itself, "
                        "usually within a few days; the site's clean-up can "
                        "delete them sooner.");
    else if (f->store == PT_FACT_STORE_FILE)
        pt__doc_text(d, " Expired records are deleted by the site's "
                        "clean-up.");
}

/* ---- opt-out ------------------------------------------------------------- */

static void
say_optout(pt__doc *d, const pt__facts *f)
{
    int any = f->honor_dnt || f->honor_gpc || *f->optout_cookie;

    pt__doc_heading(d, "Your choices");
    pt__doc_para(d);
    if (!any) {
        pt__doc_text(d, "This site offers no way to opt out of this "
                        "recording.");
    } else {
        pt__doc_text(d, "You can opt out of this recording in these ways:");
        if (f->honor_dnt) {
            pt__doc_item(d);
            pt__doc_text(d, "Turn on Do Not Track in your browser (it sends "
                            "the header ");
            pt__doc_code(d, "DNT: 1");
            pt__doc_text(d, ").");
        }
        if (f->honor_gpc) {
            pt__doc_item(d);
            pt__doc_text(d, "Turn on Global Privacy Control in your browser "
                            "(it sends the header ");
            pt__doc_code(d, "Sec-GPC: 1");
            pt__doc_text(d, ").");
        }
        if (*f->optout_cookie) {
            pt__doc_item(d);
            pt__doc_text(d, "Set the cookie ");
            pt__doc_code(d, f->optout_cookie);
            pt__doc_text(d, " for this site");
            if (*f->optout_url) {
                pt__doc_text(d, ": the page ");
                pt__doc_link(d, f->optout_url);
                pt__doc_text(d, " sets it for you");
            }
            pt__doc_text(d, ".");
        }
        pt__doc_para(d);
        if (f->optout_action == PT_OPTOUT_DROP)
            pt__doc_text(d, "When you opt out, nothing of your visit is "
                            "recorded.");
        else
            pt__doc_text(d, "When you opt out, your visit is still "
                            "counted: its date and time, how many links and "
                            "files it had and whether its downloads failed "
                            "are recorded, without your address, user "
                            "agent, links or file names.");
    }
    if (!f->honor_dnt || !f->honor_gpc) {
        pt__doc_para(d);
        if (!f->honor_dnt && !f->honor_gpc)
            pt__doc_text(d, "Do Not Track and Global Privacy Control are not "
                            "honoured.");
        else
            pt__doc_text(d, "%s is not honoured.",
                         f->honor_dnt ? "Global Privacy Control"
                                      : "Do Not Track");
    }
}

/* ---- rights, storage ----------------------------------------------------- */

static void
say_rights(pt__doc *d, const pt__facts *f)
{
    int network = f->ip.ipv4_bits < 32 || f->ip.ipv6_bits < 128;

    pt__doc_heading(d, "Your rights");
    pt__doc_para(d);
    pt__doc_text(d, "You can ask the controller for access to the records "
                    "about you, for a copy of them, for their correction or "
                    "erasure, or for their use to be restricted, and you can "
                    "object to this recording. You can also complain to a "
                    "data protection authority.");
    pt__doc_para(d);
    if (f->ip.mode == PT_IP_DROP) {
        pt__doc_text(d, "The records hold no address, so they can only be "
                        "found from the times of your visits and what you "
                        "downloaded.");
    } else {
        pt__doc_text(d, "To find the records about you, the site needs your "
                        "IP address and the dates of your visits.");
        if (network)
            pt__doc_text(d, " Since only part of the address is kept, the "
                            "records found may also be other people's on the "
                            "same network: you may be asked to confirm times "
                            "or downloads.");
        if (f->ip.mode == PT_IP_HASH && f->ip.rotation != PT_ROTATE_NEVER)
            pt__doc_text(d,
                         " Once a %s's key is destroyed, the records of "
                         "that %s can no longer be found from your "
                         "address.",
                         period_names[f->ip.rotation],
                         period_names[f->ip.rotation]);
    }
    say_contact(d, f, "To exercise these rights");
}

static void
say_storage(pt__doc *d, const pt__facts *f)
{
    pt__doc_heading(d, "Where it is kept");
    pt__doc_para(d);
    if (f->dry_run) {
        pt__doc_text(d, "While the site tests its settings, no record is "
                        "stored.");
        return;
    }
    switch (f->store) {
    case PT_FACT_STORE_FILE:
        pt__doc_text(d, "The records are stored in files on the site's own "
                        "server.");
        break;
    case PT_FACT_STORE_DYNAMODB:
        pt__doc_text(d, "The records are stored in Amazon DynamoDB, a "
                        "database service that Amazon Web Services runs on "
                        "the site's behalf, ");
        if (*f->region)
            pt__doc_text(d, "in its region %s.", f->region);
        else
            pt__doc_text(d, "in the region set on the site's server.");
        break;
    case PT_FACT_STORE_OTHER:
        pt__doc_text(d,
                     "The records are stored by the site's storage "
                     "module \"%s\".",
                     f->backend);
        break;
    }
}

int
pt__notice_render(pt_buf *out, const pt__facts *f, int html)
{
    pt__doc d;
    char comment[256];

    pt__snprintf(comment, sizeof(comment),
                 "privtrack %s, policy %s: generated from the policy's "
                 "settings. Not legal advice: review it before publishing.",
                 pt_version(), f->policy_id);
    pt__doc_begin(&d, out, html, "How this site records visits", comment);
    say_who_and_why(&d, f);
    say_collected(&d, f);
    say_retention(&d, f);
    say_optout(&d, f);
    say_rights(&d, f);
    say_storage(&d, f);
    pt__doc_end(&d);
    return out->oom ? PT_ENOMEM : PT_OK;
}
