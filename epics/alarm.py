"""Alarm: run a function when a PV's value crosses a trip point.

PyEpics 3.5's ``Alarm``::

    >>> def alert_me(pvname=None, char_value=None, **kws):
    ...     send_mail(f'{pvname} = {char_value}')
    >>> alarm = Alarm(pvname='WaterTemperature.VAL', comparison='>', callback=alert_me,
    ...               trip_point=100.0, alert_delay=600)

The callback runs when the comparison of the value with the trip point becomes true (on the
transition, not on every update while it stays true), and then not again for ``alert_delay``
seconds, so a value bouncing around the trip point sends one message, not hundreds.

Threads: the check runs in the PV's monitor callback, on the library's dispatcher thread, and so
does the user callback; an exception it raises is logged (logger ``epics.callbacks``).
"""
from __future__ import annotations

import logging
import operator
import threading
import time
from typing import Any, Callable, Dict, Optional, Union

from .pv import PV, get_pv

__all__ = ["Alarm", "AlarmError"]

log = logging.getLogger("epics.alarm")
callback_log = logging.getLogger("epics.callbacks")


class AlarmError(ValueError, UserWarning):
    """An Alarm made without a PV, comparison or trip point, or with an unknown comparison.

    Also a UserWarning, the exception PyEpics raised here."""


class Alarm:
    """Run a callback when ``comparison(value, trip_point)`` becomes true for a PV.

    Parameters
    ----------
    pvname : str or PV
        The PV to watch.
    comparison : str or callable
        One of 'eq', 'ne', 'le', 'lt', 'ge', 'gt' or '==', '!=', '<=', '<', '>=', '>' (underscores
        are ignored: '__gt__' works), or a function ``f(value, trip_point) -> bool``.
    trip_point : object
        The value compared against.
    callback : callable, optional
        Called with the PV's callback keywords (``pvname``, ``value``, ``char_value``, ``status``,
        ``severity``, ``timestamp``...) plus ``trip_point`` and ``comparison``; use ``**kws``.
        Without one, the alarm is logged (logger ``epics.alarm``, level WARNING).
    alert_delay : float
        Seconds after running the callback during which it is not run again. Checked when the
        value changes, so it is a least time between alerts.

    Raises
    ------
    AlarmError
        (a ValueError and a UserWarning) when the PV, comparison or trip point is missing, or the
        comparison is unknown.

    Notes
    -----
    Follows PyEpics 3.5, except that an unknown comparison is an error (PyEpics made an alarm
    that never fired), and that an alarm made for a PV that is already connected checks its
    current value at once.
    """

    ops: Dict[str, Callable[[Any, Any], bool]] = {
        "eq": operator.eq, "==": operator.eq,
        "ne": operator.ne, "!=": operator.ne,
        "le": operator.le, "<=": operator.le,
        "lt": operator.lt, "<": operator.lt,
        "ge": operator.ge, ">=": operator.ge,
        "gt": operator.gt, ">": operator.gt,
    }

    def __init__(self, pvname: Union[str, PV], comparison: Union[None, str, Callable] = None,
                 trip_point: Any = None, callback: Optional[Callable[..., Any]] = None,
                 alert_delay: float = 10) -> None:
        if isinstance(pvname, PV):
            self.pv = pvname
        elif isinstance(pvname, str) and pvname:
            self.pv = get_pv(pvname)
            self.pv.wait_for_connection()   # as PyEpics: so the callback gets the precision...
        else:
            raise AlarmError(f"Alarm requires a PV or PV name, not {pvname!r}")
        if comparison is None or trip_point is None:
            raise AlarmError("Alarm requires a valid PV, comparison, and trip_point")
        if callable(comparison):
            self.cmp = comparison
            self.comp_name = getattr(comparison, "__name__", repr(comparison))
        else:
            key = str(comparison).replace("_", "").strip()
            self.cmp = self.ops.get(key)
            if self.cmp is None:
                raise AlarmError(f"unknown comparison {comparison!r}: use one of "
                                 f"{', '.join(self.ops)} or a function")
            self.comp_name = str(comparison)
        self.trip_point = trip_point
        self.alert_delay = alert_delay
        self.user_callback = callback
        self.alarm_state = False
        #: When the callback last ran (time.time()), 0 if never (PyEpics's attribute).
        self.last_alert = 0.0
        self._last_alert_monotonic: Optional[float] = None
        self._lock = threading.Lock()
        self._index: Optional[int] = self.pv.add_callback(self.check_alarm)
        if self.pv.connected and self.pv.get() is not None:
            self.pv.run_callback(self._index)

    def __repr__(self) -> str:
        return (f"<Alarm pvname='{self.pv.pvname}', comp='{self.comp_name}', "
                f"trip_point={self.trip_point!r}>")

    def reset(self) -> None:
        """Forget the alarm state and the last alert: the next value that matches alerts again
        at once."""
        with self._lock:
            self.alarm_state = False
            self.last_alert = 0.0
            self._last_alert_monotonic = None

    def close(self) -> None:
        """Stop watching the PV (idempotent)."""
        index, self._index = self._index, None
        if index is not None:
            self.pv.remove_callback(index)

    def check_alarm(self, pvname: Optional[str] = None, value: Any = None,
                    char_value: Optional[str] = None, **kws: Any) -> None:
        """Compare a new value with the trip point and alert if the alarm has just tripped
        (the PV's callback; also callable by hand with ``pvname`` and ``value``)."""
        if pvname is None or value is None:
            return
        try:
            tripped = bool(self.cmp(value, self.trip_point))
        except (TypeError, ValueError):
            log.warning("alarm on %s: cannot compare %r %s %r", pvname, value, self.comp_name,
                        self.trip_point)
            return
        if char_value is None:
            char_value = str(value)
        now = time.monotonic()
        with self._lock:
            was_tripped, self.alarm_state = self.alarm_state, tripped
            if not tripped or was_tripped:
                return
            last = self._last_alert_monotonic
            if last is not None and now - last <= self.alert_delay:
                return
            self._last_alert_monotonic = now
            self.last_alert = time.time()
        if self.user_callback is None:
            log.warning("Alarm: %s=%s (%s %r) at %s", pvname, char_value, self.comp_name,
                        self.trip_point, time.ctime())
            return
        try:
            self.user_callback(pvname=pvname, value=value, char_value=char_value,
                               trip_point=self.trip_point, comparison=self.comp_name, **kws)
        except Exception:
            callback_log.exception("alarm callback %s raised",
                                   getattr(self.user_callback, "__qualname__", self.user_callback))
