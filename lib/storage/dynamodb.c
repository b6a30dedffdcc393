/*
 * The DynamoDB backend: configuration, the lazily created client, table
 * management (CreateTable, wait for ACTIVE, TTL) and the methods table.
 *
 * open() makes no network call and does not look for credentials, so a
 * dry-run or a `privtrack --help` with backend = dynamodb works anywhere;
 * missing credentials or region surface on the first operation that needs
 * the server, as PT_ECREDENTIALS / PT_EINVAL with what was looked for.
 */
#include "storage/dynamodb.h"

#include <cjson/cJSON.h>
#include <sodium.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ACTIVE_WAIT_US (120 * 1000000LL)
#define ACTIVE_POLL_US 100000

int
pt__dynamodb_fail(pt__dynamodb *d, int rc)
{
    if (rc == PT_ENOTFOUND && strstr(pt_last_error(), "ResourceNotFound"))
        return pt__storage_fail(&d->base, rc,
                                "%.150s (table '%.60s' at %.60s: create it "
                                "with `privtrack init-storage`)",
                                pt_last_error(), d->table, d->endpoint.url);
    pt__snprintf(d->base.errmsg, sizeof(d->base.errmsg), "%s", pt_last_error());
    return rc;
}

int
pt__dynamodb_client(pt__dynamodb *d, pt_ddb_client **out)
{
    pt_ddb_client_config cfg;
    pt_aws_credentials creds;
    int rc;

    if (d->client) {
        *out = d->client;
        return PT_OK;
    }
    if (d->region_rc != PT_OK)
        return pt__storage_fail(&d->base, d->region_rc, "%s", d->region_error);
    rc = pt_aws_credentials_load(&creds);
    if (rc != PT_OK)
        return pt__dynamodb_fail(d, rc);
    memset(&cfg, 0, sizeof(cfg));
    cfg.endpoint = d->endpoint;
    pt__snprintf(cfg.region, sizeof(cfg.region), "%s", d->region);
    cfg.retry = d->retry;
    cfg.parallel = d->parallel;
    /* where they came from, never what they are */
    pt__log(PT_LOG_DEBUG, "dynamodb: table %s at %s, credentials from %s",
            d->table, d->endpoint.url, creds.source);
    rc = pt_ddb_client_new(&d->client, &cfg, &creds);
    if (rc != PT_OK) {
        pt_aws_credentials_free(&creds);
        return pt__dynamodb_fail(d, rc);
    }
    *out = d->client;
    return PT_OK;
}

static const char *
policy_text(const pt_policy *policy, const char *section, const char *key)
{
    const char *v = policy ? pt_policy_get(policy, section, key) : NULL;
    return (v && *v) ? v : NULL;
}

static int
dynamodb_open(pt_storage **out, const pt_policy *policy, const char *path)
{
    pt__dynamodb *d;
    const char *table = policy_text(policy, "storage", "table");
    const char *ttl = policy_text(policy, "retention", "ttl_days");
    const char *create = policy_text(policy, "storage", "create_table");
    const pt_ddb_retry retry = PT_DDB_RETRY_DEFAULT;
    int rc;

    (void)path; /* the file store's directory; nothing to do here */
    *out = NULL;
    d = calloc(1, sizeof(*d));
    if (!d)
        return pt__fail(PT_ENOMEM, "out of memory");
    if (!table)
        table = getenv("DYNAMODB_TABLE_NAME");
    if (!table || !*table)
        table = PT__DYNAMODB_DEFAULT_TABLE;
    pt__snprintf(d->table, sizeof(d->table), "%s", table);
    d->ttl_days = ttl ? (unsigned int)strtoul(ttl, NULL, 10) : 0;
    d->create_table = create && strcmp(create, "true") == 0;
    d->retry = retry;
    d->parallel = 16;
    if (sodium_init() < 0) {
        free(d);
        return pt__fail(PT_ECRYPTO, "libsodium could not be initialised");
    }
    pt__ddb_leases_reset(d); /* none yet: picks the owner id */
    d->region_rc = pt_aws_region_resolve(
        d->region, sizeof(d->region), policy_text(policy, "storage", "region"));
    if (d->region_rc != PT_OK)
        pt__snprintf(d->region_error, sizeof(d->region_error), "%s",
                     pt_last_error());
    rc = pt_aws_endpoint_resolve(&d->endpoint,
                                 policy_text(policy, "storage", "endpoint"),
                                 d->region_rc == PT_OK ? d->region : NULL);
    if (rc != PT_OK && d->region_rc != PT_OK && rc == PT_EINVAL)
        rc = PT_OK; /* only the region is missing: reported on first use */
    if (rc != PT_OK) {
        free(d);
        return rc;
    }
    *out = &d->base;
    return PT_OK;
}

