/* Unit tests for client addresses, trusted proxies, keyed hashing and the
 * hash key (lib/policy). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "policy/policy_internal.h"
#include "policy_fixture.h"

static pt_policy *
load(const char *text)
{
    return pt_test_policy("t.ini", "%s", text);
}

/* Parse, then format: "" when it does not parse. */
static const char *
norm(const char *in, char *out)
{
    pt__addr a;
    if (pt__addr_parse(&a, in, strlen(in)) != 0)
        return strcpy(out, "");
    pt__addr_format(&a, out);
    return out;
}

static int
family(const char *in)
{
    pt__addr a;
    return pt__addr_parse(&a, in, strlen(in)) == 0 ? a.family : 0;
}

/* ---- parsing ------------------------------------------------------------ */

static void
test_parse_valid(void **state)
{
    char out[PT_ADDR_TEXT_MAX];
    (void)state;
    assert_string_equal(norm("203.0.113.7", out), "203.0.113.7");
    assert_string_equal(norm("  203.0.113.7\t", out), "203.0.113.7");
    assert_string_equal(norm("203.0.113.7:8080", out), "203.0.113.7");
    assert_string_equal(norm("2001:DB8::1", out), "2001:db8::1");
    assert_string_equal(norm("[2001:db8::1]", out), "2001:db8::1");
    assert_string_equal(norm("[2001:db8::1]:443", out), "2001:db8::1");
    assert_string_equal(norm("fe80::1%eth0", out), "fe80::1");
    assert_string_equal(norm("[fe80::1%25eth0]:80", out), "fe80::1");
    assert_string_equal(norm("::1", out), "::1");
    assert_string_equal(norm("::", out), "::");
    assert_string_equal(norm("0.0.0.0", out), "0.0.0.0");
    assert_string_equal(norm("255.255.255.255", out), "255.255.255.255");
    /* IPv4-mapped IPv6 is IPv4, whatever its spelling. */
    assert_string_equal(norm("::ffff:192.0.2.1", out), "192.0.2.1");
    assert_string_equal(norm("::FFFF:c000:0201", out), "192.0.2.1");
    assert_string_equal(norm("[::ffff:192.0.2.1]:80", out), "192.0.2.1");
    assert_int_equal(family("::ffff:192.0.2.1"), 4);
    /* ...but IPv4-compatible and NAT64 addresses are IPv6. */
    assert_int_equal(family("::192.0.2.1"), 6);
    assert_int_equal(family("64:ff9b::192.0.2.1"), 6);
    assert_int_equal(family("2001:db8::1"), 6);
}

static void
test_parse_garbage(void **state)
{
    static const char *const bad[] = {
        "",
        "   ",
        "abc",
        "unknown",
        "1.2.3",
        "1.2.3.4.5",
        "256.1.1.1",
        "1.2.3.-1",
        "1.2.3.4:",
        "1.2.3.4:abc",
        "1.2.3.4:123456",
        "1.2.3.4%eth0",
        "fe80::1%",
        "%eth0",
        "[::1",
        "::1]",
        "[::1]x",
        "[::1]:",
        "[1.2.3.4]x",
        "2001:db8::1::2",
        "2001:db8:::1",
        "12345::1",
        "1.2.3.4 5.6.7.8",
        "0x7f.0.0.1",
        "2001:0db8:0000:0000:0000:0000:0000:0001:0000:0000:0000:0000",
    };
    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (family(bad[i]) != 0)
            fail_msg("'%s' parsed", bad[i]);
    }
    {
        char longer[4096];
        memset(longer, '1', sizeof(longer) - 1);
        longer[sizeof(longer) - 1] = '\0';
        assert_int_equal(family(longer), 0);
        /* Not NUL-terminated at `len`: only `len` bytes are read. */
        pt__addr a;
        assert_int_equal(pt__addr_parse(&a, "10.0.0.1junk", 8), 0);
        assert_int_equal(a.family, 4);
    }
}

static unsigned int
next_random(unsigned int *seed)
{
    *seed = *seed * 1103515245u + 12345u;
    return *seed >> 16;
}

/* The fast IPv4 path must accept exactly what inet_pton accepts: random
 * near-addresses (3-5 groups of 0-4 digits, sometimes a stray byte). */
