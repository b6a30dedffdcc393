/*
 * Loading and checking policy.ini with inih.
 *
 * inih finds sections and key = value pairs; everything it is lax about is
 * checked here, line by line, through our own reader:
 *  - Debian's inih is built with a 200-byte line buffer and silently splits
 *    a longer line, so the reader measures every line first and turns a
 *    long one into a clear "line too long" error (long lists go on indented
 *    continuation lines instead);
 *  - inih's handler gets no line number, so the reader counts lines and the
 *    handler reads the count;
 *  - inih reports only the first syntax error and ignores empty unknown
 *    sections, so the reader classifies every line the way inih will and
 *    reports those itself.
 */
#include "policy/policy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_POLICY_BYTES (1024 * 1024)

typedef enum line_kind {
    LINE_BLANK,
    LINE_COMMENT,
    LINE_SECTION,
    LINE_KEY,
    LINE_CONTINUATION,
    LINE_ERROR
} line_kind;

/* Problems are delivered in line order, every one of them, with memory
 * that does not grow with their number.  Problems found while reading come
 * in line order by themselves; the few found after reading (contradictions
 * between keys, at most a handful per key) name earlier lines.  So a
 * policy is read twice when it has problems: the first pass only counts
 * the problems found while reading and keeps the later ones; the second
 * (the same parse again) delivers them as they are found, merging in the
 * kept ones before the first problem of a later line. */
typedef struct problem {
    unsigned int line;
    char *message;
} problem;

typedef enum report_mode {
    REPORT_COUNT,  /* first pass, reading: count only */
    REPORT_KEEP,   /* first pass, checks after reading: keep */
    REPORT_DELIVER /* second pass: deliver, merged with the kept ones */
} report_mode;

typedef struct parse_ctx {
    const char *text;
    size_t len, pos;
    const char *source;
    unsigned int lineno; /* the line inih is working on */
    line_kind kind;
    int inih_has_name; /* mirrors inih's prev_name: continuation possible */
    int last_key;      /* key a continuation line extends; -1: none */
    unsigned int key_line[PT_K__COUNT]; /* where each key was (first) set */
    pt_policy *policy;
    pt_policy_error_fn cb;
    void *userdata;
    unsigned int errors;
    report_mode mode;
    problem *kept; /* REPORT_KEEP's problems, sorted by line once kept */
    size_t kept_count, kept_cap, kept_next;
    int oom;
} parse_ctx;

static void
keep_problem(parse_ctx *ctx, unsigned int line, const char *msg)
{
    if (ctx->kept_count == ctx->kept_cap) {
        size_t cap = ctx->kept_cap ? 2 * ctx->kept_cap : 8;
        problem *grown = realloc(ctx->kept, cap * sizeof(*grown));
        if (!grown) {
            ctx->oom = 1;
            return;
        }
        ctx->kept = grown;
        ctx->kept_cap = cap;
    }
    ctx->kept[ctx->kept_count].line = line;
    ctx->kept[ctx->kept_count].message = pt__strdup(msg);
    if (!ctx->kept[ctx->kept_count].message) {
        ctx->oom = 1;
        return;
    }
    ctx->kept_count++;
}

/* Deliver the kept problems of lines before `line` (all: UINT_MAX). */
static void
deliver_kept(parse_ctx *ctx, unsigned int line)
{
    while (ctx->kept_next < ctx->kept_count &&
           (line == UINT_MAX || ctx->kept[ctx->kept_next].line < line)) {
        const problem *p = &ctx->kept[ctx->kept_next++];
        if (ctx->cb)
            ctx->cb(ctx->source, p->line, p->message, ctx->userdata);
    }
}

static void PT__PRINTF(3, 4)
    report(parse_ctx *ctx, unsigned int line, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ctx->errors++;
    if (ctx->mode == REPORT_KEEP) {
        keep_problem(ctx, line, msg);
    } else if (ctx->mode == REPORT_DELIVER) {
        deliver_kept(ctx, line);
        if (ctx->cb)
            ctx->cb(ctx->source, line, msg, ctx->userdata);
    }
}

/* Sort the kept problems by line (stable: same-line problems keep their
 * order). */