static void
dynamodb_close(pt_storage *s)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    if (!d)
        return;
    pt_ddb_client_free(d->client);
    pt__dynamodb_put_free(d);
    d->lease_pid = 0; /* whoever's they were, they go */
    pt__ddb_leases_reset(d);
    free(d);
}

static int
dynamodb_control(pt_storage *s, int op, void *arg)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    switch (op) {
    case PT_STORAGE_CTL_RETRIES:
        *(uint64_t *)arg = pt_ddb_client_retries(d->client);
        return PT_OK;
    case PT_STORAGE_CTL_BATCH_SIZE:
        /* enough records per put() to keep every connection busy with a
         * full BatchWriteItem */
        *(size_t *)arg = (size_t)PT__DDB_BATCH_ITEMS * d->parallel;
        return PT_OK;
    case PT__DYNAMODB_CTL_SET_RETRY:
        d->retry = *(const pt_ddb_retry *)arg;
        if (d->client)
            pt_ddb_client_set_retry(d->client, &d->retry);
        return PT_OK;
    case PT__DYNAMODB_CTL_PAGE_LIMIT:
        d->page_limit = *(const unsigned int *)arg;
        return PT_OK;
    case PT__DYNAMODB_CTL_GET_STATS:
        *(pt__dynamodb_stats *)arg = d->stats;
        return PT_OK;
    case PT__DYNAMODB_CTL_TABLE_NAME:
        *(const char **)arg = d->table;
        return PT_OK;
    default:
        return PT_EUNSUPPORTED;
    }
}

/* ---- table management ---------------------------------------------------- */

static void
table_body(pt_buf *b, const char *table)
{
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, table, strlen(table));
    pt_buf_putc(b, '}');
}

static int
key_is(const cJSON *k, const char *name, const char *type)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(k, "AttributeName");
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(k, "KeyType");
    return cJSON_IsString(n) && cJSON_IsString(t) &&
           strcmp(n->valuestring, name) == 0 &&
           strcmp(t->valuestring, type) == 0;
}

/* Exactly the spec's key: `hash` HASH, and `range` RANGE when it has one
 * (in either order). */
static int
key_schema_is(const cJSON *ks, const pt__ddb_table_spec *spec)
{
    const cJSON *a, *b;
    if (!cJSON_IsArray(ks))
        return 0;
    a = cJSON_GetArrayItem(ks, 0);
    if (!spec->range)
        return cJSON_GetArraySize(ks) == 1 && key_is(a, spec->hash, "HASH");
    if (cJSON_GetArraySize(ks) != 2)
        return 0;
    b = cJSON_GetArrayItem(ks, 1);
    return (key_is(a, spec->hash, "HASH") && key_is(b, spec->range, "RANGE")) ||
           (key_is(b, spec->hash, "HASH") && key_is(a, spec->range, "RANGE"));
}

/* DescribeTable: *status gets "ACTIVE", "CREATING", ... ("" when the table
 * does not exist).  Checks the key schema of an existing table. */
