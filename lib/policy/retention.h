/*
 * Per-field retention ([retention] client_ip_days, user_agent_days,
 * links_days, titles_days, filenames_days): which fields of a record are
 * past their retention at a given time.
 *
 * Pure: no clock, no I/O, no allocation.  Every reader (query, scan,
 * stats, export, subject find) hides what pt__retention_expired() names,
 * and purge removes it from storage, so a field is never shown past its
 * retention even before a purge ran.
 *
 * A field's retention counts from the visit, like the record's ttl: a
 * field kept D days of a visit at second V is past its retention at `now`
 * when V + D * 86400 < now — the same comparison as `ttl < now` for the
 * record.  0 days means "as long as the record" (its ttl decides).
 */
#ifndef PT_POLICY_RETENTION_H
#define PT_POLICY_RETENTION_H

#include "common/common.h"
#include "record/record.h"

/* The fields that may have a retention of their own (PT_FIELD_* bits). */
#define PT__RETENTION_FIELDS PT__RECORD_REMOVABLE_FIELDS

/* Indexes of pt__retention.days. */
enum {
    PT__RET_CLIENT_IP,
    PT__RET_USER_AGENT,
    PT__RET_LINKS,
    PT__RET_TITLES,
    PT__RET_FILENAMES,
    PT__RET__COUNT
};

typedef struct pt__retention {
    unsigned int record_days;           /* [retention] ttl_days; 0: none */
    unsigned int days[PT__RET__COUNT];  /* 0: as long as the record */
    unsigned int field[PT__RET__COUNT]; /* the PT_FIELD_* bit of each */
} pt__retention;

/** The policy's per-field retention. */
void pt__retention_from_policy(pt__retention *out, const pt_policy *policy);

/** The PT_FIELD_* bits of the fields that have a retention of their own
 *  (0: none; then nothing is ever hidden or purged field by field). */
unsigned int pt__retention_fields(const pt__retention *r);

/** The fields (PT_FIELD_* bits) of a visit at `visit_s` (Unix seconds)
 *  that are past their retention at `now`. */
unsigned int pt__retention_expired(const pt__retention *r, int64_t visit_s,
                                   int64_t now);

/** Visits before this second have field `index` (PT__RET_*) past its
 *  retention at `now`: now - days * 86400; INT64_MIN when the field has no
 *  retention of its own. */
int64_t pt__retention_cutoff(const pt__retention *r, int index, int64_t now);

/** The newest cutoff of all fields with a retention of their own: no
 *  record of a visit at or after it has anything to remove.  INT64_MIN
 *  when there is none. */
int64_t pt__retention_newest_cutoff(const pt__retention *r, int64_t now);

/** The visit time of a stored record, in Unix seconds: its timestamp, or
 *  when that does not parse (an item written by other code) the start of
 *  its date — earlier, so a field is hidden sooner rather than later.  -1
 *  when neither parses (nothing can be said; callers hide every field with
 *  a retention of its own). */
int64_t pt__record_visit_seconds(const pt_record *record);

/** The fields of `record` to hide at `now`: those past their retention
 *  that it holds (0: show it as it is). */
unsigned int pt__retention_hide_mask(const pt__retention *r,
                                     const pt_record *record, int64_t now);

#endif
