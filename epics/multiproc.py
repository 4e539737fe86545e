"""Channel Access in child processes: ``CAProcess`` and ``CAPool`` (PyEpics's names).

A forked child never uses the CA context it inherited (libca's threads did not survive the fork):
``_context`` abandons it in the child and the first CA call there creates a fresh one, so a plain
``multiprocessing.Process`` already works. These classes are kept so PyEpics code runs unchanged,
and they make the intent visible.
"""
from __future__ import annotations

import multiprocessing
from multiprocessing.pool import Pool
from .ca import clear_cache

__all__ = ["CAProcess", "CAPool", "clear_ca_cache"]

#: PyEpics's name for ``ca.clear_cache``.
clear_ca_cache = clear_cache


class CAProcess(multiprocessing.Process):
    """A ``multiprocessing.Process`` for code that uses Channel Access (fork or spawn)."""


class CAPool(Pool):
    """A ``multiprocessing.Pool`` for workers that use Channel Access."""
