/*
 * Storage, internal interface: the registry of backends and the built-in
 * ones.  The backend interface itself is public (privtrack.h).
 */
#ifndef PT_STORAGE_H
#define PT_STORAGE_H

#include "common/common.h"

extern const pt_storage_methods pt__file_storage_methods;
extern const pt_storage_methods pt__dynamodb_storage_methods;

/** Open the backend the policy names ([storage] backend), with an optional
 *  path override.  On failure pt_last_error() says why. */
int pt__storage_open(pt_storage **out, const pt_policy *policy,
                     const char *path_override);

/** Convenience wrappers that check for NULL methods (PT_EUNSUPPORTED). */
int pt__storage_init(pt_storage *s);
int pt__storage_put(pt_storage *s, const pt_record *const *records,
                    size_t count, int replay, size_t *written);
int pt__storage_query(pt_storage *s, pt_record_list **out, const char *date,
                      size_t limit, int64_t now);
/** The backend's scan(), or for a backend without one (methods version 1)
 *  its query() date by date.  `opts` is complete: `to`, `now` and
 *  `fields` set, the dates valid and in order. */
int pt__storage_scan(pt_storage *s, const pt_scan_options *opts,
                     pt_record_fn fn, void *userdata);
/** The backend's rewrite() (methods version 3), or PT_EUNSUPPORTED.
 *  `opts` is complete: dates valid and in order (`to` set when `from`
 *  is). */
int pt__storage_rewrite(pt_storage *s, const pt_rewrite_options *opts,
                        pt_rewrite_fn fn, pt_rewrite_day_fn day,
                        void *userdata);
/** pt__file_scan_split()'s answer when it read nothing. */
#define PT__SCAN_NOT_SPLIT 2
/** A one-date, oldest-first scan without limit of a file store's day file
 *  of `min_size` bytes or more, in two parts at once: the lines before the
 *  first line start at or after the file's middle go to fn[0] on the
 *  calling thread, the others to fn[1] on a thread of its own (with
 *  userdata[0] and [1]).  `other` is a second instance of the same store,
 *  used by that thread only.  Returns PT__SCAN_NOT_SPLIT, having read
 *  nothing, when the backend is not the file store, the scan is not of
 *  that kind or the file is smaller; else as pt__storage_scan() (an error
 *  of the second part is copied to `s`). */
int pt__file_scan_split(pt_storage *s, pt_storage *other,
                        const pt_scan_options *opts, uint64_t min_size,
                        pt_record_fn fn[2], void *userdata[2]);
int pt__storage_purge(pt_storage *s, int64_t now, uint64_t *removed);
int pt__storage_sync(pt_storage *s);
void pt__storage_close(pt_storage *s);

/** Set a backend instance's errmsg (also the thread's last error) and
 *  return `code`. */
int pt__storage_fail(pt_storage *s, int code, const char *fmt, ...)
    PT__PRINTF(3, 4);

#endif
