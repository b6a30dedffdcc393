/*
 * The aggregate behind `privtrack stats` (see stats.h for the rules):
 * counting records as they stream by.  The JSON is stats_json.c.
 */
#include "report/stats_internal.h"

#include "common/period.h"
#include "policy/policy_internal.h"

#include <sodium.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- fingerprints -------------------------------------------------------- */

uint64_t
pt__stats_fingerprint(const pt__stats *s, const char *text, size_t len)
{
    unsigned char h[crypto_shorthash_BYTES];
    uint64_t v;
    crypto_shorthash(h, (const unsigned char *)text, len, s->key);
    memcpy(&v, h, sizeof(v));
    return v;
}

/* ---- a set of 64-bit ids (open addressing; 0 marks a free slot) ---------- */

static int
idset_grow(pt__idset *set)
{
    size_t cap = set->cap ? set->cap * 2 : 1024;
    uint64_t *slot = calloc(cap, sizeof(*slot));
    if (!slot)
        return pt__fail(PT_ENOMEM, "out of memory counting visitors");
    for (size_t i = 0; i < set->cap; i++) {
        uint64_t id = set->slot[i];
        size_t j = (size_t)(id * 0x9E3779B97F4A7C15u >> 20) & (cap - 1);
        if (!id)
            continue;
        while (slot[j])
            j = (j + 1) & (cap - 1);
        slot[j] = id;
    }
    free(set->slot);
    set->slot = slot;
    set->cap = cap;
    return PT_OK;
}

/* Where `id` is looked for first (anonymous ids are sequential: mixed
 * before masking). */
static size_t
idset_home(const pt__idset *set, uint64_t id)
{
    return (size_t)(id * 0x9E3779B97F4A7C15u >> 20) & (set->cap - 1);
}

/* Add a non-zero id; PT_OK whether it was there or not. */
static int
idset_add(pt__idset *set, uint64_t id)
{
    size_t j;
    if ((set->count + 1) * 2 > set->cap) {
        int rc = idset_grow(set);
        if (rc != PT_OK)
            return rc;
    }
    j = idset_home(set, id);
    while (set->slot[j]) {
        if (set->slot[j] == id)
            return PT_OK;
        j = (j + 1) & (set->cap - 1);
    }
    set->slot[j] = id;
    set->count++;
    return PT_OK;
}

/* Empty it; a big table is given back rather than kept for the next day. */
static void
idset_clear(pt__idset *set)
{
    if (set->cap > (1u << 16)) {
        free(set->slot);
        set->slot = NULL;
        set->cap = 0;
    } else if (set->slot) {
        memset(set->slot, 0, set->cap * sizeof(*set->slot));
    }
    set->count = 0;
}

/* ---- k-anonymous groups --------------------------------------------------
 * A group remembers up to K visitor ids of the key period it last saw, and
 * the most it ever had in one period.  Once that reaches K the group is
 * shown for good and its ids are freed. */

int
pt__kgroup_see(pt__kgroup *g, uint64_t visitor, uint32_t period, unsigned int k)
{
    if (g->best >= k)
        return PT_OK;
    if (g->period != period) {
        g->period = period;
        g->n = 0;
    }
    for (unsigned int i = 0; i < g->n; i++)
        if (g->ids[i] == visitor)
            return PT_OK;
    if (!g->ids && !(g->ids = malloc(k * sizeof(*g->ids))))
        return pt__fail(PT_ENOMEM, "out of memory counting visitors");
    g->ids[g->n++] = visitor;
    if (g->n > g->best)
        g->best = g->n;
    if (g->best >= k) {
        free(g->ids);
        g->ids = NULL;
    }
    return PT_OK;
}

/* ---- named groups (titles, user-agent families, policy ids) -------------- */

