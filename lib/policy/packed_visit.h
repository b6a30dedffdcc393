/*
 * A packed visit (pt_track_packed()) read into a pt_visit, in place.
 *
 * Pure: no clock, no I/O, no allocation.  The caller learns the counts
 * first (pt__packed_visit_head), provides the arrays, then unpacks.  Both
 * steps read nothing at or past buf + len, whatever the buffer holds.
 */
#ifndef PT_POLICY_PACKED_VISIT_H
#define PT_POLICY_PACKED_VISIT_H

#include "common/common.h"

/* Validate the header against `len`: version, flags, reserved, an error
 * count that fits size_t, and counts that the bytes after the header could
 * hold (each string takes at least its NUL).  PT_OK with *out filled, else
 * PT_EINVAL with pt_last_error() set. */
int pt__packed_visit_head(const void *buf, size_t len, pt_packed_visit *out);

/* Point *visit into `buf`, whose header `head` came from
 * pt__packed_visit_head() on the same buffer and length.  `headers` has
 * room for head->header_count entries, `lists` for head->link_count +
 * head->filename_count pointers (either may be NULL when that is 0).
 * PT_EINVAL (pt_last_error() set) unless the strings match the counts
 * exactly: every one terminated before `len`, nothing after the last. */
int pt__packed_visit_unpack(const void *buf, size_t len,
                            const pt_packed_visit *head, pt_header *headers,
                            const char **lists, pt_visit *visit);

#endif