static void
sort_kept(parse_ctx *ctx)
{
    for (size_t i = 1; i < ctx->kept_count; i++) {
        problem p = ctx->kept[i];
        size_t j = i;
        while (j > 0 && ctx->kept[j - 1].line > p.line) {
            ctx->kept[j] = ctx->kept[j - 1];
            j--;
        }
        ctx->kept[j] = p;
    }
}

static void
free_kept(parse_ctx *ctx)
{
    for (size_t i = 0; i < ctx->kept_count; i++)
        free(ctx->kept[i].message);
    free(ctx->kept);
    ctx->kept = NULL;
    ctx->kept_count = ctx->kept_cap = ctx->kept_next = 0;
}

/* A value quoted for a message: printable ASCII only, at most 40 bytes. */
static const char *
quote(char *out, size_t size, const char *value)
{
    size_t o = 0;
    for (const char *p = value; *p && o + 4 < size; p++) {
        unsigned char c = (unsigned char)*p;
        out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
        if (o >= 40) {
            memcpy(out + o, "...", 3);
            o += 3;
            break;
        }
    }
    out[o] = '\0';
    return out;
}

/* ---- the reader ---------------------------------------------------------- */

static int
is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r';
}

/* inih's find_chars_or_comment: the first of `chars`, or an inline ';'
 * comment (a ';' after a blank), or the end. */
static const char *
find_or_comment(const char *s, const char *end, const char *chars)
{
    int was_space = 0;
    while (s < end && !(chars && strchr(chars, *s) && *s) &&
           !(was_space && *s == ';')) {
        was_space = is_blank(*s);
        s++;
    }
    return s;
}

static void
classify_section(parse_ctx *ctx, const char *start, const char *end)
{
    const char *close = find_or_comment(start + 1, end, "]");
    char name[64];
    size_t n;

    if (close == end || *close != ']') {
        report(ctx, ctx->lineno, "section header without a closing ']'");
        ctx->kind = LINE_ERROR;
        return;
    }
    ctx->kind = LINE_SECTION;
    ctx->inih_has_name = 0;
    ctx->last_key = -1;
    for (const char *p = close + 1; p < end; p++) {
        if (*p == ';')
            break;
        if (!is_blank(*p)) {
            report(ctx, ctx->lineno, "text after the section header");
            break;
        }
    }
    n = (size_t)(close - start - 1);
    if (n >= sizeof(name))
        n = sizeof(name) - 1;
    memcpy(name, start + 1, n);
    name[n] = '\0';
    if (!pt__section_known(name)) {
        char q[48];
        report(ctx, ctx->lineno,
               "unknown section [%s] (known: policy, storage, ip, optout, "
               "retention, fields, audit, notice)",
               quote(q, sizeof(q), name));
    }
}

/* Decide what inih will make of this line, reporting what it would only
 * half-report. */