static void
test_parse_matches_inet_pton(void **state)
{
    unsigned int seed = 12345, valid = 0;
    (void)state;
    for (int n = 0; n < 200000; n++) {
        char s[40];
        size_t len = 0;
        unsigned int groups = 3 + next_random(&seed) % 3;
        unsigned char ref[4];
        pt__addr a;
        int ours, theirs;
        for (unsigned int g = 0; g < groups; g++) {
            unsigned int digits = next_random(&seed) % 5;
            if (g)
                s[len++] = '.';
            for (unsigned int d = 0; d < digits; d++)
                s[len++] = (char)('0' + next_random(&seed) % (d ? 10 : 3));
        }
        if (next_random(&seed) % 20 == 0)
            s[next_random(&seed) % len] = "x-+/%"[next_random(&seed) % 5];
        s[len] = '\0';
        theirs = inet_pton(AF_INET, s, ref) == 1;
        ours = pt__addr_parse(&a, s, len) == 0 && a.family == 4;
        if (ours != theirs || (ours && memcmp(a.bytes, ref, 4) != 0))
            fail_msg("'%s': ours %d, inet_pton %d", s, ours, theirs);
        valid += (unsigned int)ours;
    }
    assert_true(valid > 1000); /* the generator does reach valid ones */
}

/* ---- truncation ---------------------------------------------------------- */

static const char *
cut(const char *in, unsigned int prefix, char *out)
{
    pt__addr a;
    assert_int_equal(pt__addr_parse(&a, in, strlen(in)), 0);
    pt__addr_truncate(&a, prefix);
    pt__addr_format(&a, out);
    return out;
}

static void
test_truncate(void **state)
{
    char out[PT_ADDR_TEXT_MAX];
    const char *v6 = "2001:db8:85a3:8d3:1319:8a2e:370:7348";
    (void)state;
    assert_string_equal(cut("203.0.113.7", 24, out), "203.0.113.0");
    assert_string_equal(cut("203.0.113.200", 25, out), "203.0.113.128");
    assert_string_equal(cut("203.0.113.200", 23, out), "203.0.112.0");
    assert_string_equal(cut("203.0.113.7", 16, out), "203.0.0.0");
    assert_string_equal(cut("203.0.113.7", 1, out), "128.0.0.0");
    assert_string_equal(cut("203.0.113.7", 0, out), "0.0.0.0");
    assert_string_equal(cut("203.0.113.7", 32, out), "203.0.113.7");
    assert_string_equal(cut("203.0.113.7", 31, out), "203.0.113.6");
    assert_string_equal(cut("203.0.113.7", 99, out), "203.0.113.7");
    assert_string_equal(cut(v6, 48, out), "2001:db8:85a3::");
    assert_string_equal(cut(v6, 64, out), "2001:db8:85a3:8d3::");
    assert_string_equal(cut(v6, 65, out), "2001:db8:85a3:8d3::");
    assert_string_equal(cut(v6, 68, out), "2001:db8:85a3:8d3:1000::");
    assert_string_equal(cut(v6, 127, out),
                        "2001:db8:85a3:8d3:1319:8a2e:370:7348");
    assert_string_equal(cut("2001:db8::7349", 127, out), "2001:db8::7348");
    assert_string_equal(cut(v6, 128, out), v6);
    assert_string_equal(cut(v6, 0, out), "::");
    assert_string_equal(cut(v6, 3, out), "2000::");
    /* A mapped address is truncated as IPv4. */
    assert_string_equal(cut("::ffff:203.0.113.7", 24, out), "203.0.113.0");
}

static void
test_cidr(void **state)
{
    pt__cidr c;
    pt__addr a;
    char err[160];
    (void)state;
    assert_int_equal(pt__cidr_parse(&c, "10.0.0.0/8", 10, err, sizeof(err)), 0);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(pt__addr_parse(&a, "10.200.3.4", 10), 0);
    assert_true(pt__cidr_contains(&c, &a));
    assert_int_equal(pt__addr_parse(&a, "11.0.0.1", 8), 0);
    assert_false(pt__cidr_contains(&c, &a));
    assert_int_equal(pt__addr_parse(&a, "::ffff:10.1.1.1", 15), 0);
    assert_true(pt__cidr_contains(&c, &a));
    assert_int_equal(pt__addr_parse(&a, "::a00:1", 7), 0);
    assert_false(pt__cidr_contains(&c, &a)); /* other family */

    assert_int_equal(pt__cidr_parse(&c, "2001:db8::/32", 13, err, 160), 0);
    assert_int_equal(pt__addr_parse(&a, "2001:db8:ffff::1", 16), 0);
    assert_true(pt__cidr_contains(&c, &a));
    assert_int_equal(pt__cidr_parse(&c, "0.0.0.0/0", 9, err, 160), 0);
    assert_true(pt__cidr_contains(&c, &a) == 0); /* v6 not in v4 /0 */
    assert_int_equal(pt__cidr_parse(&c, "::ffff:10.0.0.0/104", 19, err, 160),
                     0);
    assert_int_equal(c.addr.family, 4);
    assert_int_equal(c.prefix, 8);
    assert_int_equal(pt__cidr_parse(&c, "192.0.2.1", 9, err, 160), 0);
    assert_int_equal(c.prefix, 32);

    assert_int_equal(pt__cidr_parse(&c, "10.0.0.1/8", 10, err, 160), -1);
    assert_non_null(strstr(err, "10.0.0.0/8"));
    assert_int_equal(pt__cidr_parse(&c, "10.0.0.0/", 9, err, 160), -1);
    assert_int_equal(pt__cidr_parse(&c, "10.0.0.0/x", 10, err, 160), -1);
    assert_int_equal(pt__cidr_parse(&c, "::/129", 6, err, 160), -1);
    assert_int_equal(pt__cidr_parse(&c, "::ffff:0:0/95", 13, err, 160), -1);
    assert_int_equal(pt__cidr_parse(&c, "10.0.0.0/8:80", 13, err, 160), -1);
}

