"""The package's version, under the names PyEpics's ``epics.version`` module has.

``epics.version.__version__`` and ``epics.version.version`` are ``epics.__version__``;
``version_tuple`` is its numeric parts. ``commit_id`` is None: the package is not built from a
version-control checkout stamp. Nothing runs here but these assignments.
"""
from __future__ import annotations

from typing import Optional, Tuple, Union

from ._version import __version__

__all__ = ["__version__", "__version_tuple__", "version", "version_tuple", "__commit_id__",
           "commit_id"]

version: str = __version__
__version_tuple__: Tuple[Union[int, str], ...] = tuple(
    int(part) if part.isdigit() else part for part in __version__.split("."))
version_tuple = __version_tuple__
__commit_id__: Optional[str] = None
commit_id = __commit_id__
