"""privtrack: record visits under a privacy policy, from Python.

A pure-Python binding over libprivtrack.so.0 (ctypes; nothing to compile).
The library is found through ``$PRIVTRACK_LIBRARY`` (a path to the .so),
else the dynamic linker's search and the installed prefixes, else the build
tree of a source checkout (``build/``, ``build-dev/``).

    import privtrack

    with privtrack.Tracker("policy.ini") as tracker:
        result = tracker.track(remote_addr="203.0.113.7",
                               headers={"User-Agent": "Mozilla/5.0 ..."},
                               filenames=["Song Title 1.m4a"])
        tracker.flush()
        print(tracker.query("2025-01-15"))

Web applications: ``privtrack.wsgi.TrackingMiddleware`` (any WSGI app) and
``privtrack.flask.Privtrack`` (a Flask extension).  Code written for the
seed's ``dynamodb_tracker`` module: ``privtrack.compat.dynamodb_tracker``.
The library's log lines go to the ``"privtrack"`` logger.
"""

from . import _native
from .errors import *  # noqa: F401,F403 - the Error classes
from .errors import Error, PolicyError, __all__ as _error_names
from .tracker import (DROP_REASONS, Policy, Tracker, TrackResult,
                      find_policy_path)

__version__ = "0.1.0"

#: The file the library was loaded from, and its version.
library_path = _native.library_path
library_version = _native.library_version

__all__ = ["Tracker", "Policy", "TrackResult", "DROP_REASONS",
           "find_policy_path", "library_path", "library_version",
           "version"] + list(_error_names)


def version():
    """The library's version ("MAJOR.MINOR.PATCH")."""
    return library_version
