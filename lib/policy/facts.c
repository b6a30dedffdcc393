/*
 * The facts of a policy (facts.h), and the public entry points that turn
 * them into documents: pt_policy_describe().
 */
#include "policy/facts.h"

#include <string.h>

void
pt__facts_from_policy(pt__facts *out, const pt_policy *p)
{
    const unsigned int *num = p->num;
    char *const *text = p->text;
    unsigned int mode = num[PT_K_IP_MODE];
    int truncates = mode == PT_IP_TRUNCATE ||
                    (mode == PT_IP_HASH && num[PT_K_IP_TRUNCATE_BEFORE_HASH]);

    memset(out, 0, sizeof(*out));
    out->policy_id = p->id;
    out->source = p->source ? p->source : "";
    out->dry_run = (int)num[PT_K_POLICY_DRY_RUN];

    out->controller = text[PT_K_NOTICE_CONTROLLER];
    out->contact = text[PT_K_NOTICE_CONTACT];
    out->purpose = text[PT_K_NOTICE_PURPOSE];
    out->optout_url = text[PT_K_NOTICE_URL];
    out->purpose_is_default =
        strcmp(out->purpose, PT_NOTICE_DEFAULT_PURPOSE) == 0;

    out->ip.mode = mode;
    out->ip.ipv4_bits = truncates ? num[PT_K_IP_IPV4_PREFIX] : 32;
    out->ip.ipv6_bits = truncates ? num[PT_K_IP_IPV6_PREFIX] : 128;
    out->ip.hash_bytes = mode == PT_IP_HASH ? num[PT_K_IP_HASH_BYTES] : 0;
    out->ip.trusted_proxies = p->proxy_count > 0;
    out->ip.rotation = pt_policy_rotation(p);
    if (out->ip.rotation == PT_ROTATE_NEVER) {
        out->ip.key_file = mode == PT_IP_HASH && *text[PT_K_IP_KEY_FILE];
        out->ip.key_path = out->ip.key_file ? text[PT_K_IP_KEY_FILE] : "";
        out->ip.key_dir = out->ip.key_wrap_file = "";
    } else {
        out->ip.key_path = "";
        out->ip.key_grace_hours = num[PT_K_IP_KEY_GRACE_HOURS];
        out->ip.key_store = pt__policy_key_store(p);
        out->ip.key_dir = text[PT_K_IP_KEY_DIR];
        out->ip.key_wrap_file = text[PT_K_IP_KEY_WRAP_FILE];
    }

    out->user_agent = num[PT_K_FIELDS_USER_AGENT];
    out->max_user_agent = num[PT_K_FIELDS_MAX_USER_AGENT];
    out->links = num[PT_K_FIELDS_LINKS];
    out->max_links = num[PT_K_FIELDS_MAX_LINKS];
    out->max_link_length = num[PT_K_FIELDS_MAX_LINK_LENGTH];
    out->titles = num[PT_K_FIELDS_TITLES];
    out->filenames = num[PT_K_FIELDS_FILENAMES];
    out->max_filenames = num[PT_K_FIELDS_MAX_FILENAMES];
    out->max_filename_length = num[PT_K_FIELDS_MAX_FILENAME_LENGTH];

    out->honor_dnt = (int)num[PT_K_OPTOUT_HONOR_DNT];
    out->honor_gpc = (int)num[PT_K_OPTOUT_HONOR_GPC];
    out->optout_cookie = text[PT_K_OPTOUT_COOKIE];
    out->optout_action = num[PT_K_OPTOUT_ACTION];

    out->record_days = num[PT_K_RETENTION_TTL_DAYS];
    {
        /* [retention] <field>_days; 0 is "as long as the record" */
        static const int field_keys[PT_FACT__FIELDS] = {
            [PT_FACT_CLIENT_IP] = PT_K_RETENTION_CLIENT_IP_DAYS,
            [PT_FACT_USER_AGENT] = PT_K_RETENTION_USER_AGENT_DAYS,
            [PT_FACT_LINKS] = PT_K_RETENTION_LINKS_DAYS,
            [PT_FACT_TITLES] = PT_K_RETENTION_TITLES_DAYS,
            [PT_FACT_FILENAMES] = PT_K_RETENTION_FILENAMES_DAYS,
        };
        for (int f = 0; f < PT_FACT__FIELDS; f++)
            out->field_days[f] =
                num[field_keys[f]] ? num[field_keys[f]] : out->record_days;
    }

    out->backend = text[PT_K_STORAGE_BACKEND];
    out->store = strcmp(out->backend, "file") == 0 ? PT_FACT_STORE_FILE
                 : strcmp(out->backend, "dynamodb") == 0
                     ? PT_FACT_STORE_DYNAMODB
                     : PT_FACT_STORE_OTHER;
    out->path = text[PT_K_STORAGE_PATH];
    out->table = text[PT_K_STORAGE_TABLE];
    out->region = text[PT_K_STORAGE_REGION];

    out->show_raw = (int)num[PT_K_AUDIT_SHOW_RAW];
    out->audit_output = text[PT_K_AUDIT_OUTPUT];
}

