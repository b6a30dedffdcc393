/*
 * The record of processing activities, in the shape of GDPR Art. 30(1)
 * (a)-(g), from the facts of a policy.  The content is built once into a
 * model of plain strings; Markdown and JSON only format the model.
 */
#include "policy/facts.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX  480
#define ITEMS_MAX 16

enum {
    SEC_CONTROLLER,
    SEC_PURPOSES,
    SEC_SUBJECTS,
    SEC_RECIPIENTS,
    SEC_TRANSFERS,
    SEC_RETENTION,
    SEC_MEASURES,
    SEC__COUNT
};

/* JSON member and Markdown heading of each part of Art. 30(1). */
static const char *const section_key[SEC__COUNT] = {
    "controller", "purposes",  "data_subjects",    "recipients",
    "transfers",  "retention", "security_measures"};
static const char *const section_title[SEC__COUNT] = {
    "(a) Controller",
    "(b) Purposes of the processing",
    "(c) Categories of data subjects",
    "(d) Categories of recipients",
    "(e) Transfers to third countries",
    "(f) Time limits for erasure",
    "(g) Technical and organisational security measures (Art. 32(1))"};

typedef struct field_row {
    const char *names; /* stored attributes */
    char source[TEXT_MAX];
    char stored[TEXT_MAX]; /* "" when not stored */
    unsigned int days;     /* 0: no expiry */
} field_row;

typedef struct model {
    char items[SEC__COUNT][ITEMS_MAX][TEXT_MAX];
    int count[SEC__COUNT];
    field_row rows[12];
    int row_count;
} model;

static void PT__PRINTF(3, 4) add(model *m, int sec, const char *fmt, ...)
{
    va_list ap;
    if (m->count[sec] == ITEMS_MAX)
        return;
    va_start(ap, fmt);
    vsnprintf(m->items[sec][m->count[sec]++], TEXT_MAX, fmt, ap);
    va_end(ap);
}

static field_row *
add_row(model *m, const char *names, unsigned int days, const char *source)
{
    field_row *r = &m->rows[m->row_count++];
    r->names = names;
    r->days = days;
    pt__snprintf(r->source, sizeof(r->source), "%s", source);
    return r;
}

/* "the /24 (IPv4) or /48 (IPv6) network" or "the whole address". */
static void
network_text(char *out, size_t size, const pt__facts *f)
{
    if (f->ip.ipv4_bits >= 32 && f->ip.ipv6_bits >= 128)
        pt__snprintf(out, size, "the whole address");
    else
        pt__snprintf(out, size, "the /%u (IPv4) or /%u (IPv6) network",
                     f->ip.ipv4_bits, f->ip.ipv6_bits);
}

