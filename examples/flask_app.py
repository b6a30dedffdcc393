"""A small Flask application that records its download sessions with
privtrack — the seed application's `/download` route, reduced to the
integration.

    PYTHONPATH=bindings/python /usr/bin/python3 examples/flask_app.py
    curl -d link=https://music.example/watch?v=abc -d link=https://x.example/fail \
         http://127.0.0.1:5000/download
    privtrack query --date "$(date -u +%F)"

or, as in production, under gunicorn with 4 worker processes (each opens
its own tracker on its first visit):

    PYTHONPATH=bindings/python gunicorn -w 4 --chdir examples flask_app:app

The policy is found as the privtrack command finds it ($PRIVTRACK_POLICY,
./policy.ini, the built-in default), unless app.config["PRIVTRACK_POLICY"]
names one.  The "downloads" are simulated: each link becomes a file named
after its last path segment, and a link containing "fail" fails.
"""

import os
from urllib.parse import urlsplit

from flask import Flask, jsonify, request

from privtrack.flask import Privtrack, track

app = Flask(__name__)
# FLASK_PRIVTRACK_POLICY, FLASK_PRIVTRACK_STORAGE, ... in the environment
app.config.from_prefixed_env()
privtrack = Privtrack(app)

FORM = """<!doctype html>
<title>privtrack example</title>
<form method=post action=/download>
  <textarea name=link rows=4 cols=60>https://music.example/songs/Song%20Title%201</textarea>
  <button>Download</button>
</form>
"""


def fetch(link):
    """Pretend to download `link`: a file name, or an exception."""
    if "fail" in link:
        raise IOError("HTTP 404")
    name = os.path.basename(urlsplit(link).path) or "download"
    return name.replace("%20", " ") + ".m4a"


@app.get("/")
def index():
    return FORM


@app.route("/download", methods=["GET", "POST"])
def download():
    links = [l.strip() for v in request.values.getlist("link")
             for l in v.splitlines() if l.strip()]
    files, errors = [], []
    for link in links:
        try:
            files.append(fetch(link))
        except IOError as exc:
            errors.append(str(exc))
    # One record per download session, with the raw facts; the policy
    # decides what is kept (and whether anything is, for DNT/GPC/opt-out).
    result = track(links=links, filenames=files, errors=errors)
    return jsonify(files=files, errors=len(errors), recorded=result.stored)


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "5000")))