int
pt__fact_stored(const pt__facts *f, pt__fact_field field)
{
    switch (field) {
    case PT_FACT_CLIENT_IP:
        return f->ip.mode != PT_IP_DROP;
    case PT_FACT_USER_AGENT:
        return f->user_agent != PT_UA_DROP;
    case PT_FACT_LINKS:
        return f->links != PT_LINKS_DROP;
    case PT_FACT_TITLES:
        return f->titles == PT_LIST_KEEP;
    case PT_FACT_FILENAMES:
        return f->filenames == PT_LIST_KEEP;
    case PT_FACT__FIELDS:
        break;
    }
    return 0;
}

unsigned int
pt__facts_longest_days(const pt__facts *f)
{
    unsigned int longest = f->record_days;
    if (longest == 0)
        return 0;
    for (int i = 0; i < PT_FACT__FIELDS; i++) {
        if (!pt__fact_stored(f, (pt__fact_field)i))
            continue;
        if (f->field_days[i] == 0)
            return 0;
        if (f->field_days[i] > longest)
            longest = f->field_days[i];
    }
    return longest;
}

int
pt_policy_describe(char **out, const pt_policy *policy,
                   pt_policy_document document)
{
    pt__facts facts;
    pt_buf b = PT_BUF_INIT;
    int rc;

    if (!out || !policy)
        return pt__fail(PT_EINVAL, "pt_policy_describe: NULL argument");
    *out = NULL;
    pt__facts_from_policy(&facts, policy);
    switch (document) {
    case PT_DOC_NOTICE_MARKDOWN:
    case PT_DOC_NOTICE_HTML:
        rc = pt__notice_render(&b, &facts, document == PT_DOC_NOTICE_HTML);
        break;
    case PT_DOC_RECORD_MARKDOWN:
    case PT_DOC_RECORD_JSON:
        rc = pt__record_render(&b, &facts, document == PT_DOC_RECORD_JSON);
        break;
    default:
        return pt__fail(PT_EINVAL, "pt_policy_describe: unknown document %d",
                        (int)document);
    }
    if (rc != PT_OK || b.oom || !b.ptr) {
        pt_buf_free(&b);
        return pt__fail(PT_ENOMEM, "out of memory describing the policy");
    }
    if (!*facts.controller)
        pt__log(PT_LOG_WARN,
                "%s: [notice] controller is not set: the "
                "document names no controller",
                facts.source);
    if (!*facts.contact)
        pt__log(PT_LOG_WARN,
                "%s: [notice] contact is not set: the "
                "document says nowhere to exercise rights",
                facts.source);
    if (facts.store == PT_FACT_STORE_DYNAMODB && !*facts.region)
        pt__log(PT_LOG_WARN,
                "%s: [storage] region is not set: the "
                "document cannot say where records are stored",
                facts.source);
    *out = pt_buf_detach(&b);
    return PT_OK;
}