static void
personal_data(model *m, const pt__facts *f)
{
    static const char *const links[] = {
        [PT_LINKS_KEEP] = "the whole URL, credentials (user:pass@) removed",
        [PT_LINKS_STRIP_QUERY] = "the URL without query string and "
                                 "fragment, credentials removed",
        [PT_LINKS_ORIGIN] = "the URL's origin only, scheme://host[:port]",
        [PT_LINKS_DROP] = ""};
    char net[64];
    field_row *r;
    unsigned int days = f->record_days;

    network_text(net, sizeof(net), f);
    r = add_row(m, "client_ip", f->field_days[PT_FACT_CLIENT_IP],
                f->ip.trusted_proxies
                    ? "the client's IP address: the TCP peer, or "
                      "X-Forwarded-For from a trusted proxy"
                    : "the client's IP address (the TCP peer)");
    if (f->ip.mode == PT_IP_KEEP)
        pt__snprintf(r->stored, sizeof(r->stored), "the address in the clear");
    else if (f->ip.mode == PT_IP_TRUNCATE)
        pt__snprintf(r->stored, sizeof(r->stored), "%s (truncated)", net);
    else if (f->ip.mode == PT_IP_HASH)
        pt__snprintf(r->stored, sizeof(r->stored),
                     "a keyed BLAKE2b hash (pseudonym) of %s, %u bytes as hex",
                     net, f->ip.hash_bytes);

    r = add_row(m, "user_agent", f->field_days[PT_FACT_USER_AGENT],
                "the User-Agent request header");
    if (f->user_agent == PT_UA_KEEP)
        pt__snprintf(r->stored, sizeof(r->stored),
                     "the whole string, cut to %u bytes", f->max_user_agent);
    else if (f->user_agent == PT_UA_FAMILY)
        pt__snprintf(r->stored, sizeof(r->stored),
                     "browser family and operating system only, e.g. "
                     "Firefox/Linux");
    r = add_row(m, "links", f->field_days[PT_FACT_LINKS],
                "links the visitor submits to the application");
    if (f->links != PT_LINKS_DROP)
        pt__snprintf(r->stored, sizeof(r->stored),
                     "%s; at most %u links of %u bytes", links[f->links],
                     f->max_links, f->max_link_length);
    r = add_row(m, "titles", f->field_days[PT_FACT_TITLES],
                "names of the files the visitor downloads");
    if (f->titles == PT_LIST_KEEP)
        pt__snprintf(r->stored, sizeof(r->stored),
                     "base name without its extension; at most %u of %u "
                     "bytes",
                     f->max_filenames, f->max_filename_length);
    r = add_row(m, "filenames", f->field_days[PT_FACT_FILENAMES],
                "names of the files the visitor downloads");
    if (f->filenames == PT_LIST_KEEP)
        pt__snprintf(r->stored, sizeof(r->stored),
                     "base names, without directories; at most %u of %u "
                     "bytes",
                     f->max_filenames, f->max_filename_length);
    r = add_row(m, "num_links_submitted, num_files_downloaded", days,
                "the application");
    pt__snprintf(r->stored, sizeof(r->stored),
                 "counts, taken before minimisation");
    r = add_row(m, "has_errors, error_count", days,
                "download errors reported by the application");
    pt__snprintf(r->stored, sizeof(r->stored),
                 "whether any download failed, and how many; messages are "
                 "never stored");
    r = add_row(m, "date, timestamp", days,
                "the time of the visit (the application, or the clock)");
    pt__snprintf(r->stored, sizeof(r->stored),
                 "UTC date, and time to the microsecond");
    r = add_row(m, "session_id, ttl, policy", days, "privtrack itself");
    pt__snprintf(r->stored, sizeof(r->stored),
                 "a random id of the record (not of a person or browser), "
                 "its expiry, and the id of the policy that wrote it (%s)",
                 f->policy_id);
}

static void
controller_and_purposes(model *m, const pt__facts *f)
{
    add(m, SEC_CONTROLLER, "Name and contact details: %s",
        *f->controller ? f->controller : "not set ([notice] controller)");
    add(m, SEC_CONTROLLER, "Contact for data subjects: %s",
        *f->contact ? f->contact : "not set ([notice] contact)");
    add(m, SEC_CONTROLLER,
        "Joint controller, representative, data protection officer: not "
        "recorded in the policy; add them where they exist.");
    add(m, SEC_PURPOSES, "%s", f->purpose);
    if (f->dry_run)
        add(m, SEC_PURPOSES,
            "The policy is a dry run: nothing is stored; one audit line per "
            "visit is written to the audit output (%s).",
            f->audit_output);
}

/* The opt-out signals honoured, joined with ", " ("" when none). */
static void
signal_list(char *out, size_t size, const pt__facts *f)
{
    const char *parts[3];
    int n = 0;
    pt_buf b = PT_BUF_INIT;

    if (f->honor_dnt)
        parts[n++] = "DNT: 1";
    if (f->honor_gpc)
        parts[n++] = "Sec-GPC: 1";
    if (*f->optout_cookie)
        parts[n++] = "the cookie ";
    for (int i = 0; i < n; i++) {
        pt_buf_puts(&b, i ? ", " : "");
        pt_buf_puts(&b, parts[i]);
    }
    if (*f->optout_cookie)
        pt_buf_puts(&b, f->optout_cookie);
    pt__snprintf(out, size, "%s", b.ptr && !b.oom ? b.ptr : "");
    pt_buf_free(&b);
}

static void
subjects(model *m, const pt__facts *f)
{
    char signals[160];
    signal_list(signals, sizeof(signals), f);
    add(m, SEC_SUBJECTS,
        "Visitors of the site whose visits the application "
        "records.");
    if (!*signals)
        add(m, SEC_SUBJECTS,
            "No opt-out signal is honoured: every visit is "
            "recorded.");
    else if (f->optout_action == PT_OPTOUT_DROP)
        add(m, SEC_SUBJECTS, "Visits that opt out (%s) are not recorded.",
            signals);
    else
        add(m, SEC_SUBJECTS,
            "Visits that opt out (%s) are recorded without client_ip, "
            "user_agent, links, titles and filenames.",
            signals);
}