/* ---- keyed hashing ------------------------------------------------------- */

static void
key_of(pt__ip_key *k, unsigned char fill)
{
    memset(k, 0, sizeof(*k));
    memset(k->bytes, fill, 32);
    k->len = 32;
}

static void
hash_of(const char *addr, unsigned int prefix, const pt__ip_key *k,
        unsigned int bytes, char *out)
{
    pt__addr a;
    assert_int_equal(pt__addr_parse(&a, addr, strlen(addr)), 0);
    pt__addr_truncate(&a, prefix);
    assert_int_equal(pt__addr_hash(&a, prefix, k, bytes, out), PT_OK);
}

static void
digest_hex(const EVP_MD *md, const char *s, char *out)
{
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(s, strlen(s), d, &n, md, NULL), 1);
    sodium_bin2hex(out, 2 * n + 1, d, n);
}

static void
test_hash(void **state)
{
    pt__ip_key k1, k2, none;
    char a[65], b[65], c[65], sha[129], md5[129];
    unsigned char expected[16], input[6] = {4, 32, 203, 0, 113, 7};
    char expected_hex[33];
    (void)state;
    key_of(&k1, 1);
    key_of(&k2, 2);
    memset(&none, 0, sizeof(none));

    hash_of("203.0.113.7", 32, &k1, 16, a);
    hash_of("203.0.113.7", 32, &k1, 16, b);
    assert_string_equal(a, b); /* stable for one key */
    assert_int_equal(strlen(a), 32);
    assert_int_equal(strspn(a, "0123456789abcdef"), 32);
    hash_of("203.0.113.7", 32, &k2, 16, c);
    assert_string_not_equal(a, c); /* different across keys */
    hash_of("203.0.113.8", 32, &k1, 16, c);
    assert_string_not_equal(a, c);

    /* The documented construction: BLAKE2b keyed, over family, prefix and
     * the address bytes. */
    crypto_generichash(expected, 16, input, sizeof(input), k1.bytes, 32);
    sodium_bin2hex(expected_hex, sizeof(expected_hex), expected, 16);
    assert_string_equal(a, expected_hex);

    /* Not the seed's unkeyed SHA-256 (or MD5) of the address. */
    digest_hex(EVP_sha256(), "203.0.113.7", sha);
    digest_hex(EVP_md5(), "203.0.113.7", md5);
    assert_null(strstr(sha, a));
    assert_int_not_equal(strncmp(sha, a, 16), 0);
    assert_int_not_equal(strncmp(md5, a, 16), 0);

    /* Domain separation: the same bytes as IPv4 and as (mapped) IPv6 input
     * differ, and the /24 hash differs from the /32 hash of x.x.x.0. */
    hash_of("203.0.113.0", 24, &k1, 16, b);
    hash_of("203.0.113.0", 32, &k1, 16, c);
    assert_string_not_equal(b, c);
    hash_of("::cb00:7107", 128, &k1, 16, c);
    assert_string_not_equal(a, c);

    /* Lengths. */
    hash_of("2001:db8::1", 48, &k1, 8, c);
    assert_int_equal(strlen(c), 16);
    hash_of("2001:db8::1", 48, &k1, 32, c);
    assert_int_equal(strlen(c), 64);
    {
        pt__addr x;
        assert_int_equal(pt__addr_parse(&x, "1.2.3.4", 7), 0);
        assert_int_equal(pt__addr_hash(&x, 32, &none, 16, c), PT_ECRYPTO);
        assert_int_equal(pt__addr_hash(&x, 32, NULL, 16, c), PT_ECRYPTO);
    }
}

/* A key prepared once (pt__ip_key_prepare, as pt__ip_key_load does) gives
 * the same pseudonyms as hashing from the key itself, for every key
 * length, digest length and family; a state prepared for another length
 * is not used. */
