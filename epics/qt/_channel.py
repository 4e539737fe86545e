"""PVChannel: one PV seen from the GUI: its latest value, connection, severity and access.

This is the state every epics.qt widget shares (pydm's idea of one channel object per widget):
widgets only draw what the channel's signals tell them.

Threads: the ``_on_*`` methods are the PV's callbacks and run on the CA dispatcher thread; they
only store the news under a lock and post the channel to the update pump (never a widget, never a
Qt call except the pump's signal). :meth:`deliver`, the signals, :meth:`put` and :meth:`close` run
in the GUI thread.
"""
from __future__ import annotations

import logging
import threading
from typing import Any, Dict, Optional, Union

from qtpy.QtCore import QObject, Signal

from ..pv import PV, get_pv
from ._updates import DEFAULT_MAX_RATE, pump

__all__ = ["PVChannel", "as_pv"]

log = logging.getLogger("epics.qt")

_UNSET = object()


def as_pv(pv: Union[str, PV]) -> PV:
    """A PV object for a name (shared through ``get_pv``, with control metadata in every
    update) or the PV itself."""
    if isinstance(pv, PV):
        return pv
    if not isinstance(pv, str) or not pv.strip():
        raise ValueError(f"a PV name or PV object is needed, not {pv!r}")
    return get_pv(pv.strip(), form="ctrl")


class PVChannel(QObject):
    """The GUI-thread view of one PV, updated at most ``max_rate`` times per second.

    Signals (GUI thread): ``value_changed(dict)`` with the PV callback's keywords (value,
    char_value, severity, status, units, precision, enum_strs, limits...), ``connection_changed
    (bool)``, ``severity_changed(int)``, ``write_access_changed(bool)``.
    """

    value_changed = Signal(object)
    connection_changed = Signal(bool)
    severity_changed = Signal(int)
    write_access_changed = Signal(bool)

    def __init__(self, pv: Union[str, PV], max_rate: float = DEFAULT_MAX_RATE,
                 parent: Optional[QObject] = None) -> None:
        super().__init__(parent)
        self.pv = as_pv(pv)
        self.max_rate = float(max_rate)
        self.next_due = 0.0
        self.connected = False
        self.severity = 0
        self.write_access = False
        self.read_access = False
        self.data: Dict[str, Any] = {}
        self.updates_received = 0
        self._lock = threading.Lock()
        self._new_data: Optional[Dict[str, Any]] = None
        self._new_conn: Any = _UNSET
        self._new_access: Any = _UNSET
        self._pump = pump()
        self._closed = False
        self._index = self.pv.add_callback(self._on_value, with_ctrlvars=False)
        self.pv.connection_callbacks.append(self._on_connection)
        self.pv.access_callbacks.append(self._on_access)
        if self.pv.connected:    # a shared PV that is already up: start from its current state
            self._on_connection(pvname=self.pv.pvname, conn=True, pv=self.pv)
            self._on_access(bool(self.pv.read_access), bool(self.pv.write_access), pv=self.pv)
            self.pv.run_callback(self._index)

    @property
    def pvname(self) -> str:
        return self.pv.pvname

    # --- CA dispatcher thread -------------------------------------------------------------------

    def _on_value(self, **data: Any) -> None:
        data.pop("cb_info", None)
        with self._lock:
            self.updates_received += 1
            if self._new_data is not None:   # not delivered yet: keep its metadata
                data = {**self._new_data, **data}
            self._new_data = data
        self._pump.post(self)

    def _on_connection(self, pvname: Optional[str] = None, conn: bool = False,
                       **_: Any) -> None:
        metadata = None
        if conn and self.pv.form != "ctrl":   # a caller's 'time' PV: read the metadata once
            metadata = self.pv.get_ctrlvars(timeout=2.0, warn=False)
        with self._lock:
            self._new_conn = bool(conn)
            if metadata:
                self._new_data = {**(self._new_data or {}), **metadata}
        self._pump.post(self)

    def _on_access(self, read_access: bool, write_access: bool, **_: Any) -> None:
        with self._lock:
            self._new_access = (bool(read_access), bool(write_access))
        self._pump.post(self)

    # --- GUI thread -----------------------------------------------------------------------------

    def deliver(self, now: float) -> None:
        """Hand the latest news to the widgets (called by the pump)."""
        with self._lock:
            data, self._new_data = self._new_data, None
            conn, self._new_conn = self._new_conn, _UNSET
            access, self._new_access = self._new_access, _UNSET
        if self._closed:
            return
        try:
            self._emit(now, data, conn, access)
        except RuntimeError:   # the Qt side was deleted under us (its widget went away)
            self.close()

    def _emit(self, now: float, data: Optional[Dict[str, Any]], conn: Any, access: Any) -> None:
        self.next_due = now + (1.0 / self.max_rate if self.max_rate > 0 else 0.0)
        if access is not _UNSET:
            self.read_access, write = access
            if write != self.write_access:
                self.write_access = write
                self.write_access_changed.emit(write)
        if data is not None:
            self.data.update(data)   # in place: the metadata of earlier updates stays
            severity = data.get("severity")
            if severity is not None and severity != self.severity:
                self.severity = int(severity)
                self.severity_changed.emit(self.severity)
            self.value_changed.emit(self.data)
        if conn is not _UNSET and conn != self.connected:
            self.connected = conn
            self.connection_changed.emit(conn)

    def put(self, value: Any) -> bool:
        """Write ``value`` to the PV without waiting; False (and a log line naming the PV) if it
        cannot be written now."""
        if not self.connected:
            log.warning("cannot write %r to %s: not connected", value, self.pvname)
            return False
        if not self.write_access:
            log.warning("cannot write %r to %s: no write access", value, self.pvname)
            return False
        try:
            self.pv.put(value, wait=False)
        except Exception as exc:
            log.warning("writing %r to %s failed: %s", value, self.pvname, exc)
            return False
        return True

    def close(self) -> None:
        """Stop listening to the PV (idempotent; the PV itself stays, it may be shared)."""
        if self._closed:
            return
        self._closed = True
        self.pv.remove_callback(self._index)
        for callbacks, function in ((self.pv.connection_callbacks, self._on_connection),
                                    (self.pv.access_callbacks, self._on_access)):
            try:
                callbacks.remove(function)
            except ValueError:
                pass
        self._pump.forget(self)

    def __repr__(self) -> str:
        return f"<PVChannel {self.pvname} connected={self.connected} severity={self.severity}>"