static void
classify(parse_ctx *ctx, const char *line, const char *end)
{
    const char *start = line, *sep;

    if (ctx->lineno == 1 && end - line >= 3 &&
        memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        start = line = line + 3;
    while (start < end && is_blank(*start))
        start++;
    if (start == end) {
        ctx->kind = LINE_BLANK;
    } else if (*start == ';' || *start == '#') {
        ctx->kind = LINE_COMMENT;
    } else if (start > line && ctx->inih_has_name) {
        ctx->kind = LINE_CONTINUATION;
    } else if (*start == '[') {
        classify_section(ctx, start, end);
    } else {
        sep = find_or_comment(start, end, "=:");
        if (sep < end && (*sep == '=' || *sep == ':')) {
            ctx->kind = LINE_KEY;
            ctx->inih_has_name = 1;
        } else {
            report(ctx, ctx->lineno,
                   "expected 'key = value', '[section]' or a comment");
            ctx->kind = LINE_ERROR;
        }
    }
}

/* An ini_reader (fgets-like) over the buffer, one line per call. */
static char *
read_line(char *str, int num, void *stream)
{
    parse_ctx *ctx = stream;
    const char *line, *eol, *end;
    size_t n, limit = num > 2 ? (size_t)num - 2 : 0;

    if (ctx->pos >= ctx->len)
        return NULL;
    line = ctx->text + ctx->pos;
    eol = memchr(line, '\n', ctx->len - ctx->pos);
    end = eol ? eol : ctx->text + ctx->len;
    ctx->pos = (size_t)(end - ctx->text) + (eol ? 1 : 0);
    ctx->lineno++;
    if (end > line && end[-1] == '\r')
        end--;
    n = (size_t)(end - line);

    ctx->kind = LINE_ERROR;
    if (memchr(line, '\0', n)) {
        report(ctx, ctx->lineno, "NUL byte in the line");
    } else if (n > limit) {
        report(ctx, ctx->lineno,
               "line too long (%zu bytes, at most %zu): put long lists on "
               "indented continuation lines",
               n, limit);
    } else if (!pt__utf8_valid(line, n)) {
        report(ctx, ctx->lineno, "invalid UTF-8");
    } else {
        classify(ctx, line, end);
    }
    if (ctx->kind == LINE_ERROR) {
        /* inih sees a blank line, so the numbering stays right. */
        str[0] = '\n';
        str[1] = '\0';
        return str;
    }
    memcpy(str, line, n);
    str[n] = '\n';
    str[n + 1] = '\0';
    return str;
}

/* ---- the handler --------------------------------------------------------- */

/* A value that does not parse leaves the key unset (its default), so
 * that it causes no contradiction reports of its own. */
static void
set_value(parse_ctx *ctx, int key, const char *value, int append)
{
    char err[160], q[48];
    if (pt__key_set(ctx->policy, (pt__key)key, value, append, err,
                    sizeof(err)) == 0) {
        ctx->policy->set[key] = 1;
        return;
    }
    if (!append)
        ctx->policy->set[key] = 0;
    if (key == PT_K_IP_KEY_FILE)
        report(ctx, ctx->lineno, "bad value for [%s] %s: %s",
               pt__key_section((pt__key)key), pt__key_name((pt__key)key), err);
    else
        report(ctx, ctx->lineno, "bad value '%s' for [%s] %s: %s",
               quote(q, sizeof(q), value), pt__key_section((pt__key)key),
               pt__key_name((pt__key)key), err);
}

static void
handle_continuation(parse_ctx *ctx, const char *value)
{
    if (ctx->last_key < 0)
        return; /* the key itself was reported */
    if (!pt__key_is_list((pt__key)ctx->last_key)) {
        report(ctx, ctx->lineno,
               "indented line continues [%s] %s, which is not a list (only "
               "trusted_proxies may span lines)",
               pt__key_section((pt__key)ctx->last_key),
               pt__key_name((pt__key)ctx->last_key));
        return;
    }
    set_value(ctx, ctx->last_key, value, 1);
}

static int
handle(void *user, const char *section, const char *name, const char *value)
{
    parse_ctx *ctx = user;
    int key;
    char q[48];

    if (ctx->kind == LINE_CONTINUATION) {
        handle_continuation(ctx, value);
        return 1;
    }
    ctx->last_key = -1;
    if (!*section) {
        report(ctx, ctx->lineno, "key '%s' before any [section]",
               quote(q, sizeof(q), name));
        return 1;
    }
    if (!pt__section_known(section))
        return 1; /* reported at the section header */
    key = pt__key_find(section, name);
    if (key < 0) {
        report(ctx, ctx->lineno, "unknown key '%s' in [%s]",
               quote(q, sizeof(q), name), section);
        return 1;
    }
    if (ctx->key_line[key]) {
        report(ctx, ctx->lineno, "duplicate key [%s] %s (first set on line %u)",
               section, name, ctx->key_line[key]);
        return 1;
    }
    ctx->key_line[key] = ctx->lineno;
    ctx->last_key = key;
    set_value(ctx, key, value, 0);
    return 1;
}

/* ---- contradictions ------------------------------------------------------ */

static unsigned int
later(const parse_ctx *ctx, int a, int b)
{
    unsigned int la = ctx->key_line[a], lb = ctx->key_line[b];
    return la > lb ? la : lb;
}

/* A key that the rest of the policy makes meaningless is an error: whoever
 * wrote it believes it has an effect. */
static void
check_unused(parse_ctx *ctx, int key, int because, const char *why)
{
    if (ctx->policy->set[key])
        report(ctx, later(ctx, key, because), "[%s] %s has no effect %s",
               pt__key_section((pt__key)key), pt__key_name((pt__key)key), why);
}

/* Before pt__policy_finish() merges the two synonyms. */
static void
check_dry_run(parse_ctx *ctx)
{
    pt_policy *p = ctx->policy;
    if (p->set[PT_K_POLICY_DRY_RUN] && p->set[PT_K_AUDIT_DRY_RUN] &&
        p->num[PT_K_POLICY_DRY_RUN] != p->num[PT_K_AUDIT_DRY_RUN])
        report(ctx, later(ctx, PT_K_POLICY_DRY_RUN, PT_K_AUDIT_DRY_RUN),
               "[policy] dry_run and [audit] dry_run disagree");
}

/* Truncating to the whole address keeps it raw, which PRIVACY.md promises
 * only `mode = keep` does. */
static void
check_full_prefix(parse_ctx *ctx, int key, unsigned int width)
{
    if (ctx->policy->set[key] && ctx->policy->num[key] == width)
        report(ctx, later(ctx, key, PT_K_IP_MODE),
               "[ip] %s = %u with mode = truncate keeps whole addresses: "
               "raw addresses are stored only with mode = keep (or use a "
               "shorter prefix)",
               pt__key_name((pt__key)key), width);
}

static void
check_ip(parse_ctx *ctx)
{
    const unsigned int *num = ctx->policy->num;
    unsigned int mode = num[PT_K_IP_MODE];

    if (mode != PT_IP_HASH) {
        const char *why = "unless [ip] mode = hash";
        check_unused(ctx, PT_K_IP_KEY_FILE, PT_K_IP_MODE, why);
        check_unused(ctx, PT_K_IP_HASH_BYTES, PT_K_IP_MODE, why);
        check_unused(ctx, PT_K_IP_TRUNCATE_BEFORE_HASH, PT_K_IP_MODE, why);
    }
    if (mode == PT_IP_TRUNCATE) {
        check_full_prefix(ctx, PT_K_IP_IPV4_PREFIX, 32);
        check_full_prefix(ctx, PT_K_IP_IPV6_PREFIX, 128);
    }
    if (mode == PT_IP_KEEP || mode == PT_IP_DROP) {
        const char *why = "unless [ip] mode is truncate or hash";
        check_unused(ctx, PT_K_IP_IPV4_PREFIX, PT_K_IP_MODE, why);
        check_unused(ctx, PT_K_IP_IPV6_PREFIX, PT_K_IP_MODE, why);
    } else if (mode == PT_IP_HASH && !num[PT_K_IP_TRUNCATE_BEFORE_HASH]) {
        const char *why = "when truncate_before_hash = false";
        check_unused(ctx, PT_K_IP_IPV4_PREFIX, PT_K_IP_TRUNCATE_BEFORE_HASH,
                     why);
        check_unused(ctx, PT_K_IP_IPV6_PREFIX, PT_K_IP_TRUNCATE_BEFORE_HASH,
                     why);
    }
}

/* Rotating keys: the keys that only mean something with them, and the
 * single-key settings they replace. */
static void
check_rotation(parse_ctx *ctx)
{
    static const int rotation_keys[] = {PT_K_IP_KEY_GRACE_HOURS,
                                        PT_K_IP_KEY_STORE, PT_K_IP_KEY_DIR,
                                        PT_K_IP_KEY_WRAP_FILE};
    const pt_policy *p = ctx->policy;
    unsigned int mode = p->num[PT_K_IP_MODE];
    unsigned int rotate = p->num[PT_K_IP_ROTATE];

    if (mode != PT_IP_HASH) {
        check_unused(ctx, PT_K_IP_ROTATE, PT_K_IP_MODE,
                     "unless [ip] mode = hash");
        for (size_t i = 0; i < sizeof(rotation_keys) / sizeof(int); i++)
            check_unused(ctx, rotation_keys[i], PT_K_IP_MODE,
                         "unless [ip] mode = hash");
        return;
    }
    if (rotate == PT_ROTATE_NEVER) {
        for (size_t i = 0; i < sizeof(rotation_keys) / sizeof(int); i++)
            check_unused(ctx, rotation_keys[i], PT_K_IP_ROTATE,
                         "when [ip] rotate = never (one key, no rotation)");
        return;
    }
    check_unused(ctx, PT_K_IP_KEY_FILE, PT_K_IP_ROTATE,
                 "when keys rotate: each period's key lives in the key "
                 "store (key_store, key_dir)");
    if (pt__policy_key_store(p) == PT_KEY_STORE_BACKEND &&
        strcmp(p->text[PT_K_STORAGE_BACKEND], "file") != 0)
        check_unused(ctx, PT_K_IP_KEY_DIR, PT_K_IP_KEY_STORE,
                     "when keys live in the storage backend "
                     "(key_store = backend, or auto with backend = dynamodb)");
}

static void
check_fields(parse_ctx *ctx)
{
    const unsigned int *num = ctx->policy->num;
    if (num[PT_K_FIELDS_USER_AGENT] != PT_UA_KEEP)
        check_unused(ctx, PT_K_FIELDS_MAX_USER_AGENT, PT_K_FIELDS_USER_AGENT,
                     "unless [fields] user_agent = keep");
    if (num[PT_K_FIELDS_LINKS] == PT_LINKS_DROP) {
        check_unused(ctx, PT_K_FIELDS_MAX_LINKS, PT_K_FIELDS_LINKS,
                     "when [fields] links = drop");
        check_unused(ctx, PT_K_FIELDS_MAX_LINK_LENGTH, PT_K_FIELDS_LINKS,
                     "when [fields] links = drop");
    }
    if (num[PT_K_FIELDS_TITLES] == PT_LIST_DROP &&
        num[PT_K_FIELDS_FILENAMES] == PT_LIST_DROP) {
        const char *why = "when both titles and filenames are dropped";
        int by = later(ctx, PT_K_FIELDS_TITLES, PT_K_FIELDS_FILENAMES) ==
                         ctx->key_line[PT_K_FIELDS_TITLES]
                     ? PT_K_FIELDS_TITLES
                     : PT_K_FIELDS_FILENAMES;
        check_unused(ctx, PT_K_FIELDS_MAX_FILENAMES, by, why);
        check_unused(ctx, PT_K_FIELDS_MAX_FILENAME_LENGTH, by, why);
    }
}

/* Per-field retention: never longer than the record's (a field cannot
 * outlive its record), and only for a field that is stored. */
static void
check_retention(parse_ctx *ctx)
{
    static const struct {
        int key;
        int field;            /* the [fields] or [ip] key that can drop it */
        unsigned int dropped; /* its value that stores nothing */
        const char *why;
    } fields[] = {
        {PT_K_RETENTION_CLIENT_IP_DAYS, PT_K_IP_MODE, PT_IP_DROP,
         "when [ip] mode = drop (no address is stored)"},
        {PT_K_RETENTION_USER_AGENT_DAYS, PT_K_FIELDS_USER_AGENT, PT_UA_DROP,
         "when [fields] user_agent = drop"},
        {PT_K_RETENTION_LINKS_DAYS, PT_K_FIELDS_LINKS, PT_LINKS_DROP,
         "when [fields] links = drop"},
        {PT_K_RETENTION_TITLES_DAYS, PT_K_FIELDS_TITLES, PT_LIST_DROP,
         "when [fields] titles = drop"},
        {PT_K_RETENTION_FILENAMES_DAYS, PT_K_FIELDS_FILENAMES, PT_LIST_DROP,
         "when [fields] filenames = drop"},
    };
    const pt_policy *p = ctx->policy;
    unsigned int ttl = p->num[PT_K_RETENTION_TTL_DAYS];

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        int key = fields[i].key;
        if (p->num[fields[i].field] == fields[i].dropped) {
            check_unused(ctx, key, fields[i].field, fields[i].why);
            continue;
        }
        if (ttl != 0 && p->num[key] > ttl)
            report(ctx, later(ctx, key, PT_K_RETENTION_TTL_DAYS),
                   "[retention] %s = %u is longer than ttl_days = %u: a "
                   "field cannot outlive its record (lower it, or 0 for "
                   "as long as the record)",
                   pt__key_name((pt__key)key), p->num[key], ttl);
    }
}