static void
test_hash_prepared(void **state)
{
    static const size_t key_lens[] = {16, 32, 64};
    static const char *const addrs[] = {"203.0.113.0", "2001:db8:1::"};
    static const unsigned int prefixes[] = {24, 48};
    (void)state;
    for (size_t k = 0; k < sizeof(key_lens) / sizeof(key_lens[0]); k++) {
        for (unsigned int bytes = 8; bytes <= 32; bytes++) {
            pt__ip_key plain, prepared;
            memset(&plain, 0, sizeof(plain));
            for (size_t i = 0; i < key_lens[k]; i++)
                plain.bytes[i] = (unsigned char)(i * 13 + k + bytes);
            plain.len = key_lens[k];
            prepared = plain;
            pt__ip_key_prepare(&prepared, bytes);
            assert_int_equal(prepared.prepared_bytes, bytes < 16 ? 16 : bytes);
            for (size_t a = 0; a < 2; a++) {
                char want[65], got[65];
                hash_of(addrs[a], prefixes[a], &plain, bytes, want);
                hash_of(addrs[a], prefixes[a], &prepared, bytes, got);
                assert_string_equal(got, want);
                assert_int_equal(strlen(got), 2 * bytes);
                /* Prepared for another length: falls back, same result. */
                if (bytes >= 16 && bytes < 32) {
                    hash_of(addrs[a], prefixes[a], &prepared, bytes + 1, got);
                    hash_of(addrs[a], prefixes[a], &plain, bytes + 1, want);
                    assert_string_equal(got, want);
                }
            }
            pt__ip_key_wipe(&prepared);
            assert_int_equal(prepared.prepared_bytes, 0);
            for (size_t i = 0; i < sizeof(prepared.prepared); i++)
                assert_int_equal(prepared.prepared[i], 0);
        }
    }
}

/* ---- client address and trusted proxies ---------------------------------- */

/* Why client() found no address (NULL: none was given). */
static const char *last_why;

static const char *
client(const pt_policy *p, const char *peer, const char *xff1, const char *xff2,
       unsigned int *invalid, char *out)
{
    pt_header h[3] = {{"X-Forwarded-For", xff1},
                      {"User-Agent", "x"},
                      {"x-forwarded-for", xff2}};
    pt_visit v = PT_VISIT_INIT;
    pt__addr a;
    const char *raw, *why = "unset";
    size_t raw_len;
    v.remote_addr = peer;
    v.headers = h;
    v.header_count = 3;
    last_why = "unset";
    if (!pt__client_addr(p, &v, &a, &raw, &raw_len, invalid, &why)) {
        last_why = why;
        return strcpy(out, "-");
    }
    assert_null(why);
    pt__addr_format(&a, out);
    return out;
}

static void
test_client_without_proxies(void **state)
{
    pt_policy *p = load("");
    unsigned int invalid = 0;
    char out[64];
    (void)state;
    /* Without trusted proxies X-Forwarded-For is ignored. */
    assert_string_equal(
        client(p, "198.51.100.1", "1.1.1.1", NULL, &invalid, out),
        "198.51.100.1");
    assert_string_equal(client(p, NULL, "1.1.1.1", NULL, &invalid, out), "-");
    assert_int_equal(invalid, 0);
    assert_null(last_why); /* no address given: nothing to explain */
    assert_string_equal(client(p, "garbage", NULL, NULL, &invalid, out), "-");
    assert_int_equal(invalid, 1);
    assert_string_equal(last_why, "remote_addr is not an address");
    pt_policy_free(p);
}

