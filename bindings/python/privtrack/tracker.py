"""Policies and trackers: the library's pt_policy and pt_tracker in Python.

Threads: one Tracker serves every thread of a process; ``track()`` may be
called from any number of threads at once (the library applies the policy
on the calling thread, with the GIL released).

Processes: a tracker belongs to the process that opened it.  The library
makes a tracker opened before ``fork()`` unusable in the child (its writer
thread does not exist there: ``PT_ECLOSED``), so a Tracker remembers the
process id it opened in and, on its first use in another process, opens a
fresh tracker there.  The handle inherited from the parent is left alone
(closing it in the child is what the library refuses), and records the
parent had queued stay the parent's to write.  With ``lazy=True`` nothing is
opened until the first use, so a pre-forking server's master (gunicorn
``--preload``) never holds a writer thread or a spool segment.

Shutdown: trackers still open when the interpreter exits are closed by an
``atexit`` handler (each within its ``close_timeout``), so a worker that
exits normally — gunicorn's on SIGTERM — stores or spools everything it
accepted.  A process that ends with ``os._exit()`` or a signal it does not
handle skips that: call ``close()`` (or ``flush()``) yourself there.
"""

import atexit
import ctypes
import datetime as _dt
import json
import logging
import os
import struct
import threading
import time as _time
import weakref

from . import _native
from ._native import lib
from .errors import PolicyError, error_class

__all__ = ["Policy", "Tracker", "TrackResult", "find_policy_path",
           "DROP_REASONS"]

_text = _native.text

# ---- errors ------------------------------------------------------------------


def _raise(code, detail=None):
    """Raise the Error subclass for `code`.  `detail` defaults to the
    thread's pt_last_error(), which must be read before any other library
    call on this thread."""
    if detail is None:
        detail = _text(lib.pt_last_error())
    if not detail:
        detail = _text(lib.pt_strerror(code))
    raise error_class(code)(detail, code, _text(lib.pt_err_name(code)))


def _tracker_detail(handle):
    return _text(lib.pt_tracker_errmsg(handle)) or _text(lib.pt_last_error())


# ---- logging: the library's callback into Python's logging -------------------

logger = logging.getLogger("privtrack")
_PY_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


@_native.LOG_FN
def _log_line(level, message, _userdata):
    # Called from any thread, including the writer's, with the GIL taken by
    # ctypes for the call.  Must not raise (ctypes would print the
    # exception) and must not call back into a tracker.
    try:
        logger.log(_PY_LEVELS[level] if 0 <= level < 4 else logging.ERROR,
                   "%s", _text(message))
    except Exception:  # noqa: BLE001 - a failing handler must not escape
        pass


_NO_CALLBACK = ctypes.cast(None, _native.LOG_FN)


def _library_log_level():
    """The library's minimum level from the "privtrack" logger's effective
    level, so that lines nobody would see are not even formatted (each line
    costs the writer thread a GIL acquisition)."""
    level = logger.getEffectiveLevel()
    if not logger.isEnabledFor(logging.CRITICAL):
        return 4  # PT_LOG_NONE
    for pt_level, py_level in enumerate(_PY_LEVELS):
        if level <= py_level:
            return pt_level
    return 3


def _install_log_bridge():
    lib.pt_set_log(_log_line, None, _library_log_level())


# ---- policies ------------------------------------------------------------------


def find_policy_path(explicit=None):
    """The policy file the CLI would use: `explicit`, else
    ``$PRIVTRACK_POLICY``, else ``./policy.ini`` when it exists; ``None``
    means the built-in default."""
    if explicit:
        return os.fspath(explicit)
    env = os.environ.get("PRIVTRACK_POLICY")
    if env:
        return env
    if os.path.lexists("policy.ini"):
        return "policy.ini"
    return None


def _collect_problems(check, *args):
    problems = []

    @_native.POLICY_ERROR_FN
    def on_problem(file, line, message, _userdata):
        problems.append((_text(file), int(line), _text(message)))

    check(*args, on_problem, None)
    return problems


