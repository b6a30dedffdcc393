"""The binding's ctypes declarations match include/privtrack.h as the C
compiler lays it out (tests/python/abi_layout.c): a structure changed in
the header without the binding fails here, not as memory corruption."""

import ctypes
import os
import subprocess

import pytest

from privtrack import _native

# The ctypes name of a C field where they differ (`from` is a keyword).
RENAMED = {("pt_stats_options", "from"): "from_"}
# Structures the library writes whole, without a version: the binding
# keeps spare room after the fields it knows.
PADDED = {"pt_counters"}


def c_layout():
    tool = os.environ.get("PT_ABI_LAYOUT")
    if not tool:
        pytest.fail("PT_ABI_LAYOUT is not set (run through ctest)")
    out = subprocess.run([tool], capture_output=True, text=True, check=True)
    layout = {}
    for line in out.stdout.splitlines():
        struct, field, offset, size = line.split()
        layout[(struct, field)] = (int(offset), int(size))
    return layout


def test_structures_match_the_header():
    layout = c_layout()
    structs = {s for s, f in layout if f not in ("sizeof", "value")}
    assert structs >= {"pt_visit", "pt_packed_visit", "pt_counters",
                       "pt_tracker_options", "pt_record", "pt_track_result",
                       "pt_stats_options"}
    for struct in sorted(structs):
        cls = getattr(_native, struct)
        for (s, field), (offset, size) in layout.items():
            if s != struct or field == "sizeof":
                continue
            attr = getattr(cls, RENAMED.get((s, field), field))
            assert (attr.offset, attr.size) == (offset, size), (s, field)
        c_size = layout[(struct, "sizeof")][0]
        if struct in PADDED:
            assert ctypes.sizeof(cls) >= c_size + 64, struct
        else:
            assert ctypes.sizeof(cls) == c_size, struct


def test_versions_and_counts():
    layout = c_layout()
    assert layout[("PT_VISIT_VERSION", "value")][0] == \
        _native.PT_VISIT_VERSION
    assert layout[("PT_TRACKER_OPTIONS_VERSION", "value")][0] == \
        _native.PT_TRACKER_OPTIONS_VERSION
    assert layout[("PT_STATS_OPTIONS_VERSION", "value")][0] == \
        _native.PT_STATS_OPTIONS_VERSION
    assert layout[("PT_DROP__COUNT", "value")][0] == _native.PT_DROP_COUNT
    assert layout[("PT_PACKED_VISIT_VERSION", "value")][0] == \
        _native.PT_PACKED_VISIT_VERSION
    assert layout[("PT_PACKED_VISIT_REMOTE_ADDR", "value")][0] == \
        _native.PT_PACKED_VISIT_REMOTE_ADDR