static int
namemap_grow(pt__namemap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    pt__named *slot = calloc(cap, sizeof(*slot));
    if (!slot)
        return pt__fail(PT_ENOMEM, "out of memory counting groups");
    for (size_t i = 0; i < m->cap; i++) {
        size_t j;
        if (!m->slot[i].name)
            continue;
        j = (size_t)m->slot[i].hash & (cap - 1);
        while (slot[j].name)
            j = (j + 1) & (cap - 1);
        slot[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = slot;
    m->cap = cap;
    m->last = NULL; /* the entries moved */
    return PT_OK;
}

static pt__named *
namemap_get(pt__stats *s, pt__namemap *m, const char *name, size_t len)
{
    uint64_t hash;
    size_t j;

    /* Records often repeat the group of the one before (a policy id, a
     * browser): no hash then. */
    if (m->last && m->last->len == len && memcmp(m->last->name, name, len) == 0)
        return m->last;
    hash = pt__stats_fingerprint(s, name, len);
    if ((m->count + 1) * 2 > m->cap && namemap_grow(m) != PT_OK)
        return NULL;
    j = (size_t)hash & (m->cap - 1);
    while (m->slot[j].name) {
        pt__named *e = &m->slot[j];
        if (e->hash == hash && e->len == len && memcmp(e->name, name, len) == 0)
            return m->last = e;
        j = (j + 1) & (m->cap - 1);
    }
    if (!(m->slot[j].name = pt__strndup(name, len))) {
        pt__fail(PT_ENOMEM, "out of memory counting groups");
        return NULL;
    }
    m->slot[j].hash = hash;
    m->slot[j].len = len;
    m->count++;
    return m->last = &m->slot[j];
}

static void
namemap_free(pt__namemap *m)
{
    for (size_t i = 0; i < m->cap; i++) {
        free(m->slot[i].name);
        free(m->slot[i].k.ids);
    }
    free(m->slot);
    memset(m, 0, sizeof(*m));
}

/* ---- the aggregate --------------------------------------------------------
 */

int
pt__stats_new(pt__stats **out, const pt__stats_config *config)
{
    pt__stats *s;
    int64_t from, to;

    *out = NULL;
    if (!config || pt__date_days(config->from, &from) ||
        pt__date_days(config->to, &to) || from > to)
        return pt__fail(PT_EINVAL, "stats: bad date range");
    if (config->min_group < 1 || config->min_group > PT__STATS_MAX_MIN_GROUP)
        return pt__fail(PT_EINVAL, "stats: min_group %u is not in 1..%d",
                        config->min_group, PT__STATS_MAX_MIN_GROUP);
    if (!(s = calloc(1, sizeof(*s))))
        return pt__fail(PT_ENOMEM, "out of memory");
    s->cfg = *config;
    memcpy(s->from, config->from, PT_DATE_LEN);
    memcpy(s->to, config->to, PT_DATE_LEN);
    s->cfg.from = s->from;
    s->cfg.to = s->to;
    s->range_days = (uint64_t)(to - from + 1);
    if (!s->cfg.top)
        s->cfg.top = PT__STATS_DEFAULT_TOP;
    if (config->fingerprint_key)
        memcpy(s->key, config->fingerprint_key, sizeof(s->key));
    else
        randombytes_buf(s->key, sizeof(s->key));
    s->cfg.fingerprint_key = NULL;
    *out = s;
    return PT_OK;
}

int
pt__stats_new_like(pt__stats **out, const pt__stats *s)
{
    pt__stats_config cfg = s->cfg;
    cfg.fingerprint_key = s->key;
    return pt__stats_new(out, &cfg);
}

static int
push_day(pt__stats *s)
{
    pt__day_row *row;
    if (s->ndays == s->days_cap) {
        size_t cap = s->days_cap ? s->days_cap * 2 : 32;
        pt__day_row *days = realloc(s->days, cap * sizeof(*days));
        if (!days)
            return pt__fail(PT_ENOMEM, "out of memory");
        s->days = days;
        s->days_cap = cap;
    }
    row = &s->days[s->ndays++];
    *row = s->day;
    row->unique = s->day_set.count;
    /* The day's visitors join its key period's: one insertion per record
     * (into the day's set), one per distinct visitor and day here. */
    for (size_t i = 0; i < s->day_set.cap; i++) {
        int rc;
        if (s->day_set.slot[i] &&
            (rc = idset_add(&s->period_set, s->day_set.slot[i])) != PT_OK)
            return rc;
    }
    idset_clear(&s->day_set);
    return PT_OK;
}

void
pt__stats_close_period(pt__stats *s)
{
    s->unique_sum += s->period_set.count;
    idset_clear(&s->period_set);
}

/* A new date: close the day before, and the key period when it changes. */
static int
start_day(pt__stats *s, const char *date)
{
    int64_t days;
    pt__period p;
    int rc;

    if (s->in_day) {
        int order = strcmp(date, s->day.date) > 0 ? 1 : -1;
        if (s->order && order != s->order)
            return pt__fail(PT_EINVAL,
                            "stats: records of %s came after "
                            "other dates (they must come grouped "
                            "by date)",
                            date);
        s->order = order;
        if ((rc = push_day(s)) != PT_OK)
            return rc;
    }
    memset(&s->day, 0, sizeof(s->day));
    memcpy(s->day.date, date, PT_DATE_LEN + 1);
    s->in_day = 1;
    pt__date_days(date, &days);
    p = pt__period_of(s->cfg.rotation, days * PT__DAY_US);
    if (!s->periods || p.start_us != s->period_start) {
        if (s->periods)
            pt__stats_close_period(s);
        s->period_start = p.start_us;
        s->periods++;
    }
    return PT_OK;
}

/* The user-agent family of a stored user agent: the stored value when the
 * policy already reduced it ("Firefox/Linux"), else its family. */
static const char *
agent_family(const char *ua, char *buf, size_t *len)
{
    size_t slashes = 0, n = 0;
    if (!ua || !*ua) {
        *len = strlen("(not stored)");
        return "(not stored)";
    }
    for (const char *p = ua; *p && n < PT_UA_FAMILY_MAX; p++, n++) {
        char c = *p;
        slashes += c == '/';
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == ' ' ||
              c == '.' || c == '-' || c == '/'))
            break;
    }
    if (ua[n] == '\0' && slashes == 1 && ua[0] != '/' && ua[n - 1] != '/') {
        *len = n;
        return ua;
    }
    *len = pt__user_agent_family(ua, strlen(ua), buf);
    return buf;
}