static int
describe_table(pt__dynamodb *d, const pt__ddb_table_spec *spec, char *status,
               size_t size)
{
    pt_ddb_client *c = d->client;
    pt_buf body = PT_BUF_INIT, resp = PT_BUF_INIT;
    int rc;

    table_body(&body, spec->name);
    rc = pt_ddb_call(c, "DescribeTable", body.ptr, body.len, &resp, NULL);
    pt_buf_free(&body);
    status[0] = '\0';
    if (rc == PT_ENOTFOUND) {
        pt_buf_free(&resp);
        return PT_OK;
    }
    if (rc == PT_OK) {
        cJSON *j = cJSON_ParseWithLength(resp.ptr, resp.len);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(j, "Table");
        const cJSON *st = cJSON_GetObjectItemCaseSensitive(t, "TableStatus");
        const cJSON *ks = cJSON_GetObjectItemCaseSensitive(t, "KeySchema");
        if (!cJSON_IsString(st)) {
            rc = pt__fail(PT_EPARSE, "DynamoDB DescribeTable: no TableStatus");
        } else if (!key_schema_is(ks, spec)) {
            rc = pt__fail(PT_EBACKEND,
                          "DynamoDB table %s exists with another key schema "
                          "(privtrack needs %s HASH%s%s%s)",
                          spec->name, spec->hash, spec->range ? ", " : "",
                          spec->range ? spec->range : "",
                          spec->range ? " RANGE" : "");
        } else {
            pt__snprintf(status, size, "%s", st->valuestring);
        }
        cJSON_Delete(j);
    }
    pt_buf_free(&resp);
    return rc;
}

static void
attribute_json(pt_buf *b, const char *name, const char *key_type)
{
    pt_buf_printf(b, "{\"AttributeName\":\"%s\",\"%s\":\"%s\"}", name,
                  key_type ? "KeyType" : "AttributeType",
                  key_type ? key_type : "S");
}

static int
create_table(pt__dynamodb *d, const pt__ddb_table_spec *spec)
{
    pt_buf body = PT_BUF_INIT;
    int rc;
    pt_buf_puts(&body, "{\"TableName\":");
    pt_buf_json_string(&body, spec->name, strlen(spec->name));
    pt_buf_puts(&body, ",\"AttributeDefinitions\":[");
    attribute_json(&body, spec->hash, NULL);
    if (spec->range) {
        pt_buf_putc(&body, ',');
        attribute_json(&body, spec->range, NULL);
    }
    pt_buf_puts(&body, "],\"KeySchema\":[");
    attribute_json(&body, spec->hash, "HASH");
    if (spec->range) {
        pt_buf_putc(&body, ',');
        attribute_json(&body, spec->range, "RANGE");
    }
    pt_buf_puts(&body, "],\"BillingMode\":\"PAY_PER_REQUEST\"}");
    rc = pt_ddb_call(d->client, "CreateTable", body.ptr, body.len, NULL, NULL);
    pt_buf_free(&body);
    if (rc == PT_EEXIST) /* ResourceInUse: another process created it */
        rc = PT_OK;
    if (rc == PT_OK)
        pt__log(PT_LOG_INFO, "dynamodb: created table %s", spec->name);
    return rc;
}

static int
wait_active(pt__dynamodb *d, const pt__ddb_table_spec *spec)
{
    char status[32];
    int64_t deadline = pt__monotonic_us() + ACTIVE_WAIT_US;
    for (;;) {
        int rc = describe_table(d, spec, status, sizeof(status));
        if (rc != PT_OK)
            return rc;
        if (strcmp(status, "ACTIVE") == 0)
            return PT_OK;
        if (pt__monotonic_us() > deadline)
            return pt__fail(PT_ETIMEDOUT,
                            "DynamoDB table %s is still '%s' after %lld s",
                            spec->name, status[0] ? status : "missing",
                            ACTIVE_WAIT_US / 1000000);
        usleep(ACTIVE_POLL_US);
    }
}

