/*
 * Fuzz target: the policy engine (pt__policy_apply) on hostile visits —
 * random headers, addresses, links and file names, long and invalid UTF-8.
 *
 * Input format (so that seeds can be written by hand): the first byte picks
 * the policy (low bits) and whether an audit line is produced (high bit);
 * the rest is lines separated by '\n', each starting with a tag:
 *
 *   A<addr>           remote_addr (the last one wins; none: NULL)
 *   H<name>:<value>   a header (value starts after the first ':')
 *   L<url>            a submitted link
 *   F<name>           a downloaded file
 *   E<n>              error count (decimal)
 *   T<n>              visit time, µs since the epoch (decimal, may be < 0)
 *
 * Properties, each a FUZZ_CHECK (abort) when broken:
 *  - apply never crashes; an accepted visit yields a record, a dropped one
 *    does not;
 *  - every string in the record is valid UTF-8; counts are the visit's;
 *    has_errors matches error_count;
 *  - client_ip follows the ip mode: absent for drop, lowercase hex for
 *    hash, an address for truncate, and never the raw peer or forwarded
 *    address unless the mode is keep;
 *  - the record serialises to JSON that parses back; the audit line is a
 *    JSON object in valid UTF-8;
 *  - taint: unless the mode is keep, a raw address of the visit (the peer,
 *    or an X-Forwarded-For element) that occurs only once in the input
 *    appears neither in the record's JSON nor in the audit line (none of
 *    these policies sets show_raw).
 */
#include <privtrack.h>

#include "fuzz_check.h"
#include "fuzz_policy.h"

#include "common/common.h"
#include "policy/policy.h"
#include "record/record.h"

#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS 256

typedef enum ip_mode { IP_KEEP, IP_TRUNCATE, IP_HASH, IP_DROP } ip_mode;

typedef struct fuzz_policy {
    const char *ini;
    ip_mode mode;
    pt_policy *loaded;
} fuzz_policy;

/* Policies covering each ip mode, trusted proxies, opt-out actions and
 * field rules.  Loaded once; a policy that does not load is a bug in this
 * target (or a changed INI syntax) and aborts at start. */
static fuzz_policy policies[] = {
    {"[policy]\nname = fuzz-default\n", IP_HASH, NULL},
    {"[policy]\nname = fuzz-keep\n[ip]\nmode = keep\n"
     "trusted_proxies = 127.0.0.0/8, 10.0.0.0/8, ::1/128\n"
     "[fields]\nuser_agent = keep\nlinks = keep\n",
     IP_KEEP, NULL},
    {"[policy]\nname = fuzz-truncate\n[ip]\nmode = truncate\n"
     "ipv4_prefix = 16\nipv6_prefix = 32\n"
     "trusted_proxies = 127.0.0.1/32, 192.168.0.0/16, fd00::/8\n"
     "[optout]\nhonor_dnt = true\nhonor_gpc = false\naction = anonymous\n"
     "[fields]\nuser_agent = family\nlinks = origin\n",
     IP_TRUNCATE, NULL},
    {"[policy]\nname = fuzz-hash\n[ip]\nmode = hash\n"
     "truncate_before_hash = true\ntrusted_proxies = 0.0.0.0/0\n"
     "[optout]\ncookie = optout=1\naction = drop\n"
     "[fields]\nuser_agent = keep\nmax_user_agent = 16\nlinks = "
     "strip_query\ntitles = drop\n",
     IP_HASH, NULL},
    {"[policy]\nname = fuzz-drop\n[ip]\nmode = drop\n"
     "[retention]\nttl_days = 3650\n[fields]\nuser_agent = drop\n"
     "links = drop\nfilenames = drop\n",
     IP_DROP, NULL},
};
#define POLICY_COUNT (sizeof(policies) / sizeof(*policies))

static pt__ip_key fixed_key;

static void
load_policies(void)
{
    for (size_t i = 0; i < POLICY_COUNT; i++) {
        if (policies[i].loaded)
            continue;
        policies[i].loaded =
            fuzz_load_policy(policies[i].ini, "fuzz_policy_apply.c");
    }
    fuzz_fixed_key(&fixed_key);
}

typedef struct parsed_visit {
    char *text; /* the input, '\n' replaced by NUL */
    pt_visit visit;
    pt_header headers[MAX_ITEMS];
    const char *links[MAX_ITEMS];
    const char *files[MAX_ITEMS];
} parsed_visit;

