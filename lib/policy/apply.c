/*
 * pt__policy_apply: one visit in, at most one record out.
 *
 * This is on the web request's path, so it allocates once: every string
 * the record keeps is built in a per-thread scratch buffer, and
 * pt__record_dup() copies the finished record into a single allocation.
 * The audit line (dry-run) is written alongside; it is not on the fast
 * path.
 */
#include "policy/policy_internal.h"
#include "record/record.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_KEEP (256 * 1024) /* larger scratch is freed after use */

typedef struct scratch {
    pt_buf text; /* the record's variable strings, NUL-separated */
    pt_buf tmp;  /* one value being minimised */
    size_t *offsets;
    size_t offsets_cap;
    const char **items;
    size_t items_cap;
} scratch;

static _Thread_local scratch tls;
static _Thread_local int tls_registered;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_release(scratch *s)
{
    pt_buf_free(&s->text);
    pt_buf_free(&s->tmp);
    free(s->offsets);
    free(s->items);
    memset(s, 0, sizeof(*s));
}

static void
scratch_destructor(void *p)
{
    scratch_release(p);
}

static void
scratch_key_create(void)
{
    (void)pthread_key_create(&scratch_key, scratch_destructor);
}

/* The calling thread's scratch, freed when the thread exits. */
static scratch *
scratch_get(void)
{
    if (!tls_registered) {
        pthread_once(&scratch_once, scratch_key_create);
        (void)pthread_setspecific(scratch_key, &tls);
        tls_registered = 1;
    }
    pt_buf_clear(&tls.text);
    tls.text.oom = 0;
    return &tls;
}

static int
scratch_reserve_items(scratch *s, size_t n)
{
    if (n <= s->offsets_cap)
        return 0;
    free(s->offsets);
    free(s->items);
    s->offsets = malloc(n * sizeof(*s->offsets));
    s->items = malloc(n * sizeof(*s->items));
    if (!s->offsets || !s->items) {
        free(s->offsets);
        free(s->items);
        s->offsets = NULL;
        s->items = NULL;
        s->offsets_cap = s->items_cap = 0;
        return -1;
    }
    s->offsets_cap = s->items_cap = n;
    return 0;
}

/* ---- audit helpers --------------------------------------------------------
 */

typedef struct audit_ctx {
    pt_buf *b; /* NULL: no audit */
    int show_raw;
    int changes;
} audit_ctx;

static void
change_begin(audit_ctx *a, const char *field, const char *rule)
{
    pt_buf_puts(a->b, a->changes++ ? ",{\"field\":\"" : "{\"field\":\"");
    pt_buf_puts(a->b, field);
    pt_buf_puts(a->b, "\",\"rule\":");
    pt_buf_json_string(a->b, rule, strlen(rule));
}

/* "before" of a value that may not be shown raw. */
static void
before_hidden(audit_ctx *a, const char *kind, const char *raw, size_t len)
{
    pt_buf_puts(a->b, ",\"before\":");
    if (a->show_raw)
        pt_buf_json_string(a->b, raw, len);
    else
        pt_buf_printf(a->b, "{\"kind\":\"%s\",\"length\":%zu}", kind, len);
}

static void
before_list(audit_ctx *a, const char *const *raw, size_t count)
{
    pt_buf_puts(a->b, ",\"before\":");
    if (!a->show_raw) {
        pt_buf_printf(a->b, "{\"count\":%zu}", count);
        return;
    }
    pt_buf_putc(a->b, '[');
    for (size_t i = 0; i < count; i++) {
        if (i)
            pt_buf_putc(a->b, ',');
        if (raw[i])
            pt_buf_json_string(a->b, raw[i], strlen(raw[i]));
        else
            pt_buf_puts(a->b, "null");
    }
    pt_buf_putc(a->b, ']');
}

static void
after_string(audit_ctx *a, const char *s)
{
    pt_buf_puts(a->b, ",\"after\":");
    if (s)
        pt_buf_json_string(a->b, s, strlen(s));
    else
        pt_buf_puts(a->b, "null");
    pt_buf_putc(a->b, '}');
}

/* "after" of a list: the values already in the scratch (`count` items
 * from offset index `first`), or null when the list was removed. */
