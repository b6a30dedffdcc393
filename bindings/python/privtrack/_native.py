"""libprivtrack through ctypes: finding the library, its structures and the
prototypes of the functions the binding calls.

Nothing here is public API; ``privtrack`` re-exports what is.

The library is loaded with ``ctypes.CDLL``, which releases the GIL for the
duration of every foreign call (``ctypes.PyDLL`` would not): other Python
threads run while ``pt_track()`` applies the policy, and the library's own
writer thread can call back into Python (the log bridge) while a caller
waits in ``pt_tracker_flush()``.
"""

import ctypes
import os
import sys
import sysconfig

SONAME = "libprivtrack.so.0"
ABI_MAJOR = 0

# ---- finding the library ---------------------------------------------------


class LibraryNotFound(ImportError):
    """libprivtrack.so.0 was not found (see ``library_candidates()``)."""


def _package_dir():
    return os.path.dirname(os.path.abspath(__file__))


def _prefix_candidates():
    """libprivtrack.so.0 under the prefixes this Python or this package was
    installed into: ``PREFIX/lib/<multiarch>/`` (CMake's libdir for /usr)
    and ``PREFIX/lib/`` (for any other prefix)."""
    prefixes = []
    # The package itself: PREFIX/lib/python3.X/site-packages/privtrack or
    # PREFIX/[local/]lib/python3/dist-packages/privtrack.
    here = _package_dir()
    parts = here.split(os.sep)
    if "lib" in parts:
        i = len(parts) - 1 - parts[::-1].index("lib")
        prefixes.append(os.sep.join(parts[:i]) or os.sep)
    for p in (sys.prefix, sys.base_prefix, "/usr/local", "/usr"):
        if p not in prefixes:
            prefixes.append(p)
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    out = []
    for p in prefixes:
        if multiarch:
            out.append(os.path.join(p, "lib", multiarch, SONAME))
        out.append(os.path.join(p, "lib", SONAME))
    return out


