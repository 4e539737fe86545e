"""Triggers: the PVs that start detectors; all of a point's triggers start together and the
point's counters are read once every one of them has completed (put-callback).

Threads: runs on the scan thread; the completion callback only sets an Event.
"""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional

from .. import PV
from ._waiting import BusyWait, PutWatch
from .errors import DetectorTimeout

__all__ = ['Trigger', 'DEFAULT_TRIGGER_TIMEOUT']

logger = logging.getLogger('epics.stepscan')

#: Longest a detector may take beyond its dwell time (s), unless the trigger says otherwise.
DEFAULT_TRIGGER_TIMEOUT = 30.0


class Trigger:
    """A PV written to start a detector; done when the put completes.

    Parameters
    ----------
    pvname : str
        e.g. ``'13IDE:scaler1.CNT'``.
    value : object
        What to write to start (1).
    stop_value : object, optional
        What to write to abort a count that will not finish (e.g. 0 for a scaler's CNT);
        None: nothing.
    timeout : float
        Seconds the detector may take (beyond the scan's dwell time).
    busy_pvname : str, optional
        For detectors whose start put completes at once: a PV that is non-zero while the
        detector works (e.g. ``Acquiring``); the trigger is done when it is back to 0.
    stop_pvname : str, optional
        Where ``stop_value`` goes (default: the trigger PV).
    """

    def __init__(self, pvname: str, value: Any = 1, stop_value: Any = None,
                 timeout: float = DEFAULT_TRIGGER_TIMEOUT, label: Optional[str] = None,
                 busy_pvname: Optional[str] = None, stop_pvname: Optional[str] = None) -> None:
        self.pvname = pvname
        self.value = value
        self.stop_value = stop_value
        self.timeout = timeout
        self.label = label or pvname
        self.pv = PV(pvname)
        self._put = PutWatch(self.pv)
        self._busy = BusyWait(busy_pvname, idle_value=0) if busy_pvname else None
        self.stop_pv = PV(stop_pvname) if stop_pvname else self.pv

    def __repr__(self) -> str:
        return f'<Trigger {self.pvname!r}>'

    @property
    def done(self) -> bool:
        """Whether the last start has completed."""
        return self._put.completed.is_set()

    def start(self) -> None:
        """Start the detector (returns at once)."""
        if self._busy is not None:
            self._busy.arm()
        self._put.start(self.value)

    def wait(self, deadline: float, check: Callable[[], None] = lambda: None) -> None:
        """Wait for completion; on a timeout stop the detector and raise DetectorTimeout."""
        if self._busy is not None:
            done = self._busy.wait(self._put, deadline, check)
        else:
            done = self._put.wait(deadline, check)
        if not done:
            self.abort()
            raise DetectorTimeout(f'detector trigger {self.pvname} did not complete in time '
                                  f'(the detector never finished)', pvname=self.pvname)

    def abort(self) -> None:
        """Stop a count under way (best effort)."""
        if self.stop_value is not None and self.stop_pv.connected:
            try:
                self.stop_pv.put(self.stop_value)
            except Exception:
                logger.exception('could not stop detector %s', self.pvname)