static void
after_list(audit_ctx *a, const pt_buf *text, const size_t *offsets,
           size_t first, size_t count)
{
    pt_buf_puts(a->b, ",\"after\":");
    if (!offsets || text->oom) {
        pt_buf_puts(a->b, "null}");
        return;
    }
    pt_buf_putc(a->b, '[');
    for (size_t i = first; i < first + count; i++) {
        const char *item = text->ptr + offsets[i];
        if (i > first)
            pt_buf_putc(a->b, ',');
        pt_buf_json_string(a->b, item, strlen(item));
    }
    pt_buf_puts(a->b, "]}");
}

/* ---- the visit's state while it is being minimised ---------------------- */

typedef struct work {
    const pt_policy *policy;
    const pt__ip_key *key;
    const pt_visit *visit;
    scratch *s;
    audit_ctx audit;
    const char *optout_rule; /* non-NULL: anonymous opt-out */
    size_t nitems;           /* offsets used */
    char client_ip[80];      /* an address's text, or up to 64 hex digits */
    int has_client_ip;
    size_t ua_offset;
    int has_ua;
} work;

/* Close the current string in the scratch and remember where it starts. */
static void
end_item(work *w, size_t start)
{
    pt_buf_putc(&w->s->text, '\0');
    w->s->offsets[w->nitems++] = start;
}

/* ---- client address -------------------------------------------------------
 */

static const char *
ip_rule(work *w, const pt__addr *addr, char *rule, size_t size, int from_proxy)
{
    const unsigned int *num = w->policy->num;
    unsigned int prefix =
        addr->family == 4 ? num[PT_K_IP_IPV4_PREFIX] : num[PT_K_IP_IPV6_PREFIX];
    const char *via = from_proxy ? "ip.trusted_proxies(X-Forwarded-For)," : "";
    switch (num[PT_K_IP_MODE]) {
    case PT_IP_KEEP:
        pt__snprintf(rule, size, "%sip.mode=keep", via);
        break;
    case PT_IP_TRUNCATE:
        pt__snprintf(rule, size, "%sip.mode=truncate(/%u)", via, prefix);
        break;
    case PT_IP_HASH:
        if (num[PT_K_IP_TRUNCATE_BEFORE_HASH])
            pt__snprintf(rule, size, "%sip.mode=hash(/%u,%u bytes%s)", via,
                         prefix, num[PT_K_IP_HASH_BYTES],
                         w->key && w->key->ephemeral ? ",ephemeral key" : "");
        else
            pt__snprintf(rule, size, "%sip.mode=hash(%u bytes%s)", via,
                         num[PT_K_IP_HASH_BYTES],
                         w->key && w->key->ephemeral ? ",ephemeral key" : "");
        break;
    default:
        pt__snprintf(rule, size, "%sip.mode=drop", via);
        break;
    }
    return rule;
}

static int
transform_ip(work *w, pt__addr *addr)
{
    const unsigned int *num = w->policy->num;
    unsigned int width = addr->family == 4 ? 32 : 128;
    unsigned int prefix =
        addr->family == 4 ? num[PT_K_IP_IPV4_PREFIX] : num[PT_K_IP_IPV6_PREFIX];
    switch (num[PT_K_IP_MODE]) {
    case PT_IP_KEEP:
        pt__addr_format(addr, w->client_ip);
        break;
    case PT_IP_TRUNCATE:
        pt__addr_truncate(addr, prefix);
        pt__addr_format(addr, w->client_ip);
        break;
    case PT_IP_HASH:
        if (!num[PT_K_IP_TRUNCATE_BEFORE_HASH])
            prefix = width;
        pt__addr_truncate(addr, prefix);
        if (pt__addr_hash(addr, prefix, w->key, num[PT_K_IP_HASH_BYTES],
                          w->client_ip) != PT_OK)
            return pt__fail(PT_ECRYPTO, "[ip] mode = hash but no hash key "
                                        "was loaded");
        break;
    default:
        return PT_OK;
    }
    w->has_client_ip = 1;
    return PT_OK;
}