static void
check_other(parse_ctx *ctx)
{
    pt_policy *p = ctx->policy;
    if (!p->num[PT_K_OPTOUT_HONOR_DNT] && !p->num[PT_K_OPTOUT_HONOR_GPC] &&
        !p->set[PT_K_OPTOUT_COOKIE] && p->set[PT_K_OPTOUT_ACTION]) {
        int by = ctx->key_line[PT_K_OPTOUT_HONOR_DNT] >
                         ctx->key_line[PT_K_OPTOUT_HONOR_GPC]
                     ? PT_K_OPTOUT_HONOR_DNT
                     : PT_K_OPTOUT_HONOR_GPC;
        check_unused(ctx, PT_K_OPTOUT_ACTION, by,
                     "when no opt-out signal (dnt, gpc, cookie) is honoured");
    }
    if (strcmp(p->text[PT_K_STORAGE_BACKEND], "file") == 0) {
        const char *why = "with [storage] backend = file";
        check_unused(ctx, PT_K_STORAGE_TABLE, PT_K_STORAGE_BACKEND, why);
        check_unused(ctx, PT_K_STORAGE_REGION, PT_K_STORAGE_BACKEND, why);
        check_unused(ctx, PT_K_STORAGE_ENDPOINT, PT_K_STORAGE_BACKEND, why);
        check_unused(ctx, PT_K_STORAGE_CREATE_TABLE, PT_K_STORAGE_BACKEND, why);
    }
    /* The notice would send visitors to a page whose choice privtrack
     * cannot see: the page must set the opt-out cookie. */
    if (!p->set[PT_K_OPTOUT_COOKIE])
        check_unused(ctx, PT_K_NOTICE_URL, PT_K_OPTOUT_COOKIE,
                     "unless [optout] cookie is set (the opt-out page sets "
                     "that cookie)");
}

