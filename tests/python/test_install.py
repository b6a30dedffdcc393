"""`pip install bindings/python`, offline, into a virtualenv that also holds
an installed libprivtrack (`cmake --install`): the installed package finds
the installed library by itself."""

import os
import shutil
import subprocess
import sys

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
