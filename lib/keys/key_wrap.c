/*
 * Wrapping period keys: with a 32-byte wrapping key ([ip] key_wrap_file or
 * PRIVTRACK_KEY_WRAP), a key store holds each period key only encrypted
 * with XChaCha20-Poly1305 (libsodium, random 24-byte nonce), the period's
 * name as associated data — so the key directory or table alone reveals
 * nothing, and a wrapped key copied under another period's name does not
 * open.
 */
#include "keys/keys.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRAP_ENV      "PRIVTRACK_KEY_WRAP"
#define MAX_WRAP_FILE 256

struct pt__wrap_key {
    unsigned char bytes[crypto_aead_xchacha20poly1305_ietf_KEYBYTES];
};

/* 64 hex digits, blanks and line ends around them allowed. */
static int
from_hex(unsigned char *out, const char *s, size_t len)
{
    size_t n = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
    return pt__hex_key_decode(s, len, out, n, n) == n ? 0 : -1;
}

static int
read_wrap_file(pt__wrap_key *wrap, const char *path)
{
    unsigned char buf[MAX_WRAP_FILE];
    size_t n = 0;
    int fd, rc = pt__fs_open_path(&fd, path, O_RDONLY, PT_FS_FOLLOW_OWNED);

    if (rc == PT_ENOTFOUND)
        return pt__fail(PT_EPOLICY, "key_wrap_file %s does not exist", path);
    if (rc != PT_OK)
        return rc;
    rc = pt__fs_check_owner(fd, "key_wrap_file", path, 077);
    if (rc == PT_OK && pt__read_all(fd, buf, sizeof(buf), &n) != 0)
        rc = pt__fail(PT_EIO, "key_wrap_file %s: %s", path, strerror(errno));
    close(fd);
    if (rc == PT_OK) {
        if (from_hex(wrap->bytes, (const char *)buf, n) == 0)
            ; /* hex */
        else if (n == sizeof(wrap->bytes))
            memcpy(wrap->bytes, buf, n);
        else
            rc = pt__fail(PT_EPOLICY,
                          "key_wrap_file %s holds no wrapping key (expected "
                          "64 hex digits or 32 bytes)",
                          path);
    }
    sodium_memzero(buf, sizeof(buf));
    return rc;
}

int
pt__wrap_key_load(pt__wrap_key **out, const pt_policy *policy)
{
    const char *path = pt__policy_key_wrap_file(policy);
    const char *env = getenv(WRAP_ENV);
    pt__wrap_key *wrap;
    int rc = PT_OK;

    *out = NULL;
    if (!path && !(env && *env))
        return PT_OK;
    if (sodium_init() < 0)
        return pt__fail(PT_ECRYPTO, "libsodium failed to initialise");
    /* guarded pages, locked where the system allows, wiped when freed */
    wrap = sodium_malloc(sizeof(*wrap));
    if (!wrap)
        return pt__fail(PT_ENOMEM, "cannot allocate the wrapping key");
    if (path)
        rc = read_wrap_file(wrap, path);
    else if (from_hex(wrap->bytes, env, strlen(env)) != 0)
        rc = pt__fail(PT_EPOLICY, WRAP_ENV " is not 64 hex digits");
    if (rc != PT_OK) {
        sodium_free(wrap);
        return rc;
    }
    *out = wrap;
    return PT_OK;
}

void
pt__wrap_key_free(pt__wrap_key *wrap)
{
    if (wrap)
        sodium_free(wrap);
}

void
pt__key_wrap(const pt__wrap_key *wrap, const unsigned char *key,
             pt__key_record *rec)
{
    unsigned long long ct_len = 0;

    if (!wrap) {
        memcpy(rec->blob, key, PT__KEY_BYTES);
        rec->blob_len = PT__KEY_BYTES;
        rec->wrapped = 0;
        return;
    }
    randombytes_buf(rec->blob, PT__KEY_NONCE);
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        rec->blob + PT__KEY_NONCE, &ct_len, key, PT__KEY_BYTES,
        (const unsigned char *)rec->name, strlen(rec->name), NULL, rec->blob,
        wrap->bytes);
    rec->blob_len = PT__KEY_NONCE + (size_t)ct_len;
    rec->wrapped = 1;
}

int
pt__key_unwrap(const pt__wrap_key *wrap, const pt__key_record *rec,
               const char *where, unsigned char *key)
{
    unsigned long long len = 0;

    if (!rec->wrapped) {
        if (rec->blob_len != PT__KEY_BYTES)
            return pt__fail(PT_ECORRUPT, "the key of %s in %s has %zu bytes",
                            rec->name, where, rec->blob_len);
        memcpy(key, rec->blob, PT__KEY_BYTES);
        return PT_OK;
    }
    if (!wrap)
        return pt__fail(PT_EPOLICY,
                        "the key of %s in %s is wrapped, and no wrapping key "
                        "is configured: set [ip] key_wrap_file or " WRAP_ENV
                        " (privtrack never replaces a key it "
                        "cannot read)",
                        rec->name, where);
    if (rec->blob_len != PT__KEY_BLOB_MAX ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(
            key, &len, NULL, rec->blob + PT__KEY_NONCE,
            rec->blob_len - PT__KEY_NONCE, (const unsigned char *)rec->name,
            strlen(rec->name), rec->blob, wrap->bytes) != 0 ||
        len != PT__KEY_BYTES) {
        sodium_memzero(key, PT__KEY_BYTES);
        return pt__fail(PT_ECRYPTO,
                        "the key of %s in %s does not open with the wrapping "
                        "key (wrong key_wrap_file or " WRAP_ENV
                        "?); privtrack never replaces a key it cannot read",
                        rec->name, where);
    }
    return PT_OK;
}