static void
recipients_and_transfers(model *m, const pt__facts *f)
{
    switch (f->store) {
    case PT_FACT_STORE_FILE:
        add(m, SEC_RECIPIENTS,
            "None: records are written to files on the controller's own "
            "server (directory %s).",
            f->path);
        add(m, SEC_TRANSFERS, "None made by privtrack.");
        break;
    case PT_FACT_STORE_DYNAMODB:
        add(m, SEC_RECIPIENTS,
            "Amazon Web Services (Amazon DynamoDB), as processor: table %s, "
            "region %s.",
            *f->table ? f->table
                      : "from $DYNAMODB_TABLE_NAME, else "
                        "link-downloader-visits",
            *f->region ? f->region : "not set in the policy");
        if (*f->region)
            add(m, SEC_TRANSFERS,
                "Records are stored in the AWS region %s: if it is outside "
                "the EEA, that is a transfer to a third country; record its "
                "safeguards (GDPR Chapter V).",
                f->region);
        else
            add(m, SEC_TRANSFERS,
                "The AWS region is not set in the policy (it comes from the "
                "environment): record it, and its safeguards if it is "
                "outside the EEA (GDPR Chapter V).");
        break;
    case PT_FACT_STORE_OTHER:
        add(m, SEC_RECIPIENTS,
            "The storage backend \"%s\" registered by the application: "
            "record who operates it.",
            f->backend);
        add(m, SEC_TRANSFERS, "Depend on the backend \"%s\": record them.",
            f->backend);
        break;
    }
}

static void
retention(model *m, const pt__facts *f)
{
    if (f->record_days)
        add(m, SEC_RETENTION,
            "Records: %u days after the visit (the ttl attribute).",
            f->record_days);
    else
        add(m, SEC_RETENTION,
            "Records: no expiry ([retention] ttl_days = 0); kept until "
            "deleted by hand.");
    int own = 0;
    for (int i = 0; i < m->row_count && i < PT_FACT__FIELDS; i++)
        if (m->rows[i].days != f->record_days && *m->rows[i].stored &&
            m->rows[i].days) {
            add(m, SEC_RETENTION, "%s: %u days after the visit.",
                m->rows[i].names, m->rows[i].days);
            own = 1;
        }
    if (own)
        add(m, SEC_RETENTION,
            "Fields with a retention of their own: reads never return them "
            "past it; privtrack purge removes them from the stored "
            "records%s.",
            f->store == PT_FACT_STORE_DYNAMODB
                ? " (UpdateItem ... REMOVE; DynamoDB's TTL removes only "
                  "whole items)"
                : "");
    if (f->record_days)
        add(m, SEC_RETENTION,
            "Enforcement: reads never return expired records; privtrack "
            "purge deletes them%s.",
            f->store == PT_FACT_STORE_DYNAMODB
                ? "; DynamoDB's TTL on ttl deletes them eventually "
                  "(typically within days)"
                : "");
    add(m, SEC_RETENTION,
        "Copies made outside privtrack (backups, exports, audit output) are "
        "not covered: delete them on the same schedule.");
}

/* Rotating keys ([ip] rotate, key_grace_hours, key_store, key_dir,
 * key_wrap_file). */
static void
rotating_key_measures(model *m, const pt__facts *f)
{
    add(m, SEC_MEASURES,
        "The hash key rotates every %s (UTC), one key per period; each "
        "period's key is destroyed %u hours after the period ends, after "
        "which nobody, the controller included, can tie that period's "
        "pseudonyms to an address, unless a copy of the key survives in a "
        "backup or snapshot of the key store (keep it out of them). A visit "
        "older than every live key is stored without client_ip.",
        f->ip.rotation == PT_ROTATE_DAILY    ? "day"
        : f->ip.rotation == PT_ROTATE_WEEKLY ? "week"
                                             : "month",
        f->ip.key_grace_hours);
    if (f->ip.key_store == PT_KEY_STORE_BACKEND)
        add(m, SEC_MEASURES,
            "Period keys live in the DynamoDB table %s-keys, shared by every "
            "host.",
            *f->table ? f->table : "<table>");
    else if (*f->ip.key_dir)
        add(m, SEC_MEASURES,
            "Period keys live in %s, one 0600 file per period in a 0700 "
            "directory.",
            f->ip.key_dir);
    else
        add(m, SEC_MEASURES,
            "Period keys live in %s/keys, one 0600 file per period, beside "
            "the data: keep them out of the data's backups.",
            f->path);
    if (*f->ip.key_wrap_file)
        add(m, SEC_MEASURES,
            "Period keys are stored only encrypted (XChaCha20-Poly1305) with "
            "the wrapping key in %s.",
            f->ip.key_wrap_file);
    else
        add(m, SEC_MEASURES,
            "Period keys are stored unencrypted unless $PRIVTRACK_KEY_WRAP "
            "gives a wrapping key: whoever can read the key store can tie "
            "the pseudonyms of the periods whose keys are alive to "
            "addresses.");
}