static void
test_client_with_proxies(void **state)
{
    pt_policy *p = load("[ip]\ntrusted_proxies = 10.0.0.0/8, 2001:db8::/32\n");
    unsigned int invalid = 0;
    char out[64];
    (void)state;
    /* An untrusted peer: its X-Forwarded-For is a lie, ignored. */
    assert_string_equal(
        client(p, "198.51.100.1", "1.1.1.1", NULL, &invalid, out),
        "198.51.100.1");
    /* A trusted peer: the rightmost untrusted entry is the client. */
    assert_string_equal(client(p, "10.0.0.1", "6.6.6.6, 203.0.113.9, 10.1.1.1",
                               NULL, &invalid, out),
                        "203.0.113.9");
    /* Several headers are one list, in order. */
    assert_string_equal(client(p, "10.0.0.1", "6.6.6.6, 203.0.113.9",
                               "10.2.2.2", &invalid, out),
                        "203.0.113.9");
    assert_string_equal(client(p, "[2001:db8::5]:443",
                               "[2001:db8:1::1]:1234,203.0.113.9:80", NULL,
                               &invalid, out),
                        "203.0.113.9");
    assert_string_equal(
        client(p, "::ffff:10.0.0.1", " 2001:db8:1::2 , ", NULL, &invalid, out),
        "-");
    assert_int_equal(invalid, 1); /* the empty entry after the comma */
    assert_string_equal(last_why,
                        "empty X-Forwarded-For entry from a trusted proxy");
    assert_string_equal(
        client(p, "10.0.0.1", "203.0.113.9,", NULL, &invalid, out), "-");
    assert_string_equal(last_why,
                        "empty X-Forwarded-For entry from a trusted proxy");
    assert_string_equal(
        client(p, "10.0.0.1", "203.0.113.9,,10.1.1.1", NULL, &invalid, out),
        "-");
    assert_string_equal(last_why,
                        "empty X-Forwarded-For entry from a trusted proxy");
    /* An empty header, blank or not, and an empty first entry are empty
     * entries too (an empty header once made the proxy the client). */
    assert_string_equal(client(p, "10.0.0.1", "", NULL, &invalid, out), "-");
    assert_string_equal(last_why,
                        "empty X-Forwarded-For entry from a trusted proxy");
    assert_string_equal(client(p, "10.0.0.1", " ", NULL, &invalid, out), "-");
    assert_string_equal(last_why,
                        "empty X-Forwarded-For entry from a trusted proxy");
    assert_string_equal(client(p, "10.0.0.1", ",10.1.1.1", NULL, &invalid, out),
                        "-");
    assert_string_equal(last_why,
                        "empty X-Forwarded-For entry from a trusted proxy");
    assert_string_equal(client(p, "10.0.0.1", "203.0.113.9", "", &invalid, out),
                        "-");
    assert_string_equal(last_why,
                        "empty X-Forwarded-For entry from a trusted proxy");
    invalid = 0;
    /* Every entry trusted: the leftmost is the best we know. */
    assert_string_equal(
        client(p, "10.0.0.1", "10.9.9.9, 10.8.8.8", NULL, &invalid, out),
        "10.9.9.9");
    /* A trusted peer without X-Forwarded-For is the client. */
    assert_string_equal(client(p, "10.0.0.1", NULL, NULL, &invalid, out),
                        "10.0.0.1");
    /* An entry that does not parse stops the walk: what is left of it
     * cannot be believed, and it is never stored raw. */
    assert_string_equal(client(p, "10.0.0.1", "1.1.1.1, unknown, 10.3.3.3",
                               NULL, &invalid, out),
                        "-");
    assert_int_equal(invalid, 1);
    assert_string_equal(
        last_why,
        "X-Forwarded-For entry from a trusted proxy is not an address");
    /* A chain longer than any real one is not believed (and its cost is
     * bounded). */
    {
        char chain[2048] = "203.0.113.1";
        invalid = 0;
        for (int i = 0; i < 64; i++)
            strcat(chain, ", 10.0.0.2");
        assert_string_equal(client(p, "10.0.0.1", chain, NULL, &invalid, out),
                            "203.0.113.1");
        strcat(chain, ", 10.0.0.2");
        assert_string_equal(client(p, "10.0.0.1", chain, NULL, &invalid, out),
                            "-");
        assert_int_equal(invalid, 1);
        assert_string_equal(last_why,
                            "more than 64 trusted proxies in X-Forwarded-For");
    }
    pt_policy_free(p);
}

/* ---- the key ----------------------------------------------------------------
 */

static char tmpdir[512];

static int
setup_tmp(void **state)
{
    const char *base = getenv("TMPDIR");
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "%s/pt-ip-XXXXXX",
             base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir))
        return -1;
    unsetenv("PRIVTRACK_IP_KEY");
    return 0;
}

