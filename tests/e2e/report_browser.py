#!/usr/bin/python3
"""Open privtrack's HTML report in a real browser and check it.

    report_browser.py REPORT.html STATS.json OUT_DIR [--control]

Debian's chromium runs headless, driven over the DevTools protocol on a
pipe (--remote-debugging-pipe: no port is opened).  The script

  - loads the page with the network disabled and records every request the
    page makes (Network.requestWillBeSent): only the file itself may appear;
  - reads every figure the page shows (elements with data-fig) and compares
    it with `privtrack stats --json` of the same range;
  - checks that the charts' SVGs are there and not empty;
  - takes screenshots at 1280x800 and at a phone's 390 px width, checks
    that they are not blank and that the phone layout does not overflow.

With --control it loads a page that fetches an image from 127.0.0.1 and
fails unless that request is seen: the request detector itself works.
Exit 0 when every check passes; each failure is printed.
"""

import base64
import fcntl
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
    "--no-first-run", "--no-default-browser-check",
    "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--disable-extensions", "--disable-default-apps",
    "--disable-domain-reliability", "--disable-client-side-phishing-detection",
    "--no-pings", "--hide-scrollbars", "--mute-audio",
    # Requests would fail anyway: nothing resolves, no proxy answers.
    "--host-resolver-rules=MAP * ~NOTFOUND",
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",
    "--remote-debugging-pipe",
]

failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAIL:", what, file=sys.stderr)
    return ok


class Browser:
    """Chromium over --remote-debugging-pipe (fd 3 in, fd 4 out)."""

    def __init__(self, profile):
        # Above 4, so that moving them to 3 and 4 in the child clobbers
        # nothing.
        high = lambda fd: (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10),
                           os.close(fd))[0]
        to_child_r, self.to_child = map(high, os.pipe())
        self.from_child, from_child_w = map(high, os.pipe())
        # The child needs them at fds 3 and 4 exactly (dup2 makes them
        # inheritable; every other descriptor of ours is close-on-exec, so
        # close_fds=False passes just these).
        def child_fds():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)
        self.proc = subprocess.Popen(
            [CHROMIUM] + FLAGS + ["--user-data-dir=" + profile,
                                  "about:blank"],
            preexec_fn=child_fds, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child_r)
        os.close(from_child_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise EOFError("chromium closed the pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, session, timeout=60):
        deadline = time.time() + timeout
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method and m.get("sessionId") == session:
                    return self.events.pop(i)
            self.events.append(self._read_message(deadline))

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def open_page(browser, url, width, height, mobile):
    target = browser.send("Target.createTarget", {"url": "about:blank"})
    session = browser.send("Target.attachToTarget",
                           {"targetId": target["targetId"],
                            "flatten": True})["sessionId"]
    browser.send("Network.enable", session=session)
    browser.send("Page.enable", session=session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": height, "deviceScaleFactor": 1,
                  "mobile": mobile}, session=session)
    browser.events = [e for e in browser.events
                      if e.get("sessionId") != session]
    browser.send("Page.navigate", {"url": url}, session=session)
    browser.wait_event("Page.loadEventFired", session)
    time.sleep(0.5)  # late requests, if any, would show up now
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e.get("sessionId") == session
                and e.get("method") == "Network.requestWillBeSent"]
    return session, requests


def evaluate(browser, session, expression):
    r = browser.send("Runtime.evaluate",
                     {"expression": expression, "returnByValue": True},
                     session=session)
    return r["result"].get("value")