static void
address_measures(model *m, const pt__facts *f)
{
    char net[64];
    network_text(net, sizeof(net), f);
    switch (f->ip.mode) {
    case PT_IP_KEEP:
        add(m, SEC_MEASURES, "Client addresses are stored in the clear.");
        return;
    case PT_IP_DROP:
        add(m, SEC_MEASURES, "Client addresses are not stored.");
        return;
    case PT_IP_TRUNCATE:
        add(m, SEC_MEASURES, "Client addresses are truncated to %s.", net);
        return;
    default:
        break;
    }
    add(m, SEC_MEASURES,
        "Client addresses are pseudonymised: keyed BLAKE2b (libsodium) of "
        "%s, %u bytes kept.",
        net, f->ip.hash_bytes);
    if (f->ip.rotation != PT_ROTATE_NEVER) {
        rotating_key_measures(m, f);
        return;
    }
    if (f->ip.key_file)
        add(m, SEC_MEASURES,
            "The hash key is read from %s; a key file that group or others "
            "can read or write is refused.",
            f->ip.key_path);
    else
        add(m, SEC_MEASURES,
            "The hash key comes from $PRIVTRACK_IP_KEY, else %s/ip.key "
            "(32 random bytes, created 0600 beside the data: keep the key "
            "apart from the data and its backups).",
            f->path);
    add(m, SEC_MEASURES,
        "The hash key does not rotate: a pseudonym links a visitor's "
        "records for as long as the key lives.");
}

static void
measures(model *m, const pt__facts *f)
{
    char signals[160];
    address_measures(m, f);
    add(m, SEC_MEASURES,
        "Minimisation: user_agent %s; links %s; file names %s; titles %s; "
        "error messages never stored.",
        f->user_agent == PT_UA_KEEP     ? "kept whole"
        : f->user_agent == PT_UA_FAMILY ? "reduced to browser family and OS"
                                        : "not stored",
        f->links == PT_LINKS_KEEP          ? "kept whole"
        : f->links == PT_LINKS_STRIP_QUERY ? "without query strings"
        : f->links == PT_LINKS_ORIGIN      ? "reduced to their origin"
                                           : "not stored",
        f->filenames == PT_LIST_KEEP ? "kept (base names)" : "not stored",
        f->titles == PT_LIST_KEEP ? "kept" : "not stored");
    signal_list(signals, sizeof(signals), f);
    if (*signals)
        add(m, SEC_MEASURES,
            "Opt-out checked before anything else is done with a visit: "
            "%s; opted-out visits are %s.",
            signals,
            f->optout_action == PT_OPTOUT_DROP ? "not recorded"
                                               : "recorded anonymously");
    else
        add(m, SEC_MEASURES, "No opt-out signal is honoured.");
    add(m, SEC_MEASURES,
        "Retention enforced by privtrack: every record carries its expiry "
        "(ttl) and the id of the policy that wrote it.");
    add(m, SEC_MEASURES,
        "Dry-run audit (privtrack record --dry-run) shows field by field "
        "what the policy stores, storing nothing; raw addresses and user "
        "agents appear in it only with [audit] show_raw = true (now %s).",
        f->show_raw ? "true" : "false");
    if (f->store == PT_FACT_STORE_DYNAMODB)
        add(m, SEC_MEASURES,
            "DynamoDB is reached over HTTPS (plain HTTP "
            "only on loopback), requests signed with "
            "SigV4.");
    else if (f->store == PT_FACT_STORE_FILE)
        add(m, SEC_MEASURES,
            "The file store creates its files 0600 and its directories "
            "0700.");
    add(m, SEC_MEASURES,
        "Invalid UTF-8 is replaced and over-long values "
        "are cut before anything is stored.");
}

/* ---- formats ------------------------------------------------------------- */

static void
days_text(pt_buf *b, unsigned int days)
{
    if (days)
        pt_buf_printf(b, "%u days", days);
    else
        pt_buf_puts(b, "no expiry");
}

