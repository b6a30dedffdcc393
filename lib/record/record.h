/*
 * Records: one-allocation copies, the JSON form used by the file store, the
 * spool and the CLI, and its parser.
 */
#ifndef PT_RECORD_H
#define PT_RECORD_H

#include "common/common.h"

/* A record's attributes, in the order privtrack writes them
 * (pt__record_json), and their names (record_parse.c). */
enum pt__record_field {
    PT__F_DATE,
    PT__F_TIMESTAMP,
    PT__F_SESSION_ID,
    PT__F_CLIENT_IP,
    PT__F_USER_AGENT,
    PT__F_NUM_LINKS,
    PT__F_NUM_FILES,
    PT__F_LINKS,
    PT__F_TITLES,
    PT__F_FILENAMES,
    PT__F_HAS_ERRORS,
    PT__F_ERROR_COUNT,
    PT__F_TTL,
    PT__F_POLICY,
    PT__F__COUNT
};
extern const char *const pt__record_field_names[PT__F__COUNT];

/** Copy `src` into a single allocation (struct, pointer arrays and strings
 *  together), so that one free() releases it.  NULL strings stay NULL. */
int pt__record_dup(pt_record **out, const pt_record *src);

/** A zeroed record with room, in the same single allocation, for `slots`
 *  string pointers (*slots_out) and `bytes` bytes of strings
 *  (*bytes_out), for a caller that builds a record in place instead of
 *  copying one with pt__record_dup().  Free with pt__record_free().
 *  NULL when out of memory or too large (pt_last_error() says which). */
pt_record *pt__record_alloc(size_t slots, size_t bytes, const char ***slots_out,
                            char **bytes_out);

/** Free a record made by pt__record_dup().  NULL is a no-op. */
void pt__record_free(pt_record *record);

/** Append the record's JSON object (one line, no newline) to `b`.  Keys in
 *  the DESIGN.md order; absent strings are omitted; `ttl` only when
 *  non-zero; `policy` only when not NULL. */
void pt__record_json(pt_buf *b, const pt_record *record);

/** Parse one JSON object into a freshly allocated record (single
 *  allocation, free with pt__record_free()).  Requires `date` and
 *  `timestamp`; everything else is optional, as in items written by the
 *  seed.  Numbers may be JSON numbers or decimal strings.  PT_EPARSE with a
 *  detail in pt_last_error() when malformed. */
int pt__record_parse_json(pt_record **out, const char *json, size_t len);

/* ---- the fast reader (record_view.c) -------------------------------------
 * A record read from a JSON line without a cJSON tree or an allocation per
 * line: `record`'s strings point into the reader's buffers, valid until
 * the next read.  Zero-initialise the struct; free with
 * pt__record_reader_free(). */
typedef struct pt__record_reader {
    pt_record record;
    char *scratch; /* decoded strings */
    size_t scratch_cap;
    const char **slots; /* list elements */
    size_t slots_cap;
} pt__record_reader;

/** pt__record_read_fast()'s answer for a line it does not handle. */
#define PT__RECORD_DECLINED 1

/** Read `len` bytes of one record's JSON object into rd->record, filling
 *  date, timestamp, ttl and the PT_FIELD_* groups in `fields` (0: all).
 *  PT_OK; PT__RECORD_DECLINED when the line is not in the simple flat shape
 *  this reader handles (read it with pt__record_parse_json() then, which
 *  also reports what is wrong); PT_ENOMEM.  Whatever it accepts,
 *  pt__record_parse_json() accepts as the same record. */
int pt__record_read_fast(pt__record_reader *rd, const char *json, size_t len,
                         unsigned int fields);

void pt__record_reader_free(pt__record_reader *rd);

/** Deep-copy helpers for record lists (used by backends).  Appends a
 *  record made by pt__record_dup() or pt__record_parse_json() and takes
 *  ownership of it, also on failure (then it is freed).  The list must come
 *  from pt_record_list_new(): pt_record_list_free() frees the records it
 *  took even after records[] was sorted or `count` lowered. */
int pt__record_list_take(pt_record_list *list, pt_record *record);

/** Sort a list newest first (by timestamp, then session_id). */
void pt__record_list_sort_newest_first(pt_record_list *list);

/** Compare two records' timestamps newest-first (qsort-compatible over
 *  pt_record). */
int pt__record_cmp_newest_first(const void *a, const void *b);

/** Drop the records after the first `count` of a list filled only by
 *  pt_record_list_append() / pt__record_list_take(), freeing them. */
void pt__record_list_truncate(pt_record_list *list, size_t count);

/* The fields a record may lose while it lives (erasure of fields,
 * per-field retention): PT_FIELD_* bits. */
#define PT__RECORD_REMOVABLE_FIELDS                                            \
    (PT_FIELD_CLIENT_IP | PT_FIELD_USER_AGENT | PT_FIELD_LINKS |               \
     PT_FIELD_TITLES | PT_FIELD_FILENAMES)

/** The PT__RECORD_REMOVABLE_FIELDS the record holds (a string, or a
 *  non-empty list). */
unsigned int pt__record_fields_present(const pt_record *record);

/** Clear the fields of `mask` (PT_FIELD_* bits) in `record`: strings NULL,
 *  lists empty.  The memory they pointed to is not freed (it belongs to
 *  the record's allocation or a reader's buffer). */
void pt__record_clear_fields(pt_record *record, unsigned int mask);

#endif