static int
hour_of(const char *ts)
{
    if (!ts || strlen(ts) < 13 || ts[11] < '0' || ts[11] > '2' ||
        ts[12] < '0' || ts[12] > '9')
        return -1;
    int h = (ts[11] - '0') * 10 + (ts[12] - '0');
    return h < 24 ? h : -1;
}

static int
count_named(pt__stats *s, pt__namemap *m, const char *name, size_t len,
            uint64_t visitor, uint64_t count)
{
    pt__named *g = namemap_get(s, m, name, len);
    if (!g)
        return PT_ENOMEM;
    g->count += count;
    return pt__kgroup_see(&g->k, visitor, s->periods, s->cfg.min_group);
}

int
pt__stats_add(pt__stats *s, const pt_record *r)
{
    char family[PT_UA_FAMILY_MAX];
    const char *agent;
    size_t agent_len;
    uint64_t visitor;
    int rc, hour;

    if (!r->date || !pt__valid_date(r->date)) {
        s->skipped++; /* not a record of any date: nowhere to count it */
        return PT_OK;
    }
    if ((!s->in_day || strcmp(r->date, s->day.date) != 0) &&
        (rc = start_day(s, r->date)) != PT_OK)
        return rc;
    if (r->client_ip && *r->client_ip) {
        /* even and non-zero; records without an address get odd ids */
        visitor =
            (pt__stats_fingerprint(s, r->client_ip, strlen(r->client_ip)) | 2) &
            ~(uint64_t)1;
        /* The set is far bigger than the cache: fetch the visitor's slot
         * now, insert it at the end, once the groups below are counted. */
        if (s->day_set.cap)
            __builtin_prefetch(
                &s->day_set.slot[idset_home(&s->day_set, visitor)]);
    } else {
        visitor = ++s->anonymous << 1 | 1;
        s->day.anonymous++;
    }
    s->visits++;
    s->files += (uint64_t)r->num_files_downloaded;
    s->links += (uint64_t)r->num_links_submitted;
    s->errors += (uint64_t)r->error_count;
    s->with_errors += r->has_errors != 0;
    s->day.visits++;
    s->day.files += (uint64_t)r->num_files_downloaded;
    s->day.successful += r->has_errors == 0;
    if ((hour = hour_of(r->timestamp)) >= 0) {
        s->hour_visits[hour]++;
        if ((rc = pt__kgroup_see(&s->hour_k[hour], visitor, s->periods,
                                 s->cfg.min_group)) != PT_OK)
            return rc;
    }
    for (size_t i = 0; i < r->title_count; i++) {
        const char *t = r->titles[i] ? r->titles[i] : "";
        if ((rc = count_named(s, &s->titles, t, strlen(t), visitor, 1)) !=
            PT_OK)
            return rc;
    }
    agent = agent_family(r->user_agent, family, &agent_len);
    if ((rc = count_named(s, &s->agents, agent, agent_len, visitor, 1)) !=
        PT_OK)
        return rc;
    /* Policy ids are few; past PT__STATS_MAX_POLICIES, one "other" row. */
    agent = r->policy && *r->policy ? r->policy : "(none)";
    if (s->policies.count >= PT__STATS_MAX_POLICIES)
        agent = "(other)";
    if ((rc = count_named(s, &s->policies, agent, strlen(agent), visitor, 1)) !=
        PT_OK)
        return rc;
    return visitor & 1 ? PT_OK : idset_add(&s->day_set, visitor);
}