static int
teardown_tmp(void **state)
{
    char cmd[600];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static pt_policy *
policy_with_key_file(const char *path)
{
    char text[1024];
    snprintf(text, sizeof(text), "[ip]\nkey_file = %s\n", path);
    return load(text);
}

static void
test_key_file(void **state)
{
    static const char hex[] = "000102030405060708090a0b0c0d0e0f"
                              "101112131415161718191a1b1c1d1e1f\n";
    char path[600];
    pt__ip_key key;
    pt_policy *p;
    (void)state;

    snprintf(path, sizeof(path), "%s/k.hex", tmpdir);
    write_file(path, hex, sizeof(hex) - 1, 0600);
    p = policy_with_key_file(path);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_OK);
    assert_int_equal(key.len, 32);
    assert_int_equal(key.bytes[31], 0x1f);
    assert_int_equal(key.ephemeral, 0);
    assert_int_equal(key.prepared_bytes, 16); /* the policy's hash_bytes */
    pt__ip_key_wipe(&key);
    assert_int_equal(key.len, 0);
    assert_int_equal(key.bytes[31], 0);
    assert_int_equal(key.prepared_bytes, 0);

    /* Readable by the group: refused as unsafe, and the message has no
     * key. */
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), path));
    assert_non_null(strstr(pt_last_error(), "group or others"));
    assert_non_null(strstr(pt_last_error(), "chmod 600"));
    assert_null(strstr(pt_last_error(), "0001020304"));
    assert_int_equal(key.len, 0);
    assert_int_equal(chmod(path, 0604), 0);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_EACCESS);
    assert_int_equal(chmod(path, 0620), 0);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_EACCESS);
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_OK);
    pt__ip_key_wipe(&key);
    pt_policy_free(p);

    /* Raw bytes work too; too short does not. */
    snprintf(path, sizeof(path), "%s/k.raw", tmpdir);
    write_file(path, "0123456789abcdefXYZ!", 20, 0600);
    p = policy_with_key_file(path);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_OK);
    assert_int_equal(key.len, 20);
    pt__ip_key_wipe(&key);
    pt_policy_free(p);
    write_file(path, "short", 5, 0600);
    p = policy_with_key_file(path);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_EPOLICY);
    pt_policy_free(p);

    /* A configured key file that is missing is an error, even in
     * dry-run: no silent fallback to another key. */
    snprintf(path, sizeof(path), "%s/missing.key", tmpdir);
    p = policy_with_key_file(path);
    assert_int_equal(pt__ip_key_load(&key, p, NULL, 0), PT_EPOLICY);
    pt_policy_free(p);
}

static void
test_key_env(void **state)
{
    pt__ip_key key;
    pt_policy *p = load("");
    char dir[600];
    (void)state;
    snprintf(dir, sizeof(dir), "%s/envstore", tmpdir);
    setenv("PRIVTRACK_IP_KEY",
           "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100",
           1);
    assert_int_equal(pt__ip_key_load(&key, p, dir, 1), PT_OK);
    assert_int_equal(key.len, 32);
    assert_int_equal(key.bytes[0], 0xff);
    pt__ip_key_wipe(&key);
    /* The environment wins: nothing was created in the store. */
    assert_int_not_equal(access(dir, F_OK), 0);

    setenv("PRIVTRACK_IP_KEY", "not-hex-at-all-but-quite-long-enough-to-pass",
           1);
    assert_int_equal(pt__ip_key_load(&key, p, dir, 1), PT_EPOLICY);
    assert_null(strstr(pt_last_error(), "not-hex"));
    setenv("PRIVTRACK_IP_KEY", "abcd", 1);
    assert_int_equal(pt__ip_key_load(&key, p, dir, 1), PT_EPOLICY);
    unsetenv("PRIVTRACK_IP_KEY");
    pt_policy_free(p);
}

static void
test_key_created_in_store(void **state)
{
    pt__ip_key a, b, c;
    pt_policy *p = load("");
    char dir[600], path[700];
    struct stat st;
    (void)state;
    snprintf(dir, sizeof(dir), "%s/store/deeper", tmpdir);
    snprintf(path, sizeof(path), "%s/ip.key", dir);

    /* Dry-run (create = 0): an ephemeral key, and the disk untouched. */
    assert_int_equal(pt__ip_key_load(&a, p, dir, 0), PT_OK);
    assert_int_equal(a.ephemeral, 1);
    assert_int_equal(a.len, 32);
    assert_int_not_equal(access(dir, F_OK), 0);
    assert_int_equal(pt__ip_key_load(&b, p, dir, 0), PT_OK);
    assert_memory_not_equal(a.bytes, b.bytes, 32);

    /* create = 1: a 0600 file in a 0700 directory, stable afterwards. */
    assert_int_equal(pt__ip_key_load(&a, p, dir, 1), PT_OK);
    assert_int_equal(a.ephemeral, 0);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    assert_int_equal(pt__ip_key_load(&b, p, dir, 1), PT_OK);
    assert_int_equal(pt__ip_key_load(&c, p, dir, 0), PT_OK);
    assert_int_equal(a.len, b.len);
    assert_memory_equal(a.bytes, b.bytes, a.len);
    assert_memory_equal(a.bytes, c.bytes, a.len);
    assert_int_equal(c.ephemeral, 0);
    /* No temporary file left behind. */
    {
        char cmd[800];
        snprintf(cmd, sizeof(cmd), "test $(ls -A '%s' | wc -l) -eq 1", dir);
        assert_int_equal(system(cmd), 0);
    }
    /* Someone loosened it: refused. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(pt__ip_key_load(&b, p, dir, 1), PT_EACCESS);
    pt__ip_key_wipe(&a);
    pt__ip_key_wipe(&c);
    pt_policy_free(p);

    /* Not hashing: no key needed, nothing touched. */
    p = load("[ip]\nmode = truncate\n");
    snprintf(dir, sizeof(dir), "%s/untouched", tmpdir);
    assert_int_equal(pt__ip_key_load(&a, p, dir, 1), PT_OK);
    assert_int_equal(a.len, 0);
    assert_int_not_equal(access(dir, F_OK), 0);
    pt_policy_free(p);
}

