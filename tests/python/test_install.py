"""`pip install bindings/python`, offline, into a virtualenv that also holds
an installed libprivtrack (`cmake --install`): the installed package finds
the installed library by itself."""

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


def run(*args, **kwargs):
    proc = subprocess.run(args, capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, "%s\n%s%s" % (args, proc.stdout, proc.stderr)
    return proc.stdout


def test_pip_install_offline_finds_the_installed_library(tmp_path):
    build = os.environ.get("PT_BUILD_DIR") or os.path.join(ROOT, "build-dev")
    prefix = tmp_path / "prefix"
    # pip builds in the source directory: build from a copy, so that the
    # repository is left as it was.
    source = tmp_path / "src"
    shutil.copytree(os.path.join(ROOT, "bindings", "python"), source)
    run(sys.executable, "-m", "venv", "--system-site-packages", str(prefix))
    run("cmake", "--install", build, "--prefix", str(prefix))
    out = run(str(prefix / "bin" / "pip"), "install", "--no-index",
              str(source))
    assert "Successfully installed privtrack-0.1.0" in out
    env = {k: v for k, v in os.environ.items()
           if k not in ("PRIVTRACK_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH")}
    script = (
        "import privtrack, privtrack.wsgi, privtrack.flask\n"
        "from privtrack.compat import dynamodb_tracker\n"
        "print(privtrack.__file__)\n"
        "print(privtrack.library_path)\n"
        "with privtrack.Tracker(None, 'store', synchronous=True) as t:\n"
        "    t.track(remote_addr='203.0.113.1')\n"
        "    print(t.counters()['stored'])\n")
    lines = run(str(prefix / "bin" / "python"), "-c", script, env=env,
                cwd=str(tmp_path)).split("\n")
    assert lines[0].startswith(str(prefix / "lib"))  # the installed copy
    assert lines[1] == str(prefix / "lib" / "libprivtrack.so.0")
    assert lines[2] == "1"


def _python_without_a_library(tmp_path, extra_env):
    """Run a fresh Python importing the package from the source tree, with
    none of the test environment's hints about where the library is."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PRIVTRACK_LIBRARY", "LD_LIBRARY_PATH")}
    env["PYTHONPATH"] = os.path.join(ROOT, "bindings", "python")
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-c",
         "import privtrack, privtrack._native as n\n"
         "print(privtrack.library_path)\n"
         "print('\\n'.join(n.library_candidates()))\n"],
        capture_output=True, text=True, env=env, cwd=str(tmp_path))


def test_privtrack_library_is_the_only_place_tried_when_set(tmp_path):
    build = os.environ.get("PT_BUILD_DIR") or os.path.join(ROOT, "build-dev")
    copy = tmp_path / "elsewhere" / "libprivtrack.so.0"
    copy.parent.mkdir()
    shutil.copy(os.path.join(build, "lib", "libprivtrack.so.0"), copy)
    proc = _python_without_a_library(tmp_path, {"PRIVTRACK_LIBRARY": str(copy)})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[0] == str(copy)
    # Set but wrong: an error naming it, never a silent fall-back to
    # another copy (the build tree's is right there).
    missing = str(tmp_path / "no-such" / "libprivtrack.so.0")
    proc = _python_without_a_library(tmp_path, {"PRIVTRACK_LIBRARY": missing})
    assert proc.returncode != 0
    assert "set PRIVTRACK_LIBRARY" in proc.stderr and missing in proc.stderr


def test_a_source_checkout_finds_its_own_build(tmp_path):
    proc = _python_without_a_library(tmp_path, {})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.rstrip("\n").split("\n")
    found, candidates = lines[0], lines[1:]
    build_tree = [os.path.join(ROOT, d, "lib", "libprivtrack.so.0")
                  for d in ("build", "build-dev")]
    # The order the README gives: the dynamic linker's search, the
    # installed prefixes, then this checkout's Release and Debug builds.
    assert candidates[0] == "libprivtrack.so.0"
    assert candidates[-2:] == build_tree
    installed = [c for c in candidates[1:-2] if os.path.exists(c)]
    ldconfig = subprocess.run(["/sbin/ldconfig", "-p"], capture_output=True,
                              text=True).stdout
    if installed or "libprivtrack.so.0 " in ldconfig:
        pytest.skip("an installed libprivtrack comes first on this machine: "
                    "%s" % (installed or "ld.so.cache"))
    assert found == next(c for c in build_tree if os.path.exists(c))