static void
parse_line(parsed_visit *p, char *line)
{
    pt_visit *v = &p->visit;
    char tag = line[0];
    char *value = line[0] ? line + 1 : line;
    if (tag == 'A') {
        v->remote_addr = value;
    } else if (tag == 'H' && v->header_count < MAX_ITEMS) {
        char *colon = strchr(value, ':');
        p->headers[v->header_count].name = value;
        p->headers[v->header_count].value = colon ? colon + 1 : "";
        if (colon)
            *colon = '\0';
        v->header_count++;
    } else if (tag == 'L' && v->link_count < MAX_ITEMS) {
        p->links[v->link_count++] = value;
    } else if (tag == 'F' && v->filename_count < MAX_ITEMS) {
        p->files[v->filename_count++] = value;
    } else if (tag == 'E') {
        v->error_count = (size_t)strtoull(value, NULL, 10);
    } else if (tag == 'T') {
        v->time_us = strtoll(value, NULL, 10);
    }
}

static void
parse_visit(parsed_visit *p, const uint8_t *data, size_t size)
{
    p->text = malloc(size + 1);
    FUZZ_CHECK(p->text != NULL);
    memcpy(p->text, data, size);
    p->text[size] = '\0';
    pt_visit init = PT_VISIT_INIT;
    p->visit = init;
    p->visit.headers = p->headers;
    p->visit.links = p->links;
    p->visit.filenames = p->files;
    char *line = p->text;
    char *end = p->text + size;
    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        if (nl)
            *nl = '\0';
        parse_line(p, line);
        line = nl ? nl + 1 : end;
    }
}

static void
check_string(const char *s)
{
    FUZZ_CHECK(!s || pt__utf8_valid(s, strlen(s)));
}

static void
check_strings(const pt_record *r)
{
    check_string(r->date);
    check_string(r->timestamp);
    check_string(r->session_id);
    check_string(r->client_ip);
    check_string(r->user_agent);
    check_string(r->policy);
    for (size_t i = 0; i < r->link_count; i++)
        check_string(r->links[i]);
    for (size_t i = 0; i < r->title_count; i++)
        check_string(r->titles[i]);
    for (size_t i = 0; i < r->filename_count; i++)
        check_string(r->filenames[i]);
    FUZZ_CHECK(r->date && r->timestamp && r->session_id && r->policy);
}

static int
is_address(const char *s)
{
    unsigned char buf[16];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

static int
is_lower_hex(const char *s)
{
    if (!s[0])
        return 0;
    for (; *s; s++) {
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    }
    return 1;
}

/* The raw addresses a visit carries: the peer and each X-Forwarded-For
 * element.  With any mode but keep, client_ip must equal none of them —
 * except an address that truncation leaves unchanged (host bits zero),
 * which is then not personal beyond its prefix. */
static int
equals_raw_address(const parsed_visit *p, const char *client_ip)
{
    if (p->visit.remote_addr && strcmp(p->visit.remote_addr, client_ip) == 0)
        return 1;
    for (size_t i = 0; i < p->visit.header_count; i++) {
        if (pt__strcasecmp(p->headers[i].name, "X-Forwarded-For") != 0)
            continue;
        const char *v = p->headers[i].value;
        const char *hit = strstr(v, client_ip);
        size_t n = strlen(client_ip);
        for (; hit; hit = strstr(hit + 1, client_ip)) {
            int starts = hit == v || hit[-1] == ',' || hit[-1] == ' ';
            int ends = hit[n] == '\0' || hit[n] == ',' || hit[n] == ' ';
            if (starts && ends)
                return 1;
        }
    }
    return 0;
}

static void
check_client_ip(const parsed_visit *p, ip_mode mode, const char *client_ip)
{
    if (!client_ip)
        return;
    FUZZ_CHECK(mode != IP_DROP);
    FUZZ_CHECK(mode != IP_HASH || is_lower_hex(client_ip));
    FUZZ_CHECK(mode != IP_TRUNCATE || is_address(client_ip));
    FUZZ_CHECK(mode != IP_HASH || !equals_raw_address(p, client_ip));
    if (mode == IP_TRUNCATE && equals_raw_address(p, client_ip)) {
        /* Allowed only when the truncation really left it unchanged: with
         * a /16 (IPv4) prefix the last two octets must be zero. */
        unsigned char v4[4];
        FUZZ_CHECK(inet_pton(AF_INET, client_ip, v4) != 1 ||
                   (!v4[2] && !v4[3]));
    }
}

/* Non-zero when `needle` occurs in the `len` bytes at `hay`. */
static int
contains(const char *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; n && i + n <= len; i++) {
        if (memcmp(hay + i, needle, n) == 0)
            return 1;
    }
    return 0;
}

static size_t
occurrences(const uint8_t *data, size_t size, const char *needle)
{
    size_t n = strlen(needle), count = 0;
    for (size_t i = 0; n && i + n <= size; i++)
        count += memcmp(data + i, needle, n) == 0;
    return count;
}

