/*
 * Per-field retention: the rules (see retention.h).  Pure.
 */
#include "policy/retention.h"

#include "policy/policy_internal.h"

#include <string.h>

#define DAY_SECONDS INT64_C(86400)

void
pt__retention_from_policy(pt__retention *out, const pt_policy *policy)
{
    static const struct {
        int key;
        unsigned int field;
    } map[PT__RET__COUNT] = {
        [PT__RET_CLIENT_IP] = {PT_K_RETENTION_CLIENT_IP_DAYS,
                               PT_FIELD_CLIENT_IP},
        [PT__RET_USER_AGENT] = {PT_K_RETENTION_USER_AGENT_DAYS,
                                PT_FIELD_USER_AGENT},
        [PT__RET_LINKS] = {PT_K_RETENTION_LINKS_DAYS, PT_FIELD_LINKS},
        [PT__RET_TITLES] = {PT_K_RETENTION_TITLES_DAYS, PT_FIELD_TITLES},
        [PT__RET_FILENAMES] = {PT_K_RETENTION_FILENAMES_DAYS,
                               PT_FIELD_FILENAMES},
    };

    memset(out, 0, sizeof(*out));
    out->record_days = policy->num[PT_K_RETENTION_TTL_DAYS];
    for (int i = 0; i < PT__RET__COUNT; i++) {
        out->days[i] = policy->num[map[i].key];
        out->field[i] = map[i].field;
    }
}

unsigned int
pt__retention_fields(const pt__retention *r)
{
    unsigned int mask = 0;
    for (int i = 0; i < PT__RET__COUNT; i++)
        if (r->days[i])
            mask |= r->field[i];
    return mask;
}

int64_t
pt__retention_cutoff(const pt__retention *r, int index, int64_t now)
{
    if (index < 0 || index >= PT__RET__COUNT || r->days[index] == 0)
        return INT64_MIN;
    return now - (int64_t)r->days[index] * DAY_SECONDS;
}

int64_t
pt__retention_newest_cutoff(const pt__retention *r, int64_t now)
{
    int64_t newest = INT64_MIN;
    for (int i = 0; i < PT__RET__COUNT; i++) {
        int64_t c = pt__retention_cutoff(r, i, now);
        if (c > newest)
            newest = c;
    }
    return newest;
}

unsigned int
pt__retention_expired(const pt__retention *r, int64_t visit_s, int64_t now)
{
    unsigned int mask = 0;
    for (int i = 0; i < PT__RET__COUNT; i++)
        /* visit + days < now, written so that it cannot overflow */
        if (r->days[i] && visit_s < pt__retention_cutoff(r, i, now))
            mask |= r->field[i];
    return mask;
}

int64_t
pt__record_visit_seconds(const pt_record *record)
{
    int64_t us, days;

    if (record->timestamp && pt__parse_iso8601(record->timestamp, &us) == 0)
        /* floor, as the ttl counts from (pt__policy_apply) */
        return us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    if (record->date && pt__date_days(record->date, &days) == 0)
        return days * DAY_SECONDS;
    return -1;
}

unsigned int
pt__retention_hide_mask(const pt__retention *r, const pt_record *record,
                        int64_t now)
{
    unsigned int own = pt__retention_fields(r), expired;
    int64_t visit;

    if (!own)
        return 0;
    visit = pt__record_visit_seconds(record);
    expired = visit < 0 ? own : pt__retention_expired(r, visit, now);
    return expired & pt__record_fields_present(record);
}
