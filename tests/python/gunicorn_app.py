"""The application test_gunicorn.py serves with gunicorn's pre-forked
workers: the Flask extension, its policy from $PRIVTRACK_POLICY.

A minute's batch delay keeps each worker's records in its queue until the
worker exits, so the test proves that exit (gunicorn's SIGTERM) flushes
them."""

import os

from flask import Flask, request

from privtrack.flask import Privtrack, track

app = Flask(__name__)
Privtrack(app, batch_delay_ms=60000)


@app.get("/visit")
def visit():
    n = request.args.get("n", "")
    track(links=["https://music.example/%s" % n], filenames=["%s.m4a" % n])
    return str(os.getpid())