/* `addr` must not leak into `out` — unless the input carries it more than
 * once (it may be in a link or the user agent, which the policy keeps), or
 * the ip rule legitimately produced it (truncation of an address whose host
 * bits are already zero). */
static void
check_not_leaked(const char *addr, const char *client_ip, const char *out,
                 size_t out_len, const uint8_t *data, size_t size)
{
    if (!is_address(addr) || (client_ip && strcmp(addr, client_ip) == 0))
        return;
    if (occurrences(data, size, addr) != 1)
        return;
    FUZZ_CHECK(!contains(out, out_len, addr));
}

static void
check_taint(const parsed_visit *p, ip_mode mode, const char *client_ip,
            const char *out, size_t out_len, const uint8_t *data, size_t size)
{
    if (mode == IP_KEEP)
        return;
    if (p->visit.remote_addr)
        check_not_leaked(p->visit.remote_addr, client_ip, out, out_len, data,
                         size);
    for (size_t i = 0; i < p->visit.header_count; i++) {
        if (pt__strcasecmp(p->headers[i].name, "X-Forwarded-For") != 0)
            continue;
        char token[64];
        const char *v = p->headers[i].value;
        while (*v) {
            v += strspn(v, ", \t");
            size_t n = strcspn(v, ", \t");
            if (n > 0 && n < sizeof(token)) {
                memcpy(token, v, n);
                token[n] = '\0';
                check_not_leaked(token, client_ip, out, out_len, data, size);
            }
            v += n;
        }
    }
}

static void
check_record(const parsed_visit *p, ip_mode mode, const pt_record *r)
{
    check_strings(r);
    check_client_ip(p, mode, r->client_ip);
    FUZZ_CHECK(r->num_links_submitted == (int64_t)p->visit.link_count);
    FUZZ_CHECK(r->num_files_downloaded == (int64_t)p->visit.filename_count);
    FUZZ_CHECK(r->error_count >= 0);
    FUZZ_CHECK((r->has_errors != 0) == (r->error_count > 0));

    /* What the engine produces, the store must be able to read back. */
    char *json = NULL;
    FUZZ_CHECK(pt_record_to_json(&json, r) == PT_OK);
    pt_record_list *list = NULL;
    FUZZ_CHECK(pt_record_list_new(&list) == PT_OK);
    FUZZ_CHECK(pt_record_list_append_json(list, json, strlen(json)) == PT_OK);
    pt_record_list_free(list);
    pt_free(json);
}

static void
check_audit(const pt_buf *audit)
{
    if (audit->oom)
        return;
    FUZZ_CHECK(audit->ptr && pt__utf8_valid(audit->ptr, audit->len));
    cJSON *doc = cJSON_ParseWithLength(audit->ptr, audit->len);
    FUZZ_CHECK(doc && cJSON_IsObject(doc));
    cJSON_Delete(doc);
}

/* The taint check over everything the engine wrote: the record's JSON and
 * the audit line. */
static void
check_outputs(const parsed_visit *p, ip_mode mode, const pt_record *record,
              const pt_buf *audit, const uint8_t *data, size_t size)
{
    pt_buf out = PT_BUF_INIT;
    if (record) {
        char *json = NULL;
        FUZZ_CHECK(pt_record_to_json(&json, record) == PT_OK);
        pt_buf_puts(&out, json);
        pt_free(json);
    }
    if (audit->ptr)
        pt_buf_put(&out, audit->ptr, audit->len);
    if (out.ptr && !out.oom)
        check_taint(p, mode, record ? record->client_ip : NULL, out.ptr,
                    out.len, data, size);
    pt_buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    if (!policies[0].loaded)
        load_policies();
    const fuzz_policy *fp = &policies[(data[0] & 0x7f) % POLICY_COUNT];
    int want_audit = (data[0] & 0x80) != 0;

    parsed_visit p;
    parse_visit(&p, data + 1, size - 1);

    pt_buf audit = PT_BUF_INIT;
    pt__apply_result result;
    memset(&result, 0, sizeof(result));
    int rc = pt__policy_apply(fp->loaded, &fixed_key, &p.visit,
                              INT64_C(1705327800123456), &result,
                              want_audit ? &audit : NULL);
    if (rc == PT_OK) {
        FUZZ_CHECK((result.dropped == PT_DROP_NONE) == (result.record != NULL));
        if (result.record)
            check_record(&p, fp->mode, result.record);
        if (want_audit)
            check_audit(&audit);
        check_outputs(&p, fp->mode, result.record, &audit, data, size);
    } else {
        FUZZ_CHECK(result.record == NULL);
    }
    pt__record_free(result.record);
    pt_buf_free(&audit);
    free(p.text);
    return 0;
}