def png_pixels(data):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, ctype = struct.unpack(">IIBB", body[:10])
            assert depth == 8 and ctype in (2, 6), (depth, ctype)
            bpp = 3 if ctype == 2 else 4
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[x] = (line[x] + pred) & 255
        rows.append([tuple(line[i:i + 3]) for i in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def check_screenshot(browser, session, path, width, height):
    shot = base64.b64decode(browser.send(
        "Page.captureScreenshot", {"format": "png"}, session=session)["data"])
    with open(path, "wb") as f:
        f.write(shot)
    w, h, rows = png_pixels(shot)
    check(w == width and h == height,
          "%s is %dx%d, expected %dx%d" % (path, w, h, width, height))
    background = rows[0][0]
    colours, inked = set(), 0
    for row in rows[::2]:
        for px in row[::2]:
            colours.add(px)
            inked += px != background
    share = inked / float(len(rows[::2]) * len(rows[0][::2]))
    check(len(colours) >= 20, "%s has %d colours: blank?" % (path, len(colours)))
    check(share > 0.05, "%s is %.1f%% drawn: blank?" % (path, 100 * share))
    # The bar colour of the charts is on screen.
    check(any((59, 111, 182) == px for row in rows for px in row),
          "%s shows no chart bar" % path)


FIGURES = """JSON.stringify(Array.from(document.querySelectorAll('[data-fig]'))
  .map(e => [e.getAttribute('data-fig'), e.textContent.trim(),
             e.getAttribute('data-value')]))"""
SVGS = """JSON.stringify(Array.from(document.querySelectorAll('svg'))
  .map(s => [s.getAttribute('aria-label'), s.querySelectorAll('rect').length,
             s.getBoundingClientRect().width,
             s.getBoundingClientRect().height]))"""


def expected_figures(stats):
    """data-fig -> the text the page must show for it."""
    exp = {
        "visits": "%d" % stats["visits"],
        "unique_visitors": "%d" % stats["unique_visitors"],
        "files_downloaded": "%d" % stats["files_downloaded"],
        "visits_with_errors": "%d" % stats["visits_with_errors"],
        "visits_ok": "%d" % (stats["visits"] - stats["visits_with_errors"]),
        "from": stats["from"], "to": stats["to"], "days": "%d" % stats["days"],
        "min_group": "%d" % stats["k_anonymity"]["min_group"],
        "success_rate": ("%.1f%%" % (100 * stats["success_rate"])
                         if stats["success_rate"] is not None else "-"),
    }
    for t in stats["top_titles"]:
        exp["title:" + t["title"]] = "%d" % t["count"]
    for a in stats["user_agents"]:
        exp["agent:" + a["family"]] = "%d" % a["visits"]
    for d in stats["per_day"]:
        exp["day:" + d["date"]] = "%d" % d["visits"]
        exp["day_unique:" + d["date"]] = "%d" % d["unique_visitors"]
        exp["day_bar:" + d["date"]] = ("value", "%d" % d["visits"])
    for h in stats["hours"]:
        exp["hour:%d" % h["hour"]] = ("value", "%d" % h["visits"])
    for key, count in (("top_titles_other", "count"),
                       ("user_agents_other", "visits"),
                       ("per_day_other", "visits"),
                       ("hours_other", "visits")):
        if stats[key]["groups"]:
            exp[key] = "%d" % stats[key][count]
    return exp


def check_report(report, stats_path, out_dir):
    stats = json.load(open(stats_path))
    url = "file://" + os.path.abspath(report)
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(profile)
        try:
            session, requests = open_page(browser, url, 1280, 800, False)
            check(requests == [url],
                  "the page made requests besides itself: %r" % requests)
            shown = json.loads(evaluate(browser, session, FIGURES))
            exp = expected_figures(stats)
            seen = {}
            for fig, text, value in shown:
                if fig == "policy":
                    seen.setdefault("policy", []).append(text)
                    continue
                check(fig not in seen, "figure %s shown twice" % fig)
                seen[fig] = ("value", value) if value is not None else text
            for fig, want in exp.items():
                check(seen.get(fig) == want, "figure %s: page %r, stats %r" %
                      (fig, seen.get(fig), want))
            for fig in seen:
                check(fig in exp or fig == "policy",
                      "figure %s on the page is not in stats --json" % fig)
            check(sorted(seen.get("policy", [])) ==
                  sorted(p["policy"] for p in stats["policies"]),
                  "policy ids: %r" % seen.get("policy"))
            svgs = json.loads(evaluate(browser, session, SVGS))
            labels = [s[0] for s in svgs]
            for chart in ("visits per day", "visits per hour", "success rate",
                          "top titles", "user-agent families"):
                check(chart in labels, "no %s chart" % chart)
            for label, rects, w, h in svgs:
                check(rects > 0 and w > 100 and h > 20,
                      "chart %s: %d bars, %dx%d px" % (label, rects, w, h))
            check_screenshot(browser, session,
                             os.path.join(out_dir, "report-1280.png"),
                             1280, 800)
            # A phone: 390 px wide, nothing wider than the screen.
            session, requests = open_page(browser, url, 390, 844, True)
            check(requests == [url], "phone: requests %r" % requests)
            overflow = evaluate(browser, session,
                                "document.documentElement.scrollWidth")
            check(overflow <= 390, "phone: the page is %s px wide" % overflow)
            check_screenshot(browser, session,
                             os.path.join(out_dir, "report-390.png"), 390, 844)
        finally:
            browser.close()


def check_control(out_dir):
    """A page that fetches from 127.0.0.1: the detector must see it."""
    page = os.path.join(out_dir, "control.html")
    with open(page, "w") as f:
        f.write('<!DOCTYPE html><p>control</p>'
                '<img src="http://127.0.0.1:9/pixel.png">')
    url = "file://" + os.path.abspath(page)
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(profile)
        try:
            _, requests = open_page(browser, url, 800, 600, False)
        finally:
            browser.close()
    check("http://127.0.0.1:9/pixel.png" in requests,
          "control: the image request was not seen: %r" % requests)


def main():
    if "--control" in sys.argv:
        check_control(sys.argv[sys.argv.index("--control") + 1])
    else:
        check_report(sys.argv[1], sys.argv[2], sys.argv[3])
    if failures:
        print("%d check(s) failed" % len(failures), file=sys.stderr)
        return 1
    print("report_browser: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