static void
render_markdown(pt_buf *b, const model *m, const pt__facts *f, const char *note)
{
    pt__doc d;
    pt_buf cell = PT_BUF_INIT;

    pt__doc_begin(&d, b, 0, "Record of processing activities", note);
    pt__doc_para(&d);
    pt__doc_text(&d,
                 "Visit statistics recorded by privtrack under policy %s "
                 "(GDPR Art. 30(1)).",
                 f->policy_id);
    for (int s = 0; s < SEC__COUNT; s++) {
        pt__doc_heading(&d, section_title[s]);
        for (int i = 0; i < m->count[s]; i++) {
            pt__doc_item(&d);
            pt__doc_text(&d, "%s", m->items[s][i]);
        }
        if (s != SEC_SUBJECTS)
            continue;
        pt__doc_heading(&d, "(c) Categories of personal data, per field "
                            "as stored");
        for (int i = 0; i < m->row_count; i++) {
            const field_row *r = &m->rows[i];
            pt_buf_clear(&cell);
            days_text(&cell, r->days);
            pt__doc_item(&d);
            pt__doc_code(&d, r->names);
            if (*r->stored)
                pt__doc_text(&d, ": from %s; stored as %s; kept %s.", r->source,
                             r->stored, cell.ptr ? cell.ptr : "");
            else
                pt__doc_text(&d, ": from %s; not stored.", r->source);
        }
    }
    pt__doc_end(&d);
    if (cell.oom)
        b->oom = 1;
    pt_buf_free(&cell);
}

static void
json_member(pt_buf *b, const char *name, const char *value)
{
    pt_buf_printf(b, ",\n  \"%s\": ", name);
    if (value)
        pt_buf_json_string(b, value, strlen(value));
    else
        pt_buf_puts(b, "null");
}

static void
render_json(pt_buf *b, const model *m, const pt__facts *f, const char *note)
{
    char version[64];
    pt__snprintf(version, sizeof(version), "privtrack %s", pt_version());
    pt_buf_puts(b, "{\n  \"document\": \"record of processing activities "
                   "(GDPR Art. 30(1))\"");
    json_member(b, "note", note);
    json_member(b, "generated_by", version);
    json_member(b, "policy", f->policy_id);
    json_member(b, "controller_name", *f->controller ? f->controller : NULL);
    json_member(b, "controller_contact", *f->contact ? f->contact : NULL);
    for (int s = 0; s < SEC__COUNT; s++) {
        pt_buf_printf(b, ",\n  \"%s\": [", section_key[s]);
        for (int i = 0; i < m->count[s]; i++) {
            pt_buf_puts(b, i ? ",\n    " : "\n    ");
            pt_buf_json_string(b, m->items[s][i], strlen(m->items[s][i]));
        }
        pt_buf_puts(b, m->count[s] ? "\n  ]" : "]");
        if (s != SEC_SUBJECTS)
            continue;
        pt_buf_puts(b, ",\n  \"personal_data\": [");
        for (int i = 0; i < m->row_count; i++) {
            const field_row *r = &m->rows[i];
            pt_buf_puts(b, i ? ",\n    {\"fields\": " : "\n    {\"fields\": ");
            pt_buf_json_string(b, r->names, strlen(r->names));
            pt_buf_puts(b, ", \"source\": ");
            pt_buf_json_string(b, r->source, strlen(r->source));
            pt_buf_puts(b, ", \"stored_as\": ");
            if (*r->stored)
                pt_buf_json_string(b, r->stored, strlen(r->stored));
            else
                pt_buf_puts(b, "null");
            pt_buf_puts(b, ", \"retention_days\": ");
            if (*r->stored && r->days)
                pt_buf_printf(b, "%u}", r->days);
            else
                pt_buf_puts(b, "null}");
        }
        pt_buf_puts(b, "\n  ]");
    }
    pt_buf_puts(b, "\n}\n");
}

int
pt__record_render(pt_buf *out, const pt__facts *f, int json)
{
    model *m = calloc(1, sizeof(*m));
    char note[256];

    if (!m)
        return PT_ENOMEM;
    pt__snprintf(note, sizeof(note),
                 "privtrack %s, policy %s: generated from the policy's "
                 "settings. Not legal advice: complete and review it.",
                 pt_version(), f->policy_id);
    controller_and_purposes(m, f);
    subjects(m, f);
    personal_data(m, f);
    recipients_and_transfers(m, f);
    retention(m, f);
    measures(m, f);
    if (json)
        render_json(out, m, f, note);
    else
        render_markdown(out, m, f, note);
    free(m);
    return out->oom ? PT_ENOMEM : PT_OK;
}
