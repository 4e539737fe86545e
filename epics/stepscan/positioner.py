"""Positioners: any PV a scan sets at each point, with the full array of its positions.

A positioner carries one position per point (``array``), so scans need not be rectangular and
any PV (a motor, a dwell time, a filter) can be scanned. Moves use put-callback; for a motor
record the wait also follows DMOV (see :class:`~._waiting.BusyWait`, the one place that decides
when a move is over).

Threads: every method runs on the scan thread. The put-completion and DMOV monitor callbacks
run on the library's dispatcher thread and only set Events.
"""
from __future__ import annotations

import logging
import time
from typing import Callable, Optional, Sequence

import numpy as np

from .. import PV
from ._waiting import BusyWait, PutWatch, check_connected
from .errors import MotionError, ScanError

__all__ = ['Positioner', 'DEFAULT_MOVE_TIMEOUT']

logger = logging.getLogger('epics.stepscan')

#: Longest a single move may take (s), unless the scan says otherwise.
DEFAULT_MOVE_TIMEOUT = 300.0
#: Longest wait (s) for a motor to come to rest after a stop.
STOP_TIMEOUT = 30.0
#: Connection timeout of a positioner's PVs (s).
CONNECT_TIMEOUT = 5.0


def record_name(pvname: str) -> str:
    """``'sim:m1'`` for ``'sim:m1.VAL'`` or ``'sim:m1'``."""
    return pvname.rsplit('.', 1)[0] if '.' in pvname else pvname