static int
do_client_ip(work *w, unsigned int *invalid)
{
    pt__addr addr;
    const char *raw = NULL;
    size_t raw_len = 0;
    char rule[96];
    int found, rc, from_proxy;
    int mode = (int)w->policy->num[PT_K_IP_MODE];

    if (mode == PT_IP_DROP && !w->audit.b && !w->optout_rule)
        return PT_OK; /* nothing to compute */
    found =
        pt__client_addr(w->policy, w->visit, &addr, &raw, &raw_len, invalid);
    from_proxy = raw && raw != w->visit->remote_addr;
    if (!found) {
        if (w->audit.b && raw && raw_len) {
            change_begin(&w->audit, "client_ip", "ip.invalid(not stored)");
            before_hidden(&w->audit, "invalid", raw, raw_len);
            after_string(&w->audit, NULL);
        }
        return PT_OK;
    }
    if (w->optout_rule) {
        if (w->audit.b) {
            change_begin(&w->audit, "client_ip", w->optout_rule);
            before_hidden(&w->audit, addr.family == 4 ? "ipv4" : "ipv6", raw,
                          raw_len);
            after_string(&w->audit, NULL);
        }
        return PT_OK;
    }
    if (w->audit.b)
        ip_rule(w, &addr, rule, sizeof(rule), from_proxy);
    rc = transform_ip(w, &addr);
    if (rc != PT_OK)
        return rc;
    if (w->audit.b && !(mode == PT_IP_KEEP && raw_len == strlen(w->client_ip) &&
                        memcmp(raw, w->client_ip, raw_len) == 0)) {
        change_begin(&w->audit, "client_ip", rule);
        before_hidden(&w->audit, addr.family == 4 ? "ipv4" : "ipv6", raw,
                      raw_len);
        after_string(&w->audit, w->has_client_ip ? w->client_ip : NULL);
    }
    return PT_OK;
}

/* ---- user agent ------------------------------------------------------------
 */

static void
do_user_agent(work *w, const char *ua)
{
    const unsigned int *num = w->policy->num;
    size_t len, start = w->s->text.len;
    char rule[64];
    int changed = 1;

    if (!ua)
        return;
    len = strlen(ua);
    if (w->optout_rule) {
        pt__snprintf(rule, sizeof(rule), "%s", w->optout_rule);
    } else if (num[PT_K_FIELDS_USER_AGENT] == PT_UA_FAMILY) {
        char family[PT_UA_FAMILY_MAX];
        size_t n = pt__user_agent_family(ua, len, family);
        pt_buf_put(&w->s->text, family, n);
        pt__snprintf(rule, sizeof(rule), "fields.user_agent=family");
        w->has_ua = 1;
    } else if (num[PT_K_FIELDS_USER_AGENT] == PT_UA_KEEP) {
        changed = pt__utf8_sanitize(&w->s->text, ua, len,
                                    num[PT_K_FIELDS_MAX_USER_AGENT]);
        pt__snprintf(rule, sizeof(rule),
                     "fields.user_agent=keep,fields.max_user_agent=%u,utf8",
                     num[PT_K_FIELDS_MAX_USER_AGENT]);
        w->has_ua = 1;
    } else {
        pt__snprintf(rule, sizeof(rule), "fields.user_agent=drop");
    }
    if (w->has_ua) {
        w->ua_offset = start;
        pt_buf_putc(&w->s->text, '\0');
    }
    if (w->audit.b && changed) {
        change_begin(&w->audit, "user_agent", rule);
        before_hidden(&w->audit, "user_agent", ua, len);
        after_string(&w->audit, w->has_ua && !w->s->text.oom
                                    ? w->s->text.ptr + start
                                    : NULL);
    }
}

/* ---- links ------------------------------------------------------------------
 */

static const char *const link_mode_names[] = {"keep", "strip_query", "origin",
                                              "drop"};

