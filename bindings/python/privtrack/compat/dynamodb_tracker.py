"""The seed's ``dynamodb_tracker`` module interface, backed by privtrack.

Code written for the Python tracker privtrack replaces keeps working with
one changed import:

    from privtrack.compat import dynamodb_tracker
    # or, unchanged code, with a one-line dynamodb_tracker.py on the path:
    #   from privtrack.compat.dynamodb_tracker import *

    if dynamodb_tracker.DYNAMODB_AVAILABLE:
        dynamodb_tracker.create_dynamodb_table_if_not_exists()
    dynamodb_tracker.track_visit(client_ip, user_agent, links, filenames,
                                 errors)
    visits = dynamodb_tracker.query_visits_by_date("2025-01-15", limit=100)

What changes underneath: visits go through the privtrack policy (found as
the ``privtrack`` command finds it: ``$PRIVTRACK_POLICY``, ``./policy.ini``,
the built-in default), so the stored ``client_ip`` is what the policy keeps
(a keyed pseudonym by default) and opted-out visits are not stored;
records are written in batches by the library (spooled while the store is
down) instead of one ``put_item`` per visit; the table is the policy's
``[storage] table``, else ``$DYNAMODB_TABLE_NAME``, else
``link-downloader-visits``.  The store is the policy's: with the built-in
default policy that is the file store, so set ``[storage] backend =
dynamodb`` to keep using DynamoDB.

Log lines (logger ``"dynamodb_tracker"``, the seed module's name):
``Saved visit record to DynamoDB: <session_id>`` (INFO) once privtrack has
accepted the visit — queued for its writer, which stores it within
``batch_delay_ms`` or spools it — and ``DynamoDB not available: <why>``
(WARNING) when privtrack cannot be used (no library, a bad policy) or the
store cannot be reached (no credentials, no server); then visits are
spooled (``Visit record spooled (DynamoDB not available): <session_id>``)
and written when the store is back.  The application carries on either
way.  When the store
itself fails later, the library logs ``DynamoDB not available: ...;
spooling to ...`` on the ``"privtrack"`` logger.

Trackers open lazily in each process (safe under pre-forking servers) and
close at normal interpreter exit; ``flush()`` waits for the writes.
"""

import datetime as _dt
import logging
import threading

logger = logging.getLogger("dynamodb_tracker")

try:
    import privtrack as _privtrack
    from privtrack.wsgi import visit_from_environ as _visit_from_environ
    _IMPORT_ERROR = None
except ImportError as exc:  # no libprivtrack: the seed's "not available"
    _privtrack = None
    _IMPORT_ERROR = exc

__all__ = ["DYNAMODB_AVAILABLE", "TABLE_NAME", "create_dynamodb_table_if_not_exists",
           "track_visit", "query_visits_by_date", "flush", "close"]

_lock = threading.Lock()
_policy = None
_writer = None   # the tracker that records visits (writer thread)
_reader = None   # a read-only tracker for queries: creates nothing
_available = None


def _not_available(exc):
    logger.warning("DynamoDB not available: %s", exc)


def _load_policy():
    global _policy
    if _IMPORT_ERROR is not None:
        raise _IMPORT_ERROR
    if _policy is None:
        _policy = _privtrack.Policy.find()
    return _policy


def _tracker(read_only):
    """The writer or reader tracker of this module (opened on first use in
    each process; the Tracker handles fork)."""
    global _writer, _reader
    with _lock:
        current = _reader if read_only else _writer
        if current is None or current.closed:
            current = _privtrack.Tracker(_load_policy(), lazy=True,
                                         read_only=read_only)
            if read_only:
                _reader = current
            else:
                _writer = current
        return current


def _check_available():
    """Can privtrack be used: library, policy, backend, credentials, server?
    A read-only tracker (it creates nothing and starts no thread) reads at
    most one record of today; a table that does not exist yet counts as
    available (create_dynamodb_table_if_not_exists() makes it)."""
    try:
        policy = _load_policy()
        with _privtrack.Tracker(policy, read_only=True) as probe:
            try:
                probe.query(_dt.datetime.now(_dt.timezone.utc).date(), 1)
            except _privtrack.NotFoundError:
                pass
        return True
    except Exception as exc:  # noqa: BLE001 - the seed's flag, not a crash
        _not_available(exc)
        return False


