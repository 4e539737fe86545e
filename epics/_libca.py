"""Find and load the Channel Access client library (libca).

This is the bottom layer of the package: it knows where libca lives and how to load it, and nothing
about what is inside it (that is ``_cadef``'s job).

Discovery order (the same as PyEpics, so sites keep their habits):

1. ``PYEPICS_LIBCA``: the path of a libca shared library, for a site build of EPICS base.
2. the libraries of the ``epicscorelibs`` wheel (EPICS base 7 built for Python), the default.

If neither works, :class:`LibcaNotFound` says where it looked and what to set.
"""
from __future__ import annotations

import ctypes
import os
import sys
import threading
from typing import Optional

__all__ = ["LIBCA_ENV", "MAX_ARRAY_BYTES_ENV", "DEFAULT_MAX_ARRAY_BYTES", "LibcaNotFound",
           "find_libca", "find_libcom", "find_evbuf", "load_libca", "apply_environment_defaults"]

#: The environment variable that points at a site build of libca (PyEpics's name).
LIBCA_ENV = "PYEPICS_LIBCA"
#: libca's limit on the size of one array transfer.
MAX_ARRAY_BYTES_ENV = "EPICS_CA_MAX_ARRAY_BYTES"
#: 16 MiB: large enough for an 8 MB waveform with its metadata, as PyEpics sets it.
DEFAULT_MAX_ARRAY_BYTES = 16777216


class LibcaNotFound(OSError):
    """libca could not be found or loaded; the message lists every place that was tried."""


_lock = threading.Lock()
_libca: Optional[ctypes.CDLL] = None


def find_libca() -> str:
    """Return the path of the libca that :func:`load_libca` would load.

    Raises
    ------
    LibcaNotFound
        when ``PYEPICS_LIBCA`` is unset or names a missing file and ``epicscorelibs`` is not
        installed.
    """
    override = os.environ.get(LIBCA_ENV)
    if override:
        if os.path.isfile(override):
            return override
        raise LibcaNotFound(f"{LIBCA_ENV}={override!r} is not a file: point it at a libca shared "
                            f"library, or unset it to use the epicscorelibs wheel")
    tried = []
    if sys.platform != "win32":
        # the wheel's record of its libca file: a module of a few lines, where
        # epicscorelibs.path imports setuptools (~150 ms of the first CA call). Windows takes
        # epicscorelibs.path below, which also adds the wheel's folder to the DLL search path.
        try:
            from epicscorelibs.lib import ca_dsoinfo
            if os.path.isfile(ca_dsoinfo.sofilename):
                return ca_dsoinfo.sofilename
        except Exception:   # an older or other layout of the wheel: ask it the long way
            pass
    try:
        from epicscorelibs.path import get_lib
        path = get_lib("ca")
        if os.path.isfile(path):
            return path
        tried.append(f"epicscorelibs gave {path!r}, which does not exist")
    except Exception as exc:  # ImportError, or a broken wheel
        tried.append(f"epicscorelibs: {exc}")
    raise LibcaNotFound("cannot find libca (" + "; ".join(tried) + "): install it with "
                        f"'pip install epicscorelibs', or set {LIBCA_ENV} to the path of a libca")


def find_libcom() -> str:
    """Return the path of the libCom that belongs with :func:`find_libca`'s libca."""
    ca_path = find_libca()
    folder, name = os.path.split(ca_path)
    com_path = os.path.join(folder, name.replace("ca", "Com", 1))
    return com_path if os.path.isfile(com_path) else ca_path


def find_evbuf() -> Optional[str]:
    """Path of this package's compiled monitor-event buffer (``epics/_evbuf*``), or None."""
    return find_compiled("_evbuf")


def find_compiled(stem: str) -> Optional[str]:
    """Path of one of this package's optional compiled helpers (``epics/<stem>*``), or None."""
    import glob
    import importlib.machinery
    folder = os.path.dirname(os.path.abspath(__file__))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        found = sorted(glob.glob(os.path.join(folder, stem + suffix)))
        if found:
            return found[0]
    return None


def apply_environment_defaults() -> None:
    """Set the CA environment defaults this library relies on, unless the user set them.

    Must run before the first CA context is created, since libca reads the environment then.
    """
    os.environ.setdefault(MAX_ARRAY_BYTES_ENV, str(DEFAULT_MAX_ARRAY_BYTES))


def load_libca() -> ctypes.CDLL:
    """Load libca once per process and return it (later calls return the same object).

    Raises
    ------
    LibcaNotFound
        when no libca can be found or the one found fails to load.
    """
    global _libca
    if _libca is not None:
        return _libca
    with _lock:
        if _libca is None:
            path = find_libca()
            apply_environment_defaults()
            try:
                if sys.platform == "win32":  # libCom must be loaded first from the same folder
                    ctypes.CDLL(find_libcom())
                _libca = ctypes.CDLL(path)
            except OSError as exc:
                raise LibcaNotFound(f"found libca at {path!r} but it failed to load: {exc}; "
                                    f"set {LIBCA_ENV} to a working libca") from exc
    return _libca