/* Returns the number of links kept (the first items of the scratch). */
static size_t
do_links(work *w)
{
    const pt_visit *v = w->visit;
    const unsigned int *num = w->policy->num;
    size_t cap = num[PT_K_FIELDS_MAX_LINKS], kept = 0;
    size_t count = v->link_count < cap ? v->link_count : cap;
    int mode = (int)num[PT_K_FIELDS_LINKS], changed = v->link_count > cap;

    if (w->optout_rule || mode == PT_LINKS_DROP) {
        if (w->audit.b && v->link_count) {
            char rule[64];
            pt__snprintf(rule, sizeof(rule), "%s",
                         w->optout_rule ? w->optout_rule : "fields.links=drop");
            change_begin(&w->audit, "links", rule);
            before_list(&w->audit, v->links, v->link_count);
            after_list(&w->audit, NULL, NULL, 0, 0);
        }
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        const char *url = v->links[i];
        size_t len, start = w->s->text.len;
        if (!url)
            continue;
        len = strlen(url);
        pt_buf_clear(&w->s->tmp);
        if (pt__url_minimise(&w->s->tmp, url, len, mode) != 0) {
            changed = 1;
            continue;
        }
        pt__utf8_sanitize(&w->s->text, w->s->tmp.ptr ? w->s->tmp.ptr : "",
                          w->s->tmp.len, num[PT_K_FIELDS_MAX_LINK_LENGTH]);
        if (!w->s->text.oom && (w->s->text.len - start != len ||
                                memcmp(w->s->text.ptr + start, url, len) != 0))
            changed = 1;
        end_item(w, start);
        kept++;
    }
    if (w->audit.b && changed) {
        char rule[128];
        pt__snprintf(rule, sizeof(rule),
                     "fields.links=%s(credentials removed),fields.max_links="
                     "%u,fields.max_link_length=%u,utf8",
                     link_mode_names[mode], num[PT_K_FIELDS_MAX_LINKS],
                     num[PT_K_FIELDS_MAX_LINK_LENGTH]);
        change_begin(&w->audit, "links", rule);
        before_list(&w->audit, v->links, v->link_count);
        after_list(&w->audit, &w->s->text, w->s->offsets, 0, kept);
    }
    return kept;
}

/* ---- file names and titles --------------------------------------------------
 */

/* One base name, sanitised and capped, into the scratch (the title when
 * `title`).  Returns 1 when it differs from the path it came from, -1
 * when nothing is left. */
static int
put_file(work *w, const char *path, int title, size_t maxlen)
{
    size_t len = strlen(path), blen, start = w->s->text.len, n;
    const char *base = pt__base_name(path, len, &blen);
    int changed;

    if (blen == 0)
        return -1;
    pt_buf_clear(&w->s->tmp);
    pt__utf8_sanitize(&w->s->tmp, base, blen, 0);
    if (!w->s->tmp.ptr || w->s->tmp.oom)
        return -1;
    /* Invalid bytes always change the length (1 byte -> 3). */
    changed = blen != len || w->s->tmp.len != blen;
    n = title ? pt__title_len(w->s->tmp.ptr, w->s->tmp.len) : w->s->tmp.len;
    changed |= pt__utf8_sanitize(&w->s->text, w->s->tmp.ptr, n, maxlen);
    end_item(w, start);
    return changed;
}

static void
audit_files(work *w, int keep_files, int keep_titles, int changed, size_t count,
            size_t nlinks, size_t nfiles)
{
    const pt_visit *v = w->visit;
    const unsigned int *num = w->policy->num;
    if (!keep_files || changed) {
        char rule[128];
        if (w->optout_rule)
            pt__snprintf(rule, sizeof(rule), "%s", w->optout_rule);
        else if (!keep_files)
            pt__snprintf(rule, sizeof(rule), "fields.filenames=drop");
        else
            pt__snprintf(rule, sizeof(rule),
                         "fields.filenames=keep(base names),"
                         "fields.max_filenames=%u,fields.max_filename_length="
                         "%u,utf8",
                         num[PT_K_FIELDS_MAX_FILENAMES],
                         num[PT_K_FIELDS_MAX_FILENAME_LENGTH]);
        change_begin(&w->audit, "filenames", rule);
        before_list(&w->audit, v->filenames, v->filename_count);
        after_list(&w->audit, &w->s->text, keep_files ? w->s->offsets : NULL,
                   nlinks, nfiles);
    }
    if (!keep_titles) {
        change_begin(&w->audit, "titles",
                     w->optout_rule ? w->optout_rule : "fields.titles=drop");
        pt_buf_printf(w->audit.b, ",\"before\":{\"count\":%zu}", count);
        after_string(&w->audit, NULL);
    }
}

/* File names (when kept), then titles (when kept), into the scratch after
 * the `nlinks` links. */