/* Enable TTL on the spec's attribute.  A server without the TTL API
 * (dynalite) is worth a warning, not a failure: what TTL would delete is
 * also deleted by privtrack itself (purge, key destruction). */
static int
enable_ttl(pt__dynamodb *d, const pt__ddb_table_spec *spec)
{
    pt_buf body = PT_BUF_INIT, resp = PT_BUF_INIT;
    char type[96], attribute[80];
    int rc;

    table_body(&body, spec->name);
    rc = pt_ddb_call(d->client, "DescribeTimeToLive", body.ptr, body.len, &resp,
                     type);
    pt_buf_free(&body);
    pt__snprintf(attribute, sizeof(attribute), "\"AttributeName\":\"%s\"",
                 spec->ttl_attribute);
    if (rc == PT_OK && strstr(resp.ptr, attribute) &&
        (strstr(resp.ptr, "\"ENABLED\"") || strstr(resp.ptr, "\"ENABLING\""))) {
        pt_buf_free(&resp);
        return PT_OK;
    }
    pt_buf_free(&resp);
    if (rc == PT_OK) {
        pt_buf_puts(&body, "{\"TableName\":");
        pt_buf_json_string(&body, spec->name, strlen(spec->name));
        pt_buf_printf(&body,
                      ",\"TimeToLiveSpecification\":{\"Enabled\":true,"
                      "\"AttributeName\":\"%s\"}}",
                      spec->ttl_attribute);
        rc = pt_ddb_call(d->client, "UpdateTimeToLive", body.ptr, body.len,
                         NULL, type);
        pt_buf_free(&body);
    }
    if (rc == PT_EUNSUPPORTED) {
        pt__log(PT_LOG_WARN,
                "dynamodb: the server has no TTL API (%s); %s removes what "
                "TTL would from %s",
                type, spec->ttl_fallback, spec->name);
        return PT_OK;
    }
    if (rc == PT_OK)
        pt__log(PT_LOG_INFO, "dynamodb: TTL enabled on attribute %s of %s",
                spec->ttl_attribute, spec->name);
    return rc;
}

int
pt__dynamodb_ensure_table(pt__dynamodb *d, const pt__ddb_table_spec *spec)
{
    pt_ddb_client *c;
    char status[32];
    int rc = pt__dynamodb_client(d, &c);

    if (rc != PT_OK)
        return rc;
    rc = describe_table(d, spec, status, sizeof(status));
    if (rc == PT_OK && !status[0])
        rc = create_table(d, spec);
    if (rc == PT_OK)
        rc = wait_active(d, spec);
    if (rc == PT_OK && spec->ttl_attribute)
        rc = enable_ttl(d, spec);
    return rc;
}

int
pt__dynamodb_init(pt_storage *s)
{
    pt__dynamodb *d = (pt__dynamodb *)(void *)s;
    pt__ddb_table_spec spec = {d->table, "date", "timestamp", NULL,
                               "privtrack purge (and reads hide expired "
                               "records)"};
    int rc;

    if (d->ttl_days > 0)
        spec.ttl_attribute = "ttl";
    rc = pt__dynamodb_ensure_table(d, &spec);
    if (rc != PT_OK)
        return pt__dynamodb_fail(d, rc);
    d->table_ready = 1;
    return PT_OK;
}

const pt_storage_methods pt__dynamodb_storage_methods = {
    PT_STORAGE_METHODS_VERSION,
    "dynamodb",
    PT_STORAGE_CAP_QUERY | PT_STORAGE_CAP_PURGE | PT_STORAGE_CAP_IDEMPOTENT,
    dynamodb_open,
    pt__dynamodb_init,
    pt__dynamodb_put,
    pt__dynamodb_query,
    pt__dynamodb_purge,
    NULL, /* sync: a successful PutItem is durable */
    dynamodb_control,
    dynamodb_close,
    pt__dynamodb_scan,
    pt__dynamodb_rewrite};