static void
test_key_creation_race(void **state)
{
    enum { PROCS = 4 };
    pt_policy *p = load("");
    char dir[600];
    int fds[PROCS][2];
    unsigned char keys[PROCS][64];
    (void)state;
    snprintf(dir, sizeof(dir), "%s/race", tmpdir);
    for (int i = 0; i < PROCS; i++) {
        pid_t pid;
        assert_int_equal(pipe(fds[i]), 0);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            pt__ip_key k;
            close(fds[i][0]);
            if (pt__ip_key_load(&k, p, dir, 1) != PT_OK || k.len != 32)
                _exit(1);
            _exit(write(fds[i][1], k.bytes, 32) == 32 ? 0 : 1);
        }
        close(fds[i][1]);
    }
    for (int i = 0; i < PROCS; i++) {
        int status;
        assert_int_equal(read(fds[i][0], keys[i], 32), 32);
        close(fds[i][0]);
        assert_true(wait(&status) > 0);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    for (int i = 1; i < PROCS; i++)
        assert_memory_equal(keys[0], keys[i], 32);
    pt_policy_free(p);
}

/* Hostile key files (privtrack often runs as root): an ip.key that is a
 * link (whoever planted it would choose our key, or make us read another
 * file) or a FIFO (which would hang); a key_file that is a FIFO, sits in a
 * directory others can write, or belongs to another user; a key_file that
 * is our own link is fine.  Nothing blocks, nothing is created, and no
 * message holds a key. */
static void
test_key_hostile_files(void **state)
{
    static const char hex[] = "000102030405060708090a0b0c0d0e0f"
                              "101112131415161718191a1b1c1d1e1f\n";
    char dir[600], path[700], other[700], shared[700];
    pt__ip_key key;
    pt_policy *p = load(""), *pk;
    struct passwd *nobody;
    struct stat st;
    (void)state;

    alarm(60); /* a FIFO that blocks fails the test instead of hanging */
    snprintf(dir, sizeof(dir), "%s/hostile", tmpdir);
    snprintf(path, sizeof(path), "%s/ip.key", dir);
    snprintf(other, sizeof(other), "%s/chosen.key", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file(other, hex, sizeof(hex) - 1, 0600);

    /* ip.key linked to a key someone else chose: refused, not used, and
     * nothing is created in its place. */
    assert_int_equal(symlink(other, path), 0);
    assert_int_equal(pt__ip_key_load(&key, p, dir, 1), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), path));
    assert_non_null(strstr(pt_last_error(), "symbolic link"));
    assert_null(strstr(pt_last_error(), "0001020304"));
    assert_int_equal(key.len, 0);
    assert_int_equal(pt__ip_key_load(&key, p, dir, 0), PT_EACCESS);
    assert_int_equal(lstat(path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(unlink(path), 0);

    /* ip.key or key_file a FIFO: refused at once. */
    assert_int_equal(mkfifo(path, 0600), 0);
    assert_int_equal(pt__ip_key_load(&key, p, dir, 1), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "FIFO"));
    pk = policy_with_key_file(path);
    assert_int_equal(pt__ip_key_load(&key, pk, NULL, 0), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "FIFO"));
    pt_policy_free(pk);
    assert_int_equal(unlink(path), 0);

    /* key_file: our own link to a good key is fine... */
    assert_int_equal(symlink(other, path), 0);
    pk = policy_with_key_file(path);
    assert_int_equal(pt__ip_key_load(&key, pk, NULL, 0), PT_OK);
    assert_int_equal(key.len, 32);
    pt__ip_key_wipe(&key);
    /* ...but not in a directory others can write. */
    assert_int_equal(chmod(dir, 0777), 0);
    assert_int_equal(pt__ip_key_load(&key, pk, NULL, 0), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "chmod 700"));
    assert_int_equal(pt__ip_key_load(&key, p, dir, 1), PT_EACCESS);
    assert_int_equal(chmod(dir, 0700), 0);
    pt_policy_free(pk);

    nobody = getpwnam("nobody");
    if (geteuid() != 0 || !nobody) {
        print_message("skipped the rest: needs root and a 'nobody' user to "
                      "plant another user's files\n");
        pt_policy_free(p);
        alarm(0);
        return;
    }
    /* A key file owned by another user (0600): refused, configured or in
     * the store; and their link to our good key, too. */
    assert_int_equal(chown(other, nobody->pw_uid, (gid_t)-1), 0);
    pk = policy_with_key_file(other);
    assert_int_equal(pt__ip_key_load(&key, pk, NULL, 0), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "owned by uid"));
    pt_policy_free(pk);
    assert_int_equal(chown(other, 0, (gid_t)-1), 0);
    assert_int_equal(lchown(path, nobody->pw_uid, (gid_t)-1), 0);
    pk = policy_with_key_file(path);
    assert_int_equal(pt__ip_key_load(&key, pk, NULL, 0), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "symbolic link"));
    pt_policy_free(pk);
    assert_int_equal(unlink(path), 0);
    write_file(path, hex, sizeof(hex) - 1, 0600);
    assert_int_equal(chown(path, nobody->pw_uid, (gid_t)-1), 0);
    assert_int_equal(pt__ip_key_load(&key, p, dir, 1), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "owned by uid"));
    /* A key directory another user owns. */
    snprintf(shared, sizeof(shared), "%s/theirs", tmpdir);
    assert_int_equal(mkdir(shared, 0700), 0);
    assert_int_equal(chown(shared, nobody->pw_uid, (gid_t)-1), 0);
    assert_int_equal(pt__ip_key_load(&key, p, shared, 1), PT_EACCESS);
    assert_non_null(strstr(pt_last_error(), "owned by uid"));
    pt_policy_free(p);
    alarm(0);
}