static void
do_files(work *w, size_t nlinks, size_t *nfiles, size_t *ntitles)
{
    const pt_visit *v = w->visit;
    const unsigned int *num = w->policy->num;
    size_t cap = num[PT_K_FIELDS_MAX_FILENAMES];
    size_t count = v->filename_count < cap ? v->filename_count : cap;
    size_t maxlen = num[PT_K_FIELDS_MAX_FILENAME_LENGTH];
    int keep_files = num[PT_K_FIELDS_FILENAMES] == PT_LIST_KEEP;
    int keep_titles = num[PT_K_FIELDS_TITLES] == PT_LIST_KEEP;
    int changed = v->filename_count > cap;

    *nfiles = *ntitles = 0;
    if (w->optout_rule)
        keep_files = keep_titles = 0;
    for (size_t i = 0; keep_files && i < count; i++) {
        int c = v->filenames[i] ? put_file(w, v->filenames[i], 0, maxlen) : -1;
        changed |= c != 0;
        *nfiles += c >= 0;
    }
    for (size_t i = 0; keep_titles && i < count; i++) {
        if (v->filenames[i] && put_file(w, v->filenames[i], 1, maxlen) >= 0)
            (*ntitles)++;
    }
    if (w->audit.b && v->filename_count)
        audit_files(w, keep_files, keep_titles, changed, count, nlinks,
                    *nfiles);
}

/* ---- the whole visit
 * --------------------------------------------------------- */

/* The names pt_drop_reason_name() gives (the pipeline layer owns that
 * function; the policy layer does not link against it). */
static const char *
reason_name(pt_drop_reason reason)
{
    switch (reason) {
    case PT_DROP_DNT:
        return "dnt";
    case PT_DROP_GPC:
        return "gpc";
    case PT_DROP_COOKIE:
        return "cookie";
    default:
        return "none";
    }
}

static pt_drop_reason
optout_reason(const pt_policy *policy, const pt__visit_headers *h)
{
    if (policy->num[PT_K_OPTOUT_HONOR_DNT] && h->dnt)
        return PT_DROP_DNT;
    if (policy->num[PT_K_OPTOUT_HONOR_GPC] && h->gpc)
        return PT_DROP_GPC;
    if (h->cookie)
        return PT_DROP_COOKIE;
    return PT_DROP_NONE;
}

/* `reason` is why the visit was dropped, or why it was anonymised when
 * `decision` is "stored". */
static void
audit_head(audit_ctx *a, const pt_policy *policy, const char *decision,
           pt_drop_reason reason, const pt__ip_key *key)
{
    int stored = decision[0] == 's';
    pt_buf_printf(a->b, "{\"decision\":\"%s\"", decision);
    if (reason != PT_DROP_NONE)
        pt_buf_printf(a->b, ",\"%s\":\"%s\"", stored ? "optout" : "reason",
                      reason_name(reason));
    pt_buf_puts(a->b, ",\"policy\":");
    pt_buf_json_string(a->b, policy->id, strlen(policy->id));
    if (key && key->ephemeral && policy->num[PT_K_IP_MODE] == PT_IP_HASH)
        pt_buf_puts(a->b, ",\"ephemeral_key\":true");
    pt_buf_puts(a->b, ",\"changes\":[");
}

static int
check_visit(const pt_visit *v)
{
    if (v->version < 1)
        return pt__fail(PT_EINVAL, "visit version %u (expected %d)", v->version,
                        PT_VISIT_VERSION);
    if ((v->header_count && !v->headers) || (v->link_count && !v->links) ||
        (v->filename_count && !v->filenames))
        return pt__fail(PT_EINVAL, "visit has a count without its array");
    return PT_OK;
}

static void
fill_times(pt_record *r, const pt_policy *policy, int64_t time_us, char *date,
           char *timestamp, char *session)
{
    int64_t secs =
        time_us >= 0 ? time_us / 1000000 : -((-time_us + 999999) / 1000000);
    unsigned int days = policy->num[PT_K_RETENTION_TTL_DAYS];
    pt__format_date(date, time_us);
    pt__format_timestamp(timestamp, time_us);
    pt__session_id(session, secs);
    r->date = date;
    r->timestamp = timestamp;
    r->session_id = session;
    r->ttl = days ? secs + (int64_t)days * 86400 : 0;
}