/* ---- parsing --------------------------------------------------------------
 */

/* A context for one pass over the text, with an empty policy. */
static int
begin_pass(parse_ctx *ctx, const char *text, size_t len, const char *source,
           pt_policy_error_fn cb, void *userdata)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->text = text;
    ctx->len = len;
    ctx->source = source;
    ctx->last_key = -1;
    ctx->cb = cb;
    ctx->userdata = userdata;
    ctx->policy = calloc(1, sizeof(*ctx->policy));
    if (!ctx->policy)
        return -1;
    atomic_init(&ctx->policy->refs, 1);
    return 0;
}

/* The second pass: the same parse, delivering every problem in line order
 * (see "problem" above).  0, or -1 when out of memory. */
static int
deliver_all(parse_ctx *first)
{
    parse_ctx ctx;
    int rc;

    if (!first->cb)
        return 0;
    if (begin_pass(&ctx, first->text, first->len, first->source, first->cb,
                   first->userdata) != 0)
        return -1;
    sort_kept(first);
    ctx.mode = REPORT_DELIVER;
    ctx.kept = first->kept;
    ctx.kept_count = first->kept_count;
    rc = ini_parse_stream(read_line, &ctx, handle, &ctx);
    deliver_kept(&ctx, UINT_MAX);
    pt__policy_destroy(ctx.policy);
    return rc == -2 ? -1 : 0;
}

