"""Scan files for any trace of raw client addresses (and of secret keys).

usage: taint_scan.py [--secrets FILE] ADDRESSES_FILE PATH...

ADDRESSES_FILE holds one raw address per line, as the visits gave it.  Every
file under each PATH (recursively) is read as bytes and searched for each
address in every form a careless implementation could leak it in:

  - its text: as given, compressed, exploded, without a zone id, and the
    IPv4 address inside an IPv4-mapped IPv6 one (case-insensitive);
  - its packed bytes, and their hex;
  - unkeyed digests of any of those texts and of the packed bytes: SHA-256,
    SHA-1 and MD5 hex, whole and their first 16 characters (the seed's
    `sha256(ip)[:16]`).

With --secrets, FILE holds one secret key per line (hex): keys that must
appear nowhere (a wrapped key store holds them only encrypted).  Each is
searched for as raw bytes, as hex (either case), as base64 (standard and
URL-safe, with and without padding), and as the first and last 16 hex
characters.

Exit 0 when nothing is found, 1 (listing the hits) otherwise, 2 on usage
errors.  Only the standard library: it runs under Debian's /usr/bin/python3.
"""
import base64
import hashlib
import ipaddress
import os
import sys


def text_forms(raw):
    forms = {raw}
    bare = raw.split("%", 1)[0].strip("[]")
    forms.add(bare)
    try:
        ip = ipaddress.ip_address(bare)
    except ValueError:
        return forms, None
    forms.add(str(ip))
    forms.add(ip.exploded)
    packed = ip.packed
    if ip.version == 6 and ip.ipv4_mapped:
        v4 = ip.ipv4_mapped
        forms.update({str(v4), "::ffff:" + str(v4), "::ffff:" + str(v4).upper()})
        packed = v4.packed
    return forms, packed


def needles(raw):
    """(description, bytes, case_insensitive) for one raw address."""
    forms, packed = text_forms(raw)
    out = []
    digest_inputs = {f.encode() for f in forms}
    digest_inputs |= {f.lower().encode() for f in forms}
    for f in sorted(forms):
        out.append(("text %r" % f, f.encode(), True))
    if packed:
        out.append(("packed bytes", packed, False))
        out.append(("hex of packed bytes", packed.hex().encode(), True))
        digest_inputs.add(packed)
    for data in sorted(digest_inputs):
        for algo in ("sha256", "sha1", "md5"):
            hexd = hashlib.new(algo, data).hexdigest()
            label = "%s(%r)" % (algo, data)
            out.append((label, hexd.encode(), True))
            out.append((label + "[:16]", hexd[:16].encode(), True))
    return out


def secret_needles(hexkey):
    """(description, bytes, case_insensitive) for one secret key."""
    key = bytes.fromhex(hexkey)
    h = key.hex()
    out = [("raw key bytes", key, False), ("key hex", h.encode(), True),
           ("key hex[:16]", h[:16].encode(), True),
           ("key hex[-16:]", h[-16:].encode(), True)]
    for name, enc in (("base64", base64.b64encode),
                      ("base64url", base64.urlsafe_b64encode)):
        text = enc(key)
        out.append(("key " + name, text, False))
        out.append(("key " + name + " unpadded", text.rstrip(b"="), False))
    return out


def files_under(path):
    if os.path.isfile(path):
        yield path
        return
    for root, _dirs, names in os.walk(path):
        for name in names:
            yield os.path.join(root, name)


def main(argv):
    secrets = []
    if len(argv) > 2 and argv[1] == "--secrets":
        with open(argv[2]) as f:
            secrets = [l.strip() for l in f if l.strip()]
        argv = argv[:1] + argv[3:]
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        addresses = [l.strip() for l in f if l.strip()]
    if not addresses:
        print("taint_scan: no addresses given", file=sys.stderr)
        return 2
    all_needles = [(a, n) for a in addresses for n in needles(a)]
    all_needles += [("secret key #%d" % (i + 1), n)
                    for i, k in enumerate(secrets) for n in secret_needles(k)]
    hits = 0
    scanned = 0
    for path in argv[2:]:
        for name in files_under(path):
            with open(name, "rb") as f:
                data = f.read()
            scanned += len(data)
            lower = data.lower()
            for addr, (label, needle, nocase) in all_needles:
                hay = lower if nocase else data
                pos = hay.find(needle.lower() if nocase else needle)
                if pos >= 0:
                    hits += 1
                    print("TAINT: %s: %s of %s at byte %d"
                          % (name, label, addr, pos))
    print("taint_scan: %d bytes scanned for %d forms of %d addresses and %d "
          "secret keys: %d hits"
          % (scanned, len(all_needles), len(addresses), len(secrets), hits))
    return 1 if hits else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
