#!/usr/bin/python3
"""Every sentence of the privacy notice is true of the policy.

    notice_truth.py PRIVTRACK POLICY.ini

Reads the policy's effective settings with `privtrack policy show` (the
settings after defaults, not the notice code), generates the notice with
`privtrack policy notice` in both formats, and checks each one statement by
statement: every sentence must match one of the statements below, and each
statement is checked against the settings by its own rule, derived here from
the README's description of the keys.  A sentence the checker does not know
fails, so a new sentence in lib/policy/notice.c needs a rule here.  Then the
notice must say what the settings require it to say (retention, each opt-out
signal, the treatment of each field, ...).

Exit 0 when the notice is true and complete; 1 with the reasons otherwise.
"""
import html.parser
import ipaddress
import re
import subprocess
import sys

NUMBERS = {"one": 1, "two": 2, "three": 3}
HEADINGS = {
    "How this site records visits", "Who is responsible",
    "Why visits are recorded", "What is recorded", "How long it is kept",
    "Your choices", "Your rights", "Where it is kept",
}
FIELD_KEYS = {  # per-field retention keys ([retention] ..._days)
    "address": "client_ip_days", "user agent": "user_agent_days",
    "links": "links_days", "titles": "titles_days",
    "file names": "filenames_days",
}


def run(*args):
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(args)}: exit {out.returncode}: {out.stderr}")
    return out.stdout


def settings_of(privtrack, policy):
    s, section = {}, None
    for line in run(privtrack, "policy", "show", "--policy", policy).splitlines():
        m = re.match(r"^\[(\w+)\]$", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"^(\w+) =(?: (.*))?$", line)
        if m and section:
            s[(section, m.group(1))] = m.group(2) or ""
    return s


class Blocks(html.parser.HTMLParser):
    """Text of each h1/h2/p/li of the HTML notice."""

    def __init__(self):
        super().__init__()
        self.blocks, self.cur, self.fetches = [], None, []

    def handle_starttag(self, tag, attrs):
        if tag in ("h1", "h2", "p", "li"):
            self.cur = []
        for name, value in attrs:
            if name in ("src", "srcset") or (tag == "link" and name == "href"):
                self.fetches.append((tag, value))

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "p", "li") and self.cur is not None:
            self.blocks.append("".join(self.cur))
            self.cur = None

    def handle_data(self, data):
        if self.cur is not None:
            self.cur.append(data)


def markdown_blocks(text):
    """Blocks of the Markdown notice, with code spans, autolinks and
    backslash escapes taken off."""
    blocks, para = [], []

    def plain(s):
        s = re.sub(r"`` (.*?) ``|`([^`]*)`",
                   lambda m: m.group(1) or m.group(2), s)
        s = re.sub(r"<((?:https?://|[^\s<>@]+@)[^\s<>]*)>", r"\1", s)
        return re.sub(r"\\(.)", r"\1", s)

    def flush():
        if para:
            blocks.append(plain(" ".join(para)))
            para.clear()

    for line in text.splitlines():
        if line.startswith("<!--"):
            continue
        if not line.strip():
            flush()
        elif re.match(r"^#{1,2} ", line):
            flush()
            blocks.append(plain(line.split(" ", 1)[1]))
        elif line.startswith("- "):
            flush()
            para.append(line[2:])
        else:
            para.append(line)
    flush()
    return blocks


def kept_bits_ok(phrase, family, prefix):
    """An "an IPv4 address keeps ..." clause against the prefix."""
    width = 32 if family == 4 else 128
    m = re.fullmatch(r"an IPv(?:4|6) address is kept whole", phrase)
    if m:
        return prefix >= width
    if re.fullmatch(r"an IPv(?:4|6) address keeps none of its bits", phrase):
        return prefix == 0
    m = re.fullmatch(r"an IPv4 address keeps its first (one|two|three) "
                     r"numbers? \(198\.51\.100\.7 becomes ([\d.]+)\)", phrase)
    if m and family == 4:
        bits = 8 * NUMBERS[m.group(1)]
        net = ipaddress.ip_network(f"198.51.100.7/{bits}", strict=False)
        plural_ok = (bits == 8) == phrase.startswith(
            "an IPv4 address keeps its first one number ")
        return bits == prefix and m.group(2) == str(net.network_address) \
            and plural_ok
    m = re.fullmatch(r"an IPv(4|6) address keeps its first (\d+) of "
                     r"(32|128) bits", phrase)
    if m:
        return int(m.group(1)) == family and int(m.group(2)) == prefix \
            and int(m.group(3)) == width
    return False