/* ---- session ids ------------------------------------------------------------
 */

static void
test_session_id(void **state)
{
    char a[32], b[32];
    (void)state;
    pt__session_id(a, 1705327800);
    assert_int_equal(strlen(a), 19);
    assert_int_equal(strncmp(a, "1705327800-", 11), 0);
    assert_int_equal(strspn(a + 11, "0123456789abcdef"), 8);
    pt__session_id(b, 1705327800);
    assert_string_not_equal(a, b);
    pt__session_id(a, 0);
    assert_int_equal(strncmp(a, "0-", 2), 0);
    /* The largest visit time there is still fits pt_track_result's 24. */
    pt__session_id(a, INT64_MAX / 1000000);
    assert_true(strlen(a) < 24);
    pt__session_id(a, INT64_MIN / 1000000);
    assert_true(strlen(a) < 24);
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* Across many pool refills and reseeds (one every 16,384 ids): no erased
 * (zero) bytes handed out, no repeated pool.  40,000 random 32-bit values
 * collide about 0.2 times on average; a replayed pool would repeat
 * hundreds. */
static void
test_session_id_many(void **state)
{
    enum { N = 40000 };
    uint32_t *v = malloc(N * sizeof(*v));
    char id[32];
    size_t dups = 0;
    (void)state;
    assert_non_null(v);
    for (size_t i = 0; i < N; i++) {
        pt__session_id(id, 1705327800);
        assert_int_equal(strspn(id + 11, "0123456789abcdef"), 8);
        v[i] = (uint32_t)strtoul(id + 11, NULL, 16);
    }
    qsort(v, N, sizeof(*v), cmp_u32);
    for (size_t i = 1; i < N; i++)
        dups += v[i] == v[i - 1];
    assert_true(dups < 5);
    assert_true(v[0] != 0 || v[1] != 0);
    free(v);
}

static void
test_session_id_after_fork(void **state)
{
    char parent[32], child[32];
    int fd[2];
    pid_t pid;
    (void)state;
    pt__session_id(parent, 1); /* fills this thread's pool */
    assert_int_equal(pipe(fd), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pt__session_id(child, 1);
        _exit(write(fd[1], child, 32) == 32 ? 0 : 1);
    }
    pt__session_id(parent, 1);
    assert_int_equal(read(fd[0], child, 32), 32);
    waitpid(pid, NULL, 0);
    close(fd[0]);
    close(fd[1]);
    /* The child must not replay the parent's pool. */
    assert_string_not_equal(parent, child);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_garbage),
        cmocka_unit_test(test_parse_matches_inet_pton),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_hash),
        cmocka_unit_test(test_hash_prepared),
        cmocka_unit_test(test_client_without_proxies),
        cmocka_unit_test(test_client_with_proxies),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_key_env),
        cmocka_unit_test(test_key_created_in_store),
        cmocka_unit_test(test_key_creation_race),
        cmocka_unit_test(test_key_hostile_files),
        cmocka_unit_test(test_session_id),
        cmocka_unit_test(test_session_id_many),
        cmocka_unit_test(test_session_id_after_fork),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, setup_tmp, teardown_tmp);
}
