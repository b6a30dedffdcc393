/*
 * The secret key for keyed address hashing: from [ip] key_file, from
 * PRIVTRACK_IP_KEY, or from <store>/ip.key (created on first use).  The
 * key never appears in a message.  Key files are opened through pt__fs_*
 * (common.h): a key file readable by group or others, owned by another
 * user, in a directory others can write, or (for ip.key) a link, a FIFO or
 * a device, is refused (PT_EACCESS).
 */
#include "policy/policy_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_NAME "ip.key"
#define NEW_KEY_BYTES 32
#define MAX_KEY_FILE  512

void
pt__ip_key_wipe(pt__ip_key *key)
{
    if (key)
        sodium_memzero(key, sizeof(*key));
}

/* Hex (32-128 digits, surrounding blanks allowed) → key bytes. */
static int
key_from_hex(pt__ip_key *key, const char *s, size_t len)
{
    size_t n = pt__hex_key_decode(s, len, key->bytes, 16, sizeof(key->bytes));
    if (!n)
        return -1;
    key->len = n;
    return 0;
}

/* Read a key file through an open descriptor, after checking who may
 * change or read it (root or us; nobody else).  Contents: hex (as privtrack
 * writes it) or 16-64 raw bytes. */
static int
read_key_fd(pt__ip_key *key, int fd, const char *path)
{
    unsigned char buf[MAX_KEY_FILE];
    size_t n = 0;
    int rc = pt__fs_check_owner(fd, "key file", path, 077);

    if (rc == PT_OK && pt__read_all(fd, buf, sizeof(buf), &n) != 0)
        rc = pt__fail(PT_EIO, "key file %s: %s", path, strerror(errno));
    if (rc == PT_OK) {
        if (key_from_hex(key, (const char *)buf, n) == 0) {
            /* hex form */
        } else if (n >= crypto_generichash_KEYBYTES_MIN &&
                   n <= crypto_generichash_KEYBYTES_MAX) {
            memcpy(key->bytes, buf, n);
            key->len = n;
        } else {
            rc = pt__fail(PT_EPOLICY,
                          "key file %s holds no usable key (expected 32-128 "
                          "hex digits or 16-64 bytes)",
                          path);
        }
    }
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

/* The operator's key_file: its directory is checked like a store's, and it
 * may be a link only when root or we own the link (a secret mounted by an
 * orchestrator often is one). */
static int
read_configured_key(pt__ip_key *key, const char *path)
{
    int fd, rc = pt__fs_open_path(&fd, path, O_RDONLY, PT_FS_FOLLOW_OWNED);
    if (rc != PT_OK)
        return pt__fail(rc, "key file: %s", pt_last_error());
    rc = read_key_fd(key, fd, path);
    close(fd);
    return rc;
}

/* <store>/ip.key, through the store's checked descriptor: never a link
 * (whoever planted one would choose our key), a FIFO or a device. */
static int
read_store_key(pt__ip_key *key, int dirfd, const char *dir, const char *path)
{
    int fd, rc = pt__fs_open_at(&fd, dirfd, dir, KEY_FILE_NAME, O_RDONLY, 0);
    if (rc != PT_OK)
        return rc == PT_ENOTFOUND
                   ? rc
                   : pt__fail(rc, "key file: %s", pt_last_error());
    rc = read_key_fd(key, fd, path);
    close(fd);
    return rc;
}

/* Create <dir>/ip.key with a fresh key.  The key is written to a private
 * temporary file (random name, O_EXCL) and then linkat()ed into place:
 * that fails with EEXIST when another process won the race, and the
 * winner's file is never seen half written.  Either way the key on disk is
 * then read back. */
static int
create_key_file(pt__ip_key *key, int dirfd, const char *dir, const char *path)
{
    unsigned char fresh[NEW_KEY_BYTES];
    char hex[2 * NEW_KEY_BYTES + 2], tmp[64];
    int fd, rc;

    rc = pt__fs_temp_at(&fd, dirfd, dir, ".ip.key.", tmp, sizeof(tmp));
    if (rc != PT_OK)
        return pt__fail(rc, "key file: %s", pt_last_error());
    randombytes_buf(fresh, sizeof(fresh));
    sodium_bin2hex(hex, sizeof(hex), fresh, sizeof(fresh));
    sodium_memzero(fresh, sizeof(fresh));
    hex[2 * NEW_KEY_BYTES] = '\n';
    if (pt__write_all(fd, hex, 2 * NEW_KEY_BYTES + 1) != 0 || fsync(fd) != 0)
        rc = pt__fail(PT_EIO, "cannot write %s/%s: %s", dir, tmp,
                      strerror(errno));
    sodium_memzero(hex, sizeof(hex));
    close(fd);
    if (rc == PT_OK && linkat(dirfd, tmp, dirfd, KEY_FILE_NAME, 0) != 0 &&
        errno != EEXIST)
        rc = pt__fail(PT_EIO, "cannot create %s: %s", path, strerror(errno));
    unlinkat(dirfd, tmp, 0);
    if (rc == PT_OK)
        (void)pt__fs_sync_dir(dirfd, dir);
    if (rc == PT_OK)
        rc = read_store_key(key, dirfd, dir, path);
    if (rc == PT_OK)
        pt__log(PT_LOG_INFO, "created address hash key %s", path);
    return rc;
}

/* The key beside the data: read it, create it (`create`), or, when it does
 * not exist and may not be created (dry-run), PT_ENOTFOUND. */
static int
store_key(pt__ip_key *key, const char *store_dir, int create)
{
    char path[4096];
    int dirfd, rc;

    pt__snprintf(path, sizeof(path), "%s/%s", store_dir, KEY_FILE_NAME);
    rc = pt__fs_open_dir(&dirfd, store_dir, create ? PT_FS_MKDIR : 0);
    if (rc != PT_OK)
        return rc == PT_ENOTFOUND
                   ? rc
                   : pt__fail(rc, "key file: %s", pt_last_error());
    rc = read_store_key(key, dirfd, store_dir, path);
    if (rc == PT_ENOTFOUND && create)
        rc = create_key_file(key, dirfd, store_dir, path);
    close(dirfd);
    return rc;
}

static int
load_key(pt__ip_key *key, const pt_policy *policy, const char *store_dir,
         int create)
{
    const char *key_file, *env;
    int rc;

    if (!key || !policy)
        return pt__fail(PT_EINVAL, "pt__ip_key_load: NULL argument");
    memset(key, 0, sizeof(*key));
    if (policy->num[PT_K_IP_MODE] != PT_IP_HASH)
        return PT_OK;
    if (sodium_init() < 0)
        return pt__fail(PT_ECRYPTO, "libsodium failed to initialise");

    key_file = policy->text[PT_K_IP_KEY_FILE];
    if (key_file && *key_file) {
        rc = read_configured_key(key, key_file);
        if (rc == PT_ENOTFOUND)
            rc = PT_EPOLICY; /* a configured key must exist */
        if (rc != PT_OK)
            pt__ip_key_wipe(key);
        return rc;
    }
    env = getenv("PRIVTRACK_IP_KEY");
    if (env && *env) {
        if (key_from_hex(key, env, strlen(env)) != 0) {
            pt__ip_key_wipe(key);
            return pt__fail(PT_EPOLICY, "PRIVTRACK_IP_KEY is not 32-128 hex "
                                        "digits");
        }
        return PT_OK;
    }
    if (!store_dir)
        store_dir = pt__policy_storage_path(policy);
    rc = store_key(key, store_dir, create);
    if (rc == PT_ENOTFOUND) {
        /* Dry-run must not touch the disk: hash with a key that dies with
         * the process (the audit line says so). */
        randombytes_buf(key->bytes, NEW_KEY_BYTES);
        key->len = NEW_KEY_BYTES;
        key->ephemeral = 1;
        pt__log(PT_LOG_INFO,
                "no address hash key in %s: using an ephemeral "
                "key (hashes will not match stored ones)",
                store_dir);
        rc = PT_OK;
    }
    if (rc != PT_OK)
        pt__ip_key_wipe(key);
    return rc;
}

int
pt__ip_key_load(pt__ip_key *key, const pt_policy *policy, const char *store_dir,
                int create)
{
    int rc = load_key(key, policy, store_dir, create);
    if (rc == PT_OK && key->len)
        pt__ip_key_prepare(key, policy->num[PT_K_IP_HASH_BYTES]);
    return rc;
}
