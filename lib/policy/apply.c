/*
 * pt__policy_apply: one visit in, at most one record out.
 *
 * This is on the web request's path, so it allocates once: every string
 * the record keeps is built in a per-thread scratch buffer, which is then
 * copied whole into the record's single allocation (pt__record_alloc).
 * The audit line (dry-run) is written alongside; it is not on the fast
 * path.
 */
#include "common/period.h"
#include "policy/policy_internal.h"
#include "record/record.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCRATCH_KEEP (256 * 1024) /* larger scratch is freed after use */

const pt__ip_key pt__ip_key_expired = {.missing = PT__KEY_EXPIRED};
const pt__ip_key pt__ip_key_unavailable = {.missing = PT__KEY_UNAVAILABLE};

typedef struct scratch {
    pt_buf text;     /* the record's variable strings, NUL-separated */
    pt_buf tmp;      /* one value being minimised */
    size_t *offsets; /* where each list item starts in text */
    size_t offsets_cap;
    pt__ua_cache *ua_cache; /* created on first use; NULL: uncached */
} scratch;

static _Thread_local scratch tls;
static _Thread_local int tls_registered;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

/* Frees the buffers; the user-agent cache is small and stays. */
static void
scratch_release(scratch *s)
{
    pt__ua_cache *cache = s->ua_cache;
    pt_buf_free(&s->text);
    pt_buf_free(&s->tmp);
    free(s->offsets);
    memset(s, 0, sizeof(*s));
    s->ua_cache = cache;
}

static void
scratch_destructor(void *p)
{
    scratch *s = p;
    scratch_release(s);
    pt__ua_cache_free(s->ua_cache);
    s->ua_cache = NULL;
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
    s->offsets = malloc(n * sizeof(*s->offsets));
    if (!s->offsets) {
        s->offsets_cap = 0;
        return -1;
    }
    s->offsets_cap = n;
    return 0;
}

/* ---- the visit's state while it is being minimised ----------------------- */