/* Parse `len` bytes into a new policy; every problem goes to `cb`, in line
 * order.  Returns PT_OK (policy in *out), PT_EPOLICY or PT_ENOMEM. */
static int
parse(pt_policy **out, const char *text, size_t len, const char *source,
      pt_policy_error_fn cb, void *userdata)
{
    parse_ctx ctx;
    int rc;

    *out = NULL;
    if (sodium_init() < 0)
        return pt__fail(PT_ECRYPTO, "libsodium failed to initialise");
    if (begin_pass(&ctx, text, len, source, cb, userdata) != 0)
        return pt__fail(PT_ENOMEM, "out of memory loading %s", source);

    ctx.mode = REPORT_COUNT;
    rc = ini_parse_stream(read_line, &ctx, handle, &ctx);
    ctx.mode = REPORT_KEEP;
    if (rc > 0 && ctx.errors == 0)
        report(&ctx, (unsigned int)rc, "syntax error");
    check_dry_run(&ctx);
    if (rc == -2 || pt__policy_finish(ctx.policy, source) != PT_OK)
        ctx.oom = 1;
    if (!ctx.oom) {
        check_ip(&ctx);
        check_rotation(&ctx);
        check_fields(&ctx);
        check_retention(&ctx);
        check_other(&ctx);
    }
    if (!ctx.oom && ctx.errors && deliver_all(&ctx) != 0)
        ctx.oom = 1;
    free_kept(&ctx);
    if (ctx.oom) {
        pt__policy_destroy(ctx.policy);
        return pt__fail(PT_ENOMEM, "out of memory loading %s", source);
    }
    if (ctx.errors) {
        pt__policy_destroy(ctx.policy);
        return PT_EPOLICY;
    }
    /* Kept for the regime checks, which point at the line of a key. */
    memcpy(ctx.policy->line, ctx.key_line, sizeof(ctx.key_line));
    *out = ctx.policy;
    return PT_OK;
}