class Positioner:
    """A PV set at each point of a scan.

    Parameters
    ----------
    pvname : str
        The PV to write, e.g. ``'13IDE:m1'`` (a motor record) or ``'13IDE:scaler1.TP'``.
    label : str, optional
        Column label in the data file (default: the PV name).
    array : sequence of float, optional
        One position per point (also settable later as ``.array``).
    units : str, optional
        Units shown in the file (default: the PV's).
    """

    def __init__(self, pvname: str, label: Optional[str] = None,
                 array: Optional[Sequence[float]] = None, units: Optional[str] = None) -> None:
        self.pvname = pvname if '.' in pvname else f'{pvname}.VAL'
        self.label = label or pvname
        self.array = np.asarray(array if array is not None else [], dtype=float)
        self.units = units
        self.pv = PV(self.pvname)
        self._put = PutWatch(self.pv)
        self._motion: Optional[BusyWait] = None
        self._stop_pv: Optional[PV] = None
        self._limit_fields: dict = {}
        self._last_target: Optional[float] = None
        self._connected = False

    def __repr__(self) -> str:
        return f'<Positioner {self.label!r} {self.pvname!r} npts={len(self.array)}>'

    # -- setup ----------------------------------------------------------------
    def connect(self, timeout: float = CONNECT_TIMEOUT) -> None:
        """Connect, and find out whether the PV belongs to a motor record."""
        if self._connected:
            return
        if not self.pv.wait_for_connection(timeout=timeout):
            raise ScanError(f'positioner {self.label!r}: {self.pvname} did not connect in '
                            f'{timeout:g} s', pvname=self.pvname)
        record = record_name(self.pvname)
        rtyp = PV(f'{record}.RTYP').get(timeout=timeout, as_string=True)
        if rtyp == 'motor' and self.pvname.endswith('.VAL'):
            self._motion = BusyWait(f'{record}.DMOV', idle_value=1)
            self._limit_fields = {name: PV(f'{record}.{name}') for name in
                                  ('LVIO', 'HLS', 'LLS')}
            self._stop_pv = PV(f'{record}.STOP')
            for pv in [self._motion.pv, self._stop_pv, *self._limit_fields.values()]:
                pv.wait_for_connection(timeout=timeout)
        if self.units is None:
            self.units = self.pv.units or ''
        self._connected = True

    @property
    def is_motor(self) -> bool:
        """Whether the PV is the VAL field of a motor record (moves then follow DMOV)."""
        return self._motion is not None

    def check_limits(self) -> None:
        """Raise :class:`MotionError` if a position of the array is outside the PV's control
        limits (both 0 means none), before anything moves."""
        self.connect()
        ctrl = self.pv.get_ctrlvars() or {}
        low, high = ctrl.get('lower_ctrl_limit'), ctrl.get('upper_ctrl_limit')
        if low is None or high is None or (low == 0 and high == 0) or not len(self.array):
            return
        bad = np.flatnonzero((self.array < low) | (self.array > high))
        if len(bad):
            i = int(bad[0])
            raise MotionError(f'positioner {self.label!r}: position {self.array[i]:g} (point '
                              f'{i}) is outside the limits of {self.pvname} [{low:g}, {high:g}]',
                              pvname=self.pvname)

    # -- moving ---------------------------------------------------------------
    def current(self) -> Optional[float]:
        """The PV's value now (for a motor: its drive value VAL)."""
        value = self.pv.get(timeout=CONNECT_TIMEOUT)
        return None if value is None else float(value)

    def start_move(self, value: float) -> bool:
        """Start moving to ``value`` (put-callback); False when already sent there last point."""
        value = float(value)
        if self._last_target is not None and value == self._last_target:
            return False
        if self._motion is not None:
            self._motion.arm()
        self._last_target = value
        self._put.start(value)
        return True

    def move_to_pos(self, index: int) -> bool:
        """Start the move to point ``index`` of the array (PyEpics's name)."""
        return self.start_move(self.array[index])

    def wait_move(self, deadline: float, check: Callable[[], None] = lambda: None) -> None:
        """Wait until the move started last is over; raise :class:`MotionError` on a timeout
        or a limit, :class:`ConnectionLost` if the IOC went away."""
        if self._motion is not None:
            ok = self._motion.wait(self._put, deadline, check)
        else:
            ok = self._put.wait(deadline, check)
        if not ok:
            target = self._last_target_text()
            self._last_target = None
            raise MotionError(f'positioner {self.label!r}: {self.pvname} did not reach '
                              f'{target} in time', pvname=self.pvname)
        self._check_limit_switches()

    def _last_target_text(self) -> str:
        return 'its target' if self._last_target is None else f'{self._last_target:g}'

    def _check_limit_switches(self) -> None:
        if not self._limit_fields:
            return
        check_connected(self._limit_fields.values())
        messages = {'LVIO': 'refused the move (soft limit violation, LVIO)',
                    'HLS': 'hit its high limit switch (HLS)',
                    'LLS': 'hit its low limit switch (LLS)'}
        for field, pv in self._limit_fields.items():
            if pv.get(use_monitor=False, timeout=CONNECT_TIMEOUT):
                target = self._last_target_text()
                self._last_target = None
                raise MotionError(f'positioner {self.label!r}: {record_name(self.pvname)} '
                                  f'{messages[field]} while moving to {target}',
                                  pvname=f'{record_name(self.pvname)}.{field}')

    def forget_target(self) -> None:
        """Move again at the next point even if the target is unchanged (after a pause)."""
        self._last_target = None

    def stop(self) -> None:
        """Stop the motion (motor records: STOP = 1); other PVs are left as they are."""
        if self._stop_pv is not None and self._stop_pv.connected:
            try:
                self._stop_pv.put(1)
            except Exception:       # stopping is best effort: the scan is ending anyway
                logger.exception('could not stop %s', self.pvname)
        self._last_target = None

    def wait_stopped(self, timeout: float = STOP_TIMEOUT) -> bool:
        """After :meth:`stop`: wait until a motor record is done moving (DMOV = 1)."""
        if self._motion is None or not self._motion.pv.connected:
            return True
        try:
            return self._motion.wait_idle(time.monotonic() + timeout)
        except ScanError:          # disconnected meanwhile: nothing more to wait for
            return False
