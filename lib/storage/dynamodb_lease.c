/*
 * Slot leases, the requests: a lease of one class of one window is owned
 * once this instance has created the lease's item with a conditional
 * PutItem (attribute_not_exists), which DynamoDB grants to one writer
 * only.  Which class to try, and what a held lease allows, is the slot
 * allocator's (dynamodb_slots.c); here are the item, the claim and the
 * leases' life in a process.
 *
 * The lease is keyed by the records' time, not by the clock, so an owner
 * that stalls (a paused process, a long outage) keeps its slots: there is
 * no expiry race.  Lease items live in their own partition
 * (PT__DDB_LEASE_PARTITION), never in a date's, so the seed's queries by
 * date never see them; their ttl is 30 days after their window or claim,
 * and records more than PT__DDB_FRESH_US away from the clock are checked
 * against the table first (dynamodb_write.c), so an expired lease cannot be
 * reused blindly.
 */
#include "storage/dynamodb.h"

#include <sodium.h>

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

void
pt__ddb_leases_reset(pt__dynamodb *d)
{
    pt__ddb_slots_clear(&d->slots);
    pt__ddb_seen_clear(&d->seen);
    d->lease_pid = (long)getpid();
    randombytes_buf(d->owner, sizeof(d->owner));
}

void
pt__ddb_leases_check(pt__dynamodb *d, int64_t now_us)
{
    if (d->lease_pid != (long)getpid()) {
        pt__ddb_leases_reset(d);
        /* The parent's connections too: cleaning them up here could send
         * a TLS close_notify down the parent's sockets, so the child only
         * lets go of them (a one-off leak) and opens its own. */
        d->client = NULL;
        return;
    }
    /* A lease held this long (a process stopped for weeks) may be gone
     * from the table and claimed by another writer: forget it. */
    pt__ddb_slots_expire(&d->slots, now_us);
}

/* The lease item's key: "<window start>/<class>" in its own partition. */
static void
lease_item(pt_buf *b, const pt__dynamodb *d, int64_t window, unsigned int cls,
           int64_t claim_us)
{
    char ts[PT_TIMESTAMP_LEN + 1], owner[2 * sizeof(d->owner) + 1];

    pt__format_timestamp(ts, window * PT__DDB_WINDOW_US);
    sodium_bin2hex(owner, sizeof(owner), d->owner, sizeof(d->owner));
    pt_buf_puts(b, "{\"TableName\":");
    pt_buf_json_string(b, d->table, strlen(d->table));
    pt_buf_printf(b,
                  ",\"Item\":{\"date\":{\"S\":\"" PT__DDB_LEASE_PARTITION
                  "\"},\"timestamp\":{\"S\":\"%s/%04u\"},\"owner\":{\"S\":"
                  "\"%s\"},\"ttl\":{\"N\":\"%" PRId64 "\"}},"
                  "\"ConditionExpression\":\"attribute_not_exists(#ts)\","
                  "\"ExpressionAttributeNames\":{\"#ts\":\"timestamp\"}}",
                  ts, cls, owner, pt__ddb_lease_ttl(window, claim_us));
}

int
pt__ddb_lease_claim(pt__dynamodb *d, int64_t window)
{
    uint32_t start = 1 + randombytes_uniform(PT__DDB_CLASSES - 1);

    for (unsigned int probe = 0; probe < PT__DDB_CLAIM_PROBES; probe++) {
        unsigned int cls = pt__ddb_probe_class(start, probe);
        /* one time for the item's ttl and the lease's life in memory, so
         * that the lease is forgotten before its item can expire */
        int64_t claim_us = pt__now_us();
        pt_buf body = PT_BUF_INIT;
        int rc;

        lease_item(&body, d, window, cls, claim_us);
        rc = body.oom ? pt__fail(PT_ENOMEM, "out of memory")
                      : pt_ddb_call(d->client, "PutItem", body.ptr, body.len,
                                    NULL, NULL);
        pt_buf_free(&body);
        d->stats.lease_claims++;
        if (rc == PT_EEXIST) {
            d->stats.lease_conflicts++;
            continue; /* another writer's (or one we forgot) */
        }
        if (rc != PT_OK)
            return rc;
        if (pt__ddb_slots_add(&d->slots, window, cls, claim_us) != PT_OK)
            return pt__fail(PT_ENOMEM, "out of memory");
        pt__log(PT_LOG_DEBUG,
                "dynamodb: leased slot class %u of the minute "
                "at %" PRId64 " s",
                cls, (int64_t)(window * (PT__DDB_WINDOW_US / 1000000)));
        return PT_OK;
    }
    return pt__fail(PT_EEXIST,
                    "no free slot class among %d tried for that minute",
                    PT__DDB_CLAIM_PROBES);
}
