/*
 * What a policy does with personal data, as plain facts: the one model the
 * privacy notice, the record of processing and the regime checks are made
 * from.  pt__facts_from_policy() is pure (no I/O, no clock, no
 * environment); the renderers only format facts, and the regime rules are
 * predicates over them.
 */
#ifndef PT_POLICY_FACTS_H
#define PT_POLICY_FACTS_H

#include "policy/policy_internal.h"

/* The stored fields that carry personal data of their own, each with its
 * own treatment and retention.  The rest of a record (date, timestamp,
 * counts, has_errors, session_id, policy) lives as long as the record. */
typedef enum pt__fact_field {
    PT_FACT_CLIENT_IP,
    PT_FACT_USER_AGENT,
    PT_FACT_LINKS,
    PT_FACT_TITLES,
    PT_FACT_FILENAMES,
    PT_FACT__FIELDS
} pt__fact_field;

typedef enum pt__fact_store {
    PT_FACT_STORE_FILE,
    PT_FACT_STORE_DYNAMODB,
    PT_FACT_STORE_OTHER /* a backend registered by the application */
} pt__fact_store;

/* Every string is borrowed from the policy ("" when not set). */
typedef struct pt__facts {
    const char *policy_id;
    const char *source; /* the file the policy came from */
    int dry_run;        /* nothing stored; an audit line per visit */

    /* [notice] */
    const char *controller, *contact, *purpose, *optout_url;
    int purpose_is_default;

    /* client_ip */
    struct {
        unsigned int mode;       /* PT_IP_KEEP, _TRUNCATE, _HASH, _DROP */
        unsigned int ipv4_bits;  /* bits of the address kept before storing */
        unsigned int ipv6_bits;  /* or hashing: 32 and 128 when whole */
        unsigned int hash_bytes; /* mode hash: length of the pseudonym */
        int trusted_proxies;     /* X-Forwarded-For believed from proxies */
        int key_file;            /* one key, in [ip] key_file (path) */
        const char *key_path;    /* that path, or "" */
        pt_rotation rotation;    /* how often the hash key changes */
        unsigned int key_grace_hours; /* a period's key is destroyed this
                                         long after the period ends */
        int key_store;                /* rotating keys: PT_KEY_STORE_FILE or
                                         PT_KEY_STORE_BACKEND */
        const char *key_dir;          /* [ip] key_dir, "" for <path>/keys */
        const char *key_wrap_file;    /* [ip] key_wrap_file, or "" */
    } ip;
    unsigned int user_agent;     /* PT_UA_KEEP, _FAMILY, _DROP */
    unsigned int max_user_agent; /* bytes kept of a kept user agent */
    unsigned int links;          /* PT_LINKS_KEEP, ... */
    unsigned int max_links, max_link_length;
    unsigned int titles, filenames; /* PT_LIST_KEEP or PT_LIST_DROP */
    unsigned int max_filenames, max_filename_length;

    /* opt-out */
    int honor_dnt, honor_gpc;
    const char *optout_cookie;  /* "name=value", or "" */
    unsigned int optout_action; /* PT_OPTOUT_DROP, PT_OPTOUT_ANONYMOUS */

    /* retention, in days; 0 = no expiry */
    unsigned int record_days; /* [retention] ttl_days */
    /* Each field's own retention ([retention] <field>_days): never longer
     * than the record's (the loader refuses it); the record's when the
     * policy sets none. */
    unsigned int field_days[PT_FACT__FIELDS];

    /* storage */
    pt__fact_store store;
    const char *backend, *path, *table, *region; /* "" when not set */

    /* audit */
    int show_raw;
    const char *audit_output;
} pt__facts;

/** The facts of a policy.  Pure: reads the policy only (no environment, no
 *  files, no clock).  The facts borrow the policy's strings. */
void pt__facts_from_policy(pt__facts *out, const pt_policy *policy);

/** Non-zero when the policy stores something of `field`. */
int pt__fact_stored(const pt__facts *f, pt__fact_field field);

/** The longest anything is kept, in days; 0 when something stored has no
 *  expiry at all. */
unsigned int pt__facts_longest_days(const pt__facts *f);

/* ---- documents ------------------------------------------------------------
 * A minimal writer shared by the notice and the record of processing:
 * headings, paragraphs, list items and inline text, as Markdown or as a
 * self-contained HTML page.  Every piece of text is escaped for the
 * format. */

typedef struct pt__doc {
    pt_buf *b;
    int html;
    int block; /* 0: none open, 'p': paragraph, 'l': list item */
} pt__doc;

/** Start a document: the HTML head (inline style, a Content-Security-
 *  Policy that fetches nothing) or nothing for Markdown; then `comment` as
 *  one comment line, and `title` as the top heading. */
void pt__doc_begin(pt__doc *d, pt_buf *b, int html, const char *title,
                   const char *comment);
void pt__doc_heading(pt__doc *d, const char *text);
/** Open a paragraph, or an item of a bulleted list. */
void pt__doc_para(pt__doc *d);
void pt__doc_item(pt__doc *d);
/** Text into the open block, escaped. */
void pt__doc_text(pt__doc *d, const char *fmt, ...) PT__PRINTF(2, 3);
/** A literal (a header, a cookie) as code. */
void pt__doc_code(pt__doc *d, const char *text);
/** A link (an http(s) URL, or an e-mail address as mailto:). */
void pt__doc_link(pt__doc *d, const char *target);
/** Close the open block and the document. */
void pt__doc_end(pt__doc *d);

/** The privacy notice of `f`, appended to `out` as Markdown or HTML.
 *  PT_OK or PT_ENOMEM. */
int pt__notice_render(pt_buf *out, const pt__facts *f, int html);

/** The record of processing activities (GDPR Art. 30(1)) of `f`, appended
 *  to `out` as Markdown or JSON.  PT_OK or PT_ENOMEM. */
int pt__record_render(pt_buf *out, const pt__facts *f, int json);

/* ---- regimes --------------------------------------------------------------
 */

/** One rule of a regime: a predicate over the facts.  `check` returns -1
 *  when the policy passes, otherwise the key (pt__key) whose line the
 *  failure is reported at, chosen with `line` (the line of each key, 0 for
 *  a default) when several keys are to blame. */
typedef struct pt__regime_rule {
    const char *regime;
    const char *id;
    int (*check)(const pt__facts *f, const unsigned int *line);
    const char *message;
    const char *source;
} pt__regime_rule;

/** The rule table, in order; *count receives its length. */
const pt__regime_rule *pt__regime_rules(size_t *count);

/** Run every rule of `regime` over the facts; each failure goes to `cb` as
 *  (source file, line, "regime: message (source)").  Returns the number of
 *  failures, or -1 when no rule belongs to `regime`. */
int pt__regime_run(const pt__facts *f, const unsigned int *line,
                   const char *file, const char *regime, pt_policy_error_fn cb,
                   void *userdata);

#endif
