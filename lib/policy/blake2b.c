/*
 * Keyed BLAKE2b (RFC 7693) of one short message, for the address hash.
 *
 * Why not only libsodium: a keyed BLAKE2b always compresses the key block
 * and then the message block, and libsodium's state buffers the key block
 * uncompressed, so every call pays both compressions (about 450 ns here,
 * nearly half of the policy's cost per visit).  The key block is the same
 * for every call, so its compression is done once per key
 * (pt__blake2b_key_block) and each hash compresses only the message
 * (pt__blake2b_short).  The digests are BLAKE2b's, byte for byte: the unit
 * tests compare them with libsodium's crypto_generichash() for every key
 * length, digest length and message length this file accepts.
 *
 * The chaining value after the key block is as secret as the key (it is
 * all one needs to compute pseudonyms): callers keep it with the key and
 * wipe it with the key; this file wipes its own copies.  No table lookup
 * depends on secret data, so the time taken does not either.
 */
#include "policy/policy_internal.h"

#include <sodium.h>
#include <string.h>

static const uint64_t iv[8] = {
    UINT64_C(0x6a09e667f3bcc908), UINT64_C(0xbb67ae8584caa73b),
    UINT64_C(0x3c6ef372fe94f82b), UINT64_C(0xa54ff53a5f1d36f1),
    UINT64_C(0x510e527fade682d1), UINT64_C(0x9b05688c2b3e6c1f),
    UINT64_C(0x1f83d9abfb41bd6b), UINT64_C(0x5be0cd19137e2179),
};

static const unsigned char sigma[12][16] = {
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
    {11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4},
    {7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8},
    {9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13},
    {2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9},
    {12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11},
    {13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10},
    {6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5},
    {10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0},
    {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
    {14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3},
};

static uint64_t
rotr64(uint64_t x, unsigned int n)
{
    return (x >> n) | (x << (64 - n));
}

static uint64_t
load64_le(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
#else
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
#endif
}

#define G(a, b, c, d, x, y)                                                    \
    do {                                                                       \
        v[a] = v[a] + v[b] + (x);                                              \
        v[d] = rotr64(v[d] ^ v[a], 32);                                        \
        v[c] = v[c] + v[d];                                                    \
        v[b] = rotr64(v[b] ^ v[c], 24);                                        \
        v[a] = v[a] + v[b] + (y);                                              \
        v[d] = rotr64(v[d] ^ v[a], 16);                                        \
        v[c] = v[c] + v[d];                                                    \
        v[b] = rotr64(v[b] ^ v[c], 63);                                        \
    } while (0)

/* RFC 7693 section 3.2, F: `t` bytes so far (below 2^64 here). */
static void
compress(uint64_t h[8], const unsigned char block[128], uint64_t t, int last)
{
    uint64_t m[16], v[16];
    for (int i = 0; i < 16; i++)
        m[i] = load64_le(block + 8 * i);
    for (int i = 0; i < 8; i++) {
        v[i] = h[i];
        v[i + 8] = iv[i];
    }
    v[12] ^= t;
    if (last)
        v[14] = ~v[14];
        /* Unrolled, the message schedule's indexes become constants. */
#if defined(__GNUC__)
#pragma GCC unroll 12
#endif
    for (int r = 0; r < 12; r++) {
        const unsigned char *s = sigma[r];
        G(0, 4, 8, 12, m[s[0]], m[s[1]]);
        G(1, 5, 9, 13, m[s[2]], m[s[3]]);
        G(2, 6, 10, 14, m[s[4]], m[s[5]]);
        G(3, 7, 11, 15, m[s[6]], m[s[7]]);
        G(0, 5, 10, 15, m[s[8]], m[s[9]]);
        G(1, 6, 11, 12, m[s[10]], m[s[11]]);
        G(2, 7, 8, 13, m[s[12]], m[s[13]]);
        G(3, 4, 9, 14, m[s[14]], m[s[15]]);
    }
    for (int i = 0; i < 8; i++)
        h[i] ^= v[i] ^ v[i + 8];
    sodium_memzero(m, sizeof(m));
    sodium_memzero(v, sizeof(v));
}

int
pt__blake2b_key_block(uint64_t h[8], const unsigned char *key, size_t key_len,
                      size_t out_len)
{
    unsigned char block[128];
    if (key_len < 1 || key_len > 64 || out_len < 1 || out_len > 64)
        return -1;
    /* Parameter block: digest length, key length, fanout 1, depth 1;
     * no salt, no personalisation (as crypto_generichash). */
    memcpy(h, iv, sizeof(iv));
    h[0] ^= UINT64_C(0x01010000) ^ ((uint64_t)key_len << 8) ^ (uint64_t)out_len;
    memset(block, 0, sizeof(block));
    memcpy(block, key, key_len);
    compress(h, block, 128, 0); /* a message follows: not the last block */
    sodium_memzero(block, sizeof(block));
    return 0;
}

int
pt__blake2b_short(unsigned char *out, size_t out_len, const uint64_t key_h[8],
                  const unsigned char *in, size_t in_len)
{
    unsigned char block[128], digest[64];
    uint64_t h[8];
    if (in_len < 1 || in_len > 128 || out_len < 1 || out_len > 64)
        return -1;
    memcpy(h, key_h, sizeof(h));
    memset(block, 0, sizeof(block));
    memcpy(block, in, in_len);
    compress(h, block, 128 + (uint64_t)in_len, 1);
    for (size_t i = 0; i < (out_len + 7) / 8; i++) {
        for (unsigned int j = 0; j < 8; j++)
            digest[8 * i + j] = (unsigned char)(h[i] >> (8 * j));
    }
    memcpy(out, digest, out_len);
    sodium_memzero(h, sizeof(h));
    sodium_memzero(digest, sizeof(digest));
    return 0;
}
