"""privtrack's Python binding: pure Python over libprivtrack.so.0 (ctypes).

Nothing is compiled: ``pip install bindings/python`` needs only setuptools
(Debian's python3-setuptools; no network).  The C library is installed
separately (``cmake --install``) or named with ``$PRIVTRACK_LIBRARY``.
"""

from setuptools import find_packages, setup

setup(
    name="privtrack",
    version="0.1.0",  # the library's (CMakeLists.txt project(VERSION))
    description="Record web visits under a privacy policy (binding to "
                "libprivtrack)",
    packages=find_packages(include=["privtrack", "privtrack.*"]),
    python_requires=">=3.9",
    extras_require={"flask": ["Flask>=2.2"]},
    zip_safe=True,
)
