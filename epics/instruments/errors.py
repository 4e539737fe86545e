"""The exceptions of epics.instruments, under one root.

Threads: any.
"""
from __future__ import annotations

__all__ = ["InstrumentError", "InstrumentFileError", "NotFoundError", "ExistsError"]


class InstrumentError(Exception):
    """Root of the errors of epics.instruments."""


class InstrumentFileError(InstrumentError):
    """An instruments file cannot be used: not SQLite, damaged, foreign, or too new. The file
    has not been modified."""


class NotFoundError(InstrumentError, KeyError):
    """No instrument, or no position, of that name (also a KeyError)."""

    def __str__(self) -> str:   # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


class ExistsError(InstrumentError, ValueError):
    """An instrument or position of that name exists already (also a ValueError)."""