def _fs_bytes(path):
    return os.fsencode(os.fspath(path))


class Policy:
    """A loaded, validated policy: immutable, shareable by any number of
    trackers and threads.

    ``Policy(path)`` loads a file; ``Policy.from_text(text)``, a string;
    ``Policy.default()``, the built-in default; ``Policy.find()``, what the
    CLI would use.  A bad policy raises ``PolicyError`` naming the file and
    line of each problem."""

    __slots__ = ("_handle", "source", "_finalizer", "__weakref__")

    def __init__(self, path, *, _handle=None, _source=None):
        if _handle is None:
            handle = ctypes.c_void_p()
            raw = _fs_bytes(path)
            rc = lib.pt_policy_load_file(ctypes.byref(handle), raw)
            if rc != 0:
                detail = _text(lib.pt_last_error())
                problems = ()
                if rc == PolicyError.code:
                    problems = _collect_problems(lib.pt_policy_check_file, raw)
                _raise_policy(rc, detail, problems)
            _handle, _source = handle.value, os.fspath(path)
        self._handle = _handle
        self.source = _source
        self._finalizer = weakref.finalize(self, lib.pt_policy_free, _handle)

    @classmethod
    def from_text(cls, text, name=None):
        """A policy from INI text; `name` appears in errors and the id."""
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        cname = name.encode("utf-8") if name else None
        handle = ctypes.c_void_p()
        rc = lib.pt_policy_load_buffer(ctypes.byref(handle), data, len(data),
                                       cname)
        if rc != 0:
            detail = _text(lib.pt_last_error())
            problems = ()
            if rc == PolicyError.code:
                problems = _collect_problems(lib.pt_policy_check_buffer, data,
                                             len(data), cname)
            _raise_policy(rc, detail, problems)
        return cls(None, _handle=handle.value, _source=name or "<memory>")

    @classmethod
    def default(cls):
        """The built-in default policy (policy/default.ini)."""
        handle = ctypes.c_void_p()
        rc = lib.pt_policy_load_default(ctypes.byref(handle))
        if rc != 0:
            _raise(rc)
        return cls(None, _handle=handle.value, _source="built-in default")

    @classmethod
    def find(cls, explicit=None):
        """The policy the CLI would use (see ``find_policy_path``)."""
        path = find_policy_path(explicit)
        return cls(path) if path else cls.default()

    @property
    def id(self):
        """The policy id stored in every record, e.g. "default-3fa2c1d0"."""
        return _text(lib.pt_policy_id(self._handle))

    def get(self, section, key):
        """A setting after defaults, as text; ``None`` for an unknown key."""
        return _text(lib.pt_policy_get(self._handle, section.encode(),
                                       key.encode()))

    @property
    def backend(self):
        return self.get("storage", "backend")

    @property
    def table(self):
        """The DynamoDB table records go to with this policy: ``[storage]
        table``, else ``$DYNAMODB_TABLE_NAME``, else the seed's name (the
        backend's own order)."""
        return (self.get("storage", "table") or
                os.environ.get("DYNAMODB_TABLE_NAME") or
                "link-downloader-visits")

    def __repr__(self):
        return "<privtrack.Policy %s from %s>" % (self.id, self.source)


def _raise_policy(code, detail, problems):
    if code == PolicyError.code:
        raise PolicyError(detail or _text(lib.pt_strerror(code)), code,
                          "PT_EPOLICY", problems)
    _raise(code, detail)


def _as_policy(policy):
    if isinstance(policy, Policy):
        return policy
    if policy is None:
        return Policy.find()
    if isinstance(policy, (str, bytes, os.PathLike)):
        return Policy(policy)
    raise TypeError("policy must be a privtrack.Policy, a path or None, not %s"
                    % type(policy).__name__)


# ---- visits: Python values to a pt_visit ------------------------------------------