typedef struct first_error {
    int seen;
} first_error;

/* Loading stops being interesting after the first problem: it becomes
 * pt_last_error(). */
static void
keep_first(const char *file, unsigned int line, const char *message,
           void *userdata)
{
    first_error *first = userdata;
    if (first->seen++)
        return;
    if (line)
        pt__fail(PT_EPOLICY, "%s:%u: %s", file, line, message);
    else
        pt__fail(PT_EPOLICY, "%s: %s", file, message);
}

/* Read a policy file: a regular file only (a FIFO would hang the load, a
 * device never end it), through a link only when root or we own the link.
 * *unsafe receives pt__fs_check_owner's verdict (PT_OK, or PT_EACCESS with
 * its message in `why`): a policy decides what is stored, so one that
 * others can change is refused by the loader and reported by the
 * checker. */
static int
read_file(const char *path, char **text, size_t *len, int *unsafe, char *why,
          size_t why_size)
{
    size_t n = 0;
    char *buf;
    int fd, rc;

    rc = pt__fs_open_path(&fd, path, O_RDONLY,
                          PT_FS_ANY_DIR | PT_FS_FOLLOW_OWNED);
    if (rc == PT_ENOTFOUND)
        return pt__fail(PT_EIO, "%s: %s", path, strerror(ENOENT));
    if (rc != PT_OK)
        return rc;
    *unsafe = pt__fs_check_owner(fd, "policy", path, 002);
    pt__snprintf(why, why_size, "%s", *unsafe ? pt_last_error() : "");
    buf = malloc(MAX_POLICY_BYTES + 1);
    if (!buf) {
        close(fd);
        return pt__fail(PT_ENOMEM, "out of memory reading %s", path);
    }
    while (n <= MAX_POLICY_BYTES) {
        ssize_t got = read(fd, buf + n, MAX_POLICY_BYTES + 1 - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return pt__fail(PT_EIO, "%s: %s", path, strerror(e));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    close(fd);
    if (n > MAX_POLICY_BYTES) {
        free(buf);
        return pt__fail(PT_EPOLICY, "%s: larger than %d bytes", path,
                        MAX_POLICY_BYTES);
    }
    *text = buf;
    *len = n;
    return PT_OK;
}

/* ---- public API -----------------------------------------------------------
 */

int
pt_policy_load_buffer(pt_policy **out, const char *text, size_t len,
                      const char *name)
{
    first_error first = {0};
    if (!out)
        return pt__fail(PT_EINVAL, "pt_policy_load_buffer: out is NULL");
    *out = NULL;
    if (!text && len)
        return pt__fail(PT_EINVAL, "pt_policy_load_buffer: text is NULL");
    pt__clear_error();
    return parse(out, text ? text : "", len, name ? name : "<memory>",
                 keep_first, &first);
}

int
pt_policy_load_file(pt_policy **out, const char *path)
{
    char *text;
    size_t len;
    char why[512];
    int unsafe = PT_OK;
    int rc;
    if (!out || !path)
        return pt__fail(PT_EINVAL, "pt_policy_load_file: NULL argument");
    *out = NULL;
    rc = read_file(path, &text, &len, &unsafe, why, sizeof(why));
    if (rc != PT_OK)
        return rc;
    if (unsafe) {
        free(text);
        return pt__fail(unsafe, "%s", why);
    }
    rc = pt_policy_load_buffer(out, text, len, path);
    free(text);
    return rc;
}

extern const char pt__default_policy_ini[];
extern const size_t pt__default_policy_ini_len;

int
pt_policy_load_default(pt_policy **out)
{
    return pt_policy_load_buffer(out, pt__default_policy_ini,
                                 pt__default_policy_ini_len, "default.ini");
}

const char *
pt_policy_default_text(void)
{
    return pt__default_policy_ini;
}

int
pt_policy_check_buffer(const char *text, size_t len, const char *name,
                       pt_policy_error_fn cb, void *userdata)
{
    pt_policy *policy;
    int rc;
    if (!text && len)
        return pt__fail(PT_EINVAL, "pt_policy_check_buffer: text is NULL");
    rc = parse(&policy, text ? text : "", len, name ? name : "<memory>", cb,
               userdata);
    pt_policy_free(policy);
    return rc;
}

int
pt_policy_check_file(const char *path, pt_policy_error_fn cb, void *userdata)
{
    char *text;
    size_t len;
    char why[512];
    int unsafe = PT_OK;
    int rc;
    if (!path)
        return pt__fail(PT_EINVAL, "pt_policy_check_file: path is NULL");
    rc = read_file(path, &text, &len, &unsafe, why, sizeof(why));
    if ((rc == PT_EPOLICY || rc == PT_EACCESS) && cb)
        cb(path, 0, pt_last_error(), userdata);
    if (rc != PT_OK)
        return rc == PT_EACCESS ? PT_EPOLICY : rc;
    /* Who may change it is a problem of the file, reported with the
     * others: privtrack would refuse to load it. */
    if (unsafe && cb)
        cb(path, 0, why, userdata);
    rc = pt_policy_check_buffer(text, len, path, cb, userdata);
    free(text);
    return unsafe && rc == PT_OK ? PT_EPOLICY : rc;
}

const char *
pt_policy_id(const pt_policy *policy)
{
    return policy ? policy->id : "";
}

const char *
pt_policy_get(const pt_policy *policy, const char *section, const char *key)
{
    int k;
    if (!policy || !section || !key)
        return NULL;
    k = pt__key_find(section, key);
    return k < 0 ? NULL : policy->text[k];
}

pt_policy *
pt__policy_ref(const pt_policy *policy)
{
    pt_policy *p = (pt_policy *)policy;
    if (p)
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void
pt_policy_free(pt_policy *policy)
{
    if (!policy)
        return;
    if (atomic_fetch_sub_explicit(&policy->refs, 1, memory_order_acq_rel) == 1)
        pt__policy_destroy(policy);
}

/* ---- typed accessors ------------------------------------------------------
 */

int
pt__policy_dry_run(const pt_policy *policy)
{
    return (int)policy->num[PT_K_POLICY_DRY_RUN];
}

const char *
pt__policy_audit_output(const pt_policy *policy)
{
    return policy->text[PT_K_AUDIT_OUTPUT];
}

const char *
pt__policy_backend(const pt_policy *policy)
{
    return policy->text[PT_K_STORAGE_BACKEND];
}

const char *
pt__policy_storage_path(const pt_policy *policy)
{
    return policy->text[PT_K_STORAGE_PATH];
}

unsigned int
pt__policy_ttl_days(const pt_policy *policy)
{
    return policy->num[PT_K_RETENTION_TTL_DAYS];
}

pt_rotation
pt_policy_rotation(const pt_policy *policy)
{
    if (!policy || policy->num[PT_K_IP_MODE] != PT_IP_HASH)
        return PT_ROTATE_NEVER;
    return (pt_rotation)policy->num[PT_K_IP_ROTATE];
}

unsigned int
pt__policy_key_grace_hours(const pt_policy *policy)
{
    return policy->num[PT_K_IP_KEY_GRACE_HOURS];
}

int
pt__policy_key_store(const pt_policy *policy)
{
    unsigned int store = policy->num[PT_K_IP_KEY_STORE];
    if (store != PT_KEY_STORE_AUTO)
        return (int)store;
    return strcmp(policy->text[PT_K_STORAGE_BACKEND], "dynamodb") == 0
               ? PT_KEY_STORE_BACKEND
               : PT_KEY_STORE_FILE;
}

const char *
pt__policy_key_wrap_file(const pt_policy *policy)
{
    const char *path = policy->text[PT_K_IP_KEY_WRAP_FILE];
    return path && *path ? path : NULL;
}

const char *
pt__policy_key_dir(const pt_policy *policy)
{
    const char *dir = policy->text[PT_K_IP_KEY_DIR];
    return dir && *dir ? dir : NULL;
}