def _build_tree_candidates():
    """The library of a build of this source tree (bindings/python/privtrack
    is three levels below the repository root)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(_package_dir())))
    if not os.path.isfile(os.path.join(root, "include", "privtrack.h")):
        return []
    # Release first (the demo's and benchmarks' build), then Debug.  The
    # sanitizer builds are left out: they cannot be loaded into a Python
    # that was not started with their runtime preloaded.
    return [os.path.join(root, d, "lib", SONAME) for d in ("build", "build-dev")]


def library_candidates():
    """Where the library is looked for, in order: ``$PRIVTRACK_LIBRARY``
    (only there when it is set), the dynamic linker's own search
    (``LD_LIBRARY_PATH``, ``ld.so.cache``), the installed prefixes, then
    the build tree of a source checkout."""
    env = os.environ.get("PRIVTRACK_LIBRARY")
    if env:
        return [env]
    return [SONAME] + _prefix_candidates() + _build_tree_candidates()


def _load():
    tried = []
    for candidate in library_candidates():
        if os.sep in candidate and not os.path.exists(candidate):
            tried.append("%s (absent)" % candidate)
            continue
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as exc:
            tried.append("%s (%s)" % (candidate, exc))
            continue
        path = candidate
        if os.sep not in candidate:
            path = _loaded_path(candidate) or candidate
        return lib, path
    raise LibraryNotFound(
        "privtrack: cannot load %s; set PRIVTRACK_LIBRARY to its path. "
        "Tried: %s" % (SONAME, "; ".join(tried)))


def _loaded_path(soname):
    """The file the dynamic linker chose for `soname`."""
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                if line.rstrip().endswith(soname) or ("/" + soname) in line:
                    return line.split(None, 5)[-1].strip()
    except OSError:
        pass
    return None


# ---- structures (include/privtrack.h) -------------------------------------

c_char_p_p = ctypes.POINTER(ctypes.c_char_p)


class pt_header(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("value", ctypes.c_char_p)]


PT_VISIT_VERSION = 1


class pt_visit(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("remote_addr", ctypes.c_char_p),
        ("headers", ctypes.POINTER(pt_header)),
        ("header_count", ctypes.c_size_t),
        ("links", c_char_p_p),
        ("link_count", ctypes.c_size_t),
        ("filenames", c_char_p_p),
        ("filename_count", ctypes.c_size_t),
        ("error_count", ctypes.c_size_t),
        ("time_us", ctypes.c_int64),
    ]


PT_PACKED_VISIT_VERSION = 1
PT_PACKED_VISIT_REMOTE_ADDR = 1


class pt_packed_visit(ctypes.Structure):
    # The header of a visit packed into one buffer (pt_track_packed()); the
    # binding packs it with struct (tracker.py), this declaration is what
    # the layout test compares with the C compiler's.
    _fields_ = [
        ("version", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("header_count", ctypes.c_uint32),
        ("link_count", ctypes.c_uint32),
        ("filename_count", ctypes.c_uint32),
        ("reserved", ctypes.c_uint32),
        ("error_count", ctypes.c_uint64),
        ("time_us", ctypes.c_int64),
    ]


class pt_track_result(ctypes.Structure):
    _fields_ = [("dropped", ctypes.c_int), ("session_id", ctypes.c_char * 24)]


PT_DROP_COUNT = 6


class pt_counters(ctypes.Structure):
    _fields_ = [
        ("accepted", ctypes.c_uint64),
        ("dropped", ctypes.c_uint64 * PT_DROP_COUNT),
        ("stored", ctypes.c_uint64),
        ("spooled", ctypes.c_uint64),
        ("replayed", ctypes.c_uint64),
        ("retries", ctypes.c_uint64),
        ("failures", ctypes.c_uint64),
        ("ip_key_expired", ctypes.c_uint64),
        ("ip_key_unavailable", ctypes.c_uint64),
        # pt_counters has no version field and the library writes all of
        # it: room for fields a newer library appends, so that it never
        # writes past this buffer.
        ("_reserved", ctypes.c_uint64 * 32),
    ]


PT_STATS_OPTIONS_VERSION = 1


class pt_stats_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("from_", ctypes.c_char_p),
        ("to", ctypes.c_char_p),
        ("min_group", ctypes.c_uint),
        ("top", ctypes.c_uint),
        ("now", ctypes.c_int64),
    ]


AUDIT_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_void_p)
LOG_FN = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)
POLICY_ERROR_FN = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_uint,
                                   ctypes.c_char_p, ctypes.c_void_p)

PT_TRACKER_OPTIONS_VERSION = 1


class pt_tracker_options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint),
        ("dry_run", ctypes.c_int),
        ("storage_path", ctypes.c_char_p),
        ("audit", AUDIT_FN),
        ("audit_userdata", ctypes.c_void_p),
        ("queue_capacity", ctypes.c_size_t),
        ("batch_size", ctypes.c_size_t),
        ("batch_delay_ms", ctypes.c_uint),
        ("block_us", ctypes.c_uint),
        ("spool_dir", ctypes.c_char_p),
        ("synchronous", ctypes.c_int),
        ("read_only", ctypes.c_int),
    ]


class pt_record(ctypes.Structure):
    _fields_ = [
        ("date", ctypes.c_char_p),
        ("timestamp", ctypes.c_char_p),
        ("session_id", ctypes.c_char_p),
        ("client_ip", ctypes.c_char_p),
        ("user_agent", ctypes.c_char_p),
        ("num_links_submitted", ctypes.c_int64),
        ("num_files_downloaded", ctypes.c_int64),
        ("links", c_char_p_p),
        ("link_count", ctypes.c_size_t),
        ("titles", c_char_p_p),
        ("title_count", ctypes.c_size_t),
        ("filenames", c_char_p_p),
        ("filename_count", ctypes.c_size_t),
        ("has_errors", ctypes.c_int),
        ("error_count", ctypes.c_int64),
        ("ttl", ctypes.c_int64),
        ("policy", ctypes.c_char_p),
    ]


class pt_record_list(ctypes.Structure):
    _fields_ = [("records", ctypes.POINTER(pt_record)),
                ("count", ctypes.c_size_t)]


class pt_spool_status(ctypes.Structure):
    _fields_ = [("pending_records", ctypes.c_uint64),
                ("pending_bytes", ctypes.c_uint64)]


# ---- prototypes ------------------------------------------------------------

_vp = ctypes.c_void_p
_int = ctypes.c_int
_PROTOTYPES = {
    "pt_version": (ctypes.c_char_p, []),
    "pt_strerror": (ctypes.c_char_p, [_int]),
    "pt_err_name": (ctypes.c_char_p, [_int]),
    "pt_last_error": (ctypes.c_char_p, []),
    "pt_set_log": (None, [LOG_FN, _vp, _int]),
    "pt_policy_load_file": (_int, [ctypes.POINTER(_vp), ctypes.c_char_p]),
    "pt_policy_load_buffer": (_int, [ctypes.POINTER(_vp), ctypes.c_char_p,
                                     ctypes.c_size_t, ctypes.c_char_p]),
    "pt_policy_load_default": (_int, [ctypes.POINTER(_vp)]),
    "pt_policy_check_file": (_int, [ctypes.c_char_p, POLICY_ERROR_FN, _vp]),
    "pt_policy_check_buffer": (_int, [ctypes.c_char_p, ctypes.c_size_t,
                                      ctypes.c_char_p, POLICY_ERROR_FN, _vp]),
    "pt_policy_id": (ctypes.c_char_p, [_vp]),
    "pt_policy_get": (ctypes.c_char_p, [_vp, ctypes.c_char_p,
                                        ctypes.c_char_p]),
    "pt_policy_free": (None, [_vp]),
    "pt_drop_reason_name": (ctypes.c_char_p, [_int]),
    "pt_tracker_options_init": (None, [ctypes.POINTER(pt_tracker_options)]),
    "pt_tracker_open": (_int, [ctypes.POINTER(_vp), _vp,
                               ctypes.POINTER(pt_tracker_options)]),
    # The visit is one bytes object (tracker.make_visit); c_char_p passes
    # a bytes object's own buffer, without a copy.
    "pt_track_packed": (_int, [_vp, ctypes.c_char_p, ctypes.c_size_t,
                               ctypes.POINTER(pt_track_result)]),
    "pt_tracker_flush": (_int, [_vp, ctypes.c_uint]),
    "pt_tracker_close": (_int, [_vp, ctypes.c_uint]),
    "pt_tracker_errmsg": (ctypes.c_char_p, [_vp]),
    "pt_tracker_counters": (_int, [_vp, ctypes.POINTER(pt_counters)]),
    "pt_tracker_query": (_int, [_vp, ctypes.POINTER(ctypes.POINTER(
        pt_record_list)), ctypes.c_char_p, ctypes.c_size_t]),
    "pt_tracker_stats": (_int, [_vp, ctypes.POINTER(pt_stats_options),
                                ctypes.POINTER(ctypes.c_void_p)]),
    "pt_tracker_purge": (_int, [_vp, ctypes.c_int64,
                                ctypes.POINTER(ctypes.c_uint64)]),
    "pt_tracker_init_storage": (_int, [_vp]),
    "pt_tracker_spool_status": (_int, [_vp, ctypes.POINTER(pt_spool_status)]),
    "pt_tracker_spool_replay": (_int, [_vp, ctypes.c_uint,
                                       ctypes.POINTER(ctypes.c_uint64)]),
    "pt_record_to_json": (_int, [ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(pt_record)]),
    "pt_record_list_free": (None, [ctypes.POINTER(pt_record_list)]),
    "pt_free": (None, [_vp]),
}


def _bind(lib):
    for name, (restype, argtypes) in _PROTOTYPES.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    version = lib.pt_version().decode()
    if int(version.split(".")[0]) != ABI_MAJOR:
        raise LibraryNotFound("privtrack: %s is version %s; this binding "
                              "needs %d.x" % (SONAME, version, ABI_MAJOR))
    return version


lib, library_path = _load()
library_version = _bind(lib)


def text(raw):
    """A C string from the library as str (invalid UTF-8 cannot occur: the
    library repairs it; "replace" keeps this total anyway)."""
    return raw.decode("utf-8", "replace") if raw is not None else None