def days_ok(number, unit, days):
    return int(number) == days and (unit == "day") == (days == 1)


class Checker:
    def __init__(self, s):
        self.s = s
        self.subject = None
        self.said = set()
        g = lambda sec, key: s.get((sec, key), "")
        self.mode = g("ip", "mode")
        self.v4 = int(g("ip", "ipv4_prefix") or 32)
        self.v6 = int(g("ip", "ipv6_prefix") or 128)
        self.tbh = g("ip", "truncate_before_hash") == "true"
        self.truncates = self.mode == "truncate" or (
            self.mode == "hash" and self.tbh)
        if not self.truncates:
            self.v4, self.v6 = 32, 128
        self.whole = self.v4 >= 32 and self.v6 >= 128
        self.rotate = g("ip", "rotate") or "never"
        self.grace = int(g("ip", "key_grace_hours") or 0)
        self.ttl = int(g("retention", "ttl_days"))
        self.dry = g("policy", "dry_run") == "true"
        self.backend = g("storage", "backend")
        self.g = g

    # Each rule: (regex, check).  The check returns True when the statement
    # is true of the settings; it may set the subject of the next ones.
    def field_days_ok(self, field, number, unit):
        """A field's own retention: set, shorter than the record's, and
        stated in the right number of days."""
        days = self.s.get(("retention", FIELD_KEYS[field]), "")
        return (not self.dry and days not in ("", "0", str(self.ttl)) and
                days_ok(number, unit, int(days)))

    def rules(self):
        g, mode = self.g, self.mode
        period = {"daily": "day", "weekly": "week", "monthly": "month"}
        rot = period.get(self.rotate)

        def subj(name):
            def f(m):
                self.subject = name
                return True
            return f

        return [
            (r"The controller responsible for these records is: (.+)\.",
             lambda m: m.group(1) == g("notice", "controller")),
            (r"The controller responsible for these records is not named yet "
             r"\(\[notice\] controller is not set\)\.",
             lambda m: g("notice", "controller") == ""),
            (r"To (?:ask about these records|exercise these rights), "
             r"(write to|go to) (\S+)\.",
             lambda m: m.group(2) == g("notice", "contact") and
             (m.group(1) == "go to") == bool(re.match(r"https?://", m.group(2)))),
            (r"No contact is given yet \(\[notice\] contact is not set\)\.",
             lambda m: g("notice", "contact") == ""),
            (r"Visits are recorded for one purpose: (.+)\.",
             lambda m: m.group(1) == g("notice", "purpose")),
            (r"This site is testing these settings \(a dry run\): no record of "
             r"your visit is stored\.", lambda m: self.dry),
            (r"For each visit, a report of what would be stored is written to "
             r"the site's audit output; below, \"stored\" means written to "
             r"that report\.", lambda m: self.dry),
            (r"That report shows your IP address and user agent as they were "
             r"received\.",
             lambda m: self.dry and g("audit", "show_raw") == "true"),
            (r"For each visit, the site receives the following, and keeps only "
             r"what is said here:", lambda m: True),
            # the address
            (r"Your IP address, from your connection to the site( \(or, when "
             r"you come through the site's own proxies, the address they "
             r"report\))?\.",
             lambda m: subj("ip")(m) and
             bool(m.group(1)) == (g("ip", "trusted_proxies") != "")),
            (r"It is stored as it is\.",
             lambda m: self.subject == "ip" and mode == "keep"),
            (r"It is not stored\.",
             lambda m: (self.subject == "ip" and mode == "drop") or
             (self.subject == "ua" and g("fields", "user_agent") == "drop")),
            (r"It is shortened before it is stored: (an IPv4 address [^;]*); "
             r"(an IPv6 address [^.]*)\.",
             lambda m: mode == "truncate" and
             kept_bits_ok(m.group(1), 4, self.v4) and
             kept_bits_ok(m.group(2), 6, self.v6)),
            (r"It is shortened: (an IPv4 address [^;]*); (an IPv6 address "
             r"[^.]*)\.",
             lambda m: mode == "hash" and self.tbh and not self.whole and
             kept_bits_ok(m.group(1), 4, self.v4) and
             kept_bits_ok(m.group(2), 6, self.v6)),
            (r"What is left is then replaced by a code computed from it with a "
             r"secret key\.", lambda m: mode == "hash" and not self.whole),
            (r"It is replaced by a code computed from it with a secret key\.",
             lambda m: mode == "hash" and self.whole),
            (r"The same (address|network) gets the same code for as long as "
             r"the site keeps its key\.",
             lambda m: mode == "hash" and self.rotate == "never" and
             (m.group(1) == "address") == self.whole),
            (r"Without the key, nobody can tell which address a code stands "
             r"for; the site holds the key, so it can compute the code of a "
             r"given address \(to answer your requests, for example\)\.",
             lambda m: mode == "hash" and self.rotate == "never"),
            (r"The key, and so the code, changes every (day|week|month) "
             r"\(UTC\)\.", lambda m: mode == "hash" and m.group(1) == rot),
            (r"Each (day|week|month)'s key is destroyed (?:as soon as|(\d+) "
             r"(days?|hours?) after) the \1 ends: from then on nobody, the site "
             r"included, can tell which address a code of that \1 stands "
             r"for, unless a copy of that key survives in a backup\.",
             lambda m: mode == "hash" and m.group(1) == rot and
             (self.grace == 0 if m.group(2) is None else
              days_ok(m.group(2), m.group(3), self.grace // 24)
              if m.group(3).startswith("day") and self.grace % 24 == 0
              else m.group(3).startswith("hour") and
              int(m.group(2)) == self.grace and
              (m.group(3) == "hour") == (self.grace == 1))),
            # the user agent
            (r"The identification your browser sends \(its user agent: "
             r"browser, version, operating system\)\.", subj("ua")),
            (r"It is stored as sent, up to (\d+) bytes\.",
             lambda m: self.subject == "ua" and
             g("fields", "user_agent") == "keep" and
             m.group(1) == g("fields", "max_user_agent")),
            (r"Only the browser's family and operating system are stored, for "
             r"example \"Firefox/Linux\"\.",
             lambda m: g("fields", "user_agent") == "family"),
            # links
            (r"The links you submit to the site\.", subj("links")),
            (r"They are stored whole, except any user name and password in "
             r"them\.", lambda m: g("fields", "links") == "keep"),
            (r"They are stored without the part after \"\?\" or \"#\", and "
             r"without any user name and password\.",
             lambda m: g("fields", "links") == "strip_query"),
            (r"Only the site each one points to is stored \(for example "
             r"https://music\.example\)\.",
             lambda m: g("fields", "links") == "origin"),
            (r"They are not stored\.",
             lambda m: self.subject == "links" and
             g("fields", "links") == "drop"),
            (r"How many you submitted is stored\.",
             lambda m: self.subject == "links"),
            # files
            (r"The names of the files you download\.", subj("files")),
            (r"They are stored without folders, and so are their titles \(the "
             r"names without their extension\)\.",
             lambda m: g("fields", "filenames") == "keep" and
             g("fields", "titles") == "keep"),
            (r"They are stored without folders; their titles are not\.",
             lambda m: g("fields", "filenames") == "keep" and
             g("fields", "titles") == "drop"),
            (r"Only their titles \(the names without their extension, without "
             r"folders\) are stored\.",
             lambda m: g("fields", "filenames") == "drop" and
             g("fields", "titles") == "keep"),
            (r"They are not stored, nor are their titles\.",
             lambda m: g("fields", "filenames") == "drop" and
             g("fields", "titles") == "drop"),
            (r"How many files you downloaded is stored\.",
             lambda m: self.subject == "files"),
            # what every record holds, whatever the settings
            (r"Whether your downloads failed\.", subj("errors")),
            (r"Only whether they failed and how many is stored, never the "
             r"error messages\.", lambda m: self.subject == "errors"),
            (r"The time of your visit\.", subj("time")),
            (r"Its date and time are stored, to the microsecond \(UTC\)\.",
             lambda m: self.subject == "time"),
            (r"Each record also gets a random identifier, which identifies the "
             r"record, not you or your browser\.", lambda m: True),
            (r"These records hold nothing else about your visit\.",
             lambda m: True),
            # retention
            (r"Records have no expiry date: they are kept until the site "
             r"deletes them\.", lambda m: self.ttl == 0 and not self.dry),
            (r"Each record expires (\d+) (days?) after your visit: it is no "
             r"longer used after that, and it is deleted from storage\.",
             lambda m: not self.dry and days_ok(m.group(1), m.group(2),
                                                self.ttl)),
            (r"Amazon DynamoDB deletes expired records itself, usually within "
             r"a few days; the site's clean-up can delete them sooner\.",
             lambda m: self.backend == "dynamodb" and self.ttl > 0),
            (r"Expired records are deleted by the site's clean-up\.",
             lambda m: self.backend == "file" and self.ttl > 0),
            (r"The stored (address|user agent) is removed from a record "
             r"(\d+) (days?) after your visit\.",
             lambda m: self.field_days_ok(m.group(1), m.group(2), m.group(3))),
            (r"The stored (links|titles|file names) are removed from a "
             r"record (\d+) (days?) after your visit\.",
             lambda m: self.field_days_ok(m.group(1), m.group(2), m.group(3))),
            (r"No record is stored while the site tests its settings; the "
             r"audit report is not deleted automatically\.",
             lambda m: self.dry),
            # opt-out
            (r"This site offers no way to opt out of this recording\.",
             lambda m: g("optout", "honor_dnt") == "false" and
             g("optout", "honor_gpc") == "false" and
             g("optout", "cookie") == ""),
            (r"You can opt out of this recording in these ways:",
             lambda m: True),
            (r"Turn on Do Not Track in your browser \(it sends the header "
             r"DNT: 1\)\.", lambda m: g("optout", "honor_dnt") == "true"),
            (r"Turn on Global Privacy Control in your browser \(it sends the "
             r"header Sec-GPC: 1\)\.",
             lambda m: g("optout", "honor_gpc") == "true"),
            (r"Set the cookie (\S+) for this site(?:: the page (\S+) sets it "
             r"for you)?\.",
             lambda m: m.group(1) == g("optout", "cookie") and
             (m.group(2) or "") == g("notice", "url")),
            (r"When you opt out, nothing of your visit is recorded\.",
             lambda m: g("optout", "action") == "drop"),
            (r"When you opt out, your visit is still counted: its date and "
             r"time, how many links and files it had and whether its "
             r"downloads failed are recorded, without your address, user "
             r"agent, links or file names\.",
             lambda m: g("optout", "action") == "anonymous"),
            (r"Do Not Track and Global Privacy Control are not honoured\.",
             lambda m: g("optout", "honor_dnt") == "false" and
             g("optout", "honor_gpc") == "false"),
            (r"Global Privacy Control is not honoured\.",
             lambda m: g("optout", "honor_gpc") == "false" and
             g("optout", "honor_dnt") == "true"),
            (r"Do Not Track is not honoured\.",
             lambda m: g("optout", "honor_dnt") == "false" and
             g("optout", "honor_gpc") == "true"),
            # rights
            (r"You can ask the controller for access to the records about you, "
             r"for a copy of them, for their correction or erasure, or for "
             r"their use to be restricted, and you can object to this "
             r"recording\.", lambda m: True),
            (r"You can also complain to a data protection authority\.",
             lambda m: True),
            (r"The records hold no address, so they can only be found from the "
             r"times of your visits and what you downloaded\.",
             lambda m: mode == "drop"),
            (r"To find the records about you, the site needs your IP address "
             r"and the dates of your visits\.", lambda m: mode != "drop"),
            (r"Since only part of the address is kept, the records found may "
             r"also be other people's on the same network: you may be asked "
             r"to confirm times or downloads\.",
             lambda m: self.truncates and not self.whole),
            (r"Once a (day|week|month)'s key is destroyed, the records of that "
             r"\1 can no longer be found from your address\.",
             lambda m: mode == "hash" and m.group(1) == rot),
            # storage
            (r"The records are stored in files on the site's own server\.",
             lambda m: self.backend == "file" and not self.dry),
            (r"The records are stored in Amazon DynamoDB, a database service "
             r"that Amazon Web Services runs on the site's behalf, in its "
             r"region ([a-z0-9-]+)\.",
             lambda m: self.backend == "dynamodb" and not self.dry and
             m.group(1) == g("storage", "region")),
            (r"The records are stored in Amazon DynamoDB, a database service "
             r"that Amazon Web Services runs on the site's behalf, in the "
             r"region set on the site's server\.",
             lambda m: self.backend == "dynamodb" and not self.dry and
             g("storage", "region") == ""),
            (r"The records are stored by the site's storage module \"(.+)\"\.",
             lambda m: m.group(1) == self.backend and not self.dry and
             self.backend not in ("file", "dynamodb")),
            (r"While the site tests its settings, no record is stored\.",
             lambda m: self.dry),
        ]

    def check(self, blocks):
        errors, rules = [], self.rules()
        for block in blocks:
            text = " ".join(block.split())
            if text in HEADINGS:
                self.subject = None
                continue
            pos = 0
            while pos < len(text):
                for i, (regex, rule) in enumerate(rules):
                    m = re.compile(regex).match(text, pos)
                    if m and (m.end() == len(text) or text[m.end()] == " "):
                        break
                else:
                    errors.append(f"unknown statement: {text[pos:]!r}")
                    break
                if not rule(m):
                    errors.append(f"false statement: {m.group(0)!r}")
                self.said.add(i)
                pos = m.end() + 1
        return errors


def required(s, said_text):
    """What the settings require the notice to state."""
    g = lambda sec, key: s.get((sec, key), "")
    need = ["Visits are recorded for one purpose: " + g("notice", "purpose"),
            "Your IP address", "(its user agent", "The links you submit",
            "The names of the files you download", "Your rights"]
    ttl = int(g("retention", "ttl_days"))
    if g("policy", "dry_run") == "true":
        need.append("no record of your visit is stored")
    elif ttl:
        need.append(f"Each record expires {ttl} day")
    else:
        need.append("Records have no expiry date")
    for key, name in (("honor_dnt", "Do Not Track"),
                      ("honor_gpc", "Global Privacy Control")):
        need.append(f"Turn on {name}" if g("optout", key) == "true"
                    else "not honoured")
    stored = {"address": g("ip", "mode") != "drop",
              "user agent": g("fields", "user_agent") != "drop",
              "links": g("fields", "links") != "drop",
              "titles": g("fields", "titles") != "drop",
              "file names": g("fields", "filenames") != "drop"}
    for field, key in FIELD_KEYS.items():
        days = g("retention", key)
        if (g("policy", "dry_run") != "true" and stored[field] and
                days not in ("", "0", str(ttl))):
            need.append(f"The stored {field} "
                        f"{'is' if field in ('address', 'user agent') else 'are'}"
                        f" removed from a record {days} day")
    if g("optout", "cookie"):
        need.append("Set the cookie " + g("optout", "cookie"))
    if g("notice", "controller"):
        need.append(g("notice", "controller"))
    if g("notice", "contact"):
        need.append(g("notice", "contact"))
    return [n for n in need if n not in said_text]


def main():
    privtrack, policy = sys.argv[1], sys.argv[2]
    s = settings_of(privtrack, policy)
    problems = []
    page = run(privtrack, "policy", "notice", "--format", "html",
               "--policy", policy)
    parser = Blocks()
    parser.feed(page)
    if parser.fetches:
        problems.append(f"html: fetches {parser.fetches}")
    md = markdown_blocks(run(privtrack, "policy", "notice", "--policy",
                             policy))
    if md != parser.blocks:
        problems.append("markdown and html say different things:\n  " +
                        "\n  ".join(f"{a!r}\n  {b!r}" for a, b in
                                    zip(md, parser.blocks) if a != b))
    for name, blocks in (("html", parser.blocks), ("md", md)):
        checker = Checker(s)
        problems += [f"{name}: {e}" for e in checker.check(blocks)]
        problems += [f"{name}: says nothing like {n!r}"
                     for n in required(s, "\n".join(blocks))]
    if "Not legal advice" not in page:
        problems.append("html: no 'Not legal advice' line")
    if problems:
        print(f"{policy}:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
