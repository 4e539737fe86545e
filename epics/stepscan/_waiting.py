"""Bounded waits on put completions, shared by positioners and triggers.

Threads: ``PutWatch.start`` and the waits run on the scan thread; the put-completion callback
runs on the library's dispatcher thread and only sets an Event.
"""
from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable

from .. import PV
from .errors import ConnectionLost

__all__ = ['PutWatch', 'BusyWait', 'wait_for', 'check_connected', 'POLL_INTERVAL', 'SETTLE_TIME']

#: How often a wait looks at the connection state and the scan's abort request (s).
POLL_INTERVAL = 0.05
#: After a put has completed while its busy PV never left idle, how long (s) to watch for work
#: that starts late (servers that complete puts early) before calling it done.
SETTLE_TIME = 0.05


def check_connected(pvs: Iterable[PV]) -> None:
    """Raise :class:`ConnectionLost` naming the first PV that is not connected."""
    for pv in pvs:
        if not pv.connected:
            raise ConnectionLost(f'{pv.pvname} disconnected (its IOC stopped or the network '
                                 'went away)', pvname=pv.pvname)


def wait_for(wait: Callable[[float], bool], deadline: float, pvs: Iterable[PV] = (),
             check: Callable[[], None] = lambda: None) -> bool:
    """Call ``wait(seconds)`` (an ``Event.wait``) until it returns True or ``deadline`` passes.

    Every :data:`POLL_INTERVAL` the PVs' connections are checked (a lost one raises
    :class:`ConnectionLost`) and ``check()`` is called (it raises to end the wait early, e.g.
    on an abort). Returns whether the wait succeeded before the monotonic ``deadline``.
    """
    pvs = tuple(pvs)
    while True:
        remaining = deadline - time.monotonic()
        if wait(min(POLL_INTERVAL, max(remaining, 0.0))):
            return True
        if remaining <= 0:
            return False
        check_connected(pvs)
        check()


class PutWatch:
    """One put with a completion callback, and the Event its completion sets."""

    def __init__(self, pv: PV) -> None:
        self.pv = pv
        self.completed = threading.Event()
        self.completed.set()

    def start(self, value: Any) -> None:
        """Send the put; returns at once (``completed`` is set when the server says done).
        Raises :class:`ConnectionLost` at once if the PV is not connected."""
        check_connected((self.pv,))
        self.completed.clear()
        try:
            self.pv.put(value, callback=self._on_complete)
        except Exception as exc:
            # disconnected since the check: CANotConnectedError, or (a race in the PV layer)
            # a CAValueError about the type of the channel that has just gone
            if self.pv.connected and not isinstance(exc, ConnectionError):
                raise
            raise ConnectionLost(f'{self.pv.pvname} disconnected (its IOC stopped or the '
                                 f'network went away): {exc}', pvname=self.pv.pvname) from exc

    def _on_complete(self, **kws: Any) -> None:
        self.completed.set()

    def wait(self, deadline: float, check: Callable[[], None] = lambda: None) -> bool:
        """Wait for the completion until ``deadline``; False if it did not come in time."""
        return wait_for(self.completed.wait, deadline, (self.pv,), check)


class BusyWait:
    """When work started by a put is over: the put has completed AND the busy PV has gone
    busy -> idle (or stayed idle for :data:`SETTLE_TIME` after the completion).

    The one place that decides this, for a motor record's DMOV (idle = 1) and a detector's
    Acquiring (idle = 0). A put that completes early (before the motion, as some servers do)
    is not trusted alone, and a busy PV that never leaves idle (a zero-length move) does not
    stall the scan.
    """

    def __init__(self, pvname: str, idle_value: int) -> None:
        self.idle_value = idle_value
        self._busy_seen = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self.pv = PV(pvname, callback=self._on_change)

    def _on_change(self, value: Any = None, **kws: Any) -> None:
        if value == self.idle_value:
            self._idle.set()
        else:
            self._idle.clear()
            self._busy_seen.set()

    def arm(self) -> None:
        """Call just before the put that starts the work."""
        self._busy_seen.clear()

    def wait(self, put: PutWatch, deadline: float, check: Callable[[], None]) -> bool:
        """Wait for the end of the work; False if ``deadline`` passed first."""
        pvs = (put.pv, self.pv)
        if not wait_for(put.completed.wait, deadline, pvs, check):
            return False
        if not self._busy_seen.is_set():
            self._busy_seen.wait(min(SETTLE_TIME, max(deadline - time.monotonic(), 0.0)))
        if self._busy_seen.is_set():
            return wait_for(self._idle.wait, deadline, pvs, check)
        return True

    def wait_idle(self, deadline: float) -> bool:
        """Wait until the busy PV is idle (e.g. a stopped motor at rest)."""
        return wait_for(self._idle.wait, deadline, (self.pv,))
