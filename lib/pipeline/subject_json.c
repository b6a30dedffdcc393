/*
 * The JSON document of a data-subject request (pt_subject_result_json):
 * what `privtrack subject find --json`, `subject export` and the erase
 * receipt print.  It is built from the result alone, which never holds the
 * address searched for nor its pseudonyms.
 */
#include "pipeline/pipeline.h"

#include "record/record.h"

#include <stdlib.h>
#include <string.h>

static void
key_string(pt_buf *b, const char *key, const char *value)
{
    pt_buf_json_string(b, key, strlen(key));
    pt_buf_putc(b, ':');
    if (value)
        pt_buf_json_string(b, value, strlen(value));
    else
        pt_buf_puts(b, "null");
}

static void
key_u64(pt_buf *b, const char *key, uint64_t value)
{
    pt_buf_json_string(b, key, strlen(key));
    pt_buf_printf(b, ":%llu", (unsigned long long)value);
}

static const char *
kind_name(int erase)
{
    return erase == 0   ? "find"
           : erase == 1 ? "erase"
                        : "erase (listing only: nothing deleted)";
}

static void
match_names(pt_buf *b, unsigned int how)
{
    static const struct {
        unsigned int bit;
        const char *name;
    } names[] = {
        {PT_SUBJECT_MATCH_ADDRESS, "address"},
        {PT_SUBJECT_MATCH_NETWORK, "network"},
        {PT_SUBJECT_MATCH_PSEUDONYM, "pseudonym"},
        {PT_SUBJECT_MATCH_NETWORK_PSEUDONYM, "network pseudonym"},
        {PT_SUBJECT_MATCH_SESSION, "session_id"},
    };
    int first = 1;

    pt_buf_putc(b, '[');
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (how & names[i].bit) {
            if (!first)
                pt_buf_putc(b, ',');
            pt_buf_json_string(b, names[i].name, strlen(names[i].name));
            first = 0;
        }
    pt_buf_putc(b, ']');
}

/* The distinct policy ids of the records, in order of first appearance. */
static void
policies(pt_buf *b, const pt_record_list *l)
{
    int first = 1;

    pt_buf_puts(b, "\"policies\":[");
    for (size_t i = 0; l && i < l->count; i++) {
        const char *id = l->records[i].policy;
        int seen = 0;
        if (!id)
            continue;
        for (size_t j = 0; j < i && !seen; j++)
            seen =
                l->records[j].policy && strcmp(l->records[j].policy, id) == 0;
        if (seen)
            continue;
        if (!first)
            pt_buf_putc(b, ',');
        pt_buf_json_string(b, id, strlen(id));
        first = 0;
    }
    pt_buf_puts(b, "],");
}

static void
dates(pt_buf *b, const pt_subject_result *r)
{
    pt_buf_puts(b, "\"dates\":[");
    for (size_t i = 0; i < r->date_count; i++) {
        const pt_subject_date *d = &r->dates[i];
        pt_buf_puts(b, i ? ",{" : "{");
        key_string(b, "date", d->date);
        pt_buf_putc(b, ',');
        key_string(b, "address",
                   r->criteria & PT_SUBJECT_MATCH_ADDRESS
                       ? pt_subject_address_name(d->address)
                       : "not asked");
        pt_buf_putc(b, ',');
        key_u64(b, "records", d->records);
        pt_buf_putc(b, ',');
        key_u64(b, "without_address", d->without_address);
        pt_buf_putc(b, ',');
        key_u64(b, "found", d->found);
        if (r->erase) {
            pt_buf_putc(b, ',');
            key_u64(b, r->erase == 1 ? "deleted" : "would_delete", d->deleted);
            if (d->rc != PT_OK) {
                pt_buf_putc(b, ',');
                key_string(b, "error", pt_err_name(d->rc));
            }
        }
        pt_buf_putc(b, '}');
    }
    pt_buf_puts(b, "],");
}

static void
caveat(pt_buf *b, int *first, const char *text)
{
    if (!*first)
        pt_buf_putc(b, ',');
    pt_buf_json_string(b, text, strlen(text));
    *first = 0;
}