#: The names of pt_drop_reason values, by value: the library's own table
#: (pt_drop_reason_name), not a copy of it.
DROP_REASONS = tuple(_text(lib.pt_drop_reason_name(i))
                     for i in range(_native.PT_DROP_COUNT))


class TrackResult(_native.pt_track_result):
    """What ``track()`` did: ``stored`` (accepted: queued for the store),
    else ``dropped`` says why ("dnt", "gpc", "cookie", "queue_full",
    "invalid"; "error" from the web integrations when the tracker itself
    failed).  ``session_id`` is the record's when accepted.

    ``track()``'s result is the library's pt_track_result itself, read
    when asked: a request that ignores it pays for no conversion."""

    # The library's fields, under names that leave the public ones free.
    _reason = _native.pt_track_result.dropped
    _session = _native.pt_track_result.session_id
    _given = None  # (stored, dropped, session_id) of TrackResult(...)

    def __init__(self, stored, dropped, session_id):
        super().__init__()
        self._given = (bool(stored), dropped, session_id)

    @property
    def stored(self):
        given = self._given
        return given[0] if given is not None else not self._reason

    @property
    def dropped(self):
        given = self._given
        if given is not None:
            return given[1]
        return DROP_REASONS[self._reason] if self._reason else None

    @property
    def session_id(self):
        given = self._given
        if given is not None:
            return given[2]
        return None if self._reason else self._session.decode("ascii")

    def __bool__(self):
        return self.stored

    def __eq__(self, other):
        return (isinstance(other, TrackResult) and
                (self.stored, self.dropped, self.session_id) ==
                (other.stored, other.dropped, other.session_id))

    __hash__ = None

    def __repr__(self):
        if self.stored:
            return "TrackResult(stored, session_id=%r)" % self.session_id
        return "TrackResult(dropped=%r)" % self.dropped


_new_result = TrackResult.__new__  # without __init__: the library fills it
_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)


def _to_bytes(value, what):
    # Strings are encoded as UTF-8; lone surrogates pass through as the
    # invalid UTF-8 they are, and the library replaces them like any other
    # invalid UTF-8.  A NUL is refused by _encoded_strings.
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError("%s must be str or bytes, not %s" %
                    (what, type(value).__name__))


def _encode_all(values, what):
    """Encode a list of strings; the common all-str case in one pass."""
    try:
        return [v.encode("utf-8", "surrogatepass") for v in values]
    except AttributeError:  # bytes, or a wrong type: one by one
        return [_to_bytes(v, what) for v in values]


def _iterable(values, what, kind):
    if isinstance(values, (str, bytes)):
        raise TypeError("%s must be %s, not a single %s" %
                        (what, kind, type(values).__name__))
    if type(values) in (list, tuple):
        return values
    try:
        return list(values)
    except TypeError:
        raise TypeError("%s must be %s, not %s" %
                        (what, kind, type(values).__name__)) from None


def _header_strings(headers):
    """Header names and values, flattened and encoded: name, value, ..."""
    kind = "a mapping or (name, value) pairs"
    pairs = headers.items() if hasattr(headers, "items") else headers
    flat = []
    for pair in _iterable(pairs, "headers", kind):
        try:
            name, value = pair
        except (TypeError, ValueError):
            raise TypeError("headers must be %s; found an item of type %s" %
                            (kind, type(pair).__name__)) from None
        if value is not None:
            flat.append(name)
            flat.append(value)
    return _encode_all(flat, "header names and values")


MAX_ERRORS = 1000000000  # as the CLI's "errors" count


def _error_count(errors):
    if errors is None:
        return 0
    if isinstance(errors, int) and not isinstance(errors, bool):
        if not 0 <= errors <= MAX_ERRORS:
            raise ValueError("errors must be a count from 0 to %d" %
                             MAX_ERRORS)
        return errors
    if isinstance(errors, (bool, str, bytes)):
        raise TypeError("errors must be a count or a list of messages, not "
                        "%s" % type(errors).__name__)
    try:
        return len(errors)
    except TypeError:
        raise TypeError("errors must be a count or a list of messages, not "
                        "%s" % type(errors).__name__) from None


