"""String helpers of PyEpics's ``epics.utils``: text and bytes at the Channel Access boundary.

PyEpics scripts import these names (``from epics.utils import str2bytes, bytes2str``), so they are
kept with PyEpics 3.5's names, signatures and results. The text encoding is read once, at import,
from ``PYEPICS_ENCODING``, else ``PYTHONIOENCODING``, else UTF-8 (PyEpics's order).

A leaf module: it imports nothing of the package, and runs in whichever thread calls it.
"""
from __future__ import annotations

import os
import platform
import sys
from typing import Any, Optional, Sequence, Union

__all__ = ["IOENCODING", "str2bytes", "bytes2str", "strjoin", "clib_search_path", "from_bytes"]

#: The encoding of text sent to and read from CA (``PYEPICS_ENCODING``, ``PYTHONIOENCODING``,
#: else ``'utf-8'``).
IOENCODING: str = os.environ.get("PYEPICS_ENCODING",
                                 os.environ.get("PYTHONIOENCODING", "utf-8"))


def str2bytes(text: Union[str, bytes]) -> bytes:
    """Encode ``text`` with :data:`IOENCODING`; bytes are returned unchanged."""
    if isinstance(text, bytes):
        return text
    return bytes(text, IOENCODING)


def from_bytes(raw: bytes, **options: Any) -> Any:
    """``charset_normalizer.from_bytes`` (PyEpics's ``epics.utils`` re-exports it), imported at
    the first call so that importing ``epics`` does not load it.

    Raises
    ------
    ImportError
        when charset_normalizer is not installed.
    """
    from charset_normalizer import from_bytes as detect
    return detect(raw, **options)


def _guess_decode(raw: bytes, error: UnicodeDecodeError) -> str:
    """Decode bytes that are not valid :data:`IOENCODING` with charset_normalizer's best guess
    (as PyEpics does when that package is installed); re-raise ``error`` without it."""
    try:
        return str(from_bytes(raw).best())
    except ImportError:
        raise error from None


def bytes2str(value: Any) -> str:
    """Decode bytes with :data:`IOENCODING`; a str is returned unchanged, anything else
    goes through ``str()``.

    Raises
    ------
    UnicodeDecodeError
        for bytes that are not valid in :data:`IOENCODING`, unless ``charset_normalizer`` is
        installed to guess their encoding (PyEpics's behaviour).
    """
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        try:
            return str(value, IOENCODING)
        except UnicodeDecodeError as exc:
            return _guess_decode(value, exc)
    return str(value)


def strjoin(sep: Union[str, bytes], seq: Sequence[Union[str, bytes]]) -> str:
    """Join ``seq`` with ``sep`` as text; a sequence of bytes items stops at the first NUL item
    (how a char array read item by item ends)."""
    separator = bytes2str(sep)
    if len(seq) == 0:
        return ""
    if isinstance(seq[0], bytes):
        items = []
        for item in seq:
            if item == b"\x00":
                break
            items.append(bytes2str(item))
        return separator.join(items)
    return separator.join(seq)


def clib_search_path(lib: str) -> Optional[str]:
    """The relative path under PyEpics's ``epics/clibs`` folder where it ships ``lib`` ('ca' or
    'Com') for this platform, e.g. ``'linux64/libca.so'``; None on an unknown platform.

    epicsca loads libca from the epicscorelibs wheel (see :func:`epics.ca.find_libca`); this name
    is kept for scripts that call it.
    """
    bits = platform.architecture()[0].replace("bit", "")
    if platform.machine().startswith("arm"):
        bits = "arm"
    if os.name == "nt":
        folder, pattern = "win", "%s.dll"
    elif sys.platform == "darwin":
        folder, pattern = "darwin", "lib%s.dylib"
        if platform.machine() == "arm64":
            folder, bits = "darwinarm", "64"
    elif sys.platform.startswith("linux"):
        folder, pattern = "linux", "lib%s.so"
    else:
        return None
    return os.path.join(f"{folder}{bits}", pattern % lib)