static void
caveats(pt_buf *b, const pt_subject_result *r)
{
    uint64_t by_status[4] = {0, 0, 0, 0}, without = 0, shared = 0;
    pt_buf text = PT_BUF_INIT;
    int first = 1;

    for (size_t i = 0; i < r->date_count; i++) {
        if ((unsigned int)r->dates[i].address < 4)
            by_status[r->dates[i].address]++;
        without += r->dates[i].without_address;
    }
    for (size_t i = 0; r->match && i < r->records->count; i++)
        if (r->match[i] & PT_SUBJECT_MATCH_SHARED)
            shared++;
    pt_buf_puts(b, "\"caveats\":[");
    if (r->criteria & PT_SUBJECT_MATCH_ADDRESS) {
        if (by_status[PT_SUBJECT_ADDRESS_KEY_DESTROYED]) {
            pt_buf_printf(&text,
                          "%llu dates could not be searched by address: "
                          "the hash key of their period was destroyed "
                          "(rotated away), so nobody can compute the "
                          "pseudonym their records store any more",
                          (unsigned long long)
                              by_status[PT_SUBJECT_ADDRESS_KEY_DESTROYED]);
            caveat(b, &first, text.ptr);
            pt_buf_clear(&text);
        }
        if (by_status[PT_SUBJECT_ADDRESS_KEY_UNAVAILABLE]) {
            pt_buf_printf(&text,
                          "%llu dates could not be searched by address: "
                          "no hash key of their period could be read "
                          "(never made, or the key store is unreachable)",
                          (unsigned long long)
                              by_status[PT_SUBJECT_ADDRESS_KEY_UNAVAILABLE]);
            caveat(b, &first, text.ptr);
            pt_buf_clear(&text);
        }
        if (by_status[PT_SUBJECT_ADDRESS_DROPPED])
            caveat(b, &first,
                   "the policy stores no address ([ip] mode = drop): "
                   "records cannot be found by address");
        if (without) {
            pt_buf_printf(&text,
                          "%llu records of the range store no address "
                          "(dropped, opted out, past its retention, or no "
                          "key for their period): nobody can tell whose "
                          "they are, and they are not included",
                          (unsigned long long)without);
            caveat(b, &first, text.ptr);
            pt_buf_clear(&text);
        }
        caveat(b, &first,
               "an address is matched as the current policy's [ip] "
               "prefixes and hash_bytes make it: records written under "
               "other settings are not found by address");
    }
    if (shared) {
        pt_buf_printf(&text,
                      "%llu records matched by network (a truncated "
                      "address, or the pseudonym of one): they may "
                      "belong to other people on the same network",
                      (unsigned long long)shared);
        caveat(b, &first, text.ptr);
        pt_buf_clear(&text);
    }
    if (r->criteria & PT_SUBJECT_CRITERION_USER_AGENT)
        caveat(b, &first,
               "narrowed by user agent: records that store none (dropped, "
               "or past its retention) are left out");
    pt_buf_puts(b, "],");
    pt_buf_free(&text);
}

static void
records(pt_buf *b, const pt_subject_result *r, unsigned int flags)
{
    const pt_record_list *l = r->records;

    pt_buf_puts(b, r->erase ? "\"deleted_records\":[" : "\"records\":[");
    for (size_t i = 0; l && i < l->count; i++) {
        const pt_record *rec = &l->records[i];
        pt_buf_puts(b, i ? ",\n{" : "\n{");
        if (r->erase || !(flags & PT_SUBJECT_JSON_RECORDS)) {
            key_string(b, "date", rec->date);
            pt_buf_putc(b, ',');
            key_string(b, "timestamp", rec->timestamp);
        } else {
            pt_buf_puts(b, "\"match\":");
            match_names(b, r->match[i]);
            pt_buf_putc(b, ',');
            key_string(b, "source",
                       r->match[i] & PT_SUBJECT_MATCH_SPOOL ? "spool"
                                                            : "store");
            pt_buf_puts(b, ",\"record\":");
            pt__record_json(b, rec);
        }
        pt_buf_putc(b, '}');
    }
    pt_buf_puts(b, l && l->count ? "\n]" : "]");
}

int
pt_subject_result_json(char **out, const pt_subject_result *r,
                       unsigned int flags)
{
    pt_buf b = PT_BUF_INIT;
    char when[40];

    if (!out || !r)
        return pt__fail(PT_EINVAL, "pt_subject_result_json: NULL argument");
    *out = NULL;
    pt__format_timestamp(when, r->time * INT64_C(1000000));
    pt_buf_putc(&b, '{');
    key_string(&b, "privtrack_subject", kind_name(r->erase));
    pt_buf_putc(&b, ',');
    key_string(&b, "library", pt_version());
    pt_buf_putc(&b, ',');
    key_string(&b, "generated", when);
    pt_buf_puts(&b, ",\"range\":{");
    key_string(&b, "from", r->from);
    pt_buf_putc(&b, ',');
    key_string(&b, "to", r->to);
    pt_buf_puts(&b, "},\"criteria\":{");
    pt_buf_printf(&b, "\"address\":%s,\"session_id\":%s,",
                  r->criteria & PT_SUBJECT_MATCH_ADDRESS ? "true" : "false",
                  r->criteria & PT_SUBJECT_MATCH_SESSION ? "true" : "false");
    key_string(&b, "user_agent_family",
               r->criteria & PT_SUBJECT_CRITERION_USER_AGENT
                   ? r->user_agent_family
                   : NULL);
    pt_buf_puts(&b, "},");
    if (!r->erase)
        policies(&b, r->records);
    key_u64(&b, "found", r->found);
    pt_buf_putc(&b, ',');
    key_u64(&b, "in_spool", r->in_spool);
    pt_buf_putc(&b, ',');
    if (r->erase) {
        key_u64(&b, r->erase == 1 ? "deleted" : "would_delete", r->deleted);
        pt_buf_putc(&b, ',');
    }
    caveats(&b, r);
    dates(&b, r);
    records(&b, r, flags);
    pt_buf_puts(&b, "}\n");
    if (b.oom) {
        pt_buf_free(&b);
        return pt__fail(PT_ENOMEM, "out of memory");
    }
    *out = pt_buf_detach(&b);
    return PT_OK;
}