int
pt__stats_finish(pt__stats *s)
{
    int rc = PT_OK;
    if (s->in_day) {
        rc = push_day(s);
        s->in_day = 0;
    }
    pt__stats_close_period(s);
    return rc;
}

static void
release_counts(pt__stats *s)
{
    free(s->period_set.slot);
    free(s->day_set.slot);
    free(s->days);
    for (int h = 0; h < 24; h++)
        free(s->hour_k[h].ids);
    namemap_free(&s->titles);
    namemap_free(&s->agents);
    namemap_free(&s->policies);
}

void
pt__stats_reset(pt__stats *s)
{
    release_counts(s);
    /* everything counted is after the configuration and the key */
    memset(&s->visits, 0, sizeof(*s) - offsetof(pt__stats, visits));
}

void
pt__stats_free(pt__stats *s)
{
    if (!s)
        return;
    release_counts(s);
    sodium_memzero(s->key, sizeof(s->key));
    free(s);
}

/* ---- two aggregates of one day into one ------------------------------------
 * The two halves of a day file are counted apart (file_range.c) and added
 * up here, to exactly what one aggregate over the whole day holds: sums
 * add up; visitors join the day's set; a group's visitors join its own
 * (a group is shown when K distinct visitors back it, whichever half saw
 * them).  Anonymous visitors of `b` are numbered after those of `a`. */

static uint64_t
shifted(uint64_t visitor, uint64_t anonymous)
{
    return visitor & 1 ? ((visitor >> 1) + anonymous) << 1 | 1 : visitor;
}

static int
kgroup_merge(pt__kgroup *into, const pt__kgroup *from, uint32_t period,
             uint64_t anonymous, unsigned int k)
{
    if (from->best >= k) {
        if (into->best < k) {
            into->best = from->best;
            free(into->ids);
            into->ids = NULL;
        }
        return PT_OK;
    }
    for (uint32_t i = 0; i < from->n; i++) {
        int rc =
            pt__kgroup_see(into, shifted(from->ids[i], anonymous), period, k);
        if (rc != PT_OK)
            return rc;
    }
    return PT_OK;
}

static int
namemap_merge(pt__stats *a, pt__namemap *into, const pt__namemap *from,
              uint64_t anonymous)
{
    for (size_t i = 0; i < from->cap; i++) {
        const pt__named *e = &from->slot[i];
        pt__named *g;
        int rc;
        if (!e->name)
            continue;
        if (!(g = namemap_get(a, into, e->name, e->len)))
            return PT_ENOMEM;
        g->count += e->count;
        if ((rc = kgroup_merge(&g->k, &e->k, a->periods, anonymous,
                               a->cfg.min_group)) != PT_OK)
            return rc;
    }
    return PT_OK;
}

int
pt__stats_merge(pt__stats *a, const pt__stats *b)
{
    uint64_t anonymous = a->anonymous;
    int rc;

    if (!b->in_day && !b->visits) {
        a->skipped += b->skipped;
        return PT_OK;
    }
    if (!a->in_day || !b->in_day || strcmp(a->day.date, b->day.date) != 0 ||
        a->ndays || b->ndays || a->periods != 1 || b->periods != 1 ||
        memcmp(a->key, b->key, sizeof(a->key)) != 0 ||
        a->policies.count + b->policies.count >= PT__STATS_MAX_POLICIES)
        return PT__STATS_NOT_MERGED;
    a->visits += b->visits;
    a->files += b->files;
    a->links += b->links;
    a->errors += b->errors;
    a->with_errors += b->with_errors;
    a->anonymous += b->anonymous;
    a->skipped += b->skipped;
    a->day.visits += b->day.visits;
    a->day.files += b->day.files;
    a->day.successful += b->day.successful;
    a->day.anonymous += b->day.anonymous;
    for (size_t i = 0; i < b->day_set.cap; i++)
        if (b->day_set.slot[i] &&
            (rc = idset_add(&a->day_set, b->day_set.slot[i])) != PT_OK)
            return rc;
    for (int h = 0; h < 24; h++) {
        a->hour_visits[h] += b->hour_visits[h];
        if ((rc = kgroup_merge(&a->hour_k[h], &b->hour_k[h], a->periods,
                               anonymous, a->cfg.min_group)) != PT_OK)
            return rc;
    }
    if ((rc = namemap_merge(a, &a->titles, &b->titles, anonymous)) != PT_OK ||
        (rc = namemap_merge(a, &a->agents, &b->agents, anonymous)) != PT_OK)
        return rc;
    return namemap_merge(a, &a->policies, &b->policies, anonymous);
}
