"""The exceptions of a step scan: each names the PV (when there is one) and what went wrong.

Threads: raised on the thread that runs the scan (the caller of ``StepScan.run``).
"""
from __future__ import annotations

from typing import Optional

__all__ = ['ScanError', 'ScanAborted', 'MotionError', 'DetectorTimeout', 'ConnectionLost']


class ScanError(RuntimeError):
    """A scan could not go on (the message says which PV and why)."""

    def __init__(self, message: str, pvname: Optional[str] = None) -> None:
        super().__init__(message)
        self.pvname = pvname


class ScanAborted(ScanError):
    """The scan was aborted (by ``abort()``, a second Ctrl-C, or the scan server)."""


class MotionError(ScanError):
    """A positioner did not reach its target: limit switch, soft limit, timeout."""


class DetectorTimeout(ScanError, TimeoutError):
    """A trigger's put did not complete in time (a detector that never finished)."""


class ConnectionLost(ScanError, ConnectionError):
    """A PV of the scan disconnected (its IOC died or the network went away)."""
