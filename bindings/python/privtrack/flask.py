"""The Flask extension: ``Privtrack(app)`` and ``track()`` in a view.

    from flask import Flask
    from privtrack.flask import Privtrack, track

    app = Flask(__name__)
    Privtrack(app)                      # or: ext = Privtrack(); ext.init_app(app)

    @app.route("/download", methods=["POST"])
    def download():
        files, failures = fetch(request.form.getlist("link"))
        track(links=request.form.getlist("link"), filenames=files,
              errors=failures)
        ...

``track()`` records the current request's visit — its TCP peer and headers,
taken as ``privtrack.wsgi`` takes them (ProxyFix's rewrite is ignored: the
policy's ``trusted_proxies`` decides) — with the facts given.  It never
fails the request: a tracker error is logged on the ``"privtrack"`` logger
and ``track()`` returns ``TrackResult(stored=False, dropped="error")``.

Configuration (``app.config``):

- ``PRIVTRACK_POLICY``: a policy file (or a ``privtrack.Policy``); else the
  CLI's rules: ``$PRIVTRACK_POLICY``, ``./policy.ini``, the built-in
  default.  Loaded in ``init_app``, so a bad policy stops the app at start.
- ``PRIVTRACK_STORAGE``: overrides the policy's ``[storage] path``.
- ``PRIVTRACK_EVERY_REQUEST``: also record requests whose view did not call
  ``track()`` (default ``False``: only ``track()`` records, one record per
  download session as the seed did).

Keyword arguments of ``Privtrack(app, **tracker_options)`` go to
``privtrack.Tracker`` (``queue_capacity``, ``batch_delay_ms``, ...).  The
tracker opens lazily in each worker process of a pre-forking server (on
the first visit it records) and closes when the process exits normally.
"""

import flask

from .tracker import Tracker, TrackResult, _as_policy
from .wsgi import track_environ

__all__ = ["Privtrack", "track", "tracker"]

_EXTENSION = "privtrack"
_TRACKED = "privtrack.tracked"  # request.environ key: track() was called


class _AppState:
    __slots__ = ("tracker", "every_request")

    def __init__(self, tracker, every_request):
        self.tracker = tracker
        self.every_request = every_request


class Privtrack:
    """The extension; one instance may serve several applications."""

    def __init__(self, app=None, **tracker_options):
        self.tracker_options = tracker_options
        if app is not None:
            self.init_app(app)

    def init_app(self, app):
        options = dict(self.tracker_options)
        options.setdefault("lazy", True)
        storage = app.config.get("PRIVTRACK_STORAGE")
        if storage is not None:
            options["storage"] = storage
        policy = _as_policy(app.config.get("PRIVTRACK_POLICY"))
        state = _AppState(Tracker(policy, **options),
                          bool(app.config.get("PRIVTRACK_EVERY_REQUEST")))
        app.extensions[_EXTENSION] = state
        app.teardown_request(_record_untracked)

    @staticmethod
    def tracker(app=None):
        """The tracker of `app` (default: the current application)."""
        return _state(app).tracker


def _state(app=None):
    app = app or flask.current_app
    try:
        return app.extensions[_EXTENSION]
    except KeyError:
        raise RuntimeError("privtrack: Privtrack(app) or init_app(app) was "
                           "not called for this application") from None


def tracker(app=None):
    """The current application's ``privtrack.Tracker``."""
    return _state(app).tracker


def track(links=None, filenames=None, errors=None):
    """Record the current request's visit with these facts (lists of
    submitted links and downloaded file names; errors as a count or a list
    of messages — only their number is kept).  Returns a ``TrackResult``."""
    state = _state()
    environ = flask.request.environ
    environ[_TRACKED] = True
    result = track_environ(state.tracker, environ, links, filenames, errors)
    return result if result is not None else TrackResult(False, "error", None)


def _record_untracked(_exc):
    # teardown_request: after the response was produced, also when the view
    # raised.  Records the visit of a request whose view did not call
    # track(), when the application asked for every request.
    state = flask.current_app.extensions.get(_EXTENSION)
    if state is None or not state.every_request:
        return
    environ = flask.request.environ
    if not environ.get(_TRACKED):
        environ[_TRACKED] = True
        track_environ(state.tracker, environ)