def _time_us(when):
    if when is None:
        return 0
    if isinstance(when, str):
        # datetime.fromisoformat() reads "...Z\0junk" as "...Z", a cut the
        # command never makes (it rejects the line): refused as in every
        # other string.
        if "\0" in when:
            raise ValueError("time: a string holds a NUL character, which "
                             "would cut it short")
        try:
            when = _dt.datetime.fromisoformat(when)
        except ValueError:
            raise ValueError("time must be an ISO-8601 date-time such as "
                             "2025-01-15T14:30:00Z") from None
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        delta = when - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1000000 + \
            delta.microseconds
    if isinstance(when, (int, float)) and not isinstance(when, bool):
        return int(round(when * 1000000))
    raise TypeError("time must be a datetime, an ISO-8601 string or Unix "
                    "seconds, not %s" % type(when).__name__)


# The visit goes to the library as one buffer (pt_track_packed()): a
# pt_packed_visit header, packed by struct (native byte order, no padding:
# version, flags, header_count, link_count, filename_count, reserved,
# error_count, time_us), then every string NUL-terminated: remote_addr (when
# flagged), the header names, the header values, links, file names.  The library finds
# the strings itself, so no pointer is computed here.  Checked against the
# ctypes declaration of include/privtrack.h's layout (tests/python/test_abi.py)
# at import.
_HEAD = struct.Struct("=IIIIIIQq")
assert _HEAD.size == ctypes.sizeof(_native.pt_packed_visit)
assert _native.pt_packed_visit.time_us.offset == _HEAD.size - 8
_pack_head = _HEAD.pack
_VERSION = _native.PT_PACKED_VISIT_VERSION


def _encoded_strings(remote_addr, headers, links, filenames):
    """Every accepted type, checked and encoded one by one.  Returns
    (strings, n_headers, n_links, n_files) with the address first."""
    strings = [] if remote_addr is None else \
        [_to_bytes(remote_addr, "remote_addr")]
    if headers is not None:
        pairs = _header_strings(headers)
        strings += pairs[0::2]  # the names, then the values
        strings += pairs[1::2]
    n_headers = (len(strings) - (remote_addr is not None)) // 2
    n_links = n_files = 0
    if links is not None:
        encoded = _encode_all(_iterable(links, "links", "a list of strings"),
                              "links items")
        n_links = len(encoded)
        strings += encoded
    if filenames is not None:
        encoded = _encode_all(
            _iterable(filenames, "filenames", "a list of strings"),
            "filenames items")
        n_files = len(encoded)
        strings += encoded
    return strings, n_headers, n_links, n_files


def _refuse_nul(strings, has_addr, n_headers, n_links):
    """A NUL inside a string would end it for C: "DNT\\0x" would read as
    DNT, an address would lose its tail.  The command rejects such a visit
    line, and so does the binding (naming the argument, never the value:
    it may hold an address)."""
    at = next((i for i, one in enumerate(strings) if b"\0" in one), None)
    if at is None:
        return
    bounds = ((has_addr, "remote_addr"),
              (has_addr + 2 * n_headers, "header names and values"),
              (has_addr + 2 * n_headers + n_links, "links"))
    what = next((name for end, name in bounds if at < end), "filenames")
    raise ValueError("%s: a string holds a NUL character, which would cut "
                     "it short for the library" % what)


def make_visit(remote_addr=None, headers=None, links=None, filenames=None,
               errors=None, time=None):
    """The visit as pt_track_packed() reads it: one bytes object, the
    header and then each string's UTF-8 once with its NUL — the only copy
    of the visit's data the library reads.  The general path: every
    argument type ``track()`` documents, checked, with its errors."""
    strings, n_headers, n_links, n_files = _encoded_strings(
        remote_addr, headers, links, filenames)
    _refuse_nul(strings, remote_addr is not None, n_headers, n_links)
    strings.append(b"")  # the join then ends with a NUL
    return _pack_head(_VERSION, remote_addr is not None, n_headers, n_links,
                      n_files, 0, _error_count(errors), _time_us(time)) + \
        b"\0".join(strings)


