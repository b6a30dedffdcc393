"""WSGI middleware: one visit recorded per request.

    from privtrack.wsgi import TrackingMiddleware
    application = TrackingMiddleware(application, policy="policy.ini")

The visit is the request's raw facts: the TCP peer (``REMOTE_ADDR``) and the
``HTTP_*`` headers (User-Agent, X-Forwarded-For, DNT, Sec-GPC, Cookie, ...).
The policy decides everything else — whether the visit is recorded at all
(opt-out), what is kept of the address and the user agent, which proxies'
``X-Forwarded-For`` is believed (``[ip] trusted_proxies``: the only place
proxies are trusted).

**Werkzeug's ProxyFix.**  ProxyFix rewrites ``REMOTE_ADDR`` from
``X-Forwarded-For`` by counting hops, whoever sent the header; it keeps the
original peer in ``environ["werkzeug.proxy_fix.orig"]``.  The visit always
takes that original peer and the unmodified ``X-Forwarded-For`` header, so
the address is resolved once, by the policy's ``trusted_proxies``, whether
or not ProxyFix runs before this middleware.  Keep ProxyFix for what the
application needs (URLs, schemes); list your proxies in the policy for
privtrack.

The visit is recorded after the response is produced: when the server
closes the response iterable (PEP 3333 ``close()``), or when the
application raises.  Recording never fails the request: ``pt_track()``
only queues the record (a store that is down means records go to the
spool), and any error of the tracker itself is logged on the
``"privtrack"`` logger, not raised.

Pre-forking servers (gunicorn, uWSGI): the middleware's tracker is opened
lazily, on the first request each worker process serves, never in the
master; each worker's tracker is closed (flushed) when the worker exits
normally.
"""

import logging

from .tracker import Tracker, _as_policy

__all__ = ["TrackingMiddleware", "visit_from_environ"]

logger = logging.getLogger("privtrack")

_PROXY_FIX_ORIG = "werkzeug.proxy_fix.orig"


def _header_value(value):
    # PEP 3333: header values are native strings holding the bytes as
    # latin-1; give the library those bytes (it repairs invalid UTF-8).
    if isinstance(value, str):
        try:
            return value.encode("latin-1")
        except UnicodeEncodeError:  # a server that decoded them otherwise
            return value.encode("utf-8", "surrogatepass")
    return value


def visit_from_environ(environ):
    """``(remote_addr, headers)`` of a WSGI request: the original TCP peer
    (before any ProxyFix rewrite) and every ``HTTP_*`` header, with its
    name as sent on the wire (``HTTP_USER_AGENT`` -> ``User-Agent``)."""
    orig = environ.get(_PROXY_FIX_ORIG)
    if isinstance(orig, dict) and "REMOTE_ADDR" in orig:
        remote_addr = orig["REMOTE_ADDR"]
    else:
        remote_addr = environ.get("REMOTE_ADDR")
    headers = [(key[5:].replace("_", "-"), _header_value(value))
               for key, value in environ.items()
               if key.startswith("HTTP_") and isinstance(value, (str, bytes))]
    return remote_addr or None, headers


def track_environ(tracker, environ, links=None, filenames=None, errors=None):
    """Record the visit of a WSGI request; never raises (a failure is
    logged).  Returns the TrackResult, or ``None`` after a failure."""
    try:
        remote_addr, headers = visit_from_environ(environ)
        return tracker.track(remote_addr=remote_addr, headers=headers,
                             links=links, filenames=filenames, errors=errors)
    except Exception as exc:  # noqa: BLE001 - never fail the request
        # The message is the library's or a type error's: no raw address.
        logger.error("privtrack: the visit was not recorded: %s: %s",
                     type(exc).__name__, exc)
        return None


class _RecordOnClose:
    """The application's response iterable, recording the visit when the
    server closes it (after the body was sent)."""

    __slots__ = ("_iterable", "_record", "_environ", "_done")

    def __init__(self, iterable, record, environ):
        self._iterable = iterable
        self._record = record
        self._environ = environ
        self._done = False

    def __iter__(self):
        return iter(self._iterable)

    def close(self):
        try:
            close = getattr(self._iterable, "close", None)
            if close is not None:
                close()
        finally:
            if not self._done:
                self._done = True
                self._record(self._environ)


class TrackingMiddleware:
    """``TrackingMiddleware(app, policy=None, **tracker_options)``.

    `policy`: a ``privtrack.Policy``, a path, or ``None`` for the CLI's rules
    (``$PRIVTRACK_POLICY``, ``./policy.ini``, the built-in default); it is
    loaded (and a bad one rejected) when the middleware is created.
    `tracker_options` are ``privtrack.Tracker``'s (``storage``,
    ``spool_dir``, ``queue_capacity``, ...).  ``middleware.tracker`` is the
    tracker, for ``counters()``, ``flush()``, ``close()``."""

    def __init__(self, app, policy=None, **tracker_options):
        self.app = app
        tracker_options.setdefault("lazy", True)
        self.tracker = Tracker(_as_policy(policy), **tracker_options)

    def _record(self, environ):
        track_environ(self.tracker, environ)

    def __call__(self, environ, start_response):
        try:
            iterable = self.app(environ, start_response)
        except BaseException:
            self._record(environ)
            raise
        return _RecordOnClose(iterable, self._record, environ)

    def close(self, timeout=None):
        """Close the tracker (flushing what was queued)."""
        self.tracker.close(timeout)
