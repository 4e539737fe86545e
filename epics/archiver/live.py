"""Current values of the PVs on the status pages, for the web front end, without a web package.

:class:`LiveValues` monitors its PVs through ``epics.PV``; every update or connection change
bumps a sequence number, so a reader asks "what changed since N" and gets each PV's newest
state once however many updates came in between (coalesced). Threads: the library's callback
thread runs the ``_on_*`` methods; any thread (a web worker, the event loop) calls
:meth:`LiveValues.changes` (a lock guards the table).
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Dict, Iterable, List, Optional, Tuple

from epics import PV

__all__ = ["LiveValue", "LiveValues"]


@dataclass(frozen=True)
class LiveValue:
    """A PV's newest state: its value as the PV formats it (enum labels as strings, the
    record's precision), severity, connection, when it arrived and units."""
    pv: str
    text: str = ""
    severity: int = 0
    connected: bool = False
    timestamp: float = 0.0
    units: str = ""
    seq: int = 0

    def as_dict(self) -> Dict[str, object]:
        return {"pv": self.pv, "text": self.text, "severity": self.severity,
                "connected": self.connected, "timestamp": self.timestamp, "units": self.units}


class LiveValues:
    """Monitor ``names`` and keep each one's newest state."""

    def __init__(self, names: Iterable[str], connection_timeout: float = 5.0) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._values: Dict[str, LiveValue] = {name: LiveValue(name) for name in names}
        self._pvs: List[PV] = []
        self._timeout = connection_timeout

    def start(self) -> "LiveValues":
        """Connect to every PV (without waiting)."""
        for name in self._values:
            # 'ctrl': every update brings the enum strings and units (the display needs them
            # and no time stamp); the archive keeps the IOC's time stamps.
            self._pvs.append(PV(name, form="ctrl", auto_monitor=True, callback=self._on_update,
                                connection_callback=self._on_connection,
                                connection_timeout=self._timeout))
        return self

    def close(self) -> None:
        """Disconnect every PV (idempotent)."""
        pvs, self._pvs = self._pvs, []
        for pv in pvs:
            pv.clear_callbacks()
            pv.disconnect()

    def _bump(self, name: str, **changes) -> None:
        with self._lock:
            old = self._values.get(name)
            if old is None:
                return
            self._seq += 1
            self._values[name] = replace(old, seq=self._seq, **changes)

    def _on_update(self, pvname: str = "", value=None, char_value=None, severity=None,
                   units=None, **_ignored) -> None:
        text = char_value if char_value is not None else ("" if value is None else str(value))
        self._bump(pvname, text=str(text), severity=int(severity or 0), connected=True,
                   timestamp=time.time(), units=str(units or ""))

    def _on_connection(self, pvname: str = "", conn: bool = False, **_ignored) -> None:
        self._bump(pvname, connected=bool(conn))

    def changes(self, since: int = 0,
                names: Optional[Iterable[str]] = None) -> Tuple[int, List[LiveValue]]:
        """(the newest sequence number, the states changed after ``since``), of ``names``
        only if given."""
        wanted = None if names is None else set(names)
        with self._lock:
            found = [v for v in self._values.values()
                     if v.seq > since and (wanted is None or v.pv in wanted)]
            return self._seq, found

    def get(self, name: str) -> Optional[LiveValue]:
        with self._lock:
            return self._values.get(name)
