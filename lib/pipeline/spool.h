/*
 * The durable spool: where records go while the backend is down, and where
 * they are replayed from, in order, once it is back.
 *
 * Layout: a directory (mode 0700) of segment files (mode 0600)
 *   spool-<16-digit µs time>-<pid>-<n>.log
 * one per tracker that had to spool, so segments sort by creation time and
 * no two writers ever share a file.  Each record is one line
 *   <crc32 of the JSON, 8 lowercase hex> <record JSON>\n
 * A line without its newline or with a wrong CRC is a torn write (crash or
 * full disk): it is skipped with a warning, never replayed and never fatal.
 * Replay progress lives beside the segment in `<segment>.off` (the byte
 * offset of the first record not yet replayed), replaced atomically after
 * each replayed step.  A step's progress is saved while the next step's
 * records are being put (or when the replay stops), so the saved offset
 * may lag the stored records by a step but never runs ahead of them: a
 * crash mid-replay replays at most two steps again, which backends absorb
 * (put with replay = 1 is idempotent).  A
 * progress file that does not hold the offset of a line start within the
 * segment (garbage, a sign, past the end) is reported and read as 0: the
 * segment is replayed from its start, never skipped or left stuck.
 *
 * The owner of a segment holds flock(LOCK_EX) on it for its lifetime; a
 * segment whose lock can be taken belongs to a process that is gone, and
 * the tracker that takes the lock replays it.  Nothing is created on disk
 * until the first record has to be spooled.
 *
 * Threading: a pt__spool has its own mutex, held only around file work and
 * never while a backend is called, so pt_tracker_close() can spool what is
 * left while the writer is stuck inside a backend call.  Replay steps must
 * not run concurrently with each other (the tracker's backend lock
 * serialises them); append and status may run alongside a replay.
 */
#ifndef PT_PIPELINE_SPOOL_H
#define PT_PIPELINE_SPOOL_H

#include "common/common.h"

typedef struct pt__spool pt__spool;

/** Prepare a spool in `dir` (copied).  Touches nothing on disk.  Caller
 *  frees with pt__spool_close(). */
int pt__spool_open(pt__spool **out, const char *dir);

/** Release the segment lock; delete the own segment when fully replayed.
 *  NULL is a no-op. */
void pt__spool_close(pt__spool *spool);

/** Append `count` records durably (one write per segment, then
 *  fdatasync).  Creates the directory and this spool's segment on first
 *  use.  At the file-size limit (EFBIG) the records that did not fit go to
 *  a new segment.  On failure (disk full, a file-size limit below one
 *  record, I/O error) no partial record stays behind, *appended (optional)
 *  says how many of the first records are durably spooled, and PT_ENOSPACE
 *  or PT_EIO is returned with the detail (path and errno text) in
 *  pt_last_error(). */
int pt__spool_append(pt__spool *spool, const pt_record *const *records,
                     size_t count, size_t *appended);

/** Look for segments left by processes that are gone (cheap when the
 *  directory does not exist); *found (may be NULL) gets how many were
 *  found, to be replayed by pt__spool_replay_step().  PT_OK, or the error
 *  of a directory that cannot be listed or is refused as unsafe (writable
 *  by others, another user's: pt__fs_open_dir: none of its segments is
 *  replayed), or of the first segment refused (a link, a FIFO, a device;
 *  the others found are replayed).  Each refusal is also logged as a
 *  warning. */
int pt__spool_scan(pt__spool *spool, size_t *found);

/** Non-zero when this spool knows of records still to replay (its own
 *  segment or orphans found by the last scan). */
int pt__spool_pending(const pt__spool *spool);

/** Stores a batch read back from the spool; returns PT_OK or an error with
 *  *written = how many of the first records were stored for certain. */
typedef int (*pt__spool_put_fn)(void *ctx, const pt_record *const *records,
                                size_t count, size_t *written);

/** Replay at most `max_records` of the oldest pending records through
 *  `put`.  While `put` runs, a helper thread saves the previous step's
 *  progress and reads (CRC, parse) the next step's records, so that the
 *  next step can call `put` at once; this step's progress is saved by the
 *  next step, pt__spool_save_progress() or pt__spool_close() (after a
 *  failed put: at once).  *replayed receives how many were written.
 *  PT_OK when the step succeeded (call again while pt__spool_pending()),
 *  or put's error.  The caller holds whatever lock serialises `put` with
 *  other users of the backend. */
int pt__spool_replay_step(pt__spool *spool, size_t max_records,
                          pt__spool_put_fn put, void *ctx, size_t *replayed);

/** Save the progress of the last replay step now, rather than during the
 *  next one (pt__spool_replay_step() leaves it to the next step's helper):
 *  for when a replay stops.  Serialised with replay steps like them. */
void pt__spool_save_progress(pt__spool *spool);

/** Hand every record waiting in every segment of `dir` (any owner) to
 *  `fn`, oldest segment first, without taking a lock: for data-subject
 *  requests.  `fn` returns PT_OK to go on (a positive value too), a
 *  negative code to stop with it. */
int pt__spool_read(const char *dir, pt_record_fn fn, void *userdata);
/** Records and bytes waiting in every segment of `dir` (any owner). */
int pt__spool_status(const char *dir, pt_spool_status *out);

#endif