def __getattr__(name):
    # Module attributes computed on first access (PEP 562), so that
    # importing the module opens nothing.
    global _available
    if name == "DYNAMODB_AVAILABLE":
        if _available is None:
            _available = _check_available()
        return _available
    if name == "TABLE_NAME":
        try:
            return _load_policy().table
        except Exception:  # noqa: BLE001
            return None
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def create_dynamodb_table_if_not_exists():
    """Create the table (waited for until ACTIVE) and its TTL setting, or
    whatever the policy's backend needs; idempotent.  True on success."""
    try:
        _tracker(read_only=False).init_storage()
        return True
    except Exception as exc:  # noqa: BLE001
        _not_available(exc)
        return False


def _request_headers():
    """The headers of the current Flask request, if there is one: so that
    DNT, Sec-GPC and the opt-out cookie are honoured without the caller
    passing them."""
    try:
        import flask
        if flask.has_request_context():
            return _visit_from_environ(flask.request.environ)[1]
    except ImportError:
        pass
    return None


def track_visit(client_ip, user_agent=None, links=(), filenames=(),
                errors=(), headers=None, time=None):
    """Record one download session's visit: the client's address, its user
    agent, the submitted links, the downloaded files and the failures (a
    list of messages or a count; only the number is kept).  `headers` (a
    mapping) adds request headers — DNT, Sec-GPC, Cookie — and defaults to
    the current Flask request's.  Returns the session id, or ``None`` when
    the visit was not recorded (opted out, or privtrack itself unusable: no
    library, a bad policy).  When the store cannot be reached (no
    credentials, server down) the record is spooled, not lost, and written
    once the store is back.  Never raises."""
    try:
        if headers is None:
            headers = _request_headers()
        pairs = list(headers.items() if hasattr(headers, "items")
                     else headers or ())
        if user_agent is not None:
            pairs = [(n, v) for n, v in pairs
                     if str(n).lower() != "user-agent"]
            pairs.append(("User-Agent", user_agent))
        result = _tracker(read_only=False).track(
            remote_addr=client_ip, headers=pairs, links=links,
            filenames=filenames, errors=errors, time=time)
    except (TypeError, ValueError) as exc:  # the caller's arguments
        logger.error("Visit not recorded: %s", exc)
        return None
    except Exception as exc:  # noqa: BLE001 - never fail the download
        _not_available(exc)
        return None
    if not result.stored:
        logger.debug("Visit not recorded: %s", result.dropped)
        return None
    if _available is False:
        # Not lost: the library spools it until the store can be reached.
        logger.info("Visit record spooled (DynamoDB not available): %s",
                    result.session_id)
    else:
        logger.info("Saved visit record to DynamoDB: %s", result.session_id)
    return result.session_id


def query_visits_by_date(date, limit=100):
    """The visits of one UTC date ("YYYY-MM-DD" or a date), newest first, at
    most `limit`: dicts in the seed's item shape (plus ``ttl`` and
    ``policy``), with plain ints and bools (no Decimal).  [] when privtrack
    is not available."""
    if isinstance(date, _dt.datetime):
        date = date.date()
    try:
        tracker = _tracker(read_only=True)
    except Exception as exc:  # noqa: BLE001
        _not_available(exc)
        return []
    try:
        return tracker.query(date, limit)
    except (TypeError, ValueError, _privtrack.InvalidArgumentError):
        raise  # the caller's arguments
    except Exception as exc:  # noqa: BLE001
        _not_available(exc)
        return []


def flush(timeout=5.0):
    """Wait until the visits recorded so far are stored (or spooled)."""
    if _writer is not None and not _writer.closed:
        _writer.flush(timeout)


def close(timeout=10.0):
    """Flush and close this module's trackers (also done at exit)."""
    global _writer, _reader
    with _lock:
        trackers, _writer, _reader = (_writer, _reader), None, None
    for t in trackers:
        if t is not None:
            t.close(timeout)