typedef struct work {
    const pt_policy *policy;
    const pt__ip_key *key;
    const pt_visit *visit;
    int64_t time_us; /* the visit's, which chose its key */
    int key_missing; /* PT__KEY_*: client_ip left out for want of a key */
    scratch *s;
    pt__audit audit;
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

/* The audit entry of a field the opt-out or the policy removed whole. */
static void
audit_removed_list(work *w, const char *field, const char *rule,
                   const char *const *raw, size_t count)
{
    pt__audit_change(&w->audit, field, rule);
    pt__audit_before_list(&w->audit, raw, count);
    pt__audit_after_list(&w->audit, NULL, NULL, 0, 0);
}

/* ---- client address -------------------------------------------------------
 */

/* Why the address was left out: its period's key is gone or could not be
 * had (the period named, never a key). */
static void
key_missing_rule(work *w, pt__rules *r)
{
    pt__period p =
        pt__period_of((pt_rotation)w->policy->num[PT_K_IP_ROTATE], w->time_us);
    char name[PT__PERIOD_NAME_MAX];

    pt__period_name(&p, name);
    if (w->key->missing == PT__KEY_EXPIRED)
        pt__rule_add(r,
                     "ip.key=expired(no key exists for %s: its period and "
                     "key_grace_hours have passed; not stored)",
                     name);
    else
        pt__rule_add(r,
                     "ip.key=unavailable(the key of %s could not be had; "
                     "not stored)",
                     name);
}

static void
ip_rule(work *w, const pt__addr *addr, int from_proxy, pt__rules *r)
{
    const unsigned int *num = w->policy->num;
    unsigned int prefix =
        addr->family == 4 ? num[PT_K_IP_IPV4_PREFIX] : num[PT_K_IP_IPV6_PREFIX];
    const char *eph = w->key && w->key->ephemeral ? ",ephemeral key" : "";
    if (from_proxy)
        pt__rule_add(r, "ip.trusted_proxies(X-Forwarded-For)");
    switch (num[PT_K_IP_MODE]) {
    case PT_IP_KEEP:
        pt__rule_add(r, "ip.mode=keep(normalised)");
        break;
    case PT_IP_TRUNCATE:
        pt__rule_add(r, "ip.mode=truncate(/%u)", prefix);
        break;
    case PT_IP_HASH:
        if (num[PT_K_IP_TRUNCATE_BEFORE_HASH])
            pt__rule_add(r, "ip.mode=hash(/%u,%u bytes%s)", prefix,
                         num[PT_K_IP_HASH_BYTES], eph);
        else
            pt__rule_add(r, "ip.mode=hash(%u bytes%s)", num[PT_K_IP_HASH_BYTES],
                         eph);
        if (w->key && w->key->missing)
            key_missing_rule(w, r);
        break;
    default:
        pt__rule_add(r, "ip.mode=drop");
        break;
    }
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
        if (w->key && w->key->missing) {
            /* never raw, never with another period's key */
            w->key_missing = w->key->missing;
            return PT_OK;
        }
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

static void
audit_ip(work *w, const char *rule, const pt__addr *addr, const char *raw,
         size_t raw_len)
{
    pt__audit_change(&w->audit, "client_ip", rule);
    pt__audit_before_hidden(&w->audit,
                            !addr               ? "invalid"
                            : addr->family == 4 ? "ipv4"
                                                : "ipv6",
                            raw, raw_len);
    pt__audit_after_string(&w->audit, w->has_client_ip ? w->client_ip : NULL);
}

static int
do_client_ip(work *w, unsigned int *invalid)
{
    pt__addr addr;
    const char *raw = NULL, *why = NULL;
    size_t raw_len = 0;
    pt__rules r;
    int found, rc, from_proxy;
    int mode = (int)w->policy->num[PT_K_IP_MODE];

    if (mode == PT_IP_DROP && !w->audit.b && !w->optout_rule)
        return PT_OK; /* nothing to compute */
    found = pt__client_addr(w->policy, w->visit, &addr, &raw, &raw_len, invalid,
                            &why);
    from_proxy = raw && raw != w->visit->remote_addr;
    if (!found) {
        /* An address was given but none can be stored: the audit says
         * why, even when the entry it stopped at is empty. */
        if (w->audit.b && why) {
            PT_RULES_INIT(r);
            pt__rule_add(&r, "ip.invalid(%s; not stored)", why);
            audit_ip(w, r.text, NULL, raw, raw_len);
        }
        return PT_OK;
    }
    if (w->optout_rule) {
        if (w->audit.b)
            audit_ip(w, w->optout_rule, &addr, raw, raw_len);
        return PT_OK;
    }
    PT_RULES_INIT(r);
    if (w->audit.b)
        ip_rule(w, &addr, from_proxy, &r);
    rc = transform_ip(w, &addr);
    if (rc != PT_OK)
        return rc;
    if (w->audit.b && !(mode == PT_IP_KEEP && raw_len == strlen(w->client_ip) &&
                        memcmp(raw, w->client_ip, raw_len) == 0))
        audit_ip(w, r.text, &addr, raw, raw_len);
    return PT_OK;
}

/* ---- user agent ------------------------------------------------------------
 */

static void
audit_user_agent(work *w, const char *ua, size_t len, int flags, size_t start)
{
    const unsigned int *num = w->policy->num;
    pt__rules r;
    PT_RULES_INIT(r);
    if (w->optout_rule) {
        pt__rule_add(&r, "%s", w->optout_rule);
    } else if (num[PT_K_FIELDS_USER_AGENT] == PT_UA_FAMILY) {
        pt__rule_add(&r, "fields.user_agent=family");
    } else if (num[PT_K_FIELDS_USER_AGENT] == PT_UA_DROP) {
        pt__rule_add(&r, "fields.user_agent=drop");
    } else {
        if (flags & PT_CH_UTF8)
            pt__rule_add(&r, "utf8(replaced)");
        if (flags & PT_CH_CUT)
            pt__rule_add(&r, "fields.max_user_agent=%u",
                         num[PT_K_FIELDS_MAX_USER_AGENT]);
    }
    if (!r.len)
        return;
    pt__audit_change(&w->audit, "user_agent", r.text);
    pt__audit_before_hidden(&w->audit, "user_agent", ua, len);
    pt__audit_after_string(&w->audit, w->has_ua && !w->s->text.oom
                                          ? w->s->text.ptr + start
                                          : NULL);
}

static void
do_user_agent(work *w, const char *ua)
{
    unsigned int mode = w->policy->num[PT_K_FIELDS_USER_AGENT];
    size_t len, start = w->s->text.len;
    int flags = 0;

    if (!ua)
        return;
    len = strlen(ua);
    if (!w->optout_rule && mode == PT_UA_FAMILY) {
        char family[PT_UA_FAMILY_MAX];
        if (!w->s->ua_cache)
            w->s->ua_cache = pt__ua_cache_new(); /* NULL: classify uncached */
        pt_buf_put(
            &w->s->text, family,
            pt__user_agent_family_cached(w->s->ua_cache, ua, len, family));
        w->has_ua = 1;
    } else if (!w->optout_rule && mode == PT_UA_KEEP) {
        flags = pt__put_text(&w->s->text, ua, len,
                             w->policy->num[PT_K_FIELDS_MAX_USER_AGENT]);
        w->has_ua = 1;
    }
    if (w->has_ua) {
        w->ua_offset = start;
        pt_buf_putc(&w->s->text, '\0');
    }
    if (w->audit.b)
        audit_user_agent(w, ua, len, flags, start);
}

/* ---- links ------------------------------------------------------------------
 */

/* One link, minimised, into the scratch.  Returns PT_URL_* and CH_* flags
 * shifted apart, or -1 when nothing is left of it. */
static int
put_link(work *w, const char *url, int mode, size_t cap)
{
    size_t start = w->s->text.len;
    int url_flags, text_flags;
    /* Minimised straight into the record's text, then checked there. */
    url_flags = pt__url_minimise(&w->s->text, url, strlen(url), mode);
    if (url_flags < 0) {
        w->s->text.len = start; /* nothing is kept of it */
        if (w->s->text.ptr)
            w->s->text.ptr[start] = '\0';
        return -1;
    }
    text_flags = pt__fix_text(&w->s->text, start, cap, &w->s->tmp);
    end_item(w, start);
    return url_flags | (text_flags << 4);
}

/* Returns the number of links kept (the first items of the scratch). */
static size_t
do_links(work *w)
{
    const pt_visit *v = w->visit;
    const unsigned int *num = w->policy->num;
    size_t cap = num[PT_K_FIELDS_MAX_LINKS], kept = 0;
    size_t count = v->link_count < cap ? v->link_count : cap;
    int mode = (int)num[PT_K_FIELDS_LINKS], flags = 0, lost = 0;
    pt__rules r;

    if (w->optout_rule || mode == PT_LINKS_DROP) {
        if (w->audit.b && v->link_count)
            audit_removed_list(w, "links",
                               w->optout_rule ? w->optout_rule
                                              : "fields.links=drop",
                               v->links, v->link_count);
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        int f = v->links[i] ? put_link(w, v->links[i], mode,
                                       num[PT_K_FIELDS_MAX_LINK_LENGTH])
                            : -1;
        if (f < 0) {
            lost = 1;
            continue;
        }
        flags |= f;
        kept++;
    }
    if (!w->audit.b)
        return kept;
    PT_RULES_INIT(r);
    if ((flags & PT_URL_REDUCED) || (lost && mode == PT_LINKS_ORIGIN))
        pt__rule_add(&r, "fields.links=%s",
                     pt__key_value_name(PT_K_FIELDS_LINKS, (unsigned int)mode));
    if (flags & PT_URL_CREDENTIALS)
        pt__rule_add(&r, "links.credentials(removed)");
    if (v->link_count > cap)
        pt__rule_add(&r, "fields.max_links=%zu", cap);
    if (flags & (PT_CH_CUT << 4))
        pt__rule_add(&r, "fields.max_link_length=%u",
                     num[PT_K_FIELDS_MAX_LINK_LENGTH]);
    if (flags & (PT_CH_UTF8 << 4))
        pt__rule_add(&r, "utf8(replaced)");
    if (lost && !r.len)
        pt__rule_add(&r, "links.empty(skipped)");
    if (r.len) {
        pt__audit_change(&w->audit, "links", r.text);
        pt__audit_before_list(&w->audit, v->links, v->link_count);
        pt__audit_after_list(&w->audit, &w->s->text, w->s->offsets, 0, kept);
    }
    return kept;
}

/* ---- file names and titles --------------------------------------------------
 */

#define PT_CH_BASE 4 /* directories were removed */

static void
audit_files(work *w, int flags, int lost, size_t nlinks, size_t nfiles)
{
    const pt_visit *v = w->visit;
    const unsigned int *num = w->policy->num;
    pt__rules r;
    PT_RULES_INIT(r);
    if (flags & PT_CH_BASE)
        pt__rule_add(&r, "filenames.base_name");
    if (v->filename_count > num[PT_K_FIELDS_MAX_FILENAMES])
        pt__rule_add(&r, "fields.max_filenames=%u",
                     num[PT_K_FIELDS_MAX_FILENAMES]);
    if (flags & PT_CH_CUT)
        pt__rule_add(&r, "fields.max_filename_length=%u",
                     num[PT_K_FIELDS_MAX_FILENAME_LENGTH]);
    if (flags & PT_CH_UTF8)
        pt__rule_add(&r, "utf8(replaced)");
    if (lost)
        pt__rule_add(&r, "filenames.empty(skipped)");
    if (r.len) {
        pt__audit_change(&w->audit, "filenames", r.text);
        pt__audit_before_list(&w->audit, v->filenames, v->filename_count);
        pt__audit_after_list(&w->audit, &w->s->text, w->s->offsets, nlinks,
                             nfiles);
    }
}

/* Append one sanitised, capped string and record its offset at `slot`. */
static int
put_item(work *w, size_t slot, const char *s, size_t len, size_t cap)
{
    size_t start = w->s->text.len;
    int flags = pt__put_text(&w->s->text, s, len, cap);
    pt_buf_putc(&w->s->text, '\0');
    w->s->offsets[slot] = start;
    return flags;
}

/* File names (when kept), then titles (when kept), into the scratch after
 * the links.  One pass: each base name is found once; titles are placed
 * after the file names' slots and moved down at the end. */
static void
do_files(work *w, size_t *nfiles, size_t *ntitles)
{
    const pt_visit *v = w->visit;
    const unsigned int *num = w->policy->num;
    size_t cap = num[PT_K_FIELDS_MAX_FILENAMES];
    size_t count = v->filename_count < cap ? v->filename_count : cap;
    size_t maxlen = num[PT_K_FIELDS_MAX_FILENAME_LENGTH];
    size_t first = w->nitems, title_slot = first + count;
    int keep_files = num[PT_K_FIELDS_FILENAMES] == PT_LIST_KEEP;
    int keep_titles = num[PT_K_FIELDS_TITLES] == PT_LIST_KEEP;
    int flags = 0, lost = 0;

    *nfiles = *ntitles = 0;
    if (w->optout_rule)
        keep_files = keep_titles = 0;
    for (size_t i = 0; (keep_files || keep_titles) && i < count; i++) {
        const char *path = v->filenames[i], *base;
        size_t len, blen;
        if (!path || !(len = strlen(path)) ||
            !(base = pt__base_name(path, len, &blen), blen)) {
            lost = 1;
            continue;
        }
        if (keep_files) {
            flags |= put_item(w, first + (*nfiles)++, base, blen, maxlen);
            flags |= blen != len ? PT_CH_BASE : 0;
        }
        if (keep_titles)
            put_item(w, title_slot + (*ntitles)++, base,
                     pt__title_len(base, blen), maxlen);
    }
    memmove(w->s->offsets + first + *nfiles, w->s->offsets + title_slot,
            *ntitles * sizeof(*w->s->offsets));
    w->nitems = first + *nfiles + *ntitles;
    if (!w->audit.b || !v->filename_count)
        return;
    if (keep_files)
        audit_files(w, flags, lost, first, *nfiles);
    else
        audit_removed_list(w, "filenames",
                           w->optout_rule ? w->optout_rule
                                          : "fields.filenames=drop",
                           v->filenames, v->filename_count);
    if (!keep_titles) {
        pt__audit_change(&w->audit, "titles",
                         w->optout_rule ? w->optout_rule
                                        : "fields.titles=drop");
        pt_buf_printf(w->audit.b, ",\"before\":{\"count\":%zu}", count);
        pt__audit_after_string(&w->audit, NULL);
    }
}

/* ---- the whole visit
 * --------------------------------------------------------- */

/* The public names: here, where visits are dropped (the pipeline adds
 * queue_full), so that the audit and the callers share one table. */
const char *
pt_drop_reason_name(pt_drop_reason reason)
{
    static const char *const names[PT_DROP__COUNT] = {
        "none", "dnt", "gpc", "cookie", "queue_full", "invalid"};
    if ((int)reason < 0 || reason >= PT_DROP__COUNT)
        return "unknown";
    return names[reason];
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
audit_head(pt__audit *a, const pt_policy *policy, const char *decision,
           pt_drop_reason reason, const pt__ip_key *key)
{
    int stored = decision[0] == 's';
    pt_buf_printf(a->b, "{\"decision\":\"%s\"", decision);
    if (reason != PT_DROP_NONE)
        pt_buf_printf(a->b, ",\"%s\":\"%s\"", stored ? "optout" : "reason",
                      pt_drop_reason_name(reason));
    pt_buf_puts(a->b, ",\"policy\":");
    pt_buf_json_string(a->b, policy->id, strlen(policy->id));
    if (key && key->ephemeral && policy->num[PT_K_IP_MODE] == PT_IP_HASH)
        pt_buf_puts(a->b, ",\"ephemeral_key\":true");
    pt_buf_puts(a->b, ",\"changes\":[");
}

/* Counts are stored as JSON numbers: beyond 2^53 they would not read
 * back exactly. */
#define MAX_COUNT ((INT64_C(1) << 53) - 1)

static int64_t
count_of(size_t n)
{
    return (uint64_t)n > (uint64_t)MAX_COUNT ? MAX_COUNT : (int64_t)n;
}

static int
check_visit(const pt_visit *v)
{
    /* The range pt_time_parse() enforces too (0 is "now"). */
    if (v->time_us != 0 &&
        (v->time_us < PT_TIME_MIN_US || v->time_us > PT_TIME_MAX_US))
        return pt__fail(PT_EINVAL,
                        "visit time %lld us is outside "
                        "1970-01-01T00:00:00.000001Z..9999-12-31T23:59:59."
                        "999999Z",
                        (long long)v->time_us);
    if (v->version < 1)
        return pt__fail(PT_EINVAL, "visit version %u (expected %d)", v->version,
                        PT_VISIT_VERSION);
    if ((v->header_count && !v->headers) || (v->link_count && !v->links) ||
        (v->filename_count && !v->filenames))
        return pt__fail(PT_EINVAL, "visit has a count without its array");
    return PT_OK;
}

/* Timestamps of the same second share everything but the microseconds,
 * so each thread keeps the last second's text. */
static _Thread_local int64_t cached_second = INT64_MIN;
static _Thread_local char cached_timestamp[PT_TIMESTAMP_LEN + 1];

static void
format_timestamp(char *out, int64_t time_us, int64_t secs)
{
    unsigned int micros = (unsigned int)(time_us - secs * 1000000);
    if (secs != cached_second) {
        pt__format_timestamp(cached_timestamp, time_us);
        cached_second = secs;
    }
    memcpy(out, cached_timestamp, sizeof(cached_timestamp));
    for (int i = 25; i >= 20; i--) {
        out[i] = (char)('0' + micros % 10);
        micros /= 10;
    }
}

static void
fill_times(pt_record *r, const pt_policy *policy, int64_t time_us, char *date,
           char *timestamp, char *session)
{
    int64_t secs =
        time_us >= 0 ? time_us / 1000000 : -((-time_us + 999999) / 1000000);
    unsigned int days = policy->num[PT_K_RETENTION_TTL_DAYS];
    format_timestamp(timestamp, time_us, secs);
    memcpy(date, timestamp, PT_DATE_LEN);
    date[PT_DATE_LEN] = '\0';
    pt__session_id(session, secs);
    r->date = date;
    r->timestamp = timestamp;
    r->session_id = session;
    r->ttl = days ? secs + (int64_t)days * 86400 : 0;
}

static const char *
put_string(char **cursor, const char *s, size_t len)
{
    char *dst = *cursor;
    memcpy(dst, s, len + 1);
    *cursor += len + 1;
    return dst;
}

/* The record in its single allocation, built in place: the scratch's
 * strings are copied in one memcpy and the lists point into that copy
 * (pt__record_dup() would measure and copy every string again). */
static int
finish_record(work *w, const pt_record *r, size_t nlinks, size_t nfiles,
              pt_record **out)
{
    size_t text_len = w->s->text.len;
    size_t date_len = strlen(r->date), ts_len = strlen(r->timestamp);
    size_t sid_len = strlen(r->session_id), id_len = strlen(r->policy);
    size_t ip_len = w->has_client_ip ? strlen(w->client_ip) : 0;
    size_t bytes = text_len + date_len + ts_len + sid_len + id_len + ip_len + 5;
    const char **slots;
    char *text, *cursor;
    pt_record *rec = pt__record_alloc(w->nitems, bytes, &slots, &text);

    if (!rec)
        return PT_ENOMEM;
    if (text_len)
        memcpy(text, w->s->text.ptr, text_len);
    for (size_t i = 0; i < w->nitems; i++)
        slots[i] = text + w->s->offsets[i];
    *rec = *r;
    cursor = text + text_len;
    rec->date = put_string(&cursor, r->date, date_len);
    rec->timestamp = put_string(&cursor, r->timestamp, ts_len);
    rec->session_id = put_string(&cursor, r->session_id, sid_len);
    rec->policy = put_string(&cursor, r->policy, id_len);
    rec->client_ip =
        w->has_client_ip ? put_string(&cursor, w->client_ip, ip_len) : NULL;
    rec->user_agent = w->has_ua ? text + w->ua_offset : NULL;
    rec->links = rec->link_count ? slots : NULL;
    rec->filenames = rec->filename_count ? slots + nlinks : NULL;
    rec->titles = rec->title_count ? slots + nlinks + nfiles : NULL;
    *out = rec;
    return PT_OK;
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
    do_files(w, &nfiles, &ntitles);
    if (w->s->text.oom)
        return pt__fail(PT_ENOMEM, "out of memory applying the policy");

    memset(&r, 0, sizeof(r));
    fill_times(&r, w->policy, time_us, date, timestamp, session);
    r.num_links_submitted = count_of(v->link_count);
    r.num_files_downloaded = count_of(v->filename_count);
    r.link_count = nlinks;
    r.filename_count = nfiles;
    r.title_count = ntitles;
    r.error_count = count_of(v->error_count);
    r.has_errors = v->error_count > 0;
    r.policy = w->policy->id;
    rc = finish_record(w, &r, nlinks, nfiles, &result->record);
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
                     "optout.action=anonymous(%s)",
                     pt_drop_reason_name(reason));
        w.optout_rule = optout_rule;
    }
    if (audit)
        audit_head(&w.audit, policy, "stored", reason, key);
    w.s = scratch_get();
    w.time_us = visit->time_us ? visit->time_us : now_us;
    rc = build_record(&w, &h, w.time_us, result);
    result->key_missing = rc == PT_OK ? w.key_missing : 0;
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