/* Everything after the opt-out decision: the record's fields. */
static int
build_record(work *w, const pt__visit_headers *h, int64_t time_us,
             pt__apply_result *result)
{
    const pt_visit *v = w->visit;
    char date[PT_DATE_LEN + 1], timestamp[PT_TIMESTAMP_LEN + 1], session[32];
    size_t nlinks, nfiles, ntitles;
    pt_record r;
    int rc;

    size_t max_links = w->policy->num[PT_K_FIELDS_MAX_LINKS];
    size_t max_files = w->policy->num[PT_K_FIELDS_MAX_FILENAMES];
    size_t items =
        (v->link_count < max_links ? v->link_count : max_links) +
        2 * (v->filename_count < max_files ? v->filename_count : max_files);
    if (scratch_reserve_items(w->s, items + 1) != 0)
        return pt__fail(PT_ENOMEM, "out of memory applying the policy");
    rc = do_client_ip(w, &result->invalid_addresses);
    if (rc != PT_OK)
        return rc;
    do_user_agent(w, h->user_agent);
    nlinks = do_links(w);
    do_files(w, nlinks, &nfiles, &ntitles);
    if (w->s->text.oom)
        return pt__fail(PT_ENOMEM, "out of memory applying the policy");

    memset(&r, 0, sizeof(r));
    fill_times(&r, w->policy, time_us, date, timestamp, session);
    for (size_t i = 0; i < w->nitems; i++)
        w->s->items[i] = w->s->text.ptr + w->s->offsets[i];
    r.client_ip = w->has_client_ip ? w->client_ip : NULL;
    r.user_agent = w->has_ua ? w->s->text.ptr + w->ua_offset : NULL;
    r.num_links_submitted = (int64_t)v->link_count;
    r.num_files_downloaded = (int64_t)v->filename_count;
    r.links = nlinks ? w->s->items : NULL;
    r.link_count = nlinks;
    r.filenames = nfiles ? w->s->items + nlinks : NULL;
    r.filename_count = nfiles;
    r.titles = ntitles ? w->s->items + nlinks + nfiles : NULL;
    r.title_count = ntitles;
    r.error_count = (int64_t)v->error_count;
    r.has_errors = v->error_count > 0;
    r.policy = w->policy->id;
    rc = pt__record_dup(&result->record, &r);
    if (rc != PT_OK)
        return rc;
    if (w->audit.b) {
        pt_buf_puts(w->audit.b, "],\"record\":");
        pt__record_json(w->audit.b, result->record);
        pt_buf_putc(w->audit.b, '}');
    }
    return PT_OK;
}

int
pt__policy_apply(const pt_policy *policy, const pt__ip_key *key,
                 const pt_visit *visit, int64_t now_us,
                 pt__apply_result *result, pt_buf *audit)
{
    pt__visit_headers h;
    pt_drop_reason reason;
    work w;
    char optout_rule[64];
    size_t audit_start = audit ? audit->len : 0;
    int rc;

    if (!result)
        return pt__fail(PT_EINVAL, "pt__policy_apply: result is NULL");
    memset(result, 0, sizeof(*result));
    if (!policy || !visit)
        return pt__fail(PT_EINVAL, "pt__policy_apply: NULL argument");
    rc = check_visit(visit);
    if (rc != PT_OK) {
        result->dropped = PT_DROP_INVALID;
        return rc;
    }
    pt__scan_headers(policy, visit, &h);
    reason = optout_reason(policy, &h);

    memset(&w, 0, sizeof(w));
    w.policy = policy;
    w.key = key;
    w.visit = visit;
    w.audit.b = audit;
    w.audit.show_raw = (int)policy->num[PT_K_AUDIT_SHOW_RAW];
    if (reason != PT_DROP_NONE &&
        policy->num[PT_K_OPTOUT_ACTION] == PT_OPTOUT_DROP) {
        result->dropped = reason;
        if (audit) {
            audit_head(&w.audit, policy, "dropped", reason, key);
            pt_buf_puts(audit, "],\"record\":null}");
        }
        return PT_OK;
    }
    if (reason != PT_DROP_NONE) {
        pt__snprintf(optout_rule, sizeof(optout_rule),
                     "optout.action=anonymous(%s)", reason_name(reason));
        w.optout_rule = optout_rule;
    }
    if (audit)
        audit_head(&w.audit, policy, "stored", reason, key);
    w.s = scratch_get();
    rc = build_record(&w, &h, visit->time_us ? visit->time_us : now_us, result);
    if (w.s->text.cap > SCRATCH_KEEP || w.s->tmp.cap > SCRATCH_KEEP)
        scratch_release(w.s);
    if (rc != PT_OK) {
        pt__record_free(result->record);
        result->record = NULL;
        if (audit) {
            audit->len = audit_start;
            if (audit->ptr)
                audit->ptr[audit_start] = '\0';
        }
    }
    return rc;
}