# ---- trackers --------------------------------------------------------------------

# pt_track_packed with the result declared as a TrackResult: ctypes then
# checks the argument's exact type, not isinstance() through the class
# hierarchy.  A CFUNCTYPE prototype, like CDLL's functions, releases the GIL
# for the call.
_pt_track_packed = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
    ctypes.POINTER(TrackResult))(("pt_track_packed", lib))
_getpid = os.getpid
_EINVAL = -1
_ECLOSED = -18


def _ms(seconds):
    return max(0, min(int(seconds * 1000), 0xFFFFFFFF))


class _State:
    """What a Tracker shares with its finalizer and the fork and exit hooks
    (none of which may hold the Tracker itself).

    Calls in flight are counted without a lock, because a lock and a
    getpid() per track() cost more than the library's whole pt_track() on
    some machines (a syscall here costs microseconds).  A call appends to
    `calls` and then checks `closed`; close() sets `closed` and then waits
    until `calls` is empty.  list.append, list.pop and attribute stores are
    atomic under the GIL, which orders them: either close() sees the call
    and waits for it, or the call sees `closed` and backs out.  Nothing can
    then use the handle after pt_tracker_close() freed it.  `lock`
    serialises opening and closing."""

    __slots__ = ("lock", "calls", "handle", "pid", "closed", "close_timeout",
                 "__weakref__")

    def __init__(self, close_timeout):
        self.reset_after_fork()
        self.closed = False
        self.close_timeout = close_timeout

    def reset_after_fork(self):
        # A lock another thread held at fork() would stay held forever in
        # the child: start afresh.  The inherited handle is abandoned (the
        # library refuses to close it there), the next call opens one.
        self.lock = threading.Lock()
        self.calls = []
        self.handle = None
        self.pid = None

    def release(self, timeout):
        """Close this process's tracker, once the calls in flight are done.
        Returns the library's code (0 when there was nothing to close)."""
        with self.lock:
            if self.closed:
                return 0
            self.closed = True
            while self.calls:
                _time.sleep(0.0005)
            handle, self.handle = self.handle, None
            mine = self.pid == _getpid()
        if handle is None or not mine:
            return 0
        return lib.pt_tracker_close(handle, _ms(timeout))


_live = weakref.WeakSet()  # every _State not yet closed


def _after_fork_in_child():
    for state in list(_live):
        state.reset_after_fork()


def _close_all_at_exit():
    for state in list(_live):
        try:
            state.release(state.close_timeout)
        except Exception:  # noqa: BLE001 - exiting anyway
            pass
    # No callback into an interpreter that is being torn down.
    lib.pt_set_log(_NO_CALLBACK, None, 4)


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)


def _finalize(state):
    try:
        state.release(state.close_timeout)
    except Exception:  # noqa: BLE001 - in a finalizer
        pass


