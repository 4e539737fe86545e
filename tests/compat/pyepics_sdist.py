"""PyEpics's source distribution, fetched at test time from the package index and never committed.

The compatibility tests run PyEpics 3.5.10's own test suite against ``epics`` (ours) and compare
PyEpics's public names with ours. Both need PyEpics's sources, which are not ours to ship: they are
downloaded with pip (``pip download --no-binary :all: --no-deps pyepics==3.5.10``) into a user cache
directory and unpacked there once; later runs reuse the unpacked tree.

Without a route to the package index the download fails, and :func:`pyepics_source` raises
:class:`SdistUnavailable` saying so: the caller fails the test, it does not skip it (a CI job that
silently skips is a CI job that proves nothing).

Runs in the test process (no threads).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PYEPICS_VERSION = "3.5.10"
DOWNLOAD_TIMEOUT = 180.0          # seconds for pip to fetch the sdist (about 1 MB)
CACHE_ENV = "EPICSCA_COMPAT_CACHE"  # overrides where the sdist is kept


class SdistUnavailable(RuntimeError):
    """PyEpics's sdist could not be downloaded or unpacked (no network to the index, ...)."""


def cache_dir() -> Path:
    """Where the sdist is kept: $EPICSCA_COMPAT_CACHE, else $XDG_CACHE_HOME/epicsca, else ~/.cache."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "epicsca" / "compat"


def pyepics_source(version: str = PYEPICS_VERSION) -> Path:
    """The root of PyEpics's unpacked sdist (it holds ``epics/`` and ``tests/``), downloading it once.

    Raises
    ------
    SdistUnavailable
        when pip cannot fetch the sdist (the message says why, with pip's own output).
    """
    root = cache_dir()
    unpacked = root / f"pyepics-{version}"
    if (unpacked / "tests").is_dir() and (unpacked / "epics").is_dir():
        return unpacked
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root) as download_dir:
        command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps",
                   "-q", "-d", download_dir, f"pyepics=={version}"]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=DOWNLOAD_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise SdistUnavailable(
                f"pip download of pyepics=={version} did not finish in {DOWNLOAD_TIMEOUT:.0f} s: "
                "is the package index reachable?") from exc
        archives = sorted(Path(download_dir).glob("pyepics-*.tar.gz"))
        if done.returncode != 0 or not archives:
            raise SdistUnavailable(
                f"cannot download the pyepics=={version} sdist from the package index "
                f"(pip exit status {done.returncode}); the compatibility tests need it.\n"
                f"{done.stdout}{done.stderr}")
        with tarfile.open(archives[0]) as archive:
            staging = Path(tempfile.mkdtemp(dir=root))
            archive.extractall(staging)
        extracted = staging / f"pyepics-{version}"
        if not (extracted / "tests").is_dir():
            raise SdistUnavailable(f"{archives[0].name} holds no tests/ folder")
        if not unpacked.exists():
            extracted.rename(unpacked)
        shutil.rmtree(staging, ignore_errors=True)
    return unpacked