class Tracker:
    """A privtrack tracker: ``track()`` visits; they are stored by the
    library's writer thread in batches (or spooled when the store is down).

    ``Tracker(policy=None, storage=None, **options)``:

    - `policy`: a ``Policy``, a path, or ``None`` for what the CLI would use
      (``$PRIVTRACK_POLICY``, ``./policy.ini``, the built-in default);
    - `storage`: overrides ``[storage] path``;
    - options (``pt_tracker_options``): ``dry_run`` (None: as the policy
      says), ``audit`` (a callable receiving each dry-run audit line as a
      str, on the tracking thread), ``queue_capacity``, ``batch_size``,
      ``batch_delay_ms``, ``block_us``, ``spool_dir``, ``synchronous``,
      ``read_only``; and ``lazy`` (open on first use instead of now),
      ``close_timeout`` (seconds, for ``with`` and exit; default 10).

    A context manager: ``with Tracker(...) as t:`` closes it on exit.
    """

    def __init__(self, policy=None, storage=None, *, lazy=False, dry_run=None,
                 audit=None, queue_capacity=0, batch_size=0, batch_delay_ms=0,
                 block_us=0, spool_dir=None, synchronous=False,
                 read_only=False, close_timeout=10.0):
        self.policy = _as_policy(policy)
        opts = _native.pt_tracker_options()
        lib.pt_tracker_options_init(ctypes.byref(opts))
        opts.dry_run = -1 if dry_run is None else int(bool(dry_run))
        self._keep = []  # bytes and callbacks the options point to
        if storage is not None:
            opts.storage_path = self._kept(_fs_bytes(storage))
        if spool_dir is not None:
            opts.spool_dir = self._kept(_fs_bytes(spool_dir))
        if audit is not None:
            if not callable(audit):
                raise TypeError("audit must be callable")
            opts.audit = self._kept(_native.AUDIT_FN(
                lambda line, _ud: _call_audit(audit, line)))
        for name, value in (("queue_capacity", queue_capacity),
                            ("batch_size", batch_size),
                            ("batch_delay_ms", batch_delay_ms),
                            ("block_us", block_us)):
            if not isinstance(value, int) or isinstance(value, bool) or \
                    value < 0:
                raise TypeError("%s must be a non-negative int" % name)
            setattr(opts, name, value)
        opts.synchronous = int(bool(synchronous))
        opts.read_only = int(bool(read_only))
        self._opts = opts
        self._state = _State(close_timeout)
        _live.add(self._state)
        # When the Tracker is collected; the exit hook closes the rest.
        self._finalizer = weakref.finalize(self, _finalize, self._state)
        self._finalizer.atexit = False
        if not lazy:
            with self._state.lock:
                self._open_here(self._state)

    def _kept(self, obj):
        self._keep.append(obj)
        return obj

    # -- the handle of this process ------------------------------------------

    def _open_here(self, s):
        """Open the tracker of this process (with s.lock held)."""
        _install_log_bridge()
        handle = ctypes.c_void_p()
        rc = lib.pt_tracker_open(ctypes.byref(handle), self.policy._handle,
                                 ctypes.byref(self._opts))
        if rc != 0:
            _raise(rc)
        # The c_void_p itself: ctypes passes it as is, where an int would be
        # converted on every call.
        s.handle, s.pid = handle, _getpid()

    def _enter(self):
        """This process's handle, counted as in flight until _leave()."""
        s = self._state
        s.calls.append(None)
        handle = s.handle
        if handle is None or s.closed:
            s.calls.pop()
            return self._enter_slow(s)
        return handle

    def _enter_slow(self, s):
        with s.lock:
            if s.closed:
                _raise(_ECLOSED, "the tracker is closed")
            if s.handle is None:
                self._open_here(s)
            s.calls.append(None)
            return s.handle

    def _leave(self):
        self._state.calls.pop()

    def _forked(self, rc):
        """After PT_ECLOSED: was the tracker opened by another process (a
        fork that bypassed os.fork's hooks)?  Then abandon the handle, so
        that the next call opens one here."""
        s = self._state
        if rc != _ECLOSED or s.closed:
            return False
        with s.lock:
            if s.pid is not None and s.pid != _getpid():
                s.handle = None
                s.pid = None
        return s.handle is None

    @property
    def closed(self):
        return self._state.closed

    # -- the request path --------------------------------------------------------

    def track(self, remote_addr=None, headers=None, links=None,
              filenames=None, errors=None, time=None):
        """Apply the policy to one visit and queue its record.

        - `remote_addr`: the TCP peer's address (str);
        - `headers`: a mapping or (name, value) pairs (User-Agent,
          X-Forwarded-For, DNT, Sec-GPC, Cookie, ...; names are
          case-insensitive, a ``None`` value is skipped);
        - `links`, `filenames`: lists of str;
        - `errors`: a count, or a list of messages (only their number is
          kept);
        - `time`: ``None`` (now), a datetime (naive = UTC), an ISO-8601
          string or Unix seconds.

        Returns a ``TrackResult``.  Never blocks on the store (unless
        ``block_us`` is set) and raises only for bad arguments
        (``TypeError``/``ValueError``) or a closed tracker
        (``ClosedError``)."""
        # The common case (a str address, a dict of str headers, lists of
        # str, no error count, no time) packed in a few C-level steps; the
        # library finds the strings and refuses a NUL inside one.  Every
        # bytecode and object here costs most on the first call after a
        # pause, when nothing is in the CPU's caches (bench/README.md).
        if type(headers) is dict and type(links) is list and \
                type(filenames) is list and type(remote_addr) is str and \
                errors is None and time is None:
            try:
                visit = _pack_head(
                    _VERSION, 1, len(headers), len(links), len(filenames), 0,
                    0, 0) + "\0".join(
                        [remote_addr, *headers, *headers.values(), *links,
                         *filenames, ""]).encode("utf-8", "surrogatepass")
            except TypeError:  # a None value, bytes: the general path
                visit = make_visit(remote_addr, headers, links, filenames)
        else:
            visit = make_visit(remote_addr, headers, links, filenames,
                               errors, time)
        result = _new_result(TrackResult)
        # self._enter() and self._leave(), inline.
        s = self._state
        s.calls.append(None)
        handle = s.handle
        if handle is None or s.closed:
            s.calls.pop()
            handle = self._enter_slow(s)
        try:
            rc = _pt_track_packed(handle, visit, len(visit), result)
            detail = _tracker_detail(handle) if rc else None
        finally:
            s.calls.pop()
        if rc:
            if self._forked(rc):
                return self.track(remote_addr, headers, links, filenames,
                                  errors, time)
            if rc == _EINVAL:  # a NUL in a string: say which argument
                make_visit(remote_addr, headers, links, filenames, errors,
                           time)
            _raise(rc, detail)
        return result

    # -- the rest ----------------------------------------------------------------

    def _call(self, fn, *args):
        handle = self._enter()
        try:
            rc = fn(handle, *args)
            # Read while still in flight: close() may free the handle after.
            detail = _tracker_detail(handle) if rc else None
        finally:
            self._leave()
        if rc:
            if self._forked(rc):
                return self._call(fn, *args)
            _raise(rc, detail)
        return None

    def flush(self, timeout=5.0):
        """Wait until every visit accepted so far is stored or durably
        spooled, at most `timeout` seconds (``TimedOutError`` otherwise)."""
        self._call(lib.pt_tracker_flush, _ms(timeout))

    def close(self, timeout=None):
        """Flush (within `timeout` seconds; default ``close_timeout``), stop
        the writer and release the tracker.  Records not written by then
        are spooled for the next tracker.  Idempotent; the tracker cannot be
        used afterwards (``ClosedError``)."""
        s = self._state
        rc = s.release(s.close_timeout if timeout is None else timeout)
        _live.discard(s)
        self._finalizer.detach()
        if rc:
            _raise(rc)  # the handle is freed: the detail is the thread's

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.close()
        except Exception:
            if exc_type is None:
                raise
        return False

    def counters(self):
        """Counters since this process's tracker opened, as a dict."""
        c = _native.pt_counters()
        self._call(lib.pt_tracker_counters, ctypes.byref(c))
        return {
            "accepted": c.accepted,
            "dropped": {DROP_REASONS[i]: c.dropped[i]
                        for i in range(1, _native.PT_DROP_COUNT)},
            "stored": c.stored,
            "spooled": c.spooled,
            "replayed": c.replayed,
            "retries": c.retries,
            "failures": c.failures,
            "ip_key_expired": c.ip_key_expired,
            "ip_key_unavailable": c.ip_key_unavailable,
        }

    def query(self, date, limit=100):
        """The records of one UTC date (``"YYYY-MM-DD"`` or a ``date``),
        newest first, at most `limit` (0 or None: all), as dicts of plain
        Python types in the record's shape (the seed's item attributes plus
        ``policy``).  Expired records are not returned."""
        date = _date_bytes(date)
        if limit is None:
            limit = 0
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise TypeError("limit must be a non-negative int")
        out = ctypes.POINTER(_native.pt_record_list)()
        self._call(lib.pt_tracker_query, ctypes.byref(out), date, limit)
        try:
            return _records(out.contents) if out else []
        finally:
            lib.pt_record_list_free(out)

    def stats(self, date=None, to=None, min_group=0, top=0):
        """Statistics of one UTC date (default: today), or of the dates
        `date`..`to`, as ``privtrack stats --json`` prints them (the
        library's pt_tracker_stats(): visits, unique visitors, files,
        success rate, hours, days, top titles, user-agent families, policy
        ids).  `min_group` is the k-anonymity threshold (0: the policy's
        ``[report] min_group``; 1: off); `top` the rows of each ranking
        (0: 10).  Streams the records: memory grows with distinct values,
        not with records."""
        if date is None:
            date = _dt.datetime.now(_dt.timezone.utc).date()
        for name, value in (("min_group", min_group), ("top", top)):
            if not isinstance(value, int) or isinstance(value, bool) or \
                    not 0 <= value <= 0xFFFFFFFF:
                raise TypeError("%s must be a non-negative int" % name)
        opts = _native.pt_stats_options(
            _native.PT_STATS_OPTIONS_VERSION, _date_bytes(date),
            None if to is None else _date_bytes(to), min_group, top, 0)
        out = ctypes.c_void_p()
        self._call(lib.pt_tracker_stats, ctypes.byref(opts),
                   ctypes.byref(out))
        try:
            return json.loads(ctypes.string_at(out.value))
        finally:
            lib.pt_free(out)

    def purge(self, now=None):
        """Remove records whose ttl is before `now` (Unix seconds; default
        now).  Returns how many were removed."""
        removed = ctypes.c_uint64()
        self._call(lib.pt_tracker_purge, int(now or 0), ctypes.byref(removed))
        return removed.value

    def init_storage(self):
        """Create what the backend needs (idempotent): the store directory
        and hash key, or the DynamoDB table (waited for) and its TTL."""
        self._call(lib.pt_tracker_init_storage)

    def spool_status(self):
        st = _native.pt_spool_status()
        self._call(lib.pt_tracker_spool_status, ctypes.byref(st))
        return {"pending_records": st.pending_records,
                "pending_bytes": st.pending_bytes}

    def spool_replay(self, timeout=30.0):
        """Write the spool now; returns how many records were replayed."""
        n = ctypes.c_uint64()
        self._call(lib.pt_tracker_spool_replay, _ms(timeout), ctypes.byref(n))
        return n.value

    def __repr__(self):
        return "<privtrack.Tracker %s%s>" % (
            self.policy.id, " closed" if self.closed else "")


def _date_bytes(date):
    """A UTC date for the library: "YYYY-MM-DD" or a datetime.date (the
    library checks the text)."""
    if isinstance(date, _dt.datetime):
        raise TypeError("a date must be a date or 'YYYY-MM-DD', not a "
                        "datetime")
    if isinstance(date, _dt.date):
        return date.isoformat().encode()
    if isinstance(date, str):
        return date.encode("utf-8", "surrogatepass")
    raise TypeError("a date must be a date or 'YYYY-MM-DD', not %s" %
                    type(date).__name__)


def _call_audit(audit, line):
    try:
        audit(_text(line))
    except Exception:  # noqa: BLE001 - ctypes would only print it
        logger.exception("privtrack: the audit callback failed")


def _records(lst):
    out = []
    js = ctypes.c_void_p()
    for i in range(lst.count):
        rc = lib.pt_record_to_json(ctypes.byref(js),
                                   ctypes.byref(lst.records[i]))
        if rc:
            _raise(rc)
        try:
            out.append(json.loads(ctypes.string_at(js.value)))
        finally:
            lib.pt_free(js)
    return out
